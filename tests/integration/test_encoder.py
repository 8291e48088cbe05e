"""Encoder adaptation end to end: tiny fine-tuning → MLflow run → version → gates; the
switch of a serving engine to another encoder while searches run, and the rollback.

Real model (the bundled MiniLM and a fine-tuned copy), real database, FAISS index and a
real MLflow store in a temporary folder; the quality benchmark on a tiny set."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from sqlalchemy.orm import Session, sessionmaker

from embeddings.encoder import Calibration, Encoder, load_encoder
from embeddings.index import StoredIndex
from matching.db.session import make_engine, make_session_factory
from matching.domain import Lane
from matching.engine import MatchingEngine
from matching.service import suggest
from matching.settings import BUNDLED_MODEL, Environment, Settings
from matching.taxonomy import load_taxonomy
from tests import factories as f
from tests.integration.test_training import TINY
from training.encoder_pairs import Pair, taxonomy_pairs, touches
from training.finetune import (
    FinetuneConfig,
    model_source,
    run_encoder_training,
    select_pairs,
    train_encoder,
)
from training.quality import QualityBenchmark, group_split
from training.registry import CHAMPION_ALIAS, ENCODER_MODEL_NAME, GATES_TAG, EncoderRegistry

NOW = datetime.now(UTC).replace(microsecond=0)
#: A few seconds of training: 40 pairs, batches of 8, 3 epochs.
TINY_RUN = FinetuneConfig(
    max_pairs=40, epochs=3, batch_size=8, max_seq_length=32, learning_rate=1e-4, threads=2
)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> QualityBenchmark:
    return QualityBenchmark.build(
        Settings(data_dir=tmp_path_factory.mktemp("quality")), seed=7, size=TINY
    )


@pytest.fixture(scope="module")
def tiny_pairs(benchmark: QualityBenchmark) -> list[Pair]:
    taxonomy = load_taxonomy(Settings().taxonomy_dir)
    split = group_split(taxonomy, seed=benchmark.seed, share=benchmark.size.held_out_share)
    return select_pairs(taxonomy_pairs(taxonomy, split=split), TINY_RUN)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, tiny_pairs: list[Pair]) -> Encoder:
    """A fine-tuned copy of the bundled model: a different encoder to switch to."""
    folder = tmp_path_factory.mktemp("tuned") / "stegvis-encoder-test"
    train_encoder(tiny_pairs, base=model_source(BUNDLED_MODEL), output=folder, config=TINY_RUN)
    return load_encoder(str(folder))


def test_tiny_training_lowers_the_loss_and_logs_registers_and_gates(
    tmp_path: Path, benchmark: QualityBenchmark, tiny_pairs: list[Pair]
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        mlflow_artifact_root=tmp_path / "artifacts",
        environment=Environment.TEST,
    )
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    split = group_split(taxonomy, seed=benchmark.seed, share=benchmark.size.held_out_share)
    assert not any(touches(pair, split, taxonomy) for pair in tiny_pairs)

    run = run_encoder_training(
        settings, config=TINY_RUN, promote=True, benchmark=benchmark, pairs=tiny_pairs
    )

    losses = run.result.losses
    steps_per_epoch = len(losses) // TINY_RUN.epochs
    assert run.result.steps == len(losses) >= 2 * TINY_RUN.epochs
    first, last = losses[:steps_per_epoch], losses[-steps_per_epoch:]
    assert sum(last) / len(last) < sum(first) / len(first)

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    logged = client.get_run(run.logged.run_id)
    assert logged.data.params["dataset_digest"] == logged.data.tags["stegvis.dataset_digest"]
    assert logged.data.params["pairs"] == str(len(tiny_pairs))
    history = client.get_metric_history(run.logged.run_id, "loss")
    assert [round(m.value, 4) for m in history] == [round(v, 4) for v in losses]
    for name in ("semantic_held_out", "champion_semantic_held_out", "full_held_out"):
        assert name in logged.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.logged.run_id)}
    assert {"loss.png", "gates.json", "evaluation.json", "encoder"} <= artifacts
    encoder_files = {a.path for a in client.list_artifacts(run.logged.run_id, "encoder")}
    assert "encoder/config.json" in encoder_files

    version = client.get_model_version(ENCODER_MODEL_NAME, str(run.logged.version))
    assert version.run_id == run.logged.run_id
    assert GATES_TAG in version.tags
    assert version.tags["stegvis.gates_passed"] == str(run.gates.passed).lower()
    assert [g.name for g in run.gates.gates][:2] == ["semantic_held_out", "full_held_out"]
    aliases = client.get_registered_model(ENCODER_MODEL_NAME).aliases or {}
    assert run.promoted is run.gates.passed
    assert (aliases.get(CHAMPION_ALIAS) == str(run.logged.version)) is run.gates.passed

    # What a registered version serves from is the logged folder, loadable as an encoder.
    folder = EncoderRegistry(settings).download(run.logged.version, tmp_path / "encoders")
    served = load_encoder(str(folder))
    assert served.encode_one("Vill arbeta som kock").shape == (384,)
    # ... with the calibration fitted on the development rows, logged with the run.
    assert served.calibration == Calibration.read(folder) != Calibration()
    assert served.calibration.slope > 0
    assert float(logged.data.params["calibration_slope"]) == round(served.calibration.slope, 6)
    mlflow.set_tracking_uri("")  # leave no global state for other tests


def _world(session_factory: sessionmaker[Session]) -> list[int]:
    with session_factory.begin() as session:
        organisation = f.make_organisation(session).id
        employer = f.make_employer(session).id
        titles = ("Lagerarbetare", "Truckförare", "Städare", "Diskare", "Kock", "Vårdbiträde")
        for n in range(24):
            f.make_opening(
                session,
                employer_id=employer,
                title=f"{titles[n % len(titles)]} {n}",
                published_at=NOW - timedelta(days=2),
                expires_at=NOW + timedelta(days=30),
            )
        return [
            f.make_participant(
                session,
                organisation_id=organisation,
                preferred_occupations_text=f"Vill jobba som {titles[n % len(titles)].lower()}",
            ).id
            for n in range(4)
        ]


def test_switching_encoders_while_searching_never_fails_and_rolls_back(
    tmp_path: Path,
    database_url: str,
    session_factory: sessionmaker[Session],
    tuned: Encoder,
) -> None:
    participants = _world(session_factory)
    # As the API does: every transaction takes SQLite's write lock when it begins, so
    # concurrent writers queue instead of failing (`make_engine(immediate=True)`).
    database = make_engine(database_url, immediate=True)
    session_factory = make_session_factory(database)
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    engine = MatchingEngine.start(settings, session_factory)
    old = engine.encoder
    assert old.model_id != tuned.model_id

    failures: list[str] = []
    searched = 0
    stop = threading.Event()

    def search() -> None:
        nonlocal searched
        while not stop.is_set():
            for participant_id in participants:
                try:
                    with session_factory.begin() as session:
                        slate = suggest(
                            session=session,
                            engine=engine,
                            participant_id=participant_id,
                            lane=Lane.JOBS,
                            k=5,
                        )
                    if not slate.suggestions:
                        failures.append(f"empty slate for {participant_id}")
                    searched += 1
                except Exception as error:  # any failure is what this test looks for
                    failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=search) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        switch = engine.switch_encoder_in_background(tuned, "stegvis-encoder/1")
        # A change committed while the new index is being built reaches it too.
        with session_factory.begin() as session:
            extra = f.make_opening(session, title="Truckförare, ny", published_at=NOW).id
        # As the API does after its commit; whichever indexes serve at that moment take it,
        # and a swap after that reconciles the new ones with the database.
        engine.refresh(Lane.JOBS, [extra])
        switch.join(timeout=600)
        assert not switch.is_alive()
        during = searched
        while searched < during + len(participants):  # searches on the new encoder
            stop.wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

    assert not failures
    assert engine.encoder is tuned
    assert engine.encoder_version == "stegvis-encoder/1"
    for lane in Lane:
        state = engine.indexes.inspect(lane)
        assert state.model_id == tuned.model_id
        assert state.consistent
        on_disk = StoredIndex.open(
            engine.indexes.lane_folder(lane),
            lane=lane.value,
            model_id=tuned.model_id,
            dimension=tuned.dimension,
        )
        assert on_disk.status()["model_id"] == tuned.model_id
    assert extra in engine.indexes.stored(Lane.JOBS).index.content_hashes()

    assert engine.rollback_encoder() == BUNDLED_MODEL
    assert engine.encoder is old
    assert engine.encoder_version == BUNDLED_MODEL
    assert all(engine.indexes.inspect(lane).model_id == old.model_id for lane in Lane)
    assert all(engine.indexes.inspect(lane).consistent for lane in Lane)
    database.dispose()
