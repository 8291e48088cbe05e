"""`stegvis index build|status|verify`: the vector indexes of both lanes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from api.cli.common import console, database, settings_of, track
from embeddings.index import IndexCorrupt, IndexMismatch, StoredIndex
from embeddings.lanes import LaneIndexes, LaneState
from matching.domain import Lane
from matching.engine import lane_indexes as configured_indexes
from matching.settings import Settings
from training.finetune import serving_encoder

index_app = typer.Typer(help="The vector indexes of both lanes.", no_args_is_help=True)


def lane_indexes(settings: Settings, factory: sessionmaker[Session]) -> LaneIndexes:
    """The indexes of the encoder that serves: the registry's champion, else the setting."""
    encoder, label, _ = serving_encoder(settings)
    console.print(f"encoder serving: {label} ({encoder.model_id})")
    return configured_indexes(settings, encoder, factory, track=track)


LaneOption = Annotated[Lane | None, typer.Option(help="Only this lane (default: both).")]


@index_app.command("build")
def index_build(ctx: typer.Context, lane: LaneOption = None) -> None:
    """Rebuild the index of each lane from the database (unchanged texts are not re-encoded)."""
    with database(settings_of(ctx)) as factory:
        indexes = lane_indexes(settings_of(ctx), factory)
        for chosen in [lane] if lane else list(Lane):
            console.print(indexes.rebuild(chosen, reason="stegvis index build").summary())


def _print_states(states: list[LaneState]) -> None:
    table = Table(
        "lane",
        "database",
        "index",
        "missing",
        "stale",
        "changed",
        "consistent",
        "model",
        "kind",
        "built",
        "log",
    )
    for state in states:
        table.add_row(
            state.lane.value,
            str(state.database_count),
            str(state.index_count),
            str(state.missing),
            str(state.stale),
            str(state.changed),
            "yes" if state.consistent else "[bold red]no[/]",
            state.model_id,
            state.kind,
            state.built_at,
            str(state.log_records),
        )
    console.print(table)


def _open_verified(indexes: LaneIndexes, lane: Lane) -> LaneState | str:
    folder = indexes.lane_folder(lane)
    try:
        stored = StoredIndex.open(
            folder,
            lane=lane.value,
            model_id=indexes.encoder.model_id,
            dimension=indexes.encoder.dimension,
        )
    except FileNotFoundError:
        return f"{lane.value}: no index in {folder}"
    except (IndexCorrupt, IndexMismatch) as error:
        return f"{lane.value}: {error}"
    indexes.adopt(lane, stored)
    return indexes.inspect(lane)


@index_app.command("status")
def index_status(ctx: typer.Context) -> None:
    """Show each lane's index next to the database."""
    with database(settings_of(ctx)) as factory:
        indexes = lane_indexes(settings_of(ctx), factory)
        results = [_open_verified(indexes, lane) for lane in Lane]
        _print_states([r for r in results if isinstance(r, LaneState)])
        for problem in (r for r in results if isinstance(r, str)):
            console.print(f"[bold red]{problem}[/]")


@index_app.command("verify")
def index_verify(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option(help="Repair or rebuild what does not match.")] = False,
) -> None:
    """Check checksums, model and contents against the database; exit 1 on any mismatch."""
    with database(settings_of(ctx)) as factory:
        indexes = lane_indexes(settings_of(ctx), factory)
        results = [_open_verified(indexes, lane) for lane in Lane]
        states = [r for r in results if isinstance(r, LaneState)]
        problems = [r for r in results if isinstance(r, str)]
        _print_states(states)
        for problem in problems:
            console.print(f"[bold red]{problem}[/]")
        healthy = not problems and all(s.consistent for s in states)
        if not healthy and repair:
            for report in indexes.open():
                console.print(f"repaired: {report.summary()}")
            return
        if not healthy:
            raise typer.Exit(code=1)
        console.print("both lanes match the database")
