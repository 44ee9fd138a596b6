"""The de-duplication rule on its own: the same report again, the same need again, a new need."""

from __future__ import annotations

import pandas as pd

from lifecycle.dedupe import already_loaded, merge_duplicates, references_as_meant


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


def _reported(*rows: tuple) -> pd.DataFrame:
    cols = ["source", "source_ref", "household_id", "contact_phone", "contact_name", "item_code", "status"]
    df = pd.DataFrame(rows, columns=[*cols, "submitted_at"])
    df["submitted_at"] = pd.to_datetime(df["submitted_at"])
    return df


LIVE = ("open", "dispatched", "accepted")


def test_a_reference_that_names_another_report_gets_one_of_its_own():
    """Sheets numbered 1, 2, 3 every week: a known reference is the same report again only for the
    same person and item (and, once that need is done, no later report); the rest are new reports
    under the reference with a suffix of their own, the same on every re-send."""
    rows = _rows(
        ("sheet", "1", "H1", None, "G1", "MEAL", "2026-11-20"),  # the same report again
        ("sheet", "2", "H2", None, "G1", "MEAL", "2026-11-20"),  # "2" was another household's
        ("sheet", "3", "H3", None, "G1", "REPAIR", "2026-11-20"),  # the same household, other item
        ("sheet", "4", "H4", None, "G1", "MEAL", "2026-11-20"),  # done, asked again later
        ("sheet", "5", "H5", None, "G1", "MEAL", "2026-11-01"),  # done, the report it was
        ("sheet", "6", None, "13800001111", "G2", "REPAIR", "2026-11-20"),  # new: no pair known
        ("sheet", "6", None, "13900002222", "G2", "REPAIR", "2026-11-20"),  # "6" again, another phone
        ("sheet", "6", None, "13800001111", "G2", "REPAIR", "2026-11-20"),  # the first "6" repeated
    ).assign(contact_name=None)
    known = _reported(
        ("sheet", "1", "H1", None, "王", "MEAL", "open", "2026-11-02"),
        ("sheet", "2", "H9", None, "李", "MEAL", "open", "2026-11-02"),
        ("sheet", "3", "H3", None, "张", "MEAL", "dispatched", "2026-11-02"),
        ("sheet", "4", "H4", None, "赵", "MEAL", "closed", "2026-11-01"),
        ("sheet", "5", "H5", None, "钱", "MEAL", "completed", "2026-11-01"),
    )
    refs = references_as_meant(rows, known, LIVE)
    kept = [r == given for r, given in zip(refs, rows["source_ref"], strict=True)]
    assert kept == [True, False, False, False, True, True, False, True]
    assert all(r.startswith(f"{g}~") for r, g, k in zip(refs, rows["source_ref"], kept, strict=True) if not k)
    assert references_as_meant(rows, known, LIVE).tolist() == refs.tolist()  # stable
    # what is then the same report again: the pairs known, and the batch's repeats
    assert already_loaded(rows.assign(source_ref=refs), {("sheet", "1"), ("sheet", "5")}).tolist() == [
        True,
        False,
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    # a person known by name alone, and a reference too long for a suffix
    by_name = _rows(("sheet", "x" * 100, None, None, "G1", "MEAL", "2026-11-20")).assign(contact_name="王")
    other = _reported(("sheet", "x" * 100, None, None, "李", "MEAL", "open", "2026-11-02"))
    (made,) = references_as_meant(by_name, other, LIVE)
    assert len(made) <= 100 and made != "x" * 100
    assert references_as_meant(by_name, other.assign(contact_name="王"), LIVE).tolist() == ["x" * 100]


def test_a_known_report_without_a_first_day_is_the_same_report_for_the_same_person_and_item():
    rows = _rows(("sheet", "1", "H1", None, "G1", "MEAL", "2026-11-20")).assign(contact_name=None)
    known = _reported(("sheet", "1", "H1", None, None, "MEAL", "closed", None))
    assert references_as_meant(rows, known, LIVE).tolist() == ["1"]
