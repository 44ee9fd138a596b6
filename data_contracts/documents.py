"""A JSON Schema check of a published document whose cost grows with distinct values, not rows.

A published list is an envelope (cycle, version, counts) around ``rows``: objects with one
scalar per field, no field outside the schema (``additionalProperties: false``) and no
constraint across fields. For such a row schema, every row is valid exactly when its keys are
allowed and required ones present, and every field's value is valid against that field's own
subschema. So each field's *distinct* values are checked once (a cycle has one ``cycle_id``
and a few hundred units for a hundred thousand rows) and the envelope once with no rows.

A schema of another shape is checked whole. Either way this only answers valid or not; a
breach is reported in full by the reference validator (``jsonschema``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastjsonschema

_ROW_KEYS = {"type", "additionalProperties", "required", "properties", "title", "description"}
_ROWS_KEYS = {"type", "items", "title", "description"}
_SCALAR_TYPES = {"string", "integer", "number", "boolean", "null"}


@dataclass(frozen=True)
class DocumentSchema:
    """A compiled schema: whole, and when its rows allow it, as envelope plus one check per field."""

    whole: Callable[[Any], Any]
    rows_key: str
    envelope: Callable[[Any], Any] | None = None
    fields: dict[str, Callable[[Any], Any]] | None = None
    required: frozenset[str] = frozenset()


def _ok(validate: Callable[[Any], Any], value: Any) -> bool:
    try:
        validate(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _scalar(sub: dict[str, Any]) -> bool:
    types = sub.get("type")
    types = [types] if isinstance(types, str) else types
    return bool(types) and set(types) <= _SCALAR_TYPES


def compile_document_schema(schema: dict[str, Any], rows_key: str = "rows") -> DocumentSchema:
    """Compile ``schema`` (formats not asserted, as with jsonschema's default)."""
    whole = fastjsonschema.compile(schema, use_formats=False)
    rows = schema.get("properties", {}).get(rows_key, {})
    row = rows.get("items", {}) if isinstance(rows, dict) else {}
    fields = row.get("properties", {}) if isinstance(row, dict) else {}
    if not (
        schema.get("type") == "object"
        and set(rows) <= _ROWS_KEYS
        and rows.get("type") == "array"
        and set(row) <= _ROW_KEYS
        and row.get("type") == "object"
        and row.get("additionalProperties") is False
        and fields
        and all(isinstance(sub, dict) and _scalar(sub) for sub in fields.values())
    ):
        return DocumentSchema(whole, rows_key)
    envelope = {**schema, "properties": {**schema["properties"], rows_key: {"type": "array"}}}
    return DocumentSchema(
        whole,
        rows_key,
        envelope=fastjsonschema.compile(envelope, use_formats=False),
        fields={name: fastjsonschema.compile(sub, use_formats=False) for name, sub in fields.items()},
        required=frozenset(row.get("required", [])),
    )


def is_valid(compiled: DocumentSchema, document: Any) -> bool:
    """Whether ``document`` satisfies the schema (the same answer as checking it whole)."""
    rows = document.get(compiled.rows_key) if isinstance(document, dict) else None
    if compiled.fields is None or compiled.envelope is None or not isinstance(rows, list):
        return _ok(compiled.whole, document)
    if not _ok(compiled.envelope, {**document, compiled.rows_key: []}):
        return False
    allowed = compiled.fields.keys()
    for r in rows:
        if not isinstance(r, dict) or not (compiled.required <= r.keys() <= allowed):
            return False
    for name, validate in compiled.fields.items():
        try:  # by type and value: True, 1 and 1.0 are equal in a set but not to a schema
            distinct = {(type(r[name]), r[name]) for r in rows if name in r}
        except TypeError:  # a list or an object where a scalar belongs: check it whole
            return _ok(compiled.whole, document)
        if not all(_ok(validate, v) for _, v in distinct):
            return False
    return True
