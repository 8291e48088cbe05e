"""Evaluation of a ranker on the held-out period: ranking quality, gender exposure, benchmark.

Every model is judged on the same rows: the evaluation part of one `Dataset` (the newest
slates). Each stored slate is re-ranked by the model's scores (ties keep the order shown)
and compared with the graded labels:

- NDCG@5 and NDCG@10 with the grades as gains; MAP and recall@5/@10 with "relevant" meaning
  the coach took the suggestion up (shortlisted or better). Slates without any relevant
  suggestion have no defined value and are left out of the means. NDCG@10 is kept per slate
  too, so that the gates can put a paired bootstrap interval on a candidate's gain.
- Exposure of competitive jobs by gender: for each participant of the period, all their
  held-out suggestions of both lanes are ranked together by the model and the share of
  competitive jobs in the top 10 is taken; the gap is the mean share of women minus that of
  men, with a bootstrap interval over participants. Gender is read here, for this
  measurement only; it is never a feature.
- The quality benchmark of the matching issue (`training.quality`), NDCG@10 overall and on
  its hard variant.
- The domain directions (`AdditiveRanker.direction_violations`).

With a simulator's hidden truth (`training.simulate`), NDCG@10 against that truth is
measured too, on the same held-out slates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session

from matching.db.models import Participant
from matching.domain import Gender
from matching.ranker import AdditiveRanker
from training.dataset import RELEVANT_GRADE, Dataset
from training.metrics import (
    MeanGap,
    average_precision,
    exposure_at_k,
    mean_gap,
    mean_ignoring_undefined,
    ndcg_at_k,
    recall_at_k,
)

RANK_KS: Final = (5, 10)
EXPOSURE_K: Final = 10
BOOTSTRAP_RESAMPLES: Final = 1000
#: Fixed, so that the same database state gives the same interval.
BOOTSTRAP_SEED: Final = 20251124

Vector = npt.NDArray[np.float64]
#: Graded relevance of feature rows according to a known truth (the simulator's).
Truth = Callable[[npt.NDArray[np.float64]], Vector]


class QualityReport(Protocol):
    def ndcg(self, name: str = ...) -> float: ...


class QualityScorer(Protocol):
    """What the gates need of the quality benchmark (`training.quality.QualityBenchmark`)."""

    def score(self, model: AdditiveRanker) -> QualityReport: ...


@dataclass(frozen=True)
class Evaluation:
    """One model on one dataset's held-out period."""

    version: str
    metrics: Mapping[str, float]
    exposure: MeanGap
    quality: float
    quality_hard: float
    direction_violations: tuple[str, ...]
    slates: int
    #: NDCG@10 against a simulator's hidden truth, when there is one.
    truth_ndcg_at_10: float | None = None
    #: NDCG@10 of each held-out slate in slate order (NaN where every grade is the same).
    slate_ndcg_at_10: tuple[float, ...] = ()
    extra: Mapping[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, float]:
        """Every figure as one flat mapping (MLflow metrics, JSON)."""
        figures = dict(self.metrics)
        figures |= {
            "exposure_women": self.exposure.first_mean,
            "exposure_men": self.exposure.second_mean,
            "exposure_gap": self.exposure.gap,
            "exposure_gap_low": self.exposure.low,
            "exposure_gap_high": self.exposure.high,
            "quality_ndcg_at_10": self.quality,
            "quality_hard_ndcg_at_10": self.quality_hard,
            "direction_violations": float(len(self.direction_violations)),
        }
        if self.truth_ndcg_at_10 is not None:
            figures["truth_ndcg_at_10"] = self.truth_ndcg_at_10
        return figures | dict(self.extra)


def slate_rankings(scores: Vector, part: Dataset) -> list[npt.NDArray[np.int64]]:
    """Row indices of each slate, best first by score; ties keep the order shown.

    Rows of one slate are contiguous in a dataset (it is ordered by slate), which keeps
    this linear in the number of rows.
    """
    if not len(part):
        return []
    starts = np.flatnonzero(np.r_[True, part.slates[1:] != part.slates[:-1]])
    ends = np.r_[starts[1:], len(part)]
    rankings = []
    for start, end in zip(starts, ends, strict=True):
        order = np.lexsort((part.shown_ranks[start:end], -scores[start:end]))
        rankings.append(start + order.astype(np.int64))
    return rankings


def slate_metrics(scores: Vector, part: Dataset) -> dict[str, list[float]]:
    """NDCG@5/@10, MAP and recall@5/@10 of each slate of `part` (in slate order), re-ranked
    by `scores`; NaN for a slate whose suggestions all have the same grade."""
    per_slate: dict[str, list[float]] = {
        **{f"ndcg_at_{k}": [] for k in RANK_KS},
        "map": [],
        **{f"recall_at_{k}": [] for k in RANK_KS},
    }
    labels = part.labels.astype(np.float64)
    for ranking in slate_rankings(scores, part):
        grades = labels[ranking]
        if np.all(grades == grades[0]):
            # Nothing to order: every ranking is as good as any other.
            for values in per_slate.values():
                values.append(math.nan)
            continue
        for k in RANK_KS:
            per_slate[f"ndcg_at_{k}"].append(ndcg_at_k(grades, k))
            per_slate[f"recall_at_{k}"].append(recall_at_k(grades, k, threshold=RELEVANT_GRADE))
        per_slate["map"].append(average_precision(grades, threshold=RELEVANT_GRADE))
    return per_slate


def means(per_slate: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Each metric's mean over the slates where it is defined."""
    return {name: mean_ignoring_undefined(values) for name, values in per_slate.items()}


def ranking_metrics(scores: Vector, part: Dataset) -> dict[str, float]:
    """NDCG@5/@10, MAP and recall@5/@10 over the slates of `part`, re-ranked by `scores`."""
    return means(slate_metrics(scores, part))


def truth_ndcg(scores: Vector, part: Dataset, truth: Truth, k: int = 10) -> float:
    """NDCG@k of the re-ranked held-out slates against a known truth's grades."""
    relevance = truth(part.features)
    values = [ndcg_at_k(relevance[ranking], k) for ranking in slate_rankings(scores, part)]
    return mean_ignoring_undefined(values)


def competitive_exposure(scores: Vector, part: Dataset) -> dict[int, float]:
    """Per participant: share of competitive jobs among their top 10 of both lanes.

    An item shown more than once counts once, with its newest row.
    """
    newest: dict[int, dict[tuple[bool, int], int]] = {}
    for row in range(len(part)):
        key = (bool(part.jobs_lane[row]), int(part.items[row]))
        newest.setdefault(int(part.participants[row]), {})[key] = row
    shares = {}
    for participant, rows_by_item in newest.items():
        rows = np.fromiter(rows_by_item.values(), dtype=np.int64)
        order = rows[np.lexsort((part.suggestion_ids[rows], -scores[rows]))]
        shares[participant] = exposure_at_k(part.jobs_lane[order], EXPOSURE_K)
    return shares


def exposure_gap(
    scores: Vector,
    part: Dataset,
    genders: Mapping[int, Gender],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> MeanGap:
    """Women's minus men's mean competitive-job exposure, with a bootstrap interval."""
    shares = competitive_exposure(scores, part)
    women = [share for p, share in shares.items() if genders.get(p) is Gender.WOMAN]
    men = [share for p, share in shares.items() if genders.get(p) is Gender.MAN]
    return mean_gap(women, men, resamples=resamples, seed=BOOTSTRAP_SEED)


def ndcg_gain(candidate: Evaluation, champion: Evaluation) -> MeanGap:
    """Candidate minus champion NDCG@10 over the same held-out slates, with a paired bootstrap
    interval over slates (NaN figures when they were not measured slate by slate together)."""
    if len(candidate.slate_ndcg_at_10) != len(champion.slate_ndcg_at_10):
        return mean_gap((), (), paired=True)
    return mean_gap(
        candidate.slate_ndcg_at_10,
        champion.slate_ndcg_at_10,
        paired=True,
        resamples=BOOTSTRAP_RESAMPLES,
        seed=BOOTSTRAP_SEED,
    )


def genders_of(session: Session, participant_ids: Sequence[int]) -> dict[int, Gender]:
    """The recorded gender of each participant, for the exposure measurement only."""
    wanted = sorted({int(p) for p in participant_ids})
    found: dict[int, Gender] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = session.execute(
            sa.select(Participant.id, Participant.gender).where(Participant.id.in_(chunk))
        )
        found.update((participant_id, gender) for participant_id, gender in rows)
    return found


def evaluate(
    model: AdditiveRanker,
    *,
    version: str,
    part: Dataset,
    genders: Mapping[int, Gender],
    benchmark: QualityScorer,
    truth: Truth | None = None,
) -> Evaluation:
    """Every figure the gates and the report need, for one model on one held-out part."""
    scores = model.predict(part.features) if len(part) else np.zeros(0)
    report = benchmark.score(model)
    per_slate = slate_metrics(scores, part)
    return Evaluation(
        version=version,
        metrics=means(per_slate),
        exposure=exposure_gap(scores, part, genders),
        quality=report.ndcg("overall"),
        quality_hard=report.ndcg("hard"),
        direction_violations=tuple(model.direction_violations()),
        slates=part.slate_count,
        truth_ndcg_at_10=None if truth is None else truth_ndcg(scores, part, truth),
        slate_ndcg_at_10=tuple(per_slate["ndcg_at_10"]),
    )


def shown_order_metrics(part: Dataset) -> dict[str, float]:
    """The metrics of the slates in the order they were shown (whatever model showed them)."""
    return ranking_metrics(-part.shown_ranks.astype(np.float64), part)
