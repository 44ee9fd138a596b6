"""Eligibility rules, costs and the explanation of every unserved need."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from matching.explain import escalate
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
    }


def _plan(needs, offers, declined=None):
    declined = declined if declined is not None else pd.DataFrame(columns=["need_id", "unit_id"])
    return plan_cycle(pd.DataFrame(needs), pd.DataFrame(offers), declined, PERIOD, CostModel())


def test_each_rule_explains_an_unserved_need():
    needs = [
        _need(1, item="NOPE"),  # no offer of the item anywhere
        _need(2, item="B"),  # only a community-wide offer, still at grid level
        _need(3, item="C"),  # window does not fit
        _need(4, item="D"),  # the only unit declined it
        _need(5, item="E"),  # too far: costs more than waiting
        _need(6, item="A", urgency=1),
        _need(7, item="A", urgency=3),  # one slot: the urgent one wins
    ]
    offers = [
        _offer("b", item="B", level="community", area="C1"),
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


def test_escalated_need_sees_community_offers_and_costs_keep_their_breakdown():
    plan = _plan(
        [_need(1, item="B", level=1)], [_offer("b", item="B", level="community", area="C1", rating=5.0)]
    )
    row = plan.chosen.iloc[0]
    assert row["offer_id"] == "b" and row["cost_scope"] == 1.0 and row["cost_rating"] == -1.5
    assert row["cost"] == row["cost_distance"] + row["cost_scope"] + row["cost_rating"]


def test_preferred_dates_outside_the_offer_window_exclude_it():
    plan = _plan([_need(1, pref=(date(2027, 3, 1), date(2027, 3, 5)))], [_offer("a")])
    assert plan.unserved["reason"].tolist() == ["time_window"]


def test_escalation_after_configured_cycles_and_top_level_stays():
    needs = pd.DataFrame([_need(1, level=0), _need(2, level=2)])
    needs.loc[0, "cycles_unserved"] = 1
    out = escalate(needs, pd.Index([1, 2]), CostModel(escalate_after_cycles=2)).set_index("need_id")
    assert (out.loc[1, "escalation_level"], out.loc[1, "cycles_unserved"], out.loc[1, "escalated"]) == (
        1,
        0,
        True,
    )
    assert (out.loc[2, "escalation_level"], out.loc[2, "escalated"]) == (2, False)


def test_fairness_report_per_community_and_grid():
    plan = _plan([_need(1), _need(2, grid="G2")], [_offer("a")])
    f = plan.fairness.set_index(["level", "area_id"])
    assert f.loc[("community", "C1"), "share_served"] == 0.5
    assert f.loc[("grid", "G1"), "served"] == 1 and f.loc[("grid", "G2"), "served"] == 0
