"""Engine, sessions and schema upgrades. Callers own their transactions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Engine, Float, Integer, Select, create_engine, event, text
from sqlalchemy.orm import Session, close_all_sessions, sessionmaker

from settings import PROJECT_ROOT, get_settings

_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for the process; SQLite gets foreign keys and a busy timeout."""
    url = url or get_settings().database_url
    if url not in _ENGINES:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 60})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.close()
        else:
            engine = create_engine(url, pool_pre_ping=True)
        _ENGINES[url] = engine
    return _ENGINES[url]


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


def alembic_config(url: str | None = None):  # noqa: ANN201 - alembic type imported lazily
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "store" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return cfg


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (Alembic), idempotently."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def empty_tables(url: str | None = None) -> None:
    """Delete every row of the project's tables (tests and benchmarks start from an empty store)."""
    from store.models import Base

    close_all_sessions()  # a session left open must not block the truncate
    engine = get_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f"DELETE FROM {t}"))


def read_frame(session: Session, stmt: Select) -> pd.DataFrame:
    """A select's rows as a frame, built column by column from the driver's own tuples.

    For the large reads of a cycle (hundreds of thousands of offers): no Row object and no
    per-value type processing. Dates and timestamps are parsed once per column (``datetime64``,
    NULL is NaT), numbers come out as numbers (NULL is NaN), booleans as booleans.
    """
    result = session.connection().execute(stmt)
    try:
        rows = result.cursor.fetchall()  # the DBAPI cursor: plain tuples
    finally:
        result.close()
    columns = list(stmt.selected_columns)
    frame = pd.DataFrame.from_records(rows, columns=[c.key for c in columns], nrows=len(rows))
    for c in columns:
        values = frame[c.key]
        if isinstance(c.type, (Date, DateTime)):
            frame[c.key] = (
                pd.to_datetime(values, format="ISO8601") if values.dtype != "datetime64[ns]" else values
            )
        elif isinstance(c.type, Boolean):
            frame[c.key] = values.astype(bool)
        elif isinstance(c.type, (Float, Integer)) and values.dtype == object:
            frame[c.key] = pd.to_numeric(values)
    return frame
