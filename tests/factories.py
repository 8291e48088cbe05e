"""Factories for test objects: valid defaults, any field overridable, added and flushed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from matching.db.models import (
    AsfProvider,
    AuditEntry,
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
    AuditAction,
    ConsentScope,
    Decision,
    Goal,
    Lane,
    OutcomeKind,
    Role,
)

_sequence = itertools.count(1)
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _next() -> int:
    return next(_sequence)


def _add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def make_organisation(session: Session, **fields: Any) -> Organisation:
    n = _next()
    defaults: dict[str, Any] = {
        "name": f"Samordningsförbundet Test {n}",
        "municipalities": ["Södertälje"],
    }
    return _add(session, Organisation(**(defaults | fields)))


def make_employer(session: Session, **fields: Any) -> Employer:
    n = _next()
    defaults: dict[str, Any] = {
        "name": f"Testföretaget {n} AB",
        "org_number": f"556{n:03d}-{n:04d}"[:11],
        "municipality": "Södertälje",
    }
    return _add(session, Employer(**(defaults | fields)))


def make_asf_provider(session: Session, **fields: Any) -> AsfProvider:
    n = _next()
    defaults: dict[str, Any] = {
        "name": f"Kooperativet Test {n}",
        "org_number": f"769{n:03d}-{n:04d}"[:11],
        "municipality": "Södertälje",
        "description": "Arbetsintegrerande socialt företag med café och second hand.",
    }
    return _add(session, AsfProvider(**(defaults | fields)))


def make_user(session: Session, *, role: Role = Role.COACH, **fields: Any) -> User:
    n = _next()
    defaults: dict[str, Any] = {"username": f"user{n}", "display_name": f"Användare {n}"}
    if role is Role.COACH and "organisation_id" not in fields:
        defaults["organisation_id"] = make_organisation(session).id
    if role is Role.EMPLOYER and "employer_id" not in fields:
        defaults["employer_id"] = make_employer(session).id
    if role is Role.ASF_PROVIDER and "asf_provider_id" not in fields:
        defaults["asf_provider_id"] = make_asf_provider(session).id
    return _add(session, User(role=role, **(defaults | fields)))


def make_participant(
    session: Session, *, consents: tuple[ConsentScope, ...] = tuple(ConsentScope), **fields: Any
) -> Participant:
    n = _next()
    if "organisation_id" not in fields:
        fields["organisation_id"] = make_organisation(session).id
    defaults: dict[str, Any] = {
        "external_ref": f"P-T{n:05d}",
        "municipality": "Södertälje",
        "home_lat": 59.1955,
        "home_lon": 17.6253,
        "max_commute_km": 20.0,
        "preferred_occupations_text": "Vill arbeta i lager",
        "preferred_tasks_text": "Plocka och packa varor",
        "hours_min": 20,
        "hours_max": 30,
        "skills_text": "Har truckkort",
        "goal": Goal.COMPETITIVE_JOB,
    }
    participant = Participant(**(defaults | fields))
    participant.consents = [Consent(scope=scope, given_at=NOW) for scope in consents]
    return _add(session, participant)


def make_opening(session: Session, **fields: Any) -> Opening:
    n = _next()
    if "employer_id" not in fields:
        fields["employer_id"] = make_employer(session).id
    defaults: dict[str, Any] = {
        "title": f"Lagerarbetare {n}",
        "description": "Vi söker en lagerarbetare till vårt lager i Södertälje.",
        "occupation_id": "DLEi_bTh_oLA",
        "occupation_label": "Lagerarbetare/Terminalarbetare",
        "ssyk_code": "4322",
        "required_skills": ["Truckvana"],
        "hours_min": 20,
        "hours_max": 40,
        "municipality": "Södertälje",
        "lat": 59.20,
        "lon": 17.63,
        "published_at": NOW - timedelta(days=3),
        "expires_at": NOW + timedelta(days=30),
    }
    return _add(session, Opening(**(defaults | fields)))


def make_placement(session: Session, **fields: Any) -> Placement:
    n = _next()
    if "asf_provider_id" not in fields:
        fields["asf_provider_id"] = make_asf_provider(session).id
    defaults: dict[str, Any] = {
        "title": f"Arbetsträning i café {n}",
        "activities": "Servering, disk och enklare matlagning i vårt café.",
        "capacity": 3,
        "taken": 1,
        "supervision": "Daglig handledare",
        "hours_min": 10,
        "hours_max": 25,
        "municipality": "Södertälje",
        "lat": 59.19,
        "lon": 17.62,
        "duration_weeks": 12,
        "published_at": NOW - timedelta(days=10),
    }
    return _add(session, Placement(**(defaults | fields)))


def make_suggestion(session: Session, **fields: Any) -> Suggestion:
    if "participant_id" not in fields:
        fields["participant_id"] = make_participant(session).id
    lane = fields.setdefault("lane", Lane.JOBS)
    if lane is Lane.JOBS and "opening_id" not in fields:
        fields["opening_id"] = make_opening(session).id
    if lane is Lane.ASF and "placement_id" not in fields:
        fields["placement_id"] = make_placement(session).id
    defaults: dict[str, Any] = {
        "slate_id": f"slate-{_next()}",
        "rank": 1,
        "score": 1.5,
        "bias": 0.1,
        "contributions": {"semantic": 0.9, "distance": 0.5},
        "feature_values": {"semantic": 0.6, "distance_km": 3.2},
        "model_version": "handset-1",
    }
    return _add(session, Suggestion(**(defaults | fields)))


def make_feedback(session: Session, **fields: Any) -> Feedback:
    if "suggestion_id" not in fields:
        fields["suggestion_id"] = make_suggestion(session).id
    if "participant_id" not in fields:
        shown = session.get(Suggestion, fields["suggestion_id"])
        assert shown is not None, "feedback needs the suggestion it is on"
        fields["participant_id"] = shown.participant_id
    defaults: dict[str, Any] = {"decision": Decision.SHORTLISTED, "comment": "Bra match"}
    return _add(session, Feedback(**(defaults | fields)))


def make_outcome(session: Session, **fields: Any) -> Outcome:
    if "participant_id" not in fields:
        fields["participant_id"] = make_participant(session).id
    defaults: dict[str, Any] = {"kind": OutcomeKind.INTERVIEW, "occurred_at": NOW}
    return _add(session, Outcome(**(defaults | fields)))


def make_audit_entry(session: Session, **fields: Any) -> AuditEntry:
    defaults: dict[str, Any] = {
        "actor_user_id": 1,
        "actor_role": "coach",
        "action": AuditAction.READ,
        "participant_id": 1,
        "subject": "participant:1",
        "fields": ["skills_text"],
    }
    return _add(session, AuditEntry(**(defaults | fields)))
