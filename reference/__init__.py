"""Reference data a district keeps: the service catalogue (taxonomy). Data, not code."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

TAXONOMY_CSV = Path(__file__).resolve().parent / "taxonomy.csv"


def load_taxonomy_frame(path: Path | None = None) -> pd.DataFrame:
    """The catalogue as one row per item with its subcategory and category codes and names."""
    return pd.read_csv(path or TAXONOMY_CSV, dtype=str, encoding="utf-8")


UNIT_KINDS_CSV = Path(__file__).resolve().parent / "unit_kinds.csv"


def load_unit_kinds_frame(path: Path | None = None) -> pd.DataFrame:
    """Which service categories each kind of unit can offer (a gas company does not tutor homework):
    kind, kind_zh, category_code. The joint meeting asks units of a fitting kind to claim gaps."""
    return pd.read_csv(path or UNIT_KINDS_CSV, dtype=str, encoding="utf-8")


def kind_categories(path: Path | None = None) -> dict[str, list[str]]:
    """kind -> the category codes its trade can offer."""
    df = load_unit_kinds_frame(path)
    return {k: list(g["category_code"]) for k, g in df.groupby("kind", sort=False)}


ITEM_WORDS_CSV = Path(__file__).resolve().parent / "item_words.csv"


def item_words_path() -> Path:
    return Path(os.environ.get("THREELISTS_ITEM_WORDS_CSV") or ITEM_WORDS_CSV)


def load_item_words(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """The everyday words people write for each catalogue item (修水管, 陪诊 for 水管维修,
    陪同就医): item_code -> words. A district adds its own; codes not in its catalogue are unused."""
    path = path or item_words_path()
    if not path.exists():
        return {}
    df = pd.read_csv(path, dtype=str, encoding="utf-8-sig").fillna("")
    return {
        str(code).strip(): tuple(w.strip() for w in str(words).split("|") if w.strip())
        for code, words in zip(df["item_code"], df["words"], strict=True)
        if str(code).strip()
    }
