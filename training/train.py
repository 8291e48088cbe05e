"""Retraining: dataset → fit → evaluate against the champion → gates → MLflow run and version.

`train` is the whole loop the data team runs (`stegvis train [--promote]`):

1. build the dataset from the logged suggestions (`training.dataset`), time-split;
2. fit an `AdditiveRanker` on the older slates, with the domain directions as bounds;
3. evaluate it and the current champion (hand-set when nothing was promoted) on the same
   held-out slates, and both on the quality benchmark (`training.evaluate`);
4. check the promotion gates (`training.registry.check_gates`);
5. log the run — parameters, dataset digest and size, metrics of both models, one shape
   plot per feature, the model with its signature — and register the model as a new
   version carrying its gate report;
6. with `promote`, make it the champion if, and only if, every gate passed.

When a simulator's hidden truth is given, NDCG@10 against it is logged for both models and,
as a curve with one step per simulated round, for models fitted on the data up to that
round (step 0 is the champion), so MLflow shows learning over rounds.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sqlalchemy.orm import Session

from matching.crashpoints import crashpoint
from matching.errors import InvalidInput
from matching.features import DIRECTIONS, FEATURES
from matching.progress import Track, no_progress
from matching.ranker import AdditiveRanker
from matching.settings import Settings
from training.dataset import Dataset, build_dataset
from training.evaluate import Evaluation, QualityScorer, Truth, evaluate, genders_of, truth_ndcg
from training.registry import (
    GateReport,
    LoggedCandidate,
    ModelRegistry,
    check_gates,
    version_label,
)

log = logging.getLogger(__name__)

#: Seed of the label permutation of `shuffle_labels` (a deliberately worse model, for demos
#: and the gate tests).
SHUFFLE_SEED = 7


@dataclass(frozen=True)
class TrainingParams:
    """The ranker's hyper-parameters (see `AdditiveRanker`), and the shuffled-label control.

    The defaults pull firmly towards the hand-set shapes (`l2`) and learn two ramps per
    feature: coach decisions are noisy, and on the fixture history a looser fit gains a
    little on the held-out NDCG but forgets text relevance (the quality benchmark).
    """

    n_knots: int = 2
    l2: float = 300.0
    objective: Literal["pairwise", "pointwise"] = "pairwise"
    max_iter: int = 300
    shuffle_labels: bool = False

    def ranker(self) -> AdditiveRanker:
        return AdditiveRanker(
            n_knots=self.n_knots, l2=self.l2, objective=self.objective, max_iter=self.max_iter
        )


def fit(part: Dataset, params: TrainingParams) -> AdditiveRanker:
    """Fit a ranker on `part`; slates are the pairwise groups."""
    labels = part.labels.astype(np.float64)
    if params.shuffle_labels:
        labels = np.random.default_rng(SHUFFLE_SEED).permutation(labels)
    return params.ranker().fit(part.features, labels, groups=part.slates)


def learning_curve(
    dataset: Dataset,
    params: TrainingParams,
    truth: Truth,
    cutoffs: Sequence[datetime],
    *,
    baseline: AdditiveRanker,
) -> list[tuple[int, float]]:
    """NDCG@10 against the truth on the held-out slates, for models fitted on the training
    slates shown up to each cutoff; step 0 is the baseline (the champion)."""
    training, held_out = dataset.training_part(), dataset.evaluation_part()
    points = [(0, truth_ndcg(baseline.predict(held_out.features), held_out, truth))]
    fitted_rows = -1
    for step, cutoff in enumerate(sorted(cutoffs), start=1):
        seen = training.shown_until(cutoff)
        if seen.slate_count < 2:
            continue
        if len(seen) != fitted_rows:
            model = fit(seen, params)
            value = truth_ndcg(model.predict(held_out.features), held_out, truth)
            fitted_rows = len(seen)
        points.append((step, value))
    return points


def shape_plots(
    model: AdditiveRanker, champion: AdditiveRanker, part: Dataset, *, champion_label: str
) -> dict[str, bytes]:
    """One PNG per feature: the learned shape next to the champion's over the observed range."""
    plots = {}
    for index, name in enumerate(FEATURES):
        column = part.features[:, index]
        observed = column[~np.isnan(column)]
        ends = [*model.knots_[name], *champion.knots_[name]]
        if observed.size:
            ends += [float(observed.min()), float(observed.max())]
        low, high = min(ends, default=0.0), max(ends, default=1.0)
        if high <= low:
            high = low + 1.0
        x = np.linspace(low, high, 200)
        figure = Figure(figsize=(5, 3.2), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.plot(x, champion.shape(name, x), color="0.6", linestyle="--", label=champion_label)
        axes.plot(x, model.shape(name, x), color="tab:blue", label="candidate")
        if observed.size:
            axes.hist(
                observed,
                bins=30,
                weights=np.full(observed.size, 1 / observed.size),
                alpha=0.15,
                color="tab:green",
                label="share of rows",
            )
        direction = {1: "never falls", -1: "never rises"}.get(DIRECTIONS.get(name, 0), "free")
        axes.set_title(f"{name} ({direction})")
        axes.set_xlabel("feature value")
        axes.set_ylabel("contribution (points)")
        axes.axhline(0, color="0.85", linewidth=0.8)
        axes.legend(fontsize="small")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plots[f"{name}.png"] = buffer.getvalue()
    return plots


@dataclass(frozen=True)
class TrainingResult:
    """What one training run produced, and whether the model now serves."""

    logged: LoggedCandidate
    dataset: dict[str, Any]
    candidate: Evaluation
    champion: Evaluation
    gates: GateReport
    promoted: bool
    curve: list[tuple[int, float]]


def _dataset(
    settings: Settings, session: Session, *, as_of: datetime | None, track: Track
) -> Dataset:
    """Today's dataset under the settings' label and split rules; refused when too small."""
    dataset = build_dataset(
        session=session,
        min_age=timedelta(days=settings.label_min_age_days),
        evaluation_share=settings.evaluation_share,
        as_of=as_of,
        track=track,
    )
    if dataset.training_part().slate_count < 1 or dataset.evaluation_part().slate_count < 1:
        raise InvalidInput(
            f"{dataset.slate_count} labelled slates ({dict(dataset.left_out)} left out): "
            "training needs slates both before and after the split"
        )
    return dataset


def _evaluate_pair(
    *,
    session: Session,
    held_out: Dataset,
    candidate: tuple[AdditiveRanker, str],
    champion: tuple[AdditiveRanker, str],
    benchmark: QualityScorer,
    truth: Truth | None,
) -> tuple[Evaluation, Evaluation]:
    """Candidate and champion on the same held-out rows, the same genders, the same benchmark."""
    genders = genders_of(session, held_out.participants.tolist())

    def judged(model: AdditiveRanker, label: str) -> Evaluation:
        return evaluate(
            model, version=label, part=held_out, genders=genders, benchmark=benchmark, truth=truth
        )

    return judged(*candidate), judged(*champion)


def train(
    *,
    settings: Settings,
    session: Session,
    registry: ModelRegistry,
    benchmark: QualityScorer,
    params: TrainingParams = TrainingParams(),
    promote: bool = False,
    truth: Truth | None = None,
    rounds: Sequence[datetime] = (),
    as_of: datetime | None = None,
    track: Track = no_progress,
) -> TrainingResult:
    """Build, fit, evaluate, gate, log and register; promote only when asked and passed."""
    dataset = _dataset(settings, session, as_of=as_of, track=track)
    training, held_out = dataset.training_part(), dataset.evaluation_part()
    log.info(
        "dataset %s: %d rows in %d slates (%d held out), labels %s",
        dataset.digest[:12],
        len(dataset),
        dataset.slate_count,
        held_out.slate_count,
        dataset.label_counts(),
    )
    candidate = fit(training, params)
    crashpoint("training.fitted")
    champion_model, champion_label = registry.champion()
    candidate_evaluation, champion_evaluation = _evaluate_pair(
        session=session,
        held_out=held_out,
        candidate=(candidate, "candidate"),
        champion=(champion_model, champion_label),
        benchmark=benchmark,
        truth=truth,
    )
    gates = check_gates(candidate_evaluation, champion_evaluation, settings)
    curve = (
        learning_curve(dataset, params, truth, rounds, baseline=champion_model)
        if truth is not None and rounds
        else []
    )
    summary = dataset.summary()
    metrics = candidate_evaluation.flat() | {
        f"champion_{name}": value for name, value in champion_evaluation.flat().items()
    }
    metrics |= {
        "dataset_rows": float(len(dataset)),
        "dataset_slates": float(dataset.slate_count),
        "training_rows": float(len(training)),
        "evaluation_rows": float(len(held_out)),
        "gates_passed": float(gates.passed),
        "converged": float(candidate.converged_),
        "iterations": float(candidate.n_iter_),
    }
    logged = registry.log_candidate(
        model=candidate,
        run_name=f"train {dataset.digest[:8]}"
        + (" (shuffled labels)" if params.shuffle_labels else ""),
        params=asdict(params)
        | {
            "dataset_digest": dataset.digest,
            "dataset_rows": len(dataset),
            "as_of": dataset.as_of.isoformat(),
            "cutoff": dataset.cutoff.isoformat() if dataset.cutoff else "",
            "label_min_age_days": settings.label_min_age_days,
            "evaluation_share": settings.evaluation_share,
            "gate_min_ndcg_gain": settings.gate_min_ndcg_gain,
            "gate_max_quality_loss": settings.gate_max_quality_loss,
            "gate_max_exposure_gap": settings.gate_max_exposure_gap,
            "champion": champion_label,
        },
        metrics=metrics,
        curves={"truth_ndcg_at_10_by_round": curve} if curve else {},
        dataset_digest=dataset.digest,
        dataset_summary=summary,
        dataset_features=training.features,
        dataset_labels=training.labels,
        documents={
            "evaluation.json": {
                "candidate": candidate_evaluation.flat(),
                "champion": champion_evaluation.flat(),
                "champion_version": champion_label,
            }
        },
        plots=shape_plots(candidate, champion_model, training, champion_label=champion_label),
        gates=gates,
    )
    promoted = False
    if promote and gates.passed:
        registry.promote(logged.version, gates)
        promoted = True
    return TrainingResult(
        logged=logged,
        dataset=summary,
        candidate=candidate_evaluation,
        champion=champion_evaluation,
        gates=gates,
        promoted=promoted,
        curve=curve,
    )


def compare_version(
    *,
    settings: Settings,
    session: Session,
    registry: ModelRegistry,
    benchmark: QualityScorer,
    version: int,
    truth: Truth | None = None,
    as_of: datetime | None = None,
) -> tuple[Evaluation, Evaluation, GateReport]:
    """A registered version against today's champion on today's held-out period."""
    dataset = _dataset(settings, session, as_of=as_of, track=no_progress)
    model = registry.load(version)
    label = version_label(registry.name, version)
    candidate, champion = _evaluate_pair(
        session=session,
        held_out=dataset.evaluation_part(),
        candidate=(model, label),
        champion=registry.champion(),
        benchmark=benchmark,
        truth=truth,
    )
    return candidate, champion, check_gates(candidate, champion, settings)
