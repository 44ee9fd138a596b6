"""Store functions for intake: source files, reference sets, loading rows, quarantine."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import DateTime, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from store.db import by_key, in_chunks, rows_frame, stacked
from store.models import (
    Category,
    Community,
    Grid,
    Household,
    Item,
    Need,
    NeedSource,
    Offer,
    QuarantinedRow,
    SourceFile,
    Subcategory,
    Subdistrict,
    Survey,
    Unit,
)
from store.reference import DIRECTORY_CACHE, REFERENCE_CACHE, Reference, upsert


def known_source_file(session: Session, sha256: str) -> SourceFile | None:
    return session.scalar(select(SourceFile).where(SourceFile.sha256 == sha256))


def known_checksums(session: Session, digests: list[str]) -> set[str]:
    """Which of these checksums are files loaded before."""
    found: set[str] = set()
    for part in in_chunks(digests, 5000):
        found |= set(session.scalars(select(SourceFile.sha256).where(SourceFile.sha256.in_(part))))
    return found


# which registries each dataset's contract refers to
NEEDED = {
    "needs": {"items", "grids", "households"},
    "units": {"communities"},
    "offers": {"items", "units", "area_refs"},
    "survey_answers": {"surveys"},
    "responses": {"units"},
}


def reference_sets(session: Session, dataset: str | None = None) -> Reference:
    """What incoming rows of ``dataset`` may refer to, read from the store.

    Cached per database and dataset until a registry's row count changes or this process writes
    a registry (store.reference), so a run over many files reads 100,000 households once, not once per
    file.
    """
    needed = NEEDED.get(dataset, set().union(*NEEDED.values())) if dataset else set().union(*NEEDED.values())
    models = {
        "items": Item,
        "grids": Grid,
        "households": Household,
        "communities": Community,
        "units": Unit,
        "area_refs": Subdistrict,
        "surveys": Survey,
    }
    counts = tuple(
        sorted((n, session.scalar(select(func.count()).select_from(models[n])) or 0) for n in needed)
    )
    if "area_refs" in needed:
        counts += (
            (
                "grids+communities",
                session.scalar(select(func.count()).select_from(Grid)) or 0,
                session.scalar(select(func.count()).select_from(Community)) or 0,
            ),
        )
    key = (str(session.get_bind().url), dataset, counts)
    if key in REFERENCE_CACHE:
        return REFERENCE_CACHE[key]
    parts: dict[str, frozenset[str]] = {}
    if "items" in needed:
        items = session.execute(select(Item.code, Item.name_zh)).all()
        parts["items"] = frozenset([c for c, _ in items] + [z for _, z in items])
    if "grids" in needed:
        parts["grids"] = frozenset(session.scalars(select(Grid.id)).all())
    if "households" in needed:
        parts["households"] = frozenset(session.scalars(select(Household.id)).all())
    if "communities" in needed:
        parts["communities"] = frozenset(session.scalars(select(Community.id)).all())
    if "units" in needed:
        parts["units"] = frozenset(session.scalars(select(Unit.id)).all())
    if "area_refs" in needed:
        parts["area_refs"] = frozenset(
            [f"grid:{g}" for g in session.scalars(select(Grid.id))]
            + [f"community:{c}" for c in session.scalars(select(Community.id))]
            + [f"subdistrict:{d}" for d in session.scalars(select(Subdistrict.id))]
        )
    if "surveys" in needed:
        parts["surveys"] = frozenset(str(i) for i in session.scalars(select(Survey.id)))
    ref = Reference(**parts)
    if len(REFERENCE_CACHE) > 32:
        REFERENCE_CACHE.clear()
    REFERENCE_CACHE[key] = ref
    return ref


def directory_frames(session: Session) -> dict[str, pd.DataFrame]:
    """Subdistricts, communities, grids (names, centres), items, households (grid, phone,
    address) and units (name, community) as frames,
    for resolving what sheets write. Cached per database until a registry's row count changes
    (another process added rows) or this process writes a registry (store.reference)."""
    counts = tuple(
        session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Subdistrict, Community, Grid, Item, Household, Unit)
    )
    key = (str(session.get_bind().url), counts)
    if key not in DIRECTORY_CACHE:
        bind = session.connection()
        DIRECTORY_CACHE.clear()
        DIRECTORY_CACHE[key] = {
            "subdistricts": pd.read_sql(select(Subdistrict.id, Subdistrict.name), bind),
            "communities": pd.read_sql(select(Community.id, Community.name, Community.subdistrict_id), bind),
            "grids": pd.read_sql(select(Grid.id, Grid.community_id, Grid.name, Grid.x_km, Grid.y_km), bind),
            "units": pd.read_sql(select(Unit.id, Unit.name, Unit.community_id), bind),
            "items": pd.read_sql(
                select(
                    Item.code,
                    Item.name_zh,
                    Subcategory.name_zh.label("subcategory_zh"),
                    Category.name_zh.label("category_zh"),
                )
                .join(Subcategory, Subcategory.code == Item.subcategory_code)
                .join(Category, Category.code == Subcategory.category_code),
                bind,
            ),
            "households": pd.read_sql(
                select(Household.id, Household.grid_id, Household.phone, Household.address), bind
            ),
        }
    return DIRECTORY_CACHE[key]


def opt_out_households(session: Session, household_ids: list[str]) -> int:
    """Mark households that asked for no more visits and surveys; returns how many were not yet."""
    changed = 0
    for part in in_chunks(household_ids):
        changed += session.execute(
            update(Household)
            .where(Household.id.in_(part), Household.survey_opt_out.is_(False))
            .values(survey_opt_out=True)
        ).rowcount
    return changed


def record_visits(session: Session, visits: dict[str, datetime]) -> None:
    """A household's last visit moves to ``visits[id]`` when that is later than the one on record."""
    if not visits:
        return
    t, at = Household.__table__, bindparam("at", type_=DateTime)
    session.connection().execute(  # Core executemany (not the ORM's bulk update by primary key)
        update(t)
        .where(t.c.id == bindparam("hid"), or_(t.c.last_visited_at.is_(None), t.c.last_visited_at < at))
        .values(last_visited_at=at),
        [{"hid": h, "at": pd.Timestamp(v).to_pydatetime()} for h, v in visits.items()],
    )


def item_codes(session: Session) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, name_zh in session.execute(select(Item.code, Item.name_zh)):
        out[code] = code
        out[name_zh] = code
    return out


def save_quarantine(
    session: Session, dataset: str, file_id: int | None, bad: list[dict[str, Any]], *, open_status: str
) -> int:
    """Keep every rejected row whole with its reasons. ``bad``: row_number, source_ref, raw, reasons.

    A row identical to one still waiting in quarantine (same dataset, reference and content,
    e.g. the same sheet handed over again) is not stored twice. Returns the rows stored.
    """
    if not bad:
        return 0
    # a reference longer than the store keeps is itself a reason the row is here: kept cut
    size = QuarantinedRow.__table__.c.source_ref.type.length
    bad = [{**b, "source_ref": str(b["source_ref"])[:size] if b.get("source_ref") else None} for b in bad]
    refs = sorted({b["source_ref"] for b in bad if b.get("source_ref")})
    waiting: set[tuple] = set()
    for part in in_chunks(refs):
        rows = session.execute(
            select(QuarantinedRow.source_ref, QuarantinedRow.raw).where(
                QuarantinedRow.dataset == dataset,
                QuarantinedRow.status == open_status,
                QuarantinedRow.source_ref.in_(part),
            )
        )
        waiting |= {(ref, json.dumps(raw, sort_keys=True, ensure_ascii=False)) for ref, raw in rows}
    bad = [
        b
        for b in bad
        if (b.get("source_ref"), json.dumps(b["raw"], sort_keys=True, ensure_ascii=False)) not in waiting
    ]
    if not bad:
        return 0
    now = datetime.now()
    session.execute(
        insert(QuarantinedRow.__table__),  # Core executemany: one statement per batch
        [
            {
                "source_file_id": file_id,
                "dataset": dataset,
                "row_number": b["row_number"],
                "source_ref": b.get("source_ref"),
                "raw": b["raw"],
                "reasons": b["reasons"],
                "status": open_status,
                "created_at": now,
            }
            for b in bad
        ],
    )
    return len(bad)


def supersede_quarantine(
    session: Session,
    dataset: str,
    source_refs: list[str],
    file_id: int,
    *,
    open_status: str,
    superseded_status: str,
) -> int:
    """Mark quarantined rows still in ``open_status`` fixed by a later file (same dataset and source
    reference)."""
    if not source_refs:
        return 0
    total = 0
    for part in in_chunks(source_refs, 5000):
        res = session.execute(
            update(QuarantinedRow)
            .where(
                QuarantinedRow.dataset == dataset,
                QuarantinedRow.status == open_status,
                QuarantinedRow.source_ref.in_(part),
            )
            .values(status=superseded_status, superseded_by_file_id=file_id)
        )
        total += res.rowcount or 0
    return total


def reported_as(session: Session, pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """The (source, source_ref) pairs among these loaded already, each with what it was loaded as:
    its need's household, phone, name, item, status and first report (``submitted_at``)."""
    by_source: dict[str, list[str]] = {}
    for source, ref in set(pairs):
        by_source.setdefault(source, []).append(ref)
    frames = []
    # by source and reference: the pair's unique index. A reference alone, which that index does
    # not lead with, read every need's source once per chunk: a file's references against a
    # year of them (a million) would be tens of millions of rows
    for source, refs in by_source.items():
        for part in in_chunks(refs, 5000):
            frames.append(
                rows_frame(
                    session,
                    select(
                        NeedSource.source,
                        NeedSource.source_ref,
                        Need.household_id,
                        Need.contact_phone,
                        Need.contact_name,
                        Need.item_code,
                        Need.status,
                        Need.submitted_at,
                    )
                    .join(Need, Need.id == NeedSource.need_id)
                    .where(NeedSource.source == source, NeedSource.source_ref.in_(part)),
                )
            )
    return stacked(frames, REPORTED_COLUMNS)


REPORTED_COLUMNS = [
    "source",
    "source_ref",
    "household_id",
    "contact_phone",
    "contact_name",
    "item_code",
    "status",
    "submitted_at",
]


def read_needs_of(
    session: Session, households: list[str], phones: list[str], since: datetime, statuses: tuple[str, ...]
) -> pd.DataFrame:
    """Needs in ``statuses`` reported since ``since`` of these households, or with these phones."""
    cols = (
        Need.id.label("need_id"),
        Need.household_id,
        Need.contact_phone,
        Need.grid_id,
        Need.item_code,
        Need.submitted_at,
    )
    # by household: the needs' household index, the statuses checked here. With the statuses in
    # the query, SQLite (no statistics) searched the status index instead, every live need once
    # per chunk (97k households' needs in 49 chunks: 4.0-4.8 s, now 1.2-1.9 s, both beside other jobs)
    by_household = [
        rows_frame(
            session,
            select(*cols, Need.status).where(Need.household_id.in_(part), Need.submitted_at >= since),
        )
        for part in in_chunks(households, 2000)
    ]
    found = [f.loc[f["status"].isin(statuses)].drop(columns="status") for f in by_household]
    # by phone (needs without a household; no index on phones): the live needs, by status
    found += [
        rows_frame(
            session,
            select(*cols).where(
                Need.contact_phone.in_(part), Need.status.in_(statuses), Need.submitted_at >= since
            ),
        )
        for part in in_chunks(phones, 2000)
    ]
    found_all = stacked(found, [c.key for c in cols]).drop_duplicates("need_id")
    return found_all.sort_values("need_id", kind="stable").reset_index(drop=True)  # one order, however found


NEED_COLUMNS = [
    "source",
    "source_ref",
    "household_id",
    "grid_id",
    "item_code",
    "description",
    "urgency",
    "contact_name",
    "contact_phone",
    "preferred_start",
    "preferred_end",
    "source_file_id",
]


def insert_needs(session: Session, rows: pd.DataFrame, status: str) -> list[int]:
    """Insert one need per row (``NEED_COLUMNS`` and ``reported_at``) in ``status``; their new ids.

    A resident's phone is kept once: a need whose phone is its household's registered one leaves
    it in the registry (readers take coalesce(need, household)).
    """
    registered = _registered_phones(session, sorted(set(rows["household_id"].dropna())))
    payload = _records(rows, NEED_COLUMNS)
    for r, at in zip(payload, rows["reported_at"].dt.to_pydatetime(), strict=True):
        if r["household_id"] and registered.get(r["household_id"]) == r["contact_phone"]:
            r["contact_phone"] = None
        r.update(submitted_at=at, status=status, escalation_level=0, cycles_unserved=0)
    if not payload:
        return []
    # a plain executemany (RETURNING with parameter order costs a round trip per row on SQLite);
    # the new rows are then found by their file and (source, source_ref), unique within a file,
    # among the ids above the largest before the insert: a range of the primary key, where the
    # file or the references alone (no index) read every need ever reported, once per file
    before = session.scalar(select(func.max(Need.id))) or 0
    session.execute(insert(Need.__table__), payload)
    cols = select(Need.id, Need.source, Need.source_ref).where(Need.id > before)
    file_ids = sorted({p["source_file_id"] for p in payload if p["source_file_id"] is not None})
    if file_ids and all(p["source_file_id"] is not None for p in payload):
        cols = cols.where(Need.source_file_id.in_(file_ids))
    found_ids = {(src, ref): i for i, src, ref in session.execute(cols)}
    return [found_ids[(p["source"], p["source_ref"])] for p in payload]


def insert_need_sources(session: Session, rows: pd.DataFrame, need_ids: list[int]) -> None:
    """Link every row (source, source_ref, source_file_id) to its need."""
    now = datetime.now()
    sources = _records(rows, ["source", "source_ref", "source_file_id"])
    for r, need_id in zip(sources, need_ids, strict=True):
        r.update(need_id=need_id, received_at=now)
    if sources:
        session.execute(insert(NeedSource.__table__), sources)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as plain-Python dicts (None for missing), column by column: ~5x ``to_dict``."""
    values = []
    for c in columns:
        col = frame[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            values.append([None if pd.isna(v) else v.to_pydatetime() for v in col])
        else:
            values.append([_py(v) for v in col.astype(object).tolist()])
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _py(v: Any) -> Any:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
        return None
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    if hasattr(v, "item"):
        return v.item()
    return v


def load_units(session: Session, rows: pd.DataFrame, file_id: int | None) -> int:
    payload = [
        {
            "id": r["unit_id"],
            "name": r["name"],
            "kind": r["kind"],
            "community_id": r.get("community_id"),
            "x_km": float(r["x_km"]),
            "y_km": float(r["y_km"]),
            "contact_phone": r.get("contact_phone"),
            "active": True,
            "source_file_id": file_id,
        }
        for r in rows.to_dict("records")
    ]
    upsert(session, Unit, payload)
    return len(payload)


def load_offers(session: Session, rows: pd.DataFrame, file_id: int | None) -> int:
    payload = [
        {
            "id": r["offer_id"],
            "unit_id": r["unit_id"],
            "item_code": r["item_code"],
            "capacity_per_cycle": int(r["capacity_per_cycle"]),
            "area_level": r["area_level"],
            "area_id": r["area_id"],
            "window_start": pd.Timestamp(r["window_start"]).date(),
            "window_end": pd.Timestamp(r["window_end"]).date(),
            "active": True,
            "source_file_id": file_id,
        }
        for r in rows.to_dict("records")
    ]
    upsert(session, Offer, payload)
    return len(payload)


def unit_identities(session: Session, unit_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """The registered (name, community) of each of these unit ids (ids not registered are left out)."""
    return by_key(session, Unit.id, [Unit.name, Unit.community_id], unit_ids)  # type: ignore[return-value]


def offer_units(session: Session, offer_ids: list[str]) -> dict[str, str]:
    """The unit each of these offer ids is registered to (ids not registered are left out)."""
    return {offer: unit for offer, (unit,) in by_key(session, Offer.id, [Offer.unit_id], offer_ids).items()}


def _registered_phones(session: Session, household_ids: list[str]) -> dict[str, str | None]:
    return {
        h: phone for h, (phone,) in by_key(session, Household.id, [Household.phone], household_ids).items()
    }
