"""Bad input: each a 4xx problem+json naming the field, never a 500, and bounded memory.

Oversized and endless bodies, huge `k` and page sizes, ids past the database's integer,
deeply nested JSON, invalid UTF-8 and NUL characters, texts over the limit (and long texts
within it, which the encoder truncates), coordinates out of range, numbers that are not
finite, unknown enum values, and values of the wrong JSON type.
"""

from __future__ import annotations

import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.problems import MAX_BODY_BYTES
from matching.domain import Role
from matching.engine import MatchingEngine
from matching.schemas import MAX_TEXT, ParticipantProfile
from tests.e2e.conftest import World, unique
from tests.e2e.test_flows import new_participant

COACH, EMPLOYER, ADMIN = Role.COACH, Role.EMPLOYER, Role.ADMIN
TEXT_FIELDS = [name for name in ParticipantProfile.model_fields if name.endswith("_text")]


def problem_field(response: Any, status: int = 422) -> str:
    """The first field a problem names, after checking it is a problem of `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    field: str = body["errors"][0]["field"] if status == 422 else ""
    return field


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"k": 10**30}, "k"),
        ({"k": 51}, "k"),
        ({"k": 0}, "k"),
        ({"k": "ten"}, "k"),
        ({"k": 1.5}, "k"),
        ({"lane": "boats"}, "lane"),
    ],
)
def test_suggestion_parameters_out_of_range(
    client: TestClient, world: World, params: dict[str, Any], field: str
) -> None:
    response = client.get(
        f"/participants/{world.a.participant}/suggestions",
        headers=world.headers(COACH),
        params=params,
    )
    assert problem_field(response) == field


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/openings", {"limit": 10**9}, "limit"),
        ("/openings", {"limit": 101}, "limit"),
        ("/openings", {"limit": -1}, "limit"),
        ("/openings", {"cursor": "x" * 65}, "cursor"),
        ("/openings", {"employer_id": 2**63}, "employer_id"),
        ("/openings", {"status": "deleted"}, "status"),
        ("/openings", {"municipality": "x" * 65}, "municipality"),
        ("/participants", {"coach_id": 10**40}, "coach_id"),
        ("/participants", {"goal": "retirement"}, "goal"),
        ("/participants/99999999999999999999", {}, "participant_id"),
        ("/participants/0", {}, "participant_id"),
        ("/openings/-5", {}, "opening_id"),
    ],
)
def test_query_and_path_values_out_of_range(
    client: TestClient, world: World, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(path, headers=world.headers(COACH), params=params)
    assert problem_field(response) == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"home_lat": 91.0, "home_lon": 17.6}, "home_lat"),
        ({"home_lat": 59.2, "home_lon": -180.5}, "home_lon"),
        ({"home_lat": 59.2}, "home_lon"),
        ({"max_commute_km": -3}, "max_commute_km"),
        ({"hours_min": 10**12}, "hours_min"),
        ({"hours_min": "30"}, "hours_min"),
        ({"hours_min": 30.0}, "hours_min"),
        ({"hours_min": True}, "hours_min"),
        ({"no_nights": 1}, "no_nights"),
        ({"goal": "retirement"}, "goal"),
        ({"consents": ["matching", "everything"]}, "consents.1"),
        ({"gender": 7}, "gender"),
        ({"coach_id": 2**31}, "coach_id"),
        ({"skills_text": ["a", "list"]}, "skills_text"),
        ({"skills_text": "x" * (MAX_TEXT + 1)}, "skills_text"),
        ({"interests_text": "y" * 60_000}, "interests_text"),
        ({"municipality": " " * 10}, "municipality"),
        ({"municipality": " " * 65 + "Nykvarn"}, "municipality"),
        ({"shoe_size": 42}, "shoe_size"),
    ],
)
def test_participant_bodies_name_the_bad_field(
    client: TestClient, world: World, fields: dict[str, Any], field: str
) -> None:
    body = {"external_ref": unique("BAD")} | fields
    response = client.post("/participants", headers=world.headers(COACH), json=body)
    assert problem_field(response) == field


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_that_are_not_finite_are_refused(
    client: TestClient, world: World, literal: str
) -> None:
    """Python's JSON parser reads these; no coordinate or hour count may be one."""
    body = f'{{"external_ref": "{unique("NAN")}", "home_lat": {literal}, "home_lon": 17.6}}'
    response = client.post(
        "/participants",
        headers=world.headers(COACH) | {"Content-Type": "application/json"},
        content=body.encode(),
    )
    assert problem_field(response) == "home_lat"


FEEDBACK = "/suggestions/{suggestion}/feedback"
OUTCOMES = "/participants/{participant}/outcomes"
WHEN = "2026-11-01T10:00:00Z"


@pytest.mark.parametrize(
    ("path", "role", "body", "field"),
    [
        (FEEDBACK, COACH, {"decision": "maybe"}, "decision"),
        (FEEDBACK, COACH, {"decision": "never", "reason_code": 5}, "reason_code"),
        (FEEDBACK, COACH, {"decision": "never", "comment": "c" * 2001}, "comment"),
        (OUTCOMES, COACH, {"kind": "promotion", "occurred_at": WHEN}, "kind"),
        (OUTCOMES, COACH, {"kind": "interview", "occurred_at": "yesterday"}, "occurred_at"),
        (OUTCOMES, COACH, {"kind": "interview", "occurred_at": WHEN[:-1]}, "occurred_at"),
        (
            OUTCOMES,
            COACH,
            {"kind": "interview", "occurred_at": WHEN, "suggestion_id": 2**40},
            "suggestion_id",
        ),
        ("/openings", EMPLOYER, {"title": "Lager", "lat": -91, "lon": 17.0}, "lat"),
        ("/openings", EMPLOYER, {"title": "Lager", "positions": 0}, "positions"),
        ("/openings", EMPLOYER, {"title": "Lager", "status": "sold"}, "status"),
        ("/openings", EMPLOYER, {"title": "  "}, "title"),
        ("/users", ADMIN, {"username": "new.user.x", "role": "superuser"}, "role"),
        (
            "/users",
            ADMIN,
            {"username": "new.user.y", "role": "admin", "organisation_id": -1},
            "organisation_id",
        ),
    ],
)
def test_other_bodies_name_the_bad_field(
    client: TestClient, world: World, path: str, role: Role, body: dict[str, Any], field: str
) -> None:
    url = path.format(suggestion=world.a.suggestion, participant=world.a.participant)
    response = client.post(url, headers=world.headers(role), json=body)
    assert problem_field(response) == field


@pytest.mark.parametrize(
    "content",
    [
        b'{"external_ref": "UTF-\xff\xfe"}',
        b"\xef\xbb\xbf\xc3\x28",
        b'{"external_ref": "' + b"\xc0" * 100 + b'"}',
    ],
)
def test_invalid_utf8_names_the_body(client: TestClient, world: World, content: bytes) -> None:
    response = client.post(
        "/participants",
        headers=world.headers(COACH) | {"Content-Type": "application/json"},
        content=content,
    )
    assert problem_field(response) == "body"


@pytest.mark.parametrize("depth", [50, 5_000, 30_000])
def test_deeply_nested_json_is_refused(client: TestClient, world: World, depth: int) -> None:
    """Nesting deeper than the parser's recursion limit is not JSON the API reads; a
    shallower one is the wrong shape for the field it is in."""
    nested = "[" * depth + "]" * depth
    body = f'{{"external_ref": "{unique("DEEP")}", "consents": {nested}}}'.encode()
    assert len(body) < MAX_BODY_BYTES
    response = client.post(
        "/participants",
        headers=world.headers(COACH) | {"Content-Type": "application/json"},
        content=body,
    )
    assert problem_field(response) in ("consents.0", "body")


@pytest.mark.parametrize(
    "fields",
    [
        {"skills_text": "truck\x00kort"},
        {"municipality": "Söder\x00tälje"},
        {"external_ref": "NUL\x00REF"},
    ],
)
def test_nul_characters_are_refused_by_name(
    client: TestClient, world: World, fields: dict[str, Any]
) -> None:
    """PostgreSQL cannot store NUL in text; every backend refuses it the same way."""
    body = {"external_ref": unique("NUL")} | fields
    response = client.post("/participants", headers=world.headers(COACH), json=body)
    assert problem_field(response) == next(iter(fields))


def test_nul_in_a_filter_is_refused(client: TestClient, world: World) -> None:
    response = client.get(
        "/openings", headers=world.headers(COACH), params={"municipality": "Söder\x00tälje"}
    )
    assert problem_field(response) == "municipality"


def test_long_texts_within_the_limit_are_truncated_by_the_encoder(
    client: TestClient, world: World, matcher: MatchingEngine
) -> None:
    """Every text at its limit: stored whole, encoded from its beginning, suggestions work."""
    words = " ".join(f"lagerarbete{n}" for n in range(MAX_TEXT))[:MAX_TEXT]
    participant = new_participant(client, world, **dict.fromkeys(TEXT_FIELDS, words))
    assert participant["skills_text"] == words
    response = client.get(
        f"/participants/{participant['id']}/suggestions",
        headers=world.headers(COACH),
        params={"k": 50},
    )
    assert response.status_code == 200, response.text
    assert response.json()["lanes"][0]["suggestions"]

    encoder = matcher.encoder
    tail = " helt annan text om trädgårdsskötsel och blommor"
    np.testing.assert_array_equal(encoder.encode_one(words), encoder.encode_one(words + tail))


def test_an_endless_body_is_cut_off_at_the_limit(client: TestClient, world: World) -> None:
    """A body that never ends is refused after the limit; the rest is never read."""
    chunk = b"x" * 4096
    received = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/participants",
        "raw_path": b"/participants",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {world.token(COACH)}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }
    # In a thread of its own: an earlier test (Playwright's sync API) may have left an
    # event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, client.app, scope, receive, send).result()
    assert messages[0]["status"] == 413
    assert received <= MAX_BODY_BYTES + len(chunk)


def test_memory_of_a_maximal_request_stays_bounded(client: TestClient, world: World) -> None:
    """Peak Python memory of the largest request the API accepts (a profile at every text
    limit, then 50 suggestions per lane) stays bounded (about 6 MiB measured)."""
    words = ("packa plocka truck " * 400)[:MAX_TEXT]
    body = {
        "external_ref": unique("MAX"),
        "consents": ["matching"],
        **dict.fromkeys(TEXT_FIELDS, words),
    }
    tracemalloc.start()
    try:
        created = client.post("/participants", headers=world.headers(COACH), json=body)
        assert created.status_code == 201, created.text
        response = client.get(
            f"/participants/{created.json()['id']}/suggestions",
            headers=world.headers(COACH),
            params={"k": 50},
        )
        assert response.status_code == 200
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB"
