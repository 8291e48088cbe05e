"""E2E fixtures: one small deterministic world and one started engine per backend and session.

Two tenants, A and B, each with an organisation, a coach, participants, an employer with
openings and an ASF provider with places, plus the data team and an admin. Every text of
tenant B (and every participant text of A) carries a marker word, so a test can assert that
no foreign data appears in any response body. Tests share the engine; each test that
changes data creates its own objects, and `MatchingEngine.refresh` keeps the shared engine
consistent with the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from matching.db import migrate
from matching.db.models import Participant
from matching.db.session import make_engine, make_session_factory, transaction
from matching.domain import ConsentScope, Decision, Goal, Lane, Role
from matching.engine import MatchingEngine
from matching.service import record_feedback, suggest
from matching.settings import Environment, Settings
from matching.users import issue_token
from tests import factories as f
from tests.integration.conftest import BACKENDS, POSTGRES_URL, PostgresServer

NOW = datetime.now(UTC)
SODERTALJE = (59.1955, 17.6253)
WAREHOUSE = {
    "occupation_id": "DLEi_bTh_oLA",
    "occupation_label": "Lagerarbetare/Terminalarbetare",
    "ssyk_code": "4322",
}
CLEANER = {"occupation_id": "KF64_AvU_S4N", "occupation_label": "Städare", "ssyk_code": "9111"}

#: Words that occur only in one tenant's texts (and in participant texts).
PARTICIPANT_A_MARKER = "Ankdammsfrimärken"
PARTICIPANT_B_MARKER = "Zebrafinksuppfödning"
COMMENT_MARKERS = {"A": "KommentarmarkörA", "B": "KommentarmarkörB"}
EMPLOYER_B_MARKER = "Xylofonbolaget"
PROVIDER_B_MARKER = "Yxsmedjan"


@dataclass
class Tenant:
    """The objects of one tenant (A or B) and the tokens of its users."""

    letter: str
    organisation: int
    coach: int
    participant: int
    participant_ref: str
    participant_work_training: int
    suggestion: int
    employer: int
    opening: int
    provider: int
    placement: int
    target_user: int
    target_token: int
    tokens: dict[Role, str] = field(default_factory=dict)


@dataclass
class World:
    a: Tenant
    b: Tenant
    staff_tokens: dict[Role, str]
    no_consent_participant: int
    settings: Settings

    def token(self, role: Role) -> str:
        """The token of tenant A's user in `role` (staff have no tenant)."""
        return self.a.tokens.get(role) or self.staff_tokens[role]

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@pytest.fixture(scope="session", params=BACKENDS)
def e2e_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database for the whole e2e session, on each configured backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'stegvis.db'}"
        migrate.upgrade(url)
        yield url
        return
    assert POSTGRES_URL
    server = PostgresServer(POSTGRES_URL)
    name = f"stegvis_e2e_{uuid.uuid4().hex[:10]}"
    url = server.create(name)
    migrate.upgrade(url)
    yield url
    server.drop(name)
    server.admin.dispose()


@pytest.fixture(scope="session")
def e2e_settings(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=e2e_database_url,
        data_dir=tmp_path_factory.mktemp("e2e-data"),
        environment=Environment.TEST,
        secret_key="e2e-secret-key-e2e-secret-key-e2e-secret",
    )


@pytest.fixture(scope="session")
def e2e_session_factory(e2e_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(e2e_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _opening(session: Session, employer: int, **fields: Any) -> int:
    defaults: dict[str, Any] = {
        "employer_id": employer,
        "published_at": NOW - timedelta(days=2),
        "expires_at": NOW + timedelta(days=60),
        "lat": SODERTALJE[0] + 0.01,
        "lon": SODERTALJE[1],
        "hours_min": 20,
        "hours_max": 40,
    }
    return int(f.make_opening(session, **(defaults | fields)).id)


def _participant(session: Session, organisation: int, coach: int, **fields: Any) -> Participant:
    defaults: dict[str, Any] = {
        "organisation_id": organisation,
        "coach_id": coach,
        "home_lat": SODERTALJE[0],
        "home_lon": SODERTALJE[1],
        "max_commute_km": 20.0,
        "preferred_occupations_text": "Vill jobba som lagerarbetare",
        "preferred_tasks_text": "Plocka och packa varor",
        "skills_text": "Har truckkort",
        "hours_min": 20,
        "hours_max": 40,
    }
    return f.make_participant(session, **(defaults | fields))


def _token(session: Session, user_id: int) -> str:
    return issue_token(session=session, user_id=user_id, name="e2e", valid_days=None).secret


def _tenant(session: Session, letter: str, marker: str) -> Tenant:
    """Tenant `letter`; B's names and texts carry markers no other tenant's data has."""
    foreign = letter == "B"
    organisation = f.make_organisation(session, name=f"Samordningsförbundet {letter}-test").id
    coach = f.make_user(session, role=Role.COACH, organisation_id=organisation).id
    employer = f.make_employer(
        session, name=f"{EMPLOYER_B_MARKER} AB" if foreign else "Lagerbolaget A AB"
    ).id
    provider = f.make_asf_provider(
        session,
        name=f"{PROVIDER_B_MARKER} ekonomisk förening" if foreign else "Kaféet A ek. för.",
    ).id
    reference = f"{letter}REF-0001"
    participant = _participant(
        session,
        organisation,
        coach,
        external_ref=reference,
        interests_text=f"Samlar på {marker}",
        accommodations_text=f"Behöver lugn miljö ({marker})",
    ).id
    work_training = _participant(
        session,
        organisation,
        coach,
        external_ref=f"{letter}REF-0002",
        goal=Goal.WORK_TRAINING,
        preferred_occupations_text="Vill arbetsträna i ett café",
        interests_text=f"Tycker om {marker}",
    ).id
    title = f"{EMPLOYER_B_MARKER}s lagerarbetare" if foreign else "Lagerarbetare till centrallager"
    opening = _opening(
        session,
        employer,
        title=title,
        description=f"Plock och pack på lagret. {EMPLOYER_B_MARKER if foreign else ''}",
        required_skills=["Truckvana"],
        **WAREHOUSE,
    )
    _opening(
        session,
        employer,
        title="Städare till kontor" if not foreign else f"{EMPLOYER_B_MARKER}s städare",
        description="Kontorsstädning på dagtid i Södertälje.",
        **CLEANER,
    )
    placement = f.make_placement(
        session,
        asf_provider_id=provider,
        title=f"Arbetsträning hos {PROVIDER_B_MARKER}" if foreign else "Arbetsträning i café",
        activities="Servering och disk i café."
        if not foreign
        else f"Smide och reparationer ({PROVIDER_B_MARKER}).",
    ).id
    target_user = f.make_user(session, role=Role.COACH, organisation_id=organisation).id
    target_token = issue_token(session=session, user_id=target_user, name="target").token.id
    tenant = Tenant(
        letter=letter,
        organisation=organisation,
        coach=coach,
        participant=participant,
        participant_ref=reference,
        participant_work_training=work_training,
        suggestion=0,
        employer=employer,
        opening=opening,
        provider=provider,
        placement=placement,
        target_user=target_user,
        target_token=target_token,
    )
    employer_user = f.make_user(session, role=Role.EMPLOYER, employer_id=employer).id
    provider_user = f.make_user(session, role=Role.ASF_PROVIDER, asf_provider_id=provider).id
    tenant.tokens = {
        Role.COACH: _token(session, coach),
        Role.EMPLOYER: _token(session, employer_user),
        Role.ASF_PROVIDER: _token(session, provider_user),
    }
    return tenant


def seed_world(session_factory: sessionmaker[Session], settings: Settings) -> World:
    """Tenants A and B, a participant without matching consent, the data team and an admin."""
    with transaction(session_factory) as session:
        a = _tenant(session, "A", PARTICIPANT_A_MARKER)
        b = _tenant(session, "B", PARTICIPANT_B_MARKER)
        no_consent = _participant(
            session,
            a.organisation,
            a.coach,
            external_ref="AREF-0003",
            consents=(ConsentScope.FOLLOW_UP,),
        ).id
        staff = {
            Role.DATA_TEAM: _token(session, f.make_user(session, role=Role.DATA_TEAM).id),
            Role.ADMIN: _token(session, f.make_user(session, role=Role.ADMIN).id),
        }
    return World(a=a, b=b, staff_tokens=staff, no_consent_participant=no_consent, settings=settings)


@pytest.fixture(scope="session")
def world_rows(e2e_session_factory: sessionmaker[Session], e2e_settings: Settings) -> World:
    return seed_world(e2e_session_factory, e2e_settings)


@pytest.fixture(scope="session")
def matcher(
    world_rows: World, e2e_settings: Settings, e2e_session_factory: sessionmaker[Session]
) -> MatchingEngine:
    return MatchingEngine.start(e2e_settings, e2e_session_factory)


@pytest.fixture(scope="session")
def world(
    world_rows: World, matcher: MatchingEngine, e2e_session_factory: sessionmaker[Session]
) -> World:
    """The world with one logged slate per tenant's participant (and a commented decision)."""
    with transaction(e2e_session_factory) as session:
        for tenant in (world_rows.a, world_rows.b):
            slate = suggest(
                session=session, engine=matcher, participant_id=tenant.participant, lane=Lane.JOBS
            )
            assert slate.suggestions, "the world must give each participant suggestions"
            tenant.suggestion = slate.suggestions[-1].suggestion_id
            record_feedback(
                session=session,
                suggestion_id=slate.suggestions[-1].suggestion_id,
                decision=Decision.SHORTLISTED,
                comment=f"{COMMENT_MARKERS[tenant.letter]}: deltagaren vill gärna",
                coach_id=tenant.coach,
            )
    return world_rows


@pytest.fixture(scope="session")
def client(world: World, matcher: MatchingEngine, e2e_settings: Settings) -> Iterator[TestClient]:
    """One app over the shared engine for the session (its lifespan opens the database)."""
    with TestClient(create_app(e2e_settings, engine=matcher)) as test_client:
        yield test_client


@pytest.fixture
def fresh_app_client(matcher: MatchingEngine, e2e_settings: Settings) -> Iterator[TestClient]:
    """A new app (own metrics registry) over the shared engine."""
    with TestClient(create_app(e2e_settings, engine=matcher)) as test_client:
        yield test_client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
