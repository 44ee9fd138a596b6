"""Follow-up surveys (问效): who is asked after a service, and what their answer changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lifecycle.escalation import escalate
from store.models import Assignment, Household, Need, NeedEvent, Survey, SurveyAnswer, Unit


def create_due_followups(session: Session, today: date, delay_days: int) -> int:
    """A follow-up survey for every completed service whose delay has passed (once each).

    Residents who opted out of surveys are never surveyed: their service closes without one.
    """
    done_before = today - timedelta(days=delay_days)
    have = select(Survey.assignment_id).where(Survey.kind == "followup", Survey.assignment_id.is_not(None))
    rows = session.execute(
        select(Assignment.id, Assignment.need_id, Need.household_id, Household.survey_opt_out)
        .join(Need, Need.id == Assignment.need_id)
        .outerjoin(Household, Household.id == Need.household_id)
        .where(
            Assignment.status == "completed",
            Assignment.completed_on <= done_before,
            Assignment.id.not_in(have),
        )
    ).all()
    now = datetime.now()
    created = 0
    for assignment_id, need_id, household_id, opted_out in rows:
        if opted_out:
            _close(session, assignment_id, need_id, now, "居民已选择不接受回访，办结后直接销单")
            continue
        session.add(
            Survey(
                kind="followup",
                ref=str(assignment_id),
                assignment_id=assignment_id,
                household_id=household_id,
                due_on=today,
                status="pending",
                created_at=now,
            )
        )
        created += 1
    return created


def _close(session: Session, assignment_id: int, need_id: int, at: datetime, reason: str) -> None:
    a = session.get(Assignment, assignment_id)
    need = session.get(Need, need_id)
    session.add(
        NeedEvent(
            need_id=need_id,
            at=at,
            actor="followup",
            from_status=need.status,
            to_status="closed",
            cycle_id=a.cycle_id,
            reason=reason,
        )
    )
    a.status = "closed"
    need.status = "closed"


def apply_answer(session: Session, row: dict[str, Any], file_id: int | None, actor: str) -> str | None:
    """Record a follow-up answer: done -> close; not done -> reopen and escalate. Returns a reason to reject."""
    survey = session.get(Survey, int(row["survey_id"]), with_for_update=True)
    if survey is None or survey.kind != "followup":
        return f"问卷 {row['survey_id']} 不是回访问卷"
    if survey.status == "answered":
        return f"问卷 {survey.id} 已有回答，不能重复回答"
    at = pd.Timestamp(row["answered_at"]).to_pydatetime()
    satisfaction = int(row["satisfaction"]) if row.get("satisfaction") else None
    session.add(
        SurveyAnswer(
            survey_id=survey.id,
            source_ref=str(row["answer_id"]),
            answered_at=at,
            done=row["done"],
            satisfaction=satisfaction,
            comment=row.get("comment"),
            source_file_id=file_id,
        )
    )
    survey.status = "answered"
    a = session.get(Assignment, survey.assignment_id)
    need = session.get(Need, a.need_id)
    if row["done"] == "no":
        up = escalate(
            pd.DataFrame(
                [
                    {
                        "need_id": need.id,
                        "escalation_level": need.escalation_level,
                        "cycles_unserved": need.cycles_unserved,
                        "urgency": need.urgency,
                        "cause": "followup_not_done",
                    }
                ]
            )
        ).iloc[0]
        level = int(up["escalation_level"])
        session.add(
            NeedEvent(
                need_id=need.id,
                at=at,
                actor=actor,
                from_status=need.status,
                to_status="open",
                cycle_id=a.cycle_id,
                reason=f"回访：居民反映未办结，重新打开；{up['detail'] or '已在街道统筹'}",
            )
        )
        need.status, need.escalation_level, need.cycles_unserved = "open", level, 0
        a.status = "reopened"
    else:
        _close(
            session, a.id, need.id, at, "回访确认已办结" if row["done"] == "yes" else "回访：部分办结，销单"
        )
    session.flush()
    refresh_unit_rating(session, a.unit_id)
    return None


def refresh_unit_rating(session: Session, unit_id: str) -> float | None:
    """A unit's rating is the mean satisfaction (1-5) of its answered follow-ups."""
    mean = session.scalar(
        select(func.avg(SurveyAnswer.satisfaction))
        .join(Survey, Survey.id == SurveyAnswer.survey_id)
        .join(Assignment, Assignment.id == Survey.assignment_id)
        .where(Assignment.unit_id == unit_id, SurveyAnswer.satisfaction.is_not(None))
    )
    unit = session.get(Unit, unit_id)
    unit.rating = round(float(mean), 3) if mean is not None else None
    return unit.rating


CALL_COLUMNS = [
    "cycle_id",
    "version",
    "survey_id",
    "assignment_id",
    "need_id",
    "grid_id",
    "item_name",
    "unit_name",
    "completed_on",
    "resident",
    "phone",
    "reminders",
]
CALL_HEADERS_ZH = {
    "cycle_id": "日期",
    "version": "版本",
    "survey_id": "问卷编号",
    "assignment_id": "派单编号",
    "need_id": "需求编号",
    "grid_id": "网格",
    "item_name": "服务事项",
    "unit_name": "服务单位",
    "completed_on": "办结日期",
    "resident": "居民称呼",
    "phone": "回访电话",
    "reminders": "已提醒次数",
}


def followup_call_rows(session: Session, day: date) -> pd.DataFrame:
    """The phone team's call list: what each call needs and nothing more (no address, no description)."""
    from service.masking import mask_name
    from store.models import Item

    q = (
        select(
            Survey.id.label("survey_id"),
            Survey.assignment_id,
            Assignment.need_id,
            Need.grid_id,
            Item.name_zh.label("item_name"),
            Unit.name.label("unit_name"),
            Assignment.completed_on,
            Need.contact_name,
            func.coalesce(Need.contact_phone, Household.phone).label("contact_phone"),
            Survey.reminders,
        )
        .join(Assignment, Assignment.id == Survey.assignment_id)
        .join(Need, Need.id == Assignment.need_id)
        .outerjoin(Household, Household.id == Need.household_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(Item, Item.code == Need.item_code)
        .where(Survey.kind == "followup", Survey.status == "pending")
        .order_by(Survey.id)
    )
    df = pd.DataFrame(session.execute(q).all(), columns=list(q.selected_columns.keys()))
    df.insert(0, "cycle_id", day.isoformat())
    df["resident"] = [mask_name(n) for n in df.pop("contact_name")]
    df["phone"] = df.pop("contact_phone").fillna("")
    df["completed_on"] = df["completed_on"].astype(str)
    return df


def chase_unanswered(session: Session, today: date, interval_days: int, max_reminders: int) -> dict[str, int]:
    """Count a reminder for each pending survey past its next call date; after ``max_reminders`` record
    it as unanswered and close the service without an answer."""
    out = {"reminded": 0, "no_answer": 0}
    now = datetime.now()
    for sv in session.scalars(
        select(Survey).where(Survey.kind == "followup", Survey.status == "pending")
    ).all():
        next_call = sv.due_on + timedelta(days=interval_days * (sv.reminders + 1))
        if today < next_call:
            continue
        if sv.reminders >= max_reminders:
            sv.status = "no_answer"
            a = session.get(Assignment, sv.assignment_id)
            if a.status == "completed":
                _close(
                    session, a.id, a.need_id, now, f"回访 {max_reminders} 次提醒后仍未接通，记为未回访并销单"
                )
            out["no_answer"] += 1
        else:
            sv.reminders += 1
            out["reminded"] += 1
    return out
