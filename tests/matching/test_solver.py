"""The exact solver: input rules, empty shapes, brute force and a second exact method."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from benchmarks.oracle import solve_oracle
from matching import solve_assignment
from matching import solver as solver_module
from matching.baselines import solve_greedy, solve_lp
from matching.instances import random_instance
from tests.strategies import small_instances


def _ok():
    edges = pd.DataFrame({"need_id": [1, 1, 2], "offer_id": ["a", "b", "a"], "cost": [1.0, 2.0, 3.0]})
    return edges, pd.Series({"a": 1, "b": 1}), pd.Series({1: 10.0, 2: 10.0})


def test_solve_assignment_input_nan():
    e, c, p = _ok()
    e.loc[0, "cost"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        solve_assignment(e, c, p)


def test_solve_assignment_input_inf():
    e, c, p = _ok()
    e.loc[1, "cost"] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        solve_assignment(e, c, p)


def test_solve_assignment_input_negative_capacity():
    e, c, p = _ok()
    c["a"] = -1
    with pytest.raises(ValueError, match="capacity is negative"):
        solve_assignment(e, c, p)


def test_solve_assignment_input_negative_penalty():
    e, c, p = _ok()
    p[2] = -1.0
    with pytest.raises(ValueError, match="penalty is negative"):
        solve_assignment(e, c, p)


def test_solve_assignment_input_unknown_need():
    e, c, p = _ok()
    e.loc[2, "need_id"] = 99
    with pytest.raises(ValueError, match="no penalty: \\[99\\]"):
        solve_assignment(e, c, p)


def test_solve_assignment_input_unknown_offer():
    e, c, p = _ok()
    e.loc[2, "offer_id"] = "zz"
    with pytest.raises(ValueError, match="no capacity: \\['zz'\\]"):
        solve_assignment(e, c, p)


def test_solve_assignment_input_duplicate_pair():
    e, c, p = _ok()
    e = pd.concat([e, e.iloc[[0]]])
    with pytest.raises(ValueError, match="duplicate"):
        solve_assignment(e, c, p)


def test_solve_assignment_input_missing_column():
    e, c, p = _ok()
    with pytest.raises(ValueError, match="missing column"):
        solve_assignment(e.drop(columns="cost"), c, p)


def test_solve_assignment_input_fractional_capacity():
    e, c, p = _ok()
    c = c.astype(float)
    c["a"] = 1.5
    with pytest.raises(ValueError, match="whole numbers"):
        solve_assignment(e, c, p)


def test_solve_assignment_empty():
    a = solve_assignment(
        pd.DataFrame({"need_id": [], "offer_id": [], "cost": []}),
        pd.Series(dtype="int64"),
        pd.Series(dtype=float),
    )
    assert a.pairs.empty and a.unserved.empty and a.objective == 0.0


def test_solve_assignment_needs_without_edges_are_unserved():
    a = solve_assignment(
        pd.DataFrame({"need_id": [], "offer_id": [], "cost": []}),
        pd.Series({"a": 3}),
        pd.Series({1: 2.5, 2: 4.0}),
    )
    assert list(a.unserved) == [1, 2] and a.objective == 6.5


def test_solve_assignment_zero_cost_edges_are_kept():
    # scipy drops explicit zeros; the solver shifts weights so a zero-cost pair still counts
    e = pd.DataFrame({"need_id": [1, 2], "offer_id": ["a", "a"], "cost": [0.0, 0.0]})
    a = solve_assignment(e, pd.Series({"a": 2}), pd.Series({1: 1.0, 2: 1.0}))
    assert len(a.pairs) == 2 and a.objective == 0.0


def test_solve_assignment_prefers_urgent_need_when_capacity_is_short():
    e = pd.DataFrame({"need_id": [1, 2], "offer_id": ["a", "a"], "cost": [1.0, 1.0]})
    a = solve_assignment(e, pd.Series({"a": 1}), pd.Series({1: 5.0, 2: 50.0}))
    assert a.pairs["need_id"].tolist() == [2] and list(a.unserved) == [1]


def _brute_force(edges, capacity, penalty):
    by_need = {i: [] for i in penalty.index}
    for r in edges.itertuples():
        by_need[r.need_id].append((r.offer_id, r.cost))
    needs = list(penalty.index)
    best = [float("inf")]

    def go(k, left, total):  # exhaustive: no pruning, costs may be negative
        if k == len(needs):
            best[0] = min(best[0], total)
            return
        i = needs[k]
        go(k + 1, left, total + penalty[i])
        for o, c in by_need[i]:
            if left[o] > 0:
                left[o] -= 1
                go(k + 1, left, total + c)
                left[o] += 1

    go(0, capacity.to_dict(), 0.0)
    return best[0]


@settings(max_examples=300, deadline=None)
@given(small_instances())
def test_solve_assignment_matches_brute_force(inst):
    edges, capacity, penalty = inst
    a = solve_assignment(edges, capacity, penalty)
    assert a.objective == pytest.approx(_brute_force(edges, capacity, penalty), abs=1e-9)
    # the solution is feasible and its objective is what it says
    load = a.pairs["offer_id"].value_counts()
    assert (load <= capacity.reindex(load.index)).all()
    assert set(a.pairs["need_id"]).isdisjoint(a.unserved)
    assert set(a.pairs["need_id"]) | set(a.unserved) == set(penalty.index)
    assert a.objective == pytest.approx(a.pairs["cost"].sum() + penalty[a.unserved].sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solve_assignment_matches_highs_lp(seed):
    edges, cap, pen = random_instance(1500, 400, seed=seed)
    exact = solve_assignment(edges, cap, pen)
    lp = solve_lp(edges, cap, pen)
    assert exact.objective == pytest.approx(lp.objective, rel=1e-9)
    assert solve_greedy(edges, cap, pen).objective >= exact.objective - 1e-6


def test_solve_assignment_is_deterministic_and_order_independent():
    edges, cap, pen = random_instance(3000, 700, seed=5)
    a = solve_assignment(edges, cap, pen)
    shuffled = edges.sample(frac=1.0, random_state=3)
    b = solve_assignment(shuffled, cap, pen)
    c = solve_assignment(edges, cap, pen)
    pd.testing.assert_frame_equal(a.pairs, c.pairs)
    assert a.objective == pytest.approx(b.objective)
    pd.testing.assert_index_equal(a.unserved, c.unserved)


def test_solve_assignment_process_pool_gives_the_serial_result(monkeypatch):
    edges, cap, pen = random_instance(4000, 800, seed=9)
    serial = solve_assignment(edges, cap, pen, workers=1)
    monkeypatch.setattr(solver_module, "PARALLEL_MIN_SLOT_EDGES", 1)
    parallel = solve_assignment(edges, cap, pen, workers=2)
    pd.testing.assert_frame_equal(serial.pairs, parallel.pairs)
    assert serial.objective == parallel.objective


@settings(max_examples=200, deadline=None)
@given(small_instances(max_needs=6, max_offers=3))
def test_matching_with_one_unserved_slot_per_penalty_group_matches_brute_force(inst):
    # the matching first offers each group of needs sharing a penalty only a few "unserved"
    # slots; with one, nearly every instance with two unserved needs of a penalty must widen it
    edges, capacity, penalty = inst
    penalty = penalty // 10  # few distinct penalties: groups of several needs
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(solver_module, "UNSERVED_SLOTS", 1)
        a = solve_assignment(edges, capacity, penalty, method="matching")
    assert a.objective == pytest.approx(_brute_force(edges, capacity, penalty), abs=1e-9)
    load = a.pairs["offer_id"].value_counts()
    assert (load <= capacity.reindex(load.index)).all()


def test_matching_widens_an_unserved_group_that_fills_its_slots(monkeypatch):
    # 60 needs (penalty 5) want one offer of capacity 1; 60 others (penalty 7) have 60 offers of
    # capacity 60 each, one of them also "a": one component whose capacity looks ample, so group
    # 5 starts with too few unserved slots to place its needs, and is solved again with more
    crowded = pd.DataFrame({"need_id": range(60), "offer_id": "a", "cost": 1.0})
    ample = pd.DataFrame(
        [(60 + i, f"b{j}", 2.0 + (i + j) % 3) for i in range(60) for j in range(60)] + [(60, "a", 6.5)],
        columns=["need_id", "offer_id", "cost"],
    )
    edges = pd.concat([crowded, ample], ignore_index=True)
    capacity = pd.Series({"a": 1, **{f"b{j}": 60 for j in range(60)}})
    penalty = pd.Series([5.0] * 60 + [7.0] * 60, index=range(120))
    assert len(solver_module.prepare_blocks(edges, capacity, penalty).blocks) == 1
    calls = []
    scipy_matching = solver_module.min_weight_full_bipartite_matching
    monkeypatch.setattr(
        solver_module,
        "min_weight_full_bipartite_matching",
        lambda g: calls.append(g.shape) or scipy_matching(g),
    )
    a = solve_assignment(edges, capacity, penalty, method="matching")
    assert len(calls) == 2 and calls[1][1] > calls[0][1]  # widened once
    assert len(a.unserved) == 59 and set(a.unserved) <= set(range(60))
    assert a.objective == pytest.approx(solve_lp(edges, capacity, penalty).objective)
    assert a.objective == pytest.approx(1.0 + 59 * 5.0 + 60 * 2.0)


def _hotline_instance(seed: int, whole_numbers: bool):
    """A district of 8 items whose needs may all call one hotline (offer 90) of little capacity:
    one component held together by the hotline; whole-number costs make ties everywhere."""
    rng = np.random.default_rng(seed)
    edges, cap, pen = random_instance(
        int(rng.integers(150, 400)),
        90,
        seed=seed,
        items=8,
        degree=(1, 6),
        capacity=(1, 4),
        hotline=int(rng.integers(5, 60)),
    )
    if whole_numbers:
        edges["cost"] = np.round(edges["cost"])
        pen = pen.round()
    return edges, cap, pen


@pytest.mark.parametrize("final_needs", [0, 40, 10_000])
@pytest.mark.parametrize("seed", range(5))
def test_a_component_held_by_one_hotline_is_solved_by_pricing_it(monkeypatch, seed, final_needs):
    # final_needs 0: the price search runs until no part changes or the costs' grid is exhausted;
    # 10,000: the parts go straight to the joint exact solve with the hotline
    # small enough to check against OR-Tools: the hub thresholds are lowered to reach it
    monkeypatch.setattr(solver_module, "HUB_MIN_NEEDS", 20)
    monkeypatch.setattr(solver_module, "HUB_ROUNDS", 1)
    monkeypatch.setattr(solver_module, "HUB_FINAL_NEEDS", final_needs)
    edges, cap, pen = _hotline_instance(seed, whole_numbers=seed % 2 == 0)
    prepared = solver_module.prepare_blocks(edges, cap, pen)
    hubs = [(b, solver_module.find_hub(b)) for b in prepared.blocks]
    assert [b.offers[h[0]] for b, h in hubs if h] == [90]  # the hotline, in the block it holds
    a = solve_assignment(edges, cap, pen, workers=1)
    assert a.objective == pytest.approx(solve_oracle(edges, cap, pen, prepared).objective, abs=1e-9)
    load = a.pairs["offer_id"].value_counts()
    assert (load <= cap.reindex(load.index)).all()
    assert set(a.pairs["need_id"]) | set(a.unserved) == set(pen.index)
    assert a.objective == pytest.approx(a.pairs["cost"].sum() + pen[a.unserved].sum())


@pytest.mark.parametrize("seed", range(3))
def test_hotline_pricing_with_costs_of_many_decimals_matches_highs(monkeypatch, seed):
    # no whole-number grid for the hotline's price: it is bisected in floating point
    monkeypatch.setattr(solver_module, "HUB_MIN_NEEDS", 20)
    monkeypatch.setattr(solver_module, "HUB_ROUNDS", 1)
    monkeypatch.setattr(solver_module, "HUB_FINAL_NEEDS", 0)
    edges, cap, pen = _hotline_instance(seed, whole_numbers=False)
    edges["cost"] += np.random.default_rng(seed).random(len(edges)) * 1e-3
    a = solve_assignment(edges, cap, pen, workers=1)
    assert a.objective == pytest.approx(solve_lp(edges, cap, pen).objective, rel=1e-9)


def test_a_city_wide_hotline_is_found_at_the_default_thresholds():
    # 3,000 needs of 30 items, all eligible for one hotline of 150 places: one component, which
    # without the hotline falls into 30 small parts
    edges, cap, pen = random_instance(3000, 600, seed=5, hotline=150)
    prepared = solver_module.prepare_blocks(edges, cap, pen)
    (block,) = prepared.blocks
    hub, parts = solver_module.find_hub(block)
    assert block.offers[hub] == 600 and len(parts) == 30
    a = solve_assignment(edges, cap, pen)
    assert a.objective == pytest.approx(solve_oracle(edges, cap, pen, prepared).objective, abs=1e-9)
    assert (a.pairs["offer_id"] == 600).sum() == 150  # the hotline is worth more than its places
    # a band of needs along one item is no hub's: no offer reaches enough of them
    one = solver_module.prepare_blocks(*random_instance(3000, 600, seed=5, items=1))
    assert all(solver_module.find_hub(b) is None for b in one.blocks)


def test_a_hotline_s_parts_solved_on_a_process_pool_give_the_serial_result(monkeypatch):
    edges, cap, pen = random_instance(3000, 600, seed=6, hotline=100)
    serial = solve_assignment(edges, cap, pen, workers=1)
    monkeypatch.setattr(solver_module, "PARALLEL_MIN_SLOT_EDGES", 1)
    started = []
    real_pool = solver_module.ProcessPoolExecutor
    monkeypatch.setattr(
        solver_module, "ProcessPoolExecutor", lambda **kw: started.append(kw) or real_pool(**kw)
    )
    parallel = solve_assignment(edges, cap, pen, workers=2)
    assert started == [{"max_workers": 2}]  # one pool, for the hotline's parts
    pd.testing.assert_frame_equal(serial.pairs, parallel.pairs)
    assert serial.objective == parallel.objective


def test_prune_outranked_keeps_each_offers_largest_gains_with_ties():
    # one offer of 2 places, five needs gaining 5, 4, 4, 3 and 1 from it (penalty - cost): at most
    # two needs are served, so the needs that two others outgain never are; the tie at 4 stays
    edges = pd.DataFrame({"need_id": range(5), "offer_id": "a", "cost": [1.0, 2.0, 3.0, 4.0, 9.0]})
    cap, pen = pd.Series({"a": 2}), pd.Series([6.0, 6.0, 7.0, 7.0, 10.0])
    (block,) = solver_module.prepare_blocks(edges, cap, pen).blocks
    kept, sub = solver_module.prune_outranked(block)
    np.testing.assert_array_equal(block.needs[kept], [0, 1, 2])
    assert len(sub.cost) == 3 and solver_module.prune_outranked(sub) is None
    a = solve_assignment(edges, cap, pen)
    assert a.objective == pytest.approx(_brute_force(edges, cap, pen))
    # places for every need: nothing to prune
    assert solver_module.prune_outranked(replace(block, capacity=np.array([5]))) is None


def test_a_shortage_pruned_to_its_contenders_keeps_the_optimum():
    # 3,000 needs each eligible for all 20 offers of 30 places: 600 can be served
    rng = np.random.default_rng(3)
    need = np.repeat(np.arange(3_000), 20)
    edges = pd.DataFrame(
        {
            "need_id": need,
            "offer_id": np.tile(np.arange(20), 3_000),
            "cost": rng.integers(0, 1_000, len(need)) / 100,
        }
    )
    cap, pen = pd.Series(30, index=range(20)), pd.Series(rng.integers(1_000, 3_000, 3_000) / 100)
    (block,) = solver_module.prepare_blocks(edges, cap, pen).blocks
    kept, sub = solver_module.prune_outranked(block)
    assert len(sub.cost) < 20 * 700 and len(kept) < 3_000  # each offer keeps its 600 best (and ties)
    oracle = solve_oracle(edges, cap, pen)
    for method in ("auto", "matching"):
        a = solve_assignment(edges, cap, pen, method=method)
        assert a.objective == pytest.approx(oracle.objective, rel=1e-12), method
        assert len(a.pairs) == 600


def test_small_components_are_solved_packed_and_exactly(monkeypatch):
    # a city whose units serve single grids: ~1,400 components of a few needs each
    edges, cap, pen = random_instance(4_000, 2_500, seed=11, items=1_500, degree=(1, 3), capacity=(1, 3))
    prepared = solver_module.prepare_blocks(edges, cap, pen)
    n_needs, n_offers = len(pen), len(cap)
    n_components, labels = solver_module.component_labels(
        prepared.e_need, prepared.e_offer, n_needs, n_offers
    )
    need_label = labels[:n_needs]
    in_blocks = np.concatenate([b.needs for b in prepared.blocks])
    assert len(in_blocks) == len(np.unique(in_blocks))  # no need in two blocks
    packs = 0
    for b in prepared.blocks:
        inside = np.unique(need_label[b.needs])
        # whole components only: every need of each component is in this block
        assert np.isin(need_label, inside).sum() == len(b.needs)
        if len(inside) > 1:
            packs += 1
            assert len(b.needs) < solver_module.PACK_NEEDS + solver_module.PACK_BELOW
            assert np.bincount(need_label[b.needs]).max() < solver_module.PACK_BELOW
    assert packs > 0 and len(prepared.blocks) < n_components / 10
    packed = solve_assignment(edges, cap, pen)
    assert packed.objective == pytest.approx(solve_lp(edges, cap, pen).objective, rel=1e-9)
    monkeypatch.setattr(solver_module, "PACK_BELOW", 0)  # every component its own block
    alone = solve_assignment(edges, cap, pen)
    assert len(solver_module.prepare_blocks(edges, cap, pen).blocks) > len(prepared.blocks)
    assert packed.objective == pytest.approx(alone.objective, rel=1e-12)


@pytest.mark.parametrize(
    ("n_needs", "n_offers", "per_need", "seed"),
    [(2_000, 3_000, 1, 0), (2_000, 500, 2, 1), (5_000, 1_000, 4, 2), (300, 20_000, 3, 3), (1, 1, 1, 4)],
)
def test_component_labels_are_scipys_on_the_whole_graph(n_needs, n_offers, per_need, seed):
    """The sampled two-step components equal scipy's on every edge at once, numbering included:
    many small components, one giant one, offers and needs with no edge at all."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    need = np.repeat(np.arange(n_needs), rng.integers(0, 2 * per_need + 1, n_needs))
    offer = rng.integers(0, n_offers, len(need))
    key = np.unique(need.astype(np.int64) * n_offers + offer)  # sorted by (need, offer), no repeats
    e_need, e_offer = (key // n_offers).astype(np.int32), (key % n_offers).astype(np.int32)
    n = n_needs + n_offers
    graph = coo_array((np.ones(len(key), dtype=np.int8), (e_need, n_needs + e_offer)), shape=(n, n))
    expected = connected_components(graph, directed=False)
    count, labels = solver_module.component_labels(e_need, e_offer, n_needs, n_offers)
    assert count == expected[0]
    np.testing.assert_array_equal(labels, expected[1])


def test_within_tells_whether_every_value_is_at_most_its_runs_limit():
    # the build and prepare_blocks ask this of 20M pairs (runs = needs, limit = penalty) instead
    # of looking each pair's penalty up; it must agree with the lookup, empty runs included
    from matching.solver import within

    rng = np.random.default_rng(5)
    for _ in range(200):
        runs = rng.integers(0, 4, rng.integers(1, 12))
        values = rng.integers(0, 10, int(runs.sum())).astype(float)
        limit = rng.integers(0, 12, len(runs)).astype(float)
        expected = bool((values <= np.repeat(limit, runs)).all())
        assert within(values, runs, limit) is expected
    with pytest.raises(ValueError, match="cover"):
        within(np.zeros(3), np.array([1, 1]), np.zeros(2))


def test_pairs_are_told_sorted_across_the_chunks_they_are_looked_at_in():
    # code_inputs checks a city's 20M pairs chunk by chunk; a pair out of order or repeated at a
    # chunk's edge must be seen as in the middle of one
    from matching.solver import _sorted_pairs

    rng = np.random.default_rng(9)
    for _ in range(300):
        n = int(rng.integers(0, 40))
        a, b = np.sort(rng.integers(0, 6, n)), rng.integers(0, 6, n)
        key = a * 10 + b
        expected = bool((np.diff(key) > 0).all())
        if rng.random() < 0.5:  # often sorted and distinct, so both answers are tested
            key = np.unique(key)
            a, b, expected = key // 10, key % 10, True
        for step in (1, 2, 3, 7, 1 << 20):
            assert _sorted_pairs(a, b, step) is expected


@pytest.mark.parametrize("shape", ["sorted", "filtered", "shuffled", "integer costs"])
def test_each_pair_names_the_input_edge_it_chose(shape):
    # the explanation reads a pair's cost breakdown from the edge row the solver names; the row
    # is told without an index array when the edges come sorted and all stay in, and taken from
    # the sort or the filter otherwise
    from matching.solver import prepare_blocks

    edges, cap, pen = random_instance(2000, 500, seed=11)
    edges = edges.sort_values(["need_id", "offer_id"], ignore_index=True)
    pen = pen + float(edges["cost"].max())  # every pair affordable ...
    if shape == "filtered":  # ... but some dearer than leaving the need unserved, or closed
        edges.loc[edges.index % 7 == 0, "cost"] = pen.max() + 1
        cap = cap.copy()
        cap.iloc[::9] = 0
    elif shape == "shuffled":
        edges = edges.sample(frac=1.0, random_state=4, ignore_index=True)
    elif shape == "integer costs":
        edges["cost"] = (edges["cost"] * 10).round().astype(np.int64)
    result = solve_assignment(edges, cap, pen)
    chosen = edges.iloc[result.edge_rows].reset_index(drop=True)
    assert len(result.pairs) > 0
    assert chosen["need_id"].tolist() == result.pairs["need_id"].tolist()
    assert chosen["offer_id"].tolist() == result.pairs["offer_id"].tolist()
    assert np.array_equal(chosen["cost"].to_numpy(float), result.pairs["cost"].to_numpy(float))
    prepared = prepare_blocks(edges, cap, pen)
    if shape == "sorted":  # a city's 20M float costs are the solver's own, not a copy
        assert prepared.e_row is None
        assert np.shares_memory(prepared.e_cost, edges["cost"].to_numpy())
    else:
        assert prepared.e_row is not None


def _odd_instance(rng: np.random.Generator, costs: str, places: str, penalties: str):
    """An instance of a shape the district generator never draws (see docs/benchmarks.md,
    twentieth session: the same shapes fuzzed at larger sizes)."""
    n, m = int(rng.integers(1, 400)), int(rng.integers(1, 60))
    degree = rng.integers(0, min(m, 8) + 1, size=n)
    need = np.repeat(np.arange(n), degree)
    offer = np.concatenate([rng.choice(m, size=d, replace=False) for d in degree] or [np.array([], int)])
    k = len(need)
    cost = {
        "equal": np.full(k, 3.0),
        "whole": rng.integers(0, 5, k).astype(float),
        "negative": rng.normal(0, 5, k),
        "large": 1e6 + rng.random(k) * 1e-3,
    }[costs]
    capacity = {
        "one": rng.integers(1, 2, m),
        "zero_or_one": rng.integers(0, 2, m),
        "more_than_needs": np.full(m, n + 1),
        "few_large": np.where(rng.random(m) < 0.1, rng.integers(50, 500, m), rng.integers(0, 5, m)),
    }[places]
    penalty = {"above": 20 + rng.random(n) * 30, "below": rng.random(n) * 6, "equal": np.full(n, 5.0)}[
        penalties
    ]
    if costs == "large":
        penalty = penalty + 1e6
    edges = pd.DataFrame({"need_id": need, "offer_id": [f"o{j}" for j in offer], "cost": cost})
    return (
        edges,
        pd.Series(capacity, index=[f"o{j}" for j in range(m)]),
        pd.Series(penalty, index=np.arange(n)),
    )


@pytest.mark.parametrize("costs", ["equal", "whole", "negative", "large"])
@pytest.mark.parametrize("places", ["one", "zero_or_one", "more_than_needs", "few_large"])
@pytest.mark.parametrize("penalties", ["above", "below", "equal"])
def test_odd_shapes_are_solved_exactly_by_every_method(costs, places, penalties):
    rng = np.random.default_rng(zlib.crc32(f"{costs}/{places}/{penalties}".encode()))
    edges, capacity, penalty = _odd_instance(rng, costs, places, penalties)
    lp = solve_lp(edges, capacity, penalty).objective
    for method in ("auto", "auction", "matching"):
        a = solve_assignment(edges, capacity, penalty, workers=1, method=method)
        load = a.pairs["offer_id"].value_counts()
        assert (load <= capacity.reindex(load.index)).all()
        assert set(a.pairs["need_id"]).isdisjoint(a.unserved)
        assert len(a.pairs) + len(a.unserved) == len(penalty)
        assert a.objective == pytest.approx(lp, rel=1e-9, abs=1e-7), method
