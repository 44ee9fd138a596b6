"""What a match cycle changes in needs' lives: who is dispatched, moved, taken off the list, and
who escalates — computed here from the store's rows, written by ``store/cycle.py`` as returned.

A cycle may be re-run: its still-dispatched assignments go back into the pool and the run sees each
need as the cycle's first run saw it (:func:`as_first_seen`); only the differences are written
(:func:`plan_dispatch`), so an unchanged re-run writes nothing and makes no change; the
escalation the first run decided is kept (:func:`plan_unserved`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from lifecycle.changes import NeedChange, changes_for, collector_paused
from lifecycle.states import Action, AssignmentStatus, NeedStatus

N, A = NeedStatus, AssignmentStatus
COST_COLUMNS = ["cost", "cost_distance", "cost_scope", "cost_rating", "distance_km"]


def as_first_seen(needs: pd.DataFrame, prior: pd.DataFrame, weekly: bool) -> pd.DataFrame:
    """The pool as the cycle's first run saw it.

    ``prior``: this cycle's unserved rows so far (``need_id``, ``escalated_to``, ``escalated_from``).
    Adds ``unserved_before_in_cycle``; on a re-run of the weekly cycle (``weekly``) a need this cycle
    escalated is seen at the level it had before, with its counter restarted as escalate() left it.
    """
    needs = needs.copy()
    needs["unserved_before_in_cycle"] = needs["need_id"].isin(prior["need_id"])
    if weekly and len(prior):
        before = prior.dropna(subset=["escalated_to"]).set_index("need_id")
        before = before["escalated_from"].fillna(before["escalated_to"] - 1)
        here = needs["need_id"].isin(before.index)
        needs.loc[here, "escalation_level"] = needs.loc[here, "need_id"].map(before).astype(int)
        needs.loc[here, "cycles_unserved"] = 0
    return needs


Context = dict[int, dict[str, Any]]


def need_context(needs: pd.DataFrame | None) -> Context:
    """What each need's events say of it (grid, item, urgency), by need id; built once per save."""
    if needs is None or not len(needs):
        return {}
    return {
        int(n): {"grid_id": g, "item_code": item, "urgency": int(u)}
        for n, g, item, u in zip(
            needs["need_id"].tolist(),
            needs["grid_id"].tolist(),
            needs["item_code"].tolist(),
            needs["urgency"].tolist(),
            strict=True,
        )
    }


@dataclass
class DispatchWrite:
    """What to write so the cycle's dispatched assignments equal the plan."""

    drop_assignment_ids: list[int] = field(default_factory=list)
    # one row per new assignment, columns as the table's (a hundred thousand rows: columns, not dicts)
    add_assignments: pd.DataFrame = field(default_factory=pd.DataFrame)
    need_status: list[dict[str, Any]] = field(default_factory=list)  # {"id", "status"}
    changes: list[NeedChange] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def plan_dispatch(
    cycle_id: str,
    current: pd.DataFrame,
    chosen: pd.DataFrame,
    *,
    at: datetime,
    actor: str,
    context: Context | None = None,
) -> DispatchWrite:
    """Compare the cycle's dispatched assignments (``current``: id, need_id, offer_id) with the plan
    (``chosen``: need_id, offer_id, unit_id and the cost breakdown).

    A kept pair changes nothing; a need moved to another offer is re-dispatched; a need the plan
    leaves out goes back to the pool (undispatch); a new pair dispatches an open need.
    ``context``: :func:`need_context` of the pool, for the events.
    """
    ctx = context or {}
    key_new = set(zip(chosen["need_id"].tolist(), chosen["offer_id"].tolist(), strict=True))
    key_old = list(zip(current["need_id"].tolist(), current["offer_id"].tolist(), strict=True))
    drop_mask = np.array([k not in key_new for k in key_old], dtype=bool)
    drop = current.loc[drop_mask]
    old = set(key_old)
    add = chosen.loc[
        np.array(
            [k not in old for k in zip(chosen["need_id"].tolist(), chosen["offer_id"].tolist(), strict=True)],
            dtype=bool,
        )
    ]
    w = DispatchWrite(drop_assignment_ids=[int(i) for i in drop["id"]])
    moved = set(add["need_id"].tolist())
    dropped = drop["need_id"].tolist()
    redispatched = [int(n) for n in dropped if n in moved]
    back = [int(n) for n in dropped if n not in moved]
    unit_of = dict(zip(add["need_id"].tolist(), add["unit_id"].tolist(), strict=True))
    common = {"at": at, "actor": actor}
    w.changes += changes_for(
        Action.REDISPATCH,
        redispatched,
        N.DISPATCHED,
        A.DISPATCHED,
        reason="本期重新匹配，改派其他资源",
        context=ctx,
        fields={"cycle_id": cycle_id, "unit_id": unit_of},
        **common,
    )
    w.changes += changes_for(
        Action.UNDISPATCH,
        back,
        N.DISPATCHED,
        A.DISPATCHED,
        reason="本期重新匹配，暂未派出",
        context=ctx,
        fields={"cycle_id": cycle_id},
        **common,
    )
    was_dropped = set(dropped)
    fresh = [int(n) for n in add["need_id"].tolist() if n not in was_dropped]
    dispatched = changes_for(
        Action.DISPATCH,
        fresh,
        N.OPEN,
        None,
        reason="社区派单",
        context=ctx,
        fields={"cycle_id": cycle_id, "unit_id": unit_of},
        **common,
    )
    w.changes += dispatched
    status_to = {c.need_id: str(c.step.need_to) for c in w.changes}
    stays = set(redispatched)  # a set: a re-run that moves 30k needs took 5.2 s against a list
    with collector_paused():  # a row per need
        w.need_status = [{"id": n, "status": s} for n, s in status_to.items() if n not in stays]
    if len(add):
        assignment_status = str(dispatched[0].step.assignment_to) if dispatched else str(A.DISPATCHED)
        w.add_assignments = pd.DataFrame(
            {
                "cycle_id": cycle_id,
                "need_id": add["need_id"].to_numpy(dtype=np.int64),
                "offer_id": pd.Series(add["offer_id"].tolist(), dtype=object),
                "unit_id": pd.Series(add["unit_id"].tolist(), dtype=object),
                **{c: add[c].to_numpy(dtype=float) for c in COST_COLUMNS},
                "status": assignment_status,
                "dispatched_at": pd.Series([at] * len(add), dtype=object),
            }
        )
    w.counts = {"kept": len(current) - len(drop), "added": len(add), "removed": len(drop)}
    return w


@dataclass
class UnservedWrite:
    """What to write for the cycle's unserved needs: their rows, their new desk levels
    ({"id", "escalation_level", "cycles_unserved"}) and the escalations as changes."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    need_levels: list[dict[str, Any]] = field(default_factory=list)
    changes: list[NeedChange] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def plan_unserved(
    cycle_id: str,
    unserved: pd.DataFrame,
    escalation: pd.DataFrame,
    prior: pd.DataFrame,
    *,
    at: datetime,
    actor: str,
    context: Context | None = None,
) -> UnservedWrite:
    """Why each need stayed unserved, and the escalations of those unserved for the first time in
    this cycle (a re-run keeps what the first run decided: ``prior`` holds this cycle's earlier rows).

    ``escalation``: from :func:`lifecycle.escalation.escalate`, first-time needs only.
    """
    ctx = context or {}
    esc = escalation.set_index("need_id") if len(escalation) else pd.DataFrame()
    keep = prior.set_index("need_id")[["escalated_to", "escalated_from", "escalated_why"]]
    keep = keep.astype(object).where(keep.notna(), None).to_dict("index")
    up = esc[esc["escalated"].astype(bool)] if len(esc) else esc
    ids = [int(n) for n in up.index]
    # the escalations decided now, by need: a shortage leaves tens of thousands of needs unserved
    # (a frame lookup per need: 43k unserved needs 1.4-1.6 s)
    decided = (
        {
            n: {"escalated_to": int(to), "escalated_from": int(fr), "escalated_why": str(why)}
            for n, to, fr, why in zip(
                ids, up["escalation_level"], up["from_level"], up["why"].tolist(), strict=True
            )
        }
        if ids
        else {}
    )
    none = {"escalated_to": None, "escalated_from": None, "escalated_why": None}
    w = UnservedWrite()
    columns = [unserved[c].tolist() for c in ("need_id", "reason", "detail", "penalty")]
    with collector_paused():  # a row per unserved need
        for n, reason, detail, penalty in zip(*columns, strict=True):
            n = int(n)
            step = keep[n] if n in keep else decided.get(n, none)
            w.rows.append(
                {
                    "cycle_id": cycle_id,
                    "need_id": n,
                    "reason": reason,
                    "detail": detail,
                    "penalty": float(penalty),
                    "escalated_to": None if step["escalated_to"] is None else int(step["escalated_to"]),
                    "escalated_from": None if step["escalated_from"] is None else int(step["escalated_from"]),
                    "escalated_why": step["escalated_why"],
                }
            )
    if len(esc):
        w.need_levels = [
            {"id": int(n), "escalation_level": int(lv), "cycles_unserved": int(cu)}
            for n, lv, cu in zip(
                esc.index.tolist(),
                esc["escalation_level"].tolist(),
                esc["cycles_unserved"].tolist(),
                strict=True,
            )
        ]
        w.changes = changes_for(
            Action.ESCALATE,
            ids,
            N.OPEN,
            None,
            at=at,
            actor=actor,
            context=ctx,
            fields={
                "cycle_id": cycle_id,
                "reason": dict(zip(ids, up["detail"].astype(str), strict=True)),
                "level_from": dict(zip(ids, up["from_level"].astype(int).tolist(), strict=True)),
                "level_to": dict(zip(ids, up["escalation_level"].astype(int).tolist(), strict=True)),
                "why": dict(zip(ids, up["why"].astype(str), strict=True)),
            },
        )
    w.counts = {
        "unserved": len(w.rows),
        "escalated": sum(1 for r in w.rows if r["escalated_to"] is not None),
        "escalated_now": len(w.changes),
    }
    return w
