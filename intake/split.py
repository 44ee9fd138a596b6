"""One row, several needs: a checklist of services, and a cell that lists several.

A community's 需求摸排表 often has no 服务事项 column but a column per service (助餐, 助浴, 陪同就医,
家政保洁 …) with a tick under each one a household wants; a survey export has a column per option
of a multiple-choice question ("5.您需要哪些服务？(助餐)" holding 1 or 0). A grid worker writes
"助餐、理发" in one item cell, and a survey exports the options chosen as "助餐┋理发". One need is
one service, so each such row becomes one need per service, each keeping the row's person, grid,
dates and description. A co-building units' resources sheet may be such a matrix too, a unit a
row and its places a week under each service: an offer per filled cell. Pure: pandas and the
:class:`~intake.resolve.Directory`, no store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import pandas as pd

from data_contracts.suites import ID_REGEX
from intake.normalize import LOCATION_COLUMNS, SKIPPED, clean_count
from intake.resolve import OTHER_ITEM, Directory, plain

_, SHEET, SHEET_ROW = LOCATION_COLUMNS

# a checklist cell that says "not this one" (a blank one says it too): ×, 否, 0, an empty box
NOT_TICKED = frozenset(
    {
        *("否", "无", "没有", "不需要", "不要", "无需", "未选", "未选中", "不选"),
        *("×", "✗", "✘", "x", "☐", "□", "0", "-", "—", "/", "n", "no", "false"),
        *SKIPPED,  # 问卷星's "(跳过)": the question not answered
    }
)
# ... and one that says "this one" with no more to it (any other text is a tick with a note)
TICKED = frozenset(
    {
        *("√", "✓", "✔", "☑", "☒", "■", "●", "✅", "v", "是", "有", "要", "需要", "选中", "已选"),
        *("y", "yes", "true", "1"),
    }
)
# a sheet is a checklist when at least MIN_COLUMNS of its unknown columns are named by a service and
# hold marks (ticks, "not this one", counts) in at least MARKS_SHARE of their filled cells: a lone
# service-named column, or columns of words ("慢病" holding 高血压), may be anything else
MARKS_SHARE = 0.8
MIN_COLUMNS = 2
# a header's numbering or box before the service ("1.助餐", "(2)助浴", "Q5_助餐", "□助餐")
_NUMBERING = re.compile(r"^(?:[(（]?\d+[)）.、．:：_-]?|q\d+[._:：-]?|[□☐])")
# a survey option after its question: "您需要哪些服务？(助餐)", "需要的服务—助餐", "Q5:助餐"
_OPTION = re.compile(r"[(（【\[]([^()（）【】\[\]]+)[)）】\]]$")
_SEPARATORS = (":", "：", "—", "-", "_", "|", "｜")


@dataclass
class Split:
    """A table's rows with one need (or offer) per service (row numbers unique; where each was
    on the sheet in ``_sheet_row``), the fields it now has, and what to tell the operator."""

    rows: pd.DataFrame
    unknown: pd.DataFrame | None
    present: list[str]
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the unknown headers now read
    hints: dict[int, dict[str, str]] = field(default_factory=dict)  # row number -> column -> fix


def _filled(value: object) -> bool:
    """Whether a cell holds anything but blanks (not None, not NaN, not spaces)."""
    return value is not None and value == value and bool(plain(value))


def _named(header: str) -> list[str]:
    """What a header may name: itself without its numbering, a survey option in its trailing
    brackets, the part after its last separator."""
    h = plain(header).lower()
    candidates = [_NUMBERING.sub("", h)]
    if m := _OPTION.search(h):
        candidates.append(m.group(1))
    candidates += [h.rsplit(s, 1)[1] for s in _SEPARATORS if s in h]
    return [c.strip() for c in candidates if c.strip()]


def is_other(header: str) -> bool:
    """A checklist's "其他" column (its ticks say: see the description)."""
    return any(c in OTHER_ITEM for c in _named(header))


def header_item(header: str, directory: Directory) -> str | None:
    """The one service a header names (as a checklist's column or a survey's option), or None."""
    for c in _named(header):
        if directory.names("item", c):
            code, _ = directory.item(c)
            if code:
                return code
    return None


def mark(cell: object) -> tuple[bool, str | None]:
    """(ticked, the note written instead of a tick) for one checklist cell."""
    if cell is None or cell != cell:
        return False, None
    text = plain(cell)
    low = text.lower()
    if not low or low in NOT_TICKED:
        return False, None
    if low in TICKED or low.isdigit():  # a count ("2" 次) says yes as a tick does
        return True, None
    return True, str(cell).strip()


def _is_mark(cell: object) -> bool:
    """A tick, a "not this one", or a count (2, "每周3次"), as against words."""
    low = plain(cell).lower()
    return low in NOT_TICKED or low in TICKED or (clean_count(low) or "").isdigit()


def _service_columns(unknown: pd.DataFrame, directory: Directory) -> dict[str, str] | None:
    """The columns of a checklist (header -> the service it names), or None when the unknown
    columns are not one: fewer than :data:`MIN_COLUMNS` named by a service and holding marks. A
    checklist's service column holding words instead of ticks ("每周一次") is still that service."""
    named = {str(h): code for h in unknown.columns if (code := header_item(str(h), directory))}
    ticks = 0
    for header in named:
        filled = [v for v in unknown[header].tolist() if _filled(v)]
        ticks += bool(filled) and sum(_is_mark(v) for v in filled) >= MARKS_SHARE * len(filled)
    return named if ticks >= MIN_COLUMNS else None


def offers_matrix(
    rows: pd.DataFrame, unknown: pd.DataFrame | None, present: list[str], directory: Directory
) -> Split | None:
    """A co-building units' resources sheet with no 服务事项 or 名额 column but a column per
    service, each cell the places a week the unit offers (5, "每周3次") or a tick (places not
    said: asked): an offer per filled cell. A unit with no cell filled offers nothing this time:
    left out, and said. None when the sheet is not one."""
    if unknown is None or "item" in present or "capacity_per_cycle" in present:
        return None
    columns = _service_columns(unknown, directory)
    if columns is None:
        return None
    per_row: list[list[tuple[str, str | None]]] = []
    for r in unknown[list(columns)].to_dict("records"):
        wanted: dict[str, str | None] = {}
        for header, code in columns.items():
            ticked, _ = mark(r[header])
            if ticked and code not in wanted:
                text = str(r[header]).strip()
                wanted[code] = None if plain(text).lower() in TICKED - {"1"} else text
        per_row.append(list(wanted.items()))
    if not any(per_row):
        return None
    keep = [bool(e) for e in per_row]
    rows = rows.reset_index(drop=True)[keep].assign(item=None)
    unknown = unknown.reset_index(drop=True)[keep]
    per_row = [e for e in per_row if e]
    out, unk = _explode(rows, unknown, per_row, directory.item_names, "capacity_per_cycle", "offer_id")
    hints = {
        int(n): {"capacity_per_cycle": "这项服务打了勾，但没有写名额：请填写每周能服务的人次（一个正整数）"}
        for n, places in zip(out["row_number"], out["capacity_per_cycle"], strict=True)
        if places is None
    }
    headers = "".join(f"“{h}”" for h in columns)
    note = (
        f"表中没有“服务事项”“每期服务次数”列，列{headers}是各项服务的名额：{len(per_row)} 个单位共填了 "
        f"{len(out)} 项，每项登记为一条资源（名额按每周计）"
    )
    if not all(keep):
        note += f"；{keep.count(False)} 行一项也没有填，未登记资源"
    if any(v is None for e in per_row for _, v in e):
        note += "；只打了勾、没写名额的，请补填每周名额"
    return Split(out, unk, [*present, "item", "capacity_per_cycle"], [note], list(columns), hints)


def checklist(
    rows: pd.DataFrame, unknown: pd.DataFrame | None, present: list[str], directory: Directory
) -> Split | None:
    """A needs sheet with no item column whose unknown columns are services, ticked: a need per
    ticked service. None when the sheet is not one (fewer than :data:`MIN_COLUMNS` such columns
    of marks). A row with no tick and no description is a household with nothing to ask this
    time (``has_need`` "no", counted as a survey's "no" is), unless the sheet asks that itself."""
    if unknown is None or "item" in present:
        return None
    columns = _service_columns(unknown, directory)
    if columns is None:
        return None
    names = directory.item_names
    others = [str(h) for h in unknown.columns if str(h) not in columns and is_other(str(h))]
    other_ticked = (
        [any(mark(r[h])[0] for h in others) for r in unknown[others].to_dict("records")]
        if others
        else [False] * len(rows)
    )
    cells = unknown[list(columns)].to_dict("records")
    per_row: list[list[tuple[str, str | None]]] = []
    notes_seen: list[str] = []
    for r in cells:
        wanted: dict[str, list[str]] = {}
        for header, code in columns.items():
            ticked, note = mark(r[header])
            if ticked:
                wanted.setdefault(code, [])
                if note:
                    wanted[code].append(f"{header}：{note}")
                    notes_seen.append(note)
        per_row.append([(code, "；".join(n) or None) for code, n in wanted.items()])
    if not any(per_row):
        return None
    rows = rows.copy()
    present = list(present)
    described = (
        [_filled(v) for v in rows["description"].tolist()] if "description" in rows else [False] * len(rows)
    )
    if "has_need" not in present:  # nothing ticked, nothing written: nothing asked this time
        nothing = [
            not e and not d and not o for e, d, o in zip(per_row, described, other_ticked, strict=True)
        ]
        rows["has_need"] = pd.Series(["no" if n else None for n in nothing], index=rows.index, dtype=object)
        present.append("has_need")
    present.append("item")
    if "item" not in rows:
        rows["item"] = None
    out, unk = _explode(rows, unknown, per_row, names)
    # a row that asks for something (the survey's "是", or a "其他" ticked) but names no service
    # and describes none: asked, with what to do
    hints: dict[int, dict[str, str]] = {}
    answers = rows["has_need"].tolist()
    for n, e, has, d, o in zip(
        rows["row_number"].tolist(), per_row, answers, described, other_ticked, strict=True
    ):
        if not e and not d and plain(has).lower() not in NOT_TICKED:  # ("no": in it)
            hints[int(n)] = {
                "item": "勾选了“其他”，但没有写具体需求：请在需求描述中写明需要什么服务"
                if o
                else "服务项目的勾选栏一项也没有勾选，也没有写需求：请勾选需要的服务，或在需求描述中写明"
            }
    if "description" in out and "description" not in present:  # (notes written in the ticks' place)
        present.append("description")
    ticked_rows = sum(bool(e) for e in per_row)
    headers = "".join(f"“{h}”" for h in columns)
    note = (
        f"表中没有“服务事项”列，列{headers}是服务项目的勾选栏：{ticked_rows} 行共勾选 "
        f"{sum(len(e) for e in per_row)} 项，每项登记为一条需求"
    )
    if notes_seen:
        note += f"；勾选栏里写的文字（如“{notes_seen[0]}”）记入该条需求的描述"
    if any(other_ticked):
        note += f"；勾选“其他”的 {sum(other_ticked)} 行按需求描述登记服务事项"
    return Split(out, unk, present, [note], [*columns, *others], hints=hints)


def several_columns(
    rows: pd.DataFrame,
    unknown: pd.DataFrame | None,
    present: list[str],
    more: list[str],
    directory: Directory,
) -> Split | None:
    """A row's services written across several columns (服务项目1, 服务项目2; 需求1, 需求2 holding
    services; 需求类别 beside a 需求 in the resident's words): a need per filled cell, in the
    columns' order, the same service once. A sentence in any of them ("每天中午送餐到家", "独居，
    行动不便") is the row's words, kept as its needs' description; one that names a service is that
    service too. ``more``: the columns besides the item column (``unknown``'s). None when there
    are none, or they add nothing."""
    more = [h for h in more if unknown is not None and h in unknown]
    if not more:
        return None
    assert unknown is not None
    first = rows["item"].tolist() if "item" in rows else [None] * len(rows)
    cells = [first, *(unknown[h].tolist() for h in more)]
    per_row: list[list[tuple[str | None, str | None]]] = []
    worded = 0
    for written in zip(*cells, strict=True):
        wanted: dict[str, None] = {}  # the row's services (one not understood: as written, asked)
        said: list[str] = []
        for v in written:
            if not _filled(v):
                continue
            text, code = str(v).strip(), directory.item(v)[0]
            sentence = directory.sentence(text)
            if sentence:
                said.append(text)
            if code or not sentence:
                wanted.setdefault(code or text, None)
        note = "；".join(said) or None
        worded += note is not None
        per_row.append([(key, note) for key in wanted] or ([(None, note)] if note else []))
    if not worded and not any(len(e) > 1 or (e and f is None) for e, f in zip(per_row, first, strict=True)):
        return None  # (the other columns only repeat the first, or are empty)
    rows = rows.copy()
    if "item" not in rows:
        rows["item"] = None
    out, unk = _explode(rows, unknown, per_row, directory.item_names)
    headers = "".join(f"“{h}”" for h in more)
    n = sum(len(e) > 1 for e in per_row)
    note = f"列{headers}也是服务事项：每格登记为一条需求（{n} 行写了不止一项）"
    if worded:
        note += (
            f"；{worded} 行写的是一句话（如“{next(t for e in per_row for _, t in e if t)}”），记入需求描述"
        )
    present = [*present, *(["item"] if "item" not in present else [])]
    if worded and "description" not in present:
        present.append("description")
    return Split(out, unk, present, [note])


def several_in_a_cell(
    rows: pd.DataFrame, unknown: pd.DataFrame | None, present: list[str], directory: Directory
) -> Split | None:
    """Item cells that list several services ("助餐、理发"): a need per service. None if none does."""
    if "item" not in rows:
        return None
    values = rows["item"].tolist()
    listed = {
        v: codes
        for v in set(values)
        if isinstance(v, str) and (codes := directory.items_in_cell(v))  # (each text once)
    }
    if not listed:
        return None
    per_row = [[(code, None) for code in listed.get(v, ())] if isinstance(v, str) else [] for v in values]
    split = [(text, e) for text, e in zip(values, per_row, strict=True) if e]
    out, unk = _explode(rows, unknown, per_row, directory.item_names)
    example = str(split[0][0]).strip()
    note = (
        f"{len(split)} 格写了不止一项服务（如“{example}”）：每项登记为一条需求，"
        f"共 {sum(len(e) for _, e in split)} 条"
    )
    return Split(out, unk, present, [note])


def _explode(
    rows: pd.DataFrame,
    unknown: pd.DataFrame | None,
    per_row: list[list[tuple[str | None, str | None]]],
    names: dict[str, str],
    into: str = "description",
    ref_column: str = "source_ref",
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Each row once per (service, value) of ``per_row`` (unchanged where that is empty): the
    value goes ``into`` its field (a need's description, after the row's own; an offer's places);
    the first keeps its row number and reference (``ref_column``), the others get new numbers
    after the table's last and the reference with the service's code (:func:`_suffixed`, the same
    on every re-send); all show the sheet's row they came from (``_sheet_row``)."""
    rows = rows.reset_index(drop=True)
    if SHEET_ROW not in rows:
        rows.insert(1, SHEET_ROW, rows["row_number"].astype(object))
    positions: list[int] = []
    items: list[object] = []
    values: list[object] = []
    numbers: list[int] = []
    refs: list[object] = []
    next_number = int(rows["row_number"].max()) + 1 if len(rows) else 1
    has_value, has_ref = into in rows, ref_column in rows
    joined = into == "description"  # (a note joins the row's own description; places replace)
    for i, (entries, n, item, own, ref) in enumerate(
        zip(
            per_row,
            rows["row_number"].tolist(),
            rows["item"].tolist(),
            rows[into].tolist() if has_value else [None] * len(rows),
            rows[ref_column].tolist() if has_ref else [None] * len(rows),
            strict=True,
        )
    ):
        if not entries:
            positions.append(i)
            items.append(item)
            values.append(own)
            numbers.append(n)
            refs.append(ref)
            continue
        written = own if _filled(own) else None
        for j, (code, value) in enumerate(entries):
            positions.append(i)
            items.append(names.get(code, code))
            values.append(("；".join(t for t in (written, value) if t) or own) if joined else value)
            numbers.append(n if j == 0 else next_number)
            next_number += j > 0
            refs.append(ref if j == 0 or not _filled(ref) else _suffixed(plain(ref), str(code)))
    out = rows.iloc[positions].reset_index(drop=True)
    out["item"] = pd.Series(items, dtype=object)
    out["row_number"] = pd.Series(numbers, dtype="int64")
    if has_value or any(v is not None for v in values):
        out[into] = pd.Series(values, dtype=object)
    if has_ref:
        out[ref_column] = pd.Series(refs, dtype=object)
    unk = (
        unknown.reset_index(drop=True).iloc[positions].reset_index(drop=True) if unknown is not None else None
    )
    return out, unk


_ID = re.compile(ID_REGEX)  # the contract's id form


def _suffixed(ref: str, code: str) -> str:
    """A row's further need's reference: the row's, a dash, its service's code ("7-ELDER.DAILY.BATH";
    a digest where that is not of the contract's id form: words, or too long)."""
    out = f"{ref}-{code}"
    return out if _ID.fullmatch(out) else f"{ref[:50]}-{hashlib.sha1(code.encode()).hexdigest()[:8]}"
