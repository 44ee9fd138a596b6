"""Sheets as community workers make them by hand: other header words, title rows, merged cells,
grids by name, no reference column, dates and phones written many ways."""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from intake.ingest import ingest_file, ingest_files
from store.models import Need, NeedSource, QuarantinedRow, SourceFile
from tests.conftest import copy_to_inbox, quarantined_reasons

ARRIVED = date(2026, 11, 21)  # "11-5" on a sheet arriving today is 2026-11-05


def _in_inbox(env, folder: str, name: str):
    """Where a file made by the test goes: ``inbox/<folder>/<name>`` (the folder made)."""
    (env.inbox_dir / folder).mkdir(parents=True, exist_ok=True)
    return env.inbox_dir / folder / name


def _copy(env, name: str, as_name: str | None = None):
    return copy_to_inbox(env, name, as_name=as_name)


def _ingest(sessions, env, name: str, as_name: str | None = None):
    return ingest_file(
        sessions, _copy(env, name, as_name), "needs", "grid_sheet", env.archive_dir, today=ARRIVED
    )


def _quarantined(sessions, file_name: str) -> dict[int, list[tuple[str, str | None]]]:
    return {
        n: sorted((r["reason"], r.get("hint")) for r in reasons)
        for n, reasons in quarantined_reasons(sessions, file_name).items()
    }


def _needs(sessions) -> dict[str, tuple]:
    with sessions() as s:
        rows = s.execute(
            select(
                Need.contact_name,
                Need.grid_id,
                Need.item_code,
                Need.urgency,
                Need.submitted_at,
                Need.household_id,
            )
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


# the same sheet as a system's "Excel export" that is tab-separated text named .xls
@pytest.mark.parametrize("sheet", ["needs_hand_gbk.csv", "needs_hand_gbk_tab.xls"])
def test_gbk_community_sheet_with_title_and_no_reference_loads_its_good_rows(sessions, env, registry, sheet):
    r = _ingest(sessions, env, sheet)
    assert (r.rows_read, r.loaded, r.quarantined) == (9, 3, 6)
    needs = _needs(sessions)
    # grid by name on the community's own sheet (title names 安竹社区), item by a close name,
    # dates and phones as people write them
    assert needs["王秀英"][:4] == ("C001-G03", "ELDER.HOME.MEALS", 2, needs["王秀英"][3])
    assert needs["王秀英"][3].date() == date(2026, 11, 3)
    assert needs["李建国"][:3] == ("C001-G03", "REPAIR.HOME.APPLIANCE", 1)
    assert needs["张桂兰"][0] == "C001-G05" and needs["张桂兰"][3].date() == date(2026, 11, 5)
    q = _quarantined(sessions, sheet)
    assert sorted(q) == [6, 7, 8, 9, 10, 11]
    ((reason, hint),) = q[6]
    assert reason == "“网格编号”不是本街道已登记的网格" and "安竹社区没有名为“第99网格”的网格" in hint
    ((reason, hint),) = q[7]  # 维修: several items fit, the row asks which
    assert "不在服务事项目录中" in reason and "水管维修" in hint and "电路维修" in hint
    assert q[8] == [("“联系电话”格式不对：应为11位手机号或带区号的座机号", None)]
    ((reason, hint),) = q[9]  # 心里咨询: a typo of 心理咨询, an everyday word of 心理疏导: asked, named
    assert "是否指" in hint and "心理疏导" in hint
    assert q[10] == [("“登记时间”格式不对：应为日期时间，如 2026-11-16 09:30", None)]
    assert q[11] == [("缺少必填项“紧急程度”", None)]
    assert any("没有需求编号" in m for m in r.messages)


def test_repeated_sheet_is_a_no_op_and_a_corrected_one_supersedes(sessions, env, registry):
    _ingest(sessions, env, "needs_hand_gbk.csv")
    again = _ingest(sessions, env, "needs_hand_gbk.csv")
    assert again.status == "duplicate_file" and again.loaded == 0
    # the same rows in a file with new bytes (re-saved under another name): recognised row by row
    resaved = _copy(env, "needs_hand_gbk.csv", "needs_hand_gbk_again.csv")
    resaved.write_bytes(resaved.read_bytes() + b"\r\n")
    r = ingest_file(sessions, resaved, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.already_loaded, r.quarantined, r.already_quarantined) == (9, 0, 3, 0, 6)
    fixed = _ingest(sessions, env, "needs_hand_gbk_fixed.csv")
    # rows 4, 5 and 7 fixed in place load; 8 (date corrected) is a new row; 6 (phone) still bad
    assert (
        fixed.rows_read,
        fixed.loaded,
        fixed.already_loaded,
        fixed.quarantined,
        fixed.already_quarantined,
    ) == (8, 4, 3, 0, 1)
    with sessions() as s:
        status = dict(
            s.execute(
                select(QuarantinedRow.row_number, QuarantinedRow.status)
                .join(SourceFile, SourceFile.id == QuarantinedRow.source_file_id)
                .where(SourceFile.name == "needs_hand_gbk.csv")
            ).all()
        )
        assert s.scalar(select(func.count()).select_from(Need)) == 7
    assert status[6] == status[7] == status[9] == "superseded"
    assert status[8] == "open"  # the phone is still wrong in the fix


# the same ledger saved as Excel 97-2003 (WPS's and old Excel's .xls), and as a platform's
# "Excel export" that is a GBK web page named .xls (merged cells as colspan / rowspan)
@pytest.mark.parametrize(
    "sheet", ["needs_hand_ledger.xlsx", "needs_hand_ledger.xls", "needs_hand_ledger_web.xls"]
)
def test_excel_ledger_merged_cells_grid_with_community_and_unknown_column(sessions, env, registry, sheet):
    r = _ingest(sessions, env, sheet)
    assert (r.rows_read, r.loaded, r.quarantined) == (7, 5, 2)
    needs = _needs(sessions)
    # a grid cell merged down over three residents is each resident's grid
    assert {needs[n][0] for n in ("杨德明", "黄玉兰", "林海")} == {"C002-G03"}
    assert needs["陈淑珍"][:3] == ("C002-G01", "ELDER.DAILY.ESCORT", 2)
    assert needs["罗志强"][0] == "C002-G07"  # "第7网格" on 平春社区's ledger
    with sessions() as s:
        description = s.scalar(select(Need.description).where(Need.contact_name == "陈淑珍"))
    assert description == "去医院复查；子女在外地"  # 具体需求 + 备注, nothing dropped
    q = _quarantined(sessions, sheet)
    assert sorted(q) == [9, 11]
    assert "安竹社区没有名为“第20网格”的网格" in q[11][0][1]
    # the grid worker's column: one message for the file, naming it staff (it was "未识别", with
    # "网格" as the closest field: a wrong suggestion)
    (message,) = [m for m in r.messages if "网格员" in m]
    assert message == "列“网格员”未导入：是填表、走访的工作人员，不是居民或需求的信息"


@pytest.mark.parametrize("sheet", ["needs_hand_platform.csv", "needs_hand_platform.ods"])
def test_platform_csv_community_column_no_urgency_and_household_by_phone(sessions, env, registry, sheet):
    r = _ingest(sessions, env, sheet)
    assert (r.rows_read, r.loaded, r.quarantined) == (5, 4, 1)
    needs = _needs(sessions)
    assert needs["钱文"][:3] == ("C001-G03", "ASSIST.JOBS.SUPPORT", 1)  # 安竹 + 3号网格
    assert needs["苏梅"][0] == "C002-G12"  # 第十二网格
    assert needs["马超"][1] == "ENV.GREEN.CARE"  # 绿化 -> 绿化维护
    assert needs["户主"][0] == "C001-G01" and needs["户主"][4] == "C001-G01-H0001"
    q = _quarantined(sessions, sheet)
    ((_, hint),) = q[5]
    assert "多个社区都有" in hint  # 第1网格 without a community: asked, not guessed
    assert any("紧急程度" in m and "一般" in m for m in r.messages)


def test_missing_required_column_is_one_file_level_reason_and_keeps_every_row(sessions, env, registry):
    r = _ingest(sessions, env, "needs_hand_no_item.csv")
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("rejected", 2, 0, 2)
    missing = [m for m in r.messages if "缺少必填列" in m]
    assert len(missing) == 1 and "“服务事项”" in missing[0] and "需求类别" in missing[0]
    assert r.reasons == {"表中缺少必填列“服务事项”": 2}
    (personal,) = [m for m in r.messages if "身份证号" in m]  # reported, and never imported
    assert "未导入" in personal and "个人信息" in personal
    with sessions() as s:
        raws = s.scalars(select(QuarantinedRow.raw)).all()
    assert sorted(x["contact_name"] for x in raws) == ["许平", "韩雪"]  # every row kept whole


def test_one_run_checks_all_sheets_in_one_pass_and_accounts_for_every_row(sessions, env, registry):
    names = [
        "needs_hand_gbk.csv",
        "needs_hand_ledger.xlsx",
        "needs_hand_platform.csv",
        "needs_hand_no_item.csv",
        "needs_utf8_bom.csv",
        "needs_bad_rows.csv",
    ]
    files = [(_copy(env, n), "needs", "grid_sheet") for n in names]
    reports = ingest_files(sessions, files, env.archive_dir, today=ARRIVED)
    assert [r.file for r in reports] == names
    results = {id(r.validation) for r in reports if r.validation is not None}
    assert len(results) == 1  # one great-expectations validation for the run's needs files
    for r in reports:
        accounted = r.loaded + r.quarantined + r.already_quarantined + r.merged + r.already_loaded
        assert accounted == r.rows_read, r.file
    # "unique in this file" stays per file in the shared pass
    bad_rows = reports[-1]
    assert (bad_rows.rows_read, bad_rows.loaded, bad_rows.quarantined) == (9, 1, 8)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(NeedSource)) == sum(
            r.loaded + r.merged for r in reports
        )


def test_a_file_loaded_before_leaves_the_inbox(sessions, env, registry):
    _ingest(sessions, env, "needs_hand_platform.csv")
    again = _copy(env, "needs_hand_platform.csv")
    (report,) = ingest_files(sessions, [(again, "needs", "grid_sheet")], env.archive_dir, today=ARRIVED)
    assert report.status == "duplicate_file" and not again.exists()


def _workbook(path, sheets: dict[str, list[list[object]]]):
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


HEADER = ["姓名", "联系电话", "所属网格", "需求类别", "紧急程度", "登记日期"]


def test_workbook_with_a_sheet_per_grid_loads_every_sheet_and_names_a_different_one(sessions, env, registry):
    folder = env.inbox_dir / "needs"
    folder.mkdir(parents=True, exist_ok=True)
    grid1 = [HEADER, ["甲", "13800000001", "第1网格", "助餐", "一般", "2026-11-10"]]
    grid2 = [
        ["第2网格居民需求"],  # a title row on this sheet only
        HEADER,
        ["乙", "13800000002", "第2网格", "理发", "一般", "2026-11-10"],
        ["丙", "1380000", "第2网格", "助餐", "一般", "2026-11-11"],  # a phone short of digits
    ]
    path = _workbook(
        folder / "安竹社区需求.xlsx",
        {
            "填表说明": [["请按网格填写，每行一位居民"], ["电话写11位手机号"]],
            "第1网格": grid1,
            "第2网格": grid2,
            "空表": [HEADER],
            "汇总": [["所属网格", "需求类别", "人数"], ["第1网格", "助餐", "1"]],
        },
    )
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    needs = _needs(sessions)
    assert needs["甲"][0] == "C001-G01" and needs["乙"][:2] == ("C001-G02", "ELDER.DAILY.BATH")
    (read,) = [m for m in r.messages if m.startswith("导入了")]
    assert "“第1网格”（1 行）" in read and "“第2网格”（2 行）" in read
    (other,) = [m for m in r.messages if "未导入" in m]
    # the summary sheet has rows under another header: named; the instructions and the empty
    # template are not
    assert "“汇总”" in other and "表头列不同" in other
    assert "填表说明" not in other and "空表" not in other
    # the bad row is kept whole, with its sheet and its row in that sheet (row 4 of 第2网格)
    with sessions() as s:
        (q,) = s.scalars(select(QuarantinedRow)).all()
    assert q.raw["_sheet"] == "第2网格" and q.raw["_sheet_row"] == 4
    assert q.raw["contact_name"] == "丙"
    (problem,) = {(p["sheet"], p["row_number"]) for p in r.problems}
    assert problem == ("第2网格", 4)
    # the same workbook again: nothing new, nothing quarantined twice
    again = ingest_file(
        sessions,
        _workbook(folder / "安竹社区需求（再次提交）.xlsx", {"第1网格": grid1, "第2网格": grid2}),
        "needs",
        "grid_sheet",
        env.archive_dir,
        today=ARRIVED,
    )
    assert (again.loaded, again.already_loaded, again.quarantined) == (0, 2, 0)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Need)) == 2
        assert s.scalar(select(func.count()).select_from(QuarantinedRow)) == 1


@pytest.mark.parametrize(
    ("sheet_names", "title", "grids"),
    [
        (["第1网格", "第2网格"], None, ["C001-G01", "C001-G02"]),  # one sheet per grid
        (["Sheet1"], "安竹社区第3网格居民需求登记表", ["C001-G03"]),  # a grid worker's own sheet
        (["Sheet1"], "安竹社区第1-3网格居民需求登记表", None),  # several grids: not guessed
    ],
)
def test_a_grid_sheet_without_a_grid_column_takes_its_grid_from_its_name_or_title(
    sessions, env, registry, sheet_names, title, grids
):
    folder = env.inbox_dir / "needs"
    folder.mkdir(parents=True, exist_ok=True)
    header = ["姓名", "联系电话", "需求类别", "紧急程度", "登记日期"]
    sheets = {
        name: [
            *([[title]] if title else []),
            header,
            [f"居民{k}", f"1380000000{k}", "助餐", "一般", "2026-11-10"],
        ]
        for k, name in enumerate(sheet_names)
    }
    path = _workbook(folder / "安竹社区需求.xlsx", sheets)
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    if grids is None:  # the file is refused for its missing grid column, every row kept
        assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("rejected", 1, 0, 1)
        assert "所属网格" in r.error
        return
    assert (r.rows_read, r.loaded, r.quarantined) == (len(grids), len(grids), 0)
    needs = _needs(sessions)
    assert [needs[f"居民{k}"][0] for k in range(len(grids))] == grids
    assert any("行没有填写网格" in m for m in r.messages)


@pytest.mark.parametrize("grid_column", [True, False])
def test_a_workbook_names_its_community_once_for_all_its_grid_sheets(sessions, env, registry, grid_column):
    """A community's workbook, one sheet per grid, names the community only in its first sheet's
    title: its other sheets' grids are that community's. When the sheets name two communities,
    a sheet naming none is not guessed."""
    folder = env.inbox_dir / "needs"
    folder.mkdir(parents=True, exist_ok=True)
    header = ["姓名", "联系电话", *(["网格"] if grid_column else []), "需求类别", "紧急程度", "登记日期"]

    def row(name: str, phone: str, grid: str) -> list[str]:
        return [name, phone, *([grid] if grid_column else []), "助餐", "一般", "2026-11-10"]

    sheets = {
        "第1网格": [["安竹社区居民需求登记表"], header, row("甲", "13800000001", "第1网格")],
        "第2网格": [header, row("乙", "13800000002", "第2网格")],  # no title: the workbook's community
    }
    r = ingest_file(
        sessions,
        _workbook(folder / "需求登记.xlsx", sheets),
        "needs",
        "grid_sheet",
        env.archive_dir,
        today=ARRIVED,
    )
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 2, 0)
    needs = _needs(sessions)
    assert (needs["甲"][0], needs["乙"][0]) == ("C001-G01", "C001-G02")
    (lent,) = [m for m in r.messages if m.startswith("工作表“第2网格”")]
    assert "同一文件其他工作表的标题" in lent and "安竹社区" in lent

    # two communities named: the sheet that names none is asked about (or, without a grid column,
    # the file is refused for it), every row kept
    sheets["第1网格"][0] = ["平春社区居民需求登记表"]
    sheets["第3网格"] = [["安竹社区居民需求登记表"], header, row("丙", "13800000003", "第3网格")]
    r = ingest_file(
        sessions,
        _workbook(folder / "需求登记2.xlsx", sheets),
        "needs",
        "grid_sheet",
        env.archive_dir,
        today=ARRIVED,
    )
    if grid_column:
        assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
        (problem,) = r.problems
        assert problem["sheet"] == "第2网格" and "多个社区都有" in problem["hint"]
    else:
        assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("rejected", 3, 0, 3)


def test_phones_excel_turned_into_numbers_and_a_day_with_half_day(sessions, env, registry):
    path = _in_inbox(env, "needs", "安竹社区_导出.csv")
    rows = [
        HEADER,
        ["甲", "13912345678.0", "第1网格", "助餐", "一般", "2026年11月5日上午"],  # a float column
        ["乙", "1.3912345679E+10", "第1网格", "助餐", "一般", "2026-11-05"],  # every digit kept
        ["丙", "1.39123E+10", "第1网格", "助餐", "一般", "2026-11-05"],  # digits lost: asked
    ]
    path.write_bytes(csv_bytes(rows))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    with sessions() as s:
        got = dict(s.execute(select(Need.contact_name, Need.contact_phone)).all())
        day = s.scalar(select(Need.submitted_at).where(Need.contact_name == "甲"))
    assert got == {"甲": "13912345678", "乙": "13912345679"}
    assert day.date() == date(2026, 11, 5)
    ((reason, hint),) = _quarantined(sessions, path.name)[4]
    assert "联系电话" in reason and "科学计数法（1.39123E+10）" in hint and "文本" in hint


def csv_bytes(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in rows).encode("utf-8-sig")


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_two_level_header_reads_the_lower_level_under_group_labels(sessions, env, registry, kind):
    # 居民信息 / 需求情况 group the columns; 序号 and 登记日期 span both header rows (merged in
    # Excel, written once in the upper row of a CSV)
    upper = ["序号", "居民信息", "", "", "需求情况", "", "", "登记日期"]
    lower = ["", "姓名", "联系电话", "所属网格", "需求类别", "需求描述", "紧急程度", ""]
    data = [
        ["1", "甲", "13800000001", "第1网格", "助餐", "送餐", "一般", "2026-11-10"],
        ["2", "乙", "13800000002", "第2网格", "理发", "", "紧急", "2026-11-11"],
    ]
    folder = env.inbox_dir / "needs"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        path = folder / "安竹社区登记表.csv"
        path.write_bytes(csv_bytes([["安竹社区居民需求登记表"], upper, lower, *data]))
    else:
        from openpyxl import Workbook

        path = folder / "安竹社区登记表.xlsx"
        wb = Workbook()
        ws = wb.active
        for r in [["安竹社区居民需求登记表"], upper, lower, *data]:
            ws.append([v or None for v in r])
        for cells in ("A1:H1", "B2:D2", "E2:G2", "A2:A3", "H2:H3"):
            ws.merge_cells(cells)
        wb.save(path)
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 2, 0)
    needs = _needs(sessions)
    assert needs["甲"][:3] == ("C001-G01", "ELDER.HOME.MEALS", 1)
    assert needs["乙"][0] == "C001-G02" and needs["乙"][3].date() == date(2026, 11, 11)
    assert not [m for m in r.messages if "未识别" in m]  # the group labels are not columns


def test_more_header_words_communities_use_out_of_the_box(sessions, env, registry):
    path = _in_inbox(env, "needs", "安竹社区_服务对象.csv")
    header = ["服务对象", "联系人电话", "所在网格", "需求名称", "诉求", "急缓", "申请时间"]
    path.write_bytes(
        csv_bytes([header, ["甲", "13800000001", "第1网格", "助餐", "午饭送到家", "急", "2026-11-10"]])
    )
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (1, 1, 0)
    assert not [m for m in r.messages if "未识别" in m]
    assert _needs(sessions)["甲"][:3] == ("C001-G01", "ELDER.HOME.MEALS", 2)


def test_several_services_in_one_cell_are_a_need_each_and_a_community_after_the_grid_is_read(
    sessions, env, registry
):
    """One need is one service: a cell listing two ("助餐、理发") is a need for each, both kept
    (never one of them lost); two words for one service ("助餐/送餐") are that service; a group
    of the catalogue ("养老服务") is asked about with its items. A grid followed by its community
    in brackets is that community's grid."""
    path = _in_inbox(env, "needs", "需求.csv")
    header = ["姓名", "联系电话", "网格", "服务项目", "紧急程度", "登记日期"]
    rows = [
        ["甲", "13800000001", "安竹社区第1网格", "助餐、理发", "一般", "2026-11-10"],
        ["乙", "13800000002", "安竹社区第1网格", "助餐+陪诊", "一般", "2026-11-10"],
        ["丙", "13800000003", "安竹社区第1网格", "修水管和陪同看病", "一般", "2026-11-10"],
        ["丁", "13800000004", "安竹社区第1网格", "助餐/送餐", "一般", "2026-11-10"],
        ["戊", "13800000005", "第2网格（安竹）", "理发", "一般", "2026-11-10"],
        ["己", "13800000006", "第3网格(安竹社区)", "上门理发", "一般", "2026-11-10"],
        # a group of the catalogue is asked about with its items, unless it has one; "上门服务"
        # says how, not which
        ["庚", "13800000007", "安竹社区第1网格", "养老服务", "一般", "2026-11-10"],
        ["辛", "13800000008", "安竹社区第1网格", "就业帮扶", "一般", "2026-11-10"],
        ["壬", "13800000009", "安竹社区第1网格", "上门服务", "一般", "2026-11-10"],
        # a sentence naming a service among other words is not split: asked, as before
        ["癸", "13800000010", "安竹社区第1网格", "独居，需要助餐和陪诊", "一般", "2026-11-10"],
        # the services' own names between commas (a form's options as exported): a list
        ["子", "13800000011", "安竹社区第1网格", "助餐送餐，陪同就医", "一般", "2026-11-10"],
    ]
    path.write_bytes(csv_bytes([header, *rows]))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (15, 12, 3)
    with sessions() as s:
        got = sorted(s.execute(select(Need.contact_name, Need.grid_id, Need.item_code)).all())
    assert got == [
        ("丁", "C001-G01", "ELDER.HOME.MEALS"),
        ("丙", "C001-G01", "ELDER.DAILY.ESCORT"),
        ("丙", "C001-G01", "REPAIR.UTIL.PIPE"),
        ("乙", "C001-G01", "ELDER.DAILY.ESCORT"),
        ("乙", "C001-G01", "ELDER.HOME.MEALS"),
        ("子", "C001-G01", "ELDER.DAILY.ESCORT"),
        ("子", "C001-G01", "ELDER.HOME.MEALS"),
        ("己", "C001-G03", "ELDER.DAILY.BATH"),
        ("戊", "C001-G02", "ELDER.DAILY.BATH"),
        ("甲", "C001-G01", "ELDER.DAILY.BATH"),
        ("甲", "C001-G01", "ELDER.HOME.MEALS"),
        ("辛", "C001-G01", "ASSIST.JOBS.SUPPORT"),
    ]
    (said,) = [m for m in r.messages if "不止一项服务" in m]
    assert "4 格" in said and "“助餐、理发”" in said and "共 8 条" in said
    hints = {p["row_number"]: p["hint"] for p in r.problems if p["column"] == "item"}
    assert set(hints) == {8, 10, 11}
    assert "一类服务" in hints[8] and "独居老人探访" in hints[8] and "陪同就医" in hints[8]
    assert "是否指" in hints[10]
    assert "不止一项服务" in hints[11] and "陪同就医" in hints[11]
    # sent again, re-sorted: nothing new (each service's need is recognised as already loaded)
    again = _in_inbox(env, "needs", "需求_再次.csv")
    again.write_bytes(csv_bytes([header, *rows[::-1]]))
    r2 = ingest_file(sessions, again, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert r2.loaded == 0 and r2.already_loaded == 12


def test_personal_details_no_list_needs_are_not_imported_and_the_sheet_is_told_why(sessions, env, registry):
    # an ID number, sex and age in a grid worker's sheet: never imported, in one line that says it
    # is personal data (not "map the column in headers.csv"); no value of theirs reaches the store
    path = _in_inbox(env, "needs", "安竹社区需求.csv")
    header = ["姓名", "身份证号", "性别", "年龄（岁）", "联系电话", "所属网格", "需求类别", "登记日期"]
    rows = [
        ["甲", "330102194501011234", "女", "81", "13800000001", "第1网格", "助餐", "2026-11-10"],
        ["乙", "330102194501011235", "男", "80", "13800000002", "第1网格", "不存在的服务", "2026-11-10"],
    ]
    path.write_bytes(csv_bytes([header, *rows]))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 1, 1)
    (told,) = [m for m in r.messages if "身份证号" in m]
    assert "“身份证号”“性别”“年龄（岁）”" in told and "个人信息" in told and "headers.csv" not in told
    with sessions() as s:
        stored = [str(v) for n in s.scalars(select(Need)) for v in vars(n).values()]
        stored += [str(q.raw) for q in s.scalars(select(QuarantinedRow))]
    assert not [v for v in stored if "33010219450101" in v or "81" == v]


def test_a_hotline_export_without_a_date_column_is_registered_the_day_it_arrived(sessions, env, registry):
    path = _in_inbox(env, "needs", "安竹社区_12345工单.csv")
    header = ["工单编号", "来电人", "来电号码", "所属网格", "诉求分类", "来电内容"]
    path.write_bytes(csv_bytes([header, ["GD-001", "甲", "13800000001", "第1网格", "水管维修", "厨房漏水"]]))
    r = ingest_file(sessions, path, "needs", "hotline", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (1, 1, 0)
    assert not [m for m in r.messages if "未识别" in m]
    assert any("没有“登记时间”列" in m and ARRIVED.isoformat() in m for m in r.messages)
    with sessions() as s:
        need = s.scalars(select(Need)).one()
    assert (need.source_ref, need.contact_name, need.item_code) == ("GD-001", "甲", "REPAIR.UTIL.PIPE")
    assert need.submitted_at.date() == ARRIVED and need.description == "厨房漏水"


def test_preferred_times_in_words_or_impossible_dates(sessions, env, registry):
    path = _in_inbox(env, "needs", "安竹社区_期望时间.csv")
    header = [
        "姓名",
        "联系电话",
        "所属网格",
        "需求类别",
        "需求描述",
        "登记日期",
        "期望开始日期",
        "期望结束日期",
    ]
    rows = [
        header,
        ["甲", "13800000001", "第1网格", "助餐", "午饭", "2026-11-10", "尽快", ""],  # any time
        ["乙", "13800000002", "第1网格", "理发", "", "2026-11-10", "周末上午", ""],  # words: kept
        ["丙", "13800000003", "第1网格", "助餐", "", "2026-11-10", "2026-11-31", ""],  # no such day
        ["丁", "13800000004", "第1网格", "助餐", "", "2026-02-30 10:00", "", ""],  # nor this one
        ["戊", "13800000005", "第1网格", "助餐", "", "2026年11月", "", ""],  # which day: asked
    ]
    path.write_bytes(csv_bytes(rows))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (5, 2, 3)
    with sessions() as s:
        got = {n.contact_name: (n.preferred_start, n.description) for n in s.scalars(select(Need))}
    assert got["甲"] == (None, "午饭") and got["乙"] == (None, "期望时间：周末上午")
    quarantined = _quarantined(sessions, path.name)
    ((reason, hint),) = quarantined[4]
    assert "期望开始日期" in reason and "没有这一天" in hint
    ((reason, hint),) = quarantined[5]
    assert "登记时间" in reason and "没有这一天" in hint
    ((reason, hint),) = quarantined[6]
    assert "登记时间" in reason and "只写到了月份" in hint


def test_values_longer_than_the_store_keeps_are_asked_about(sessions, env, registry):
    path = _in_inbox(env, "needs", "安竹社区_长内容.csv")
    header = ["需求编号", "姓名", "联系电话", "所属网格", "需求类别", "登记日期", "来源"]
    long_name = "王秀英（由女儿李某代为反映，白天不在家，请晚上七点后联系，或联系楼长张阿姨转告，张阿姨住同单元三楼，谢谢）"
    assert len(long_name) > 50
    source = "网格员入户走访时居民当面反映，并由网格员代为登记录入社区工作台账和区平台"
    rows = [
        header,
        ["N-1", "甲", "13800000001", "第1网格", "助餐", "2026-11-10", "微信群"],
        ["N-2", long_name, "13800000002", "第1网格", "助餐", "2026-11-10", ""],
        ["N-" + "9" * 120, "丙", "13800000004", "第1网格", "助餐", "2026-11-10", ""],
        ["N-3", "乙", "13800000003", "第1网格", "助餐", "2026-11-10", source],
    ]
    path.write_bytes(csv_bytes(rows))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (4, 1, 3)
    quarantined = _quarantined(sessions, path.name)
    assert any("联系人" in reason and "50" in reason for reason, _ in quarantined[3])
    assert any("需求编号" in reason and "100" in reason for reason, _ in quarantined[4])
    assert any("来源" in reason and "32" in reason for reason, _ in quarantined[5])


def test_a_sheet_that_names_the_service_only_in_its_description(sessions, env, registry):
    # a grid worker's 需求内容 column and no 服务事项 column: a description that names an item
    # clearly is that item; one that does not is asked about; the total under the rows is no need
    path = _in_inbox(env, "needs", "安竹社区_需求登记.csv")
    rows = [
        ["安竹社区居民需求登记表", "", "", "", "", ""],
        ["序号", "居民姓名", "联系方式", "所在网格", "需求内容", "登记时间"],
        ["1", "甲", "13800000001", "第1网格", "助餐", "2026-11-10"],  # an item's short name
        ["2", "乙", "13800000002", "第1网格", "每周需要助餐送餐服务", "2026-11-10"],  # its full name
        ["3", "丙", "13800000003", "第2网格", "陪同买药", "2026-11-10"],  # close to one: asked
        ["4", "丁", "13800000004", "第2网格", "想找人聊聊天", "2026-11-10"],  # names none: asked
        ["5", "戊", "13800000005 / 13900000005", "第2网格", "理发", "2026-11-10"],  # two phones
        ["合计", "5人", "", "", "", ""],
        ["填表人：张三", "", "审核人：李四", "", "", ""],
        ["合计：5 人", "", "", "", "", ""],  # in the 序号 column alone: a total, not a blank line
    ]
    path.write_bytes(csv_bytes(rows))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("partial", 5, 2, 3)
    needs = _needs(sessions)
    assert needs["甲"][1] == needs["乙"][1] == "ELDER.HOME.MEALS"
    assert any("按需求描述中写明的服务登记" in m and "“助餐”→“助餐送餐”" in m for m in r.messages)
    (footer,) = [m for m in r.messages if "合计或签名行" in m]
    assert "第 8 行“合计 5人”" in footer and "第 9 行“填表人：张三 审核人：李四”" in footer
    assert "第 10 行“合计：5 人”" in footer and not [m for m in r.messages if "只有序号" in m]
    quarantined = _quarantined(sessions, path.name)
    assert sorted(quarantined) == [5, 6, 7]
    ((reason, hint),) = quarantined[5]
    assert "服务事项" in reason and "陪同买药" in hint and "陪同就医" in hint
    ((reason, hint),) = quarantined[6]
    assert "服务事项" in reason and "想找人聊聊天" in hint
    assert all("几个号码" in hint for reason, hint in quarantined[7])
    with sessions() as s:  # the rows not loaded are kept whole, the footer rows are not rows
        raws = s.scalars(select(QuarantinedRow.raw)).all()
    assert sorted(x["contact_name"] for x in raws) == ["丁", "丙", "戊"]


def test_a_date_in_a_community_sheet_s_title_names_no_grid():
    # "填表日期：2026/11/20" holds "11": the community's 第11网格 is not the sheet's grid
    from intake.resolve import Directory

    directory = Directory(
        communities=pd.DataFrame({"id": ["C001"], "name": ["安竹社区"]}),
        grids=pd.DataFrame(
            {
                "id": ["C001-G01", "C001-G11", "C001-G99"],
                "community_id": ["C001"] * 3,
                "name": ["第1网格", "第11网格", "幸福里网格"],
            }
        ),
        items=pd.DataFrame({"code": ["ELDER.HOME.MEALS"], "name_zh": ["助餐送餐"]}),
    )
    assert directory.grid_in("安竹社区居民需求登记表 填表日期：2026/11/20") is None
    assert directory.grid_in("安竹社区第11网格居民需求登记表 填表日期：2026/11/20") == "C001-G11"
    assert directory.grid_in("安竹社区幸福里网格需求表") == "C001-G99"  # a grid's own name


def test_grids_written_with_a_leading_zero_the_word_first_or_an_id_without_its_dash():
    from intake.resolve import Directory

    directory = Directory(
        communities=pd.DataFrame({"id": ["C001", "C002"], "name": ["安竹社区", "平春社区"]}),
        grids=pd.DataFrame(
            {
                "id": ["C001-G03", "C001-G10", "C002-G03"],
                "community_id": ["C001", "C001", "C002"],
                "name": ["第3网格", "第10网格", "第3网格"],
            }
        ),
        items=pd.DataFrame({"code": ["ELDER.HOME.MEALS"], "name_zh": ["助餐送餐"]}),
    )
    for written in ("03网格", "第03网格", "网格3", "网格三", "安竹社区03网格"):
        assert directory.grid(written, "C001") == ("C001-G03", None), written
    assert directory.grid("010网格", "C001") == ("C001-G10", None)
    for written in ("C001G03", "c001_g03", "C002G03"):
        assert directory.grid(written, None)[0] == written.upper().replace("_", "-")[:4] + "-G03"
    # without a community, a number is in both communities: asked, not guessed
    gid, hint = directory.grid("03网格", None)
    assert gid is None and "多个社区" in hint


def test_everyday_words_for_items_from_the_reference_file(sessions, env, registry, tmp_path, monkeypatch):
    # 修水管, 陪同看病, 上门理发 are what people write for 水管维修, 陪同就医, 助浴理发: the words
    # come from reference/item_words.csv (a district edits it); a word two items claim is neither's
    from intake.resolve import Directory
    from reference import load_item_words

    words = load_item_words()
    directory = Directory(
        communities=pd.DataFrame({"id": ["C001"], "name": ["安竹社区"]}),
        grids=pd.DataFrame({"id": ["C001-G01"], "community_id": ["C001"], "name": ["第1网格"]}),
        items=pd.DataFrame(
            {
                "code": [
                    "REPAIR.UTIL.PIPE",
                    "ELDER.DAILY.ESCORT",
                    "ELDER.DAILY.BATH",
                    "ELDER.HOME.MEALS",
                    "ELDER.HOME.VISIT",
                ],
                "name_zh": ["水管维修", "陪同就医", "助浴理发", "助餐送餐", "独居老人探访"],
            }
        ),
        item_words={**words, "ELDER.HOME.MEALS": ("送饭", "帮忙"), "REPAIR.UTIL.PIPE": ("修水管", "帮忙")},
    )
    assert directory.item("修水管") == ("REPAIR.UTIL.PIPE", None)
    assert directory.item("帮忙修水管") == ("REPAIR.UTIL.PIPE", None)  # holds one item's word
    assert directory.item("陪同看病") == ("ELDER.DAILY.ESCORT", None)
    assert directory.item("上门理发") == ("ELDER.DAILY.BATH", None)
    assert directory.item("帮忙")[0] is None  # claimed by two items
    assert directory.item_in_text("家里的水龙头漏水了，老人自己修不了")[0] is None  # no word for it here
    assert directory.item_in_text("老人腿脚不便，想请人帮忙修水管")[0] == "REPAIR.UTIL.PIPE"
    # who the resident is (独居老人) names no service: the meals are what is asked for
    assert directory.item_in_text("独居老人，腿脚不便，每天需要助餐送餐")[0] == "ELDER.HOME.MEALS"
    assert directory.item_in_text("希望社区定期上门探望独居老人")[0] == "ELDER.HOME.VISIT"
    code, hint = directory.item_in_text("每天送饭上门，另外要上门理发")
    assert code is None and "助浴理发" in hint and "助餐送餐" in hint

    # through a sheet: the district's own file of words
    own = tmp_path / "item_words.csv"
    own.write_text("item_code,words\nREPAIR.UTIL.PIPE,下水道堵了|修水管\n", encoding="utf-8")
    monkeypatch.setenv("THREELISTS_ITEM_WORDS_CSV", str(own))
    path = _in_inbox(env, "needs", "安竹社区_第1网格.csv")
    rows = [
        ["居民姓名", "联系电话", "所在网格", "服务事项", "登记时间"],
        ["甲", "13800000011", "第1网格", "下水道堵了", "2026-11-10"],
        ["乙", "13800000012", "第1网格", "修水管", "2026-11-10"],
        ["丙", "13800000013", "第1网格", "陪诊", "2026-11-10"],  # not in this district's words
    ]
    path.write_bytes(csv_bytes(rows))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    needs = _needs(sessions)
    assert needs["甲"][1] == needs["乙"][1] == "REPAIR.UTIL.PIPE"


def test_two_grids_sheets_numbered_alike_are_both_loaded(sessions, env, registry):
    """Grid workers number their sheets 1, 2, 3 in a 编号 column: another grid's row 1 is another
    resident's need, loaded under a reference of its own and said in the file's messages (before,
    it was skipped as "already loaded"); the same sheet sent again, edited, loads nothing twice."""
    header = "编号,姓名,联系电话,所属网格,需求类别,需求描述,紧急程度,登记日期"
    first = [
        header,
        "1,王秀英,13812345678,第3网格,助餐,送餐,紧急,2026/11/3",
        "2,李建国,13912345678,第3网格,家电修理,冰箱,一般,2026/11/4",
    ]
    second = [
        header,
        "1,赵桂芳,13712345678,第2网格,法律咨询,咨询,一般,2026/11/5",
        "2,钱德明,13612345678,第2网格,助浴,洗澡,一般,2026/11/6",
    ]

    def send(name: str, lines: list[str]):
        path = env.inbox_dir / "needs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8-sig")
        return ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)

    a, b = send("安竹社区第3网格.csv", first), send("安竹社区第2网格.csv", second)
    assert (a.loaded, b.loaded) == (2, 2), (a, b)
    needs = _needs(sessions)
    assert {n: needs[n][0] for n in needs} == {
        "王秀英": "C001-G03",
        "李建国": "C001-G03",
        "赵桂芳": "C001-G02",
        "钱德明": "C001-G02",
    }
    with sessions() as s:
        refs = dict(s.execute(select(Need.contact_name, Need.source_ref)).all())
    assert refs["王秀英"] == "1" and refs["赵桂芳"].startswith("1~") and refs["钱德明"].startswith("2~")
    edited = [second[0], second[1].replace("咨询,一般", "咨询遗产,一般"), second[2]]
    again = send("安竹社区第2网格（改）.csv", edited)
    assert (again.loaded, again.already_loaded) == (0, 2)
    r = send("安竹社区第2网格（再）.csv", [header, "1,孙秀兰,13512345678,第2网格,助餐,送餐,一般,2026/11/7"])
    assert r.loaded == 1 and any("编号此前已用于另一条需求" in m for m in r.messages), r.messages
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Need)) == 5


def test_sheets_numbered_alike_in_one_run_are_all_loaded(sessions, env, registry):
    """The same, both sheets in one run (their rows written together): each file says its own."""
    header = "编号,姓名,联系电话,所属网格,需求类别,需求描述,紧急程度,登记日期"
    sheets = {
        "安竹社区第3网格.csv": [header, "1,王秀英,13812345678,第3网格,助餐,送餐,紧急,2026/11/3"],
        "安竹社区第2网格.csv": [header, "1,赵桂芳,13712345678,第2网格,法律咨询,咨询,一般,2026/11/5"],
    }
    files = []
    for name, lines in sheets.items():
        path = env.inbox_dir / "needs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8-sig")
        files.append((path, "needs", "grid_sheet"))
    first, second = ingest_files(sessions, files, env.archive_dir, today=ARRIVED)
    assert (first.loaded, second.loaded) == (1, 1)
    said = [any("编号此前已用于另一条需求" in m for m in r.messages) for r in (first, second)]
    assert said == [False, True]


def test_a_platform_export_with_english_camel_case_keys_loads_as_its_chinese_twin(sessions, env, registry):
    # a city platform's API export: English keys as its developers wrote them (camelCase), in its
    # {"code", "data": {"records": [...]}} wrapper, with an ID card and a gender no list keeps
    import json

    path = _in_inbox(env, "needs", "platform_orders.json")
    record = {
        "orderNo": "GD-2026-0001",
        "residentName": "甲",
        "contactPhone": "138 0000 0001",
        "idCard": "330102194501011234",
        "gender": "女",
        "communityName": "安竹社区",
        "gridName": "第1网格",
        "serviceType": "助餐",
        "content": "行动不便，需要送餐",
        "createTime": "2026-11-20 09:12:00",
        "urgencyLevel": "紧急",
    }
    second = record | {"orderNo": "GD-2026-0002", "residentName": "乙", "contactPhone": "13800000002"}
    second |= {"idCard": "330102194501011235", "serviceType": "修水管", "urgencyLevel": "一般"}
    path.write_text(json.dumps({"code": 200, "data": {"total": 2, "records": [record, second]}}), "utf-8")
    r = ingest_file(sessions, path, "needs", "platform", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 2, 0), r.messages
    assert not [m for m in r.messages if "未识别" in m]
    (told,) = [m for m in r.messages if "idCard" in m]
    assert "“gender”" in told and "个人信息" in told
    with sessions() as s:
        needs = {n.source_ref: n for n in s.scalars(select(Need))}
        stored = [str(v) for n in needs.values() for v in vars(n).values()]
    assert set(needs) == {"GD-2026-0001", "GD-2026-0002"}
    first = needs["GD-2026-0001"]
    assert (first.contact_name, first.contact_phone, first.item_code) == (
        "甲",
        "13800000001",
        "ELDER.HOME.MEALS",
    )
    assert (first.urgency, first.description) == (2, "行动不便，需要送餐")
    assert first.submitted_at.isoformat() == "2026-11-20T09:12:00" and first.grid_id.endswith("G01")
    assert needs["GD-2026-0002"].item_code == "REPAIR.UTIL.PIPE"
    assert not [v for v in stored if "33010219450101" in v]


def test_an_export_whose_keys_are_all_unknown_is_refused_with_every_row_kept(sessions, env, registry):
    # no key of the records is a known column: the file is refused for its missing columns and
    # each record is kept in quarantine (its row held NaN before, which PostgreSQL's JSON refused:
    # the whole intake failed)
    import json

    path = _in_inbox(env, "needs", "odd_export.json")
    records = [{"fooBar": "甲", "bazQux": "助餐"}, {"fooBar": "乙", "bazQux": "理发"}]
    path.write_text(json.dumps({"data": {"records": records}}), "utf-8")
    r = ingest_file(sessions, path, "needs", "platform", env.archive_dir, today=ARRIVED)
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("rejected", 2, 0, 2)
    assert "缺少必填列" in r.error and any("“fooBar”未识别" in m for m in r.messages)
    with sessions() as s:
        kept = s.scalars(select(QuarantinedRow).order_by(QuarantinedRow.row_number)).all()
    assert [q.row_number for q in kept] == [1, 2]
    assert all("NaN" not in json.dumps(q.raw) for q in kept)


def test_an_export_naming_a_field_two_ways_fills_each_record_from_the_key_it_has(sessions, env, registry):
    # records merged from two systems: the phone under contactPhone in some and mobile in others,
    # a note under content and remark: each record keeps what it wrote (the second key was
    # dropped and a remark overwrote the content); only a record with two different phones asks
    import json

    path = _in_inbox(env, "needs", "merged_export.json")
    base = {"gridName": "安竹社区第1网格", "serviceType": "助餐", "createTime": "2026-11-20 09:00"}
    records = [
        base | {"orderNo": "A1", "residentName": "甲", "contactPhone": "13800000001", "content": "需要送餐"},
        base | {"orderNo": "A2", "residentName": "乙", "mobile": "13800000002", "remark": "独居"},
        base
        | {"orderNo": "A3", "residentName": "丙", "contactPhone": "13800000003", "content": "送餐"}
        | {"remark": "行动不便", "mobile": "13900000003"},
    ]
    path.write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    r = ingest_file(sessions, path, "needs", "platform", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 3, 0), r.messages
    with sessions() as s:
        needs = {n.source_ref: (n.contact_phone, n.description) for n in s.scalars(select(Need))}
    assert needs == {
        "A1": ("13800000001", "需要送餐"),
        "A2": ("13800000002", "独居"),
        "A3": ("13800000003", "送餐；行动不便"),
    }
    assert [m for m in r.messages if "都对应" in m] == [
        "列“mobile”与列“contactPhone”都对应“联系电话”：以“contactPhone”列为准，它空着的 1 行取了“mobile”列"
    ]


@pytest.mark.parametrize("name", ["需求登记.txt", "需求登记.csv"])
def test_excel_s_unicode_text_save_is_read(sessions, env, registry, name):
    # Excel's 另存为 "Unicode 文本 (*.txt)": UTF-16 with its byte-order mark, tab-separated
    path = _in_inbox(env, "needs", name)
    rows = [
        ["姓名", "联系电话", "所属网格", "服务事项", "登记日期"],
        ["甲", "13800000001", "安竹社区第1网格", "助餐", "2026-11-20"],
        ["吉𠮷", "13800000002", "安竹社区第1网格", "修水管", "2026/11/21"],
    ]
    path.write_bytes(b"\xff\xfe" + "".join("\t".join(r) + "\r\n" for r in rows).encode("utf-16-le"))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.status, r.rows_read, r.loaded) == ("loaded", 2, 2), r.error
    assert set(_needs(sessions)) == {"甲", "吉𠮷"}


def test_a_wenjuanxing_survey_export_loads_its_answers(sessions, env, registry):
    # 问卷星's export: numbered questions as headers ("1、您的姓名："), its own columns (提交答卷时间,
    # 所用时间, 来源 = how the answer was sent, 来自IP), "(跳过)" for a question not answered
    path = _in_inbox(env, "surveys", "第四季度需求调查_问卷星.xlsx")
    header = [
        "序号",
        "提交答卷时间",
        "所用时间",
        "来源",
        "来源详情",
        "来自IP",
        "1、您的姓名：",
        "2、联系电话：",
    ]
    header += [
        "3、您所在的网格：",
        "4、您家近期有需要社区帮助的事情吗？",
        "5、需要哪方面的服务？",
        "6、具体情况说明：",
    ]
    first = [1, "2026/11/20 9:30:12", "120秒", "手机提交", "直接访问", "1.2.3.4(浙江-杭州)", "甲"]
    first += ["13800000001", "安竹社区第1网格", "是", "助餐", "(跳过)"]
    second = [2, "2026/11/20 10:01:02", "98秒", "微信", "N/A", "1.2.3.5(浙江-杭州)", "乙"]
    second += ["13800000002", "安竹社区第1网格", "否", "(跳过)", "(跳过)"]
    _workbook(path, {"Sheet1": [header, first, second]})
    r = ingest_file(sessions, path, "needs", "survey", env.archive_dir, today=ARRIVED)
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("loaded", 2, 1, 0), r.messages
    assert not [m for m in r.messages if "未识别" in m]
    with sessions() as s:
        need = s.scalars(select(Need)).one()
        (source,) = s.scalars(select(NeedSource.source)).all()
    assert (need.contact_name, need.contact_phone, need.item_code) == (
        "甲",
        "13800000001",
        "ELDER.HOME.MEALS",
    )
    assert need.submitted_at.isoformat() == "2026-11-20T09:30:12" and not need.description
    assert source == "survey"


def test_two_numbered_phone_columns_fill_each_other_s_gaps(sessions, env, registry):
    # 联系电话1 and 联系电话2 (a resident's own and a child's): the first where it is filled, the
    # second where the first is empty, and the file says so (the second column was dropped)
    path = _in_inbox(env, "needs", "安竹社区需求.csv")
    header = ["姓名", "联系电话1", "联系电话2", "所属网格", "需求类别", "登记日期"]
    rows = [
        ["甲", "13800000001", "13900000001", "第1网格", "助餐", "2026-11-10"],
        ["乙", "", "13900000002", "第1网格", "助餐", "2026-11-10"],
    ]
    path.write_bytes(csv_bytes([header, *rows]))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (2, 2, 0)
    with sessions() as s:
        phones = dict(s.execute(select(Need.contact_name, Need.contact_phone)).all())
    assert phones == {"甲": "13800000001", "乙": "13900000002"}
    assert (
        "列“联系电话2”与列“联系电话1”都对应“联系电话”：以“联系电话1”列为准，它空着的 1 行取了“联系电话2”列"
        in r.messages
    )


def test_a_need_without_a_phone_is_linked_to_its_household_by_the_flat_however_written(
    sessions, env, registry
):
    # the registry writes 1栋101室; grid workers write 1号楼101, 1幢101室, 一栋101, 1-101
    import re

    from store.models import Household

    with sessions() as s:
        households = s.scalars(select(Household).order_by(Household.id)).all()
    home = next(h for h in households if re.fullmatch(r"\d+栋\d+室", h.address or ""))
    building, room = re.fullmatch(r"(\d+)栋(\d+)室", home.address).groups()
    path = _in_inbox(env, "needs", "需求.csv")
    header = ["姓名", "住址", "所属网格", "需求类别", "登记日期"]
    written = [f"{building}号楼{room}", f"{building}幢{room}室", f"{building}-{room}", "不存在的地址"]
    items = ["助餐", "理发", "修水管", "家电维修"]  # one household's same item would be merged
    rows = [[f"居民{k}", a, home.grid_id, items[k], "2026-11-10"] for k, a in enumerate(written)]
    path.write_bytes(csv_bytes([header, *rows]))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded) == (4, 4)
    with sessions() as s:
        linked = dict(s.execute(select(Need.contact_name, Need.household_id)).all())
    assert linked == {"居民0": home.id, "居民1": home.id, "居民2": home.id, "居民3": None}


def _load_sheet(sessions, env, path, rows: list[list[str]]):
    """``rows`` written to ``path`` as a UTF-8 CSV and loaded as a grid worker's needs sheet."""
    path.write_bytes(csv_bytes(rows))
    return ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)


def test_a_column_under_a_header_of_its_own_is_read_by_what_it_holds(sessions, env, registry):
    # "片区" holds the grids and "要办的事" the services: headers no vocabulary has, values that
    # are plainly a grid and an item of the register; "老人" (names) cannot be told by its values
    path = _in_inbox(env, "needs", "安竹社区_需求登记.csv")
    rows = [
        ["序号", "老人", "手机", "片区", "要办的事", "登记时间"],
        ["1", "甲", "13800000001", "第1网格", "助餐", "2026-11-10"],
        ["2", "乙", "13800000002", "第2网格", "理发", "2026-11-10"],
        ["3", "丙", "13800000003", "第2网格", "修水管", "2026-11-10"],
        ["4", "丁", "13800000004", "第1网格", "助餐送餐", "2026-11-10"],
        ["5", "戊", "13800000005", "第99网格", "助餐", "2026-11-10"],  # no such grid: asked
    ]
    r = _load_sheet(sessions, env, path, rows)
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("partial", 5, 4, 1)
    with sessions() as s:
        got = dict(s.execute(select(Need.grid_id, func.count()).group_by(Need.grid_id)).all())
        items = sorted(s.scalars(select(Need.item_code)).all())
    assert got == {"C001-G01": 2, "C001-G02": 2}
    assert items == ["ELDER.DAILY.BATH", "ELDER.HOME.MEALS", "ELDER.HOME.MEALS", "REPAIR.UTIL.PIPE"]
    (grid,) = [m for m in r.messages if m.startswith("列“片区”")]
    assert "内容是网格" in grid and "5 行中 4 行能对上" in grid and "已按“网格”导入" in grid
    (item,) = [m for m in r.messages if m.startswith("列“要办的事”")]
    assert "内容是服务事项" in item and "全部 5 行能对上" in item
    assert any(m.startswith("列“老人”未识别") for m in r.messages)  # a name says nothing of its column
    ((reason, hint),) = _quarantined(sessions, path.name)[6]
    assert "网格" in reason and "安竹社区没有名为“第99网格”的网格" in hint


def test_columns_read_by_content_only_when_one_column_plainly_holds_the_field(sessions, env, registry):
    # two unknown columns that both hold grids: which one is the need's is not guessed
    two = _in_inbox(env, "needs", "安竹社区_两列网格.csv")
    r = _load_sheet(
        sessions,
        env,
        two,
        [
            ["姓名", "片区", "原网格", "服务事项", "登记时间"],
            ["甲", "第1网格", "第2网格", "助餐", "2026-11-10"],
            ["乙", "第2网格", "第1网格", "理发", "2026-11-10"],
        ],
    )
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("rejected", 2, 0, 2)
    assert any("列“片区”“原网格”的内容都像“网格”" in m for m in r.messages)
    assert "缺少必填列“网格”" in r.error
    # a column of descriptions under a header of its own is not the item, though it names one
    # (a sentence naming 助餐 describes the need): the file still asks for its 服务事项 column
    told = _in_inbox(env, "needs", "安竹社区_情况.csv")
    r = _load_sheet(
        sessions,
        env,
        told,
        [
            ["姓名", "所属网格", "居民原话", "登记时间"],
            ["丙", "第1网格", "腿脚不便，每天需要助餐送餐", "2026-11-10"],
            ["丁", "第2网格", "家里水管漏水需要上门修水管", "2026-11-10"],
        ],
    )
    assert (r.status, r.loaded, r.quarantined) == ("rejected", 0, 2)
    assert "缺少必填列“服务事项”" in r.error
    assert any(m.startswith("列“居民原话”未识别") for m in r.messages)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Need)) == 0
    # numbers under a header of their own are a count as much as a grid's number: the grid
    # stays the one the sheet's title names
    counted = _in_inbox(env, "needs", "安竹社区第2网格_需求.csv")
    r = _load_sheet(
        sessions,
        env,
        counted,
        [
            ["姓名", "家中人数", "服务事项", "登记时间"],
            ["戊", "1", "助餐", "2026-11-10"],
            ["己", "3", "理发", "2026-11-10"],
        ],
    )
    assert (r.status, r.loaded) == ("loaded", 2)
    assert {n: v[0] for n, v in _needs(sessions).items()} == {"戊": "C001-G02", "己": "C001-G02"}


def test_a_name_and_a_phone_in_one_cell_are_read_apart(sessions, env, registry):
    # 联系人及电话 (one column for both, as many community sheets have it), written many ways;
    # where the sheet also has a phone column, that column's number stands
    path = _in_inbox(env, "needs", "安竹社区_联系人及电话.csv")
    rows = [
        ["序号", "联系人及电话", "所属网格", "服务事项", "登记时间"],
        ["1", "王秀英 13812345678", "第1网格", "助餐", "2026-11-10"],
        ["2", "李建国13812345679", "第1网格", "理发", "2026-11-10"],
        ["3", "张桂兰（女儿 138-1234-5670）", "第2网格", "助餐", "2026-11-10"],
        ["4", "赵四/电话0531-88886666", "第2网格", "理发", "2026-11-10"],
        ["5", "钱五", "第2网格", "理发", "2026-11-10"],  # no phone: the row as before
    ]
    r = _load_sheet(sessions, env, path, rows)
    assert (r.rows_read, r.loaded, r.quarantined) == (5, 5, 0)
    with sessions() as s:
        got = dict(s.execute(select(Need.contact_name, Need.contact_phone)).all())
    assert got == {
        "王秀英": "13812345678",
        "李建国": "13812345679",
        "张桂兰": "13812345670",
        "赵四": "053188886666",
        "钱五": None,
    }
    both = _in_inbox(env, "needs", "安竹社区_两列.csv")
    r = _load_sheet(
        sessions,
        env,
        both,
        [
            ["姓名", "联系电话", "所属网格", "服务事项", "登记时间"],
            ["孙六 13900000001", "13900000002", "第1网格", "助餐", "2026-11-11"],
            ["周七 13900000003", "", "第1网格", "助餐", "2026-11-11"],
        ],
    )
    assert r.loaded == 2
    with sessions() as s:
        got = dict(s.execute(select(Need.contact_name, Need.contact_phone)).all())
    assert (got["孙六"], got["周七"]) == ("13900000002", "13900000003")


def test_a_one_sheet_workbook_named_for_its_community_and_other_as_the_item(sessions, env, registry):
    # the file's name says nothing; its one sheet was renamed "安竹社区": the grids are that
    # community's. "其他" as the item says no more than a blank: the description says which
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "安竹社区"
    for row in [
        ["序号", "姓名", "联系电话", "所属网格", "服务事项", "需求描述", "登记日期"],
        [1, "甲", "13800000001", "第1网格", "助餐", None, "2026-11-10"],
        [2, "乙", "13800000002", "第2网格", "其他", "家里水管坏了，需要修水管", "2026-11-10"],
        [3, "丙", "13800000003", "第2网格", "其它", "想找人聊聊天", "2026-11-10"],  # asked
    ]:
        sheet.append(row)
    path = _in_inbox(env, "needs", "需求登记.xlsx")
    book.save(path)
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    needs = _needs(sessions)
    assert needs["甲"][:2] == ("C001-G01", "ELDER.HOME.MEALS")
    assert needs["乙"][:2] == ("C001-G02", "REPAIR.UTIL.PIPE")
    assert any("工作表名、表头标题或文件名中的“安竹社区”" in m for m in r.messages)
    assert any("（空着或写“其他”）" in m and "“水管维修”" in m for m in r.messages)
    ((reason, hint),) = _quarantined(sessions, path.name)[4]
    assert "服务事项" in reason and hint.startswith("服务事项写的是“其它”")


def _sheet_rows(sessions, file_name: str) -> dict[str, list[tuple]]:
    """The needs a file brought, by person: (item, description or None), sorted."""
    with sessions() as s:
        rows = s.execute(
            select(Need.contact_name, Need.item_code, Need.description)
            .join(NeedSource, NeedSource.need_id == Need.id)
            .join(SourceFile, SourceFile.id == NeedSource.source_file_id)
            .where(SourceFile.name == file_name)
        ).all()
    out: dict[str, list[tuple]] = {}
    for name, item, desc in sorted(rows, key=lambda r: (r[0], r[1])):
        out.setdefault(name, []).append((item, desc or None))
    return out


def test_a_checklist_of_services_is_a_need_per_tick(sessions, env, registry):
    """A 需求摸排表 with no 服务事项 column but a column per service, ticked: a need per ticked
    service (two columns of one service, 助浴 and 理发, are one need); words in a tick's place are
    that need's description; × and blanks are not ticks; a household with nothing ticked and
    nothing written is counted, not loaded or quarantined; one with only a description takes its
    service from it or is asked. Sent again, re-sorted, nothing is added."""
    from openpyxl import Workbook

    header = ["序号", "姓名", "联系电话", "住址", "助餐", "助浴", "理发", "陪同就医", "家政保洁", "水管维修"]
    header += ["其他需求", "登记日期"]
    rows = [
        [1, "甲", "13800000001", "3号楼", "√", "", "", "✓", "", "", "", "2026-11-20"],
        [2, "乙", "13800000002", "5号楼", "", "√", "√", "", "", "", "腿脚不便", "2026-11-20"],
        [3, "丙", "13800000003", "7号楼", "", "", "", "", "√", "每周一次", "", "2026-11-21"],
        [4, "丁", "13800000004", "8号楼", "×", "", "", "否", "", "", "", "2026-11-21"],
        [5, "戊", "13800000005", "9号楼", "", "", "", "", "", "", "想找人聊聊天", "2026-11-21"],
        [6, "己", "13800000006", "9号楼", "", "", "", "", "", "", "家里水管漏水", "2026-11-21"],
    ]

    def write(name: str, body: list[list[object]]):
        book = Workbook()
        sheet = book.active
        sheet.append(["安竹社区第2网格居民需求摸排表"])
        sheet.append(header)
        for row in body:
            sheet.append(row)
        path = _in_inbox(env, "needs", name)
        book.save(path)
        return ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)

    r = write("摸排表.xlsx", rows)
    got = _sheet_rows(sessions, "摸排表.xlsx")
    assert got == {
        "甲": [("ELDER.DAILY.ESCORT", None), ("ELDER.HOME.MEALS", None)],
        "乙": [("ELDER.DAILY.BATH", "腿脚不便")],
        "丙": [("REPAIR.HOME.CLEAN", None), ("REPAIR.UTIL.PIPE", "水管维修：每周一次")],
        "己": [("REPAIR.UTIL.PIPE", "家里水管漏水")],
    }
    with sessions() as s:
        assert set(s.scalars(select(Need.grid_id)).all()) == {"C001-G02"}
    assert (r.status, r.loaded, r.quarantined, r.no_need) == ("partial", 6, 1, 1)
    (said,) = [m for m in r.messages if "勾选栏" in m]
    assert "“助餐”“助浴”“理发”“陪同就医”“家政保洁”“水管维修”" in said and "3 行共勾选 5 项" in said
    assert "“每周一次”" in said
    assert not [m for m in r.messages if "未识别" in m]
    assert any(m.startswith("1 行没有勾选任何服务") for m in r.messages)
    ((_, hint),) = _quarantined(sessions, "摸排表.xlsx")[7]  # 戊, row 7 of the sheet
    assert "想找人聊聊天" in hint
    again = write("摸排表_再次.xlsx", rows[::-1])
    assert (again.loaded, again.already_loaded, again.no_need) == (0, 6, 1)


def test_a_surveys_multiple_choice_exported_as_a_column_per_option(sessions, env, registry):
    """问卷星's export of "需要哪些服务？" with one column per option (1 chosen, 0 not): a need per
    option chosen, not the first option's 1/0 read as the service; "其他" chosen takes the service
    from the description; "是" with nothing chosen is asked; "否" is counted."""
    q = "5.您需要哪些服务？"
    header = [
        "序号",
        "提交答卷时间",
        "1.您的姓名",
        "2.手机号码",
        "3.所在网格",
        "4.您家近期有需要社区帮助的事情吗？",
    ]
    header += [f"{q}(助餐送餐)", f"{q}(助浴理发)", f"{q}(陪同就医)", f"{q}(其他)", "6.具体情况说明"]
    rows = [
        ["1", "2026/11/20 10:01:02", "甲", "13800000001", "安竹社区第1网格", "是", "1", "0", "1", "0", ""],
        ["2", "2026/11/20 10:05:02", "乙", "13800000002", "安竹社区第1网格", "否", "0", "0", "0", "0", ""],
        [
            "3",
            "2026/11/20 11:05:02",
            "丙",
            "13800000003",
            "安竹社区第2网格",
            "是",
            "0",
            "0",
            "0",
            "1",
            "水管漏水",
        ],
        ["4", "2026/11/20 12:05:02", "丁", "13800000004", "安竹社区第2网格", "是", "0", "0", "0", "0", ""],
        # both questions skipped: "(跳过)" is no choice, as 0 is (and the household is asked)
        ["5", "2026/11/20 12:06:02", "戊", "13800000005", "安竹社区第2网格", *["(跳过)"] * 5, ""],
    ]
    path = _in_inbox(env, "needs", "问卷星_需求调查.csv")
    path.write_bytes(csv_bytes([header, *rows]))
    r = ingest_file(sessions, path, "needs", "survey", env.archive_dir, today=ARRIVED)
    assert _sheet_rows(sessions, path.name) == {
        "丙": [("REPAIR.UTIL.PIPE", "水管漏水")],
        "甲": [("ELDER.DAILY.ESCORT", None), ("ELDER.HOME.MEALS", None)],
    }
    assert (r.loaded, r.quarantined, r.no_need) == (3, 2, 1)
    assert not [m for m in r.messages if "未识别" in m or "重复" in m]
    ((_, hint),) = _quarantined(sessions, path.name)[5]
    assert "一项也没有勾选" in hint


def test_columns_named_by_a_service_are_not_a_checklist_alone(sessions, env, registry):
    # one service-named column of yes/no ("独居老人": is the resident one) beside a sheet's own
    # 服务事项 column is not a checklist: the sheet's item is the need, the column reported
    header = ["姓名", "联系电话", "网格", "服务事项", "独居老人", "陪同就医", "登记日期"]
    rows = [["甲", "13800000001", "安竹社区第1网格", "助餐", "是", "√", "2026-11-20"]]
    path = _in_inbox(env, "needs", "登记.csv")
    r = _load_sheet(sessions, env, path, [header, *rows])
    assert _sheet_rows(sessions, path.name) == {"甲": [("ELDER.HOME.MEALS", None)]}
    assert (r.loaded, r.quarantined) == (1, 0)
    assert any(m.startswith("列“独居老人”未识别") for m in r.messages)
    # without the 服务事项 column, one such column is not a checklist either: the column is asked for
    path = _in_inbox(env, "needs", "登记2.csv")
    r = _load_sheet(
        sessions,
        env,
        path,
        [
            [h for h in header if h not in ("服务事项", "陪同就医")],
            ["乙", "13800000002", "安竹社区第1网格", "是", "2026-11-20"],
        ],
    )
    assert r.status == "rejected" and "服务事项" in (r.error or "")


def test_a_cell_written_as_the_same_as_above_takes_the_cell_above(sessions, env, registry):
    """ "同上" (or 〃, a quote mark) under a grid, a date or a name is the cell above it, as a
    person reading the sheet takes it, and the file says how many; one in the first row has
    nothing above it and is asked about as written."""
    header = ["姓名", "联系电话", "网格", "服务事项", "登记日期"]
    rows = [
        ["甲", "13800000001", "安竹社区第1网格", "助餐", "2026-11-20"],
        ["同上", "同上", "同上", "理发", "同上"],  # the same resident, a second service
        ["乙", "13800000002", "〃", "修水管", '"'],
        ["丙", "13800000003", "安竹社区第2网格", "陪诊", "2026-11-21"],
    ]
    path = _in_inbox(env, "needs", "同上.csv")
    with path.open("w", encoding="utf-8-sig", newline="") as f:  # (the quote mark quoted, as Excel does)
        csv.writer(f).writerows([header, *rows])
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert (r.loaded, r.quarantined) == (4, 0)
    with sessions() as s:
        got = sorted(
            s.execute(select(Need.contact_name, Need.contact_phone, Need.grid_id, Need.item_code)).all()
        )
        days = {d.isoformat()[:10] for d in s.scalars(select(Need.submitted_at))}
    assert got == [
        ("丙", "13800000003", "C001-G02", "ELDER.DAILY.ESCORT"),
        ("乙", "13800000002", "C001-G01", "REPAIR.UTIL.PIPE"),
        ("甲", "13800000001", "C001-G01", "ELDER.DAILY.BATH"),
        ("甲", "13800000001", "C001-G01", "ELDER.HOME.MEALS"),
    ]
    assert days == {"2026-11-20", "2026-11-21"}
    assert "6 格写的是“同上”" in " ".join(r.messages)
    # nothing above the first row: "同上" there is asked about
    path = _in_inbox(env, "needs", "同上2.csv")
    r = _load_sheet(sessions, env, path, [header, ["丁", "13800000004", "同上", "助餐", "2026-11-20"]])
    assert (r.loaded, r.quarantined) == (0, 1)


@pytest.mark.parametrize("named", ["服务项目", "需求"])
def test_a_households_services_across_several_columns_are_a_need_each(sessions, env, registry, named):
    """服务项目1 | 服务项目2 (headers of the item, numbered) or 需求1 | 需求2 (headers of their own,
    holding services): a need per filled cell, the same service once; a cell no service matches
    is asked about as written, the row's other services loaded."""
    header = ["姓名", "联系电话", "网格", f"{named}1", f"{named}2", "登记日期"]
    rows = [
        ["甲", "13800000001", "安竹社区第1网格", "助餐", "理发", "2026-11-20"],
        ["乙", "13800000002", "安竹社区第1网格", "", "陪诊", "2026-11-20"],
        ["丙", "13800000003", "安竹社区第1网格", "修水管", "", "2026-11-20"],
        ["丁", "13800000004", "安竹社区第1网格", "助餐", "助餐送餐", "2026-11-20"],
        ["戊", "13800000005", "安竹社区第1网格", "助餐", "不存在的服务", "2026-11-20"],
    ]
    path = _in_inbox(env, "needs", f"{named}.csv")
    r = _load_sheet(sessions, env, path, [header, *rows])
    assert _sheet_rows(sessions, path.name) == {
        "丁": [("ELDER.HOME.MEALS", None)],
        "丙": [("REPAIR.UTIL.PIPE", None)],
        "乙": [("ELDER.DAILY.ESCORT", None)],
        "戊": [("ELDER.HOME.MEALS", None)],
        "甲": [("ELDER.DAILY.BATH", None), ("ELDER.HOME.MEALS", None)],
    }
    assert (r.loaded, r.quarantined) == (6, 1)
    (said,) = [m for m in r.messages if "每格登记为一条需求" in m]
    assert f"“{named}2”" in said and "2 行写了不止一项" in said
    assert not [m for m in r.messages if "未识别" in m or "没有替您选" in m or "只导入了" in m]
    with sessions() as s:  # (kept under a row number of its own; the sheet's row in its cells)
        ((raw, reasons),) = s.execute(select(QuarantinedRow.raw, QuarantinedRow.reasons)).all()
    assert (raw["contact_name"], raw["item"], str(raw["_sheet_row"])) == ("戊", "不存在的服务", "6")
    assert [r["column"] for r in reasons] == ["item"]
    (problem,) = r.problems
    assert problem["row_number"] == 6


def test_rows_the_sheet_marks_solved_are_counted_not_dispatched(sessions, env, registry):
    """A grid worker's sheet with 办理情况: a row already solved on the spot (已办结, 已解决, 是) is
    not a need to send a unit to: counted and said, neither loaded nor quarantined; 部分办结,
    未办结 and blanks load."""
    header = ["姓名", "联系电话", "网格", "服务事项", "登记日期", "办理情况"]
    rows = [
        ["甲", "13800000001", "安竹社区第1网格", "助餐", "2026-11-20", "已办结"],
        ["乙", "13800000002", "安竹社区第1网格", "理发", "2026-11-20", ""],
        ["丙", "13800000003", "安竹社区第1网格", "修水管", "2026-11-20", "未办结"],
        ["丁", "13800000004", "安竹社区第1网格", "陪诊", "2026-11-20", "部分办结"],
        ["戊", "13800000005", "安竹社区第1网格", "助餐", "2026-11-20", "已解决"],
    ]
    path = _in_inbox(env, "needs", "办理情况.csv")
    r = _load_sheet(sessions, env, path, [header, *rows])
    assert sorted(_sheet_rows(sessions, path.name)) == ["丁", "丙", "乙"]
    assert (r.rows_read, r.loaded, r.quarantined, r.done_already) == (5, 3, 0, 2)
    r.check_invariant()
    assert any(m.startswith("2 行的办理情况写的是已办结") for m in r.messages)
    assert not [m for m in r.messages if "办理情况" in m and "未导入：" in m]


def test_a_column_headed_need_is_the_need_in_the_residents_words(sessions, env, registry):
    """ "需求" is what the resident asked, in their words ("需要助餐", "家里水管漏水了", "理发"): the
    service read from it (a wish before the service, 需要/想要, says no more than the service),
    a sentence also kept as the need's description; numbered (需求1, 需求2) it is a need a column
    (test_a_households_services_across_several_columns_are_a_need_each)."""
    header = ["序号", "姓名", "电话", "住址", "需求", "日期"]
    rows = [
        ["1", "甲", "13800000001", "1号楼", "需要助餐", "2026-11-20"],
        ["2", "乙", "13800000002", "2号楼", "家里水管漏水了", "2026-11-20"],
        ["3", "丙", "13800000003", "3号楼", "想要理发服务", "2026-11-20"],
        ["4", "丁", "13800000004", "4号楼", "需要人陪着聊天", "2026-11-20"],  # no service named: asked
    ]
    path = _in_inbox(env, "needs", "安竹社区第1网格需求.csv")
    r = _load_sheet(sessions, env, path, [header, *rows])
    assert _sheet_rows(sessions, path.name) == {
        "丙": [("ELDER.DAILY.BATH", None)],
        "乙": [("REPAIR.UTIL.PIPE", "家里水管漏水了")],
        "甲": [("ELDER.HOME.MEALS", None)],
    }
    assert (r.loaded, r.quarantined) == (3, 1)
    assert not [m for m in r.messages if "未识别" in m]


def test_the_staff_who_filled_a_sheet_in_are_named_not_suggested_as_a_field(sessions, env, registry):
    # 网格员 (who visits the household) and 填表人 are the centre's staff: said in one line, never
    # "是否指“网格”" (the closest field by its letters), never imported
    header = ["姓名", "联系电话", "网格", "网格员", "服务事项", "登记日期", "填表人"]
    rows = [["甲", "13800000001", "安竹社区第1网格", "张三", "助餐", "2026-11-20", "李四"]]
    path = _in_inbox(env, "needs", "网格员.csv")
    r = _load_sheet(sessions, env, path, [header, *rows])
    assert (r.loaded, r.quarantined) == (1, 0)
    assert "列“网格员”“填表人”未导入：是填表、走访的工作人员，不是居民或需求的信息" in r.messages
    assert not [m for m in r.messages if "未识别" in m]


def test_a_numbered_row_split_into_needs_keeps_its_number_for_the_first(sessions, env, registry):
    # 需求编号 7 listing two services: the first need keeps "7", the second is "7-<its code>", the
    # same on every re-send (recognised as already loaded, not added again)
    header = ["需求编号", "姓名", "联系电话", "网格", "服务事项", "登记日期"]
    rows = [["7", "甲", "13800000001", "安竹社区第1网格", "助餐、理发", "2026-11-20"]]
    r = _load_sheet(sessions, env, _in_inbox(env, "needs", "编号.csv"), [header, *rows])
    assert r.loaded == 2
    with sessions() as s:
        refs = sorted(s.scalars(select(NeedSource.source_ref)).all())
    assert refs == ["7", "7-ELDER.DAILY.BATH"]
    again = _load_sheet(sessions, env, _in_inbox(env, "needs", "编号_再次.csv"), [header, *rows, []])
    assert (again.loaded, again.already_loaded) == (0, 2)


def test_a_checklist_under_a_group_label_over_its_service_columns(sessions, env, registry):
    # a two-level header: "需求类别（请打√）" merged across 助餐 | □助浴 | 上门理发 labels the group;
    # it names no column itself (the first service column was read as the item, holding ticks)
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["安竹社区第2网格居民需求摸排表"])
    sheet.append(["序号", "居民信息", "", "需求类别（请在需要的项目下打√）", "", "", "登记日期"])
    sheet.append(["", "姓名", "联系电话", "助餐", "□助浴", "上门理发", ""])
    for cells in ("A2:A3", "G2:G3", "B2:C2", "D2:F2"):
        sheet.merge_cells(cells)
    sheet.append([1, "甲", "13800000001", "✔", "", "✔", "2026-11-20"])
    sheet.append([2, "乙", "13800000002", "", "✔", "", "2026-11-20"])
    path = _in_inbox(env, "needs", "摸排表_两级表头.xlsx")
    book.save(path)
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir, today=ARRIVED)
    assert _sheet_rows(sessions, path.name) == {
        "乙": [("ELDER.DAILY.BATH", None)],
        "甲": [("ELDER.DAILY.BATH", None), ("ELDER.HOME.MEALS", None)],
    }
    assert (r.loaded, r.quarantined) == (3, 0)


def test_a_need_in_the_residents_words_beside_the_service_column_is_its_description(sessions, env, registry):
    """需求类别 | 需求: the service, and the resident's words. A sentence under 需求 is the need's
    description (not a second need asked about, not lost); a service there is a need of its own."""
    header = ["姓名", "联系电话", "网格", "需求类别", "需求", "登记日期"]
    rows = [
        ["甲", "13800000001", "安竹社区第1网格", "助餐", "每天中午送餐到家里", "2026-11-20"],
        ["乙", "13800000002", "安竹社区第1网格", "理发", "独居，行动不便，需要上门", "2026-11-20"],
        ["丙", "13800000003", "安竹社区第1网格", "助餐", "陪诊", "2026-11-20"],
        ["丁", "13800000004", "安竹社区第1网格", "修水管", "", "2026-11-20"],
    ]
    path = _in_inbox(env, "needs", "需求类别和需求.csv")
    r = _load_sheet(sessions, env, path, [header, *rows])
    assert _sheet_rows(sessions, path.name) == {
        "丁": [("REPAIR.UTIL.PIPE", None)],
        "丙": [("ELDER.DAILY.ESCORT", None), ("ELDER.HOME.MEALS", None)],
        "乙": [("ELDER.DAILY.BATH", "独居，行动不便，需要上门")],
        "甲": [("ELDER.HOME.MEALS", "每天中午送餐到家里")],
    }
    assert (r.loaded, r.quarantined) == (5, 0)
