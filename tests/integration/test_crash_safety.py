"""Kill -9 at every step of an update, restart, and nothing is lost, ghosted or unreadable.

A subprocess (`tests/integration/crash_worker.py`, or the `stegvis` command) runs real
updates and kills itself with SIGKILL at the crash point named by STEGVIS_CRASH_AT
(`matching.crashpoints`): before and after the database commit, halfway through and after
the index log write, and at each step of writing a snapshot (temporary file, rename,
manifest). Then the index is opened as a restarting server opens it:

* no unreadable index: the committed manifest names files that verify, so the lane is
  served from disk (never rebuilt because of the crash);
* no committed item missing from search and no deleted or never-committed item served:
  after the start-up reconciliation the index holds exactly the searchable rows, each with
  the vector of its current text; every request the worker saw answered is in both.

Each run prints one `crash-run` line (point, lane counts before and after reconciliation),
the figures docs/reliability.md reports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from embeddings.encoder import Encoder
from embeddings.index import StoredIndex
from embeddings.lanes import LaneIndexes, item_text
from embeddings.texts import content_hash
from matching.db.models import Opening
from matching.db.repositories import searchable_items
from matching.domain import Lane, OpeningStatus, Role
from matching.users import issue_token
from tests import factories as f
from tests.integration.test_index import database_state, set_fields

ROOT = Path(__file__).resolve().parents[2]
STEGVIS = Path(sys.executable).with_name("stegvis")

#: Every run of the matrix with STEGVIS_CRASH_ALL=1 (the figures of docs/reliability.md);
#: otherwise one run per kind of step, to keep the suite fast.
EVERY_RUN = os.environ.get("STEGVIS_CRASH_ALL") == "1"
#: The API worker's requests each change one opening, so each reaches every point once:
#: (crash point, which request) — the first, and the third (a new opening).
API_KILLS = [
    (point, nth)
    for point in ("update.before_commit", "update.committed", "index.log.torn", "index.log.synced")
    for nth in (1, 3)
    if EVERY_RUN or nth == 3
]
#: `stegvis index build` writes snapshot, id sidecar, empty log, then the manifest:
#: the 4th temporary file and rename are the manifest's.
SNAPSHOT_KILLS = [
    kill
    for kill in (
        ("index.temp.written", 1),
        ("index.renamed", 1),
        ("index.snapshot.written", 1),
        ("index.temp.written", 4),
        ("index.renamed", 4),
        ("index.manifest.renamed", 1),
    )
    if EVERY_RUN or kill in {("index.snapshot.written", 1), ("index.renamed", 4)}
]


@dataclass(frozen=True)
class Shop:
    employer: int
    token: str
    openings: list[int]
    placements: list[int]


TEXTS = [
    ("Lagerarbetare", "Plock och pack av varor på vårt lager."),
    ("Städare", "Kontorsstädning på dagtid."),
    ("Diskare", "Disk och enklare köksarbete i lunchrestaurangen."),
    ("Truckförare", "Lastning och lossning med truck vid terminalen."),
]


def make_shop(session_factory: sessionmaker[Session]) -> Shop:
    with session_factory.begin() as session:
        employer = f.make_employer(session).id
        user = f.make_user(session, role=Role.EMPLOYER, employer_id=employer).id
        token = issue_token(session=session, user_id=user, name="crash", valid_days=None).secret
        openings = [
            f.make_opening(session, employer_id=employer, title=title, description=text).id
            for title, text in TEXTS
        ]
        placements = [f.make_placement(session).id for _ in range(2)]
    return Shop(employer, token, openings, placements)


def environment(database_url: str, data_dir: Path, crash_at: str) -> dict[str, str]:
    return os.environ | {
        "STEGVIS_DATABASE_URL": database_url,
        "STEGVIS_DATA_DIR": str(data_dir),
        "STEGVIS_ENVIRONMENT": "test",
        "STEGVIS_MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'no-registry' / 'mlflow.db'}",
        "STEGVIS_CRASH_AT": crash_at,
    }


def killed(command: Sequence[str], env: dict[str, str]) -> list[dict[str, Any]]:
    """Run `command` until it kills itself; the JSON lines it printed before dying."""
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == -signal.SIGKILL, (
        f"the crash point was never reached (exit {done.returncode}):\n{done.stderr[-3000:]}"
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def differences(index_hashes: dict[int, str], database: dict[int, str]) -> tuple[int, int, int]:
    """(lost, ghost, stale): searchable rows missing, ids served that are not searchable,
    ids whose vector is of another text."""
    lost = len(set(database) - set(index_hashes))
    ghost = len(set(index_hashes) - set(database))
    stale = sum(1 for i, h in index_hashes.items() if i in database and database[i] != h)
    return lost, ghost, stale


def assert_serves_exactly_the_database(
    indexes: LaneIndexes, session_factory: sessionmaker[Session], lane: Lane
) -> None:
    """The index holds the searchable rows, each with the vector of its current text.

    Vectors are compared with a fresh encoding, not the vector cache: a crash after the
    index log was synced but before the refresh's transaction committed leaves the index
    right and the (derived) cache without that row, which the next rebuild fills.
    """
    with session_factory() as session:
        texts = {item.id: item_text(item) for item in searchable_items(session, lane)}
    index = indexes.stored(lane).index
    assert index.content_hashes() == {i: content_hash(t) for i, t in texts.items()}
    found, _ = index.search(np.ones((1, index.dimension), dtype=np.float32), len(texts) + 5)
    assert set(found[0][found[0] >= 0].tolist()) == set(texts)
    ids = sorted(texts)
    if ids:
        fresh = indexes.encoder.encode([texts[i] for i in ids])
        for item_id, vector in zip(ids, fresh, strict=True):
            np.testing.assert_allclose(index.vector(item_id), vector, atol=1e-5)


def restart_and_check(
    point: str,
    folder: Path,
    encoder: Encoder,
    session_factory: sessionmaker[Session],
) -> dict[str, Any]:
    """Open the indexes as a restarted server does; they must equal the database."""
    indexes = LaneIndexes(folder=folder, encoder=encoder, session_factory=session_factory)
    before = {}
    for lane in Lane:
        # Straight from disk, before any repair: it must verify (never unreadable).
        stored = StoredIndex.open(
            indexes.lane_folder(lane),
            lane=lane.value,
            model_id=encoder.model_id,
            dimension=encoder.dimension,
        )
        before[lane] = differences(
            stored.index.content_hashes(), database_state(session_factory, lane)
        )
    reports = indexes.open()
    assert [r.rebuilt_because for r in reports] == [None, None], "a crash made an index unreadable"
    after = {}
    for lane in Lane:
        assert_serves_exactly_the_database(indexes, session_factory, lane)
        after[lane] = differences(
            indexes.stored(lane).index.content_hashes(), database_state(session_factory, lane)
        )
    figures = {
        "point": point,
        "before_repair": {lane.value: before[lane] for lane in Lane},
        "after_repair": {lane.value: after[lane] for lane in Lane},
    }
    print("crash-run", json.dumps(figures))
    assert all(value == (0, 0, 0) for value in after.values())
    return figures


def build_index(folder: Path, encoder: Encoder, session_factory: sessionmaker[Session]) -> None:
    LaneIndexes(folder=folder, encoder=encoder, session_factory=session_factory).open()


@pytest.mark.parametrize(("point", "nth"), API_KILLS, ids=[f"{p}:{n}" for p, n in API_KILLS])
def test_an_api_update_killed_at_any_step_loses_nothing(
    point: str,
    nth: int,
    database_url: str,
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    tmp_path: Path,
) -> None:
    shop = make_shop(session_factory)
    folder = tmp_path / "index"
    build_index(folder, encoder, session_factory)
    changed, closed, edited = shop.openings[0], shop.openings[1], shop.openings[2]
    new_title = "Lagerbiträde med truckkort, nytt"
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "token": shop.token,
                "requests": [
                    {
                        "method": "PATCH",
                        "path": f"/openings/{changed}",
                        "json": {"description": "Inleverans och truckkörning på lagret."},
                    },
                    {"method": "POST", "path": f"/openings/{closed}/close"},
                    {"method": "POST", "path": "/openings", "json": {"title": new_title}},
                    {"method": "PATCH", "path": f"/openings/{edited}", "json": {"title": "Kock"}},
                ],
            }
        ),
        encoding="utf-8",
    )
    answered = killed(
        [sys.executable, "-m", "tests.integration.crash_worker", "api", str(plan)],
        environment(database_url, tmp_path, f"{point}:{nth}"),
    )
    assert [a["status"] for a in answered] == [200, 200, 201, 200][: nth - 1]

    restart_and_check(point, tmp_path / "index", encoder, session_factory)
    jobs = database_state(session_factory, Lane.JOBS)
    # Every answered request is durable: in the database and therefore in the index.
    if nth > 1:
        assert closed not in jobs
    committed = point != "update.before_commit"
    assert len(jobs) == len(TEXTS) + (1 if nth == 3 and committed else 0) - (nth > 1), jobs


@pytest.mark.parametrize(
    ("point", "nth"), SNAPSHOT_KILLS, ids=[f"{p}:{n}" for p, n in SNAPSHOT_KILLS]
)
def test_an_index_rebuild_killed_at_any_step_leaves_a_readable_index(
    point: str,
    nth: int,
    database_url: str,
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    tmp_path: Path,
) -> None:
    if "sqlite" not in database_url:
        pytest.skip("the snapshot files do not depend on the database backend")
    shop = make_shop(session_factory)
    build_index(tmp_path / "index", encoder, session_factory)
    # Changes the index on disk does not have yet: the rebuild would bring them.
    set_fields(session_factory, Opening, shop.openings[0], status=OpeningStatus.CLOSED)
    set_fields(session_factory, Opening, shop.openings[1], description="Städning av skolor.")
    with session_factory.begin() as session:
        f.make_opening(session, employer_id=shop.employer, title="Vaktmästare")

    killed(
        [str(STEGVIS), "index", "build"],
        environment(database_url, tmp_path, f"{point}:{nth}"),
    )
    restart_and_check(point, tmp_path / "index", encoder, session_factory)
    assert shop.openings[0] not in database_state(session_factory, Lane.JOBS)
