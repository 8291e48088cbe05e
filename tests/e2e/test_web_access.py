"""The web pages over HTTP: who may open which page, CSRF, cookies, headers, validation.

The same world as the API tests (tenants A and B with marker words); users of tenant A log
in with a password through the login form, as a browser would. Behaviour in a real browser
(lanes, decisions, keyboard use) is in `tests/browser/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from matching.db.models import Opening, Participant, User
from matching.db.session import transaction
from matching.domain import Role
from matching.engine import MatchingEngine
from matching.settings import Settings
from matching.users import set_password
from tests import factories as f
from tests.e2e.conftest import (
    EMPLOYER_B_MARKER,
    PARTICIPANT_B_MARKER,
    World,
    unique,
)

PASSWORD = "webbsidor-prov-2026"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def usernames(world: World, e2e_session_factory: sessionmaker[Session]) -> dict[Role, str]:
    """Tenant A's coach and employer user and the data team, each with PASSWORD."""
    with transaction(e2e_session_factory) as session:
        users = {
            Role.COACH: session.get(User, world.a.coach),
            Role.EMPLOYER: session.scalars(
                sa.select(User).where(User.employer_id == world.a.employer)
            ).first(),
            Role.DATA_TEAM: session.scalars(
                sa.select(User).where(User.role == Role.DATA_TEAM)
            ).first(),
        }
        for user in users.values():
            assert user is not None
            set_password(session=session, user_id=user.id, password=PASSWORD)
        return {role: user.username for role, user in users.items() if user is not None}


@pytest.fixture
def browser(matcher: MatchingEngine, e2e_settings: Settings) -> Iterator[TestClient]:
    """A client with its own cookie jar, like one browser, that does not follow redirects."""
    with TestClient(create_app(e2e_settings, engine=matcher), follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns where the browser is sent."""
    form = client.get("/web/login")
    response = client.post(
        "/web/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def test_a_page_without_a_session_sends_the_browser_to_the_login_page(
    browser: TestClient,
) -> None:
    response = browser.get("/web/participants?q=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/web/login?next=/web/participants"
    assert browser.get("/").headers["location"] == "/web/"


def test_login_sets_a_locked_down_session_cookie_and_logout_ends_it(
    browser: TestClient, usernames: dict[Role, str]
) -> None:
    assert log_in(browser, usernames[Role.COACH]) == "/web/participants"
    cookie = next(c for c in browser.cookies.jar if c.name == "stegvis_session")
    assert cookie.path == "/web"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert browser.get("/web/participants").status_code == 200

    page = browser.get("/web/participants")
    ended = browser.post("/web/logout", data={"csrf_token": csrf_of(page.text)})
    assert ended.headers["location"] == "/web/login?klart=utloggad"
    # The old cookie is useless even if a copy was kept.
    browser.cookies.set("stegvis_session", cookie.value or "", path="/web")
    assert browser.get("/web/participants").status_code == 303


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    browser: TestClient, usernames: dict[Role, str]
) -> None:
    form = browser.get("/web/login")
    for username in (usernames[Role.COACH], "nobody-at-all"):
        response = browser.post(
            "/web/login",
            data={
                "username": username,
                "password": "fel-lösenord-123",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert response.status_code == 401
        assert "Fel användarnamn eller lösenord." in response.text
        assert "stegvis_session" not in response.headers.get("set-cookie", "")


def test_another_organisations_participant_is_a_not_found_page(
    browser: TestClient, world: World, usernames: dict[Role, str]
) -> None:
    log_in(browser, usernames[Role.COACH])
    own = browser.get(f"/web/participants/{world.a.participant}")
    assert own.status_code == 200
    assert world.a.participant_ref in own.text
    for path in (
        f"/web/participants/{world.b.participant}",
        f"/web/participants/{world.b.participant}/suggestions",
    ):
        response = browser.get(path)
        assert response.status_code == 404
        assert "Sidan finns inte" in response.text
        assert PARTICIPANT_B_MARKER not in response.text
        assert world.b.participant_ref not in response.text


def test_a_page_of_another_role_is_a_forbidden_page(
    browser: TestClient, usernames: dict[Role, str]
) -> None:
    assert log_in(browser, usernames[Role.EMPLOYER]) == "/web/openings"
    for path in ("/web/participants", "/web/models"):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "Åtkomst nekad" in response.text
        assert response.headers["content-type"].startswith("text/html")


def test_an_employer_cannot_open_another_employers_opening(
    browser: TestClient, world: World, usernames: dict[Role, str]
) -> None:
    log_in(browser, usernames[Role.EMPLOYER])
    listing = browser.get("/web/openings")
    assert EMPLOYER_B_MARKER not in listing.text
    assert browser.get(f"/web/openings/{world.a.opening}").status_code == 200
    response = browser.get(f"/web/openings/{world.b.opening}")
    assert response.status_code == 404
    assert EMPLOYER_B_MARKER not in response.text


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    browser: TestClient,
    world: World,
    usernames: dict[Role, str],
    e2e_session_factory: sessionmaker[Session],
) -> None:
    log_in(browser, usernames[Role.EMPLOYER])
    title = unique("Utan säkerhetskod")
    for token in (None, "0" * 64):
        data = {"title": title, "positions": "1"} | ({"csrf_token": token} if token else {})
        response = browser.post("/web/openings", data=data)
        assert response.status_code == 403
        assert "säkerhetskoden" in response.text
    with e2e_session_factory() as session:
        assert session.scalar(sa.select(Opening.id).where(Opening.title == title)) is None


def test_the_opening_form_says_what_is_wrong_next_to_each_field(
    browser: TestClient, usernames: dict[Role, str]
) -> None:
    log_in(browser, usernames[Role.EMPLOYER])
    form = browser.get("/web/openings/new")
    response = browser.post(
        "/web/openings",
        data={
            "csrf_token": csrf_of(form.text),
            "title": "",
            "hours_min": "30",
            "hours_max": "20",
            "positions": "två",
        },
    )
    assert response.status_code == 422
    html = response.text
    for field, message in (
        ("title", "Fyll i fältet."),
        ("hours_max", "Får inte vara mindre än det lägsta antalet."),
        ("positions", "Skriv ett heltal."),
    ):
        assert f'<p class="field-error" id="f-{field}-error">' in html, field
        assert message in html
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', html), field
    # What was typed is kept.
    assert 'value="två"' in html


def test_pages_carry_security_headers_and_are_not_in_the_api_document(
    browser: TestClient, usernames: dict[Role, str]
) -> None:
    log_in(browser, usernames[Role.DATA_TEAM])
    for path in ("/web/login", "/web/models", "/web/static/stegvis.css"):
        response = browser.get(path)
        assert response.status_code in (200, 503), path
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
    assert browser.get("/web/models").headers["cache-control"] == "no-store"
    paths = browser.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/web")]


@pytest.fixture
def own_participant(world: World, e2e_session_factory: sessionmaker[Session]) -> int:
    """A participant of tenant A for one test (with every consent, like the world's)."""
    with transaction(e2e_session_factory) as session:
        return f.make_participant(
            session,
            organisation_id=world.a.organisation,
            coach_id=world.a.coach,
            external_ref=unique("WEB"),
            preferred_occupations_text="Vill jobba som lagerarbetare",
            hours_min=20,
            hours_max=30,
        ).id


PROFILE = {
    "preferred_occupations_text": "Vill jobba som städare på kontor",
    "municipality": "Södertälje",
    "max_commute_km": "12,5",
    "hours_min": "20",
    "hours_max": "30",
    "goal": "competitive_job",
    "status": "active",
    "gender": "undisclosed",
    "accommodations": ["quiet_workplace"],
}


def test_a_coach_saves_a_profile_and_its_consent_decides_whether_suggestions_show(
    browser: TestClient,
    usernames: dict[Role, str],
    own_participant: int,
    e2e_session_factory: sessionmaker[Session],
) -> None:
    log_in(browser, usernames[Role.COACH])
    page = f"/web/participants/{own_participant}"
    token = csrf_of(browser.get(page).text)

    refused = browser.post(
        page, data=PROFILE | {"csrf_token": token, "hours_min": "35", "consents": ["matching"]}
    )
    assert refused.status_code == 422
    assert 'id="f-hours_max-error"' in refused.text
    assert "Får inte vara mindre än det lägsta antalet." in refused.text

    saved = browser.post(page, data=PROFILE | {"csrf_token": token, "consents": ["follow_up"]})
    assert saved.headers["location"] == f"{page}?klart=profil"
    with e2e_session_factory() as session:
        participant = session.get(Participant, own_participant)
        assert participant is not None
        assert (participant.hours_min, participant.hours_max) == (20, 30)
        assert participant.max_commute_km == 12.5
        assert participant.preferred_occupations_text == PROFILE["preferred_occupations_text"]
    shown = browser.get(f"{page}?klart=profil").text
    assert "Profilen är sparad." in shown
    assert 'value="matching" checked' not in shown
    assert 'value="follow_up" checked' in shown

    without_consent = browser.get(f"{page}/suggestions")
    assert without_consent.status_code == 409
    assert "inte samtyckt till matchning" in without_consent.text

    browser.post(page, data=PROFILE | {"csrf_token": token, "consents": ["matching"]})
    suggestions = browser.get(f"{page}/suggestions")
    assert suggestions.status_code == 200
    assert suggestions.text.count('<section class="lane"') == 2


def test_a_coach_records_an_outcome_and_a_missing_date_is_said_next_to_its_field(
    browser: TestClient, usernames: dict[Role, str], own_participant: int
) -> None:
    log_in(browser, usernames[Role.COACH])
    page = f"/web/participants/{own_participant}"
    token = csrf_of(browser.get(page).text)
    outcome = {"csrf_token": token, "kind": "job_start", "hours_per_week": "25"}

    missing = browser.post(f"{page}/outcomes", data=outcome | {"occurred_on": ""})
    assert missing.status_code == 422
    assert re.search(r'id="f-occurred_on-error">.*Fyll i fältet\.', missing.text)

    saved = browser.post(f"{page}/outcomes", data=outcome | {"occurred_on": "2026-11-02"})
    assert saved.headers["location"] == f"{page}?klart=utfall#utfall"
    shown = browser.get(page).text
    assert "Började arbeta" in shown
    assert "2026-11-02" in shown


def test_a_coach_searches_and_filters_their_participants(
    browser: TestClient, world: World, usernames: dict[Role, str]
) -> None:
    log_in(browser, usernames[Role.COACH])
    everyone = browser.get("/web/participants").text
    assert world.a.participant_ref in everyone
    assert world.b.participant_ref not in everyone

    found = browser.get("/web/participants", params={"q": world.a.participant_ref}).text
    assert f">{world.a.participant_ref}</a>" in found
    assert "AREF-0002" not in found

    training = browser.get("/web/participants", params={"goal": "work_training"}).text
    assert ">AREF-0002</a>" in training
    assert f">{world.a.participant_ref}</a>" not in training
    assert (
        "Inga deltagare matchar sökningen."
        in browser.get("/web/participants", params={"q": "finns-inte-alls"}).text
    )
