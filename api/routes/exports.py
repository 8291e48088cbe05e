"""Training data for the data team: pseudonymous, consenting participants only, no free text."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AccessDep, PageDep, encode_cursor
from api.schemas import Page, TrainingExamplePublic
from matching.domain import AuditAction
from matching.resources import training_examples

router = APIRouter(tags=["exports"])

EXPORTED_FIELDS = ("gender", "suggestions", "feedback.decision", "outcomes")


@router.get(
    "/exports/training",
    summary="Logged suggestions with features, contributions, decisions and outcomes.",
    description="Only suggestions of participants whose model-training consent is active "
    "now. Participants appear as a keyed hash, never by id or reference; coaches' comments "
    "and every other free text are left out. Each page is audited per participant.",
)
def training(access: AccessDep, page: PageDep) -> Page[TrainingExamplePublic]:
    examples = training_examples(
        session=access.session,
        secret=access.settings.secret_key.get_secret_value(),
        limit=page.limit + 1,
        after=page.after,
    )
    more = len(examples) > page.limit
    examples = examples[: page.limit]
    access.audit(AuditAction.EXPORT, [e.participant_id for e in examples], EXPORTED_FIELDS)
    return Page(
        items=[TrainingExamplePublic.model_validate(e) for e in examples],
        next_cursor=encode_cursor(examples[-1].suggestion_id) if more else None,
    )
