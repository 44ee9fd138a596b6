"""Store functions for a match cycle: lock the period, read the pool, apply a solution.

A cycle may be re-run: its still-dispatched assignments go back into the pool, the solution
is recomputed from the same inputs and only the differences are written, so an unchanged
re-run writes nothing and logs no events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from store.models import (
    Assignment,
    Community,
    Cycle,
    Grid,
    Need,
    NeedEvent,
    Offer,
    Unit,
    UnservedNeed,
)

USED_STATUSES = ("accepted", "completed", "closed")  # capacity consumed for good in this cycle


class CycleLocked(RuntimeError):
    """Another match run holds this cycle."""


class CycleSuperseded(RuntimeError):
    """A later cycle already ran: this one's list is history and is not re-matched."""


def later_cycle(session: Session, period_start: date) -> str | None:
    return session.scalar(
        select(Cycle.id).where(Cycle.period_start > period_start).order_by(Cycle.period_start).limit(1)
    )


def cycle_summary(session: Session, cycle_id: str) -> dict[str, Any] | None:
    """What a finished cycle did, from the store (for reports and skipped re-runs)."""
    from store.models import Publication

    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        return None
    served = (
        session.scalar(
            select(func.count(func.distinct(Assignment.need_id))).where(Assignment.cycle_id == cycle_id)
        )
        or 0
    )
    reasons = dict(
        session.execute(
            select(UnservedNeed.reason, func.count())
            .where(UnservedNeed.cycle_id == cycle_id)
            .group_by(UnservedNeed.reason)
        ).all()
    )
    escalated = (
        session.scalar(
            select(func.count())
            .select_from(UnservedNeed)
            .where(UnservedNeed.cycle_id == cycle_id, UnservedNeed.escalated_to.is_not(None))
        )
        or 0
    )
    pub = session.scalar(
        select(Publication)
        .where(Publication.kind == "service_list", Publication.cycle_id == cycle_id)
        .order_by(Publication.version.desc())
        .limit(1)
    )
    return {
        "cycle_id": cycle_id,
        "needs": int(served) + sum(reasons.values()),
        "served": int(served),
        "unserved": sum(reasons.values()),
        "unserved_by_reason": reasons,
        "escalated": int(escalated),
        "objective": cycle.objective,
        "version": pub.version if pub else 0,
        "new_version": False,
        "service_list": pub.path if pub else "",
    }


def _chunks(ids: list[int], size: int = 10_000) -> list[list[int]]:
    """PostgreSQL allows 65,535 parameters per statement: IN lists go in chunks."""
    return [ids[k : k + size] for k in range(0, len(ids), size)]


def cycle_id_for(day: date) -> str:
    """Weekly cycles named by ISO week, e.g. ``2026-W47``."""
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def period_of(day: date) -> tuple[date, date]:
    """The Monday-to-Sunday week that contains ``day``."""
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=6)


def acquire_cycle(
    session: Session,
    cycle_id: str,
    period: tuple[date, date],
    owner: str,
    lease_seconds: float = 300.0,
    owner_gone: Callable[[str], str | None] | None = None,
) -> Cycle:
    """Take the cycle's lock (compare-and-set on its row); raise CycleLocked if a live run holds it.

    A lock whose holder is gone is taken over, and the takeover recorded (``takeover_note``): gone
    means ``owner_gone(holder)`` gives a reason (the caller asks Prefect whether that flow run
    crashed, failed or was cancelled), or the holder stopped renewing its lease for
    ``lease_seconds``. A live run's lock, renewed within its lease, is never taken.
    The caller commits right away so other runs see the lock.
    """
    later = later_cycle(session, period[0])
    if later is not None:
        raise CycleSuperseded(f"周期 {cycle_id} 之后已运行 {later}：旧周期的服务清单已成历史，不再重新匹配")
    cycle = session.get(Cycle, cycle_id, with_for_update=True)
    now = datetime.now()
    if cycle is None:
        cycle = Cycle(
            id=cycle_id,
            period_start=period[0],
            period_end=period[1],
            status="running",
            started_at=now,
            lock_owner=owner,
            lock_renewed_at=now,
        )
        session.add(cycle)
        session.flush()
        return cycle
    free = (Cycle.status != "running") | (Cycle.lock_owner == owner) | Cycle.lock_owner.is_(None)
    values: dict[str, Any] = {
        "status": "running",
        "lock_owner": owner,
        "started_at": now,
        "lock_renewed_at": now,
    }
    held_by, since = cycle.lock_owner, cycle.started_at
    why = None
    if cycle.status == "running" and held_by and held_by != owner:
        why = owner_gone(held_by) if owner_gone else None
        renewed = cycle.lock_renewed_at or cycle.started_at
        if why is None and renewed is not None and (now - renewed).total_seconds() > lease_seconds:
            why = f"租约已过期：最后续约于 {renewed:%Y-%m-%d %H:%M:%S}，超过 {lease_seconds:.0f} 秒未续约"
    if why is not None:
        free = free | (Cycle.lock_owner == held_by)
        values["takeover_note"] = (
            f"{now:%Y-%m-%d %H:%M:%S} {owner} 接管了 {held_by}（开始于 {since:%Y-%m-%d %H:%M:%S}）的锁：{why}"
        )
    res = session.execute(update(Cycle).where(Cycle.id == cycle_id, free).values(**values))
    if res.rowcount != 1:
        raise CycleLocked(
            f"周期 {cycle_id} 正由另一次匹配运行（{held_by}，开始于 {since:%Y-%m-%d %H:%M}）："
            "请等待其结束后再运行"
        )
    session.refresh(cycle)
    return cycle


def renew_cycle_lock(session: Session, cycle_id: str, owner: str) -> bool:
    """The holder renews its lease; False when the lock is no longer its own."""
    res = session.execute(
        update(Cycle)
        .where(Cycle.id == cycle_id, Cycle.lock_owner == owner)
        .values(lock_renewed_at=datetime.now())
    )
    return res.rowcount == 1


def release_cycle(session: Session, cycle_id: str, owner: str, status: str, objective: float | None) -> None:
    values: dict[str, Any] = {"status": status, "lock_owner": None, "finished_at": datetime.now()}
    if objective is not None:  # an urgent run keeps the weekly run's objective
        values["objective"] = objective
    session.execute(update(Cycle).where(Cycle.id == cycle_id, Cycle.lock_owner == owner).values(**values))


def read_pool(session: Session, cycle_id: str, urgent_from: int | None = None) -> pd.DataFrame:
    """Needs to match in this cycle: open ones, plus those this cycle dispatched and no unit answered yet.

    ``escalation_level`` is the level the need had when the cycle first ran (a re-run sees the
    same inputs as the first run). With ``urgent_from``, only open needs of at least that urgency
    (the day's urgent run: what is already on the list stays as it is).
    """
    pending = select(Assignment.need_id).where(
        Assignment.cycle_id == cycle_id, Assignment.status == "dispatched"
    )
    q = (
        select(
            Need.id.label("need_id"),
            Need.grid_id,
            Grid.community_id,
            Community.subdistrict_id,
            Need.item_code,
            Need.urgency,
            Need.submitted_at,
            Need.escalation_level,
            Need.cycles_unserved,
            Grid.x_km,
            Grid.y_km,
            Need.preferred_start,
            Need.preferred_end,
            Need.household_id,
        )
        .join(Grid, Grid.id == Need.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .where(
            (Need.status == "open") & (Need.urgency >= urgent_from)
            if urgent_from is not None
            else (Need.status == "open") | Need.id.in_(pending)
        )
        .order_by(Need.id)
    )
    needs = pd.DataFrame(session.execute(q).all(), columns=list(q.selected_columns.keys()))
    prior = pd.DataFrame(
        session.execute(
            select(UnservedNeed.need_id, UnservedNeed.escalated_to, UnservedNeed.escalated_from).where(
                UnservedNeed.cycle_id == cycle_id
            )
        ).all(),
        columns=["need_id", "escalated_to", "escalated_from"],
    )
    needs["unserved_before_in_cycle"] = needs["need_id"].isin(prior["need_id"])
    if urgent_from is None:
        # a re-run of the weekly cycle sees the level the need had before this cycle escalated it
        before = prior.dropna(subset=["escalated_to"]).set_index("need_id")
        before = before["escalated_from"].fillna(before["escalated_to"] - 1)
        here = needs["need_id"].isin(before.index)
        needs.loc[here, "escalation_level"] = needs.loc[here, "need_id"].map(before).astype(int)
        needs.loc[here, "cycles_unserved"] = 0  # escalate() restarts the counter after the level moves
    return needs


def read_offers(session: Session, cycle_id: str, held: tuple[str, ...] = USED_STATUSES) -> pd.DataFrame:
    """Active offers with their unit's place and rating, capacity net of this cycle's work in ``held``
    statuses (the weekly run re-decides its own dispatches; the day's urgent run keeps them)."""
    q = (
        select(
            Offer.id.label("offer_id"),
            Offer.unit_id,
            Offer.item_code,
            Offer.capacity_per_cycle.label("capacity"),
            Offer.area_level,
            Offer.area_id,
            Offer.window_start,
            Offer.window_end,
            Unit.x_km,
            Unit.y_km,
            Unit.rating,
        )
        .join(Unit, Unit.id == Offer.unit_id)
        .where(Offer.active.is_(True), Unit.active.is_(True))
        .order_by(Offer.id)
    )
    offers = pd.DataFrame(session.execute(q).all(), columns=list(q.selected_columns.keys()))
    # the subdistrict each offer's area lies in (for cross-community reach at the subdistrict desk)
    comm_sub = dict(session.execute(select(Community.id, Community.subdistrict_id)).all())
    grid_comm = dict(session.execute(select(Grid.id, Grid.community_id)).all())
    level = offers["area_level"].to_numpy()
    area = offers["area_id"]
    offers["area_subdistrict_id"] = np.where(
        level == "subdistrict",
        area,
        np.where(level == "community", area.map(comm_sub), area.map(grid_comm).map(comm_sub)),
    )
    used = pd.DataFrame(
        session.execute(
            select(Assignment.offer_id).where(Assignment.cycle_id == cycle_id, Assignment.status.in_(held))
        ).all(),
        columns=["offer_id"],
    )
    if len(used) and len(offers):
        taken = offers["offer_id"].map(used["offer_id"].value_counts()).fillna(0).astype(int)
        offers["capacity"] = (offers["capacity"] - taken).clip(lower=0)
    return offers


def count_waiting_urgent(session: Session, urgent_from: int) -> int:
    """Open needs of at least this urgency: what a day's urgent run would try to dispatch."""
    return int(
        session.scalar(
            select(func.count()).select_from(Need).where(Need.status == "open", Need.urgency >= urgent_from)
        )
        or 0
    )


def read_declined(session: Session) -> pd.DataFrame:
    """(need, unit) pairs where the unit declined or let the work lapse: never offered again."""
    rows = session.execute(
        select(Assignment.need_id, Assignment.unit_id).where(Assignment.status.in_(("declined", "released")))
    ).all()
    return pd.DataFrame(rows, columns=["need_id", "unit_id"]).drop_duplicates()


def apply_assignments(
    session: Session, cycle_id: str, chosen: pd.DataFrame, actor: str, scope: pd.Series | None = None
) -> dict[str, int]:
    """Make the cycle's dispatched assignments equal ``chosen``, writing only the differences.

    ``chosen``: need_id, offer_id, unit_id, cost, cost_distance, cost_scope, cost_rating, distance_km.
    ``scope``: the need ids this run matched (None: all of the cycle's); dispatches of other
    needs are left as they are.
    """
    now = datetime.now()
    current = pd.DataFrame(
        session.execute(
            select(Assignment.id, Assignment.need_id, Assignment.offer_id).where(
                Assignment.cycle_id == cycle_id, Assignment.status == "dispatched"
            )
        ).all(),
        columns=["id", "need_id", "offer_id"],
    )
    if scope is not None:
        current = current[current["need_id"].isin(scope)]
    key_new = set(zip(chosen["need_id"], chosen["offer_id"], strict=True))
    key_old = set(zip(current["need_id"], current["offer_id"], strict=True))
    drop = current.loc[
        np.array(
            [k not in key_new for k in zip(current["need_id"], current["offer_id"], strict=True)], dtype=bool
        )
    ]
    add = chosen.loc[
        np.array(
            [k not in key_old for k in zip(chosen["need_id"], chosen["offer_id"], strict=True)], dtype=bool
        )
    ]
    if len(drop):
        ids = [int(i) for i in drop["id"]]
        for part in _chunks(ids):
            session.execute(delete(Assignment).where(Assignment.id.in_(part)))
        moved = set(add["need_id"])
        back = [int(n) for n in drop["need_id"] if n not in moved]
        for part in _chunks(back):
            session.execute(update(Need).where(Need.id.in_(part)).values(status="open"))
        session.execute(
            insert(NeedEvent),
            [
                {
                    "need_id": int(n),
                    "at": now,
                    "actor": actor,
                    "from_status": "dispatched",
                    "to_status": "dispatched" if n in moved else "open",
                    "cycle_id": cycle_id,
                    "reason": "本期重新匹配，改派其他资源" if n in moved else "本期重新匹配，暂未派出",
                }
                for n in drop["need_id"]
            ],
        )
    if len(add):
        records: list[dict[str, Any]] = [
            {
                "cycle_id": cycle_id,
                "need_id": int(r["need_id"]),
                "offer_id": r["offer_id"],
                "unit_id": r["unit_id"],
                "cost": float(r["cost"]),
                "cost_distance": float(r["cost_distance"]),
                "cost_scope": float(r["cost_scope"]),
                "cost_rating": float(r["cost_rating"]),
                "distance_km": float(r["distance_km"]),
                "status": "dispatched",
                "dispatched_at": now,
            }
            for r in add.to_dict("records")
        ]
        session.execute(insert(Assignment), records)
        fresh = [int(n) for n in add["need_id"] if n not in set(drop["need_id"])]
        if fresh:
            for part in _chunks(fresh):
                session.execute(update(Need).where(Need.id.in_(part)).values(status="dispatched"))
            session.execute(
                insert(NeedEvent),
                [
                    {
                        "need_id": n,
                        "at": now,
                        "actor": actor,
                        "from_status": "open",
                        "to_status": "dispatched",
                        "cycle_id": cycle_id,
                        "reason": "社区派单",
                    }
                    for n in fresh
                ],
            )
    return {"kept": len(current) - len(drop), "added": len(add), "removed": len(drop)}


def apply_unserved(
    session: Session,
    cycle_id: str,
    unserved: pd.DataFrame,
    escalation: pd.DataFrame,
    actor: str,
    scope: pd.Series | None = None,
) -> dict[str, int]:
    """Record why needs stayed unserved; escalate those unserved for the first time in this cycle.

    ``unserved``: need_id, reason, detail, penalty. ``escalation``: need_id, escalation_level,
    cycles_unserved, escalated, detail (from :func:`lifecycle.escalation.escalate`), for first-time ones only.
    """
    now = datetime.now()
    prior = pd.DataFrame(
        session.execute(
            select(
                UnservedNeed.need_id,
                UnservedNeed.escalated_to,
                UnservedNeed.escalated_from,
                UnservedNeed.escalated_why,
            ).where(UnservedNeed.cycle_id == cycle_id)
        ).all(),
        columns=["need_id", "escalated_to", "escalated_from", "escalated_why"],
    )
    if scope is None:
        session.execute(delete(UnservedNeed).where(UnservedNeed.cycle_id == cycle_id))
    else:
        ids = [int(n) for n in scope]
        prior = prior[prior["need_id"].isin(ids)]
        for part in _chunks(ids):
            session.execute(
                delete(UnservedNeed).where(UnservedNeed.cycle_id == cycle_id, UnservedNeed.need_id.in_(part))
            )
    esc = escalation.set_index("need_id") if len(escalation) else pd.DataFrame()
    keep_prior = prior.set_index("need_id")[["escalated_to", "escalated_from", "escalated_why"]]
    keep_prior = keep_prior.astype(object).where(keep_prior.notna(), None).to_dict("index")
    rows = []
    for r in unserved.to_dict("records"):
        n = int(r["need_id"])
        if n in keep_prior:
            step = keep_prior[n]
        elif n in esc.index and bool(esc.at[n, "escalated"]):
            step = {
                "escalated_to": int(esc.at[n, "escalation_level"]),
                "escalated_from": int(esc.at[n, "from_level"]),
                "escalated_why": str(esc.at[n, "why"]),
            }
        else:
            step = {"escalated_to": None, "escalated_from": None, "escalated_why": None}
        rows.append(
            {
                "cycle_id": cycle_id,
                "need_id": n,
                "reason": r["reason"],
                "detail": r["detail"],
                "penalty": float(r["penalty"]),
                "escalated_to": None if step["escalated_to"] is None else int(step["escalated_to"]),
                "escalated_from": None if step["escalated_from"] is None else int(step["escalated_from"]),
                "escalated_why": step["escalated_why"],
            }
        )
    if rows:
        session.execute(insert(UnservedNeed), rows)
    if len(esc):
        # bulk UPDATE by primary key (executemany), not one statement per need
        session.execute(
            update(Need),
            [
                {
                    "id": int(n),
                    "escalation_level": int(r["escalation_level"]),
                    "cycles_unserved": int(r["cycles_unserved"]),
                }
                for n, r in esc.iterrows()
            ],
        )
    up = esc[esc["escalated"].astype(bool)] if len(esc) else esc
    if len(up):
        session.execute(
            insert(NeedEvent),
            [
                {
                    "need_id": int(n),
                    "at": now,
                    "actor": actor,
                    "from_status": "open",
                    "to_status": "open",
                    "cycle_id": cycle_id,
                    "reason": str(r["detail"]),
                }
                for n, r in up.iterrows()
            ],
        )
    # escalated: all this cycle escalated (a re-run keeps the first run's); escalated_now: by this run
    return {
        "unserved": len(rows),
        "escalated": sum(1 for r in rows if r["escalated_to"] is not None),
        "escalated_now": len(up),
    }
