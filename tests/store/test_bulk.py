"""The store's bulk paths (driver executemany / COPY, reads from the driver's tuples) keep every
value as the ORM would, on SQLite and PostgreSQL alike, and stay inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, event, select, update

from store.db import insert_rows, look_up, read_frame, rows_frame, stacked, update_rows
from store.models import Cycle, Need, NeedEvent, Unit, UnservedNeed
from tests.conftest import tiny_offer


def _need_ids(sessions) -> list[int]:
    with sessions() as s:
        return sorted(s.scalars(select(Need.id)))


@contextmanager
def _recorded(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on ``conn`` inside, each with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(conn, "before_cursor_execute", record)


def _sqlite_plans(conn: Connection, seen: list[tuple[str, Any]], marker: str) -> list[str]:
    """SQLite's plan of each statement seen whose text holds ``marker`` (there is at least one)."""
    asked = [(q, params) for q, params in seen if marker in q]
    assert asked, marker
    return [
        " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}", params))
        for q, params in asked
    ]


def test_insert_rows_keeps_types_nulls_and_text(tiny):
    ids = _need_ids(tiny)
    at = datetime(2026, 11, 23, 8, 30, 0)  # no microseconds: stored and read back the same
    rows = [
        {
            "need_id": np.int64(n),  # numpy scalars, as frames hand them over
            "at": at,
            "actor": "match-cycle",
            "from_status": None if k == 0 else "open",
            "to_status": "dispatched",
            "cycle_id": "2026-W48",
            "reason": "社区派单：王师傅 'O''Brien' \\ 100%",  # quotes, backslash, percent
        }
        for k, n in enumerate(ids)
    ]
    with tiny() as s, s.begin():
        insert_rows(s, NeedEvent.__table__, rows)
    with tiny() as s:
        got = s.execute(
            select(NeedEvent.need_id, NeedEvent.at, NeedEvent.from_status, NeedEvent.reason).order_by(
                NeedEvent.need_id
            )
        ).all()
    assert [tuple(r) for r in got] == [
        (n, at, None if k == 0 else "open", rows[0]["reason"]) for k, n in enumerate(ids)
    ]


def test_insert_rows_takes_columns_as_it_takes_rows(tiny):
    # a cycle's history goes in as a list per column (97k changes: no dict per row); the table
    # must hold what the same rows as dicts give, and columns of unequal length are refused
    from lifecycle.changes import changes_for, history_columns, history_rows
    from lifecycle.states import Action, NeedStatus

    ids = _need_ids(tiny)
    at = datetime(2026, 11, 23, 8, 30, 0)
    made = changes_for(
        Action.DISPATCH,
        ids,
        NeedStatus.OPEN,
        None,
        at=at,
        actor="match-cycle",
        fields={"cycle_id": None, "reason": {n: f"派单 {n}" for n in ids}},
    )
    columns, rows = history_columns(made), history_rows(made)
    assert rows == [dict(zip(columns, r, strict=True)) for r in zip(*columns.values(), strict=True)]
    read = select(
        NeedEvent.need_id, NeedEvent.at, NeedEvent.from_status, NeedEvent.to_status, NeedEvent.reason
    )
    with tiny() as s, s.begin():
        insert_rows(s, NeedEvent.__table__, columns)
    with tiny() as s:
        from_columns = s.execute(read.order_by(NeedEvent.id)).all()
        s.execute(NeedEvent.__table__.delete())
        s.commit()
    with tiny() as s, s.begin():
        insert_rows(s, NeedEvent.__table__, rows)
    with tiny() as s:
        assert s.execute(read.order_by(NeedEvent.id)).all() == from_columns
    assert [tuple(r) for r in from_columns] == [(n, at, "open", "dispatched", f"派单 {n}") for n in ids]
    with pytest.raises(ValueError, match="same length"), tiny() as s, s.begin():
        insert_rows(s, NeedEvent.__table__, {**columns, "reason": columns["reason"][:-1]})


def test_insert_rows_from_a_frame_makes_nan_null(tiny):
    ids = _need_ids(tiny)
    with tiny() as s, s.begin():
        s.add(
            Cycle(
                id="2026-W48",
                period_start=date(2026, 11, 23),
                period_end=date(2026, 11, 29),
                status="done",
                started_at=datetime(2026, 11, 23),
            )
        )
    frame = pd.DataFrame(
        {
            "cycle_id": "2026-W48",
            "need_id": ids,
            "reason": "no_capacity",
            "detail": "本期无可用资源",
            "penalty": [10.5, 25.0, 60.25],
            "escalated_to": [1.0, np.nan, 2.0],  # a float column with a gap, as pandas makes it
            "escalated_from": [0.0, np.nan, 1.0],
            "escalated_why": ["deadline", None, "deadline"],
        }
    )
    with tiny() as s, s.begin():
        insert_rows(s, UnservedNeed.__table__, frame)
    with tiny() as s:
        got = s.execute(
            select(
                UnservedNeed.need_id,
                UnservedNeed.penalty,
                UnservedNeed.escalated_to,
                UnservedNeed.escalated_why,
            ).order_by(UnservedNeed.need_id)
        ).all()
    assert [tuple(r) for r in got] == [
        (ids[0], 10.5, 1, "deadline"),
        (ids[1], 25.0, None, None),
        (ids[2], 60.25, 2, "deadline"),
    ]


def test_update_rows_by_key_with_different_column_sets(tiny):
    ids = _need_ids(tiny)
    with tiny() as s, s.begin():
        update_rows(
            s,
            Need.__table__,
            [
                {"id": np.int64(ids[0]), "status": "dispatched"},
                {"id": ids[1], "escalation_level": np.int64(2), "cycles_unserved": 0},
                {"id": ids[2], "status": "closed"},
            ],
        )
    with tiny() as s:
        got = s.execute(select(Need.id, Need.status, Need.escalation_level).order_by(Need.id)).all()
    assert [tuple(r) for r in got] == [(ids[0], "dispatched", 0), (ids[1], "open", 2), (ids[2], "closed", 0)]


def test_an_update_of_many_rows_to_a_few_values_sets_each_row_as_row_by_row(tiny, monkeypatch):
    # on SQLite, rows sharing their new values go as one statement per set of values (their keys
    # as a JSON array); the result must be the row-by-row one, and a key named twice keeps the
    # row-by-row order (its last row wins)

    import store.db

    monkeypatch.setattr(store.db, "SHARED_UPDATE_ROWS", 3)
    monkeypatch.setattr(store.db, "ROWS_PER_SHARED_SET", 1)
    ids = _need_ids(tiny)
    assert len(ids) >= 3
    with tiny() as s, s.begin(), _recorded(s.connection()) as statements:
        rows = [{"id": n, "status": "dispatched" if k % 2 else "closed"} for k, n in enumerate(ids)]
        update_rows(s, Need.__table__, rows)
        # the same key twice, to different values: row by row, in order
        update_rows(
            s,
            Need.__table__,
            [
                {"id": ids[0], "escalation_level": 1},
                {"id": ids[1], "escalation_level": 1},
                {"id": ids[0], "escalation_level": 2},
            ],
        )
        dialect = s.connection().dialect.name
    with tiny() as s:
        got = dict(s.execute(select(Need.id, Need.status)).all())
        levels = dict(s.execute(select(Need.id, Need.escalation_level)).all())
    assert got == {n: "dispatched" if k % 2 else "closed" for k, n in enumerate(ids)}
    assert (levels[ids[0]], levels[ids[1]]) == (2, 1)
    if dialect == "sqlite":
        assert sum("json_each" in q for q, _ in statements) == 2  # closed, dispatched


def test_bulk_writes_roll_back_with_the_transaction(tiny):
    ids = _need_ids(tiny)
    with pytest.raises(RuntimeError), tiny() as s, s.begin():
        insert_rows(
            s,
            NeedEvent.__table__,
            [
                {
                    "need_id": n,
                    "at": datetime(2026, 11, 23),
                    "actor": "t",
                    "from_status": None,
                    "to_status": "open",
                    "cycle_id": None,
                    "reason": "x",
                }
                for n in ids
            ],
        )
        update_rows(s, Need.__table__, [{"id": n, "status": "closed"} for n in ids])
        raise RuntimeError("crash mid-write")
    with tiny() as s:
        assert s.scalar(select(NeedEvent.id).limit(1)) is None
        assert set(s.scalars(select(Need.status))) == {"open"}


def test_read_frame_parses_dates_and_numbers_per_column(tiny):
    with tiny() as s, s.begin():
        # one date shared by two needs, the rest NULL: parsed once per distinct value
        for need in s.scalars(select(Need).order_by(Need.id).limit(2)):
            need.preferred_start = date(2026, 12, 1)
    with tiny() as s:
        q = select(
            Need.id, Need.submitted_at, Need.preferred_start, Need.preferred_end, Need.urgency
        ).order_by(Need.id)
        frame = read_frame(s, q)
        orm = s.execute(q).all()
    assert list(frame.columns) == ["id", "submitted_at", "preferred_start", "preferred_end", "urgency"]
    assert frame["submitted_at"].tolist() == [pd.Timestamp(r.submitted_at) for r in orm]
    assert frame["preferred_start"].dtype.kind == "M" and frame["preferred_end"].dtype.kind == "M"
    assert frame["preferred_start"].iloc[:2].tolist() == [pd.Timestamp(2026, 12, 1)] * 2
    assert frame["preferred_start"].iloc[2:].isna().all() and frame["preferred_end"].isna().all()
    assert frame["urgency"].tolist() == [r.urgency for r in orm] and frame["urgency"].dtype.kind == "i"


def test_offers_of_an_inactive_unit_are_not_read_and_the_rest_keep_their_unit(tiny):
    from service import cycle as service_cycle

    with tiny() as s, s.begin():
        s.add(
            Unit(id="UC", name="第三家", kind="company", community_id="C001", x_km=5.0, y_km=1.0, rating=2.0)
        )
        s.flush()
        for oid in ("R-0", "R-UC"):  # one before the others in id order, one after
            s.add(tiny_offer(oid, "UC", capacity=2))
    with tiny() as s:
        offers = service_cycle.read_offers(s, "2026-W47")
    assert offers["offer_id"].tolist() == ["R-0", "R-UA", "R-UB", "R-UC"]
    assert offers["unit_id"].tolist() == ["UC", "UA", "UB", "UC"]
    assert offers["x_km"].tolist() == [5.0, 0.1, 2.0, 5.0] and offers["rating"].iloc[0] == 2.0
    with tiny() as s, s.begin():
        s.execute(update(Unit).where(Unit.id == "UC").values(active=False))
    with tiny() as s:
        offers = service_cycle.read_offers(s, "2026-W47")
    assert offers["offer_id"].tolist() == ["R-UA", "R-UB"] and offers.index.tolist() == [0, 1]
    assert offers["x_km"].tolist() == [0.1, 2.0] and offers["capacity"].tolist() == [1, 1]


def test_rows_frame_is_the_frame_of_the_orm_rows_for_every_column_type(tiny):
    from sqlalchemy import func

    from store.models import Offer, Publication

    with tiny() as s, s.begin():
        need = s.scalars(select(Need).order_by(Need.id)).first()
        need.preferred_start, need.contact_name = date(2026, 12, 1), "王阿姨"
        for v, diff in ((1, {"counts": {"added": 2}}), (2, {"counts": {"added": 2}}), (3, {})):
            s.add(
                Publication(
                    kind="service_list",
                    cycle_id="2026-W47",
                    version=v,
                    content_hash="x",
                    row_count=2,
                    path="p",
                    created_at=datetime(2026, 11, 23, 9, v),
                    diff=diff,
                )
            )
    queries = [
        select(
            Need.id,
            Need.grid_id,
            Need.contact_name,
            Need.urgency,
            Need.submitted_at,
            Need.preferred_start,
            Need.preferred_end,
        ).order_by(Need.id),
        select(Unit.id.label("unit_id"), Unit.active, Unit.rating, Unit.x_km).order_by(Unit.id),
        select(Offer.unit_id, func.count().label("offers"), func.max(Offer.window_end).label("last"))
        .group_by(Offer.unit_id)
        .order_by(Offer.unit_id),
        select(Publication.version, Publication.created_at, Publication.diff).order_by(Publication.version),
        select(Need.id).where(Need.id < 0),
    ]
    with tiny() as s:
        for q in queries:
            fast, orm = (
                rows_frame(s, q),
                pd.DataFrame(s.execute(q).all(), columns=list(q.selected_columns.keys())),
            )
            pd.testing.assert_frame_equal(fast, orm)
            assert [list(map(type, r)) for r in fast.itertuples(index=False)] == [
                list(map(type, r)) for r in orm.itertuples(index=False)
            ]
        first = rows_frame(s, queries[3])
        assert isinstance(first["created_at"].iloc[0], (datetime, pd.Timestamp)) and first["diff"].iloc[
            0
        ] == {"counts": {"added": 2}}
        first["diff"].iloc[0]["counts"]["added"] = 9  # each row its own document
        assert first["diff"].iloc[1] == {"counts": {"added": 2}}
        s.add(Unit(id="UZ", name="新单位", kind="company", community_id="C001", x_km=1.0, y_km=1.0))
        assert "UZ" in rows_frame(s, queries[1])["unit_id"].tolist()  # flushed first, as execute does


def test_stacked_rows_keep_their_types_past_empty_frames():
    empty = pd.DataFrame([], columns=["need_id", "unit_id"])  # what a select with no rows gives
    some = pd.DataFrame({"need_id": [3, 1], "unit_id": ["UA", "UB"]})
    more = pd.DataFrame({"need_id": [2], "unit_id": ["UC"]})
    both = stacked([empty, some, empty, more], ["need_id", "unit_id"])
    assert both["need_id"].tolist() == [3, 1, 2] and both["need_id"].dtype == np.int64
    assert both.index.tolist() == [0, 1, 2]
    assert stacked([empty, some], ["need_id", "unit_id"])["need_id"].dtype == np.int64
    none = stacked([], ["need_id", "unit_id"])
    assert list(none.columns) == ["need_id", "unit_id"] and len(none) == 0


def test_look_up_is_an_inner_join_that_keeps_order_and_dtypes():
    keys = pd.Series(["b", "x", "a", "b"], index=[7, 8, 9, 5], dtype=object)
    frame = pd.DataFrame({"k": keys, "n": [1, 2, 3, 4]})
    table = pd.DataFrame(
        {"k": pd.Series(["a", "b"], dtype=object), "t": pd.Series(["A", None], dtype=object), "f": [0.5, 1.5]}
    )
    out = look_up(frame, "k", table)
    assert out["n"].tolist() == [1, 3, 4] and out.index.tolist() == [0, 1, 2]  # "x" has no row
    assert out["t"].tolist() == [None, "A", None] and out["t"].dtype == object
    assert out["f"].tolist() == [1.5, 0.5, 1.5] and out["f"].dtype == np.float64
    whole = look_up(frame.iloc[[0, 2]], "k", table)  # every key found: the frame's own index
    assert whole.index.tolist() == [7, 9] and "t" not in frame.columns


def test_the_pool_read_is_the_needs_joined_to_their_grids_and_communities_in_sql(tiny):
    from service import cycle as service_cycle
    from store.models import Community, Grid

    with tiny() as s:
        pool = service_cycle.read_pool(s, "2026-W47")
        joined = read_frame(
            s,
            select(Need.id, Need.grid_id, Grid.community_id, Community.subdistrict_id, Grid.x_km, Grid.y_km)
            .join(Grid, Grid.id == Need.grid_id)
            .join(Community, Community.id == Grid.community_id)
            .where(Need.status == "open")
            .order_by(Need.id),
            text_as_object=True,
        )
    assert len(pool) == len(joined) > 0
    assert pool["need_id"].tolist() == joined["id"].tolist()
    for c in ("grid_id", "community_id", "subdistrict_id", "x_km", "y_km"):
        assert pool[c].tolist() == joined[c].tolist()
    assert pool["community_id"].dtype == object and pool["x_km"].dtype == np.float64


def test_a_households_recent_needs_are_found_through_the_household_index(tiny):
    from store.intake import read_needs_of

    with tiny() as s, s.begin():
        needs = s.scalars(select(Need).order_by(Need.id)).all()
        needs[1].status = "closed"  # household 2's need is no longer live
        needs[2].household_id = None  # need 3 is known by its phone only
    with tiny() as s:
        conn = s.connection()
        with _recorded(conn) as statements:
            found = read_needs_of(
                s,
                # a chunk's worth of households (the query's plan depends on the list's length)
                ["C001-G01-H0002", "C001-G01-H0001", *(f"C009-G01-H{k:04d}" for k in range(1990))],
                ["13812345673"],
                datetime(2026, 11, 1),
                ("open", "dispatched"),
            )
        assert found["need_id"].tolist() == [needs[0].id, needs[2].id]
        assert found["need_id"].dtype == np.int64 and list(found.columns)[:2] == ["need_id", "household_id"]
        assert read_needs_of(s, ["C001-G01-H0001"], [], datetime(2026, 11, 11), ("open",)).empty  # too old
        if conn.dialect.name == "sqlite":  # not every live need once per chunk of households
            plan = _sqlite_plans(conn, statements, "household_id IN")[0]
            assert "ix_needs_household_id" in plan, plan


def test_loaded_references_are_found_by_source_and_reference_through_their_unique_index(tiny):
    from store.intake import reported_as
    from store.models import NeedSource

    with tiny() as s, s.begin():
        for n in s.scalars(select(Need).order_by(Need.id)):
            s.add(
                NeedSource(need_id=n.id, source=n.source, source_ref=n.source_ref, received_at=n.submitted_at)
            )
    with tiny() as s:
        conn = s.connection()
        asked = [("grid_sheet", "T-1"), ("grid_sheet", "T-3"), ("survey", "T-2"), ("grid_sheet", "T-9")]
        with _recorded(conn) as statements:
            found = reported_as(s, [*asked, ("grid_sheet", "T-1")])
            assert sorted(zip(found["source"], found["source_ref"], strict=True)) == [
                ("grid_sheet", "T-1"),
                ("grid_sheet", "T-3"),
            ]
            assert set(found["household_id"]) == {"C001-G01-H0001", "C001-G01-H0003"}
            assert len(reported_as(s, [])) == 0
        if conn.dialect.name == "sqlite":  # a search of the unique index, not a scan of every source
            for plan in _sqlite_plans(conn, statements, "need_sources"):
                assert "SEARCH" in plan and "SCAN" not in plan, plan


def test_new_needs_are_found_by_the_primary_key_range_not_a_scan_of_every_need(tiny):
    from store.intake import insert_needs
    from store.models import SourceFile

    with tiny() as s, s.begin():
        s.add(
            SourceFile(
                id=7,
                dataset="needs",
                name="a.csv",
                sha256="x" * 64,
                archive_path="a.csv",
                received_at=datetime(2026, 11, 20),
                status="loaded",
            )
        )
    rows = pd.DataFrame(
        {
            "source": ["grid_sheet", "survey", "grid_sheet"],
            "source_ref": ["N-1", "N-1", "N-2"],  # a reference repeats only under another source
            "household_id": ["C001-G01-H0001", None, None],
            "grid_id": ["C001-G01"] * 3,
            "item_code": ["REPAIR.UTIL.PIPE"] * 3,
            "description": ["漏水", "", "换灯泡"],
            "urgency": [2, 1, 3],
            "contact_name": ["王秀英", "李", "张"],
            "contact_phone": ["13812345671", "13900000000", None],
            "preferred_start": [None] * 3,
            "preferred_end": [None] * 3,
            "reported_at": pd.to_datetime(["2026-11-20 09:00"] * 3),
        }
    )
    for file_id in (7, None):  # from a file, and not (every need's file unknown)
        with tiny() as s:  # rolled back at the end: each round starts from tiny's three needs
            conn = s.connection()
            with _recorded(conn) as statements:
                ids = insert_needs(s, rows.assign(source_file_id=file_id), "open")
            made = {
                n.id: (n.source, n.source_ref, n.urgency)
                for n in s.scalars(select(Need).where(Need.id.in_(ids)))
            }
            assert [made[i] for i in ids] == [
                ("grid_sheet", "N-1", 2),
                ("survey", "N-1", 1),
                ("grid_sheet", "N-2", 3),
            ]
            assert min(ids) > 3 and len(set(ids)) == 3  # tiny's three needs are not among them
            if conn.dialect.name == "sqlite":  # the new needs found again: no scan of every need
                for plan in _sqlite_plans(conn, statements, "needs.source_ref"):
                    assert "SCAN" not in plan, plan
            s.rollback()


def test_sqlite_connections_check_foreign_keys_and_keep_a_city_sized_page_cache(sessions):
    from sqlalchemy import text

    from store.db import SQLITE_CACHE_KIB

    with sessions() as s:
        if s.get_bind().dialect.name != "sqlite":
            pytest.skip("SQLite's connection settings")
        pragma = {
            p: s.execute(text(f"PRAGMA {p}")).scalar() for p in ("foreign_keys", "journal_mode", "cache_size")
        }
    assert pragma == {"foreign_keys": 1, "journal_mode": "wal", "cache_size": -SQLITE_CACHE_KIB}


def test_the_declined_pairs_are_read_from_their_partial_index_not_every_assignment(tiny):
    """Every cycle reads the pairs not offered again; ``ix_assignments_not_again`` holds only those
    (lifecycle.states.NOT_AGAIN, which the query names as the index does) and covers the read."""
    from lifecycle.states import NOT_AGAIN
    from service.cycle import read_declined
    from store.models import NOT_AGAIN_WHERE, Assignment
    from tests.conftest import match_week

    assert NOT_AGAIN_WHERE == "status IN (" + ", ".join(f"'{s}'" for s in NOT_AGAIN) + ")"
    match_week(tiny)
    with tiny() as s, s.begin():
        first, second, *_ = s.scalars(select(Assignment).order_by(Assignment.id)).all()
        first.status, second.status = "declined", "released"
        pairs = {(first.need_id, first.unit_id), (second.need_id, second.unit_id)}
    with tiny() as s:
        conn = s.connection()
        with _recorded(conn) as statements:
            got = read_declined(s)
        assert set(zip(got["need_id"], got["unit_id"], strict=True)) == pairs
        if conn.dialect.name == "sqlite":
            for plan in _sqlite_plans(conn, statements, "FROM assignments"):
                assert "ix_assignments_not_again" in plan, plan
