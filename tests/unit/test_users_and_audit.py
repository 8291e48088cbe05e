"""Tokens (issue, verify, expire, revoke, demo tokens) and audit rows, on an in-memory database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from matching.audit import Actor, record_access
from matching.db.models import ApiToken, AuditEntry, Base
from matching.domain import AuditAction, Role
from matching.errors import ConfigurationError, InvalidInput
from matching.settings import Environment
from matching.users import (
    DEMO_TOKENS,
    TOKEN_PATTERN,
    Unauthenticated,
    authenticate,
    ensure_demo_tokens,
    issue_token,
    revoke_token,
    token_hash,
)
from tests import factories as f

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
DEV, PROD = Environment.DEVELOPMENT, Environment.PRODUCTION


@pytest.fixture
def session() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_a_token_is_random_shown_once_and_stored_as_its_hash(session: Session) -> None:
    user = f.make_user(session)
    first = issue_token(session=session, user_id=user.id, now=NOW)
    second = issue_token(session=session, user_id=user.id, now=NOW)
    assert first.secret != second.secret
    assert TOKEN_PATTERN.fullmatch(first.secret)
    assert len(first.secret) == len("stv_") + 43  # 256 random bits
    stored = session.get(ApiToken, first.token.id)
    assert stored is not None
    assert stored.token_hash == token_hash(first.secret) != first.secret
    assert stored.prefix == first.secret[:12]
    assert stored.expires_at == NOW + timedelta(days=90)


def test_authenticate_finds_the_user_and_notes_the_use(session: Session) -> None:
    user = f.make_user(session, role=Role.ADMIN)
    issued = issue_token(session=session, user_id=user.id, now=NOW)
    assert authenticate(session=session, secret=issued.secret, environment=PROD, now=NOW) is user
    assert issued.token.last_used_at == NOW
    later = NOW + timedelta(minutes=1)
    authenticate(session=session, secret=issued.secret, environment=PROD, now=later)
    assert issued.token.last_used_at == NOW, "not written on every request"


@pytest.mark.parametrize(
    "secret", ["", "Bearer x", "stv_", "stv_short", "stv_" + "x" * 200, "tok_" + "a" * 43]
)
def test_malformed_tokens_are_refused(session: Session, secret: str) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        authenticate(session=session, secret=secret, environment=PROD, now=NOW)


def test_unknown_expired_revoked_and_deactivated_tokens_are_refused(session: Session) -> None:
    user = f.make_user(session)
    with pytest.raises(Unauthenticated, match="not known"):
        authenticate(session=session, secret="stv_" + "a" * 43, environment=PROD, now=NOW)
    short = issue_token(session=session, user_id=user.id, valid_days=1, now=NOW)
    after = NOW + timedelta(days=1)
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(session=session, secret=short.secret, environment=PROD, now=after)
    revoked = issue_token(session=session, user_id=user.id, now=NOW)
    revoke_token(session=session, token_id=revoked.token.id, now=NOW)
    revoke_token(session=session, token_id=revoked.token.id, now=after)
    assert revoked.token.revoked_at == NOW, "revoking twice keeps the first time"
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(session=session, secret=revoked.secret, environment=PROD, now=NOW)
    active = issue_token(session=session, user_id=user.id, now=NOW)
    user.is_active = False
    with pytest.raises(Unauthenticated, match="deactivated"):
        authenticate(session=session, secret=active.secret, environment=PROD, now=NOW)


def test_token_lifetimes_are_bounded(session: Session) -> None:
    user = f.make_user(session)
    assert issue_token(session=session, user_id=user.id, valid_days=None).token.expires_at is None
    for days in (0, 3651):
        with pytest.raises(InvalidInput) as error:
            issue_token(session=session, user_id=user.id, valid_days=days)
        assert error.value.field == "valid_days"


def test_demo_tokens_only_in_development_and_stored_hashed(session: Session) -> None:
    f.make_user(session, role=Role.COACH, username="coach.demo")
    f.make_user(session, role=Role.ADMIN, username="admin")
    for environment in (Environment.PRODUCTION, Environment.TEST):
        with pytest.raises(ConfigurationError):
            ensure_demo_tokens(session=session, environment=environment)
    given = ensure_demo_tokens(session=session, environment=DEV, now=NOW)
    assert given == {"coach.demo": DEMO_TOKENS["coach.demo"], "admin": DEMO_TOKENS["admin"]}
    assert ensure_demo_tokens(session=session, environment=DEV, now=NOW) == given
    hashes = set(session.scalars(sa.select(ApiToken.token_hash)))
    assert hashes == {token_hash(DEMO_TOKENS["coach.demo"]), token_hash(DEMO_TOKENS["admin"])}
    coach = authenticate(session=session, secret=DEMO_TOKENS["coach.demo"], environment=DEV)
    assert coach.username == "coach.demo"
    with pytest.raises(Unauthenticated, match="demo"):
        authenticate(session=session, secret=DEMO_TOKENS["admin"], environment=PROD)


def test_an_audit_row_names_fields_never_values(session: Session) -> None:
    participant = f.make_participant(session, skills_text="Har truckkort A och B")
    actor = Actor(user_id=7, role=Role.COACH, request_id="req-1")
    rows = record_access(
        session=session,
        actor=actor,
        action=AuditAction.READ,
        participant_ids=[participant.id, participant.id],
        fields=["skills_text", "hours_min", "skills_text"],
        now=NOW,
    )
    assert len(rows) == 1, "one row per participant"
    (row,) = session.scalars(sa.select(AuditEntry)).all()
    assert row.fields == ["hours_min", "skills_text"]
    assert (row.actor_user_id, row.actor_role, row.request_id) == (7, "coach", "req-1")
    assert row.subject == f"participant:{participant.id}"
    assert "truckkort" not in repr(
        [row.fields, row.subject, row.actor_role, row.request_id, row.action]
    )
