"""Suggestions for a participant in both lanes, the coach's feedback, and outcomes."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.admission import FifoGate
from api.deps import AccessDep, LanguageDep, MatcherDep, PathId
from api.routes.operations import Metrics, metrics_of
from api.schemas import (
    ContributionRow,
    FeedbackCreate,
    FeedbackPublic,
    ItemSummary,
    OutcomeCreate,
    OutcomePublic,
    ReasonPublic,
    ReasonsPublic,
    SlatePublic,
    SuggestionPublic,
    SuggestionsPublic,
)
from matching.db.models import Participant, Suggestion
from matching.domain import AuditAction, Lane
from matching.explain import Language
from matching.service import (
    ShownSuggestion,
    Slate,
    lanes_in_order,
    log_slate,
    rank,
    record_feedback,
    record_outcome,
)

router = APIRouter(tags=["suggestions"])

MAX_K = 50

#: The participant fields suggesting reads (named in the audit row).
MATCHING_FIELDS: tuple[str, ...] = (
    "preferred_occupations_text",
    "preferred_tasks_text",
    "preferred_occupation_ids",
    "environment_preferences",
    "environment_text",
    "skills_text",
    "experience_text",
    "education_text",
    "interests_text",
    "municipality",
    "home_lat",
    "home_lon",
    "max_commute_km",
    "max_commute_minutes",
    "hours_min",
    "hours_max",
    "no_evenings",
    "no_weekends",
    "no_nights",
    "accommodations",
    "goal",
    "consents",
)


def _suggestion(shown: ShownSuggestion, language: Language) -> SuggestionPublic:
    explanation = shown.explanation(language)
    return SuggestionPublic(
        suggestion_id=shown.suggestion_id,
        rank=shown.rank,
        item=ItemSummary(
            id=shown.item_id,
            title=shown.title,
            organisation=shown.organisation,
            municipality=shown.municipality,
            occupation=shown.occupation_label,
        ),
        score=shown.score,
        bias=shown.bias,
        contributions=shown.contributions,
        feature_values=shown.values,
        reasons=ReasonsPublic(
            positives=[ReasonPublic(**vars(r)) for r in explanation.positives],
            negatives=[ReasonPublic(**vars(r)) for r in explanation.negatives],
        ),
        table=[ContributionRow(**vars(row)) for row in explanation.table],
    )


def _slate(slate: Slate, language: Language) -> SlatePublic:
    return SlatePublic(
        lane=slate.lane,
        slate_id=slate.slate_id,
        model_version=slate.model_version,
        considered=slate.considered,
        created_at=slate.created_at,
        suggestions=[_suggestion(s, language) for s in slate.suggestions],
    )


def ranking_gate(request: Request) -> FifoGate | None:
    gate: FifoGate | None = request.app.state.ranking_gate
    return gate


@router.get(
    "/participants/{participant_id}/suggestions",
    summary="Ranked, explained suggestions in one or both lanes.",
    description="Each suggestion has its score split into exact per-feature contributions "
    "and reasons in the language of `Accept-Language` (Swedish unless English is "
    "preferred). Without `lane`, both lanes in the participant's order: competitive jobs "
    "first, unless the participant's goal is work training. Every suggestion is logged as "
    "shown, with the model version. Items marked `never` do not come back; `not_now` "
    "lowers an item for a while. 409 when the participant has no matching consent.",
)
def suggestions(
    participant_id: PathId,
    access: AccessDep,
    matcher: MatcherDep,
    language: LanguageDep,
    response: Response,
    metrics: Annotated[Metrics, Depends(metrics_of)],
    gate: Annotated[FifoGate | None, Depends(ranking_gate)],
    lane: Lane | None = None,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="Suggestions per lane.")] = 10,
) -> SuggestionsPublic:
    participant = access.get(Participant, participant_id)
    lanes = [lane] if lane is not None else list(lanes_in_order(participant))
    # Ranking only reads (on SQLite without the writer lock, side by side with other
    # requests); logging what is shown and the audit row are the request's writes. The
    # process's requests rank in turn, first come first served (`api.admission`); the
    # writes, which mostly wait for the database, leave the next one ranking meanwhile.
    with gate or nullcontext():
        ranked = [
            rank(
                session=access.session,
                engine=matcher,
                participant_id=participant.id,
                lane=chosen,
                k=k,
                before_write=access.work.begin_writes,
            )
            for chosen in lanes
        ]
    access.work.begin_writes()
    slates = [log_slate(access.session, slate) for slate in ranked]
    access.audit(AuditAction.SUGGEST, [participant.id], MATCHING_FIELDS)
    for slate in slates:
        metrics.shown(slate.lane, len(slate.suggestions))
    response.headers["Content-Language"] = language
    return SuggestionsPublic(
        participant_id=participant.id,
        language=language,
        lanes=[_slate(slate, language) for slate in slates],
    )


@router.post(
    "/suggestions/{suggestion_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    summary="Record the decision taken with the participant on one suggestion.",
)
def feedback(suggestion_id: PathId, body: FeedbackCreate, access: AccessDep) -> FeedbackPublic:
    suggestion = access.get(Suggestion, suggestion_id)
    recorded = record_feedback(
        session=access.session,
        suggestion_id=suggestion.id,
        decision=body.decision,
        reason_code=body.reason_code,
        comment=body.comment,
        coach_id=access.user.id,
    )
    access.audit(AuditAction.FEEDBACK, [suggestion.participant_id], sorted(body.model_fields_set))
    return FeedbackPublic.model_validate(recorded)


@router.post(
    "/participants/{participant_id}/outcomes",
    status_code=status.HTTP_201_CREATED,
    summary="Record what followed: interview, job start, end, still employed at 90 days.",
)
def outcome(participant_id: PathId, body: OutcomeCreate, access: AccessDep) -> OutcomePublic:
    participant = access.get(Participant, participant_id)
    if body.suggestion_id is not None:
        access.get(Suggestion, body.suggestion_id)
    recorded = record_outcome(
        session=access.session,
        participant_id=participant.id,
        kind=body.kind,
        occurred_at=body.occurred_at,
        suggestion_id=body.suggestion_id,
        hours_per_week=body.hours_per_week,
        recorded_by=access.user.id,
    )
    access.audit(AuditAction.OUTCOME, [participant.id], sorted(body.model_fields_set))
    return OutcomePublic.model_validate(recorded)
