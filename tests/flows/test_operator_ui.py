"""Operators act in the Prefect UI, end to end on a real server and worker (``scripts/serve.sh``):
a paused match run is approved through the API (as the UI's form does) and publishes; a second is
edited and publishes without the removed pairing; a third times out and publishes nothing; a
response recorded through the form deployment changes the need and is in the event feed; a file
copied into the inbox starts a collect run by itself; a Prefect Variable changes the next run's
costs. Headless Chromium saves what the operator sees: the paused run's form and the response form."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from uuid import UUID

import pytest
from playwright.sync_api import sync_playwright
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.variables import Variable
from sqlalchemy import func, select

from settings import PROJECT_ROOT
from store.models import Assignment, Cycle, Need, Publication
from tests.conftest import CYCLE
from tests.flows.serving import chromium, resume_when_ready, serve

pytestmark = pytest.mark.slow
SHOTS = PROJECT_ROOT / "var" / "screenshots"


def _wait(what: str, check, timeout: float = 240, every: float = 1.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _state(run_id: UUID):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def _final(run_id: UUID, timeout: float = 300):
    return _wait("the run to end", lambda: (s := _state(run_id)) and s.is_final() and s, timeout, 2)


def _screenshot(url: str, target: Path, click: str | None = None, wait_text: str | None = None) -> None:
    target.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        page.goto(url, wait_until="networkidle", timeout=60_000)
        if click:
            page.get_by_role("button", name=click).first.click(timeout=30_000)
        if wait_text:
            page.get_by_text(wait_text).first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(target), full_page=True)
        browser.close()
    assert target.exists() and target.stat().st_size > 20_000


def _served(tiny) -> set[int]:
    with tiny() as s:
        return {a.need_id for a in s.scalars(select(Assignment)).all()}


def test_operators_act_in_the_ui(tiny, env, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (
        serve(tmp_path, THREELISTS_WATCH_QUIET_SECONDS="3", THREELISTS_WATCH_POLL_SECONDS="1") as (url, _),
        temporary_settings({PREFECT_API_URL: f"{url}/api"}),
    ):
        # a Variable set in the UI changes the next run's costs (per km: 1 -> 5)
        Variable.set("threelists_per_km", 5.0, overwrite=True)

        # 1. the weekly deployment pauses with its draft; approved through the API, it publishes
        first = run_deployment("match-cycle/weekly", parameters={"cycle_day": "2026-11-16"}, timeout=0)
        _wait("the paused run", lambda: (s := _state(first.id)) and s.is_paused())
        assert _served(tiny) == set()
        _screenshot(
            f"{url}/runs/flow-run/{first.id}",
            SHOTS / "review-paused-run.png",
            click="Resume",
            wait_text="审核人",
        )
        resume_when_ready(first.id, {"approve": True, "operator": "王主任", "removals": []})
        assert _final(first.id).is_completed()
        assert _served(tiny) == {1, 2}
        with tiny() as s:
            a = s.scalars(select(Assignment).where(Assignment.need_id == 1)).one()
            assert a.cost_distance == pytest.approx(5.0 * a.distance_km, rel=1e-6)
        knobs = asyncio.run(_artifact(f"match-cost-model-{CYCLE.lower()}"))
        assert any(
            r["名称"] == "per_km" and r["来源"] == "Prefect 变量" and r["取值"] == "5.0" for r in knobs
        )

        # 2. a second run is edited: need 1's pairing removed; published without it
        second = run_deployment("match-cycle/weekly", parameters={"cycle_day": "2026-11-16"}, timeout=0)
        _wait("the second paused run", lambda: (s := _state(second.id)) and s.is_paused())
        resume_when_ready(
            second.id,
            {"approve": True, "operator": "王主任", "removals": [{"need_id": 1, "reason": "单位人手不足"}]},
        )
        assert _final(second.id).is_completed()
        assert _served(tiny) == {2}  # need 1 went back to the pool, its unit not offered it again
        with tiny() as s:
            assert s.scalar(select(func.count()).select_from(Publication)) == 2

        # 3. a run nobody approves publishes nothing and says so
        third = run_deployment(
            "match-cycle/weekly",
            parameters={"cycle_day": "2026-11-23", "approval_timeout_hours": 0.003},
            timeout=0,
        )
        ended = _final(third.id)  # the server fails a pause past its timeout; the run says why too
        assert ended.is_final() and (ended.is_completed() or "never resumed" in (ended.message or ""))
        assert not (env.published_dir / "2026-W48").exists()
        said = _wait("the run's word", lambda: asyncio.run(_artifact("review-2026-w48", required=False)), 60)
        assert "无人审核" in str(said)
        # and its lock released: the run's last act, after its word (the server may have ended
        # the run at the pause's timeout already, while its process still says why and unlocks)

        def _cycle_status() -> str:
            with tiny() as s:
                return s.get(Cycle, "2026-W48").status

        _wait("the week's lock released as unapproved", lambda: _cycle_status() == "unapproved", 60)

        # 4. a unit's phoned-in acceptance, recorded through the form deployment
        need_id, unit_id = next((n, u) for n, u in _pairs(tiny) if u)
        _screenshot(
            f"{url}/deployments/deployment/{_deployment_id('record-response/form')}/run",
            SHOTS / "response-form.png",
            wait_text="operator",
        )
        answered = run_deployment(
            "record-response/form",
            parameters={"need_id": need_id, "unit_id": unit_id, "action": "accept", "operator": "李员"},
            timeout=300,
        )
        assert answered.state.is_completed() and answered.state.name == "Completed", answered.state
        with tiny() as s:
            assert s.get(Need, need_id).status == "accepted"
        feed = asyncio.run(_need_events(need_id))
        assert "threelists.need.accepted" in feed

        # 5. a file copied into the inbox starts a collect run without anyone pressing Run
        src = next((PROJECT_ROOT / "tests" / "fixtures").glob("needs_hand_gbk_fixed.csv"))
        (env.inbox_dir / "needs").mkdir(parents=True, exist_ok=True)
        shutil.copy(src, env.inbox_dir / "needs" / "grid_sheet_arrived.csv")
        run = _wait("a collect run started by the file", lambda: _collect_runs(), timeout=120)[0]
        assert _final(run.id).is_completed()
        assert not (env.inbox_dir / "needs" / "grid_sheet_arrived.csv").exists()  # collected


def _pairs(tiny) -> list[tuple[int, str]]:
    with tiny() as s:
        return [(a.need_id, a.unit_id) for a in s.scalars(select(Assignment)).all()]


def _deployment_id(name: str) -> UUID:
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name).id


def _collect_runs() -> list:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_="collect-")))
    return runs


async def _artifact(key: str, required: bool = True):
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    if not found and not required:
        return None
    assert found, f"no artifact {key}"
    data = found[0].data
    return json.loads(data) if isinstance(data, str) and data[:1] in "[{" else data


async def _need_events(need_id: int) -> list[str]:
    async with get_client() as client:
        body = {
            "filter": {"any_resource": {"id": [f"threelists.need.{need_id}"]}, "order": "ASC"},
            "limit": 50,
        }
        for _ in range(30):
            events = (await client._client.post("/events/filter", json=body)).json()["events"]
            names = [e["event"] for e in events]
            if "threelists.need.accepted" in names:
                return names
            await asyncio.sleep(2)
    return names
