"""Quarterly survey rosters and form; follow-ups: opt-outs, "not done" reopens, ratings feed costs."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from pyxform.xls2xform import convert
from sqlalchemy import select, update

from matching.problem import build_problem
from reference import load_taxonomy_frame
from service import cycle as service_cycle
from service.followup import apply_answer, create_due_followups
from service.loop import apply_response
from service.quarterly import visiting_roster, write_printable, write_xlsform
from store.models import Assignment, Household, Need, NeedEvent, Survey, Unit
from tests.conftest import match_week

QUARTER_DAY = date(2027, 1, 1)


def test_roster_skips_opt_outs_and_recent_visits(env, sessions, registry):
    with sessions() as s, s.begin():
        s.execute(update(Household).values(last_visited_at=datetime(2026, 9, 1), survey_opt_out=False))
        s.execute(update(Household).where(Household.id == "C001-G01-H0001").values(survey_opt_out=True))
        s.execute(
            update(Household)
            .where(Household.id == "C001-G01-H0002")
            .values(last_visited_at=datetime(2026, 12, 20))
        )  # 12 days before the quarter
        total = len(s.scalars(select(Household.id)).all())
    with sessions() as s:
        roster = visiting_roster(s, QUARTER_DAY, recency_days=60)
    ids = set(roster["household_id"])
    assert "C001-G01-H0001" not in ids and "C001-G01-H0002" not in ids
    assert "C001-G01-H0003" in ids and len(ids) == total - 2
    out = write_printable(
        env.forms_dir / "p.html",
        roster[roster["community_id"] == "C001"],
        load_taxonomy_frame(),
        "2027Q1",
        "和平社区",
    )
    assert "C001-G01-H0003" in out.read_text(encoding="utf-8")


def test_xlsform_converts_with_pyxform(tmp_path: Path):
    form = write_xlsform(tmp_path / "needs.xlsx", load_taxonomy_frame(), "2027Q1")
    warnings: list[str] = []
    result = convert(xlsform=str(form), warnings=warnings)
    assert "<h:title>社区问需调研 2027Q1</h:title>" in result.xform
    for field in ("grid_id", "household_id", "contact_phone", "service_item", "urgency", "reported_at"):
        assert f"/{field}" in result.xform
    assert "REPAIR.UTIL.PIPE" in result.xform  # the catalogue is the choice list
    assert warnings == []


def _complete(sessions, unit="UA", day=date(2026, 11, 18)) -> int:
    with sessions() as s, s.begin():
        a = s.scalar(select(Assignment).where(Assignment.unit_id == unit))
        base = {"assignment_id": a.id, "unit_id": unit, "responded_at": "2026-11-17 09:00:00"}
        assert apply_response(s, {**base, "response_id": f"{unit}-A", "action": "accept"}, "test") is None
        assert (
            apply_response(
                s,
                {**base, "response_id": f"{unit}-C", "action": "complete", "completed_on": day.isoformat()},
                "test",
            )
            is None
        )
        return a.id


def test_not_done_reopens_and_escalates_and_rating_feeds_costs(tiny, env):
    match_week(tiny)
    assignment_id = _complete(tiny)
    with tiny() as s, s.begin():
        assert create_due_followups(s, date(2026, 11, 18) + timedelta(days=27), delay_days=28) == 0  # not yet
        assert create_due_followups(s, date(2026, 11, 18) + timedelta(days=28), delay_days=28) == 1
        survey = s.scalar(select(Survey).where(Survey.assignment_id == assignment_id))
        reason = apply_answer(
            s,
            {
                "answer_id": "FA-1",
                "survey_id": str(survey.id),
                "answered_at": "2026-12-17 10:00:00",
                "done": "no",
                "satisfaction": "1",
            },
            None,
            "t",
        )
        assert reason is None
        a = s.get(Assignment, assignment_id)
        need = s.get(Need, a.need_id)
        assert (a.status, need.status, need.escalation_level) == ("reopened", "open", 1)
        escalated, reopened = s.scalars(
            select(NeedEvent).where(NeedEvent.need_id == need.id).order_by(NeedEvent.id.desc()).limit(2)
        ).all()
        assert "未办结" in reopened.reason and reopened.to_status == "open"
        assert "升级至社区" in escalated.reason and escalated.from_status == escalated.to_status == "open"
        assert s.get(Unit, "UA").rating == 1.0
        # a second answer to the same survey is rejected with a reason
        again = apply_answer(
            s,
            {
                "answer_id": "FA-2",
                "survey_id": str(survey.id),
                "answered_at": "2026-12-18 10:00:00",
                "done": "yes",
            },
            None,
            "t",
        )
        assert "已有回答" in again
    # the poor rating now makes UA dearer than its distance alone: visible in the cost breakdown
    with tiny() as s:
        needs, offers = service_cycle.read_pool(s, "2026-W48"), service_cycle.read_offers(s, "2026-W48")
    problem = build_problem(needs, offers, (date(2026, 11, 23), date(2026, 11, 29)))
    ua = problem.breakdown((problem.edges["offer_id"] == "R-UA").to_numpy().nonzero()[0]).iloc[0]
    assert ua["cost_rating"] == 1.5 * (4.0 - 1.0)
    assert ua["cost"] == round(ua["cost_distance"] + ua["cost_scope"] + ua["cost_rating"], 4)


def test_opted_out_residents_are_never_surveyed(tiny, env):
    match_week(tiny)
    with tiny() as s, s.begin():
        s.execute(update(Household).values(survey_opt_out=True))
    assignment_id = _complete(tiny)
    with tiny() as s, s.begin():
        assert create_due_followups(s, date(2027, 1, 1), delay_days=28) == 0
        assert s.scalars(select(Survey)).all() == []
        assert s.get(Assignment, assignment_id).status == "closed"


def test_yes_closes_the_service(tiny, env):
    match_week(tiny)
    assignment_id = _complete(tiny)
    with tiny() as s, s.begin():
        create_due_followups(s, date(2027, 1, 1), delay_days=28)
        survey = s.scalar(select(Survey))
        assert (
            apply_answer(
                s,
                {
                    "answer_id": "FA-9",
                    "survey_id": str(survey.id),
                    "answered_at": "2027-01-02 09:00:00",
                    "done": "yes",
                    "satisfaction": "5",
                },
                None,
                "t",
            )
            is None
        )
        a = s.get(Assignment, assignment_id)
        assert (a.status, s.get(Need, a.need_id).status) == ("closed", "closed")
        assert pd.notna(s.get(Unit, "UA").rating)


def test_unanswered_follow_up_is_chased_then_recorded_as_no_answer(tiny, env):
    from service.followup import chase_unanswered

    match_week(tiny)
    assignment_id = _complete(tiny)
    due = date(2026, 11, 18) + timedelta(days=28)
    with tiny() as s, s.begin():
        assert create_due_followups(s, due, delay_days=28) == 1
    steps = [
        (due + timedelta(days=2), {"reminded": 0, "no_answer": 0}),  # not yet time to call again
        (due + timedelta(days=3), {"reminded": 1, "no_answer": 0}),
        (due + timedelta(days=3), {"reminded": 0, "no_answer": 0}),  # same day again: nothing new
        (due + timedelta(days=6), {"reminded": 1, "no_answer": 0}),
        (due + timedelta(days=9), {"reminded": 0, "no_answer": 1}),
    ]
    for day, expected in steps:
        with tiny() as s, s.begin():
            assert chase_unanswered(s, day, interval_days=3, max_reminders=2) == expected
    with tiny() as s:
        survey = s.scalar(select(Survey))
        a = s.get(Assignment, assignment_id)
        assert (survey.status, survey.reminders, a.status) == ("no_answer", 2, "closed")
        event = s.scalars(
            select(NeedEvent).where(NeedEvent.need_id == a.need_id).order_by(NeedEvent.id.desc())
        ).first()
        assert "未接通" in event.reason


def test_the_phone_teams_call_list_sent_back_filled_in_closes_the_service(prefect_harness, tiny, env):
    """The follow-up team fills in the call list threelists gave it (its empty 是否办结, 满意度
    columns) and sends it back: the answers load without an answer id or a call time, the list's
    own columns are named once, a line left blank is a call not made yet (not an error), and the
    same file sent again changes nothing."""
    from prefect import flow

    from intake.ingest import ingest_file
    from tasks.followup import publish_call_list

    match_week(tiny)
    assignment_id = _complete(tiny)
    with tiny() as s, s.begin():
        assert create_due_followups(s, date(2027, 1, 1), delay_days=28) == 1
    result = flow(publish_call_list.fn)(date(2027, 1, 2))  # as the closed loop's flow runs it
    sheet = pd.read_csv(
        result.path / "call_list_zh.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False
    )
    assert len(sheet) == 1 and sheet["是否办结（是/否/部分）"].tolist() == [""]
    blank = sheet.assign(问卷编号="999999")  # a line the team has not called yet
    answered = sheet.assign(**{"是否办结（是/否/部分）": "已解决", "满意度（1-5）": "★★★★☆"})
    sheet = pd.concat([answered, blank], ignore_index=True)
    folder = env.inbox_dir / "followups"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "回访结果.csv"
    sheet.to_csv(path, index=False, encoding="utf-8-sig")
    r = ingest_file(tiny, path, "survey_answers", "followup", env.archive_dir, today=date(2027, 1, 3))
    assert (r.rows_read, r.loaded, r.quarantined) == (1, 1, 0), r.reasons
    assert any("回访电话清单原有的列" in m and "“居民称呼”" in m for m in r.messages)
    assert any(m.startswith("1 通电话还没有回访结果") for m in r.messages)
    assert any("回访时间" in m and "2027-01-03" in m for m in r.messages)  # the empty column: the day
    with tiny() as s:
        survey = s.scalar(select(Survey))
        a = s.get(Assignment, assignment_id)
        assert (survey.status, a.status, s.get(Need, a.need_id).status) == ("answered", "closed", "closed")
        assert s.get(Unit, a.unit_id).rating == 4
    again = folder / "回访结果（再次提交）.csv"
    sheet.assign(备注=None).to_csv(again, index=False, encoding="utf-8-sig")  # other bytes, same answers
    r = ingest_file(tiny, again, "survey_answers", "followup", env.archive_dir, today=date(2027, 1, 4))
    assert (r.loaded, r.already_loaded, r.quarantined) == (0, 1, 0)


def test_a_follow_up_answer_id_used_for_another_follow_up_is_asked_about(tiny, env):
    """Phone teams number their sheets 1, 2, 3: the same answer again is already loaded; the same
    id on another follow-up is asked about, and that follow-up waits for its answer."""
    from service.loop import ANSWER_TAKEN, load_rows

    match_week(tiny)
    for unit in ("UA", "UB"):
        _complete(tiny, unit)
    with tiny() as s, s.begin():
        create_due_followups(s, date(2027, 1, 1), delay_days=28)
    with tiny() as s:
        first, second = s.scalars(select(Survey).order_by(Survey.id)).all()

    def send(survey_id: int, satisfaction: str) -> dict:
        good = pd.DataFrame(
            [("1", str(survey_id), "2027-01-02 09:00:00", "yes", satisfaction, 1)],
            columns=["answer_id", "survey_id", "answered_at", "done", "satisfaction", "row_number"],
        )
        with tiny() as s, s.begin():
            return load_rows(s, "survey_answers", good, None, "t")

    assert send(first.id, "5")["loaded"] == 1
    assert send(first.id, "5")["already_loaded"] == 1
    other = send(second.id, "4")
    assert (other["loaded"], other["already_loaded"]) == (0, 0)
    ((said,),) = [r["reasons"] for r in other["rejected"]]
    assert said["reason"] == ANSWER_TAKEN and f"回访 {first.id}" in said["hint"]
    with tiny() as s:
        assert s.get(Survey, second.id).status == "pending"
