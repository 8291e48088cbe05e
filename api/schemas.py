"""Request and response bodies of the API: `XCreate`, `XUpdate`, `XPublic` for each resource.

Create and update bodies extend the validated shapes of `matching.schemas` and
`matching.fixtures` rather than restating their rules. An update is partial: only the
fields sent change, and the use case validates the stored record with the change applied,
so rules between fields hold whichever field changed. Public bodies are what a role may
see; a participant's free text is only ever in `ParticipantPublic`, which only coaches get.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from matching.domain import (
    AuditAction,
    ConsentScope,
    Decision,
    Gender,
    Lane,
    OpeningSource,
    OutcomeKind,
    ReasonCode,
    Role,
)
from matching.fixtures import (
    AsfProviderRecord,
    EmployerRecord,
    OrganisationRecord,
    OrgNumber,
    Ref,
    Username,
)
from matching.schemas import (
    NO_NUL,
    Municipality,
    Name,
    OpeningFields,
    ParticipantProfile,
    PlacementFields,
    ShortText,
    Strict,
    Trimmed,
)

T = TypeVar("T")

MAX_COMMENT = 2000
#: The largest primary key (PostgreSQL `integer`): a larger id is invalid input, never looked up.
MAX_ID = 2**31 - 1
#: A reference to a stored object in a body.
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


def update_schema(*examples: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """An update's omitted field keeps its value: its schema must not show a default."""

    def adjust(schema: dict[str, Any]) -> None:
        for prop in schema.get("properties", {}).values():
            prop.pop("default", None)
        if examples:
            schema["examples"] = list(examples)

    return adjust


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass `next_cursor` as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Opaque cursor of the next page; null on the last page."
    )


# --- participants -----------------------------------------------------------------------------

_PARTICIPANT_EXAMPLE: dict[str, Any] = {
    "external_ref": "SOD-0042",
    "municipality": "Södertälje",
    "home_lat": 59.195,
    "home_lon": 17.625,
    "max_commute_km": 15,
    "preferred_occupations_text": "Vill jobba som lagerarbetare, gärna med truck",
    "preferred_tasks_text": "Plocka och packa varor",
    "skills_text": "Har truckkort A och B",
    "hours_min": 30,
    "hours_max": 40,
    "no_nights": True,
    "accommodations": ["written_instructions"],
    "goal": "competitive_job",
    "consents": ["matching", "follow_up", "model_training"],
}


class ParticipantCreate(ParticipantProfile):
    """A new participant of the coach's organisation, with the consents given today."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PARTICIPANT_EXAMPLE]})

    external_ref: Ref = Field(description="The team's pseudonymous reference, e.g. SOD-0042.")
    coach_id: Id | None = Field(
        default=None, description="A coach of the same organisation; default: the caller."
    )
    consents: Annotated[list[ConsentScope], Field(max_length=len(ConsentScope))] = Field(
        default_factory=list
    )


class ParticipantUpdate(ParticipantProfile):
    """Only the fields sent change. `consents` is the full set of scopes active from now."""

    model_config = ConfigDict(
        json_schema_extra=update_schema({"hours_min": 20, "consents": ["matching", "follow_up"]})
    )

    coach_id: Id | None = None
    consents: Annotated[list[ConsentScope], Field(max_length=len(ConsentScope))] | None = None


class ConsentPublic(Public):
    scope: ConsentScope
    given_at: datetime
    withdrawn_at: datetime | None
    active: bool


class ParticipantPublic(ParticipantProfile, Public):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
    organisation_id: int
    coach_id: int | None
    external_ref: str
    consents: list[ConsentPublic]
    created_at: datetime
    updated_at: datetime


# --- openings and work-training places ----------------------------------------------------------

_OPENING_EXAMPLE: dict[str, Any] = {
    "title": "Lagerarbetare till centrallager",
    "description": "Plock och pack, inleveranser och truckkörning. Truckkort A och B krävs.",
    "occupation_id": "DLEi_bTh_oLA",
    "occupation_label": "Lagerarbetare/Terminalarbetare",
    "ssyk_code": "4322",
    "required_skills": ["Truckvana"],
    "hours_min": 30,
    "hours_max": 40,
    "environment": ["team", "physical"],
    "municipality": "Nykvarn",
    "lat": 59.178,
    "lon": 17.428,
    "accommodations_offered": ["written_instructions", "mentor"],
    "positions": 2,
    "expires_at": "2027-01-31T23:59:00Z",
}


class OpeningCreate(OpeningFields):
    """A new opening of the caller's employer, published now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_OPENING_EXAMPLE]})

    expires_at: AwareDatetime | None = Field(default=None, description="Last day to apply.")


class OpeningUpdate(OpeningFields):
    """Only the fields sent change; positions and positions filled are checked together."""

    model_config = ConfigDict(
        json_schema_extra=update_schema({"positions_filled": 1, "hours_min": 25})
    )

    title: Name | None = None  # type: ignore[assignment]  # optional in an update
    expires_at: AwareDatetime | None = None

    @field_validator("positions_filled")
    @classmethod
    def _filled_within_positions(cls, value: int, info: ValidationInfo) -> int:
        # Checked against the stored positions when the update is applied.
        return value


class OpeningPublic(OpeningFields, Public):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
    employer_id: int
    published_at: datetime
    expires_at: datetime | None
    source: OpeningSource
    created_at: datetime
    updated_at: datetime


_PLACEMENT_EXAMPLE: dict[str, Any] = {
    "title": "Arbetsträning i second hand-butik",
    "activities": "Sortera, prismärka och sälja skänkta kläder och möbler.",
    "ssyk_code": "5223",
    "capacity": 4,
    "taken": 1,
    "supervision": "Handledare på plats varje dag",
    "hours_min": 10,
    "hours_max": 25,
    "municipality": "Södertälje",
    "accommodations_offered": ["regular_breaks", "clear_routines", "adjusted_pace"],
    "duration_weeks": 12,
}


class PlacementCreate(PlacementFields):
    """A new work-training place of the caller's ASF provider, published now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PLACEMENT_EXAMPLE]})


class PlacementUpdate(PlacementFields):
    """Only the fields sent change; capacity and places taken are checked together."""

    model_config = ConfigDict(json_schema_extra=update_schema({"taken": 2}))

    title: Name | None = None  # type: ignore[assignment]  # optional in an update

    @field_validator("taken")
    @classmethod
    def _taken_within_capacity(cls, value: int, info: ValidationInfo) -> int:
        # Checked against the stored capacity when the update is applied.
        return value


class PlacementPublic(PlacementFields, Public):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
    asf_provider_id: int
    published_at: datetime
    created_at: datetime
    updated_at: datetime


# --- employers, ASF providers, organisations ---------------------------------------------------


class EmployerCreate(EmployerRecord):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "org_number": "556677-0011",
                    "name": "Nykvarns Lager AB",
                    "municipality": "Nykvarn",
                }
            ]
        }
    )


class EmployerUpdate(EmployerRecord):
    model_config = ConfigDict(json_schema_extra=update_schema({"municipality": "Södertälje"}))

    org_number: OrgNumber | None = None  # type: ignore[assignment]  # optional in an update
    name: Name | None = None  # type: ignore[assignment]  # optional in an update


class EmployerPublic(Public):
    id: int
    name: str
    org_number: str | None
    municipality: str | None
    created_at: datetime


class AsfProviderCreate(AsfProviderRecord):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "org_number": "769000-1234",
                    "name": "Återbruket ekonomisk förening",
                    "municipality": "Södertälje",
                    "description": "Second hand och återbruk med arbetsträning.",
                }
            ]
        }
    )


class AsfProviderUpdate(AsfProviderRecord):
    model_config = ConfigDict(
        json_schema_extra=update_schema({"description": "Café, second hand och cykelverkstad."})
    )

    org_number: OrgNumber | None = None  # type: ignore[assignment]  # optional in an update
    name: Name | None = None  # type: ignore[assignment]  # optional in an update


class AsfProviderPublic(Public):
    id: int
    name: str
    org_number: str | None
    municipality: str | None
    description: str
    created_at: datetime


class OrganisationCreate(OrganisationRecord):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Samordningsförbundet Södertälje",
                    "municipalities": ["Södertälje", "Nykvarn"],
                }
            ]
        }
    )


class OrganisationUpdate(OrganisationRecord):
    model_config = ConfigDict(
        json_schema_extra=update_schema({"municipalities": ["Södertälje", "Nykvarn"]})
    )

    name: Name | None = None  # type: ignore[assignment]  # optional in an update
    municipalities: list[Municipality] | None = None  # type: ignore[assignment]  # optional in an update


class OrganisationPublic(Public):
    id: int
    name: str
    municipalities: list[str]
    created_at: datetime


# --- users and tokens ---------------------------------------------------------------------------


class UserCreate(Strict):
    """A user in one role: a coach belongs to an organisation, an employer user to an
    employer, an ASF user to a provider; data team and admin to none."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "coach.sodertalje.9",
                    "display_name": "Jobbcoach Södertälje 9",
                    "role": "coach",
                    "organisation_id": 3,
                }
            ]
        }
    )

    username: Username
    display_name: ShortText = ""
    role: Role
    organisation_id: Id | None = None
    employer_id: Id | None = None
    asf_provider_id: Id | None = None


class UserUpdate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": False}]})

    display_name: ShortText | None = None
    is_active: StrictBool | None = None


class UserPublic(Public):
    id: int
    username: str
    display_name: str
    role: Role
    organisation_id: int | None
    employer_id: int | None
    asf_provider_id: int | None
    is_active: bool
    created_at: datetime


class TokenCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "laptop", "valid_days": 90}]}
    )

    name: Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL), Trimmed] = ""
    valid_days: Annotated[StrictInt, Field(ge=1, le=3650)] | None = Field(
        default=90, description="Days until it expires; null: never."
    )


class TokenPublic(Public):
    id: int
    user_id: int
    prefix: str = Field(description="The first characters of the token, to tell tokens apart.")
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenIssued(TokenPublic):
    token: str = Field(description="The bearer token. Shown only now; only its hash is kept.")


# --- suggestions, feedback, outcomes ------------------------------------------------------------


class ItemSummary(BaseModel):
    id: int
    title: str
    organisation: str
    municipality: str | None
    occupation: str | None


class ReasonPublic(BaseModel):
    feature: str
    contribution: float
    text: str


class ReasonsPublic(BaseModel):
    positives: list[ReasonPublic]
    negatives: list[ReasonPublic]


class ContributionRow(BaseModel):
    feature: str
    label: str
    value: float | None
    contribution: float
    text: str


class SuggestionPublic(BaseModel):
    suggestion_id: int = Field(description="Give this id to POST /suggestions/{id}/feedback.")
    rank: int
    item: ItemSummary
    score: float = Field(description="bias + the sum of the contributions.")
    bias: float
    contributions: dict[str, float]
    feature_values: dict[str, float | None]
    reasons: ReasonsPublic
    table: list[ContributionRow] = Field(description="Every feature, in the ranker's order.")


class SlatePublic(BaseModel):
    lane: Lane
    slate_id: str
    model_version: str
    considered: int = Field(description="Open items that were ranked.")
    created_at: datetime
    suggestions: list[SuggestionPublic]


class SuggestionsPublic(BaseModel):
    participant_id: int
    language: str
    lanes: list[SlatePublic] = Field(description="Competitive jobs first unless work training.")


class FeedbackCreate(Strict):
    """The decision taken with the participant. `never` hides the item for good; `not_now`
    lowers it for a while."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"decision": "never", "reason_code": "wrong_occupation", "comment": ""},
                {"decision": "shortlisted", "reason_code": "participant_interested"},
            ]
        }
    )

    decision: Decision
    reason_code: ReasonCode | None = None
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT, pattern=NO_NUL)] = ""


class FeedbackPublic(Public):
    id: int
    suggestion_id: int
    coach_id: int | None
    decision: Decision
    reason_code: ReasonCode | None
    comment: str
    created_at: datetime


class OutcomeCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "job_start",
                    "occurred_at": "2026-12-01T08:00:00Z",
                    "suggestion_id": 1234,
                    "hours_per_week": 25,
                }
            ]
        }
    )

    kind: OutcomeKind
    occurred_at: AwareDatetime
    suggestion_id: Id | None = None
    hours_per_week: Annotated[StrictFloat, Field(gt=0, le=80)] | None = None


class OutcomePublic(Public):
    id: int
    participant_id: int
    suggestion_id: int | None
    opening_id: int | None
    placement_id: int | None
    kind: OutcomeKind
    hours_per_week: float | None
    occurred_at: datetime
    created_at: datetime


# --- audit, export, models -----------------------------------------------------------------------


class AuditEntryPublic(Public):
    id: int
    at: datetime
    actor_user_id: int | None
    actor_role: str | None
    action: AuditAction
    participant_id: int | None
    subject: str
    fields: list[str]
    request_id: str | None


class ExportedDecisionPublic(Public):
    decision: Decision
    reason_code: ReasonCode | None
    decided_at: datetime


class ExportedOutcomePublic(Public):
    kind: OutcomeKind
    occurred_at: datetime
    hours_per_week: float | None


class TrainingExamplePublic(Public):
    """One logged suggestion: pseudonymous participant key, features as shown, no free text."""

    suggestion_id: int
    participant_key: str = Field(description="Keyed hash of the participant; not the id.")
    participant_gender: Gender = Field(description="For the equality measures only.")
    lane: Lane
    item_id: int | None
    slate_id: str
    rank: int
    score: float
    bias: float
    model_version: str
    shown_at: datetime
    feature_values: dict[str, Any]
    contributions: dict[str, Any]
    decisions: list[ExportedDecisionPublic]
    outcomes: list[ExportedOutcomePublic]


class ModelPublic(BaseModel):
    version: str = Field(examples=["handset-1"])
    bias: float
    features: list[str]
