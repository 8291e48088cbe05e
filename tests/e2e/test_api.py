"""Tokens, errors as problem+json, limits, pagination, the audit log, the export, operations."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from matching.db.models import ApiToken, AuditEntry, Participant
from matching.db.session import transaction
from matching.domain import Role
from matching.engine import MatchingEngine
from matching.settings import Environment, Settings
from matching.users import DEMO_TOKENS, ensure_demo_tokens, token_hash
from tests import factories as f
from tests.e2e.conftest import (
    COMMENT_MARKERS,
    PARTICIPANT_A_MARKER,
    World,
    unique,
)
from tests.e2e.test_flows import new_participant, suggestions

COACH, EMPLOYER, DATA, ADMIN = Role.COACH, Role.EMPLOYER, Role.DATA_TEAM, Role.ADMIN


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + slug)
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    return body


def audit_count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0)


# --- tokens -------------------------------------------------------------------------------------


def new_user_token(client: TestClient, world: World) -> tuple[int, dict[str, Any]]:
    user = client.post(
        "/users",
        headers=world.headers(ADMIN),
        json={"username": unique("tokenuser").lower(), "role": "data_team"},
    ).json()
    issued = client.post(
        f"/users/{user['id']}/tokens", headers=world.headers(ADMIN), json={"name": "laptop"}
    )
    assert issued.status_code == 201
    return user["id"], issued.json()


def test_an_issued_token_is_shown_once_and_stored_only_as_a_hash(
    client: TestClient, world: World, e2e_session_factory: sessionmaker[Session]
) -> None:
    user_id, issued = new_user_token(client, world)
    secret = issued["token"]
    assert secret.startswith("stv_")
    assert len(secret) >= 40
    assert issued["prefix"] == secret[:12]
    assert client.get("/me", headers=bearer(secret)).json()["id"] == user_id
    listed = client.get(f"/users/{user_id}/tokens", headers=world.headers(ADMIN))
    assert secret not in listed.text
    assert token_hash(secret) not in listed.text
    assert listed.json()[0]["last_used_at"] is not None
    with e2e_session_factory() as session:
        stored = session.get(ApiToken, issued["id"])
        assert stored is not None
        assert stored.token_hash == token_hash(secret)
        assert secret not in {stored.token_hash, stored.prefix, stored.name}


def test_revoked_expired_and_deactivated_tokens_get_401(
    client: TestClient, world: World, e2e_session_factory: sessionmaker[Session]
) -> None:
    user_id, issued = new_user_token(client, world)
    revoked = client.delete(f"/users/{user_id}/tokens/{issued['id']}", headers=world.headers(ADMIN))
    assert revoked.status_code == 204
    body = assert_problem(
        client.get("/me", headers=bearer(issued["token"])), 401, "unauthenticated"
    )
    assert "revoked" in body["detail"]

    user_id, issued = new_user_token(client, world)
    with transaction(e2e_session_factory) as session:
        token = session.get(ApiToken, issued["id"])
        assert token is not None
        token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    body = assert_problem(
        client.get("/me", headers=bearer(issued["token"])), 401, "unauthenticated"
    )
    assert "expired" in body["detail"]

    user_id, issued = new_user_token(client, world)
    response = client.patch(
        f"/users/{user_id}", headers=world.headers(ADMIN), json={"is_active": False}
    )
    assert response.json()["is_active"] is False
    assert_problem(client.get("/me", headers=bearer(issued["token"])), 401, "unauthenticated")


def test_a_token_of_another_user_cannot_be_revoked_through_the_wrong_user(
    client: TestClient, world: World
) -> None:
    response = client.delete(
        f"/users/{world.a.target_user}/tokens/{world.b.target_token}",
        headers=world.headers(ADMIN),
    )
    assert_problem(response, 404, "not-found")


def test_demo_tokens_exist_only_in_development(
    client: TestClient, world: World, e2e_session_factory: sessionmaker[Session]
) -> None:
    with transaction(e2e_session_factory) as session:
        f.make_user(session, role=Role.ADMIN, username="admin")
    with transaction(e2e_session_factory) as session:
        given = ensure_demo_tokens(session=session, environment=Environment.DEVELOPMENT)
    assert given == {"admin": DEMO_TOKENS["admin"]}
    # The e2e app runs in the test environment: the published demo token is refused there.
    body = assert_problem(
        client.get("/me", headers=bearer(DEMO_TOKENS["admin"])), 401, "unauthenticated"
    )
    assert "demo" in body["detail"]


# --- errors and limits --------------------------------------------------------------------------


def test_validation_errors_name_the_field(client: TestClient, world: World) -> None:
    response = client.post(
        "/participants",
        headers=world.headers(COACH),
        json={"external_ref": unique("BAD"), "hours_min": 30, "hours_max": 20},
    )
    body = assert_problem(response, 422, "invalid-input")
    assert body["errors"][0]["field"] == "hours_max"
    assert body["errors"][0]["location"] == "body"

    response = client.post(
        "/participants", headers=world.headers(COACH), json={"external_ref": "x", "shoe": 42}
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "shoe"

    response = client.post(
        "/participants",
        headers=world.headers(COACH) | {"Content-Type": "application/json"},
        content=b"{not json",
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "body"


def test_an_update_is_validated_with_the_stored_record(client: TestClient, world: World) -> None:
    participant = new_participant(client, world, hours_min=25, hours_max=35)
    response = client.patch(
        f"/participants/{participant['id']}",
        headers=world.headers(COACH),
        json={"hours_max": 20},
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "hours_max"
    stored = client.get(f"/participants/{participant['id']}", headers=world.headers(COACH))
    assert stored.json()["hours_max"] == 35


def test_a_failed_request_stores_nothing(
    client: TestClient, world: World, e2e_session_factory: sessionmaker[Session]
) -> None:
    participant = new_participant(client, world)
    audits = audit_count(e2e_session_factory)
    response = client.patch(
        f"/participants/{participant['id']}",
        headers=world.headers(COACH),
        # a valid profile change and consent change, then a coach of another organisation
        json={"hours_min": 10, "consents": ["matching"], "coach_id": world.b.coach},
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "coach_id"
    with e2e_session_factory() as session:
        stored = session.get(Participant, participant["id"])
        assert stored is not None
        assert stored.hours_min == participant["hours_min"]
        assert all(c.withdrawn_at is None for c in stored.consents)
    assert audit_count(e2e_session_factory) == audits

    reference = unique("DUP")
    new_participant(client, world, external_ref=reference)
    with e2e_session_factory() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(Participant))
    response = client.post(
        "/participants", headers=world.headers(COACH), json={"external_ref": reference}
    )
    assert_problem(response, 409, "conflict")
    with e2e_session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Participant)) == count


def test_limits_answer_413_and_422_not_500(client: TestClient, world: World) -> None:
    big = {"external_ref": unique("BIG"), "skills_text": "x" * 70_000}
    response = client.post("/participants", headers=world.headers(COACH), json=big)
    assert_problem(response, 413, "content-too-large")

    def chunks() -> Iterator[bytes]:
        yield b'{"external_ref": "CHUNKED-1", "skills_text": "'
        for _ in range(80):
            yield b"y" * 1000
        yield b'"}'

    response = client.post(
        "/participants",
        headers=world.headers(COACH) | {"Content-Type": "application/json"},
        content=chunks(),
    )
    assert_problem(response, 413, "content-too-large")

    response = client.post(
        "/participants",
        headers=world.headers(COACH),
        json={"external_ref": unique("LONG"), "skills_text": "x" * 5_001},
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "skills_text"

    response = client.get("/openings", headers=world.headers(COACH), params={"limit": 101})
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "limit"
    response = client.get(
        f"/participants/{world.a.participant}/suggestions",
        headers=world.headers(COACH),
        params={"k": 51},
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "k"
    response = client.get(
        f"/participants/{world.a.participant}/suggestions",
        headers=world.headers(COACH),
        params={"lane": "boats"},
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "lane"
    response = client.get("/openings", headers=world.headers(COACH), params={"cursor": "bogus!"})
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "cursor"


def test_http_errors_are_problems(client: TestClient, world: World) -> None:
    assert_problem(client.get("/no-such-thing", headers=world.headers(COACH)), 404, "not-found")
    assert_problem(
        client.put("/participants", headers=world.headers(COACH)), 405, "method-not-allowed"
    )
    response = client.get("/participants/not-a-number", headers=world.headers(COACH))
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "participant_id"


def test_suggesting_without_matching_consent_is_a_409(client: TestClient, world: World) -> None:
    response = client.get(
        f"/participants/{world.no_consent_participant}/suggestions", headers=world.headers(COACH)
    )
    body = assert_problem(response, 409, "consent-missing")
    assert body["scope"] == "matching"


# --- audit and export ---------------------------------------------------------------------------


def test_every_read_of_a_participant_is_audited(client: TestClient, world: World) -> None:
    participant = new_participant(client, world)
    client.get(f"/participants/{participant['id']}", headers=world.headers(COACH))
    client.get("/participants", headers=world.headers(COACH), params={"limit": 100})
    client.patch(
        f"/participants/{participant['id']}", headers=world.headers(COACH), json={"hours_min": 21}
    )
    rows = client.get(
        "/audit",
        headers=world.headers(ADMIN),
        params={"participant_id": participant["id"], "limit": 100},
    ).json()["items"]
    assert [r["action"] for r in rows] == ["create", "read", "read", "update"]
    assert rows[-1]["fields"] == ["hours_min"]
    assert "skills_text" in rows[1]["fields"]
    assert len({r["request_id"] for r in rows}) == 4


def test_the_audit_log_cannot_be_changed_through_the_api(client: TestClient, world: World) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = client.request(method, "/audit", headers=world.headers(ADMIN), json={})
        assert_problem(response, 405, "method-not-allowed")
    assert_problem(client.delete("/audit/1", headers=world.headers(ADMIN)), 404, "not-found")


def export_all(client: TestClient, world: World) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        response = client.get("/exports/training", headers=world.headers(DATA), params=params)
        assert response.status_code == 200
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_the_export_is_pseudonymous_and_follows_consent(client: TestClient, world: World) -> None:
    consenting = new_participant(client, world)
    refusing = new_participant(client, world, consents=["matching", "follow_up"])
    shown_consenting = suggestions(client, world, consenting["id"], lane="jobs")
    shown_refusing = suggestions(client, world, refusing["id"], lane="jobs")
    first = shown_consenting["lanes"][0]["suggestions"][0]
    client.post(
        f"/suggestions/{first['suggestion_id']}/feedback",
        headers=world.headers(COACH),
        json={"decision": "shortlisted", "comment": "Hemlig kommentar om deltagaren"},
    )

    exported = export_all(client, world)
    by_suggestion = {item["suggestion_id"]: item for item in exported}
    for shown in shown_consenting["lanes"][0]["suggestions"]:
        assert shown["suggestion_id"] in by_suggestion
    for shown in shown_refusing["lanes"][0]["suggestions"]:
        assert shown["suggestion_id"] not in by_suggestion
    mine = by_suggestion[first["suggestion_id"]]
    assert mine["decisions"][0]["decision"] == "shortlisted"
    assert mine["feature_values"] == first["feature_values"]
    assert mine["contributions"] == first["contributions"]
    assert "participant_id" not in mine
    assert mine["participant_key"] != str(consenting["id"])
    text = str(exported)
    for secret in ("Hemlig kommentar", consenting["external_ref"], PARTICIPANT_A_MARKER):
        assert secret not in text
    assert all(marker not in text for marker in COMMENT_MARKERS.values())

    client.patch(
        f"/participants/{consenting['id']}",
        headers=world.headers(COACH),
        json={"consents": ["matching", "follow_up"]},
    )
    remaining = {item["suggestion_id"] for item in export_all(client, world)}
    assert first["suggestion_id"] not in remaining, "a withdrawn consent takes effect at once"


# --- listing --------------------------------------------------------------------------------------


def test_pages_walk_every_item_once(client: TestClient, world: World) -> None:
    everything = client.get("/openings", headers=world.headers(COACH), params={"limit": 100})
    wanted = [item["id"] for item in everything.json()["items"]]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/openings", headers=world.headers(COACH), params=params).json()
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == wanted == sorted(wanted)


def test_listings_filter(client: TestClient, world: World) -> None:
    params = {"occupation": "KF64_AvU_S4N", "status": "open", "limit": 100}
    cleaning = client.get("/openings", headers=world.headers(COACH), params=params).json()
    assert cleaning["items"]
    assert {item["occupation_id"] for item in cleaning["items"]} == {"KF64_AvU_S4N"}
    nowhere = client.get(
        "/openings", headers=world.headers(COACH), params={"municipality": "Kiruna"}
    ).json()
    assert nowhere == {"items": [], "next_cursor": None}
    own = client.get("/openings", headers=world.headers(EMPLOYER), params={"limit": 100}).json()
    assert {item["employer_id"] for item in own["items"]} == {world.a.employer}
    coaches = client.get(
        "/users", headers=world.headers(ADMIN), params={"role": "coach", "limit": 100}
    ).json()
    assert {item["role"] for item in coaches["items"]} == {"coach"}


# --- operations -------------------------------------------------------------------------------


def test_health_ready_and_metrics(fresh_app_client: TestClient, world: World) -> None:
    client = fresh_app_client
    assert client.get("/health").json() == {"status": "ok", "process": str(os.getpid())}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "model": "ok", "index": "ok"}
    suggestions(client, world, world.a.participant)
    metrics = client.get("/metrics").text
    assert 'stegvis_model_info{version="handset-1"} 1.0' in metrics
    assert 'stegvis_suggestion_slates_total{lane="jobs"} 1.0' in metrics
    assert 'stegvis_suggestion_slates_total{lane="asf"} 1.0' in metrics
    assert 'stegvis_suggestions_total{lane="jobs"}' in metrics
    assert (
        'stegvis_http_request_duration_seconds_count{method="GET",'
        'route="/participants/{participant_id}/suggestions",status="200"} 1.0'
    ) in metrics


def test_logs_are_structured_and_hold_no_participant_text(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="stegvis.api"):
        response = client.get(
            f"/participants/{world.a.participant}",
            headers=world.headers(COACH) | {"X-Request-ID": "trace-123"},
        )
    assert response.headers["x-request-id"] == "trace-123"
    (line,) = [r.getMessage() for r in caplog.records if "request_id=trace-123" in r.getMessage()]
    assert "route=/participants/{participant_id}" in line
    assert "status=200" in line
    assert "role=coach" in line
    assert "latency_ms=" in line
    assert PARTICIPANT_A_MARKER not in caplog.text
    assert "lagerarbetare" not in caplog.text


def test_the_openapi_document_is_complete(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            body = operation.get("requestBody")
            if body:
                schema = body["content"]["application/json"]["schema"]
                name = schema["$ref"].rsplit("/", 1)[-1]
                assert document["components"]["schemas"][name].get("examples"), name
            if path not in ("/health", "/ready", "/metrics"):
                assert {"401", "403", "422"} <= set(operation["responses"]), (method, path)
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("", "sv"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("sv-SE,sv;q=0.9,en;q=0.8", "sv"),
        ("de-DE, en;q=0.5, sv;q=0.4", "en"),
        ("fr", "sv"),
        ("en;q=0.2, sv;q=0.8", "sv"),
        ("en;q=bogus", "sv"),
    ],
)
def test_language_follows_accept_language(
    client: TestClient, world: World, header: str, language: str
) -> None:
    response = client.get(
        f"/participants/{world.a.participant}/suggestions",
        headers=world.headers(COACH) | {"Accept-Language": header},
        params={"lane": "asf", "k": 1},
    )
    assert response.json()["language"] == language
    assert response.headers["content-language"] == language


def test_a_bug_is_a_500_problem_without_details(
    matcher: MatchingEngine, e2e_settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("secret internals: Ankdamm SELECT * FROM participants")

    monkeypatch.setattr("api.routes.suggestions.rank", broken)
    with TestClient(
        create_app(e2e_settings, engine=matcher), raise_server_exceptions=False
    ) as client:
        response = client.get(
            f"/participants/{world.a.participant}/suggestions", headers=world.headers(COACH)
        )
    body = assert_problem(response, 500, "internal")
    assert "secret internals" not in response.text
    assert body["request_id"]


def test_concurrent_requests_all_succeed(client: TestClient, world: World) -> None:
    """Suggestions (which write) and changes at once: no request fails on a busy database."""
    participants = [new_participant(client, world)["id"] for _ in range(4)]
    statuses: list[int] = []

    def coach(participant: int) -> None:
        for _ in range(3):
            response = client.get(
                f"/participants/{participant}/suggestions", headers=world.headers(COACH)
            )
            statuses.append(response.status_code)

    def employer() -> None:
        for n in range(3):
            response = client.post(
                "/openings",
                headers=world.headers(EMPLOYER),
                json={"title": f"Lagerarbetare samtidigt {n}", "municipality": "Södertälje"},
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=coach, args=(p,)) for p in participants]
    threads.append(threading.Thread(target=employer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 12 + [201] * 3


def test_references_to_another_tenant_in_a_body_are_refused(
    client: TestClient, world: World
) -> None:
    response = client.post(
        f"/participants/{world.a.participant}/outcomes",
        headers=world.headers(COACH),
        json={
            "kind": "interview",
            "occurred_at": "2026-11-01T10:00:00Z",
            "suggestion_id": world.b.suggestion,
        },
    )
    assert_problem(response, 404, "not-found")
    response = client.post(
        "/participants",
        headers=world.headers(COACH),
        json={"external_ref": unique("XT"), "coach_id": world.b.coach},
    )
    assert assert_problem(response, 422, "invalid-input")["errors"][0]["field"] == "coach_id"
    response = client.get(
        "/participants",
        headers=world.headers(COACH),
        params={"coach_id": world.b.coach, "limit": 100},
    )
    assert response.json()["items"] == [], "filters never widen the tenant"
