"""Load reference data (taxonomy, the district registry) into the store, idempotently."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session

from store.models import Category, Community, Grid, Household, Item, Subcategory, Subdistrict, Unit


@dataclass(frozen=True)
class Reference:
    """Values the store knows, that incoming rows must refer to."""

    items: frozenset[str] = frozenset()  # codes and Chinese names
    grids: frozenset[str] = frozenset()
    households: frozenset[str] = frozenset()
    communities: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    area_refs: frozenset[str] = frozenset()  # "grid:C001-G01", "community:C001", "subdistrict:SD01"
    surveys: frozenset[str] = frozenset()
    extra: dict[str, frozenset[str]] = field(default_factory=dict)


# what this process last read of the registries, by database (store.intake): the directory sheets
# are resolved against and the reference sets rows are validated against. Keyed also by the
# registries' row counts (another process added rows); emptied whenever a session of this process
# inserts, updates or deletes registry rows, and again when that session's transaction ends (another
# session may have cached the old rows meanwhile), as a unit renamed leaves every count as it was
DIRECTORY_CACHE: dict[tuple[Any, ...], dict[str, pd.DataFrame]] = {}
REFERENCE_CACHE: dict[tuple[Any, ...], Reference] = {}
REGISTRY_TABLES = frozenset(
    m.__tablename__ for m in (Subdistrict, Community, Grid, Household, Unit, Item, Subcategory, Category)
)


def forget_registries() -> None:
    """Empty the registry caches (after a registry is written, or the store emptied)."""
    DIRECTORY_CACHE.clear()
    REFERENCE_CACHE.clear()


@event.listens_for(Session, "do_orm_execute")
def _registry_written(state: ORMExecuteState) -> None:
    """A statement of any session that writes a registry: forget now, and when the session settles."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and table.name in REGISTRY_TABLES:
            forget_registries()
            state.session.info["registries_written"] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _settled(session: Session, *_: Any) -> None:
    if session.info.pop("registries_written", False):
        forget_registries()


def upsert(session: Session, model: type, rows: list[dict[str, Any]], chunk: int = 20000) -> None:
    """Insert rows, updating those whose primary key exists (SQLite and PostgreSQL).

    One statement compiled once and executed for many parameter sets (executemany).
    """
    if not rows:
        return
    table = model.__table__
    pk = [c.name for c in table.primary_key.columns]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in pk}
    stmt = (
        stmt.on_conflict_do_update(index_elements=pk, set_=update)
        if update
        else stmt.on_conflict_do_nothing(index_elements=pk)
    )
    columns = list(rows[0])  # executemany needs one shape: the first row's keys, missing ones None
    for start in range(0, len(rows), chunk):
        session.execute(stmt, [{c: r.get(c) for c in columns} for r in rows[start : start + chunk]])


def load_taxonomy(session: Session, taxonomy: pd.DataFrame) -> int:
    """Load a catalogue (one row per item, shape of reference/taxonomy.csv); returns items loaded."""
    cats = taxonomy.drop_duplicates("category_code")
    subs = taxonomy.drop_duplicates("subcategory_code")
    upsert(
        session,
        Category,
        [
            {"code": r.category_code, "name_zh": r.category_zh, "name_en": r.category_en}
            for r in cats.itertuples()
        ],
    )
    upsert(
        session,
        Subcategory,
        [
            {
                "code": r.subcategory_code,
                "category_code": r.category_code,
                "name_zh": r.subcategory_zh,
                "name_en": r.subcategory_en,
            }
            for r in subs.itertuples()
        ],
    )
    upsert(
        session,
        Item,
        [
            {
                "code": r.item_code,
                "subcategory_code": r.subcategory_code,
                "name_zh": r.item_zh,
                "name_en": r.item_en,
            }
            for r in taxonomy.itertuples()
        ],
    )
    return len(taxonomy)


def load_district_registry(session: Session, path: Path) -> dict[str, int]:
    """Load subdistricts, communities, grids and households from a registry JSON file."""
    reg = json.loads(Path(path).read_text(encoding="utf-8"))
    upsert(session, Subdistrict, reg["subdistricts"])
    upsert(session, Community, reg["communities"])
    upsert(session, Grid, reg["grids"])
    households = [
        {
            **h,
            "last_visited_at": datetime.fromisoformat(h["last_visited_at"])
            if h.get("last_visited_at")
            else None,
        }
        for h in reg["households"]
    ]
    upsert(session, Household, households)
    return {k: len(v) for k, v in reg.items()}
