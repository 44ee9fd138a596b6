"""Engine, sessions and schema upgrades. Callers own their transactions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    Integer,
    Select,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, close_all_sessions, sessionmaker

from settings import PROJECT_ROOT, get_settings

_ENGINES: dict[str, Engine] = {}
# SQLite's page cache per connection (its default is 2 MiB): a city's cycle writes 97k
# assignments, each checking four foreign keys and updating four indexes, into a 200 MB file.
# Taken only as pages are read. Measured on the cycle benchmark's district, read+write+publish
# in six alternating pairs: 19.4 s -> 17.4 s on average, the write lower in every pair.
SQLITE_CACHE_KIB = 64 * 1024


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
                cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
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
    from store.models import Base, ChangeMark
    from store.reference import forget_registries

    forget_registries()
    close_all_sessions()  # a session left open must not block the truncate
    engine = get_engine(url)
    # the change marks are bookkeeping (emptying a marked table renews its token through its triggers)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != ChangeMark.__tablename__]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f"DELETE FROM {t}"))


def in_chunks(ids: list[Any], size: int = 10_000) -> list[list[Any]]:
    """PostgreSQL allows 65,535 parameters per statement: IN lists go in chunks."""
    return [ids[k : k + size] for k in range(0, len(ids), size)]


def by_key(session: Session, key: Any, columns: list[Any], ids: list[Any]) -> dict[Any, tuple[Any, ...]]:
    """The rows whose ``key`` is one of ``ids``, as key -> the values of ``columns`` (ids not
    found are left out); asked in chunks (PostgreSQL allows 65,535 parameters)."""
    found: dict[Any, tuple[Any, ...]] = {}
    for part in in_chunks(list(ids)):
        found |= {k: tuple(v) for k, *v in session.execute(select(key, *columns).where(key.in_(part)))}
    return found


def read_frame(session: Session, stmt: Select, text_as_object: bool = False) -> pd.DataFrame:
    """A select's rows as a frame, built column by column from the driver's own tuples.

    For the large reads of a cycle (hundreds of thousands of offers): no Row object and no
    per-value type processing. Dates and timestamps are parsed once per column (``datetime64``,
    NULL is NaT), numbers come out as numbers (NULL is NaN), booleans as booleans.

    ``text_as_object``: text columns keep the driver's Python strings (``object``, NULL is None)
    instead of pandas' Arrow-backed ``str``, for the cycle's pool and offers, whose ids are only
    coded, compared and written back: 442k offers' ids converted to Arrow (and back to objects
    for coding) cost 0.3 s of a 3.4 s read.
    """
    rows, _ = _driver_rows(session, stmt)
    columns = list(stmt.selected_columns)
    if text_as_object:
        block = np.array(rows, dtype=object).reshape(len(rows), len(columns))
        frame = pd.DataFrame(
            {c.key: pd.Series(block[:, k], dtype=object) for k, c in enumerate(columns)}, copy=False
        )
    else:
        frame = pd.DataFrame.from_records(rows, columns=[c.key for c in columns], nrows=len(rows))
    for c in columns:
        values = frame[c.key]
        if isinstance(c.type, (Date, DateTime)):
            if values.dtype.kind != "M":  # SQLite gives text, PostgreSQL date/datetime objects
                frame[c.key] = _parse_dates(values)
        elif isinstance(c.type, Boolean):
            frame[c.key] = values.astype(bool)
        elif isinstance(c.type, (Float, Integer)) and values.dtype == object:
            frame[c.key] = pd.to_numeric(values)
    return frame


def _driver_rows(session: Session, stmt: Select) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The select's rows as the DBAPI cursor gives them (plain tuples), and its description."""
    result = session.connection().execute(stmt)
    try:
        return result.cursor.fetchall(), list(result.cursor.description or [])
    finally:
        result.close()


def rows_frame(session: Session, stmt: Select) -> pd.DataFrame:
    """``pd.DataFrame(session.execute(stmt).all(), columns=<its column keys>)``, the same frame,
    built from the driver's tuples: every value as the ORM gives it (each column type's own
    result conversion, once per distinct value: dates from SQLite's text, booleans from its
    integers), but no Row per row and no pandas reading each Row as a sequence (97k declined
    pairs: 0.73-0.78 s -> 0.09-0.12 s; a quarter's rates read every need of the city).
    """
    if session.autoflush:  # as session.execute would, before the connection's own execute
        session.flush()
    rows, description = _driver_rows(session, stmt)
    dialect = session.get_bind().dialect
    keys = list(stmt.selected_columns.keys())
    processors = [
        (c.type.dialect_impl(dialect).result_processor(dialect, d[1]), isinstance(c.type, JSON))
        for c, d in zip(stmt.selected_columns, description, strict=True)
    ]
    if any(process for process, _ in processors) and rows:
        columns = [list(v) for v in zip(*rows, strict=True)]
        for k, (process, mutable) in enumerate(processors):
            if process is not None and mutable:  # a document each, never one shared by equal rows
                columns[k] = [None if v is None else process(v) for v in columns[k]]
            elif process is not None:
                columns[k] = _each_once(process, columns[k])
        rows = list(zip(*columns, strict=True))
    return pd.DataFrame(rows, columns=keys)


def stacked(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The frames' rows one after another (each frame with ``columns``; none at all: an empty
    frame of them). Empty frames are left out: their columns have no type, and concatenated
    they would turn the others' whole numbers into objects."""
    rows = [f for f in frames if len(f)]
    if not rows:
        return frames[0] if frames else pd.DataFrame(columns=columns)
    return rows[0] if len(rows) == 1 else pd.concat(rows, ignore_index=True)


def look_up(frame: pd.DataFrame, key: str, table: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``table``'s other columns, each row's found by ``key`` (unique in ``table``):
    an inner join that keeps ``frame``'s row order and each column's dtype.

    For a large frame and a small table of text keys (97k needs and 2,690 grids; 442k offers and
    their units): SQLite joins by a B-tree search per row and table, 0.25 s of a 0.4 s pool read.
    """
    at = pd.Index(table[key]).get_indexer(frame[key])
    if (at < 0).any():
        frame = frame.loc[at >= 0].reset_index(drop=True)
        at = at[at >= 0]
    else:
        frame = frame.copy(deep=False)
    for c in table.columns.drop(key):
        frame[c] = pd.Series(table[c].array.take(at), index=frame.index, dtype=table[c].dtype, copy=False)
    return frame


def _parse_dates(values: pd.Series) -> pd.Series:
    """Dates or timestamps as ``datetime64`` (NULL is NaT), each distinct value parsed once: a
    cycle's 442k offers hold a few dozen window dates (parsing them per row: 0.35 s a column)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) * 2 > len(values):  # mostly distinct (timestamps): parse them all directly
        return pd.to_datetime(values, format="ISO8601")
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object), format="ISO8601").to_numpy()
    out = np.empty(len(values), dtype=parsed.dtype)
    out[:] = np.datetime64("NaT")
    known = codes >= 0
    out[known] = parsed[codes[known]]
    return pd.Series(out, index=values.index, name=values.name)


def _bindable(column: Column, values: list[Any], dialect: Dialect) -> list[Any]:
    """One column's values as the driver binds them: numpy scalars made plain, NaN/NaT made NULL,
    then the column type's own conversion (e.g. dates as text on SQLite)."""
    kinds = set(map(type, values))
    if any(issubclass(k, np.generic) for k in kinds):
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        kinds = set(map(type, values))
    if float in kinds or type(pd.NaT) in kinds:
        values = [None if v is pd.NaT or (isinstance(v, float) and v != v) else v for v in values]
        if isinstance(column.type, Integer):  # whole numbers of a column pandas made float by a gap
            values = [int(v) if isinstance(v, float) and v.is_integer() else v for v in values]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if not process:
        return values
    return _each_once(process, values)


def _each_once(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``process`` of each value, None kept: a cycle's rows share a few values per column (its
    timestamp, a status, a week's dates), so each distinct value is converted once."""
    done: dict[Any, Any] = {None: None}
    try:
        return [done[v] if v in done else done.setdefault(v, process(v)) for v in values]
    except TypeError:  # unhashable values: one by one
        return [None if v is None else process(v) for v in values]


def _copies(dialect: Dialect) -> bool:
    """PostgreSQL through psycopg 3, whose cursors stream COPY and bind lists as arrays."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _placeholder(dialect: Dialect) -> str | None:
    return {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)


Rows = pd.DataFrame | list[dict[str, Any]] | dict[str, list[Any]]


def _columns_of(rows: Rows) -> dict[str, list[Any]]:
    """The rows as a list per column: a frame's columns, dicts' keys, or columns as given."""
    if isinstance(rows, pd.DataFrame):
        return {
            c: (rows[c].dt.to_pydatetime().tolist() if rows[c].dtype.kind == "M" else rows[c].tolist())
            for c in rows.columns
        }
    if isinstance(rows, dict):
        if len({len(v) for v in rows.values()}) > 1:
            raise ValueError("columns must all have the same length")
        return {k: list(v) for k, v in rows.items()}
    keys = list(rows[0]) if rows else []
    if any(r.keys() != rows[0].keys() for r in rows):
        raise ValueError("rows must all have the same keys")
    return {k: [r[k] for r in rows] for k in keys}


def _row_count(rows: Rows) -> int:
    return len(next(iter(rows.values()), [])) if isinstance(rows, dict) else len(rows)


def insert_rows(session: Session, table: Table, rows: Rows) -> None:
    """INSERT many rows as one driver ``executemany`` in the session's transaction.

    ``rows``: a frame, dicts with the same keys, or a list per column. Values are converted
    column by column with each column type's own bind conversion, so hundreds of thousands of
    rows cost no per-row statement processing (no ORM, no Row).
    """
    if not _row_count(rows):
        return
    conn = session.connection()
    mark = _placeholder(conn.dialect)
    columns = _columns_of(rows)
    defaulted = [c for c in table.columns if c.name not in columns and c.default is not None]
    if mark is None or defaulted:  # a driver we do not know, or defaults to fill: SQLAlchemy's way
        records = [dict(zip(columns, r, strict=True)) for r in zip(*columns.values(), strict=True)]
        session.execute(insert(table), records)
        return
    q = conn.dialect.identifier_preparer
    names = ", ".join(q.quote(c) for c in columns)
    values = [_bindable(table.c[c], v, conn.dialect) for c, v in columns.items()]
    if _copies(conn.dialect):  # PostgreSQL through psycopg 3: COPY, one stream for all rows
        with (
            conn.connection.cursor() as cur,
            cur.copy(f"COPY {q.format_table(table)} ({names}) FROM STDIN") as cp,
        ):
            for row in zip(*values, strict=True):
                cp.write_row(row)
        return
    sql = f"INSERT INTO {q.format_table(table)} ({names}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, list(zip(*values, strict=True)))


def update_rows(session: Session, table: Table, rows: list[dict[str, Any]], key: str = "id") -> None:
    """UPDATE rows by ``key``, one statement per set of columns changed: a driver ``executemany``
    on SQLite, one ``UPDATE … FROM unnest(arrays)`` on PostgreSQL."""
    conn = session.connection()
    mark = _placeholder(conn.dialect)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r), []).append(r)
    q = conn.dialect.identifier_preparer
    for keys, part in groups.items():
        if mark is None:
            session.execute(
                update(table).where(table.c[key] == bindparam("_key")),
                [{**{k: v for k, v in r.items() if k != key}, "_key": r[key]} for r in part],
            )
            continue
        columns = [k for k in keys if k != key]
        values = [_bindable(table.c[c], [r[c] for r in part], conn.dialect) for c in [*columns, key]]
        name = q.format_table(table)
        if _copies(conn.dialect):  # PostgreSQL: one statement joining the new values as arrays
            arrays = ", ".join(
                f"%s::{table.c[c].type.compile(dialect=conn.dialect)}[]" for c in [*columns, key]
            )
            alias = ", ".join(f"v{i}" for i in range(len(columns) + 1))
            sets = ", ".join(f"{q.quote(c)} = u.v{i}" for i, c in enumerate(columns))
            sql = (
                f"UPDATE {name} SET {sets} FROM unnest({arrays}) AS u({alias}) "
                f"WHERE {name}.{q.quote(key)} = u.v{len(columns)}"
            )
            conn.exec_driver_sql(sql, tuple(values))
            continue
        sets = ", ".join(f"{q.quote(c)} = {mark}" for c in columns)
        shared = _keys_by_values(values) if conn.dialect.name == "sqlite" else None
        if shared is not None:  # a few sets of values: one statement each, its keys as a JSON array
            sql = f"UPDATE {name} SET {sets} WHERE {q.quote(key)} IN (SELECT value FROM json_each({mark}))"
            for new_values, keys in shared.items():
                conn.exec_driver_sql(sql, (*new_values, orjson.dumps(keys).decode()))
            continue
        sql = f"UPDATE {name} SET {sets} WHERE {q.quote(key)} = {mark}"
        conn.exec_driver_sql(sql, list(zip(*values, strict=True)))


# from this many rows an update whose rows share a few sets of values (a cycle's 97k needs made
# "dispatched") is one statement per set on SQLite, if each set has this many rows on average:
# 97k rows 0.73-0.82 s -> 0.38 s
SHARED_UPDATE_ROWS = 1000
ROWS_PER_SHARED_SET = 10


def _keys_by_values(values: list[list[Any]]) -> dict[tuple[Any, ...], list[Any]] | None:
    """The keys (last column) by the values they are set to, when the rows are many and share a
    few sets of values, and every key is a whole number or text (JSON's) named once; else None."""
    *columns, keys = values
    if len(keys) < SHARED_UPDATE_ROWS or not {type(k) for k in keys} <= {int, str}:
        return None
    if len(set(keys)) != len(keys):  # a key set twice: row by row, the last row wins
        return None
    most = max(1, len(keys) // ROWS_PER_SHARED_SET)
    out: dict[tuple[Any, ...], list[Any]] = {}
    try:
        for new_values, k in zip(zip(*columns, strict=True), keys, strict=True):
            out.setdefault(new_values, []).append(k)
            if len(out) > most:
                return None
    except TypeError:  # a value that cannot be a dictionary key
        return None
    return out
