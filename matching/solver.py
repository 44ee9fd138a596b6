"""The exact capacity-aware assignment: pair needs with offer capacity at minimum total cost.

The problem is a transportation problem with unit demands: every need takes one unit of an
eligible offer's capacity or stays unserved at its penalty. It is solved exactly as a
minimum-weight full bipartite matching (scipy's sparse LAPJVsp) on a slot-expanded graph:

- each offer becomes ``min(capacity, eligible needs)`` identical slots (never more slots
  than it could fill);
- each need gets its own "unserved" column priced at its penalty, so every need can always
  be matched and the graph stays sparse;
- edges costing more than the need's penalty are dropped first: they can never be chosen;
- the problem splits into independent connected components (a need and an offer meet
  only through an edge), solved separately and, when large, on a process pool.

All weights are shifted to be strictly positive because scipy drops explicit zeros.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

# Below this many slot edges a process pool costs more than it saves (measured, see benchmarks/).
PARALLEL_MIN_SLOT_EDGES = 3_000_000


@dataclass(frozen=True)
class Assignment:
    """The solution: chosen pairs, the needs left unserved, and the objective value.

    ``objective`` is the sum of the chosen pairs' costs plus the penalties of unserved needs.
    """

    pairs: pd.DataFrame
    unserved: pd.Index
    objective: float
    stats: dict[str, float] = field(default_factory=dict, compare=False)


def check_inputs(edges: pd.DataFrame, capacity: pd.Series, penalty: pd.Series) -> None:
    """Raise ``ValueError`` naming the first problem found in the solver's inputs."""
    missing = {"need_id", "offer_id", "cost"} - set(edges.columns)
    if missing:
        raise ValueError(f"edges is missing column(s): {sorted(missing)}")
    if not capacity.index.is_unique:
        raise ValueError("capacity has duplicate offer ids")
    if not penalty.index.is_unique:
        raise ValueError("penalty has duplicate need ids")
    cost = pd.to_numeric(edges["cost"], errors="coerce").to_numpy(dtype=float)
    if np.isnan(cost).any():
        bad = edges.loc[np.isnan(cost), ["need_id", "offer_id"]].iloc[0].tolist()
        raise ValueError(f"edges.cost has NaN or non-numeric values (first at need/offer {bad})")
    if np.isinf(cost).any():
        bad = edges.loc[np.isinf(cost), ["need_id", "offer_id"]].iloc[0].tolist()
        raise ValueError(f"edges.cost has infinite values (first at need/offer {bad})")
    cap = pd.to_numeric(capacity, errors="coerce")
    if cap.isna().any():
        raise ValueError("capacity has NaN or non-numeric values")
    if (cap < 0).any():
        raise ValueError(f"capacity is negative for offer(s) {cap[cap < 0].index[:5].tolist()}")
    if (cap != np.floor(cap)).any():
        raise ValueError("capacity must be whole numbers")
    pen = pd.to_numeric(penalty, errors="coerce")
    if pen.isna().any() or np.isinf(pen.to_numpy(dtype=float)).any():
        raise ValueError("penalty has NaN, infinite or non-numeric values")
    if (pen < 0).any():
        raise ValueError(f"penalty is negative for need(s) {pen[pen < 0].index[:5].tolist()}")
    unknown_needs = ~edges["need_id"].isin(penalty.index)
    if unknown_needs.any():
        raise ValueError(
            "edges name need ids with no penalty: "
            f"{edges.loc[unknown_needs, 'need_id'].unique()[:5].tolist()}"
        )
    unknown_offers = ~edges["offer_id"].isin(capacity.index)
    if unknown_offers.any():
        raise ValueError(
            "edges name offer ids with no capacity: "
            f"{edges.loc[unknown_offers, 'offer_id'].unique()[:5].tolist()}"
        )
    dup = edges.duplicated(["need_id", "offer_id"])
    if dup.any():
        raise ValueError(
            "edges has duplicate (need_id, offer_id) pairs, first "
            f"{edges.loc[dup, ['need_id', 'offer_id']].iloc[0].tolist()}"
        )


def solve_assignment(
    edges: pd.DataFrame,
    capacity: pd.Series,
    penalty: pd.Series,
    workers: int | None = None,
) -> Assignment:
    """Minimise the cost of pairings plus the penalties of needs left unserved, within capacities.

    Parameters
    ----------
    edges : DataFrame with columns ``need_id``, ``offer_id``, ``cost`` (finite float), one row
        per eligible pair.
    capacity : Series indexed by ``offer_id``, whole numbers >= 0.
    penalty : Series indexed by ``need_id``, >= 0: the cost of leaving that need unserved.
        Every need in ``edges`` has one; a need may have no edges at all.
    workers : processes for large problems (default: all cores, only when it pays off).

    Returns
    -------
    Assignment with ``pairs`` (need_id, offer_id, cost) sorted by need, ``unserved`` (the
    need ids left unserved, sorted) and ``objective``.

    Examples
    --------
    >>> edges = pd.DataFrame({"need_id": [1, 2], "offer_id": ["a", "a"], "cost": [1.0, 2.0]})
    >>> a = solve_assignment(edges, pd.Series({"a": 1}), pd.Series({1: 5.0, 2: 9.0}))
    >>> a.pairs[["need_id", "offer_id"]].values.tolist(), list(a.unserved), a.objective
    ([[2, 'a']], [1], 7.0)
    """
    check_inputs(edges, capacity, penalty)
    need_ids = penalty.index
    offer_ids = capacity.index
    pen = penalty.to_numpy(dtype=float)
    cap = capacity.to_numpy(dtype=np.int64)
    e_need = need_ids.get_indexer(edges["need_id"])
    e_offer = offer_ids.get_indexer(edges["offer_id"])
    e_cost = edges["cost"].to_numpy(dtype=float)

    # edges that can never be chosen: costlier than leaving the need unserved, or no capacity
    keep = (e_cost <= pen[e_need]) & (cap[e_offer] > 0)
    e_need, e_offer, e_cost = e_need[keep], e_offer[keep], e_cost[keep]
    order = np.lexsort((e_offer, e_need))
    e_need, e_offer, e_cost = e_need[order], e_offer[order], e_cost[order]

    n_needs, n_offers = len(need_ids), len(offer_ids)
    chosen_offer = np.full(n_needs, -1, dtype=np.int64)
    stats: dict[str, float] = {
        "needs": n_needs,
        "offers": n_offers,
        "edges": len(edges),
        "edges_kept": len(e_need),
    }
    if len(e_need):
        blocks = _components(e_need, e_offer, e_cost, n_needs, n_offers)
        stats["blocks"] = len(blocks)
        slot_edges = sum(_slot_edge_count(b, cap) for b in blocks)
        stats["slot_edges"] = slot_edges
        workers = workers if workers is not None else (os.cpu_count() or 1)
        if workers > 1 and slot_edges >= PARALLEL_MIN_SLOT_EDGES and len(blocks) > 1:
            # largest first, so both cores stay busy to the end
            blocks.sort(key=lambda b: -len(b[0]))
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_solve_block, [(b, cap, pen) for b in blocks], chunksize=1))
        else:
            results = [_solve_block((b, cap, pen)) for b in blocks]
        for needs_local, offers_chosen in results:
            chosen_offer[needs_local] = offers_chosen

    served = chosen_offer >= 0
    pair_need = np.flatnonzero(served)
    pair_offer = chosen_offer[served]
    # cost of each chosen pair: look the (need, offer) edge up in the sorted edge list
    key_edges = e_need.astype(np.int64) * n_offers + e_offer
    pos = np.searchsorted(key_edges, pair_need.astype(np.int64) * n_offers + pair_offer)
    pair_cost = e_cost[pos]
    pairs = pd.DataFrame(
        {"need_id": need_ids[pair_need], "offer_id": offer_ids[pair_offer], "cost": pair_cost}
    )
    unserved_idx = np.flatnonzero(~served)
    objective = float(pair_cost.sum() + pen[unserved_idx].sum())
    unserved = pd.Index(need_ids[unserved_idx], name="need_id")
    pairs = pairs.sort_values(["need_id"], kind="stable").reset_index(drop=True)
    return Assignment(pairs=pairs, unserved=unserved.sort_values(), objective=objective, stats=stats)


def _components(
    e_need: np.ndarray, e_offer: np.ndarray, e_cost: np.ndarray, n_needs: int, n_offers: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Split the edge list into connected components: (need, offer, cost) arrays per block."""
    n = n_needs + n_offers
    graph = coo_array((np.ones(len(e_need), dtype=np.int8), (e_need, n_needs + e_offer)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    edge_label = labels[e_need]
    order = np.argsort(edge_label, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_label[order])) + 1
    return [(e_need[idx], e_offer[idx], e_cost[idx]) for idx in np.split(order, bounds)]


def _slot_edge_count(block: tuple, cap: np.ndarray) -> int:
    _b_need, b_offer, _ = block
    offers, counts = np.unique(b_offer, return_counts=True)
    slots = np.minimum(cap[offers], counts)
    return int((counts * slots).sum())


def _solve_block(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Solve one component exactly; return (need positions, chosen offer position or -1)."""
    (b_need, b_offer, b_cost), cap, pen = args
    needs, need_local = np.unique(b_need, return_inverse=True)
    offers, offer_local, eligible = np.unique(b_offer, return_inverse=True, return_counts=True)
    slots = np.minimum(cap[offers], eligible)  # an offer never needs more slots than eligible needs
    slot_start = np.concatenate(([0], np.cumsum(slots)[:-1]))
    n_slots = int(slots.sum())
    n = len(needs)

    # expand every edge to each slot of its offer
    reps = slots[offer_local]
    rows = np.repeat(need_local, reps)
    within = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    cols = np.repeat(slot_start[offer_local], reps) + within
    w = np.repeat(b_cost, reps)
    # plus one "unserved" column per need at its penalty
    rows = np.concatenate((rows, np.arange(n)))
    cols = np.concatenate((cols, n_slots + np.arange(n)))
    w = np.concatenate((w, pen[needs]))
    shift = 1.0 - min(float(w.min()), 0.0)  # strictly positive: scipy drops explicit zeros
    graph = csr_array((w + shift, (rows, cols)), shape=(n, n_slots + n))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    chosen = np.full(n, -1, dtype=np.int64)
    served = col_ind < n_slots
    slot_offer = np.repeat(np.arange(len(offers)), slots)
    chosen[row_ind[served]] = offers[slot_offer[col_ind[served]]]
    return needs, chosen
