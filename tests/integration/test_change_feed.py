"""The change feed that keeps several serving processes current (`matching.changes`)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from matching.changes import (
    FORGET,
    ITEM,
    ChangeFollower,
    latest_seq,
    prune,
    record_changes,
    record_forget,
)
from matching.db.models import ItemChange
from matching.db.types import utcnow
from matching.domain import Lane


class Recorder:
    """Stands in for the engine's two entry points the follower calls, recording them."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def refresh(self, lane: Lane, ids: list[int]) -> None:
        self.calls.append(("refresh", lane, ids))

    def forget_texts(self) -> None:
        self.calls.append(("forget",))


def rows(session_factory: sessionmaker[Session]) -> list[tuple[int, str, str | None, int | None]]:
    with session_factory() as session:
        query = sa.select(ItemChange.seq, ItemChange.kind, ItemChange.lane, ItemChange.item_id)
        return [tuple(r) for r in session.execute(query.order_by(ItemChange.seq))]  # type: ignore[misc]


def test_changes_are_recorded_once_per_item_and_followed_in_order(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        assert latest_seq(session) == 0
        assert record_changes(session, {Lane.JOBS: [3, 1, 3], Lane.ASF: []}) == 2
    follower = ChangeFollower.from_latest(session_factory)
    with session_factory.begin() as session:
        record_changes(session, {Lane.ASF: [7]})
        record_forget(session)
        record_changes(session, {Lane.JOBS: [2]})
    recorded = rows(session_factory)
    assert [(kind, lane, item) for _, kind, lane, item in recorded] == [
        (ITEM, "jobs", 1),
        (ITEM, "jobs", 3),
        (ITEM, "asf", 7),
        (FORGET, None, None),
        (ITEM, "jobs", 2),
    ]
    assert follower.seq == recorded[1][0], "a follower starts after the rows it loaded with"

    engine = Recorder()
    with session_factory() as session:
        assert follower.catch_up(session, engine) == 3  # type: ignore[arg-type]
        assert follower.catch_up(session, engine) == 0  # type: ignore[arg-type]
    assert sorted(engine.calls, key=str) == sorted(
        [("refresh", Lane.ASF, [7]), ("refresh", Lane.JOBS, [2]), ("forget",)], key=str
    )
    assert follower.seq == recorded[-1][0]


def test_a_rolled_back_change_leaves_no_row(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        record_changes(session, {Lane.JOBS: [1]})
        session.rollback()
    assert rows(session_factory) == []


def test_writers_of_the_feed_commit_one_after_another(
    session_factory: sessionmaker[Session],
) -> None:
    """A row numbered later never becomes visible before one numbered earlier.

    The first writer holds its transaction open; the second must wait for it (PostgreSQL:
    the feed's advisory lock; SQLite: its single writer), so a follower never reads the
    second's row and skips the first's.
    """
    first = session_factory()
    record_changes(first, {Lane.JOBS: [1]})
    done = threading.Event()

    def second_writer() -> None:
        with session_factory.begin() as session:
            record_changes(session, {Lane.JOBS: [2]})
        done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    try:
        thread.join(timeout=1.0)
        assert not done.is_set(), "the second writer waited for the first"
        assert rows(session_factory) == []
    finally:
        first.commit()
        first.close()
        thread.join(timeout=30)
    assert done.is_set()
    assert [item for *_, item in rows(session_factory)] == [1, 2]


def test_pruning_keeps_recent_rows_and_the_newest(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        record_changes(session, {Lane.JOBS: [1, 2, 3]})
        session.execute(sa.update(ItemChange).values(changed_at=utcnow() - timedelta(days=3)))
        record_changes(session, {Lane.JOBS: [4]})
    with session_factory.begin() as session:
        assert prune(session) == 3
    with session_factory.begin() as session:
        session.execute(sa.update(ItemChange).values(changed_at=utcnow() - timedelta(days=3)))
        assert prune(session) == 0, "the newest row stays: it numbers what comes next"
    assert [item for *_, item in rows(session_factory)] == [4]
