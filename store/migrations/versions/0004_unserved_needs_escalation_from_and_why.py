"""unserved_needs: the level an escalation started from, and why it happened

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("unserved_needs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_from", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("escalated_why", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unserved_needs", schema=None) as batch_op:
        batch_op.drop_column("escalated_why")
        batch_op.drop_column("escalated_from")
