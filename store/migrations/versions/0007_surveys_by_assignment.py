"""surveys_by_assignment: an index on surveys.assignment_id, for the follow-ups of an assignment

The rates report joins every assignment to its follow-up survey, and each answer refreshes its
unit's rating through the same join: without the index both scan the surveys table once per
assignment (a city's report over 7.8k answered follow-ups: 209 s).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_surveys_assignment_id", "surveys", ["assignment_id"])


def downgrade() -> None:
    op.drop_index("ix_surveys_assignment_id", table_name="surveys")
