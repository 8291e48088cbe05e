"""Training under failure and erasure: a killed retraining leaves the champion serving, and
MLflow keeps nothing that identifies an erased participant.

Runs on the simulated world of `test_training` (its fixtures, a fresh database copy and a
fresh MLflow store per test). The MLflow decision: training logs only pseudonymous
aggregates — feature rows and labels without ids, counts, digests, metrics, plots and the
model — so erasure has nothing to scrub there; the scan below proves it for a participant
whose rows were in the logged dataset.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from matching.audit import Actor
from matching.db.models import Participant
from matching.domain import Role
from matching.engine import RankerSlot
from matching.ranker import HAND_SET_VERSION, hand_set_ranker
from matching.service import erase_participant
from matching.settings import Settings
from tests.e2e.test_erasure_and_consent import file_traces
from tests.integration import test_training
from tests.integration.test_crash_safety import ROOT, environment
from training.quality import QualityBenchmark
from training.registry import ChampionWatcher, ModelRegistry

# The simulated world and its fixtures, shared with the training tests.
mlflow_template = test_training.mlflow_template
benchmark = test_training.benchmark
simulated_template = test_training.simulated_template
database_url = test_training.database_url
settings = test_training.settings
simulated = test_training.simulated
registry = test_training.registry
run_training = test_training.run_training
build = test_training.build

TRAINING_KILLS = ("training.fitted", "training.run_logged", "training.registered")


def serving(settings: Settings) -> tuple[str, bool]:
    """What a starting server would serve now, and whether the registry read cleanly."""
    watcher = ChampionWatcher(
        ModelRegistry(settings), RankerSlot(hand_set_ranker(), HAND_SET_VERSION), interval=3600
    )
    watcher.poll()
    status = watcher.status()
    return status.serving, status.registry_ok


def test_a_retraining_killed_at_any_step_leaves_the_champion_serving(
    simulated: test_training.World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    registry: ModelRegistry,
    benchmark: QualityBenchmark,
    tmp_path: Path,
) -> None:
    if "sqlite" not in settings.resolved_database_url:
        pytest.skip("the MLflow store is SQLite on either backend; one run is enough")
    result = run_training(settings, session_factory, registry, benchmark, promote=True)
    assert result.promoted, result.gates.summary()
    assert serving(settings) == ("stegvis-ranker/1", True)
    saved = tmp_path / "benchmark.npz"
    benchmark.save(saved)

    for point in TRAINING_KILLS:
        env = environment(settings.resolved_database_url, tmp_path, point) | {
            "STEGVIS_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "STEGVIS_MLFLOW_ARTIFACT_ROOT": str(settings.mlflow_artifact_root),
            "STEGVIS_LABEL_MIN_AGE_DAYS": str(settings.label_min_age_days),
            "STEGVIS_EVALUATION_SHARE": str(settings.evaluation_share),
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.integration.crash_worker", "train", str(saved)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
        after = ModelRegistry(settings)
        assert after.champion_version() == 1, point
        assert serving(settings) == ("stegvis-ranker/1", True), point
        versions = {info.version: info for info in after.versions()}
        print("crash-run", json.dumps({"point": point, "versions": sorted(versions)}))
        # A version registered before its gates were recorded carries no gate report, so
        # `POST /models/{version}/promote` refuses it; only `stegvis models promote` could
        # re-check it against today's champion.
        assert [n for n, info in versions.items() if info.champion] == [1]
        if point == "training.registered":
            assert versions[max(versions)].gates is None


def mlflow_traces(settings: Settings, needles: list[str]) -> list[str]:
    """Every value of every table of the MLflow SQLite store, and every artifact file,
    that contains one of `needles`."""
    store = Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///"))
    found = []
    connection = sqlite3.connect(store)
    try:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                text = " ".join(
                    v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row
                )
                found += [f"{store.name}:{table}" for needle in needles if needle in text]
    finally:
        connection.close()
    return found + file_traces(settings.mlflow_artifact_root, needles)


def test_mlflow_keeps_nothing_of_an_erased_participant(
    simulated: test_training.World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    registry: ModelRegistry,
    benchmark: QualityBenchmark,
) -> None:
    person = simulated.participants[0]
    needles = ["MLFLOW-RADERA-0001", "Mlflowmarkörens samling av tändsticksaskar"]
    with session_factory.begin() as session:
        participant = session.get(Participant, person)
        assert participant is not None
        participant.external_ref = needles[0]
        participant.interests_text = needles[1]
        assert person in set(build(session, settings).participants.tolist())
    run_training(settings, session_factory, registry, benchmark)
    assert registry.versions(), "the training run must be in MLflow"
    assert mlflow_traces(settings, ["dataset_digest"]), "the scan must reach the run"

    with session_factory.begin() as session:
        participant = session.get(Participant, person)
        assert participant is not None
        erase_participant(
            session=session,
            participant=participant,
            secret=settings.secret_key.get_secret_value(),
            actor=Actor(user_id=None, role=Role.ADMIN),
        )
    with session_factory() as session:
        assert person not in set(build(session, settings).participants.tolist())
        assert session.scalar(sa.select(sa.func.count()).where(Participant.id == person)) == 0
    assert mlflow_traces(settings, needles) == []
