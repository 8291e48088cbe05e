"""The schema on SQLite and PostgreSQL: migrations, a CRUD round-trip per table, constraints."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.orm import Session

from matching.db import migrate
from matching.db.models import (
    ApiToken,
    AuditEntry,
    Base,
    Consent,
    Feedback,
    ItemChange,
    ItemEmbedding,
    Opening,
    Outcome,
    Participant,
    ParticipantEmbedding,
    Placement,
    Suggestion,
    User,
)
from matching.db.session import make_engine, writer_lock
from matching.domain import ConsentScope, Decision, Lane, OpeningStatus, Role
from tests import factories as f


def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    assert _table_names(empty_database_url) == set(Base.metadata.tables)

    migrate.downgrade(empty_database_url, "base")
    assert _table_names(empty_database_url) == set()

    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_feedback_learns_its_participant_from_its_suggestion_on_upgrade(
    empty_database_url: str,
) -> None:
    """Migration 0005 fills in the participant of feedback given before it."""
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with Session(engine) as session:
            feedback = f.make_feedback(session)
            session.commit()
            feedback_id, participant_id = feedback.id, feedback.participant_id
        migrate.downgrade(empty_database_url, "0004")
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("feedback")}
        assert "participant_id" not in columns
        migrate.upgrade(empty_database_url)
        with Session(engine) as session:
            assert session.get_one(Feedback, feedback_id).participant_id == participant_id
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


# --- CRUD round-trip: create, read back, update, delete, for every table -------------------

ROUND_TRIPS: dict[str, tuple[Callable[[Session], Any], str, Any]] = {
    "organisations": (f.make_organisation, "municipalities", ["Haninge", "Nynäshamn"]),
    "employers": (f.make_employer, "name", "Nytt Namn AB"),
    "asf_providers": (f.make_asf_provider, "description", "Second hand och cykelverkstad."),
    "users": (f.make_user, "display_name", "Ny Coach"),
    "participants": (f.make_participant, "environment_preferences", ["outdoors", "animals"]),
    "openings": (f.make_opening, "status", OpeningStatus.FILLED),
    "placements": (f.make_placement, "taken", 3),
    "suggestions": (f.make_suggestion, "contributions", {"semantic": 1.25, "hours": -0.5}),
    "feedback": (f.make_feedback, "decision", Decision.NEVER),
    "outcomes": (f.make_outcome, "hours_per_week", 25.0),
    "audit_log": (f.make_audit_entry, "fields", ["hours_min", "hours_max"]),
}


def _make_consent(session: Session) -> Consent:
    participant = f.make_participant(session, consents=())
    consent = Consent(participant_id=participant.id, scope=ConsentScope.MATCHING, given_at=f.NOW)
    session.add(consent)
    session.flush()
    return consent


def _make_token(session: Session) -> ApiToken:
    token = ApiToken(user_id=f.make_user(session).id, token_hash="a" * 64, prefix="stv_abcd")
    session.add(token)
    session.flush()
    return token


def _make_item_embedding(session: Session) -> ItemEmbedding:
    row = ItemEmbedding(model_id="model@abc", content_hash="f" * 64, vector=b"\x00" * 16)
    session.add(row)
    session.flush()
    return row


def _make_participant_embedding(session: Session) -> ParticipantEmbedding:
    row = ParticipantEmbedding(
        participant_id=f.make_participant(session).id,
        model_id="model@abc",
        content_hash="e" * 64,
        vector=b"\x01" * 16,
    )
    session.add(row)
    session.flush()
    return row


def _make_item_change(session: Session) -> ItemChange:
    row = ItemChange(kind="item", lane="jobs", item_id=1)
    session.add(row)
    session.flush()
    return row


ROUND_TRIPS["consents"] = (_make_consent, "withdrawn_at", f.NOW + timedelta(days=1))
ROUND_TRIPS["api_tokens"] = (_make_token, "revoked_at", f.NOW + timedelta(days=2))
ROUND_TRIPS["item_embeddings"] = (_make_item_embedding, "vector", b"\x02" * 16)
ROUND_TRIPS["participant_embeddings"] = (_make_participant_embedding, "content_hash", "d" * 64)
ROUND_TRIPS["item_changes"] = (_make_item_change, "item_id", 2)


def test_every_table_has_a_round_trip() -> None:
    assert set(ROUND_TRIPS) == set(Base.metadata.tables)


@pytest.mark.parametrize("table", sorted(ROUND_TRIPS))
def test_crud_round_trip(table: str, session_factory: Any) -> None:
    make, field_name, new_value = ROUND_TRIPS[table]
    with session_factory.begin() as session:
        row = make(session)
        entity, key = type(row), sa.inspect(row).identity
    with session_factory.begin() as session:
        fetched = session.get(entity, key)
        assert fetched is not None
        setattr(fetched, field_name, new_value)
    with session_factory.begin() as session:
        fetched = session.get(entity, key)
        assert getattr(fetched, field_name) == new_value
        session.delete(fetched)
    with session_factory() as session:
        assert session.get(entity, key) is None


def test_timestamps_come_back_timezone_aware(session_factory: Any) -> None:
    with session_factory.begin() as session:
        opening_id = f.make_opening(session).id
    with session_factory() as session:
        opening = session.get(Opening, opening_id)
        assert opening is not None
        assert opening.published_at == f.NOW - timedelta(days=3)
        assert opening.published_at.utcoffset() == timedelta(0)


def test_deleting_a_participant_cascades_to_their_data(session_factory: Any) -> None:
    with session_factory.begin() as session:
        feedback = f.make_feedback(session)
        suggestion = session.get(Suggestion, feedback.suggestion_id)
        participant_id = suggestion.participant_id
        f.make_outcome(session, participant_id=participant_id, suggestion_id=suggestion.id)
    with session_factory.begin() as session:
        session.delete(session.get(Participant, participant_id))
    with session_factory() as session:
        for entity in (Suggestion, Feedback, Outcome, Consent):
            assert session.scalar(sa.select(sa.func.count()).select_from(entity)) == 0


# --- Constraints are enforced by the database itself ----------------------------------------


def _build_and_flush(session: Session, build: Callable[[Session], Any]) -> None:
    build(session)
    session.flush()


def _violates(session: Session, build: Callable[[Session], Any]) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        _build_and_flush(session, build)
    session.rollback()


CONSTRAINT_CASES: dict[str, Callable[[Session], Any]] = {
    "participant hours min > max": lambda s: f.make_participant(s, hours_min=30, hours_max=20),
    "participant latitude out of range": lambda s: f.make_participant(s, home_lat=91.0),
    "participant latitude without longitude": lambda s: f.make_participant(s, home_lon=None),
    "participant commute not positive": lambda s: f.make_participant(s, max_commute_km=0),
    "opening hours above 80": lambda s: f.make_opening(s, hours_max=81),
    "opening more filled than positions": lambda s: f.make_opening(
        s, positions=1, positions_filled=2
    ),
    "opening expires before published": lambda s: f.make_opening(
        s, expires_at=f.NOW - timedelta(days=30)
    ),
    "opening longitude out of range": lambda s: f.make_opening(s, lon=181.0),
    "opening ssyk code not four digits": lambda s: f.make_opening(s, ssyk_code="43"),
    "opening of unknown employer": lambda s: f.make_opening(s, employer_id=999_999),
    "placement taken above capacity": lambda s: f.make_placement(s, capacity=2, taken=3),
    "placement capacity zero": lambda s: f.make_placement(s, capacity=0, taken=0),
    "coach without organisation": lambda s: f.make_user(s, organisation_id=None),
    "employer user without employer": lambda s: f.make_user(
        s, role=Role.EMPLOYER, employer_id=None
    ),
    "duplicate username": lambda s: (
        f.make_user(s, username="dup"),
        f.make_user(s, username="dup"),
    ),
    "duplicate participant reference in organisation": lambda s: (
        f.make_participant(s, organisation_id=f.make_organisation(s).id, external_ref="P-1"),
        f.make_participant(
            s,
            organisation_id=s.scalar(sa.select(sa.func.max(Participant.organisation_id))),
            external_ref="P-1",
        ),
    ),
    "suggestion whose item does not match its lane": lambda s: f.make_suggestion(
        s, lane=Lane.ASF, opening_id=f.make_opening(s).id
    ),
    "suggestion rank zero": lambda s: f.make_suggestion(s, rank=0),
    "consent withdrawn before given": lambda s: s.add(
        Consent(
            participant_id=f.make_participant(s, consents=()).id,
            scope=ConsentScope.MATCHING,
            given_at=f.NOW,
            withdrawn_at=f.NOW - timedelta(days=1),
        )
    ),
    "outcome hours above 80": lambda s: f.make_outcome(s, hours_per_week=100.0),
    "feedback for unknown suggestion": lambda s: s.add(
        Feedback(
            suggestion_id=999_999, participant_id=f.make_participant(s).id, decision=Decision.NEVER
        )
    ),
}


@pytest.mark.parametrize("case", sorted(CONSTRAINT_CASES))
def test_database_rejects(case: str, session: Session) -> None:
    _violates(session, CONSTRAINT_CASES[case])


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("openings", "status"),
        ("participants", "goal"),
        ("participants", "gender"),
        ("feedback", "decision"),
        ("users", "role"),
    ],
)
def test_database_rejects_unknown_enum_values(table: str, column: str, session: Session) -> None:
    """The CHECK constraint holds even for writes that bypass the ORM's own validation."""
    feedback = f.make_feedback(session)
    participant_id = session.get(Suggestion, feedback.suggestion_id).participant_id
    row_id = {
        "openings": session.scalar(sa.select(sa.func.max(Opening.id))),
        "participants": participant_id,
        "feedback": feedback.id,
        "users": f.make_user(session).id,
    }[table]
    statement = sa.text(f"UPDATE {table} SET {column} = 'bogus' WHERE id = :id")
    with pytest.raises(sa.exc.IntegrityError):
        session.execute(statement, {"id": row_id})
    session.rollback()


def test_user_and_placement_reads_are_typed(session: Session) -> None:
    user = f.make_user(session, role=Role.ASF_PROVIDER)
    placement = f.make_placement(session, asf_provider_id=user.asf_provider_id)
    session.expire_all()
    assert session.get(User, user.id).role is Role.ASF_PROVIDER
    assert session.get(Placement, placement.id).asf_provider.name.startswith("Kooperativet")
    assert session.scalars(sa.select(AuditEntry)).all() == []


def test_the_sqlite_writer_lock_excludes_other_processes(tmp_path: Path) -> None:
    """Two locks on one database stand for two serving processes (a `flock` each)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'locked.db'}")
    first, second = writer_lock(engine), writer_lock(engine)
    assert first is not None
    assert second is not None
    assert first.path == second.path == tmp_path / "locked.db.writer-lock"
    taken = threading.Event()

    def other_process() -> None:
        with second:
            taken.set()

    try:
        with first:
            thread = threading.Thread(target=other_process)
            thread.start()
            thread.join(timeout=1.0)
            assert not taken.is_set(), "the other process waits while this one writes"
        thread.join(timeout=30)
        assert taken.is_set(), "and writes once this one is done"
        assert not first.locked()
        assert not second.locked()
    finally:
        first.close()
        second.close()
        engine.dispose()
    postgres = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert writer_lock(postgres) is None
