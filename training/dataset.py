"""The training set: logged suggestions as shown, graded by what coach and participant did next.

Rows are the suggestions the engine logged (`matching.service.suggest`), with the feature
values exactly as they were when shown, for participants whose consent includes model
training. Each row gets one graded label; the latest or strongest signal wins:

| grade | signal | source |
| ---: | --- | --- |
| 7 | still employed at 90 days | outcome `employed_90_days` |
| 6 | job start (or a job that has since ended: it started) | outcome `job_start`, `ended` |
| 5 | interview | outcome `interview` |
| 4 | the coach contacted the employer | decision `contacted_employer` |
| 3 | shortlisted | decision `shortlisted` |
| 2 | shown, no action, in a slate at least `label_min_age_days` old | none |
| 1 | not now | decision `not_now` |
| 0 | never | decision `never` |

- Outcomes count for the suggestion they reference, and the strongest one wins: something
  that happened outweighs any decision. Outcomes without a suggestion are not used.
- Otherwise the coach's *latest* decision wins (a shortlist later turned into "never" is 0).
- A suggestion with neither counts as "shown, no action" only when its slate is old enough
  for the coach to have acted; younger ones are left out, because their label is not yet
  known.

Time is the database's own clock (`as_of`, by default the newest suggestion, decision or
outcome stored), never the wall clock, so the same database state always gives the same
rows, the same split and the same digest. The split is by time: the newest
`evaluation_share` of the slates (never a part of a slate) are held out for evaluation,
the older ones are for training.

Suggestions stored without feature values (the fixture history) are left out and counted;
`training.backfill` computes their features first.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session

from matching.db.models import Consent, Feedback, Outcome, Suggestion
from matching.domain import ConsentScope, Decision, Lane, OutcomeKind
from matching.errors import InvalidInput
from matching.features import FEATURES
from matching.progress import Track, no_progress

#: Change when the labels or the row selection change, so old digests never match new sets.
LABEL_SCHEME_VERSION: Final = "1"

#: The graded labels (see the module docstring).
GRADES: Final[Mapping[str, int]] = {
    "employed_90_days": 7,
    "job_start": 6,
    "interview": 5,
    "contacted_employer": 4,
    "shortlisted": 3,
    "shown_no_action": 2,
    "not_now": 1,
    "never": 0,
}
OUTCOME_GRADES: Final[Mapping[OutcomeKind, int]] = {
    OutcomeKind.EMPLOYED_90_DAYS: GRADES["employed_90_days"],
    OutcomeKind.JOB_START: GRADES["job_start"],
    OutcomeKind.ENDED: GRADES["job_start"],
    OutcomeKind.INTERVIEW: GRADES["interview"],
}
DECISION_GRADES: Final[Mapping[Decision, int]] = {
    Decision.CONTACTED_EMPLOYER: GRADES["contacted_employer"],
    Decision.SHORTLISTED: GRADES["shortlisted"],
    Decision.NOT_NOW: GRADES["not_now"],
    Decision.NEVER: GRADES["never"],
}
#: From this grade on a suggestion counts as relevant (MAP, recall): the coach took it up.
RELEVANT_GRADE: Final = GRADES["shortlisted"]

_READ_CHUNK: Final = 20_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Matrix = npt.NDArray[np.float64]


def grade(
    *,
    outcomes: Sequence[OutcomeKind],
    latest_decision: Decision | None,
    shown_at: datetime,
    as_of: datetime,
    min_age: timedelta,
) -> int | None:
    """The label of one suggestion, or None while it is too young to say "no action"."""
    if outcomes:
        return max(OUTCOME_GRADES[kind] for kind in outcomes)
    if latest_decision is not None:
        return DECISION_GRADES[latest_decision]
    if as_of - shown_at >= min_age:
        return GRADES["shown_no_action"]
    return None


def feature_row(values: Mapping[str, Any]) -> list[float]:
    """Stored feature values (None for unknown) as a row in FEATURES order; absent is unknown."""
    row = []
    for name in FEATURES:
        value = values.get(name)
        row.append(math.nan if value is None else float(value))
    return row


@dataclass(frozen=True)
class Dataset:
    """Labelled rows in time order (oldest slate first), with the time-based split.

    `slates` numbers the slates 0, 1, … in the order they were shown; `evaluation` marks the
    rows of the held-out (newest) slates. Gender is deliberately not here: the evaluation
    reads it separately, for measurement only.
    """

    features: Matrix
    labels: npt.NDArray[np.int8]
    slates: npt.NDArray[np.int64]
    suggestion_ids: npt.NDArray[np.int64]
    participants: npt.NDArray[np.int64]
    items: npt.NDArray[np.int64]
    jobs_lane: npt.NDArray[np.bool_]
    shown_ranks: npt.NDArray[np.int64]
    shown_at: npt.NDArray[np.datetime64]
    evaluation: npt.NDArray[np.bool_]
    as_of: datetime
    cutoff: datetime | None
    digest: str
    #: rows left out, by reason ("no features", "too young")
    left_out: Mapping[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def slate_count(self) -> int:
        return int(np.unique(self.slates).size)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Dataset:
        """The rows under `mask` (same as_of, cutoff and digest: a view of one dataset)."""
        return Dataset(
            features=self.features[mask],
            labels=self.labels[mask],
            slates=self.slates[mask],
            suggestion_ids=self.suggestion_ids[mask],
            participants=self.participants[mask],
            items=self.items[mask],
            jobs_lane=self.jobs_lane[mask],
            shown_ranks=self.shown_ranks[mask],
            shown_at=self.shown_at[mask],
            evaluation=self.evaluation[mask],
            as_of=self.as_of,
            cutoff=self.cutoff,
            digest=self.digest,
            left_out=self.left_out,
        )

    def shown_until(self, moment: datetime) -> Dataset:
        """The rows of slates shown at or before `moment`."""
        limit = np.datetime64(microseconds(moment), "us")
        return self.subset(self.shown_at <= limit)

    def training_part(self) -> Dataset:
        return self.subset(~self.evaluation)

    def evaluation_part(self) -> Dataset:
        return self.subset(self.evaluation)

    def label_counts(self) -> dict[str, int]:
        names = {value: name for name, value in GRADES.items()}
        values, counts = np.unique(self.labels, return_counts=True)
        return {names[int(v)]: int(c) for v, c in zip(values, counts, strict=True)}

    def summary(self) -> dict[str, Any]:
        """Size and make-up, for logs and MLflow."""
        training, held_out = self.training_part(), self.evaluation_part()
        return {
            "rows": len(self),
            "slates": self.slate_count,
            "participants": int(np.unique(self.participants).size),
            "training_rows": len(training),
            "training_slates": training.slate_count,
            "evaluation_rows": len(held_out),
            "evaluation_slates": held_out.slate_count,
            "as_of": self.as_of.isoformat(),
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "labels": self.label_counts(),
            "left_out": dict(self.left_out),
            "digest": self.digest,
        }


def database_clock(session: Session) -> datetime | None:
    """The newest suggestion, decision or outcome stored: the dataset's notion of "now"."""
    latest = [
        session.scalar(sa.select(sa.func.max(column)))
        for column in (Suggestion.created_at, Feedback.created_at, Outcome.created_at)
    ]
    known = [value for value in latest if value is not None]
    return max(known) if known else None


def training_consent() -> sa.Select[int]:
    """Participants whose consent to model training is given and not withdrawn."""
    return sa.select(Consent.participant_id).where(
        Consent.scope == ConsentScope.MODEL_TRAINING, Consent.withdrawn_at.is_(None)
    )


def build_dataset(
    *,
    session: Session,
    min_age: timedelta,
    evaluation_share: float,
    as_of: datetime | None = None,
    track: Track = no_progress,
) -> Dataset:
    """Read, label and split the logged suggestions of consenting participants."""
    if not 0 < evaluation_share < 1:
        raise InvalidInput("must be between 0 and 1", field="evaluation_share")
    clock = as_of or database_clock(session)
    if clock is None:
        raise InvalidInput("there are no logged suggestions to learn from")
    consented = training_consent()

    latest_decision: dict[int, Decision] = {}
    for suggestion_id, decision in session.execute(
        sa.select(Feedback.suggestion_id, Feedback.decision)
        .join(Suggestion, Suggestion.id == Feedback.suggestion_id)
        .where(Suggestion.participant_id.in_(consented), Feedback.created_at <= clock)
        .order_by(Feedback.created_at, Feedback.id)
    ):
        latest_decision[suggestion_id] = decision
    outcomes: dict[int, list[OutcomeKind]] = {}
    for referenced, kind in session.execute(
        sa.select(Outcome.suggestion_id, Outcome.kind)
        .where(
            Outcome.suggestion_id.is_not(None),
            Outcome.participant_id.in_(consented),
            Outcome.created_at <= clock,
        )
        .order_by(Outcome.id)
    ):
        if referenced is not None:
            outcomes.setdefault(referenced, []).append(kind)

    statement = (
        sa.select(
            Suggestion.id,
            Suggestion.slate_id,
            Suggestion.participant_id,
            Suggestion.lane,
            Suggestion.opening_id,
            Suggestion.placement_id,
            Suggestion.rank,
            Suggestion.created_at,
            Suggestion.feature_values,
        )
        .where(Suggestion.participant_id.in_(consented), Suggestion.created_at <= clock)
        .order_by(Suggestion.created_at, Suggestion.slate_id, Suggestion.rank, Suggestion.id)
        .execution_options(yield_per=_READ_CHUNK)
    )
    total = session.scalar(
        sa.select(sa.func.count())
        .select_from(Suggestion)
        .where(Suggestion.participant_id.in_(consented), Suggestion.created_at <= clock)
    )
    capacity = int(total or 0)
    features = np.empty((capacity, len(FEATURES)), dtype=np.float64)
    labels = np.empty(capacity, dtype=np.int8)
    ids = np.empty(capacity, dtype=np.int64)
    slates = np.empty(capacity, dtype=np.int64)
    participants = np.empty(capacity, dtype=np.int64)
    items = np.empty(capacity, dtype=np.int64)
    jobs = np.empty(capacity, dtype=bool)
    ranks = np.empty(capacity, dtype=np.int64)
    shown = np.empty(capacity, dtype=np.int64)
    slate_codes: dict[str, int] = {}
    left_out = {"no features": 0, "too young": 0}
    n = 0
    for (
        suggestion_id,
        slate_id,
        participant_id,
        lane,
        opening_id,
        placement_id,
        rank,
        created_at,
        values,
    ) in track(session.execute(statement), "reading suggestions", capacity):
        if n == capacity:
            break  # rows stored while reading: they belong to the next dataset
        if not values:
            left_out["no features"] += 1
            continue
        label = grade(
            outcomes=outcomes.get(suggestion_id, ()),
            latest_decision=latest_decision.get(suggestion_id),
            shown_at=created_at,
            as_of=clock,
            min_age=min_age,
        )
        if label is None:
            left_out["too young"] += 1
            continue
        features[n] = feature_row(values)
        labels[n] = label
        ids[n] = suggestion_id
        # Rows come in time order, a slate's rows together: codes number slates by time.
        slates[n] = slate_codes.setdefault(slate_id, len(slate_codes))
        participants[n] = participant_id
        items[n] = (opening_id if lane is Lane.JOBS else placement_id) or 0
        jobs[n] = lane is Lane.JOBS
        ranks[n] = rank
        shown[n] = microseconds(created_at)
        n += 1
    return assemble(
        features=features[:n],
        labels=labels[:n],
        slates=slates[:n],
        suggestion_ids=ids[:n],
        participants=participants[:n],
        items=items[:n],
        jobs_lane=jobs[:n],
        shown_ranks=ranks[:n],
        shown_at=shown[:n],
        as_of=clock,
        min_age=min_age,
        evaluation_share=evaluation_share,
        left_out=left_out,
    )


def microseconds(moment: datetime) -> int:
    """A moment as whole microseconds since the Unix epoch (how datasets store times)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def assemble(
    *,
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    slates: npt.ArrayLike,
    suggestion_ids: npt.ArrayLike,
    participants: npt.ArrayLike,
    items: npt.ArrayLike,
    jobs_lane: npt.ArrayLike,
    shown_ranks: npt.ArrayLike,
    shown_at: npt.ArrayLike,
    as_of: datetime,
    min_age: timedelta,
    evaluation_share: float,
    left_out: Mapping[str, int],
) -> Dataset:
    """A dataset from labelled rows in time order: splits by time and computes the digest.

    `slates` numbers the slates 0, 1, … in the order they were shown, a slate's rows
    together; `shown_at` is in microseconds since the epoch (`microseconds`).
    """
    matrix = np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURES))
    codes = np.asarray(slates, dtype=np.int64)
    times = np.asarray(shown_at, dtype=np.int64)
    slate_count = int(codes.max()) + 1 if codes.size else 0
    slate_times = np.zeros(slate_count, dtype=np.int64)
    slate_times[codes] = times
    evaluation = np.zeros(codes.size, dtype=bool)
    cutoff: datetime | None = None
    if slate_count >= 2:
        # Slates shown at the same moment are ordered by id, so the split is exact in count.
        first_held_out = min(slate_count - 1, max(1, int(slate_count * (1 - evaluation_share))))
        evaluation = codes >= first_held_out
        cutoff = _EPOCH + timedelta(microseconds=int(slate_times[first_held_out]))
    arrays: dict[str, npt.NDArray[Any]] = {
        "features": matrix,
        "labels": np.asarray(labels, dtype=np.int8),
        "slates": codes,
        "suggestion_ids": np.asarray(suggestion_ids, dtype=np.int64),
        "participants": np.asarray(participants, dtype=np.int64),
        "items": np.asarray(items, dtype=np.int64),
        "jobs_lane": np.asarray(jobs_lane, dtype=bool),
        "shown_ranks": np.asarray(shown_ranks, dtype=np.int64),
        "shown_at": times,
        "evaluation": evaluation,
    }
    digest = _digest(
        header={
            "scheme": LABEL_SCHEME_VERSION,
            "features": list(FEATURES),
            "grades": dict(GRADES),
            "as_of": as_of.isoformat(),
            "min_age_seconds": min_age.total_seconds(),
            "evaluation_share": evaluation_share,
        },
        arrays=arrays,
    )
    return Dataset(
        features=matrix,
        labels=arrays["labels"],
        slates=codes,
        suggestion_ids=arrays["suggestion_ids"],
        participants=arrays["participants"],
        items=arrays["items"],
        jobs_lane=arrays["jobs_lane"],
        shown_ranks=arrays["shown_ranks"],
        shown_at=times.astype("datetime64[us]"),
        evaluation=evaluation,
        as_of=as_of,
        cutoff=cutoff,
        digest=digest,
        left_out=dict(left_out),
    )


def _digest(*, header: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]) -> str:
    """SHA-256 of the settings that shaped the set and of every array, in a fixed layout."""
    hasher = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        if array.dtype == np.float64:
            # One bit pattern for NaN, whatever produced it.
            array = np.where(np.isnan(array), np.nan, array)
        hasher.update(name.encode())
        hasher.update(str(array.shape).encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()
