"""The per-field JSON Schema check answers exactly as the whole-document validator does."""

from __future__ import annotations

import copy
import json

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.documents import compile_document_schema, is_valid
from service.publish import SCHEMA_PATH

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
COMPILED = compile_document_schema(SCHEMA)
REFERENCE = jsonschema.Draft202012Validator(SCHEMA)


def _row(k: int) -> dict:
    return {
        "cycle_id": "2026-W48",
        "version": 1,
        "assignment_id": k + 1,
        "need_id": 100 + k,
        "unit_id": f"U{k % 3}",
        "unit_name": "社区卫生服务中心",
        "offer_id": f"R{k % 5}",
        "item_code": "HEALTH.VISIT",
        "item_name": "上门巡诊",
        "community_id": "C01",
        "grid_id": "G01",
        "window_start": "2026-11-16",
        "window_end": "2027-03-31",
        "resident_name_masked": "王**",
        "resident_phone_masked": "" if k % 4 == 0 else "138****5678",
    }


def _document(n: int) -> dict:
    return {
        "cycle_id": "2026-W48",
        "version": 1,
        "generated_at": "2026-11-23T08:00:00",
        "row_count": n,
        "rows": [_row(k) for k in range(n)],
    }


BAD_VALUES = [None, True, 1.0, 1.5, 0, -3, "", "x", "2026-11-16", "王五", "138****56", [], {}, [1], 7]


def test_the_service_list_schema_is_checked_field_by_field():
    assert COMPILED.fields is not None and COMPILED.envelope is not None
    assert is_valid(COMPILED, _document(50))


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 6),
    where=st.integers(0, 5),
    field=st.sampled_from([*_row(0).keys(), "extra", "cycle_id!"]),
    value=st.sampled_from(BAD_VALUES),
    how=st.sampled_from(["set", "drop", "envelope", "row_type"]),
)
def test_agrees_with_the_reference_validator(n, where, field, value, how):
    doc = _document(n)
    target = doc["rows"][where % n]
    if how == "set":
        target[field] = copy.deepcopy(value)
    elif how == "drop":
        target.pop(field, None)
    elif how == "envelope":
        doc[field if field in doc else "version"] = copy.deepcopy(value)
    else:
        doc["rows"][where % n] = copy.deepcopy(value)
    assert is_valid(COMPILED, doc) == REFERENCE.is_valid(doc)


def test_true_and_one_are_told_apart():
    """In a set True == 1 == 1.0: the check keeps each value's type."""
    doc = _document(3)
    doc["rows"][2]["need_id"] = True
    assert not REFERENCE.is_valid(doc)
    assert not is_valid(COMPILED, doc)
    doc["rows"][2]["need_id"] = 101.0  # JSON Schema: 101.0 is an integer
    assert REFERENCE.is_valid(doc) == is_valid(COMPILED, doc)


def test_a_schema_of_another_shape_is_checked_whole():
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["rows"]["minItems"] = 1
    compiled = compile_document_schema(schema)
    assert compiled.fields is None
    assert not is_valid(compiled, {**_document(1), "rows": [], "row_count": 0})
    assert is_valid(compiled, _document(2))
