"""Operations end to end: a real Prefect server and worker on loopback, deployments from prefect.yaml,
a run triggered through the API (as the UI does), its artifacts, a failure alert, a UI screenshot."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import func, select

from lifecycle.states import NeedStatus
from settings import PROJECT_ROOT
from store.models import Assignment, Need, Publication
from tests.flows.serving import SERVE
from tests.flows.serving import Hook as _Hook
from tests.flows.serving import serve as _serve

pytestmark = pytest.mark.slow
UNOFFERED = "HEALTH.CLINIC.TCM"  # an item of the taxonomy that no unit of the tiny district offers


@pytest.fixture
def server(env, tmp_path):
    with _serve(tmp_path) as (url, _):
        yield url


def test_deployment_runs_on_real_server_and_worker(server, tiny, env):
    api = f"{server}/api"
    with tiny() as s, s.begin():  # an urgent need no unit offers: it goes to the subdistrict desk
        s.add(
            Need(
                source="grid_sheet",
                source_ref="T-NONE",
                household_id="C001-G01-H0001",
                grid_id="C001-G01",
                item_code=UNOFFERED,
                urgency=2,
                submitted_at=datetime(2026, 11, 10, 9, 0),
                status=NeedStatus.OPEN,
            )
        )
    with temporary_settings({PREFECT_API_URL: api}):
        _Hook.received.clear()
        run = run_deployment(
            "match-cycle/weekly", parameters={"cycle_day": "2026-11-16", "approval": False}, timeout=300
        )
        assert run.state is not None and run.state.is_completed(), run.state
        assert run.name == "match-2026-W47"

        async def artifacts():
            async with get_client() as client:
                found = await client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
                )
                return {a.key for a in found}

        keys = asyncio.run(artifacts())
        assert {"match-summary-2026-w47", "service-list-2026-w47", "fairness-2026-w47"} <= keys
        # the worker ran the flow against the same store: the list is published
        assert (env.published_dir / "2026-W47" / "latest.json").exists()

        # the need's escalation is an event in the server's feed, and its automation posts
        deadline = time.time() + 90
        while not any("街道统筹" in json.dumps(h, ensure_ascii=False) for h in _Hook.received):
            assert time.time() < deadline, f"no escalation alert: {_Hook.received}"
            time.sleep(1)

        # a failing run (bad parameter) raises the alert through the automation
        _Hook.received.clear()
        bad = run_deployment("match-cycle/weekly", parameters={"cycle_day": "not-a-date"}, timeout=120)
        assert bad.state is not None and bad.state.is_failed()
        deadline = time.time() + 90
        while not _Hook.received and time.time() < deadline:
            time.sleep(1)
        assert _Hook.received, "no alert reached the webhook"
        assert "match-cycle" in json.dumps(_Hook.received[0], ensure_ascii=False)

    # what an operator sees: the deployments page, rendered by headless Chromium
    chromium = shutil.which("chromium")
    assert chromium, "chromium is needed for the UI screenshot (apt-get install chromium; .ci/run does)"
    shots = PROJECT_ROOT / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    target = shots / "prefect-deployments.png"
    target.unlink(missing_ok=True)
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={env.var_dir / 'chromium'}",
            "--virtual-time-budget=15000",
            "--window-size=1400,900",
            f"--screenshot={target}",
            f"{server}/deployments",
        ],
        capture_output=True,
        timeout=120,
    )
    assert target.exists() and target.stat().st_size > 20_000
    assert Path(target).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_survives_a_server_restart_and_a_rerun_completes(tiny, env, tmp_path):
    """The server is restarted while the worker runs a match (paused 25 s after taking its lock):
    the run ends in a clear state, and a re-run completes."""
    marker = tmp_path / "running"
    pause = {
        "THREELISTS_PAUSE_AT": "match:after-lock",
        "THREELISTS_PAUSE_FILE": str(marker),
        "THREELISTS_PAUSE_SECONDS": "25",
    }
    with _serve(tmp_path, **pause) as (url, proc_env), temporary_settings({PREFECT_API_URL: f"{url}/api"}):
        run = run_deployment(
            "match-cycle/weekly", parameters={"cycle_day": "2026-11-16", "approval": False}, timeout=0
        )
        deadline = time.time() + 240
        while not marker.exists():
            assert time.time() < deadline, "the worker never started the run"
            time.sleep(0.5)
        started = time.monotonic()
        out = subprocess.run(
            ["bash", str(SERVE), "restart-server"], env=proc_env, capture_output=True, text=True, timeout=180
        )
        assert out.returncode == 0, out.stdout + out.stderr
        down = time.monotonic() - started

        async def final_state(run_id):
            async with get_client() as client:
                while True:
                    r = await client.read_flow_run(run_id)
                    if r.state is not None and r.state.is_final():
                        return r.state
                    await asyncio.sleep(2)

        state = asyncio.run(asyncio.wait_for(final_state(run.id), timeout=300))
        assert state.is_completed(), f"{state.type}: {state.message}"
        with tiny() as s:
            assert s.scalar(select(func.count()).select_from(Assignment)) == 2
        again = run_deployment(
            "match-cycle/weekly", parameters={"cycle_day": "2026-11-16", "approval": False}, timeout=300
        )
        assert again.state is not None and again.state.is_completed(), again.state
        with tiny() as s:
            assert s.scalar(select(func.count()).select_from(Assignment)) == 2
            assert s.scalar(select(func.count()).select_from(Publication)) == 1
    print(f"server restarted in {down:.1f} s while the run waited; the run ended {state.name}")
