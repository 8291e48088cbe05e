"""Participants: a coach's own organisation only; every read and change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import AccessDep, MatcherDep, PageDep, PathId, QueryId, QueryMunicipality, paged
from api.schemas import Page, ParticipantCreate, ParticipantPublic, ParticipantUpdate
from matching.db.models import Participant
from matching.domain import AuditAction, Goal, ParticipantStatus
from matching.resources import create_participant, update_participant
from matching.service import erase_participant

router = APIRouter(prefix="/participants", tags=["participants"])

#: What a read of a participant discloses (the audit row names these).
READ_FIELDS: tuple[str, ...] = tuple(ParticipantPublic.model_fields)


@router.get("", summary="The participants of the coach's organisation.")
def list_participants(
    access: AccessDep,
    page: PageDep,
    status_: Annotated[ParticipantStatus | None, Query(alias="status")] = None,
    municipality: QueryMunicipality = None,
    goal: Goal | None = None,
    coach_id: QueryId = None,
) -> Page[ParticipantPublic]:
    statement = access.select(Participant)
    if status_ is not None:
        statement = statement.where(Participant.status == status_)
    if municipality is not None:
        statement = statement.where(Participant.municipality == municipality)
    if goal is not None:
        statement = statement.where(Participant.goal == goal)
    if coach_id is not None:
        statement = statement.where(Participant.coach_id == coach_id)
    rows, cursor = paged(access.session, statement, Participant, page)
    access.audit(AuditAction.READ, [p.id for p in rows], READ_FIELDS)
    return Page(items=[ParticipantPublic.model_validate(p) for p in rows], next_cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a participant in the coach's organisation.",
)
def create(body: ParticipantCreate, access: AccessDep) -> ParticipantPublic:
    organisation_id = access.user.organisation_id
    assert organisation_id is not None  # a coach always belongs to one
    participant = create_participant(
        session=access.session,
        organisation_id=organisation_id,
        external_ref=body.external_ref,
        profile=body,
        coach_id=body.coach_id if body.coach_id is not None else access.user.id,
        consents=body.consents,
    )
    access.audit(AuditAction.CREATE, [participant.id], sorted(body.model_fields_set))
    return ParticipantPublic.model_validate(participant)


@router.get("/{participant_id}", summary="One participant's profile and consents.")
def get(participant_id: PathId, access: AccessDep) -> ParticipantPublic:
    participant = access.get(Participant, participant_id)
    access.audit(AuditAction.READ, [participant.id], READ_FIELDS)
    return ParticipantPublic.model_validate(participant)


@router.patch(
    "/{participant_id}",
    summary="Change a participant's profile, coach or consents (only the fields sent).",
)
def update(participant_id: PathId, body: ParticipantUpdate, access: AccessDep) -> ParticipantPublic:
    participant = access.get(Participant, participant_id)
    changed = update_participant(
        session=access.session,
        participant=participant,
        changes=body.model_dump(exclude_unset=True),
    )
    if changed:
        access.audit(AuditAction.UPDATE, [participant.id], changed)
    else:
        access.audit(AuditAction.READ, [participant.id], READ_FIELDS)
    return ParticipantPublic.model_validate(participant)


@router.delete(
    "/{participant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a participant everywhere (GDPR Art. 17); the audit log keeps a tombstone.",
    response_class=Response,
)
def erase(participant_id: PathId, access: AccessDep, matcher: MatcherDep) -> Response:
    """Profile, consents, vectors, suggestions, decisions with comments and outcomes are
    deleted; later training datasets and exports no longer contain the person. Audit rows
    keep only a pseudonym; nothing can be restored."""
    participant = access.get(Participant, participant_id)
    erase_participant(
        session=access.session,
        participant=participant,
        secret=access.settings.secret_key.get_secret_value(),
        actor=access.actor,
    )
    matcher.forget_texts()  # nor does the profile text stay in this server's memory
    return Response(status_code=status.HTTP_204_NO_CONTENT)
