"""A cycle's dispatch plan against what the cycle dispatched before (a re-run): kept pairs change
nothing, a need moved to another offer is re-dispatched without leaving "dispatched", a need the
plan leaves out goes back to the pool, a new pair dispatches an open need. And the unserved needs'
rows: each with its reason, escalated once per cycle (a re-run keeps the first run's decision)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from lifecycle.cycle import plan_dispatch, plan_unserved
from lifecycle.states import Action

AT = datetime(2026, 11, 23, 9, 0)


def _chosen(pairs: list[tuple[int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "need_id": [n for n, _ in pairs],
            "offer_id": [o for _, o in pairs],
            "unit_id": [f"U-{o}" for _, o in pairs],
            "cost": 1.0,
            "cost_distance": 0.5,
            "cost_rating": 0.0,
            "cost_scope": 0.5,
            "distance_km": 1.0,
        }
    )


def test_a_re_run_keeps_moves_returns_and_adds_needs_and_says_which_change_status():
    # before: needs 1-3 dispatched (assignments 11-13); the plan keeps 1, moves 2, leaves 3 out,
    # and pairs the open need 4
    current = pd.DataFrame({"id": [11, 12, 13], "need_id": [1, 2, 3], "offer_id": ["A", "B", "C"]})
    w = plan_dispatch("2026-W48", current, _chosen([(1, "A"), (2, "D"), (4, "E")]), at=AT, actor="test")
    assert w.counts == {"kept": 1, "added": 2, "removed": 2}
    assert sorted(w.drop_assignment_ids) == [12, 13]
    assert w.add_assignments["need_id"].tolist() == [2, 4]
    assert w.add_assignments["unit_id"].tolist() == ["U-D", "U-E"]
    assert {(c.need_id, c.step.action) for c in w.changes} == {
        (2, Action.REDISPATCH),
        (3, Action.UNDISPATCH),
        (4, Action.DISPATCH),
    }
    # the moved need stays dispatched: no status row for it; the others change status
    assert sorted((r["id"], r["status"]) for r in w.need_status) == [(3, "open"), (4, "dispatched")]


def test_a_re_run_that_moves_every_need_writes_no_status_and_redispatches_each_once():
    n = 3000
    current = pd.DataFrame({"id": range(1, n + 1), "need_id": range(1, n + 1), "offer_id": ["A"] * n})
    w = plan_dispatch("2026-W48", current, _chosen([(k, "B") for k in range(1, n + 1)]), at=AT, actor="test")
    assert w.need_status == []
    assert sorted(c.need_id for c in w.changes) == list(range(1, n + 1))
    assert {c.step.action for c in w.changes} == {Action.REDISPATCH}


def test_unserved_needs_keep_a_re_runs_first_decision_and_escalate_only_what_was_decided_now():
    unserved = pd.DataFrame(
        {
            "need_id": [1, 2, 3, 4],
            "reason": ["capacity_taken", "no_offer_in_scope", "capacity_taken", "no_offer_in_scope"],
            "detail": ["名额已满", "范围内没有资源", "名额已满", "范围内没有资源"],
            "penalty": [40, 42.5, 40, 42.5],
        }
    )
    # decided now for needs 2 (escalated) and 3 (stays at its desk); need 4 was decided by an
    # earlier run of this cycle (escalated then), need 1 by nobody
    escalation = pd.DataFrame(
        {
            "need_id": [2, 3],
            "from_level": [0, 0],
            "escalation_level": [1, 0],
            "cycles_unserved": [0, 2],
            "escalated": [True, False],
            "why": ["nothing_in_scope", None],
            "detail": ["升级至社区统筹", None],
        }
    )
    prior = pd.DataFrame(
        {"need_id": [4], "escalated_to": [2.0], "escalated_from": [1.0], "escalated_why": ["waited_too_long"]}
    )
    w = plan_unserved("2026-W48", unserved, escalation, prior, at=AT, actor="test")
    steps = {r["need_id"]: (r["escalated_to"], r["escalated_from"], r["escalated_why"]) for r in w.rows}
    assert steps == {
        1: (None, None, None),
        2: (1, 0, "nothing_in_scope"),
        3: (None, None, None),
        4: (2, 1, "waited_too_long"),
    }
    assert [(r["reason"], r["penalty"]) for r in w.rows] == [
        ("capacity_taken", 40.0),
        ("no_offer_in_scope", 42.5),
        ("capacity_taken", 40.0),
        ("no_offer_in_scope", 42.5),
    ]
    assert w.need_levels == [
        {"id": 2, "escalation_level": 1, "cycles_unserved": 0},
        {"id": 3, "escalation_level": 0, "cycles_unserved": 2},
    ]
    assert [(c.need_id, c.step.action, c.level_from, c.level_to, c.why) for c in w.changes] == [
        (2, Action.ESCALATE, 0, 1, "nothing_in_scope")
    ]
    assert w.counts == {"unserved": 4, "escalated": 2, "escalated_now": 1}
