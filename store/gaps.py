"""Reads for the capacity-gap report: community centres, units, the catalogue, and which needs of a
period waited for lack of an offer or of capacity."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import rows_frame
from store.models import Community, Cycle, Grid, Item, Need, Offer, Subcategory, Unit, UnservedNeed


def read_communities(session: Session) -> pd.DataFrame:
    """community_id, name, subdistrict_id and its centre (x_km, y_km: the mean of its grids)."""
    q = (
        select(
            Community.id.label("community_id"),
            Community.name,
            Community.subdistrict_id,
            func.avg(Grid.x_km).label("x_km"),
            func.avg(Grid.y_km).label("y_km"),
        )
        .join(Grid, Grid.community_id == Community.id)
        .group_by(Community.id, Community.name, Community.subdistrict_id)
        .order_by(Community.id)
    )
    return rows_frame(session, q)


def read_units(session: Session) -> pd.DataFrame:
    """Active units: unit_id, name, kind, community_id, x_km, y_km."""
    q = (
        select(Unit.id.label("unit_id"), Unit.name, Unit.kind, Unit.community_id, Unit.x_km, Unit.y_km)
        .where(Unit.active.is_(True))
        .order_by(Unit.id)
    )
    return rows_frame(session, q)


def read_items(session: Session) -> pd.DataFrame:
    """item_code, item_name (Chinese), category_code."""
    q = (
        select(Item.code.label("item_code"), Item.name_zh.label("item_name"), Subcategory.category_code)
        .join(Subcategory, Subcategory.code == Item.subcategory_code)
        .order_by(Item.code)
    )
    return rows_frame(session, q)


def read_waited(session: Session, start: date, end: date, reasons: tuple[str, ...]) -> pd.DataFrame:
    """Per community x item: distinct needs left unserved for one of ``reasons`` in a cycle that
    started within [start, end]."""
    q = (
        select(
            Grid.community_id,
            Need.item_code,
            func.count(func.distinct(UnservedNeed.need_id)).label("needs"),
        )
        .join(Need, Need.id == UnservedNeed.need_id)
        .join(Grid, Grid.id == Need.grid_id)
        .join(Cycle, Cycle.id == UnservedNeed.cycle_id)
        .where(Cycle.period_start >= start, Cycle.period_start <= end, UnservedNeed.reason.in_(reasons))
        .group_by(Grid.community_id, Need.item_code)
    )
    return rows_frame(session, q)


def latest_cycle_id(session: Session, on_or_before: date) -> str | None:
    """The newest cycle that started on or before a day."""
    return session.scalar(
        select(Cycle.id)
        .where(Cycle.period_start <= on_or_before)
        .order_by(Cycle.period_start.desc())
        .limit(1)
    )


def count_offers(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Offer)) or 0)
