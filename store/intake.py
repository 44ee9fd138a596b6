"""Store functions for intake: source files, reference sets, loading rows, quarantine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from store.models import (
    Community,
    Grid,
    Household,
    Item,
    Need,
    NeedEvent,
    NeedSource,
    Offer,
    QuarantinedRow,
    SourceFile,
    Subdistrict,
    Survey,
    Unit,
)
from store.reference import Reference, upsert


def known_source_file(session: Session, sha256: str) -> SourceFile | None:
    return session.scalar(select(SourceFile).where(SourceFile.sha256 == sha256))


def known_checksums(session: Session, digests: list[str]) -> set[str]:
    """Which of these checksums are files loaded before."""
    found: set[str] = set()
    for k in range(0, len(digests), 5000):
        found |= set(
            session.scalars(select(SourceFile.sha256).where(SourceFile.sha256.in_(digests[k : k + 5000])))
        )
    return found


_REFERENCE_CACHE: dict[tuple, Reference] = {}
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

    Cached per database and dataset until a registry's row count changes, so a run over many
    files reads 100,000 households once, not once per file.
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
    if key in _REFERENCE_CACHE:
        return _REFERENCE_CACHE[key]
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
    if len(_REFERENCE_CACHE) > 32:
        _REFERENCE_CACHE.clear()
    _REFERENCE_CACHE[key] = ref
    return ref


_DIRECTORY_CACHE: dict[tuple, dict[str, pd.DataFrame]] = {}


def directory_frames(session: Session) -> dict[str, pd.DataFrame]:
    """Communities, grids (with names), items and households (grid, phone, address) as frames,
    for resolving what sheets write. Cached per database until a registry's row count changes."""
    counts = tuple(
        session.scalar(select(func.count()).select_from(m)) or 0 for m in (Community, Grid, Item, Household)
    )
    key = (str(session.get_bind().url), counts)
    if key not in _DIRECTORY_CACHE:
        bind = session.connection()
        _DIRECTORY_CACHE.clear()
        _DIRECTORY_CACHE[key] = {
            "communities": pd.read_sql(select(Community.id, Community.name), bind),
            "grids": pd.read_sql(select(Grid.id, Grid.community_id, Grid.name), bind),
            "items": pd.read_sql(select(Item.code, Item.name_zh), bind),
            "households": pd.read_sql(
                select(Household.id, Household.grid_id, Household.phone, Household.address), bind
            ),
        }
    return _DIRECTORY_CACHE[key]


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
    refs = sorted({b["source_ref"] for b in bad if b.get("source_ref")})
    waiting: set[tuple] = set()
    for k in range(0, len(refs), 10_000):  # PostgreSQL: at most 65,535 parameters per statement
        rows = session.execute(
            select(QuarantinedRow.source_ref, QuarantinedRow.raw).where(
                QuarantinedRow.dataset == dataset,
                QuarantinedRow.status == open_status,
                QuarantinedRow.source_ref.in_(refs[k : k + 10_000]),
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
    for start in range(0, len(source_refs), 5000):
        res = session.execute(
            update(QuarantinedRow)
            .where(
                QuarantinedRow.dataset == dataset,
                QuarantinedRow.status == open_status,
                QuarantinedRow.source_ref.in_(source_refs[start : start + 5000]),
            )
            .values(status=superseded_status, superseded_by_file_id=file_id)
        )
        total += res.rowcount or 0
    return total


def load_needs(
    session: Session,
    rows: pd.DataFrame,
    file_id: int | None,
    actor: str,
    dedupe_days: int = 30,
    **statuses: Any,
) -> dict[str, int]:
    """Insert validated need rows; merge duplicates into existing needs. Returns counts.

    See :func:`load_need_rows`, which says what became of each row.
    """
    outcome = load_need_rows(session, rows, file_id, actor, dedupe_days, **statuses)
    counts = {"loaded": 0, "merged": 0, "already_loaded": 0}
    counts.update({k: int(v) for k, v in outcome.value_counts().items()})
    return counts


def load_need_rows(
    session: Session,
    rows: pd.DataFrame,
    file_id: int | None,
    actor: str,
    dedupe_days: int = 30,
    *,
    live_statuses: tuple[str, ...],
    open_status: str,
    report_reason: str,
    created: list[dict[str, Any]] | None = None,
) -> pd.Series:
    """Insert validated need rows; merge duplicates into existing needs. Returns, per row (the
    index of ``rows``), ``loaded``, ``merged`` or ``already_loaded``.

    ``rows`` columns: source, source_ref, reported_at (datetime), grid_id, household_id, item_code,
    description, urgency (int), contact_name, contact_phone, preferred_start, preferred_end; and
    optionally source_file_id and actor per row (rows of several files written in one go).
    A row whose (source, source_ref) is already known — in the store or earlier in ``rows`` — is
    ``already_loaded``; a row for the same household (or phone in the same grid) and item as a
    need still in ``live_statuses`` and reported within ``dedupe_days`` is ``merged`` into it,
    keeping both sources linked. A new need is written in ``open_status`` with a history row giving
    ``report_reason``; each is appended to ``created`` (need_id, grid_id, item_code, urgency, actor).
    """
    outcome = pd.Series("loaded", index=rows.index, dtype=object)
    if rows.empty:
        return outcome
    now = datetime.now()
    rows = rows.copy()
    if "source_file_id" not in rows:
        rows["source_file_id"] = file_id
    if "actor" not in rows:
        rows["actor"] = actor
    # 1. same source reference already loaded (or twice in this batch)
    known = set()
    refs = sorted(set(rows["source_ref"].tolist()))
    for start in range(0, len(refs), 5000):
        known |= set(
            session.execute(
                select(NeedSource.source, NeedSource.source_ref).where(
                    NeedSource.source_ref.in_(refs[start : start + 5000])
                )
            ).all()
        )
    already = pd.Series(
        [(s, r) in known for s, r in zip(rows["source"], rows["source_ref"], strict=True)], index=rows.index
    ) | rows.duplicated(["source", "source_ref"])
    outcome[already] = "already_loaded"
    rows = rows[~already]
    if rows.empty:
        return outcome

    # 2. duplicates of open needs (same household or phone+grid, same item, within the window)
    rows["hh_key"] = rows["household_id"].where(
        rows["household_id"].notna(), "tel:" + rows["contact_phone"].fillna("") + "@" + rows["grid_id"]
    )
    since = rows["reported_at"].min() - timedelta(days=dedupe_days) if len(rows) else now
    # only needs of the households (or phones) in this batch can be duplicates: ask for those alone
    households = sorted(set(rows["household_id"].dropna()))
    phones = sorted(set(rows.loc[rows["household_id"].isna(), "contact_phone"].dropna()))
    found = []
    cols = (Need.id, Need.household_id, Need.contact_phone, Need.grid_id, Need.item_code, Need.submitted_at)
    for key_col, keys in ((Need.household_id, households), (Need.contact_phone, phones)):
        for start in range(0, len(keys), 2000):
            found += session.execute(
                select(*cols).where(
                    key_col.in_(keys[start : start + 2000]),
                    Need.status.in_(live_statuses),
                    Need.submitted_at >= since,
                )
            ).all()
    existing = pd.DataFrame(
        found, columns=["need_id", "household_id", "contact_phone", "grid_id", "item_code", "submitted_at"]
    ).drop_duplicates("need_id")
    if len(existing):
        existing["hh_key"] = existing["household_id"].where(
            existing["household_id"].notna(),
            "tel:" + existing["contact_phone"].fillna("") + "@" + existing["grid_id"],
        )
    rows = rows.sort_values(["reported_at", "source_ref"], kind="stable")
    # rows of this batch for the same household and item within the window are one need: the
    # window counts from the group's first report (a household asking again months later is new)
    group = rows.groupby(["hh_key", "item_code"], sort=False)["reported_at"]
    rows["episode"] = (
        (rows["reported_at"] - group.transform("min")) // pd.Timedelta(days=max(dedupe_days, 1))
    ).astype("int64")
    key = ["hh_key", "item_code", "episode"]
    first_in_batch = ~rows.duplicated(key)
    rows["_row"] = rows.index
    first_row = rows.groupby(key, sort=False)["_row"].transform("first")
    new_rows = rows[first_in_batch]
    if len(existing):
        m = new_rows.reset_index().merge(
            existing[["hh_key", "item_code", "need_id", "submitted_at"]], on=["hh_key", "item_code"]
        )
        m = m[(m["reported_at"] - m["submitted_at"]).abs() <= pd.Timedelta(days=dedupe_days)]
        m = m.sort_values("submitted_at").drop_duplicates("index")
        match_existing = pd.Series(m["need_id"].to_numpy(), index=m["index"].to_numpy())
    else:
        match_existing = pd.Series(dtype="int64")
    to_insert = new_rows[~new_rows.index.isin(match_existing.index)]

    # 3. insert the new needs; link every row (new or merged) as a source
    need_cols = [
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
    ]
    # a resident's phone is kept once: a need whose phone is its household's registered one
    # leaves it in the registry (readers take coalesce(need, household))
    registered = _registered_phones(session, sorted(set(to_insert["household_id"].dropna())))
    payload = _records(to_insert, [*need_cols, "source_file_id"])
    for r, at in zip(payload, to_insert["reported_at"].dt.to_pydatetime(), strict=True):
        if r["household_id"] and registered.get(r["household_id"]) == r["contact_phone"]:
            r["contact_phone"] = None
        r.update(submitted_at=at, status=open_status, escalation_level=0, cycles_unserved=0)
    new_ids: list[int] = []
    if payload:
        # a plain executemany (RETURNING with parameter order costs a round trip per row on
        # SQLite); the new rows are then found by this file and their (source, source_ref),
        # which the contract keeps unique within a file
        session.execute(insert(Need.__table__), payload)  # Core: one executemany, not one per None-pattern
        cols = select(Need.id, Need.source, Need.source_ref)
        file_ids = sorted({p["source_file_id"] for p in payload if p["source_file_id"] is not None})
        if file_ids and all(p["source_file_id"] is not None for p in payload):
            found = list(session.execute(cols.where(Need.source_file_id.in_(file_ids))))
        else:
            refs = sorted({p["source_ref"] for p in payload})
            found = [
                r
                for k in range(0, len(refs), 5000)
                for r in session.execute(cols.where(Need.source_ref.in_(refs[k : k + 5000])))
            ]
        found_ids = {(src, ref): i for i, src, ref in found}
        new_ids = [found_ids[(p["source"], p["source_ref"])] for p in payload]
    id_of = dict(zip(to_insert.index, new_ids, strict=True))
    id_of.update(match_existing.to_dict())
    # later rows of the batch for the same household+item join the first row's need
    need_of = [int(id_of[f]) for f in first_row.tolist()]
    sources = _records(rows, ["source", "source_ref", "source_file_id"])
    for r, need_id in zip(sources, need_of, strict=True):
        r.update(need_id=need_id, received_at=now)
    session.execute(insert(NeedSource.__table__), sources)
    if new_ids:
        actors = dict(zip(to_insert.index, to_insert["actor"], strict=True))
        session.execute(
            insert(NeedEvent.__table__),
            [
                {
                    "need_id": i,
                    "at": now,
                    "actor": actors[k],
                    "from_status": None,
                    "to_status": open_status,
                    "reason": report_reason,
                }
                for k, i in zip(to_insert.index, new_ids, strict=True)
            ],
        )
        if created is not None:
            created += [
                {
                    "need_id": i,
                    "grid_id": p["grid_id"],
                    "item_code": p["item_code"],
                    "urgency": p["urgency"],
                    "actor": actors[k],
                }
                for k, i, p in zip(to_insert.index, new_ids, payload, strict=True)
            ]
    outcome[rows.index.difference(to_insert.index)] = "merged"
    return outcome


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


def _registered_phones(session: Session, household_ids: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k in range(0, len(household_ids), 10_000):
        out |= dict(
            session.execute(
                select(Household.id, Household.phone).where(Household.id.in_(household_ids[k : k + 10_000]))
            ).all()
        )
    return out
