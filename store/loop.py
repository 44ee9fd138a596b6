"""Reads for the closed loop (派单 -> 接单 -> 办结 -> 销单); the rules live in service/loop.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import in_chunks, rows_frame
from store.models import Assignment, Cycle, Household, Item, Need, Unit


def lock_assignments(session: Session, ids: list[int]) -> list[Assignment | Need]:
    """Lock these assignments and their needs for update and load them into the session, in a
    few statements: a file of responses names thousands, and a ``get ... FOR UPDATE`` pair each
    was most of applying one. Loaded afresh (objects the session holds take the rows' state).

    Returns the objects: the session holds what it loaded only weakly, so the caller keeps them
    while it works on them (else ``session.get`` loads each again)."""

    def locked(model: type[Assignment] | type[Need], keys: list[int]) -> list[Any]:
        return [
            obj
            for part in in_chunks(keys)
            for obj in session.scalars(
                select(model)
                .where(model.id.in_(part))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ]

    assignments = locked(Assignment, ids)
    return [*assignments, *locked(Need, sorted({a.need_id for a in assignments}))]


def overdue_assignments(
    session: Session,
    dispatched: str,
    dispatched_before: date,
    accepted: str,
    accepted_before: datetime,
) -> Sequence[Assignment]:
    """Assignments still ``dispatched`` from a cycle that started before ``dispatched_before``, or
    ``accepted`` before ``accepted_before``, locked for update."""
    return session.scalars(
        select(Assignment)
        .join(Cycle, Cycle.id == Assignment.cycle_id)
        .where(
            ((Assignment.status == dispatched) & (Cycle.period_start < dispatched_before))
            | ((Assignment.status == accepted) & (Assignment.responded_at < accepted_before))
        )
        .with_for_update(of=Assignment)
    ).all()


def resident_contact(session: Session, need: Need) -> str | None:
    """The need's phone, or its household's registered one (a phone is stored once)."""
    if need.contact_phone or not need.household_id:
        return need.contact_phone
    household = session.get(Household, need.household_id)
    return household.phone if household else None


def work_orders(session: Session, status: str) -> pd.DataFrame:
    """Assignments in ``status`` with the resident's full contact (each row for its own unit only)."""
    q = (
        select(
            Assignment.cycle_id,
            Assignment.unit_id,
            Unit.name.label("unit_name"),
            Assignment.id.label("assignment_id"),
            Assignment.need_id,
            Need.item_code,
            Item.name_zh.label("item_name"),
            Need.grid_id,
            Need.household_id,
            Need.contact_name,
            func.coalesce(Need.contact_phone, Household.phone).label("contact_phone"),
            Need.description,
        )
        .join(Need, Need.id == Assignment.need_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(Item, Item.code == Need.item_code)
        .outerjoin(Household, Household.id == Need.household_id)
        .where(Assignment.status == status)
        .order_by(Assignment.unit_id, Assignment.id)
    )
    return rows_frame(session, q)


def latest_assignment(session: Session, need_id: int, unit_id: str) -> Assignment | None:
    """The need's newest assignment to this unit, locked for update."""
    return session.scalar(
        select(Assignment)
        .where(Assignment.need_id == need_id, Assignment.unit_id == unit_id)
        .order_by(Assignment.id.desc())
        .limit(1)
        .with_for_update()
    )
