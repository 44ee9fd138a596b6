"""assignments_offer_and_unit_as_one_key: an assignment's offer and unit are one foreign key

An assignment named its offer and its unit by two foreign keys, so nothing stopped a pairing
whose unit is not its offer's, and nothing stopped an offers file from moving an offer id to
another unit under the assignments made for it. Now ``(offer_id, unit_id)`` refers to
``offers (id, unit_id)``: the unit is always the offer's (the unit's own key follows through the
offer's). Offers get a unique index on ``(unit_id, id)``, which also replaces
``ix_offers_unit_id`` (it finds a unit's offers by its leading column).

PostgreSQL checks every inserted row's keys one by one: the composite key is one check where
there were two. A city's 97k assignments, in ``psql`` on the cycle benchmark's database, each
insert in a transaction rolled back: 3.52-3.90 s with the four keys, 2.63-2.83 s with three.

On SQLite the table is rebuilt (its foreign keys cannot be altered in place); on PostgreSQL the
new key is checked against every existing assignment. Assignments whose unit is not their
offer's stop the upgrade with their count and the first ones: they must be looked at first.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_assignments_offer_id_offers"


def upgrade() -> None:
    wrong = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT a.id FROM assignments a JOIN offers o ON o.id = a.offer_id "
                "WHERE o.unit_id <> a.unit_id ORDER BY a.id"
            )
        )
        .scalars()
        .all()
    )
    if wrong:
        raise RuntimeError(
            f"{len(wrong)} 条派单的单位不是其资源所属的单位（派单编号 {', '.join(map(str, wrong[:10]))}"
            f"{' 等' if len(wrong) > 10 else ''}）：请先核对这些派单和资源，再升级数据库。"
            f" ({len(wrong)} assignments name a unit other than their offer's unit.)"
        )
    op.create_index("uq_offers_unit_id_id", "offers", ["unit_id", "id"], unique=True)
    op.drop_index("ix_offers_unit_id", table_name="offers")
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.drop_constraint("fk_assignments_unit_id_units", type_="foreignkey")
        batch_op.create_foreign_key(FK, "offers", ["offer_id", "unit_id"], ["id", "unit_id"])


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.create_foreign_key(FK, "offers", ["offer_id"], ["id"])
        batch_op.create_foreign_key("fk_assignments_unit_id_units", "units", ["unit_id"], ["id"])
    op.create_index("ix_offers_unit_id", "offers", ["unit_id"])
    op.drop_index("uq_offers_unit_id_id", table_name="offers")
