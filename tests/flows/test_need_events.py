"""Every change of a need's status is an event in Prefect's feed, read back through the Prefect
client after a simulated run: one per row of the need's history, with its cycle, unit, grid and
community related, and nothing personal in it."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from flows.main import sample_district_cycle
from store.models import NeedEvent
from tests.conftest import personal_data_in as _hits

pytestmark = pytest.mark.slow


async def _read_need_events(since: datetime) -> list[dict]:
    """All ``threelists.need.*`` events the server holds (the UI's event feed), page by page."""
    from prefect.client.orchestration import get_client

    body = {
        "filter": {
            "occurred": {
                "since": since.isoformat(),
                "until": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
            "event": {"prefix": ["threelists.need."]},
            "order": "ASC",
        },
        "limit": 50,
    }
    out: list[dict] = []
    async with get_client() as client:
        page = (await client._client.post("/events/filter", json=body)).json()
        out += page["events"]
        while page.get("next_page"):
            token = page["next_page"].split("page-token=")[1]
            page = (await client._client.get("/events/filter/next", params={"page-token": token})).json()
            out += page["events"]
    return out


def _settled(since: datetime, expected: int, timeout: float = 120) -> list[dict]:
    """The server persists events shortly after they arrive: read until the count settles."""
    deadline, events = time.time() + timeout, []
    while time.time() < deadline:
        events = asyncio.run(_read_need_events(since))
        if len(events) >= expected:
            return events
        time.sleep(2)
    return events


def test_every_change_of_a_need_is_an_event_in_prefects_feed(prefect_harness, env, sessions):
    started = datetime.now(UTC)  # the harness is shared: only this run's events count
    sample_district_cycle(size=0.3, seed=13, cycle_day=date(2026, 11, 30), weeks=2, needs_per_day=6.0)
    with sessions() as s:
        history = s.scalar(select(func.count()).select_from(NeedEvent))
        by_status = Counter(
            dict(s.execute(select(NeedEvent.to_status, func.count()).group_by(NeedEvent.to_status)).all())
        )
        some_need = s.scalar(select(NeedEvent.need_id).where(NeedEvent.to_status == "dispatched").limit(1))
    assert history > 100 and by_status["dispatched"] > 0

    events = _settled(started, history)
    names = Counter(e["event"] for e in events)
    # one event per change: the feed and the need's history tell the same story
    assert len(events) == history, names
    assert {"threelists.need.reported", "threelists.need.dispatched", "threelists.need.accepted"} <= set(
        names
    )
    # a need's own events: the resource is the need; a dispatch names its cycle, unit, grid, community
    mine = [e for e in events if e["resource"]["prefect.resource.id"] == f"threelists.need.{some_need}"]
    assert [e["event"] for e in mine][:2] == ["threelists.need.reported", "threelists.need.dispatched"]
    roles = {r["prefect.resource.role"] for r in mine[1]["related"]}
    assert {"cycle", "unit", "grid", "community"} <= roles
    assert mine[1]["payload"]["from"] == "open" and mine[1]["payload"]["to"] == "dispatched"
    # nothing personal: no phone, ID number or street address anywhere in the feed
    assert [h for e in events for h in _hits(json.dumps(e, ensure_ascii=False))] == []
