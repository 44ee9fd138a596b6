"""The collect flow: a run summarises every file; the same inbox again changes nothing."""

from __future__ import annotations

import shutil

from sqlalchemy import func, select

from flows.collect import collect_inbox
from store.models import Need, NeedSource, QuarantinedRow, SourceFile
from tests.conftest import FIXTURES

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
    first = collect_inbox()
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
    again = collect_inbox()
    assert again["files"] == 9 and again["files_duplicate_file"] == 9
    assert again.get("loaded", 0) == 0 and again.get("quarantined", 0) == 0 and again.get("rows_read", 0) == 0
    assert _counts(sessions) == before
    assert (env.data_docs_dir).exists() and any(env.data_docs_dir.rglob("index.html"))
