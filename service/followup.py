"""Follow-up surveys (问效): who is asked after a service, and what their answer changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lifecycle.changes import NeedChange
from lifecycle.escalation import escalate
from lifecycle.states import Action, AssignmentStatus, IllegalTransition, SurveyStatus
from service.changes import apply_change, change_of
from store.db import rows_frame
from store.models import Assignment, Household, Need, Survey, SurveyAnswer, Unit


def create_due_followups(
    session: Session, today: date, delay_days: int, changes: list[NeedChange] | None = None
) -> int:
    """A follow-up survey for every completed service whose delay has passed (once each).

    Residents who opted out of surveys are never surveyed: their service closes without one.
    Each need closed is appended to ``changes`` (for its Prefect event).
    """
    done_before = today - timedelta(days=delay_days)
    have = select(Survey.assignment_id).where(Survey.kind == "followup", Survey.assignment_id.is_not(None))
    rows = session.execute(
        select(Assignment.id, Assignment.need_id, Need.household_id, Household.survey_opt_out)
        .join(Need, Need.id == Assignment.need_id)
        .outerjoin(Household, Household.id == Need.household_id)
        .where(
            Assignment.status == AssignmentStatus.COMPLETED,
            Assignment.completed_on <= done_before,
            Assignment.id.not_in(have),
        )
    ).all()
    now = datetime.now()
    created = 0
    for assignment_id, need_id, household_id, opted_out in rows:
        if opted_out:
            _close(
                session,
                assignment_id,
                need_id,
                now,
                "居民已选择不接受回访，办结后直接销单",
                "followup",
                changes,
            )
            continue
        session.add(
            Survey(
                kind="followup",
                ref=str(assignment_id),
                assignment_id=assignment_id,
                household_id=household_id,
                due_on=today,
                status=SurveyStatus.PENDING,
                created_at=now,
            )
        )
        created += 1
    return created


def _close(
    session: Session,
    assignment_id: int,
    need_id: int,
    at: datetime,
    reason: str,
    actor: str,
    changes: list[NeedChange] | None,
) -> None:
    """销单: the follow-up confirmed it, or the resident was not to be asked, or never answered."""
    a = session.get(Assignment, assignment_id)
    need = session.get(Need, need_id)
    apply_change(
        session,
        change_of(Action.CLOSE, need, a, at=at, actor=actor, reason=reason),
        need,
        a,
        changes,
    )


def apply_answer(
    session: Session,
    row: dict[str, Any],
    file_id: int | None,
    actor: str,
    changes: list[NeedChange] | None = None,
) -> str | None:
    """Record a follow-up answer: done -> close; not done -> reopen and escalate. Returns a reason to
    reject; each change made is appended to ``changes``."""
    survey = session.get(Survey, int(row["survey_id"]), with_for_update=True)
    if survey is None or survey.kind != "followup":
        return f"问卷 {row['survey_id']} 不是回访问卷"
    if survey.status == SurveyStatus.ANSWERED:
        return f"问卷 {survey.id} 已有回答，不能重复回答"
    at = pd.Timestamp(row["answered_at"]).to_pydatetime()
    satisfaction = int(row["satisfaction"]) if row.get("satisfaction") else None
    a = session.get(Assignment, survey.assignment_id)
    need = session.get(Need, a.need_id)
    not_done = row["done"] == "no"
    try:  # refused before anything is written
        first = change_of(
            Action.REOPEN if not_done else Action.CLOSE,
            need,
            a,
            at=at,
            actor=actor,
            reason="回访：居民反映未办结，重新打开"
            if not_done
            else ("回访确认已办结" if row["done"] == "yes" else "回访：部分办结，销单"),
        )
    except IllegalTransition as e:
        return f"问卷 {survey.id}：{e.reason}"
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
    survey.status = SurveyStatus.ANSWERED
    level, waited = need.escalation_level, need.cycles_unserved
    apply_change(session, first, need, a, changes)
    if not_done:
        up = escalate(
            pd.DataFrame(
                [
                    {
                        "need_id": need.id,
                        "escalation_level": level,
                        "cycles_unserved": waited,
                        "urgency": need.urgency,
                        "cause": "followup_not_done",
                    }
                ]
            )
        ).iloc[0]
        need.cycles_unserved = 0
        if bool(up["escalated"]):
            lift = change_of(
                Action.ESCALATE,
                need,
                None,
                at=at,
                actor=actor,
                reason=str(up["detail"]),
                cycle_id=a.cycle_id,
                level_from=int(up["from_level"]),
                level_to=int(up["escalation_level"]),
                why=str(up["why"]),
            )
            apply_change(session, lift, need, None, changes)
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
        .where(Survey.kind == "followup", Survey.status == SurveyStatus.PENDING)
        .order_by(Survey.id)
    )
    df = rows_frame(session, q)
    df.insert(0, "cycle_id", day.isoformat())
    df["resident"] = [mask_name(n) for n in df.pop("contact_name")]
    df["phone"] = df.pop("contact_phone").fillna("")
    df["completed_on"] = df["completed_on"].astype(str)
    return df


def chase_unanswered(
    session: Session,
    today: date,
    interval_days: int,
    max_reminders: int,
    changes: list[NeedChange] | None = None,
) -> dict[str, int]:
    """Count a reminder for each pending survey past its next call date; after ``max_reminders`` record
    it as unanswered and close the service without an answer."""
    out = {"reminded": 0, "no_answer": 0}
    now = datetime.now()
    for sv in session.scalars(
        select(Survey).where(Survey.kind == "followup", Survey.status == SurveyStatus.PENDING)
    ).all():
        next_call = sv.due_on + timedelta(days=interval_days * (sv.reminders + 1))
        if today < next_call:
            continue
        if sv.reminders >= max_reminders:
            sv.status = SurveyStatus.NO_ANSWER
            a = session.get(Assignment, sv.assignment_id)
            if a.status == AssignmentStatus.COMPLETED:
                reason = f"回访 {max_reminders} 次提醒后仍未接通，记为未回访并销单"
                _close(session, a.id, a.need_id, now, reason, "followup", changes)
            out["no_answer"] += 1
        else:
            sv.reminders += 1
            out["reminded"] += 1
    return out
