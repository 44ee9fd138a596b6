"""The collect flow: a run summarises every file; the same inbox again changes nothing."""

from __future__ import annotations

import shutil

from sqlalchemy import func, select

from flows.collect import collect_inbox
from store.models import Need, NeedSource, QuarantinedRow, SourceFile
from tests.conftest import FIXTURES, SAMPLE_DAY

FILES = {
    "needs": [
        "needs_utf8_bom.csv",
        "needs_gbk.csv",
        "needs_title_row.xlsx",
        "needs_bad_rows.csv",
        "needs_platform.json",
        "needs_truncated.json",
    ],
    "units": ["units.csv"],
    "offers": ["offers.json"],
    "surveys": ["survey_answers_2026q4.csv"],
}


def _drop_files(env) -> None:
    for folder, names in FILES.items():
        (env.inbox_dir / folder).mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copy(FIXTURES / n, env.inbox_dir / folder / n)


def _counts(sessions) -> tuple[int, ...]:
    with sessions() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m))
            for m in (Need, NeedSource, QuarantinedRow, SourceFile)
        )


def test_collect_twice_on_the_same_inbox_is_a_no_op(prefect_harness, env, sessions, registry):
    _drop_files(env)
    first = collect_inbox(today=SAMPLE_DAY)  # a fixed day: the run must not depend on the clock
    assert first["files"] == 9
    assert (
        first["rows_read"]
        == first["loaded"] + first["quarantined"] + first["merged"] + first["already_loaded"]
    )
    # needs 11 + units 2 + offers 2 loaded; 1+1+8 bad need rows, 1 unit, 3 offers quarantined
    assert (first["loaded"], first["quarantined"], first["merged"]) == (15, 14, 2)
    assert first["files_rejected"] == 1  # the truncated JSON, quarantined whole
    before = _counts(sessions)
    assert list(env.inbox_dir.rglob("*.*")) == []  # processed files left the inbox (kept in the archive)
    _drop_files(env)  # the same files handed over again
    again = collect_inbox(today=SAMPLE_DAY)
    assert again["files"] == 9 and again["files_duplicate_file"] == 9
    assert again.get("loaded", 0) == 0 and again.get("quarantined", 0) == 0 and again.get("rows_read", 0) == 0
    assert _counts(sessions) == before
    assert (env.data_docs_dir).exists() and any(env.data_docs_dir.rglob("index.html"))


def test_two_runs_on_the_same_inbox_load_each_file_once_and_neither_fails(registry, env, sessions):
    """Overlapping intake runs (a manual run during the daily one): each file is loaded by one of
    them; the other reports it as taken or already loaded — no error, nothing doubled."""
    import threading

    from intake.ingest import ingest_file
    from store.db import session_factory

    inbox = env.inbox_dir / "needs"
    inbox.mkdir(parents=True, exist_ok=True)
    src = next((registry / "inbox" / "needs").glob("*.csv"))
    target = inbox / src.name
    shutil.copy(src, target)
    reports, errors = [], []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            reports.append(
                ingest_file(session_factory(env.database_url), target, "needs", "grid_sheet", env.archive_dir)
            )
        except Exception as e:  # the test fails on any
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    statuses = sorted(r.status for r in reports)
    assert statuses[0] == "duplicate_file" and statuses[1] in ("loaded", "partial")
    loaded = next(r for r in reports if r.status != "duplicate_file")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(SourceFile)) == 1
        assert s.scalar(select(func.count()).select_from(NeedSource)) == loaded.loaded + loaded.merged
    assert not target.exists()
    # a file another run already archived and removed is skipped, not failed
    gone = ingest_file(session_factory(env.database_url), target, "needs", "grid_sheet", env.archive_dir)
    assert gone.status == "duplicate_file" and "另一次导入" in gone.error
