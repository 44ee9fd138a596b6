"""cycles: the lock's lease (renewed by its holder) and the record of a takeover

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 16:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lock_renewed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("takeover_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.drop_column("takeover_note")
        batch_op.drop_column("lock_renewed_at")
