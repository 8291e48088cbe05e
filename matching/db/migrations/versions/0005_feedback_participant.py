"""Feedback names its participant: a participant's decisions are read on every ranking.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("participant_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE feedback SET participant_id = "
        "(SELECT suggestions.participant_id FROM suggestions "
        "WHERE suggestions.id = feedback.suggestion_id)"
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.alter_column("participant_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_feedback_participant_id_participants"),
            "participants",
            ["participant_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_participant_id"), ["participant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_participant_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_feedback_participant_id_participants"), type_="foreignkey"
        )
        batch_op.drop_column("participant_id")
