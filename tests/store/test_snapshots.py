"""The offers' snapshot (store.snapshots) answers a cycle's read only while no offer changed: any
insert, update or delete of an offer, by any session, statement or connection, renews the
table's change mark in the same transaction, and the next read is the table's own again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import case, delete, literal, null, select, text, update

from store.cycle import ACTIVE_OFFERS, active_offers
from store.db import get_engine, read_frame
from store.models import Offer, Unit
from store.reference import upsert
from store.snapshots import TOKEN_KEY, change_token, read_marked
from tests.conftest import copy_to_inbox, tiny_offer


def _live(sessions) -> pd.DataFrame:
    with sessions() as s:
        return read_frame(s, ACTIVE_OFFERS, text_as_object=True)


def _read(sessions) -> pd.DataFrame:
    with sessions() as s:
        return active_offers(s)


def _snapshot_tokens(env) -> list[str]:
    """The tokens the snapshot files under ``var/snapshots`` were read under."""
    return [
        pa.ipc.open_file(pa.memory_map(str(p))).schema.metadata[TOKEN_KEY].decode()
        for p in sorted(Path(env.snapshots_dir).glob("offers-*.arrow"))
    ]


def test_the_read_from_the_snapshot_is_the_tables_own_read(sessions, env, tiny):
    first = _read(sessions)  # taken now
    with sessions() as s:
        assert _snapshot_tokens(env) == [change_token(s, "offers")]
    again = _read(sessions)  # from the file
    pd.testing.assert_frame_equal(again, _live(sessions))
    pd.testing.assert_frame_equal(first, again)
    assert list(again["capacity"]) == [1, 1]


CHANGES = {
    "an upsert through the session": lambda s: upsert(
        s,
        Offer,
        [
            {
                "id": "R-UA",
                "unit_id": "UA",
                "item_code": "REPAIR.UTIL.PIPE",
                "capacity_per_cycle": 5,
                "area_level": "grid",
                "area_id": "C001-G01",
                "window_start": pd.Timestamp("2026-11-01").date(),
                "window_end": pd.Timestamp("2027-01-31").date(),
                "active": True,
            }
        ],
    ),
    "an ORM flush": lambda s: (s.add(tiny_offer("R-NEW", "UB", capacity=3)), s.flush()),
    "a bulk update": lambda s: s.execute(update(Offer).where(Offer.id == "R-UB").values(active=False)),
    "a delete": lambda s: s.execute(delete(Offer).where(Offer.id == "R-UB")),
    "plain SQL": lambda s: s.execute(text("UPDATE offers SET capacity_per_cycle = 7 WHERE id = 'R-UA'")),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_of_an_offer_is_read_from_the_table_after_its_commit(sessions, env, tiny, change):
    before = _read(sessions)  # the snapshot, taken
    with sessions() as s, s.begin():
        CHANGES[change](s)
    after = _read(sessions)
    pd.testing.assert_frame_equal(after, _live(sessions))
    assert not after.equals(before)
    pd.testing.assert_frame_equal(_read(sessions), after)  # and the new snapshot answers next


def test_a_change_made_on_another_connection_outside_any_session(sessions, env, tiny):
    _read(sessions)
    with get_engine(env.database_url).begin() as conn:  # an operator's own SQL, say
        conn.execute(text("UPDATE offers SET window_end = '2026-11-17' WHERE id = 'R-UA'"))
    after = _read(sessions)
    pd.testing.assert_frame_equal(after, _live(sessions))
    assert after.loc[after["offer_id"] == "R-UA", "window_end"].iloc[0] == pd.Timestamp("2026-11-17")


def test_a_session_reads_its_own_uncommitted_change_and_a_rollback_leaves_nothing_stale(sessions, env, tiny):
    before = _read(sessions)
    with sessions() as s:
        s.execute(update(Offer).where(Offer.id == "R-UA").values(capacity_per_cycle=9))
        mine = active_offers(s)
        assert list(mine.loc[mine["offer_id"] == "R-UA", "capacity"]) == [9]
        s.rollback()
    pd.testing.assert_frame_equal(_read(sessions), before)
    pd.testing.assert_frame_equal(_read(sessions), _live(sessions))


def _triggers(sessions) -> int:
    with sessions() as s:
        if s.get_bind().dialect.name == "postgresql":
            return s.scalar(text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'offers_marked%'"))
        return s.scalar(
            text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'offers_marked%'")
        )


def test_the_snapshot_answers_while_the_mark_stands(sessions, env, tiny):
    """What the triggers guard: with the update trigger gone (in a transaction rolled back), a
    changed capacity is not seen, because the snapshot answered."""
    _read(sessions)
    triggers = _triggers(sessions)
    postgres = get_engine(env.database_url).dialect.name == "postgresql"
    with sessions() as s:
        # a write first, so that SQLite's driver has begun the transaction the DROP is undone with
        s.execute(text("UPDATE needs SET urgency = urgency"))
        s.execute(
            text("DROP TRIGGER offers_marked ON offers" if postgres else "DROP TRIGGER offers_marked_update")
        )
        s.execute(update(Offer).where(Offer.id == "R-UA").values(capacity_per_cycle=9))
        assert list(active_offers(s)["capacity"]) == [1, 1]  # the snapshot's
        assert list(read_frame(s, ACTIVE_OFFERS, text_as_object=True)["capacity"]) == [9, 1]
        s.rollback()
    assert _triggers(sessions) == triggers  # the trigger is back
    pd.testing.assert_frame_equal(_read(sessions), _live(sessions))


def test_missing_values_keep_their_form(sessions, env, tiny):
    """Text and dates that are NULL come back as None and NaT, as the table's own read gives them,
    whether the text repeats (kept as a dictionary) or not (kept as plain strings)."""
    with sessions() as s, s.begin():
        s.add(tiny_offer("R-UC", "UB"))
    stmt = select(
        Offer.id,
        null().label("no_value"),
        case((Offer.id == "R-UA", Offer.unit_id), else_=None).label("some_text"),
        case((Offer.id != "R-UB", Offer.id), else_=None).label("distinct_text"),
        case((Offer.id == "R-UA", Offer.window_start), else_=None).label("some_date"),
        literal(1.5).label("number"),
    ).order_by(Offer.id)
    with sessions() as s:
        live = read_frame(s, stmt, text_as_object=True)
        read_marked(s, stmt, env.snapshots_dir, text_as_object=True)
        cached = read_marked(s, stmt, env.snapshots_dir, text_as_object=True)
    pd.testing.assert_frame_equal(cached, live)
    assert cached["some_text"].tolist() == ["UA", None, None]
    assert cached["distinct_text"].tolist() == ["R-UA", None, "R-UC"]
    assert cached["some_date"].isna().tolist() == [False, True, True]


def test_a_file_of_offers_loaded_leaves_the_snapshot_ready_for_the_next_cycle(sessions, env, registry):
    from intake.ingest import ingest_file

    for name, folder, dataset in (("units.csv", "units", "units"), ("offers.json", "offers", "offers")):
        path = copy_to_inbox(env, name, folder)
        ingest_file(sessions, path, dataset, "platform", env.archive_dir)
    with sessions() as s:
        assert _snapshot_tokens(env) == [change_token(s, "offers")]
    pd.testing.assert_frame_equal(_read(sessions), _live(sessions))


def test_changes_after_a_read_in_the_same_transaction_are_seen_once_it_commits(sessions, env, tiny):
    """PostgreSQL renews the mark once a transaction: a read between two changes saves no
    snapshot under it (the second change would stand behind the first one's token)."""
    with sessions() as s, s.begin():
        s.execute(update(Offer).where(Offer.id == "R-UA").values(capacity_per_cycle=4))
        assert list(active_offers(s)["capacity"]) == [4, 1]
        s.execute(update(Offer).where(Offer.id == "R-UB").values(capacity_per_cycle=6))
    assert list(_read(sessions)["capacity"]) == [4, 6]
    pd.testing.assert_frame_equal(_read(sessions), _live(sessions))


def test_a_transaction_that_wrote_anything_saves_no_snapshot(sessions, env, tiny):
    with sessions() as s, s.begin():
        s.execute(text("UPDATE needs SET urgency = urgency"))
        active_offers(s)
    assert _snapshot_tokens(env) == []
    _read(sessions)  # a reading session takes it
    with sessions() as s:
        assert _snapshot_tokens(env) == [change_token(s, "offers")]


def test_a_statement_that_reads_another_table_is_refused(sessions, env, tiny):
    """Its rows could change while the offers' mark stands: no snapshot would know."""
    with_unit = select(Offer.id, Unit.name).join(Unit, Unit.id == Offer.unit_id)
    with_subquery = select(Offer.id).where(Offer.unit_id.in_(select(Unit.id).where(Unit.active)))
    for stmt in (with_unit, with_subquery):
        with sessions() as s, pytest.raises(ValueError, match="units"):
            read_marked(s, stmt, env.snapshots_dir)
    assert list(env.snapshots_dir.glob("*.arrow")) == []
