"""Each real-world problem in a real file: exact rows quarantined, exact reasons, good rows loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.ingest import ingest_file
from store.models import Need, NeedSource, QuarantinedRow, SourceFile
from tests.conftest import copy_to_inbox, quarantined_reasons


def _ingest(
    sessions, env, name: str, dataset: str = "needs", source: str = "grid_sheet", folder: str = "needs"
):
    return ingest_file(sessions, copy_to_inbox(env, name, folder), dataset, source, env.archive_dir)


def _quarantined(sessions, file_name: str) -> dict[int, list[str]]:
    return {
        n: sorted(r["reason"] for r in reasons)
        for n, reasons in quarantined_reasons(sessions, file_name).items()
    }


def test_utf8_bom_fullwidth_digits_and_spaced_phones_load_cleaned(sessions, env, registry):
    r = _ingest(sessions, env, "needs_utf8_bom.csv")
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("loaded", 4, 4, 0)
    with sessions() as s:
        phones = dict(s.execute(select(Need.source_ref, Need.contact_phone)).all())
        items = dict(s.execute(select(Need.source_ref, Need.item_code)).all())
        grids = dict(s.execute(select(Need.source_ref, Need.grid_id)).all())
    assert phones == {
        "F1-001": "13812345678",
        "F1-002": "13912345678",
        "F1-003": "15012345678",
        "F1-004": "18600001111",
    }
    assert items["F1-001"] == "ELDER.HOME.VISIT" and items["F1-003"] == "REPAIR.HOME.APPLIANCE"
    assert grids["F1-003"] == "C001-G03"  # stray spaces trimmed


def test_gbk_file_quarantines_unknown_item_and_loads_the_rest(sessions, env, registry):
    r = _ingest(sessions, env, "needs_gbk.csv")
    assert (r.status, r.rows_read, r.loaded, r.quarantined) == ("partial", 3, 2, 1)
    assert _quarantined(sessions, "needs_gbk.csv") == {
        3: ["“服务事项”不在服务事项目录中（可填事项编码或中文名称）"]
    }


def test_xlsx_with_title_row_and_blank_trailing_rows(sessions, env, registry):
    r = _ingest(sessions, env, "needs_title_row.xlsx")
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    assert _quarantined(sessions, "needs_title_row.xlsx") == {4: ["缺少必填项“紧急程度”"]}


def test_every_bad_row_kind_is_quarantined_with_each_reason(sessions, env, registry):
    r = _ingest(sessions, env, "needs_bad_rows.csv")
    assert (r.rows_read, r.loaded, r.quarantined) == (9, 1, 8)
    q = _quarantined(sessions, "needs_bad_rows.csv")
    assert q == {
        2: ["“网格编号”不是本街道已登记的网格"],
        3: ["“联系电话”格式不对：应为11位手机号或带区号的座机号"],
        4: ["“期望结束日期”早于“期望开始日期”"],
        5: ["“登记时间”格式不对：应为日期时间，如 2026-11-16 09:30"],
        6: ["“需求编号”在本文件中重复"],
        7: ["“需求编号”在本文件中重复"],
        8: ["该行在表头以外的列还有内容（可能错列或多填）"],
        # no 需求编号: the row gets a stable derived reference instead of a "missing" reason
        10: ["缺少必填项“服务事项”", "缺少必填项“登记时间”", "缺少必填项“紧急程度”"],
    }
    with sessions() as s:
        raw = s.scalar(select(QuarantinedRow.raw).where(QuarantinedRow.row_number == 3))
    assert raw["contact_phone"] == "1350000" and raw["description"] == "电话位数不够"  # kept as handed over


def test_corrected_file_supersedes_quarantined_rows(sessions, env, registry):
    _ingest(sessions, env, "needs_bad_rows.csv")
    r = _ingest(sessions, env, "needs_bad_rows_fixed.csv")
    # F4-008 loaded the first time: now it is already there; the seven fixed rows load
    assert (r.rows_read, r.loaded, r.quarantined, r.already_loaded) == (8, 7, 0, 1)
    with sessions() as s:
        status = dict(s.execute(select(QuarantinedRow.row_number, QuarantinedRow.status)).all())
    # rows with a source reference that the fix supplied are superseded; the empty row keeps waiting
    assert status == {
        2: "superseded",
        3: "superseded",
        4: "superseded",
        5: "superseded",
        6: "superseded",
        7: "superseded",
        8: "superseded",
        10: "open",
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("needs_truncated.json", "整个文件无法读取：JSON 无法解析（文件可能被截断）"),
        ("needs_cut_gbk.csv", "整个文件无法读取：无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV"),
        (
            "needs_scan.pdf",
            "整个文件无法读取：不支持的文件类型“.pdf”：请提交 CSV、Excel（xlsx/xls）、ODS 或 JSON 文件",
        ),
        ("needs_broken.xls", "整个文件无法读取：Excel 文件无法打开（可能已损坏，或不是 xlsx/xls/ods 格式）"),
        ("needs_web_no_table.xls", "整个文件无法读取：文件是网页或 XML 格式，但其中没有表格"),
        ("needs_xml2003.xls", "整个文件无法读取：这是 Excel 2003 XML 表格"),
    ],
)
def test_unreadable_file_is_quarantined_whole_and_reported(sessions, env, registry, name, reason):
    r = _ingest(sessions, env, name)
    assert r.status == "rejected" and r.rows_read == 0
    with sessions() as s:
        row = s.execute(select(QuarantinedRow.row_number, QuarantinedRow.reasons, QuarantinedRow.raw)).one()
        archived = s.scalar(select(SourceFile.archive_path))
    assert row.row_number is None and row.reasons[0]["reason"].startswith(reason)
    assert row.raw["file"] == name
    assert Path(archived).exists()  # archived even when unreadable


def test_platform_duplicate_is_merged_into_existing_need_with_both_sources(sessions, env, registry):
    _ingest(sessions, env, "needs_utf8_bom.csv")
    r = _ingest(sessions, env, "needs_platform.json", source="platform")
    assert (r.rows_read, r.loaded, r.merged) == (2, 1, 1)
    with sessions() as s:
        need_id = s.scalar(select(Need.id).where(Need.source_ref == "F1-002"))
        sources = s.execute(
            select(NeedSource.source, NeedSource.source_ref).where(NeedSource.need_id == need_id)
        ).all()
    assert sorted(sources) == [("grid_sheet", "F1-002"), ("platform", "P-1001")]


def test_survey_answers_become_needs_deduplicated(sessions, env, registry):
    _ingest(sessions, env, "needs_utf8_bom.csv")
    r = _ingest(sessions, env, "survey_answers_2026q4.csv", source="survey", folder="surveys")
    # S-0001 is the same household and item as F1-001 -> merged; S-0002 is new
    assert (r.rows_read, r.loaded, r.merged) == (2, 1, 1)
    with sessions() as s:
        assert s.scalar(select(Need.source).where(Need.source_ref == "S-0002")) == "survey"


def test_units_and_offers_contracts(sessions, env, registry):
    u = _ingest(sessions, env, "units.csv", dataset="units", source="units_register", folder="units")
    assert (u.loaded, u.quarantined) == (2, 1)
    assert _quarantined(sessions, "units.csv") == {4: ["“所属社区”不是本街道已登记的社区"]}
    o = _ingest(sessions, env, "offers.json", dataset="offers", source="platform", folder="offers")
    assert (o.loaded, o.quarantined) == (2, 3)
    assert _quarantined(sessions, "offers.json") == {
        2: ["“每期服务次数”应大于 0"],
        3: ["“结束日期”早于“开始日期”"],
        4: ["“单位编号”不是已登记的共建单位（请先提交单位信息）"],
    }


def test_same_file_twice_loads_nothing_twice(sessions, env, registry):
    first = _ingest(sessions, env, "needs_utf8_bom.csv")
    again = _ingest(sessions, env, "needs_utf8_bom.csv")
    assert first.loaded == 4 and again.status == "duplicate_file" and again.loaded == 0
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Need)) == 4
        assert s.scalar(select(func.count()).select_from(SourceFile)) == 1
