"""assignments_without_offer_index: no index on ``assignments.offer_id``

No query finds assignments by their offer: the cycle asks by cycle, the closed loop by need and
unit, the rates report by unit. The index only made every dispatched pairing one more random
insert into a B-tree keyed by text, and that B-tree grows with every week: inserting a city's
97k assignments into a year of them (5M, the benchmark district's weeks replicated in a scratch
copy) took 3.7-5.2 s with it and 2.0-2.3 s without it (the unit's index, which a unit's rating
needs, costs as much again). The foreign key stays; offers are never deleted (a unit's file
updates them, ``active`` retires them), so nothing asks the key for an offer's assignments.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_assignments_offer_id", table_name="assignments")


def downgrade() -> None:
    op.create_index("ix_assignments_offer_id", "assignments", ["offer_id"])
