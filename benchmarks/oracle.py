"""OR-Tools' min-cost flow on the same problem: the oracle the solver is checked and timed against.

Test and benchmark use only (the ``oracle`` dependency group); the product never imports it.
The network: each need sends one unit either through an eligible offer (arc cost = the edge's
cost, capacity 1) and on to the sink (capacity = the offer's capacity), or straight to the
sink at its penalty. Costs are made whole numbers exactly (OR-Tools takes integers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow

from matching.auction import integer_scale
from matching.solver import Block, Prepared, prepare_blocks


@dataclass(frozen=True)
class OracleResult:
    objective: float
    seconds: float  # OR-Tools' solve calls only, summed over components
    components: int


def solve_component(block: Block, unit: int) -> tuple[int, np.ndarray]:
    """One component: (objective in units of ``1/unit``, chosen local offer per need or -1)."""
    n, m = len(block.needs), len(block.offers)
    sink = n + m
    e = len(block.cost)
    flow = min_cost_flow.SimpleMinCostFlow()
    tails = np.concatenate((block.need_local, n + np.arange(m), np.arange(n))).astype(np.int32)
    heads = np.concatenate((n + block.offer_local, np.full(m, sink), np.full(n, sink))).astype(np.int32)
    caps = np.concatenate((np.ones(e), block.capacity, np.ones(n))).astype(np.int64)
    costs = np.concatenate((np.rint(block.cost * unit), np.zeros(m), np.rint(block.penalty * unit))).astype(
        np.int64
    )
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(n + m + 1, dtype=np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    flow.set_nodes_supplies(np.arange(n + m + 1), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"OR-Tools min-cost flow ended with status {status}")
    used = flow.flows(np.arange(e)) > 0
    chosen = np.full(n, -1, dtype=np.int64)
    chosen[block.need_local[used]] = block.offer_local[used]
    return int(flow.optimal_cost()), chosen


def solve_oracle(
    edges: pd.DataFrame, capacity: pd.Series, penalty: pd.Series, prepared: Prepared | None = None
) -> OracleResult:
    """The optimum by OR-Tools, component by component, timing only OR-Tools' own work.

    ``prepared``: the same problem already split into components (saves splitting it again).
    """
    prepared = prepared or prepare_blocks(edges, capacity, penalty)
    unit = integer_scale(np.concatenate((prepared.e_cost, prepared.penalty)))
    if unit is None:
        raise ValueError("OR-Tools needs costs that are whole numbers at up to six decimals")
    alone = np.ones(len(prepared.penalty), dtype=bool)  # needs in no component: unserved
    total = 0
    seconds = 0.0
    for block in prepared.blocks:
        t = time.perf_counter()
        cost, _ = solve_component(block, unit)
        seconds += time.perf_counter() - t
        total += cost
        alone[block.needs] = False
    total += int(np.rint(prepared.penalty[alone] * unit).sum())
    return OracleResult(objective=total / unit, seconds=seconds, components=len(prepared.blocks))
