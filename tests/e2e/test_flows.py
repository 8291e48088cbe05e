"""The coach's and the employer's work over HTTP, end to end, as a user would notice it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from embeddings.texts import content_hash, opening_text
from matching.db.models import Opening
from matching.domain import Lane, Role
from matching.engine import MatchingEngine
from matching.features import FEATURES
from tests.e2e.conftest import SODERTALJE, World, unique

COACH, EMPLOYER, ASF, ADMIN = Role.COACH, Role.EMPLOYER, Role.ASF_PROVIDER, Role.ADMIN
FARRIER = {"occupation_id": "Tufb_JbW_wS6", "occupation_label": "Hovslagare", "ssyk_code": "6121"}
SOON = (datetime.now(UTC) + timedelta(days=30)).isoformat()


def farrier_opening(title: str) -> dict[str, Any]:
    """An opening for a farrier near Södertälje, open for a month."""
    return {
        "title": title,
        "description": "Vi söker en hovslagare som skor och verkar ridskolans hästar.",
        **FARRIER,
        "municipality": "Södertälje",
        "lat": SODERTALJE[0] + 0.02,
        "lon": SODERTALJE[1],
        "hours_min": 20,
        "hours_max": 40,
        "expires_at": SOON,
    }


def new_participant(client: httpx.Client, world: World, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": unique("FLOW"),
        "municipality": "Södertälje",
        "home_lat": SODERTALJE[0],
        "home_lon": SODERTALJE[1],
        "max_commute_km": 25,
        "preferred_occupations_text": "Vill jobba som lagerarbetare",
        "preferred_tasks_text": "Plocka och packa varor",
        "skills_text": "Har truckkort",
        "hours_min": 20,
        "hours_max": 40,
        "consents": ["matching", "follow_up", "model_training"],
    }
    response = client.post("/participants", headers=world.headers(COACH), json=body | fields)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def suggestions(
    client: TestClient, world: World, participant_id: int, **params: Any
) -> dict[str, Any]:
    response = client.get(
        f"/participants/{participant_id}/suggestions",
        headers=world.headers(COACH) | params.pop("headers", {}),
        params=params,
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def item_ids(slates: dict[str, Any], lane: str = "jobs") -> list[int]:
    (slate,) = [s for s in slates["lanes"] if s["lane"] == lane]
    return [s["item"]["id"] for s in slate["suggestions"]]


def test_coach_flow(client: TestClient, world: World) -> None:
    participant = new_participant(client, world)
    pid = participant["id"]
    assert participant["coach_id"] is not None
    assert {c["scope"] for c in participant["consents"] if c["active"]} == {
        "matching",
        "follow_up",
        "model_training",
    }

    both = suggestions(client, world, pid)
    assert [slate["lane"] for slate in both["lanes"]] == ["jobs", "asf"], "jobs first"
    assert both["language"] == "sv"
    for slate in both["lanes"]:
        assert slate["suggestions"], f"zero exclusion: the {slate['lane']} lane has items"
        assert slate["model_version"] == "handset-1"
        for shown in slate["suggestions"]:
            assert shown["score"] == pytest.approx(
                shown["bias"] + sum(shown["contributions"].values())
            )
            assert [row["feature"] for row in shown["table"]] == list(FEATURES)
            assert shown["reasons"]["positives"], "every suggestion says why"
    first = both["lanes"][0]["suggestions"][0]
    assert first["item"]["title"]
    assert first["reasons"]["positives"][0]["text"].startswith("Matchar"), "Swedish by default"

    english = suggestions(client, world, pid, lane="jobs", headers={"Accept-Language": "en"})
    assert english["language"] == "en"
    assert english["lanes"][0]["suggestions"][0]["reasons"]["positives"][0]["text"].startswith(
        "Matches"
    )

    never = first["item"]["id"]
    response = client.post(
        f"/suggestions/{first['suggestion_id']}/feedback",
        headers=world.headers(COACH),
        json={"decision": "never", "reason_code": "wrong_occupation", "comment": "Inte aktuellt"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["decision"] == "never"

    after = suggestions(client, world, pid, lane="jobs", k=50)
    assert never not in item_ids(after), "'never' hides the item from then on"
    assert after["lanes"][0]["suggestions"], "other items are still suggested"

    kept = after["lanes"][0]["suggestions"][0]
    response = client.post(
        f"/participants/{pid}/outcomes",
        headers=world.headers(COACH),
        json={
            "kind": "interview",
            "occurred_at": datetime.now(UTC).isoformat(),
            "suggestion_id": kept["suggestion_id"],
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["opening_id"] == kept["item"]["id"]

    response = client.get(
        "/audit", headers=world.headers(ADMIN), params={"participant_id": pid, "limit": 100}
    )
    assert response.status_code == 200
    rows = response.json()["items"]
    actions = [row["action"] for row in rows]
    for action in ("create", "suggest", "feedback", "outcome"):
        assert action in actions
    coach_id = client.get("/me", headers=world.headers(COACH)).json()["id"]
    assert {row["actor_user_id"] for row in rows} == {coach_id}
    assert all(row["fields"] and row["request_id"] for row in rows)
    assert "lagerarbetare" not in response.text.lower(), "no participant text in the audit log"
    assert "Inte aktuellt" not in response.text


def test_not_now_lowers_an_item_for_a_while(client: TestClient, world: World) -> None:
    pid = new_participant(client, world)["id"]
    before = suggestions(client, world, pid, lane="jobs", k=50)["lanes"][0]["suggestions"]
    top = before[0]
    response = client.post(
        f"/suggestions/{top['suggestion_id']}/feedback",
        headers=world.headers(COACH),
        json={"decision": "not_now", "reason_code": "bad_timing"},
    )
    assert response.status_code == 201
    after = suggestions(client, world, pid, lane="jobs", k=50)["lanes"][0]["suggestions"]
    (again,) = [s for s in after if s["item"]["id"] == top["item"]["id"]]
    assert again["contributions"]["snoozed"] < 0
    assert again["score"] < top["score"]
    assert again["rank"] > top["rank"]


def test_employer_flow(client: TestClient, world: World, matcher: MatchingEngine) -> None:
    pid = new_participant(
        client,
        world,
        preferred_occupations_text="Vill arbeta som hovslagare",
        preferred_tasks_text="Sko hästar och verka hovar",
        preferred_occupation_ids=[FARRIER["occupation_id"]],
        skills_text="Har skott hästar i flera år",
    )["id"]
    response = client.post(
        "/openings",
        headers=world.headers(EMPLOYER),
        json=farrier_opening("Hovslagare till ridskola"),
    )
    assert response.status_code == 201, response.text
    opening = response.json()
    assert opening["employer_id"] == world.a.employer

    shown = suggestions(client, world, pid, lane="jobs")
    assert item_ids(shown)[0] == opening["id"], "the new opening is suggested at once, first"

    response = client.patch(
        f"/openings/{opening['id']}",
        headers=world.headers(EMPLOYER),
        json={"title": "Hovslagare till ridskola i Järna"},
    )
    assert response.status_code == 200
    with matcher.session_factory() as session:
        stored = session.get(Opening, opening["id"])
        assert stored is not None
        text_hash = content_hash(opening_text(stored))
    assert matcher.indexes.stored(Lane.JOBS).index.content_hashes()[opening["id"]] == text_hash
    first = suggestions(client, world, pid, lane="jobs")["lanes"][0]["suggestions"][0]
    assert first["item"]["title"] == "Hovslagare till ridskola i Järna", "new text at once"

    response = client.post(f"/openings/{opening['id']}/close", headers=world.headers(EMPLOYER))
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert opening["id"] not in item_ids(suggestions(client, world, pid, lane="jobs", k=50))

    response = client.get(f"/openings/{opening['id']}", headers=world.headers(COACH))
    assert response.json()["status"] == "closed"


def test_asf_provider_flow(client: TestClient, world: World) -> None:
    pid = new_participant(
        client,
        world,
        goal="work_training",
        preferred_occupations_text="Vill arbetsträna med cyklar",
        preferred_tasks_text="Laga och serva cyklar i en verkstad",
        skills_text="",
    )["id"]
    assert [s["lane"] for s in suggestions(client, world, pid)["lanes"]] == ["asf", "jobs"]
    response = client.post(
        "/placements",
        headers=world.headers(ASF),
        json={
            "title": "Arbetsträning i cykelverkstad",
            "activities": "Laga punkteringar, byta kedjor och serva cyklar.",
            "capacity": 2,
            "taken": 0,
            "municipality": "Södertälje",
            "hours_min": 10,
            "hours_max": 30,
        },
    )
    assert response.status_code == 201, response.text
    place = response.json()
    assert place["id"] in item_ids(suggestions(client, world, pid, lane="asf"), "asf")

    response = client.patch(
        f"/placements/{place['id']}", headers=world.headers(ASF), json={"taken": 2}
    )
    assert response.status_code == 200, response.text
    assert place["id"] not in item_ids(suggestions(client, world, pid, lane="asf", k=50), "asf")

    response = client.patch(
        f"/placements/{place['id']}", headers=world.headers(ASF), json={"taken": 3}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "taken"
