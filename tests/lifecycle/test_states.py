"""The transition function, driven by random sequences of actions (hypothesis): whatever is tried,
a need is served at most once at a time, a completed or closed need returns to the pool only by a
follow-up "not done", a refused action changes nothing and says why, and every change is an event."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.changes import NeedChange, change, history_rows, prefect_events
from lifecycle.states import (
    ACTIVE_ASSIGNMENT,
    DONE_NEED,
    Action,
    AssignmentStatus,
    IllegalTransition,
    NeedStatus,
    transition,
)

A, N = AssignmentStatus, NeedStatus
AT = datetime(2026, 11, 23, 9, 0)


class Need:
    """A need and its assignments, moved only by what ``change`` returns."""

    def __init__(self) -> None:
        self.status: NeedStatus | None = None
        self.assignments: list[AssignmentStatus] = []  # the last one is the current

    @property
    def current(self) -> AssignmentStatus | None:
        return self.assignments[-1] if self.assignments else None

    def apply(self, action: Action) -> object:
        given_asg = None if action in (Action.REPORT, Action.DISPATCH, Action.ESCALATE) else self.current
        c = change(action, 1, self.status, given_asg, at=AT, actor="test", cycle_id="2026-W48", unit_id="U1")
        s = c.step
        if action is Action.DISPATCH:
            self.assignments.append(s.assignment_to)
        elif action is Action.REDISPATCH:  # the old pair is removed, a new one dispatched
            self.assignments[-1] = A.DISPATCHED
        elif action is Action.UNDISPATCH:
            self.assignments.pop()
        elif s.assignment_to is not None:
            self.assignments[-1] = s.assignment_to
        self.status = s.need_to
        return c


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list(Action)), max_size=40))
def test_random_actions_keep_the_invariants(actions: list[Action]):
    need = Need()
    need.apply(Action.REPORT)
    for action in actions:
        before = (need.status, list(need.assignments))
        try:
            c = need.apply(action)
        except IllegalTransition as e:
            assert e.reason and (need.status, need.assignments) == before  # refused: nothing changed
            continue
        # every change is an event and a row of the need's history
        (row,) = history_rows([c])
        assert (row["from_status"], row["to_status"]) == (before[0], need.status)
        (event,) = prefect_events([c])
        assert event["event"] == f"threelists.need.{c.step.event.rsplit('.', 1)[1]}"
        assert event["resource"]["prefect.resource.id"] == "threelists.need.1"
        # served at most once at a time, and the need's status says by whom
        active = [a for a in need.assignments if a in ACTIVE_ASSIGNMENT]
        assert len(active) <= 1
        if need.status is N.OPEN:
            assert active == []
        if need.status in (N.DISPATCHED, N.ACCEPTED):
            assert active == [A(need.status.value)]
        # done never goes back to the pool except by a follow-up "not done"
        if before[0] in DONE_NEED and need.status not in DONE_NEED:
            assert action is Action.REOPEN and need.status is N.OPEN


def test_an_illegal_transition_says_why_in_chinese():
    with pytest.raises(IllegalTransition, match="请先接单"):
        transition(Action.COMPLETE, N.DISPATCHED, A.DISPATCHED)
    with pytest.raises(IllegalTransition, match="已拒单"):
        transition(Action.ACCEPT, N.OPEN, A.DECLINED)
    with pytest.raises(IllegalTransition, match="需求当前为“已销单”"):
        transition(Action.DISPATCH, N.CLOSED, None)


def test_many_changes_of_one_kind_go_as_batches_that_name_each_need():
    from prefect.events import Event

    changes = [
        change(Action.DISPATCH, n, N.OPEN, None, at=AT, actor="m", cycle_id="2026-W48", grid_id="G1")
        for n in range(1, 2502)
    ]
    events = prefect_events(changes, {"G1": "C1"}, one_each_up_to=1000)
    assert len(events) == 27  # 2,501 needs of one cycle and community: 26 of 95 and one of 31
    named = [
        r["prefect.resource.id"] for e in events for r in e["related"] if r["prefect.resource.role"] == "need"
    ]
    assert sorted(named) == sorted(f"threelists.need.{n}" for n in range(1, 2502))
    assert all(e["event"] == "threelists.need.dispatched" for e in events)
    for e in events:  # each is an event Prefect accepts (at most 100 related resources)
        Event(**{k: v for k, v in e.items() if k != "occurred"})
    few = prefect_events(changes[:3], {"G1": "C1"})
    assert [e["resource"]["prefect.resource.id"] for e in few] == [f"threelists.need.{n}" for n in (1, 2, 3)]


def test_a_batch_carries_the_labels_of_every_need_it_names():
    """Escalations that differ in urgency, desk or cause never share a batch (automations match
    on those labels); the same labels in another community go apart too."""
    from lifecycle.changes import _batch_labels

    grids = {"G1": "C1", "G2": "C2"}
    changes = [
        change(
            Action.ESCALATE,
            n,
            N.OPEN,
            None,
            at=AT,
            actor="m",
            cycle_id="2026-W48",
            grid_id=("G1", "G2")[n % 2],
            urgency=1 + n % 3,
            level_from=n % 2,
            level_to=1 + n % 2,
            why=("deadline", "declined")[(n // 2) % 2],
        )
        for n in range(1, 1201)
    ]
    events = prefect_events(changes, grids, one_each_up_to=100)
    by_id = {c.need_id: c for c in changes}
    named = 0
    for e in events:
        needs = [r["prefect.resource.id"] for r in e["related"] if r["prefect.resource.role"] == "need"]
        labels = {k: v for k, v in e["resource"].items() if k.startswith("threelists.")}
        for rid in needs:
            c = by_id[int(rid.rsplit(".", 1)[1])]
            assert labels == _batch_labels(c)
            assert {
                "prefect.resource.id": f"threelists.community.{grids[c.grid_id]}",
                "prefect.resource.role": "community",
            } in e["related"]
        named += len(needs)
    assert named == len(changes)
    label_sets = {
        tuple(sorted((k, v) for k, v in e["resource"].items() if k.startswith("threelists."))) for e in events
    }
    assert len(label_sets) == 12  # 3 urgencies x 2 desks x 2 causes


def test_changes_for_many_needs_take_each_needs_own_context_over_the_shared_fields():
    """One check for all; a need's context (its own reason, level, unit) overrides what they share."""
    from functools import partial

    from lifecycle.changes import changes_for

    dispatch_two = partial(
        changes_for, Action.DISPATCH, [1, 2], N.OPEN, None, at=AT, actor="m", reason="社区派单"
    )
    made = dispatch_two(context={2: {"reason": "升级到社区后派单", "unit_id": "UA", "level_to": 1}})
    one = change(Action.DISPATCH, 1, N.OPEN, None, at=AT, actor="m", reason="社区派单")
    assert made[0] == one
    assert (made[1].need_id, made[1].reason, made[1].unit_id, made[1].level_to) == (
        2,
        "升级到社区后派单",
        "UA",
        1,
    )
    assert made[1].step == one.step and made[1].at == AT and made[1].actor == "m"
    with pytest.raises(IllegalTransition):
        changes_for(Action.DISPATCH, [1], N.CLOSED, None, at=AT, actor="m")
    # fields for all, each a value or a mapping by need id, over the needs' own context
    both = dispatch_two(
        context={1: {"grid_id": "G1", "unit_id": "UX"}, 2: {"reason": "升级到社区后派单"}},
        fields={"cycle_id": "2026-W48", "unit_id": {1: "UA", 2: "UB"}},
    )
    expected = [
        NeedChange(1, one.step, AT, "m", one.reason, cycle_id="2026-W48", unit_id="UA", grid_id="G1"),
        NeedChange(2, one.step, AT, "m", "升级到社区后派单", cycle_id="2026-W48", unit_id="UB"),
    ]
    assert both == expected and [hash(c) for c in both] == [hash(c) for c in expected]
    assert [vars(c) for c in both] == [vars(c) for c in expected]
    for bad in ({"context": {1: {"grid": "G1"}}}, {"fields": {"units": "UA"}}):
        with pytest.raises(TypeError, match="no field"):
            changes_for(Action.DISPATCH, [1], N.OPEN, None, at=AT, actor="m", **bad)


def test_making_many_changes_leaves_the_garbage_collector_as_it_was():
    # changes_for pauses the cyclic collector while it makes a week's changes; it must be on
    # again after (also when a change fails), and stay off if the caller had turned it off
    import gc

    from lifecycle.changes import changes_for

    assert gc.isenabled()
    changes_for(Action.DISPATCH, range(1, 50), N.OPEN, None, at=AT, actor="m")
    assert gc.isenabled()
    with pytest.raises(TypeError):
        changes_for(Action.DISPATCH, [1], N.OPEN, None, at=AT, actor="m", context={1: {"grid": "G1"}})
    assert gc.isenabled()
    gc.disable()
    try:
        changes_for(Action.DISPATCH, [1], N.OPEN, None, at=AT, actor="m")
        assert not gc.isenabled()
    finally:
        gc.enable()
