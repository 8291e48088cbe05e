"""The additive ranker: score = bias + Σ shape_i(feature_i), with exact contributions.

Each feature's shape is piecewise linear over knots t_0 < t_1 < … < t_m, written as a sum of
ramps r_j(x) = clip((x - t_{j-1}) / (t_j - t_{j-1}), 0, 1) with one weight per ramp:

    shape(x) = Σ_j w_j · r_j(x)

so shape(t_0) = 0 (t_0 is the feature's neutral value), an unknown value (NaN) contributes
exactly 0, and the contribution of a feature is a number the coach can read. Because every
ramp rises with x, a shape never decreases when all its weights are ≥ 0 and never increases
when all are ≤ 0: the domain directions (`matching.features.DIRECTIONS`) are sign bounds
on the weights, enforced while fitting and checked for any model (`direction_violations`).

Before any feedback exists the engine serves `hand_set_ranker()`: one linear segment per
feature with the weights documented in `HAND_SET`, which put the participant's stated
preferences (occupation, environment, hours, commute, schedule) first.

The estimator follows scikit-learn conventions: `__init__` stores parameters, `fit` sets
attributes ending in `_` and returns self, `predict` / `explain` check that it is fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from matching.features import DIRECTIONS, FEATURES

Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]

HAND_SET_VERSION = "handset-1"


@dataclass(frozen=True)
class HandSetShape:
    """A linear shape from `low` (contribution 0) to `high` (contribution `weight`), flat beyond."""

    low: float
    high: float
    weight: float
    why: str


#: The hand-set weights served until a trained model is promoted. Score units are points;
#: stated preferences weigh most (principle 2 of the design), hard clashes cost the most.
HAND_SET: Mapping[str, HandSetShape] = {
    "occupation": HandSetShape(0, 1, 3.0, "the stated occupation wish weighs most"),
    "experience": HandSetShape(0, 1, 1.0, "occupations the participant has done before"),
    "skills": HandSetShape(0, 1, 1.5, "recognised skills that the work asks for (4 = full)"),
    "environment": HandSetShape(0, 1, 1.0, "stated work-environment wishes met"),
    "semantic": HandSetShape(0.1, 0.7, 1.5, "embedding similarity of profile and ad"),
    "lexical": HandSetShape(0, 0.5, 1.5, "character n-gram similarity (Swedish compounds)"),
    "commute_within": HandSetShape(0, 1, 0.8, "closer than the participant's own limit"),
    "commute_over": HandSetShape(0, 1.5, -3.0, "beyond the limit: 2.5× the limit costs 3"),
    "hours_fit": HandSetShape(0, 1, 1.0, "share of the wished hours the work offers"),
    "hours_gap": HandSetShape(0, 2, -1.5, "hours apart from the wish, per 10 h"),
    "schedule_clash": HandSetShape(0, 2, -3.0, "evenings/weekends/nights refused: 1.5 each"),
    "accommodation_met": HandSetShape(0, 1, 0.7, "needed accommodations the employer offers"),
    "accommodation_missing": HandSetShape(0, 1, -1.5, "needed accommodations not offered"),
    "days_published": HandSetShape(0, 60, -0.3, "older ads are slightly less likely open"),
    "days_to_expiry": HandSetShape(0, 14, 0.2, "time left to apply"),
    "free_places": HandSetShape(0, 3, 0.3, "free positions or ASF places"),
    "snoozed": HandSetShape(0, 1, -2.0, "the coach said 'not now' recently"),
}


def ramps(values: npt.ArrayLike, knots: Sequence[float]) -> Matrix:
    """The ramp basis of one feature: (n, len(knots) - 1); NaN rows are all zero."""
    x = np.asarray(values, dtype=np.float64)
    t = np.asarray(knots, dtype=np.float64)
    if len(t) < 2:
        return np.zeros((x.shape[0], 0))
    with np.errstate(invalid="ignore"):
        basis = np.clip((x[:, None] - t[None, :-1]) / np.diff(t)[None, :], 0.0, 1.0)
    return np.nan_to_num(basis, nan=0.0)


def _knots_from_data(column: Vector, low: float, count: int) -> tuple[float, ...]:
    """Knots at quantiles of the observed values above the neutral value `low`."""
    observed = column[~np.isnan(column)]
    observed = observed[observed > low]
    if observed.size == 0:
        return ()
    distinct = np.unique(observed)
    if distinct.size <= count:
        inner = distinct
    else:
        inner = np.unique(np.quantile(observed, np.linspace(0, 1, count + 1)[1:]))
    return (low, *(float(v) for v in inner if v > low))


class AdditiveRanker(BaseEstimator):  # type: ignore[misc]
    """Additive ranking model over `matching.features.FEATURES` with exact contributions.

    Parameters
    ----------
    n_knots: ramps per feature (fewer when a feature has fewer distinct values).
    l2: strength of the pull towards the hand-set shapes; with little feedback a model
        stays close to the documented weights instead of overfitting.
    objective: "pairwise" (logistic loss on pairs within a slate with different labels,
        weighted by the label difference) or "pointwise" (squared error on the labels).
    max_iter: L-BFGS-B iterations.
    """

    knots_: dict[str, tuple[float, ...]]
    weights_: dict[str, Vector]
    bias_: float

    def __init__(
        self,
        *,
        n_knots: int = 4,
        l2: float = 1.0,
        objective: Literal["pairwise", "pointwise"] = "pairwise",
        max_iter: int = 300,
    ) -> None:
        self.n_knots = n_knots
        self.l2 = l2
        self.objective = objective
        self.max_iter = max_iter

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_shapes(
        cls,
        knots: Mapping[str, Sequence[float]],
        weights: Mapping[str, Sequence[float]],
        *,
        bias: float = 0.0,
        **params: Any,
    ) -> Self:
        """A fitted model from explicit shapes (hand-set weights, or a stored model)."""
        model = cls(**params)
        model.feature_names_in_ = np.asarray(FEATURES, dtype=object)
        model.n_features_in_ = len(FEATURES)
        model.knots_ = {name: tuple(float(v) for v in knots.get(name, ())) for name in FEATURES}
        model.weights_ = {
            name: np.asarray(weights.get(name, ()), dtype=np.float64) for name in FEATURES
        }
        for name in FEATURES:
            if len(model.weights_[name]) != max(0, len(model.knots_[name]) - 1):
                raise ValueError(
                    f"feature {name}: {len(model.knots_[name])} knots need one "
                    f"weight fewer, got {len(model.weights_[name])}"
                )
        model.bias_ = float(bias)
        return model

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description from which `from_dict` rebuilds the same model."""
        check_is_fitted(self)
        return {
            "features": list(FEATURES),
            "bias": self.bias_,
            "knots": {name: list(self.knots_[name]) for name in FEATURES},
            "weights": {name: self.weights_[name].tolist() for name in FEATURES},
            "params": self.get_params(),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Self:
        features = tuple(document["features"])
        if features != FEATURES:
            raise ValueError(f"model was trained on features {features}, engine has {FEATURES}")
        return cls.from_shapes(
            document["knots"], document["weights"], bias=document["bias"], **document["params"]
        )

    # --- fitting --------------------------------------------------------------------------

    def fit(
        self,
        X: npt.ArrayLike,  # noqa: N803 - scikit-learn's name for the design matrix
        y: npt.ArrayLike,
        groups: npt.ArrayLike | None = None,
        sample_weight: npt.ArrayLike | None = None,
    ) -> Self:
        """Learn every shape from feature rows `X`, graded labels `y` and slate ids `groups`."""
        matrix = self._check_matrix(X)
        labels = np.asarray(y, dtype=np.float64)
        if labels.shape != (matrix.shape[0],):
            raise ValueError("y must have one label per row of X")
        weights_per_row = (
            np.ones_like(labels) if sample_weight is None else np.asarray(sample_weight, float)
        )
        knots = {
            name: _knots_from_data(matrix[:, i], HAND_SET[name].low, self.n_knots)
            for i, name in enumerate(FEATURES)
        }
        blocks = [ramps(matrix[:, i], knots[name]) for i, name in enumerate(FEATURES)]
        basis = np.hstack(blocks) if blocks else np.zeros((matrix.shape[0], 0))
        sizes = [block.shape[1] for block in blocks]
        prior = np.concatenate([_hand_set_on(knots[name], HAND_SET[name]) for name in FEATURES])
        bounds = [
            _bound(DIRECTIONS.get(name, 0))
            for name, size in zip(FEATURES, sizes, strict=True)
            for _ in range(size)
        ]
        if self.objective == "pairwise":
            loss = _pairwise_loss(basis, labels, _groups(groups, labels), weights_per_row)
        else:
            loss = _pointwise_loss(basis, labels, weights_per_row)
        scale = float(max(1, matrix.shape[0]))

        def objective(w: Vector) -> tuple[float, Vector]:
            value, gradient = loss(w[:-1], w[-1])
            shrink = w[:-1] - prior
            value = value / scale + 0.5 * self.l2 * float(shrink @ shrink) / scale
            gradient = gradient / scale
            gradient[:-1] += self.l2 * shrink / scale
            return value, gradient

        # The hand-set weights satisfy every bound, so they are a valid starting point.
        start = np.append(prior, 0.0)
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[*bounds, (None, None)],
            options={"maxiter": self.max_iter},
        )
        solution = np.asarray(result.x, dtype=np.float64)
        offsets = np.cumsum([0, *sizes])
        self.feature_names_in_ = np.asarray(FEATURES, dtype=object)
        self.n_features_in_ = len(FEATURES)
        self.knots_ = knots
        self.weights_ = {
            name: solution[offsets[i] : offsets[i + 1]].copy() for i, name in enumerate(FEATURES)
        }
        self.bias_ = float(solution[-1])
        self.n_iter_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    # --- scoring --------------------------------------------------------------------------

    def explain(self, X: npt.ArrayLike) -> Matrix:  # noqa: N803
        """Per-feature contributions (n, n_features); `predict` is bias_ + their row sums."""
        check_is_fitted(self)
        matrix = self._check_matrix(X)
        contributions = np.zeros_like(matrix)
        for i, name in enumerate(FEATURES):
            weights = self.weights_[name]
            if weights.size:
                contributions[:, i] = ramps(matrix[:, i], self.knots_[name]) @ weights
        return contributions

    def predict(self, X: npt.ArrayLike) -> Vector:  # noqa: N803
        contributions = self.explain(X)
        scores: Vector = contributions.sum(axis=1) + self.bias_
        return scores

    def shape(self, name: str, values: npt.ArrayLike) -> Vector:
        """The learned shape of one feature at `values` (for plots and checks)."""
        check_is_fitted(self)
        return ramps(values, self.knots_[name]) @ self.weights_[name]

    def direction_violations(self) -> list[str]:
        """Features whose shape breaks its domain direction (empty for a valid model)."""
        check_is_fitted(self)
        broken = []
        for name, direction in DIRECTIONS.items():
            weights = self.weights_[name]
            if (direction > 0 and np.any(weights < -1e-12)) or (
                direction < 0 and np.any(weights > 1e-12)
            ):
                broken.append(name)
        return broken

    @staticmethod
    def _check_matrix(X: npt.ArrayLike) -> Matrix:  # noqa: N803
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(FEATURES):
            raise ValueError(f"expected rows of {len(FEATURES)} features {FEATURES}")
        return matrix


def _hand_set_on(knots: Sequence[float], shape: HandSetShape) -> Vector:
    """The hand-set linear shape expressed as ramp weights on other knots."""
    if len(knots) < 2:
        return np.zeros(0)
    t = np.asarray(knots, dtype=np.float64)
    values = np.clip((t - shape.low) / (shape.high - shape.low), 0.0, 1.0) * shape.weight
    return np.diff(values)


def _bound(direction: int) -> tuple[float | None, float | None]:
    if direction > 0:
        return (0.0, None)
    if direction < 0:
        return (None, 0.0)
    return (None, None)


def _groups(groups: npt.ArrayLike | None, labels: Vector) -> npt.NDArray[np.int64]:
    if groups is None:
        return np.zeros(labels.shape[0], dtype=np.int64)
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    return codes.astype(np.int64)


def _pairs(groups: npt.NDArray[np.int64], labels: Vector) -> tuple[npt.NDArray[np.int64], ...]:
    """Index pairs (better, worse) within each group whose labels differ."""
    order = np.lexsort((labels, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    ends = np.r_[starts[1:], len(order)]
    better: list[npt.NDArray[np.int64]] = []
    worse: list[npt.NDArray[np.int64]] = []
    for start, end in zip(starts, ends, strict=True):
        members = order[start:end]
        if members.size < 2:
            continue
        i, j = np.triu_indices(members.size, k=1)
        a, b = members[i], members[j]
        differ = labels[a] != labels[b]
        a, b = a[differ], b[differ]
        swap = labels[a] < labels[b]
        better.append(np.where(swap, b, a))
        worse.append(np.where(swap, a, b))
    if not better:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(better), np.concatenate(worse)


def _pairwise_loss(
    basis: Matrix, labels: Vector, groups: npt.NDArray[np.int64], row_weights: Vector
) -> Any:
    better, worse = _pairs(groups, labels)
    pair_weight = (labels[better] - labels[worse]) * np.sqrt(
        row_weights[better] * row_weights[worse]
    )

    def loss(w: Vector, bias: float) -> tuple[float, Vector]:
        scores = basis @ w
        margin = scores[better] - scores[worse]
        value = float(pair_weight @ np.logaddexp(0.0, -margin))
        slope = -pair_weight / (1.0 + np.exp(margin))
        per_row = np.bincount(better, slope, minlength=basis.shape[0]) - np.bincount(
            worse, slope, minlength=basis.shape[0]
        )
        gradient = np.empty(w.size + 1)
        gradient[:-1] = basis.T @ per_row
        gradient[-1] = 0.0  # pairs are blind to the bias; it stays where it started
        return value, gradient

    return loss


def _pointwise_loss(basis: Matrix, labels: Vector, row_weights: Vector) -> Any:
    def loss(w: Vector, bias: float) -> tuple[float, Vector]:
        residual = basis @ w + bias - labels
        value = 0.5 * float(row_weights @ residual**2)
        weighted = row_weights * residual
        gradient = np.empty(w.size + 1)
        gradient[:-1] = basis.T @ weighted
        gradient[-1] = float(weighted.sum())
        return value, gradient

    return loss


def hand_set_ranker() -> AdditiveRanker:
    """The documented hand-set model served before any trained model is promoted."""
    return AdditiveRanker.from_shapes(
        {name: (shape.low, shape.high) for name, shape in HAND_SET.items()},
        {name: (shape.weight,) for name, shape in HAND_SET.items()},
    )
