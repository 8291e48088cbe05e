"""What every command shares: settings from the context, progress bars, the database."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.orm import Session, sessionmaker

from matching.db import migrate
from matching.db.session import make_engine, make_session_factory
from matching.settings import Settings

T = TypeVar("T")

console = Console(stderr=True)


def track(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    """Show a progress bar on stderr while `items` is consumed."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield from progress.track(items, total=total, description=description)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback built once for this invocation."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


@contextmanager
def database(settings: Settings, *, upgrade: bool = True) -> Iterator[sessionmaker[Session]]:
    """A session factory on the configured database (migrated to head first by default)."""
    if upgrade:
        migrate.upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
