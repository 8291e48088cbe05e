"""Several serving processes: what one changes, every other shows at once.

Each serving process holds its own engine (indexes and catalogues in memory) and follows
the change feed (`matching.changes`). Here two apps with an engine each stand for two
processes over one database; the last test runs `stegvis serve` with two real workers.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from matching.db.session import make_engine, make_session_factory
from matching.domain import Role
from matching.engine import MatchingEngine
from tests.e2e.conftest import World
from tests.e2e.test_flows import (
    FARRIER,
    farrier_opening,
    item_ids,
    new_participant,
    suggestions,
)

COACH, EMPLOYER = Role.COACH, Role.EMPLOYER
START_TIMEOUT_S = 300.0


def farrier_participant(client: httpx.Client, world: World) -> int:
    created = new_participant(
        client,
        world,
        preferred_occupations_text="Vill arbeta som hovslagare",
        preferred_tasks_text="Sko hästar och verka hovar",
        preferred_occupation_ids=[FARRIER["occupation_id"]],
        skills_text="Har skott hästar i flera år",
    )
    return int(created["id"])


def index_files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def processes(world: World, matcher: MatchingEngine) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps, each with an engine of its own that follows the change feed."""
    database = make_engine(world.settings.resolved_database_url, immediate=True)
    factory = make_session_factory(database)
    engines = [MatchingEngine.start(world.settings, factory, follow=True) for _ in range(2)]
    with (
        TestClient(create_app(world.settings, engine=engines[0])) as first,
        TestClient(create_app(world.settings, engine=engines[1])) as second,
    ):
        yield first, second
    database.dispose()


def test_a_change_made_through_one_process_shows_in_the_other_at_once(
    processes: tuple[TestClient, TestClient], world: World
) -> None:
    first, second = processes
    engines = [c.app.state.matcher for c in processes]  # type: ignore[attr-defined]
    assert all(e.follower is not None and not e.indexes.durable for e in engines)
    folder = world.settings.resolved_index_dir
    on_disk = index_files(folder)
    pid = farrier_participant(first, world)

    response = first.post(
        "/openings", headers=world.headers(EMPLOYER), json=farrier_opening("Hovslagare A")
    )
    assert response.status_code == 201, response.text
    opening = response.json()["id"]
    assert item_ids(suggestions(second, world, pid, lane="jobs"))[0] == opening

    response = second.patch(
        f"/openings/{opening}", headers=world.headers(EMPLOYER), json={"title": "Hovslagare B"}
    )
    assert response.status_code == 200, response.text
    top = suggestions(first, world, pid, lane="jobs")["lanes"][0]["suggestions"][0]
    assert (top["item"]["id"], top["item"]["title"]) == (opening, "Hovslagare B")

    response = second.post(f"/openings/{opening}/close", headers=world.headers(EMPLOYER))
    assert response.status_code == 200, response.text
    for client in (first, second):
        assert opening not in item_ids(suggestions(client, world, pid, lane="jobs", k=50))
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["index"] == "ok"
    # Following processes keep their indexes in memory: the files are another's.
    assert index_files(folder) == on_disk
    assert engines[0].follower.seq == engines[1].follower.seq > 0


def test_an_erasure_through_one_process_makes_every_process_forget_the_texts(
    processes: tuple[TestClient, TestClient], world: World
) -> None:
    first, second = processes
    pid = farrier_participant(first, world)
    suggestions(second, world, pid, lane="jobs")
    remembered = second.app.state.matcher.recognise.cache_info  # type: ignore[attr-defined]
    assert remembered().currsize > 0, "the profile text was read, so it is remembered"

    response = first.delete(f"/participants/{pid}", headers=world.headers(COACH))
    assert response.status_code == 204, response.text
    assert second.get("/ready").status_code == 200  # the second process catches up
    assert remembered().currsize == 0, "the other process forgot the profile texts too"


def test_the_feed_follows_only_committed_changes(
    processes: tuple[TestClient, TestClient], world: World
) -> None:
    first, second = processes
    follower = second.app.state.matcher.follower  # type: ignore[attr-defined]
    assert second.get("/ready").status_code == 200  # caught up with the earlier tests
    before = follower.seq
    response = first.post(
        "/openings",
        headers=world.headers(EMPLOYER),
        json=farrier_opening("Hovslagare") | {"hours_min": 50, "hours_max": 10},
    )
    assert response.status_code == 422, "a refused change commits nothing"
    assert second.get("/ready").status_code == 200
    assert follower.seq == before, "and adds nothing to the feed"


# --- real processes ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_serving_app_keeps_its_engine_out_of_full_collections(
    world: World, tmp_path: Path
) -> None:
    """The engine lives as long as the process: a full cyclic collection must not walk it
    (at 100k openings that paused every request for 0.6 s)."""
    settings = world.settings.model_copy(update={"index_dir": tmp_path / "index"})
    gc.unfreeze()
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        matcher = client.app.state.matcher  # type: ignore[attr-defined]
        catalogue = matcher.catalogues[next(iter(matcher.catalogues))]
        assert gc.get_freeze_count() > 0
        collected = gc.get_objects()  # every generation the collector walks
        assert not any(o is matcher or o is catalogue for o in collected)
        del collected


def processes_answering(base: str, *, connections: int) -> set[str]:
    """The serving processes behind `connections` connections opened and held together."""
    clients = [httpx.Client(base_url=base) for _ in range(connections)]
    try:
        return {client.get("/health").json()["process"] for client in clients}
    finally:
        for client in clients:
            client.close()


def test_stegvis_serve_with_two_workers(world: World, tmp_path: Path) -> None:
    """`stegvis serve` with STEGVIS_WORKERS=2: connections spread over both processes, one
    truth whichever answers."""
    settings = world.settings
    port = _free_port()
    environment = os.environ | {
        "STEGVIS_DATABASE_URL": settings.resolved_database_url,
        "STEGVIS_DATA_DIR": str(settings.data_dir),
        # Index files of its own: the supervisor builds them, not the tests' shared engine's.
        "STEGVIS_INDEX_DIR": str(tmp_path / "index"),
        "STEGVIS_ENVIRONMENT": settings.environment.value,
        "STEGVIS_SECRET_KEY": settings.secret_key.get_secret_value(),
        "STEGVIS_WORKERS": "2",
        "STEGVIS_PORT": str(port),
        "STEGVIS_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("stegvis")), "serve"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            assert time.monotonic() - started < START_TIMEOUT_S, "the workers did not start"
            try:
                # Ready when two connections held at once reach two processes: the
                # supervisor hands each new connection to the least busy ready worker.
                if len(processes_answering(base, connections=2)) == 2:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert httpx.get(f"{base}/ready").status_code == 200
        coach = world.headers(COACH)
        with httpx.Client(base_url=base) as client:
            pid = farrier_participant(client, world)
            opening = client.post(
                "/openings", headers=world.headers(EMPLOYER), json=farrier_opening("Hovslagare W")
            )
            assert opening.status_code == 201, opening.text
            opening_id = opening.json()["id"]
        asked = 0
        for _ in range(8):  # a new connection each time: either worker may answer
            shown = httpx.get(
                f"{base}/participants/{pid}/suggestions", headers=coach, params={"lane": "jobs"}
            )
            assert shown.status_code == 200, shown.text
            assert item_ids(shown.json())[0] == opening_id
            asked += 1
        closed = httpx.post(f"{base}/openings/{opening_id}/close", headers=world.headers(EMPLOYER))
        assert closed.status_code == 200, closed.text
        for _ in range(8):
            shown = httpx.get(
                f"{base}/participants/{pid}/suggestions",
                headers=coach,
                params={"lane": "jobs", "k": 50},
            )
            assert opening_id not in item_ids(shown.json())
            asked += 1
        # Four connections held together: two on each process.
        assert len(processes_answering(base, connections=4)) == 2
        # The metrics add up over both workers, whichever answers the scrape.
        metrics = httpx.get(f"{base}/metrics").text
        slates = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith('stegvis_suggestion_slates_total{lane="jobs"}')
        )
        assert slates == asked
        assert 'stegvis_model_info{version="' in metrics
        # A worker that dies is replaced; connections go only to live, ready workers.
        before = processes_answering(base, connections=2)
        os.kill(int(sorted(before)[0]), signal.SIGKILL)
        started = time.monotonic()
        while True:
            assert server.poll() is None, "the supervisor stopped with its worker"
            assert time.monotonic() - started < START_TIMEOUT_S, "no worker replaced it"
            try:
                now = processes_answering(base, connections=2)
            except httpx.TransportError:  # a connection handed to the dying worker
                now = set()
            if len(now) == 2 and now != before:
                break
            time.sleep(0.5)
        assert sorted(before)[0] not in now
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output.decode()
    assert list((tmp_path / "index").rglob("manifest*")), "the supervisor wrote the index files"
