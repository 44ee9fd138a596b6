"""The exact capacity-aware assignment: pair needs with offer capacity at minimum total cost.

The problem is a transportation problem with unit demands: every need takes one unit of an
eligible offer's capacity or stays unserved at its penalty. It is solved exactly as a
minimum-weight full bipartite matching (scipy's sparse LAPJVsp) on a slot-expanded graph:

- each offer becomes ``min(capacity, eligible needs)`` identical slots (never more slots
  than it could fill);
- every need can always be matched to an "unserved" option priced at its penalty; needs that
  share a penalty share one such "unserved" offer, of which the matching first sees only a
  few slots (``UNSERVED_SLOTS``), exact unless they fill up, when it sees more (see
  ``_solve_block_matching``): scipy's LAPJVsp scans every column at each step of a search, so
  a column per need made its time grow with the component's needs once more;
- edges costing more than the need's penalty are dropped first: they can never be chosen;
- the problem splits into independent connected components (a need and an offer meet
  only through an edge), solved separately and, when large, on a process pool.

All weights are shifted to be strictly positive because scipy drops explicit zeros.

LAPJVsp's time grows with the square of a component's needs (each augmenting search walks
the component), so one large component (a city-wide offer of a popular item) falls off a
cliff. Such a component is solved instead by :mod:`matching.auction`, an ε-scaling auction in
numpy whose time grows with the component's edges; its result is used only with a
certificate of optimality (LAPJVsp solves the component otherwise). The auction also takes
smaller components whose offers have many places each: LAPJVsp sees one column per place, so a
few canteens of a thousand places turn each of their edges into a thousand entries (GiBs of
memory at 9k needs), while the auction prices an offer's places together. ``choose_method``
picks per component from their measured costs (``benchmarks/bench_matching.py``).

A component held together by one offer every need may use (a city-wide hotline) is different
again: slot-expanded, each of its places is an edge to every need. ``find_hub`` spots it and
``_solve_with_hub`` prices its capacity instead (Lagrangian relaxation, made exact by LP duality),
so the rest falls apart into small parts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

from matching import auction
from matching.auction import ranges
from settings import hand_back_memory

# Below this many slot edges a process pool costs more than it saves (measured, see benchmarks/).
PARALLEL_MIN_SLOT_EDGES = 3_000_000
# From this many needs a component goes to the auction, whatever its shape: since the auction
# levels each offer's slot prices between its phases, it beats LAPJVsp from about 10k needs
# (one component, one process, 2026-12-03, auction vs LAPJVsp in seconds): the 1M case's shape
# (34k needs, capacities 1-20) 3.9-4.2 vs 8.4-8.8; capacities 1-7 at 34k 17.1 vs 32.8, 1-3 at
# 34k 6.0 vs 32.3; ample capacity (20k needs, 0.5 per slot) 1.2-1.4 vs 2.2-2.3; 10k needs with
# 200-400 edges each 18.8 vs 22.8. The auction's time over LAPJVsp's: 0.37-1.15 at 10k needs,
# 1.1-2.4 at 5k, 2.9-4.7 at 1k (so LAPJVsp below 10k).
AUCTION_MIN_NEEDS = 10_000
# ... and below that, a component whose offers have many places each (canteens of hundreds, a
# day centre): LAPJVsp sees one column per place, so each edge to such an offer becomes as many
# entries of its graph, while the auction prices an offer's places together. Measured on one
# component (2026-12-03, auction vs LAPJVsp in seconds): 9,000 needs x 20 offers of 1,000 places,
# every need eligible for every offer, 180M slot edges: 0.19 vs 5.9 s and 6.3 GiB peak; 5,000
# needs x 5 offers of 5,000 places: 0.05 vs 3.1 s and 4.4 GiB; 9,000 needs x 50 offers of 50
# places (more needs than places): 7.7 vs 41.5 s. The crossover, random_instance with one item:
# capacities 50-200 at 3k-9k needs (slot edges 2.5-14M, 108-133 per edge) 0.22-0.58 of LAPJVsp's
# time, 500-1,000 at 1.2k-7k 0.11-0.65, 20-60 at 6k-9k (4-7M, 40 per edge) 0.75-0.79, but at 3k
# (1.6M) 1.78; below 1M slot edges both take under 0.1 s. Ordinary capacities (1-7: ~4 slot edges
# per edge) stay with LAPJVsp.
AUCTION_MIN_SLOT_EDGES = 2_500_000
AUCTION_SLOTS_PER_EDGE = 20
METHODS = ("auto", "matching", "auction")
# A hub: one offer of a component (a hotline, a hospital serving the whole city) eligible for at
# least this many of its needs, without which the component falls apart into parts small enough
# that solving them this many times (the hub's price is searched; 8-14 rounds measured) costs
# less than LAPJVsp's needs x columns on the whole component (see _solve_with_hub).
HUB_MIN_NEEDS = 2_000
HUB_ROUNDS = 12
HUB_FINAL_NEEDS = 2_000
# Components of fewer needs than this are solved packed together, about PACK_NEEDS needs a block,
# when there are at least PACK_MIN_COMPONENTS of them (see _pack_small).
PACK_BELOW = 64
PACK_NEEDS = 256
PACK_MIN_COMPONENTS = 200
# Slots the matching first gives each group of needs sharing a penalty as their "unserved" offer
# (more when a group fills them; see _solve_block_matching).
UNSERVED_SLOTS = 16
UNSERVED_SLOTS_SHARED_MAX = 64  # more than this: a column per need again


@dataclass(frozen=True)
class Assignment:
    """The solution: chosen pairs, the needs left unserved, and the objective value.

    ``objective`` is the sum of the chosen pairs' costs plus the penalties of unserved needs.
    """

    pairs: pd.DataFrame
    unserved: pd.Index
    objective: float
    stats: dict[str, float] = field(default_factory=dict, compare=False)
    # per row of ``pairs``: the row of the solver's input ``edges`` it chose (the exact solver
    # sets it; the baselines, kept for comparison, do not)
    edge_rows: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Coded:
    """Checked inputs as arrays: per edge the need's and offer's positions, sorted by (need, offer)."""

    e_need: np.ndarray
    e_offer: np.ndarray
    e_cost: np.ndarray
    capacity: np.ndarray
    penalty: np.ndarray
    row: np.ndarray | None  # per coded edge: its row in the input edges (None: the same row)


def _sorted_pairs(a: np.ndarray, b: np.ndarray, step: int = 1 << 20) -> bool:
    """Whether the pairs (a[k], b[k]) strictly increase, looked at a chunk at a time (a city's
    20M pairs as one 64-bit key: 160 MB of fresh memory, ~0.15 s of page faults alone)."""
    for s in range(0, max(len(a) - 1, 0), step):
        e = min(s + step + 1, len(a))
        a0, a1, b0, b1 = a[s : e - 1], a[s + 1 : e], b[s : e - 1], b[s + 1 : e]
        if not ((a1 > a0) | ((a1 == a0) & (b1 > b0))).all():
            return False
    return True


def check_inputs(edges: pd.DataFrame, capacity: pd.Series, penalty: pd.Series) -> None:
    """Raise ``ValueError`` naming the first problem found in the solver's inputs."""
    code_inputs(edges, capacity, penalty)


def code_inputs(
    edges: pd.DataFrame,
    capacity: pd.Series,
    penalty: pd.Series,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
) -> Coded:
    """Check the inputs (``ValueError`` naming the first problem) and turn ids into positions.

    One pass of array work: ids are looked up once (an unknown id is position -1) and the edges
    are sorted once by (need, offer), which also finds duplicate pairs. ``positions`` (per edge,
    the need's position in ``penalty`` and the offer's in ``capacity``), when the caller built
    the edges from those positions, saves the lookup; they are still checked for range.
    """
    missing = {"need_id", "offer_id", "cost"} - set(edges.columns)
    if missing:
        raise ValueError(f"edges is missing column(s): {sorted(missing)}")
    if not capacity.index.is_unique:
        raise ValueError("capacity has duplicate offer ids")
    if not penalty.index.is_unique:
        raise ValueError("penalty has duplicate need ids")
    # float costs as they are (a city's 20M costs copied by ``to_numeric``: 152 MiB of fresh memory)
    given = edges["cost"]
    cost = (
        given.to_numpy()
        if given.dtype == np.float64
        else pd.to_numeric(given, errors="coerce").to_numpy(float)
    )
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
    if positions is not None:
        e_need, e_offer = _position(positions[0], len(penalty)), _position(positions[1], len(capacity))
        if len(e_need) != len(edges) or len(e_offer) != len(edges):
            raise ValueError("positions must give one need and one offer position per edge")
    else:
        e_need = penalty.index.get_indexer(edges["need_id"])
        e_offer = capacity.index.get_indexer(edges["offer_id"])
    if (e_need < 0).any():
        unknown = edges["need_id"].to_numpy()[e_need < 0]
        raise ValueError(f"edges name need ids with no penalty: {pd.unique(unknown)[:5].tolist()}")
    if (e_offer < 0).any():
        unknown = edges["offer_id"].to_numpy()[e_offer < 0]
        raise ValueError(f"edges name offer ids with no capacity: {pd.unique(unknown)[:5].tolist()}")
    # positions fit 32 bits (2 billion needs or offers): half the memory of 64-bit at 1M x 200k
    index = np.int32 if max(len(penalty), len(capacity), len(edges)) < 2**31 else np.int64
    row = None  # the edges come sorted: each coded edge is its own row
    if not _sorted_pairs(e_need, e_offer):  # not yet sorted (or duplicated): sort
        key = e_need.astype(np.int64) * max(len(capacity), 1) + e_offer
        order = np.argsort(key, kind="stable")
        key, row = key[order], order
        e_need, e_offer, cost = e_need[order], e_offer[order], cost[order]
        dup = np.flatnonzero(key[1:] == key[:-1])
        if len(dup):
            first = [penalty.index[e_need[dup[0]]], capacity.index[e_offer[dup[0]]]]
            raise ValueError(f"edges has duplicate (need_id, offer_id) pairs, first {first}")
    return Coded(
        e_need.astype(index, copy=False),
        e_offer.astype(index, copy=False),
        cost,
        cap.to_numpy(dtype=np.int64),
        pen.to_numpy(dtype=float),
        None if row is None else row.astype(index, copy=False),
    )


def _position(p: np.ndarray, n: int) -> np.ndarray:
    """Positions as integers, out of ``range(n)`` made -1; in range as given (the usual case),
    they keep their own (often 32-bit) type and are not copied."""
    p = np.asarray(p)
    if p.dtype.kind not in "iu":
        p = p.astype(np.int64)
    if len(p) and (p.min() < 0 or p.max() >= n):
        p = np.where((p >= 0) & (p < n), p, -1)
    return p


def solve_assignment(
    edges: pd.DataFrame,
    capacity: pd.Series,
    penalty: pd.Series,
    workers: int | None = None,
    method: str = "auto",
    positions: tuple[np.ndarray, np.ndarray] | None = None,
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
    method : ``"auto"`` (per component, the faster exact method), ``"matching"`` (scipy's
        LAPJVsp) or ``"auction"`` (the certified auction where it applies, else LAPJVsp).
    positions : optional per-edge (need position in ``penalty``, offer position in ``capacity``)
        when the edges were built from them (:class:`matching.problem.Problem`).

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
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    prepared = prepare_blocks(edges, capacity, penalty, positions)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    blocks = prepared.blocks
    solve = partial(solve_block, method=method)
    if workers > 1 and prepared.stats.get("slot_edges", 0) >= PARALLEL_MIN_SLOT_EDGES and len(blocks) > 1:
        hand_back_memory()  # what this process kept: the workers it forks would copy it
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(solve, sorted(blocks, key=lambda b: -b.slot_edges), chunksize=1))
    else:
        # one block at a time; a hub's parts (see _solve_with_hub) side by side on the cores
        parts = _PartsPool(workers if prepared.stats.get("slot_edges", 0) >= PARALLEL_MIN_SLOT_EDGES else 1)
        try:
            results = [solve_block(b, method, parts.map) for b in blocks]
        finally:
            parts.close()
    return assemble(prepared, results)


class _PartsPool:
    """``map`` over a hub's parts: on a process pool started at the first call with two or more
    parts (and ``workers`` > 1), else in this process."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        args = [list(it) for it in iterables]
        if self.workers < 2 or len(args[0]) < 2:
            return map(fn, *args)
        if self.pool is None:
            hand_back_memory()
            self.pool = ProcessPoolExecutor(max_workers=self.workers)
        return self.pool.map(fn, *args)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


@dataclass(frozen=True)
class Block:
    """One independent component: its needs and offers (positions in the whole problem) and edges."""

    needs: np.ndarray  # global need positions, sorted
    offers: np.ndarray  # global offer positions, sorted
    need_local: np.ndarray  # per edge: index into ``needs``
    offer_local: np.ndarray  # per edge: index into ``offers``
    cost: np.ndarray  # per edge
    capacity: np.ndarray  # per offer of the block
    penalty: np.ndarray  # per need of the block

    @property
    def eligible(self) -> np.ndarray:
        """Per offer: how many of the block's needs may use it."""
        return np.bincount(self.offer_local, minlength=len(self.offers))

    @property
    def slots(self) -> np.ndarray:
        """Per offer: the slots it can fill (an offer never needs more slots than eligible needs)."""
        return np.minimum(self.capacity, self.eligible)

    @property
    def slot_edges(self) -> int:
        return int((self.eligible * self.slots).sum())


@dataclass(frozen=True)
class Prepared:
    """A checked problem split into blocks, ready to solve block by block anywhere."""

    need_ids: pd.Index
    offer_ids: pd.Index
    penalty: np.ndarray
    e_need: np.ndarray  # kept edges, sorted by (need, offer)
    e_offer: np.ndarray
    e_cost: np.ndarray
    blocks: list[Block]
    stats: dict[str, float]
    e_row: np.ndarray | None  # per kept edge: its row in the input edges (None: the same row)


def within(values: np.ndarray, runs: np.ndarray, limit: np.ndarray) -> bool:
    """Whether every value is at most its run's limit: ``values`` come in consecutive runs of
    ``runs[k]`` values (some empty), each with its ``limit[k]``. One pass, no lookup per value."""
    if int(runs.sum()) != len(values):
        raise ValueError("the runs must cover the values exactly")
    has = runs > 0
    if not has.any():
        return True
    starts = (np.cumsum(runs) - runs)[has]
    return bool((np.maximum.reduceat(values, starts) <= limit[has]).all())


def prepare_blocks(
    edges: pd.DataFrame,
    capacity: pd.Series,
    penalty: pd.Series,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
) -> Prepared:
    """Check the inputs, drop edges that can never be chosen, split into independent blocks."""
    coded = code_inputs(edges, capacity, penalty, positions)
    pen, cap = coded.penalty, coded.capacity
    # edges that can never be chosen: costlier than leaving the need unserved, or no capacity
    # (the usual week, every pair affordable and every place open, is told without a lookup per
    # pair and makes no copies: edges come sorted by need, each need's dearest against its penalty)
    # (places first: a week with offers closed filters anyway, without the per-need check's 0.3 s)
    if (cap > 0).all() and within(coded.e_cost, np.bincount(coded.e_need, minlength=len(pen)), pen):
        e_need, e_offer, e_cost, e_row = coded.e_need, coded.e_offer, coded.e_cost, coded.row
    else:
        keep = (coded.e_cost <= pen[coded.e_need]) & (cap[coded.e_offer] > 0)
        e_need, e_offer, e_cost = coded.e_need[keep], coded.e_offer[keep], coded.e_cost[keep]
        e_row = np.flatnonzero(keep) if coded.row is None else coded.row[keep]
        del keep
    del coded  # the unfiltered copies go before the blocks are cut
    no_sizes = np.zeros(0, dtype=np.int64)
    blocks, sizes = _components(e_need, e_offer, e_cost, cap, pen) if len(e_need) else ([], no_sizes)
    stats: dict[str, float] = {
        "needs": len(penalty),
        "offers": len(capacity),
        "edges": len(edges),
        "edges_kept": len(e_need),
        "components": len(sizes),  # with at least one edge
        "largest_component": int(sizes.max(initial=0)),  # its needs
        "blocks": len(blocks),  # the small components packed together
        "slot_edges": sum(b.slot_edges for b in blocks),
    }
    return Prepared(penalty.index, capacity.index, pen, e_need, e_offer, e_cost, blocks, stats, e_row)


def batch_blocks(blocks: list[Block], n: int) -> list[list[Block]]:
    """Up to ``n`` batches of about equal work (largest first onto the lightest batch)."""
    n = max(1, min(n, len(blocks)))
    batches: list[list[Block]] = [[] for _ in range(n)]
    load = np.zeros(n)
    for b in sorted(blocks, key=lambda b: -b.slot_edges):
        k = int(np.argmin(load))
        batches[k].append(b)
        load[k] += b.slot_edges + len(b.needs)
    return [b for b in batches if b]


def solve_blocks(blocks: list[Block], method: str = "auto") -> list[tuple[np.ndarray, np.ndarray]]:
    """Solve a batch of blocks (what a pool process or a Dask task runs)."""
    return [solve_block(b, method) for b in blocks]


def assemble(prepared: Prepared, results: list[tuple[np.ndarray, np.ndarray]]) -> Assignment:
    """Put the blocks' answers together; the same results in any order give the same Assignment."""
    need_ids, offer_ids, pen = prepared.need_ids, prepared.offer_ids, prepared.penalty
    e_need, e_offer, e_cost = prepared.e_need, prepared.e_offer, prepared.e_cost
    n_offers = len(offer_ids)
    chosen_offer = np.full(len(need_ids), -1, dtype=np.int64)
    for needs_global, offers_chosen in results:
        chosen_offer[needs_global] = offers_chosen
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
    by_need = np.argsort(pairs["need_id"].to_numpy(), kind="stable")
    pairs = pairs.iloc[by_need].reset_index(drop=True)
    edge_rows = (pos if prepared.e_row is None else prepared.e_row[pos])[by_need]
    return Assignment(
        pairs=pairs,
        unserved=unserved.sort_values(),
        objective=objective,
        stats=dict(prepared.stats),
        edge_rows=edge_rows,
    )


def _undirected_components(a: np.ndarray, b: np.ndarray, n: int) -> tuple[int, np.ndarray]:
    """scipy's components of the graph on ``n`` nodes with edges ``a[k]``-``b[k]``."""
    graph = coo_array((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)


def component_labels(
    e_need: np.ndarray, e_offer: np.ndarray, n_needs: int, n_offers: int
) -> tuple[int, np.ndarray]:
    """Connected components of the needs-offers graph: (count, label per node), needs first.

    In two steps, each exact: the components of a sparse sample of the edges (a need's first,
    middle and last edge, and one edge of every offer), then the components of the graph whose
    nodes are those and whose edges are the remaining edges between them. Sampled, a city's 20M
    pairs leave a few thousand such edges, so scipy never converts and transposes the whole edge
    list (2.8-5.5 s -> 0.9-1.4 s at 97k needs and 442k offers; 1M x 200k: 11.5-13.3 s -> 4.1-5.9 s).
    Labels are numbered by each component's smallest node, as ``connected_components`` numbers them.
    """
    n = n_needs + n_offers
    if not len(e_need):
        return n, np.arange(n, dtype=np.int32)
    first = np.flatnonzero(np.r_[True, e_need[1:] != e_need[:-1]])  # edges come sorted by need
    last = np.r_[first[1:], len(e_need)] - 1
    pick = np.concatenate((first, (first + last) // 2, last))
    some_need = np.full(n_offers, -1, dtype=e_need.dtype)
    some_need[e_offer] = e_need  # one need of every offer (whichever: each is an edge)
    linked = np.flatnonzero(some_need >= 0)
    n_parts, part = _undirected_components(
        np.concatenate((e_need[pick], some_need[linked])),
        n_needs + np.concatenate((e_offer[pick], linked)).astype(np.int64),
        n,
    )
    need_part, offer_part = part[e_need], part[n_needs:][e_offer]
    across = np.flatnonzero(need_part != offer_part)
    _, merged = _undirected_components(need_part[across], offer_part[across], n_parts)
    del need_part, offer_part
    labels = merged[part]
    _, smallest = np.unique(labels, return_index=True)  # per label: its first node
    rank = np.empty(len(smallest), dtype=labels.dtype)
    rank[np.argsort(smallest, kind="stable")] = np.arange(len(smallest), dtype=labels.dtype)
    return len(smallest), rank[labels]


def _pack_small(
    labels: np.ndarray, n_labels: int, e_need: np.ndarray, n_needs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels with the small components packed together, ``PACK_NEEDS`` needs or so a pack, and
    the needs of each component with needs.

    A component costs a fixed ~0.4 ms to cut and solve however small it is (a city whose units
    serve single grids has tens of thousands of components of a few needs: 50k components of
    one need took 20.6-24.0 s, OR-Tools 2.6-3.4 s; packed 0.24-0.27 s). Components of fewer than
    ``PACK_BELOW`` needs are taken in label order and solved as one block per pack: a block need
    not be connected (its components stay independent inside it), and LAPJVsp's work on a pack,
    needs x columns, stays small.
    Only from ``PACK_MIN_COMPONENTS`` small components: fewer cost under 0.1 s as they are.
    Nodes of no component with needs (offers nobody may use) keep their own labels.
    """
    has_edges = np.zeros(n_needs, dtype=bool)
    has_edges[e_need] = True
    size = np.bincount(labels[:n_needs][has_edges], minlength=n_labels)
    small = np.flatnonzero((size > 0) & (size < PACK_BELOW))
    sizes = size[size > 0]
    if len(small) < PACK_MIN_COMPONENTS:  # a few: each its own block (packing would save < 0.1 s)
        return labels, sizes
    before = np.cumsum(size[small]) - size[small]  # needs of the small components before each
    remap = np.arange(n_labels, dtype=np.int64)
    remap[small] = n_labels + before // PACK_NEEDS
    return remap[labels], sizes


def _components(
    e_need: np.ndarray, e_offer: np.ndarray, e_cost: np.ndarray, cap: np.ndarray, pen: np.ndarray
) -> tuple[list[Block], np.ndarray]:
    """Split the edge list into connected components (a need and an offer meet only through an
    edge), the small ones packed together (:func:`_pack_small`): (blocks, needs per component).

    Edges come sorted by (need, offer) and stay so within each block; a node's local position
    is its rank among its component's nodes of its kind, found with one sort of the nodes.
    """
    n_needs, n_offers = len(pen), len(cap)
    n = n_needs + n_offers
    n_labels, labels = component_labels(e_need, e_offer, n_needs, n_offers)
    labels, sizes = _pack_small(labels, n_labels, e_need, n_needs)
    # per node: its rank within (component, kind), nodes in id order
    kind = np.r_[np.zeros(n_needs, dtype=np.int64), np.ones(n_offers, dtype=np.int64)]
    node_order = np.lexsort((np.arange(n), kind, labels))
    group = labels[node_order] * 2 + kind[node_order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    local = np.empty(n, dtype=e_need.dtype)
    local[node_order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    # each need's run of edges (edges come sorted by need) and the need's component
    first = np.flatnonzero(np.r_[True, e_need[1:] != e_need[:-1]])
    runs = np.diff(np.r_[first, len(e_need)])
    need_label = labels[e_need[first]]
    if n_labels > 1:
        # order the needs with edges by component (a sort of the needs, not of the edges) and
        # take each need's run of edges in that order; a block ends where the component changes
        by_label = np.argsort(need_label, kind="stable")
        first, runs, need_label = first[by_label], runs[by_label], need_label[by_label]
        cut = np.flatnonzero(need_label[1:] != need_label[:-1]) + 1
        need_parts = np.split(np.arange(len(first)), cut)
    else:
        need_parts = [np.arange(len(first))]
    # the nodes of each (component, kind), in id order: groups 2L (needs) and 2L+1 (offers)
    group_of_start = group[starts]
    ends = np.r_[starts[1:], n]
    blocks = []
    for at in need_parts:
        # the block's edges, its needs' runs in turn, found block by block: the edges of all
        # blocks in one order were three 20M-pair temporaries of fresh memory (~0.5 GB); one
        # block takes the edges as they are (its costs are the problem's, not a copy)
        idx = ranges(first[at], runs[at]) if len(need_parts) > 1 else slice(None)
        k = int(np.searchsorted(group_of_start, 2 * int(need_label[at[0]])))
        needs = node_order[starts[k] : ends[k]]
        offers = node_order[starts[k + 1] : ends[k + 1]] - n_needs
        blocks.append(
            Block(
                needs,
                offers,
                # a block's needs with edges are all of its needs, in id order: 0, 1, 2, ...
                np.repeat(np.arange(len(at), dtype=e_need.dtype), runs[at]),
                local[n_needs:][e_offer[idx]],
                e_cost[idx],
                cap[offers],
                pen[needs],
            )
        )
    return blocks, sizes


def choose_method(block: Block) -> str:
    """The faster exact method for a component: ``"auction"`` from ``AUCTION_MIN_NEEDS`` needs,
    or where LAPJVsp's graph of places would be large (``AUCTION_MIN_SLOT_EDGES``) and mostly
    copies of edges (``AUCTION_SLOTS_PER_EDGE`` places per edge); ``"matching"`` (LAPJVsp) else."""
    if len(block.needs) >= AUCTION_MIN_NEEDS:
        return "auction"
    slot_edges = block.slot_edges
    if slot_edges >= max(AUCTION_MIN_SLOT_EDGES, AUCTION_SLOTS_PER_EDGE * len(block.cost)):
        return "auction"
    return "matching"


def solve_block(
    block: Block, method: str = "auto", parts_map: Callable[..., Iterable[Any]] = map
) -> tuple[np.ndarray, np.ndarray]:
    """Solve one component exactly; return (global need positions, chosen global offer or -1).

    ``parts_map`` maps over a hub's parts (see :func:`_solve_with_hub`), e.g. on a process pool.
    """
    if method == "auto":
        hub = find_hub(block)
        if hub is not None:
            return block.needs, _solve_with_hub(block, *hub, parts_map=parts_map)
    return _solve_plain(block, method)


def _solve_plain(block: Block, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """One component by the auction or LAPJVsp (``choose_method``), without looking for a hub,
    once the edges no optimum can use are gone (:func:`prune_outranked`)."""
    pruned = prune_outranked(block)
    if pruned is not None:
        kept, sub = pruned
        chosen = np.full(len(block.needs), -1, dtype=np.int64)
        if len(sub.needs):
            chosen[kept] = _solve_plain(sub, method)[1]  # pruned again if that frees more
        return block.needs, chosen
    if method == "auction" or (method == "auto" and choose_method(block) == "auction"):
        local = auction.solve_component(
            block.need_local, block.offer_local, block.cost, block.capacity, block.penalty
        )
        if local is not None:
            chosen = np.full(len(block.needs), -1, dtype=np.int64)
            served = local >= 0
            chosen[served] = block.offers[local[served]]
            return block.needs, chosen
    return _solve_block_matching(block)


def prune_outranked(block: Block) -> tuple[np.ndarray, Block] | None:
    """Without the edges no optimum uses where places are short: (needs kept, the smaller block),
    or None when every edge may be used.

    The component can serve at most ``S`` needs, its places (``slots``). If ``S`` needs or more
    would gain strictly more than need ``i`` from offer ``j`` (gain: penalty - cost), ``i`` never
    gets ``j`` in an optimum: one of those needs would be unserved, and giving it ``i``'s place
    instead would cost strictly less. So each offer keeps its edges to the needs of its ``S``
    largest gains (ties kept), and needs left without an edge are unserved. Gains are compared
    in whole units of the costs' decimals (``auction.whole_units``; other costs: no pruning).
    With places for 4,000 of 20,000 needs, each eligible for all 40 offers, 800k edges -> 160k.
    """
    slots = int(block.slots.sum())
    eligible = block.eligible
    if not len(eligible) or int(eligible.max()) <= slots:
        return None
    units = auction.whole_units(block.cost, block.penalty)
    if units is None:
        return None
    cost, penalty = units
    gain = penalty[block.need_local] - cost
    order = np.lexsort((-gain, block.offer_local))  # each offer's edges, largest gain first
    offer, gain = block.offer_local[order], gain[order]
    at = np.arange(len(order))
    new_value = np.r_[True, (offer[1:] != offer[:-1]) | (gain[1:] != gain[:-1])]
    first_equal = np.maximum.accumulate(np.where(new_value, at, 0))
    higher = first_equal - (np.cumsum(eligible) - eligible)[offer]  # strictly larger gains, same offer
    if (higher < slots).all():
        return None
    keep = np.zeros(len(order), dtype=bool)
    keep[order[higher < slots]] = True
    has_edge = np.zeros(len(block.needs), dtype=bool)
    has_edge[block.need_local[keep]] = True
    kept = np.flatnonzero(has_edge)
    local = (np.cumsum(has_edge) - 1).astype(block.need_local.dtype)
    sub = replace(
        block,
        needs=block.needs[kept],
        need_local=local[block.need_local[keep]],
        offer_local=block.offer_local[keep],
        cost=block.cost[keep],
        penalty=block.penalty[kept],
    )
    return kept, sub


def _solve_block_matching(block: Block) -> tuple[np.ndarray, np.ndarray]:
    """Solve one component with scipy's LAPJVsp on the slot-expanded graph.

    scipy's sparse LAPJVsp scans every column at each step of each need's augmenting search,
    so the columns, not the edges, set its time. Each need's "unserved" option was a column of
    its own; needs that share a penalty now share one "unserved" offer instead, whose capacity
    is the group's size (the same problem) but of which the matching sees only a few slots,
    when few of them can be left unserved (a group with many to leave unserved keeps a column
    per need: shared slots would tie thousands of needs to hundreds of identical columns).
    The cut is exact when it does not bind: if no cut group fills its slots, the constraints it
    tightened are slack at the restricted optimum, so their duals are 0 and the same duals prove
    that optimum optimal for the whole problem (LP duality; the matrix is totally unimodular).
    A group that fills its slots, or a cut that leaves some need nowhere to go, gets more slots
    (or a column per need) and the component is solved again.
    """
    n, m = len(block.needs), len(block.offers)
    slots = block.slots
    penalties, group = np.unique(block.penalty, return_inverse=True)
    size = np.bincount(group, minlength=len(penalties))
    short = max(0, n - int(slots.sum()))  # needs that cannot all be served, shared out by size
    shared = np.minimum(size, UNSERVED_SLOTS + 2 * (-(-short * size // max(n, 1))))
    shared[shared > UNSERVED_SLOTS_SHARED_MAX] = 0  # 0: a column per need
    # each need's edges, then its unserved option: rows of the CSR graph in need order
    per_need = np.bincount(block.need_local, minlength=n)
    at = np.arange(len(block.cost)) + block.need_local  # an edge's place among edges and options
    option_at = np.cumsum(per_need + 1) - 1  # each need's unserved option, after its edges
    weight = np.empty(len(block.cost) + n)
    weight[at], weight[option_at] = block.cost, block.penalty
    weight += 1.0 - min(float(weight.min(initial=0.0)), 0.0)  # > 0: scipy drops explicit zeros
    while True:
        # unserved offers m..: one per shared group, then one per need of the other groups
        is_shared = shared[group] > 0
        n_groups = int((shared > 0).sum())
        unserved_offer = m + np.where(
            is_shared, (np.cumsum(shared > 0) - 1)[group], n_groups + np.cumsum(~is_shared) - 1
        )
        cols_per_offer = np.concatenate(
            (slots, shared[shared > 0], np.ones(int((~is_shared).sum()), dtype=np.int64))
        )
        offer = np.empty(len(weight), dtype=np.int64)
        offer[at], offer[option_at] = block.offer_local, unserved_offer
        reps = cols_per_offer[offer]
        first_col = np.cumsum(cols_per_offer) - cols_per_offer
        indptr = np.r_[0, np.cumsum(np.add.reduceat(reps, option_at - per_need))]
        graph = csr_array(
            (np.repeat(weight, reps), ranges(first_col[offer], reps), indptr),
            shape=(n, int(cols_per_offer.sum())),
        )
        del offer, reps
        cut = (shared > 0) & (shared < size)
        try:
            row_ind, col_ind = min_weight_full_bipartite_matching(graph)
        except ValueError:  # too few unserved slots to place every need: widen every cut group
            if not cut.any():
                raise
            binding = cut
        else:
            col_offer = np.repeat(np.arange(len(cols_per_offer)), cols_per_offer)[col_ind]
            in_group = col_offer[(col_offer >= m) & (col_offer < m + n_groups)] - m
            used = np.zeros(len(shared), dtype=np.int64)
            used[shared > 0] = np.bincount(in_group, minlength=n_groups)
            binding = cut & (used >= shared)
        del graph
        if not binding.any():
            break
        widened = np.minimum(size, 4 * shared)
        shared = np.where(binding, np.where(widened > UNSERVED_SLOTS_SHARED_MAX, 0, widened), shared)
    chosen = np.full(n, -1, dtype=np.int64)
    served = col_offer < m
    chosen[row_ind[served]] = block.offers[col_offer[served]]
    return block.needs, chosen


def find_hub(block: Block) -> tuple[int, list[Block]] | None:
    """The component's hub offer and the parts the component falls into without it, or None.

    A hub is one offer eligible for many of the component's needs (a city-wide hotline) that
    alone holds the component together: without it the component falls into parts that, solved
    ``HUB_ROUNDS`` times over, still cost less than the whole at once (each estimated as needs x
    slot columns, LAPJVsp's work). Such a component is solved by :func:`_solve_with_hub`.
    """
    eligible = block.eligible
    if not len(eligible) or eligible.max() < HUB_MIN_NEEDS:
        return None
    hub = int(np.argmax(eligible))
    rest = block.offer_local != hub
    parts = (
        _components(
            block.need_local[rest], block.offer_local[rest], block.cost[rest], block.capacity, block.penalty
        )[0]
        if rest.any()
        else []
    )
    whole = len(block.needs) * int(block.slots.sum())
    in_parts = sum(len(b.needs) * int(np.minimum(b.capacity, len(b.needs)).sum()) for b in parts)
    if HUB_ROUNDS * in_parts > whole:
        return None
    return hub, parts


def _solve_part(part: Block, penalty: np.ndarray) -> np.ndarray:
    """One part of a hub's component with its needs' way out priced: chosen offer or -1."""
    return _solve_plain(replace(part, penalty=penalty))[1]


def _solve_with_hub(
    block: Block, hub: int, parts: list[Block], parts_map: Callable[..., Iterable[Any]] = map
) -> np.ndarray:
    """Solve a component held together by one hub offer, exactly, by pricing the hub's capacity.

    With a price ``lam`` on each use of the hub and no limit on its capacity, the hub is one more
    way out for each need (like staying unserved, at ``c_ih + lam``), and the component falls apart
    into small parts solved separately (Lagrangian relaxation of the hub's capacity constraint).
    If at ``lam = 0`` no more needs use the hub than it can take, that answer is optimal.
    Otherwise ``lam`` is searched (a first guess, then outwards, then by the Illinois rule),
    keeping ``lo`` (the hub over-used) and ``hi`` (under-used) on the costs' own grid. A
    part whose answer is the same at ``lo`` and ``hi`` keeps it at every price between (the
    part's optimal cost is concave in ``lam``); only parts whose answer differs are solved again.
    An answer that uses the hub exactly to capacity is optimal (its price is a dual proof). When
    the parts still changing are few, they and the hub, with what capacity the settled parts left
    it, are solved together exactly: that problem's own hub price lies between ``lo`` and ``hi``
    (its hub is over-used at ``lo`` and under-used at ``hi``), where every settled part's answer
    is optimal too, so together they are optimal (LP duality).

    Returns, per need of the block, the chosen global offer or -1.
    """
    n = len(block.needs)
    on_hub = block.offer_local == hub
    hub_cost = np.full(n, np.inf)
    hub_cost[block.need_local[on_hub]] = block.cost[on_hub]
    capacity = int(block.capacity[hub])
    in_part = np.zeros(n, dtype=bool)
    for b in parts:
        in_part[b.needs] = True
    alone = np.flatnonzero(~in_part)  # needs whose only edge is the hub's

    def answer(lam: float, which: list[int]) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """Per part in ``which``: each need's local offer (``hub``, another, or -1); and the
        needs alone's choices."""
        way_out = np.minimum(block.penalty, hub_cost + lam)
        to_hub = hub_cost + lam < block.penalty
        order = sorted(which, key=lambda k: -len(parts[k].needs))  # the largest first
        solved = parts_map(_solve_part, [parts[k] for k in order], [way_out[parts[k].needs] for k in order])
        out = {}
        for k, chosen in zip(order, solved, strict=True):
            out[k] = np.where((chosen < 0) & to_hub[parts[k].needs], hub, chosen)
        return out, np.where(to_hub[alone], hub, -1)

    def used(sol: dict[int, np.ndarray], lone: np.ndarray) -> int:
        return int(sum(int((c == hub).sum()) for c in sol.values()) + (lone == hub).sum())

    everything = list(range(len(parts)))
    lo_sol, lo_alone = answer(0.0, everything)
    if used(lo_sol, lo_alone) <= capacity:
        return _offers_of(block, _hub_local(n, parts, lo_sol, alone, lo_alone))
    reach = np.isfinite(hub_cost)
    lam_hi = max(0.0, float((block.penalty[reach] - hub_cost[reach]).max()))
    hi_sol, hi_alone = answer(lam_hi, everything)  # nobody prefers the hub: it is under-used
    lam_lo = 0.0
    use_lo, use_hi = used(lo_sol, lo_alone), used(hi_sol, hi_alone)
    unit = auction.integer_scale(np.concatenate((block.cost, block.penalty)))
    step = 1.0 / unit if unit else 0.0  # prices on the costs' own grid while it is finer
    # a first guess: the price at which the hub would be wanted by as many needs as it can take
    # if each need weighed it only against its own cheapest other choice
    best_else = block.penalty.copy()
    rest = ~on_hub
    np.minimum.at(best_else, block.need_local[rest], block.cost[rest])
    margin = np.sort((best_else - hub_cost)[reach])[::-1]
    guess: float | None = float(margin[min(capacity, len(margin) - 1)])
    delta = max(0.25 * abs(guess), (lam_hi - lam_lo) / 256, 4 * step)
    expand = 0  # +1 / -1: searching upwards / downwards from the guess, doubling the step
    last_side, weight_lo, weight_hi = 0, 1.0, 1.0
    while True:
        moving = [k for k in everything if not np.array_equal(lo_sol[k], hi_sol[k])]
        alone_moving = lo_alone != hi_alone
        size = sum(len(parts[k].needs) for k in moving) + int(alone_moving.sum())
        width = lam_hi - lam_lo
        if guess is not None:
            mid = min(max(guess, lam_lo + width / 1024), lam_hi - width / 1024)
        elif expand:
            mid = lam_lo + delta if expand > 0 else lam_hi - delta
            if not lam_lo < mid < lam_hi:
                expand = 0
        if guess is None and not expand:
            # where the hub's use would reach its capacity if it fell evenly between lo and hi,
            # the side that stayed put weighing half as much each time (the Illinois rule)
            over, under = (use_lo - capacity) * weight_lo, (capacity - use_hi) * weight_hi
            mid = lam_lo + min(max(over / (over + under), 0.02), 0.98) * width
        if step:  # on the costs' grid, strictly between lo and hi while there is room
            mid = min(max(round(mid / step) * step, lam_lo + step), lam_hi - step)
        if size <= HUB_FINAL_NEEDS or not lam_lo < mid < lam_hi:
            break
        mid_sol, mid_alone = answer(mid, moving)
        sol = {**lo_sol, **mid_sol}  # settled parts: the same at lo and hi
        lone = np.where(alone_moving, mid_alone, lo_alone)
        u = used(sol, lone)
        if u == capacity:
            return _offers_of(block, _hub_local(n, parts, sol, alone, lone))
        side = 1 if u > capacity else -1
        if guess is not None:
            guess, expand = None, side
        elif expand:
            expand, delta = (expand, 2 * delta) if side == expand else (0, delta)
        if side > 0:
            lam_lo, lo_sol, lo_alone, use_lo = mid, sol, lone, u
        else:
            lam_hi, hi_sol, hi_alone, use_hi = mid, sol, lone, u
        # the end that moved counts in full; the one that stayed put twice running, half as much
        repeated = side == last_side and not expand
        if side > 0:
            weight_lo, weight_hi = 1.0, weight_hi / 2 if repeated else weight_hi
        else:
            weight_lo, weight_hi = weight_lo / 2 if repeated else weight_lo, 1.0
        last_side = side
    # the parts still changing, with the hub and what capacity the settled parts left it
    settled = [k for k in everything if k not in set(moving)]
    settled_use = sum(int((lo_sol[k] == hub).sum()) for k in settled)
    settled_use += int((lo_alone[~alone_moving] == hub).sum())
    needs = np.sort(np.concatenate([parts[k].needs for k in moving] + [alone[alone_moving]]))
    final = _sub_block(block, needs, hub, capacity - settled_use)
    chosen = _hub_local(n, parts, lo_sol, alone, lo_alone)  # settled: the same at lo and hi
    chosen[needs] = _solve_plain(final)[1]
    return _offers_of(block, chosen)


def _hub_local(
    n: int, parts: list[Block], sol: dict[int, np.ndarray], alone: np.ndarray, lone: np.ndarray
) -> np.ndarray:
    """Per need of the block, its chosen local offer or -1, from the parts' answers."""
    chosen = np.full(n, -1, dtype=np.int64)
    for k, b in enumerate(parts):
        chosen[b.needs] = sol[k]
    chosen[alone] = lone
    return chosen


def _offers_of(block: Block, chosen: np.ndarray) -> np.ndarray:
    """Local offer positions (or -1) as the block's global ones."""
    return np.where(chosen >= 0, block.offers[np.maximum(chosen, 0)], -1)


def _sub_block(block: Block, needs: np.ndarray, hub: int, hub_capacity: int) -> Block:
    """The block's ``needs`` (sorted local positions) with all their edges, the hub's capacity
    set to ``hub_capacity``; offers keep their block-local positions as "global" ones."""
    keep = np.isin(block.need_local, needs)
    capacity = block.capacity.copy()
    capacity[hub] = hub_capacity
    return Block(
        needs,
        np.arange(len(block.offers)),
        np.searchsorted(needs, block.need_local[keep]).astype(block.need_local.dtype),
        block.offer_local[keep],
        block.cost[keep],
        capacity,
        block.penalty[needs],
    )
