"""Use cases that create and change the records behind the API, and the training export.

Participants, openings, work-training places, employers, ASF providers, organisations and
users are created and changed here, and the pseudonymous training export is read here.
Every change is validated against the shapes the fixture loader uses (`matching.schemas`,
`matching.fixtures`): a partial update is merged with the stored record and the whole is
validated again, so a rule between two fields (hours, positions, coordinates) holds
whichever of them changed. Functions work inside the caller's
transaction and never commit; they return what changed so the caller can audit it and,
for openings and places, refresh the index after the commit.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session, selectinload

from matching.db.models import (
    AsfProvider,
    Consent,
    Employer,
    Opening,
    Organisation,
    Outcome,
    Participant,
    Placement,
    Suggestion,
    User,
)
from matching.domain import (
    ConsentScope,
    Decision,
    Gender,
    Lane,
    OpeningSource,
    OpeningStatus,
    OutcomeKind,
    PlacementStatus,
    ReasonCode,
    Role,
)
from matching.errors import Conflict, InvalidInput, NotFound
from matching.fixtures import AsfProviderRecord, EmployerRecord, OrganisationRecord, Username
from matching.schemas import OpeningFields, ParticipantProfile, PlacementFields

M = TypeVar("M", bound=BaseModel)

PROFILE_FIELDS: tuple[str, ...] = tuple(ParticipantProfile.model_fields)
OPENING_FIELDS: tuple[str, ...] = tuple(OpeningFields.model_fields)
PLACEMENT_FIELDS: tuple[str, ...] = tuple(PlacementFields.model_fields)


def validated(model: type[M], values: Mapping[str, Any]) -> M:
    """`values` as `model`, or InvalidInput naming the first offending field."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidInput(first["msg"], field=field) from error


def _refuse_unknown(changes: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise InvalidInput("this field cannot be changed here", field=unknown[0])


def _merge(row: Any, model: type[BaseModel], changes: Mapping[str, Any]) -> list[str]:
    """Validate the row with `changes` applied as a whole, then apply what really differs."""
    names = tuple(model.model_fields)
    given = {name: value for name, value in changes.items() if name in names}
    if not given:
        return []
    current = {name: getattr(row, name) for name in names}
    merged = validated(model, current | given).model_dump()
    changed = [name for name in given if merged[name] != current[name]]
    for name in changed:
        setattr(row, name, merged[name])
    return changed


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


# --- participants ---------------------------------------------------------------------------


def _check_coach(session: Session, coach_id: int, organisation_id: int) -> None:
    coach = session.get(User, coach_id)
    if coach is None or coach.role is not Role.COACH or coach.organisation_id != organisation_id:
        raise InvalidInput("not a coach of the participant's organisation", field="coach_id")


def _set_consents(participant: Participant, scopes: Iterable[ConsentScope], now: datetime) -> bool:
    """Make exactly `scopes` active: give the missing ones, withdraw the others."""
    wanted = set(scopes)
    changed = False
    by_scope = {consent.scope: consent for consent in participant.consents}
    for scope in ConsentScope:
        consent = by_scope.get(scope)
        if scope in wanted and (consent is None or consent.withdrawn_at is not None):
            if consent is None:
                participant.consents.append(Consent(scope=scope, given_at=now))
            else:
                consent.given_at, consent.withdrawn_at = now, None
            changed = True
        elif scope not in wanted and consent is not None and consent.withdrawn_at is None:
            consent.withdrawn_at = max(now, consent.given_at)
            changed = True
    return changed


def create_participant(
    *,
    session: Session,
    organisation_id: int,
    external_ref: str,
    profile: ParticipantProfile,
    coach_id: int | None = None,
    consents: Iterable[ConsentScope] = (),
    now: datetime | None = None,
) -> Participant:
    """A new participant of `organisation_id`, with the consents given now."""
    now = _now(now)
    if coach_id is not None:
        _check_coach(session, coach_id, organisation_id)
    duplicate = session.scalar(
        sa.select(Participant.id).where(
            Participant.organisation_id == organisation_id,
            Participant.external_ref == external_ref,
        )
    )
    if duplicate is not None:
        raise Conflict(f"the organisation already has a participant {external_ref!r}")
    participant = Participant(
        organisation_id=organisation_id,
        coach_id=coach_id,
        external_ref=external_ref,
        created_at=now,
        updated_at=now,
        **profile.model_dump(include=set(PROFILE_FIELDS)),
    )
    _set_consents(participant, consents, now)
    session.add(participant)
    session.flush()
    return participant


def update_participant(
    *,
    session: Session,
    participant: Participant,
    changes: Mapping[str, Any],
    now: datetime | None = None,
) -> list[str]:
    """Change profile fields, the coach and the set of active consents; returns what changed.

    `changes["consents"]`, when given, is the full set of scopes that should be active.
    """
    now = _now(now)
    _refuse_unknown(changes, (*PROFILE_FIELDS, "coach_id", "consents"))
    changed = _merge(participant, ParticipantProfile, changes)
    if "coach_id" in changes and changes["coach_id"] != participant.coach_id:
        if changes["coach_id"] is not None:
            _check_coach(session, changes["coach_id"], participant.organisation_id)
        participant.coach_id = changes["coach_id"]
        changed.append("coach_id")
    if changes.get("consents") is not None and _set_consents(participant, changes["consents"], now):
        changed.append("consents")
    if changed:
        participant.updated_at = now
        session.flush()
    return changed


# --- openings and work-training places ------------------------------------------------------


def _check_expiry(expires_at: datetime | None, published_at: datetime) -> None:
    if expires_at is not None and expires_at < published_at:
        raise InvalidInput("must not be before the opening was published", field="expires_at")


def create_opening(
    *,
    session: Session,
    employer_id: int,
    fields: OpeningFields,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Opening:
    """A new opening of `employer_id`, published now."""
    now = _now(now)
    if session.get(Employer, employer_id) is None:
        raise NotFound("employer", employer_id)
    _check_expiry(expires_at, now)
    opening = Opening(
        employer_id=employer_id,
        published_at=now,
        expires_at=expires_at,
        source=OpeningSource.EMPLOYER,
        created_at=now,
        updated_at=now,
        **fields.model_dump(include=set(OPENING_FIELDS)),
    )
    session.add(opening)
    session.flush()
    return opening


def update_opening(*, session: Session, opening: Opening, changes: Mapping[str, Any]) -> list[str]:
    """Change an opening's fields (and closing date); returns the fields that changed."""
    _refuse_unknown(changes, (*OPENING_FIELDS, "expires_at"))
    changed = _merge(opening, OpeningFields, changes)
    if "expires_at" in changes and changes["expires_at"] != opening.expires_at:
        _check_expiry(changes["expires_at"], opening.published_at)
        opening.expires_at = changes["expires_at"]
        changed.append("expires_at")
    if changed:
        session.flush()
    return changed


def close_opening(*, session: Session, opening: Opening) -> list[str]:
    """Close an opening: it is no longer suggested. Closing twice changes nothing."""
    return update_opening(
        session=session, opening=opening, changes={"status": OpeningStatus.CLOSED}
    )


def create_placement(
    *,
    session: Session,
    asf_provider_id: int,
    fields: PlacementFields,
    now: datetime | None = None,
) -> Placement:
    """A new work-training place of `asf_provider_id`, published now."""
    now = _now(now)
    if session.get(AsfProvider, asf_provider_id) is None:
        raise NotFound("ASF provider", asf_provider_id)
    placement = Placement(
        asf_provider_id=asf_provider_id,
        published_at=now,
        created_at=now,
        updated_at=now,
        **fields.model_dump(include=set(PLACEMENT_FIELDS)),
    )
    session.add(placement)
    session.flush()
    return placement


def update_placement(
    *, session: Session, placement: Placement, changes: Mapping[str, Any]
) -> list[str]:
    """Change a place's fields, capacity and places taken; returns the fields that changed."""
    _refuse_unknown(changes, PLACEMENT_FIELDS)
    changed = _merge(placement, PlacementFields, changes)
    if changed:
        session.flush()
    return changed


def close_placement(*, session: Session, placement: Placement) -> list[str]:
    return update_placement(
        session=session, placement=placement, changes={"status": PlacementStatus.CLOSED}
    )


# --- parties: employers, ASF providers, organisations -----------------------------------------


def _unique_org_number(
    session: Session, entity: type[Employer] | type[AsfProvider], org_number: str, own: int | None
) -> None:
    found = session.scalar(sa.select(entity.id).where(entity.org_number == org_number))
    if found is not None and found != own:
        raise Conflict(f"organisation number {org_number} is already registered")


def create_employer(*, session: Session, fields: EmployerRecord) -> Employer:
    _unique_org_number(session, Employer, fields.org_number, None)
    employer = Employer(**fields.model_dump(include=set(EmployerRecord.model_fields)))
    session.add(employer)
    session.flush()
    return employer


def update_employer(
    *, session: Session, employer: Employer, changes: Mapping[str, Any]
) -> list[str]:
    _refuse_unknown(changes, EmployerRecord.model_fields)
    if changes.get("org_number"):
        _unique_org_number(session, Employer, changes["org_number"], employer.id)
    changed = _merge(employer, EmployerRecord, changes)
    session.flush()
    return changed


def create_asf_provider(*, session: Session, fields: AsfProviderRecord) -> AsfProvider:
    _unique_org_number(session, AsfProvider, fields.org_number, None)
    provider = AsfProvider(**fields.model_dump(include=set(AsfProviderRecord.model_fields)))
    session.add(provider)
    session.flush()
    return provider


def update_asf_provider(
    *, session: Session, provider: AsfProvider, changes: Mapping[str, Any]
) -> list[str]:
    _refuse_unknown(changes, AsfProviderRecord.model_fields)
    if changes.get("org_number"):
        _unique_org_number(session, AsfProvider, changes["org_number"], provider.id)
    changed = _merge(provider, AsfProviderRecord, changes)
    session.flush()
    return changed


def _unique_organisation_name(session: Session, name: str, own: int | None) -> None:
    found = session.scalar(sa.select(Organisation.id).where(Organisation.name == name))
    if found is not None and found != own:
        raise Conflict(f"an organisation named {name!r} exists already")


def create_organisation(*, session: Session, fields: OrganisationRecord) -> Organisation:
    _unique_organisation_name(session, fields.name, None)
    organisation = Organisation(**fields.model_dump(include=set(OrganisationRecord.model_fields)))
    session.add(organisation)
    session.flush()
    return organisation


def update_organisation(
    *, session: Session, organisation: Organisation, changes: Mapping[str, Any]
) -> list[str]:
    _refuse_unknown(changes, OrganisationRecord.model_fields)
    if changes.get("name"):
        _unique_organisation_name(session, changes["name"], organisation.id)
    changed = _merge(organisation, OrganisationRecord, changes)
    session.flush()
    return changed


# --- users ------------------------------------------------------------------------------------

#: Which party each role belongs to (the column that must be set); the others must be empty.
ROLE_PARTY: Mapping[Role, str | None] = {
    Role.COACH: "organisation_id",
    Role.EMPLOYER: "employer_id",
    Role.ASF_PROVIDER: "asf_provider_id",
    Role.DATA_TEAM: None,
    Role.ADMIN: None,
}
_PARTY_ENTITY: Mapping[str, type[Organisation] | type[Employer] | type[AsfProvider]] = {
    "organisation_id": Organisation,
    "employer_id": Employer,
    "asf_provider_id": AsfProvider,
}


def create_user(
    *,
    session: Session,
    username: str,
    role: Role,
    display_name: str = "",
    organisation_id: int | None = None,
    employer_id: int | None = None,
    asf_provider_id: int | None = None,
) -> User:
    """A user in one role, belonging to the one party that role needs (none for staff)."""
    parties = {
        "organisation_id": organisation_id,
        "employer_id": employer_id,
        "asf_provider_id": asf_provider_id,
    }
    try:
        username = TypeAdapter(Username).validate_python(username)
    except ValidationError as error:
        raise InvalidInput(
            "lower-case letters, digits, '.', '_' or '-'", field="username"
        ) from error
    needed = ROLE_PARTY[role]
    for column, value in parties.items():
        if column == needed and value is None:
            raise InvalidInput(f"a user with role {role.value} needs it", field=column)
        if column != needed and value is not None:
            raise InvalidInput(f"a user with role {role.value} cannot have it", field=column)
        if value is not None and session.get(_PARTY_ENTITY[column], value) is None:
            raise InvalidInput(f"no such {column.removesuffix('_id')}", field=column)
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"the username {username!r} is taken")
    user = User(username=username, role=role, display_name=display_name, **parties)
    session.add(user)
    session.flush()
    return user


def update_user(*, session: Session, user: User, changes: Mapping[str, Any]) -> list[str]:
    """Change a user's display name or deactivate (or reactivate) them."""
    _refuse_unknown(changes, ("display_name", "is_active"))
    changed = [name for name, value in changes.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, changes[name])
    session.flush()
    return changed


# --- the training export --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedDecision:
    decision: Decision
    reason_code: ReasonCode | None
    decided_at: datetime


@dataclass(frozen=True)
class ExportedOutcome:
    kind: OutcomeKind
    occurred_at: datetime
    hours_per_week: float | None


@dataclass(frozen=True)
class TrainingExample:
    """One logged suggestion as training reads it: pseudonymous, without any free text."""

    suggestion_id: int
    participant_id: int
    participant_key: str
    participant_gender: Gender
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
    decisions: tuple[ExportedDecision, ...]
    outcomes: tuple[ExportedOutcome, ...]


def participant_key(secret: str, participant_id: int) -> str:
    """A keyed hash of the participant id: stable for grouping, useless for finding the person."""
    digest = hmac.new(secret.encode("utf-8"), f"participant:{participant_id}".encode(), "sha256")
    return digest.hexdigest()[:32]


def _consents_to_training() -> sa.ColumnElement[bool]:
    return sa.exists().where(
        Consent.participant_id == Participant.id,
        Consent.scope == ConsentScope.MODEL_TRAINING,
        Consent.withdrawn_at.is_(None),
    )


def training_examples(
    *, session: Session, secret: str, limit: int, after: int | None = None
) -> list[TrainingExample]:
    """Logged suggestions of participants whose model-training consent is active, by id."""
    statement = (
        sa.select(Suggestion, Participant.gender)
        .join(Participant, Participant.id == Suggestion.participant_id)
        .where(_consents_to_training())
        .options(selectinload(Suggestion.feedback))
        .order_by(Suggestion.id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(Suggestion.id > after)
    rows: Sequence[Any] = session.execute(statement).all()
    outcomes: dict[int, list[ExportedOutcome]] = {}
    ids = [suggestion.id for suggestion, _ in rows]
    if ids:
        for outcome in session.scalars(
            sa.select(Outcome).where(Outcome.suggestion_id.in_(ids)).order_by(Outcome.id)
        ):
            assert outcome.suggestion_id is not None
            outcomes.setdefault(outcome.suggestion_id, []).append(
                ExportedOutcome(outcome.kind, outcome.occurred_at, outcome.hours_per_week)
            )
    return [
        TrainingExample(
            suggestion_id=suggestion.id,
            participant_id=suggestion.participant_id,
            participant_key=participant_key(secret, suggestion.participant_id),
            participant_gender=gender,
            lane=suggestion.lane,
            item_id=suggestion.item_id,
            slate_id=suggestion.slate_id,
            rank=suggestion.rank,
            score=suggestion.score,
            bias=suggestion.bias,
            model_version=suggestion.model_version,
            shown_at=suggestion.created_at,
            feature_values=dict(suggestion.feature_values),
            contributions=dict(suggestion.contributions),
            decisions=tuple(
                ExportedDecision(f.decision, f.reason_code, f.created_at)
                for f in suggestion.feedback
            ),
            outcomes=tuple(outcomes.get(suggestion.id, ())),
        )
        for suggestion, gender in rows
    ]
