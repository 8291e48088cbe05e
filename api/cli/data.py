"""`stegvis db` and `stegvis fixtures`: the schema and the demo data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console, database, settings_of, track
from matching.db import migrate
from matching.db.session import transaction
from matching.fixtures import load_fixtures
from matching.settings import Settings

log = logging.getLogger("stegvis")

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
fixtures_app = typer.Typer(help="Demo data.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Create or migrate the database schema (to the newest revision by default)."""
    settings = settings_of(ctx)
    migrate.upgrade(settings.resolved_database_url, revision)
    console.print(f"database at revision {revision}: {settings.resolved_database_url}")


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: str = "base") -> None:
    """Step the schema back (to an empty database by default)."""
    settings = settings_of(ctx)
    migrate.downgrade(settings.resolved_database_url, revision)
    console.print(f"database at revision {revision}")


@fixtures_app.command("load")
def fixtures_load(
    ctx: typer.Context,
    directory: Annotated[Path | None, typer.Option(help="Folder of the fixture files.")] = None,
) -> None:
    """Load the demo fixtures; records already present are left unchanged."""
    settings = settings_of(ctx)
    load_fixture_folder(settings, directory or settings.fixtures_dir)


def load_fixture_folder(settings: Settings, directory: Path) -> None:
    """Validate and load a fixture folder in one transaction (nothing partial on error)."""
    with database(settings) as factory, transaction(factory) as session:
        report = load_fixtures(
            session=session, directory=directory, now=datetime.now(UTC), track=track
        )
    log.info("fixtures loaded from %s: %s", directory, report.summary())
