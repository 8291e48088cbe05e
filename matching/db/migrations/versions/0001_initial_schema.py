"""Initial schema: tenants, users and tokens, participants and consent, openings, ASF places, suggestions, feedback, outcomes, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 13:54:11.877437
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import matching.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asf_providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_number", sa.String(length=11), nullable=True),
        sa.Column("municipality", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asf_providers")),
        sa.UniqueConstraint("org_number", name=op.f("uq_asf_providers_org_number")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column(
            "action",
            sa.Enum(
                "read",
                "create",
                "update",
                "delete",
                "suggest",
                "feedback",
                "outcome",
                "export",
                "erase",
                name="audit_action",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "employers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_number", sa.String(length=11), nullable=True),
        sa.Column("municipality", sa.String(length=64), nullable=True),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employers")),
        sa.UniqueConstraint("org_number", name=op.f("uq_employers_org_number")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "municipalities",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "openings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employer_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("occupation_id", sa.String(length=16), nullable=True),
        sa.Column("occupation_label", sa.String(length=200), nullable=True),
        sa.Column("ssyk_code", sa.String(length=4), nullable=True),
        sa.Column(
            "required_skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "nice_skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("hours_min", sa.Integer(), nullable=True),
        sa.Column("hours_max", sa.Integer(), nullable=True),
        sa.Column("evenings", sa.Boolean(), nullable=False),
        sa.Column("weekends", sa.Boolean(), nullable=False),
        sa.Column("nights", sa.Boolean(), nullable=False),
        sa.Column(
            "environment",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("municipality", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column(
            "accommodations_offered",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("positions", sa.Integer(), nullable=False),
        sa.Column("positions_filled", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "filled",
                "closed",
                name="opening_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("published_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", matching.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "source",
            sa.Enum(
                "employer",
                "import",
                "fixture",
                name="opening_source",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(lat IS NULL) = (lon IS NULL)", name=op.f("ck_openings_lat_lon_together")
        ),
        sa.CheckConstraint(
            "expires_at IS NULL OR expires_at >= published_at",
            name=op.f("ck_openings_expires_after_published"),
        ),
        sa.CheckConstraint(
            "hours_max IS NULL OR (hours_max > 0 AND hours_max <= 80)",
            name=op.f("ck_openings_hours_max_range"),
        ),
        sa.CheckConstraint(
            "hours_min IS NULL OR (hours_min >= 0 AND hours_min <= 80)",
            name=op.f("ck_openings_hours_min_range"),
        ),
        sa.CheckConstraint(
            "hours_min IS NULL OR hours_max IS NULL OR hours_min <= hours_max",
            name=op.f("ck_openings_hours_min_le_max"),
        ),
        sa.CheckConstraint(
            "lat IS NULL OR (lat >= -90 AND lat <= 90)", name=op.f("ck_openings_lat_range")
        ),
        sa.CheckConstraint(
            "lon IS NULL OR (lon >= -180 AND lon <= 180)", name=op.f("ck_openings_lon_range")
        ),
        sa.CheckConstraint("positions >= 1", name=op.f("ck_openings_positions_positive")),
        sa.CheckConstraint(
            "positions_filled >= 0 AND positions_filled <= positions",
            name=op.f("ck_openings_filled_le_positions"),
        ),
        sa.CheckConstraint(
            "ssyk_code IS NULL OR length(ssyk_code) = 4",
            name=op.f("ck_openings_ssyk_code_four_digits"),
        ),
        sa.ForeignKeyConstraint(
            ["employer_id"],
            ["employers.id"],
            name=op.f("fk_openings_employer_id_employers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_openings")),
        sa.UniqueConstraint("source", "source_ref", name=op.f("uq_openings_source_source_ref")),
    )
    with op.batch_alter_table("openings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_openings_employer_id"), ["employer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_openings_municipality"), ["municipality"], unique=False
        )
        batch_op.create_index("ix_openings_status_ssyk", ["status", "ssyk_code"], unique=False)

    op.create_table(
        "placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asf_provider_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("activities", sa.Text(), server_default="", nullable=False),
        sa.Column("occupation_id", sa.String(length=16), nullable=True),
        sa.Column("occupation_label", sa.String(length=200), nullable=True),
        sa.Column("ssyk_code", sa.String(length=4), nullable=True),
        sa.Column(
            "skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("supervision", sa.Text(), server_default="", nullable=False),
        sa.Column("hours_min", sa.Integer(), nullable=True),
        sa.Column("hours_max", sa.Integer(), nullable=True),
        sa.Column("evenings", sa.Boolean(), nullable=False),
        sa.Column("weekends", sa.Boolean(), nullable=False),
        sa.Column("nights", sa.Boolean(), nullable=False),
        sa.Column(
            "environment",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("municipality", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column(
            "accommodations_offered",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("duration_weeks", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "closed",
                name="placement_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("published_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(lat IS NULL) = (lon IS NULL)", name=op.f("ck_placements_lat_lon_together")
        ),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_placements_capacity_positive")),
        sa.CheckConstraint(
            "duration_weeks IS NULL OR (duration_weeks > 0 AND duration_weeks <= 156)",
            name=op.f("ck_placements_duration_weeks_range"),
        ),
        sa.CheckConstraint(
            "hours_max IS NULL OR (hours_max > 0 AND hours_max <= 80)",
            name=op.f("ck_placements_hours_max_range"),
        ),
        sa.CheckConstraint(
            "hours_min IS NULL OR (hours_min >= 0 AND hours_min <= 80)",
            name=op.f("ck_placements_hours_min_range"),
        ),
        sa.CheckConstraint(
            "hours_min IS NULL OR hours_max IS NULL OR hours_min <= hours_max",
            name=op.f("ck_placements_hours_min_le_max"),
        ),
        sa.CheckConstraint(
            "lat IS NULL OR (lat >= -90 AND lat <= 90)", name=op.f("ck_placements_lat_range")
        ),
        sa.CheckConstraint(
            "lon IS NULL OR (lon >= -180 AND lon <= 180)", name=op.f("ck_placements_lon_range")
        ),
        sa.CheckConstraint(
            "ssyk_code IS NULL OR length(ssyk_code) = 4",
            name=op.f("ck_placements_ssyk_code_four_digits"),
        ),
        sa.CheckConstraint(
            "taken >= 0 AND taken <= capacity", name=op.f("ck_placements_taken_le_capacity")
        ),
        sa.ForeignKeyConstraint(
            ["asf_provider_id"],
            ["asf_providers.id"],
            name=op.f("fk_placements_asf_provider_id_asf_providers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_placements_source_ref")),
    )
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_placements_asf_provider_id"), ["asf_provider_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_placements_municipality"), ["municipality"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "coach",
                "employer",
                "asf_provider",
                "data_team",
                "admin",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("employer_id", sa.Integer(), nullable=True),
        sa.Column("asf_provider_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(role = 'coach' AND organisation_id IS NOT NULL AND employer_id IS NULL AND asf_provider_id IS NULL) OR (role IN ('data_team', 'admin') AND employer_id IS NULL AND asf_provider_id IS NULL) OR (role = 'employer' AND employer_id IS NOT NULL AND organisation_id IS NULL AND asf_provider_id IS NULL) OR (role = 'asf_provider' AND asf_provider_id IS NOT NULL AND organisation_id IS NULL AND employer_id IS NULL)",
            name=op.f("ck_users_role_belongs_to_one_party"),
        ),
        sa.ForeignKeyConstraint(
            ["asf_provider_id"],
            ["asf_providers.id"],
            name=op.f("fk_users_asf_provider_id_asf_providers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["employer_id"],
            ["employers.id"],
            name=op.f("fk_users_employer_id_employers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_users_asf_provider_id"), ["asf_provider_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_users_employer_id"), ["employer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_users_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", matching.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", matching.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", matching.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=True),
        sa.Column("external_ref", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=True),
        sa.Column("home_lat", sa.Double(), nullable=True),
        sa.Column("home_lon", sa.Double(), nullable=True),
        sa.Column("max_commute_km", sa.Double(), nullable=True),
        sa.Column("max_commute_minutes", sa.Integer(), nullable=True),
        sa.Column("preferred_occupations_text", sa.Text(), server_default="", nullable=False),
        sa.Column("preferred_tasks_text", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "preferred_occupation_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("hours_min", sa.Integer(), nullable=True),
        sa.Column("hours_max", sa.Integer(), nullable=True),
        sa.Column("no_evenings", sa.Boolean(), nullable=False),
        sa.Column("no_weekends", sa.Boolean(), nullable=False),
        sa.Column("no_nights", sa.Boolean(), nullable=False),
        sa.Column(
            "environment_preferences",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("environment_text", sa.Text(), server_default="", nullable=False),
        sa.Column("skills_text", sa.Text(), server_default="", nullable=False),
        sa.Column("experience_text", sa.Text(), server_default="", nullable=False),
        sa.Column("education_text", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("interests_text", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "accommodations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("accommodations_text", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "goal",
            sa.Enum(
                "competitive_job",
                "work_training",
                "studies",
                name="goal",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "gender",
            sa.Enum(
                "woman",
                "man",
                "non_binary",
                "undisclosed",
                name="gender",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "paused",
                "placed",
                "ended",
                name="participant_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(home_lat IS NULL) = (home_lon IS NULL)",
            name=op.f("ck_participants_home_lat_home_lon_together"),
        ),
        sa.CheckConstraint(
            "home_lat IS NULL OR (home_lat >= -90 AND home_lat <= 90)",
            name=op.f("ck_participants_home_lat_range"),
        ),
        sa.CheckConstraint(
            "home_lon IS NULL OR (home_lon >= -180 AND home_lon <= 180)",
            name=op.f("ck_participants_home_lon_range"),
        ),
        sa.CheckConstraint(
            "hours_max IS NULL OR (hours_max > 0 AND hours_max <= 80)",
            name=op.f("ck_participants_hours_max_range"),
        ),
        sa.CheckConstraint(
            "hours_min IS NULL OR (hours_min >= 0 AND hours_min <= 80)",
            name=op.f("ck_participants_hours_min_range"),
        ),
        sa.CheckConstraint(
            "hours_min IS NULL OR hours_max IS NULL OR hours_min <= hours_max",
            name=op.f("ck_participants_hours_min_le_max"),
        ),
        sa.CheckConstraint(
            "max_commute_km IS NULL OR (max_commute_km > 0 AND max_commute_km <= 500)",
            name=op.f("ck_participants_max_commute_km_range"),
        ),
        sa.CheckConstraint(
            "max_commute_minutes IS NULL OR (max_commute_minutes > 0 AND max_commute_minutes <= 600)",
            name=op.f("ck_participants_max_commute_minutes_range"),
        ),
        sa.ForeignKeyConstraint(
            ["coach_id"],
            ["users.id"],
            name=op.f("fk_participants_coach_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_participants_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint(
            "organisation_id",
            "external_ref",
            name=op.f("uq_participants_organisation_id_external_ref"),
        ),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participants_coach_id"), ["coach_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_participants_municipality"), ["municipality"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_participants_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "matching",
                "follow_up",
                "model_training",
                name="consent_scope",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("given_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", matching.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "withdrawn_at IS NULL OR withdrawn_at >= given_at",
            name=op.f("ck_consents_withdrawn_after_given"),
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_consents_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.UniqueConstraint(
            "participant_id", "scope", name=op.f("uq_consents_participant_id_scope")
        ),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consents_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column(
            "lane",
            sa.Enum(
                "jobs", "asf", name="lane", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("opening_id", sa.Integer(), nullable=True),
        sa.Column("placement_id", sa.Integer(), nullable=True),
        sa.Column("slate_id", sa.String(length=36), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("bias", sa.Double(), nullable=False),
        sa.Column(
            "contributions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "feature_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(lane = 'jobs' AND placement_id IS NULL) OR (lane = 'asf' AND opening_id IS NULL)",
            name=op.f("ck_suggestions_item_matches_lane"),
        ),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_suggestions_rank_positive")),
        sa.ForeignKeyConstraint(
            ["opening_id"],
            ["openings.id"],
            name=op.f("fk_suggestions_opening_id_openings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_suggestions_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_suggestions_placement_id_placements"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
    )
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestions_opening_id"), ["opening_id"], unique=False)
        batch_op.create_index(
            "ix_suggestions_participant_created", ["participant_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_suggestions_placement_id"), ["placement_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_suggestions_slate_id"), ["slate_id"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=True),
        sa.Column(
            "decision",
            sa.Enum(
                "shortlisted",
                "contacted_employer",
                "not_now",
                "never",
                name="decision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason_code",
            sa.Enum(
                "good_fit",
                "participant_interested",
                "participant_not_interested",
                "too_far",
                "wrong_hours",
                "schedule_clash",
                "missing_accommodation",
                "requirements_too_high",
                "wrong_occupation",
                "bad_timing",
                "other",
                name="reason_code",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coach_id"], ["users.id"], name=op.f("fk_feedback_coach_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestions.id"],
            name=op.f("fk_feedback_suggestion_id_suggestions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_suggestion_id"), ["suggestion_id"], unique=False
        )

    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=True),
        sa.Column("opening_id", sa.Integer(), nullable=True),
        sa.Column("placement_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "interview",
                "job_start",
                "ended",
                "employed_90_days",
                name="outcome_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("hours_per_week", sa.Double(), nullable=True),
        sa.Column("occurred_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "hours_per_week IS NULL OR (hours_per_week > 0 AND hours_per_week <= 80)",
            name=op.f("ck_outcomes_hours_per_week_range"),
        ),
        sa.ForeignKeyConstraint(
            ["opening_id"],
            ["openings.id"],
            name=op.f("fk_outcomes_opening_id_openings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_outcomes_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_outcomes_placement_id_placements"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_outcomes_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestions.id"],
            name=op.f("fk_outcomes_suggestion_id_suggestions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outcomes_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outcomes_suggestion_id"), ["suggestion_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcomes_suggestion_id"))
        batch_op.drop_index(batch_op.f("ix_outcomes_participant_id"))

    op.drop_table("outcomes")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_suggestion_id"))

    op.drop_table("feedback")
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestions_slate_id"))
        batch_op.drop_index(batch_op.f("ix_suggestions_placement_id"))
        batch_op.drop_index("ix_suggestions_participant_created")
        batch_op.drop_index(batch_op.f("ix_suggestions_opening_id"))

    op.drop_table("suggestions")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_participant_id"))

    op.drop_table("consents")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participants_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_participants_municipality"))
        batch_op.drop_index(batch_op.f("ix_participants_coach_id"))

    op.drop_table("participants")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_users_employer_id"))
        batch_op.drop_index(batch_op.f("ix_users_asf_provider_id"))

    op.drop_table("users")
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_placements_municipality"))
        batch_op.drop_index(batch_op.f("ix_placements_asf_provider_id"))

    op.drop_table("placements")
    with op.batch_alter_table("openings", schema=None) as batch_op:
        batch_op.drop_index("ix_openings_status_ssyk")
        batch_op.drop_index(batch_op.f("ix_openings_municipality"))
        batch_op.drop_index(batch_op.f("ix_openings_employer_id"))

    op.drop_table("openings")
    op.drop_table("organisations")
    op.drop_table("employers")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_participant_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("asf_providers")
