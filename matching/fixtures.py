"""Load the demo fixtures (data/fixtures/*.json) into the database, validated and idempotent.

Every file is validated before anything is written; the whole load is one transaction, so a
malformed file or record loads nothing. Records already present (matched by their natural
key) are left as they are, so loading twice changes nothing. Dates in the files are day
offsets, anchored to the time of loading, so the demo never shows only expired openings.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.db.models import (
    AsfProvider,
    Consent,
    Employer,
    Feedback,
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
    Lane,
    OpeningSource,
    OutcomeKind,
    ReasonCode,
    Role,
)
from matching.errors import InvalidInput
from matching.progress import Track, no_progress
from matching.schemas import (
    Municipality,
    Name,
    OpeningFields,
    ParticipantProfile,
    PlacementFields,
    Strict,
)

M = TypeVar("M", bound=BaseModel)

#: The model version recorded on suggestions imported from the fixture history.
HISTORY_MODEL_VERSION = "fixture-history"
_HISTORY_NAMESPACE = uuid.UUID("6f1c7f0e-3c4b-4d8e-9a51-5b7d2f0c9e11")

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
OrgNumber = Annotated[str, StringConstraints(pattern=r"^\d{6}-\d{4}$")]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9._-]{1,64}$")]
DaysAgo = Annotated[int, Field(ge=0, le=3650)]


class OrganisationRecord(Strict):
    name: Name
    municipalities: list[Municipality]


class EmployerRecord(Strict):
    org_number: OrgNumber
    name: Name
    municipality: Municipality | None = None


class AsfProviderRecord(EmployerRecord):
    description: str = ""


class UserRecord(Strict):
    username: Username
    display_name: str = ""
    role: Role
    organisation: str | None = None
    employer: OrgNumber | None = None
    asf_provider: OrgNumber | None = None


class OpeningRecord(OpeningFields):
    ref: Ref
    employer: OrgNumber
    published_days_ago: DaysAgo = 0
    expires_in_days: Annotated[int, Field(ge=0, le=3650)] | None = None


class PlacementRecord(PlacementFields):
    ref: Ref
    asf_provider: OrgNumber
    published_days_ago: DaysAgo = 0


class ConsentRecord(Strict):
    scope: ConsentScope
    given_days_ago: DaysAgo
    withdrawn_days_ago: DaysAgo | None = None


class ParticipantRecord(ParticipantProfile):
    ref: Ref
    organisation: str
    coach: Username | None = None
    created_days_ago: DaysAgo = 0
    consents: list[ConsentRecord] = Field(default_factory=list)


class OutcomeRecord(Strict):
    kind: OutcomeKind
    days_ago: DaysAgo
    hours_per_week: Annotated[float, Field(gt=0, le=80)] | None = None


class HistoryItemRecord(Strict):
    item: Ref
    rank: Annotated[int, Field(ge=1, le=1000)]
    decision: Decision | None = None
    reason_code: ReasonCode | None = None
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""
    decided_days_ago: DaysAgo | None = None
    outcomes: list[OutcomeRecord] = Field(default_factory=list)


class HistorySessionRecord(Strict):
    participant: Ref
    lane: Lane
    shown_days_ago: DaysAgo
    items: Annotated[list[HistoryItemRecord], Field(min_length=1, max_length=100)]


@dataclass
class LoadReport:
    """How many records of each kind were added and how many were already there."""

    added: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, *, new: bool) -> None:
        target = self.added if new else self.present
        target[kind] = target.get(kind, 0) + 1

    def summary(self) -> str:
        kinds = sorted(set(self.added) | set(self.present))
        return ", ".join(
            f"{kind}: {self.added.get(kind, 0)} added, {self.present.get(kind, 0)} present"
            for kind in kinds
        )


@dataclass(frozen=True)
class FixtureSet:
    organisations: list[OrganisationRecord]
    employers: list[EmployerRecord]
    asf_providers: list[AsfProviderRecord]
    users: list[UserRecord]
    openings: list[OpeningRecord]
    placements: list[PlacementRecord]
    participants: list[ParticipantRecord]
    history: list[HistorySessionRecord]


def _record_label(index: int, raw: Any) -> str:
    if isinstance(raw, dict):
        for key in ("ref", "username", "org_number", "name", "participant"):
            if isinstance(raw.get(key), str):
                return f"record {index} ({key} {raw[key]!r})"
    return f"record {index}"


def _read_records(directory: Path, name: str, model: type[M]) -> list[M]:
    path = directory / name
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InvalidInput("file is missing", location=str(path)) from error
    except UnicodeDecodeError as error:
        raise InvalidInput(f"not UTF-8 text ({error.reason})", location=str(path)) from error
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
            location=str(path),
        ) from error
    if not isinstance(document, list):
        raise InvalidInput("expected a JSON array of records", location=str(path))
    records = []
    for index, raw in enumerate(document):
        try:
            records.append(model.model_validate(raw))
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            field_path = ".".join(str(part) for part in first["loc"]) or None
            raise InvalidInput(
                first["msg"], field=field_path, location=f"{path}: {_record_label(index, raw)}"
            ) from error
    return records


def read_fixture_set(directory: Path) -> FixtureSet:
    """Parse and validate every fixture file, and check that all references resolve."""
    fixtures = FixtureSet(
        organisations=_read_records(directory, "organisations.json", OrganisationRecord),
        employers=_read_records(directory, "employers.json", EmployerRecord),
        asf_providers=_read_records(directory, "asf_providers.json", AsfProviderRecord),
        users=_read_records(directory, "users.json", UserRecord),
        openings=_read_records(directory, "openings.json", OpeningRecord),
        placements=_read_records(directory, "placements.json", PlacementRecord),
        participants=_read_records(directory, "participants.json", ParticipantRecord),
        history=_read_records(directory, "history.json", HistorySessionRecord),
    )
    _check_references(directory, fixtures)
    return fixtures


def _unique(directory: Path, name: str, keys: Iterable[str], what: str) -> set[str]:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise InvalidInput(
                f"duplicate {what} {key!r}",
                field=what,
                location=f"{directory / name}: record {index}",
            )
        seen.add(key)
    return seen


def _require(
    condition: bool, directory: Path, name: str, index: int, field_name: str, message: str
) -> None:
    if not condition:
        raise InvalidInput(
            message, field=field_name, location=f"{directory / name}: record {index}"
        )


def _check_references(directory: Path, fixtures: FixtureSet) -> None:
    organisations = _unique(
        directory, "organisations.json", (o.name for o in fixtures.organisations), "name"
    )
    employers = _unique(
        directory, "employers.json", (e.org_number for e in fixtures.employers), "org_number"
    )
    providers = _unique(
        directory,
        "asf_providers.json",
        (p.org_number for p in fixtures.asf_providers),
        "org_number",
    )
    _unique(directory, "users.json", (u.username for u in fixtures.users), "username")
    openings = _unique(directory, "openings.json", (o.ref for o in fixtures.openings), "ref")
    placements = _unique(directory, "placements.json", (p.ref for p in fixtures.placements), "ref")
    participants = _unique(
        directory, "participants.json", (p.ref for p in fixtures.participants), "ref"
    )
    coach_organisation = {
        u.username: u.organisation for u in fixtures.users if u.role is Role.COACH
    }
    for i, user in enumerate(fixtures.users):
        party = {
            Role.COACH: ("organisation", user.organisation, organisations),
            Role.EMPLOYER: ("employer", user.employer, employers),
            Role.ASF_PROVIDER: ("asf_provider", user.asf_provider, providers),
        }.get(user.role)
        if party is not None:
            name, value, known = party
            _require(
                value in known,
                directory,
                "users.json",
                i,
                name,
                f"unknown or missing {name} {value!r} for role {user.role.value}",
            )
        elif user.organisation is not None:
            _require(
                user.organisation in organisations,
                directory,
                "users.json",
                i,
                "organisation",
                f"unknown organisation {user.organisation!r}",
            )
    for i, opening in enumerate(fixtures.openings):
        _require(
            opening.employer in employers,
            directory,
            "openings.json",
            i,
            "employer",
            f"unknown employer {opening.employer!r}",
        )
    for i, placement in enumerate(fixtures.placements):
        _require(
            placement.asf_provider in providers,
            directory,
            "placements.json",
            i,
            "asf_provider",
            f"unknown ASF provider {placement.asf_provider!r}",
        )
    for i, participant in enumerate(fixtures.participants):
        _require(
            participant.organisation in organisations,
            directory,
            "participants.json",
            i,
            "organisation",
            f"unknown organisation {participant.organisation!r}",
        )
        if participant.coach is not None:
            _require(
                coach_organisation.get(participant.coach) == participant.organisation,
                directory,
                "participants.json",
                i,
                "coach",
                f"{participant.coach!r} is not a coach of {participant.organisation!r}",
            )
        scopes = [c.scope for c in participant.consents]
        _require(
            len(scopes) == len(set(scopes)),
            directory,
            "participants.json",
            i,
            "consents",
            "a consent scope is listed twice",
        )
        for consent in participant.consents:
            _require(
                consent.withdrawn_days_ago is None
                or consent.withdrawn_days_ago <= consent.given_days_ago,
                directory,
                "participants.json",
                i,
                "consents.withdrawn_days_ago",
                "withdrawn before it was given",
            )
    for i, session in enumerate(fixtures.history):
        _require(
            session.participant in participants,
            directory,
            "history.json",
            i,
            "participant",
            f"unknown participant {session.participant!r}",
        )
        items = openings if session.lane is Lane.JOBS else placements
        ranks = [item.rank for item in session.items]
        _require(
            len(ranks) == len(set(ranks)),
            directory,
            "history.json",
            i,
            "items.rank",
            "two items share a rank",
        )
        for j, item in enumerate(session.items):
            _require(
                item.item in items,
                directory,
                "history.json",
                i,
                f"items.{j}.item",
                f"unknown {session.lane.value} item {item.item!r}",
            )
            _require(
                (item.decision is None) == (item.decided_days_ago is None),
                directory,
                "history.json",
                i,
                f"items.{j}.decided_days_ago",
                "decided_days_ago must be given exactly when there is a decision",
            )
            _require(
                not item.outcomes or item.decision is not None,
                directory,
                "history.json",
                i,
                f"items.{j}.outcomes",
                "an outcome needs a decision",
            )


def _days_ago(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


class _Loader:
    """Writes a validated fixture set into one session; existing natural keys are kept."""

    def __init__(self, session: Session, now: datetime, track: Track) -> None:
        self.session = session
        self.now = now
        self.track = track
        self.report = LoadReport()

    def _existing(self, column: Any, keys: Sequence[str], *extra: Any) -> dict[str, Any]:
        entity = column.class_
        rows = self.session.scalars(select(entity).where(column.in_(keys), *extra)).all()
        return {getattr(row, column.key): row for row in rows}

    def organisations(self, records: list[OrganisationRecord]) -> dict[str, Organisation]:
        existing = self._existing(Organisation.name, [r.name for r in records])
        for record in records:
            new = record.name not in existing
            if new:
                existing[record.name] = Organisation(
                    name=record.name, municipalities=list(record.municipalities)
                )
                self.session.add(existing[record.name])
            self.report.count("organisations", new=new)
        self.session.flush()
        return existing

    def parties(
        self,
        entity: type[Employer] | type[AsfProvider],
        kind: str,
        records: Sequence[EmployerRecord],
    ) -> dict[str, Any]:
        existing = self._existing(entity.org_number, [r.org_number for r in records])
        for record in records:
            new = record.org_number not in existing
            if new:
                existing[record.org_number] = entity(**record.model_dump())
                self.session.add(existing[record.org_number])
            self.report.count(kind, new=new)
        self.session.flush()
        return existing

    def users(
        self,
        records: list[UserRecord],
        organisations: dict[str, Organisation],
        employers: dict[str, Employer],
        providers: dict[str, AsfProvider],
    ) -> dict[str, User]:
        existing = self._existing(User.username, [r.username for r in records])
        for record in records:
            new = record.username not in existing
            if new:
                existing[record.username] = User(
                    username=record.username,
                    display_name=record.display_name,
                    role=record.role,
                    organisation_id=organisations[record.organisation].id
                    if record.organisation
                    else None,
                    employer_id=employers[record.employer].id if record.employer else None,
                    asf_provider_id=providers[record.asf_provider].id
                    if record.asf_provider
                    else None,
                )
                self.session.add(existing[record.username])
            self.report.count("users", new=new)
        self.session.flush()
        return existing

    def openings(
        self, records: list[OpeningRecord], employers: dict[str, Employer]
    ) -> dict[str, Opening]:
        existing = self._existing(
            Opening.source_ref, [r.ref for r in records], Opening.source == OpeningSource.FIXTURE
        )
        for record in self.track(records, "openings", len(records)):
            new = record.ref not in existing
            if new:
                fields = record.model_dump(
                    exclude={"ref", "employer", "published_days_ago", "expires_in_days"}
                )
                published = _days_ago(self.now, record.published_days_ago)
                existing[record.ref] = Opening(
                    **fields,
                    employer_id=employers[record.employer].id,
                    published_at=published,
                    expires_at=None
                    if record.expires_in_days is None
                    else self.now + timedelta(days=record.expires_in_days),
                    source=OpeningSource.FIXTURE,
                    source_ref=record.ref,
                )
                self.session.add(existing[record.ref])
            self.report.count("openings", new=new)
        self.session.flush()
        return existing

    def placements(
        self, records: list[PlacementRecord], providers: dict[str, AsfProvider]
    ) -> dict[str, Placement]:
        existing = self._existing(Placement.source_ref, [r.ref for r in records])
        for record in self.track(records, "work-training places", len(records)):
            new = record.ref not in existing
            if new:
                fields = record.model_dump(exclude={"ref", "asf_provider", "published_days_ago"})
                existing[record.ref] = Placement(
                    **fields,
                    asf_provider_id=providers[record.asf_provider].id,
                    published_at=_days_ago(self.now, record.published_days_ago),
                    source_ref=record.ref,
                )
                self.session.add(existing[record.ref])
            self.report.count("placements", new=new)
        self.session.flush()
        return existing

    def participants(
        self,
        records: list[ParticipantRecord],
        organisations: dict[str, Organisation],
        users: dict[str, User],
    ) -> dict[str, Participant]:
        existing = {
            (p.organisation_id, p.external_ref): p
            for p in self.session.scalars(
                select(Participant).where(Participant.external_ref.in_([r.ref for r in records]))
            )
        }
        by_ref: dict[str, Participant] = {}
        for record in self.track(records, "participants", len(records)):
            organisation = organisations[record.organisation]
            participant = existing.get((organisation.id, record.ref))
            new = participant is None
            if participant is None:
                created = _days_ago(self.now, record.created_days_ago)
                participant = Participant(
                    **record.model_dump(
                        exclude={"ref", "organisation", "coach", "created_days_ago", "consents"}
                    ),
                    organisation_id=organisation.id,
                    coach_id=users[record.coach].id if record.coach else None,
                    external_ref=record.ref,
                    created_at=created,
                    updated_at=created,
                    consents=[
                        Consent(
                            scope=c.scope,
                            given_at=_days_ago(self.now, c.given_days_ago),
                            withdrawn_at=None
                            if c.withdrawn_days_ago is None
                            else _days_ago(self.now, c.withdrawn_days_ago),
                        )
                        for c in record.consents
                    ],
                )
                self.session.add(participant)
            by_ref[record.ref] = participant
            self.report.count("participants", new=new)
        self.session.flush()
        return by_ref

    def history(
        self,
        records: list[HistorySessionRecord],
        participants: dict[str, Participant],
        openings: dict[str, Opening],
        placements: dict[str, Placement],
        coaches: dict[int, int | None],
    ) -> None:
        slate_ids = {
            str(
                uuid.uuid5(_HISTORY_NAMESPACE, f"{r.participant}/{r.lane.value}/{r.shown_days_ago}")
            )
            for r in records
        }
        known = set(
            self.session.scalars(
                select(Suggestion.slate_id).where(Suggestion.slate_id.in_(slate_ids))
            )
        )
        for record in self.track(records, "history", len(records)):
            slate_id = str(
                uuid.uuid5(
                    _HISTORY_NAMESPACE,
                    f"{record.participant}/{record.lane.value}/{record.shown_days_ago}",
                )
            )
            new = slate_id not in known
            self.report.count("history sessions", new=new)
            if not new:
                continue
            participant = participants[record.participant]
            shown_at = _days_ago(self.now, record.shown_days_ago)
            for item in record.items:
                suggestion = Suggestion(
                    participant_id=participant.id,
                    lane=record.lane,
                    opening_id=openings[item.item].id if record.lane is Lane.JOBS else None,
                    placement_id=placements[item.item].id if record.lane is Lane.ASF else None,
                    slate_id=slate_id,
                    rank=item.rank,
                    score=0.0,
                    contributions={},
                    feature_values={},
                    model_version=HISTORY_MODEL_VERSION,
                    created_at=shown_at,
                )
                if item.decision is not None and item.decided_days_ago is not None:
                    suggestion.feedback.append(
                        Feedback(
                            participant_id=participant.id,
                            coach_id=coaches.get(participant.id),
                            decision=item.decision,
                            reason_code=item.reason_code,
                            comment=item.comment,
                            created_at=_days_ago(self.now, item.decided_days_ago),
                        )
                    )
                self.session.add(suggestion)
                self.session.flush()
                for outcome in item.outcomes:
                    self.session.add(
                        Outcome(
                            participant_id=participant.id,
                            suggestion_id=suggestion.id,
                            opening_id=suggestion.opening_id,
                            placement_id=suggestion.placement_id,
                            kind=outcome.kind,
                            hours_per_week=outcome.hours_per_week,
                            occurred_at=_days_ago(self.now, outcome.days_ago),
                            recorded_by=coaches.get(participant.id),
                            created_at=_days_ago(self.now, outcome.days_ago),
                        )
                    )
        self.session.flush()


def load_fixtures(
    *, session: Session, directory: Path, now: datetime, track: Track = no_progress
) -> LoadReport:
    """Validate every file in `directory`, then add what is missing, within `session`.

    The caller owns the transaction: on any error nothing has been committed.
    """
    fixtures = read_fixture_set(directory)
    loader = _Loader(session, now, track)
    organisations = loader.organisations(fixtures.organisations)
    employers = loader.parties(Employer, "employers", fixtures.employers)
    providers = loader.parties(AsfProvider, "asf_providers", fixtures.asf_providers)
    users = loader.users(fixtures.users, organisations, employers, providers)
    openings = loader.openings(fixtures.openings, employers)
    placements = loader.placements(fixtures.placements, providers)
    participants = loader.participants(fixtures.participants, organisations, users)
    coaches = {p.id: p.coach_id for p in participants.values()}
    loader.history(fixtures.history, participants, openings, placements, coaches)
    return loader.report
