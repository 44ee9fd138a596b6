"""redundant_indexes: three single-column indexes whose column leads a unique constraint's index

``published_service_list.publication_id``, ``unserved_needs.cycle_id`` and
``review_removals.cycle_id`` each had an index of their own beside the unique constraint that
starts with the same column, whose index already finds rows by it (SQLite and PostgreSQL both
use a composite index for its leading column). Every published version writes a city's 97k rows
into one B-tree fewer: 0.19 s -> 0.13 s in SQLite itself (within the noise of a whole publication,
3.5-5.4 s on that VM).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, column): each covered by a unique constraint that starts with the column
REDUNDANT = (
    ("ix_published_service_list_publication_id", "published_service_list", "publication_id"),
    ("ix_unserved_needs_cycle_id", "unserved_needs", "cycle_id"),
    ("ix_review_removals_cycle_id", "review_removals", "cycle_id"),
)


def upgrade() -> None:
    for name, table, _ in REDUNDANT:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in REDUNDANT:
        op.create_index(name, table, [column])
