"""Random solver instances shaped like a district's: for tests, cross-checks and benchmarks.

Needs and offers have a service item (30 items) and a position; a need is eligible for
10-60 nearby offers of its item; capacities are 1-20; the cost grows with distance and
shrinks with the unit's rating; the penalty grows with urgency and waiting time.
``hotline``: one more offer, eligible for every need (a city-wide hotline or hospital), with
that capacity: it joins every item's needs into one component.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_instance(
    n_needs: int,
    n_offers: int,
    seed: int = 0,
    items: int = 30,
    degree: tuple[int, int] = (10, 60),
    capacity: tuple[int, int] = (1, 20),
    hotline: int = 0,
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return ``(edges, capacity, penalty)`` for :func:`matching.solve_assignment`."""
    rng = np.random.default_rng(seed)
    offer_item = rng.integers(0, items, n_offers)
    offer_x = rng.random(n_offers) * 100.0
    offer_y = rng.random(n_offers) * 10.0
    rating = rng.uniform(3.0, 5.0, n_offers)
    need_item = rng.integers(0, items, n_needs)
    need_x = rng.random(n_needs) * 100.0
    need_y = rng.random(n_needs) * 10.0
    urgency = rng.choice([1, 2, 3], n_needs, p=[0.65, 0.27, 0.08])
    wait_weeks = rng.integers(0, 8, n_needs)

    # offers of each item sorted along x: a need's eligible offers are a window around it
    order = np.lexsort((offer_x, offer_item))
    item_start = np.searchsorted(offer_item[order], np.arange(items))
    item_end = np.searchsorted(offer_item[order], np.arange(items), side="right")
    per_item = item_end - item_start
    deg = rng.integers(degree[0], degree[1] + 1, n_needs)
    deg = np.minimum(deg, per_item[need_item])
    sorted_x = offer_x[order]
    centre = np.empty(n_needs, dtype=np.int64)
    for it in range(items):
        m = need_item == it
        lo, hi = item_start[it], item_end[it]
        centre[m] = lo + np.searchsorted(sorted_x[lo:hi], need_x[m])
    first = np.clip(
        centre - deg // 2, item_start[need_item], np.maximum(item_end[need_item] - deg, item_start[need_item])
    )
    rep_need = np.repeat(np.arange(n_needs), deg)
    within = np.arange(int(deg.sum())) - np.repeat(np.cumsum(deg) - deg, deg)
    rep_offer = order[np.repeat(first, deg) + within]
    dist = np.hypot(need_x[rep_need] - offer_x[rep_offer], need_y[rep_need] - offer_y[rep_offer])
    cost = np.round(2.0 * dist + 2.0 * (5.0 - rating[rep_offer]), 3)
    caps = rng.integers(capacity[0], capacity[1] + 1, n_offers)
    if hotline:  # offer n_offers: no distance, a flat fee, and a wait that varies by need
        rep_need = np.r_[rep_need, np.arange(n_needs)]
        rep_offer = np.r_[rep_offer, np.full(n_needs, n_offers)]
        cost = np.r_[cost, np.round(4.0 + rng.uniform(0.0, 8.0, n_needs), 1)]
        caps = np.r_[caps, hotline]
    edges = pd.DataFrame({"need_id": rep_need, "offer_id": rep_offer, "cost": cost})
    cap = pd.Series(caps, index=pd.RangeIndex(len(caps)), name="capacity")
    base = np.array([0.0, 8.0, 20.0, 45.0])[urgency]
    penalty = pd.Series(
        np.round(base * (1.0 + 0.25 * wait_weeks), 3), index=pd.RangeIndex(n_needs), name="penalty"
    )
    penalty.attrs["urgency"] = urgency  # 1 normal, 2 urgent, 3 critical (to report who is left out)
    return edges, cap, penalty
