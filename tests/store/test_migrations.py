"""The schema only changes through Alembic, and the migrations agree with the models."""

from __future__ import annotations

import os
import time
from datetime import date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import UniqueConstraint, create_engine, text

from store.db import alembic_config
from store.models import Base


@pytest.fixture
def empty_url(tmp_path):
    """An empty database of the same kind as the test database."""
    base = os.environ.get("THREELISTS_DATABASE_URL")
    if not base or base.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'mig.db'}"
        return
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = "tl_migrations_test"
    _drop(admin, name)  # left by an interrupted run
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    _drop(admin, name)
    admin.dispose()


def _drop(admin, name: str) -> None:
    """Drop the scratch database. WITH (FORCE) ends the test's own leftover connections; an
    autovacuum worker that has just connected to it can only be ended with pg_signal_backend
    (scripts/postgres.sh grants it), and otherwise leaves within moments: then the drop is retried."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(20):
        try:
            with admin.connect() as c:
                c.execute(
                    text(f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if attempt % 2 == 0 else ""))
                )
            return
        except DBAPIError:
            if attempt == 19:
                raise
            time.sleep(0.5)


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_upgrade_head_on_empty_database_matches_models(empty_url):
    command.upgrade(alembic_config(empty_url), "head")
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_no_index_repeats_the_lead_of_a_wider_one():
    """An index on columns that lead another index or a unique constraint of the same table is
    one more B-tree to write per row and finds nothing the wider one does not (migration 0009).
    A partial index is no wider one: it holds only the rows of its condition (migration 0012)."""
    redundant = []
    for table in Base.metadata.sorted_tables:
        wider = [
            tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)
        ]
        wider += [tuple(c.name for c in i.columns) for i in table.indexes if not _partial(i)]
        for index in table.indexes:
            lead = tuple(c.name for c in index.columns)
            if not index.unique and any(len(w) > len(lead) and w[: len(lead)] == lead for w in wider):
                redundant.append(index.name)
    assert redundant == []


def _partial(index) -> bool:
    return any(index.dialect_options[d].get("where") is not None for d in ("sqlite", "postgresql"))


def test_upgrade_from_each_previous_revision(empty_url):
    revs = _revisions()
    assert len(revs) >= 2
    cfg = alembic_config(empty_url)
    for prev in revs[:-1]:
        command.upgrade(cfg, prev)
        command.upgrade(cfg, "head")
        command.downgrade(cfg, prev)
    command.upgrade(cfg, "head")
    command.upgrade(cfg, "head")  # idempotent


def test_the_rates_report_finds_each_follow_up_by_index(tmp_path):
    """Every assignment joins its follow-up survey by ``ix_surveys_assignment_id``: without it SQLite
    walked all follow-ups once per assignment (a city's report over 7.8k answers took 209 s)."""
    from reports.metrics import facts_query

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    sql = str(facts_query().compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = [r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    engine.dispose()
    surveys = [step for step in plan if " surveys " in f"{step} "]
    assert surveys and all("ix_surveys_assignment_id" in step for step in surveys), plan


def test_an_assignments_unit_is_its_offers_from_0011_on(empty_url):
    """Migration 0011 keeps the assignments, stops with their ids at any whose unit is not its
    offer's, and from then on the store refuses such a pairing, and an offer moved to another
    unit under its assignments."""
    from sqlalchemy import select, update
    from sqlalchemy.exc import IntegrityError

    from store.db import get_engine, session_factory
    from store.models import Assignment, Cycle, Need, Offer
    from tests.conftest import add_tiny_district

    cfg = alembic_config(empty_url)
    command.upgrade(cfg, "0010")
    sessions = session_factory(empty_url)  # the store's engine: SQLite checks foreign keys
    pairs = [("R-UA", "UA"), ("R-UB", "UB"), ("R-UA", "UB")]  # the third names the other unit
    with sessions() as s, s.begin():
        add_tiny_district(s)
        s.add(
            Cycle(
                id="2026-W47",
                period_start=date(2026, 11, 16),
                period_end=date(2026, 11, 22),
                status="matched",
                started_at=datetime(2026, 11, 16, 8),
            )
        )
        s.flush()
        needs = s.scalars(select(Need.id).order_by(Need.id)).all()
        s.add_all(_assignment(n, offer, unit) for n, (offer, unit) in zip(needs, pairs, strict=True))
    with sessions() as s:
        wrong = s.scalar(
            select(Assignment.id).where(Assignment.unit_id == "UB", Assignment.offer_id == "R-UA")
        )
    with pytest.raises(RuntimeError, match=f"1 条派单的单位不是其资源所属的单位（派单编号 {wrong}）"):
        command.upgrade(cfg, "head")
    with sessions() as s, s.begin():
        s.execute(update(Assignment).where(Assignment.id == wrong).values(unit_id="UA"))
    command.upgrade(cfg, "head")
    with sessions() as s:
        kept = s.execute(select(Assignment.need_id, Assignment.offer_id, Assignment.unit_id)).all()
        assert sorted(kept) == [(needs[0], "R-UA", "UA"), (needs[1], "R-UB", "UB"), (needs[2], "R-UA", "UA")]
    with pytest.raises(IntegrityError), sessions() as s, s.begin():
        s.add(_assignment(needs[2], "R-UA", "UB"))
    with pytest.raises(IntegrityError), sessions() as s, s.begin():
        s.execute(update(Offer).where(Offer.id == "R-UB").values(unit_id="UA"))
    get_engine(empty_url).dispose()


def _assignment(need_id: int, offer_id: str, unit_id: str):
    from store.models import Assignment

    return Assignment(
        cycle_id="2026-W47",
        need_id=need_id,
        offer_id=offer_id,
        unit_id=unit_id,
        cost=1.0,
        cost_distance=1.0,
        cost_rating=0.0,
        cost_scope=0.0,
        distance_km=0.1,
        status="dispatched",
        dispatched_at=datetime(2026, 11, 16, 9),
    )
