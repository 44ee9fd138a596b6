"""Reading files by what their bytes are: web-page and text "xls" exports, tab-separated text."""

from __future__ import annotations

import pandas as pd
import pytest

from intake.readers import UnreadableFile, read_table

PAGE = (
    '<html><head><meta charset="gbk"></head><body><table>'
    '<tr><th colspan="4">安竹社区需求导出</th></tr>'
    "<tr><th>网格</th><th>姓名</th><th>联系电话</th><th>需求事项</th></tr>"
    '<tr><td rowspan="3">第1网格</td><td>甲</td><td>13800000001</td><td rowspan="2">助餐</td></tr>'
    "<tr><td>乙</td><td>13800000002</td></tr>"  # a short row: both spanned cells come from above
    "<tr><td>丙</td><td>13800000003</td><td>理发</td></tr>"
    "<tr><td>第2网格</td><td>丁&nbsp;某</td><td><table><tr><td>13800000004</td></tr></table></td>"
    "<td>家电<br>修理</td></tr>"
    "</table><table><tr><td>合计</td><td>4</td></tr></table></body></html>"
)


def test_web_page_named_xls_reads_its_first_table_with_spans(tmp_path):
    path = tmp_path / "export.xls"
    path.write_bytes(PAGE.encode("gbk"))
    t = read_table(path, "needs")
    rows = t.rows[["row_number", "grid_id", "contact_name", "contact_phone", "item"]].values.tolist()
    assert rows == [
        [3, "第1网格", "甲", "13800000001", "助餐"],
        [4, "第1网格", "乙", "13800000002", "助餐"],
        [5, "第1网格", "丙", "13800000003", "理发"],
        # a table inside a cell is that cell's text; a line break is a space; the second table is not read
        [6, "第2网格", "丁 某", "13800000004", "家电 修理"],
    ]
    assert t.meta["title"] == "安竹社区需求导出"


@pytest.mark.parametrize("name", ["export.txt", "export.xls", "export.tsv"])
def test_tab_separated_text_reads_as_columns(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(
        "姓名\t联系电话\t需求事项\t需求描述\n甲\t13800000001\t助餐\t午饭, 晚饭\n".encode("gb18030")
    )
    t = read_table(path, "needs")
    assert t.rows[["contact_name", "contact_phone", "item", "description"]].values.tolist() == [
        ["甲", "13800000001", "助餐", "午饭, 晚饭"]
    ]


def test_comma_separated_text_with_tabs_in_a_cell_stays_comma_separated(tmp_path):
    path = tmp_path / "needs.csv"
    path.write_text('姓名,联系电话,需求事项,需求描述\n甲,13800000001,助餐,"午饭\t晚饭"\n', encoding="utf-8")
    t = read_table(path, "needs")
    assert t.rows[["contact_name", "description"]].values.tolist() == [["甲", "午饭\t晚饭"]]


def test_a_zip_that_is_no_workbook_is_unreadable_with_a_reason(tmp_path):
    path = tmp_path / "needs.xlsx"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(UnreadableFile, match="Excel 文件无法打开"):
        read_table(path, "needs")


def test_a_workbook_named_csv_is_read_as_the_workbook(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["姓名", "联系电话", "需求事项"])
    wb.active.append(["甲", "13800000001", "助餐"])
    path = tmp_path / "needs.csv"
    wb.save(path)
    t = read_table(path, "needs")
    assert t.rows[["contact_name", "contact_phone", "item"]].values.tolist() == [
        ["甲", "13800000001", "助餐"]
    ]


def test_sheets_of_one_layout_stack_with_their_own_row_numbers(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    layouts = {
        "一月": [["姓名", "需求事项"], ["甲", "助餐"], [], ["乙", "理发"]],  # a blank row between
        "二月": [["二月登记"], ["需求事项", "姓名"], ["助浴", "丙"]],  # a title, columns swapped
        "统计": [["所属网格", "需求事项", "人数"], ["第1网格", "助餐", "1"]],  # another layout
    }
    for name, rows in layouts.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    path = tmp_path / "needs.xlsx"
    wb.save(path)
    t = read_table(path, "needs")
    got = t.rows[["row_number", "_sheet", "_sheet_row", "contact_name", "item"]].values.tolist()
    # row_number counts on as if the sheets were pasted one under another (一月 has 4 rows)
    assert got == [[2, "一月", 2, "甲", "助餐"], [4, "一月", 4, "乙", "理发"], [7, "二月", 3, "丙", "助浴"]]
    assert [(s["name"], s["title"], s["rows"]) for s in t.sheets] == [
        ("一月", "", "2"),
        ("二月", "二月登记", "1"),
    ]
    assert t.meta["other_sheets"] == "“统计”"


def test_answers_and_replies_as_people_say_them_are_coded():
    import pandas as pd

    from intake.normalize import normalize_rows

    rows = pd.DataFrame(
        {
            "row_number": [1, 2, 3, 4, 5, 6, 7],
            "satisfaction": ["非常满意", "4.0", "基本满意", "不满意", "好", "★★★★☆", "★★★★★"],
            "done": ["已完成", "没解决", "部分解决", "是", "不知道", "否", "是"],
            "action": ["同意", "退回", "已完成", "accept", "再说", "拒绝", "接单"],
        },
        dtype=object,
    )
    out = normalize_rows(rows)
    # unknown: as written, for the contract
    assert out["satisfaction"].tolist() == ["5", "4", "3", "2", "好", "4", "5"]
    assert out["done"].tolist() == ["yes", "no", "partly", "yes", "不知道", "no", "yes"]
    assert out["action"].tolist() == ["accept", "decline", "complete", "accept", "再说", "decline", "accept"]


def test_a_note_or_an_exclamation_around_an_answer_or_a_phone_keeps_its_meaning():
    # "紧急！", "特急（独居）", "13812345678（本人）", "儿子：139...": what is meant is plain; a word
    # the scale does not have, two numbers or an extension stay as written for the contract to ask
    import pandas as pd

    from intake.normalize import normalize_rows

    rows = pd.DataFrame(
        {
            "row_number": [1, 2, 3, 4, 5, 6],
            "urgency": ["紧急！", "特急（独居）", "一般。", "中", "非常紧急！！", "★"],
            "done": ["已完成。", "没解决!", "是（已上门）", "不知道", "否", "√"],
            "contact_phone": [
                "13812345678（本人）",
                "儿子：139 1234 5678",
                "座机 0571-87654321",
                "0571-8765 4321转801",
                "0571-87654321/13812345678",
                "1.39123E+10",
            ],
        },
        dtype=object,
    )
    out = normalize_rows(rows)
    assert out["urgency"].tolist() == ["2", "3", "1", "中", "3", "★"]
    assert out["done"].tolist() == ["yes", "no", "yes", "不知道", "no", "yes"]
    assert out["contact_phone"].tolist() == [
        "13812345678",
        "13912345678",
        "057187654321",
        "057187654321转801",
        "057187654321/13812345678",
        "1.39123E+10",
    ]


def test_dates_and_times_as_excel_and_people_write_them():
    # Excel's Chinese long date (with the weekday), an English-locale export (AM/PM, month/day
    # first), 3点半 and 中午; a day-month order that could be either stays as written (asked about);
    # an export's ISO 8601 moment with its offset is district time (Asia/Shanghai); a date in
    # Chinese numerals is its numbers (not a weekday's); a year and month with no day is asked
    from datetime import date

    import pandas as pd

    from intake.normalize import MONTH_ONLY, normalize_rows

    written = {
        "2026年11月3日星期二": "2026-11-03 00:00:00",
        "2026/11/3（周二）": "2026-11-03 00:00:00",
        "2026年11月3日 星期二 下午3点": "2026-11-03 15:00:00",
        "2026/11/3下午3点半": "2026-11-03 15:30:00",
        "2026-11-3 中午1点": "2026-11-03 13:00:00",
        "2026/11/3 9:30:00 AM": "2026-11-03 09:30:00",
        "2026/11/3 12:30 PM": "2026-11-03 12:30:00",
        "11/25/2026 12:10:00 AM": "2026-11-25 00:10:00",
        "25/11/2026 14:05": "2026-11-25 14:05:00",
        "11月3日下午3点半": "2026-11-03 15:30:00",
        "3/11/2026": "3/11/2026",
        "11/3/2026 9:30 PM": "11/3/2026 9:30 PM",
        "2026-11-03T09:30:00+08:00": "2026-11-03 09:30:00",
        "2026-11-03T01:30:00Z": "2026-11-03 09:30:00",
        "2026-11-02T20:30:00.250-05:00": "2026-11-03 09:30:00",
        "二〇二六年十一月三日": "2026-11-03 00:00:00",
        "二零二六年十一月三日星期二下午三点半": "2026-11-03 15:30:00",
        "十一月二十日上午十点": "2026-11-20 10:00:00",
        "二〇二六年二月三十日": "2026年2月30日（无此日期）",
        "二〇二六年十一月": "二〇二六年十一月",
        "2026年11月": "2026年11月",
        # a platform's createTime in milliseconds or seconds since 1970 (UTC): district time
        "1795137120000": "2026-11-20 09:12:00",
        "1795137120": "2026-11-20 09:12:00",
        "2026110309": "2026110309",  # ten digits that read as a day and an hour: asked, not a 2034 moment
    }
    rows = pd.DataFrame(
        {"row_number": range(1, len(written) + 1), "reported_at": list(written)}, dtype=object
    )
    out = normalize_rows(rows, today=date(2026, 11, 20))
    assert dict(zip(written, out["reported_at"], strict=True)) == written
    months = out["reported_at"].str.fullmatch(MONTH_ONLY)
    assert [list(written)[k] for k in months[months].index] == ["二〇二六年十一月", "2026年11月"]


def test_a_range_of_days_in_one_cell_is_its_two_ends():
    from intake.normalize import split_date_range

    cases = {
        "2026.11.1-2027.1.31": ("2026-11-01", "2027-01-31"),
        "2026-11-01-2027-01-31": ("2026-11-01", "2027-01-31"),  # the dashes of the dates themselves
        "2026年11月1日至2027年1月31日": ("2026-11-01", "2027-01-31"),
        "2026年11月-2027年1月": ("2026-11-01", "2027-01-31"),  # whole months
        "2026年11月至12月": ("2026-11-01", "2026-12-31"),
        "2026.11.20-12.5": ("2026-11-20", "2026-12-05"),  # the end's year is the start's
        "2026.11.20-1.5": ("2026-11-20", "2027-01-05"),  # ... or the next
        "2026/11/1~长期": ("2026-11-01", "长期"),
        "自2026年12月1日起至2027年1月31日止": ("2026-12-01", "2027-01-31"),  # the words around the ends
        "从2026年12月1日到2027年1月31日": ("2026-12-01", "2027-01-31"),
        "2026-12-01起": ("2026-12-01", "长期"),  # a start alone: from then on
        "2026-11-01": None,
        "每周六上午": None,
        "2026.13-2027.1": None,
    }
    assert {t: split_date_range(t, {"长期"}) for t in cases} == cases


def test_a_platform_api_wrapper_and_json_lines_give_their_records(tmp_path):
    # {"code": 0, "data": {"total": 2, "list": [...]}}: the one array of records at any depth, the
    # wrapper's scalars as the file's meta; JSON Lines: a record per line; two arrays of records
    # are not guessed between, and the error names them
    import json

    records = [
        {
            "工单编号": "GD-1",
            "来电人": "甲",
            "所属网格": "C001-G01",
            "诉求分类": "助餐",
            "受理时间": "2026-11-03",
        },
        {
            "工单编号": "GD-2",
            "来电人": "乙",
            "所属网格": "C001-G01",
            "诉求分类": "理发",
            "受理时间": "2026-11-03",
        },
    ]
    wrapped = tmp_path / "export.json"
    wrapped.write_text(json.dumps({"code": 0, "msg": "ok", "data": {"total": 2, "list": records}}), "utf-8")
    t = read_table(wrapped, "needs")
    assert t.rows["source_ref"].tolist() == ["GD-1", "GD-2"] and t.meta["total"] == "2"
    lines = tmp_path / "export.jsonl"
    lines.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", "utf-8")
    assert read_table(lines, "needs").rows["contact_name"].tolist() == ["甲", "乙"]
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"data": {"list": records, "deleted": records[:1]}}), "utf-8")
    with pytest.raises(UnreadableFile, match=r"data\.list、data\.deleted"):
        read_table(two, "needs")


def test_records_with_nested_objects_read_by_their_group_paths(tmp_path):
    # {"居民": {"姓名": ..., "电话": ...}, "位置": {"网格": ...}}: read as 居民/姓名 and so on, like a
    # survey tool's groups; a list of plain values ("标签": ["独居", "高龄"]) is one text
    import json

    record = {
        "工单编号": "GD-1",
        "居民": {"姓名": "甲", "电话": "13800000001"},
        "位置": {"网格": "C001-G01"},
        "诉求分类": "助餐",
        "受理时间": "2026-11-03 09:30",
        "诉求内容": ["送餐", "每天中午"],
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"data": [record]}, ensure_ascii=False), "utf-8")
    t = read_table(path, "needs")
    row = t.rows.iloc[0]
    assert (row["contact_name"], row["contact_phone"], row["grid_id"]) == ("甲", "13800000001", "C001-G01")
    assert row["description"] == "送餐、每天中午"


def test_english_header_words_are_one_key_however_the_platform_joins_them():
    from intake.mapping import header_key, vocabulary

    needs = vocabulary("needs")
    for written in ("contactPhone", "contact_phone", "Contact-Phone", "CONTACT_PHONE", "contact phone"):
        assert needs.field_of(written) == "contact_phone", written
    assert needs.field_of("createTime") == "reported_at" and needs.field_of("gridName") == "grid_id"
    # a survey tool's own columns keep their leading mark: "_id" is not the word "id"
    assert header_key("_id") == "_id" and needs.field_of("_id") is None
    assert needs.field_of("_uuid") == "source_ref" and needs.field_of("No.") == "sheet_no"


def test_no_header_word_is_claimed_by_two_fields_of_one_list():
    # the vocabulary file keeps the first field to claim a word: a second claim would be silently lost
    import csv

    from intake.mapping import header_key, headers_path

    claimed: dict[tuple[str, str], str] = {}
    with open(headers_path(), encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            for word in filter(None, (w.strip() for w in row["words"].split("|"))):
                key = (row["dataset"], header_key(word))
                assert claimed.setdefault(key, row["field"]) == row["field"], (key, word)


def test_a_platform_s_urgent_flag_is_the_urgency_it_says():
    import pandas as pd

    from intake.normalize import normalize_rows

    flags = ["true", "false", "True", "1", "0", "yes", "no"]
    rows = pd.DataFrame({"row_number": range(1, 8), "urgency": flags}, dtype=object)
    assert normalize_rows(rows)["urgency"].tolist() == ["2", "1", "2", "1", "1", "2", "1"]
    # a call system's isResolved and a unit platform's isAccepted
    rows = pd.DataFrame({"row_number": [1, 2, 3, 4], "done": ["true", "false", "1", "0"]}, dtype=object)
    assert normalize_rows(rows)["done"].tolist() == ["yes", "no", "yes", "no"]
    rows = pd.DataFrame({"row_number": [1, 2], "action": ["true", "False"]}, dtype=object)
    assert normalize_rows(rows)["action"].tolist() == ["accept", "decline"]


def test_a_survey_question_finds_the_field_its_words_name():
    from intake.mapping import vocabulary

    needs = vocabulary("needs")
    asked = {
        "1、您的姓名：": "contact_name",
        "(2)您的联系电话": "contact_phone",
        "Q3. 您所在的网格": "grid_id",
        "第4题 请问您的住址": "address",
        "5.需要哪方面的服务？": "item",
    }
    assert {h: needs.field_of(h) for h in asked} == asked
    # a number that is part of the word is not a question's number
    assert needs.field_of("1网格") is None and needs.field_of("您") is None


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("王秀英 13812345678", ("王秀英", "13812345678")),
        ("李阿姨：手机 13912345678", ("李阿姨", "13912345678")),
        ("王秀英（女儿 138-1234-5678）", ("王秀英", "138-1234-5678")),
        ("+86 138 1234 5678 刘", ("刘", "+86 138 1234 5678")),
        ("13812345678", (None, "13812345678")),
        ("王秀英", None),  # no phone
        ("王秀英 13812345678/13912345678", None),  # two: asked, as a phone cell's two are
        ("1号楼王秀英 13812345678", None),  # other digits: not a name and a phone only
    ],
)
def test_a_name_cell_holding_a_phone_is_split_only_when_plainly_one_of_each(cell, expected):
    from intake.normalize import split_contact

    assert split_contact(cell) == expected


def test_name_cells_of_any_type_are_looked_at_for_a_phone_without_failing():
    from intake.normalize import _split_contacts

    numbers = pd.DataFrame({"contact_name": pd.Series([1, 2], dtype=object)})  # (an export's ids)
    _split_contacts(numbers)
    assert numbers.to_dict("list") == {"contact_name": [1, 2]}
    frame = pd.DataFrame({"contact_name": pd.Series([1, None, "b 13812345678"], dtype=object)})
    _split_contacts(frame)
    assert frame.to_dict("list") == {
        "contact_name": [1, None, "b"],
        "contact_phone": [None, None, "13812345678"],
    }
