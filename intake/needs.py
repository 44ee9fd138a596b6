"""Loading validated need rows: the same report again is skipped, the same need again is merged
(``lifecycle.dedupe``), a new one is reported (``lifecycle.states.transition``: REPORT) with its
history row and its change for the Prefect event."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy.orm import Session

from lifecycle.changes import NeedChange, changes_for, history_rows
from lifecycle.dedupe import already_loaded, merge_duplicates, references_as_meant, window_start
from lifecycle.states import DEDUPE_AGAINST, LIVE_NEED, Action, transition
from settings import pause_point
from store import intake as store_intake
from store.cycle import append_history


def load_need_rows(
    session: Session,
    rows: pd.DataFrame,
    file_id: int | None,
    actor: str,
    dedupe_days: int = 30,
    changes: list[NeedChange] | None = None,
    renamed: list[object] | None = None,
) -> pd.Series:
    """Insert validated need rows; merge duplicates into existing needs. Returns, per row (the
    index of ``rows``), ``loaded``, ``merged`` or ``already_loaded``. The labels of rows loaded
    under a reference of their own (theirs named another report) are appended to ``renamed``.

    ``rows`` columns: source, source_ref, reported_at (datetime), grid_id, household_id, item_code,
    description, urgency (int), contact_name, contact_phone, preferred_start, preferred_end; and
    optionally source_file_id and actor per row (rows of several files written in one go).
    Each new need's REPORT change is appended to ``changes``.
    """
    if not rows.index.is_unique:
        raise ValueError("need rows must have a unique index (one label per row)")
    outcome = pd.Series("loaded", index=rows.index, dtype=object)
    if rows.empty:
        return outcome
    rows = rows.copy()
    if "source_file_id" not in rows:
        rows["source_file_id"] = file_id
    if "actor" not in rows:
        rows["actor"] = actor
    # a reference that already names another report (sheets numbered 1, 2, 3 every week) gets one
    # of its own: the row is a new report, not the old one again
    reported = store_intake.reported_as(session, zip(rows["source"], rows["source_ref"], strict=True))
    refs = references_as_meant(rows, reported, tuple(str(s) for s in LIVE_NEED))
    made = refs.ne(rows["source_ref"])
    if made.any():
        rows = rows.assign(source_ref=refs)
        again_sent = store_intake.reported_as(session, zip(rows.loc[made, "source"], refs[made], strict=True))
        reported = pd.concat([reported, again_sent], ignore_index=True)
    known = set(zip(reported["source"], reported["source_ref"], strict=True))
    again = already_loaded(rows, known)
    if renamed is not None:
        renamed += rows.index[made & ~again].tolist()
    outcome[again] = "already_loaded"
    rows = rows[~again]
    if rows.empty:
        return outcome
    live = store_intake.read_needs_of(
        session,
        sorted(set(rows["household_id"].dropna())),
        sorted(set(rows.loc[rows["household_id"].isna(), "contact_phone"].dropna())),
        window_start(rows, dedupe_days).to_pydatetime(),
        tuple(str(s) for s in DEDUPE_AGAINST),
    )
    merge = merge_duplicates(rows, live, dedupe_days)
    new_rows = merge.rows.loc[merge.new]
    status = str(transition(Action.REPORT, None).need_to)  # every new need starts where REPORT puts it
    new_ids = store_intake.insert_needs(session, new_rows, status)
    pause_point("intake:mid-file")
    store_intake.insert_need_sources(
        session, merge.rows, merge.need_of(dict(zip(new_rows.index, new_ids, strict=True)))
    )
    now = datetime.now()
    context = {
        i: {"grid_id": g, "item_code": item, "urgency": int(u)}
        for i, g, item, u in zip(
            new_ids, new_rows["grid_id"], new_rows["item_code"], new_rows["urgency"], strict=True
        )
    }
    made: list[NeedChange] = []
    for who, ids in pd.Series(new_ids, dtype="int64").groupby(new_rows["actor"].to_numpy()):
        made += changes_for(Action.REPORT, ids.tolist(), None, None, at=now, actor=str(who), context=context)
    append_history(session, history_rows(made))
    if changes is not None:
        changes += made
    outcome[merge.rows.index.difference(merge.new)] = "merged"
    return outcome


def load_needs(
    session: Session,
    rows: pd.DataFrame,
    file_id: int | None,
    actor: str,
    dedupe_days: int = 30,
    changes: list[NeedChange] | None = None,
) -> dict[str, int]:
    """Insert validated need rows; merge duplicates into existing needs. Returns counts
    (see :func:`load_need_rows`), with ``renamed``: rows loaded under a reference of their own."""
    renamed: list[object] = []
    outcome = load_need_rows(session, rows, file_id, actor, dedupe_days, changes, renamed)
    counts = {"loaded": 0, "merged": 0, "already_loaded": 0}
    counts.update({k: int(v) for k, v in outcome.value_counts().items()})
    counts["renamed"] = len(renamed)
    return counts
