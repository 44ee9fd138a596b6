"""An exact ε-scaling auction for the capacitated assignment, vectorised with numpy.

The problem (see :mod:`matching.solver`) is a transportation problem with unit demands:
need ``i`` takes one unit of an eligible offer's capacity at cost ``c_ij`` or stays unserved
at its penalty ``p_i``. Its LP dual gives every offer a price ``w_j >= 0`` that can be positive
only when the offer is full. The auction finds such prices by bidding (Bertsekas' auction for
similar objects: an offer's capacity is ``k`` identical slots, each with its own price):

- every unassigned need bids, all at once (a Jacobi auction), for the slot it values most
  (``-c_ij - price``), raising the slot's price to where it would be indifferent to its second
  choice plus ``eps``; an offer takes its best bids into its cheapest slots and the needs it
  displaces bid again; a need whose best choice is to stay unserved takes that at once;
- ``eps`` shrinks by ``THETA`` each phase (ε-scaling); needs that still satisfy ε-complementary
  slackness keep their slot between phases, so later phases only repair;
- between phases, every slot of an offer comes down to the offer's cheapest slot price (see
  :func:`_level_prices`): the slots of one offer are identical, and prices bid up one slot at
  a time spread over a phase's ``eps``, so after ``eps`` shrinks most holders of a large
  offer looked worse off than its cheapest slot and bid again: with that, every phase re-ran
  the auction for most needs (one component with 10k needs and 120 offers of 50-200 places:
  8,000 of 10,000 needs re-bid each phase, 23-30 s; levelled, a few hundred, 4.9 s);
- a phase that leaves slots spare with a price from an earlier phase ends with reverse
  rounds: such a slot bids for the need it would attract best, at a price just under the next
  need's, or drops to 0 (the dual of unused capacity is 0);
- costs are whole numbers (the problem's decimals, made integers exactly) multiplied by
  ``n + 1``; phases end as soon as the assignment's cost exceeds an LP dual bound by less than
  one unit of the integer costs, at the latest at ``eps = 1`` (total error below
  ``n * eps < n + 1``).

:func:`certify` checks those conditions from scratch on the result, in integers; the solver
uses the auction only when the certificate holds and otherwise falls back to scipy's matching.
Costs that are not whole at six decimals (measured, arbitrary floats) are rounded to a grid of
up to 2**36 steps a cost unit and solved in those integers; the answer stands only when a dual
bound from its prices, computed with the costs as given, proves it optimal for them to within
``FLOAT_GAP`` (1e-9) of its cost (:func:`certify_rounded`). LAPJVsp, in floating point, took 24 s
on one such component of 50,000 needs; rounded and certified, 5.9 s.
The work per round is proportional to the edges of the needs bidding in it, so one large
connected component (a city-wide offer of a popular item) costs about what its edges cost.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

THETA = 4
SEQUENTIAL = 16  # below this many active needs or slots, work one at a time
# Reverse rounds: up to REVERSE_FEW_OFFERS offers with at least REVERSE_MANY spare slots (those
# with the most) fill up to REVERSE_TAKE of them in one round, the others one (see _best_needs)
REVERSE_TAKE = 64
REVERSE_MANY = 2
REVERSE_FEW_OFFERS = 128
# Offers with at least CACHE_MIN needs keep their CACHE_K best needs between reverse rounds
# (see _BestNeeds): a one-by-one step scanned all of an offer's needs (7,500 in one component of
# 50,000 needs and 150 offers), tens of thousands of times a phase
CACHE_MIN = 1024
CACHE_K = 32
# Costs not whole at six decimals (see rounded_problem): rounded to a grid of at most ROUNDED_UNIT
# and at least ROUNDED_UNIT_MIN steps a cost unit; the answer stands when it is optimal to within
# FLOAT_GAP of its cost for the costs as given (certify_rounded)
ROUNDED_UNIT = 2.0**36
ROUNDED_UNIT_MIN = 2.0**20
FLOAT_GAP = 1e-9
UNSERVED = -2  # a need's slot when it is left unserved
NONE = -1  # a need's slot while it is bidding
NEG = np.iinfo(np.int64).min // 4  # "no such option" in value comparisons (no overflow on sums)
FAR = np.iinfo(np.int64).max // 4  # "no such slot" in price comparisons (an offer's second slot)


@dataclass
class AuctionState:
    """Slot prices and holders, and each need's slot: the auction's whole state."""

    price: np.ndarray  # per slot
    holder: np.ndarray  # per slot: need position or NONE
    own: np.ndarray  # per need: slot, NONE or UNSERVED
    own_edge: np.ndarray  # per need: the edge of its slot's offer (valid while own >= 0)
    profit: np.ndarray  # per placed need: -cost - price of its slot, or -penalty if unserved


@dataclass(frozen=True)
class AuctionProblem:
    """Needs' edges as CSR (sorted by need), integer costs, slots per offer."""

    indptr: np.ndarray  # per need: its edges are indptr[i]:indptr[i+1]
    offer: np.ndarray  # per edge
    cost: np.ndarray  # per edge, int64, already multiplied by n + 1
    penalty: np.ndarray  # per need, int64, already multiplied by n + 1
    slot_start: np.ndarray  # per offer: first slot
    n_slots: np.ndarray  # per offer: number of slots (min(capacity, eligible needs))

    @property
    def n_needs(self) -> int:
        return len(self.penalty)

    @cached_property
    def need(self) -> np.ndarray:
        """Per edge: its need."""
        return np.repeat(np.arange(self.n_needs), np.diff(self.indptr))

    @cached_property
    def by_offer(self) -> tuple[np.ndarray, np.ndarray]:
        """Edges grouped by offer: (per offer: first position, edge indices in that order)."""
        order = np.argsort(self.offer, kind="stable")
        starts = np.searchsorted(self.offer[order], np.arange(len(self.n_slots) + 1))
        return starts, order

    @cached_property
    def by_offer_need_cost(self) -> tuple[np.ndarray, np.ndarray]:
        """Per edge in ``by_offer`` order: its need and its cost (an offer's edges side by side)."""
        _, order = self.by_offer
        return self.need[order], self.cost[order]

    @cached_property
    def slot_offer(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.n_slots)), self.n_slots)


def integer_scale(values: np.ndarray, max_decimals: int = 6) -> int | None:
    """The smallest power of ten that makes every value a whole number, or None."""
    if len(values) == 0:
        return 1
    for d in range(max_decimals + 1):
        scaled = values * 10.0**d
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return 10**d
    return None


def _starts_of_runs(keys: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal, adjacent keys."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for each (s, c)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(total)


def _max_per_segment(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For segments of ``values`` laid side by side (``counts`` long, each at least 1): each one's
    largest value, the position of its first occurrence, and the segments' starts."""
    seg = np.cumsum(counts) - counts
    best = np.maximum.reduceat(values, seg)
    hit = np.where(values == np.repeat(best, counts), np.arange(len(values)), len(values))
    return best, np.minimum.reduceat(hit, seg), seg


def _beta(prob: AuctionProblem, st: AuctionState, at: np.ndarray | slice) -> np.ndarray:
    """What each need would pay to move to an offer, ``-c_ij - profit_i``, for edges ``at`` in
    ``by_offer`` order (positions or one offer's slice)."""
    need_by_offer, cost_by_offer = prob.by_offer_need_cost
    return -cost_by_offer[at] - st.profit[need_by_offer[at]]


class _Offers:
    """Per offer: its cheapest slot (and its price) and the second-cheapest price."""

    def __init__(self, prob: AuctionProblem, price: np.ndarray) -> None:
        self.prob = prob
        m = len(prob.n_slots)
        self.low = np.zeros(m, dtype=np.int64)
        self.low_slot = np.zeros(m, dtype=np.int64)
        self.second = np.full(m, FAR, dtype=np.int64)
        self.refresh(np.arange(m), price)

    def refresh_one(self, j: int, price: np.ndarray) -> None:
        k = int(self.prob.n_slots[j])
        if k == 0:
            return
        start = int(self.prob.slot_start[j])
        p = price[start : start + k]
        if k == 1:
            self.low[j], self.low_slot[j] = p[0], start
            return
        two = np.argpartition(p, 1)[:2]
        self.low[j], self.low_slot[j] = p[two[0]], start + two[0]
        self.second[j] = p[two[1]]

    def raise_cheapest(self, j: int, bid: int, price: np.ndarray, heaps: dict[int, list]) -> int:
        """Raise offer ``j``'s cheapest slot to ``bid`` (a forward bid, one at a time); returns
        the slot.

        ``heaps``: per offer, its slots as ``(price, slot)`` in a binary heap, made on the
        offer's first bid and kept by the caller while only these bids change its prices: the
        next cheapest two are then among the heap's top three, where a partition of all the
        offer's prices cost as much as the rest of a bid.
        """
        h = heaps.get(j)
        if h is None:
            start, k = int(self.prob.slot_start[j]), int(self.prob.n_slots[j])
            # sorted by price, then slot: a heap whose top is a cheapest slot
            h = heaps[j] = sorted(
                zip(price[start : start + k].tolist(), range(start, start + k), strict=True)
            )
        s = h[0][1]
        price[s] = bid
        heapq.heapreplace(h, (bid, s))
        self.low[j], self.low_slot[j] = h[0]
        if len(h) > 1:
            self.second[j] = min(h[1][0], h[2][0]) if len(h) > 2 else h[1][0]
        return s

    def refresh(self, offers: np.ndarray, price: np.ndarray) -> None:
        prob = self.prob
        mark = np.zeros(len(prob.n_slots), dtype=bool)  # the offers, once each, in order
        mark[offers] = True
        offers = np.flatnonzero(mark & (prob.n_slots > 0))
        if len(offers) == 0:
            return
        counts = prob.n_slots[offers]
        slots = ranges(prob.slot_start[offers], counts)
        p = price[slots]
        first = np.cumsum(counts) - counts
        low = np.minimum.reduceat(p, first)
        # the cheapest slot: the first of the lowest price (as a stable sort by price would give)
        at = np.minimum.reduceat(np.where(p == np.repeat(low, counts), np.arange(len(p)), len(p)), first)
        self.low[offers] = low
        self.low_slot[offers] = slots[at]
        p[at] = FAR  # the second-cheapest price: the rest's lowest
        self.second[offers] = np.minimum.reduceat(p, first)


def _best_two(
    prob: AuctionProblem, offers: _Offers, needs: np.ndarray, own_slot: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each need: best edge value, its edge, its offer, and the second-best value overall.

    Values are ``-cost - price`` of the cheapest slot of the offer, not counting the need's own
    slot (``own_slot``) when pricing its own offer. The unserved option (``-penalty``) counts as a
    choice for the second best; ``best`` is over edges only. Needs must have at least one edge.
    """
    starts = prob.indptr[needs]
    counts = prob.indptr[needs + 1] - starts
    idx = ranges(starts, counts)
    e_off = prob.offer[idx]
    price = offers.low[e_off]
    if own_slot is not None:
        # a need does not compete with itself: its own offer's cheapest other slot
        mine = np.repeat(own_slot, counts)
        is_own = offers.low_slot[e_off] == mine
        price = np.where(is_own, offers.second[e_off], price)
    val = -prob.cost[idx] - price
    best, arg, seg = _max_per_segment(val, counts)
    # second best: the same offer's next slot, or another edge, or staying unserved
    own_sec = offers.second[e_off[arg]]
    val2 = val.copy()
    val2[arg] = -prob.cost[idx[arg]] - own_sec
    second = np.maximum(np.maximum.reduceat(val2, seg), -prob.penalty[needs])
    return best, idx[arg], e_off[arg], second


def _bid_rounds(
    prob: AuctionProblem, st: AuctionState, offers: _Offers, bidders: np.ndarray, eps: int
) -> None:
    """Jacobi auction rounds until every need holds a slot or is unserved."""
    price, holder, own = st.price, st.holder, st.own
    bidders = np.sort(bidders)
    while len(bidders):
        if len(bidders) <= SEQUENTIAL:
            _bid_one_by_one(prob, st, offers, eps, list(bidders))
            return
        best, edge, off, second = _best_two(prob, offers, bidders, None)
        stay = -prob.penalty[bidders] >= best
        own[bidders[stay]] = UNSERVED
        st.profit[bidders[stay]] = -prob.penalty[bidders[stay]]
        keep = ~stay
        b, edge, off, second = bidders[keep], edge[keep], off[keep], second[keep]
        if len(b) == 0:
            break
        bid = -prob.cost[edge] - second + eps
        # each offer takes its best bids into its cheapest slots, while a bid beats the slot by eps
        order = np.lexsort((-bid, off))
        b, off, bid, edge = b[order], off[order], bid[order], edge[order]
        first = np.flatnonzero(_starts_of_runs(off))
        counts = np.diff(np.r_[first, len(off)])
        rank = np.arange(len(off)) - np.repeat(first, counts)
        ok = rank < prob.n_slots[off]
        touched = off[first]
        t_counts = prob.n_slots[touched]
        slots = ranges(prob.slot_start[touched], t_counts)
        grp = np.repeat(np.arange(len(touched)), t_counts)
        s_order = slots[np.lexsort((price[slots], grp))]
        s_first = np.cumsum(t_counts) - t_counts
        grp_of_bid = np.repeat(np.arange(len(touched)), counts)
        slot_of_bid = np.full(len(b), -1, dtype=np.int64)
        slot_of_bid[ok] = s_order[s_first[grp_of_bid[ok]] + rank[ok]]
        ok[ok] = bid[ok] >= price[slot_of_bid[ok]] + eps
        ok |= rank == 0  # the best bid always beats the cheapest slot (by construction)
        if not ok[first].all():  # pragma: no cover - a broken invariant, not an input problem
            raise AssertionError("auction: a best bid did not beat its offer's cheapest slot")
        won = slot_of_bid[ok]
        winners = b[ok]
        evicted = holder[won]
        evicted = evicted[evicted >= 0]
        own[evicted] = NONE
        holder[won] = winners
        price[won] = bid[ok]
        own[winners] = won
        st.own_edge[winners] = edge[ok]
        st.profit[winners] = -prob.cost[edge[ok]] - bid[ok]
        offers.refresh(touched, price)
        bidders = np.sort(np.concatenate((b[~ok], evicted)))


def _bid_one_by_one(
    prob: AuctionProblem, st: AuctionState, offers: _Offers, eps: int, stack: list[int]
) -> None:
    """The forward auction one bidder at a time (Gauss-Seidel): cheaper when few are left."""
    price, holder, own = st.price, st.holder, st.own
    cost, penalty, indptr, offer = prob.cost, prob.penalty, prob.indptr, prob.offer
    low, second_price = offers.low, offers.second
    heaps: dict[int, list] = {}  # (only bids here change prices until this returns)
    while stack:
        i = stack.pop()
        a0, a1 = int(indptr[i]), int(indptr[i + 1])
        offs = offer[a0:a1]
        val = -cost[a0:a1] - low[offs]
        a = int(np.argmax(val))
        stay = -int(penalty[i])
        if stay >= val[a]:
            own[i] = UNSERVED
            st.profit[i] = stay
            continue
        j = int(offs[a])
        val[a] = -cost[a0 + a] - second_price[j]
        second = max(int(val.max()), stay)
        bid = -int(cost[a0 + a]) - second + eps
        s = offers.raise_cheapest(j, bid, price, heaps)
        out = int(holder[s])
        if out >= 0:
            own[out] = NONE
            stack.append(out)
        holder[s] = i
        own[i] = s
        st.own_edge[i] = a0 + a
        st.profit[i] = -int(cost[a0 + a]) - bid


def violations(prob: AuctionProblem, st: AuctionState, offers: _Offers, eps: int) -> np.ndarray:
    """Needs that are placed but more than ``eps`` worse off than their best choice."""
    own = st.own
    placed = np.flatnonzero(own != NONE)
    has_edges = prob.indptr[placed + 1] > prob.indptr[placed]
    needs = placed[has_edges]
    if len(needs) == 0:
        return np.zeros(0, dtype=np.int64)
    # own[needs] is the need's slot, or UNSERVED, which no offer's cheapest slot equals
    best, _, _, _ = _best_two(prob, offers, needs, own[needs])
    best = np.maximum(best, -prob.penalty[needs])
    return needs[best > st.profit[needs] + eps]


def _exact_sum(values: np.ndarray) -> int:
    """Sum of int64 values without overflow (chunks small enough to add exactly)."""
    if len(values) == 0:
        return 0
    top = max(int(values.max()), -int(values.min()), 1)
    per = int(min(256, max(1, 2**62 // top)))  # (costs near the 64-bit room add a few at a time)
    return sum(int(x) for x in np.add.reduceat(values, np.arange(0, len(values), per)))


def duality_gap(prob: AuctionProblem, st: AuctionState, w: np.ndarray) -> int:
    """The assignment's cost minus an LP dual bound, exactly, in scaled units.

    Valid for any offer duals ``w >= 0`` (the auction uses each offer's cheapest slot price):
    with ``v_i = min(penalty_i, min_j c_ij + w_j)``, ``sum v - sum slots_j * w_j`` is a lower
    bound on every assignment's cost. A gap below one unit of the unscaled integer costs proves
    the assignment optimal. Every need must be placed.
    """
    spent, v = _need_terms(prob, st, prob.cost, prob.penalty, w)
    return _exact_sum(spent - v) + _exact_sum(prob.n_slots * w)


def _need_terms(
    prob: AuctionProblem, st: AuctionState, cost: np.ndarray, penalty: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per need, with these costs and penalties (the problem's integers, or the costs as given):
    what the assignment spends on it, and its term of the dual bound,
    ``v_i = min(penalty_i, min_j c_ij + w_j)`` (see :func:`duality_gap`)."""
    v = penalty.copy()
    has = np.flatnonzero(np.diff(prob.indptr) > 0)
    if len(has):
        v[has] = np.minimum(v[has], np.minimum.reduceat(cost + w[prob.offer], prob.indptr[has]))
    served = st.own >= 0
    spent = penalty.copy()
    spent[served] = cost[st.own_edge[served]]
    return spent, v


def offer_duals(prob: AuctionProblem, st: AuctionState) -> np.ndarray:
    """Each offer's dual, recomputed from the prices: its cheapest slot's price (0 without slots)."""
    w = np.zeros(len(prob.n_slots), dtype=np.int64)
    used = prob.n_slots > 0
    w[used] = np.minimum.reduceat(st.price, prob.slot_start[used])
    return w


def initial_state(prob: AuctionProblem) -> AuctionState:
    """Every slot free at price 0; needs without edges unserved, the others bidding (``NONE``)."""
    n, total = prob.n_needs, int(prob.n_slots.sum())
    st = AuctionState(
        price=np.zeros(total, dtype=np.int64),
        holder=np.full(total, NONE, dtype=np.int64),
        own=np.full(n, NONE, dtype=np.int64),
        own_edge=np.full(n, -1, dtype=np.int64),
        profit=-prob.penalty.copy(),
    )
    st.own[np.diff(prob.indptr) == 0] = UNSERVED
    return st


def auction(prob: AuctionProblem, scale: int = 1) -> AuctionState:
    """Run the ε-scaling auction to the exact optimum (see the module docstring)."""
    n = prob.n_needs
    st = initial_state(prob)
    offers = _Offers(prob, st.price)
    spread = int(prob.cost.max() - prob.cost.min()) if len(prob.cost) else 0
    spread = max(spread, int(prob.penalty.max()) if n else 0)
    eps = max(1, spread // THETA)
    bidders = np.flatnonzero(st.own == NONE)
    while True:
        _bid_rounds(prob, st, offers, bidders, eps)
        _reverse_rounds(prob, st, offers, eps)
        if eps == 1 or (eps * prob.n_needs < 64 * scale and duality_gap(prob, st, offers.low) < scale):
            break
        eps = max(1, eps // THETA)
        _level_prices(prob, st, offers)
        bidders = _unplace(st, violations(prob, st, offers, eps))
    return st


def _level_prices(prob: AuctionProblem, st: AuctionState, offers: _Offers) -> None:
    """Bring every slot of an offer down to the offer's cheapest slot price, between phases.

    Safe for ε-complementary slackness: a need's choices are priced by each offer's cheapest
    slot, which does not change, and a holder only gains (its slot gets cheaper). The dual bound
    (each offer's cheapest slot price) does not change either. What changes is that holders of
    an offer's dearer slots no longer count as ``eps`` worse off than its cheapest slot.
    """
    st.price[:] = offers.low[prob.slot_offer]
    placed = np.flatnonzero(st.own >= 0)
    st.profit[placed] = -prob.cost[st.own_edge[placed]] - st.price[st.own[placed]]
    offers.refresh(np.arange(len(prob.n_slots)), st.price)


def _unplace(st: AuctionState, needs: np.ndarray) -> np.ndarray:
    """Take needs off their slots (the slots keep their prices) so they bid again."""
    slots = st.own[needs]
    st.holder[slots[slots >= 0]] = NONE
    st.own[needs] = NONE
    return needs


def _reverse_rounds(prob: AuctionProblem, st: AuctionState, offers: _Offers, eps: int) -> None:
    """Spare slots with a price bid for needs until every spare slot costs 0 (reverse auction).

    A spare slot of offer ``j`` looks at the needs that may use ``j``: need ``i`` would move for
    any price below ``beta_i = -c_ij - profit_i``. The slot takes the best such need at a price
    ``eps`` under the second best's ``beta`` (never below 0), or, if no need would come even
    at price 0, drops its price to 0 and stays spare; an offer's other spare slots then drop
    too. An offer with several spare slots takes its best needs into all of them in one round
    (see :func:`_best_needs`): a shortage on large offers left thousands of spare slots on a
    hundred offers after a phase, and one slot an offer a round took 490 rounds where it now
    takes 28. A need wanted by several offers takes the best deal; the slots it leaves bid
    again, and so does a priced slot a moving need frees. Needs only gain here (each one moves
    for at least ``eps``), so an offer's best needs are kept between rounds (:class:`_BestNeeds`).
    """
    price, holder, own = st.price, st.holder, st.own
    _, order = prob.by_offer
    need_by_offer, _ = prob.by_offer_need_cost
    pending = np.flatnonzero((holder == NONE) & (price > 0))
    kept = _BestNeeds(prob, st)
    while len(pending):
        if len(pending) <= SEQUENTIAL:
            _reverse_one_by_one(prob, st, offers, eps, list(pending), kept)
            return
        s_off = prob.slot_offer[pending]
        pick = np.lexsort((-price[pending], s_off))  # each offer's spare slots, dearest first
        pending, s_off = pending[pick], s_off[pick]
        first = np.flatnonzero(_starts_of_runs(s_off))
        s_offers = s_off[first]
        k = np.diff(first, append=len(pending))
        group, rank, at, new_price, want = _best_needs(prob, st, s_offers, k, eps, kept)
        slot = pending[first[group] + rank]
        # an offer's slots after those it fills: 0 if it ran out of needs, else next round
        takers = np.bincount(group, minlength=len(s_offers))
        after = np.arange(len(pending)) - np.repeat(first, k) >= np.repeat(takers, k)
        out_of_needs = np.repeat(takers < want, k)
        price[pending[after & out_of_needs]] = 0
        later = pending[after & ~out_of_needs]
        if len(group) == 0:
            offers.refresh(s_offers, price)
            pending = later
            continue
        edge, need = order[at], need_by_offer[at]
        gain = -prob.cost[edge] - new_price
        take = np.lexsort((-gain, need))  # a need several offers want: the best deal
        slot, edge, need, new_price = slot[take], edge[take], need[take], new_price[take]
        best = _starts_of_runs(need)
        lost = slot[~best]
        slot, edge, need, new_price = slot[best], edge[best], need[best], new_price[best]
        old = own[need]
        freed = old[old >= 0]
        holder[freed] = NONE
        holder[slot] = need
        price[slot] = new_price
        own[need] = slot
        st.own_edge[need] = edge
        st.profit[need] = -prob.cost[edge] - new_price
        offers.refresh(s_offers, price)  # (a freed slot keeps its price: its offer's are as they were)
        pending = np.concatenate((later, lost, freed[price[freed] > 0]))


_ONE = np.ones(1, dtype=np.int64)
_NONE_TAKEN = np.zeros(0, dtype=np.int64)


class _BestNeeds:
    """During one phase's reverse rounds: for each offer with at least ``CACHE_MIN`` needs, the
    ``CACHE_K`` needs of highest ``beta`` when its needs were last scanned, and the next
    ``beta`` then (``bound``).

    In the reverse rounds a need only moves to gain at least ``eps``, so profits only rise and
    every ``beta`` only falls: a need not kept still has ``beta <= bound``. The kept needs'
    ``beta`` priced again (``CACHE_K`` values, not thousands) answer for the offer exactly, as a
    scan of all its needs would, while the ``w + 1`` best of them are still at least ``bound``
    (or ``bound`` is at most ``eps``: no other need can be taken, and the price is 0 either way);
    the offer's needs are scanned again when not. Other offers are scanned at every query.
    """

    def __init__(self, prob: AuctionProblem, st: AuctionState) -> None:
        self.prob, self.st = prob, st
        starts, _ = prob.by_offer
        big = np.flatnonzero(np.diff(starts) >= CACHE_MIN)
        self.row = np.full(len(prob.n_slots), -1, dtype=np.int64)
        self.row[big] = np.arange(len(big))
        self.offer = big
        self.pos = np.zeros((len(big), CACHE_K), dtype=np.int64)  # positions in by_offer order
        self.bound = np.full(len(big), FAR, dtype=np.int64)  # FAR: not scanned yet

    def kept(self, offers_: np.ndarray) -> np.ndarray:
        """Which of ``offers_`` keep their best needs."""
        return self.row[offers_] >= 0

    def _scan(self, r: int) -> None:
        starts, _ = self.prob.by_offer
        lo, hi = int(starts[self.offer[r]]), int(starts[self.offer[r] + 1])
        beta = _beta(self.prob, self.st, slice(lo, hi))
        part = np.argpartition(-beta, CACHE_K)
        self.pos[r] = lo + part[:CACHE_K]
        self.bound[r] = beta[part[CACHE_K]]

    def top(self, j: int, w: int, eps: int) -> tuple[np.ndarray, int]:
        """Offer ``j``'s ``w`` best needs, those of them with ``beta`` above ``eps``, as positions
        in ``by_offer`` order; and the next need's ``beta`` (NEG if there is none), or, where
        that is at most ``eps``, a number no larger than ``eps``."""
        r = int(self.row[j])
        if r < 0 or w >= CACHE_K:  # an offer of few needs, or more slots than needs kept: a scan
            starts, _ = self.prob.by_offer
            lo, hi = int(starts[j]), int(starts[j + 1])
            beta = _beta(self.prob, self.st, slice(lo, hi))
            if w == 1:  # (most queries: the best and the next by two passes, no partition)
                a = int(np.argmax(beta))
                best, beta[a] = int(beta[a]), NEG
                after = int(beta.max()) if hi - lo > 1 else NEG
                return (_ONE * (lo + a) if best > eps else _NONE_TAKEN), after
            if hi - lo > w:  # its w best and the next one's beta
                part = np.argpartition(-beta, w)
                top, after = part[:w], int(beta[part[w]])
            else:
                top, after = np.arange(hi - lo), NEG
            return lo + top[beta[top] > eps], after
        if self.bound[r] == FAR:
            self._scan(r)
        while True:
            pos = self.pos[r]
            beta = _beta(self.prob, self.st, pos)
            o = np.argsort(-beta, kind="stable")
            beta, pos = beta[o], pos[o]
            bound = int(self.bound[r])
            if beta[w] >= bound or bound <= eps:  # the first w + 1 are the offer's best
                top = pos[:w][beta[:w] > eps]
                return top, max(int(beta[w]), bound)
            self._scan(r)

    def best_two(self, offers_: np.ndarray, eps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For offers that keep their needs: the best need's ``beta``, its position in ``by_offer``
        order, and a bound on every other need's ``beta`` (see :meth:`top`)."""
        rows = self.row[offers_]
        for r in rows[self.bound[rows] == FAR]:
            self._scan(int(r))
        while True:
            pos = self.pos[rows]
            beta = _beta(self.prob, self.st, pos)
            a = np.argmax(beta, axis=1)
            at = np.arange(len(rows))
            best, where = beta[at, a], pos[at, a]
            beta[at, a] = NEG
            bound = self.bound[rows]
            second = beta.max(axis=1)
            stale = np.flatnonzero((second < bound) & (bound > eps))
            if len(stale) == 0:
                return best, where, np.maximum(second, bound)
            for r in rows[stale]:
                self._scan(int(r))


def _best_need(
    prob: AuctionProblem, st: AuctionState, offers_: np.ndarray, eps: int, kept: _BestNeeds
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one spare slot of each offer: the need it takes, at ``eps`` under the second best
    need's ``beta`` (at least 0), if the best need's ``beta`` is above ``eps``. Returns (the
    offers that take one, as positions in ``offers_``; the need's edge, as a position in
    ``by_offer`` order; the price), from two reductions over the offers' needs, or from the
    needs an offer keeps (:class:`_BestNeeds`)."""
    starts, _ = prob.by_offer
    best, at, second = (np.empty(len(offers_), dtype=np.int64) for _ in range(3))
    big = kept.kept(offers_)
    small = np.flatnonzero(~big)
    if len(small):
        lo = starts[offers_[small]]
        counts = starts[offers_[small] + 1] - lo
        edges = ranges(lo, counts)
        beta = _beta(prob, st, edges)
        best[small], arg, seg = _max_per_segment(beta, counts)
        at[small] = edges[arg]
        beta[arg] = NEG
        second[small] = np.maximum.reduceat(beta, seg)
    if len(small) < len(offers_):
        big = np.flatnonzero(big)
        best[big], at[big], second[big] = kept.best_two(offers_[big], eps)
    taking = np.flatnonzero(best > eps)
    return taking, at[taking], np.maximum(0, second[taking] - eps)


def _best_needs(
    prob: AuctionProblem, st: AuctionState, offers_: np.ndarray, k: np.ndarray, eps: int, kept: _BestNeeds
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For ``k[g]`` spare slots of offer ``offers_[g]``: the needs they take.

    Up to ``REVERSE_FEW_OFFERS`` offers with at least ``REVERSE_MANY`` spare slots, those with
    the most, fill up to ``want = min(k, REVERSE_TAKE)`` of them at once, one offer at a time:
    the offer takes its ``t <= want`` best needs among those whose ``beta`` is above ``eps``,
    all at one price, ``beta_(t+1) - eps`` (the next need's ``beta`` less ``eps``), or 0 when no
    other need is above ``eps``. A need taken gains ``beta - price >= eps``, and a need not
    taken has ``beta`` at most ``price + eps``: it stays within ``eps`` of what the offer now
    asks, as when the slots bid one by one. The other offers fill one slot each
    (:func:`_best_need`, ``want = 1``).

    Returns per need taken (its offer's position ``g``, its rank among that offer's takes, its
    edge as a position in ``by_offer`` order, its price) and ``want`` per offer.
    """
    many = np.flatnonzero(k >= REVERSE_MANY)
    if len(many) > REVERSE_FEW_OFFERS:  # the offers with the most spare slots
        many = np.sort(many[np.argpartition(-k[many], REVERSE_FEW_OFFERS)[:REVERSE_FEW_OFFERS]])
    want = np.ones(len(offers_), dtype=np.int64)
    if not len(many):  # (most rounds after a phase's first few)
        taking, at, price = _best_need(prob, st, offers_, eps, kept)
        return taking, np.zeros(len(taking), dtype=np.int64), at, price, want
    want[many] = np.minimum(k[many], REVERSE_TAKE)
    single = np.flatnonzero(want == 1)
    taking, at, price = _best_need(prob, st, offers_[single], eps, kept)
    groups, ranks, ats, prices = [single[taking]], [np.zeros(len(taking), dtype=np.int64)], [at], [price]
    for g in many:
        w = int(want[g])
        top, after = kept.top(int(offers_[g]), w, eps)
        p = after - eps if len(top) == w and after > eps else 0
        groups.append(np.full(len(top), g))
        ranks.append(np.arange(len(top)))
        ats.append(top)
        prices.append(np.full(len(top), p, dtype=np.int64))
    return np.concatenate(groups), np.concatenate(ranks), np.concatenate(ats), np.concatenate(prices), want


def _reverse_one_by_one(
    prob: AuctionProblem,
    st: AuctionState,
    offers: _Offers,
    eps: int,
    stack: list[int],
    kept: _BestNeeds,
) -> None:
    """The reverse auction one slot at a time (Gauss-Seidel): cheaper when few slots are left."""
    price, holder, own, own_edge = st.price, st.holder, st.own, st.own_edge
    _, order = prob.by_offer
    cost = prob.cost
    need_by_offer, _ = prob.by_offer_need_cost
    while stack:
        s = stack.pop()
        if holder[s] != NONE or price[s] <= 0:
            continue
        j = int(prob.slot_offer[s])
        top, second = kept.top(j, 1, eps)
        if len(top) == 0:  # no need would come even at price 0
            price[s] = 0
            offers.refresh_one(j, price)
            continue
        at = int(top[0])
        i = int(need_by_offer[at])
        old = int(own[i])
        if old >= 0:
            holder[old] = NONE
        holder[s] = i
        price[s] = max(0, second - eps)
        own[i] = s
        own_edge[i] = order[at]
        st.profit[i] = -cost[order[at]] - price[s]
        offers.refresh_one(j, price)
        if old >= 0 and price[old] > 0:  # (its offer's prices are as they were)
            stack.append(old)


def certify(prob: AuctionProblem, st: AuctionState, scale: int) -> bool:
    """Prove the auction's assignment optimal, from scratch and in integers (LP duality).

    Checks that every need is placed once, slots hold at most one need each, every served need
    uses one of its own edges, and that the primal cost exceeds a dual bound built from the
    slot prices by less than ``scale`` (one unit of the unscaled whole-number costs), so that no
    assignment is cheaper.
    """
    own, holder = st.own, st.holder
    if np.any(own == NONE) or np.any(own < UNSERVED) or np.any(own >= len(holder)):
        return False
    served = np.flatnonzero(own >= 0)
    slots = own[served]
    if len(np.unique(slots)) != len(slots) or np.any(holder[slots] != served):
        return False
    if np.count_nonzero(holder >= 0) != len(served):
        return False
    edge = st.own_edge[served]
    if np.any(edge < prob.indptr[served]) or np.any(edge >= prob.indptr[served + 1]):
        return False
    if np.any(prob.offer[edge] != prob.slot_offer[slots]) or np.any(st.price < 0):
        return False
    return 0 <= duality_gap(prob, st, offer_duals(prob, st)) < scale


def whole_units(
    cost: np.ndarray, penalty: np.ndarray, times: int = 1
) -> tuple[np.ndarray, np.ndarray] | None:
    """Costs and penalties as whole numbers of their decimals' unit (``integer_scale``), times
    ``times``, in 64-bit integers; None when they are not whole at up to six decimals or would
    not fit with 8x to spare."""
    unit = integer_scale(np.concatenate((cost, penalty)))
    return None if unit is None else _in_units(cost, penalty, unit, times)


def _largest(cost: np.ndarray, penalty: np.ndarray) -> float:
    return max(float(np.abs(cost).max(initial=0.0)), float(np.abs(penalty).max(initial=0.0)))


def _in_units(
    cost: np.ndarray, penalty: np.ndarray, unit: float, times: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Costs and penalties in steps of ``1 / unit``, rounded, times ``times``, in 64-bit
    integers; None when they would not fit with 8x to spare (sums and bids stay in range)."""
    if _largest(cost, penalty) * unit * times * 8 >= 2.0**62:
        return None
    return (
        np.rint(cost * unit).astype(np.int64) * times,
        np.rint(penalty * unit).astype(np.int64) * times,
    )


def integer_problem(
    need: np.ndarray, offer: np.ndarray, cost: np.ndarray, capacity: np.ndarray, penalty: np.ndarray
) -> tuple[AuctionProblem, int] | None:
    """One component in the auction's integers, with its scale (``n + 1``), or None.

    ``need``/``offer`` are local positions per edge, sorted by need. None when costs are not
    whole numbers at up to six decimals or would not fit 64-bit integers.
    """
    scale = len(penalty) + 1
    units = whole_units(cost, penalty, scale)
    if units is None:
        return None
    return _problem(need, offer, *units, capacity), scale


def rounded_problem(
    need: np.ndarray, offer: np.ndarray, cost: np.ndarray, capacity: np.ndarray, penalty: np.ndarray
) -> tuple[AuctionProblem, int, float] | None:
    """One component whose costs are not whole at six decimals, rounded to a grid of
    ``unit`` steps a cost unit, as fine as 64-bit integers allow (at most ``ROUNDED_UNIT``),
    in the auction's integers: (problem, scale, unit), or None when the grid would be coarser
    than ``1 / ROUNDED_UNIT_MIN`` (costs too large)."""
    scale = len(penalty) + 1
    top = _largest(cost, penalty)
    if not np.isfinite(top):
        return None
    room = 2.0**62 / (8 * max(top, 1.0) * scale)  # the grid that fits 64 bits, 8x to spare
    unit = min(ROUNDED_UNIT, 2.0 ** (math.ceil(math.log2(room)) - 1))  # (strictly below room)
    units = _in_units(cost, penalty, unit, scale) if unit >= ROUNDED_UNIT_MIN else None
    return None if units is None else (_problem(need, offer, *units, capacity), scale, unit)


def _problem(
    need: np.ndarray, offer: np.ndarray, cost: np.ndarray, penalty: np.ndarray, capacity: np.ndarray
) -> AuctionProblem:
    """The auction's problem from integer costs and penalties (already multiplied by the scale)."""
    n, m = len(penalty), len(capacity)
    indptr = np.searchsorted(need, np.arange(n + 1))
    eligible = np.bincount(offer, minlength=m)
    n_slots = np.minimum(capacity.astype(np.int64), eligible)
    return AuctionProblem(
        indptr, offer.astype(np.int64), cost, penalty, np.cumsum(n_slots) - n_slots, n_slots
    )


def certify_rounded(
    prob: AuctionProblem, st: AuctionState, cost: np.ndarray, penalty: np.ndarray, per_unit: float
) -> bool:
    """Prove a solution of the rounded problem (:func:`rounded_problem`) optimal for the costs as
    given, to within ``FLOAT_GAP`` of its cost (relative), by LP duality in floating point.

    The offers' duals are the auction's (each offer's cheapest slot price, ``per_unit`` integer
    steps a cost unit); the dual bound is computed with the given costs and penalties, exactly
    summed (``math.fsum``). :func:`certify` has checked the solution itself on the rounded problem.
    """
    w = offer_duals(prob, st) / per_unit
    spent, v = _need_terms(prob, st, cost, penalty.astype(float), w)
    primal = math.fsum(spent.tolist())
    gap = primal - (math.fsum(v.tolist()) - math.fsum((prob.n_slots * w).tolist()))
    return abs(gap) <= FLOAT_GAP * max(1.0, abs(primal))


def solve_component(
    need: np.ndarray, offer: np.ndarray, cost: np.ndarray, capacity: np.ndarray, penalty: np.ndarray
) -> np.ndarray | None:
    """Exact assignment of one component by auction: per need its offer, or -1 if unserved.

    Costs not whole at six decimals are solved rounded to a fine grid and the answer kept only
    where :func:`certify_rounded` proves it optimal for the costs as given. Returns None when
    the auction does not apply (see :func:`integer_problem`, :func:`rounded_problem`) or its
    certificate fails; the caller then solves it another way.
    """
    coded = integer_problem(need, offer, cost, capacity, penalty)
    unit = None  # whole costs: the integer certificate is the whole proof
    if coded is None:
        rounded = rounded_problem(need, offer, cost, capacity, penalty)
        if rounded is None:
            return None
        *coded, unit = rounded
    prob, scale = coded
    st = auction(prob, scale)
    if not certify(prob, st, scale):
        return None
    if unit is not None and not certify_rounded(prob, st, cost, penalty, unit * scale):
        return None
    chosen = np.full(prob.n_needs, -1, dtype=np.int64)
    served = st.own >= 0
    chosen[served] = prob.slot_offer[st.own[served]]
    return chosen
