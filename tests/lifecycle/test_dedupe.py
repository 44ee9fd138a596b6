"""The de-duplication rule on its own: the same report again, the same need again, a new need."""

from __future__ import annotations

import pandas as pd

from lifecycle.dedupe import already_loaded, merge_duplicates


def _rows(*rows: tuple) -> pd.DataFrame:
    cols = ["source", "source_ref", "household_id", "contact_phone", "grid_id", "item_code", "reported_at"]
    df = pd.DataFrame(rows, columns=cols)
    df["reported_at"] = pd.to_datetime(df["reported_at"])
    return df


def test_the_same_reference_is_the_same_report():
    rows = _rows(
        ("sheet", "A1", "H1", None, "G1", "MEAL", "2026-11-02"),
        ("sheet", "A1", "H1", None, "G1", "MEAL", "2026-11-02"),
        ("sheet", "A2", "H2", None, "G1", "MEAL", "2026-11-02"),
    )
    assert already_loaded(rows, {("sheet", "A2")}).tolist() == [False, True, True]


def test_same_household_and_item_within_the_window_is_one_need():
    rows = _rows(
        ("sheet", "A1", "H1", None, "G1", "MEAL", "2026-11-02"),
        ("hotline", "B1", "H1", None, "G1", "MEAL", "2026-11-20"),  # same need, another channel
        ("sheet", "A2", "H1", None, "G1", "MEAL", "2027-02-01"),  # months later: a new need
        ("sheet", "A3", None, "13800001111", "G1", "REPAIR", "2026-11-05"),  # no household: phone+grid
        ("sheet", "A4", None, "13800001111", "G2", "REPAIR", "2026-11-05"),  # same phone, other grid
        ("sheet", "A5", "H9", None, "G1", "REPAIR", "2026-11-06"),  # joins a live need
    )
    live = pd.DataFrame(
        [(77, "H9", None, "G1", "REPAIR", pd.Timestamp("2026-10-20"))],
        columns=["need_id", "household_id", "contact_phone", "grid_id", "item_code", "submitted_at"],
    )
    m = merge_duplicates(rows, live, dedupe_days=30)
    assert m.first_row[1] == 0  # the hotline report joins the sheet's
    assert sorted(m.new) == [0, 2, 3, 4]
    assert m.existing.to_dict() == {5: 77}
    ids = m.need_of({0: 100, 2: 102, 3: 103, 4: 104})
    assert dict(zip(m.rows.index, ids, strict=True)) == {0: 100, 1: 100, 2: 102, 3: 103, 4: 104, 5: 77}
