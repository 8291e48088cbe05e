"""The additive ranker: exact contributions, domain directions for any fit, learning, storage."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from matching.features import DIRECTIONS, FEATURES
from matching.ranker import HAND_SET, AdditiveRanker, hand_set_ranker, ramps

F = len(FEATURES)
COLUMN = {name: i for i, name in enumerate(FEATURES)}


def random_rows(n: int, seed: int, missing: float = 0.2) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, F))
    x[:, COLUMN["schedule_clash"]] = rng.integers(0, 3, n)
    x[:, COLUMN["commute_over"]] = rng.uniform(0, 3, n) * (rng.uniform(size=n) < 0.4)
    x[:, COLUMN["days_published"]] = rng.integers(0, 90, n)
    x[rng.uniform(size=(n, F)) < missing] = np.nan
    return x


def test_contributions_sum_exactly_to_the_score() -> None:
    model = hand_set_ranker()
    rows = random_rows(500, seed=1)
    contributions = model.explain(rows)
    np.testing.assert_allclose(model.bias_ + contributions.sum(axis=1), model.predict(rows))


def test_unknown_values_contribute_nothing() -> None:
    model = hand_set_ranker()
    rows = np.full((1, F), np.nan)
    assert model.explain(rows).tolist() == [[0.0] * F]
    assert model.predict(rows)[0] == model.bias_


def test_hand_set_shapes_follow_the_documented_table() -> None:
    model = hand_set_ranker()
    for name, shape in HAND_SET.items():
        low, middle, high, beyond = model.shape(
            name, [shape.low, (shape.low + shape.high) / 2, shape.high, shape.high * 2 + 1]
        )
        assert low == 0.0
        assert middle == pytest.approx(shape.weight / 2)
        assert high == pytest.approx(shape.weight)
        assert beyond == pytest.approx(shape.weight), "flat beyond the last knot"
    assert model.direction_violations() == []


def test_stated_preferences_weigh_most_in_the_hand_set_weights() -> None:
    weights = {name: abs(shape.weight) for name, shape in HAND_SET.items()}
    assert weights["occupation"] == max(weights.values())
    assert weights["occupation"] > weights["semantic"] + weights["experience"]


def test_ramps_are_monotone_and_zero_at_the_first_knot() -> None:
    basis = ramps([-1.0, 0.0, 0.25, 0.5, 2.0, np.nan], [0.0, 0.5, 1.0])
    assert basis.tolist() == [[0, 0], [0, 0], [0.5, 0], [1, 0], [1, 1], [0, 0]]


def hidden_truth(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A ranking truth unlike the hand-set one: skills matter most, semantic not at all."""
    x = np.nan_to_num(rows)
    return (
        3 * x[:, COLUMN["skills"]] ** 2 + x[:, COLUMN["hours_fit"]] - x[:, COLUMN["commute_over"]]
    )


def ndcg(
    scores: npt.NDArray[np.float64], truth: npt.NDArray[np.float64], groups: npt.NDArray[np.int64]
) -> float:
    values = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        gain = truth[members] - truth[members].min()
        order = np.argsort(-scores[members], kind="stable")
        ideal = np.sort(gain)[::-1]
        discounts = 1 / np.log2(np.arange(2, members.size + 2))
        best = float(ideal @ discounts)
        values.append(float(gain[order] @ discounts) / best if best > 0 else 1.0)
    return float(np.mean(values))


@pytest.mark.parametrize("objective", ["pairwise", "pointwise"])
def test_fit_learns_a_hidden_preference(objective: str) -> None:
    rows = random_rows(3000, seed=2, missing=0.05)
    groups = np.repeat(np.arange(300), 10)
    truth = hidden_truth(rows)
    labels = np.digitize(truth, np.quantile(truth, [0.5, 0.8, 0.95])).astype(float)
    model = AdditiveRanker(objective=objective, l2=0.1).fit(rows, labels, groups)  # type: ignore[arg-type]
    test = random_rows(2000, seed=3, missing=0.05)
    test_groups = np.repeat(np.arange(200), 10)
    learned = ndcg(model.predict(test), hidden_truth(test), test_groups)
    before = ndcg(hand_set_ranker().predict(test), hidden_truth(test), test_groups)
    assert learned > before + 0.05
    assert learned > 0.9
    skills = model.shape("skills", [0.0, 0.5, 1.0])
    assert skills[2] > skills[1] > skills[0] == 0.0
    assert model.direction_violations() == []
    np.testing.assert_allclose(model.bias_ + model.explain(test).sum(axis=1), model.predict(test))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), objective=st.sampled_from(["pairwise", "pointwise"]))
def test_any_fit_keeps_the_domain_directions(seed: int, objective: str) -> None:
    """Labels that reward long commutes, schedule clashes and missing accommodations still
    cannot make any of them raise a score."""
    rng = np.random.default_rng(seed)
    rows = random_rows(400, seed=seed)
    x = np.nan_to_num(rows)
    perverse = (
        x[:, COLUMN["commute_over"]]
        + x[:, COLUMN["schedule_clash"]]
        + x[:, COLUMN["accommodation_missing"]]
        - x[:, COLUMN["occupation"]]
        + rng.normal(0, 0.1, len(x))
    )
    labels = np.digitize(perverse, np.quantile(perverse, [0.3, 0.6, 0.9])).astype(float)
    model = AdditiveRanker(objective=objective, l2=0.01).fit(  # type: ignore[arg-type]
        rows, labels, np.repeat(np.arange(40), 10)
    )
    assert model.direction_violations() == []
    grid = np.linspace(0, 3, 31)
    for name, direction in DIRECTIONS.items():
        steps = np.diff(model.shape(name, grid))
        assert np.all(direction * steps >= -1e-9), name


def test_stored_model_predicts_identically() -> None:
    rows = random_rows(600, seed=4)
    labels = np.nan_to_num(rows[:, COLUMN["skills"]]) > 0.5
    model = AdditiveRanker().fit(rows, labels.astype(float), np.repeat(np.arange(60), 10))
    copy = AdditiveRanker.from_dict(model.to_dict())
    np.testing.assert_array_equal(copy.predict(rows), model.predict(rows))
    assert copy.get_params() == model.get_params()


def test_unfitted_model_and_wrong_shapes_are_refused() -> None:
    with pytest.raises(NotFittedError):
        AdditiveRanker().predict(np.zeros((1, F)))
    with pytest.raises(ValueError, match="features"):
        hand_set_ranker().predict(np.zeros((1, F + 1)))
    document = hand_set_ranker().to_dict()
    document["features"] = ["occupation"]
    with pytest.raises(ValueError, match="trained on features"):
        AdditiveRanker.from_dict(document)
