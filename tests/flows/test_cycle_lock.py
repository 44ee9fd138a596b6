"""A match run's lock: never stolen from a live run, taken over when its holder is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from prefect import flow
from sqlalchemy import select

from flows.match_cycle import match_cycle
from service import cycle as service_cycle
from settings import PROJECT_ROOT
from store import cycle as store_cycle
from store.models import Cycle
from tasks.matching import flow_run_gone
from tests.conftest import CYCLE, DAY

PERIOD = store_cycle.period_of(DAY)


def _hold(sessions, owner: str) -> None:
    with sessions() as s, s.begin():
        service_cycle.lock(s, CYCLE, PERIOD, owner)


def test_a_live_lock_is_never_taken_and_a_lapsed_one_is_taken_with_a_record(tiny):
    _hold(tiny, "flow-run:live")
    with tiny() as s, s.begin(), pytest.raises(store_cycle.CycleLocked):
        service_cycle.lock(s, CYCLE, PERIOD, "flow-run:next", lease_seconds=300)
    with tiny() as s, s.begin():  # the holder keeps renewing: still its own
        assert store_cycle.renew_cycle_lock(s, CYCLE, "flow-run:live")
    time.sleep(1.2)
    with tiny() as s, s.begin():
        c = service_cycle.lock(s, CYCLE, PERIOD, "flow-run:next", lease_seconds=1)
        assert c.lock_owner == "flow-run:next"
        assert "flow-run:live" in c.takeover_note and "租约已过期" in c.takeover_note
    with tiny() as s, s.begin():  # the old holder cannot renew what it lost
        assert not store_cycle.renew_cycle_lock(s, CYCLE, "flow-run:live")


def test_a_lock_whose_flow_run_prefect_reports_failed_is_taken_at_once(prefect_harness, tiny):
    @flow(name="dies-holding-the-lock")
    def dies() -> None:
        raise RuntimeError("boom")

    state = dies(return_state=True)
    holder = f"flow-run:{state.state_details.flow_run_id}"
    assert "Failed" in (flow_run_gone(holder) or "")
    assert flow_run_gone(f"flow-run:{uuid.uuid4()}") is None  # unknown to Prefect: the lease decides
    _hold(tiny, holder)
    with tiny() as s, s.begin():
        c = service_cycle.lock(s, CYCLE, PERIOD, "flow-run:next", 300, flow_run_gone)
        assert c.lock_owner == "flow-run:next" and "已结束" in c.takeover_note


def test_match_run_killed_after_taking_the_lock_does_not_lock_its_week(
    prefect_harness,
    tiny,
    env,
    monkeypatch,
):
    """kill -9 of a real process holding the week's lock; the next run takes over and finishes."""
    code = (
        "import time\n"
        "from store.db import session_factory\n"
        "from store import cycle as c\n"
        "from service.cycle import lock\n"
        "from settings import get_settings\n"
        f"sf = session_factory(get_settings().database_url)\n"
        "with sf() as s, s.begin():\n"
        f"    lock(s, {CYCLE!r}, c.period_of(__import__('datetime').date({DAY.year}, {DAY.month}, {DAY.day})), 'flow-run:{uuid.uuid4()}')\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with tiny() as s:
        assert s.get(Cycle, CYCLE).status == "running"  # the dead run's lock is still there
    monkeypatch.setenv("THREELISTS_LOCK_LEASE_SECONDS", "1")
    time.sleep(1.5)
    started = time.monotonic()
    out = match_cycle(cycle_day=DAY)
    took = time.monotonic() - started
    assert (out["served"], out["version"], out["new_version"]) == (2, 1, True)
    with tiny() as s:
        c = s.scalar(select(Cycle).where(Cycle.id == CYCLE))
        assert c.status == "matched" and c.lock_owner is None and "接管" in c.takeover_note
    print(f"takeover and a full re-run took {took:.1f} s")
