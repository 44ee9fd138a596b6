"""Retention (个人信息保留期限): residents' contacts are kept no longer than the work needs them.

- a closed need keeps the resident's name, phone and free-text description for
  ``retain_contact_days`` after it closed; then they are removed (grid, item, dates, the unit,
  the follow-up's rating stay, so every metric is unchanged);
- an archived source file keeps its personal columns for ``retain_source_days``; then it is
  replaced by a redacted copy (``<name>.redacted.json``: the rows as loaded, personal fields
  marked 已脱敏). Its checksum stays in ``source_files``, so the same file sent again is still
  recognised and not loaded twice;
- quarantined raw rows of such files are redacted the same way (their reasons too).

Idempotent: what was anonymised or redacted is not touched again. Safe to run daily.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from intake.readers import UnreadableFile, read_table
from lifecycle.states import NeedStatus
from service.masking import PERSONAL_FIELDS, redact_record
from store import retention as store_ret

REDACTED_SUFFIX = ".redacted.json"


@dataclass
class RetentionReport:
    today: date
    contact_cutoff: date
    source_cutoff: date
    needs_anonymised: int = 0
    files_redacted: int = 0
    rows_redacted: int = 0
    files: list[str] = field(default_factory=list)


def apply_retention(
    session: Session, today: date, retain_contact_days: int, retain_source_days: int
) -> RetentionReport:
    """Anonymise and redact what is past its time on ``today``; the caller commits."""
    report = RetentionReport(
        today, today - timedelta(days=retain_contact_days), today - timedelta(days=retain_source_days)
    )
    contact_cut = datetime.combine(report.contact_cutoff, time.min)
    ids = store_ret.closed_needs_with_contact(session, str(NeedStatus.CLOSED), contact_cut)
    report.needs_anonymised = store_ret.clear_contacts(session, ids)
    source_cut = datetime.combine(report.source_cutoff, time.min)
    for f in store_ret.archived_files_before(session, source_cut, REDACTED_SUFFIX):
        new_path = redact_archived_file(Path(f.archive_path), f.dataset, f.sha256)
        store_ret.set_archive_path(session, f.id, str(new_path))
        report.files_redacted += 1
        report.files.append(Path(f.archive_path).name)
    for q in store_ret.quarantined_rows_before(session, source_cut):
        if (q.raw or {}).get("_redacted"):
            continue
        raw = {**redact_record(q.raw or {}), "_redacted": True}
        reasons = [
            {**r, "value": "已脱敏"} if r.get("column") in PERSONAL_FIELDS and r.get("value") else r
            for r in (q.reasons or [])
        ]
        store_ret.set_quarantined_payload(session, q.id, raw, reasons)
        report.rows_redacted += 1
    return report


def redact_archived_file(path: Path, dataset: str, sha256: str) -> Path:
    """Replace an archived file by its redacted copy; returns the new path (the old file is removed)."""
    target = path.with_name(path.name + REDACTED_SUFFIX)
    doc: dict[str, Any] = {"source_file": path.name, "source_sha256": sha256, "dataset": dataset}
    if path.exists():
        try:
            table = read_table(path, dataset)
            rows = table.rows.astype(object).where(table.rows.notna(), None).to_dict("records")
            doc["rows"] = [redact_record(r) for r in rows]
            doc["unmapped_columns_dropped"] = table.unmapped_headers
        except UnreadableFile as e:
            doc["rows"] = []
            doc["note"] = f"原文件无法读取（{e.reason}），已删除"
    else:
        doc["rows"] = []
        doc["note"] = "归档文件已不存在"
    target.write_text(json.dumps(doc, ensure_ascii=False, default=str), encoding="utf-8")
    if path.exists():
        path.unlink()
    return target
