"""ASF providers: admins register and change them; a provider's user reads its own record."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AccessDep, PageDep, PathId, QueryMunicipality, paged
from api.schemas import AsfProviderCreate, AsfProviderPublic, AsfProviderUpdate, Page
from matching.db.models import AsfProvider
from matching.resources import create_asf_provider, update_asf_provider

router = APIRouter(prefix="/asf-providers", tags=["ASF providers"])


@router.get("", summary="ASF providers (a provider's user sees only its own).")
def list_providers(
    access: AccessDep,
    page: PageDep,
    municipality: QueryMunicipality = None,
) -> Page[AsfProviderPublic]:
    statement = access.select(AsfProvider)
    if municipality is not None:
        statement = statement.where(AsfProvider.municipality == municipality)
    rows, cursor = paged(access.session, statement, AsfProvider, page)
    return Page(items=[AsfProviderPublic.model_validate(p) for p in rows], next_cursor=cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register an ASF provider.")
def create(body: AsfProviderCreate, access: AccessDep) -> AsfProviderPublic:
    provider = create_asf_provider(session=access.session, fields=body)
    return AsfProviderPublic.model_validate(provider)


@router.get("/{asf_provider_id}", summary="One ASF provider.")
def get(asf_provider_id: PathId, access: AccessDep) -> AsfProviderPublic:
    return AsfProviderPublic.model_validate(access.get(AsfProvider, asf_provider_id))


@router.patch("/{asf_provider_id}", summary="Change an ASF provider (only the fields sent).")
def update(
    asf_provider_id: PathId, body: AsfProviderUpdate, access: AccessDep
) -> AsfProviderPublic:
    provider = access.get(AsfProvider, asf_provider_id)
    update_asf_provider(
        session=access.session, provider=provider, changes=body.model_dump(exclude_unset=True)
    )
    return AsfProviderPublic.model_validate(provider)
