"""review_removals: pairings an operator removed from a draft service list before approving it

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_removals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cycle_id", sa.String(length=32), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycles.id"]),
        sa.ForeignKeyConstraint(["need_id"], ["needs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id", "need_id", "unit_id"),
    )
    op.create_index("ix_review_removals_cycle_id", "review_removals", ["cycle_id"])


def downgrade() -> None:
    op.drop_index("ix_review_removals_cycle_id", table_name="review_removals")
    op.drop_table("review_removals")
