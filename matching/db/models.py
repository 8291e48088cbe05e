"""The tables: SQLAlchemy 2.x typed ORM with the domain's constraints in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from matching.db.types import JSONDocument, UTCDateTime, enum_column_type, utcnow
from matching.domain import (
    MAX_HOURS_PER_WEEK,
    AuditAction,
    ConsentScope,
    Decision,
    Gender,
    Goal,
    Lane,
    OpeningSource,
    OpeningStatus,
    OutcomeKind,
    ParticipantStatus,
    PlacementStatus,
    ReasonCode,
    Role,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}  # noqa: RUF012


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


def _json_list() -> Mapped[list[Any]]:
    return mapped_column(JSONDocument, default=list, nullable=False)


def _text() -> Mapped[str]:
    return mapped_column(sa.Text, default="", server_default="", nullable=False)


def _coordinate_checks(lat: str, lon: str) -> tuple[sa.CheckConstraint, ...]:
    return (
        sa.CheckConstraint(f"{lat} IS NULL OR ({lat} >= -90 AND {lat} <= 90)", name=f"{lat}_range"),
        sa.CheckConstraint(
            f"{lon} IS NULL OR ({lon} >= -180 AND {lon} <= 180)", name=f"{lon}_range"
        ),
        sa.CheckConstraint(f"({lat} IS NULL) = ({lon} IS NULL)", name=f"{lat}_{lon}_together"),
    )


def _hours_checks() -> tuple[sa.CheckConstraint, ...]:
    return (
        sa.CheckConstraint(
            f"hours_min IS NULL OR (hours_min >= 0 AND hours_min <= {MAX_HOURS_PER_WEEK})",
            name="hours_min_range",
        ),
        sa.CheckConstraint(
            f"hours_max IS NULL OR (hours_max > 0 AND hours_max <= {MAX_HOURS_PER_WEEK})",
            name="hours_max_range",
        ),
        sa.CheckConstraint(
            "hours_min IS NULL OR hours_max IS NULL OR hours_min <= hours_max",
            name="hours_min_le_max",
        ),
    )


class Organisation(Base):
    """A tenant: a coordination association (samordningsförbund)."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    municipalities: Mapped[list[str]] = _json_list()
    created_at: Mapped[datetime] = _created()


class Employer(Base):
    __tablename__ = "employers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    org_number: Mapped[str | None] = mapped_column(sa.String(11), unique=True)
    municipality: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = _created()


class AsfProvider(Base):
    """A work-integrating social enterprise (ASF) offering work-training places."""

    __tablename__ = "asf_providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    org_number: Mapped[str | None] = mapped_column(sa.String(11), unique=True)
    municipality: Mapped[str | None] = mapped_column(sa.String(64))
    description: Mapped[str] = _text()
    created_at: Mapped[datetime] = _created()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'coach' AND organisation_id IS NOT NULL"
            " AND employer_id IS NULL AND asf_provider_id IS NULL)"
            " OR (role IN ('data_team', 'admin')"
            " AND employer_id IS NULL AND asf_provider_id IS NULL)"
            " OR (role = 'employer' AND employer_id IS NOT NULL"
            " AND organisation_id IS NULL AND asf_provider_id IS NULL)"
            " OR (role = 'asf_provider' AND asf_provider_id IS NOT NULL"
            " AND organisation_id IS NULL AND employer_id IS NULL)",
            name="role_belongs_to_one_party",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[Role] = mapped_column(enum_column_type(Role, "role"))
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    employer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("employers.id", ondelete="RESTRICT"), index=True
    )
    asf_provider_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("asf_providers.id", ondelete="RESTRICT"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = _created()

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens")


class Participant(Base):
    """A pseudonymous participant (deltagare): preferences, strengths, shared accommodations.

    No personal identity number, no name, no diagnosis. `gender` exists for equality
    statistics only and is never read by the ranker.
    """

    __tablename__ = "participants"
    __table_args__ = (
        sa.UniqueConstraint("organisation_id", "external_ref"),
        *_coordinate_checks("home_lat", "home_lon"),
        *_hours_checks(),
        sa.CheckConstraint(
            "max_commute_km IS NULL OR (max_commute_km > 0 AND max_commute_km <= 500)",
            name="max_commute_km_range",
        ),
        sa.CheckConstraint(
            "max_commute_minutes IS NULL OR"
            " (max_commute_minutes > 0 AND max_commute_minutes <= 600)",
            name="max_commute_minutes_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    coach_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    external_ref: Mapped[str] = mapped_column(sa.String(64))
    municipality: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    home_lat: Mapped[float | None]
    home_lon: Mapped[float | None]
    max_commute_km: Mapped[float | None]
    max_commute_minutes: Mapped[int | None]
    preferred_occupations_text: Mapped[str] = _text()
    preferred_tasks_text: Mapped[str] = _text()
    preferred_occupation_ids: Mapped[list[str]] = _json_list()
    hours_min: Mapped[int | None]
    hours_max: Mapped[int | None]
    no_evenings: Mapped[bool] = mapped_column(default=False)
    no_weekends: Mapped[bool] = mapped_column(default=False)
    no_nights: Mapped[bool] = mapped_column(default=False)
    environment_preferences: Mapped[list[str]] = _json_list()
    environment_text: Mapped[str] = _text()
    skills_text: Mapped[str] = _text()
    experience_text: Mapped[str] = _text()
    education_text: Mapped[str] = _text()
    languages: Mapped[list[dict[str, str]]] = _json_list()
    interests_text: Mapped[str] = _text()
    accommodations: Mapped[list[str]] = _json_list()
    accommodations_text: Mapped[str] = _text()
    goal: Mapped[Goal] = mapped_column(enum_column_type(Goal, "goal"))
    gender: Mapped[Gender] = mapped_column(
        enum_column_type(Gender, "gender"), default=Gender.UNDISCLOSED
    )
    status: Mapped[ParticipantStatus] = mapped_column(
        enum_column_type(ParticipantStatus, "participant_status"),
        default=ParticipantStatus.ACTIVE,
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    organisation: Mapped[Organisation] = relationship()
    consents: Mapped[list[Consent]] = relationship(
        back_populates="participant",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Consent.scope",
    )


class Consent(Base):
    """The current state of one consent scope for one participant (samtycke)."""

    __tablename__ = "consents"
    __table_args__ = (
        sa.UniqueConstraint("participant_id", "scope"),
        sa.CheckConstraint(
            "withdrawn_at IS NULL OR withdrawn_at >= given_at", name="withdrawn_after_given"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[ConsentScope] = mapped_column(enum_column_type(ConsentScope, "consent_scope"))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    participant: Mapped[Participant] = relationship(back_populates="consents")

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


class Opening(Base):
    """An employer's opening (ledig tjänst) in the competitive-jobs lane."""

    __tablename__ = "openings"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_ref"),
        *_coordinate_checks("lat", "lon"),
        *_hours_checks(),
        sa.CheckConstraint("positions >= 1", name="positions_positive"),
        sa.CheckConstraint(
            "positions_filled >= 0 AND positions_filled <= positions", name="filled_le_positions"
        ),
        sa.CheckConstraint(
            "expires_at IS NULL OR expires_at >= published_at", name="expires_after_published"
        ),
        sa.CheckConstraint(
            "ssyk_code IS NULL OR length(ssyk_code) = 4", name="ssyk_code_four_digits"
        ),
        sa.Index("ix_openings_status_ssyk", "status", "ssyk_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("employers.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = _text()
    occupation_id: Mapped[str | None] = mapped_column(sa.String(16))
    occupation_label: Mapped[str | None] = mapped_column(sa.String(200))
    ssyk_code: Mapped[str | None] = mapped_column(sa.String(4))
    required_skills: Mapped[list[str]] = _json_list()
    nice_skills: Mapped[list[str]] = _json_list()
    hours_min: Mapped[int | None]
    hours_max: Mapped[int | None]
    evenings: Mapped[bool] = mapped_column(default=False)
    weekends: Mapped[bool] = mapped_column(default=False)
    nights: Mapped[bool] = mapped_column(default=False)
    environment: Mapped[list[str]] = _json_list()
    municipality: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accommodations_offered: Mapped[list[str]] = _json_list()
    positions: Mapped[int] = mapped_column(default=1)
    positions_filled: Mapped[int] = mapped_column(default=0)
    status: Mapped[OpeningStatus] = mapped_column(
        enum_column_type(OpeningStatus, "opening_status"), default=OpeningStatus.OPEN
    )
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[OpeningSource] = mapped_column(
        enum_column_type(OpeningSource, "opening_source"), default=OpeningSource.EMPLOYER
    )
    source_ref: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    employer: Mapped[Employer] = relationship()


class Placement(Base):
    """A work-training place (arbetsträningsplats) at an ASF, with capacity."""

    __tablename__ = "placements"
    __table_args__ = (
        *_coordinate_checks("lat", "lon"),
        *_hours_checks(),
        sa.CheckConstraint("capacity >= 1", name="capacity_positive"),
        sa.CheckConstraint("taken >= 0 AND taken <= capacity", name="taken_le_capacity"),
        sa.CheckConstraint(
            "duration_weeks IS NULL OR (duration_weeks > 0 AND duration_weeks <= 156)",
            name="duration_weeks_range",
        ),
        sa.CheckConstraint(
            "ssyk_code IS NULL OR length(ssyk_code) = 4", name="ssyk_code_four_digits"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asf_provider_id: Mapped[int] = mapped_column(
        sa.ForeignKey("asf_providers.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    activities: Mapped[str] = _text()
    occupation_id: Mapped[str | None] = mapped_column(sa.String(16))
    occupation_label: Mapped[str | None] = mapped_column(sa.String(200))
    ssyk_code: Mapped[str | None] = mapped_column(sa.String(4))
    skills: Mapped[list[str]] = _json_list()
    capacity: Mapped[int] = mapped_column(default=1)
    taken: Mapped[int] = mapped_column(default=0)
    supervision: Mapped[str] = _text()
    hours_min: Mapped[int | None]
    hours_max: Mapped[int | None]
    evenings: Mapped[bool] = mapped_column(default=False)
    weekends: Mapped[bool] = mapped_column(default=False)
    nights: Mapped[bool] = mapped_column(default=False)
    environment: Mapped[list[str]] = _json_list()
    municipality: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accommodations_offered: Mapped[list[str]] = _json_list()
    duration_weeks: Mapped[int | None]
    status: Mapped[PlacementStatus] = mapped_column(
        enum_column_type(PlacementStatus, "placement_status"), default=PlacementStatus.OPEN
    )
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source_ref: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    asf_provider: Mapped[AsfProvider] = relationship()


class Suggestion(Base):
    """One suggestion as it was shown: rank, score and its exact contributions.

    Training reads these rows, so the features are stored exactly as the coach saw them.
    """

    __tablename__ = "suggestions"
    __table_args__ = (
        sa.CheckConstraint(
            "(lane = 'jobs' AND placement_id IS NULL) OR (lane = 'asf' AND opening_id IS NULL)",
            name="item_matches_lane",
        ),
        sa.CheckConstraint("rank >= 1", name="rank_positive"),
        sa.Index("ix_suggestions_participant_created", "participant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE")
    )
    lane: Mapped[Lane] = mapped_column(enum_column_type(Lane, "lane"))
    opening_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("openings.id", ondelete="SET NULL"), index=True
    )
    placement_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("placements.id", ondelete="SET NULL"), index=True
    )
    slate_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    rank: Mapped[int]
    score: Mapped[float]
    bias: Mapped[float] = mapped_column(default=0.0)
    contributions: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    feature_values: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    #: The facts behind each feature as shown ("12 km, limit 20 km"), to re-explain it later.
    facts: Mapped[dict[str, Any]] = mapped_column(
        JSONDocument, default=dict, server_default=sa.text("'{}'")
    )
    model_version: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = _created()

    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="suggestion",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Feedback.created_at",
    )

    @property
    def item_id(self) -> int | None:
        return self.opening_id if self.lane is Lane.JOBS else self.placement_id


class Feedback(Base):
    """A coach's decision on one suggestion, with a coarse reason and an optional comment."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(
        sa.ForeignKey("suggestions.id", ondelete="CASCADE"), index=True
    )
    #: The suggestion's participant, repeated: ranking reads a participant's decisions on
    #: every request, and through the suggestions that meant walking every suggestion ever
    #: shown to them (or, on PostgreSQL, every decision of everyone).
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    coach_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decision: Mapped[Decision] = mapped_column(enum_column_type(Decision, "decision"))
    reason_code: Mapped[ReasonCode | None] = mapped_column(
        enum_column_type(ReasonCode, "reason_code")
    )
    comment: Mapped[str] = _text()
    created_at: Mapped[datetime] = _created()

    suggestion: Mapped[Suggestion] = relationship(back_populates="feedback")


class Outcome(Base):
    """What followed for the participant: interview, job start, end, still employed at 90 days."""

    __tablename__ = "outcomes"
    __table_args__ = (
        sa.CheckConstraint(
            "hours_per_week IS NULL OR (hours_per_week > 0 AND hours_per_week <= 80)",
            name="hours_per_week_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    suggestion_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("suggestions.id", ondelete="SET NULL"), index=True
    )
    opening_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("openings.id", ondelete="SET NULL")
    )
    placement_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("placements.id", ondelete="SET NULL")
    )
    kind: Mapped[OutcomeKind] = mapped_column(enum_column_type(OutcomeKind, "outcome_kind"))
    hours_per_week: Mapped[float | None]
    occurred_at: Mapped[datetime]
    recorded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()


class AuditEntry(Base):
    """Who read or changed which participant's data, when, and which fields.

    Deliberately without foreign keys: an erased participant's rows stay as a pseudonymous
    tombstone (`subject`), and the log must outlive users and participants.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_user_id: Mapped[int | None]
    actor_role: Mapped[str | None] = mapped_column(sa.String(32))
    action: Mapped[AuditAction] = mapped_column(enum_column_type(AuditAction, "audit_action"))
    participant_id: Mapped[int | None] = mapped_column(index=True)
    subject: Mapped[str] = mapped_column(sa.String(80), default="")
    fields: Mapped[list[str]] = _json_list()
    request_id: Mapped[str | None] = mapped_column(sa.String(36))


class ItemEmbedding(Base):
    """Cached vector of an opening or place text, by model and content hash.

    Keyed by content, not by item: identical texts share a vector, and an unchanged text
    is never encoded twice. A new model id means new rows, so models never mix.
    """

    __tablename__ = "item_embeddings"

    model_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    content_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = _created()


class ParticipantEmbedding(Base):
    """A participant's current profile vector per model; erased with the participant."""

    __tablename__ = "participant_embeddings"

    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary)
    updated_at: Mapped[datetime] = _updated()


class ItemChange(Base):
    """The change feed: one row per opening or place changed, in commit order.

    Written in the transaction of the change itself, so a row exists exactly when the change
    committed. Every serving process reads the rows after the last one it applied before it
    ranks (`matching.changes.ChangeFollower`), so a change made through one process shows in
    the suggestions of every other at once. `kind` "forget" asks every process to drop the
    profile texts it remembers (after an erasure); it has no lane or item.
    """

    __tablename__ = "item_changes"

    seq: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    lane: Mapped[str | None] = mapped_column(sa.String(16))
    item_id: Mapped[int | None]
    changed_at: Mapped[datetime] = _created()
