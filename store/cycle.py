"""Store functions for a match cycle: the period's lock, the pool, and writing what
``lifecycle.cycle`` decided. Statuses are the caller's (``lifecycle.states``): nothing here decides one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from settings import get_settings
from store.db import Rows, in_chunks, insert_rows, look_up, read_frame, rows_frame, stacked, update_rows
from store.models import (
    Assignment,
    Community,
    Cycle,
    Grid,
    Need,
    NeedEvent,
    Offer,
    ReviewRemoval,
    Unit,
    UnservedNeed,
)
from store.snapshots import read_marked


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
    *,
    running: str,
) -> Cycle:
    """Take the cycle's lock (compare-and-set on its row); raise CycleLocked if a live run holds it.

    A lock whose holder is gone is taken over, and the takeover recorded (``takeover_note``): gone
    means ``owner_gone(holder)`` gives a reason (the caller asks Prefect whether that flow run
    crashed, failed or was cancelled), or the holder stopped renewing its lease for
    ``lease_seconds``. A live run's lock, renewed within its lease, is never taken.
    ``running`` is the status a held lock has. The caller commits right away so other runs see the lock.
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
            status=running,
            started_at=now,
            lock_owner=owner,
            lock_renewed_at=now,
        )
        session.add(cycle)
        session.flush()
        return cycle
    free = (Cycle.status != running) | (Cycle.lock_owner == owner) | Cycle.lock_owner.is_(None)
    values: dict[str, Any] = {
        "status": running,
        "lock_owner": owner,
        "started_at": now,
        "lock_renewed_at": now,
    }
    held_by, since = cycle.lock_owner, cycle.started_at
    why = None
    if cycle.status == running and held_by and held_by != owner:
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


def read_pool(
    session: Session, cycle_id: str, open_status: str, pending_status: str, urgent_from: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Needs to match in this cycle: those in ``open_status``, plus those this cycle's assignments
    still hold in ``pending_status`` (no unit answered yet), and this cycle's unserved rows so far.

    With ``urgent_from``: only open needs of at least that urgency (the day's urgent run).
    """
    pending = select(Assignment.need_id).where(
        Assignment.cycle_id == cycle_id, Assignment.status == pending_status
    )
    q = (
        select(
            Need.id.label("need_id"),
            Need.grid_id,
            Need.item_code,
            Need.urgency,
            Need.submitted_at,
            Need.escalation_level,
            Need.cycles_unserved,
            Need.preferred_start,
            Need.preferred_end,
            Need.household_id,
        )
        .where(
            (Need.status == open_status) & (Need.urgency >= urgent_from)
            if urgent_from is not None
            else (Need.status == open_status) | Need.id.in_(pending)
        )
        .order_by(Need.id)
    )
    # the needs' grids and communities (a few thousand) looked up apart: as inner joins in SQL,
    # a B-tree search per need and table (look_up)
    grids = read_frame(
        session,
        select(Grid.id.label("grid_id"), Grid.community_id, Grid.x_km, Grid.y_km),
        text_as_object=True,
    )
    communities = read_frame(
        session, select(Community.id.label("community_id"), Community.subdistrict_id), text_as_object=True
    )
    needs = look_up(
        look_up(read_frame(session, q, text_as_object=True), "grid_id", grids), "community_id", communities
    )
    order = ["need_id", "grid_id", "community_id", "subdistrict_id", "item_code", "urgency", "submitted_at"]
    order += ["escalation_level", "cycles_unserved", "x_km", "y_km", "preferred_start", "preferred_end"]
    return needs[[*order, "household_id"]], read_unserved(session, cycle_id)


def read_unserved(session: Session, cycle_id: str) -> pd.DataFrame:
    """This cycle's unserved rows so far, with the escalation each recorded."""
    return rows_frame(
        session,
        select(
            UnservedNeed.need_id,
            UnservedNeed.escalated_to,
            UnservedNeed.escalated_from,
            UnservedNeed.escalated_why,
        ).where(UnservedNeed.cycle_id == cycle_id),
    )


def area_parents(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """community -> subdistrict, grid -> community."""
    return (
        dict(session.execute(select(Community.id, Community.subdistrict_id)).all()),
        dict(session.execute(select(Grid.id, Grid.community_id)).all()),
    )


ACTIVE_OFFERS = (
    select(
        Offer.id.label("offer_id"),
        Offer.unit_id,
        Offer.item_code,
        Offer.capacity_per_cycle.label("capacity"),
        Offer.area_level,
        Offer.area_id,
        Offer.window_start,
        Offer.window_end,
    )
    .where(Offer.active.is_(True))
    .order_by(Offer.id)
)


def active_offers(session: Session) -> pd.DataFrame:
    """The active offers in id order (``ACTIVE_OFFERS``), from their snapshot while no offer
    changed since it was taken (``store.snapshots``); a load that changed them calls this after
    its commit, so that the next cycle finds the snapshot ready."""
    return read_marked(session, ACTIVE_OFFERS, get_settings().snapshots_dir, text_as_object=True)


def read_offers(session: Session, cycle_id: str, held: tuple[str, ...]) -> pd.DataFrame:
    """Active offers with their unit's place and rating, capacity net of this cycle's work in ``held``
    statuses (the weekly run re-decides its own dispatches; the day's urgent run keeps them)."""
    # hundreds of thousands of offers (from their snapshot while no offer changed), and their
    # (few) units apart: a join in SQL looks a unit up by its text key once per offer (on
    # SQLite, 2.6x the read)
    offers = active_offers(session)
    units = read_frame(
        session,
        select(Unit.id.label("unit_id"), Unit.x_km, Unit.y_km, Unit.rating).where(Unit.active.is_(True)),
        text_as_object=True,
    )
    # inner: an inactive unit's offers are not offered (the offers keep their id order); the
    # unit's columns looked up by position (a merge on 442k text keys: 0.3 s)
    offers = look_up(offers, "unit_id", units)
    # a re-run's week of work held (97k rows): the driver's tuples, not a Row each (0.7-0.9 s)
    used = read_frame(
        session,
        select(Assignment.offer_id).where(Assignment.cycle_id == cycle_id, Assignment.status.in_(held)),
        text_as_object=True,
    )
    if len(used) and len(offers):
        taken = offers["offer_id"].map(used["offer_id"].value_counts()).fillna(0).astype(int)
        offers["capacity"] = (offers["capacity"] - taken).clip(lower=0)
    return offers


def count_waiting(session: Session, open_status: str, urgent_from: int) -> int:
    """Needs in ``open_status`` of at least this urgency: what a day's urgent run would try to dispatch."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Need)
            .where(Need.status == open_status, Need.urgency >= urgent_from)
        )
        or 0
    )


def read_declined(session: Session, statuses: tuple[str, ...], cycle_id: str | None = None) -> pd.DataFrame:
    """(need, unit) pairs whose assignment ended in one of ``statuses`` (declined, lapsed), and
    with ``cycle_id`` the pairs removed at that cycle's review."""
    # every declined or lapsed pair on record (a year of weeks: 100k rows and more), the statuses
    # written into the SQL: SQLite uses a partial index (ix_assignments_not_again) only for a
    # query that names its statuses as values (a year's 4.9M assignments: 0.83-0.92 s -> 0.10 s)
    named = bindparam("statuses", list(statuses), expanding=True, literal_execute=True)
    pairs = [
        rows_frame(
            session, select(Assignment.need_id, Assignment.unit_id).where(Assignment.status.in_(named))
        )
    ]
    if cycle_id is not None:
        pairs.append(
            rows_frame(
                session,
                select(ReviewRemoval.need_id, ReviewRemoval.unit_id).where(
                    ReviewRemoval.cycle_id == cycle_id
                ),
            )
        )
    return stacked(pairs, ["need_id", "unit_id"]).drop_duplicates()


def add_review_removals(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record pairings removed at review (cycle_id, need_id, unit_id, reason, operator, at)."""
    if rows:
        session.execute(insert(ReviewRemoval), rows)


def read_cycle_assignments(
    session: Session, cycle_id: str, status: str, scope: pd.Series | None = None
) -> pd.DataFrame:
    """This cycle's assignments in ``status`` (id, need_id, offer_id), only ``scope``'s needs if given."""
    # a re-run reads back the week's 97k dispatches: the driver's tuples, not a Row each (0.5 s)
    current = read_frame(
        session,
        select(Assignment.id, Assignment.need_id, Assignment.offer_id).where(
            Assignment.cycle_id == cycle_id, Assignment.status == status
        ),
        text_as_object=True,
    )
    return current[current["need_id"].isin(scope)] if scope is not None else current


def write_dispatch(
    session: Session,
    drop_assignment_ids: list[int],
    add_assignments: pd.DataFrame | list[dict[str, Any]],
    need_status: list[dict[str, Any]],
    history: Rows,
) -> None:
    """Delete, insert and update exactly what ``lifecycle.cycle.plan_dispatch`` returned."""
    for part in in_chunks(drop_assignment_ids):
        session.execute(delete(Assignment).where(Assignment.id.in_(part)))
    if len(add_assignments):
        insert_rows(session, Assignment.__table__, add_assignments)
    update_needs(session, need_status)
    append_history(session, history)


def write_unserved(
    session: Session,
    cycle_id: str,
    rows: list[dict[str, Any]],
    need_levels: list[dict[str, Any]],
    history: Rows,
    scope: pd.Series | None = None,
) -> None:
    """Replace this cycle's unserved rows (``scope``'s needs only, if given) and write the levels."""
    if scope is None:
        session.execute(delete(UnservedNeed).where(UnservedNeed.cycle_id == cycle_id))
    else:
        for part in in_chunks([int(n) for n in scope]):
            session.execute(
                delete(UnservedNeed).where(UnservedNeed.cycle_id == cycle_id, UnservedNeed.need_id.in_(part))
            )
    if rows:
        insert_rows(session, UnservedNeed.__table__, rows)
    update_needs(session, need_levels)
    append_history(session, history)


def update_needs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk UPDATE of needs by primary key (``store.db.update_rows``), each row ``{"id": ..., column: value}``."""
    if rows:
        update_rows(session, Need.__table__, rows)


def append_history(session: Session, rows: Rows) -> None:
    """Append rows (or columns) to the needs' history (``need_events``)."""
    insert_rows(session, NeedEvent.__table__, rows)


def grid_communities(session: Session) -> dict[str, str]:
    """grid id -> community id (for the related resources of need events)."""
    return dict(session.execute(select(Grid.id, Grid.community_id)).all())
