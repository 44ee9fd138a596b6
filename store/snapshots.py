"""Column snapshots of a large, rarely changed table, used only while the table is unchanged.

A cycle reads every active offer: a city's 442k rows cost about 2 s of a 3.5 s read on SQLite,
though offers change only when a unit's file is loaded. :func:`read_marked` keeps the rows of
such a select in an Arrow file under ``var/snapshots`` and reads them from there while the
table's change mark (``change_marks``, renewed by triggers in the same transaction as any insert,
update or delete of the table, whoever makes it) still holds the token the file was read under.
Anything else (no mark, another token, a file that cannot be read or does not match) reads the
table and writes the file afresh, unless the reading transaction wrote anything itself. The
files are a cache: deleting them costs one read each.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import ipc
from sqlalchemy import Select, Table, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import find_tables

from store.db import read_frame
from store.models import ChangeMark

TOKEN_KEY = b"threelists.change_token"
DTYPES_KEY = b"threelists.dtypes"


def change_token(session: Session, table: str) -> str | None:
    """The table's change mark as the session sees it (None: the table is not marked)."""
    return session.scalar(select(ChangeMark.token).where(ChangeMark.table_name == table))


def read_marked(session: Session, stmt: Select, folder: Path, text_as_object: bool = False) -> pd.DataFrame:
    """``read_frame(session, stmt, text_as_object)``, from the table's snapshot while its change mark stands.

    ``stmt`` must read one table alone, anywhere in it (its rows then change only when that table
    does): a statement that reads any other table raises ``ValueError``. The token is read first:
    a change committed between the two reads leaves a file stamped with a token that is already
    gone, never one that stands over rows it does not hold.
    """
    table = _table_of(stmt)
    token = change_token(session, table)
    if token is None:
        return read_frame(session, stmt, text_as_object)
    path = folder / f"{table}-{_key(session, stmt, text_as_object)}.arrow"
    frame = _load(path, token)
    if frame is None:
        frame = read_frame(session, stmt, text_as_object)
        if not _wrote(session):
            _save(path, token, frame)
    return frame


def _table_of(stmt: Select) -> str:
    """The one table ``stmt`` reads (its FROM, joins, subqueries and columns); ValueError otherwise."""
    tables = {
        t.name for t in find_tables(stmt, check_columns=True, include_aliases=True) if isinstance(t, Table)
    }
    if len(tables) != 1:
        raise ValueError(f"a snapshot reads one table alone; this statement reads {sorted(tables)}")
    return tables.pop()


def _wrote(session: Session) -> bool:
    """Whether the session's transaction wrote anything: then the token it sees may be its own,
    uncommitted, and stand for changes it has yet to make (PostgreSQL's trigger renews it once a
    transaction), so no snapshot is saved under it."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return bool(session.scalar(text("SELECT txid_current_if_assigned() IS NOT NULL")))
    if conn.dialect.name == "sqlite":  # the driver begins a transaction at the first write
        return bool(conn.connection.driver_connection.in_transaction)
    return True


def _key(session: Session, stmt: Select, text_as_object: bool) -> str:
    """One file per database, query and text form."""
    bind = session.get_bind()
    sql = str(stmt.compile(bind, compile_kwargs={"literal_binds": True}))
    named = f"{bind.url.render_as_string(hide_password=True)}\n{sql}\n{text_as_object}"
    return hashlib.sha256(named.encode("utf-8")).hexdigest()[:24]


def _save(path: Path, token: str, frame: pd.DataFrame) -> None:
    """Write the snapshot (under a temporary name, then renamed); a frame it cannot hold is not kept."""
    try:
        arrays = [_to_arrow(frame[c]) for c in frame.columns]
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return
    dtypes = "\n".join(str(frame[c].dtype) for c in frame.columns)
    table = pa.Table.from_arrays(
        arrays, names=[str(c) for c in frame.columns], metadata={TOKEN_KEY: token, DTYPES_KEY: dtypes}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except OSError:  # a full or read-only disk: the next read reads the table again
        tmp.unlink(missing_ok=True)


def _to_arrow(values: pd.Series) -> pa.Array:
    """A column as Arrow: text (None as null) dictionary-encoded where values repeat, anything
    else as its numpy array."""
    if values.dtype == object:
        strings = pa.array(values.to_numpy(), type=pa.string())  # raises on anything but text and None
        coded = strings.dictionary_encode()
        return strings if len(coded.dictionary) * 2 > len(strings) else coded  # ids: the strings themselves
    array = values.to_numpy()
    if not isinstance(array, np.ndarray) or array.dtype == object:
        raise TypeError(f"column {values.name} is {values.dtype}")
    return pa.array(array)


def _load(path: Path, token: str) -> pd.DataFrame | None:
    """The snapshot's frame if it was read under ``token``; None otherwise."""
    try:
        with pa.OSFile(str(path), "rb") as source:
            reader = ipc.open_file(source)
            meta = reader.schema.metadata or {}
            if meta.get(TOKEN_KEY) != token.encode("utf-8"):
                return None
            table = reader.read_all()
    except (OSError, pa.ArrowInvalid):
        return None
    dtypes = meta.get(DTYPES_KEY, b"").decode("utf-8").split("\n")
    if len(dtypes) != table.num_columns:
        return None
    columns = {}
    for name, column, dtype in zip(table.column_names, table.columns, dtypes, strict=True):
        if dtype == "object":
            columns[name] = pd.Series(_objects(column), dtype=object, copy=False)
        else:
            # a writable copy (Arrow's own buffers are read-only)
            columns[name] = pd.Series(np.array(column.to_numpy(), dtype=dtype), copy=False)
    return pd.DataFrame(columns, copy=False)


def _objects(column: pa.ChunkedArray) -> np.ndarray:
    """Text as Python strings (a repeated value one object), nulls as None."""
    out = np.empty(len(column), dtype=object)
    at = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            words = np.append(chunk.dictionary.to_numpy(zero_copy_only=False), None)
            codes = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            out[at : at + len(chunk)] = words[codes]  # -1: the None at the end
        else:
            out[at : at + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        at += len(chunk)
    return out
