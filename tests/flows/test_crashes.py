"""Crashes and overlaps, with real processes: ``kill -9`` of a match run at each stage and of an
intake run in the middle of a file, and two match runs started together. After each, the previous
good state is intact and a normal re-run (or the second run) finishes with the right result.

The runs are real flows in their own processes, against the test's Prefect API and store; each
waits at a named fault-injection point (``settings.pause_point``) until the test kills it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL
from sqlalchemy import func, select

from flows.collect import collect_inbox
from flows.match_cycle import match_cycle
from settings import PROJECT_ROOT
from store.models import Assignment, Cycle, Need, NeedSource, Offer, Publication, SourceFile, Unit
from tests.conftest import CYCLE, DAY, assignment_set

pytestmark = pytest.mark.slow
MATCH = f"from flows.match_cycle import match_cycle; match_cycle(cycle_day='{DAY.isoformat()}')"


def _spawn(code: str, stdout: Any = subprocess.PIPE, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), **env},
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_when_paused(proc: subprocess.Popen, marker: Path, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before its fault point:\n{proc.stdout.read()}")
            assert time.time() < deadline, "the run never reached its fault point"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9: no cleanup, no final state
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _published(folder: Path) -> dict[str, str]:
    """Every visible file of the published cycle, by content hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


@pytest.mark.parametrize(
    "stage", ["match:after-lock", "match:mid-solve", "match:mid-write", "publish:service_list"]
)
def test_a_match_killed_at_any_stage_leaves_the_previous_list_and_a_rerun_finishes(
    stage, prefect_harness, tiny, env, monkeypatch, tmp_path
):
    first = match_cycle(cycle_day=DAY)
    assert (first["served"], first["version"]) == (2, 1)
    folder = env.published_dir / CYCLE
    before, published = assignment_set(tiny), _published(folder)
    with tiny() as s, s.begin():  # a third unit joins: a clean run now serves all three needs
        s.add(Unit(id="UC", name="新志愿队", kind="volunteers", community_id="C001", x_km=0.5, y_km=0.0))
        s.flush()
        model = s.get(Offer, "R-UA")
        s.add(
            Offer(
                id="R-UC",
                unit_id="UC",
                item_code=model.item_code,
                capacity_per_cycle=1,
                area_level=model.area_level,
                area_id=model.area_id,
                window_start=model.window_start,
                window_end=model.window_end,
            )
        )

    marker = tmp_path / "paused"
    proc = _spawn(
        MATCH, THREELISTS_PAUSE_AT=stage, THREELISTS_PAUSE_FILE=str(marker), THREELISTS_LOCK_LEASE_SECONDS="2"
    )
    _kill_when_paused(proc, marker)

    # the previous good state: one version; before its plan
    # committed (lock, solve, write), the same work too (killed while publishing, the new plan is
    # committed but unpublished: the re-run publishes it)
    if not stage.startswith("publish"):
        assert assignment_set(tiny) == before
    # what consumers read is untouched (latest.json names v1; a version folder a crash left
    # uncommitted is named by nothing and removed by the next publication)
    now = _published(folder)
    assert {k: now.get(k) for k in published} == published
    with tiny() as s:
        assert s.scalar(select(func.count()).select_from(Publication)) == 1
        held = s.get(Cycle, CYCLE)
        assert held.status == "running" and held.lock_owner  # the dead run's lock

    # a normal re-run: takes the lapsed lock over, matches, publishes v2
    monkeypatch.setenv("THREELISTS_LOCK_LEASE_SECONDS", "2")
    started = time.monotonic()
    again = match_cycle(cycle_day=DAY)
    took = time.monotonic() - started
    assert (again["served"], again["version"], again["new_version"]) == (3, 2, True)
    assert {(u, st) for _, u, st in assignment_set(tiny)} == {
        ("UA", "dispatched"),
        ("UB", "dispatched"),
        ("UC", "dispatched"),
    }
    latest = (folder / "latest.json").read_text(encoding="utf-8")
    assert '"version": 2' in latest and sorted(p.name for p in folder.glob("v*")) == ["v0001", "v0002"]
    with tiny() as s:
        c = s.get(Cycle, CYCLE)
        assert c.status == "matched" and c.lock_owner is None and "接管" in c.takeover_note
    print(f"{stage}: killed; takeover and re-run took {took:.1f} s; {c.takeover_note}")


def test_two_match_runs_started_together_both_complete_and_nothing_doubles(
    prefect_harness, tiny, env, tmp_path
):
    """The first holds the week after taking it until the second, started meanwhile, has found it
    held and queued behind it (at most 240 s: a slow machine starts a process slowly)."""
    marker, resume, second_log = tmp_path / "holding", tmp_path / "resume", tmp_path / "second.log"
    first = _spawn(
        MATCH,
        THREELISTS_PAUSE_AT="match:after-lock",
        THREELISTS_PAUSE_FILE=str(marker),
        THREELISTS_PAUSE_SECONDS="240",
        THREELISTS_RESUME_FILE=str(resume),
    )
    deadline = time.time() + 240
    while not marker.exists():  # the first holds the week now
        assert first.poll() is None and time.time() < deadline, (
            first.stdout.read() if first.poll() else "slow"
        )
        time.sleep(0.2)
    with second_log.open("w", encoding="utf-8") as log:
        second = _spawn(MATCH, stdout=log)
        queued = False
        while not queued and second.poll() is None and time.time() < deadline:
            queued = "waiting for the week's other match run" in second_log.read_text(encoding="utf-8")
            time.sleep(0.2)
        resume.touch()  # the first goes on
        out_first, _ = first.communicate(timeout=600)
        second.wait(timeout=600)
    out_second = second_log.read_text(encoding="utf-8")
    assert first.returncode == 0, out_first
    assert second.returncode == 0, out_second
    assert queued, out_second  # it found the week held and queued while the first held it
    with tiny() as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 2
        assert s.scalar(select(func.count()).select_from(Publication)) == 1
        c = s.get(Cycle, CYCLE)
        assert c.status == "matched" and c.lock_owner is None and c.takeover_note is None


def test_an_intake_killed_mid_file_loads_nothing_and_a_rerun_loads_it(
    prefect_harness, registry, env, sessions, tmp_path
):
    inbox = env.inbox_dir / "needs"
    inbox.mkdir(parents=True, exist_ok=True)
    src = next((registry / "inbox" / "needs").glob("*.csv"))
    (inbox / src.name).write_bytes(src.read_bytes())
    marker = tmp_path / "paused"
    proc = _spawn(
        "from datetime import date; from flows.collect import collect_inbox; "
        "collect_inbox(today=date(2026, 11, 16), dispatch_urgent=False)",
        THREELISTS_PAUSE_AT="intake:mid-file",
        THREELISTS_PAUSE_FILE=str(marker),
    )
    _kill_when_paused(proc, marker)
    with sessions() as s:  # nothing half-loaded: no need, no source, no file record
        assert s.scalar(select(func.count()).select_from(Need)) == 0
        assert s.scalar(select(func.count()).select_from(NeedSource)) == 0
        assert s.scalar(select(func.count()).select_from(SourceFile)) == 0
    assert (inbox / src.name).exists()  # still waiting in the inbox

    out = collect_inbox(today=DAY, dispatch_urgent=False)
    assert out["loaded"] > 0
    with sessions() as s:
        needs = s.scalar(select(func.count()).select_from(Need))
        assert s.scalar(select(func.count()).select_from(SourceFile)) == 1
    assert collect_inbox(today=DAY, dispatch_urgent=False).get("loaded", 0) == 0
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Need)) == needs
