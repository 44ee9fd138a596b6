"""The closed loop's rules (派单 -> 接单 -> 办结 -> 销单): units' responses, overdue release, and who
may see a resident's contact. Every status change is decided by :func:`lifecycle.states.transition`;
an illegal one is not applied but returned with its reason, so intake quarantines it. Every applied
one appends a NeedEvent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from lifecycle.changes import NeedChange
from lifecycle.dedupe import suffixed_reference
from lifecycle.states import CONTACT_RELEASED, Action, AssignmentStatus, IllegalTransition, QuarantineStatus
from lifecycle.vocabulary import WORK_ORDER_HEADERS_ZH, WORK_ORDER_REPLY_ZH
from service.changes import apply_change, change_of
from service.followup import apply_answer
from store import intake as store_intake
from store import loop as store_loop
from store.db import by_key
from store.models import Assignment, Need, SurveyAnswer, UnitResponse


def _reject(
    row: dict[str, Any],
    ref_col: str,
    rule: str,
    reason: str,
    column: str | None = None,
    hint: str | None = None,
) -> dict[str, Any]:
    said = {"rule": rule, "column": column, "reason": reason, "value": row.get(column) if column else None}
    return {
        "row_number": int(row["row_number"]),
        "source_ref": row.get(ref_col),
        "raw": {k: v for k, v in row.items() if v is not None and k != "row_number"},
        "reasons": [said | ({"hint": hint} if hint else {})],
    }


# a reply's or an answer's id names one reply for good: the same id again is the same reply (already
# loaded), unless it says something else, which is asked about (sheets numbered 1, 2, 3 every week)
REPLY_TAKEN = "回复编号已用于另一条回复"
ANSWER_TAKEN = "回访编号已用于另一份回访"


def _id_taken(kind: str, ref: str, before: str, now: str) -> str:
    return f"{kind}“{ref}”已用于{before}，本行是{now}：请换一个未用过的编号，或把{kind}一栏留空，由系统生成"


def apply_response(
    session: Session,
    row: dict[str, Any],
    actor: str,
    changes: list[NeedChange] | None = None,
    locked: bool = False,
) -> str | None:
    """Apply one unit response; return a reason (Chinese) when it must be rejected instead.
    The change made is appended to ``changes``. ``locked``: the caller locked and loaded the
    assignment and its need (``store.loop.lock_assignments``)."""
    lock = None if locked else True
    a = session.get(Assignment, int(row["assignment_id"]), with_for_update=lock)
    if a is None:
        return f"派单编号 {row['assignment_id']} 不存在"
    if a.unit_id != row["unit_id"]:
        return f"派单 {a.id} 派给的是 {a.unit_id}，不是 {row['unit_id']}"
    action = row["action"]
    if action not in (Action.ACCEPT, Action.DECLINE, Action.COMPLETE):
        return f"派单 {a.id}：单位不能“{action}”"
    need = session.get(Need, a.need_id, with_for_update=lock)
    at = pd.Timestamp(row["responded_at"]).to_pydatetime() if row.get("responded_at") else datetime.now()
    try:
        c = change_of(
            action,
            need,
            a,
            at=at,
            actor=f"unit:{a.unit_id}",
            reason=Action(action).zh + (f"：{row['reason']}" if row.get("reason") else "") + f"（{actor}）",
        )
    except IllegalTransition as e:
        return f"派单 {a.id}：{e.reason}"
    if action == Action.DECLINE and not row.get("reason"):
        return "拒单必须填写原因"
    if action == Action.COMPLETE and not row.get("completed_on"):
        return "办结必须填写完成日期"
    a.responded_at = at
    if action == Action.COMPLETE:
        a.completed_on = pd.Timestamp(row["completed_on"]).date()
        a.note = row.get("note")
    if action == Action.DECLINE:
        a.note = row.get("reason")
    apply_change(session, c, need, a, changes)
    session.add(
        UnitResponse(
            response_id=str(row["response_id"]),
            assignment_id=a.id,
            unit_id=a.unit_id,
            action=action,
            responded_at=at,
            reason=row.get("reason"),
            source_file_id=row.get("_file_id"),
        )
    )
    return None


def _next_reply(ref: str, action: str) -> str:
    """The id of a later reply on the same work under a reply id already used: ``<id>/<action>``."""
    return suffixed_reference(ref, f"/{action}")


def _reply(assignment_id: int | None, action: str) -> str:
    """A reply as people name it: 派单 123 的“接单”."""
    try:
        said = Action(action).zh
    except ValueError:
        said = action
    return f"派单 {assignment_id} 的“{said}”"


def _whole(value: Any) -> int | None:
    """An assignment id as a whole number, or None where it is not one (the row is rejected later)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def load_rows(
    session: Session, dataset: str, good: pd.DataFrame, file_id: int | None, actor: str
) -> dict[str, Any]:
    """Apply validated responses or follow-up answers; return counts, the rows rejected by the loop
    and the needs' ``changes``."""
    counts: dict[str, Any] = {"loaded": 0, "already_loaded": 0, "rejected": [], "changes": []}
    records = good.astype(object).where(good.notna(), None).to_dict("records")
    if dataset == "responses":
        refs = [str(r["response_id"]) for r in records]
        seen = by_key(
            session,
            UnitResponse.response_id,
            [UnitResponse.assignment_id, UnitResponse.action],
            refs + [_next_reply(ref, r["action"]) for ref, r in zip(refs, records, strict=True)],
        )
        # the file's assignments and needs locked and loaded at once, then applied in order
        held = store_loop.lock_assignments(
            session, sorted({_whole(r["assignment_id"]) for r in records} - {None})
        )
        for r in sorted(records, key=lambda r: (str(r.get("responded_at") or ""), r["row_number"])):
            ref, says = str(r["response_id"]), (_whole(r["assignment_id"]), r["action"])
            if ref in seen and seen[ref] != says and seen[ref][0] == says[0]:
                # the same reply row updated in the unit's sheet (同意 -> 已完成): the next reply on
                # that work, under an id of its own
                ref = _next_reply(ref, r["action"])
            if ref in seen:
                if seen[ref] == says:
                    counts["already_loaded"] += 1
                else:
                    hint = _id_taken("回复编号", ref, _reply(*seen[ref]), _reply(*says))
                    counts["rejected"].append(
                        _reject(r, "response_id", "response_id_taken", REPLY_TAKEN, "response_id", hint)
                    )
                continue
            row = {**r, "response_id": ref, "_file_id": file_id}
            reason = apply_response(session, row, actor, counts["changes"], locked=True)
            if reason:
                counts["rejected"].append(_reject(r, "response_id", "transition", reason, "action"))
            else:
                counts["loaded"] += 1
                seen[ref] = says
        session.flush()
        del held  # applied and flushed: the session need not keep them any longer
    elif dataset == "survey_answers":
        seen = by_key(
            session, SurveyAnswer.source_ref, [SurveyAnswer.survey_id], [str(r["answer_id"]) for r in records]
        )
        for r in records:
            ref, says = str(r["answer_id"]), (_whole(r["survey_id"]),)
            if ref in seen:
                if seen[ref] == says:
                    counts["already_loaded"] += 1
                else:
                    hint = _id_taken("回访编号", ref, f"回访 {seen[ref][0]}", f"回访 {says[0]}")
                    counts["rejected"].append(
                        _reject(r, "answer_id", "answer_id_taken", ANSWER_TAKEN, "answer_id", hint)
                    )
                continue
            reason = apply_answer(session, r, file_id, actor, counts["changes"])
            if reason:
                counts["rejected"].append(_reject(r, "answer_id", "followup", reason, "survey_id"))
            else:
                counts["loaded"] += 1
                seen[ref] = says
    else:
        raise ValueError(f"the closed loop does not load {dataset!r}")
    return counts


def release_overdue(
    session: Session,
    today: date,
    accept_days: int,
    complete_days: int,
    actor: str,
    changes: list[NeedChange] | None = None,
) -> dict[str, int]:
    """Release work no unit answered within ``accept_days``, or accepted but not done in ``complete_days``.

    The need returns to the pool; the unit is not offered it again. Dispatch is dated by its
    cycle's first day (the day the list goes out), acceptance by the unit's response, so the
    deadlines follow the service calendar rather than when the software happened to run.
    """
    now = datetime.now()
    out = {"unanswered": 0, "not_completed": 0}
    rows = store_loop.overdue_assignments(
        session,
        str(AssignmentStatus.DISPATCHED),
        today - timedelta(days=accept_days),
        str(AssignmentStatus.ACCEPTED),
        datetime.combine(today - timedelta(days=complete_days), datetime.min.time()),
    )
    for a in rows:
        need = session.get(Need, a.need_id)
        kind = "unanswered" if a.status == AssignmentStatus.DISPATCHED else "not_completed"
        reason = (
            f"派单 {accept_days} 天未接单，收回重派"
            if kind == "unanswered"
            else f"接单后 {complete_days} 天未办结，收回重派"
        )
        c = change_of(Action.RELEASE, need, a, at=now, actor=actor, reason=reason, why=kind)
        a.note = reason
        apply_change(session, c, need, a, changes)
        out[kind] += 1
    return out


def contact_for_unit(session: Session, assignment_id: int, unit_id: str) -> dict[str, str | None]:
    """The resident's full contact, released only to the unit that accepted the work."""
    a = session.get(Assignment, assignment_id)
    if a is None or a.unit_id != unit_id:
        raise PermissionError(f"派单 {assignment_id} 不属于单位 {unit_id}")
    if a.status not in CONTACT_RELEASED:
        raise PermissionError(
            f"派单 {assignment_id} 尚未接单（{AssignmentStatus(a.status).zh}），不提供居民完整联系方式"
        )
    need = session.get(Need, a.need_id)
    return {
        "assignment_id": str(a.id),
        "contact_name": need.contact_name,
        "contact_phone": store_loop.resident_contact(session, need),
        "grid_id": need.grid_id,
        "household_id": need.household_id,
    }


def accepted_work_orders(session: Session) -> pd.DataFrame:
    """Accepted, not yet completed work with the resident's full contact (each row for its own unit only)."""
    return store_loop.work_orders(session, str(AssignmentStatus.ACCEPTED))


def work_order_sheet(orders: pd.DataFrame) -> pd.DataFrame:
    """One unit's work orders (:func:`accepted_work_orders`) as its staff read and answer them:
    Chinese headers, the service by name, the reply columns empty."""
    sheet = orders[list(WORK_ORDER_HEADERS_ZH)].rename(columns=WORK_ORDER_HEADERS_ZH)
    return sheet.assign(**dict.fromkeys(WORK_ORDER_REPLY_ZH, ""))


def record_from_form(
    session: Session,
    need_id: int,
    unit_id: str,
    action: str,
    operator: str,
    note: str | None,
    completed_on: date | None,
    response_id: str,
    changes: list[NeedChange] | None = None,
) -> str | None:
    """A unit's answer (or an operator's 销单) recorded from the Prefect UI's form: the same
    transition a response file applies, with the same refusals. Returns the reason when refused;
    the refused answer is then kept in quarantine with it, like a bad row of a file."""
    a = store_loop.latest_assignment(session, need_id, unit_id)
    reason = None
    if a is None:
        reason = f"需求 {need_id} 没有派给单位 {unit_id} 的派单"
    elif action == Action.CLOSE:
        need = session.get(Need, need_id, with_for_update=True)
        try:
            c = change_of(
                Action.CLOSE,
                need,
                a,
                at=datetime.now(),
                actor=f"operator:{operator}",
                reason=f"销单（{operator}）" + (f"：{note}" if note else ""),
            )
        except IllegalTransition as e:
            reason = f"派单 {a.id}：{e.reason}"
        else:
            apply_change(session, c, need, a, changes)
    else:
        row = {
            "response_id": response_id,
            "assignment_id": a.id,
            "unit_id": unit_id,
            "action": action,
            "reason": note,
            "note": note,
            "completed_on": (completed_on or date.today()).isoformat() if action == "complete" else None,
            "responded_at": datetime.now().isoformat(timespec="seconds"),
        }
        reason = apply_response(session, row, f"界面：{operator}", changes)
    if reason:
        raw = {"need_id": need_id, "unit_id": unit_id, "action": action, "operator": operator, "note": note}
        store_intake.save_quarantine(
            session,
            "responses",
            None,
            [
                _reject({**raw, "row_number": 1}, "response_id", "transition", reason, "action")
                | {"source_ref": response_id}
            ],
            open_status=str(QuarantineStatus.OPEN),
        )
    return reason
