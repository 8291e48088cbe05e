"""`stegvis train|evaluate|simulate` and `stegvis models list|promote|rollback`: retraining."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from api.cli.common import console, database, settings_of, track
from matching.db.session import transaction
from matching.engine import MatchingEngine
from matching.settings import Settings
from training.backfill import backfill_features, pending_count
from training.evaluate import Evaluation
from training.quality import QualityBenchmark
from training.registry import GateReport, ModelRegistry
from training.simulate import hidden_truth, simulate, simulated_rounds
from training.train import TrainingParams, compare_version, train

log = logging.getLogger("stegvis")

models_app = typer.Typer(help="Registered ranker versions: list, promote, roll back.")

#: The figures shown side by side for candidate and champion.
SHOWN = (
    ("ndcg_at_10", "NDCG@10 (held out)"),
    ("ndcg_at_5", "NDCG@5"),
    ("map", "MAP"),
    ("recall_at_5", "recall@5"),
    ("quality_ndcg_at_10", "quality benchmark NDCG@10"),
    ("quality_hard_ndcg_at_10", "quality benchmark, hard"),
    ("exposure_gap", "competitive-job exposure gap (women − men)"),
    ("truth_ndcg_at_10", "NDCG@10 vs simulator's hidden truth"),
)


def _figure(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.4f}"


def print_comparison(candidate: Evaluation, champion: Evaluation) -> None:
    table = Table("figure", candidate.version, champion.version, title="held-out evaluation")
    ours, theirs = candidate.flat(), champion.flat()
    for key, label in SHOWN:
        if key in ours or key in theirs:
            table.add_row(label, _figure(ours.get(key)), _figure(theirs.get(key)))
    console.print(table)


def print_gates(gates: GateReport) -> None:
    table = Table("gate", "passed", "why", title=f"promotion gates against {gates.compared_with}")
    for gate in gates.gates:
        table.add_row(gate.name, "[green]yes[/]" if gate.passed else "[bold red]no[/]", gate.detail)
    console.print(table)


def quality_benchmark(settings: Settings) -> QualityBenchmark:
    """The quality benchmark, built once and then read from data_dir/quality."""
    return QualityBenchmark.load_or_build(settings, track=track)


def backfill_history(settings: Settings, factory: sessionmaker[Session]) -> None:
    """Give the fixture history its features (starts the engine only when needed)."""
    with factory() as session:
        pending = pending_count(session)
    if not pending:
        return
    console.print(f"{pending} historical suggestions have no features yet: computing them")
    matcher = MatchingEngine.start(settings, factory, track=track)
    with transaction(factory) as session:
        report = backfill_features(session=session, engine=matcher, track=track)
    log.info("backfill: %s", report.summary())


def champion_from_history(settings: Settings) -> None:
    """For the demo: train once from the stored feedback history and promote if it passes.

    Skipped when the registry already holds a trained version (the demo ran before); when
    the candidate fails a gate the hand-set ranker keeps serving, and the reason is shown.
    """
    registry = ModelRegistry(settings)
    if registry.registered():
        console.print(f"ranker: {registry.champion()[1]} (trained before; `stegvis models list`)")
        return
    with database(settings) as factory:
        backfill_history(settings, factory)
        benchmark = quality_benchmark(settings)
        with transaction(factory) as session:
            result = train(
                settings=settings,
                session=session,
                registry=registry,
                benchmark=benchmark,
                promote=True,
                track=track,
            )
    print_gates(result.gates)
    if result.promoted:
        console.print(f"[green]ranker: {result.logged.label}, trained from the feedback history[/]")
    else:
        console.print(
            f"[yellow]ranker: handset-1 keeps serving; {result.logged.label} "
            f"{result.gates.summary()}[/]"
        )


def train_command(
    ctx: typer.Context,
    promote: Annotated[
        bool, typer.Option(help="Make the model the champion if it passes every gate.")
    ] = False,
    l2: Annotated[
        float, typer.Option(help="Pull towards the hand-set shapes.")
    ] = TrainingParams.l2,
    knots: Annotated[int, typer.Option(help="Ramps per feature.")] = TrainingParams.n_knots,
    shuffle_labels: Annotated[
        bool, typer.Option(help="Train on shuffled labels: a deliberately worse model.")
    ] = False,
) -> None:
    """Train a ranker from coach feedback and outcomes, log it to MLflow and register it."""
    settings = settings_of(ctx)
    with database(settings) as factory:
        backfill_history(settings, factory)
        benchmark = quality_benchmark(settings)
        registry = ModelRegistry(settings)
        with transaction(factory) as session:
            rounds = simulated_rounds(session)
            result = train(
                settings=settings,
                session=session,
                registry=registry,
                benchmark=benchmark,
                params=TrainingParams(n_knots=knots, l2=l2, shuffle_labels=shuffle_labels),
                promote=promote,
                truth=hidden_truth if rounds else None,
                rounds=rounds,
                track=track,
            )
    data = result.dataset
    console.print(
        f"dataset {data['digest'][:12]}: {data['rows']} rows in {data['slates']} slates "
        f"({data['evaluation_slates']} held out from {data['cutoff']}); labels {data['labels']}"
    )
    print_comparison(result.candidate, result.champion)
    print_gates(result.gates)
    if result.curve:
        steps = ", ".join(f"{step}: {value:.4f}" for step, value in result.curve)
        console.print(f"NDCG@10 vs hidden truth by simulated round: {steps}")
    console.print(f"registered {result.logged.label} (run {result.logged.run_id})")
    if result.promoted:
        console.print(f"[green]{result.logged.label} is the champion now[/]")
    elif promote:
        console.print(f"[bold red]not promoted[/]: {result.gates.summary()}")
    log.info(
        "trained %s: %s%s",
        result.logged.label,
        result.gates.summary(),
        "; promoted" if result.promoted else "",
    )


def evaluate_command(
    ctx: typer.Context,
    version: Annotated[
        int | None, typer.Option(help="A registered version (default: the newest).")
    ] = None,
) -> None:
    """Evaluate a registered version against the champion on today's held-out period."""
    settings = settings_of(ctx)
    registry = ModelRegistry(settings)
    chosen = version or _newest(registry)
    with database(settings) as factory:
        backfill_history(settings, factory)
        benchmark = quality_benchmark(settings)
        with factory() as session:
            rounds = simulated_rounds(session)
            candidate, champion, gates = compare_version(
                settings=settings,
                session=session,
                registry=registry,
                benchmark=benchmark,
                version=chosen,
                truth=hidden_truth if rounds else None,
            )
    print_comparison(candidate, champion)
    print_gates(gates)


def _newest(registry: ModelRegistry) -> int:
    versions = registry.versions()
    if not versions:
        console.print("no registered versions yet: run `stegvis train` first")
        raise typer.Exit(code=1)
    return versions[0].version


def simulate_command(
    ctx: typer.Context,
    rounds: Annotated[int, typer.Option(min=1, max=100, help="Simulated weeks.")] = 5,
    participants: Annotated[int, typer.Option(min=1, help="Participants reviewed per round.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the simulated coaches.")] = 0,
) -> None:
    """Simulated coaches review real suggestions and record decisions and outcomes."""
    settings = settings_of(ctx)
    registry = ModelRegistry(settings)
    with database(settings) as factory:
        matcher = MatchingEngine.start(settings, factory, track=track, ranker=registry.champion())
        report = simulate(
            session_factory=factory,
            engine=matcher,
            rounds=rounds,
            participants_per_round=participants,
            seed=seed,
            track=track,
        )
    console.print(f"simulated with {matcher.ranker.current()[1]}: {report.summary()}")


def _gates_line(gates: GateReport | None) -> str:
    if gates is None:
        return ""
    return "passed" if gates.passed else "; ".join(f"{g.name}: {g.detail}" for g in gates.failed)


def _metric(metrics: Mapping[str, float], name: str) -> str:
    value = metrics.get(name)
    return "–" if value is None else f"{value:.4f}"


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """Every registered version: status, key figures and its gate verdict."""
    registry = ModelRegistry(settings_of(ctx))
    table = Table(
        "version",
        "status",
        "registered",
        "NDCG@10",
        "champion's then",
        "benchmark",
        "exposure gap",
        "gates",
        title=f"{registry.name}: champion {registry.champion()[1]}",
        show_lines=True,
    )
    for info in registry.versions():
        table.add_row(
            info.label,
            f"[bold green]{info.status}[/]" if info.champion else info.status,
            info.created_at.strftime("%Y-%m-%d %H:%M"),
            _metric(info.metrics, "ndcg_at_10"),
            _metric(info.metrics, "champion_ndcg_at_10"),
            _metric(info.metrics, "quality_ndcg_at_10"),
            _metric(info.metrics, "exposure_gap"),
            _gates_line(info.gates),
        )
    console.print(table)


@models_app.command("promote")
def models_promote(
    ctx: typer.Context, version: Annotated[int, typer.Argument(help="The version number.")]
) -> None:
    """Re-check a version's gates against today's champion and data; promote if it passes."""
    settings = settings_of(ctx)
    registry = ModelRegistry(settings)
    if registry.registered() and registry.champion_version() == version:
        console.print(f"{registry.version(version).label} is the champion already")
        return
    with database(settings) as factory:
        backfill_history(settings, factory)
        benchmark = quality_benchmark(settings)
        with factory() as session:
            rounds = simulated_rounds(session)
            candidate, champion, gates = compare_version(
                settings=settings,
                session=session,
                registry=registry,
                benchmark=benchmark,
                version=version,
                truth=hidden_truth if rounds else None,
            )
    print_comparison(candidate, champion)
    print_gates(gates)
    registry.record_gates(version, gates)
    if not gates.passed:
        console.print(f"[bold red]not promoted[/]: {gates.summary()}")
        raise typer.Exit(code=1)
    registry.promote(version, gates)
    console.print(f"[green]{candidate.version} is the champion now[/]")


@models_app.command("rollback")
def models_rollback(ctx: typer.Context) -> None:
    """Move the champion alias back to the previous champion (hand-set if none)."""
    registry = ModelRegistry(settings_of(ctx))
    serving = registry.rollback()
    console.print(f"rolled back: {serving} is the champion now")
