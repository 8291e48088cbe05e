"""Security headers on every response, CORS off unless configured, no stack traces, and no
participant text or reference in any log line over a whole coach's flow (at DEBUG)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.headers import API_POLICY
from matching.domain import Role
from matching.engine import MatchingEngine
from matching.settings import Environment, Settings
from tests.e2e.conftest import PARTICIPANT_A_MARKER, World, unique
from tests.e2e.test_flows import new_participant

COACH, ADMIN = Role.COACH, Role.ADMIN
SECRET_TEXT = "Hemlighetsfullt-tulpanlöksodlare"


def assert_secure(response: Any) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"]
    assert headers["x-request-id"]
    assert "traceback" not in response.text.lower()


@pytest.fixture
def broken_client(
    matcher: MatchingEngine, e2e_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """An app (in debug mode, which must change nothing) whose suggestions raise a bug
    whose message quotes participant text, as a driver's error might."""

    def broken(**_: Any) -> None:
        raise RuntimeError(f"internals: {SECRET_TEXT} SELECT * FROM participants")

    monkeypatch.setattr("api.routes.suggestions.rank", broken)
    settings = e2e_settings.model_copy(update={"debug": True})
    with TestClient(create_app(settings, engine=matcher)) as client:
        yield client


def test_every_kind_of_response_has_the_security_headers(
    client: TestClient, broken_client: TestClient, world: World
) -> None:
    coach = world.headers(COACH)
    responses = {
        "json": client.get(f"/participants/{world.a.participant}", headers=coach),
        "listing": client.get("/openings", headers=coach),
        "401": client.get("/me"),
        "403": client.get("/audit", headers=coach),
        "404": client.get("/participants/999999", headers=coach),
        "405": client.delete("/audit", headers=world.headers(ADMIN)),
        "413": client.post("/participants", headers=coach, json={"x": "y" * 70_000}),
        "422": client.get("/openings", headers=coach, params={"limit": 0}),
        "500": broken_client.get(f"/participants/{world.a.participant}/suggestions", headers=coach),
        "health": client.get("/health"),
        "metrics": client.get("/metrics"),
        "openapi": client.get("/openapi.json"),
    }
    for kind, response in responses.items():
        assert_secure(response)
        assert response.headers["content-security-policy"] == API_POLICY, kind
        assert response.headers["cache-control"] == "no-store", kind
        assert "strict-transport-security" not in response.headers, "no TLS in test"
    assert responses["500"].status_code == 500
    assert SECRET_TEXT not in responses["500"].text

    docs = client.get("/docs")
    assert_secure(docs)
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_pages_keep_their_own_policy(client: TestClient) -> None:
    page = client.get("/web/login")
    assert page.status_code == 200
    assert_secure(page)
    assert page.headers["content-security-policy"] != API_POLICY, "the page's own policy"


def test_production_sends_hsts(matcher: MatchingEngine, e2e_settings: Settings) -> None:
    settings = e2e_settings.model_copy(
        update={"environment": Environment.PRODUCTION, "secret_key": "p" * 8 + "q" * 32}
    )
    with TestClient(create_app(settings, engine=matcher)) as production:
        response = production.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_cors_is_off_unless_origins_are_configured(
    client: TestClient, matcher: MatchingEngine, e2e_settings: Settings, world: World
) -> None:
    preflight = {"Origin": "https://intranet.example", "Access-Control-Request-Method": "GET"}
    response = client.options("/openings", headers=preflight)
    assert response.status_code == 405
    response = client.get(
        "/openings", headers=world.headers(COACH) | {"Origin": preflight["Origin"]}
    )
    assert response.status_code == 200
    assert not [name for name in response.headers if name.startswith("access-control-")]

    settings = e2e_settings.model_copy(update={"cors_origins": ["https://intranet.example"]})
    with TestClient(create_app(settings, engine=matcher)) as configured:
        allowed = configured.options("/openings", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example"
        assert "access-control-allow-credentials" not in allowed.headers
        other = configured.get(
            "/openings", headers=world.headers(COACH) | {"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_a_bug_logs_neither_its_message_nor_a_traceback(
    broken_client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = broken_client.get(
            f"/participants/{world.a.participant}/suggestions", headers=world.headers(COACH)
        )
    assert response.status_code == 500
    assert response.json()["detail"] == "the request could not be completed"
    (line,) = [r for r in caplog.records if r.getMessage().startswith("unhandled ")]
    assert "RuntimeError" in line.getMessage()
    assert "/participants/{participant_id}/suggestions" in line.getMessage()
    assert line.exc_info is None
    assert SECRET_TEXT not in caplog.text
    assert "Traceback" not in caplog.text


def test_no_participant_text_or_reference_reaches_any_log(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole flow at DEBUG on every logger: create, read, suggest, decide, record an
    outcome, change, and the errors a coach can run into, each carrying the texts."""
    coach = world.headers(COACH)
    reference = unique("LOGGED-REF")
    texts = {
        "interests_text": f"Odlar {SECRET_TEXT} på balkongen",
        "accommodations_text": f"Behöver {SECRET_TEXT}-paus",
        "skills_text": f"Kan {PARTICIPANT_A_MARKER}",
    }
    with caplog.at_level(logging.DEBUG):
        participant = new_participant(client, world, external_ref=reference, **texts)
        path = f"/participants/{participant['id']}"
        assert client.get(path, headers=coach).status_code == 200
        slates = client.get(f"{path}/suggestions", headers=coach).json()
        suggestion = slates["lanes"][0]["suggestions"][0]["suggestion_id"]
        feedback = client.post(
            f"/suggestions/{suggestion}/feedback",
            headers=coach,
            json={"decision": "not_now", "comment": f"Vill inte just nu, {SECRET_TEXT}"},
        )
        assert feedback.status_code == 201
        outcome = client.post(
            f"{path}/outcomes",
            headers=coach,
            json={"kind": "interview", "occurred_at": "2026-11-01T10:00:00Z"},
        )
        assert outcome.status_code == 201
        changed = client.patch(path, headers=coach, json={"skills_text": f"Ny: {SECRET_TEXT}"})
        assert changed.status_code == 200
        errors = [
            client.post("/participants", headers=coach, json={"external_ref": reference}),
            client.patch(
                path, headers=coach, json={"hours_min": 41, "interests_text": SECRET_TEXT}
            ),
            client.post("/participants", headers=coach, json={"external_ref": SECRET_TEXT * 20}),
            client.post("/participants", headers=coach, json={"external_ref": reference, "x": 1}),
            client.post(
                "/participants",
                headers=coach | {"Content-Type": "application/json"},
                content=f'{{"skills_text": "{SECRET_TEXT}"'.encode(),
            ),
            client.get(f"{path}/suggestions", headers=coach, params={"lane": SECRET_TEXT}),
            client.get(f"{path}/suggestions", headers=world.headers(Role.EMPLOYER)),
        ]
        assert [e.status_code for e in errors] == [409, 422, 422, 422, 422, 422, 403]
    assert caplog.records, "the flow must have logged something to scan"
    for secret in (SECRET_TEXT, PARTICIPANT_A_MARKER, reference, "Vill inte just nu"):
        assert secret not in caplog.text, f"{secret!r} reached the logs"
