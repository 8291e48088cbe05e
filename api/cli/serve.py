"""`stegvis serve` and `stegvis demo`: the service, and the main job on the defaults."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import typer
from rich.table import Table

from api.balancer import serve_balanced
from api.cli.common import console, database, settings_of, track
from api.cli.data import load_fixture_folder
from api.cli.models import champion_from_history
from embeddings.encoder import load_encoder
from matching.changes import prune
from matching.db import migrate
from matching.db.session import transaction
from matching.engine import lane_indexes
from matching.progress import Track, no_progress
from matching.settings import Settings
from matching.users import DEMO_PASSWORD, ensure_demo_passwords, ensure_demo_tokens


def serve(ctx: typer.Context) -> None:
    """Serve the API and the coach pages (migrates the database first)."""
    settings = settings_of(ctx)
    migrate.upgrade(settings.resolved_database_url)
    run_server(settings)


def run_server(settings: Settings, *, progress: Track = no_progress) -> None:
    """Serve on `settings.host`:`settings.port`, in `settings.workers` processes.

    With several workers this process only supervises: it first brings the index files up
    to date once (each worker then loads them and keeps its copy in memory), gives the
    workers a fresh folder to share Prometheus metrics through, starts them (and restarts
    one that dies) and hands each new connection to the one with the fewest open
    (`api.balancer`). Each worker builds its app from the same STEGVIS_* variables.
    """
    import uvicorn

    prepare_serving(settings, progress=progress)
    # The app logs one structured line per request itself (without participant text).
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": False,
    }
    if settings.workers == 1:
        from api.app import create_app

        uvicorn.run(create_app(settings, track=progress), **options)
        return
    with tempfile.TemporaryDirectory(prefix="stegvis-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            serve_balanced(options, settings.workers)
        finally:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def prepare_serving(settings: Settings, *, progress: Track = no_progress) -> None:
    """Before any serving process starts: prune the change feed, and with several workers
    open (verify, repair, reconcile) the index files once, so the workers find them current."""
    with database(settings, upgrade=False) as factory:
        with transaction(factory) as session:
            pruned = prune(session)
        if pruned:
            console.print(f"change feed: pruned {pruned} rows older than a day")
        if settings.workers > 1:
            encoder = load_encoder(
                settings.embedding_model, max_seq_length=settings.embedding_max_seq_length
            )
            for report in lane_indexes(settings, encoder, factory, track=progress).open():
                console.print(f"index {report.summary()}")


def demo(ctx: typer.Context) -> None:
    """The main job on the embedded defaults: migrate, load fixtures, give the demo users
    their documented tokens and password (development only), train a champion from the
    fixture feedback history (once; it serves only if it passes the gates), then serve; the
    app's start-up builds or verifies the indexes."""
    settings = settings_of(ctx)
    load_fixture_folder(settings, settings.fixtures_dir)
    with database(settings) as factory, transaction(factory) as session:
        tokens = ensure_demo_tokens(session=session, environment=settings.environment)
        with_password = set(
            ensure_demo_passwords(session=session, environment=settings.environment)
        )
    table = Table("demo user", "token", "password", title="Demo users (development only)")
    for username, token in tokens.items():
        table.add_row(username, token, DEMO_PASSWORD if username in with_password else "")
    console.print(table)
    champion_from_history(settings)
    base = f"http://{settings.host}:{settings.port}"
    console.print(
        f"Serving Stegvis on {base}/ — web pages at {base}/web/ (log in as coach.demo, "
        f"password {DEMO_PASSWORD}), API documentation at /docs, e.g.\n  curl -H "
        f"'Authorization: Bearer {next(iter(tokens.values()), '<token>')}' {base}/me"
    )
    run_server(settings, progress=track)
