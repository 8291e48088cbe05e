"""The coach's pages: participants, a participant's profile and outcomes, the suggestions.

Each page calls the JSON API's own route function for its work (the same use case, audit
row and metrics), with the `Access` that `page_access` gave after the API's policy check;
another organisation's participant or suggestion is a 404 here as it is there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from api.deps import Access, MatcherDep, page_request, paged
from api.routes import participants as participant_routes
from api.routes import suggestions as suggestion_routes
from api.routes.operations import metrics_of
from api.schemas import (
    FeedbackCreate,
    OutcomeCreate,
    ParticipantPublic,
    ParticipantUpdate,
    SuggestionPublic,
)
from api.web.forms import Errors, FieldKind, midday, read_form, rule_error, validate
from api.web.render import redirect, render
from api.web.security import PREFIX, page_access
from matching.db.models import Feedback, Opening, Outcome, Participant, Placement, Suggestion
from matching.domain import AuditAction, Decision, Goal, Lane, ParticipantStatus
from matching.engine import MatchingEngine
from matching.errors import ConsentMissing, InvalidInput

router = APIRouter()

ListAccess = Annotated[Access, Depends(page_access("GET", "/participants"))]
ReadAccess = Annotated[Access, Depends(page_access("GET", "/participants/{participant_id}"))]
EditAccess = Annotated[Access, Depends(page_access("PATCH", "/participants/{participant_id}"))]
SuggestAccess = Annotated[
    Access, Depends(page_access("GET", "/participants/{participant_id}/suggestions"))
]
FeedbackAccess = Annotated[
    Access, Depends(page_access("POST", "/suggestions/{suggestion_id}/feedback"))
]
OutcomeAccess = Annotated[
    Access, Depends(page_access("POST", "/participants/{participant_id}/outcomes"))
]


async def form_of(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(form_of)]

PAGE_SIZE = 25
#: Suggestions per lane on the page.
LANE_SIZE = 10
HISTORY_SIZE = 50
#: Contributions smaller than this are left out of the bar chart (the table has them all).
MIN_BAR = 0.005
#: What the list shows of each participant (named in the audit row).
LIST_FIELDS: tuple[str, ...] = (
    "external_ref",
    "municipality",
    "goal",
    "status",
    "preferred_occupations_text",
    "updated_at",
)

PROFILE_FIELDS: Mapping[str, FieldKind] = {
    "preferred_occupations_text": "text",
    "preferred_tasks_text": "text",
    "environment_preferences": "choices",
    "environment_text": "text",
    "goal": "text",
    "skills_text": "text",
    "experience_text": "text",
    "education_text": "text",
    "interests_text": "text",
    "municipality": "optional",
    "max_commute_km": "float",
    "max_commute_minutes": "int",
    "hours_min": "int",
    "hours_max": "int",
    "no_evenings": "bool",
    "no_weekends": "bool",
    "no_nights": "bool",
    "accommodations": "choices",
    "accommodations_text": "text",
    "consents": "choices",
    "status": "text",
    "gender": "text",
}
OUTCOME_FIELDS: Mapping[str, FieldKind] = {
    "kind": "text",
    "occurred_on": "date",
    "hours_per_week": "float",
    "suggestion_id": "int",
}


# --- participants -------------------------------------------------------------------------------


@router.get("/participants")
def participant_list(
    request: Request,
    access: ListAccess,
    q: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    goal: Annotated[str, Query(max_length=32)] = "",
    mine: bool = False,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    statement = access.select(Participant)
    search = q.strip()
    if search:
        statement = statement.where(
            sa.or_(
                Participant.external_ref.icontains(search, autoescape=True),
                Participant.municipality.icontains(search, autoescape=True),
                Participant.preferred_occupations_text.icontains(search, autoescape=True),
            )
        )
    if status in set(ParticipantStatus):
        statement = statement.where(Participant.status == ParticipantStatus(status))
    if goal in set(Goal):
        statement = statement.where(Participant.goal == Goal(goal))
    if mine:
        statement = statement.where(Participant.coach_id == access.user.id)
    rows, next_cursor = paged(
        access.session, statement, Participant, page_request(limit=PAGE_SIZE, cursor=cursor)
    )
    access.audit(AuditAction.READ, [p.id for p in rows], LIST_FIELDS)
    filters = {"q": search, "status": status, "goal": goal, "mine": "1" if mine else ""}
    kept = {name: value for name, value in filters.items() if value}
    return render(
        request,
        "participants.html",
        {
            "participants": rows,
            "filters": filters,
            "filtered": bool(kept),
            "next_page": f"?{urlencode(kept | {'cursor': next_cursor})}" if next_cursor else None,
            "first_page": f"?{urlencode(kept)}" if cursor else None,
        },
    )


def _titles(access: Access, lanes_and_ids: Iterable[tuple[Lane, int | None]]) -> dict[Any, str]:
    """Titles of openings and places, by (lane, id)."""
    wanted: dict[Lane, set[int]] = {Lane.JOBS: set(), Lane.ASF: set()}
    for lane, item_id in lanes_and_ids:
        if item_id is not None:
            wanted[lane].add(item_id)
    titles: dict[Any, str] = {}
    for lane, entity in ((Lane.JOBS, Opening), (Lane.ASF, Placement)):
        if wanted[lane]:
            for item_id, title in access.session.execute(
                sa.select(entity.id, entity.title).where(entity.id.in_(wanted[lane]))
            ):
                titles[(lane, item_id)] = title
    return titles


def _decisions(access: Access, participant_id: int) -> list[dict[str, Any]]:
    """The coach's decisions on the participant's suggestions, newest first."""
    rows = access.session.execute(
        sa.select(Feedback, Suggestion)
        .join(Suggestion, Suggestion.id == Feedback.suggestion_id)
        .where(access.visible(Suggestion), Suggestion.participant_id == participant_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(HISTORY_SIZE)
    ).all()
    titles = _titles(access, ((s.lane, s.item_id) for _, s in rows))
    return [
        {
            "feedback": feedback,
            "suggestion": suggestion,
            "lane": suggestion.lane,
            "item_id": suggestion.item_id,
            "title": titles.get((suggestion.lane, suggestion.item_id), "(borttagen)"),
        }
        for feedback, suggestion in rows
    ]


def _outcomes(access: Access, participant_id: int) -> list[dict[str, Any]]:
    outcomes = list(
        access.session.scalars(
            sa.select(Outcome)
            .where(Outcome.participant_id == participant_id)
            .order_by(Outcome.occurred_at.desc(), Outcome.id.desc())
        )
    )
    titles = _titles(
        access,
        [
            *((Lane.JOBS, o.opening_id) for o in outcomes),
            *((Lane.ASF, o.placement_id) for o in outcomes),
        ],
    )
    return [
        {
            "outcome": outcome,
            "title": titles.get((Lane.JOBS, outcome.opening_id))
            or titles.get((Lane.ASF, outcome.placement_id)),
        }
        for outcome in outcomes
    ]


def _profile_values(public: ParticipantPublic) -> dict[str, Any]:
    values = public.model_dump(mode="json")
    values["consents"] = [c["scope"] for c in values["consents"] if c["active"]]
    return values


def _profile_page(
    request: Request,
    access: Access,
    matcher: MatchingEngine,
    public: ParticipantPublic,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Errors | None = None,
    outcome_values: Mapping[str, Any] | None = None,
    outcome_errors: Errors | None = None,
    status_code: int = 200,
) -> Response:
    decisions = _decisions(access, public.id)
    linkable = {
        d["suggestion"].id: d
        for d in reversed(decisions)
        if d["feedback"].decision in (Decision.SHORTLISTED, Decision.CONTACTED_EMPLOYER)
    }
    return render(
        request,
        "participant.html",
        {
            "participant": public,
            "values": values if values is not None else _profile_values(public),
            "errors": errors or {},
            "consents": {c.scope.value: c for c in public.consents},
            "municipalities": sorted(matcher.centroids),
            "decisions": decisions,
            "outcomes": _outcomes(access, public.id),
            "linkable": list(linkable.values())[::-1],
            "outcome_values": outcome_values or {"occurred_on": date.today().isoformat()},
            "outcome_errors": outcome_errors or {},
        },
        status_code=status_code,
    )


@router.get("/participants/{participant_id}")
def participant_page(
    request: Request, participant_id: int, access: ReadAccess, matcher: MatcherDep
) -> Response:
    public = participant_routes.get(participant_id=participant_id, access=access)
    return _profile_page(request, access, matcher, public)


@router.post("/participants/{participant_id}")
def participant_save(
    request: Request,
    participant_id: int,
    access: EditAccess,
    matcher: MatcherDep,
    form: FormDep,
) -> Response:
    access.get(Participant, participant_id)
    values, errors = read_form(form, PROFILE_FIELDS)
    body = validate(ParticipantUpdate, values, errors)
    if body is not None:
        try:
            participant_routes.update(participant_id=participant_id, body=body, access=access)
        except InvalidInput as error:
            access.session.rollback()  # nothing of a refused change is kept
            rule_error(error, errors)
        else:
            return redirect(f"{PREFIX}/participants/{participant_id}", "profil")
    public = ParticipantPublic.model_validate(access.get(Participant, participant_id))
    return _profile_page(
        request, access, matcher, public, values=values, errors=errors, status_code=422
    )


@router.post("/participants/{participant_id}/outcomes")
def outcome_save(
    request: Request,
    participant_id: int,
    access: OutcomeAccess,
    matcher: MatcherDep,
    form: FormDep,
) -> Response:
    access.get(Participant, participant_id)
    values, errors = read_form(form, OUTCOME_FIELDS)
    occurred_on = values.pop("occurred_on")
    if occurred_on is None and "occurred_on" not in errors:
        errors["occurred_on"] = "Fyll i fältet."
    if isinstance(occurred_on, date):
        values["occurred_at"] = midday(occurred_on)
    body = validate(OutcomeCreate, values, errors)
    if "occurred_at" in errors:
        errors.setdefault("occurred_on", errors.pop("occurred_at"))
    if body is not None:
        suggestion_routes.outcome(participant_id=participant_id, body=body, access=access)
        return redirect(f"{PREFIX}/participants/{participant_id}", "utfall", anchor="utfall")
    public = ParticipantPublic.model_validate(access.get(Participant, participant_id))
    shown = dict(values, occurred_on=form.get("occurred_on", ""))
    return _profile_page(
        request,
        access,
        matcher,
        public,
        outcome_values=shown,
        outcome_errors=errors,
        status_code=422,
    )


# --- suggestions ------------------------------------------------------------------------------


def _bars(shown: SuggestionPublic, scale: float) -> list[dict[str, Any]]:
    """The suggestion's contributions as diverging bars, strongest for first."""
    rows = sorted(
        (row for row in shown.table if abs(row.contribution) >= MIN_BAR),
        key=lambda row: -row.contribution,
    )
    return [
        {
            "label": row.label,
            "contribution": row.contribution,
            "text": row.text,
            "width": round(100 * min(abs(row.contribution) / scale, 1.0), 2),
            "positive": row.contribution > 0,
        }
        for row in rows
    ]


def _distance(facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """Distance from home against the participant's limit, for the distance line."""
    commute = facts.get("commute_within") or facts.get("commute_over")
    if not commute or commute.get("km") is None or not commute.get("limit_km"):
        return None
    km, limit = float(commute["km"]), float(commute["limit_km"])
    span = max(km, limit) * 1.15 or 1.0
    return {
        "km": km,
        "limit": limit,
        "stated": bool(commute.get("stated", True)),
        "beyond": km > limit,
        "x": round(200 * km / span, 2),
        "limit_x": round(200 * limit / span, 2),
    }


def _facts(access: Access, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = access.session.execute(
        sa.select(Suggestion.id, Suggestion.facts).where(
            Suggestion.id.in_(ids), access.visible(Suggestion)
        )
    )
    return {row.id: row.facts for row in rows}


@router.get("/participants/{participant_id}/suggestions")
def suggestions_page(
    request: Request, participant_id: int, access: SuggestAccess, matcher: MatcherDep
) -> Response:
    participant = access.get(Participant, participant_id)
    try:
        result = suggestion_routes.suggestions(
            participant_id=participant.id,
            access=access,
            matcher=matcher,
            language="sv",
            response=Response(),
            metrics=metrics_of(request),
            gate=suggestion_routes.ranking_gate(request),
            lane=None,
            k=LANE_SIZE,
        )
    except ConsentMissing:
        return render(
            request,
            "suggestions.html",
            {"participant": participant, "lanes": [], "consent_missing": True},
            status_code=409,
        )
    shown = [s for slate in result.lanes for s in slate.suggestions]
    facts = _facts(access, [s.suggestion_id for s in shown])
    scale = max((abs(r.contribution) for s in shown for r in s.table), default=0.0) or 1.0
    latest: dict[tuple[Lane, int | None], dict[str, Any]] = {}
    for decided in _decisions(access, participant.id):
        latest.setdefault((decided["lane"], decided["item_id"]), decided)
    lanes = [
        {
            "lane": slate.lane,
            "slate": slate,
            "cards": [
                {
                    "shown": s,
                    "bars": _bars(s, scale),
                    "distance": _distance(facts.get(s.suggestion_id, {})),
                    "decided": latest.get((slate.lane, s.item.id)),
                }
                for s in slate.suggestions
            ],
        }
        for slate in result.lanes
    ]
    return render(
        request,
        "suggestions.html",
        {"participant": participant, "lanes": lanes, "consent_missing": False},
    )


@router.post("/suggestions/{suggestion_id}/feedback")
def feedback_save(suggestion_id: int, access: FeedbackAccess, form: FormDep) -> Response:
    suggestion = access.get(Suggestion, suggestion_id)
    back = f"{PREFIX}/participants/{suggestion.participant_id}/suggestions"
    values, errors = read_form(
        form, {"decision": "text", "reason_code": "optional", "comment": "text"}
    )
    body = validate(FeedbackCreate, values, errors)
    if body is None:
        return redirect(back, error="beslut")
    if body.decision is Decision.NEVER and body.reason_code is None:
        return redirect(back, error="anledning")
    suggestion_routes.feedback(suggestion_id=suggestion.id, body=body, access=access)
    return redirect(back, "beslut")
