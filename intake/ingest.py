"""Ingest one handed-over file: archive it, read, clean, validate, load the good rows and
quarantine the bad ones — all in one transaction, so a crash leaves the previous state.

Invariant, checked on every file: rows read = loaded + quarantined + merged + already loaded.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from data_contracts.validate import Validation, validate_rows
from intake.normalize import normalize_rows
from intake.readers import RawTable, UnreadableFile, read_table
from service import loop as closed_loop
from store import intake as store_intake
from store.models import SourceFile

# inbox sub-folder -> (dataset, default source of the rows)
INBOX_FOLDERS = {
    "units": ("units", "units_register"),
    "offers": ("offers", "platform"),
    "needs": ("needs", "grid_sheet"),
    "surveys": ("needs", "survey"),
    "followups": ("survey_answers", "followup"),
    "responses": ("responses", "unit"),
}
# load order: offers refer to units; responses and answers refer to what cycles created
FOLDER_ORDER = ["units", "offers", "needs", "surveys", "followups", "responses"]
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
    superseded: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # read, validate, write
    validation: Any = field(default=None, repr=False)

    def as_row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("validation")
        return d

    def check_invariant(self) -> None:
        accounted = (
            self.loaded + self.quarantined + self.already_quarantined + self.merged + self.already_loaded
        )
        if self.status != "rejected" and self.status != "duplicate_file" and accounted != self.rows_read:
            raise AssertionError(f"{self.file}: read {self.rows_read} rows but accounted for {accounted}")


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


def ingest_file(
    sessions: sessionmaker[Session],
    path: Path,
    dataset: str,
    source: str,
    archive_dir: Path,
    dedupe_days: int = 30,
    remove_from_inbox: bool = True,
) -> IngestReport:
    """Ingest ``path`` as ``dataset``; the same bytes are never loaded twice.

    The inbox may be shared by runs that overlap (a manual run during the daily one): a file
    another run already archived, or loads at the same moment, is reported as such and skipped,
    never failed — the checksum's unique constraint decides which run loads it.
    """
    path = Path(path)
    report = IngestReport(file=path.name, dataset=dataset, status="loaded")
    try:
        digest = sha256_of(path)
    except FileNotFoundError:
        return _taken(report, "文件已被另一次导入处理并归档，本次跳过")
    archived = archive_dir / digest[:2] / f"{digest[:16]}_{path.name}"
    try:
        _ingest_once(sessions, path, dataset, source, dedupe_days, report, digest, archived)
    except FileNotFoundError:
        return _taken(report, "文件在读取时已被另一次导入处理并归档，本次跳过")
    except IntegrityError:
        with sessions() as session:
            if store_intake.known_source_file(session, digest) is None:
                raise  # not the checksum race: a real error
        # another run committed the same checksum first: nothing of ours was kept (rolled back)
        return _taken(report, "另一次导入同时载入了同一文件（校验和相同），本次未重复导入")
    if remove_from_inbox:
        path.unlink(missing_ok=True)  # only after the commit: a crash before leaves it to retry
    return report


def _taken(report: IngestReport, why: str) -> IngestReport:
    """The file belongs to another run: nothing of this run's attempt counts."""
    return IngestReport(file=report.file, dataset=report.dataset, status="duplicate_file", error=why)


def _ingest_once(
    sessions: sessionmaker[Session],
    path: Path,
    dataset: str,
    source: str,
    dedupe_days: int,
    report: IngestReport,
    digest: str,
    archived: Path,
) -> None:
    with sessions() as session, session.begin():
        if store_intake.known_source_file(session, digest) is not None:
            report.status = "duplicate_file"
            report.error = "同一文件已导入过（校验和相同），本次未重复导入"
            return
        archived.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, archived)
        sf = SourceFile(
            dataset=dataset,
            name=path.name,
            sha256=digest,
            archive_path=str(archived),
            received_at=datetime.now(),
            status="loaded",
        )
        session.add(sf)
        session.flush()
        _ingest_rows(session, sf, path, dataset, source, dedupe_days, report)
        sf.status, sf.error = report.status, report.error
        sf.rows_read, sf.rows_loaded, sf.rows_quarantined = (
            report.rows_read,
            report.loaded,
            report.quarantined,
        )
        sf.rows_merged = report.merged + report.already_loaded
        report.check_invariant()


def _ingest_rows(
    session: Session,
    sf: SourceFile,
    path: Path,
    dataset: str,
    source: str,
    dedupe_days: int,
    report: IngestReport,
) -> None:
    t0 = time.perf_counter()
    try:
        table = read_table(path, dataset)
    except UnreadableFile as exc:
        report.status, report.error = "rejected", exc.reason
        store_intake.save_quarantine(
            session,
            dataset,
            sf.id,
            [
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
            ],
        )
        report.reasons = {f"整个文件无法读取：{exc.reason}": 1}
        return
    rows = normalize_rows(table.rows)
    report.rows_read = len(rows)
    t1 = time.perf_counter()
    ref = store_intake.reference_sets(session, dataset)
    validation = validate_rows(dataset, rows, ref)
    t2 = time.perf_counter()
    report.validation = validation.result
    report.reasons = validation.reason_counts
    bad = _quarantine_payload(table, validation, dataset)
    report.quarantined = store_intake.save_quarantine(session, dataset, sf.id, bad)
    report.already_quarantined = len(bad) - report.quarantined
    good = validation.good
    ref_col = REF_COLUMN[dataset]
    if dataset == "needs":
        items = store_intake.item_codes(session)
        default_source = table.meta.get("source", source)
        frame = need_rows(good, items, default_source)
        counts = store_intake.load_needs(
            session, frame, sf.id, actor=f"intake:{path.name}", dedupe_days=dedupe_days
        )
        report.loaded, report.merged, report.already_loaded = (
            counts["loaded"],
            counts["merged"],
            counts["already_loaded"],
        )
    elif dataset == "units":
        report.loaded = store_intake.load_units(session, good.astype(object).where(good.notna(), None), sf.id)
    elif dataset == "offers":
        items = store_intake.item_codes(session)
        good = good.assign(item_code=good["item"].map(items))
        report.loaded = store_intake.load_offers(session, good, sf.id)
    else:
        # survey answers and unit responses belong to the closed loop
        counts = closed_loop.load_rows(session, dataset, good, sf.id, actor=f"intake:{path.name}")
        report.loaded = counts["loaded"]
        report.already_loaded = counts.get("already_loaded", 0)
        extra = counts.get("rejected", [])
        if extra:  # rows that passed the contract but break the closed loop's rules
            stored = store_intake.save_quarantine(session, dataset, sf.id, extra)
            report.quarantined += stored
            report.already_quarantined += len(extra) - stored
            for b in extra:
                for r in b["reasons"]:
                    report.reasons[r["reason"]] = report.reasons.get(r["reason"], 0) + 1
    report.superseded = store_intake.supersede_quarantine(
        session, dataset, [str(r) for r in good[ref_col]], sf.id
    )
    session.flush()
    report.seconds = {
        "read": round(t1 - t0, 3),
        "validate": round(t2 - t1, 3),
        "write": round(time.perf_counter() - t2, 3),
    }
    rejected = report.quarantined + report.already_quarantined
    if rejected and (report.loaded or report.merged or report.already_loaded):
        report.status = "partial"
    elif rejected:
        report.status = "rejected"


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
            "preferred_start": pd.to_datetime(good["preferred_start"]).dt.date,
            "preferred_end": pd.to_datetime(good["preferred_end"]).dt.date,
        }
    )
    frame = frame.astype(object).where(frame.notna(), None)
    frame["reported_at"] = pd.to_datetime(good["reported_at"])
    return frame


def _quarantine_payload(table: RawTable, validation: Validation, dataset: str) -> list[dict[str, Any]]:
    raw = table.rows.set_index("row_number")
    ref_col = REF_COLUMN[dataset]
    out = []
    for r in validation.bad.to_dict("records"):
        n = int(r["row_number"])
        raw_row = {k: v for k, v in raw.loc[n].to_dict().items() if v is not None}
        out.append({"row_number": n, "source_ref": r.get(ref_col), "raw": raw_row, "reasons": r["reasons"]})
    return out
