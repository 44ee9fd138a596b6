"""From needs and offers to a solver problem: who may serve whom, at what cost, and why not.

Eligibility rules, in the order they are applied (each unserved need is explained by the
first rule that left it with nothing):
1. ``item``: the offer gives the need's service item;
2. ``scope``: the offer's service area covers the need — its grid's, its community's and its
   subdistrict's offers, from the need's first cycle ("small matters stay in the grid" is the
   cheaper ``scope_cost`` of local offers, not a wait); at the subdistrict desk
   (``EscalationPolicy.cross_community_level``) also the community-wide offers of the other
   communities of its subdistrict (街道统筹);
3. ``window``: the offer's time window overlaps the cycle and the need's preferred dates;
4. ``declined``: the unit has not already declined this need;
5. ``cost``: the pairing costs no more than leaving the need unserved (its penalty).

Pure pandas/numpy; the frames are built by the store and handed in.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from lifecycle.escalation import EscalationPolicy, priority_factor
from lifecycle.vocabulary import LEVEL_NAMES
from matching.solver import within

NEED_COLUMNS = [
    "need_id",
    "grid_id",
    "community_id",
    "subdistrict_id",
    "item_code",
    "urgency",
    "submitted_at",
    "escalation_level",
    "cycles_unserved",
    "x_km",
    "y_km",
    "preferred_start",
    "preferred_end",
]
OFFER_COLUMNS = [
    "offer_id",
    "unit_id",
    "item_code",
    "capacity",
    "area_level",
    "area_id",
    "window_start",
    "window_end",
    "x_km",
    "y_km",
    "rating",
    "area_subdistrict_id",
]
# threads that price a city's pairs (numpy's steps run outside the GIL); more than the CPUs gains nothing
PRICE_THREADS = 4


@dataclass(frozen=True)
class CostModel:
    """How pairings are priced and how much leaving a need unserved costs. All tunable."""

    per_km: float = 1.0
    # prefer local help (小事不出网格): a community-wide or subdistrict-wide offer costs a little
    # more than the grid's own, another community's offer (at the subdistrict desk) more again
    scope_cost: dict[str, float] = field(
        default_factory=lambda: {"grid": 0.0, "community": 1.0, "subdistrict": 2.0, "neighbour": 3.0}
    )
    # satisfaction (1-5) moves cost by this much per point away from the neutral rating
    rating_weight: float = 1.5
    neutral_rating: float = 4.0
    # penalty of leaving a need unserved: by urgency, growing with weeks waited and escalation
    urgency_penalty: dict[int, float] = field(default_factory=lambda: {1: 10.0, 2: 25.0, 3: 60.0})
    wait_growth_per_week: float = 0.25
    # escalation: deadlines, priority growth per level, cross-community reach (one policy)
    policy: EscalationPolicy = field(default_factory=EscalationPolicy)


@dataclass(frozen=True)
class CostParts:
    """What a pair's cost is made of: places per need and offer, the rating's cost per offer and
    the scope per pair. The breakdown of any pairs is computed from these when asked, not stored
    for the tens of millions of eligible pairs of a city."""

    need_x: np.ndarray
    need_y: np.ndarray
    offer_x: np.ndarray
    offer_y: np.ndarray
    offer_rating_cost: np.ndarray  # per offer, already rounded
    scope: np.ndarray  # per pair: index into ``scope_cost`` (int8)
    scope_cost: np.ndarray
    per_km: float

    def of(
        self, pn: np.ndarray, po: np.ndarray, scope: np.ndarray, detail: bool = True, step: int = 1 << 16
    ) -> dict[str, np.ndarray]:
        """Cost (and with ``detail`` its parts) of pairs given per pair: need position, offer
        position, scope code.

        Worked in chunks of ``step`` pairs that stay in the CPU's cache (the build prices tens of
        millions of pairs: a quarter less time than whole-array passes), the chunks shared by
        :func:`price_threads` threads (numpy lets go of the GIL in each step: 19.9M pairs
        1.43-1.93 s -> 0.93-1.01 s on 2 cores); every pair takes the same steps, so a pair's cost
        is the same bits however it is asked for.
        """
        n = len(pn)
        for at, size, what in ((pn, len(self.need_x), "need"), (po, len(self.offer_x), "offer")):
            if n and (at.min() < 0 or at.max() >= size):  # the gathers below clip: out of range is an error
                raise IndexError(f"a pair's {what} position is outside 0..{size - 1}")
        if len(scope) != n or (n and (scope.min() < 0 or scope.max() >= len(self.scope_cost))):
            raise IndexError("every pair needs a scope code within the scope costs")
        cost = np.empty(n)
        km, km_cost = np.empty(n if detail else 0), np.empty(n if detail else 0)
        # an offer's place and rating cost side by side: one gather (one cache line) per pair
        offer = np.stack((self.offer_x, self.offer_y, self.offer_rating_cost), axis=1)

        def price(first: int, last: int) -> None:  # chunks first..last-1, with their own buffers
            size = min(step, n)
            got, bx, by = np.empty((size, 3)), np.empty(size), np.empty(size)
            for s in range(first * step, min(last * step, n), step):
                e = min(s + step, n)
                a, b = pn[s:e], po[s:e]
                g = got[: e - s]
                np.take(offer, b, axis=0, out=g, mode="clip")
                dx, dy = bx[: e - s], by[: e - s]
                np.take(self.need_x, a, out=dx, mode="clip")
                dx -= g[:, 0]
                np.take(self.need_y, a, out=dy, mode="clip")
                dy -= g[:, 1]
                dist = np.hypot(dx, dy, out=dx)
                if detail:
                    km[s:e] = dist
                dist *= self.per_km
                dist = _round(dist, 4)
                if detail:
                    km_cost[s:e] = dist
                c = cost[s:e]
                np.take(self.scope_cost, scope[s:e], out=c, mode="clip")
                c += dist  # scope + distance, then + rating
                c += g[:, 2]
                _round(c, 4)

        chunks = -(-n // step)
        threads = min(price_threads(), chunks // 4)  # a few chunks each, or not worth a thread
        if threads > 1:
            bounds = np.linspace(0, chunks, threads + 1).astype(int)
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(price, bounds[:-1], bounds[1:]))
        else:
            price(0, chunks)
        if not detail:
            return {"cost": cost}
        return {
            "cost": cost,
            "cost_distance": km_cost,
            "cost_scope": self.scope_cost[scope],
            "cost_rating": self.offer_rating_cost[po],
            "distance_km": _round(km, 3),
        }


def price_threads() -> int:
    """Threads that price pairs: the CPUs this process may use, at most ``PRICE_THREADS``."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(PRICE_THREADS, usable or 1))


def _round(values: np.ndarray, decimals: int) -> np.ndarray:
    """``np.round(values, decimals)`` in place (the same steps, without two temporary copies)."""
    scale = 10.0**decimals
    np.multiply(values, scale, out=values)
    np.rint(values, out=values)
    np.divide(values, scale, out=values)
    return values


@dataclass(frozen=True)
class Problem:
    """A solver problem with everything needed to explain its solution."""

    edges: pd.DataFrame  # need_id, offer_id, cost (categorical ids: one code per pair)
    capacity: pd.Series
    penalty: pd.Series
    # per need: how many offers were left after each rule (for explanations)
    funnel: pd.DataFrame
    # per edge: the need's position in ``penalty`` and the offer's in ``capacity`` (the solver's codes)
    positions: tuple[np.ndarray, np.ndarray] | None = None
    parts: CostParts | None = None

    def breakdown(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        """``cost``, ``cost_distance``, ``cost_scope``, ``cost_rating`` and ``distance_km`` of the
        pairs at ``rows`` of ``edges`` (all pairs if None), the same numbers the cost was built from."""
        if self.parts is None or self.positions is None:
            raise ValueError("this problem was not built by build_problem: it has no cost parts")
        pn, po = self.positions
        at: np.ndarray | slice = slice(None) if rows is None else np.asarray(rows)
        out = self.parts.of(pn[at], po[at], self.parts.scope[at])
        return pd.DataFrame(out, index=self.edges.index[at], copy=False)

    def solver_inputs(self) -> dict:
        """Keyword arguments for ``solve_assignment`` / ``prepare_blocks``: this problem, coded."""
        return {
            "edges": self.edges[["need_id", "offer_id", "cost"]],
            "capacity": self.capacity,
            "penalty": self.penalty,
            "positions": self.positions,
        }


def compute_penalty(needs: pd.DataFrame, period_start: date, model: CostModel) -> pd.Series:
    """Cost of leaving each need unserved: grows with urgency, weeks waited and escalation."""
    base = needs["urgency"].map(model.urgency_penalty).astype(float)
    waited = (pd.Timestamp(period_start) - pd.to_datetime(needs["submitted_at"])).dt.days.clip(lower=0) / 7.0
    pen = (
        base
        * (1.0 + model.wait_growth_per_week * waited)
        * priority_factor(needs["escalation_level"], model.policy)
    )
    return pd.Series(
        pen.round(4).to_numpy(), index=pd.Index(needs["need_id"].to_numpy(), name="need_id"), name="penalty"
    )


def _days(values: pd.Series) -> np.ndarray:
    """Dates as whole days since the epoch (float: missing is NaN), parsed once per row."""
    parsed = pd.to_datetime(values)
    out = parsed.to_numpy(dtype="datetime64[D]").astype("int64").astype(float)
    out[parsed.isna().to_numpy()] = np.nan
    return out


# the window rule looks pairs up in a table of (preferred dates, offer window) combinations
# while it has at most this many cells (a week's needs and offers hold a few dozen of each)
WINDOW_TABLE_CELLS = 1 << 22


def _date_ranges(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's code among the distinct (start, end) day pairs (NaN: open), and those pairs."""
    shift = 1 << 30  # days since the epoch, shifted above 0: 0 stands for NaN

    def part(days: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(days), 0, days + shift).astype(np.int64)

    codes, keys = pd.factorize(part(start) * (1 << 31) + part(end))

    def back(values: np.ndarray) -> np.ndarray:
        return np.where(values == 0, np.nan, values - shift).astype(float)

    return codes.astype(np.int32), back(keys // (1 << 31)), back(keys % (1 << 31))


def _window_fits(
    pn: np.ndarray,
    po: np.ndarray,
    offer_window: tuple[np.ndarray, np.ndarray],
    need_dates: tuple[np.ndarray, np.ndarray],
    period: tuple[float, float],
) -> np.ndarray | None:
    """Per pair: the offer's window overlaps the cycle and the need's preferred dates (each end
    of those only where given; an offer with no window never fits). None when every pair fits.

    Needs and offers share a few dozen distinct date ranges: the rule is decided once per
    (need range, offer range) and each pair looks its answer up (20M pairs: 1.1 s of gathers
    per pair -> one lookup), unless there are too many combinations for a small table.
    """
    w_start, w_end = offer_window
    pref_s, pref_e = need_dates
    n_code, n_s, n_e = _date_ranges(pref_s, pref_e)
    o_code, o_s, o_e = _date_ranges(w_start, w_end)
    if len(n_s) * len(o_s) <= WINDOW_TABLE_CELLS:
        o_in = (o_s <= period[1]) & (o_e >= period[0])
        table = (
            o_in[None, :]
            & (np.isnan(n_s)[:, None] | (o_e[None, :] >= n_s[:, None]))
            & (np.isnan(n_e)[:, None] | (o_s[None, :] <= n_e[:, None]))
        )
        if table.all():
            return None
        at = n_code[pn].astype(np.int64)
        at *= len(o_s)
        at += o_code[po]
        fits = table.ravel()[at]
        return None if fits.all() else fits
    fits = ((w_start <= period[1]) & (w_end >= period[0]))[po]
    asks = np.flatnonzero(fits & (~np.isnan(pref_s) | ~np.isnan(pref_e))[pn])
    if len(asks):
        a_need, a_offer = pn[asks], po[asks]
        s_, e_ = pref_s[a_need], pref_e[a_need]
        fits[asks] = (np.isnan(s_) | (w_end[a_offer] >= s_)) & (np.isnan(e_) | (w_start[a_offer] <= e_))
    return None if fits.all() else fits


def _ranks(order: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """Each position's rank in ``order`` (an argsort), or None when every rank is the position."""
    if (order == np.arange(len(order))).all():
        return None
    rank = np.empty(len(order), dtype=dtype)
    rank[order] = np.arange(len(order))
    return rank


# scope codes take the key's lowest bits (LEVEL_NAMES and the neighbouring communities' offers)
SCOPE_BITS = 3


def _in_id_order(
    rn: np.ndarray,
    ro: np.ndarray,
    scope: np.ndarray,
    keep: np.ndarray | None,
    sizes: tuple[int, int],
    step: int = 1 << 18,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs (need rank, offer rank, scope) that ``keep`` keeps (None: all), sorted by ranks.
    The three arrays are used up: the result is written into them (their first pairs).

    Each pair is one 64-bit key (need rank | offer rank | scope) and the keys themselves are sorted:
    the level joins hand in a few sorted runs that the stable sort merges (20M keys: 0.1 s), and
    the columns come back by shifts, a chunk at a time, into the arrays they came from. Fresh
    memory is what costs here (each 20M-pair temporary is ~0.1-0.4 s of page faults): an
    ``argsort`` and three gathers made ~500 MB of it, this makes the key's 160 MB.
    Ranks too wide for one key (more than 2^60 need x offer combinations) take the argsort.
    """
    n_needs, n_offers = sizes
    offer_bits = max(n_offers - 1, 1).bit_length()
    shift = offer_bits + SCOPE_BITS
    if max(n_needs - 1, 1).bit_length() + shift > 63 or (len(scope) and scope.max() >= 1 << SCOPE_BITS):
        key = rn.astype(np.int64) * max(n_offers, 1) + ro
        order = np.argsort(key, kind="stable")
        if keep is not None:
            order = order[keep[order]]
        return rn[order], ro[order], scope[order]
    n = len(rn) if keep is None else int(np.count_nonzero(keep))
    key = np.empty(n, dtype=np.int64)
    buf = np.empty(min(step, len(rn)), dtype=np.int64)
    done = 0
    for s in range(0, len(rn), step):
        e = min(s + step, len(rn))
        b = buf[: e - s]
        b[...] = rn[s:e]
        b <<= offer_bits
        b += ro[s:e]
        b <<= SCOPE_BITS
        b += scope[s:e]
        kept = b if keep is None else b[keep[s:e]]
        key[done : done + len(kept)] = kept
        done += len(kept)
    key.sort(kind="stable")
    rn, ro, scope = rn[:n], ro[:n], scope[:n]
    for s in range(0, n, step):
        e = min(s + step, n)
        k, b = key[s:e], buf[: e - s]
        np.bitwise_and(k, (1 << SCOPE_BITS) - 1, out=b)
        scope[s:e] = b
        np.right_shift(k, SCOPE_BITS, out=b)
        b &= (1 << offer_bits) - 1
        ro[s:e] = b
        np.right_shift(k, shift, out=b)
        rn[s:e] = b
    return rn, ro, scope


def _ranges(need_key: np.ndarray, offer_key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per need, its range of offers with an equal key: (offers in key order, each need's first
    place in that order, its number of offers). One sort of the offers, two searches per need."""
    order = np.argsort(offer_key, kind="stable")
    sorted_key = offer_key[order]
    lo = np.searchsorted(sorted_key, need_key, side="left")
    return order, lo, np.searchsorted(sorted_key, need_key, side="right") - lo


def _fill(
    out: tuple[np.ndarray, np.ndarray],
    ranges: tuple[np.ndarray, np.ndarray, np.ndarray],
    needs_idx: np.ndarray,
    offers_idx: np.ndarray,
) -> None:
    """Write the (need, offer) position pairs of ``ranges`` (see :func:`_ranges`) into ``out``,
    two arrays of their total length, need by need.

    Each array is made by one running sum over steps written at the needs' first pairs: no
    repeat, arange or concatenation of tens of millions of pairs (fresh memory is the join's main
    cost: each 20M-pair temporary is ~0.1-0.4 s of page faults).
    """
    out_need, out_offer = out
    order, lo, count = ranges
    has = np.flatnonzero(count)
    if len(has) == 0:
        return
    first = np.cumsum(count[has]) - count[has]  # each need's first pair
    lo_has = lo[has]
    # the need: steps from one need's position to the next
    out_need[:] = 0
    out_need[first] = np.diff(needs_idx[has], prepend=0)
    np.add.accumulate(out_need, out=out_need)
    # the offer's place in key order: +1 within a need, a jump to the next need's first place
    out_offer[:] = 1
    out_offer[first] = lo_has - np.concatenate(([0], lo_has[:-1] + count[has][:-1] - 1))
    np.add.accumulate(out_offer, out=out_offer)
    # the offers in key order first (a few hundred thousand), then one gather per pair, in place
    np.take(offers_idx.astype(out_offer.dtype, copy=False)[order], out_offer, out=out_offer, mode="clip")


def _join(
    need_key: np.ndarray, offer_key: np.ndarray, needs_idx: np.ndarray, offers_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (need, offer) position pairs with equal keys, and per need its number of pairs."""
    ranges = _ranges(need_key, offer_key)
    total = int(ranges[2].sum())
    index = np.int32 if max(total, len(offer_key), len(need_key)) < 2**31 else np.int64
    out = (np.empty(total, dtype=index), np.empty(total, dtype=index))
    _fill(out, ranges, needs_idx, offers_idx)
    return out[0], out[1], ranges[2]


def build_problem(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel | None = None,
    declined: pd.DataFrame | None = None,
) -> Problem:
    """Eligible pairs with their cost breakdown, capacities and penalties, vectorised and sparse.

    Ids are coded as integers once; each rule is array work on (need, offer) positions, and the
    pairs come out sorted by (need_id, offer_id) without sorting the frame.
    ``declined`` has columns ``need_id``, ``unit_id``: units that declined a need never get it again.
    """
    model = model or CostModel()
    needs = needs.reset_index(drop=True)
    offers = offers.reset_index(drop=True)
    penalty = compute_penalty(needs, period[0], model)
    capacity = pd.Series(
        offers["capacity"].to_numpy(dtype=np.int64),
        index=pd.Index(offers["offer_id"].to_numpy(), name="offer_id"),
        name="capacity",
    )
    n_needs, n_offers = len(needs), len(offers)
    n_item = needs["item_code"].map(offers.groupby("item_code").size()).fillna(0).astype(int)

    # one code space for items and one for areas (grid, community and subdistrict ids)
    item_codes, _ = pd.factorize(
        pd.concat([needs["item_code"], offers["item_code"]], ignore_index=True).astype(object)
    )
    need_item, offer_item = item_codes[:n_needs].astype(np.int64), item_codes[n_needs:].astype(np.int64)
    area_values = [needs[f"{lv}_id"] for lv in LEVEL_NAMES] + [offers["area_id"]]
    if "area_subdistrict_id" in offers:
        area_values.append(offers["area_subdistrict_id"])
    area_codes, area_uniques = pd.factorize(pd.concat(area_values, ignore_index=True).astype(object))
    area_codes = area_codes.astype(np.int64)
    n_area = max(len(area_uniques), 1) + 1
    need_area = {lv: area_codes[k * n_needs : (k + 1) * n_needs] for k, lv in enumerate(LEVEL_NAMES)}
    base = len(LEVEL_NAMES) * n_needs
    offer_area = area_codes[base : base + n_offers]
    offer_sub = area_codes[base + n_offers : base + 2 * n_offers] if "area_subdistrict_id" in offers else None
    offer_level = offers["area_level"].astype(object).to_numpy()
    need_pos = np.arange(n_needs, dtype=np.int32 if n_needs < 2**31 else np.int64)

    # rules 1+2: one join per covering level on (item, area id), sparse by construction; each
    # level's pairs are written straight into the pair arrays (no per-level copies to join up)
    levels = []
    n_scope = np.zeros(n_needs, dtype=np.int64)  # pairs per need, counted as they are made
    for k, level in enumerate(LEVEL_NAMES):
        at_level = np.flatnonzero((offer_level == level) & (offer_area >= 0) & (offer_item >= 0))
        if len(at_level) == 0 or n_needs == 0:
            continue
        ranges = _ranges(
            need_item * n_area + need_area[level], offer_item[at_level] * n_area + offer_area[at_level]
        )
        n_scope += ranges[2]
        levels.append((k, at_level, ranges, int(ranges[2].sum())))
    # at the subdistrict desk: community-wide offers of the subdistrict's other communities
    far_need, far_offer = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    far = np.flatnonzero(needs["escalation_level"].to_numpy() >= model.policy.cross_community_level)
    comm = np.flatnonzero((offer_level == "community") & (offer_item >= 0))
    comm = comm[offer_sub[comm] >= 0] if offer_sub is not None else comm
    if len(far) and len(comm) and offer_sub is not None:
        far_need, far_offer, _ = _join(
            need_item[far] * n_area + need_area["subdistrict"][far],
            offer_item[comm] * n_area + offer_sub[comm],
            far,
            comm,
        )
        other = need_area["community"][far_need] != offer_area[far_offer]
        far_need, far_offer = far_need[other], far_offer[other]
        n_scope += np.bincount(far_need, minlength=n_needs)
    total = sum(m for *_, m in levels) + len(far_need)
    # 32-bit positions while they fit: the pairs are the cycle's largest arrays
    index = np.int32 if max(total, n_needs, n_offers) < 2**31 else np.int64
    pn, po = np.empty(total, dtype=index), np.empty(total, dtype=index)
    scope = np.empty(total, dtype=np.int8)
    at = 0
    for k, at_level, ranges, m in levels:
        _fill((pn[at : at + m], po[at : at + m]), ranges, need_pos, at_level)
        scope[at : at + m] = k
        at += m
    pn[at:], po[at:], scope[at:] = far_need, far_offer, len(LEVEL_NAMES)

    # rule 3: time windows overlap the cycle and the need's preferred dates (when given)
    p_start = float(np.datetime64(period[0], "D").astype("int64"))
    p_end = float(np.datetime64(period[1], "D").astype("int64"))
    fits = _window_fits(
        pn,
        po,
        (_days(offers["window_start"]), _days(offers["window_end"])),
        (_days(needs["preferred_start"]), _days(needs["preferred_end"])),
        (p_start, p_end),
    )
    # the pairs a rule removes leave with the sort below (no copies of 20M pairs here)
    keep = fits  # None: every pair is still in (the usual week: every window fits)
    n_window = n_scope if fits is None else np.bincount(pn[fits], minlength=n_needs)

    # rule 4: never offer a need again to a unit that declined it
    n_declined = n_window  # unless a decline removes pairs
    if declined is not None and len(declined):
        unit_codes, unit_uniques = pd.factorize(offers["unit_id"].astype(object))
        known = pd.Index(unit_uniques).get_indexer(declined["unit_id"].astype(object))
        d_need = pd.Index(needs["need_id"]).get_indexer(declined["need_id"])
        ok = (known >= 0) & (d_need >= 0)
        n_units = max(len(unit_uniques), 1)
        bad = d_need[ok].astype(np.int64) * n_units + known[ok]
        # only pairs of needs some unit declined can go: look those up, not all 20M pairs
        # (2 % of a city's needs declined: 2.6 s -> 0.1 s)
        touched = np.zeros(n_needs, dtype=bool)
        touched[d_need[ok]] = True
        at = np.flatnonzero(touched[pn] if keep is None else touched[pn] & keep)
        drop = at[np.isin(pn[at].astype(np.int64) * n_units + unit_codes[po[at]], bad)]
        if len(drop):
            if keep is None:
                keep = np.ones(len(pn), dtype=bool)
            keep[drop] = False
            n_declined = n_window - np.bincount(pn[drop], minlength=n_needs)

    # pairs in (need_id, offer_id) order: rank ids once, sort integer keys
    # (the store reads both in id order: then a rank is the position, and no pair is looked up)
    need_ids = needs["need_id"].to_numpy()
    by_need_id = np.argsort(need_ids, kind="stable")
    need_rank = _ranks(by_need_id, pn.dtype)
    offer_ids = offers["offer_id"].astype(object).to_numpy()
    by_id = np.argsort(offer_ids, kind="stable")
    offer_rank = _ranks(by_id, po.dtype)
    rn, ro, scope = _in_id_order(
        pn if need_rank is None else need_rank[pn],
        po if offer_rank is None else offer_rank[po],
        scope,
        keep,
        (n_needs, n_offers),
    )
    # back from ranks to positions (none to do when the ranks are the positions)
    pn = rn if need_rank is None else by_need_id[rn].astype(rn.dtype)
    po = ro if offer_rank is None else by_id[ro].astype(ro.dtype)

    rating = (
        pd.to_numeric(offers["rating"], errors="coerce").astype(float).fillna(model.neutral_rating).to_numpy()
    )
    parts = CostParts(
        needs["x_km"].to_numpy(float),
        needs["y_km"].to_numpy(float),
        offers["x_km"].to_numpy(float),
        offers["y_km"].to_numpy(float),
        np.round(model.rating_weight * (model.neutral_rating - rating), 4),
        scope,
        np.array([model.scope_cost[k] for k in (*LEVEL_NAMES, "neighbour")], dtype=float),
        model.per_km,
    )
    cost = parts.of(pn, po, scope, detail=False)["cost"]
    edges = pd.DataFrame(
        {
            # categoricals: tens of millions of rows name a few hundred thousand needs and offers
            # (codes, not a string per row); the codes are ranks, in range by construction
            "need_id": pd.Categorical.from_codes(
                rn,
                categories=pd.Index(need_ids[by_need_id]),
                validate=False,
            ),
            "offer_id": pd.Categorical.from_codes(
                ro,
                categories=pd.Index(offer_ids[by_id]),
                validate=False,
            ),
            "cost": cost,
        },
        copy=False,
    )
    # rule 5 (reported only; the solver drops such edges itself)
    # (a need's dearest pair against its penalty first: no lookup per pair when all are affordable)
    pen = penalty.to_numpy()
    in_pair_order = need_rank is None  # pairs run need by need, in position or in id order
    per_need = n_declined if in_pair_order else n_declined[by_need_id]
    if within(cost, per_need, pen if in_pair_order else pen[by_need_id]):
        n_cost = n_declined
    else:
        n_cost = np.bincount(pn[cost <= pen[pn]], minlength=n_needs)
    funnel = pd.DataFrame(
        {
            "need_id": need_ids,
            "item": n_item.to_numpy(),
            "scope": n_scope,
            "window": n_window,
            "declined": n_declined,
            "cost": n_cost,
        }
    ).set_index("need_id")
    return Problem(
        edges=edges, capacity=capacity, penalty=penalty, funnel=funnel, positions=(pn, po), parts=parts
    )
