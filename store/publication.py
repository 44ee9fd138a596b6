"""Store functions for publications: the rows a list publishes and the versions published."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import insert_rows, read_frame
from store.models import Assignment, Grid, Household, Item, Need, Offer, Publication, PublishedRow, Unit


def service_list_rows(session: Session, cycle_id: str, listed: tuple[str, ...]) -> pd.DataFrame:
    """The cycle's service list, one row per assignment in a ``listed`` status, with the resident's contact as stored
    (``contact_name``, ``contact_phone``): the publisher masks it."""
    listed_here = (Assignment.cycle_id == cycle_id) & Assignment.status.in_(listed)
    # the assignments with their needs in SQL; units, items, grids and the offers' windows looked
    # up apart (on SQLite a join by text key costs a B-tree search per row and table: 2x the read),
    # units and offers only those the list names (a city registers several times more units)
    df = read_frame(
        session,
        select(
            Assignment.id.label("assignment_id"),
            Assignment.need_id,
            Assignment.unit_id,
            Assignment.offer_id,
            Need.item_code,
            Need.grid_id,
            Need.contact_name,
            func.coalesce(Need.contact_phone, Household.phone).label("contact_phone"),
        )
        .join(Need, Need.id == Assignment.need_id)
        .outerjoin(Household, Household.id == Need.household_id)
        .where(listed_here)
        .order_by(Assignment.need_id),
    )
    lookups = [
        read_frame(
            session,
            select(Unit.id.label("unit_id"), Unit.name.label("unit_name")).where(
                Unit.id.in_(select(Assignment.unit_id).where(listed_here))
            ),
        ),
        read_frame(
            session,
            select(Offer.id.label("offer_id"), Offer.window_start, Offer.window_end).where(
                Offer.id.in_(select(Assignment.offer_id).where(listed_here))
            ),
        ),
        read_frame(session, select(Item.code.label("item_code"), Item.name_zh.label("item_name"))),
        read_frame(session, select(Grid.id.label("grid_id"), Grid.community_id)),
    ]
    for table in lookups:  # inner joins, as in SQL (the foreign keys find every row); order kept
        df = df.merge(table, on=table.columns[0], how="inner", sort=False)
    df.insert(0, "cycle_id", cycle_id)
    for c in ("window_start", "window_end"):  # ISO dates as text, as the list publishes them
        df[c] = df[c].to_numpy().astype("datetime64[D]").astype(str)
    order = ["cycle_id", "assignment_id", "need_id", "unit_id", "unit_name", "offer_id", "item_code"]
    order += ["item_name", "community_id", "grid_id", "window_start", "window_end"]
    return df[[*order, "contact_name", "contact_phone"]]


def latest_publication(session: Session, kind: str, cycle_id: str) -> Publication | None:
    return session.scalar(
        select(Publication)
        .where(Publication.kind == kind, Publication.cycle_id == cycle_id)
        .order_by(Publication.version.desc())
        .limit(1)
    )


def set_content_hash(session: Session, publication: Publication, content_hash: str) -> None:
    """Store another digest of a version's unchanged rows (taken in the caller's transaction)."""
    publication.content_hash = content_hash
    session.flush()


def record_publication(
    session: Session,
    kind: str,
    cycle_id: str,
    version: int,
    content_hash: str,
    path: str,
    rows: pd.DataFrame,
    diff: dict,
) -> Publication:
    pub = Publication(
        kind=kind,
        cycle_id=cycle_id,
        version=version,
        content_hash=content_hash,
        row_count=len(rows),
        path=path,
        created_at=datetime.now(),
        diff=diff,
    )
    session.add(pub)
    session.flush()
    if kind == "service_list" and len(rows):
        dated = rows.assign(
            publication_id=pub.id,
            window_start=pd.to_datetime(rows["window_start"], format="%Y-%m-%d").dt.date,
            window_end=pd.to_datetime(rows["window_end"], format="%Y-%m-%d").dt.date,
        )
        columns = {c.name for c in PublishedRow.__table__.columns}
        insert_rows(session, PublishedRow.__table__, dated[[c for c in dated.columns if c in columns]])
    return pub
