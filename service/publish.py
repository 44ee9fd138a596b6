"""Publish a list for downstream systems: checked, versioned, idempotent and atomic.

Layout under ``published/<cycle>/``::

    v0001/ service_list.csv (UTF-8 with BOM)  service_list.json  service_list.parquet
           服务清单.csv (Chinese headers, for people)  diff.json
    v0002/ ...
    latest.json        -> {"version": 2, "path": "v0002", ...}; consumers start here

A version folder is written under a temporary name and renamed into place, and
``latest.json`` is replaced atomically after the database commit, so no consumer ever reads
a half-written version, and a crash anywhere before the commit leaves the previous one.
Re-publishing identical rows (same content hash) creates nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy.orm import Session

from data_contracts.suites import SERVICE_LIST_COLUMNS, Reference
from data_contracts.validate import validate_rows
from lifecycle.changes import collector_paused
from lifecycle.states import LISTED
from lifecycle.vocabulary import LIST_HEADERS_ZH
from service.masking import mask_name, mask_phone
from settings import pause_point
from store import publication as store_pub
from store.models import Publication

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data_contracts" / "service_list.schema.json"
HEADERS_ZH = LIST_HEADERS_ZH


class ContractViolation(ValueError):
    """The list broke its published contract; nothing was published."""


@dataclass
class PublishResult:
    cycle_id: str
    version: int
    created: bool  # False: identical to the latest version, nothing written
    path: Path
    row_count: int
    diff: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def json_records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON objects: what ``orjson.loads(rows.to_json(orient="records"))`` gives.

    Built column by column when every column holds whole numbers, booleans or text (a service
    list: a second faster at 97k rows than writing and re-reading JSON text); any other column
    (floats, which ``to_json`` rounds, dates, mixed objects) takes pandas' own path.
    """

    def column(s: pd.Series) -> list[Any] | None:
        if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iub":
            return s.tolist()
        if s.dtype.kind not in "OT" and not isinstance(s.dtype, pd.StringDtype):
            return None
        values = s.tolist()
        for i in np.flatnonzero(s.isna().to_numpy()):
            values[i] = None
        if set(map(type, values)) - {str, type(None)}:
            return None
        return values

    names = [str(c) for c in rows.columns]
    columns = [column(rows[c]) for c in rows.columns]
    if not names or len(set(names)) != len(names) or any(c is None for c in columns):
        return orjson.loads(rows.to_json(orient="records", force_ascii=False))
    return [dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True)]


def _key(x: Any) -> int | str:
    """A row key as JSON wants it: ids are integers, line ids strings."""
    try:
        return int(x)
    except (TypeError, ValueError):
        return str(x)


def content_hash(rows: pd.DataFrame, key: str = "need_id") -> str:
    """Hash of the rows' content (version column excluded), independent of row order.

    The column names and each column's values in ``key`` order, as JSON (orjson; a value JSON
    has no form for is taken as its text): a city's list of 97k rows in 0.36 s, as CSV text 0.9 s.
    """
    body = rows.drop(columns=["version"], errors="ignore").sort_values(key, kind="stable")
    document = [[str(c) for c in body.columns], *(body[c].tolist() for c in body.columns)]
    return hashlib.sha256(orjson.dumps(document, default=str)).hexdigest()


def _cell_texts(values: pd.Series) -> np.ndarray:
    """Each value as the text a diff shows: ``str`` of the value, None where it is missing."""
    texts = np.array([str(v) for v in values.to_numpy(dtype=object)], dtype=object)
    texts[values.isna().to_numpy()] = None
    return texts


def _texts_differ(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Per position: whether the two values' texts (:func:`_cell_texts`) differ.

    Two columns of one plain type are compared as values, which for them is comparing texts:
    whole numbers and booleans, text (missing equal to missing), floats (NaN equal to NaN, and
    0.0 unequal to -0.0, whose texts differ). Any other pair of columns is compared as text.
    """
    same = a.dtype == b.dtype
    if same and isinstance(a.dtype, np.dtype) and a.dtype.kind in "iub":
        return a.to_numpy() != b.to_numpy()
    if same and isinstance(a.dtype, np.dtype) and a.dtype.kind == "f":
        x, y = a.to_numpy(), b.to_numpy()
        with np.errstate(invalid="ignore"):
            return ((x != y) & ~(np.isnan(x) & np.isnan(y))) | (
                (x == 0) & (y == 0) & (np.signbit(x) != np.signbit(y))
            )
    if isinstance(a.dtype, pd.StringDtype) and isinstance(b.dtype, pd.StringDtype):
        missing_a, missing_b = a.isna().to_numpy(), b.isna().to_numpy()
        values_differ = (a.to_numpy(dtype=object) != b.to_numpy(dtype=object)) & ~missing_a & ~missing_b
        return values_differ | (missing_a != missing_b)
    return _cell_texts(a) != _cell_texts(b)  # elementwise on text (None equals None)


def diff_rows(prev: pd.DataFrame, cur: pd.DataFrame, key: str = "need_id") -> dict[str, Any]:
    """Rows added, removed and changed (by ``key``) between two versions, with what changed.

    A field changed when its text differs; a value missing in both versions has not changed (it
    shows as null). Compared column by column over the rows both versions have, as values where
    that is the same as text, and only the changed cells turned into text: a city's list of 97k
    rows with 34k changed rows in 0.6-0.7 s, with 2.9k in 0.4 s (row by row: 91 s for 170).
    """
    cols = [c for c in cur.columns if c not in ("version",)]
    p = prev[cols].set_index(key) if len(prev) else pd.DataFrame(columns=cols).set_index(key)
    c = cur[cols].set_index(key)
    added = sorted(set(c.index) - set(p.index))
    removed = sorted(set(p.index) - set(c.index))
    both = sorted(set(c.index) & set(p.index))
    at_p, at_c = p.index.get_indexer(both), c.index.get_indexer(both)
    fields = list(c.columns)
    before = [p[f].iloc[at_p].reset_index(drop=True) for f in fields]
    after = [c[f].iloc[at_c].reset_index(drop=True) for f in fields]
    differs = np.zeros((len(fields), len(both)), dtype=bool)
    for k, (a, b) in enumerate(zip(before, after, strict=True)):
        differs[k] = _texts_differ(a, b)
    rows = np.flatnonzero(differs.any(axis=0))
    with collector_paused():  # a container or two per changed cell, no cycles
        # the texts of the changed cells only
        texts = {}
        for k in range(len(fields)):
            hit = rows[differs[k, rows]]
            if len(hit):
                texts[k] = dict(
                    zip(
                        hit.tolist(),
                        zip(_cell_texts(before[k].iloc[hit]), _cell_texts(after[k].iloc[hit]), strict=True),
                        strict=True,
                    )
                )
        # which fields changed, per changed row, as Python booleans (not a numpy lookup per cell)
        flags = differs[:, rows].T.tolist()
        changed = [
            {key: _key(both[r]), "fields": {f: list(texts[k][r]) for k, f in enumerate(fields) if flag[k]}}
            for r, flag in zip(rows.tolist(), flags, strict=True)
        ]
    return {
        "added": [_key(x) for x in added],
        "removed": [_key(x) for x in removed],
        "changed": changed,
        "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
    }


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """The service list's JSON Schema (the file consumers get), read once."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _compiled_schema() -> Any:
    """The JSON Schema as a compiled (Rust) validator, built once; formats are not asserted, as
    with jsonschema."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(_schema(), validate_formats=False)


def check_contract(rows: pd.DataFrame, document: dict[str, Any]) -> None:
    """JSON Schema on the document and the great-expectations suite on the rows; raise on any breach.

    The compiled schema checks a valid document fast; a breach is then reported in full (how
    many places, the first path) by the reference validator.
    """
    import jsonschema

    errors = []
    if not _compiled_schema().is_valid(document):
        validator = jsonschema.Draft202012Validator(_schema())
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        raise ContractViolation(
            f"服务清单不符合 JSON Schema（{len(errors)} 处）：{'/'.join(map(str, first.path))}: "
            f"{first.message}"
        )
    checked = rows.assign(row_number=range(1, len(rows) + 1))
    v = validate_rows("service_list", checked, Reference())
    if len(v.bad):
        raise ContractViolation(f"服务清单不符合数据约定：{v.reason_counts}")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def csv_body(rows: pd.DataFrame) -> str:
    """The rows as CSV lines without a header, exactly as ``rows.to_csv(index=False, header=False)``.

    Written by Arrow when there are two columns or more, each of whole numbers or text, and no
    text needs quotes (a comma, quote or line break): a city's list of 97k rows in 0.04-0.25 s
    instead of pandas' 0.57-0.84 s. Anything else (floats, booleans, dates, a value to quote, one
    column, whose empty values pandas quotes) takes pandas' own path.
    """
    body = _arrow_csv_body(rows) if len(rows.columns) >= 2 else None
    return rows.to_csv(index=False, header=False) if body is None else body


def _arrow_csv_body(rows: pd.DataFrame) -> str | None:
    """The CSV body by Arrow, or None where Arrow's text would differ from pandas'."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pa_csv

    try:
        table = pa.Table.from_pandas(rows, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # an object column that is not all text
        return None
    for column in table.columns:
        if pa.types.is_integer(column.type):
            continue
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return None  # floats, booleans, dates, all-missing: pandas formats them its own way
        if pc.any(pc.match_substring_regex(column, '[,"\r\n]')).as_py():
            return None
    out = pa.BufferOutputStream()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    return out.getvalue().to_pybytes().decode("utf-8")


def write_version_files(
    folder: Path,
    rows: pd.DataFrame,
    document: dict[str, Any],
    diff: dict[str, Any],
    stem: str = "service_list",
    headers_zh: dict[str, str] | None = None,
    fill_in_zh: tuple[str, ...] = (),
) -> list[Path]:
    """Write every format of one version into ``folder`` (which nobody reads yet). ``fill_in_zh``:
    empty columns the file for people adds after the rows' own (what its reader writes in)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        folder / f"{stem}.csv",
        folder / f"{stem}.json",
        folder / f"{stem}.parquet",
        folder / "diff.json",
    ]
    # the CSV body is formatted once; the file for people differs only in its header line
    body = csv_body(rows)

    def write_csv(path: Path, header: pd.DataFrame) -> None:  # UTF-8 with BOM, for Excel
        path.write_bytes(("\ufeff" + header.to_csv(index=False) + body).encode("utf-8"))

    write_csv(files[0], rows.iloc[:0])
    files[1].write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    rows.to_parquet(files[2], index=False)
    # a first version's diff names every row (97k ids: 0.08 s with json's indent, 0.003 s with orjson)
    files[3].write_bytes(orjson.dumps(diff, option=orjson.OPT_INDENT_2))
    if headers_zh:
        zh = folder / f"{stem}_zh.csv"
        if fill_in_zh:
            people = rows.rename(columns=headers_zh).assign(**dict.fromkeys(fill_in_zh, ""))
            zh.write_bytes(("\ufeff" + people.to_csv(index=False)).encode("utf-8"))
        else:
            write_csv(zh, rows.iloc[:0].rename(columns=headers_zh))
        files.append(zh)
    for f in files:
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    return files


def point_latest(cycle_dir: Path, version: int, extra: dict[str, Any]) -> None:
    pointer = {"version": version, "path": f"v{version:04d}", **extra}
    _write_atomic(
        cycle_dir / "latest.json", json.dumps(pointer, ensure_ascii=False, indent=1).encode("utf-8")
    )


def publish_service_list(
    session: Session,
    cycle_id: str,
    published_dir: Path,
    before_commit: Callable[[], None] | None = None,
) -> PublishResult:
    """Publish the cycle's service list if it changed; the caller commits ``session`` afterwards
    and then calls :func:`finish_publication` to move ``latest.json``.

    ``before_commit`` runs after the files are in place and the rows are written but before
    the caller's commit (tests inject a crash there).
    """
    rows = store_pub.service_list_rows(session, cycle_id, tuple(LISTED))
    # publish the minimum: surname and a masked phone
    # (over plain lists: iterating Arrow-backed text value by value costs twice the masking)
    rows["resident_name_masked"] = [mask_name(n) for n in rows.pop("contact_name").tolist()]
    rows["resident_phone_masked"] = [mask_phone(p) for p in rows.pop("contact_phone").tolist()]
    return publish_rows(
        session,
        "service_list",
        cycle_id,
        rows,
        published_dir / cycle_id,
        key="need_id",
        stem="service_list",
        headers_zh=HEADERS_ZH,
        columns=SERVICE_LIST_COLUMNS,
        check=check_contract,
        before_commit=before_commit,
    )


def publish_rows(
    session: Session,
    kind: str,
    cycle_id: str,
    rows: pd.DataFrame,
    cycle_dir: Path,
    key: str,
    stem: str,
    headers_zh: dict[str, str],
    columns: list[str],
    check: Callable[[pd.DataFrame, dict[str, Any]], None] | None = None,
    before_commit: Callable[[], None] | None = None,
    fill_in_zh: tuple[str, ...] = (),
) -> PublishResult:
    """Publish ``rows`` as the next version of ``kind`` for ``cycle_id`` under ``cycle_dir`` —
    unless they equal the latest version's (then nothing is written). ``fill_in_zh``: see
    :func:`write_version_files`."""
    latest = store_pub.latest_publication(session, kind, cycle_id)
    digest = content_hash(rows, key)
    if latest is not None and latest.content_hash == digest:
        return _unchanged(cycle_id, cycle_dir, latest)
    version = (latest.version + 1) if latest else 1
    rows = rows.assign(version=version)[columns]
    if latest is None:
        diff = {
            "added": [_key(x) for x in rows[key]],
            "removed": [],
            "changed": [],
            "counts": {"added": len(rows), "removed": 0, "changed": 0},
        }
    else:
        prev = pd.read_parquet(cycle_dir / f"v{latest.version:04d}" / f"{stem}.parquet")
        diff = diff_rows(prev.reindex(columns=rows.columns), rows, key)
        if not any(diff["counts"].values()):
            # the same rows under another digest (the latest was hashed another way, by an
            # earlier threelists): no new version; the latest takes this digest
            store_pub.set_content_hash(session, latest, digest)
            return _unchanged(cycle_id, cycle_dir, latest)
    document = {
        "cycle_id": cycle_id,
        "version": version,
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "row_count": len(rows),
        "rows": json_records(rows),
    }
    diff["previous_version"] = latest.version if latest else None
    final = cycle_dir / f"v{version:04d}"
    tmp = cycle_dir / f".v{version:04d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # the contract is checked while the version is written where nobody reads it yet (the files
    # under a temporary name, the rows in the caller's open transaction): a breach removes the
    # files and raises, and the caller's rollback takes the rows. GX's pandas work and the
    # writers' (Arrow, the database driver) share the two cores: 0.2-0.5 s of a 97k-row list's
    # 3.7 s, measured alternating on the cycle benchmark's district
    with ThreadPoolExecutor(1, thread_name_prefix="contract") as checker:
        # (its own frame object: the writers only read theirs too)
        checked = checker.submit(check, rows.copy(deep=False), document) if check else None
        try:
            files = write_version_files(
                tmp, rows, document, diff, stem=stem, headers_zh=headers_zh, fill_in_zh=fill_in_zh
            )
            store_pub.record_publication(session, kind, cycle_id, version, digest, str(final), rows, diff)
            if checked is not None:
                checked.result()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if final.exists():  # left by a run that crashed before its commit: never visible, replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    pause_point(f"publish:{kind}")  # the version folder in place, its commit not yet made
    if before_commit:
        before_commit()
    return PublishResult(cycle_id, version, True, final, len(rows), diff, [final / f.name for f in files])


def _unchanged(cycle_id: str, cycle_dir: Path, latest: Publication) -> PublishResult:
    """The result of a publication that wrote nothing: the latest version stands."""
    path = cycle_dir / f"v{latest.version:04d}"
    return PublishResult(cycle_id, latest.version, False, path, latest.row_count, latest.diff)


def finish_publication(session: Session, kind: str, cycle_id: str, published_dir: Path) -> None:
    """After the commit: point ``latest.json`` at the newest committed version (repairs a lagging pointer)."""
    latest = store_pub.latest_publication(session, kind, cycle_id)
    if latest is None:
        return
    point_latest(
        published_dir / cycle_id,
        latest.version,
        {
            "kind": kind,
            "cycle_id": cycle_id,
            "row_count": latest.row_count,
            "content_hash": latest.content_hash,
            "published_at": latest.created_at.isoformat(timespec="seconds"),
        },
    )
    # versions whose commit never happened are invisible; remove them so the folder tells the truth
    for d in (published_dir / cycle_id).glob("v*"):
        if d.is_dir() and int(d.name[1:]) > latest.version:
            shutil.rmtree(d)
