"""Reads and writes for retention: closed needs still holding a contact, archived files and
quarantined rows past their time. The rules (what, after how long) live in service/retention.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store.db import in_chunks
from store.models import Need, NeedEvent, QuarantinedRow, SourceFile


def closed_needs_with_contact(session: Session, closed_status: str, closed_before: datetime) -> list[int]:
    """Needs in ``closed_status`` that still hold a contact, closed before the cut-off."""
    last_close = (
        select(NeedEvent.need_id, func.max(NeedEvent.at).label("closed_at"))
        .where(NeedEvent.to_status == closed_status)
        .group_by(NeedEvent.need_id)
        .subquery()
    )
    q = (
        select(Need.id)
        .join(last_close, last_close.c.need_id == Need.id)
        .where(
            Need.status == closed_status,
            (Need.contact_phone.is_not(None)) | (Need.contact_name.is_not(None)),
            last_close.c.closed_at < closed_before,
        )
        .order_by(Need.id)
    )
    return list(session.scalars(q))


def clear_contacts(session: Session, need_ids: list[int]) -> int:
    """Remove the resident's name, phone and free-text description from these needs."""
    for part in in_chunks(need_ids):
        session.execute(
            update(Need)
            .where(Need.id.in_(part))
            .values(contact_name=None, contact_phone=None, description="")
        )
    return len(need_ids)


def archived_files_before(
    session: Session, received_before: datetime, redacted_suffix: str
) -> list[SourceFile]:
    """Archived source files received before the cut-off and not yet redacted."""
    return list(
        session.scalars(
            select(SourceFile)
            .where(
                SourceFile.received_at < received_before, ~SourceFile.archive_path.endswith(redacted_suffix)
            )
            .order_by(SourceFile.id)
        )
    )


def set_archive_path(session: Session, file_id: int, path: str) -> None:
    session.execute(update(SourceFile).where(SourceFile.id == file_id).values(archive_path=path))


def quarantined_rows_before(session: Session, received_before: datetime) -> list[QuarantinedRow]:
    """Quarantined rows of files received before the cut-off (the caller skips redacted ones)."""
    return list(
        session.scalars(
            select(QuarantinedRow)
            .join(SourceFile, SourceFile.id == QuarantinedRow.source_file_id)
            .where(SourceFile.received_at < received_before)
            .order_by(QuarantinedRow.id)
        )
    )


def set_quarantined_payload(session: Session, row_id: int, raw: dict[str, Any], reasons: list) -> None:
    session.execute(
        update(QuarantinedRow).where(QuarantinedRow.id == row_id).values(raw=raw, reasons=reasons)
    )
