"""The capacity-gap report: its lines, the value of a slot, and a prediction that holds on re-solve."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from matching.gaps import build_gap_report, resolve_with_slots
from matching.plan import plan_cycle
from matching.problem import CostModel
from sample.joint_meeting import simulate_joint_meeting

PERIOD = (date(2026, 11, 16), date(2026, 11, 22))
COMMUNITIES = pd.DataFrame(
    [
        {"community_id": "C1", "name": "和平社区", "subdistrict_id": "S1", "x_km": 0.0, "y_km": 0.0},
        {"community_id": "C2", "name": "东湖社区", "subdistrict_id": "S1", "x_km": 3.0, "y_km": 0.0},
    ]
)
ITEMS = pd.DataFrame(
    [
        {"item_code": "A", "item_name": "助餐送餐", "category_code": "ELDER"},
        {"item_code": "B", "item_name": "水管维修", "category_code": "REPAIR"},
    ]
)
UNITS = pd.DataFrame(
    [
        {
            "unit_id": "U1",
            "name": "和平社工站",
            "kind": "social_org",
            "community_id": "C1",
            "x_km": 0.2,
            "y_km": 0.0,
        },
        {
            "unit_id": "U2",
            "name": "东湖物业",
            "kind": "company",
            "community_id": "C2",
            "x_km": 3.1,
            "y_km": 0.0,
        },
        {
            "unit_id": "U3",
            "name": "和平志愿队",
            "kind": "volunteers",
            "community_id": "C1",
            "x_km": 0.1,
            "y_km": 0.1,
        },
    ]
)
UNITS["fits"] = [["A"], ["A", "B"], ["A", "B"]]


def _need(i, item, community="C1", urgency=1):
    return {
        "need_id": i,
        "grid_id": f"{community}-G1",
        "community_id": community,
        "subdistrict_id": "S1",
        "item_code": item,
        "urgency": urgency,
        "submitted_at": datetime(2026, 11, 12),
        "escalation_level": 0,
        "cycles_unserved": 0,
        "x_km": 0.0 if community == "C1" else 3.0,
        "y_km": 0.0,
        "preferred_start": None,
        "preferred_end": None,
    }


def _offer(o, item, cap, community="C1", unit="U1"):
    return {
        "offer_id": o,
        "unit_id": unit,
        "item_code": item,
        "capacity": cap,
        "area_level": "community",
        "area_id": community,
        "window_start": date(2026, 11, 1),
        "window_end": date(2027, 1, 31),
        "x_km": 0.2 if community == "C1" else 3.1,
        "y_km": 0.0,
        "rating": None,
        "area_subdistrict_id": "S1",
    }


def _inputs():
    # C1 asks for 5 x A (2 slots there) and 2 x B (no B offer anywhere); C2 asks 1 x A (own offer)
    needs = pd.DataFrame(
        [_need(i, "A", urgency=2 if i == 1 else 1) for i in range(1, 6)]
        + [_need(6, "B"), _need(7, "B")]
        + [_need(8, "A", community="C2")]
    )
    offers = pd.DataFrame([_offer("a1", "A", 2), _offer("a2", "A", 1, community="C2", unit="U2")])
    return needs, offers, pd.DataFrame(columns=["need_id", "unit_id"])


def test_gap_lines_split_lack_of_offer_from_lack_of_capacity_and_rank_by_needs_served():
    needs, offers, declined = _inputs()
    report = build_gap_report(needs, offers, declined, PERIOD, COMMUNITIES, UNITS, ITEMS)
    lines = report.lines.set_index(["community_id", "item_code"])
    assert report.served + report.unserved == len(needs)
    assert (lines.loc[("C1", "A"), "unserved_no_capacity"], lines.loc[("C1", "A"), "unserved_no_offer"]) == (
        3,
        0,
    )
    assert (lines.loc[("C1", "B"), "unserved_no_offer"], lines.loc[("C1", "B"), "unserved_no_capacity"]) == (
        2,
        0,
    )
    assert lines.loc[("C1", "A"), "urgent_unserved"] == 0  # the urgent one got a slot
    assert report.lines["rank"].tolist() == list(range(1, len(report.lines) + 1))
    assert report.lines["predicted_served"].is_monotonic_decreasing
    top = report.lines.iloc[0]
    assert "每周增加" in top["recommendation"] and top["item_name"] in top["recommendation"]
    # units already offering the item nearby, and units of a fitting trade that could claim it
    assert "和平社工站" in lines.loc[("C1", "A"), "nearby_units"]
    assert (
        "U3" in lines.loc[("C1", "B"), "candidate_units"]
        and "U1" not in lines.loc[("C1", "B"), "candidate_units"]
    )
    # one more slot is worth the penalty it saves, less the pairing's cost
    assert lines.loc[("C1", "A"), "slot_value"] > 0


def test_adding_the_recommended_slots_serves_at_least_the_predicted_needs_on_an_exact_resolve():
    needs, offers, declined = _inputs()
    model = CostModel()
    report = build_gap_report(needs, offers, declined, PERIOD, COMMUNITIES, UNITS, ITEMS, model=model)
    before = plan_cycle(needs, offers, declined, PERIOD, model)
    added = []
    for k, line in enumerate(report.lines.itertuples()):
        c = COMMUNITIES.set_index("community_id").loc[line.community_id]
        added.append(
            {
                **_offer(f"new{k}", line.item_code, line.recommended_slots, community=line.community_id),
                "x_km": c["x_km"],
                "y_km": c["y_km"],
            }
        )
        # each line alone: the whole problem re-solved exactly with its slots added
        after = plan_cycle(needs, pd.concat([offers, pd.DataFrame([added[-1]])]), declined, PERIOD, model)
        assert len(after.chosen) >= len(before.chosen) + line.predicted_served
    assert report.lines["predicted_served"].sum() == 5  # 3 x A and 2 x B in C1


def test_resolve_with_zero_slots_is_the_item_optimum():
    needs, offers, declined = _inputs()
    served, objective = resolve_with_slots(
        needs, offers, declined, PERIOD, CostModel(), "A", COMMUNITIES.iloc[0], 0
    )
    assert served == 3
    full = plan_cycle(needs[needs["item_code"] == "A"], offers, declined, PERIOD, CostModel())
    assert objective == full.solution.objective


def test_joint_meeting_claims_only_recommended_lines_by_units_whose_trade_fits(tmp_path):
    needs, offers, declined = _inputs()
    lines = build_gap_report(needs, offers, declined, PERIOD, COMMUNITIES, UNITS, ITEMS).lines
    fits = {"social_org": {"A"}, "company": {"A", "B"}, "volunteers": {"A", "B"}}
    out = tmp_path / "claims.json"
    counts = simulate_joint_meeting(
        lines.to_dict("records"), UNITS, fits, out, date(2027, 1, 1), seed=3, claim_share=1.0
    )
    import json

    claims = json.loads(out.read_text(encoding="utf-8"))["offers"]
    assert counts["claimed"] == len(claims) == 2
    kinds = UNITS.set_index("unit_id")["kind"]
    for c in claims:
        line = lines[(lines["community_id"] == c["area_id"]) & (lines["item_code"] == c["item"])].iloc[0]
        assert line["predicted_served"] > 0
        assert c["item"] in fits[kinds[c["unit_id"]]]  # a unit of a fitting trade
        assert UNITS.set_index("unit_id").loc[c["unit_id"], "community_id"] == c["area_id"]  # local first
        assert c["window_start"] == "2027-01-01"
    # the same report and register give the same claims: the needs still to come play no part
    again = tmp_path / "again.json"
    simulate_joint_meeting(
        lines.to_dict("records"), UNITS, fits, again, date(2027, 1, 1), seed=3, claim_share=1.0
    )
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")
    nobody = tmp_path / "nobody.json"
    assert (
        simulate_joint_meeting(lines.to_dict("records"), UNITS, fits, nobody, date(2027, 1, 1), 3, 0.0)[
            "claimed"
        ]
        == 0
    )
    assert not nobody.exists()


def test_a_line_re_solves_only_its_component_and_agrees_with_re_solving_the_whole_item():
    """Several communities, some needs escalated to the subdistrict desk (edges across communities),
    some with no offer at all: each line's component-only re-solve gives the served count and the
    optimum of re-solving the item's whole problem with the new offer."""
    import numpy as np

    from matching.gaps import _hypothetical_offer, item_optimum, with_slots

    rng = np.random.default_rng(11)
    communities = pd.DataFrame(
        [
            {"community_id": f"C{k}", "name": f"社区{k}", "subdistrict_id": "S1" if k < 4 else "S2"}
            | {"x_km": 2.0 * k, "y_km": 0.0}
            for k in range(1, 6)
        ]
    )
    needs, offers = [], []
    for i in range(1, 121):
        c = communities.iloc[int(rng.integers(0, 5))]
        need = _need(
            i, str(rng.choice(["A", "B"])), community=c["community_id"], urgency=int(rng.integers(1, 4))
        )
        need |= {
            "subdistrict_id": c["subdistrict_id"],
            "x_km": c["x_km"] + rng.random(),
            "escalation_level": int(rng.choice([0, 2], p=[0.7, 0.3])),
        }
        needs.append(need)
    for j in range(12):
        c = communities.iloc[int(rng.integers(0, 4))]  # C5 has no offer of its own
        offer = _offer(
            f"o{j}", str(rng.choice(["A", "B"])), int(rng.integers(1, 6)), community=c["community_id"]
        )
        offers.append(offer | {"x_km": c["x_km"] + rng.random(), "area_subdistrict_id": c["subdistrict_id"]})
    needs, offers = pd.DataFrame(needs), pd.DataFrame(offers)
    declined = pd.DataFrame(columns=["need_id", "unit_id"])
    model = CostModel()
    for item in ("A", "B"):
        base = item_optimum(needs, offers, declined, PERIOD, model, item)
        for c in communities.itertuples(index=False):
            community = pd.Series(c._asdict())
            for k in (1, 4):
                extra = _hypothetical_offer(f"NEW-{c.community_id}-{item}", item, community, k, PERIOD)
                whole = plan_cycle(
                    needs[needs["item_code"] == item],
                    pd.concat(
                        [offers[offers["item_code"] == item], pd.DataFrame([extra])], ignore_index=True
                    ),
                    declined,
                    PERIOD,
                    model,
                )
                [(served, objective)] = with_slots(base, declined, PERIOD, model, community, [k])
                assert served == len(whole.chosen), (item, c.community_id, k)
                assert objective == pytest.approx(whole.solution.objective, rel=1e-9, abs=1e-9)
