"""The employer's pages: their openings, and a form to publish, change or close one.

The form validates with the API's own bodies (`OpeningCreate`, `OpeningUpdate`) and saves
through the API's route functions, so an opening published here reaches the index within the
request, exactly as one posted to `/openings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from api.deps import Access, MatcherDep
from api.routes import openings as opening_routes
from api.schemas import OpeningCreate, OpeningPublic, OpeningUpdate
from api.web.coach import FormDep
from api.web.forms import Errors, FieldKind, end_of_day, local_day, read_form, rule_error, validate
from api.web.render import redirect, render
from api.web.security import PREFIX, allowed, page_access
from matching.db.models import Opening
from matching.domain import OpeningStatus
from matching.engine import MatchingEngine
from matching.errors import InvalidInput

router = APIRouter()

ListAccess = Annotated[Access, Depends(page_access("GET", "/openings"))]
CreateAccess = Annotated[Access, Depends(page_access("POST", "/openings"))]
EditAccess = Annotated[Access, Depends(page_access("PATCH", "/openings/{opening_id}"))]
CloseAccess = Annotated[Access, Depends(page_access("POST", "/openings/{opening_id}/close"))]

PAGE_SIZE = 50

OPENING_FIELDS: Mapping[str, FieldKind] = {
    "title": "text",
    "occupation_label": "optional",
    "description": "text",
    "required_skills": "lines",
    "nice_skills": "lines",
    "municipality": "optional",
    "hours_min": "int",
    "hours_max": "int",
    "evenings": "bool",
    "weekends": "bool",
    "nights": "bool",
    "environment": "choices",
    "accommodations_offered": "choices",
    "positions": "int",
    "expires_on": "date",
}
EDIT_FIELDS: Mapping[str, FieldKind] = {
    **OPENING_FIELDS,
    "positions_filled": "int",
    "status": "text",
}


@router.get("/openings")
def opening_list(
    request: Request,
    access: ListAccess,
    status: Annotated[str, Query(max_length=16)] = "",
    before: int | None = None,
) -> Response:
    """An employer's own openings, newest first (coaches, who may read all, see them too)."""
    statement = access.select(Opening).order_by(None).order_by(Opening.id.desc())
    if status in set(OpeningStatus):
        statement = statement.where(Opening.status == OpeningStatus(status))
    if before is not None:
        statement = statement.where(Opening.id < before)
    rows = list(access.session.scalars(statement.limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    older = f"?{'status=' + status + '&' if status else ''}before={rows[-1].id}" if more else None
    return render(
        request,
        "openings.html",
        {
            "openings": rows,
            "status": status,
            "older": older,
            "can_edit": allowed(access.user, "PATCH", "/openings/{opening_id}"),
            "can_create": allowed(access.user, "POST", "/openings"),
        },
    )


def _occupation(values: dict[str, Any], matcher: MatchingEngine, current: Opening | None) -> None:
    """The occupation named in the form, coded from the taxonomy when its name is there;
    otherwise only the name is kept and the engine reads the occupation from the ad."""
    label = values.pop("occupation_label")
    if current is not None and label == current.occupation_label:
        values["occupation_label"] = label
        values["occupation_id"] = current.occupation_id
        values["ssyk_code"] = current.ssyk_code
        return
    wanted = (label or "").casefold()
    found = next(
        (o for o in matcher.taxonomy.occupations.values() if o.label.casefold() == wanted),
        None,
    )
    values["occupation_label"] = found.label if found is not None else label
    values["occupation_id"] = found.id if found is not None else None
    values["ssyk_code"] = found.ssyk if found is not None else None


def _read(
    form: Any, kinds: Mapping[str, FieldKind], matcher: MatchingEngine, current: Opening | None
) -> tuple[dict[str, Any], dict[str, Any], Errors]:
    """(the body's values, the values to show again, errors) of the opening form."""
    values, errors = read_form(form, kinds)
    shown = dict(values)
    for name in ("positions", "positions_filled"):
        if name in values and values[name] is None and name not in errors:
            errors[name] = "Fyll i fältet."
    expires_on = values.pop("expires_on")
    if expires_on is not None and "expires_on" not in errors:
        values["expires_at"] = end_of_day(expires_on)
    elif "expires_on" not in errors:
        values["expires_at"] = None
    _occupation(values, matcher, current)
    return values, shown, errors


def _form_page(
    request: Request,
    matcher: MatchingEngine,
    *,
    values: Mapping[str, Any],
    errors: Errors,
    opening: Opening | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "opening_form.html",
        {
            "opening": opening,
            "values": values,
            "errors": errors,
            "municipalities": sorted(matcher.centroids),
            "occupations": sorted({o.label for o in matcher.taxonomy.occupations.values()}),
        },
        status_code=status_code,
    )


def _moved_errors(errors: Errors) -> Errors:
    """The body's field names as the form names them."""
    moved = dict(errors)
    if "expires_at" in moved:
        moved.setdefault("expires_on", moved.pop("expires_at"))
    for coded in ("occupation_id", "ssyk_code"):
        if coded in moved:
            moved.setdefault("occupation_label", moved.pop(coded))
    return moved


@router.get("/openings/new")
def opening_new(request: Request, access: CreateAccess, matcher: MatcherDep) -> Response:
    return _form_page(request, matcher, values={"positions": 1}, errors={})


@router.post("/openings")
def opening_create(
    request: Request, access: CreateAccess, matcher: MatcherDep, form: FormDep
) -> Response:
    values, shown, errors = _read(form, OPENING_FIELDS, matcher, None)
    body = validate(OpeningCreate, values, errors)
    if body is not None:
        try:
            opening_routes.create(body=body, access=access)
        except InvalidInput as error:
            access.session.rollback()  # nothing of a refused change is kept
            rule_error(error, errors)
        else:
            return redirect(f"{PREFIX}/openings", "ny-annons")
    return _form_page(request, matcher, values=shown, errors=_moved_errors(errors), status_code=422)


def _opening_values(public: OpeningPublic) -> dict[str, Any]:
    values = public.model_dump(mode="json")
    day = local_day(public.expires_at)
    values["expires_on"] = day.isoformat() if day else ""
    return values


@router.get("/openings/{opening_id}")
def opening_edit(
    request: Request, opening_id: int, access: EditAccess, matcher: MatcherDep
) -> Response:
    opening = access.get(Opening, opening_id)
    values = _opening_values(OpeningPublic.model_validate(opening))
    return _form_page(request, matcher, values=values, errors={}, opening=opening)


@router.post("/openings/{opening_id}")
def opening_save(
    request: Request, opening_id: int, access: EditAccess, matcher: MatcherDep, form: FormDep
) -> Response:
    opening = access.get(Opening, opening_id)
    values, shown, errors = _read(form, EDIT_FIELDS, matcher, opening)
    body = validate(OpeningUpdate, values, errors)
    if "title" in values and not (values["title"] or "").strip():
        errors.setdefault("title", "Fyll i fältet.")
        body = None
    if body is not None:
        try:
            opening_routes.update(opening_id=opening.id, body=body, access=access)
        except InvalidInput as error:
            access.session.rollback()  # nothing of a refused change is kept
            rule_error(error, errors)
        else:
            return redirect(f"{PREFIX}/openings", "annons")
    return _form_page(
        request,
        matcher,
        values=shown,
        errors=_moved_errors(errors),
        opening=opening,
        status_code=422,
    )


@router.post("/openings/{opening_id}/close")
def opening_close(opening_id: int, access: CloseAccess) -> Response:
    opening_routes.close(opening_id=opening_id, access=access)
    return redirect(f"{PREFIX}/openings", "stangd")
