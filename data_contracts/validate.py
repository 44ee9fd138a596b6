"""Validate a table against its contract and split good rows from quarantined rows with reasons.

One call per batch (file): great-expectations evaluates the whole suite on the DataFrame and
reports, per expectation, the ``row_number`` of every failing row. Each bad row gets the list
of every rule it broke, in words an operator understands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.suites import SUITES, UNIQUE_IN_FILE, Reference, in_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validation:
    """The outcome for one batch: rows that may load, and rows to quarantine with their reasons."""

    good: pd.DataFrame
    bad: pd.DataFrame  # the input columns + ``reasons``: list of {rule, column, reason, value}
    result: Any  # the great-expectations ExpectationSuiteValidationResult (for Data Docs)

    @property
    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reasons in self.bad["reasons"]:
            for r in reasons:
                counts[r["reason"]] = counts.get(r["reason"], 0) + 1
        return counts


@cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # GX fingerprints every pandas batch under 1 GB (an MD5 of a hash of every row, computed
    # twice per validation: 1.4 s for a 97k-row service list) only to label the batch; nothing
    # here reads that label, and the result still names the batch by its asset.
    pandas_execution_engine.HASH_THRESHOLD = 0
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


_SUITES: dict[tuple[str, int], tuple[Reference, Any]] = {}


def _suite(dataset: str, reference: Reference) -> Any:
    """The dataset's suite for this reference, built once (the store caches reference objects)."""
    _context()  # suites need an active context
    key = (dataset, id(reference))
    hit = _SUITES.get(key)
    if hit is None or hit[0] is not reference:
        if len(_SUITES) > 32:
            _SUITES.clear()
        hit = (reference, SUITES[dataset](reference))
        _SUITES[key] = hit
    return hit[1]


def _batch(dataset: str, df: pd.DataFrame) -> Any:
    ctx = _context()
    name = f"threelists_{dataset}"
    try:
        source = ctx.data_sources.get(name)
    except (KeyError, ValueError):
        source = ctx.data_sources.add_pandas(name)
    try:
        asset = source.get_asset(dataset)
    except (LookupError, ValueError):
        asset = source.add_dataframe_asset(dataset)
    try:
        definition = asset.get_batch_definition("whole")
    except (KeyError, ValueError):
        definition = asset.add_batch_definition_whole_dataframe("whole")
    return definition.get_batch(batch_parameters={"dataframe": df})


def derive_columns(
    dataset: str, df: pd.DataFrame, reference: Reference, file_column: str | None = None
) -> pd.DataFrame:
    """Columns some rules need that are computed from others (typed values, cross-field keys,
    keys unique within one file when a batch holds several files)."""
    out = df.copy()
    for col in UNIQUE_IN_FILE.get(dataset, ()):
        if col in out:
            values = out[col]
            if file_column is not None:
                keyed = out[file_column].astype(str) + "\x1f" + values.astype(str)
                out[in_file(col)] = keyed.where(values.notna(), None)
            else:
                out[in_file(col)] = values
    if dataset == "needs":
        out["household_known"] = _known(out["household_id"], reference.households)
    if dataset in ("offers", "responses"):
        out["unit_known"] = _known(out["unit_id"], reference.units)
    if dataset == "offers":
        out["capacity_num"] = pd.to_numeric(out["capacity_per_cycle"], errors="coerce")
        out["area_ref"] = np.where(
            out["area_level"].notna() & out["area_id"].notna(),
            out["area_level"].astype(str) + ":" + out["area_id"].astype(str),
            None,
        )
    return out


def _known(values: pd.Series, registry: frozenset[str]) -> np.ndarray:
    """True/False per value, None where the value is missing (missing is the "required" rule's job)."""
    return np.where(values.isna(), None, values.isin(registry))


def validate_rows(
    dataset: str,
    rows: pd.DataFrame,
    reference: Reference,
    index_column: str = "row_number",
    file_column: str | None = None,
) -> Validation:
    """Check ``rows`` (normalised, with ``row_number``) against the ``dataset`` contract.

    A batch may hold the rows of several files: ``index_column`` then identifies a row in the
    batch and ``file_column`` the file, so "unique in the file" rules stay per file."""
    if dataset not in SUITES:
        raise ValueError(f"no contract for dataset {dataset!r}; known: {sorted(SUITES)}")
    if rows.empty:
        empty = rows.assign(reasons=pd.Series(dtype=object))
        return Validation(good=rows.copy(), bad=empty, result=None)
    suite = _suite(dataset, reference)
    checked = derive_columns(dataset, rows, reference, file_column)
    # GX compares values as given: keep strings, with None for missing
    checked = checked.astype(object).where(checked.notna(), None)
    result = _batch(dataset, checked).validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [index_column]}
    )
    reasons: dict[int, list[dict[str, Any]]] = {}
    by_number = rows.set_index(index_column)
    for r in result.results:
        cfg = r.expectation_config
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"contract {dataset}: {cfg.type} failed to run: {r.exception_info}")
        if r.success:
            continue
        column = cfg.meta.get("column") or cfg.kwargs.get("column") or cfg.kwargs.get("column_A")
        for hit in r.result.get("unexpected_index_list") or []:
            number = int(hit[index_column])
            value = by_number.at[number, column] if column in by_number.columns else hit.get(column)
            reasons.setdefault(number, []).append(
                {
                    "rule": cfg.meta["rule"],
                    "column": column,
                    "reason": cfg.meta["reason"],
                    "value": None
                    if value is None or (isinstance(value, float) and np.isnan(value))
                    else str(value),
                }
            )
    is_bad = rows[index_column].isin(list(reasons))
    bad = rows[is_bad].copy()
    bad["reasons"] = [reasons[int(n)] for n in bad[index_column]]
    return Validation(good=rows[~is_bad].copy(), bad=bad, result=result)


def scrub_personal_values(result: Any) -> Any:
    """Replace the failing values GX keeps for personal columns (a malformed phone is still a
    phone) with a redaction mark, so Data Docs never show a resident's contact. In place."""
    from service.masking import PERSONAL_FIELDS

    for r in getattr(result, "results", []):
        kwargs = r.expectation_config.kwargs
        columns = {kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")}
        personal = columns & set(PERSONAL_FIELDS)
        if not personal or not r.result:
            continue
        res = r.result
        for key in ("partial_unexpected_list", "unexpected_list"):
            if res.get(key):
                res[key] = ["已脱敏" for _ in res[key]]
        if res.get("partial_unexpected_counts"):
            res["partial_unexpected_counts"] = [
                {**c, "value": "已脱敏"} for c in res["partial_unexpected_counts"]
            ]
        for key in ("partial_unexpected_index_list", "unexpected_index_list"):
            if res.get(key):
                res[key] = [
                    {k: ("已脱敏" if k in personal else v) for k, v in hit.items()}
                    if isinstance(hit, dict)
                    else hit
                    for hit in res[key]
                ]
        if res.get("unexpected_index_query"):
            res["unexpected_index_query"] = "已脱敏"
    return result


def write_data_docs(results: list[tuple[str, Any]], out_dir: Path, title: str) -> Path:
    """Render validation results as great-expectations Data Docs HTML pages under ``out_dir``.

    Returns the index page. Uses GX's own renderer (the same pages a Data Docs site shows) for
    every batch where a rule failed; a batch that passed every rule is listed on the index only
    (rendering a page of green ticks costs ~0.1 s a file and shows nothing to act on).
    """
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    out_dir.mkdir(parents=True, exist_ok=True)
    links = []
    for name, result in results:
        if result is None:
            continue
        scrub_personal_values(result)
        stats = result.statistics
        passed = f"{stats['successful_expectations']}/{stats['evaluated_expectations']} 条规则通过"
        if result.success:
            links.append(f"<li>{name}: {passed}（全部通过）</li>")
            continue
        page = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))
        file = out_dir / f"{name}.html"
        file.write_text(page, encoding="utf-8")
        links.append(f'<li><a href="{file.name}">{name}</a>: {passed}</li>')
    index = out_dir / "index.html"
    index.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{title}</title><h1>{title}</h1><ul>{''.join(links)}</ul>",
        encoding="utf-8",
    )
    return index
