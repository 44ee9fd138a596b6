"""Unit registers and offers sheets as communities keep them: names, words and places where the
store keeps ids and codes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select, update

from intake.ingest import OFFER_TAKEN, UNIT_TAKEN, ingest_file
from store.models import Offer, QuarantinedRow, Unit

ARRIVED = date(2026, 11, 21)


def _csv(env, folder: str, name: str, rows: list[list[str]]):
    d = env.inbox_dir / folder
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    path.write_bytes("\n".join(",".join(r) for r in rows).encode("gb18030"))
    return path


def _ingest(sessions, env, path, dataset: str, source: str):
    return ingest_file(sessions, path, dataset, source, env.archive_dir, today=ARRIVED)


def _reasons(sessions, file_name: str) -> dict[str, list[tuple[str, str | None]]]:
    """Quarantined rows by the name they carry: (reason, hint) pairs."""
    with sessions() as s:
        rows = s.scalars(select(QuarantinedRow)).all()
    return {
        str(q.raw.get("name") or q.raw.get("unit_id")): sorted(
            (r["reason"], r.get("hint")) for r in q.reasons
        )
        for q in rows
        if q.raw
    }


UNITS = [
    ["安竹社区共建单位登记表"],
    ["序号", "单位名称", "单位类型", "所属社区", "联系电话"],
    ["1", "安竹社区卫生服务中心", "医院", "安竹社区", "13300001111"],
    ["2", "平春物业公司", "物业公司", "平春", "0531-88888888"],
    ["3", "楼长志愿队", "", "安竹社区", "13300003333"],  # the kind said by its name
    ["4", "民办非企业养老服务社", "民办非企业", "安竹社区", ""],  # the longest word decides
    ["5", "某某单位", "其他", "安竹社区", ""],  # no kind to be read: asked
    ["6", "春岭老年协会", "社会组织", "不存在社区", ""],  # a community not registered: asked
]


def test_a_hand_made_unit_register_loads_with_kinds_communities_places_and_ids(sessions, env, registry):
    r = _ingest(sessions, env, _csv(env, "units", "共建单位.csv", UNITS), "units", "units_register")
    assert (r.rows_read, r.loaded, r.quarantined) == (6, 4, 2)
    with sessions() as s:
        units = {u.name: u for u in s.scalars(select(Unit))}
    assert {n: (u.kind, u.community_id) for n, u in units.items()} == {
        "安竹社区卫生服务中心": ("hospital", "C001"),
        "平春物业公司": ("company", "C002"),
        "楼长志愿队": ("volunteers", "C001"),
        "民办非企业养老服务社": ("social_org", "C001"),
    }
    # no coordinates: the community's centre; a stable id made from name and community
    clinic = units["安竹社区卫生服务中心"]
    assert clinic.id.startswith("U") and len(clinic.id) == 13
    assert clinic.x_km == units["楼长志愿队"].x_km and clinic.x_km != units["平春物业公司"].x_km
    assert any("按所属社区的中心位置登记" in m for m in r.messages)
    reasons = _reasons(sessions, "共建单位.csv")
    ((kind_reason, kind_hint),) = reasons["某某单位"]
    assert "单位类型" in kind_reason and "医疗机构" in kind_hint and "志愿服务队" in kind_hint
    assert "volunteers" not in kind_reason  # operators read the kinds in Chinese
    assert any("不存在社区" in (hint or "") for _, hint in reasons["春岭老年协会"])
    # the same register sent again (re-saved): the same ids, nothing new
    again = _ingest(
        sessions,
        env,
        _csv(env, "units", "共建单位（更新）.csv", [*UNITS, ["7", "", "", "", ""]]),
        "units",
        "units_register",
    )
    with sessions() as s:
        assert len(s.scalars(select(Unit)).all()) == 4
    assert again.loaded == 4


def test_a_register_with_service_lines_template_rows_and_a_signature(sessions, env, registry):
    # a utility's service line (95598) and a 400 number are its phone; 国企 is a company; the
    # template's numbered empty lines and the signature under the table are not units; the unit's
    # contact person and the services it offers are understood, not kept here (and 联系人 is not
    # taken for 联系电话)
    rows = [
        ["安竹社区共建单位名单"],
        ["序号", "单位名称", "单位性质", "所在社区", "联系人", "联系电话", "可提供服务"],
        ["1", "安竹供电所", "国企", "安竹社区", "赵师傅", "95598", "电路维修"],
        ["2", "平春家政服务公司", "企业", "平春", "钱经理", "400-123-4567", ""],
        ["3", "", "", "", "", "", ""],
        ["4", "", "", "", "", "", ""],
        ["填表人：张三", "", "审核人：李四", "", "", "", ""],
    ]
    r = _ingest(sessions, env, _csv(env, "units", "共建单位名单.csv", rows), "units", "units_register")
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("loaded", 2, 2, 0)
    assert any(m.startswith("2 行只有序号") for m in r.messages)
    assert any("第 7 行“填表人：张三 审核人：李四”" in m for m in r.messages)
    assert "列“联系人”未导入：共建单位名单不登记这一项" in r.messages
    assert "列“可提供服务”未导入：共建单位名单不登记这一项" in r.messages
    assert not any("最接近" in m for m in r.messages)
    with sessions() as s:
        got = {u.name: (u.kind, u.contact_phone) for u in s.scalars(select(Unit))}
    assert got == {"安竹供电所": ("company", "95598"), "平春家政服务公司": ("company", "4001234567")}


def test_a_hand_made_offers_sheet_names_units_items_and_areas(sessions, env, registry):
    offers = [
        ["单位名称", "服务事项", "每期名额", "服务范围", "服务区域", "开始日期", "结束日期"],
        ["安竹社区卫生服务中心", "健康咨询", "5", "社区", "安竹社区", "2026/11/1", "2027/1/31"],
        [
            "平春物业公司",
            "水管维修",
            "3",
            "网格",
            "第2网格",
            "2026/11/1",
            "2027/1/31",
        ],  # the unit's community
        ["楼长志愿队", "独居老人探访", "4", "", "全街道", "2026/11/1", "2027/1/31"],
        [
            "安竹社区卫生服务中心",
            "助餐",
            "2",
            "安竹社区",
            "",
            "2026/11/1",
            "2027/1/31",
        ],  # the place as the range
        ["不存在的单位", "水管维修", "2", "社区", "安竹社区", "2026/11/1", "2027/1/31"],
        ["楼长志愿队", "水管维修", "2", "网格", "第99网格", "2026/11/1", "2027/1/31"],
    ]
    r, path = _offers_sheet(sessions, env, offers)
    assert (r.rows_read, r.loaded, r.quarantined) == (6, 4, 2)
    with sessions() as s:
        units = {u.id: u.name for u in s.scalars(select(Unit))}
        got = sorted(
            (units[o.unit_id], o.item_code, o.area_level, o.area_id, o.capacity_per_cycle)
            for o in s.scalars(select(Offer))
        )
    assert got == sorted(
        [
            ("安竹社区卫生服务中心", "HEALTH.CLINIC.CONSULT", "community", "C001", 5),
            ("平春物业公司", "REPAIR.UTIL.PIPE", "grid", "C002-G02", 3),
            ("楼长志愿队", "ELDER.HOME.VISIT", "subdistrict", "SD01", 4),
            ("安竹社区卫生服务中心", "ELDER.HOME.MEALS", "community", "C001", 2),
        ]
    )
    hints = [h for rs in _reasons(sessions, path.name).values() for _, h in rs if h]
    assert any("找不到单位“不存在的单位”" in h for h in hints)
    assert any("第99网格" in h for h in hints)
    # re-sent in another order: the derived offer ids are stable, nothing is added
    resent = [offers[0], *reversed(offers[1:])]
    again = _ingest(
        sessions, env, _csv(env, "offers", "资源清单（再次）.csv", resent), "offers", "units_register"
    )
    with sessions() as s:
        assert len(s.scalars(select(Offer)).all()) == 4
    assert again.loaded == 4


def _offers_sheet(sessions, env, offers: list[list[str]]):
    """The units register (UNITS) loaded, then ``offers`` sent as an offers sheet: (report, path)."""
    _ingest(sessions, env, _csv(env, "units", "共建单位.csv", UNITS), "units", "units_register")
    path = _csv(env, "offers", "资源清单.csv", offers)
    return _ingest(sessions, env, path, "offers", "units_register"), path


def test_an_offers_sheet_with_weekly_places_in_words_an_open_end_and_a_total(sessions, env, registry):
    # 每周名额 "5人": the week is the cycle, the number is meant; 结束日期 "长期": a year from the
    # start, said so; "5-10人" is asked about; the total under the rows is no offer
    offers = [
        ["安竹社区共建单位资源清单"],
        ["序号", "单位名称", "服务事项", "每周名额", "服务范围", "开始日期", "结束日期"],
        ["1", "安竹社区卫生服务中心", "健康咨询", "5人", "安竹社区", "2026/11/1", "2027/1/31"],
        ["2", "平春物业公司", "水管维修", "每周3次", "第2网格", "2026/11/1", "长期"],
        ["3", "楼长志愿队", "独居老人探访", "5-10人", "全街道", "2026/11/1", "2027/1/31"],
        ["合计", "", "", "8", "", "", ""],
    ]
    r, path = _offers_sheet(sessions, env, offers)
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    assert not [m for m in r.messages if "未识别" in m]  # 序号 and 每周名额 are known columns
    assert any("第 6 行“合计 8”" in m for m in r.messages)
    assert any("“长期”" in m and "一年" in m for m in r.messages)
    with sessions() as s:
        units = {u.id: u.name for u in s.scalars(select(Unit))}
        got = {units[o.unit_id]: (o.capacity_per_cycle, o.window_end) for o in s.scalars(select(Offer))}
    assert got == {"安竹社区卫生服务中心": (5, date(2027, 1, 31)), "平春物业公司": (3, date(2027, 11, 1))}
    ((reason, _),) = _reasons(sessions, path.name)["楼长志愿队"]
    assert "每期服务次数" in reason


def test_places_written_per_week_load_and_per_month_per_day_or_a_weekday_ask_with_the_number(
    sessions, env, registry
):
    # the period is a week: 一周两次 and 每个星期3次 are places; 每月8次 and 每天2人 are asked with
    # the weekly number they come to; 周三 is a day of the week (it was read as 3 places)
    head = ["序号", "单位名称", "服务事项", "每周名额", "服务范围", "开始日期", "结束日期"]
    rows = [
        ["1", "安竹社区卫生服务中心", "健康咨询", "一周两次", "安竹社区", "2026/11/1", "2027/1/31"],
        ["2", "平春物业公司", "水管维修", "每个星期3次", "第2网格", "2026/11/1", "2027/1/31"],
        ["3", "楼长志愿队", "独居老人探访", "每月8次", "安竹社区", "2026/11/1", "2027/1/31"],
        ["4", "民办非企业养老服务社", "助餐送餐", "每天2人", "安竹社区", "2026/11/1", "2027/1/31"],
        ["5", "安竹社区卫生服务中心", "陪同就医", "周三", "安竹社区", "2026/11/1", "2027/1/31"],
    ]
    r, _ = _offers_sheet(sessions, env, [head, *rows])
    assert (r.rows_read, r.loaded, r.quarantined) == (5, 2, 3)
    with sessions() as s:
        places = sorted(o.capacity_per_cycle for o in s.scalars(select(Offer)))
        hints = [
            h for q in s.scalars(select(QuarantinedRow)) for h in (x.get("hint") for x in q.reasons) if h
        ]
    assert places == [2, 3]
    assert any("每月8次" in h and "约合每周 2 次" in h for h in hints)
    assert any("每天2人" in h and "14" in h and "10" in h for h in hints)
    assert any("周三" in h and "星期几" in h for h in hints)


def test_an_offers_sheet_with_its_dates_as_one_range_in_a_cell(sessions, env, registry):
    # 服务期限 "2026.11.1-2027.1.31", whole months, "至", an open end: the two dates; a time of the
    # week ("每周六上午") is no range of days and is asked about
    offers = [
        ["单位名称", "服务事项", "每期名额", "服务范围", "服务期限"],
        ["安竹社区卫生服务中心", "健康咨询", "5", "安竹社区", "2026.11.1-2027.1.31"],
        ["平春物业公司", "水管维修", "3", "第2网格", "2026年11月-2027年1月"],
        ["楼长志愿队", "独居老人探访", "4", "全街道", "2026年11月1日至长期"],
        ["安竹社区卫生服务中心", "助餐", "2", "安竹社区", "每周六上午"],
    ]
    r, path = _offers_sheet(sessions, env, offers)
    assert (r.rows_read, r.loaded, r.quarantined) == (4, 3, 1)
    assert any(m.startswith("3 条资源的服务期限写在一格里") for m in r.messages)
    with sessions() as s:
        units = {u.id: u.name for u in s.scalars(select(Unit))}
        got = {units[o.unit_id]: (o.window_start, o.window_end) for o in s.scalars(select(Offer))}
    assert got == {
        "安竹社区卫生服务中心": (date(2026, 11, 1), date(2027, 1, 31)),
        "平春物业公司": (date(2026, 11, 1), date(2027, 1, 31)),
        "楼长志愿队": (date(2026, 11, 1), date(2027, 11, 1)),
    }
    reasons = _reasons(sessions, path.name)["安竹社区卫生服务中心"]  # no start, no end: both said
    assert [r for r, _ in reasons] == ["缺少必填项“开始日期”", "缺少必填项“结束日期”"]
    assert "每周六上午" in reasons[0][1] and "至" in reasons[0][1]


def test_an_offers_sheet_with_two_services_two_grids_or_a_start_and_no_end(sessions, env, registry):
    # one offer is one service in one area: a cell with two services or two grids is asked about,
    # saying so; "2026-12-01起" runs from that day on (a year, as "长期" does)
    offers = [
        ["单位名称", "服务事项", "每期名额", "服务范围", "服务期限"],
        ["安竹社区卫生服务中心", "中医义诊、健康咨询", "5", "安竹社区", "2026.11.1-2027.1.31"],
        ["平春物业公司", "水管维修", "3", "第2、3网格", "2026.11.1-2027.1.31"],
        ["楼长志愿队", "独居老人探访", "四", "全街道", "自2026年11月1日起"],
    ]
    r, _ = _offers_sheet(sessions, env, offers)
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 1, 2)
    with sessions() as s:
        ((capacity, start, end),) = s.execute(
            select(Offer.capacity_per_cycle, Offer.window_start, Offer.window_end)
        ).all()
    assert (capacity, start, end) == (4, date(2026, 11, 1), date(2027, 11, 1))
    hints = {p["row_number"]: p["hint"] for p in r.problems if p["hint"]}
    assert "不止一项服务" in hints[2] and "中医义诊" in hints[2] and "健康咨询" in hints[2]
    assert "写了几个地方" in hints[3] and "每个网格写一行" in hints[3]


def test_a_units_reply_sheet_names_the_unit_and_carries_no_reply_id(tiny, env):
    from store.models import Assignment
    from tests.conftest import match_week

    match_week(tiny)
    with tiny() as s:
        ua = s.scalar(select(Assignment.id).where(Assignment.unit_id == "UA"))
        ub = s.scalar(select(Assignment.id).where(Assignment.unit_id == "UB"))
    header = ["派单编号", "单位名称", "处理结果", "回复日期", "完成日期", "拒单原因"]
    replies = [
        header,
        [str(ua), "近处志愿队", "同意", "2026/11/17 9:00", "", ""],
        [str(ub), "远处物业", "无法承接", "2026/11/17 10:00", "", "人手不足"],
    ]
    r = _ingest(tiny, env, _csv(env, "responses", "单位回执.csv", replies), "responses", "unit_reply")
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 2, 0)
    done = [header, [str(ua), "近处志愿队", "已完成", "2026/11/19 16:00", "2026/11/19", ""]]
    r = _ingest(tiny, env, _csv(env, "responses", "单位回执2.csv", done), "responses", "unit_reply")
    assert (r.rows_read, r.loaded, r.quarantined) == (1, 1, 0)
    with tiny() as s:
        assert s.get(Assignment, ua).status == "completed" and s.get(Assignment, ub).status == "declined"
    # the first sheet again, re-saved: recognised by its derived reply ids, nothing applied twice
    again = _ingest(
        tiny,
        env,
        _csv(env, "responses", "单位回执（重发）.csv", [header, *reversed(replies[1:])]),
        "responses",
        "unit_reply",
    )
    assert (again.loaded, again.already_loaded, again.quarantined) == (0, 2, 0)
    # a line with no answer at all is work not answered yet: counted, not quarantined; but a sheet
    # whose result column is not recognised is refused for it with every row kept (none skipped)
    waiting = [header, [str(ub), "远处物业", "", "", "", ""]]
    r = _ingest(tiny, env, _csv(env, "responses", "单位回执3.csv", waiting), "responses", "unit_reply")
    assert (r.rows_read, r.loaded, r.quarantined) == (0, 0, 0)
    assert any(m.startswith("1 条派单还没有填写处理结果") for m in r.messages)
    unknown = [["派单编号", "单位名称", "结果"], [str(ua), "近处志愿队", "已完成"], [str(ub), "远处物业", ""]]
    r = _ingest(tiny, env, _csv(env, "responses", "单位回执4.csv", unknown), "responses", "unit_reply")
    assert (r.status, r.rows_read, r.quarantined) == ("rejected", 2, 2)


def test_a_survey_tools_export_counts_no_need_answers_and_records_opt_outs(sessions, env, registry):
    from store.models import Household, Need

    # KoboToolbox's CSV of threelists' own XLSForm: group paths, the tool's own columns (its
    # phonenumber and username are the enumerator's device and login, not the resident's)
    header = [
        "start", "end", "phonenumber", "username", "户信息/grid_id", "户信息/household_id", "户信息/contact_name", "户信息/contact_phone",
        "has_need", "category", "service_item", "description", "urgency", "survey_opt_out", "reported_at",
        "_id", "_uuid", "_submission_time", "_index",
    ]  # fmt: skip
    meta = ["2026-11-02T09:00", "2026-11-02T09:05", "13900009999", "enumerator1"]
    rows = [
        header,
        [*meta, "C001-G01", "C001-G01-H0001", "王秀英", "13812345678", "yes", "ELDER", "ELDER.HOME.VISIT",
         "希望有人探访", "1", "no", "2026-11-02 09:05:00", "11", "uuid-a", "2026-11-02T09:06", "1"],
        [*meta, "C001-G01", "C001-G01-H0002", "李建国", "13812345679", "no", "", "", "", "", "no",
         "2026-11-02 09:20:00", "12", "uuid-b", "2026-11-02T09:21", "2"],
        [*meta, "C001-G01", "C001-G01-H0003", "赵敏", "13812345670", "否", "", "", "", "", "是",
         "2026-11-02 09:40:00", "13", "uuid-c", "2026-11-02T09:41", "3"],
        [*meta, "C001-G01", "C001-G01-H0004", "钱进", "13812345671", "yes", "REPAIR", "", "", "1", "no",
         "2026-11-02 10:00:00", "14", "uuid-d", "2026-11-02T10:01", "4"],
    ]  # fmt: skip
    path = _csv(env, "surveys", "needs_survey_2026Q4.csv", rows)
    with sessions() as s, s.begin():  # last visited in September; H0004 after the answer
        s.execute(update(Household).values(last_visited_at=datetime(2026, 9, 1)))
        s.execute(
            update(Household)
            .where(Household.id == "C001-G01-H0004")
            .values(last_visited_at=datetime(2026, 11, 20))
        )
    r = _ingest(sessions, env, path, "needs", "survey")
    # one need, two households with no need (counted, not quarantined), one answer missing its item
    assert (r.rows_read, r.loaded, r.no_need, r.quarantined, r.opted_out) == (4, 1, 2, 1, 1)
    assert not [m for m in r.messages if "未识别" in m]  # the tool's own columns are not "unknown"
    with sessions() as s:
        (need,) = s.scalars(select(Need)).all()
        opted = set(s.scalars(select(Household.id).where(Household.survey_opt_out.is_(True))))
    assert (need.source_ref, need.item_code, need.household_id) == (
        "UUID-A",  # ids are compared upper-case
        "ELDER.HOME.VISIT",
        "C001-G01-H0001",
    )
    assert (need.contact_name, need.contact_phone) == ("王秀英", "13812345678")
    assert "C001-G01-H0003" in opted and "C001-G01-H0002" not in opted
    # every answer is a visit: the next quarter's roster skips these households as visited lately
    with sessions() as s:
        visited = dict(s.execute(select(Household.id, Household.last_visited_at)).all())
    assert visited["C001-G01-H0002"].isoformat(sep=" ") == "2026-11-02 09:20:00"
    assert visited["C001-G01-H0004"] == datetime(2026, 11, 20)  # a later visit on record stays
    assert visited["C001-G01-H0005"] == datetime(2026, 9, 1)  # not in the survey
    # every answer is a visit: the next quarter's roster skips these households as visited lately
    with sessions() as s:
        visited = dict(s.execute(select(Household.id, Household.last_visited_at)).all())
    assert visited["C001-G01-H0002"].isoformat(sep=" ") == "2026-11-02 09:20:00"
    assert visited["C001-G01-H0004"] == datetime(2026, 11, 20)  # a later visit on record stays
    assert visited["C001-G01-H0005"] == datetime(2026, 9, 1)  # not in the survey


def test_unit_kinds_as_registers_write_them():
    from intake.resources import unit_kind

    said = {
        "医院": "hospital",
        "社区卫生服务站": "hospital",  # not a 服务站 of a social organisation
        "社工服务站": "social_org",
        "民办非企业": "social_org",  # not a 企业
        "志愿服务站": "volunteers",
        "物业公司": "company",
        "供电所": "utility",
        "幼儿园": "school",
        "司法所": "department",
        "志愿服务队": "volunteers",
        "银行": "company",  # a trade, not a kind: the kind it is
        "律师事务所": "company",  # not the 办事处 of a department
        "社区药房": "hospital",
        "街道办事处": "department",
    }
    assert {t: unit_kind(t)[0] for t in said} == said
    assert unit_kind("养老院")[0] is None  # public or private: asked
    assert unit_kind(None, "楼长志愿队") == ("volunteers", None)  # the kind said by the name
    code, hint = unit_kind("其他")
    assert code is None and "医疗机构" in hint


def test_units_replies_and_places_as_units_write_them():
    # 是否接单 answered 是/否, a visit reported as 已上门, places with their unit (每周3次)
    import pandas as pd

    from intake.normalize import normalize_rows

    rows = pd.DataFrame(
        {
            "capacity_per_cycle": ["每周3次", "5人", "10 人次/周", "3", "5-10人", "三", "每周十份", "两人"],
            "action": ["是", "否", "已上门", "处理完毕", "人手紧张", "是", "否", "是"],
        }
    )
    got = normalize_rows(rows)
    assert got["action"].tolist()[:5] == ["accept", "decline", "complete", "complete", "人手紧张"]
    # a range is asked; a number in Chinese numerals is its number
    assert got["capacity_per_cycle"].tolist() == ["3", "5", "10", "3", "5-10人", "3", "10", "2"]


def test_follow_up_answer_headers_as_phone_teams_write_them():
    # the words a phone team's own sheet uses for the call's time, whether it was done and the score
    from intake.mapping import vocabulary

    v = vocabulary("survey_answers")
    written = {
        "回访日期": "answered_at",
        "通话时间": "answered_at",
        "是否解决": "done",
        "解决情况": "done",
        "评分": "satisfaction",
        "满意度（1-5）": "satisfaction",
        "是否办结（是/否/部分）": "done",
    }
    assert {h: v.field_of(h) for h in written} == written


def test_a_unit_renamed_in_a_register_is_found_by_its_new_name_in_the_same_run(sessions, env, registry):
    # the directory sheets are resolved against is cached in the process; a register that renames a
    # unit leaves every registry's row count as it was, and the next sheet must see the new name
    register = [
        ["单位编号", "单位名称", "单位类型", "所属社区"],
        ["U-AZ-1", "安竹社区卫生服务中心", "医院", "安竹社区"],
        ["U-AZ-2", "楼长志愿队", "志愿队", "安竹社区"],
    ]

    def send(n: int, unit: str, item: str):
        _ingest(sessions, env, _csv(env, "units", f"登记表{n}.csv", register), "units", "units_register")
        offers = [
            ["单位名称", "服务事项", "每期名额", "服务范围", "开始日期", "结束日期"],
            [unit, item, "2", "安竹社区", "2026/11/1", "2027/1/31"],
        ]
        return _ingest(sessions, env, _csv(env, "offers", f"资源{n}.csv", offers), "offers", "units_register")

    r = send(1, "安竹社区卫生服务中心", "健康咨询")
    assert (r.loaded, r.quarantined) == (1, 0), r.problems
    register[1][1] = "安竹社区卫生服务站"  # renamed, same id: no registry's count changes
    r = send(2, "安竹社区卫生服务站", "助浴理发")
    assert (r.loaded, r.quarantined) == (1, 0), r.problems
    with sessions() as s:
        assert {o.unit_id for o in s.scalars(select(Offer))} == {"U-AZ-1"}
        assert s.get(Unit, "U-AZ-1").name == "安竹社区卫生服务站"


def test_an_offer_id_another_unit_holds_is_asked_about_and_stays_that_units(sessions, env, registry):
    """Two units numbering their sheets alike (R001, R002...): the second unit's R001 is quarantined
    with the unit that holds it, the first unit's offer is left as it was (every assignment and
    service list names the offer's unit), and the rest of the file loads."""
    header = ["资源编号", "单位名称", "服务事项", "每期名额", "服务范围", "服务区域", "开始日期", "结束日期"]
    first = [
        header,
        ["R001", "安竹社区卫生服务中心", "健康咨询", "5", "社区", "安竹社区", "2026/11/1", "2027/1/31"],
    ]
    r, _ = _offers_sheet(sessions, env, first)
    assert (r.loaded, r.quarantined) == (1, 0), r.problems
    with sessions() as s:
        held = s.get(Offer, "R001")
        owner, item = held.unit_id, held.item_code
    second = [
        header,
        ["R001", "平春物业公司", "水管维修", "3", "网格", "第2网格", "2026/11/1", "2027/1/31"],
        ["R002", "平春物业公司", "水管维修", "2", "网格", "第2网格", "2026/11/1", "2027/1/31"],
    ]
    path = _csv(env, "offers", "平春物业资源.csv", second)
    r = _ingest(sessions, env, path, "offers", "units_register")
    assert (r.rows_read, r.loaded, r.quarantined, r.status) == (2, 1, 1, "partial")
    assert r.reasons == {OFFER_TAKEN: 1}
    (problem,) = r.problems
    assert (problem["row_number"], problem["column"], problem["reason"]) == (2, "offer_id", OFFER_TAKEN)
    assert "R001" in problem["hint"] and owner in problem["hint"]
    assert "“安竹社区卫生服务中心”" in problem["hint"] and "“平春物业公司”" in problem["hint"]
    with sessions() as s:
        kept = s.get(Offer, "R001")
        assert (kept.unit_id, kept.item_code) == (owner, item)
        assert s.get(Offer, "R002").unit_id != owner
        (q,) = s.scalars(select(QuarantinedRow).where(QuarantinedRow.dataset == "offers")).all()
        assert (q.raw["offer_id"], q.raw["unit_id"]) == ("R001", "平春物业公司")  # as the sheet wrote it
    # the unit numbers its offer anew: it loads beside the other unit's R001
    second[1][0] = "PC-R001"
    again = _ingest(
        sessions, env, _csv(env, "offers", "平春物业资源（改）.csv", second), "offers", "units_register"
    )
    assert (again.loaded, again.quarantined) == (2, 0), again.problems
    with sessions() as s:
        assert s.get(Offer, "PC-R001").unit_id == s.get(Offer, "R002").unit_id != owner
        assert s.get(Offer, "R001").unit_id == owner


def test_a_unit_id_another_community_registered_for_another_unit_is_asked_about(sessions, env, registry):
    """Two communities numbering their registers alike (DW001...): the second register's DW001, a
    unit of another name in another community, is quarantined with the unit that holds the id,
    which stays as it was; the same id with only a new name (or only a new community) updates it."""
    header = ["单位编号", "单位名称", "单位类型", "所属社区", "联系电话"]
    first = [header, ["DW001", "安竹社区卫生服务中心", "医院", "安竹社区", "13300001111"]]
    r = _ingest(sessions, env, _csv(env, "units", "安竹登记表.csv", first), "units", "units_register")
    assert (r.loaded, r.quarantined) == (1, 0), r.problems
    with sessions() as s:
        held = s.get(Unit, "DW001")
        before = (held.name, held.community_id, held.contact_phone)
    second = [
        header,
        ["DW001", "平春物业公司", "物业公司", "平春", "0531-88888888"],
        ["DW002", "平春老年协会", "社会组织", "平春", ""],
    ]
    r = _ingest(sessions, env, _csv(env, "units", "平春登记表.csv", second), "units", "units_register")
    assert (r.rows_read, r.loaded, r.quarantined, r.status) == (2, 1, 1, "partial")
    assert r.reasons == {UNIT_TAKEN: 1}
    (problem,) = r.problems
    assert (problem["row_number"], problem["column"]) == (2, "unit_id")
    assert "安竹社区卫生服务中心" in problem["hint"] and "平春物业公司" in problem["hint"]
    with sessions() as s:
        kept = s.get(Unit, "DW001")
        assert (kept.name, kept.community_id, kept.contact_phone) == before
        assert s.get(Unit, "DW002").name == "平春老年协会"
    # the first community renames its unit under the same id: an update, not a question
    first[1][1] = "安竹社区卫生服务站"
    r = _ingest(sessions, env, _csv(env, "units", "安竹登记表（改）.csv", first), "units", "units_register")
    assert (r.loaded, r.quarantined) == (1, 0), r.problems
    with sessions() as s:
        assert s.get(Unit, "DW001").name == "安竹社区卫生服务站"


def test_an_offers_sheet_naming_its_units_under_a_header_of_its_own(sessions, env, registry):
    # "承接方" is no word of the offers sheet, but every value is a registered unit's name
    r, _ = _offers_sheet(
        sessions,
        env,
        [
            ["承接方", "服务事项", "每期名额", "服务范围", "服务区域", "开始日期", "结束日期"],
            ["安竹社区卫生服务中心", "健康咨询", "5", "社区", "安竹社区", "2026/11/1", "2027/1/31"],
            ["平春物业公司", "水管维修", "3", "社区", "平春社区", "2026/11/1", "2027/1/31"],
        ],
    )
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 2, 0)
    with sessions() as s:
        units = {u.id: u.name for u in s.scalars(select(Unit))}
        got = sorted((units[o.unit_id], o.item_code) for o in s.scalars(select(Offer)))
    assert got == [("安竹社区卫生服务中心", "HEALTH.CLINIC.CONSULT"), ("平春物业公司", "REPAIR.UTIL.PIPE")]
    assert any(m.startswith("列“承接方”") and "内容是单位" in m and "已按“单位”导入" in m for m in r.messages)


def test_a_register_without_a_kind_column_reads_each_kind_from_the_unit_s_name_and_its_community(
    sessions, env, registry
):
    # and its community under a header of its own ("片区"), read by what it holds
    rows = [
        ["单位名称", "片区", "联系电话"],
        ["安竹社区卫生服务中心", "安竹社区", "13300001111"],
        ["平春物业公司", "平春", "0531-88888888"],
        ["某某单位", "安竹社区", ""],  # its name says no kind: asked
    ]
    r = _ingest(sessions, env, _csv(env, "units", "共建单位.csv", rows), "units", "units_register")
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    with sessions() as s:
        kinds = {u.name: u.kind for u in s.scalars(select(Unit))}
    assert kinds == {"安竹社区卫生服务中心": "hospital", "平春物业公司": "company"}
    with sessions() as s:
        assert {u.name: u.community_id for u in s.scalars(select(Unit))} == {
            "安竹社区卫生服务中心": "C001",
            "平春物业公司": "C002",
        }
    assert any(m.startswith("列“片区”") and "已按“所属社区”导入" in m for m in r.messages)
    assert any("没有“单位类型”列" in m and "按单位名称判断类型" in m for m in r.messages)
    (asked,) = _reasons(sessions, "共建单位.csv")["某某单位"]
    assert "单位类型" in asked[0]


def test_an_offers_sheet_without_dates_runs_a_year_from_the_day_it_arrived(sessions, env, registry):
    r, _ = _offers_sheet(
        sessions,
        env,
        [
            ["单位名称", "服务事项", "每周次数", "服务范围", "服务区域"],
            ["安竹社区卫生服务中心", "健康咨询", "5", "社区", "安竹社区"],
            ["平春物业公司", "水管维修", "3", "社区", "平春社区"],
        ],
    )
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 2, 0)
    with sessions() as s:
        windows = {(o.window_start, o.window_end) for o in s.scalars(select(Offer))}
    assert windows == {(ARRIVED, date(2027, 11, 21))}
    assert any("没有服务期限" in m and "2026-11-21 起一年登记" in m for m in r.messages)
    # sent again a week later with another count: the same two offers, renewed from that day
    again = _csv(
        env,
        "offers",
        "资源清单（更新）.csv",
        [
            ["单位名称", "服务事项", "每周次数", "服务范围", "服务区域"],
            ["安竹社区卫生服务中心", "健康咨询", "6", "社区", "安竹社区"],
            ["平春物业公司", "水管维修", "3", "社区", "平春社区"],
        ],
    )
    r = ingest_file(sessions, again, "offers", "units_register", env.archive_dir, today=date(2026, 11, 28))
    assert (r.loaded, r.quarantined) == (2, 0)
    with sessions() as s:
        got = sorted((o.capacity_per_cycle, o.window_start, o.window_end) for o in s.scalars(select(Offer)))
    assert got == [(3, date(2026, 11, 28), date(2027, 11, 28)), (6, date(2026, 11, 28), date(2027, 11, 28))]


def test_a_sheet_of_another_list_put_in_the_wrong_folder_loads_as_that_list(sessions, env, registry):
    from intake.ingest import INBOX_FOLDERS, ingest_files, list_inbox
    from intake.mapping import DATASET_FOLDER

    # the folder each list is told to go in is one the collect flow reads it from
    assert all(INBOX_FOLDERS[folder][0] == dataset for dataset, folder in DATASET_FOLDER.items())
    offers = [
        ["单位名称", "服务事项", "每周次数", "服务范围", "服务区域", "开始日期", "结束日期"],
        ["安竹社区卫生服务中心", "健康咨询", "5", "社区", "安竹社区", "2026/11/1", "2027/1/31"],
    ]
    # the units register and the offers sheet swapped between their folders: each is read as
    # what its header plainly is, the units before the offers that name them
    _csv(env, "offers", "共建单位.csv", UNITS)
    _csv(env, "units", "资源清单.csv", offers)
    reports = ingest_files(sessions, list_inbox(env.inbox_dir), env.archive_dir, today=ARRIVED)
    got = {r.file: (r.dataset, r.status, r.loaded) for r in reports}
    assert got == {"共建单位.csv": ("units", "partial", 4), "资源清单.csv": ("offers", "loaded", 1)}
    (told,) = [r.messages[0] for r in reports if r.file == "资源清单.csv"]
    assert told == (
        "这张表放在了“units”文件夹，看表头是资源清单（不是共建单位名单）：已按资源清单导入；"
        "以后请放到收件箱的 offers/ 文件夹"
    )
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Offer)) == 1
    assert not [p for f in ("units", "offers") for p in (env.inbox_dir / f).iterdir()]  # both archived
    # without re-routing (reroute=False), the file is refused and told
    # where it belongs: its header names too few needs fields to be read at all ...
    path = _csv(env, "needs", "资源清单2.csv", [["安竹社区资源清单"], *offers])
    (r,) = ingest_files(
        sessions, [(path, "needs", "grid_sheet")], env.archive_dir, today=ARRIVED, reroute=False
    )
    assert r.status == "rejected"
    assert (
        r.error == "这张表是资源清单（看表头），不是居民需求表：请把它放到收件箱的 offers/ 文件夹后重新提交"
    )
    # ... or its header is read (所属社区, 联系电话 are needs columns too) and the needs' own
    # columns are missing; its rows are kept in quarantine
    path = _csv(env, "needs", "共建单位2.csv", [["安竹社区共建单位"], *UNITS[1:]])
    (r,) = ingest_files(
        sessions, [(path, "needs", "grid_sheet")], env.archive_dir, today=ARRIVED, reroute=False
    )
    assert (r.status, r.rows_read, r.quarantined) == ("rejected", 6, 6)
    assert r.error.startswith(
        "这张表是共建单位名单（看表头），不是居民需求表：请把它放到收件箱的 units/ 文件夹"
    )
    assert "6 行均未导入，已隔离保存" in r.error


def test_a_resources_sheet_with_a_column_per_service_is_an_offer_per_filled_cell(sessions, env, registry):
    """共建单位资源认领表 as a matrix: a row per unit, a column per service, each cell the places
    a week (5, "每周3次"); blank and 0 offer nothing; a tick with no number is asked for the
    places; a unit with nothing filled is left out, and said."""
    offers = [
        ["安竹社区共建单位资源认领表"],
        ["序号", "单位名称", "健康咨询", "水管维修", "独居老人探访", "服务范围", "开始日期", "结束日期"],
        ["1", "安竹社区卫生服务中心", "5", "", "2", "安竹社区", "2026/11/1", "2027/1/31"],
        ["2", "平春物业公司", "0", "每周3次", "一周两次", "安竹社区", "2026/11/1", "2027/1/31"],
        ["3", "楼长志愿队", "", "", "√", "安竹社区", "2026/11/1", "2027/1/31"],
        ["4", "民办非企业养老服务社", "", "", "", "安竹社区", "2026/11/1", "2027/1/31"],
    ]
    r, path = _offers_sheet(sessions, env, offers)
    with sessions() as s:
        units = {u.id: u.name for u in s.scalars(select(Unit))}
        got = sorted((units[o.unit_id], o.item_code, o.capacity_per_cycle) for o in s.scalars(select(Offer)))
    assert got == [
        ("安竹社区卫生服务中心", "ELDER.HOME.VISIT", 2),
        ("安竹社区卫生服务中心", "HEALTH.CLINIC.CONSULT", 5),
        ("平春物业公司", "ELDER.HOME.VISIT", 2),
        ("平春物业公司", "REPAIR.UTIL.PIPE", 3),
    ]
    assert (r.rows_read, r.loaded, r.quarantined) == (5, 4, 1)
    (said,) = [m for m in r.messages if "各项服务的名额" in m]
    assert "3 个单位共填了 5 项" in said and "1 行一项也没有填" in said and "请补填每周名额" in said
    assert not [m for m in r.messages if "未识别" in m]
    ((reason, hint),) = _reasons(sessions, path.name)["楼长志愿队"]
    assert "每期服务次数" in reason and "打了勾，但没有写名额" in hint
    # sent again a week later with one more place: the same offers, renewed (not a second set)
    later = [row[:] for row in offers]
    later[2][2] = "6"
    path2 = _csv(env, "offers", "资源认领表_更新.csv", later)
    _ingest(sessions, env, path2, "offers", "units_register")
    with sessions() as s:
        got = sorted((units[o.unit_id], o.item_code, o.capacity_per_cycle) for o in s.scalars(select(Offer)))
    assert got[1] == ("安竹社区卫生服务中心", "HEALTH.CLINIC.CONSULT", 6) and len(got) == 4
