"""Recording a unit's answer from the UI's form: the same transition as a response file, the
same refusals (kept in quarantine with their reason), and the change in the need's history."""

from __future__ import annotations

from sqlalchemy import select

from flows.match_cycle import match_cycle
from flows.respond import record_response
from store.models import Assignment, Need, NeedEvent, QuarantinedRow
from tests.conftest import DAY


def test_the_form_applies_the_transition_and_refuses_what_is_illegal(prefect_harness, tiny, env):
    match_cycle(cycle_day=DAY)
    with tiny() as s:
        a = s.scalars(select(Assignment).where(Assignment.unit_id == "UA")).one()
        need_id = a.need_id

    state = record_response(need_id, "UA", "accept", operator="李员", return_state=True)
    assert state.is_completed() and state.name == "Completed" and "已接单" in state.message
    with tiny() as s:
        assert s.get(Need, need_id).status == "accepted"
        last = s.scalars(
            select(NeedEvent).where(NeedEvent.need_id == need_id).order_by(NeedEvent.id.desc())
        ).first()
        assert (last.from_status, last.to_status) == ("dispatched", "accepted") and "李员" in last.reason

    # closing work not yet done is refused, says why, and is kept in quarantine
    refused = record_response(need_id, "UA", "close", operator="李员", return_state=True)
    assert refused.name == "Refused" and "不能销单" in refused.message
    # a decline without its reason is refused too; the wrong unit is named
    assert record_response(need_id, "UA", "decline", operator="李员", return_state=True).name == "Refused"
    assert (
        "没有派给单位 UB"
        in record_response(need_id, "UB", "complete", operator="李员", return_state=True).message
    )
    with tiny() as s:
        assert s.get(Need, need_id).status == "accepted"
        reasons = [r["reason"] for q in s.scalars(select(QuarantinedRow)).all() for r in q.reasons]
    assert len(reasons) == 3 and any("不能销单" in r for r in reasons)

    done = record_response(need_id, "UA", "complete", operator="李员", note="已修好", return_state=True)
    assert done.name == "Completed"
    assert record_response(need_id, "UA", "close", operator="李员", return_state=True).name == "Completed"
    with tiny() as s:
        assert s.get(Need, need_id).status == "closed"
