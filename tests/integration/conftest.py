"""Integration fixtures: databases (SQLite always, PostgreSQL when configured), the real model.

Each test gets its own fresh, migrated database copied from a per-session template, so no
test depends on another's state and migrations run once per backend.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from embeddings.encoder import Encoder, load_encoder
from matching.db import migrate
from matching.db.session import make_engine, make_session_factory
from matching.settings import BUNDLED_MODEL

POSTGRES_URL = os.environ.get("STEGVIS_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


class PostgresServer:
    """Creates and drops throw-away databases on the configured server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")

    def url_for(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create(self, name: str, template: str | None = None) -> str:
        with self.admin.connect() as connection:
            suffix = f' TEMPLATE "{template}"' if template else ""
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"{suffix}')
        return self.url_for(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    if not POSTGRES_URL:
        yield None
        return
    server = PostgresServer(POSTGRES_URL)
    yield server
    server.admin.dispose()


@pytest.fixture(scope="session")
def migrated_templates(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer | None
) -> Iterator[dict[str, str]]:
    """One migrated database per backend, to copy from."""
    templates: dict[str, str] = {}
    sqlite_file = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{sqlite_file}")
    templates["sqlite"] = str(sqlite_file)
    if postgres_server is not None:
        name = f"stegvis_tmpl_{uuid.uuid4().hex[:10]}"
        migrate.upgrade(postgres_server.create(name))
        templates["postgresql"] = name
    yield templates
    if postgres_server is not None:
        postgres_server.drop(templates["postgresql"])


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_templates: dict[str, str],
    postgres_server: PostgresServer | None,
) -> Iterator[str]:
    """A fresh database at the newest schema revision, on each configured backend."""
    if request.param == "sqlite":
        target = tmp_path / "stegvis.db"
        shutil.copyfile(migrated_templates["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    assert postgres_server is not None
    name = f"stegvis_test_{uuid.uuid4().hex[:10]}"
    url = postgres_server.create(name, template=migrated_templates["postgresql"])
    yield url
    postgres_server.drop(name)


@pytest.fixture(params=BACKENDS)
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer | None
) -> Iterator[str]:
    """A database with no schema at all, on each configured backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    assert postgres_server is not None
    name = f"stegvis_empty_{uuid.uuid4().hex[:10]}"
    yield postgres_server.create(name)
    postgres_server.drop(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The bundled all-MiniLM-L6-v2, loaded once per test session and only from local files."""
    return load_encoder(BUNDLED_MODEL)
