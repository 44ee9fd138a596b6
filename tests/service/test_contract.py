"""The published list's contract: the JSON Schema on the document and the suite on the rows,
each breach refused with what broke, a list that keeps both published as it is."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from data_contracts.suites import SERVICE_LIST_COLUMNS
from service.publish import ContractViolation, check_contract, json_records


def _rows(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cycle_id": "2026-W48",
            "version": 1,
            "assignment_id": range(1, n + 1),
            "need_id": range(101, 101 + n),
            "unit_id": "U001",
            "unit_name": "阳光助餐点",
            "offer_id": [f"R{k:03d}" for k in range(n)],
            "item_code": "MEAL",
            "item_name": "助餐",
            "community_id": "C01",
            "grid_id": "G0101",
            "window_start": "2026-11-23",
            "window_end": "2026-11-29",
            "resident_name_masked": "王**",
            "resident_phone_masked": ["138****5678", "", "139****0001"][:n] + [""] * max(0, n - 3),
        }
    )[SERVICE_LIST_COLUMNS]


def _document(rows: pd.DataFrame) -> dict:
    return {
        "cycle_id": "2026-W48",
        "version": 1,
        "generated_at": "2026-11-23T09:00:00",
        "row_count": len(rows),
        "rows": orjson.loads(rows.to_json(orient="records", force_ascii=False)),
    }


def test_a_list_that_keeps_the_contract_passes() -> None:
    rows = _rows()
    check_contract(rows, _document(rows))


def test_a_phone_left_unmasked_breaks_the_schema_and_says_where() -> None:
    rows = _rows()
    rows.loc[1, "resident_phone_masked"] = "13812345678"
    with pytest.raises(ContractViolation, match=r"JSON Schema（1 处）：rows/1/resident_phone_masked"):
        check_contract(rows, _document(rows))


def test_a_field_of_the_wrong_type_breaks_the_schema() -> None:
    rows = _rows()
    document = _document(rows)
    document["rows"][2]["need_id"] = "103"
    with pytest.raises(ContractViolation, match="rows/2/need_id"):
        check_contract(rows, document)


def test_a_need_listed_twice_breaks_the_suite() -> None:
    rows = _rows()
    rows.loc[2, "need_id"] = rows.loc[0, "need_id"]  # the schema cannot see this: the suite does
    with pytest.raises(ContractViolation, match="数据约定"):
        check_contract(rows, _document(rows))


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": [True, False]}),
        pd.DataFrame({"s": pd.Series(["王**", None], dtype="string"), "n": [3, 4]}),
        pd.DataFrame({"f": [1.123456789012, float("nan")]}),  # to_json rounds floats: pandas' path
        pd.DataFrame({"o": [1, "x"]}),
        pd.DataFrame({"d": pd.to_datetime(["2026-01-01", None])}),
        pd.DataFrame({"i": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame(index=range(2)),
        pd.DataFrame(),
        _rows(50),  # a service list: the column path
    ],
)
def test_the_documents_rows_are_what_pandas_json_gives(frame: pd.DataFrame) -> None:
    expected = orjson.loads(frame.to_json(orient="records", force_ascii=False))
    assert json_records(frame) == expected


def test_intake_contracts_know_how_long_a_value_the_store_keeps():
    from data_contracts.suites import MAX_LENGTH
    from store.models import Need, Offer, SurveyAnswer, Unit, UnitResponse

    stored_as = {
        "needs": {c: Need.__table__.c[c] for c in ("source_ref", "source", "contact_name", "contact_phone")}
        | {"household_id": Need.__table__.c.household_id},
        "units": {"unit_id": Unit.__table__.c.id, "name": Unit.__table__.c.name}
        | {"contact_phone": Unit.__table__.c.contact_phone},
        "offers": {"offer_id": Offer.__table__.c.id, "unit_id": Offer.__table__.c.unit_id},
        "survey_answers": {"answer_id": SurveyAnswer.__table__.c.source_ref},
        "responses": {
            "response_id": UnitResponse.__table__.c.response_id,
            "unit_id": UnitResponse.__table__.c.unit_id,
        },
    }
    got = {ds: {f: col.type.length for f, col in cols.items()} for ds, cols in stored_as.items()}
    assert got == MAX_LENGTH
