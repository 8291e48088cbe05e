"""Held-out evaluation and the simulated coaches, on small hand-made datasets."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from matching.domain import Decision, Gender, OutcomeKind
from matching.features import FEATURES
from matching.ranker import HAND_SET, hand_set_ranker
from training.dataset import Dataset, assemble, microseconds
from training.evaluate import competitive_exposure, exposure_gap, ranking_metrics, truth_ndcg
from training.simulate import (
    HIDDEN_SHAPES,
    decide,
    hidden_ranker,
    hidden_truth,
    outcomes_after_contact,
)

SHOWN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COLUMN = {name: i for i, name in enumerate(FEATURES)}


def dataset(
    labels: list[list[int]],
    *,
    participants: list[int] | None = None,
    jobs: list[list[bool]] | None = None,
) -> Dataset:
    """One slate per list of labels; feature `semantic` falls with the position shown."""
    rows, slates, ranks, items, lanes, people = [], [], [], [], [], []
    for slate, grades in enumerate(labels):
        for position, _ in enumerate(grades):
            row = [np.nan] * len(FEATURES)
            row[COLUMN["semantic"]] = 0.9 - 0.05 * position
            rows.append(row)
            slates.append(slate)
            ranks.append(position + 1)
            items.append(100 * slate + position)
            lanes.append(True if jobs is None else jobs[slate][position])
            people.append(slate if participants is None else participants[slate])
    n = len(rows)
    return assemble(
        features=rows,
        labels=[g for grades in labels for g in grades],
        slates=slates,
        suggestion_ids=list(range(1, n + 1)),
        participants=people,
        items=items,
        jobs_lane=lanes,
        shown_ranks=ranks,
        shown_at=[microseconds(SHOWN + timedelta(days=s)) for s in slates],
        as_of=SHOWN + timedelta(days=90),
        min_age=timedelta(days=14),
        evaluation_share=0.5,
        left_out={},
    )


def test_the_order_shown_scores_perfectly_when_labels_fall_with_it() -> None:
    part = dataset([[4, 3, 2, 0], [7, 2, 1, 0]])
    metrics = ranking_metrics(-part.shown_ranks.astype(float), part)
    assert metrics["ndcg_at_10"] == pytest.approx(1.0)
    assert metrics["map"] == pytest.approx(1.0)
    reversed_metrics = ranking_metrics(part.shown_ranks.astype(float), part)
    assert reversed_metrics["ndcg_at_10"] < 0.7
    assert reversed_metrics["recall_at_5"] == pytest.approx(1.0)


def test_slates_with_one_label_only_are_left_out() -> None:
    part = dataset([[2, 2, 2], [0, 4, 0]])
    metrics = ranking_metrics(np.zeros(len(part)), part)
    assert metrics["ndcg_at_10"] == pytest.approx(
        (4 / np.log2(3)) / 4
    )  # only the second slate counts; ties keep the order shown


def test_exposure_ranks_both_lanes_together_per_participant() -> None:
    part = dataset(
        [[3] * 12, [3] * 12],
        participants=[1, 2],
        jobs=[[True] * 6 + [False] * 6, [False] * 6 + [True] * 6],
    )
    scores = -part.shown_ranks.astype(float)
    shares = competitive_exposure(scores, part)
    assert shares == {1: pytest.approx(0.6), 2: pytest.approx(0.4)}
    gap = exposure_gap(scores, part, {1: Gender.WOMAN, 2: Gender.MAN}, resamples=50)
    assert gap.gap == pytest.approx(0.2)
    unmeasured = exposure_gap(scores, part, {1: Gender.WOMAN, 2: Gender.NON_BINARY})
    assert np.isnan(unmeasured.gap)


def test_truth_ndcg_is_one_for_the_truth_itself() -> None:
    rng = np.random.default_rng(4)
    part = dataset([[0] * 10] * 5)
    features = rng.uniform(0, 1, size=(len(part), len(FEATURES)))
    part = assemble(
        features=features,
        labels=part.labels,
        slates=part.slates,
        suggestion_ids=part.suggestion_ids,
        participants=part.participants,
        items=part.items,
        jobs_lane=part.jobs_lane,
        shown_ranks=part.shown_ranks,
        shown_at=part.shown_at.astype(np.int64),
        as_of=part.as_of,
        min_age=timedelta(days=14),
        evaluation_share=0.5,
        left_out={},
    )
    assert truth_ndcg(hidden_ranker().predict(features), part, hidden_truth) == pytest.approx(1.0)
    assert truth_ndcg(hand_set_ranker().predict(features), part, hidden_truth) < 1.0


def test_hidden_preferences_keep_every_domain_direction_and_differ_from_the_hand_set() -> None:
    assert hidden_ranker().direction_violations() == []
    assert HIDDEN_SHAPES["schedule_clash"][1][0] < HAND_SET["schedule_clash"].weight
    assert HIDDEN_SHAPES["occupation"][1][0] < HAND_SET["occupation"].weight
    assert len(HIDDEN_SHAPES["commute_over"][0]) == 3


def test_simulated_coaches_act_on_the_best_and_refuse_the_worst() -> None:
    decisions = decide([5.0, 9.0, 1.0, 7.0, 3.0, 0.5, 6.0, 2.0, 4.0, 0.0])
    assert decisions[1] is Decision.CONTACTED_EMPLOYER
    assert {decisions[3], decisions[6]} == {Decision.SHORTLISTED}
    assert {decisions[9], decisions[5]} == {Decision.NEVER}
    assert {decisions[2], decisions[7]} == {Decision.NOT_NOW}
    assert Counter(decisions)[None] == 3
    assert decide([1.0]) == [Decision.CONTACTED_EMPLOYER]


def test_outcomes_follow_each_other_in_order() -> None:
    chance = random.Random(3)
    for _ in range(200):
        kinds = [kind for kind, _ in outcomes_after_contact(chance)]
        expected = [OutcomeKind.INTERVIEW, OutcomeKind.JOB_START, OutcomeKind.EMPLOYED_90_DAYS]
        assert kinds == expected[: len(kinds)]
