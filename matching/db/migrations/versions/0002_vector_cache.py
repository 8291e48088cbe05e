"""Vector cache: item embeddings by (model, content hash); participant embeddings per model.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 14:04:32.757936
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import matching.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_embeddings",
        sa.Column("model_id", sa.String(length=120), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "content_hash", name=op.f("pk_item_embeddings")),
    )
    op.create_table(
        "participant_embeddings",
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=120), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", matching.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_participant_embeddings_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "participant_id", "model_id", name=op.f("pk_participant_embeddings")
        ),
    )


def downgrade() -> None:
    op.drop_table("participant_embeddings")
    op.drop_table("item_embeddings")
