"""The change feed: how several serving processes keep their in-memory engines current.

Each serving process holds its own vector indexes and item catalogues in memory. A change
to an opening or place is committed by one process, which refreshes its own engine at
once (`api.deps.unit_of_work`); the others learn of it from the `item_changes` table:

- `record_changes` adds one row per changed item *in the transaction of the change*, so a
  row exists exactly when the change committed;
- `ChangeFollower.catch_up` runs before every ranking: it reads the rows after the last
  one this process applied and refreshes those items (refreshing is idempotent), so a
  suggestion never misses a change committed before its request began.

Rows must become visible in `seq` order, or a follower that read row 11 would skip a row
10 committed later. SQLite has one writer, so they do. PostgreSQL hands out sequence
numbers before commit, so writers of the feed take one transaction-scoped advisory lock
before they insert: sequence numbers are then taken and committed one transaction after
another. Changes to items are rare next to suggestions, so this costs nothing that shows.

An erasure adds a "forget" row: every process drops the profile texts it remembers.
Rows are pruned when a server starts (`prune`), before any follower runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from matching.db.models import ItemChange
from matching.db.session import reading
from matching.db.types import utcnow
from matching.domain import Lane

if TYPE_CHECKING:
    from matching.engine import MatchingEngine

log = logging.getLogger(__name__)

ITEM = "item"
FORGET = "forget"
#: The PostgreSQL advisory lock that orders writers of the feed ("Stegvis" in ASCII, cut).
FEED_LOCK = 0x53746567
#: Rows older than this are pruned when a server starts.
KEEP_FOR = timedelta(days=1)


def _serialise_writers(session: Session) -> None:
    """Hold the feed's writer lock until this transaction ends (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK})


def record_changes(session: Session, changes: Mapping[Lane, Iterable[int]]) -> int:
    """Add a feed row for each changed item, in `session`'s transaction; how many.

    Call last before the commit: on PostgreSQL the lock taken here is held until then.
    """
    rows = [
        {"kind": ITEM, "lane": lane.value, "item_id": item_id}
        for lane, ids in changes.items()
        for item_id in sorted(set(ids))
    ]
    if rows:
        _serialise_writers(session)
        session.execute(sa.insert(ItemChange), rows)
    return len(rows)


def record_forget(session: Session) -> None:
    """Ask every serving process to drop the profile texts it remembers (an erasure)."""
    _serialise_writers(session)
    session.execute(sa.insert(ItemChange), [{"kind": FORGET, "lane": None, "item_id": None}])


def latest_seq(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.coalesce(sa.func.max(ItemChange.seq), 0))) or 0)


def prune(session: Session, *, now: datetime | None = None, keep: timedelta = KEEP_FOR) -> int:
    """Delete rows older than `keep` (but never the newest); run only before followers start."""
    newest = latest_seq(session)
    result = session.execute(
        sa.delete(ItemChange).where(
            ItemChange.changed_at < (now or utcnow()) - keep, ItemChange.seq < newest
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


class ChangeFollower:
    """Applies the feed's rows after `seq` to one process's engine, in order, once each."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self._applying = threading.Lock()

    @classmethod
    def from_latest(cls, session_factory: sessionmaker[Session]) -> ChangeFollower:
        """A follower from the newest row: read this *before* loading the engine, so a change
        committed while it loads is applied by the first catch-up (again, harmlessly)."""
        with reading(session_factory) as session:
            return cls(latest_seq(session))

    def catch_up(self, session: Session, engine: MatchingEngine) -> int:
        """Apply the rows `session` sees after the last applied one; how many were applied.

        One indexed query when nothing changed. A failed refresh is logged and skipped like
        one after a request's own commit: `/ready` then reports the lane inconsistent.
        """
        pending = self._rows_after(session, self.seq)
        if not pending:
            return 0
        with self._applying:
            rows = [row for row in pending if row.seq > self.seq]
            if not rows:
                return 0
            lanes: dict[Lane, set[int]] = {}
            forget = False
            for row in rows:
                if row.kind == FORGET:
                    forget = True
                elif row.lane is not None and row.item_id is not None:
                    lanes.setdefault(Lane(row.lane), set()).add(row.item_id)
            for lane, ids in lanes.items():
                try:
                    engine.refresh(lane, sorted(ids))
                except Exception:
                    log.exception("following the %s lane failed for %d items", lane.value, len(ids))
            if forget:
                engine.forget_texts()
            self.seq = rows[-1].seq
            log.info("followed %d change(s) up to %d", len(rows), self.seq)
            return len(rows)

    @staticmethod
    def _rows_after(
        session: Session, seq: int
    ) -> Sequence[sa.Row[int, str, str | None, int | None]]:
        query = (
            sa.select(ItemChange.seq, ItemChange.kind, ItemChange.lane, ItemChange.item_id)
            .where(ItemChange.seq > seq)
            .order_by(ItemChange.seq)
        )
        return session.execute(query).all()
