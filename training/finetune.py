"""Adapting the encoder to Swedish job texts: fine-tune, measure, gate, log, register.

`train_encoder` fine-tunes a sentence-transformers model on the CPU with
MultipleNegativesRankingLoss (in-batch negatives, plus a hard negative per pair when the
pairs carry one), a linear learning-rate warm-up and decay, seeded shuffling and a
progress bar. A batch never holds two pairs of the same SSYK-4 group, so an in-batch
negative is never a near-duplicate of the positive. Like the ranker, training is the only
place that needs the training side of the library, so it is imported here and nowhere else
(serving loads the saved folder through `embeddings.encoder`).

`run_encoder_training` is what `stegvis encoder train` does: pairs from the taxonomy (and
coach decisions), the encoder serving now and the candidate measured on the quality
benchmark (`training.encoder_eval`), the gates, an MLflow run with the model registered
as a version of `stegvis-encoder`, promoted to `champion` only when every gate passes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from embeddings.encoder import Encoder, bundled_model_path, load_encoder
from matching.db.session import make_engine, make_session_factory
from matching.progress import Track, no_progress
from matching.ranker import AdditiveRanker
from matching.settings import BUNDLED_MODEL, Settings
from matching.taxonomy import load_taxonomy
from training.encoder_eval import EncoderBench, EncoderFigures
from training.encoder_pairs import (
    DECISIONS,
    TAXONOMY_KINDS,
    Pair,
    decision_pairs,
    kind_counts,
    pairs_digest,
    taxonomy_pairs,
)
from training.quality import DEFAULT_SEED, GroupSplit, QualityBenchmark, group_split
from training.registry import (
    ENCODER_MODEL_NAME,
    EncoderRegistry,
    Gate,
    GateReport,
    LoggedCandidate,
    ModelRegistry,
)

log = logging.getLogger(__name__)

#: The guardrails may lose at most this much against the encoder serving now.
GUARDRAIL_TOLERANCE: Final = 0.005


@dataclass(frozen=True)
class FinetuneConfig:
    """What a fine-tuning run does. The defaults are `stegvis encoder train`'s."""

    kinds: tuple[str, ...] = (*TAXONOMY_KINDS, DECISIONS)
    hard_negatives: bool = True
    #: pairs kept (a seeded sample across kinds); 0 keeps all
    max_pairs: int = 1200
    epochs: int = 2
    batch_size: int = 32
    max_seq_length: int = 64
    learning_rate: float = 5e-5
    warmup_share: float = 0.1
    seed: int = DEFAULT_SEED
    threads: int = 2


@dataclass
class FinetuneResult:
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    steps: int = 0

    def mean_loss(self, part: slice) -> float:
        return float(np.mean(self.losses[part])) if self.losses[part] else float("nan")


def select_pairs(pairs: Sequence[Pair], config: FinetuneConfig) -> list[Pair]:
    """The pairs of the chosen kinds, a seeded sample of `max_pairs` of them."""
    chosen = [p for p in pairs if p.kind in config.kinds]
    if not config.hard_negatives:
        chosen = [
            Pair(p.kind, p.group, p.anchor, p.positive, None, p.groups, p.skill_ids) for p in chosen
        ]
    if config.max_pairs and len(chosen) > config.max_pairs:
        chosen = random.Random(f"encoder-sample:{config.seed}").sample(chosen, config.max_pairs)  # noqa: S311
    return chosen


def batches(pairs: Sequence[Pair], size: int, rng: random.Random) -> Iterator[list[Pair]]:
    """Shuffled batches with one pair per SSYK-4 group, pairs with and without a negative apart.

    A pair whose group is already in the batch waits for the next one; every pair is used
    once per epoch.
    """
    for with_negative in (True, False):
        waiting = [p for p in pairs if (p.negative is not None) is with_negative]
        rng.shuffle(waiting)
        while waiting:
            batch: list[Pair] = []
            groups: set[str] = set()
            rest: list[Pair] = []
            for pair in waiting:
                if len(batch) < size and pair.group not in groups:
                    batch.append(pair)
                    groups.add(pair.group)
                else:
                    rest.append(pair)
            waiting = rest
            if len(batch) > 1:  # one pair alone has no in-batch negative
                yield batch


def _peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_source(spec: str) -> str:
    """The folder (or offline name) a model setting points at."""
    return str(bundled_model_path()) if spec == BUNDLED_MODEL else spec


def train_encoder(
    pairs: Sequence[Pair],
    *,
    base: str,
    output: Path,
    config: FinetuneConfig,
    track: Track = no_progress,
) -> FinetuneResult:
    """Fine-tune the model at `base` on the pairs and save it to `output`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started = time.perf_counter()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = SentenceTransformer(base, device="cpu")
    served_length = model.max_seq_length
    model.max_seq_length = config.max_seq_length
    loss_function = MultipleNegativesRankingLoss(model)
    rng = random.Random(f"encoder-batches:{config.seed}")  # noqa: S311
    plan = [list(batches(pairs, config.batch_size, rng)) for _ in range(config.epochs)]
    total = sum(len(epoch) for epoch in plan)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    warmup = max(1, round(config.warmup_share * total))

    def learning_rate_factor(step: int) -> float:
        """Linear warm-up to the full rate, then linear decay to zero."""
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor)
    result = FinetuneResult()
    model.train()
    steps = (batch for epoch in plan for batch in epoch)
    for batch in track(steps, "fine-tuning the encoder", total):
        columns = [[p.anchor for p in batch], [p.positive for p in batch]]
        if batch[0].negative is not None:
            columns.append([str(p.negative) for p in batch])
        features = [model.preprocess(texts) for texts in columns]
        loss = loss_function(features, torch.zeros(len(batch)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        result.losses.append(float(loss.detach()))
    model.eval()
    # Served texts (whole ads) are longer than the pairs: keep the base model's length.
    model.max_seq_length = served_length
    output.mkdir(parents=True, exist_ok=True)
    model.save(str(output))
    result.steps = len(result.losses)
    result.seconds = time.perf_counter() - started
    result.peak_memory_mb = _peak_memory_mb()
    log.info(
        "fine-tuned %d steps in %.0f s: loss %.3f -> %.3f",
        result.steps,
        result.seconds,
        result.mean_loss(slice(0, 10)),
        result.mean_loss(slice(-10, None)),
    )
    return result


def loss_plot(losses: Sequence[float]) -> bytes:
    """The loss curve (per step and a moving mean) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    steps = np.arange(1, len(losses) + 1)
    axes.plot(steps, losses, color="0.7", linewidth=0.8, label="per step")
    window = max(1, len(losses) // 20)
    if len(losses) >= window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axes.plot(steps[window - 1 :], smooth, color="C0", label=f"mean of {window}")
    axes.set_xlabel("step")
    axes.set_ylabel("MultipleNegativesRankingLoss")
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def check_encoder_gates(
    candidate: EncoderFigures, champion: EncoderFigures, *, compared_with: str
) -> GateReport:
    """Both held-out NDCG@10 figures must rise; no guardrail may fall (beyond a tolerance)."""

    def rise(name: str, label: str) -> Gate:
        new, old = getattr(candidate, name), getattr(champion, name)
        return Gate(
            name,
            bool(np.isfinite(new - old)) and new > old,
            f"{label} {new:.4f} vs {old:.4f} ({new - old:+.4f}; must rise)",
        )

    def keep(name: str, label: str) -> Gate:
        new, old = getattr(candidate, name), getattr(champion, name)
        return Gate(
            f"guardrail_{name}",
            bool(np.isfinite(new - old)) and new >= old - GUARDRAIL_TOLERANCE,
            f"{label} {new:.4f} vs {old:.4f} ({new - old:+.4f}; may lose at most "
            f"{GUARDRAIL_TOLERANCE:.3f})",
        )

    return GateReport(
        compared_with=compared_with,
        gates=(
            rise("semantic_held_out", "held-out groups, semantic-only NDCG@10"),
            rise("full_held_out", "held-out groups, full ranker NDCG@10"),
            keep("full_development", "development groups, full ranker NDCG@10"),
            keep("full_hard_skills_only", "hard skills-only participants, full ranker NDCG@10"),
            keep("stated_occupation_first", "stated occupation ranked first (title + skills)"),
        ),
    )


@dataclass(frozen=True)
class EncoderRun:
    logged: LoggedCandidate
    gates: GateReport
    promoted: bool
    before: EncoderFigures
    after: EncoderFigures
    result: FinetuneResult
    pair_counts: dict[str, int]


def gather_pairs(settings: Settings, config: FinetuneConfig, split: GroupSplit) -> list[Pair]:
    """Taxonomy pairs and, when the database holds any, coach-decision pairs: none of a
    group `split` holds out."""
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    pairs = taxonomy_pairs(taxonomy, kinds=TAXONOMY_KINDS, split=split)
    database = settings.resolved_database_url
    if DECISIONS in config.kinds and (
        not database.startswith("sqlite:///") or Path(database[len("sqlite:///") :]).exists()
    ):
        from matching.engine import MatchingEngine  # noqa: F401 - mapper configuration

        engine = make_engine(database)
        try:
            with make_session_factory(engine)() as session:
                labels = {o.id: o.label for o in taxonomy.occupations.values()}
                pairs += decision_pairs(
                    session, taxonomy=taxonomy, split=split, occupation_labels=labels
                )
        finally:
            engine.dispose()
    return pairs


def serving_encoder(settings: Settings) -> tuple[Encoder, str, str]:
    """The encoder serving now, its label and its source: the registry's champion, else
    the configured model."""
    registry = EncoderRegistry(settings)
    version = registry.champion_version() if registry.registered() else None
    if version is None:
        spec = settings.embedding_model
        label, source = spec, model_source(spec)
    else:
        source = str(registry.download(version, settings.data_dir / "encoders"))
        label, spec = f"{ENCODER_MODEL_NAME}/{version}", source
    return load_encoder(spec, max_seq_length=settings.embedding_max_seq_length), label, source


def _figures_cached(
    bench: EncoderBench, encoder: Encoder, ranker: AdditiveRanker, folder: Path, ranker_label: str
) -> EncoderFigures:
    """The serving encoder's figures, kept next to the stored benchmark (encoding the
    benchmark's texts takes minutes; the champion's figures only change with it)."""
    key = hashlib.sha256(
        f"{bench.benchmark.key}|{encoder.model_id}|{ranker_label}".encode()
    ).hexdigest()[:20]
    path = folder / f"encoder-figures-{key}.json"
    if path.exists():
        return EncoderFigures(**json.loads(path.read_text(encoding="utf-8")))
    figures = bench.figures(encoder, ranker)
    folder.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(asdict(figures)), encoding="utf-8")
    scratch.replace(path)
    return figures


def run_encoder_training(
    settings: Settings,
    *,
    config: FinetuneConfig = FinetuneConfig(),
    promote: bool = False,
    benchmark: QualityBenchmark | None = None,
    pairs: Sequence[Pair] | None = None,
    track: Track = no_progress,
) -> EncoderRun:
    """Pairs -> fine-tune the serving encoder -> before/after -> gates -> MLflow -> promote."""
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    benchmark = benchmark or QualityBenchmark.load_or_build(settings, track=track)
    bench = EncoderBench(benchmark, taxonomy)
    champion_encoder, champion_label, base = serving_encoder(settings)
    ranker, ranker_label = ModelRegistry(settings).champion()
    before = _figures_cached(
        bench, champion_encoder, ranker, settings.data_dir / "quality", ranker_label
    )
    split = group_split(taxonomy, seed=benchmark.seed, share=benchmark.size.held_out_share)
    if pairs is None:
        pairs = gather_pairs(settings, config, split)
    chosen = select_pairs(pairs, config)
    counts = kind_counts(chosen)
    digest = pairs_digest(chosen)
    with tempfile.TemporaryDirectory(prefix="stegvis-encoder-") as folder:
        output = Path(folder) / "stegvis-encoder-candidate"
        result = train_encoder(chosen, base=base, output=output, config=config, track=track)
        candidate = load_encoder(str(output), max_seq_length=settings.embedding_max_seq_length)
        # Its cosines on the ranker's scale: the calibration goes into the model folder, so
        # the logged model (and whoever serves it) carries it.
        items, queries = bench.similarities(candidate)
        calibration = bench.fit_calibration(items, queries)
        calibration.write(output)
        after = bench.figures_of(items, queries, ranker, calibration)
        gates = check_encoder_gates(after, before, compared_with=champion_label)
        registry = EncoderRegistry(settings)
        logged = registry.log_encoder(
            folder=output,
            run_name=f"encoder {digest[:8]}",
            params={
                **{k: v for k, v in asdict(config).items() if k != "kinds"},
                "kinds": ",".join(config.kinds),
                "base": champion_label,
                "ranker": ranker_label,
                "dataset_digest": digest,
                "pairs": len(chosen),
                **{f"pairs_{kind}": n for kind, n in counts.items()},
                "held_out_groups": len(benchmark.held_out_groups),
                "calibration_slope": round(calibration.slope, 6),
                "calibration_intercept": round(calibration.intercept, 6),
            },
            metrics={
                **after.as_metrics(),
                **before.as_metrics("champion_"),
                "train_seconds": result.seconds,
                "peak_memory_mb": result.peak_memory_mb,
                "steps": result.steps,
                "gates_passed": float(gates.passed),
                "load_average_1min": os.getloadavg()[0],
            },
            curves={"loss": [(n, v) for n, v in enumerate(result.losses)]},
            dataset_digest=digest,
            documents={
                "dataset.json": {"digest": digest, "pairs": len(chosen), "kinds": counts},
                "evaluation.json": {"candidate": asdict(after), "champion": asdict(before)},
            },
            plots={"loss.png": loss_plot(result.losses)},
            gates=gates,
        )
    promoted = False
    if promote and gates.passed:
        registry.promote(logged.version, gates)
        promoted = True
    return EncoderRun(logged, gates, promoted, before, after, result, counts)


def describe(run: EncoderRun) -> dict[str, Any]:
    """The run's key figures, for the command line and the benchmark script."""
    return {
        "version": run.logged.label,
        "gates": run.gates.summary(),
        "promoted": run.promoted,
        "before": asdict(run.before),
        "after": asdict(run.after),
        "seconds": round(run.result.seconds, 1),
        "peak_memory_mb": round(run.result.peak_memory_mb),
        "steps": run.result.steps,
        "pairs": run.pair_counts,
    }
