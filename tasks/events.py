"""Announce needs' changes as Prefect events (``threelists.need.<verb>``), after they committed.

The events are built by :func:`lifecycle.changes.prefect_events` (no personal data); this module
only sends them with ``emit_event``. An event that cannot be sent never undoes a change: the need's
history in the database is the record, the event feed is its view in the Prefect UI.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from prefect.events import emit_event

from lifecycle.changes import NeedChange, prefect_events
from settings import get_settings
from store import cycle as store_cycle
from store.db import session_factory

log = logging.getLogger(__name__)


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
    return sent
