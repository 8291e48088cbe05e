"""Retraining end to end: simulated coaches → dataset → fit → gates → MLflow → serving.

With the real database (SQLite, and PostgreSQL when configured), the real model, index and
recogniser, a real MLflow store in a temporary folder and the quality benchmark on a tiny
set. The world is small (one town, 24 openings, 24 participants in woman/man pairs with the
same wishes); its four simulated weeks are made once per backend, and each test works on a
fresh copy of that database with a fresh MLflow store."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from matching.db.models import Consent, Feedback, Suggestion
from matching.db.session import make_engine, make_session_factory
from matching.domain import ConsentScope, Gender, Goal, Lane, Role
from matching.engine import MatchingEngine
from matching.service import suggest
from matching.settings import Environment, Settings
from matching.users import issue_token
from tests import factories as f
from tests.integration.conftest import BACKENDS, PostgresServer
from training.dataset import Dataset, build_dataset
from training.quality import QualityBenchmark, SetSize
from training.registry import ChampionWatcher, ModelRegistry
from training.simulate import hidden_truth, simulate, simulated_rounds
from training.train import TrainingParams, TrainingResult, train

NOW = datetime.now(UTC).replace(microsecond=0)
SODERTALJE = (59.1955, 17.6253)
TINY = SetSize(
    groups=8,
    occupations_per_group=2,
    openings_per_occupation=2,
    participants_per_kind=1,
    hard_participants_per_kind=1,
    held_out_share=0.25,
)
ROUNDS = 4

#: (occupation id, label, SSYK, ad title, ad text, wish)
TRADES = (
    (
        "DLEi_bTh_oLA",
        "Lagerarbetare/Terminalarbetare",
        "4322",
        "Lagerarbetare",
        "Plock och pack av varor, inleveranser och truckkörning på vårt lager.",
        "Vill jobba som lagerarbetare, plocka och packa varor",
    ),
    (
        "KF64_AvU_S4N",
        "Städare",
        "9111",
        "Städare",
        "Kontorsstädning och lokalvård i kontor och trapphus.",
        "Vill jobba som städare med lokalvård",
    ),
    (
        "pKTY_Kwu_sUw",
        "Diskare",
        "9412",
        "Diskare till restaurang",
        "Disk och enklare köksarbete i vår lunchrestaurang.",
        "Vill jobba som diskare i ett kök",
    ),
    (
        "GQSf_fnq_kjF",
        "Truckförare",
        "8344",
        "Truckförare",
        "Truckförare för lastning och lossning av gods vid vår terminal.",
        "Vill köra truck som truckförare",
    ),
)
#: Each trade's openings: (km north of the town centre, weekly hours, evenings, weekends).
#: Only one is a clean fit for the participants below; the others each trade one practical
#: flaw against the wished occupation — the trade-offs hand-set and hidden weights disagree on.
VARIANTS = (
    (1.0, (20, 30), False, False),
    (2.0, (20, 30), True, False),
    (13.0, (20, 30), False, False),
    (1.5, (35, 40), False, False),
    (2.5, (20, 30), False, True),
    (30.0, (20, 30), False, False),
)
KM_PER_DEGREE = 111.0


@dataclass(frozen=True)
class World:
    participants: list[int]
    without_training_consent: list[int]
    coach: int


def build_world(session: Session) -> World:
    organisation = f.make_organisation(session, municipalities=["Södertälje"]).id
    coach = f.make_user(session, organisation_id=organisation).id
    employer = f.make_employer(session).id
    for occupation_id, label, ssyk, title, text, _ in TRADES:
        for v, (km, hours, evenings, weekends) in enumerate(VARIANTS):
            f.make_opening(
                session,
                employer_id=employer,
                title=title,
                description=text,
                occupation_id=occupation_id,
                occupation_label=label,
                ssyk_code=ssyk,
                required_skills=[],
                hours_min=hours[0],
                hours_max=hours[1],
                evenings=evenings,
                weekends=weekends,
                lat=SODERTALJE[0] + km / KM_PER_DEGREE,
                lon=SODERTALJE[1] + 0.01 * v,
                published_at=NOW - timedelta(days=10 + 20 * v),
                expires_at=NOW + timedelta(days=60),
            )
    provider = f.make_asf_provider(session).id
    for v, (km, hours, evenings, weekends) in enumerate(VARIANTS):
        f.make_placement(
            session,
            asf_provider_id=provider,
            title=("Arbetsträning i café", "Arbetsträning i second hand")[v % 2],
            lat=SODERTALJE[0] - km / KM_PER_DEGREE,
            lon=SODERTALJE[1],
            hours_min=hours[0],
            hours_max=hours[1],
            evenings=evenings,
            weekends=weekends,
        )
    participants, excluded = [], []
    for t in range(12):
        trade = TRADES[t % len(TRADES)]
        wishes: dict[str, Any] = {
            "organisation_id": organisation,
            "coach_id": coach,
            "preferred_occupations_text": trade[5],
            "preferred_tasks_text": "",
            "skills_text": "",
            "max_commute_km": (8.0, 10.0, 12.0)[t % 3],
            "hours_min": 20,
            "hours_max": (30, 25, 30)[t % 3],
            "no_evenings": True,
            "no_weekends": True,
            "goal": Goal.WORK_TRAINING if t == 5 else Goal.COMPETITIVE_JOB,
        }
        for gender in (Gender.WOMAN, Gender.MAN):
            consents = tuple(ConsentScope) if t < 10 else (ConsentScope.MATCHING,)
            person = f.make_participant(
                session,
                consents=consents,
                gender=gender,
                home_lat=SODERTALJE[0] + 0.002 * (t % 5),
                home_lon=SODERTALJE[1] + (0.001 if gender is Gender.MAN else 0.0),
                **wishes,
            ).id
            participants.append(person)
            if t >= 10:
                excluded.append(person)
    return World(participants=participants, without_training_consent=excluded, coach=coach)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store with its tables created once (that takes about ten seconds)."""
    folder = tmp_path_factory.mktemp("mlflow-template")
    store = folder / "mlflow.db"
    registry = ModelRegistry(
        Settings(
            mlflow_tracking_uri=f"sqlite:///{store}", mlflow_artifact_root=folder / "artifacts"
        )
    )
    registry.client.search_experiments()
    return store


@pytest.fixture(scope="session")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> QualityBenchmark:
    return QualityBenchmark.build(
        Settings(data_dir=tmp_path_factory.mktemp("quality")), seed=7, size=TINY
    )


def training_settings(database_url: str, folder: Path, store: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=folder,
        mlflow_tracking_uri=f"sqlite:///{store}",
        mlflow_artifact_root=folder / "artifacts",
        environment=Environment.TEST,
        label_min_age_days=3,
        # The last of the four simulated rounds is the held-out period.
        evaluation_share=0.25,
    )


@dataclass
class Simulated:
    """A database after the simulated rounds, to copy for each test, and its engine."""

    backend: str
    url: str
    name: str
    world: World
    matcher: MatchingEngine


@pytest.fixture(scope="module", params=BACKENDS)
def simulated_template(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_templates: dict[str, str],
    postgres_server: PostgresServer | None,
) -> Iterator[Simulated]:
    """The world and its simulated weeks, made once per backend; tests get copies.

    The engine is shared too: every copy holds the same items, and suggestions read the
    test's own session.
    """
    folder = tmp_path_factory.mktemp("simulated")
    if request.param == "sqlite":
        name = str(folder / "simulated.db")
        shutil.copyfile(migrated_templates["sqlite"], name)
        url = f"sqlite:///{name}"
    else:
        assert postgres_server is not None
        name = f"stegvis_sim_{uuid.uuid4().hex[:10]}"
        url = postgres_server.create(name, template=migrated_templates["postgresql"])
    database = make_engine(url)
    factory = make_session_factory(database)
    with factory.begin() as session:
        world = build_world(session)
    matcher = MatchingEngine.start(
        training_settings(url, folder, folder / "unused-mlflow.db"), factory
    )
    report = simulate(
        session_factory=factory,
        engine=matcher,
        rounds=ROUNDS,
        participants_per_round=len(world.participants),
        seed=11,
        end=NOW,
    )
    assert len(report.rounds) == ROUNDS
    assert report.decisions["contacted_employer"] > 0
    database.dispose()  # a PostgreSQL template must have no open connections
    yield Simulated(request.param, url, name, world, matcher)
    if postgres_server is not None and request.param == "postgresql":
        postgres_server.drop(name)


@pytest.fixture
def database_url(
    simulated_template: Simulated, tmp_path: Path, postgres_server: PostgresServer | None
) -> Iterator[str]:
    """A fresh copy of the simulated database (overrides the empty one of conftest)."""
    if simulated_template.backend == "sqlite":
        target = tmp_path / "stegvis.db"
        shutil.copyfile(simulated_template.name, target)
        yield f"sqlite:///{target}"
        return
    assert postgres_server is not None
    name = f"stegvis_test_{uuid.uuid4().hex[:10]}"
    yield postgres_server.create(name, template=simulated_template.name)
    postgres_server.drop(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, mlflow_template: Path) -> Settings:
    store = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template, store)
    return training_settings(database_url, tmp_path, store)


@pytest.fixture
def simulated(simulated_template: Simulated) -> World:
    return simulated_template.world


@pytest.fixture
def matcher(simulated_template: Simulated) -> MatchingEngine:
    return simulated_template.matcher


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings)


@pytest.fixture
def watcher(registry: ModelRegistry, matcher: MatchingEngine) -> Iterator[ChampionWatcher]:
    """The serving side: polls only when a test asks it to (as a signal would).

    Its first poll puts the shared engine back on the champion of this test's fresh
    registry: the hand-set ranker.
    """
    watching = ChampionWatcher(registry, matcher.ranker, interval=3600)
    watching.start()
    yield watching
    watching.stop()


def run_training(
    settings: Settings,
    session_factory: sessionmaker[Session],
    registry: ModelRegistry,
    benchmark: QualityBenchmark,
    **options: Any,
) -> TrainingResult:
    with session_factory.begin() as session:
        return train(
            settings=settings,
            session=session,
            registry=registry,
            benchmark=benchmark,
            truth=hidden_truth,
            rounds=simulated_rounds(session),
            **options,
        )


def build(session: Session, settings: Settings) -> Dataset:
    return build_dataset(
        session=session,
        min_age=timedelta(days=settings.label_min_age_days),
        evaluation_share=settings.evaluation_share,
    )


def shown(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, participant: int
) -> tuple[str, list[tuple[int, float, dict[str, float]]]]:
    """What a coach would see for the participant now: version, items, scores, reasons."""
    with session_factory.begin() as session:
        slate = suggest(
            session=session, engine=matcher, participant_id=participant, lane=Lane.JOBS, now=NOW
        )
        stored = session.scalars(
            sa.select(Suggestion.model_version).where(Suggestion.slate_id == slate.slate_id)
        ).all()
    assert set(stored) == {slate.model_version}, "every suggestion records its version"
    return slate.model_version, [(s.item_id, s.score, s.contributions) for s in slate.suggestions]


def test_simulated_feedback_trains_a_champion_that_serves_from_the_next_request(
    simulated: World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    matcher: MatchingEngine,
    registry: ModelRegistry,
    watcher: ChampionWatcher,
    benchmark: QualityBenchmark,
) -> None:
    participant = simulated.participants[0]
    assert shown(session_factory, matcher, participant)[0] == "handset-1"

    result = run_training(settings, session_factory, registry, benchmark, promote=True)

    assert result.gates.passed, result.gates.summary()
    assert result.promoted
    assert result.logged.label == "stegvis-ranker/1"
    assert result.candidate.metrics["ndcg_at_10"] > result.champion.metrics["ndcg_at_10"]
    steps = [value for _, value in result.curve]
    assert len(steps) >= 3
    assert steps[-1] > steps[0], f"NDCG@10 against the hidden truth by round: {steps}"
    assert result.candidate.truth_ndcg_at_10 is not None
    assert result.champion.truth_ndcg_at_10 is not None
    assert result.candidate.truth_ndcg_at_10 > result.champion.truth_ndcg_at_10

    # Nothing changes for coaches until the serving side looks: then the very next request.
    assert shown(session_factory, matcher, participant)[0] == "handset-1"
    assert watcher.poll()
    assert shown(session_factory, matcher, participant)[0] == "stegvis-ranker/1"
    assert watcher.status().ready_check() == "ok"

    # What MLflow holds: the run with its parameters, metrics, plots and the model.
    info = registry.versions()[0]
    assert (info.label, info.status, info.champion) == ("stegvis-ranker/1", "champion", True)
    assert info.gates is not None
    assert info.gates.passed
    assert info.dataset_digest == result.dataset["digest"]
    run = registry.client.get_run(result.logged.run_id)
    assert run.data.params["dataset_digest"] == result.dataset["digest"]
    assert run.data.metrics["dataset_rows"] == result.dataset["rows"]
    for metric in ("ndcg_at_10", "ndcg_at_5", "map", "recall_at_5", "exposure_gap"):
        assert metric in run.data.metrics
    history = registry.client.get_metric_history(run.info.run_id, "truth_ndcg_at_10_by_round")
    assert [point.step for point in history] == [step for step, _ in result.curve]
    plots = {a.path for a in registry.client.list_artifacts(run.info.run_id, "shapes")}
    assert "shapes/commute_over.png" in plots
    assert len(plots) == 17
    assert run.outputs is not None
    model_id = run.outputs.model_outputs[0].model_id
    model_files = {a.path for a in registry.client.list_logged_model_artifacts(model_id)}
    assert "MLmodel" in model_files

    # Another process (`stegvis models list`, the API after a restart) loads the champion
    # through the settings' store alone, whatever MLflow's process-wide URIs name.
    elsewhere = f"sqlite:///{settings.data_dir / 'elsewhere.db'}"
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    try:
        loaded, label = ModelRegistry(settings).champion()
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
    assert label == "stegvis-ranker/1"
    assert loaded.to_dict() == registry.load(1).to_dict()


def test_a_worse_candidate_is_refused_and_rollback_restores_the_previous_suggestions(
    simulated: World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    matcher: MatchingEngine,
    registry: ModelRegistry,
    watcher: ChampionWatcher,
    benchmark: QualityBenchmark,
) -> None:
    participant = simulated.participants[2]
    first = run_training(settings, session_factory, registry, benchmark, promote=True)
    assert first.promoted, first.gates.summary()
    watcher.poll()
    under_first = shown(session_factory, matcher, participant)
    assert under_first[0] == "stegvis-ranker/1"

    shuffled = run_training(
        settings,
        session_factory,
        registry,
        benchmark,
        promote=True,
        params=TrainingParams(shuffle_labels=True),
    )
    assert not shuffled.promoted
    assert "ndcg_at_10" in [gate.name for gate in shuffled.gates.failed]
    assert "refused against stegvis-ranker/1: ndcg_at_10" in shuffled.gates.summary()
    assert registry.version(2).status == "refused"
    assert not watcher.poll()
    assert shown(session_factory, matcher, participant)[0] == "stegvis-ranker/1"

    # A different model that the gates are told to let through, then rolled back.
    lenient = settings.model_copy(update={"gate_min_ndcg_gain": -1.0, "gate_max_quality_loss": 1.0})
    second = run_training(
        lenient,
        session_factory,
        registry,
        benchmark,
        promote=True,
        params=TrainingParams(l2=1.0, n_knots=4),
    )
    assert second.promoted
    assert watcher.poll()
    under_second = shown(session_factory, matcher, participant)
    assert under_second[0] == "stegvis-ranker/3"
    assert under_second[1] != under_first[1]

    assert registry.rollback() == "stegvis-ranker/1"
    assert watcher.poll()
    assert shown(session_factory, matcher, participant) == under_first
    assert registry.version(3).status == "rolled back"

    assert registry.rollback() == "handset-1"
    assert watcher.poll()
    assert shown(session_factory, matcher, participant)[0] == "handset-1"


def test_retraining_excludes_participants_without_training_consent_and_is_reproducible(
    simulated: World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    registry: ModelRegistry,
    benchmark: QualityBenchmark,
) -> None:
    with session_factory() as session:
        reviewed = set(
            session.scalars(
                sa.select(Suggestion.participant_id).join(
                    Feedback, Feedback.suggestion_id == Suggestion.id
                )
            )
        )
        assert set(simulated.without_training_consent) <= reviewed
        dataset = build(session, settings)
        again = build(session, settings)
    assert set(dataset.participants.tolist()).isdisjoint(simulated.without_training_consent)
    assert set(dataset.participants.tolist()) == set(simulated.participants) - set(
        simulated.without_training_consent
    )
    assert dataset.digest == again.digest

    first = run_training(settings, session_factory, registry, benchmark)
    second = run_training(settings, session_factory, registry, benchmark)
    assert first.dataset["digest"] == second.dataset["digest"] == dataset.digest
    assert first.candidate.flat() == second.candidate.flat()
    assert first.gates == second.gates

    # Withdrawing consent takes the participant's rows out of the next dataset.
    withdrawn = simulated.participants[0]
    with session_factory.begin() as session:
        consent = session.scalars(
            sa.select(Consent).where(
                Consent.participant_id == withdrawn,
                Consent.scope == ConsentScope.MODEL_TRAINING,
            )
        ).one()
        consent.withdrawn_at = datetime.now(UTC)
    with session_factory() as session:
        after = build(session, settings)
    assert withdrawn not in set(after.participants.tolist())
    assert after.digest != dataset.digest


def test_an_unreachable_registry_keeps_the_last_champion_serving(
    simulated: World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    matcher: MatchingEngine,
    registry: ModelRegistry,
    watcher: ChampionWatcher,
    benchmark: QualityBenchmark,
    tmp_path: Path,
) -> None:
    assert run_training(settings, session_factory, registry, benchmark, promote=True).promoted
    assert watcher.poll()
    store = tmp_path / "mlflow.db"
    store.rename(tmp_path / "moved-away.db")
    try:
        assert not watcher.poll()
        status = watcher.status()
        assert not status.registry_ok
        assert status.ready_check().startswith("registry unreachable")
        assert status.ready_check().endswith("serving stegvis-ranker/1")
        assert shown(session_factory, matcher, simulated.participants[1])[0] == "stegvis-ranker/1"
    finally:
        (tmp_path / "moved-away.db").rename(store)
    watcher.poll()
    assert watcher.status().ready_check() == "ok"


def test_the_api_serves_the_champion_and_lets_the_data_team_promote_and_roll_back(
    simulated: World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    benchmark: QualityBenchmark,
) -> None:
    with session_factory.begin() as session:
        data_team = f.make_user(session, role=Role.DATA_TEAM).id
        tokens = {
            role: issue_token(session=session, user_id=user, valid_days=None).secret
            for role, user in ((Role.COACH, simulated.coach), (Role.DATA_TEAM, data_team))
        }
    headers = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    participant = simulated.participants[4]

    def served() -> str:
        response = client.get(
            f"/participants/{participant}/suggestions",
            params={"lane": "jobs"},
            headers=headers[Role.COACH],
        )
        assert response.status_code == 200, response.text
        versions = {str(slate["model_version"]) for slate in response.json()["lanes"]}
        assert len(versions) == 1
        return versions.pop()

    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready").json()
        assert ready["model_registry"] == "ok"
        assert served() == "handset-1"

        # Training runs beside the serving app, on the simulated weeks.
        registry = ModelRegistry(settings)
        trained = run_training(settings, session_factory, registry, benchmark)
        assert trained.gates.passed, trained.gates.summary()
        assert served() == "handset-1", "a trained model serves only once promoted"

        listed = client.get("/models", headers=headers[Role.DATA_TEAM])
        assert listed.status_code == 200, listed.text
        assert listed.json()["serving"] == "handset-1"
        [version] = listed.json()["versions"]
        assert (version["label"], version["status"]) == ("stegvis-ranker/1", "candidate")
        assert {gate["name"] for gate in version["gates"] if gate["passed"]} == {
            "ndcg_at_10",
            "quality_benchmark",
            "gender_exposure",
            "domain_directions",
        }
        assert version["metrics"]["ndcg_at_10"] > version["metrics"]["champion_ndcg_at_10"]

        assert client.post("/models/rollback", headers=headers[Role.COACH]).status_code == 403
        promoted = client.post("/models/1/promote", headers=headers[Role.DATA_TEAM])
        assert promoted.status_code == 200, promoted.text
        assert promoted.json() == {"serving": "stegvis-ranker/1"}
        assert served() == "stegvis-ranker/1"
        again = client.post("/models/1/promote", headers=headers[Role.DATA_TEAM])
        assert again.status_code == 409
        assert "checked against handset-1" in again.json()["detail"]

        rolled = client.post("/models/rollback", headers=headers[Role.DATA_TEAM])
        assert rolled.json() == {"serving": "handset-1"}
        assert served() == "handset-1"
        assert client.post("/models/rollback", headers=headers[Role.DATA_TEAM]).status_code == 409
