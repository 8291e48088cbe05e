"""Employers: admins register and change them; an employer user reads its own record."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AccessDep, PageDep, PathId, QueryMunicipality, paged
from api.schemas import EmployerCreate, EmployerPublic, EmployerUpdate, Page
from matching.db.models import Employer
from matching.resources import create_employer, update_employer

router = APIRouter(prefix="/employers", tags=["employers"])


@router.get("", summary="Employers (an employer user sees only its own).")
def list_employers(
    access: AccessDep,
    page: PageDep,
    municipality: QueryMunicipality = None,
) -> Page[EmployerPublic]:
    statement = access.select(Employer)
    if municipality is not None:
        statement = statement.where(Employer.municipality == municipality)
    rows, cursor = paged(access.session, statement, Employer, page)
    return Page(items=[EmployerPublic.model_validate(e) for e in rows], next_cursor=cursor)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register an employer.")
def create(body: EmployerCreate, access: AccessDep) -> EmployerPublic:
    return EmployerPublic.model_validate(create_employer(session=access.session, fields=body))


@router.get("/{employer_id}", summary="One employer.")
def get(employer_id: PathId, access: AccessDep) -> EmployerPublic:
    return EmployerPublic.model_validate(access.get(Employer, employer_id))


@router.patch("/{employer_id}", summary="Change an employer (only the fields sent).")
def update(employer_id: PathId, body: EmployerUpdate, access: AccessDep) -> EmployerPublic:
    employer = access.get(Employer, employer_id)
    update_employer(
        session=access.session, employer=employer, changes=body.model_dump(exclude_unset=True)
    )
    return EmployerPublic.model_validate(employer)
