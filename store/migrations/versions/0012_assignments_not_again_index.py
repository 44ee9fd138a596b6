"""assignments_not_again_index: the pairs not offered again, by a partial index

Every cycle reads the (need, unit) pairs whose assignment was declined or lapsed, so that the unit
is not offered that need again. The query read the whole assignments table: a scan that grows
with every week kept. In a scratch copy of the cycle benchmark's district with a year of weeks
(4.9M assignments, 97k of them declined), the read took 0.83-0.92 s as a scan and 0.10 s from this
index. The index holds only the rows in those two statuses (a few percent), and it covers the
query. Queries that ask about other statuses cannot use it, so the rates report still reads
completed and closed work by a scan, not by a B-tree search per row.

SQLite uses a partial index only when the query names the same values, so
``store.cycle.read_declined`` writes the statuses into its SQL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# as store.models.NOT_AGAIN_WHERE was at this revision (lifecycle.states.NOT_AGAIN)
WHERE = "status IN ('declined', 'released')"


def upgrade() -> None:
    op.create_index(
        "ix_assignments_not_again",
        "assignments",
        ["need_id", "unit_id"],
        sqlite_where=sa.text(WHERE),
        postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_not_again", table_name="assignments")
