"""Reference data a district keeps: the service catalogue (taxonomy). Data, not code."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TAXONOMY_CSV = Path(__file__).resolve().parent / "taxonomy.csv"


def load_taxonomy_frame(path: Path | None = None) -> pd.DataFrame:
    """The catalogue as one row per item with its subcategory and category codes and names."""
    return pd.read_csv(path or TAXONOMY_CSV, dtype=str, encoding="utf-8")
