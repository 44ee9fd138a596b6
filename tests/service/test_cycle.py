"""The service cycle through the real flows: match, publish, respond, re-match."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest
from sqlalchemy import select

from data_contracts.suites import SERVICE_LIST_COLUMNS
from flows.match_cycle import match_cycle
from service import cycle as service_cycle
from service.loop import apply_response, contact_for_unit
from service.publish import (
    HEADERS_ZH,
    ContractViolation,
    check_contract,
    finish_publication,
    publish_rows,
    publish_service_list,
)
from store import cycle as store_cycle
from store.models import (
    Assignment,
    Need,
    NeedEvent,
    Publication,
    PublishedRow,
)
from tests.conftest import CYCLE, DAY, assignment_set, tiny_offer


def _need_id(sessions, ref):
    with sessions() as s:
        return s.scalar(select(Need.id).where(Need.source_ref == ref))


def test_match_publishes_once_and_rerun_is_idempotent(prefect_harness, tiny, env):
    first = match_cycle(cycle_day=DAY)
    assert (first["served"], first["unserved"], first["version"], first["new_version"]) == (2, 1, 1, True)
    # the most urgent need takes the nearer unit; the least urgent waits and is explained
    assert (_need_id(tiny, "T-1"), "UA", "dispatched") in assignment_set(tiny)
    assert first["unserved_by_reason"] == {"capacity_taken": 1}
    again = match_cycle(cycle_day=DAY)
    assert (again["version"], again["new_version"]) == (1, False)
    with tiny() as s:
        assert len(s.scalars(select(Publication)).all()) == 1
        events = s.scalars(select(NeedEvent).where(NeedEvent.to_status == "dispatched")).all()
    assert len(events) == 2  # the re-run logged nothing new
    latest = json.loads((env.published_dir / CYCLE / "latest.json").read_text(encoding="utf-8"))
    assert latest["version"] == 1 and latest["row_count"] == 2


def test_the_same_rows_under_an_earlier_digest_make_no_new_version(prefect_harness, tiny, env):
    # a list published by an earlier threelists, whose content hash was computed another way
    match_cycle(cycle_day=DAY)
    with tiny() as s, s.begin():
        s.scalars(select(Publication)).one().content_hash = "0" * 64
    again = match_cycle(cycle_day=DAY)
    assert (again["version"], again["new_version"]) == (1, False)
    with tiny() as s:
        publication = s.scalars(select(Publication)).one()
    assert publication.content_hash != "0" * 64  # the version took the digest of today's hash
    latest = json.loads((env.published_dir / CYCLE / "latest.json").read_text(encoding="utf-8"))
    assert (latest["version"], latest["content_hash"]) == (1, publication.content_hash)
    assert sorted(p.name for p in (env.published_dir / CYCLE).iterdir()) == ["latest.json", "v0001"]


def test_decline_rematches_to_another_unit_and_publishes_a_diff(prefect_harness, tiny, env):
    match_cycle(cycle_day=DAY)
    urgent = _need_id(tiny, "T-1")
    with tiny() as s, s.begin():
        a = s.scalar(select(Assignment).where(Assignment.need_id == urgent))
        assert a.unit_id == "UA"
        reason = apply_response(
            s,
            {
                "response_id": "R1",
                "assignment_id": a.id,
                "unit_id": "UA",
                "action": "decline",
                "reason": "人手不足",
                "responded_at": "2026-11-17 09:00:00",
            },
            actor="test",
        )
        assert reason is None
    second = match_cycle(cycle_day=DAY)
    rows = assignment_set(tiny)
    assert (urgent, "UA", "declined") in rows
    assert (urgent, "UB", "dispatched") in rows  # never offered to UA again; UB's slot goes to the urgent one
    assert (second["version"], second["new_version"]) == (2, True)
    diff = json.loads((env.published_dir / CYCLE / "v0002" / "diff.json").read_text(encoding="utf-8"))
    assert diff["previous_version"] == 1
    assert diff["counts"]["added"] + diff["counts"]["removed"] + diff["counts"]["changed"] >= 1
    changed = {c["need_id"]: c["fields"] for c in diff["changed"]}
    assert changed[urgent]["unit_id"] == ["UA", "UB"]


def test_crash_between_writing_and_commit_leaves_previous_version(prefect_harness, tiny, env):
    match_cycle(cycle_day=DAY)
    v1 = (env.published_dir / CYCLE / "v0001" / "service_list.csv").read_bytes()
    with tiny() as s, s.begin():
        s.add(
            Need(
                source="grid_sheet",
                source_ref="T-9",
                household_id="C001-G01-H0003",
                grid_id="C001-G01",
                item_code="REPAIR.UTIL.PIPE",
                urgency=3,
                submitted_at=datetime(2026, 11, 1),
                status="open",
                contact_name="李强",
                contact_phone="13900000009",
            )
        )
    with tiny() as s, s.begin():
        service_cycle.dispatch(
            s,
            CYCLE,
            pd.DataFrame(
                {
                    "need_id": [_need_id(tiny, "T-9")],
                    "offer_id": ["R-UB"],
                    "unit_id": ["UB"],
                    "cost": [1.0],
                    "cost_distance": [1.0],
                    "cost_scope": [0.0],
                    "cost_rating": [0.0],
                    "distance_km": [2.0],
                }
            ),
            actor="test",
        )

    def crash() -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"), tiny() as s, s.begin():
        publish_service_list(s, CYCLE, env.published_dir, before_commit=crash)
    with tiny() as s:
        finish_publication(s, "service_list", CYCLE, env.published_dir)
        assert [p.version for p in s.scalars(select(Publication))] == [1]
    latest = json.loads((env.published_dir / CYCLE / "latest.json").read_text(encoding="utf-8"))
    assert latest["version"] == 1
    assert (env.published_dir / CYCLE / "v0001" / "service_list.csv").read_bytes() == v1
    assert not (env.published_dir / CYCLE / "v0002").exists()
    # the next run publishes it properly
    with tiny() as s, s.begin():
        result = publish_service_list(s, CYCLE, env.published_dir)
    assert result.version == 2 and result.created


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("resident_phone_masked", "13900000001", "JSON Schema"),  # a phone left unmasked
        ("window_end", "2000-01-01", "数据约定"),  # a window that ends before it starts
    ],
)
def test_a_list_that_breaks_its_contract_publishes_nothing(prefect_harness, tiny, env, column, value, says):
    match_cycle(cycle_day=DAY)
    folder = env.published_dir / CYCLE
    names, pointer = sorted(p.name for p in folder.iterdir()), (folder / "latest.json").read_bytes()
    rows = pd.read_parquet(folder / "v0001" / "service_list.parquet").drop(columns="version")
    rows.loc[0, column] = value
    with pytest.raises(ContractViolation, match=says), tiny() as s, s.begin():
        publish_rows(
            s,
            "service_list",
            CYCLE,
            rows,
            folder,
            key="need_id",
            stem="service_list",
            headers_zh=HEADERS_ZH,
            columns=SERVICE_LIST_COLUMNS,
            check=check_contract,
        )
    # no version folder, not even a temporary one; the pointer, versions and rows as they were
    assert sorted(p.name for p in folder.iterdir()) == names
    assert (folder / "latest.json").read_bytes() == pointer
    with tiny() as s:
        assert [p.version for p in s.scalars(select(Publication))] == [1]
        assert len(s.scalars(select(PublishedRow.need_id)).all()) == len(rows)


def test_published_formats_mask_personal_data(prefect_harness, tiny, env):
    match_cycle(cycle_day=DAY)
    folder = env.published_dir / CYCLE / "v0001"
    csv = pd.read_csv(folder / "service_list.csv", dtype=str, encoding="utf-8-sig")
    zh = pd.read_csv(folder / "service_list_zh.csv", dtype=str, encoding="utf-8-sig")
    js = pd.DataFrame(json.loads((folder / "service_list.json").read_text(encoding="utf-8"))["rows"])
    pq = pd.read_parquet(folder / "service_list.parquet")
    for frame in (csv, zh, js, pq):
        text = frame.astype(str).to_csv(index=False)
        assert "13812345671" not in text and "王秀英" not in text
    assert set(csv["resident_phone_masked"]) <= {"138****5671", "138****5672"}
    assert set(csv["resident_name_masked"]) == {"王**"}
    assert "居民（脱敏）" in zh.columns
    raw = "".join(p.read_text(encoding="utf-8", errors="ignore") for p in folder.glob("*.json"))
    assert "1381234567" not in raw


def test_contact_is_released_only_to_the_accepting_unit(prefect_harness, tiny, env):
    match_cycle(cycle_day=DAY)
    with tiny() as s, s.begin():
        a = s.scalar(select(Assignment).where(Assignment.unit_id == "UA"))
        with pytest.raises(PermissionError, match="尚未接单"):
            contact_for_unit(s, a.id, "UA")
        assert (
            apply_response(
                s,
                {
                    "response_id": "R2",
                    "assignment_id": a.id,
                    "unit_id": "UA",
                    "action": "accept",
                    "responded_at": "2026-11-17 09:00:00",
                },
                actor="test",
            )
            is None
        )
        with pytest.raises(PermissionError, match="不属于"):
            contact_for_unit(s, a.id, "UB")
        assert contact_for_unit(s, a.id, "UA")["contact_phone"].startswith("138")


@pytest.mark.parametrize(
    ("first", "then", "expected"),
    [
        (None, {"action": "complete", "completed_on": "2026-11-18"}, "尚未接单，不能办结"),
        ({"action": "decline", "reason": "忙"}, {"action": "accept"}, "已是“已拒单”，不能再接单"),
        (None, {"action": "accept", "assignment_id": 99999}, "派单编号 99999 不存在"),
        (None, {"action": "accept", "unit_id": "UB"}, "不是 UB"),
        (None, {"action": "decline"}, "拒单必须填写原因"),
        ({"action": "accept"}, {"action": "complete"}, "办结必须填写完成日期"),
    ],
)
def test_illegal_transitions_are_rejected_and_not_applied(prefect_harness, tiny, env, first, then, expected):
    match_cycle(cycle_day=DAY)
    with tiny() as s, s.begin():
        a = s.scalar(select(Assignment).where(Assignment.unit_id == "UA"))
        base = {
            "response_id": "X0",
            "assignment_id": a.id,
            "unit_id": "UA",
            "responded_at": "2026-11-17 09:00:00",
        }
        if first:
            assert apply_response(s, {**base, **first}, actor="test") is None
        before = (a.status, s.get(Need, a.need_id).status)
        reason = apply_response(s, {**base, "response_id": "X1", **then}, actor="test")
        assert reason is not None and expected in reason
        s.refresh(a)
        assert (a.status, s.get(Need, a.need_id).status) == before


def test_second_match_of_the_same_period_fails_clearly(tiny, env):
    with tiny() as s, s.begin():
        service_cycle.lock(s, CYCLE, (DAY, DAY), owner="run-1")
    with pytest.raises(store_cycle.CycleLocked, match="正由另一次匹配运行"), tiny() as s, s.begin():
        service_cycle.lock(s, CYCLE, (DAY, DAY), owner="run-2")
    with tiny() as s, s.begin():
        service_cycle.unlock(s, CYCLE, "run-1", True, 0.0)
    with tiny() as s, s.begin():
        service_cycle.lock(s, CYCLE, (DAY, DAY), owner="run-2")


def test_a_units_work_orders_in_chinese_sent_back_filled_in_are_its_replies(prefect_harness, tiny, env):
    """The unit's staff get their work orders with Chinese headers and empty reply columns; the
    sheet sent back with 处理结果 and 完成日期 filled in loads as the unit's replies (no reply id,
    the list's own columns named once, a line left blank still waiting), and once the work is
    done the unit's files (with the residents' phones) are gone."""
    from flows.closed_loop import closed_loop
    from intake.ingest import ingest_file

    match_cycle(cycle_day=DAY)
    with tiny() as s, s.begin():
        a = s.scalar(select(Assignment).where(Assignment.unit_id == "UA"))
        accept = {"assignment_id": a.id, "unit_id": "UA", "responded_at": "2026-11-17 09:00:00"}
        assert apply_response(s, {**accept, "response_id": "W1", "action": "accept"}, actor="test") is None
    closed_loop(today=date(2026, 11, 18))
    folder = env.var_dir / "outbox" / "units" / "UA"
    sheet = pd.read_csv(folder / "work_orders_zh.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(sheet.columns[:3]) == ["周期", "派单编号", "单位编号"] and "联系电话" in sheet.columns
    assert sheet["服务事项"].tolist() == ["水管维修"] and sheet["处理结果（接单/拒单/已完成）"].tolist() == [
        ""
    ]
    done = sheet.assign(**{"处理结果（接单/拒单/已完成）": "已完成", "完成日期": "2026/11/18"})
    waiting = sheet.assign(派单编号="999999")  # a line the unit has not answered yet
    inbox = env.inbox_dir / "responses"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / "UA_回复.csv"
    pd.concat([done, waiting]).to_csv(path, index=False, encoding="utf-8-sig")
    r = ingest_file(tiny, path, "responses", "unit", env.archive_dir, today=date(2026, 11, 19))
    assert (r.rows_read, r.loaded, r.quarantined) == (1, 1, 0), r.reasons
    assert any("派单清单原有的列" in m and "“联系电话”" in m for m in r.messages)
    assert any(m.startswith("1 条派单还没有填写处理结果") for m in r.messages)
    with tiny() as s:
        done_a = s.get(Assignment, a.id)
        assert (done_a.status, done_a.completed_on) == ("completed", date(2026, 11, 18))
    closed_loop(today=date(2026, 11, 19))
    assert not list(folder.glob("work_orders*"))  # done: the residents' contacts are withdrawn


def test_work_orders_carry_full_contact_only_for_the_accepting_unit(prefect_harness, tiny, env):
    from flows.closed_loop import closed_loop

    match_cycle(cycle_day=DAY)
    with tiny() as s, s.begin():
        a = s.scalar(select(Assignment).where(Assignment.unit_id == "UA"))
        assert (
            apply_response(
                s,
                {
                    "response_id": "W1",
                    "assignment_id": a.id,
                    "unit_id": "UA",
                    "action": "accept",
                    "responded_at": "2026-11-17 09:00:00",
                },
                actor="test",
            )
            is None
        )
    closed_loop(today=date(2026, 11, 18))
    outbox = env.var_dir / "outbox" / "units"
    ua = pd.read_csv(outbox / "UA" / "work_orders.csv", dtype=str, encoding="utf-8-sig")
    assert ua["contact_phone"].tolist() == ["13812345671"] and ua["unit_id"].tolist() == ["UA"]
    assert not (outbox / "UB").exists()  # UB has not accepted anything: no contacts for UB
    with tiny() as s, s.begin():
        assert (
            apply_response(
                s,
                {
                    "response_id": "W2",
                    "assignment_id": a.id,
                    "unit_id": "UA",
                    "action": "complete",
                    "completed_on": "2026-11-18",
                    "responded_at": "2026-11-18 17:00:00",
                },
                actor="test",
            )
            is None
        )
    closed_loop(today=date(2026, 11, 19))
    assert not (outbox / "UA" / "work_orders.csv").exists()  # done: the contact is withdrawn


def test_urgent_need_is_matched_the_day_it_arrives_as_a_new_version_of_the_week(prefect_harness, tiny, env):
    """接诉即办: an urgent need collected mid-week is dispatched that day against the capacity the
    week has left; what is already on the list stays; a routine need waits for Monday."""
    from flows.collect import collect_inbox

    with tiny() as s, s.begin():
        s.add(
            tiny_offer(
                "R-UA-MEALS", "UA", "ELDER.HOME.MEALS", capacity=2, area_level="community", area_id="C001"
            )
        )
    match_cycle(cycle_day=DAY)
    before = assignment_set(tiny)
    rec = {
        "grid_id": "C001-G01",
        "household_id": "C001-G01-H0001",
        "contact_name": "王秀英",
        "contact_phone": "13812345671",
        "service_item": "助餐送餐",
        "description": "老人独居，今日无人做饭",
    }
    records = [
        {**rec, "source_ref": "URG-1", "submitted_at": "2026-11-18 10:05:00", "urgency": "特急"},
        {
            **rec,
            "source_ref": "ROU-1",
            "household_id": "C001-G01-H0002",
            "contact_phone": "13812345672",
            "submitted_at": "2026-11-18 11:00:00",
            "urgency": "一般",
        },
    ]
    (env.inbox_dir / "needs").mkdir(parents=True, exist_ok=True)
    (env.inbox_dir / "needs" / "platform_20261118.json").write_text(
        json.dumps({"source": "platform", "records": records}, ensure_ascii=False), encoding="utf-8"
    )
    out = collect_inbox(today=date(2026, 11, 18))
    urgent_run = out["urgent_run"]
    assert (urgent_run["cycle_id"], urgent_run["served"], urgent_run["version"]) == (CYCLE, 1, 2)
    after = assignment_set(tiny)
    assert before <= after  # nothing already on the week's list was touched
    assert after - before == {(_need_id(tiny, "URG-1"), "UA", "dispatched")}
    with tiny() as s:
        assert s.scalar(select(Need.status).where(Need.source_ref == "ROU-1")) == "open"  # waits for Monday
    latest = json.loads((env.published_dir / CYCLE / "latest.json").read_text(encoding="utf-8"))
    listed = pd.read_csv(
        env.published_dir / CYCLE / latest["path"] / "service_list.csv", encoding="utf-8-sig"
    )
    assert latest["version"] == 2 and _need_id(tiny, "URG-1") in set(listed["need_id"])


def test_a_file_of_responses_applies_in_time_order_and_refuses_what_it_must(prefect_harness, tiny, env):
    from service.loop import load_rows

    match_cycle(cycle_day=DAY)
    with tiny() as s:
        a1, a2 = s.scalars(select(Assignment).order_by(Assignment.id)).all()
    rows = [
        # written out of order: the completion comes after the acceptance it needs
        ("R-2", a1.id, a1.unit_id, "complete", None, "2026-11-18 10:00:00", "2026-11-18"),
        ("R-1", a1.id, a1.unit_id, "accept", None, "2026-11-17 09:00:00", None),
        ("R-3", a2.id, a2.unit_id, "decline", "人手不足", "2026-11-17 09:30:00", None),
        ("R-4", 999_999, "UA", "accept", None, "2026-11-17 09:40:00", None),  # no such dispatch
        ("R-5", a2.id, a2.unit_id, "accept", None, "2026-11-17 10:00:00", None),  # already declined
    ]
    good = pd.DataFrame(
        rows,
        columns=[
            "response_id",
            "assignment_id",
            "unit_id",
            "action",
            "reason",
            "responded_at",
            "completed_on",
        ],
    ).assign(row_number=range(1, len(rows) + 1))
    with tiny() as s, s.begin():
        counts = load_rows(s, "responses", good, None, "test")
    assert counts["loaded"] == 3 and counts["already_loaded"] == 0
    assert sorted(r["source_ref"] for r in counts["rejected"]) == ["R-4", "R-5"]
    assert (
        "999999 不存在"
        in next(r for r in counts["rejected"] if r["source_ref"] == "R-4")["reasons"][0]["reason"]
    )
    assert [(c.need_id, c.step.action) for c in counts["changes"]] == [
        (a1.need_id, "accept"),
        (a2.need_id, "decline"),
        (a1.need_id, "complete"),
    ]
    with tiny() as s:
        after = {a.id: (a.status, a.note) for a in s.scalars(select(Assignment))}
        need_status = {
            n.id: n.status for n in s.scalars(select(Need).where(Need.id.in_([a1.need_id, a2.need_id])))
        }
    assert after[a1.id][0] == "completed" and after[a2.id] == ("declined", "人手不足")
    assert need_status == {a1.need_id: "completed", a2.need_id: "open"}
    with tiny() as s, s.begin():  # the same file again: nothing applied twice
        again = load_rows(s, "responses", good, None, "test")
    assert again["loaded"] == 0 and again["already_loaded"] == 3 and len(again["rejected"]) == 2


def test_a_reply_id_used_again_is_that_works_next_reply_or_asked_about(prefect_harness, tiny, env):
    """Units keep one reply sheet numbered 1, 2, 3: the same id on the same work with another answer
    (同意 changed to 已完成 in its row) is that work's next reply; the same id on other work is
    asked about, and the other work is left as it was; a reply sent again is already loaded."""
    from service.loop import REPLY_TAKEN, load_rows
    from store.models import UnitResponse

    match_cycle(cycle_day=DAY)
    with tiny() as s:
        a1, a2 = s.scalars(select(Assignment).order_by(Assignment.id)).all()
    columns = ["response_id", "assignment_id", "unit_id", "action", "reason", "responded_at", "completed_on"]

    def send(*rows):
        good = pd.DataFrame(list(rows), columns=columns).assign(row_number=range(1, len(rows) + 1))
        with tiny() as s, s.begin():
            return load_rows(s, "responses", good, None, "test")

    accepted = ("1", a1.id, a1.unit_id, "accept", None, "2026-11-17 09:00:00", None)
    done = ("1", a1.id, a1.unit_id, "complete", None, "2026-11-19 10:00:00", "2026-11-19")
    assert send(accepted)["loaded"] == 1
    assert send(done)["loaded"] == 1
    again = send(accepted, ("2", a2.id, a2.unit_id, "decline", "人手不足", "2026-11-17 09:30:00", None))
    assert (again["loaded"], again["already_loaded"]) == (1, 1)
    assert (send(done)["already_loaded"], send(done)["loaded"]) == (1, 0)
    other = send(("1", a2.id, a2.unit_id, "accept", None, "2026-11-20 09:00:00", None))
    assert other["loaded"] == 0
    ((rejected,),) = [r["reasons"] for r in other["rejected"]]
    assert rejected["reason"] == REPLY_TAKEN and rejected["column"] == "response_id"
    assert f"派单 {a1.id} 的“接单”" in rejected["hint"] and f"派单 {a2.id}" in rejected["hint"]
    with tiny() as s:
        assert s.get(Assignment, a1.id).status == "completed"
        assert s.get(Assignment, a2.id).status == "declined"
        assert sorted(s.scalars(select(UnitResponse.response_id))) == ["1", "1/complete", "2"]
