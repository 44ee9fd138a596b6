"""Shared fixtures: a real database (SQLite by default, PostgreSQL when THREELISTS_DATABASE_URL
says so), a project folder per test, and a small generated district."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from reference import load_taxonomy_frame
from sample.district import generate_district
from settings import Settings, get_settings
from store.db import empty_tables, session_factory, upgrade_database
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
    """A real (temporary) Prefect API for flow tests, started once."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


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
