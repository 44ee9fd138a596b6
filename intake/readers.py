"""Read what grid workers, units and platforms hand over into plain string tables.

Handles CSV in UTF-8, UTF-8 with BOM and GBK/GB18030; XLSX with merged title rows above
the header and blank trailing rows; JSON exports (a list, or an object holding one).
Headers in Chinese or English are mapped to canonical field names by a declared mapping.
A file that cannot be read at all raises :class:`UnreadableFile` with a reason an operator
understands; nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from intake.mapping import vocabulary

FREE_TEXT_FIELDS = {"description", "note", "comment"}


class UnreadableFile(Exception):
    """The file as a whole cannot be read; ``reason`` is for the operator (Chinese)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RawTable:
    """Rows as strings under canonical column names, with where each row was in the file."""

    rows: pd.DataFrame  # canonical columns + row_number (as an operator counts rows in the file)
    unmapped_headers: list[dict[str, str | None]]  # header, suggestion (a field), duplicate_of
    meta: dict[str, str]  # title (rows above the header), source (a JSON export's own)
    present: list[str]  # the fields the file has a column for


ENCODINGS = ("utf-8-sig", "gb18030")


def read_table(path: Path, dataset: str) -> RawTable:
    """Read one inbox file for ``dataset`` (needs, units, offers, survey_answers, responses)."""
    path = Path(path)
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile("文件为空")
    if suffix == ".csv" or suffix == ".txt":
        grid, meta = _read_csv(data), {}
    elif suffix in (".xlsx", ".xlsm"):
        grid, meta = _read_xlsx(data), {}
    elif suffix == ".json":
        return _from_records(*_read_json(data), dataset)
    else:
        raise UnreadableFile(f"不支持的文件类型“{suffix or '无扩展名'}”：请提交 CSV、XLSX 或 JSON")
    return _from_grid(grid, dataset, meta)


def _read_csv(data: bytes) -> list[list[str]]:
    for enc in ENCODINGS:
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadableFile("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV")
    if "\x00" in text:
        raise UnreadableFile("文件内容不是文本表格（含二进制字符），可能已损坏")
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), strict=True)]
    except csv.Error as exc:
        raise UnreadableFile(f"CSV 格式错误：{exc}") from exc


def _read_xlsx(data: bytes) -> list[list[str]]:
    """The first sheet's cells (calamine, a compiled reader, ~20x openpyxl; openpyxl without it)."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - calamine is a declared dependency
        return _read_xlsx_openpyxl(data)
    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
        merged = sheet.merged_cell_ranges or []
    except Exception as exc:  # calamine raises its own error types for broken zips / xml
        raise UnreadableFile(
            f"Excel 文件无法打开（可能已损坏或不是 xlsx 格式）：{type(exc).__name__}"
        ) from exc
    grid = [["" if v is None or v == "" else _cell_text(v) for v in row] for row in rows]
    _fill_merged_down(grid, merged)
    return grid


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


def _read_json(data: bytes) -> tuple[list[dict], dict[str, str]]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFile(f"JSON 无法解析（文件可能被截断）：{exc}") from exc
    meta: dict[str, str] = {}
    if isinstance(doc, dict):
        meta = {k: str(v) for k, v in doc.items() if isinstance(v, str | int | float)}
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise UnreadableFile("JSON 中找不到唯一的记录列表（应为记录数组，或含一个记录数组的对象）")
        doc = lists[0]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise UnreadableFile("JSON 记录必须是对象数组")
    return doc, meta


def _header_row(grid: list[list[str]], dataset: str) -> int:
    """The first row that names at least two known fields (skips merged title rows)."""
    vocab = vocabulary(dataset)
    for i, row in enumerate(grid[:20]):
        if len({vocab.field_of(cell) for cell in row if str(cell).strip()} - {None}) >= 2:
            return i
    raise UnreadableFile(
        "找不到表头行：前 20 行中没有可识别的列名（请对照 reference/headers.csv 中的列名，或在其中加入本表的列名）"
    )


@dataclass(frozen=True)
class _Columns:
    fields: list[str | None]  # per column: the field it feeds, or None
    unmapped: list[dict[str, str | None]]


def _map_headers(headers: list[object], dataset: str) -> _Columns:
    """Map each header to a field; an unknown or repeated header is reported, never guessed."""
    vocab = vocabulary(dataset)
    fields: list[str | None] = []
    unmapped: list[dict[str, str | None]] = []
    seen: dict[str, str] = {}
    for h in headers:
        text = str(h if h is not None else "").strip()
        field = vocab.field_of(text) if text else None
        if field is not None and field in seen and field not in FREE_TEXT_FIELDS:
            unmapped.append({"header": text, "suggestion": field, "duplicate_of": seen[field]})
            field = None
        elif field is not None:
            seen.setdefault(field, text)
        elif text:
            unmapped.append({"header": text, "suggestion": vocab.suggest(text), "duplicate_of": None})
        fields.append(field)
    return _Columns(fields, unmapped)


def _from_grid(grid: list[list[str]], dataset: str, meta: dict[str, str]) -> RawTable:
    head = _header_row(grid, dataset)
    title = " ".join(str(c).strip() for row in grid[:head] for c in row if str(c).strip())
    if title:
        meta = {**meta, "title": title}
    cols = _map_headers(grid[head], dataset)
    width = len(cols.fields)
    rows, numbers = [], []
    for offset, row in enumerate(grid[head + 1 :], start=head + 2):
        if any(str(c).strip() for c in row):  # blank rows (trailing or between blocks) are not rows
            rows.append(row)
            numbers.append(offset)
    data: dict[str, pd.Series] = {}
    for j, field in enumerate(cols.fields):
        if field is None:
            continue
        col = pd.Series([row[j] if j < len(row) else None for row in rows], dtype=object)
        data[field] = _join_text(data[field], col) if field in data else col
    extra = [
        "|".join(str(c) for c in row[width:]) if any(str(c).strip() for c in row[width:]) else None
        for row in rows
    ]
    if any(e is not None for e in extra):
        data["_extra_cells"] = pd.Series(extra, dtype=object)
    return _frame(pd.DataFrame(data), np.asarray(numbers, dtype="int64"), dataset, cols.unmapped, meta)


def _join_text(a: pd.Series, b: pd.Series) -> pd.Series:
    out = []
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        parts = [str(v).strip() for v in (x, y) if v is not None and str(v).strip()]
        out.append("；".join(parts) if parts else None)
    return pd.Series(out, dtype=object)


def _from_records(records: list[dict], meta: dict[str, str], dataset: str) -> RawTable:
    keys: list[str] = []
    for rec in records:
        for k in rec:
            if k not in keys:
                keys.append(k)
    cols = _map_headers(keys, dataset)
    field_of = dict(zip(keys, cols.fields, strict=True))
    out = [
        {field_of[k]: ("" if v is None else _cell_text(v)) for k, v in rec.items() if field_of.get(k)}
        for rec in records
    ]
    frame = pd.DataFrame.from_records(out) if out else pd.DataFrame()
    return _frame(frame, np.arange(1, len(out) + 1), dataset, cols.unmapped, meta)


def _frame(
    data: pd.DataFrame,
    numbers: np.ndarray,
    dataset: str,
    unmapped: list[dict[str, str | None]],
    meta: dict[str, str],
) -> RawTable:
    columns = [*vocabulary(dataset).fields, "_extra_cells"]
    present = [c for c in columns if c in data.columns]
    df = data.reindex(columns=columns).astype(object)
    df = df.where(df.notna(), None)
    df.insert(0, "row_number", pd.Series(np.asarray(numbers, dtype="int64")))
    return RawTable(rows=df.reset_index(drop=True), unmapped_headers=unmapped, meta=meta, present=present)
