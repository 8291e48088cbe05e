"""Parallel writers and readers over real HTTP: no lost update, no 5xx, index equal to the database.

Two uvicorn servers — two apps, each with its own connection pool (and, on SQLite, its own
writer lock, as two processes would have) — share the e2e database and engine. Coaches
record decisions, employers edit one opening (each its own field) and readers ask for
suggestions and listings, all at once. Races between the two apps' transactions (SQLite
busy, PostgreSQL serialization failures or deadlocks) are run again by `api.retry`, so
every request succeeds; the test prints the figures docs/reliability.md reports.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from matching.db.models import Feedback, Opening, Suggestion
from matching.db.session import READ_ONLY, WriterLock, make_engine, make_session_factory
from matching.domain import Role
from matching.engine import MatchingEngine
from tests.e2e.conftest import World, unique

COACHES, DECISIONS_EACH, EDITS_EACH, READS_EACH = 6, 5, 8, 8


@pytest.fixture
def servers(world: World, matcher: MatchingEngine) -> Iterator[list[str]]:
    """Two live servers over the same database and engine; their base URLs.

    The engine refreshes its index through sessions of its own factory; an app that starts
    its engine gives it the app's factory, whose SQLite transactions take the write lock
    when they begin (`make_engine(immediate=True)`). The shared test engine gets the same
    for the test's duration.
    """
    database = make_engine(world.settings.resolved_database_url, immediate=True)
    shared = matcher.session_factory
    matcher.session_factory = matcher.indexes.session_factory = make_session_factory(database)
    running = []
    for _ in range(2):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            create_app(world.settings, engine=matcher), log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        running.append((server, thread, f"http://127.0.0.1:{listener.getsockname()[1]}"))
    for server, _, _ in running:
        while not server.started:
            time.sleep(0.05)
    yield [url for _, _, url in running]
    for server, thread, _ in running:
        server.should_exit = True
        thread.join(timeout=30)
    matcher.session_factory = matcher.indexes.session_factory = shared
    database.dispose()


def test_parallel_writers_and_readers_lose_nothing(
    servers: list[str],
    world: World,
    matcher: MatchingEngine,
    e2e_session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    coach = world.headers(Role.COACH)
    employer = world.headers(Role.EMPLOYER)
    setup = httpx.Client(base_url=servers[0], timeout=60)
    opening = setup.post("/openings", headers=employer, json={"title": unique("Samtidig")})
    assert opening.status_code == 201, opening.text
    opening_id = opening.json()["id"]
    participants = []
    for _ in range(COACHES):
        created = setup.post(
            "/participants",
            headers=coach,
            json={
                "external_ref": unique("PARALLELL"),
                "preferred_occupations_text": "Vill jobba som lagerarbetare",
                "consents": ["matching", "model_training"],
            },
        )
        assert created.status_code == 201, created.text
        participants.append(created.json()["id"])

    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def call(client: httpx.Client, method: str, path: str, **options: Any) -> httpx.Response:
        response = client.request(method, path, **options)
        with lock:
            statuses[response.status_code] += 1
        return response

    def coaching(position: int) -> list[int]:
        """Suggestions for one participant, then a decision on each of the first few."""
        with httpx.Client(base_url=servers[position % 2], timeout=120) as client:
            path = f"/participants/{participants[position]}/suggestions"
            slate = call(client, "GET", path, headers=coach, params={"lane": "jobs"}).json()
            shown = [s["suggestion_id"] for s in slate["lanes"][0]["suggestions"]]
            decided = []
            for suggestion in shown[:DECISIONS_EACH]:
                answer = call(
                    client,
                    "POST",
                    f"/suggestions/{suggestion}/feedback",
                    headers=coach,
                    json={"decision": "shortlisted", "comment": f"parallell {position}"},
                )
                if answer.status_code == 201:
                    decided.append(suggestion)
            return decided

    def editing(field: str, values: list[Any], position: int) -> Any:
        """One employer changes one field of the shared opening again and again."""
        last = None
        with httpx.Client(base_url=servers[position % 2], timeout=120) as client:
            for value in values:
                answer = call(
                    client,
                    "PATCH",
                    f"/openings/{opening_id}",
                    headers=employer,
                    json={field: value},
                )
                if answer.status_code == 200:
                    last = value
        return last

    def reading(position: int) -> None:
        with httpx.Client(base_url=servers[position % 2], timeout=120) as client:
            for _ in range(READS_EACH):
                call(client, "GET", "/openings", headers=coach, params={"limit": 20})
                call(client, "GET", f"/participants/{participants[position]}", headers=coach)

    descriptions = [f"Beskrivning nummer {n} av lagerjobbet." for n in range(EDITS_EACH)]
    hours = [30 + n % 10 for n in range(EDITS_EACH)]
    tasks: list[Callable[[], Any]] = [
        *(lambda p=p: coaching(p) for p in range(COACHES)),
        lambda: editing("description", descriptions, 0),
        lambda: editing("hours_max", hours, 1),
        *(lambda p=p: reading(p) for p in range(2)),
    ]
    with (
        caplog.at_level(logging.INFO, logger="stegvis.api"),
        ThreadPoolExecutor(max_workers=len(tasks)) as pool,
    ):
        results = [future.result() for future in [pool.submit(task) for task in tasks]]
    decided = [s for found in results[:COACHES] for s in found]
    retried = sum("write conflict on attempt" in r.getMessage() for r in caplog.records)

    assert all(status < 500 for status in statuses), statuses
    assert set(statuses) <= {200, 201}, statuses
    assert len(decided) == COACHES * DECISIONS_EACH
    with e2e_session_factory() as session:
        stored = session.scalars(
            sa.select(Feedback.suggestion_id).where(Feedback.suggestion_id.in_(decided))
        ).all()
        row = session.get(Opening, opening_id)
        assert row is not None
        # Each field keeps its own writer's last value: neither edit was lost to the other.
        assert (row.description, row.hours_max) == (results[COACHES], results[COACHES + 1])
    assert sorted(stored) == sorted(decided), "every acknowledged decision is stored once"
    assert all(state.consistent for state in matcher.states())
    print(
        "concurrency",
        json.dumps(
            {
                "backend": e2e_session_factory.kw["bind"].dialect.name,
                "requests": sum(statuses.values()),
                "statuses": dict(statuses),
                "write_conflicts_retried": retried,
            }
        ),
    )
    setup.close()


# --- reading requests on SQLite: rank side by side, write under the lock -----------------------


def _sqlite_only(world: World) -> None:
    if not world.settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no writer lock: every request runs side by side")


def test_suggestions_rank_outside_the_writer_lock_and_log_under_it(
    client: Any, world: World, e2e_session_factory: sessionmaker[Session], monkeypatch: Any
) -> None:
    _sqlite_only(world)
    from api.routes import suggestions as routes

    lock: WriterLock = client.app.state.write_lock
    held: list[bool] = []
    real_rank, real_log = routes.rank, routes.log_slate

    def rank(**options: Any) -> Any:
        held.append(lock.locked())
        return real_rank(**options)

    def log_slate(*args: Any) -> Any:
        held.append(lock.locked())
        return real_log(*args)

    coach = world.headers(Role.COACH)
    participant = world.a.participant
    path = f"/participants/{participant}/suggestions"
    assert client.get(path, headers=coach).status_code == 200  # the token's use is noted now
    monkeypatch.setattr(routes, "rank", rank)
    monkeypatch.setattr(routes, "log_slate", log_slate)
    response = client.get(path, headers=coach)
    assert response.status_code == 200, response.text
    # Both lanes ranked without the lock, both logged holding it; released afterwards.
    assert held == [False, False, True, True]
    assert not lock.locked()
    shown = [s["suggestion_id"] for lane in response.json()["lanes"] for s in lane["suggestions"]]
    with e2e_session_factory() as session:
        assert len(
            session.scalars(sa.select(Suggestion.id).where(Suggestion.id.in_(shown))).all()
        ) == len(shown)


def test_readers_are_not_held_up_by_a_writer(client: Any, world: World) -> None:
    """While another request holds the writer lock, a listing that writes nothing answers."""
    _sqlite_only(world)
    coach = world.headers(Role.COACH)
    assert client.get("/openings", headers=coach).status_code == 200  # token use noted
    lock: WriterLock = client.app.state.write_lock
    answers: list[int] = []
    with lock:
        reader = threading.Thread(
            target=lambda: answers.append(client.get("/openings", headers=coach).status_code)
        )
        reader.start()
        reader.join(timeout=60)
        assert answers == [200], "the reader waited for the writer"
    reader.join()


def test_a_read_transaction_refuses_writes(world: World) -> None:
    """A write slipping into a reading request's transaction fails loudly, not unlocked."""
    _sqlite_only(world)
    engine = make_engine(world.settings.resolved_database_url, immediate=True)
    try:
        with make_session_factory(engine)() as session:
            session.connection(execution_options={READ_ONLY: True})
            assert session.scalar(sa.select(sa.func.count(Opening.id))) is not None
            with pytest.raises(sa.exc.OperationalError, match="readonly"):
                session.execute(sa.update(Opening).values(title=Opening.title))
            session.rollback()
            # The next transaction of the same pooled connection writes normally.
            session.execute(sa.update(Opening).where(Opening.id == -1).values(title="x"))
            session.rollback()
    finally:
        engine.dispose()
