"""The audit log, read-only: admins see who read or changed which participant's data."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AccessDep, PageDep, QueryId, paged
from api.schemas import AuditEntryPublic, Page
from matching.db.models import AuditEntry
from matching.domain import AuditAction

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    summary="Audit rows in the order written (no way exists to change or delete one).",
)
def list_audit(
    access: AccessDep,
    page: PageDep,
    participant_id: QueryId = None,
    actor_user_id: QueryId = None,
    action: AuditAction | None = None,
) -> Page[AuditEntryPublic]:
    statement = access.select(AuditEntry)
    if participant_id is not None:
        statement = statement.where(AuditEntry.participant_id == participant_id)
    if actor_user_id is not None:
        statement = statement.where(AuditEntry.actor_user_id == actor_user_id)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    rows, cursor = paged(access.session, statement, AuditEntry, page)
    return Page(items=[AuditEntryPublic.model_validate(r) for r in rows], next_cursor=cursor)
