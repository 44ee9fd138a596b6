"""Personal data in published lists: publish the minimum, mask the rest."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """``13812345678`` -> ``138****5678``; landlines keep area code and last four; empty stays empty."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str | None) -> str:
    """Surname only: ``王秀英`` -> ``王**``; a missing name becomes ``*`` after an unknown mark."""
    if not name:
        return "某*"
    return name[0] + "*" * max(1, len(name) - 1)
