"""The published CSV body: Arrow writes it when nothing needs quotes, byte for byte what pandas writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.publish import csv_body

TEXTS = [
    "社区食堂",
    "U00012",
    "",
    None,
    "2026-11-23",
    "蒋*",
    "150****4948",
    "a b",
    "x,y",
    'say "hi"',
    "two\nlines",
    "\r",
]


@pytest.mark.parametrize("seed", range(12))
def test_the_csv_body_is_what_pandas_writes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    columns: dict[str, object] = {}
    for k in range(int(rng.integers(1, 6))):
        kind = rng.choice(["int", "plain", "any", "arrow", "float", "bool"])
        if kind == "int":
            columns[f"c{k}"] = rng.integers(-5, 10**9, n)
        elif kind == "float":
            columns[f"c{k}"] = np.where(rng.random(n) < 0.2, np.nan, rng.random(n) * 10)
        elif kind == "bool":
            columns[f"c{k}"] = rng.random(n) < 0.5
        else:  # text: only plain values, any value (some need quotes), or Arrow-backed plain text
            pool = TEXTS[:8] if kind != "any" else TEXTS
            values = [pool[i] for i in rng.integers(0, len(pool), n)]
            columns[f"c{k}"] = pd.Series(values, dtype="str" if kind == "arrow" else object)
    rows = pd.DataFrame(columns)
    assert csv_body(rows) == rows.to_csv(index=False, header=False)


def test_a_city_list_is_written_by_arrow_and_still_equals_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 5_000
    rows = pd.DataFrame(
        {
            "cycle_id": "2026-W48",
            "need_id": np.arange(n),
            "unit_name": pd.Series([f"C{k % 97:03d}老年协会" for k in range(n)], dtype="str"),
            "resident_phone_masked": [None if k % 11 == 0 else f"150****{k % 10_000:04d}" for k in range(n)],
        }
    )
    expected = rows.to_csv(index=False, header=False)

    def no_pandas(*args: object, **kwargs: object) -> str:
        raise AssertionError("pandas wrote a body Arrow can write")

    monkeypatch.setattr(pd.DataFrame, "to_csv", no_pandas)
    assert csv_body(rows) == expected
