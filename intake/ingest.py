"""Ingest one handed-over file: archive it, read, clean, validate, load the good rows and
quarantine the bad ones — all in one transaction, so a crash leaves the previous state.

Invariant, checked on every file: rows read = loaded + quarantined + merged + already loaded.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from data_contracts.suites import MAX_LENGTH
from data_contracts.validate import Validation, validate_rows
from intake.mapping import (
    DATASET_FOLDER,
    DATASET_ZH,
    INBOX_FOLDERS,
    numbered_stem,
    other_list,
    vocabulary,
    wrong_folder,
)
from intake.needs import load_need_rows, load_needs
from intake.normalize import DATE_FIELDS, DATETIME_FIELDS, MONTH_ONLY, NO_SUCH_DAY, normalize_rows
from intake.readers import MORE_NEEDS, SHEET, SHEET_ROW, OtherList, RawTable, UnreadableFile, read_table
from intake.resolve import Directory, Resolved, resolve_needs
from intake.resources import (
    open_ended_windows,
    resolve_answers,
    resolve_offers,
    resolve_responses,
    resolve_units,
)
from intake.split import checklist, offers_matrix, several_columns, several_in_a_cell
from lifecycle.changes import NeedChange
from lifecycle.states import QuarantineStatus
from reference import item_words_path, load_item_words
from service import loop as closed_loop
from store import cycle as store_cycle
from store import intake as store_intake
from store.models import SourceFile

# load order: offers refer to units; responses and answers refer to what cycles created
FOLDER_ORDER = ["units", "offers", "needs", "surveys", "followups", "responses"]
PROBLEMS_SHOWN = 50  # quarantined rows per file listed in the run's artifact (all are stored)
# the column that identifies a row across re-submissions (a fix supersedes its quarantined row)
REF_COLUMN = {
    "needs": "source_ref",
    "units": "unit_id",
    "offers": "offer_id",
    "survey_answers": "answer_id",
    "responses": "response_id",
}


@dataclass
class IngestReport:
    """What happened to one file (one row of the operator's summary)."""

    file: str
    dataset: str
    status: str  # loaded | partial | rejected | duplicate_file
    rows_read: int = 0
    loaded: int = 0
    quarantined: int = 0
    already_quarantined: int = 0  # identical to a row still waiting in quarantine: not stored twice
    merged: int = 0
    already_loaded: int = 0
    no_need: int = 0  # survey answers "no need this quarter": not needs, not errors
    done_already: int = 0  # rows the sheet itself marks 已办结 (solved on the spot): not dispatched
    opted_out: int = 0  # households that asked for no more visits and surveys
    superseded: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    messages: list[str] = field(default_factory=list)  # file-level: unknown or missing columns, notes
    # quarantined rows to show (row, column, reason, what would fix it; never the value itself)
    problems: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # read, validate, write
    validation: Any = field(default=None, repr=False)
    changes: list[NeedChange] = field(default_factory=list, repr=False)  # for the Prefect events

    def as_row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("validation")
        d.pop("changes")
        return d

    def check_invariant(self) -> None:
        accounted = (
            self.loaded
            + self.quarantined
            + self.already_quarantined
            + self.merged
            + self.already_loaded
            + self.no_need
            + self.done_already
        )
        if self.status != "rejected" and self.status != "duplicate_file" and accounted != self.rows_read:
            raise AssertionError(f"{self.file}: read {self.rows_read} rows but accounted for {accounted}")


QUARANTINE = {"open_status": str(QuarantineStatus.OPEN)}
SUPERSEDE = {**QUARANTINE, "superseded_status": str(QuarantineStatus.SUPERSEDED)}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_inbox(inbox: Path) -> list[tuple[Path, str, str]]:
    """Files waiting in the inbox, in load order: (path, dataset, default source)."""
    out = []
    for folder in FOLDER_ORDER:
        dataset, source = INBOX_FOLDERS[folder]
        d = inbox / folder
        if d.is_dir():
            out += [
                (p, dataset, source)
                for p in sorted(d.iterdir())
                if p.is_file() and not p.name.startswith(".")
            ]
    return out


@dataclass
class _Prepared:
    """One file read, cleaned and resolved, waiting for the batch's validation and its commit."""

    path: Path
    dataset: str
    source: str
    report: IngestReport
    digest: str = ""
    table: RawTable | None = None
    rows: pd.DataFrame | None = None  # None: nothing to validate (unreadable, a column missing)
    hints: dict[int, dict[str, str]] = field(default_factory=dict)
    opt_outs: list[str] = field(default_factory=list)  # household ids (survey answers)
    visits: dict[str, datetime] = field(default_factory=dict)  # household id -> its survey answer
    file_rejection: list[dict[str, Any]] = field(default_factory=list)
    validation: Validation | None = None
    done: bool = False  # already reported (duplicate, taken by another run)
    other_list: str | None = None  # plainly a sheet of that other list (by its header)


def ingest_file(
    sessions: sessionmaker[Session],
    path: Path,
    dataset: str,
    source: str,
    archive_dir: Path,
    dedupe_days: int = 30,
    remove_from_inbox: bool = True,
    today: date | None = None,
) -> IngestReport:
    """Ingest one file (see :func:`ingest_files`)."""
    return ingest_files(
        sessions, [(Path(path), dataset, source)], archive_dir, dedupe_days, remove_from_inbox, today
    )[0]


def ingest_files(
    sessions: sessionmaker[Session],
    files: list[tuple[Path, str, str]],
    archive_dir: Path,
    dedupe_days: int = 30,
    remove_from_inbox: bool = True,
    today: date | None = None,
    on_file: Callable[[IngestReport], None] | None = None,
    reroute: bool = True,
) -> list[IngestReport]:
    """Ingest ``files`` ((path, dataset, default source), in load order); the same bytes are
    never loaded twice.

    A file that is plainly a sheet of another list by its header (an offers sheet put in the
    needs folder) is loaded as that list, after the others, and its report says so (``reroute``;
    without it, it is refused with the folder it belongs in).

    The files of one dataset are read one by one, cleaned in one vectorised pass, resolved per
    file and checked against the contract in one pass (great-expectations' fixed cost paid once
    per dataset and run, not per file). Need files are then written in one transaction (all or
    nothing); other datasets, and need files when another run took one of them meanwhile, one
    transaction per file. A crash leaves what was not committed waiting in the inbox. Datasets
    go in order (units before the offers that name them).

    The inbox may be shared by runs that overlap (a manual run during the daily one): a file
    another run already archived, or loads at the same moment, is reported as such and skipped,
    never failed — the checksum's unique constraint decides which run loads it.
    """
    today = today or date.today()
    reports: list[IngestReport] = []
    moved: list[_Prepared] = []
    for dataset, group in groupby(files, key=lambda f: f[1]):
        prepared = [_checksum(Path(p), dataset, source) for p, _, source in group]
        with sessions() as session:
            known = store_intake.known_checksums(session, [x.digest for x in prepared if x.digest])
            directory = _directory(session) if dataset == "needs" or dataset in RESOLVED else None
        for x in prepared:
            if x.digest in known:  # loaded before, or the same bytes earlier in this run
                x.report.status = "duplicate_file"
                x.report.error = "同一文件已导入过（校验和相同），本次未重复导入"
                x.done = True
            elif not x.done:
                known.add(x.digest)
                _read(x)
        _normalize_together(prepared, today, directory)
        if reroute:
            for x in prepared:
                if x.other_list is not None and not x.done:
                    x.done = True
                    moved.append(x)
        _validate_together(sessions, dataset, prepared)
        committed = (
            _commit_needs_together(sessions, prepared, archive_dir, dedupe_days, remove_from_inbox)
            if dataset == "needs"
            else None
        )
        for k, x in enumerate(prepared):
            if x.other_list is not None and reroute:
                continue  # loaded below, as the list it is
            if x.done:  # loaded before (same checksum) or taken by another run: not left waiting
                report = x.report
                if remove_from_inbox:
                    x.path.unlink(missing_ok=True)
            elif committed is not None:
                report = committed[k]
            else:
                report = _commit(sessions, x, archive_dir, dedupe_days, remove_from_inbox)
            reports.append(report)
            if on_file is not None:
                on_file(report)
        if dataset == "offers" and any(r.loaded for r in reports[-len(prepared) :]):
            # the offers changed: their snapshot is taken now, not in the next cycle's read
            with sessions() as session:
                store_cycle.active_offers(session)
    if moved:
        reports += _load_as_other_lists(
            sessions, moved, archive_dir, dedupe_days, remove_from_inbox, today, on_file
        )
    return reports


def _load_as_other_lists(
    sessions: sessionmaker[Session],
    moved: list[_Prepared],
    archive_dir: Path,
    dedupe_days: int,
    remove_from_inbox: bool,
    today: date,
    on_file: Callable[[IngestReport], None] | None,
) -> list[IngestReport]:
    """Files put in another list's folder, loaded as the list their header plainly is (in the
    inbox's order of lists), each report saying where the file was and what it was read as."""
    ordered = sorted(moved, key=lambda x: FOLDER_ORDER.index(DATASET_FOLDER[str(x.other_list)]))
    said: dict[str, str] = {}
    files = []
    for x in ordered:
        other = str(x.other_list)
        files.append((x.path, other, INBOX_FOLDERS[DATASET_FOLDER[other]][1]))
        said[x.path.name] = (
            f"这张表放在了“{x.path.parent.name}”文件夹，看表头是{DATASET_ZH.get(other, other)}"
            f"（不是{DATASET_ZH.get(x.dataset, x.dataset)}）：已按{DATASET_ZH.get(other, other)}导入；"
            f"以后请放到收件箱的 {DATASET_FOLDER[other]}/ 文件夹"
        )

    def tell(report: IngestReport) -> None:
        if report.file in said:
            report.messages.insert(0, said[report.file])
        if on_file is not None:
            on_file(report)

    return ingest_files(
        sessions, files, archive_dir, dedupe_days, remove_from_inbox, today, on_file=tell, reroute=False
    )


def _taken(report: IngestReport, why: str) -> IngestReport:
    """The file belongs to another run: nothing of this run's attempt counts."""
    return IngestReport(file=report.file, dataset=report.dataset, status="duplicate_file", error=why)


def _checksum(path: Path, dataset: str, source: str) -> _Prepared:
    x = _Prepared(path, dataset, source, IngestReport(file=path.name, dataset=dataset, status="loaded"))
    try:
        x.digest = sha256_of(path)
    except FileNotFoundError:
        x.report, x.done = _taken(x.report, "文件已被另一次导入处理并归档，本次跳过"), True
    return x


def _read(x: _Prepared) -> None:
    """Read one file whose checksum is new; an unreadable one is rejected whole."""
    path, dataset = x.path, x.dataset
    t0 = time.perf_counter()
    try:
        table = read_table(path, dataset)
    except FileNotFoundError:
        x.report, x.done = _taken(x.report, "文件在读取时已被另一次导入处理并归档，本次跳过"), True
        return
    except UnreadableFile as exc:
        if isinstance(exc, OtherList):
            x.other_list = exc.dataset
        x.report.status, x.report.error = "rejected", exc.reason
        x.report.reasons = {f"整个文件无法读取：{exc.reason}": 1}
        x.file_rejection = [
            {
                "row_number": None,
                "source_ref": None,
                "raw": {"file": path.name, "size_bytes": path.stat().st_size},
                "reasons": [
                    {
                        "rule": "unreadable_file",
                        "column": None,
                        "reason": f"整个文件无法读取：{exc.reason}",
                        "value": None,
                    }
                ],
            }
        ]
        return
    x.table = table
    vocab = vocabulary(dataset)
    personal = [u["header"] for u in table.unmapped_headers if u.get("personal")]
    if personal:  # one line for them all
        x.report.messages.append(
            f"列{''.join(f'“{h}”' for h in personal)}未导入：个人信息，三张清单不登记（派单和回访只需姓名和联系电话）"
        )
    staff = [u["header"] for u in table.unmapped_headers if u.get("staff")]
    if staff:
        x.report.messages.append(
            f"列{''.join(f'“{h}”' for h in staff)}未导入：是填表、走访的工作人员，不是居民或需求的信息"
        )
    returned = [u for u in table.unmapped_headers if u.get("returned")]
    if returned:
        named = "".join(f"“{u['header']}”" for u in returned)
        x.report.messages.append(f"列{named}是{returned[0]['returned']}原有的列，未导入（只导入填写的结果）")
    x.report.messages += [
        _column_message(u, vocab)
        for u in table.unmapped_headers
        if not u.get("personal") and not u.get("returned") and not u.get("more_of") and not u.get("staff")
    ]
    if table.meta.get("unanswered_rows"):
        x.report.messages.append(
            f"{table.meta['unanswered_rows']} 通电话还没有回访结果（是否办结、满意度等都空着）：未导入，仍在待回访清单上"
            if dataset == "survey_answers"
            else f"{table.meta['unanswered_rows']} 条派单还没有填写处理结果：未导入，派单仍在等待回复"
        )
    if table.meta.get("numbered_blank_rows"):
        x.report.messages.append(
            f"{table.meta['numbered_blank_rows']} 行只有序号、没有内容（表格预留的空行），未导入"
        )
    if table.meta.get("ditto_cells"):
        x.report.messages.append(f"{table.meta['ditto_cells']} 格写的是“同上”：按上一行同一列的内容登记")
    if table.meta.get("footer_rows"):
        x.report.messages.append(f"{table.meta['footer_rows']} 是合计或签名行，不是数据，未导入")
    read = [f"“{t['name']}”（{t['rows']} 行）" for t in table.sheets]
    if read:
        x.report.messages.append(f"导入了 {len(read)} 个表头相同的工作表：{'、'.join(read)}")
    if table.meta.get("other_sheets"):
        done = "、".join(f"“{t['name']}”" for t in table.sheets) or f"“{table.meta['sheet']}”"
        x.report.messages.append(
            f"只导入了工作表{done}；工作表{table.meta['other_sheets']}也有数据，但表头列不同，未导入："
            "如果也是要登记的数据，请把它另存为单独的文件后提交"
        )
    x.report.seconds["read"] = round(time.perf_counter() - t0, 3)


def _normalize_together(prepared: list[_Prepared], today: date, directory: Directory | None) -> None:
    """Clean the values of every readable file in one pass (vectorised work has a fixed cost
    per call: 200 small files would pay it 200 times), then finish each file on its own."""
    todo = [x for x in prepared if not x.done and x.table is not None and not x.file_rejection]
    if not todo:
        return
    t0 = time.perf_counter()
    if directory is not None:
        for x in todo:
            _adopt_by_content(x, directory)
            if x.dataset == "needs":
                _one_need_per_service(x, directory)
            elif x.dataset == "offers":
                _offers_by_column(x, directory)
    batch = pd.concat([x.table.rows for x in todo], ignore_index=True)  # type: ignore[union-attr]
    cleaned = normalize_rows(batch, today=today)
    seconds = time.perf_counter() - t0
    start = 0
    total = max(len(batch), 1)
    for x in todo:
        n = len(x.table.rows)  # type: ignore[union-attr]
        rows = cleaned.iloc[start : start + n].reset_index(drop=True)
        start += n
        t1 = time.perf_counter()
        _finish(x, rows, directory, today)
        x.report.seconds["read"] = round(
            x.report.seconds.get("read", 0.0) + seconds * n / total + time.perf_counter() - t1, 3
        )


# the fields a column under an unknown header is taken for when its values name them (a grid
# worker's "片区" holding 第3网格, "要办的事" holding 助餐): those the dataset's rows are resolved by
CONTENT_FIELDS = {
    "needs": ("grid_id", "item", "community"),
    "offers": ("unit_id", "item"),
    "responses": ("unit_id",),
    "units": ("community_id",),
}
ADOPT_SHARE = 0.8  # of a column's filled cells that must name the field, as written


def _adopt_by_content(x: _Prepared, directory: Directory) -> None:
    """A field the file has no column for, taken from the one column under an unknown header
    whose values name it (at least ``ADOPT_SHARE`` of its filled cells, exactly as registered):
    what a person clearly meant, and said so. Two such columns for one field, or one column
    fitting two fields, are not guessed at."""
    table = x.table
    if table is None or table.unknown is None:
        return
    wanted = [f for f in CONTENT_FIELDS.get(x.dataset, ()) if f not in table.present]
    if not wanted:
        return
    found: dict[str, list[tuple[str, int, int, str]]] = {}
    for header in table.unknown.columns:
        values = [str(v).strip() for v in table.unknown[header].tolist() if v is not None]
        values = [v for v in values if v]
        if not values:
            continue
        distinct = list(dict.fromkeys(values))
        fits = []
        for f in wanted:
            named = [v for v in distinct if directory.names(f, v)]
            known = set(named)
            hits = sum(v in known for v in values)
            if named and hits >= ADOPT_SHARE * len(values):
                fits.append((f, hits, named[0]))
        if len(fits) == 1:
            f, hits, example = fits[0]
            found.setdefault(f, []).append((header, len(values), hits, example))
    if not found:
        return
    vocab = vocabulary(x.dataset)
    rows, present = table.rows, list(table.present)
    meta = table.meta
    for f, columns in found.items():
        label = vocab.labels[f]
        if len(columns) > 1 and f in MORE_NEEDS.get(x.dataset, ()):
            # 需求1, 需求2 holding services: a need each (``_one_need_per_service``)
            headers = [h for h, *_ in columns]
            meta = {**meta, "more_items": "\x1f".join(headers)}
            continue
        if len(columns) > 1:
            headers = "".join(f"“{h}”" for h, *_ in columns)
            x.report.messages.append(
                f"列{headers}的内容都像“{label}”：没有替您选其中一列，请把要导入的那一列的列名改为“{label}”"
            )
            continue
        header, n, hits, example = columns[0]
        if f in MORE_NEEDS.get(x.dataset, ()) and (stem := numbered_stem(header)):
            # 需求1 holding services: 需求2, 需求3 beside it hold more of the row's (a need each)
            more = [h for h in table.unknown.columns if h != header and numbered_stem(h) == stem]
            if more:
                meta = {**meta, "more_items": "\x1f".join(more)}
        rows = rows.assign(**{f: table.unknown[header].tolist()})
        present.append(f)
        x.report.messages = [m for m in x.report.messages if not m.startswith(f"列“{header}”未识别")]
        share = f"全部 {n} 行" if hits == n else f"{n} 行中 {hits} 行"
        x.report.messages.append(
            f"列“{header}”不是已知的列名，但它的内容是{label}（如“{example}”，{share}能对上），"
            f"已按“{label}”导入；如果不是，请改好列名后重新提交"
        )
    x.table = replace(table, rows=rows, present=present, meta=meta)


def _offers_by_column(x: _Prepared, directory: Directory) -> None:
    """A resources sheet with a column per service holding each unit's places: an offer per
    filled cell (``intake.split.offers_matrix``), said in the file's messages."""
    table = x.table
    assert table is not None
    matrix = offers_matrix(table.rows, table.unknown, table.present, directory)
    if matrix is None:
        return
    _read_as(x, matrix.columns, matrix.notes)
    _add_hints(x, matrix.hints)
    x.table = replace(table, rows=matrix.rows, unknown=matrix.unknown, present=matrix.present)


def _add_hints(x: _Prepared, hints: dict[int, dict[str, str]]) -> None:
    """Row by row, column by column: what a later step says joins what an earlier one said (a
    checklist's reading, then the resolver's)."""
    for n, fixes in hints.items():
        x.hints.setdefault(n, {}).update(fixes)


def _read_as(x: _Prepared, headers: list[str], notes: list[str]) -> None:
    """The file's messages once ``headers`` are read after all: what they were read as (``notes``)
    in place of "列“…”未识别"."""
    unknown = tuple(f"列“{h}”未识别" for h in headers)
    x.report.messages = [m for m in x.report.messages if not m.startswith(unknown)] + notes


def _one_need_per_service(x: _Prepared, directory: Directory) -> None:
    """A checklist of services (a column each, ticked) or an item cell listing several: a need
    per service (``intake.split``), said in the file's messages."""
    table = x.table
    assert table is not None
    checked = checklist(table.rows, table.unknown, table.present, directory)
    if checked is not None:
        # (a sheet with no 有无需求 question of its own: a row with no tick is its "no", said so)
        meta = table.meta if "has_need" in table.present else {**table.meta, "no_need_by": "ticks"}
        table = replace(table, rows=checked.rows, unknown=checked.unknown, present=checked.present, meta=meta)
        _read_as(x, checked.columns, checked.notes)
        _add_hints(x, checked.hints)
    more = [u["header"] for u in table.unmapped_headers if u.get("more_of") == "item"]
    more += [h for h in table.meta.get("more_items", "").split("\x1f") if h]
    columns = several_columns(table.rows, table.unknown, table.present, more, directory)
    if columns is not None:
        table = replace(table, rows=columns.rows, unknown=columns.unknown, present=columns.present)
        _read_as(x, more, columns.notes)
    several = several_in_a_cell(table.rows, table.unknown, table.present, directory)
    if several is not None:
        table = replace(table, rows=several.rows, unknown=several.unknown)
        x.report.messages += several.notes
    x.table = table


def _finish(x: _Prepared, rows: pd.DataFrame, directory: Directory | None, today: date) -> None:
    """Required columns, then (needs) what the sheet wrote resolved to what the store knows."""
    table, dataset = x.table, x.dataset
    assert table is not None
    vocab = vocabulary(dataset)
    x.report.rows_read = len(rows)
    missing = [f for f in vocab.required if f not in table.present]
    if dataset == "offers" and "window" in table.present:  # 服务期限 "2026.11.1-2027.1.31": both dates
        missing = [f for f in missing if f not in ("window_start", "window_end")]
    if dataset == "survey_answers":
        # the phone team's call list sent back with the answers but not the time of each call:
        # the day it arrived (the calls were made by then), said so
        given = (
            rows["answered_at"] if "answered_at" in rows else pd.Series(None, index=rows.index, dtype=object)
        )
        blank = given.isna()
        if blank.any():
            day = today.isoformat()
            x.report.messages.append(
                f"表中没有“回访时间”列：全部按收到文件的日期 {day} 登记回访时间"
                if "answered_at" in missing
                else f"{int(blank.sum())} 条回访没有填回访时间：按收到文件的日期 {day} 登记"
            )
            rows = rows.assign(answered_at=given.where(~blank, f"{day} 00:00:00"))
        missing = [f for f in missing if f != "answered_at"]
    if dataset == "needs" and "reported_at" in missing:
        # a list of current needs with no date column: registered the day it arrived, and said so
        missing.remove("reported_at")
        rows = rows.assign(reported_at=f"{today.isoformat()} 00:00:00")
        x.report.messages.append(
            f"表中没有“登记时间”列：全部按收到文件的日期 {today.isoformat()} 登记（等待天数从这天算起）"
        )
    undated = dataset == "offers" and "window_start" in missing
    if dataset == "offers" and {"window_start", "window_end"} & set(missing):
        # a resources list without its dates (每周 5 次助餐): offered from the day it arrived (the
        # start is filled in after the offers' ids are derived, so that the list sent again is
        # the same offers renewed, not new ones) and for as long as it lasts — "长期", a year from
        # the start — and said so
        day = today.isoformat()
        if "window_end" in missing and not undated:
            rows = rows.assign(window_end="长期")
        x.report.messages.append(
            f"表中没有服务期限（开始日期、结束日期）：全部按收到文件的日期 {day} 起一年登记"
            if {"window_start", "window_end"} <= set(missing)
            else f"表中没有“开始日期”列：全部按收到文件的日期 {day} 开始登记"
            if undated
            else "表中没有“结束日期”列：全部按开始日期起一年登记，到期前请重新报送"
        )
        missing = [f for f in missing if f not in ("window_start", "window_end")]
    if dataset == "units" and "kind" in missing:
        # a register with no 单位类型 column: each unit's kind read from its name, as for a blank
        # cell (卫生服务中心 -> 医疗机构); a name that says none is asked about (resolve_units)
        missing.remove("kind")
        x.report.messages.append(
            "表中没有“单位类型”列：按单位名称判断类型（如“卫生服务中心”是医疗机构、“物业公司”是企业），"
            "名称看不出类型的单位逐行提示补填"
        )
    if "item" in missing and dataset == "needs" and "description" in table.present and directory is not None:
        # no item column, but a description of each need: when descriptions name items ("助餐"),
        # each row's item is read from its own (resolve_needs: a row whose description names none
        # clearly is quarantined and says so); when none does, the column is asked for, as before
        texts = rows["description"].dropna().drop_duplicates()
        if any(directory.item_in_text(t)[0] for t in texts):
            missing.remove("item")
    contexts = _contexts(x, directory) if dataset == "needs" and directory is not None else {}
    if "grid_id" in missing and contexts:
        # one grid's sheets: the sheet's name, title or file name says which grid
        if all(directory.grid_in(context) for context in contexts.values()):
            missing.remove("grid_id")
    if missing:
        _reject_for_columns(x, missing, vocab)
        return
    if dataset == "needs" and directory is not None:
        rows = _resolve_by_sheet(x, rows, directory, contexts)
        rows = _survey_answers(x, rows)
        rows = _done_already(x, rows)
    elif dataset in RESOLVED and directory is not None:
        resolved = RESOLVED[dataset](rows, directory)
        rows = resolved.rows
        if undated:  # (see above) from the day it arrived, to a year on where no end is written
            rows = rows.assign(window_start=today.isoformat(), window_end=rows["window_end"].fillna("长期"))
            open_ended_windows(rows)
        _add_hints(x, resolved.hints)
        x.report.messages += resolved.notes
    for column in DATE_FIELDS | DATETIME_FIELDS:  # 11月31日: say why the date is refused
        if column in rows:  # (over lists: pandas' string methods cost ~1 ms a call, on every file)
            for n, written in zip(rows["row_number"].tolist(), rows[column].tolist(), strict=True):
                value = str(written)
                if value.endswith(NO_SUCH_DAY):
                    x.hints.setdefault(int(n), {})[column] = (
                        "没有这一天（如 11月31日、2月30日）：请核对后重填"
                    )
                if _MONTH_ONLY.fullmatch(value):
                    x.hints.setdefault(int(n), {})[column] = "只写到了月份：请写到哪一天（如 2026-11-03）"
    x.rows = rows.drop(columns=[SHEET, SHEET_ROW], errors="ignore")


_MONTH_ONLY = re.compile(MONTH_ONLY)


def _resolve_by_sheet(
    x: _Prepared, rows: pd.DataFrame, directory: Directory, contexts: dict[str, str]
) -> pd.DataFrame:
    """Needs' ids resolved sheet by sheet: each sheet's name and title say which community (or
    grid) its rows are about, as the file's name does for them all."""
    table = x.table
    assert table is not None
    source = table.meta.get("source", x.source)
    parts, derived = [], 0
    for sheet in _sheets(table):
        part = rows[rows[SHEET] == sheet["name"]] if table.sheets else rows
        context = contexts[sheet["name"]]
        resolved = resolve_needs(
            part,
            directory,
            source=source,
            context=context,
            present=table.present,
            context_is="工作表名、表头标题或文件名" if context == _context(x, sheet) else LENT,
        )
        parts.append(resolved.rows)
        _add_hints(x, resolved.hints)
        where = f"工作表“{sheet['name']}”：" if table.sheets else ""
        x.report.messages += [where + n for n in resolved.notes]
        derived += resolved.derived_refs
    if derived:
        x.report.messages.append(
            f"{derived} 行没有需求编号：已按来源、登记日期和联系人生成稳定编号（同一行再次提交会被识别）"
        )
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def _survey_answers(x: _Prepared, rows: pd.DataFrame) -> pd.DataFrame:
    """A needs survey's answers: each is a visit to its household (the next roster skips households
    visited lately); households that said they need nothing this quarter are counted, not loaded
    and not quarantined; those that asked for no more visits are noted for the store."""
    assert x.table is not None
    survey = x.source == "survey" or "has_need" in x.table.present
    if not survey and "survey_opt_out" not in x.table.present:  # a grid worker's sheet: no answers
        return rows
    known = rows["household_id"].notna()
    if survey:
        at = pd.to_datetime(rows["reported_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
        seen = pd.DataFrame({"household_id": rows["household_id"], "at": at})[known & at.notna()]
        x.visits = seen.groupby("household_id")["at"].max().to_dict()
    opt = rows["survey_opt_out"].eq("yes")
    x.opt_outs = sorted(set(rows.loc[opt & known, "household_id"].astype(str)))
    if int((opt & ~known).sum()):
        x.report.messages.append(
            f"{int((opt & ~known).sum())} 户选择以后不再接受回访和问卷，但户编号未能识别：请在住户名册中手动登记"
        )
    no = rows["has_need"].eq("no")
    x.report.no_need = int(no.sum())
    if x.report.no_need:
        x.report.messages.append(
            f"{x.report.no_need} 行没有勾选任何服务，也没有写其他需求：已计数，不作为需求导入"
            if x.table.meta.get("no_need_by") == "ticks"
            else f"{x.report.no_need} 户答“近期没有需要帮助的事情”：已计数，不作为需求导入"
        )
    return rows[~no]


def _done_already(x: _Prepared, rows: pd.DataFrame) -> pd.DataFrame:
    """A grid worker's sheet that says which needs are already solved (办理情况 已办结 — done on the
    spot, by the grid worker or the community): those are not needs to dispatch a unit to. They
    are counted and said, neither loaded nor quarantined; "部分办结", "未办结" or a blank load."""
    assert x.table is not None
    if "done" not in x.table.present:
        return rows
    done = rows["done"].eq("yes")
    x.report.done_already = int(done.sum())
    if x.report.done_already:
        x.report.messages.append(
            f"{x.report.done_already} 行的办理情况写的是已办结（已解决、已完成）：已经办好，不再派单，"
            "未作为待派单需求导入；如果还需要服务，请把办理情况改为“未办结”或空白后重新提交"
        )
    return rows[~done]


def _survey_visits(session: Session, x: _Prepared) -> None:
    """Record the file's visits (survey answers) and the households that asked for no more."""
    if x.visits:
        store_intake.record_visits(session, x.visits)
    if x.opt_outs:
        x.report.opted_out = store_intake.opt_out_households(session, x.opt_outs)


def _actor(x: _Prepared) -> str:
    """Who changed the needs a file brings, for their history (as long as the store keeps)."""
    return f"intake:{x.path.name}"[:100]


def _sheets(table: RawTable) -> tuple[dict[str, str], ...]:
    """The sheets read: several, or the file's one (name and title from its meta)."""
    return table.sheets or ({"name": table.meta.get("sheet", ""), "title": table.meta.get("title", "")},)


def _context(x: _Prepared, sheet: dict[str, str]) -> str:
    """What names a sheet's community or grid: its title, its name and the file's name."""
    return " ".join([sheet["title"], sheet["name"], x.path.stem])


# where a sheet's community came from when it names none itself (see _contexts)
LENT = "同一文件其他工作表的标题（本表的标题、表名和文件名没有写社区）"


def _contexts(x: _Prepared, directory: Directory) -> dict[str, str]:
    """Each sheet's context (:func:`_context`), by sheet name. A workbook kept one sheet per grid
    often names its community once, in the first sheet's title: a sheet that names no community
    takes the one community the workbook's other sheets name (none when they name several)."""
    assert x.table is not None
    contexts = {sheet["name"]: _context(x, sheet) for sheet in _sheets(x.table)}
    named = {c: directory.community_in(c) for c in contexts.values()}
    communities = {cid for cid in named.values() if cid}
    if len(communities) != 1:
        return contexts
    name = directory.community_names.get(next(iter(communities)), next(iter(communities)))
    return {k: c if named[c] else f"{c} {name}" for k, c in contexts.items()}


def _column_message(u: dict[str, str | None], vocab: Any) -> str:
    header, field_ = u["header"], u.get("suggestion")
    if u.get("duplicate_of") and u.get("filled"):
        return (
            f"列“{header}”与列“{u['duplicate_of']}”都对应“{vocab.labels[field_]}”：以“{u['duplicate_of']}”列为准，"
            f"它空着的 {u['filled']} 行取了“{header}”列"
        )
    if u.get("duplicate_of"):
        return f"列“{header}”与列“{u['duplicate_of']}”都对应“{vocab.labels[field_]}”，只导入了“{u['duplicate_of']}”列"
    if u.get("not_kept"):
        return f"列“{header}”未导入：{DATASET_ZH.get(str(u['not_kept']), '本表')}不登记这一项"
    hint = (
        f"最接近的是“{vocab.labels[field_]}”；如确是该列，请在 reference/headers.csv 的 {field_} 一行加上“{header}”"
        if field_
        else "如需导入，请在 reference/headers.csv 中为它指定字段"
    )
    return f"列“{header}”未识别，未导入：{hint}"


def _reject_for_columns(x: _Prepared, missing: list[str], vocab: Any) -> None:
    """A sheet without a required column: one file-level reason; every row is kept in quarantine."""
    labels = "、".join(f"“{vocab.labels[f]}”" for f in missing)
    words = "；".join(f"{vocab.labels[f]}可写作：{'、'.join(vocab.examples[f][:6])}" for f in missing)
    reason = f"表中缺少必填列{labels}"
    message = (
        f"{reason}，本文件 {x.report.rows_read} 行均未导入（已隔离保存）。{words}；补上该列后重新提交即可"
    )
    assert x.table is not None
    if (other := other_list(list(x.table.headers), x.dataset)) is not None:  # another list's sheet
        x.other_list = other
        reason = wrong_folder(x.dataset, other)
        message = f"{reason}（本文件 {x.report.rows_read} 行均未导入，已隔离保存）"
    x.report.messages.append(message)
    x.report.status, x.report.error = "rejected", message
    x.report.reasons = {reason: x.report.rows_read} if x.report.rows_read else {reason: 1}
    assert x.table is not None
    raw = x.table.rows.set_index("row_number")
    x.file_rejection = [
        {
            "row_number": int(n),
            "source_ref": None,
            "raw": {k: v for k, v in raw.loc[n].to_dict().items() if v is not None},
            "reasons": [
                {
                    "rule": "missing_column",
                    "column": missing[0],
                    "reason": reason,
                    "value": None,
                    "hint": message,
                }
            ],
        }
        for n in raw.index
    ] or [
        {
            "row_number": None,
            "source_ref": None,
            "raw": {"file": x.path.name},
            "reasons": [{"rule": "missing_column", "column": missing[0], "reason": reason, "value": None}],
        }
    ]


# registers whose sheets write names where the store keeps ids (needs: sheet by sheet, see
# _resolve_by_sheet)
RESOLVED: dict[str, Callable[[pd.DataFrame, Directory], Resolved]] = {
    "units": resolve_units,
    "offers": resolve_offers,
    "responses": resolve_responses,
    "survey_answers": resolve_answers,
}
# the Directory built from the store's frames (the very objects: an id could be reused once they
# are freed) and the item words file as it was (edits apply from the next file)
_DIRECTORIES: dict[tuple[str, float | None], tuple[dict[str, pd.DataFrame], Directory]] = {}


def _directory(session: Session) -> Directory:
    frames = store_intake.directory_frames(session)
    words = item_words_path()
    key = (str(words), words.stat().st_mtime if words.exists() else None)
    hit = _DIRECTORIES.get(key)
    if hit is None or hit[0] is not frames:
        _DIRECTORIES.clear()
        hit = _DIRECTORIES[key] = (frames, Directory(**frames, item_words=load_item_words(words)))
    return hit[1]


def _validate_together(sessions: sessionmaker[Session], dataset: str, prepared: list[_Prepared]) -> None:
    """One contract check for every file of the dataset in this run; per-file, per-row reasons kept."""
    todo = [x for x in prepared if not x.done and x.rows is not None]
    if not todo:
        return
    t0 = time.perf_counter()
    with sessions() as session:
        ref = store_intake.reference_sets(session, dataset)
    frames = [x.rows.assign(_file=k) for k, x in enumerate(todo)]  # type: ignore[union-attr]
    batch = pd.concat(frames, ignore_index=True)
    batch["_key"] = range(len(batch))
    checked = validate_rows(dataset, batch, ref, index_column="_key", file_column="_file")
    seconds = time.perf_counter() - t0
    total = max(len(batch), 1)
    good_by = dict(tuple(checked.good.groupby("_file", sort=False)))
    bad_by = dict(tuple(checked.bad.groupby("_file", sort=False)))
    for k, x in enumerate(todo):
        good = good_by.get(k, batch.iloc[0:0]).drop(columns=["_file", "_key"])
        bad = bad_by.get(k, checked.bad.iloc[0:0]).drop(columns=["_file", "_key"])
        if x.hints and len(bad):
            bad = bad.assign(
                reasons=[
                    _with_hints(n, rs, x.hints)
                    for n, rs in zip(bad["row_number"], bad["reasons"], strict=True)
                ]
            )
        x.validation = Validation(good=good, bad=bad, result=checked.result)
        x.report.seconds["validate"] = round(seconds * len(x.rows) / total, 3)  # type: ignore[arg-type]


def _with_hints(
    number: int, reasons: list[dict[str, Any]], hints: dict[int, dict[str, str]]
) -> list[dict[str, Any]]:
    row = hints.get(int(number), {})
    return [{**r, "hint": row[r["column"]]} if r.get("column") in row else r for r in reasons]


def _commit_needs_together(
    sessions: sessionmaker[Session],
    prepared: list[_Prepared],
    archive_dir: Path,
    dedupe_days: int,
    remove_from_inbox: bool,
) -> list[IngestReport] | None:
    """Write the run's need files in one transaction and one bulk load (per-file round trips
    cost more than the rows). All or nothing: a crash leaves every file in the inbox for the
    next run. When another run took one of the files meanwhile (the checksum race), or the
    batch is a single file, fall back to one transaction per file. Returns per-file reports
    aligned with ``prepared`` (None: use the per-file path)."""
    todo = [x for x in prepared if not x.done]
    if len(todo) < 2:
        return None
    t0 = time.perf_counter()
    try:
        with sessions() as session, session.begin():
            files: list[tuple[_Prepared, SourceFile]] = []
            for x in todo:
                if store_intake.known_source_file(session, x.digest) is not None:
                    raise _Overlap
                files.append((x, _register(session, x, _archived(archive_dir, x))))
            session.flush()
            items = store_intake.item_codes(session)
            frames = []
            for k, (x, sf) in enumerate(files):
                if x.file_rejection:
                    _quarantine_file(session, sf, x)
                    continue
                _quarantine_bad(session, sf, x)
                _survey_visits(session, x)
                frames.append(_with_source(x).assign(_sf=sf.id, _actor=_actor(x), _file=k))
            per_file, renamed_in = pd.DataFrame(), pd.Series(dtype="int64")
            if frames:
                goods = pd.concat(frames, ignore_index=True)
                batch = need_rows(goods, items, "").assign(
                    source_file_id=goods["_sf"], actor=goods["_actor"], _file=goods["_file"]
                )
                changes: list[NeedChange] = []
                renamed: list[object] = []
                outcome = load_need_rows(
                    session, batch.drop(columns=["_file"]), None, "intake", dedupe_days, changes, renamed
                )
                per_file = pd.crosstab(batch["_file"], outcome)
                renamed_in = batch.loc[renamed, "_file"].value_counts()
                by_actor: dict[str, list[NeedChange]] = {}
                for c in changes:  # each file's new needs, grouped once (not a scan per file)
                    by_actor.setdefault(c.actor, []).append(c)
                for x, _sf in files:
                    x.report.changes = by_actor.get(_actor(x), [])
            for k, (x, sf) in enumerate(files):
                report = x.report
                if not x.file_rejection:
                    got = per_file.loc[k] if k in per_file.index else pd.Series(dtype="int64")
                    report.loaded = int(got.get("loaded", 0))
                    report.merged = int(got.get("merged", 0))
                    report.already_loaded = int(got.get("already_loaded", 0))
                    _say_renamed(report, int(renamed_in.get(k, 0)))
                    assert x.validation is not None
                    report.superseded = store_intake.supersede_quarantine(
                        session,
                        x.dataset,
                        [str(r) for r in x.validation.good["source_ref"]],
                        sf.id,
                        **SUPERSEDE,
                    )
                    _set_status(report)
                _record(sf, report)
            session.flush()
    except (_Overlap, IntegrityError, FileNotFoundError):
        for x in todo:  # nothing of the batch was kept: the careful path decides file by file
            x.report = _fresh(x)
        return None
    seconds = time.perf_counter() - t0
    total = max(sum(x.report.rows_read for x in todo), 1)
    for x in todo:
        x.report.seconds["write"] = round(seconds * max(x.report.rows_read, 1) / total, 3)
        if remove_from_inbox:
            x.path.unlink(missing_ok=True)  # only after the commit
    return [x.report for x in prepared]


def _archived(archive_dir: Path, x: _Prepared) -> Path:
    return archive_dir / x.digest[:2] / f"{x.digest[:16]}_{x.path.name}"


def _register(session: Session, x: _Prepared, archived: Path) -> SourceFile:
    """Archive the file's bytes (named by checksum) and record it; flushed by the caller."""
    archived.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(x.path, archived)
    sf = SourceFile(
        dataset=x.dataset,
        name=x.path.name,
        sha256=x.digest,
        archive_path=str(archived),
        received_at=datetime.now(),
        status="loaded",
    )
    session.add(sf)
    return sf


def _quarantine_file(session: Session, sf: SourceFile, x: _Prepared) -> None:
    """Unreadable, or a required column missing (then its rows are counted, each kept)."""
    stored = store_intake.save_quarantine(session, x.dataset, sf.id, x.file_rejection, **QUARANTINE)
    if x.table is not None:
        x.report.quarantined = stored
        x.report.already_quarantined = len(x.file_rejection) - stored


class _Overlap(Exception):
    """Another run loaded one of this batch's files meanwhile."""


def _fresh(x: _Prepared) -> IngestReport:
    """The report as prepared (before a rolled-back write touched its counts)."""
    report = x.report
    return IngestReport(
        file=report.file,
        dataset=report.dataset,
        status="rejected" if x.file_rejection else "loaded",
        rows_read=report.rows_read,
        no_need=report.no_need,
        done_already=report.done_already,
        reasons=report.reasons,
        error=report.error,
        messages=report.messages,
        seconds=report.seconds,
    )


def _quarantine_bad(session: Session, sf: SourceFile, x: _Prepared) -> None:
    report, validation = x.report, x.validation
    assert validation is not None and x.table is not None
    report.validation = validation.result
    report.reasons = validation.reason_counts
    bad = _quarantine_payload(x.table, validation, x.dataset)
    report.problems = _problems(bad)
    report.quarantined = store_intake.save_quarantine(session, x.dataset, sf.id, bad, **QUARANTINE)
    report.already_quarantined = len(bad) - report.quarantined


def _problems(bad: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first quarantined rows' reasons as the run's artifact lists them (Excel row numbers)."""
    return [
        {
            "row_number": b["raw"].get(SHEET_ROW, b["row_number"]),
            "sheet": b["raw"].get(SHEET),
            "column": r.get("column"),
            "reason": r["reason"],
            "hint": r.get("hint"),
        }
        for b in bad[:PROBLEMS_SHOWN]
        for r in b["reasons"]
    ]


def _quarantine_more(session: Session, sf: SourceFile, x: _Prepared, extra: list[dict[str, Any]]) -> None:
    """Quarantine rows that passed the contract but break a rule of the store (each kept whole
    with its reason, as the contract's rejects are), and count them in the file's report."""
    if not extra:
        return
    report = x.report
    stored = store_intake.save_quarantine(session, x.dataset, sf.id, extra, **QUARANTINE)
    report.quarantined += stored
    report.already_quarantined += len(extra) - stored
    report.problems += _problems(extra)[: max(PROBLEMS_SHOWN - len(report.problems), 0)]
    for b in extra:
        for r in b["reasons"]:
            report.reasons[r["reason"]] = report.reasons.get(r["reason"], 0) + 1


# an id names one registered thing for good: the service lists, the assignments and the ratings
# name a unit and an offer by it, so a file that gives the id to another one is asked about
OFFER_TAKEN = "资源编号已登记为另一单位的资源"
UNIT_TAKEN = "单位编号已登记为另一单位"


def _offers_of_their_units(
    session: Session, sf: SourceFile, x: _Prepared, good: pd.DataFrame
) -> pd.DataFrame:
    """``good`` without the rows whose offer id is already another unit's offer; those are
    quarantined with the unit that holds it (two units numbering their sheets R001, R002...)."""
    if good.empty:
        return good
    ids = good["offer_id"].astype(str)
    held = ids.map(store_intake.offer_units(session, ids.unique().tolist()))
    taken = (held.notna() & (held != good["unit_id"].astype(str))).to_numpy()
    units = good.loc[taken, "unit_id"].astype(str)
    named = store_intake.unit_identities(session, sorted({*held[taken], *units})) if taken.any() else {}
    hints = [
        f"资源编号“{offer}”已是“{named.get(owner, ('',))[0]}”（{owner}）的资源，"
        f"不能再登记给“{named.get(unit, ('',))[0]}”（{unit}）："
        "请换一个未用过的编号，或把资源编号一栏留空，由系统按单位和事项生成"
        for offer, owner, unit in zip(ids[taken], held[taken], units, strict=True)
    ]
    return _set_aside(session, sf, x, good, taken, ("offer_unit", "offer_id", OFFER_TAKEN), hints)


def _units_of_their_ids(session: Session, sf: SourceFile, x: _Prepared, good: pd.DataFrame) -> pd.DataFrame:
    """``good`` without the rows whose unit id is registered to a unit of another name in another
    community (two communities numbering their registers DW001...); those are quarantined with
    the unit that holds the id. The same id with a new name, or in a new community, is that unit
    renamed or moved, and updates it."""
    if good.empty:
        return good
    ids = good["unit_id"].astype(str)
    known = store_intake.unit_identities(session, ids.unique().tolist())
    held = [known.get(i) for i in ids]
    taken = np.array(
        [
            h is not None and h[0] != name and h[1] is not None and c is not None and h[1] != c
            for h, name, c in zip(held, good["name"], good["community_id"], strict=True)
        ],
        dtype=bool,
    )
    place = _directory(session).community_names if taken.any() else {}
    hints = [
        f"单位编号“{i}”已登记为{place.get(h[1], h[1])}的“{h[0]}”，"
        f"与本行{place.get(c, c)}的“{name}”名称和社区都不同："
        "若是另一单位，请换一个未用过的编号，或把单位编号一栏留空，由系统按名称和社区生成；"
        "若确是同一单位改名并迁址，请分两次报送（先改名，再改社区）"
        for i, h, name, c, t in zip(ids, held, good["name"], good["community_id"], taken, strict=True)
        if t
    ]
    return _set_aside(session, sf, x, good, taken, ("unit_id_taken", "unit_id", UNIT_TAKEN), hints)


def _set_aside(
    session: Session,
    sf: SourceFile,
    x: _Prepared,
    good: pd.DataFrame,
    taken: np.ndarray,
    rule: tuple[str, str, str],
    hints: list[str],
) -> pd.DataFrame:
    """``good`` without the ``taken`` rows, which are quarantined as the sheet wrote them with
    ``rule`` (rule name, column, reason) and a hint each."""
    if not taken.any():
        return good
    assert x.table is not None
    name, column, reason = rule
    numbers = good.loc[taken, "row_number"]
    _quarantine_more(
        session,
        sf,
        x,
        [
            {
                "row_number": int(n),
                "source_ref": ref,
                "raw": written,
                "reasons": [{"rule": name, "column": column, "reason": reason, "value": ref, "hint": hint}],
            }
            for n, ref, hint, written in zip(
                numbers,
                good.loc[taken, column].astype(str),
                hints,
                _as_written(x.table, numbers),
                strict=True,
            )
        ],
    )
    return good.loc[~taken]


def _say_renamed(report: IngestReport, renamed: int) -> None:
    """The file's message for rows whose reference already named another report."""
    if renamed:
        report.messages.append(
            f"{renamed} 行的需求编号此前已用于另一条需求（如每张表都从 1 编号）：按新需求登记，"
            "编号后加了区分后缀；今后请每条需求用不重复的编号，或把编号一栏留空"
        )


def _record(sf: SourceFile, report: IngestReport) -> None:
    """What became of the file, on its source-file row; every row read must be accounted for."""
    sf.status, sf.error = report.status, report.error
    sf.rows_read, sf.rows_loaded, sf.rows_quarantined = report.rows_read, report.loaded, report.quarantined
    sf.rows_merged = report.merged + report.already_loaded
    report.check_invariant()


def _set_status(report: IngestReport) -> None:
    rejected = report.quarantined + report.already_quarantined
    if rejected and (report.loaded or report.merged or report.already_loaded):
        report.status = "partial"
    elif rejected:
        report.status = "rejected"


def _commit(
    sessions: sessionmaker[Session],
    x: _Prepared,
    archive_dir: Path,
    dedupe_days: int,
    remove_from_inbox: bool,
) -> IngestReport:
    archived = _archived(archive_dir, x)
    try:
        _commit_once(sessions, x, archived, dedupe_days)
    except FileNotFoundError:
        return _taken(x.report, "文件在读取时已被另一次导入处理并归档，本次跳过")
    except IntegrityError:
        with sessions() as session:
            if store_intake.known_source_file(session, x.digest) is None:
                raise  # not the checksum race: a real error
        # another run committed the same checksum first: nothing of ours was kept (rolled back)
        return _taken(x.report, "另一次导入同时载入了同一文件（校验和相同），本次未重复导入")
    if remove_from_inbox:
        x.path.unlink(missing_ok=True)  # only after the commit: a crash before leaves it to retry
    return x.report


def _commit_once(sessions: sessionmaker[Session], x: _Prepared, archived: Path, dedupe_days: int) -> None:
    report = x.report
    with sessions() as session, session.begin():
        if store_intake.known_source_file(session, x.digest) is not None:
            report.status = "duplicate_file"
            report.error = "同一文件已导入过（校验和相同），本次未重复导入"
            return
        sf = _register(session, x, archived)
        session.flush()
        if x.file_rejection:
            _quarantine_file(session, sf, x)
        else:
            _load_rows(session, sf, x, dedupe_days)
        _record(sf, report)


def _load_rows(session: Session, sf: SourceFile, x: _Prepared, dedupe_days: int) -> None:
    report, dataset, validation = x.report, x.dataset, x.validation
    assert validation is not None and x.table is not None
    t2 = time.perf_counter()
    _quarantine_bad(session, sf, x)
    good = validation.good
    ref_col = REF_COLUMN[dataset]
    if dataset == "needs":
        _survey_visits(session, x)
        frame = need_rows(_with_source(x), store_intake.item_codes(session), x.source)
        counts = load_needs(session, frame, sf.id, _actor(x), dedupe_days, report.changes)
        report.loaded, report.merged, report.already_loaded = (
            counts["loaded"],
            counts["merged"],
            counts["already_loaded"],
        )
        _say_renamed(report, counts["renamed"])
    elif dataset == "units":
        good = _units_of_their_ids(session, sf, x, good)
        report.loaded = store_intake.load_units(session, good.astype(object).where(good.notna(), None), sf.id)
    elif dataset == "offers":
        items = store_intake.item_codes(session)
        good = _offers_of_their_units(session, sf, x, good)
        good = good.assign(item_code=good["item"].map(items))
        report.loaded = store_intake.load_offers(session, good, sf.id)
    else:
        # survey answers and unit responses belong to the closed loop
        counts = closed_loop.load_rows(session, dataset, good, sf.id, actor=_actor(x))
        report.loaded = counts["loaded"]
        report.already_loaded = counts.get("already_loaded", 0)
        report.changes = counts["changes"]
        # rows that passed the contract but break the closed loop's rules
        _quarantine_more(session, sf, x, counts.get("rejected", []))
    report.superseded = store_intake.supersede_quarantine(
        session, dataset, [str(r) for r in good[ref_col]], sf.id, **SUPERSEDE
    )
    session.flush()
    report.seconds["write"] = round(time.perf_counter() - t2, 3)
    _set_status(report)


def _with_source(x: _Prepared) -> pd.DataFrame:
    """The file's good rows with each row's channel: its own, else the file's (a JSON export
    names its source), else the inbox folder's."""
    assert x.validation is not None and x.table is not None
    good = x.validation.good
    # an export's own name for its channel, kept to the store's length
    default = str(x.table.meta.get("source", x.source))[: MAX_LENGTH["needs"]["source"]]
    return good.assign(source=good["source"].fillna(default) if "source" in good else default)


def need_rows(good: pd.DataFrame, items: dict[str, str], source: str) -> pd.DataFrame:
    """Validated, normalised need rows in the shape :func:`store.intake.load_needs` takes."""
    frame = pd.DataFrame(
        {
            "source": good["source"].fillna(source) if "source" in good else source,
            "source_ref": good["source_ref"],
            "grid_id": good["grid_id"],
            "household_id": good["household_id"],
            "item_code": good["item"].map(items),
            "description": good["description"].fillna(""),
            "urgency": good["urgency"].astype(int),
            "contact_name": good["contact_name"],
            "contact_phone": good["contact_phone"],
            # validated ISO text: parse with the known format (a guessing parse costs 10x)
            "preferred_start": pd.to_datetime(good["preferred_start"], format="%Y-%m-%d").dt.date,
            "preferred_end": pd.to_datetime(good["preferred_end"], format="%Y-%m-%d").dt.date,
        }
    )
    frame = frame.astype(object).where(frame.notna(), None)
    frame["reported_at"] = pd.to_datetime(good["reported_at"], format="%Y-%m-%d %H:%M:%S")
    return frame


def _quarantine_payload(table: RawTable, validation: Validation, dataset: str) -> list[dict[str, Any]]:
    ref_col = REF_COLUMN[dataset]
    bad = validation.bad.to_dict("records")
    written = _as_written(table, [r["row_number"] for r in bad])
    return [
        {"row_number": int(r["row_number"]), "source_ref": r.get(ref_col), "raw": w, "reasons": r["reasons"]}
        for r, w in zip(bad, written, strict=True)
    ]


def _as_written(table: RawTable, numbers: Iterable[Any]) -> list[dict[str, Any]]:
    """The sheet's rows of these numbers as it wrote them (empty cells left out), for quarantine."""
    raw = table.rows.set_index("row_number")
    return [{k: v for k, v in raw.loc[int(n)].to_dict().items() if v is not None} for n in numbers]
