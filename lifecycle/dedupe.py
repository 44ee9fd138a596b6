"""When a reported need is one the district already has (the de-duplication rule).

A row is the same report again when its (source, source_ref) was loaded before, or appears
earlier in the batch, for the same person and item (a reference that names another report is
made the row's own first: :func:`references_as_meant`). A row is the same need as another when it is for the same household — or,
without a household, the same phone in the same grid — and the same item, reported within
``dedupe_days`` of it: rows of one batch form one need per window (counted from the group's first
report, so a household asking again months later is a new need), and a row joins a need still
live in the store (``lifecycle.states.DEDUPE_AGAINST``) reported within the window of it.
Pure pandas: the store reads the candidates, this decides, the store writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd


def household_key(frame: pd.DataFrame) -> pd.Series:
    """The household, or ``tel:<phone>@<grid>`` for a resident the registry does not know."""
    return frame["household_id"].where(
        frame["household_id"].notna(), "tel:" + frame["contact_phone"].fillna("") + "@" + frame["grid_id"]
    )


def references_as_meant(rows: pd.DataFrame, known: pd.DataFrame, live: tuple[str, ...]) -> pd.Series:
    """Each row's reference; where its (source, reference) already names another report, a
    reference of its own, so that the row is loaded rather than skipped as that report again.

    Sheets made by hand number their rows 1, 2, 3 — every week, in every grid — in the column a
    system would fill with its ticket number. A row is the report a known pair names when it is
    for the same person (household, phone or name) and the same item, and that need is still
    live or was first reported no earlier than this row (a roster sheet's row 1 asking again
    after the last request was done is a new report). Against an earlier row of the batch: the
    same person and item. Any other row gets the reference with a suffix from its own content
    (the same on every re-send of the row).

    ``known``: :func:`store.intake.reported_as` of the rows' pairs; ``live``: need statuses not done.
    """
    stored = {
        (s, r): (h, p, n, i, st in live, t.date() if pd.notna(t) else None)
        for s, r, h, p, n, i, st, t in zip(
            known["source"],
            known["source_ref"],
            known["household_id"],
            known["contact_phone"],
            known["contact_name"],
            known["item_code"],
            known["status"],
            known["submitted_at"],
            strict=True,
        )
    }
    first: dict[tuple[str, str], tuple[object, ...]] = {}
    refs = []
    for source, ref, h, p, n, i, at, grid in zip(
        rows["source"],
        rows["source_ref"],
        rows["household_id"],
        rows["contact_phone"],
        rows["contact_name"],
        rows["item_code"],
        rows["reported_at"],
        rows["grid_id"],
        strict=True,
    ):
        pair, who = (source, ref), (h, p, n, i)
        day = at.date() if pd.notna(at) else None
        before = stored.get(pair)
        if before is not None:
            reported_again = day is not None and before[5] is not None and day > before[5]
            same = _same_person_and_item(who, before[:4]) and (before[4] or not reported_again)
        else:
            same = pair not in first or _same_person_and_item(who, first[pair])
        if same:
            first.setdefault(pair, who)
            refs.append(ref)
        else:
            refs.append(_own_reference(str(ref), f"{source}|{grid}|{h}|{p}|{n}|{i}|{day}"))
    return pd.Series(refs, index=rows.index, dtype=object)


def _same_person_and_item(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """(household, phone, name, item) of two reports: one person (any of the three known on both
    sides and equal) asking for one item."""
    person = any(x is not None and not pd.isna(x) and x == y for x, y in zip(a[:3], b[:3], strict=True))
    return person and a[3] == b[3]


def _own_reference(ref: str, content: str) -> str:
    """``<ref>~<digest of the row's content>``."""
    return suffixed_reference(ref, "~" + hashlib.sha1(content.encode("utf-8")).hexdigest()[:10])


def suffixed_reference(ref: str, suffix: str, limit: int = 100) -> str:
    """``ref`` with ``suffix`` (a reused reference made a row's own: a need's, a unit's reply's),
    or past the ``limit`` a reference may have, ``R`` and a digest of the two."""
    made = f"{ref}{suffix}"
    return made if len(made) <= limit else "R" + hashlib.sha1(made.encode("utf-8")).hexdigest()[:20].upper()


def already_loaded(rows: pd.DataFrame, known: set[tuple[str, str]]) -> pd.Series:
    """Rows whose (source, source_ref) is ``known`` (loaded before) or repeats an earlier row."""
    seen = [(s, r) in known for s, r in zip(rows["source"], rows["source_ref"], strict=True)]
    return pd.Series(seen, index=rows.index, dtype=bool) | rows.duplicated(["source", "source_ref"])


def window_start(rows: pd.DataFrame, dedupe_days: int) -> pd.Timestamp:
    """The earliest report a row of this batch can be a duplicate of."""
    return rows["reported_at"].min() - pd.Timedelta(days=dedupe_days)


@dataclass(frozen=True)
class Merge:
    """What becomes of a batch's rows (all indexes are ``rows``' own)."""

    rows: pd.DataFrame  # the rows in report order
    first_row: pd.Series  # each row -> the first row of its need in the batch
    existing: pd.Series  # a first row -> the live need it joins
    new: pd.Index  # first rows that are new needs

    def need_of(self, new_ids: dict[object, int]) -> list[int]:
        """The need of every row, given the ids the new ones got."""
        id_of = {**new_ids, **self.existing.to_dict()}
        return [int(id_of[f]) for f in self.first_row.tolist()]


def merge_duplicates(rows: pd.DataFrame, live: pd.DataFrame, dedupe_days: int) -> Merge:
    """Group the batch into needs and match each to a ``live`` need (need_id, household_id,
    contact_phone, grid_id, item_code, submitted_at) of the same household and item within the window."""
    rows = rows.assign(hh_key=household_key(rows)).sort_values(["reported_at", "source_ref"], kind="stable")
    group = rows.groupby(["hh_key", "item_code"], sort=False)["reported_at"]
    rows["episode"] = (
        (rows["reported_at"] - group.transform("min")) // pd.Timedelta(days=max(dedupe_days, 1))
    ).astype("int64")
    key = ["hh_key", "item_code", "episode"]
    rows["_row"] = rows.index
    first_row = rows.groupby(key, sort=False)["_row"].transform("first")
    firsts = rows[~rows.duplicated(key)]
    existing = pd.Series(dtype="int64")
    if len(live):
        live = live.assign(hh_key=household_key(live))
        m = firsts.reset_index().merge(
            live[["hh_key", "item_code", "need_id", "submitted_at"]], on=["hh_key", "item_code"]
        )
        m = m[(m["reported_at"] - m["submitted_at"]).abs() <= pd.Timedelta(days=dedupe_days)]
        m = m.sort_values("submitted_at").drop_duplicates("index")
        existing = pd.Series(m["need_id"].to_numpy(), index=m["index"].to_numpy())
    new = firsts.index[~firsts.index.isin(existing.index)]
    return Merge(rows.drop(columns=["hh_key", "episode", "_row"]), first_row, existing, new)
