"""Read what grid workers, units and platforms hand over into plain string tables.

Handles CSV (comma or tab separated) in UTF-8, UTF-8 with BOM and GBK/GB18030; Excel and
OpenDocument workbooks (xlsx, xls from Excel 97-2003 or WPS, xlsb, ods) with merged title rows
above the header and blank trailing rows; the "xls" files platforms export that are really a
web-page table or tab-separated text; JSON exports (a list, or an object holding one).
Headers in Chinese or English are mapped to canonical field names by a declared mapping.
A file that cannot be read at all raises :class:`UnreadableFile` with a reason an operator
understands; nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from intake.mapping import (
    kept_elsewhere,
    other_list,
    personal_not_kept,
    returned_list_column,
    staff_not_kept,
    vocabulary,
    wrong_folder,
)
from intake.normalize import LOCATION_COLUMNS

FREE_TEXT_FIELDS = {"description", "note", "comment"}


class UnreadableFile(Exception):
    """The file as a whole cannot be read; ``reason`` is for the operator (Chinese)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OtherList(UnreadableFile):
    """The file is plainly a sheet of another list (``dataset``), by its header."""

    def __init__(self, reason: str, dataset: str) -> None:
        super().__init__(reason)
        self.dataset = dataset


@dataclass(frozen=True)
class RawTable:
    """Rows as strings under canonical column names, with where each row was in the file."""

    rows: pd.DataFrame  # canonical columns + row_number (as an operator counts rows in the file)
    # header, suggestion (a field), duplicate_of, not_kept (the dataset that keeps no such field),
    # personal (a personal detail no list keeps), returned (a column of a list threelists sent out)
    unmapped_headers: list[dict[str, str | None]]
    meta: dict[str, str]  # title (rows above the header), source (a JSON export's own)
    present: list[str]  # the fields the file has a column for
    # several sheets read as one table: per sheet its name, title (rows above its header) and
    # row count; the rows then carry ``_sheet`` and ``_sheet_row`` (empty: one sheet)
    sheets: tuple[dict[str, str], ...] = ()
    # the cells of the columns whose header names no field (header -> cells, aligned with
    # ``rows``): never stored, only looked at when a required column is missing, in case one
    # of them holds it under a header of its own ("片区" holding 第3网格): see
    # ``intake.ingest._adopt_by_content``
    unknown: pd.DataFrame | None = None
    headers: tuple[str, ...] = ()  # the header as written (a JSON export's keys)


_, SHEET, SHEET_ROW = LOCATION_COLUMNS
ENCODINGS = ("utf-8-sig", "gb18030")
WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
# how a workbook's bytes begin: a zip (xlsx, xlsm, xlsb, ods) or an OLE2 compound file (xls)
ZIP_MAGIC, OLE2_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_table(path: Path, dataset: str) -> RawTable:
    """Read one inbox file for ``dataset`` (needs, units, offers, survey_answers, responses)."""
    path = Path(path)
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile("文件为空")
    if suffix in (".csv", ".txt", ".tsv") and not data.startswith((ZIP_MAGIC, OLE2_MAGIC)):
        grid, meta = _read_csv(data), {}
    elif suffix in WORKBOOKS or suffix in (".csv", ".txt", ".tsv"):  # a workbook named .csv too
        book = _read_workbook(data)
        read, others = _data_sheets(book, dataset)
        # a sheet's name is said (and read for the community or grid it names) when the workbook
        # has several, or its one sheet was given a name ("安竹社区", not "Sheet1")
        named = len(book) > 1 or not any(_DEFAULT_SHEET.fullmatch(str(n).strip()) for n, _ in book)
        table = _stack(
            [(n, _from_grid(g, dataset, {"sheet": n} if named and n else {}), len(g)) for n, g in read]
        )
        if others:
            table = replace(table, meta={**table.meta, "other_sheets": "、".join(f"“{n}”" for n in others)})
        return table
    elif suffix == ".json":
        return _from_records(*_read_json(data), dataset)
    elif suffix in (".jsonl", ".ndjson"):  # JSON Lines: one record per line
        return _from_records(*_read_json(data, lines=True), dataset)
    else:
        raise UnreadableFile(
            f"不支持的文件类型“{suffix or '无扩展名'}”：请提交 CSV、Excel（xlsx/xls）、ODS 或 JSON 文件"
        )
    return _from_grid(grid, dataset, meta)


_DEFAULT_SHEET = re.compile(r"(?i)(?:sheet|工作表|表|页)\s*\d*")


def _data_sheets(
    sheets: list[tuple[str, list[list[str]]]], dataset: str
) -> tuple[list[tuple[str, list[list[str]]]], list[str]]:
    """The workbook's data sheets: the first with a header row (a 填表说明 sheet before it is
    skipped) and every later sheet whose header names the same fields (one sheet per grid or per
    month), and the names of sheets that hold rows under a different header (a 汇总 sheet, a
    register of another kind): those are not read, and the operator is told so."""
    heads = [(name, grid, _find_header_row(grid, dataset)) for name, grid in sheets]
    with_header = [(name, grid, head) for name, grid, head in heads if head is not None]
    if not with_header:
        return [sheets[0]], []  # _from_grid says that no header row was found
    name, grid, head = with_header[0]
    layout = _layout(grid, head, dataset)
    read, others = [(name, grid)], []
    for n, g, h in with_header[1:]:
        if not any(str(c).strip() for row in g[h + 1 :] for c in row):
            continue  # a header and no rows: an empty template sheet
        if _layout(g, h, dataset) == layout:
            read.append((n, g))
        else:
            others.append(n)
    return read, others


def _layout(grid: list[list[str]], head: int, dataset: str) -> frozenset[str]:
    """The fields a sheet's header names (its lower level, for a two-level header)."""
    header = grid[head]
    if head + 1 < len(grid) and (two := _two_level_header(grid[head], grid[head + 1], dataset)):
        header = two
    return frozenset(f for f in _map_headers(header, dataset).fields if f is not None)


def _stack(parts: list[tuple[str, RawTable, int]]) -> RawTable:
    """Several sheets of one layout as one table. Each row keeps its sheet and its row in that
    sheet (``_sheet``, ``_sheet_row``: what the operator is shown); ``row_number``, the row's
    identity in the file, counts on from one sheet to the next as if they were pasted one under
    another."""
    if len(parts) == 1:
        return parts[0][1]
    frames, offset, seen = [], 0, set()
    unmapped: list[dict[str, str | None]] = []
    present: list[str] = []
    for name, table, height in parts:
        f = table.rows.copy()
        f.insert(1, SHEET_ROW, f["row_number"].astype(object))
        f.insert(1, SHEET, name)
        f["row_number"] += offset
        offset += height
        frames.append(f)
        for u in table.unmapped_headers:
            if u["header"] not in seen:
                seen.add(u["header"])
                unmapped.append(u)
        present += [c for c in table.present if c not in present]
    first = parts[0][1]
    counted = ("numbered_blank_rows", "unanswered_rows", "ditto_cells")
    meta = {k: v for k, v in first.meta.items() if k not in ("title", "footer_rows", *counted)}
    for key in counted:
        total = sum(int(t.meta.get(key, 0)) for _, t, _ in parts)
        if total:
            meta[key] = str(total)
    footers = [f"工作表“{n}”{t.meta['footer_rows']}" for n, t, _ in parts if t.meta.get("footer_rows")]
    if footers:
        meta["footer_rows"] = "；".join(footers)
    sheets = tuple(
        {"name": n, "title": t.meta.get("title", ""), "rows": str(len(t.rows))} for n, t, _ in parts
    )
    rows = pd.concat(frames, ignore_index=True)
    unknown = None
    if any(t.unknown is not None for _, t, _ in parts):
        unknown = pd.concat(
            [t.unknown if t.unknown is not None else pd.DataFrame(index=t.rows.index) for _, t, _ in parts],
            ignore_index=True,
        ).astype(object)
        unknown = unknown.where(unknown.notna(), None)
    return RawTable(
        rows=rows,
        unmapped_headers=unmapped,
        meta=meta,
        present=present,
        sheets=sheets,
        unknown=unknown,
        headers=first.headers,
    )


def _read_workbook(data: bytes) -> list[tuple[str, list[list[str]]]]:
    """Every sheet (name, cells) of a workbook, by what its bytes are, not its name: platforms
    save web-page tables and tab-separated text as ".xls", and Excel opens them without a word."""
    if data.startswith((ZIP_MAGIC, OLE2_MAGIC)):
        return _read_xlsx(data)
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"urn:schemas-microsoft-com:office:spreadsheet" in head and b"<workbook" in data[:4096].lower():
        raise UnreadableFile(
            "这是 Excel 2003 XML 表格（.xml 另存为 .xls），无法直接读取：请在 Excel 中另存为 xlsx"
        )
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<meta", b"<head", b"<body")):
        if b"<table" not in data.lower():
            raise UnreadableFile("文件是网页或 XML 格式，但其中没有表格：请在 Excel 中打开后另存为 xlsx")
        return [("", _read_html_table(data))]
    return [("", _read_csv(data))]  # text saved under a workbook's name


def _decode(data: bytes, encodings: tuple[str, ...], reason: str) -> str:
    """The text in the first of ``encodings`` that decodes it; ``UnreadableFile(reason)`` if none."""
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(reason)


def _read_csv(data: bytes) -> list[list[str]]:
    # Excel's "Unicode 文本 (*.txt)" is UTF-16 with its byte-order mark, tab-separated
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ENCODINGS
    text = _decode(data, encodings, "无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV")
    if "\x00" in text:
        raise UnreadableFile("文件内容不是文本表格（含二进制字符），可能已损坏")
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True))
    except csv.Error as exc:
        raise UnreadableFile(f"CSV 格式错误：{exc}") from exc


def _delimiter(text: str) -> str:
    """Tab when the first lines are tab-separated (a platform's "Excel" export), else comma."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    tabs = sum(line.count("\t") for line in lines)
    return "\t" if tabs > sum(line.count(",") for line in lines) else ","


class _TableParser(HTMLParser):
    """The cells of the first ``<table>`` of a web page, row by row; ``colspan`` leaves blank
    cells after the value, ``rowspan`` repeats the value down (as merged cells read)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.depth = 0  # tables open (a table inside a cell is read as that cell's text)
        self.done = False
        self.cell: list[str] | None = None
        self.span = (1, 1)
        self.down: dict[int, tuple[str, int]] = {}  # column -> (value, rows still to fill)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "table":
            self.depth += 1
        elif self.depth == 1 and tag == "tr":
            self.rows.append([])
            self._fill_down()
        elif self.depth == 1 and tag in ("td", "th") and self.rows:
            a = dict(attrs)
            self.cell, self.span = [], (_span(a.get("colspan")), _span(a.get("rowspan")))
        elif self.cell is not None and tag == "br":
            self.cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.done:
            return
        if tag == "table":
            self.depth -= 1
            self.done = self.depth == 0
        elif self.depth == 1 and tag == "tr" and self.rows:
            # a short row still has the cells spanned down from above (the columns stay aligned)
            row = self.rows[-1]
            for col in sorted(c for c in self.down if c >= len(row)):
                row.extend([""] * (col - len(row)))
                self._fill_down()
        elif self.depth == 1 and tag in ("td", "th") and self.cell is not None:
            row = self.rows[-1]
            value = " ".join("".join(self.cell).split())
            cols, down = self.span
            for k in range(cols):
                if down > 1:
                    self.down[len(row)] = (value if k == 0 else "", down - 1)
                row.append(value if k == 0 else "")
                self._fill_down()
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def _fill_down(self) -> None:
        """Cells a ``rowspan`` above covers, at the row's current end."""
        row = self.rows[-1]
        while len(row) in self.down:
            value, left = self.down.pop(len(row))
            if left > 1:
                self.down[len(row)] = (value, left - 1)
            row.append(value)


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1000))
    except ValueError:
        return 1


def _read_html_table(data: bytes) -> list[list[str]]:
    """A web-page table saved as ".xls" (UTF-8, or GBK as the page's charset says)."""
    head = data[:4096].lower()
    declared = "gb18030" if any(c in head for c in (b"gb2312", b"gbk", b"gb18030")) else None
    encodings = ((declared,) if declared else ()) + ENCODINGS
    text = _decode(data, encodings, "无法识别网页表格的编码：请在 Excel 中打开后另存为 xlsx")
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    if not parser.rows:
        raise UnreadableFile("网页表格中没有行：请在 Excel 中打开后另存为 xlsx")
    return parser.rows


def _read_xlsx(data: bytes) -> list[tuple[str, list[list[str]]]]:
    """Every sheet's cells of an xlsx, xls, xlsb or ods workbook, in the workbook's order
    (calamine, a compiled reader, ~20x openpyxl; openpyxl, first sheet of an xlsx, without it)."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - calamine is a declared dependency
        return [("", _read_xlsx_openpyxl(data))]
    out = []
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        for name in book.sheet_names:
            sheet = book.get_sheet_by_name(name)
            rows = sheet.to_python(skip_empty_area=False)
            grid = [
                ["" if v is None else v if v.__class__ is str else _cell_text(v) for v in row] for row in rows
            ]
            _fill_merged_down(grid, sheet.merged_cell_ranges or [])
            out.append((name, grid))
    except Exception as exc:  # calamine raises its own error types for broken zips / xml
        raise UnreadableFile(
            f"Excel 文件无法打开（可能已损坏，或不是 xlsx/xls/ods 格式）：{type(exc).__name__}"
        ) from exc
    if not out:
        raise UnreadableFile("Excel 文件中没有工作表")
    return out


def _fill_merged_down(grid: list[list[str]], merged: list) -> None:
    """A cell merged down over several rows (one grid or date for a block of residents) means
    that value on each of those rows; Excel keeps it in the top cell only. Rows with nothing
    else in them stay blank."""
    for (r0, c0), (r1, _c1) in merged:
        if r1 <= r0 or r0 >= len(grid) or c0 >= len(grid[r0]):
            continue
        value = grid[r0][c0]
        for r in range(r0 + 1, min(r1, len(grid) - 1) + 1):
            row = grid[r]
            if not any(str(c).strip() for j, c in enumerate(row) if j != c0):
                continue
            row.extend([""] * (c0 + 1 - len(row)))
            if not str(row[c0]).strip():
                row[c0] = value


def _read_xlsx_openpyxl(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnreadableFile(
            f"Excel 文件无法打开（可能已损坏或不是 xlsx 格式）：{type(exc).__name__}"
        ) from exc
    ws = wb.worksheets[0]
    out = []
    for row in ws.iter_rows(values_only=True):
        out.append(["" if v is None else _cell_text(v) for v in row])
    wb.close()
    return out


def _cell_text(v: object) -> str:
    if isinstance(v, pd.Timestamp) or hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()  # type: ignore[call-arg]
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_json(data: bytes, lines: bool = False) -> tuple[list[dict], dict[str, str]]:
    """The records of a JSON export: an array of objects, or the one array of objects an API's
    wrapper holds at any depth ({"code": 0, "data": {"total": 2, "list": [...]}}), its scalars
    kept as the file's meta; with ``lines``, JSON Lines (one object per line)."""
    try:
        text = data.decode("utf-8-sig")
        doc = [json.loads(line) for line in text.splitlines() if line.strip()] if lines else json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFile(f"JSON 无法解析（文件可能被截断）：{exc}") from exc
    meta: dict[str, str] = {}
    if isinstance(doc, dict):
        found: list[tuple[str, list]] = []

        def walk(node: dict, path: str, depth: int) -> None:
            for k, v in node.items():
                if isinstance(v, str | int | float) and not isinstance(v, bool):
                    meta.setdefault(str(k), str(v))
                elif isinstance(v, list) and (not v or all(isinstance(r, dict) for r in v)):
                    found.append((f"{path}{k}", v))
                elif isinstance(v, dict) and depth < 4:
                    walk(v, f"{path}{k}.", depth + 1)

        walk(doc, "", 0)
        full = [(where, v) for where, v in found if v] or found  # an empty list only when it is all
        if len(full) != 1:
            where = "、".join(w for w, _ in full) or "无"
            raise UnreadableFile(
                f"JSON 中找不到唯一的记录列表（应为记录数组，或含一个记录数组的对象；找到的数组：{where}）"
            )
        doc = full[0][1]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise UnreadableFile("JSON 记录必须是对象数组")
    return doc, meta


def _find_header_row(grid: list[list[str]], dataset: str) -> int | None:
    """The first row that names at least two known fields (skips merged title rows), or None."""
    vocab = vocabulary(dataset)
    for i, row in enumerate(grid[:20]):
        if len({vocab.field_of(cell) for cell in row if str(cell).strip()} - {None}) >= 2:
            return i
    return None


def _header_row(grid: list[list[str]], dataset: str) -> int:
    head = _find_header_row(grid, dataset)
    if head is not None:
        return head
    for row in grid[:20]:  # another list's sheet, put in this list's folder
        if (other := other_list(row, dataset)) is not None:
            raise OtherList(wrong_folder(dataset, other), other)
    raise UnreadableFile(
        "找不到表头行：前 20 行中没有可识别的列名（请对照 reference/headers.csv 中的列名，或在其中加入本表的列名）"
    )


@dataclass(frozen=True)
class _Columns:
    fields: list[str | None]  # per column: the field it feeds, or None
    unmapped: list[dict[str, str | None]]
    # per column that repeats a field an earlier column feeds (联系电话1, 联系电话2): the entry of
    # ``unmapped`` that reports it; the column fills that field where the earlier one is empty
    repeats: dict[int, dict[str, str | None]] = dataclass_field(default_factory=dict)
    # per column whose header names nothing threelists knows (not a personal detail, not a
    # field another list keeps): its header (``RawTable.unknown``)
    unknown: dict[int, str] = dataclass_field(default_factory=dict)


# what survey tools (ODK, KoboToolbox, 问卷星) add to an export besides the answers: not reported
FORM_META = {
    "start", "end", "today", "deviceid", "username", "phonenumber", "simserial", "subscriberid",
    "audit", "category", "_id", "_index", "_submission_time", "_submitted_by", "_status",
    "_validation_status", "_notes", "_tags", "_version_", "__version__", "_attachments",
    "_geolocation", "_parent_index", "_parent_table_name", "_xform_id_string", "_duration",
    "submissiondate", "submitterid", "submittername", "attachmentspresent", "attachmentsexpected",
    "reviewstate", "edits", "formversion", "key", "提交时间", "所用时间", "来源", "来源详情", "来自ip",
}  # fmt: skip


# columns only a survey tool's export has (问卷星; KoboToolbox; ODK): with two of them, the
# tool's own columns (FORM_META) are its own even where a list has a word for them: 问卷星's 来源
# is how the answer was sent, ODK's phonenumber and username the enumerator's device and login
TOOL_SIGNATURE = {
    *("提交答卷时间", "所用时间", "来源详情", "来自ip"),
    *("_uuid", "_submission_time", "_index", "_xform_id_string", "deviceid", "simserial", "subscriberid"),
    *("submissiondate", "submitterid", "submittername", "instanceid", "reviewstate"),
}


def _map_headers(headers: list[object], dataset: str) -> _Columns:
    """Map each header to a field; an unknown or repeated header is reported, never guessed. A
    survey export's group path ("household/grid_id") is read by its last part; a survey tool's
    own columns (submission time, device, ...) are left out without a word."""
    vocab = vocabulary(dataset)
    fields: list[str | None] = []
    unmapped: list[dict[str, str | None]] = []
    repeats: dict[int, dict[str, str | None]] = {}
    unknown: dict[int, str] = {}
    seen: dict[str, str] = {}
    # a survey tool's own export (TOOL_SIGNATURE): its own columns are not the list's
    tool = (
        len({str(h).strip().rsplit("/", 1)[-1].lower() for h in headers if h is not None} & TOOL_SIGNATURE)
        >= 2
    )
    options = _options(headers, dataset)
    for h in headers:
        text = str(h if h is not None else "").strip()
        field = vocab.field_of(text) if text and len(fields) not in options else None
        last = text.rsplit("/", 1)[-1]
        if field is None and last != text:
            field = vocab.field_of(last)
        if (field is None or tool) and last.lower() in FORM_META:
            fields.append(None)
            continue
        if field is not None and field in seen and field in MORE_NEEDS.get(dataset, ()):
            # 服务项目1, 服务项目2: a need each (``intake.split``), not a repeat filling blanks
            unmapped.append({"header": text, "suggestion": field, "duplicate_of": None, "more_of": field})
            unknown[len(fields)] = text
            field = None
        elif field is not None and field in seen and field not in FREE_TEXT_FIELDS:
            repeats[len(fields)] = {"header": text, "suggestion": field, "duplicate_of": seen[field]}
            unmapped.append(repeats[len(fields)])
            field = None
        elif field is not None:
            seen.setdefault(field, text)
        elif text and (returned := returned_list_column(dataset, last)):
            unmapped.append({"header": text, "suggestion": None, "duplicate_of": None, "returned": returned})
        elif text and staff_not_kept(last) and dataset in ("needs", "survey_answers"):
            unmapped.append({"header": text, "suggestion": None, "duplicate_of": None, "staff": "yes"})
        elif text and personal_not_kept(last):
            unmapped.append({"header": text, "suggestion": None, "duplicate_of": None, "personal": "yes"})
        elif text and kept_elsewhere(dataset, last):
            unmapped.append({"header": text, "suggestion": None, "duplicate_of": None, "not_kept": dataset})
        elif text:
            unmapped.append({"header": text, "suggestion": vocab.suggest(text), "duplicate_of": None})
            if text not in unknown.values():
                unknown[len(fields)] = text
        fields.append(field)
    return _Columns(fields, unmapped, repeats, unknown)


# the fields a sheet may give several columns of, each a need of its own: a household's needs
# across one row (需求1, 需求2; 服务项目1, 服务项目2), or a multiple-choice question's options
# ("5.需要哪些服务？(助餐)" 1/0, "(理发)" 1/0, ...), read by ``intake.split``
MORE_NEEDS = {"needs": ("item",)}
# a trailing bracket, and what is in it: a note ("(必填)") or, repeated, a question's options
_BRACKETED = re.compile(r"[(\[【（]([^)\]】）]*)[)\]】）]\s*$")


def _options(headers: list[object], dataset: str) -> set[int]:
    """The positions of the columns that are one question's options: two or more headers naming
    one of :data:`MORE_NEEDS` but for a bracketed part that differs. Such a column is not the
    field itself (it holds ticks, not the answer) but a column of its own, left to the checklist."""
    wanted = MORE_NEEDS.get(dataset, ())
    if not wanted:
        return set()
    vocab = vocabulary(dataset)
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for j, h in enumerate(headers):
        text = str(h if h is not None else "").strip()
        m = _BRACKETED.search(text)
        if m is None or not m.group(1).strip():
            continue
        field = vocab.field_of(text)
        if field in wanted:
            groups.setdefault((field, text[: m.start()].strip()), {})[j] = m.group(1).strip()
    return {j for g in groups.values() if len(set(g.values())) >= 2 for j in g}


def _two_level_header(upper: list[str], lower: list[str], dataset: str) -> list[str] | None:
    """One header from a two-level one ("居民信息" over 姓名 | 联系电话 | 所属网格, with 序号 and
    登记日期 merged down both rows), or None when ``lower`` is a data row. The lower row is a
    header level when it names at least two known fields the upper row does not."""
    vocab = vocabulary(dataset)
    known_upper = {vocab.field_of(c) for c in upper if str(c).strip()} - {None}
    known_lower = {vocab.field_of(c) for c in lower if str(c).strip()} - {None}
    if len(known_lower - known_upper) < 2:
        return None
    width = max(len(upper), len(lower))
    tops = [str(upper[j]).strip() if j < len(upper) else "" for j in range(width)]
    bottoms = [str(lower[j]).strip() if j < len(lower) else "" for j in range(width)]
    merged = []
    for j, (top, bottom) in enumerate(zip(tops, bottoms, strict=True)):
        # a label over several columns (written once, or merged across: "需求类别（请打√）" over
        # 助餐 | 助浴 | 理发) groups them; the lower level names each
        group = bool(top) and j + 1 < width and not tops[j + 1] and bool(bottoms[j + 1])
        # the lower level names the column, unless it is blank or only the upper names a field
        use_top = not bottom or (
            not group and vocab.field_of(bottom) is None and vocab.field_of(top) is not None
        )
        merged.append(top if use_top else bottom)
    return merged


# a list sent back with some lines still blank: the fields an answered line fills in (a line with
# none of them, only the list's own columns, is a call not made or work not answered yet: not a
# record, counted)
UNANSWERED = {
    "survey_answers": frozenset({"done", "satisfaction", "comment", "answered_at"}),
    "responses": frozenset({"action", "completed_on", "reason", "responded_at", "note"}),
}


def _from_grid(grid: list[list[str]], dataset: str, meta: dict[str, str]) -> RawTable:
    head = _header_row(grid, dataset)
    title = " ".join(str(c).strip() for row in grid[:head] for c in row if str(c).strip())
    if title:
        meta = {**meta, "title": title}
    header, first = grid[head], head + 1
    if first < len(grid) and (two := _two_level_header(grid[head], grid[first], dataset)) is not None:
        header, first = two, first + 1
    cols = _map_headers(header, dataset)
    width = len(cols.fields)
    rows, numbers, footers, numbered, unanswered, dittos = [], [], [], 0, 0, 0
    # (only on a sheet with a column for an answer: without one, the file is refused for it, every
    # row kept in quarantine)
    answers = UNANSWERED.get(dataset, frozenset()) & set(cols.fields)
    for offset, row in enumerate(grid[first:], start=first + 1):
        texts = [str(c).strip() for c in row]
        cells = [t for t in texts if t]
        if not cells:  # blank rows (trailing or between blocks) are not rows
            continue
        if _is_footer(cells, width):  # (also in the 序号 column: "合计：3 人" under the numbers)
            footers.append(f"第 {offset} 行“{' '.join(cells)[:30]}”")
            continue
        filled = {cols.fields[j] if j < width else None for j, t in enumerate(texts) if t}
        if filled == {"sheet_no"}:  # a template's numbered lines left empty (序号 1-50, 12 used)
            numbered += 1
            continue
        if answers and not filled & answers:  # a call not made yet, work not answered yet
            unanswered += 1
            continue
        if rows and not DITTO.isdisjoint(texts):  # "同上": the cell above it, as written
            above = rows[-1]
            row = [
                above[j] if t in DITTO and j < len(above) and str(above[j]).strip() else c
                for j, (c, t) in enumerate(zip(row, texts, strict=True))
            ]
            dittos += sum(t in DITTO for t in texts)
        rows.append(row)
        numbers.append(offset)
    if dittos:
        meta = {**meta, "ditto_cells": str(dittos)}
    if footers:
        meta = {**meta, "footer_rows": "、".join(footers)}
    if numbered:
        meta = {**meta, "numbered_blank_rows": str(numbered)}
    if unanswered:
        meta = {**meta, "unanswered_rows": str(unanswered)}

    def column(j: int) -> list[object]:  # column j's cells, row by row (None past a short row)
        return [row[j] if j < len(row) else None for row in rows]

    data = _fields(cols, column)
    extra = [
        "|".join(str(c) for c in row[width:]) if any(str(c).strip() for c in row[width:]) else None
        for row in rows
    ]
    if any(e is not None for e in extra):
        data["_extra_cells"] = pd.Series(extra, dtype=object)
    row_numbers = np.asarray(numbers, dtype="int64")
    headers = tuple(str(h).strip() for h in header)
    return _frame(
        pd.DataFrame(data), row_numbers, dataset, cols.unmapped, meta, _unknown(cols, column), headers
    )


# what a hand-made sheet writes in a cell for "the same as the row above" (a block of one grid's
# or one day's residents)
DITTO = frozenset({"同上", "同上。", "同上一行", "同前", "〃", "″", "〞", '"', "”", "“", "ditto"})
# what a hand-made sheet writes under its rows: a total (合计 12 人) or who filled it in and
# checked it (填表人：张三 审核人：李四); such a row holds a few cells of a wider table
FOOTER = re.compile(r"(合计|总计|小计|共计|填表人|填报人|制表人|审核人|统计人|负责人)")


def _fields(cols: _Columns, column: Callable[[int], list[object]]) -> dict[str, pd.Series]:
    """Each field's values from the columns that feed it (``column(j)``: column j's cells): two
    notes joined; a column repeating a field (联系电话2, a second JSON key) where the first is
    empty, counted in its report entry."""
    data: dict[str, pd.Series] = {}
    for j, field in enumerate(cols.fields):
        if field is None:
            continue
        col = pd.Series(column(j), dtype=object)
        data[field] = _join_text(data[field], col) if field in data else col
    for j, repeat in cols.repeats.items():
        first = data[str(repeat["suggestion"])]
        col = pd.Series(column(j), dtype=object)
        empty = [
            not str(a or "").strip() and bool(str(b or "").strip()) for a, b in zip(first, col, strict=True)
        ]
        if any(empty):
            data[str(repeat["suggestion"])] = first.where(~pd.Series(empty), col)
            repeat["filled"] = str(sum(empty))
    return data


def _unknown(cols: _Columns, column: Callable[[int], list[object]]) -> pd.DataFrame | None:
    """The cells of the columns whose header names no field (``RawTable.unknown``)."""
    if not cols.unknown:
        return None
    return pd.DataFrame({h: pd.Series(column(j), dtype=object) for j, h in cols.unknown.items()})


def _is_footer(cells: list[str], width: int) -> bool:
    """Whether a row's non-blank ``cells`` are a sheet's total or signature line, not a record."""
    return len(cells) <= max(3, width // 2) and FOOTER.match("".join(cells[0].split())) is not None


def _join_text(a: pd.Series, b: pd.Series) -> pd.Series:
    out = []
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        parts = [str(v).strip() for v in (x, y) if v is not None and str(v).strip()]
        out.append("；".join(parts) if parts else None)
    return pd.Series(out, dtype=object)


def _flat(record: dict, prefix: str = "") -> dict[str, object]:
    """A record with its nested objects as group paths ({"居民": {"姓名": …}} -> "居民/姓名", read
    by the last part as a survey tool's groups are) and a list of plain values as one text."""
    out: dict[str, object] = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        elif isinstance(v, list) and all(not isinstance(x, dict | list) for x in v):
            out[f"{prefix}{k}"] = "、".join(str(x) for x in v if x is not None)
        else:
            out[f"{prefix}{k}"] = v
    return out


def _from_records(records: list[dict], meta: dict[str, str], dataset: str) -> RawTable:
    if any(isinstance(v, dict | list) for rec in records for v in rec.values()):
        records = [_flat(rec) for rec in records]
    keys: list[str] = []
    for rec in records:
        for k in rec:
            if k not in keys:
                keys.append(k)
    cols = _map_headers(keys, dataset)

    def column(j: int) -> list[object]:  # a key's values, record by record (None where it is absent)
        k = keys[j]
        return [
            None
            if k not in rec
            else ""
            if (v := rec[k]) is None
            else v
            if v.__class__ is str
            else _cell_text(v)
            for rec in records
        ]

    frame = pd.DataFrame(_fields(cols, column))
    numbers = np.arange(1, len(records) + 1)
    return _frame(frame, numbers, dataset, cols.unmapped, meta, _unknown(cols, column), tuple(keys))


def _frame(
    data: pd.DataFrame,
    numbers: np.ndarray,
    dataset: str,
    unmapped: list[dict[str, str | None]],
    meta: dict[str, str],
    unknown: pd.DataFrame | None = None,
    headers: tuple[str, ...] = (),
) -> RawTable:
    columns = [*vocabulary(dataset).fields, "_extra_cells"]
    present = [c for c in columns if c in data.columns]
    if not len(data.columns):  # no column understood (records with no known key): a row each,
        data = pd.DataFrame(index=pd.RangeIndex(len(numbers)))  # all empty, not NaN
    df = data.reindex(columns=columns).astype(object)
    df = df.where(df.notna(), None)
    df.insert(0, "row_number", pd.Series(np.asarray(numbers, dtype="int64")))
    return RawTable(
        rows=df.reset_index(drop=True),
        unmapped_headers=unmapped,
        meta=meta,
        present=present,
        unknown=unknown,
        headers=headers,
    )
