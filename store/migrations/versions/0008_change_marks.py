"""change_marks: a token per marked table, renewed by triggers on every change of that table

A cycle reads every active offer (a city: 442k rows, about 2 s of a 3.5 s read on SQLite), and
offers change only when a unit's file is loaded. The read keeps a column snapshot of them beside
the database (``store.snapshots``), valid while the token it was read under stands. The
triggers renew the token in the same transaction as the change, whoever makes it (the intake,
an operator's SQL, a test): per row on SQLite, once per transaction on PostgreSQL (a statement
trigger, TRUNCATE included). A transaction that wrote anything saves no snapshot
(``store.snapshots``), so a token renewed once stands for all of its changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKED = ("offers",)
OPERATIONS = ("insert", "update", "delete")
SQLITE_TOKEN = "lower(hex(randomblob(16)))"
POSTGRES_TOKEN = "md5(random()::text || clock_timestamp()::text)"


def upgrade() -> None:
    op.create_table(
        "change_marks",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_change_marks")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    token = POSTGRES_TOKEN if postgres else SQLITE_TOKEN
    if postgres:
        # once per table and transaction (a setting local to the transaction, undone with it or
        # with its savepoint): a driver's executemany is a statement per row, and each UPDATE of
        # the one row would leave a version the next must walk past (442k offers loaded: hours)
        op.execute(
            "CREATE FUNCTION threelists_mark_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF coalesce(current_setting('threelists.marked_' || TG_TABLE_NAME, true), '') = '' THEN "
            f"UPDATE change_marks SET token = {POSTGRES_TOKEN} WHERE table_name = TG_TABLE_NAME; "
            "PERFORM set_config('threelists.marked_' || TG_TABLE_NAME, 'yes', true); "
            "END IF; RETURN NULL; END $$"
        )
    for table in MARKED:
        op.execute(f"INSERT INTO change_marks (table_name, token) VALUES ('{table}', {token})")
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_marked AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION threelists_mark_change()"
            )
            continue
        for operation in OPERATIONS:
            op.execute(
                f"CREATE TRIGGER {table}_marked_{operation} AFTER {operation.upper()} ON {table} "
                f"BEGIN UPDATE change_marks SET token = {SQLITE_TOKEN} WHERE table_name = '{table}'; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in MARKED:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_marked ON {table}")
        else:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_marked_{operation}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS threelists_mark_change()")
    op.drop_table("change_marks")
