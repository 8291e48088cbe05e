"""Labels, the time-based split and the digest of the training set (no database)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from matching.domain import Decision, OutcomeKind
from matching.errors import InvalidInput
from matching.features import FEATURES
from training.dataset import (
    GRADES,
    Dataset,
    assemble,
    build_dataset,
    feature_row,
    grade,
    microseconds,
)

SHOWN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FORTNIGHT = timedelta(days=14)


def label(
    *,
    outcomes: tuple[OutcomeKind, ...] = (),
    decision: Decision | None = None,
    age: timedelta = timedelta(days=30),
) -> int | None:
    return grade(
        outcomes=outcomes,
        latest_decision=decision,
        shown_at=SHOWN,
        as_of=SHOWN + age,
        min_age=FORTNIGHT,
    )


def test_grades_run_from_never_to_still_employed_after_90_days() -> None:
    ordered = [
        label(decision=Decision.NEVER),
        label(decision=Decision.NOT_NOW),
        label(),
        label(decision=Decision.SHORTLISTED),
        label(decision=Decision.CONTACTED_EMPLOYER),
        label(outcomes=(OutcomeKind.INTERVIEW,)),
        label(outcomes=(OutcomeKind.JOB_START,)),
        label(outcomes=(OutcomeKind.EMPLOYED_90_DAYS,)),
    ]
    assert ordered == list(range(8))
    assert ordered == sorted(GRADES.values())


def test_an_outcome_outweighs_any_decision_and_the_strongest_outcome_wins() -> None:
    assert label(outcomes=(OutcomeKind.INTERVIEW,), decision=Decision.NEVER) == 5
    assert (
        label(outcomes=(OutcomeKind.EMPLOYED_90_DAYS, OutcomeKind.INTERVIEW, OutcomeKind.ENDED))
        == 7
    )
    assert label(outcomes=(OutcomeKind.ENDED,)) == GRADES["job_start"]


def test_no_action_counts_only_once_the_coach_had_time_to_act() -> None:
    assert label(age=FORTNIGHT) == GRADES["shown_no_action"]
    assert label(age=FORTNIGHT - timedelta(seconds=1)) is None
    assert label(decision=Decision.NOT_NOW, age=timedelta(hours=1)) == GRADES["not_now"]


def test_stored_values_become_a_row_in_feature_order_with_unknowns_as_nan() -> None:
    row = feature_row({"semantic": 0.5, "commute_over": None, "not_a_feature": 3})
    assert len(row) == len(FEATURES)
    assert row[FEATURES.index("semantic")] == 0.5
    assert math.isnan(row[FEATURES.index("commute_over")])
    assert math.isnan(row[FEATURES.index("skills")])


def make(slates: int = 10, per_slate: int = 4, **changes: Any) -> Dataset:
    n = slates * per_slate
    rng = np.random.default_rng(1)
    fields: dict[str, Any] = {
        "features": rng.uniform(size=(n, len(FEATURES))),
        "labels": rng.integers(0, 8, n),
        "slates": np.repeat(np.arange(slates), per_slate),
        "suggestion_ids": np.arange(1, n + 1),
        "participants": np.repeat(np.arange(slates) % 3, per_slate),
        "items": np.tile(np.arange(per_slate), slates),
        "jobs_lane": np.ones(n, dtype=bool),
        "shown_ranks": np.tile(np.arange(1, per_slate + 1), slates),
        "shown_at": np.repeat(
            [microseconds(SHOWN + timedelta(days=d)) for d in range(slates)], per_slate
        ),
        "as_of": SHOWN + timedelta(days=60),
        "min_age": FORTNIGHT,
        "evaluation_share": 0.2,
        "left_out": {},
    }
    return assemble(**(fields | changes))


def test_the_newest_slates_are_held_out_and_a_slate_is_never_split() -> None:
    dataset = make()
    training, held_out = dataset.training_part(), dataset.evaluation_part()
    assert (training.slate_count, held_out.slate_count) == (8, 2)
    assert training.shown_at.max() < held_out.shown_at.min()
    assert not set(training.slates.tolist()) & set(held_out.slates.tolist())
    assert dataset.cutoff == SHOWN + timedelta(days=8)


def test_slates_shown_at_the_same_moment_still_split_by_count() -> None:
    dataset = make(shown_at=np.full(40, microseconds(SHOWN)))
    assert dataset.evaluation_part().slate_count == 2


def test_the_digest_is_reproducible_and_changes_with_any_label_or_value() -> None:
    assert make().digest == make().digest
    labels = make().labels.copy()
    labels[0] = (labels[0] + 1) % 8
    assert make(labels=labels).digest != make().digest
    features = make().features.copy()
    features[3, 2] = np.nan
    assert make(features=features).digest != make().digest
    assert make(as_of=SHOWN + timedelta(days=61)).digest != make().digest


def test_nan_values_hash_alike_whatever_produced_them() -> None:
    features = make().features.copy()
    features[0, 0] = np.nan
    other = features.copy()
    other[0, 0] = -np.nan
    assert make(features=features).digest == make(features=other).digest


def test_summary_counts_rows_slates_and_labels() -> None:
    summary = make().summary()
    assert summary["rows"] == 40
    assert summary["training_slates"] + summary["evaluation_slates"] == 10
    assert sum(summary["labels"].values()) == 40


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_an_evaluation_share_outside_zero_and_one_is_refused(share: float) -> None:
    with pytest.raises(InvalidInput, match="evaluation_share"):
        build_dataset(session=Session(), min_age=FORTNIGHT, evaluation_share=share)
