"""Browser fixtures: a real uvicorn on loopback and the system Chromium driven by Playwright.

The world is the retraining tests' small town (openings of four trades, ASF places, 24
participants) after four simulated weeks of coach decisions, so a trained candidate that
passes the promotion gates waits in a real MLflow registry for the data team. On top of it:
users with passwords (a coach, an employer, the data team), a participant who wants to be a
florist (no florist opening exists until the employer test publishes one) and another
organisation with its own participant. The app is started exactly as `stegvis serve` starts
it: its own matching engine and champion watcher.

Chromium must be installed (`make test` installs it); without it these tests fail.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy.orm import Session

from api.app import create_app
from matching.db import migrate
from matching.db.models import Employer, Participant, User
from matching.db.session import make_engine, make_session_factory
from matching.domain import Gender, Role
from matching.engine import MatchingEngine
from matching.settings import Settings
from matching.users import set_password
from tests import factories as f
from tests.integration.test_training import (
    NOW,
    ROUNDS,
    SODERTALJE,
    TINY,
    build_world,
    run_training,
    training_settings,
)
from training.quality import QualityBenchmark
from training.registry import ModelRegistry
from training.simulate import simulate

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "webbsidor-prov-2026"
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
#: The two screens the teams use: a small laptop and a phone.
LAPTOP = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
#: Attempts of 0.1 s each to wait for the server to start (the model loads first).
START_ATTEMPTS = 1800


@dataclass(frozen=True)
class Site:
    url: str
    settings: Settings
    usernames: dict[Role, str]
    #: Participants of the coach's organisation, one per test that changes one.
    participants: dict[str, tuple[int, str]]
    #: (id, reference) of another organisation's participant.
    other_participant: tuple[int, str]


def _add_people(session: Session, coach_id: int) -> tuple[dict[Role, str], dict[str, int], int]:
    organisation = session.get(User, coach_id)
    assert organisation is not None
    org_id = organisation.organisation_id
    employer_id = session.scalars(sa.select(Employer.id).order_by(Employer.id)).first()
    people = {
        Role.COACH: f.make_user(
            session, username="coach.sodertalje", display_name="Kim Coach", organisation_id=org_id
        ),
        Role.EMPLOYER: f.make_user(
            session,
            role=Role.EMPLOYER,
            username="arbetsgivare.lager",
            display_name="Alva Arbetsgivare",
            employer_id=employer_id,
        ),
        Role.DATA_TEAM: f.make_user(
            session, role=Role.DATA_TEAM, username="datateamet", display_name="Dana Data"
        ),
    }
    for user in people.values():
        set_password(session=session, user_id=user.id, password=PASSWORD)
    florist = f.make_participant(
        session,
        organisation_id=org_id,
        coach_id=people[Role.COACH].id,
        external_ref="BLOMMA-01",
        preferred_occupations_text="Vill jobba som florist och binda buketter i en blomsterbutik",
        preferred_tasks_text="Binda buketter, sköta växter och hjälpa kunder",
        skills_text="Har gått en kurs i blomsterbindning",
        home_lat=SODERTALJE[0],
        home_lon=SODERTALJE[1],
        max_commute_km=15.0,
        hours_min=20,
        hours_max=30,
        gender=Gender.WOMAN,
    ).id
    other_org = f.make_organisation(session, name="Samordningsförbundet Annanstad").id
    other_coach = f.make_user(session, organisation_id=other_org).id
    other = f.make_participant(
        session,
        organisation_id=other_org,
        coach_id=other_coach,
        external_ref="ANNAN-0001",
        preferred_occupations_text="Vill jobba som lagerarbetare (annan organisation)",
    ).id
    return {r: u.username for r, u in people.items()}, {"florist": florist}, other


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The world in a temporary SQLite database and MLflow store, served on loopback."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'stegvis.db'}"
    migrate.upgrade(url)
    settings = training_settings(url, folder, folder / "mlflow.db")
    database = make_engine(url)
    factory = make_session_factory(database)
    with factory.begin() as session:
        world = build_world(session)
    simulate(
        session_factory=factory,
        engine=MatchingEngine.start(settings, factory),
        rounds=ROUNDS,
        participants_per_round=len(world.participants),
        seed=11,
        end=NOW,
    )
    benchmark = QualityBenchmark.build(Settings(data_dir=folder / "quality"), seed=7, size=TINY)
    trained = run_training(settings, factory, ModelRegistry(settings), benchmark)
    assert trained.gates.passed, trained.gates.summary()
    assert not trained.promoted
    with factory.begin() as session:
        usernames, extra, other = _add_people(session, world.coach)
        picked = {"review": 0, "keyboard": 2, "csrf": 4}
        refs = {
            row.id: row.external_ref
            for row in session.execute(sa.select(Participant.id, Participant.external_ref))
        }
        participants = {
            name: (world.participants[i], refs[world.participants[i]]) for name, i in picked.items()
        }
        participants["florist"] = (extra["florist"], refs[extra["florist"]])
        other_participant = (other, refs[other])
    database.dispose()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        for _ in range(START_ATTEMPTS):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.1)
        assert server.started, "the app did not start"
        yield Site(
            url=f"http://127.0.0.1:{port}",
            settings=settings,
            usernames=usernames,
            participants=participants,
            other_participant=other_participant,
        )
        server.should_exit = True
        thread.join()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser, site: Site) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) on a small laptop's screen."""
    context = chromium.new_context(base_url=site.url, viewport=LAPTOP, locale="sv-SE")
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def log_in(page: Page, site: Site, role: Role) -> None:
    """Log in through the form as the user of `role`; lands on the role's first page."""
    page.goto("/web/login")
    page.get_by_label("Användarnamn").fill(site.usernames[role])
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()
