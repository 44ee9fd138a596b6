"""No row disappears: random corruptions of real files, every run accounts for every row read."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from intake.ingest import ingest_file
from store.models import NeedSource, QuarantinedRow
from tests.conftest import FIXTURES

SOURCES = ["needs_utf8_bom.csv", "needs_bad_rows.csv", "needs_gbk.csv", "needs_platform.json"]


def _corrupt(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, val in ops:
        if not buf:
            break
        p = pos % len(buf)
        if op == "flip":
            buf[p] = val
        elif op == "drop":
            del buf[p : p + 1 + val % 8]
        elif op == "dup_line":
            lines = bytes(buf).split(b"\n")
            k = p % len(lines)
            lines.insert(k, lines[k])
            buf = bytearray(b"\n".join(lines))
        elif op == "cut":
            del buf[p:]
        elif op == "insert_sep":
            buf[p:p] = b","
    return bytes(buf)


ops = st.lists(
    st.tuples(
        st.sampled_from(["flip", "drop", "dup_line", "cut", "insert_sep"]),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SOURCES), ops, st.integers(0, 10**6))
def test_corrupted_files_lose_no_row(sessions, env, registry, name, corruption, salt):
    data = _corrupt((FIXTURES / name).read_bytes(), corruption)
    path = env.inbox_dir / "needs" / f"fuzz_{salt}_{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with sessions() as s:
        before_sources = s.scalar(select(func.count()).select_from(NeedSource))
        before_q = s.scalar(select(func.count()).select_from(QuarantinedRow))
    r = ingest_file(sessions, path, "needs", "grid_sheet", env.archive_dir)
    with sessions() as s:
        new_sources = s.scalar(select(func.count()).select_from(NeedSource)) - before_sources
        new_q = s.scalar(select(func.count()).select_from(QuarantinedRow)) - before_q
    if r.status == "duplicate_file":
        assert new_sources == 0 and new_q == 0
    elif r.status == "rejected" and r.rows_read == 0:
        assert new_q == 1 and new_sources == 0  # the whole file kept with its reason
    else:
        assert r.rows_read == r.loaded + r.quarantined + r.already_quarantined + r.merged + r.already_loaded
        # every loaded or merged row is a linked source; every quarantined row is stored
        assert new_sources == r.loaded + r.merged
        assert new_q == r.quarantined


REGISTERS = [("units.csv", "units", "units_register"), ("offers.json", "offers", "platform")]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(REGISTERS), ops, st.integers(0, 10**6))
def test_corrupted_registers_lose_no_row(sessions, env, registry, register, corruption, salt):
    name, dataset, source = register
    data = _corrupt((FIXTURES / name).read_bytes(), corruption)
    path = env.inbox_dir / dataset / f"fuzz_{salt}_{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with sessions() as s:
        before_q = s.scalar(select(func.count()).select_from(QuarantinedRow))
    r = ingest_file(sessions, path, dataset, source, env.archive_dir)
    with sessions() as s:
        new_q = s.scalar(select(func.count()).select_from(QuarantinedRow)) - before_q
    if r.status == "duplicate_file":
        assert new_q == 0
    elif r.status == "rejected" and r.rows_read == 0:
        assert new_q == 1  # the whole file kept with its reason
    else:
        assert r.rows_read == r.loaded + r.quarantined + r.already_quarantined + r.already_loaded
        assert new_q == r.quarantined
