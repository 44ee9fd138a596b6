"""Residents' personal data after a simulated run: nothing outside the two outboxes shows a full
phone, ID number or street address; retention leaves no contact on closed needs, redacts the
archive and quarantine, and changes no metric."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from flows.closed_loop import closed_loop
from flows.collect import collect_inbox
from flows.main import sample_district_cycle
from flows.retention import retention
from reports.metrics import compute_metrics, read_facts
from store.models import Need, QuarantinedRow, SourceFile
from tests.conftest import FIXTURES
from tests.conftest import personal_data_in as _hits

pytestmark = pytest.mark.slow


def _file_text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path).astype(str).to_csv(index=False)
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        return "\n".join(
            str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row
        )
    if suffix in (".png", ".db", ".sqlite", ".db-wal", ".db-shm"):
        return ""
    data = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def scan(root: Path, skip: tuple[str, ...]) -> dict[str, list[str]]:
    """Every file under ``root`` (but the ``skip`` folders) with the personal data it shows."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        hits = _hits(_file_text(path))
        if hits:
            found[rel] = hits[:3]
    return found


# the simulated world the project reads from (the district's registry and the files it hands
# over), the store itself, Prefect's home, and the two outboxes where full contacts belong
OUTSIDE = ("sample", "inbox", "bootstrap", "prefect", "threelists.db", "outbox/units", "outbox/followups")


def _artifact_hits() -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(limit=200)
    return [f"{a.key}: {h}" for a in arts for h in _hits(json.dumps(a.data, ensure_ascii=False, default=str))]


def test_nothing_outside_the_outboxes_shows_personal_data_and_retention_clears_the_rest(
    prefect_harness, env, sessions
):
    sample_district_cycle(size=0.3, seed=11, cycle_day=date(2026, 12, 21), weeks=3, needs_per_day=6.0)
    var = env.var_dir
    # a sheet with bad rows: quarantined whole, with the residents' phones in the raw rows
    (var / "inbox" / "needs").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "needs_bad_rows.csv", var / "inbox" / "needs" / "needs_bad_rows.csv")
    assert collect_inbox(today=date(2027, 1, 12), dispatch_urgent=False)["quarantined"] > 0
    assert (var / "outbox" / "followups").exists() or (var / "outbox" / "units").exists()
    assert not (var / "published" / "followups").exists()  # the call list is not published
    assert scan(var, (*OUTSIDE, "archive")) == {}
    assert _artifact_hits() == []
    # the outboxes do carry what the units and the phone team need (so the scan can see phones)
    assert scan(var / "outbox", ())
    # the archive keeps the handed-over originals until their retention period ends
    assert scan(var / "archive", ())

    # the follow-ups come due and go unanswered: the services close (销单) without an answer
    for day in (
        date(2027, 2, 15),
        date(2027, 2, 18),
        date(2027, 2, 21),
        date(2027, 2, 24),
        date(2027, 2, 27),
    ):
        closed_loop(today=day)
    with sessions() as s:
        assert [h for q in s.scalars(select(QuarantinedRow)).all() for h in _hits(json.dumps(q.raw))]
        facts_before = read_facts(s)
        closed_with_contact = s.scalar(
            select(Need.id).where(Need.status == "closed", Need.contact_name.is_not(None)).limit(1)
        )
    assert closed_with_contact is not None
    metrics_before = compute_metrics(facts_before)
    assert any((var / "data_docs").rglob("*needs_bad_rows*.html"))  # its Data Docs page was scanned

    far = date(2031, 1, 1)
    report = retention(today=far)
    assert report["needs_anonymised"] > 0 and report["files_redacted"] > 0 and report["rows_redacted"] > 0
    with sessions() as s:
        left = s.scalars(
            select(Need).where(
                Need.status == "closed", (Need.contact_name.is_not(None)) | (Need.contact_phone.is_not(None))
            )
        ).all()
        assert left == []
        raws = [
            json.dumps(q.raw, ensure_ascii=False) + json.dumps(q.reasons, ensure_ascii=False)
            for q in s.scalars(select(QuarantinedRow)).all()
        ]
        paths = [f.archive_path for f in s.scalars(select(SourceFile)).all()]
        facts_after = read_facts(s)
    assert [h for r in raws for h in _hits(r)] == []
    assert all(p.endswith(".redacted.json") for p in paths)
    assert scan(var / "archive", ()) == {}
    pd.testing.assert_frame_equal(compute_metrics(facts_after), metrics_before)

    again = retention(today=far)  # idempotent: nothing left to do
    assert (again["needs_anonymised"], again["files_redacted"], again["rows_redacted"]) == (0, 0, 0)

    # a handed-over file sent again is still recognised by its checksum, not loaded twice
    original = next((var / "sample" / "inbox" / "needs").glob("*.csv"))
    (var / "inbox" / "needs").mkdir(parents=True, exist_ok=True)
    shutil.copy(original, var / "inbox" / "needs" / original.name)
    resent = collect_inbox(today=far, dispatch_urgent=False)
    assert resent["loaded"] == 0 and resent.get("files_duplicate_file") == 1
