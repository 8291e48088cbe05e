"""Organisations (tenants, samordningsförbund): admins only."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AccessDep, PageDep, PathId, paged
from api.schemas import OrganisationCreate, OrganisationPublic, OrganisationUpdate, Page
from matching.db.models import Organisation
from matching.resources import create_organisation, update_organisation

router = APIRouter(prefix="/organisations", tags=["organisations"])


@router.get("", summary="Organisations.")
def list_organisations(access: AccessDep, page: PageDep) -> Page[OrganisationPublic]:
    rows, cursor = paged(access.session, access.select(Organisation), Organisation, page)
    return Page(items=[OrganisationPublic.model_validate(o) for o in rows], next_cursor=cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an organisation (tenant).")
def create(body: OrganisationCreate, access: AccessDep) -> OrganisationPublic:
    organisation = create_organisation(session=access.session, fields=body)
    return OrganisationPublic.model_validate(organisation)


@router.get("/{organisation_id}", summary="One organisation.")
def get(organisation_id: PathId, access: AccessDep) -> OrganisationPublic:
    return OrganisationPublic.model_validate(access.get(Organisation, organisation_id))


@router.patch("/{organisation_id}", summary="Change an organisation (only the fields sent).")
def update(
    organisation_id: PathId, body: OrganisationUpdate, access: AccessDep
) -> OrganisationPublic:
    organisation = access.get(Organisation, organisation_id)
    update_organisation(
        session=access.session,
        organisation=organisation,
        changes=body.model_dump(exclude_unset=True),
    )
    return OrganisationPublic.model_validate(organisation)
