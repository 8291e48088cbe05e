"""`stegvis encoder train|list|rollback`: adapting the embedding model to Swedish job texts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import console, settings_of, track
from api.cli.models import print_gates
from matching.ranker import HAND_SET_VERSION
from training.encoder_pairs import KINDS
from training.finetune import FinetuneConfig, describe, run_encoder_training
from training.registry import EncoderRegistry

encoder_app = typer.Typer(
    help="The embedding model: fine-tune on the taxonomy and coach decisions, promote, roll back.",
    no_args_is_help=True,
)

DEFAULTS = FinetuneConfig()


@encoder_app.command("train")
def encoder_train(
    ctx: typer.Context,
    promote: Annotated[
        bool, typer.Option(help="Make the new encoder the champion if every gate passes.")
    ] = False,
    kinds: Annotated[
        str, typer.Option(help=f"Pair kinds, comma-separated, of: {', '.join(KINDS)}.")
    ] = ",".join(DEFAULTS.kinds),
    hard_negatives: Annotated[
        bool, typer.Option(help="Add a hard negative (a neighbouring group's ad) per pair.")
    ] = DEFAULTS.hard_negatives,
    max_pairs: Annotated[int, typer.Option(help="Pairs kept (seeded sample); 0: all.")] = (
        DEFAULTS.max_pairs
    ),
    epochs: Annotated[int, typer.Option(min=1)] = DEFAULTS.epochs,
    batch_size: Annotated[int, typer.Option(min=2)] = DEFAULTS.batch_size,
    max_seq_length: Annotated[int, typer.Option(min=16, help="Tokens per text in training.")] = (
        DEFAULTS.max_seq_length
    ),
    learning_rate: Annotated[float, typer.Option(min=0)] = DEFAULTS.learning_rate,
    threads: Annotated[int, typer.Option(min=1, help="Torch threads.")] = DEFAULTS.threads,
) -> None:
    """Fine-tune the serving encoder, measure it on held-out groups, log and register it."""
    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = set(chosen) - set(KINDS)
    if unknown:
        raise typer.BadParameter(f"unknown pair kinds: {', '.join(sorted(unknown))}")
    config = FinetuneConfig(
        kinds=chosen,
        hard_negatives=hard_negatives,
        max_pairs=max_pairs,
        epochs=epochs,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        learning_rate=learning_rate,
        threads=threads,
    )
    run = run_encoder_training(settings_of(ctx), config=config, promote=promote, track=track)
    table = Table("figure (NDCG@10)", run.gates.compared_with, run.logged.label)
    for name, value in run.after.as_metrics().items():
        table.add_row(name, f"{getattr(run.before, name):.4f}", f"{value:.4f}")
    console.print(table)
    print_gates(run.gates)
    summary = describe(run)
    console.print(
        f"{run.logged.label}: {summary['steps']} steps in {summary['seconds']} s, "
        f"peak memory {summary['peak_memory_mb']} MB, pairs {json.dumps(run.pair_counts)}"
    )
    if run.promoted:
        console.print(f"[green]{run.logged.label} is the champion encoder[/]")
    elif promote:
        console.print(f"[bold red]not promoted:[/] {run.gates.summary()}")


@encoder_app.command("list")
def encoder_list(ctx: typer.Context) -> None:
    """Every registered encoder version with its status and held-out figures."""
    registry = EncoderRegistry(settings_of(ctx))
    table = Table("version", "status", "semantic held-out", "full held-out", "failed gates")
    for info in registry.versions():
        failed = ", ".join(g.name for g in info.gates.failed) if info.gates else "–"
        table.add_row(
            info.label,
            info.status,
            f"{info.metrics.get('semantic_held_out', float('nan')):.4f}",
            f"{info.metrics.get('full_held_out', float('nan')):.4f}",
            failed or "–",
        )
    console.print(table)


@encoder_app.command("rollback")
def encoder_rollback(ctx: typer.Context) -> None:
    """Move the encoder alias back to the previous champion (the configured model if none)."""
    settings = settings_of(ctx)
    label = EncoderRegistry(settings).rollback()
    serving = settings.embedding_model if label == HAND_SET_VERSION else label
    console.print(f"{serving} serves; a running app re-embeds in the background and swaps")
