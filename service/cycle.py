"""A match cycle against the store: read the pool as the cycle's first run saw it, and save a plan.

The statuses come from ``lifecycle.states``, the decisions from ``lifecycle.cycle``; ``store.cycle``
only reads and writes. ``save_plan`` returns the needs' changes for the caller to announce as
Prefect events once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from lifecycle.changes import NeedChange, collector_paused, history_columns
from lifecycle.cycle import Context, as_first_seen, need_context, plan_dispatch, plan_unserved
from lifecycle.states import CAPACITY_USED, NOT_AGAIN, AssignmentStatus, CycleStatus, NeedStatus
from lifecycle.vocabulary import LEVEL_NAMES
from settings import pause_point
from store import cycle as store_cycle
from store.models import Cycle


def lock(
    session: Session,
    cycle_id: str,
    period: tuple[date, date],
    owner: str,
    lease_seconds: float = 300.0,
    owner_gone: Callable[[str], str | None] | None = None,
) -> Cycle:
    """Take the cycle's lock (see :func:`store.cycle.acquire_cycle`)."""
    return store_cycle.acquire_cycle(
        session, cycle_id, period, owner, lease_seconds, owner_gone, running=str(CycleStatus.RUNNING)
    )


def unlock(
    session: Session,
    cycle_id: str,
    owner: str,
    matched: bool,
    objective: float | None,
    status: CycleStatus | None = None,
) -> None:
    """Release the lock: the cycle matched, failed, or (``status``) its draft was not approved."""
    status = status or (CycleStatus.MATCHED if matched else CycleStatus.FAILED)
    store_cycle.release_cycle(session, cycle_id, owner, str(status), objective)


def record_removals(
    session: Session, cycle_id: str, pairs: list[tuple[int, str, str]], operator: str
) -> None:
    """Pairings removed at review: that unit is not offered that need again this cycle."""
    now = datetime.now()
    store_cycle.add_review_removals(
        session,
        [
            {"cycle_id": cycle_id, "need_id": n, "unit_id": u, "reason": r, "operator": operator, "at": now}
            for n, u, r in pairs
        ],
    )


def read_pool(session: Session, cycle_id: str, urgent_from: int | None = None) -> pd.DataFrame:
    """Open needs plus those this cycle dispatched and no unit answered yet, as the cycle's first
    run saw them. With ``urgent_from``, only open needs of at least that urgency."""
    needs, prior = store_cycle.read_pool(
        session, cycle_id, str(NeedStatus.OPEN), str(AssignmentStatus.DISPATCHED), urgent_from
    )
    return as_first_seen(needs, prior, weekly=urgent_from is None)


def read_offers(
    session: Session, cycle_id: str, held: tuple[str, ...] = tuple(CAPACITY_USED)
) -> pd.DataFrame:
    """Active offers, capacity net of this cycle's work in ``held`` statuses, with the subdistrict
    each offer's area lies in (for cross-community reach at the subdistrict desk)."""
    offers = store_cycle.read_offers(session, cycle_id, tuple(str(s) for s in held))
    comm_sub, grid_comm = store_cycle.area_parents(session)
    _grid, community, subdistrict = LEVEL_NAMES
    # hundreds of thousands of offers name a few thousand areas: each area is mapped once, per
    # level it may be at, and the offer's level picks (no MultiIndex of tuples: a second at 334k)
    codes, areas = pd.factorize(offers["area_id"])
    areas = pd.Series(areas, dtype=object)

    def per_offer(values: pd.Series) -> np.ndarray:
        return np.r_[values.to_numpy(dtype=object), None][codes]  # code -1 (no area): none

    level = offers["area_level"].to_numpy(dtype=object)
    picked = np.select(
        [level == subdistrict, level == community],
        [per_offer(areas), per_offer(areas.map(comm_sub))],
        per_offer(areas.map(grid_comm).map(comm_sub)),
    )
    offers["area_subdistrict_id"] = pd.Series(picked, index=offers.index, dtype=object)  # as read
    return offers


def read_declined(session: Session, cycle_id: str | None = None) -> pd.DataFrame:
    """(need, unit) pairs not offered again: the unit declined, or let the work lapse; and with
    ``cycle_id``, the pairings an operator removed at that cycle's review."""
    return store_cycle.read_declined(session, tuple(str(s) for s in NOT_AGAIN), cycle_id)


def count_waiting_urgent(session: Session, urgent_from: int) -> int:
    return store_cycle.count_waiting(session, str(NeedStatus.OPEN), urgent_from)


def save_plan(
    session: Session,
    cycle_id: str,
    chosen: pd.DataFrame,
    unserved: pd.DataFrame,
    escalation: pd.DataFrame,
    actor: str,
    scope: pd.Series | None = None,
    needs: pd.DataFrame | None = None,
) -> tuple[dict[str, int], list[NeedChange]]:
    """Make the cycle's dispatched assignments equal ``chosen`` (only the differences) and record
    why the rest stayed unserved, escalating those unserved for the first time in this cycle.

    ``scope``: the need ids this run matched (None: all of the cycle's). ``needs``: the pool, for
    the events' context (grid, item, urgency). Returns counts and the changes made.
    """
    now, context = datetime.now(), need_context(needs)
    # the week's rows, changes and bound values (~100k of each, no cycles) made with no collection
    # walking the pool and the rows made so far each few hundred objects (the write stage at 97k
    # needs: 3.11-3.86 s -> 2.74-3.08 s)
    with collector_paused():
        counts, changes = dispatch(session, cycle_id, chosen, actor, scope, context, at=now)
    pause_point("match:mid-write")
    with collector_paused():
        prior = store_cycle.read_unserved(session, cycle_id)
        if scope is not None:
            prior = prior[prior["need_id"].isin(scope)]
        u = plan_unserved(cycle_id, unserved, escalation, prior, at=now, actor=actor, context=context)
        store_cycle.write_unserved(
            session, cycle_id, u.rows, u.need_levels, history_columns(u.changes), scope
        )
    return counts | u.counts, changes + u.changes


def dispatch(
    session: Session,
    cycle_id: str,
    chosen: pd.DataFrame,
    actor: str,
    scope: pd.Series | None = None,
    context: Context | None = None,
    at: datetime | None = None,
) -> tuple[dict[str, int], list[NeedChange]]:
    """Make the cycle's dispatched assignments (``scope``'s needs only, if given) equal ``chosen``;
    ``context``: :func:`lifecycle.cycle.need_context` of the pool, for the events."""
    current = store_cycle.read_cycle_assignments(session, cycle_id, str(AssignmentStatus.DISPATCHED), scope)
    d = plan_dispatch(cycle_id, current, chosen, at=at or datetime.now(), actor=actor, context=context)
    store_cycle.write_dispatch(
        session, d.drop_assignment_ids, d.add_assignments, d.need_status, history_columns(d.changes)
    )
    return d.counts, d.changes
