"""What a new version's diff.json says changed: by text, missing equal to missing, at city size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from service.publish import content_hash, diff_rows


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)


def _row_by_row(prev: pd.DataFrame, cur: pd.DataFrame, key: str) -> dict:
    """The diff as a person would work it out: row by row, field by field."""
    p = {r[key]: r for r in prev.drop(columns="version").to_dict("records")}
    c = {r[key]: r for r in cur.drop(columns="version").to_dict("records")}
    changed = []
    for k in sorted(set(p) & set(c)):
        fields = {
            f: [_text(p[k][f]), _text(c[k][f])]
            for f in cur.columns
            if f not in (key, "version") and _text(p[k][f]) != _text(c[k][f])
        }
        if fields:
            changed.append({key: int(k), "fields": fields})
    added, removed = sorted(set(c) - set(p)), sorted(set(p) - set(c))
    return {
        "added": [int(k) for k in added],
        "removed": [int(k) for k in removed],
        "changed": changed,
        "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
    }


def test_a_value_missing_in_both_versions_has_not_changed_and_a_vanished_one_shows_as_null() -> None:
    prev = pd.DataFrame(
        {
            "need_id": [1, 2, 3],
            "unit_name": pd.Series(["甲", None, "丙"], dtype="str"),
            "capacity": [1, 2, 3],
            "km": [1.5, np.nan, 2.0],
            "version": 1,
        }
    )
    assert diff_rows(prev, prev.assign(version=2))["counts"] == {"added": 0, "removed": 0, "changed": 0}
    cur = prev.assign(version=2)
    cur.loc[0, "unit_name"] = "乙"
    cur.loc[2, "km"] = np.nan
    diff = diff_rows(prev, cur)
    assert diff["changed"] == [
        {"need_id": 1, "fields": {"unit_name": ["甲", "乙"]}},
        {"need_id": 3, "fields": {"km": ["2.0", None]}},
    ]


def test_the_diff_of_a_city_sized_list_is_the_row_by_row_diff() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    prev = pd.DataFrame(
        {
            "need_id": rng.permutation(n) + 1,
            "unit_id": pd.Series([f"U{i:05d}" for i in rng.integers(0, 500, n)], dtype="str"),
            "assignment_id": np.arange(n),
            "distance_km": np.round(rng.random(n) * 5, 3),
            "version": 1,
        }
    )
    prev.loc[rng.random(n) < 0.05, "unit_id"] = None
    prev.loc[rng.random(n) < 0.05, "distance_km"] = np.nan
    cur = prev.sample(frac=1.0, random_state=3).iloc[300:].copy()  # 300 removed, order shuffled
    extra = prev.iloc[:40].assign(need_id=np.arange(n + 1, n + 41))  # 40 added
    cur = pd.concat([cur, extra], ignore_index=True).assign(version=2)
    edit = rng.choice(len(cur), 200, replace=False)
    cur.loc[edit[:100], "unit_id"] = "U99999"
    cur.loc[edit[100:150], "distance_km"] = np.nan
    cur.loc[edit[150:], "assignment_id"] += 1
    diff = diff_rows(prev, cur)
    assert diff == _row_by_row(prev, cur, "need_id")
    assert diff["counts"]["added"] == 40 and diff["counts"]["removed"] == 300
    assert 150 < diff["counts"]["changed"] <= 200  # an edit may set what was already missing


def test_the_content_hash_ignores_order_and_version_and_sees_every_value() -> None:
    rows = pd.DataFrame(
        {
            "cycle_id": ["2026-W48"] * 3,
            "version": [1, 1, 1],
            "need_id": [3, 1, 2],
            "unit_name": ["社区食堂", "卫生服务站", None],
            "window_start": pd.to_datetime(["2026-11-23", None, "2026-11-24"]),
            "distance_km": [1.25, np.nan, 0.5],
        }
    )
    digest = content_hash(rows)
    # the same content in another order, or as another version: the same hash
    assert content_hash(rows.iloc[[2, 0, 1]]) == digest
    assert content_hash(rows.assign(version=2)) == digest
    # any one value changed, a column renamed or a row gone: another hash
    for k, column in enumerate(["need_id", "unit_name", "window_start", "distance_km"]):
        changed = rows.copy()
        changed.loc[k % 3, column] = rows.loc[(k + 1) % 3, column]
        assert content_hash(changed) != digest, column
    assert content_hash(rows.rename(columns={"unit_name": "unit"})) != digest
    assert content_hash(rows.iloc[:2]) != digest


def test_columns_compared_as_values_give_the_texts_answer_for_every_kind_of_column() -> None:
    # the same columns in both versions (compared as values) and columns whose type changed
    # between versions (compared as text): each cell's verdict is the row-by-row text diff's
    prev = pd.DataFrame(
        {
            "need_id": [1, 2, 3, 4, 5],
            "km": [0.0, np.nan, 1.5, np.nan, 2.0],
            "slots": [1, 2, 3, 4, 5],
            "ok": [True, False, True, False, True],
            "name": pd.Series(["甲", None, "丙", None, "戊"], dtype="str"),
            "count": [1, 2, 3, 4, 5],  # whole numbers now, floats next version: "1" vs "1.0"
            "mixed": pd.Series([1, "2", None, 4.0, "五"], dtype=object),
            "version": 1,
        }
    )
    cur = prev.assign(
        km=[-0.0, np.nan, 1.5, 3.0, np.nan],  # 0.0 -> -0.0 is a new text; NaN -> NaN is not
        slots=[1, 2, 30, 4, 5],
        ok=[True, True, True, False, True],
        name=pd.Series(["甲", None, "乙", "丁", None], dtype="str"),
        count=[1.0, 2.0, 3.0, 4.0, 5.5],
        mixed=pd.Series([1.0, "2", None, 4.0, "五"], dtype=object),
        version=2,
    )
    diff = diff_rows(prev, cur)
    assert diff == _row_by_row(prev, cur, "need_id")
    assert diff["changed"][0] == {
        "need_id": 1,
        "fields": {"km": ["0.0", "-0.0"], "count": ["1", "1.0"], "mixed": ["1", "1.0"]},
    }
    assert diff["counts"]["changed"] == 5
