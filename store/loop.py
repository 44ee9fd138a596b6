"""The closed loop (派单 -> 接单 -> 办结 -> 销单): apply units' responses and residents' answers.

Every transition is checked against the table below; an illegal one is not applied but
returned with its reason, so intake quarantines it. Every applied one appends a NeedEvent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lifecycle.vocabulary import ACTION_ZH, ASSIGNMENT_STATUS_ZH
from store.models import Assignment, Cycle, Household, Need, NeedEvent, SurveyAnswer, Unit, UnitResponse

# assignment status -> action -> (new assignment status, new need status)
TRANSITIONS: dict[str, dict[str, tuple[str, str]]] = {
    "dispatched": {"accept": ("accepted", "accepted"), "decline": ("declined", "open")},
    "accepted": {"complete": ("completed", "completed"), "decline": ("declined", "open")},
}
STATUS_ZH = ASSIGNMENT_STATUS_ZH


def _known_ids(session: Session, column: Any, ids: list[str]) -> set[str]:
    """Which of ``ids`` are already recorded (in chunks: PostgreSQL allows 65,535 parameters)."""
    seen: set[str] = set()
    for k in range(0, len(ids), 10_000):
        seen |= set(session.scalars(select(column).where(column.in_(ids[k : k + 10_000]))))
    return seen


def _reject(
    row: dict[str, Any], ref_col: str, rule: str, reason: str, column: str | None = None
) -> dict[str, Any]:
    return {
        "row_number": int(row["row_number"]),
        "source_ref": row.get(ref_col),
        "raw": {k: v for k, v in row.items() if v is not None and k != "row_number"},
        "reasons": [
            {"rule": rule, "column": column, "reason": reason, "value": row.get(column) if column else None}
        ],
    }


def apply_response(session: Session, row: dict[str, Any], actor: str) -> str | None:
    """Apply one unit response; return a reason (Chinese) when it must be rejected instead."""
    a = session.get(Assignment, int(row["assignment_id"]), with_for_update=True)
    if a is None:
        return f"派单编号 {row['assignment_id']} 不存在"
    if a.unit_id != row["unit_id"]:
        return f"派单 {a.id} 派给的是 {a.unit_id}，不是 {row['unit_id']}"
    action = row["action"]
    allowed = TRANSITIONS.get(a.status, {})
    if action not in allowed:
        if a.status in ("declined", "released", "closed", "completed") and action in ("accept", "decline"):
            return f"派单 {a.id} 已是“{STATUS_ZH[a.status]}”，不能再{ACTION_ZH[action]}"
        if action == "complete" and a.status == "dispatched":
            return f"派单 {a.id} 尚未接单，不能办结（请先接单）"
        return f"派单 {a.id} 当前为“{STATUS_ZH.get(a.status, a.status)}”，不能{ACTION_ZH.get(action, action)}"
    if action == "decline" and not row.get("reason"):
        return "拒单必须填写原因"
    if action == "complete" and not row.get("completed_on"):
        return "办结必须填写完成日期"
    at = pd.Timestamp(row["responded_at"]).to_pydatetime() if row.get("responded_at") else datetime.now()
    new_status, need_status = allowed[action]
    need = session.get(Need, a.need_id, with_for_update=True)
    old_need = need.status
    a.status, a.responded_at = new_status, at
    if action == "complete":
        a.completed_on = pd.Timestamp(row["completed_on"]).date()
        a.note = row.get("note")
    if action == "decline":
        a.note = row.get("reason")
    need.status = need_status
    session.add(
        NeedEvent(
            need_id=need.id,
            at=at,
            actor=f"unit:{a.unit_id}",
            from_status=old_need,
            to_status=need_status,
            cycle_id=a.cycle_id,
            reason=f"{ACTION_ZH[action]}"
            + (f"：{row['reason']}" if row.get("reason") else "")
            + f"（{actor}）",
        )
    )
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


def load_rows(
    session: Session, dataset: str, good: pd.DataFrame, file_id: int | None, actor: str
) -> dict[str, Any]:
    """Apply validated responses or follow-up answers; return counts and the rows rejected by the loop."""
    counts: dict[str, Any] = {"loaded": 0, "already_loaded": 0, "rejected": []}
    records = good.astype(object).where(good.notna(), None).to_dict("records")
    if dataset == "responses":
        seen = _known_ids(session, UnitResponse.response_id, [str(r["response_id"]) for r in records])
        for r in sorted(records, key=lambda r: (str(r.get("responded_at") or ""), r["row_number"])):
            if str(r["response_id"]) in seen:
                counts["already_loaded"] += 1
                continue
            reason = apply_response(session, {**r, "_file_id": file_id}, actor)
            if reason:
                counts["rejected"].append(_reject(r, "response_id", "transition", reason, "action"))
            else:
                counts["loaded"] += 1
                seen.add(str(r["response_id"]))
                session.flush()
    elif dataset == "survey_answers":
        from service.followup import apply_answer  # the follow-up rules live with the surveys

        seen = _known_ids(session, SurveyAnswer.source_ref, [str(r["answer_id"]) for r in records])
        for r in records:
            if str(r["answer_id"]) in seen:
                counts["already_loaded"] += 1
                continue
            reason = apply_answer(session, r, file_id, actor)
            if reason:
                counts["rejected"].append(_reject(r, "answer_id", "followup", reason, "survey_id"))
            else:
                counts["loaded"] += 1
                seen.add(str(r["answer_id"]))
    else:
        raise ValueError(f"the closed loop does not load {dataset!r}")
    return counts


def release_overdue(
    session: Session, today: date, accept_days: int, complete_days: int, actor: str
) -> dict[str, int]:
    """Release work no unit answered within ``accept_days``, or accepted but not done in ``complete_days``.

    The need returns to the pool; the unit is not offered it again. Dispatch is dated by its
    cycle's first day (the day the list goes out), acceptance by the unit's response, so the
    deadlines follow the service calendar rather than when the software happened to run.
    """
    now = datetime.now()
    out = {"unanswered": 0, "not_completed": 0}
    limit_done = datetime.combine(today - timedelta(days=complete_days), datetime.min.time())
    rows = session.scalars(
        select(Assignment)
        .join(Cycle, Cycle.id == Assignment.cycle_id)
        .where(
            ((Assignment.status == "dispatched") & (Cycle.period_start < today - timedelta(days=accept_days)))
            | ((Assignment.status == "accepted") & (Assignment.responded_at < limit_done))
        )
        .with_for_update(of=Assignment)
    ).all()
    for a in rows:
        need = session.get(Need, a.need_id)
        kind = "unanswered" if a.status == "dispatched" else "not_completed"
        reason = (
            f"派单 {accept_days} 天未接单，收回重派"
            if kind == "unanswered"
            else f"接单后 {complete_days} 天未办结，收回重派"
        )
        session.add(
            NeedEvent(
                need_id=need.id,
                at=now,
                actor=actor,
                from_status=need.status,
                to_status="open",
                cycle_id=a.cycle_id,
                reason=reason,
            )
        )
        a.status, a.note = "released", reason
        need.status = "open"
        out[kind] += 1
    return out


def contact_for_unit(session: Session, assignment_id: int, unit_id: str) -> dict[str, str | None]:
    """The resident's full contact, released only to the unit that accepted the work."""
    a = session.get(Assignment, assignment_id)
    if a is None or a.unit_id != unit_id:
        raise PermissionError(f"派单 {assignment_id} 不属于单位 {unit_id}")
    if a.status not in ("accepted", "completed"):
        raise PermissionError(
            f"派单 {assignment_id} 尚未接单（{STATUS_ZH.get(a.status, a.status)}），不提供居民完整联系方式"
        )
    need = session.get(Need, a.need_id)
    return {
        "assignment_id": str(a.id),
        "contact_name": need.contact_name,
        "contact_phone": need.contact_phone
        or (session.get(Household, need.household_id).phone if need.household_id else None),
        "grid_id": need.grid_id,
        "household_id": need.household_id,
    }


def accepted_work_orders(session: Session) -> pd.DataFrame:
    """Accepted, not yet completed work with the resident's full contact (each row for its own unit only)."""
    q = (
        select(
            Assignment.cycle_id,
            Assignment.unit_id,
            Unit.name.label("unit_name"),
            Assignment.id.label("assignment_id"),
            Assignment.need_id,
            Need.item_code,
            Need.grid_id,
            Need.household_id,
            Need.contact_name,
            func.coalesce(Need.contact_phone, Household.phone).label("contact_phone"),
            Need.description,
        )
        .join(Need, Need.id == Assignment.need_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .outerjoin(Household, Household.id == Need.household_id)
        .where(Assignment.status == "accepted")
        .order_by(Assignment.unit_id, Assignment.id)
    )
    return pd.DataFrame(session.execute(q).all(), columns=list(q.selected_columns.keys()))
