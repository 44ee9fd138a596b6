"""A cycle's dispatch plan against what the cycle dispatched before (a re-run): kept pairs change
nothing, a need moved to another offer is re-dispatched without leaving "dispatched", a need the
plan leaves out goes back to the pool, a new pair dispatches an open need."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from lifecycle.cycle import plan_dispatch
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
