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

from prefect.events import Event, emit_event
from prefect.events.schemas.events import RelatedResource
from prefect.events.worker import EventsWorker
from prefect.settings import (
    PREFECT_EVENTS_MAXIMUM_LABELS_PER_RESOURCE,
    PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES,
    get_current_settings,
)

from lifecycle.changes import NeedChange, collector_paused, prefect_events
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
    """Emit the Prefect events for these changes; returns how many events were emitted.

    The first goes through ``emit_event`` (Prefect's own checks, and whether events go anywhere
    here). The rest are built as ``emit_event`` builds them, except their related resources,
    which :func:`related_resources` checks itself: Prefect's validator of a resource looks a
    setting up each time, and a city's weekly list names 97k needs in its batch events (1.9 s of
    the 3.7 s its events took).
    """
    if not changes:
        return 0
    with session_factory(get_settings().database_url)() as session:
        community_of = store_cycle.grid_communities(session)
    now = datetime.now(UTC)
    limits = (
        PREFECT_EVENTS_MAXIMUM_LABELS_PER_RESOURCE.value(),
        PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES.value(),
        get_current_settings().server.events.maximum_size_bytes,
    )
    # a city's week builds ~100k small objects and no cycles; with the collector on, each few
    # hundred start a collection that walks the cycle's frames (97k changes: 1.25-1.40 s -> 0.84-0.88 s)
    with collector_paused():
        sent = _send(prefect_events(changes, community_of), now, limits)
    global _emitted
    with _count_lock:
        _emitted += sent
    return sent


def _send(events: list[dict[str, object]], now: datetime, limits: tuple[int, int, int]) -> int:
    """Send the events, the first through ``emit_event``; how many were sent."""
    sent, delivered = 0, None
    for e in events:
        occurred = e.pop("occurred")
        payload = dict(e["payload"])  # type: ignore[arg-type]
        # the feed is when threelists recorded the change; when it happened goes in the payload
        payload["at"] = occurred.isoformat() if isinstance(occurred, datetime) else str(occurred)
        kwargs = {"event": str(e["event"]), "resource": e["resource"], "payload": payload, "occurred": now}
        try:
            if delivered is None:  # the first: Prefect's own way, which says if events go anywhere
                delivered = emit_event(related=e["related"], **kwargs) is not None  # type: ignore[arg-type]
                sent += delivered
            elif delivered:
                EventsWorker.instance().send(built_event(kwargs, e["related"], *limits))  # type: ignore[arg-type]
                sent += 1
        except Exception as exc:  # an event feed down never fails the work
            log.warning("could not emit %s: %s", e["event"], exc)
    return sent


def built_event(
    kwargs: dict[str, object],
    related: list[dict[str, str]],
    max_labels: int,
    max_related: int,
    max_bytes: int,
) -> Event:
    """The event ``emit_event(related=related, **kwargs)`` would send: Prefect validates all of it
    but the related resources, which :func:`related_resources` checks; too many of them, or too
    large an event, raises as ``emit_event`` would."""
    event = Event(**kwargs)  # type: ignore[arg-type]
    if len(related) > max_related:
        Event(**kwargs, related=related)  # type: ignore[arg-type]  # Prefect's own error
    event.related = related_resources(related, max_labels)
    if event.size_bytes > max_bytes:
        raise ValueError(
            f"event {event.event} is {event.size_bytes} bytes, more than Prefect takes ({max_bytes})"
        )
    return event


def related_resources(related: list[dict[str, str]], max_labels: int) -> list[RelatedResource]:
    """Related resources as Prefect's model, checked as its validators check them (an id and a
    role, neither empty; at most ``max_labels`` labels; text only) without running them. One that
    fails the check goes through Prefect's validators, which raise as they would have."""
    out = []
    for r in related:
        if (
            type(r) is dict
            and r.get("prefect.resource.id")
            and r.get("prefect.resource.role")
            and len(r) <= max_labels
            and all(type(k) is str and type(v) is str for k, v in r.items())
        ):
            out.append(RelatedResource.model_construct(r))
        else:
            out.append(RelatedResource.model_validate(r))
    return out


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
