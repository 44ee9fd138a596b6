"""Eligibility rules, costs and the explanation of every unserved need."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from lifecycle.escalation import EscalationPolicy, escalate
from matching.plan import plan_cycle
from matching.problem import CostModel

PERIOD = (date(2026, 11, 16), date(2026, 11, 22))


def _need(i, item="A", grid="G1", level=0, urgency=1, pref=(None, None)):
    return {
        "need_id": i,
        "grid_id": grid,
        "community_id": "C1",
        "subdistrict_id": "S1",
        "item_code": item,
        "urgency": urgency,
        "submitted_at": datetime(2026, 11, 9),
        "escalation_level": level,
        "cycles_unserved": 0,
        "x_km": 0.0,
        "y_km": 0.0,
        "preferred_start": pref[0],
        "preferred_end": pref[1],
    }


def _offer(
    o,
    item="A",
    level="grid",
    area="G1",
    cap=1,
    unit=None,
    x=0.5,
    window=(date(2026, 11, 1), date(2026, 12, 31)),
    rating=None,
):
    return {
        "offer_id": o,
        "unit_id": unit or f"U{o}",
        "item_code": item,
        "capacity": cap,
        "area_level": level,
        "area_id": area,
        "window_start": window[0],
        "window_end": window[1],
        "x_km": x,
        "y_km": 0.0,
        "rating": rating,
        "area_subdistrict_id": "S1",
    }


def _plan(needs, offers, declined=None):
    declined = declined if declined is not None else pd.DataFrame(columns=["need_id", "unit_id"])
    return plan_cycle(pd.DataFrame(needs), pd.DataFrame(offers), declined, PERIOD, CostModel())


def test_each_rule_explains_an_unserved_need():
    needs = [
        _need(1, item="NOPE"),  # no offer of the item anywhere
        _need(2, item="B"),  # only another community's offer: out of reach below the subdistrict desk
        _need(3, item="C"),  # window does not fit
        _need(4, item="D"),  # the only unit declined it
        _need(5, item="E"),  # too far: costs more than waiting
        _need(6, item="A", urgency=1),
        _need(7, item="A", urgency=3),  # one slot: the urgent one wins
    ]
    offers = [
        _offer("b", item="B", level="community", area="C2"),
        _offer("c", item="C", window=(date(2027, 1, 1), date(2027, 2, 1))),
        _offer("d", item="D", unit="UD"),
        _offer("e", item="E", x=500.0),
        _offer("a", item="A"),
    ]
    plan = _plan(needs, offers, pd.DataFrame({"need_id": [4], "unit_id": ["UD"]}))
    reasons = dict(zip(plan.unserved["need_id"], plan.unserved["reason"], strict=True))
    assert reasons == {
        1: "no_offer_for_item",
        2: "no_offer_in_scope",
        3: "time_window",
        4: "declined",
        5: "cost_above_penalty",
        6: "capacity_taken",
    }
    assert plan.chosen["need_id"].tolist() == [7]
    assert all(plan.unserved["detail"].str.len() > 5)


def test_fresh_need_is_eligible_at_every_covering_level_with_local_preference_in_the_cost():
    """From its first cycle a need sees its grid's, its community's and its subdistrict's offers;
    the local one is cheaper (scope cost 0 / 1 / 2), another community's is out of reach."""
    offers = [
        _offer("g", item="B", level="grid", area="G1"),
        _offer("c", item="B", level="community", area="C1", rating=4.5),
        _offer("s", item="B", level="subdistrict", area="S1"),
        _offer("n", item="B", level="community", area="C2"),
        _offer("x", item="B", level="grid", area="G9"),
    ]
    plan = _plan([_need(1, item="B", level=0)], offers)
    edges = plan.problem.breakdown().set_index(plan.problem.edges["offer_id"].astype(str))
    assert sorted(edges.index) == ["c", "g", "s"]
    assert edges["cost_scope"].to_dict() == {"c": 1.0, "g": 0.0, "s": 2.0}
    assert edges.loc["c", "cost_rating"] == -0.75
    assert (edges["cost"] == edges["cost_distance"] + edges["cost_scope"] + edges["cost_rating"]).all()
    row = plan.chosen.iloc[0]
    assert row["offer_id"] == "g"  # equal distance: the grid's own offer wins (small matters stay local)


def test_escalation_to_the_subdistrict_desk_raises_priority_and_reaches_other_communities():
    offers = [_offer("n", item="B", level="community", area="C2")]
    at_grid = _plan([_need(1, item="B", level=0)], offers)
    assert at_grid.unserved["reason"].tolist() == ["no_offer_in_scope"]
    # nothing in reach: it moves up at once, with its reason
    esc = at_grid.escalation.set_index("need_id")
    assert bool(esc.loc[1, "escalated"]) and esc.loc[1, "escalation_level"] == 2
    assert esc.loc[1, "why"] == "nothing_in_scope" and "街道" in esc.loc[1, "detail"]
    at_sub = _plan([_need(1, item="B", level=2)], offers)
    assert at_sub.chosen["offer_id"].tolist() == ["n"]
    assert at_sub.chosen["cost_scope"].tolist() == [3.0]  # another community's offer, dearer than local
    assert at_sub.problem.penalty.loc[1] == 2 * at_grid.problem.penalty.loc[1]  # priority x(1 + 0.5*2)


def test_preferred_dates_outside_the_offer_window_exclude_it():
    plan = _plan([_need(1, pref=(date(2027, 3, 1), date(2027, 3, 5)))], [_offer("a")])
    assert plan.unserved["reason"].tolist() == ["time_window"]


def test_escalation_waits_its_deadline_by_urgency_and_stops_at_the_cap():
    needs = pd.DataFrame(
        [
            {**_need(1, level=0, urgency=1), "cause": "capacity_taken"},  # 1st cycle: waits
            {**_need(2, level=0, urgency=1), "cause": "capacity_taken", "cycles_unserved": 1},  # 2nd: up
            {**_need(3, level=0, urgency=3), "cause": "capacity_taken"},  # urgent: up after one
            {**_need(4, level=2, urgency=3), "cause": "no_offer_in_scope"},  # at the cap: stays
            {**_need(5, level=1, urgency=1), "cause": "followup_not_done"},  # follow-up "not done"
            {**_need(6, level=0, urgency=1), "cause": "no_offer_in_scope"},  # nothing in reach: 街道统筹
        ]
    )
    out = escalate(needs, EscalationPolicy()).set_index("need_id")
    assert out["escalated"].tolist() == [False, True, True, False, True, True]
    assert out["escalation_level"].tolist() == [0, 1, 1, 2, 2, 2]
    assert out["from_level"].tolist() == [0, 0, 0, 2, 1, 0]
    assert out["cycles_unserved"].tolist() == [1, 0, 0, 1, 0, 0]
    assert out.loc[2, "why"] == "waited_past_deadline" and out.loc[5, "why"] == "followup_not_done"
    assert pd.isna(out.loc[1, "detail"])


def test_fairness_report_per_community_and_grid():
    plan = _plan([_need(1), _need(2, grid="G2")], [_offer("a")])
    f = plan.fairness.set_index(["level", "area_id"])
    assert f.loc[("community", "C1"), "share_served"] == 0.5
    assert f.loc[("grid", "G1"), "served"] == 1 and f.loc[("grid", "G2"), "served"] == 0


@pytest.mark.parametrize("threads", [1, 3])
def test_the_costs_of_the_build_are_the_costs_of_the_breakdown_to_the_last_bit(threads, monkeypatch):
    # the build prices tens of millions of pairs in cache-sized chunks shared by threads; the
    # breakdown of a chosen pair must give the very same number (chunk and thread edges
    # included), both equal to the same arithmetic done on whole arrays
    import numpy as np

    from matching import problem
    from matching.problem import CostParts

    monkeypatch.setattr(problem, "price_threads", lambda: threads)

    rng = np.random.default_rng(7)
    n, m, e = 50, 40, 1_000
    for per_km in (1.0, 0.7):
        parts = CostParts(
            rng.random(n) * 30,
            rng.random(n) * 30,
            rng.random(m) * 30,
            rng.random(m) * 30,
            np.round(rng.normal(0, 2, m), 4),
            rng.integers(0, 4, e).astype(np.int8),
            np.array([0.0, 1.0, 2.0, 3.0]),
            per_km,
        )
        pn, po = rng.integers(0, n, e), rng.integers(0, m, e)
        dist = np.hypot(parts.need_x[pn] - parts.offer_x[po], parts.need_y[pn] - parts.offer_y[po])
        km_cost = np.round(per_km * dist, 4)
        expected = np.round(km_cost + parts.scope_cost[parts.scope] + parts.offer_rating_cost[po], 4)
        whole = parts.of(pn, po, parts.scope)
        assert np.array_equal(whole["cost"], expected)
        assert np.array_equal(whole["cost_distance"], km_cost)
        assert np.array_equal(whole["distance_km"], np.round(dist, 3))
        assert np.array_equal(parts.of(pn, po, parts.scope, step=64)["cost"], expected)
        assert np.array_equal(parts.of(pn, po, parts.scope, detail=False, step=64)["cost"], expected)


def test_the_problem_is_the_same_whatever_order_the_needs_and_offers_come_in():
    # the store reads both in id order and the build then skips its rank lookups; any other
    # order must give the same pairs, costs and funnel
    import numpy as np

    from matching.problem import build_problem

    rng = np.random.default_rng(3)
    grids = ["G1", "G2", "G3"]
    needs = pd.DataFrame(
        [_need(i, item="AB"[i % 2], grid=grids[i % 3], level=i % 3, urgency=1 + i % 3) for i in range(60)]
    )
    needs["x_km"] = rng.random(60) * 5
    offers = pd.DataFrame(
        [
            _offer(
                f"O{k:02d}", item="AB"[k % 2], level=("grid", "community")[k % 2], area=grids[k % 3], x=k / 7
            )
            for k in range(25)
        ]
    )
    offers.loc[offers["area_level"] == "community", "area_id"] = "C1"
    declined = pd.DataFrame({"need_id": [0, 5], "unit_id": ["U00", "U01"]})

    def pairs(n: pd.DataFrame, o: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        p = build_problem(n, o, PERIOD, CostModel(), declined)
        edges = p.edges.astype({"need_id": int, "offer_id": str}).reset_index(drop=True)
        return edges, p.funnel.sort_index()

    in_order, funnel = pairs(needs, offers)
    assert len(in_order) > 100 and in_order["cost"].nunique() > 10
    for seed in (1, 2):
        shuffled, shuffled_funnel = pairs(
            needs.sample(frac=1, random_state=seed), offers.sample(frac=1, random_state=seed)
        )
        pd.testing.assert_frame_equal(shuffled, in_order)
        pd.testing.assert_frame_equal(shuffled_funnel, funnel)


@pytest.mark.parametrize("table_cells", [1 << 22, 0])
def test_the_window_rule_decides_each_pair_as_its_dates_say(table_cells, monkeypatch):
    # the build decides the rule once per (preferred dates, offer window) combination and looks
    # each pair up; with no room for the table, pair by pair. Both must be the rule itself: the
    # offer's window overlaps the cycle and the need's preferred dates, each end only where given
    import numpy as np

    from matching import problem

    monkeypatch.setattr(problem, "WINDOW_TABLE_CELLS", table_cells)
    rng = np.random.default_rng(11)
    n, m, e = 300, 200, 5_000
    period = (20_000.0, 20_006.0)

    def days(size: int, missing: float) -> np.ndarray:
        d = rng.integers(19_990, 20_020, size).astype(float)
        d[rng.random(size) < missing] = np.nan
        return d

    w_start = days(m, 0.02)
    w_end = w_start + rng.integers(-2, 25, m)  # some windows end before they start
    pref_s, pref_e = days(n, 0.5), days(n, 0.5)
    pn, po = rng.integers(0, n, e), rng.integers(0, m, e)
    expected = np.array(
        [
            w_start[o] <= period[1]
            and w_end[o] >= period[0]
            and (np.isnan(pref_s[k]) or w_end[o] >= pref_s[k])
            and (np.isnan(pref_e[k]) or w_start[o] <= pref_e[k])
            for k, o in zip(pn, po, strict=True)
        ]
    )
    assert 0 < expected.sum() < e
    got = problem._window_fits(pn, po, (w_start, w_end), (pref_s, pref_e), period)
    assert got is not None and np.array_equal(got, expected)
    # every pair fits: no per-pair answer at all
    fit = np.flatnonzero(expected)
    assert problem._window_fits(pn[fit], po[fit], (w_start, w_end), (pref_s, pref_e), period) is None


def test_pricing_refuses_a_pair_outside_the_needs_and_offers():
    # the pricing gathers clip for speed; a position out of range must still be an error
    import numpy as np

    from matching.problem import CostParts

    parts = CostParts(
        np.zeros(3),
        np.zeros(3),
        np.zeros(2),
        np.zeros(2),
        np.zeros(2),
        np.zeros(4, np.int8),
        np.zeros(4),
        1.0,
    )
    ok = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 0])
    assert len(parts.of(*ok, np.zeros(4, np.int8))["cost"]) == 4
    for pn, po, scope in (
        (np.array([0, 1, 3, 2]), ok[1], np.zeros(4, np.int8)),
        (ok[0], np.array([0, -1, 1, 0]), np.zeros(4, np.int8)),
        (ok[0], ok[1], np.array([0, 4, 0, 0], np.int8)),
        (ok[0], ok[1], np.zeros(3, np.int8)),
    ):
        with pytest.raises(IndexError):
            parts.of(pn, po, scope)


@pytest.mark.parametrize("sizes", [(500, 300), (1 << 40, 1 << 30)])  # one 64-bit key; too wide for one
def test_the_pairs_come_out_in_rank_order_with_their_scope(sizes):
    # the build sorts one key per pair made of (need rank, offer rank, scope); the level joins hand
    # in sorted runs, some pairs are removed by the window and decline rules
    import numpy as np

    from matching.problem import _in_id_order

    rng = np.random.default_rng(5)
    flat = rng.choice(500 * 300, 6_000, replace=False)
    runs = np.array_split(rng.permutation(flat), 3)  # three levels, each sorted by itself
    rn = np.concatenate([np.sort(r) // 300 for r in runs]).astype(np.int32)
    ro = np.concatenate([np.sort(r) % 300 for r in runs]).astype(np.int32)
    scope = np.repeat(np.arange(3, dtype=np.int8), [len(r) for r in runs])
    keep = rng.random(len(rn)) < 0.8
    for kept in (None, keep):
        at = np.arange(len(rn)) if kept is None else np.flatnonzero(kept)
        order = at[np.lexsort((ro[at], rn[at]))]
        got_n, got_o, got_s = _in_id_order(rn.copy(), ro.copy(), scope.copy(), kept, sizes, step=1_000)
        assert got_n.dtype == rn.dtype and got_o.dtype == ro.dtype and got_s.dtype == np.int8
        assert np.array_equal(got_n, rn[order])
        assert np.array_equal(got_o, ro[order])
        assert np.array_equal(got_s, scope[order])


def test_each_pair_names_its_unit_whether_the_offers_are_the_problems_rows_or_another_order():
    # the plan gathers each pair's unit by the solver's offer position when handed the frame the
    # problem was built from (checked id by id), and joins on the offer id otherwise
    from matching.plan import explain_plan
    from matching.problem import build_problem
    from matching.solver import solve_assignment

    needs = pd.DataFrame([_need(i, item="AB"[i % 2]) for i in range(12)])
    offers = pd.DataFrame([_offer(f"O{k}", item="AB"[k % 2], cap=2, unit=f"U{k % 3}") for k in range(6)])
    declined = pd.DataFrame(columns=["need_id", "unit_id"])
    problem = build_problem(needs, offers, PERIOD, CostModel(), declined)
    solution = solve_assignment(**problem.solver_inputs())

    def chosen(o: pd.DataFrame) -> pd.DataFrame:
        return explain_plan(needs, o, PERIOD, problem, solution, CostModel()).chosen

    own = chosen(offers)
    assert len(own) == 12
    unit_of = dict(zip(offers["offer_id"], offers["unit_id"], strict=True))
    assert own["unit_id"].tolist() == [unit_of[o] for o in own["offer_id"]]
    pd.testing.assert_frame_equal(chosen(offers.sample(frac=1, random_state=1)), own)
    pd.testing.assert_frame_equal(chosen(offers.set_axis(range(100, 106))), own)
