"""Personal data in published lists: publish the minimum, mask the rest."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """``13812345678`` -> ``138****5678``; landlines keep area code and last four; empty stays empty."""
    if not phone:
        return ""
    digits = "".join(filter(str.isdigit, phone))
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str | None) -> str:
    """Surname only: ``王秀英`` -> ``王**``; a missing name becomes ``*`` after an unknown mark."""
    if not name:
        return "某*"
    return name[0] + "*" * max(1, len(name) - 1)


def building_only(address: str | None) -> str:
    """``3栋201室`` -> ``3栋``: enough for a grid worker who knows the grid, not a street address."""
    if not address:
        return ""
    head, sep, _ = address.partition("栋")
    return head + sep if sep else "（见网格台账）"


# the canonical fields that hold a resident's personal data, wherever a row carries them
PERSONAL_FIELDS = ("contact_name", "contact_phone", "phone", "head_name", "address", "id_number", "resident")


def redact_record(record: dict) -> dict:
    """A row with its personal fields replaced by a redaction mark (other fields kept)."""
    return {k: ("已脱敏" if k in PERSONAL_FIELDS and v not in (None, "") else v) for k, v in record.items()}
