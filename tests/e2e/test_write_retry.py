"""A request whose transaction loses a race is run again whole; nothing of a lost try stays.

The conflict is forced at the last step before the commit (where the change feed is
written), after the route stored its change in the transaction: the unit of work rolls it
back, `api.retry.RetryWriteConflicts` replays the request with the body it recorded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

import api.deps
from matching.db.models import ItemChange, Opening
from matching.domain import Role
from tests.e2e.conftest import World, unique

EMPLOYER = Role.EMPLOYER


def losing(times: int, real: Callable[..., Any]) -> tuple[Callable[..., Any], list[int]]:
    """`real`, but the first `times` calls fail as a transaction that lost a race does."""
    calls: list[int] = []

    def record_changes(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(calls))
        if len(calls) <= times:
            raise sa.exc.OperationalError(
                "INSERT INTO item_changes", {}, sqlite3.OperationalError("database is locked")
            )
        return real(*args, **kwargs)

    return record_changes, calls


def stored(factory: sessionmaker[Session], title: str) -> tuple[list[int], int]:
    with factory() as session:
        ids = session.scalars(sa.select(Opening.id).where(Opening.title == title)).all()
        feed = session.scalar(
            sa.select(sa.func.count()).select_from(ItemChange).where(ItemChange.item_id.in_(ids))
        )
    return list(ids), int(feed or 0)


def test_a_lost_race_is_run_again_and_stored_once(
    fresh_app_client: TestClient,
    world: World,
    e2e_session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fail_twice, calls = losing(2, api.deps.record_changes)
    monkeypatch.setattr(api.deps, "record_changes", fail_twice)
    title = unique("Retried opening")
    response = fresh_app_client.post(
        "/openings", headers=world.headers(EMPLOYER), json={"title": title, "description": "x"}
    )
    assert response.status_code == 201, response.text
    assert len(calls) == 3, "two lost tries, then the one that committed"
    ids, feed = stored(e2e_session_factory, title)
    assert ids == [response.json()["id"]], "one opening, not one per try"
    assert feed == 1, "and one row of the change feed"


def test_a_race_lost_every_time_answers_503_and_stores_nothing(
    fresh_app_client: TestClient,
    world: World,
    e2e_session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    always, calls = losing(10**6, api.deps.record_changes)
    monkeypatch.setattr(api.deps, "record_changes", always)
    title = unique("Never stored")
    response = fresh_app_client.post(
        "/openings", headers=world.headers(EMPLOYER), json={"title": title, "description": "x"}
    )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["Retry-After"] == "1"
    assert len(calls) == 5, "every attempt ran"
    assert stored(e2e_session_factory, title) == ([], 0)
