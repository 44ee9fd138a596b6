"""Shared fixtures: a real database (SQLite by default, PostgreSQL when THREELISTS_DATABASE_URL
says so), a project folder per test, and a small generated district."""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from reference import load_taxonomy_frame
from sample.district import generate_district
from settings import Settings, get_settings
from store.db import empty_tables, session_factory, upgrade_database
from store.models import Community, Grid, Household, Need, Offer, Subdistrict, Unit
from store.reference import load_district_registry, load_taxonomy

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_DAY = date(2026, 11, 16)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = (
        os.environ.get("THREELISTS_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    )
    upgrade_database(url)
    return url


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at the test database and a fresh var/ folder; tables emptied afterwards."""
    monkeypatch.setenv("THREELISTS_DATABASE_URL", database_url)
    monkeypatch.setenv("THREELISTS_VAR", str(tmp_path / "var"))
    settings = get_settings()
    settings.ensure_dirs()
    empty_tables(database_url)
    yield settings
    empty_tables(database_url)


@pytest.fixture
def sessions(env: Settings) -> sessionmaker[Session]:
    return session_factory(env.database_url)


@pytest.fixture
def registry(env: Settings, sessions: sessionmaker[Session]) -> Path:
    """A small district's registry loaded into the store (taxonomy, hierarchy, households)."""
    out = env.var_dir / "sample"
    generate_district(out, size=0.3, seed=3, cycle_start=SAMPLE_DAY, households_per_grid=6)
    with sessions() as s, s.begin():
        load_taxonomy(s, load_taxonomy_frame())
        load_district_registry(s, out / "district.json")
    return out


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real (temporary) Prefect API for flow tests, started once.

    Its server migrates a new temporary database from scratch before it answers: 25-35 s on an
    idle 2-core machine, and it timed out at 60 s (a test error, not a failure) with other jobs
    sharing the cores; it gets the start-up time the Makefile gives the ephemeral API.
    """
    from prefect.testing.utilities import prefect_test_harness

    timeout = int(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))
    with prefect_test_harness(server_startup_timeout=max(timeout, 180)):
        yield


@pytest.fixture(autouse=True)
def _prefect_events_disconnected_for_hypothesis(request: pytest.FixtureRequest) -> None:
    """Before a Hypothesis test, stop Prefect's events worker (the next flow run starts a new one).

    Flow tests earlier in the session leave its websocket open, and the websocket's keepalive ping
    draws ``random.getrandbits(32)`` on a background thread every 20 s. Hypothesis checks that the
    global ``random`` state does not change while it draws an example, so a ping at that moment
    fails a property test with "do not use the `random` module inside strategies": a race with
    Prefect's thread, not a fault in the strategies.
    """
    worker = sys.modules.get("prefect.events.worker")
    if worker is not None and getattr(request.function, "is_hypothesis_test", False):
        worker.EventsWorker.drain_all(timeout=30, at_exit=False)


def copy_to_inbox(env: Settings, name: str, folder: str = "needs", as_name: str | None = None) -> Path:
    """A fixture file dropped into the inbox folder, as an operator would."""
    import shutil

    target = env.inbox_dir / folder / (as_name or name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / name, target)
    return target


def quarantined_reasons(sessions: sessionmaker[Session], file_name: str) -> dict[int | None, list[dict]]:
    """Row number -> the reasons stored with each quarantined row of the named file."""
    from sqlalchemy import select

    from store.models import QuarantinedRow, SourceFile

    with sessions() as s:
        rows = s.execute(
            select(QuarantinedRow.row_number, QuarantinedRow.reasons)
            .join(SourceFile, SourceFile.id == QuarantinedRow.source_file_id)
            .where(SourceFile.name == file_name)
        ).all()
    return {n: list(reasons) for n, reasons in rows}


# the tiny district (tests of the cycle, the loop, the lock and the server): one week of it
DAY = date(2026, 11, 16)
CYCLE = "2026-W47"


def tiny_offer(
    offer_id: str,
    unit_id: str,
    item_code: str = "REPAIR.UTIL.PIPE",
    capacity: int = 1,
    area_level: str = "grid",
    area_id: str = "C001-G01",
) -> Offer:
    """An offer in the ``tiny`` district, open through all of its test weeks."""
    return Offer(
        id=offer_id,
        unit_id=unit_id,
        item_code=item_code,
        capacity_per_cycle=capacity,
        area_level=area_level,
        area_id=area_id,
        window_start=date(2026, 11, 1),
        window_end=date(2027, 1, 31),
    )


def add_tiny_district(s: Session) -> None:
    """The ``tiny`` district's rows, added in the caller's transaction (also into a database
    at an older revision, which the migration tests upgrade)."""
    load_taxonomy(s, load_taxonomy_frame())
    s.add(Subdistrict(id="SD01", name="第1街道"))
    s.flush()
    s.add(Community(id="C001", subdistrict_id="SD01", name="和平社区"))
    s.flush()
    s.add(Grid(id="C001-G01", community_id="C001", name="第1网格", x_km=0.0, y_km=0.0))
    s.flush()
    for h in range(1, 4):
        s.add(
            Household(
                id=f"C001-G01-H000{h}",
                grid_id="C001-G01",
                address=f"{h}栋",
                head_name="王秀英",
                phone=f"1381234567{h}",
            )
        )
    s.add(Unit(id="UA", name="近处志愿队", kind="volunteers", community_id="C001", x_km=0.1, y_km=0.0))
    s.add(Unit(id="UB", name="远处物业", kind="company", community_id="C001", x_km=2.0, y_km=0.0))
    s.flush()
    for u in ("UA", "UB"):
        s.add(tiny_offer(f"R-{u}", u))
    s.flush()
    for h, urgency in ((1, 3), (2, 2), (3, 1)):
        n = Need(
            source="grid_sheet",
            source_ref=f"T-{h}",
            household_id=f"C001-G01-H000{h}",
            grid_id="C001-G01",
            item_code="REPAIR.UTIL.PIPE",
            urgency=urgency,
            submitted_at=datetime(2026, 11, 10, 9, 0),
            contact_name="王秀英",
            contact_phone=f"1381234567{h}",
            status="open",
        )
        s.add(n)


@pytest.fixture
def tiny(env, sessions):
    """One grid, two units offering the same item (A nearer than B), three needs, capacity 1 each."""
    with sessions() as s, s.begin():
        add_tiny_district(s)
    return sessions


def match_week(sessions: sessionmaker[Session], cycle_id: str = "2026-W47") -> None:
    """Match and dispatch the week of ``DAY`` (the cycle's lock, plan and dispatch, no Prefect)."""
    from matching.plan import plan_cycle
    from service import cycle as service_cycle
    from store.cycle import period_of

    with sessions() as s, s.begin():
        service_cycle.lock(s, cycle_id, period_of(DAY), "t")
        needs, offers = service_cycle.read_pool(s, cycle_id), service_cycle.read_offers(s, cycle_id)
        plan = plan_cycle(needs, offers, service_cycle.read_declined(s), period_of(DAY))
        service_cycle.dispatch(s, cycle_id, plan.chosen, "t")
        service_cycle.unlock(s, cycle_id, "t", True, plan.solution.objective)


# personal data a text must not show outside the outboxes (phones, ID numbers, street addresses)
PHONE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}[01]\d[0-3]\d{4}[\dXx](?![0-9A-Za-z])")
ADDRESS = re.compile(r"\d+\s*栋\s*\d+\s*室|\d+\s*号楼\s*\d+|[路街巷道]\s*\d+\s*号")


def personal_data_in(text: str) -> list[str]:
    """The phones, ID numbers and street addresses a text shows."""
    text = unicodedata.normalize("NFKC", text)
    return [m.group(0) for rx in (PHONE, ID_NUMBER, ADDRESS) for m in rx.finditer(text)]


def assignment_set(sessions: sessionmaker[Session]) -> set[tuple[int, str, str]]:
    """(need, unit, status) of every assignment in the store."""
    from sqlalchemy import select

    from store.models import Assignment

    with sessions() as s:
        return {(r.need_id, r.unit_id, r.status) for r in s.scalars(select(Assignment)).all()}
