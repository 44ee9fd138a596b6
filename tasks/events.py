"""Announce needs' changes as Prefect events (``threelists.need.<verb>``), after they committed.

The events are built by :func:`lifecycle.changes.prefect_events` (no personal data); this module
only sends them with ``emit_event``. An event that cannot be sent never undoes a change: the need's
history in the database is the record, the event feed is its view in the Prefect UI.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from prefect.events import emit_event

from lifecycle.changes import NeedChange, prefect_events
from settings import get_settings
from store import cycle as store_cycle
from store.db import session_factory

log = logging.getLogger(__name__)
_count_lock = threading.Lock()
_emitted = 0  # events this process emitted (tasks run in its threads)


def emitted() -> int:
    """How many need events this process has emitted so far."""
    return _emitted


def announce(changes: list[NeedChange]) -> int:
    """Emit the Prefect events for these changes; returns how many events were emitted."""
    if not changes:
        return 0
    with session_factory(get_settings().database_url)() as session:
        community_of = store_cycle.grid_communities(session)
    sent = 0
    now = datetime.now(UTC)
    for e in prefect_events(changes, community_of):
        occurred = e.pop("occurred")
        payload = dict(e["payload"])  # type: ignore[arg-type]
        # the feed is when threelists recorded the change; when it happened goes in the payload
        payload["at"] = occurred.isoformat() if isinstance(occurred, datetime) else str(occurred)
        try:
            if emit_event(
                event=str(e["event"]),
                resource=e["resource"],  # type: ignore[arg-type]
                related=e["related"],  # type: ignore[arg-type]
                payload=payload,
                occurred=now,
            ):
                sent += 1
        except Exception as exc:  # an event feed down never fails the work
            log.warning("could not emit %s: %s", e["event"], exc)
    global _emitted
    with _count_lock:
        _emitted += sent
    return sent


def wait_until_recorded(since: datetime, expected: int, timeout: float = 120.0) -> int:
    """Wait until Prefect holds ``expected`` need events that occurred since ``since`` (they are
    sent in the background and stored shortly after), so a process about to exit — the embedded
    API stops with it — loses none. Returns how many it holds; a shortfall is logged."""
    from prefect.client.orchestration import get_client

    body = {
        "filter": {"occurred": {"since": since.isoformat()}, "event": {"prefix": ["threelists.need."]}},
        "limit": 1,
    }
    deadline, total = time.monotonic() + timeout, 0
    with get_client(sync_client=True) as client:
        while True:
            total = int(client.request("POST", "/events/filter", json=body).json()["total"])
            if total >= expected or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    if total < expected:
        log.warning("Prefect holds %d of the %d need events emitted since %s", total, expected, since)
    return total
