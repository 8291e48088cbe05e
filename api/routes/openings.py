"""Openings: an employer maintains its own; coaches read them all. Changes reach the index
within the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import AccessDep, PageDep, PathId, QueryConcept, QueryId, QueryMunicipality, paged
from api.schemas import OpeningCreate, OpeningPublic, OpeningUpdate, Page
from matching.db.models import Opening
from matching.domain import Lane, OpeningStatus
from matching.resources import close_opening, create_opening, update_opening

router = APIRouter(prefix="/openings", tags=["openings"])


@router.get("", summary="Openings: an employer's own, or all for coaches.")
def list_openings(
    access: AccessDep,
    page: PageDep,
    status_: Annotated[OpeningStatus | None, Query(alias="status")] = None,
    municipality: QueryMunicipality = None,
    occupation: QueryConcept = None,
    ssyk: Annotated[str | None, Query(pattern=r"^[0-9]{4}$", description="SSYK-4 code.")] = None,
    employer_id: QueryId = None,
) -> Page[OpeningPublic]:
    statement = access.select(Opening)
    if status_ is not None:
        statement = statement.where(Opening.status == status_)
    if municipality is not None:
        statement = statement.where(Opening.municipality == municipality)
    if occupation is not None:
        statement = statement.where(Opening.occupation_id == occupation)
    if ssyk is not None:
        statement = statement.where(Opening.ssyk_code == ssyk)
    if employer_id is not None:
        statement = statement.where(Opening.employer_id == employer_id)
    rows, cursor = paged(access.session, statement, Opening, page)
    return Page(items=[OpeningPublic.model_validate(o) for o in rows], next_cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Publish an opening of the caller's employer; suggested from this request on.",
)
def create(body: OpeningCreate, access: AccessDep) -> OpeningPublic:
    employer_id = access.user.employer_id
    assert employer_id is not None  # an employer user always belongs to one
    opening = create_opening(
        session=access.session, employer_id=employer_id, fields=body, expires_at=body.expires_at
    )
    access.work.refresh_after_commit(Lane.JOBS, [opening.id])
    return OpeningPublic.model_validate(opening)


@router.get("/{opening_id}", summary="One opening.")
def get(opening_id: PathId, access: AccessDep) -> OpeningPublic:
    return OpeningPublic.model_validate(access.get(Opening, opening_id))


@router.patch("/{opening_id}", summary="Change an opening (only the fields sent).")
def update(opening_id: PathId, body: OpeningUpdate, access: AccessDep) -> OpeningPublic:
    opening = access.get(Opening, opening_id)
    if update_opening(
        session=access.session, opening=opening, changes=body.model_dump(exclude_unset=True)
    ):
        access.work.refresh_after_commit(Lane.JOBS, [opening.id])
    return OpeningPublic.model_validate(opening)


@router.post("/{opening_id}/close", summary="Close an opening; it is no longer suggested.")
def close(opening_id: PathId, access: AccessDep) -> OpeningPublic:
    opening = access.get(Opening, opening_id)
    if close_opening(session=access.session, opening=opening):
        access.work.refresh_after_commit(Lane.JOBS, [opening.id])
    return OpeningPublic.model_validate(opening)
