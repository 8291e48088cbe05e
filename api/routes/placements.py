"""Work-training places: an ASF provider maintains its own places and capacity; coaches read
them all. Changes reach the index within the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import AccessDep, PageDep, PathId, QueryConcept, QueryId, QueryMunicipality, paged
from api.schemas import Page, PlacementCreate, PlacementPublic, PlacementUpdate
from matching.db.models import Placement
from matching.domain import Lane, PlacementStatus
from matching.resources import close_placement, create_placement, update_placement

router = APIRouter(prefix="/placements", tags=["placements"])


@router.get("", summary="Work-training places: a provider's own, or all for coaches.")
def list_placements(
    access: AccessDep,
    page: PageDep,
    status_: Annotated[PlacementStatus | None, Query(alias="status")] = None,
    municipality: QueryMunicipality = None,
    occupation: QueryConcept = None,
    ssyk: Annotated[str | None, Query(pattern=r"^[0-9]{4}$", description="SSYK-4 code.")] = None,
    asf_provider_id: QueryId = None,
) -> Page[PlacementPublic]:
    statement = access.select(Placement)
    if status_ is not None:
        statement = statement.where(Placement.status == status_)
    if municipality is not None:
        statement = statement.where(Placement.municipality == municipality)
    if occupation is not None:
        statement = statement.where(Placement.occupation_id == occupation)
    if ssyk is not None:
        statement = statement.where(Placement.ssyk_code == ssyk)
    if asf_provider_id is not None:
        statement = statement.where(Placement.asf_provider_id == asf_provider_id)
    rows, cursor = paged(access.session, statement, Placement, page)
    return Page(items=[PlacementPublic.model_validate(p) for p in rows], next_cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Offer a work-training place of the caller's provider; suggested from now on.",
)
def create(body: PlacementCreate, access: AccessDep) -> PlacementPublic:
    provider_id = access.user.asf_provider_id
    assert provider_id is not None  # an ASF user always belongs to one provider
    placement = create_placement(session=access.session, asf_provider_id=provider_id, fields=body)
    access.work.refresh_after_commit(Lane.ASF, [placement.id])
    return PlacementPublic.model_validate(placement)


@router.get("/{placement_id}", summary="One work-training place.")
def get(placement_id: PathId, access: AccessDep) -> PlacementPublic:
    return PlacementPublic.model_validate(access.get(Placement, placement_id))


@router.patch(
    "/{placement_id}", summary="Change a place, its capacity or places taken (fields sent)."
)
def update(placement_id: PathId, body: PlacementUpdate, access: AccessDep) -> PlacementPublic:
    placement = access.get(Placement, placement_id)
    if update_placement(
        session=access.session, placement=placement, changes=body.model_dump(exclude_unset=True)
    ):
        access.work.refresh_after_commit(Lane.ASF, [placement.id])
    return PlacementPublic.model_validate(placement)


@router.post("/{placement_id}/close", summary="Close a place; it is no longer suggested.")
def close(placement_id: PathId, access: AccessDep) -> PlacementPublic:
    placement = access.get(Placement, placement_id)
    if close_placement(session=access.session, placement=placement):
        access.work.refresh_after_commit(Lane.ASF, [placement.id])
    return PlacementPublic.model_validate(placement)
