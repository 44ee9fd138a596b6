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
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from intake.mapping import HEADER_ALIASES


class UnreadableFile(Exception):
    """The file as a whole cannot be read; ``reason`` is for the operator (Chinese)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RawTable:
    """Rows as strings under canonical column names, with where each row was in the file."""

    rows: pd.DataFrame  # canonical columns + row_number (as an operator counts rows in the file)
    unmapped_headers: list[str]
    meta: dict[str, str]


ENCODINGS = ("utf-8-sig", "gb18030")


def canonical_header(name: object) -> str:
    """Normalise a header for lookup: NFKC (full-width to half-width), no spaces, lower case."""
    text = unicodedata.normalize("NFKC", str(name or "")).strip().lower()
    return "".join(text.split())


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
    aliases = HEADER_ALIASES[dataset]
    for i, row in enumerate(grid[:20]):
        hits = sum(1 for cell in row if canonical_header(cell) in aliases)
        if hits >= 2:
            return i
    raise UnreadableFile("找不到表头行：前 20 行中没有可识别的列名（请对照模板检查列名）")


def _map_headers(headers: list[str], dataset: str) -> tuple[list[str | None], list[str]]:
    aliases = HEADER_ALIASES[dataset]
    mapped, unmapped = [], []
    for h in headers:
        field = aliases.get(canonical_header(h))
        mapped.append(field)
        if field is None and str(h).strip():
            unmapped.append(str(h))
    return mapped, unmapped


def _from_grid(grid: list[list[str]], dataset: str, meta: dict[str, str]) -> RawTable:
    head = _header_row(grid, dataset)
    fields, unmapped = _map_headers(grid[head], dataset)
    records, numbers = [], []
    for offset, row in enumerate(grid[head + 1 :], start=head + 2):
        if not any(str(c).strip() for c in row):
            continue  # blank rows (trailing or between blocks) are not rows
        rec = {f: (row[j] if j < len(row) else "") for j, f in enumerate(fields) if f}
        if len(row) > len(fields) and any(str(c).strip() for c in row[len(fields) :]):
            rec["_extra_cells"] = "|".join(str(c) for c in row[len(fields) :])
        records.append(rec)
        numbers.append(offset)
    return _frame(records, numbers, dataset, unmapped, meta)


def _from_records(records: list[dict], meta: dict[str, str], dataset: str) -> RawTable:
    aliases = HEADER_ALIASES[dataset]
    out, unmapped = [], set()
    for rec in records:
        row = {}
        for k, v in rec.items():
            field = aliases.get(canonical_header(k))
            if field:
                row[field] = "" if v is None else _cell_text(v)
            else:
                unmapped.add(str(k))
        out.append(row)
    return _frame(out, list(range(1, len(out) + 1)), dataset, sorted(unmapped), meta)


def _frame(
    records: list[dict], numbers: list[int], dataset: str, unmapped: list[str], meta: dict[str, str]
) -> RawTable:
    columns = sorted(set(HEADER_ALIASES[dataset].values()))
    df = (
        pd.DataFrame.from_records(records, columns=[*columns, "_extra_cells"])
        if records
        else pd.DataFrame(columns=[*columns, "_extra_cells"])
    )
    df = df.astype(object).where(df.notna(), None)
    df.insert(0, "row_number", pd.Series(numbers, dtype="int64"))
    return RawTable(rows=df, unmapped_headers=unmapped, meta=meta)
