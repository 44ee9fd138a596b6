"""Approve before publishing: the match run pauses with its draft; approved it publishes, edited it
publishes without the removed pairing (that unit is not offered the need again this cycle), and
unanswered it publishes nothing and says so."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from sqlalchemy import select

from flows.match_cycle import match_cycle
from store.models import Assignment, Cycle, Publication, ReviewRemoval, UnservedNeed
from tests.conftest import CYCLE, DAY
from tests.flows.serving import resume_when_ready


def _start(**params) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        out["result"] = match_cycle(cycle_day=DAY, approval=True, **params)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _paused_run(timeout: float = 120) -> UUID:
    deadline = time.time() + timeout
    with get_client(sync_client=True) as client:
        while time.time() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"match-{CYCLE}"]))
            )
            paused = [r for r in runs if r.state and r.state.is_paused()]
            if paused:
                return paused[0].id
            time.sleep(0.5)
    raise AssertionError("the match run never paused for its review")


def _counts(tiny) -> tuple[int, int]:
    with tiny() as s:
        return (len(s.scalars(select(Assignment)).all()), len(s.scalars(select(Publication)).all()))


def test_an_approved_draft_is_published(prefect_harness, tiny, env):
    t, out = _start()
    run_id = _paused_run()
    assert _counts(tiny) == (0, 0)  # nothing written while it waits
    resume_when_ready(run_id, run_input={"approve": True, "operator": "王主任", "removals": []})
    t.join(120)
    assert out["result"]["served"] == 2 and out["result"]["version"] == 1
    assert _counts(tiny) == (2, 1)


def test_an_edited_draft_is_published_without_the_removed_pairing(prefect_harness, tiny, env):
    t, out = _start()
    run_id = _paused_run()
    # the draft pairs needs 1 and 2; the reviewer removes need 1's pairing
    resume_when_ready(
        run_id,
        run_input={
            "approve": True,
            "operator": "王主任",
            "removals": [{"need_id": 1, "reason": "单位本周人手不足"}],
        },
    )
    t.join(120)
    assert out["result"]["served"] == 1
    with tiny() as s:
        assert [a.need_id for a in s.scalars(select(Assignment)).all()] == [2]
        removal = s.scalars(select(ReviewRemoval)).one()
        assert (removal.cycle_id, removal.need_id, removal.reason) == (CYCLE, 1, "单位本周人手不足")
        why = s.scalars(select(UnservedNeed).where(UnservedNeed.need_id == 1)).one()
        assert why.reason == "removed_at_review" and "王主任" in why.detail
    # a re-run of the week does not offer need 1 to the same unit again
    again = match_cycle(cycle_day=DAY)
    with tiny() as s:
        pairs = {(a.need_id, a.unit_id) for a in s.scalars(select(Assignment)).all()}
    assert (1, removal.unit_id) not in pairs and again["version"] >= 1


@pytest.mark.parametrize("hours", [0.002])
def test_an_unanswered_draft_publishes_nothing_and_says_so(prefect_harness, tiny, env, hours):
    t, out = _start(approval_timeout_hours=hours)
    _paused_run()
    t.join(180)
    assert out["result"]["published"] is False and out["result"]["approved"] is False
    assert _counts(tiny) == (0, 0)
    with tiny() as s:
        c = s.get(Cycle, CYCLE)
        assert c.status == "unapproved" and c.lock_owner is None
    assert not (env.published_dir / CYCLE / "latest.json").exists()
