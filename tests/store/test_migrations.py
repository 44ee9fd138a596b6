"""The schema only changes through Alembic, and the migrations agree with the models."""

from __future__ import annotations

import os
import time

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
    one more B-tree to write per row and finds nothing the wider one does not (migration 0009)."""
    redundant = []
    for table in Base.metadata.sorted_tables:
        wider = [
            tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)
        ]
        wider += [tuple(c.name for c in i.columns) for i in table.indexes]
        for index in table.indexes:
            lead = tuple(c.name for c in index.columns)
            if not index.unique and any(len(w) > len(lead) and w[: len(lead)] == lead for w in wider):
                redundant.append(index.name)
    assert redundant == []


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
