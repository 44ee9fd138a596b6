"""Other ways to solve the same problem, kept to measure and cross-check the exact solver.

- ``solve_greedy``: what a dispatcher does by hand (most urgent first, cheapest offer with
  capacity left). Fast, not optimal.
- ``solve_lp``: the transportation LP with scipy's HiGHS; totally unimodular, so its optimum
  is integral and equals the matching's objective. A second exact method for tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import csr_array, vstack

from matching.solver import Assignment, check_inputs


def solve_greedy(edges: pd.DataFrame, capacity: pd.Series, penalty: pd.Series) -> Assignment:
    """Highest penalty first, each takes its cheapest eligible offer with capacity left."""
    check_inputs(edges, capacity, penalty)
    pen = penalty.to_numpy(dtype=float)
    e_need = penalty.index.get_indexer(edges["need_id"])
    e_offer = capacity.index.get_indexer(edges["offer_id"])
    e_cost = edges["cost"].to_numpy(dtype=float)
    keep = e_cost <= pen[e_need]
    e_need, e_offer, e_cost = e_need[keep], e_offer[keep], e_cost[keep]
    rank = np.empty(len(pen), dtype=np.int64)
    rank[np.argsort(-pen, kind="stable")] = np.arange(len(pen))
    order = np.lexsort((e_cost, rank[e_need]))
    left = capacity.to_numpy(dtype=np.int64).copy()
    chosen = np.full(len(pen), -1, dtype=np.int64)
    cost_of = np.zeros(len(pen))
    for k in order:  # a plain loop: this is the baseline, not the product
        i = e_need[k]
        o = e_offer[k]
        if chosen[i] < 0 and left[o] > 0:
            chosen[i] = o
            cost_of[i] = e_cost[k]
            left[o] -= 1
    served = chosen >= 0
    pairs = pd.DataFrame(
        {
            "need_id": penalty.index[served],
            "offer_id": capacity.index[chosen[served]],
            "cost": cost_of[served],
        }
    )
    unserved = penalty.index[~served]
    return Assignment(
        pairs, pd.Index(unserved, name="need_id"), float(cost_of[served].sum() + pen[~served].sum())
    )


def solve_lp(edges: pd.DataFrame, capacity: pd.Series, penalty: pd.Series) -> Assignment:
    """Exact optimum of the transportation LP with HiGHS (a second exact method)."""
    check_inputs(edges, capacity, penalty)
    n, m, k = len(penalty), len(capacity), len(edges)
    e_need = penalty.index.get_indexer(edges["need_id"])
    e_offer = capacity.index.get_indexer(edges["offer_id"])
    e_cost = edges["cost"].to_numpy(dtype=float)
    # variables: x_e for each edge, then u_i (need i unserved)
    c = np.concatenate((e_cost, penalty.to_numpy(dtype=float)))
    a_eq = csr_array(
        (
            np.ones(k + n),
            (np.concatenate((e_need, np.arange(n))), np.concatenate((np.arange(k), k + np.arange(n)))),
        ),
        shape=(n, k + n),
    )
    a_ub = csr_array((np.ones(k), (e_offer, np.arange(k))), shape=(m, k + n))
    res = linprog(
        c,
        A_ub=vstack([a_ub]) if m else None,
        b_ub=capacity.to_numpy(dtype=float) if m else None,
        A_eq=a_eq,
        b_eq=np.ones(n),
        bounds=(0, 1),
        method="highs",
    )
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"HiGHS did not solve the LP: {res.message}")
    x = np.round(res.x).astype(int)
    chosen = x[:k] == 1
    pairs = pd.DataFrame(
        {
            "need_id": edges["need_id"].to_numpy()[chosen],
            "offer_id": edges["offer_id"].to_numpy()[chosen],
            "cost": e_cost[chosen],
        }
    )
    unserved = penalty.index[x[k:] == 1]
    return Assignment(
        pairs.sort_values("need_id").reset_index(drop=True),
        pd.Index(unserved, name="need_id"),
        float(res.fun),
    )
