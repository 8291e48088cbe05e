"""The audit log: who read or changed which participant's data, when, and which fields.

Rows hold identifiers and field names only, never the values: the log must not become a
second copy of the participants' free text. Rows are only ever added; nothing here
changes or deletes one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from matching.db.models import AuditEntry
from matching.domain import AuditAction, Role


@dataclass(frozen=True)
class Actor:
    """Who acts: a user and the role they act in, and the request they act through."""

    user_id: int | None
    role: Role | None
    request_id: str | None = None


def subject_of(participant_id: int) -> str:
    return f"participant:{participant_id}"


def record_access(
    *,
    session: Session,
    actor: Actor,
    action: AuditAction,
    participant_ids: Iterable[int],
    fields: Sequence[str],
    now: datetime | None = None,
) -> list[AuditEntry]:
    """One row per participant whose data `actor` read or changed (field names, no values)."""
    at = now or datetime.now(UTC)
    entries = [
        AuditEntry(
            at=at,
            actor_user_id=actor.user_id,
            actor_role=actor.role.value if actor.role else None,
            action=action,
            participant_id=participant_id,
            subject=subject_of(participant_id),
            fields=sorted(set(fields)),
            request_id=actor.request_id,
        )
        for participant_id in dict.fromkeys(participant_ids)
    ]
    session.add_all(entries)
    session.flush()
    return entries
