"""Clean real-world cell values before validation: full-width digits, stray spaces, date forms.

Values that cannot be cleaned are left as they are, so the contract reports them with the
operator's own text.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

URGENCY = {
    "一般": 1,
    "普通": 1,
    "normal": 1,
    "1": 1,
    "紧急": 2,
    "urgent": 2,
    "2": 2,
    "特急": 3,
    "非常紧急": 3,
    "critical": 3,
    "3": 3,
}
AREA_LEVEL = {
    "网格": "grid",
    "grid": "grid",
    "社区": "community",
    "community": "community",
    "街道": "subdistrict",
    "subdistrict": "subdistrict",
}
DONE = {
    "是": "yes",
    "已办结": "yes",
    "完成": "yes",
    "yes": "yes",
    "否": "no",
    "未办结": "no",
    "未完成": "no",
    "no": "no",
    "部分": "partly",
    "部分完成": "partly",
    "partly": "partly",
}
ACTION = {
    "接单": "accept",
    "accept": "accept",
    "拒单": "decline",
    "decline": "decline",
    "办结": "complete",
    "完成": "complete",
    "complete": "complete",
}

_DATE_FORMS = [
    (re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$"), False),
    (
        re.compile(
            r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T](\d{1,2})[:时](\d{1,2})(?::(\d{1,2}))?分?(?:\.\d+)?$"
        ),
        True,
    ),
]


def nfkc(value: object) -> str | None:
    """NFKC (full-width digits and letters to half-width), trimmed; empty becomes None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def clean_id(value: str | None) -> str | None:
    return None if value is None else "".join(value.split()).upper() or None


def clean_phone(value: str | None) -> str | None:
    if value is None:
        return None
    text = re.sub(r"[\s\-()（）]", "", value)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    return text or None


def clean_date(value: str | None, with_time: bool = False) -> str | None:
    """ISO ``YYYY-MM-DD`` (or ``YYYY-MM-DD HH:MM:SS``) when the value is a recognisable date."""
    if value is None:
        return None
    for pattern, has_time in _DATE_FORMS:
        m = pattern.match(value)
        if not m:
            continue
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hh = int(m.group(4)) if has_time else 0
        mi = int(m.group(5)) if has_time else 0
        ss = int(m.group(6) or 0) if has_time else 0
        try:
            ts = pd.Timestamp(year=y, month=mo, day=d, hour=hh, minute=mi, second=ss)
        except ValueError:
            return value
        return ts.strftime("%Y-%m-%d %H:%M:%S") if with_time else ts.strftime("%Y-%m-%d")
    return value


ID_FIELDS = {
    "source_ref",
    "grid_id",
    "household_id",
    "unit_id",
    "offer_id",
    "community_id",
    "area_id",
    "answer_id",
    "survey_id",
    "response_id",
    "assignment_id",
}
PHONE_FIELDS = {"contact_phone"}
DATETIME_FIELDS = {"reported_at", "answered_at", "responded_at"}
DATE_FIELDS = {"preferred_start", "preferred_end", "window_start", "window_end", "completed_on"}
LOOKUPS = {"urgency": URGENCY, "area_level": AREA_LEVEL, "done": DONE, "action": ACTION}
# free text keeps its own punctuation (full-width commas are right in Chinese prose)
FREE_TEXT = {"description", "contact_name", "name", "comment", "note", "reason", "_extra_cells"}


def normalize_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Cleaned copy: every value NFKC-trimmed; ids, phones and dates in canonical form;
    coded answers (urgency, area level, done, action) mapped to their codes when recognised."""
    out = rows.copy()
    for col in out.columns:
        if col == "row_number":
            continue
        if col in FREE_TEXT:
            out[col] = pd.Series(
                [(str(v).strip() or None) if v is not None else None for v in out[col]],
                index=out.index,
                dtype=object,
            )
            continue
        values = [nfkc(v) for v in out[col].tolist()]
        if col in ID_FIELDS:
            values = [clean_id(v) for v in values]
        elif col in PHONE_FIELDS:
            values = [clean_phone(v) for v in values]
        elif col in DATETIME_FIELDS:
            values = [clean_date(v, with_time=True) if v and len(v) > 10 else clean_date(v) for v in values]
            values = [v + " 00:00:00" if v and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) else v for v in values]
        elif col in DATE_FIELDS:
            values = [clean_date(v) for v in values]
        elif col in LOOKUPS:
            table = LOOKUPS[col]
            values = [str(table.get(v.lower(), v)) if v else v for v in values]
        out[col] = pd.Series(values, index=out.index, dtype=object)
    return out
