"""The auction that solves large components: exact against brute force, HiGHS and OR-Tools,
certified, and never used unproven."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from benchmarks.oracle import solve_oracle
from matching import auction, solve_assignment
from matching.baselines import solve_lp
from matching.instances import random_instance
from matching.solver import choose_method, prepare_blocks
from tests.matching.test_solver import _brute_force
from tests.strategies import small_instances


def _component(block):
    return auction.solve_component(
        block.need_local, block.offer_local, block.cost, block.capacity, block.penalty
    )


@settings(max_examples=300, deadline=None)
@given(small_instances(max_needs=6, max_offers=3))
def test_auction_matches_brute_force(inst):
    _matches_brute_force(*inst)


def _matches_brute_force(edges, capacity, penalty):
    """The auction applies to every component and certifies its answer, the optimum."""
    prepared = prepare_blocks(edges, capacity, penalty)
    assert all(_component(b) is not None for b in prepared.blocks)
    a = solve_assignment(edges, capacity, penalty, method="auction")
    assert a.objective == pytest.approx(_brute_force(edges, capacity, penalty), abs=1e-9)
    load = a.pairs["offer_id"].value_counts()
    assert (load <= capacity.reindex(load.index)).all()
    assert set(a.pairs["need_id"]) | set(a.unserved) == set(penalty.index)


@pytest.mark.parametrize("seed", [0, 1])
def test_auction_matches_highs_lp(seed):
    edges, cap, pen = random_instance(1500, 400, seed=seed)
    a = solve_assignment(edges, cap, pen, method="auction")
    assert a.objective == pytest.approx(solve_lp(edges, cap, pen).objective, rel=1e-12)


@pytest.mark.parametrize(
    ("n_needs", "n_offers", "shape"),
    [
        (4_000, 800, {"items": 1, "degree": (5, 40), "capacity": (1, 7)}),  # one city-wide component
        (6_000, 1_500, {"items": 1, "degree": (10, 60), "capacity": (1, 20)}),
        (8_000, 2_000, {}),  # 30 items, 30 components
        (3_000, 3_000, {"items": 2, "capacity": (1, 2)}),  # more capacity than needs
        (5_000, 40, {"items": 1, "capacity": (50, 200)}),  # a few large offers (canteens)
        # ... fewer places than needs: reverse rounds fill many spare slots of an offer at once
        (6_000, 25, {"items": 1, "degree": (5, 20), "capacity": (50, 200)}),
    ],
)
def test_auction_matches_ortools_min_cost_flow(n_needs, n_offers, shape):
    edges, cap, pen = random_instance(n_needs, n_offers, seed=n_needs, **shape)
    oracle = solve_oracle(edges, cap, pen)
    # the auction answers (and certifies) every component itself: no fallback hides a failure
    assert all(_component(b) is not None for b in prepare_blocks(edges, cap, pen).blocks)
    for method in ("auction", "matching"):
        a = solve_assignment(edges, cap, pen, method=method)
        assert a.objective == pytest.approx(oracle.objective, rel=1e-12, abs=1e-9), method
        # the pairs it reports are feasible and cost what it says
        load = a.pairs["offer_id"].value_counts()
        assert (load <= cap.reindex(load.index)).all()
        assert a.objective == pytest.approx(a.pairs["cost"].sum() + pen[a.unserved].sum())


def _solved(n_needs=600, n_offers=120, seed=4):
    edges, cap, pen = random_instance(n_needs, n_offers, seed=seed, items=1, degree=(5, 20), capacity=(1, 4))
    block = prepare_blocks(edges, cap, pen).blocks[0]
    prob, scale = auction.integer_problem(
        block.need_local, block.offer_local, block.cost, block.capacity, block.penalty
    )
    return prob, auction.auction(prob, scale), scale


def test_certificate_accepts_the_optimum_and_rejects_a_worse_assignment():
    prob, st, scale = _solved()
    assert auction.certify(prob, st, scale)
    # leave one served need unserved instead: feasible, dearer, and the certificate says so
    served = np.flatnonzero(st.own >= 0)
    dearer = [i for i in served if prob.penalty[i] > prob.cost[st.own_edge[i]]]
    i = dearer[0]
    st.holder[st.own[i]] = auction.NONE
    st.own[i] = auction.UNSERVED
    assert not auction.certify(prob, st, scale)


def test_certificate_rejects_an_infeasible_assignment():
    prob, st, scale = _solved()
    a, b = np.flatnonzero(st.own >= 0)[:2]
    st.own[b] = st.own[a]  # two needs in one slot
    assert not auction.certify(prob, st, scale)


def test_costs_that_are_not_whole_numbers_are_solved_rounded_and_certified_as_given():
    edges = pd.DataFrame({"need_id": [1, 1, 2], "offer_id": ["a", "b", "a"], "cost": [1 / 3, 2 / 3, 0.5]})
    cap, pen = pd.Series({"a": 1, "b": 1}), pd.Series({1: 10.0, 2: 10.0})
    block = prepare_blocks(edges, cap, pen).blocks[0]
    assert _component(block) is not None  # the auction answered, certified
    a = solve_assignment(edges, cap, pen, method="auction")
    assert a.objective == pytest.approx(_brute_force(edges, cap, pen), abs=1e-12)


def _with_float_costs(inst, seed):
    """The instance with every cost and penalty moved by a random fraction of a millionth
    (whole at no number of decimals)."""
    edges, capacity, penalty = inst
    rng = np.random.default_rng(seed)
    edges = edges.assign(cost=edges["cost"] + rng.random(len(edges)) * 1e-6)
    return edges, capacity, penalty + rng.random(len(penalty)) * 1e-6


@settings(max_examples=200, deadline=None)
@given(small_instances(max_needs=6, max_offers=3))
def test_auction_on_float_costs_matches_brute_force(inst):
    _matches_brute_force(*_with_float_costs(inst, len(inst[0])))


@pytest.mark.parametrize(
    ("n_needs", "n_offers", "shape"),
    [
        (4_000, 800, {"items": 1, "degree": (5, 40), "capacity": (1, 7)}),
        (6_000, 25, {"items": 1, "degree": (5, 20), "capacity": (50, 200)}),
    ],
)
def test_auction_on_float_costs_matches_the_matching(n_needs, n_offers, shape):
    """Costs whole at no number of decimals, one large component: the auction on the rounded
    costs, certified for the costs as given, against LAPJVsp (floating point) and HiGHS."""
    edges, cap, pen = _with_float_costs(random_instance(n_needs, n_offers, seed=1, **shape), 1)
    (block,) = prepare_blocks(edges, cap, pen).blocks
    assert _component(block) is not None
    a = solve_assignment(edges, cap, pen, method="auction")
    m = solve_assignment(edges, cap, pen, method="matching")
    assert a.objective == pytest.approx(m.objective, rel=1e-12)
    assert a.objective == pytest.approx(solve_lp(edges, cap, pen).objective, rel=1e-9)
    assert a.objective == pytest.approx(a.pairs["cost"].sum() + pen[a.unserved].sum())


def test_a_rounded_solution_stands_only_when_certified_for_the_costs_as_given(monkeypatch):
    """On a coarse grid (16 steps a cost unit) the rounded problem's optimum is not the given
    costs' optimum: the certificate refuses it and the solver falls back to the matching; a
    worse assignment is refused on a fine grid too."""
    edges, cap, pen = _with_float_costs(
        random_instance(3_000, 600, seed=2, items=1, degree=(5, 40), capacity=(1, 7)), 2
    )
    (block,) = prepare_blocks(edges, cap, pen).blocks
    args = (block.need_local, block.offer_local, block.cost, block.capacity, block.penalty)
    prob, scale, unit = auction.rounded_problem(*args)
    st = auction.auction(prob, scale)
    assert auction.certify_rounded(prob, st, block.cost, block.penalty, unit * scale)
    served = np.flatnonzero(st.own >= 0)
    i = next(i for i in served if block.penalty[i] > block.cost[st.own_edge[i]] + 1e-3)
    st.holder[st.own[i]] = auction.NONE
    st.own[i] = auction.UNSERVED
    assert not auction.certify_rounded(prob, st, block.cost, block.penalty, unit * scale)

    monkeypatch.setattr(auction, "ROUNDED_UNIT", 16.0)
    monkeypatch.setattr(auction, "ROUNDED_UNIT_MIN", 16.0)
    prob, scale, unit = auction.rounded_problem(*args)
    st = auction.auction(prob, scale)
    assert auction.certify(prob, st, scale)  # optimal for the rounded costs ...
    assert not auction.certify_rounded(prob, st, block.cost, block.penalty, unit * scale)  # ... not these
    assert _component(block) is None
    a = solve_assignment(edges, cap, pen, method="auction")  # the matching answers instead
    assert a.objective == pytest.approx(solve_assignment(edges, cap, pen, method="matching").objective)


def test_exact_sum_near_the_64_bit_room():
    values = np.full(1_000, 2**60, dtype=np.int64)
    values[::2] *= -1
    values[-1] = 2**61
    assert auction._exact_sum(values) == 2**60
    assert auction._exact_sum(np.full(300, 2**59, dtype=np.int64)) == 300 * 2**59


def test_integer_scale():
    assert auction.integer_scale(np.array([1.0, 2.5, 3.25])) == 100
    assert auction.integer_scale(np.array([0.1 + 0.2, 7.0])) == 10
    assert auction.integer_scale(np.array([1.0, 2.0])) == 1
    assert auction.integer_scale(np.array([1 / 3])) is None


def test_large_components_go_to_the_auction_small_ones_to_the_matching():
    one = {"items": 1, "degree": (5, 40), "capacity": (1, 7)}
    # one component of 20k needs, whether capacity is short (2 needs per slot) or ample (0.5)
    for n_offers in (2_500, 10_000):
        edges, cap, pen = random_instance(20_000, n_offers, seed=1, **one)
        assert [choose_method(b) for b in prepare_blocks(edges, cap, pen).blocks] == ["auction"]
    edges, cap, pen = random_instance(12_000, 2_400, seed=1)  # 30 items: 30 components of ~400 needs
    assert {choose_method(b) for b in prepare_blocks(edges, cap, pen).blocks} == {"matching"}
    edges, cap, pen = random_instance(9_000, 2_000, seed=1, **one)  # one component, just under 10k
    assert [choose_method(b) for b in prepare_blocks(edges, cap, pen).blocks] == ["matching"]


def test_components_of_offers_with_many_places_go_to_the_auction():
    # 5,000 needs, each eligible for all 5 offers of 5,000 places: the matching's graph would have
    # a column per place (125M entries, 4.4 GiB measured); the auction takes it in a blink
    need = np.repeat(np.arange(5_000), 5)
    edges = pd.DataFrame(
        {"need_id": need, "offer_id": np.tile(np.arange(5), 5_000), "cost": (need * 7 % 13) / 4}
    )
    cap, pen = pd.Series(5_000, index=range(5)), pd.Series(10.0, index=range(5_000))
    (block,) = prepare_blocks(edges, cap, pen).blocks
    assert block.slot_edges == 125_000_000
    assert choose_method(block) == "auction"
    assert _component(block) is not None  # certified, no fallback to the matching
    a = solve_assignment(edges, cap, pen)
    assert len(a.pairs) == 5_000  # every need served at its cheapest offer (ample places)
    cheapest = edges.groupby("need_id")["cost"].min()
    assert a.objective == pytest.approx(cheapest.sum())
    # a few large offers among ordinary needs, below 10k needs: the auction too
    edges, cap, pen = random_instance(6_000, 72, seed=6_000, items=1, degree=(5, 40), capacity=(50, 200))
    (block,) = prepare_blocks(edges, cap, pen).blocks
    assert len(block.needs) < 10_000 and choose_method(block) == "auction"


def _one_phase(instance, fraction: int):
    """The auction's state after one phase (bids, then reverse rounds) at eps = cost range /
    ``fraction``, on the one component of ``instance``: (problem, state, offers, eps)."""
    edges, cap, pen = instance
    block = prepare_blocks(edges, cap, pen).blocks[0]
    prob, _ = auction.integer_problem(
        block.need_local, block.offer_local, block.cost, block.capacity, block.penalty
    )
    st = auction.initial_state(prob)
    offers = auction._Offers(prob, st.price)
    eps = int(prob.cost.max() - prob.cost.min()) // fraction
    auction._bid_rounds(prob, st, offers, np.flatnonzero(st.own == auction.NONE), eps)
    auction._reverse_rounds(prob, st, offers, eps)
    return prob, st, offers, eps


def test_levelled_prices_keep_the_certificate_and_only_take_needs_off_the_rebid_list():
    """Between phases every slot of an offer comes down to its cheapest slot's price: the dual
    bound and the assignment stay, holders only gain, and no need newly counts as worse off."""
    # fewer places than needs (prices above 0), one phase of the auction at a coarse eps
    prob, st, offers, eps = _one_phase(random_instance(3_000, 20, seed=3, items=1, capacity=(50, 200)), 64)
    assert not len(auction.violations(prob, st, offers, eps))  # ε-complementary slackness
    before = set(auction.violations(prob, st, offers, 0))
    profit, low = st.profit.copy(), offers.low.copy()
    # the case this is for: slots dearer than their offer's cheapest, holders who would move
    assert (st.price > low[prob.slot_offer]).any() and before
    auction._level_prices(prob, st, offers)
    after = set(auction.violations(prob, st, offers, 0))
    assert after < before
    assert np.array_equal(offers.low, low) and np.array_equal(st.price, low[prob.slot_offer])
    assert np.all(st.profit >= profit)
    assert not len(auction.violations(prob, st, offers, eps))


def _rounds(monkeypatch) -> list[list[int]]:
    """The reverse rounds run from now on: per round, its offers' spare slots."""
    rounds: list[list[int]] = []
    real = auction._best_needs

    def counted(prob, st, offers_, k, eps, kept):
        rounds.append(k.tolist())
        return real(prob, st, offers_, k, eps, kept)

    monkeypatch.setattr(auction, "_best_needs", counted)
    return rounds


def test_an_offer_fills_its_spare_slots_with_its_best_needs_in_one_reverse_round(monkeypatch):
    """40 spare slots of one offer, priced from an earlier phase, and 100 unserved needs: the
    slots take the 40 needs that gain most, at one price (eps under the 41st need's gain), in
    one round, and every need is then within eps of its best choice."""
    rng = np.random.default_rng(7)
    n, places, eps = 100, 40, 3
    gain = rng.permutation(np.arange(10, 10 + 7 * n, 7))  # distinct gains, 7 apart
    cost = rng.integers(0, 50, n)
    prob = auction.AuctionProblem(
        indptr=np.arange(n + 1),
        offer=np.zeros(n, dtype=np.int64),
        cost=cost.astype(np.int64),
        penalty=(cost + gain).astype(np.int64),
        slot_start=np.zeros(1, dtype=np.int64),
        n_slots=np.array([places]),
    )
    st = auction.initial_state(prob)
    st.own[:] = auction.UNSERVED
    st.price[:] = 10_000  # above every gain: a price from an earlier phase
    offers = auction._Offers(prob, st.price)
    rounds = _rounds(monkeypatch)
    auction._reverse_rounds(prob, st, offers, eps)
    assert rounds == [[places]]  # one round for all 40 slots
    best = np.argsort(-gain)[:places]
    assert set(st.holder.tolist()) == set(best.tolist())
    next_gain = np.sort(gain)[::-1][places]
    assert (st.price == next_gain - eps).all()
    assert np.all(st.profit[best] - (-prob.penalty[best]) >= eps)  # each need taken gains eps
    assert not len(auction.violations(prob, st, offers, eps))


def test_reverse_rounds_after_a_phase_fill_or_free_every_priced_spare_slot(monkeypatch):
    """A shortage on a few large offers: after the second phase's bids, hundreds of an offer's
    slots are spare with the first phase's price. The reverse rounds leave no spare slot
    priced and every need within eps of its best choice, in far fewer rounds than an offer
    has spare slots (one slot an offer a round needed at least that many)."""
    instance = random_instance(3_000, 12, seed=0, items=1, degree=(3, 8), capacity=(50, 200))
    prob, st, offers, eps = _one_phase(instance, 4)
    eps //= 4  # the next phase, as auction() runs it
    auction._level_prices(prob, st, offers)
    auction._bid_rounds(
        prob, st, offers, auction._unplace(st, auction.violations(prob, st, offers, eps)), eps
    )
    spare = (st.holder == auction.NONE) & (st.price > 0)
    most = int(np.bincount(prob.slot_offer[spare]).max())
    assert most >= 100  # the case this is for
    rounds = _rounds(monkeypatch)
    profit = st.profit.copy()
    auction._reverse_rounds(prob, st, offers, eps)
    assert len(rounds) < most // 4
    assert not ((st.holder == auction.NONE) & (st.price > 0)).any()
    assert not len(auction.violations(prob, st, offers, eps))
    assert np.all(st.profit >= profit)
    held = st.holder[st.holder >= 0]
    assert len(np.unique(held)) == len(held)
    assert np.array_equal(np.flatnonzero(st.own >= 0), np.sort(held))
    assert np.array_equal(st.own[held], np.flatnonzero(st.holder >= 0))


def test_kept_best_needs_answer_as_a_scan_of_all_needs_while_needs_only_gain(monkeypatch):
    """Offers with thousands of needs keep their best needs between reverse rounds. While needs
    only gain (as in the reverse rounds: their beta at every offer falls), the kept needs give
    what a scan of all the offer's needs gives: the best needs above eps and the slot's price,
    for one slot and for several, one offer at a time and for many at once."""
    rng = np.random.default_rng(11)
    n, m = 3 * auction.CACHE_MIN, 3
    cost = rng.integers(0, 1_000_000, n * m)
    prob = auction.AuctionProblem(
        indptr=np.arange(0, n * m + 1, m),  # every need may use every offer
        offer=np.tile(np.arange(m), n),
        cost=cost,
        penalty=rng.integers(0, 1_000_000, n),
        slot_start=np.arange(m) * 100,
        n_slots=np.full(m, 100),
    )
    st = auction.initial_state(prob)
    st.profit[:] = -rng.integers(0, 1_500_000, n)
    # one offer at a time, and all at once, each with its own kept needs
    kept, kept_all = auction._BestNeeds(prob, st), auction._BestNeeds(prob, st)
    scans = []
    for k in (kept, kept_all):
        monkeypatch.setattr(k, "_scan", lambda r, real=k._scan: scans.append(r) or real(r))
    starts, _ = prob.by_offer

    def expected(j, w, eps):
        """The best w betas above eps (best first) and the slot's price, from all needs."""
        beta = np.sort(auction._beta(prob, st, slice(starts[j], starts[j + 1])))[::-1]
        top = beta[:w][beta[:w] > eps]
        return top.tolist(), (int(beta[w]) - eps if len(top) == w and beta[w] > eps else 0)

    queries = 0
    for _ in range(300):
        eps = int(rng.integers(1, 200_000))
        for j in range(m):
            w = int(rng.choice([1, 2, 5, 20]))
            top, after = kept.top(j, w, eps)
            got = auction._beta(prob, st, top).tolist()
            assert (got, after - eps if len(top) == w and after > eps else 0) == expected(j, w, eps)
        best, at, second = kept_all.best_two(np.arange(m), eps)
        assert np.array_equal(auction._beta(prob, st, at), best)
        for j in range(m):
            top, price = expected(j, 1, eps)
            if top:
                assert [best[j]] == top and max(0, second[j] - eps) == price
            else:
                assert best[j] <= eps
        queries += 2 * m
        # some needs gain (a move in the reverse rounds), the best ones more often
        gainers = np.unique(np.concatenate((rng.integers(0, n, 20), prob.by_offer_need_cost[0][at])))
        st.profit[gainers] += rng.integers(1, 50_000, len(gainers))
    assert len(scans) < queries // 4  # the kept needs answered most queries


@pytest.mark.parametrize("places", [1, 2, 3, 50])
def test_bids_one_at_a_time_keep_each_offers_two_cheapest_slots(places):
    """A forward bid one at a time raises an offer's cheapest slot; the offer's cheapest slot
    and its two cheapest prices stay those of all its slots (kept in a heap, not partitioned
    again at every bid)."""
    rng = np.random.default_rng(places)
    m = 3
    prob = auction.AuctionProblem(
        indptr=np.zeros(1, dtype=np.int64),
        offer=np.zeros(0, dtype=np.int64),
        cost=np.zeros(0, dtype=np.int64),
        penalty=np.zeros(0, dtype=np.int64),
        slot_start=np.arange(m) * places,
        n_slots=np.full(m, places),
    )
    price = rng.integers(0, 20, m * places)  # ties among prices too
    offers = auction._Offers(prob, price)
    heaps: dict[int, list] = {}
    for _ in range(500):
        j = int(rng.integers(m))
        low = int(offers.low[j])
        s = offers.raise_cheapest(j, low + int(rng.integers(1, 10)), price, heaps)
        assert prob.slot_offer[s] == j
        for o in range(m):
            p = np.sort(price[o * places : (o + 1) * places])
            assert offers.low[o] == p[0] and price[offers.low_slot[o]] == p[0]
            assert places == 1 or offers.second[o] == p[1]
