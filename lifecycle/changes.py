"""A change in a need's life, as the rest of the system records it: a row of the need's history
(``need_events``) and an event for Prefect's feed (``threelists.need.<verb>``).

Every :class:`NeedChange` is made by :func:`change`, which asks :func:`lifecycle.states.transition`
first: a change the table does not allow is never made. Pure Python: the events are plain dicts
that ``tasks/events.py`` sends; nothing here talks to Prefect or the database.
"""

from __future__ import annotations

import dataclasses
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from lifecycle.states import Action, AssignmentStatus, NeedStatus, Transition, transition
from lifecycle.vocabulary import LEVEL_NAMES

MAX_RELATED = 100  # Prefect refuses an event with more related resources


@dataclass(frozen=True)
class NeedChange:
    """One transition of one need, with what an event about it may say (never personal data)."""

    need_id: int
    step: Transition
    at: datetime
    actor: str
    reason: str  # Chinese, for the need's history; may quote a unit's words, so never sent as an event
    cycle_id: str | None = None
    unit_id: str | None = None
    grid_id: str | None = None
    item_code: str | None = None
    urgency: int | None = None
    level_from: int | None = None
    level_to: int | None = None
    why: str | None = None  # a code: escalation or release cause

    @property
    def event(self) -> str:
        return self.step.event


# what changes_for fills in, and what it lets a change be made of
_FIELDS = tuple(f.name for f in dataclasses.fields(NeedChange))
_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(NeedChange) if f.default is not dataclasses.MISSING
}


def change(
    action: Action | str,
    need_id: int,
    need_status: str | None,
    assignment_status: str | None = None,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    **context: object,
) -> NeedChange:
    """The change ``action`` makes to a need in these statuses; raises ``IllegalTransition``."""
    step = transition(action, need_status, assignment_status)
    return NeedChange(int(need_id), step, at, actor, reason or step.action.zh, **context)  # type: ignore[arg-type]


def changes_for(
    action: Action,
    need_ids: Iterable[int],
    need_status: NeedStatus | None,
    assignment_status: AssignmentStatus | None,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    context: Mapping[int, Mapping[str, object]] | None = None,
    fields: Mapping[str, object] | None = None,
) -> list[NeedChange]:
    """The same action on many needs known to be in the same statuses (one check for all of them).

    ``context``: what each need's events say of it, by need id (its grid, item, urgency; it may
    also say more than the shared fields, its own reason say, and wins over them). ``fields``:
    for every change, each a value or a mapping by need id (wins over ``context``).
    """
    first = change(action, 0, need_status, assignment_status, at=at, actor=actor, reason=reason)
    context, fields = context or {}, fields or {}
    shared = {k: v for k, v in fields.items() if not isinstance(v, Mapping)}
    per_need = [(k, v) for k, v in fields.items() if isinstance(v, Mapping)]
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise TypeError(f"NeedChange has no field(s) {sorted(unknown)}")
    base = {**_DEFAULTS, "step": first.step, "at": at, "actor": actor, "reason": first.reason}
    out = []
    none: Mapping[str, object] = {}
    # a week's 97k changes make no reference cycles: the cyclic collector's passes over the
    # cycle's other objects while they are made (0.3-0.5 s of 0.85-1.1 s) wait until they are made
    with collector_paused():
        for n in need_ids:
            n = int(n)
            made = {**base, **context.get(n, none), **shared, "need_id": n}
            for k, v in per_need:
                made[k] = v[n]
            if len(made) != len(_FIELDS):  # a need's context named something a change does not have
                raise TypeError(f"NeedChange has no field(s) {sorted(set(made) - set(_FIELDS))}")
            out.append(_made(made))
    return out


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off inside (and on again after, if it was on).

    For loops that make a city's worth of small containers (a change, a row or a diff entry per
    need) and no reference cycles: each few hundred new containers start a collection, which
    also walks the cycle's large frames of objects (a diff of 34k changed rows: 0.97-1.38 s with
    the collector, 0.58 s without)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _made(fields: dict[str, object]) -> NeedChange:
    """A change from all its fields, checked by the caller: a cycle makes a hundred thousand, and
    a frozen dataclass's ``__init__`` sets each of its 13 fields through ``object.__setattr__``
    (0.65 s -> 0.35 s); the instance is the one ``NeedChange(**fields)`` makes."""
    made = object.__new__(NeedChange)
    made.__dict__.update(fields)
    return made


def history_rows(changes: Iterable[NeedChange]) -> list[dict[str, object]]:
    """Rows for the append-only ``need_events`` table."""
    columns = history_columns(list(changes))
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def history_columns(changes: list[NeedChange]) -> dict[str, list[object]]:
    """The rows of :func:`history_rows` as columns (a cycle's 97k changes: no dict per row)."""
    return {
        "need_id": [c.need_id for c in changes],
        "at": [c.at for c in changes],
        "actor": [c.actor for c in changes],
        "from_status": [None if c.step.need_from is None else str(c.step.need_from) for c in changes],
        "to_status": [str(c.step.need_to) for c in changes],
        "cycle_id": [c.cycle_id for c in changes],
        "reason": [c.reason for c in changes],
    }


@lru_cache(maxsize=4096)
def _label_items(
    step: Transition, urgency: int | None, level_to: int | None, why: str | None, item_code: str | None
) -> tuple[tuple[str, str], ...]:
    """Resource labels automations match on, from the only fields they depend on (made once per
    combination: a city's weekly list is 97k changes and a handful of combinations)."""
    out = {"threelists.status": str(step.need_to)}
    if urgency is not None:
        out["threelists.urgency"] = str(int(urgency))
    if level_to is not None:
        out["threelists.level"] = LEVEL_NAMES[int(level_to)]
    if why:
        out["threelists.why"] = why
    if item_code:
        out["threelists.item"] = item_code
    return tuple(out.items())


def _labels(c: NeedChange) -> dict[str, str]:
    """Resource labels automations match on (the same for a need's own event and a batch)."""
    return dict(_label_items(c.step, c.urgency, c.level_to, c.why, c.item_code))


@lru_cache(maxsize=4096)
def _batch_label_items(
    step: Transition, urgency: int | None, level_to: int | None, why: str | None
) -> tuple[tuple[str, str], ...]:
    labels = dict(_label_items(step, urgency, level_to, why, None))  # not the item: batches stay few
    if step.action not in (Action.ESCALATE, Action.RELEASE):
        labels.pop("threelists.urgency", None)
    return tuple(sorted(labels.items()))


def _batch_key(c: NeedChange) -> tuple[tuple[str, str], ...]:
    """The labels a batch shares, sorted: what automations match on, and what a batch is grouped by."""
    return _batch_label_items(c.step, c.urgency, c.level_to, c.why)


def _batch_labels(c: NeedChange) -> dict[str, str]:
    """The labels a batch shares: what automations match on (not the item: batches stay few)."""
    return dict(_batch_key(c))


def _ref(role: str, value: object) -> dict[str, str]:
    return {"prefect.resource.id": f"threelists.{role}.{value}", "prefect.resource.role": role}


def _related(c: NeedChange, community_of: Mapping[str, str]) -> list[dict[str, str]]:
    pairs = (
        ("cycle", c.cycle_id),
        ("unit", c.unit_id),
        ("grid", c.grid_id),
        ("community", community_of.get(c.grid_id) if c.grid_id else None),
    )
    return [_ref(role, value) for role, value in pairs if value]


def _payload(c: NeedChange) -> dict[str, object]:
    s = c.step
    payload: dict[str, object] = {
        "action": str(s.action),
        "action_zh": s.action.zh,
        "from": None if s.need_from is None else str(s.need_from),
        "to": str(s.need_to),
        "actor": c.actor,
    }
    if s.assignment_from is not None or s.assignment_to is not None:
        payload["assignment_from"] = None if s.assignment_from is None else str(s.assignment_from)
        payload["assignment_to"] = None if s.assignment_to is None else str(s.assignment_to)
    if c.level_to is not None:
        payload["level_from"], payload["level_to"] = c.level_from, c.level_to
    return payload


def prefect_events(
    changes: list[NeedChange],
    community_of: Mapping[str, str] | None = None,
    *,
    one_each_up_to: int = 2000,
    batch_size: int = 95,
) -> list[dict[str, object]]:
    """The Prefect events for these changes: ``threelists.need.<verb>``, no personal data.

    A need's own event (resource ``threelists.need.<id>``, related cycle, unit, grid, community)
    for each change while the changes number at most ``one_each_up_to`` (every day-to-day act: a
    response, a follow-up, a release, an escalation, a district's weekly list). Above that (a city's
    weekly list of 100,000 dispatches: Prefect's own server drops a burst of more than ~10,000
    events), the changes of a kind that share cycle, community and the labels automations match on
    (status, desk level, why, urgency of an escalation or a release) go as one event per
    ``batch_size`` needs, each need a related resource (role ``need``): filtering the feed by a
    need's id finds both kinds, and automations match the same labels on both. Prefect takes at
    most 100 related resources per event: a batch names at most ``MAX_RELATED`` - 2 needs.
    """
    batch_size = min(batch_size, MAX_RELATED - 2)
    community_of = community_of or {}
    by_event: dict[str, list[NeedChange]] = defaultdict(list)
    for c in changes:
        by_event[c.event].append(c)
    out: list[dict[str, object]] = []
    one_each = len(changes) <= one_each_up_to
    for name, group in by_event.items():
        if one_each:
            for c in group:
                resource = {
                    "prefect.resource.id": f"threelists.need.{c.need_id}",
                    "prefect.resource.name": f"需求 {c.need_id}",
                    **_labels(c),
                }
                out.append(
                    {
                        "event": name,
                        "occurred": c.at,
                        "resource": resource,
                        "related": _related(c, community_of),
                        "payload": _payload(c),
                    }
                )
            continue
        shared: dict[tuple, list[NeedChange]] = defaultdict(list)
        for c in group:
            community = community_of.get(c.grid_id) if c.grid_id else None
            shared[(c.cycle_id, community, _batch_key(c))].append(c)
        for (cycle_id, community, labels), members in shared.items():
            for k in range(0, len(members), batch_size):
                part = members[k : k + batch_size]
                first = part[0]
                scope = ".".join(str(x) for x in (cycle_id, community) if x)
                out.append(
                    {
                        "event": name,
                        "occurred": max(c.at for c in part),
                        "resource": {
                            "prefect.resource.id": f"threelists.needs.{scope}.{first.need_id}",
                            "prefect.resource.name": f"{first.step.action.zh} {len(part)} 项需求",
                            **dict(labels),
                        },
                        "related": [
                            *_related(replace(first, unit_id=None, grid_id=None), {}),
                            *([_ref("community", community)] if community else []),
                            *(_ref("need", c.need_id) for c in part),
                        ],
                        "payload": {**_payload(first), "needs": len(part)},
                    }
                )
    return out
