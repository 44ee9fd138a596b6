"""Helpers to show operators tables and links in the Prefect UI."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact


def _clean(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if hasattr(v, "item"):
        return v.item()
    return v if isinstance(v, int | float | str | bool) else str(v)


def table(key: str, rows: pd.DataFrame | list[dict[str, Any]], description: str) -> None:
    """A table artifact; keys are lowercase letters, digits and dashes."""
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else rows
    create_table_artifact(
        table=[{k: _clean(v) for k, v in r.items()} for r in records], key=key, description=description
    )


def markdown(key: str, text: str, description: str | None = None) -> None:
    create_markdown_artifact(markdown=text, key=key, description=description)


def link(key: str, url: str, text: str, description: str | None = None) -> None:
    create_link_artifact(link=url, link_text=text, key=key, description=description)
