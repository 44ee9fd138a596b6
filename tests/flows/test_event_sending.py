"""A city's need events are sent as Prefect's own ``emit_event`` would build them, related resources
checked by threelists instead of by Prefect's per-resource validators."""

from __future__ import annotations

from datetime import datetime

import pytest
from prefect.events import Event
from pydantic import ValidationError

from lifecycle.changes import changes_for, prefect_events
from lifecycle.states import Action
from lifecycle.states import NeedStatus as N

AT = datetime(2026, 11, 23, 9, 0)
COMMUNITIES = {"G1": "C1", "G2": "C2"}


def test_a_city_list_s_batch_events_are_the_events_prefect_would_build(env, monkeypatch):
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    from tasks import events

    AssertingEventsClient.reset()
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    monkeypatch.setattr("prefect.events.utilities.should_emit_events", lambda: True)
    monkeypatch.setattr(events.store_cycle, "grid_communities", lambda _session: COMMUNITIES)
    needs = range(1, 3001)  # more than one event each: batches of needs
    # made as a cycle makes its list (lifecycle.changes.changes_for)
    changes = changes_for(
        Action.DISPATCH,
        needs,
        N.OPEN,
        None,
        at=AT,
        actor="weekly",
        context={n: {"grid_id": ("G1", "G2")[n % 2]} for n in needs},
        fields={"cycle_id": "2026-W48", "unit_id": {n: f"U{n % 7}" for n in needs}},
    )
    sent = events.announce(changes)
    worker.drain()
    got = [e for client in AssertingEventsClient.all for e in getattr(client, "events", [])]
    expected = prefect_events(changes, COMMUNITIES)
    assert sent == len(got) == len(expected) > 30
    for g, e in zip(got, expected, strict=True):
        payload = {**e["payload"], "at": AT.isoformat()}
        built_by_prefect = Event(
            event=e["event"],
            resource=e["resource"],
            related=e["related"],
            payload=payload,
            occurred=g.occurred,
            id=g.id,
        )
        assert g.model_dump() == built_by_prefect.model_dump()
    named = {r.id for g in got for r in g.related if r.role == "need"}
    assert named == {f"threelists.need.{n}" for n in range(1, 3001)}


@pytest.mark.parametrize(
    "bad",
    [
        {"prefect.resource.id": "threelists.need.1"},  # no role
        {"prefect.resource.id": "", "prefect.resource.role": "need"},  # empty id
        {
            "prefect.resource.id": "threelists.need.1",
            "prefect.resource.role": "need",
            "threelists.urgency": 3,
        },
        {
            "prefect.resource.id": "threelists.need.1",
            "prefect.resource.role": "need",
            **{f"l{k}": "x" for k in range(9)},
        },
    ],
)
def test_a_related_resource_prefect_would_refuse_is_refused(bad):
    from prefect.settings import PREFECT_EVENTS_MAXIMUM_LABELS_PER_RESOURCE, temporary_settings

    from tasks.events import related_resources

    with temporary_settings({PREFECT_EVENTS_MAXIMUM_LABELS_PER_RESOURCE: 10}):
        with pytest.raises(ValidationError):
            Event(event="threelists.need.x", resource={"prefect.resource.id": "r"}, related=[bad])
        with pytest.raises(ValidationError):
            related_resources([bad], max_labels=PREFECT_EVENTS_MAXIMUM_LABELS_PER_RESOURCE.value())
