"""Clean real-world cell values before validation: full-width digits, stray spaces, date forms.

Values that cannot be cleaned are left as they are, so the contract reports them with the
operator's own text.
"""

from __future__ import annotations

import calendar
import contextlib
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pandas as pd

from settings import DISTRICT_TZ

URGENCY = {
    # (a platform's 是否加急 flag, isUrgent: true/false, 1/0, as its export writes it)
    **dict.fromkeys(["一般", "普通", "正常", "常规", "不急", "低", "否", "normal", "low", "1"], 1),
    **dict.fromkeys(["false", "no", "0"], 1),
    **dict.fromkeys(["紧急", "急", "加急", "较急", "很急", "高", "是", "urgent", "high", "2"], 2),
    **dict.fromkeys(["true", "yes"], 2),
    **dict.fromkeys(["特急", "非常紧急", "特别紧急", "十分紧急", "危急", "critical", "3"], 3),
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
    **dict.fromkeys(
        ["是", "是的", "已办结", "办结", "完成", "已完成", "已解决", "解决了", "办好了", "√", "y", "yes"],
        "yes",
    ),
    **dict.fromkeys(
        ["否", "没有", "未办结", "没办结", "未完成", "没完成", "未解决", "没解决", "×", "n", "no"], "no"
    ),
    # a call system's isResolved flag as its export writes it
    **dict.fromkeys(["true", "1"], "yes"),
    **dict.fromkeys(["false", "0"], "no"),
    **dict.fromkeys(["部分", "部分完成", "部分解决", "部分办结", "基本完成", "基本解决", "partly"], "partly"),
}
ACTION = {
    **dict.fromkeys(
        [
            *("接单", "已接单", "接受", "同意", "接收", "受理", "已受理", "同意接单", "可以接"),
            *("是", "√", "accept", "true"),  # "是"/"否" under 是否接单, a platform's isAccepted
        ],
        "accept",
    ),
    **dict.fromkeys(
        [
            *("拒单", "已拒单", "拒绝", "不接", "退单", "退回", "无法承接", "无法受理", "无法服务"),
            *("不能接", "接不了", "不同意", "否", "×", "decline", "false"),
        ],
        "decline",
    ),
    **dict.fromkeys(
        [
            *("办结", "已办结", "完成", "已完成", "服务完成", "已服务", "服务已完成", "已上门", "已处理"),
            *("处理完毕", "已办", "已办完", "已完结", "complete"),
        ],
        "complete",
    ),
}
# a survey's yes/no questions (has a need, no more visits)
YES_NO = {
    **dict.fromkeys(["是", "有", "需要", "是的", "√", "yes", "y", "1", "true"], "yes"),
    **dict.fromkeys(["否", "无", "没有", "不需要", "×", "no", "n", "0", "false"], "no"),
}
# a follow-up call's satisfaction as residents say it (or as 1-5 with a unit: "5分", "4星")
SATISFACTION = {
    **dict.fromkeys(["非常满意", "很满意", "十分满意", "5分", "5星", "五星"], 5),
    **dict.fromkeys(["满意", "比较满意", "4分", "4星", "四星"], 4),
    **dict.fromkeys(["基本满意", "一般", "还行", "3分", "3星", "三星"], 3),
    **dict.fromkeys(["不太满意", "不满意", "2分", "2星", "二星", "两星"], 2),
    **dict.fromkeys(["非常不满意", "很不满意", "1分", "1星", "一星"], 1),
    **dict.fromkeys(["挺满意", "满分"], 4),
    **dict.fromkeys(["还可以", "还好"], 3),
    **{f"{k}.0": k for k in range(1, 6)},  # a number column of Excel
    # stars as a form or a hand-made sheet draws them: ★★★★ or ★★★★☆
    **{"★" * k + "☆" * r: k for k in range(1, 6) for r in {0, 5 - k}},
}

_SEP = r"\s*[-/.年]\s*"
# Excel's long date in a Chinese locale adds the weekday: 2026年11月3日星期二, 2026/11/3（周二）
_WEEKDAY = r"(?:\s*\(?(?:星期|周|礼拜)[一二三四五六日天]\)?)?"
# a time as people write it: 9:30, 9:30:00, 9时30分, 下午3点, 3点半, 9:30:00 AM
_PART_OF_DAY = r"上午|下午|晚上|中午|早上|凌晨"
_TIME = (
    rf"(?:[ T]*(?:(?P<part>{_PART_OF_DAY})\s*)?(?P<h>\d{{1,2}})\s*[:时点]\s*(?P<mi>半|\d{{1,2}})?\s*"
    r"(?:[:分]\s*(?P<s>\d{1,2})?\s*秒?)?(?:\.\d+)?(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?))?)?"
)
_FULL_DATE = re.compile(
    rf"^(?P<y>\d{{4}}){_SEP}(?P<mo>\d{{1,2}})\s*[-/.月]\s*(?P<d>\d{{1,2}})\s*[日号]?{_WEEKDAY}{_TIME}"
    rf"(?:\s*(?:{_PART_OF_DAY}))?$"  # "2026年11月5日上午": the day, without an hour
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SHORT_DATE = re.compile(rf"^(?P<mo>\d{{1,2}})\s*[-/.月]\s*(?P<d>\d{{1,2}})\s*[日号]?{_WEEKDAY}{_TIME}$")
# month/day/year or day/month/year, as an English-locale Excel writes it: taken only when one of
# the two is over 12 (11/25/2026, 25/11/2026); 3/11/2026 could be either, and is asked about
_SLASHED_YEAR_LAST = re.compile(rf"^(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})/(?P<y>\d{{4}}){_TIME}$")
_EXCEL_SERIAL = re.compile(r"^(\d{5})(?:\.(\d+))?$")
# a platform's moment as its API counts it: seconds (10 digits) or milliseconds (13) since
# 1970-01-01 UTC, as Java and JavaScript systems export createTime; from 1 (2001-09-09) up to
# 2 (2033-05-18) billion seconds, so that no date-and-hour written compactly (2026110309) is one
_EPOCH = re.compile(r"^1(\d{9}|\d{12})$")
# a platform's ISO 8601 moment with its offset (2026-11-03T09:30:00+08:00, ...Z): district time
_ISO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})$")
# a date written in Chinese numerals (二〇二六年十一月三日, 十一月三日下午三点): the numbers, not a weekday's
_CN_DIGIT = {c: k for k, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "两": 2}
_CN_NUMBER = re.compile(rf"(?<!星期)(?<!周)(?<!礼拜)[{''.join(_CN_DIGIT)}十]+")
_CN_COUNT = re.compile(rf"[{''.join(_CN_DIGIT)}十]+")  # in a count, 周 is "a week" (每周十份)


def nfkc(value: object) -> str | None:
    """NFKC (full-width digits and letters to half-width), trimmed; empty becomes None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def _time(m: re.Match[str]) -> tuple[int, int, int]:
    """(hour, minute, second) of a match of ``_TIME`` (midnight when it has no time)."""
    hour = int(m["h"] or 0)
    part, ampm = m["part"], (m["ampm"] or "").replace(".", "").lower()
    if (part in ("下午", "晚上") or ampm == "pm") and hour < 12:
        hour += 12
    elif part == "中午" and hour < 11:  # 中午1点 is 13:00, 中午12点 noon
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    minute = 30 if m["mi"] == "半" else int(m["mi"] or 0)
    return hour, minute, int(m["s"] or 0)


NO_SUCH_DAY = "（无此日期）"


def clean_date(value: str | None, with_time: bool = False, today: date | None = None) -> str | None:
    """ISO ``YYYY-MM-DD`` (or ``YYYY-MM-DD HH:MM:SS``) for a date as people write it.

    2026-11-03, 2026/11/3, 2026.11.3, 2026年11月3日(星期二), 20261103, an Excel serial day number,
    a platform's seconds or milliseconds since 1970 (1763601120000: 2025-11-20 09:12 district time),
    11/25/2026 or 25/11/2026 (not 3/11/2026: either could be meant), each with an optional time
    (9:30, 9时30分, 下午3点, 3点半, 9:30:00 AM); "11-3" or "11月3日" take the year of
    ``today`` (the day the sheet arrived), or the year before when that would be in the future.
    A value that is not recognisably a date is returned as given, for the contract to report; a
    date that does not exist (2026-11-31, 2月30日) is returned marked with ``NO_SUCH_DAY``.
    """
    if value is None:
        return None
    y = mo = d = None
    hh = mi = ss = 0
    if _ISO_OFFSET.match(value):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value.replace(" ", "T", 1).replace(" ", ""))
            local = moment.astimezone(DISTRICT_TZ).replace(tzinfo=None)
            return local.strftime("%Y-%m-%d %H:%M:%S") if with_time else local.strftime("%Y-%m-%d")
    if m := _FULL_DATE.match(value):
        y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
        hh, mi, ss = _time(m)
    elif m := _COMPACT_DATE.match(value):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif (m := _SLASHED_YEAR_LAST.match(value)) and (int(m["a"]) > 12) != (int(m["b"]) > 12):
        a, b = int(m["a"]), int(m["b"])
        y, mo, d = int(m["y"]), min(a, b), max(a, b)
        hh, mi, ss = _time(m)
    elif (m := _SHORT_DATE.match(value)) and today is not None:
        mo, d = int(m["mo"]), int(m["d"])
        hh, mi, ss = _time(m)
        y = today.year
        with contextlib.suppress(ValueError):
            if date(y, mo, d) > today + timedelta(days=7):
                y -= 1
    elif _EPOCH.match(value):
        local = _epoch(value).astimezone(DISTRICT_TZ).replace(tzinfo=None)
        return local.strftime("%Y-%m-%d %H:%M:%S") if with_time else local.strftime("%Y-%m-%d")
    elif (m := _EXCEL_SERIAL.match(value)) and 20000 <= int(m.group(1)) <= 80000:
        ts = pd.Timestamp("1899-12-30") + pd.Timedelta(days=float(value))
        ts = ts.round("min")
        return ts.strftime("%Y-%m-%d %H:%M:%S") if with_time else ts.strftime("%Y-%m-%d")
    if y is None:
        arabic = _CN_NUMBER.sub(_cn_number, value) if ("年" in value or "月" in value) else value
        return clean_date(arabic, with_time, today) if arabic != value and _looks_dated(arabic) else value
    try:
        ts = datetime(y, mo, d, hh, mi, ss)  # type: ignore[arg-type]
    except ValueError:  # a day that does not exist (11月31日): marked, so no contract takes it for a date
        return f"{value}{NO_SUCH_DAY}"
    return ts.strftime("%Y-%m-%d %H:%M:%S") if with_time else ts.strftime("%Y-%m-%d")


def _epoch(value: str) -> datetime:
    """The UTC moment of a count of seconds (10 digits) or milliseconds (13) since 1970."""
    return datetime.fromtimestamp(int(value) / (1000 if len(value) == 13 else 1), tz=UTC)


def _cn_number(m: re.Match[str]) -> str:
    """One run of Chinese numerals as digits: 二〇二六 -> 2026 (digit by digit), 十一 -> 11,
    二十五 -> 25, 三十 -> 30, 两 -> 2."""
    text = m.group(0)
    if "十" not in text:
        return "".join(str(_CN_DIGIT[c]) for c in text)
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return text  # not a number of days, months or hours
    return str((_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0))


def _looks_dated(text: str) -> bool:
    """Whether a text turned from Chinese numerals is now a date a pattern reads."""
    return bool(_FULL_DATE.match(text) or _SHORT_DATE.match(text))


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
LOOKUPS = {
    "urgency": URGENCY,
    "area_level": AREA_LEVEL,
    "done": DONE,
    "action": ACTION,
    "satisfaction": SATISFACTION,
    "has_need": YES_NO,
    "survey_opt_out": YES_NO,
}
# counts written with their unit or period ("5人", "每周3次", "10 人次/周"): the number is meant
COUNT_FIELDS = {"capacity_per_cycle"}
# "a week" as written: 每周, 一周 (a 1 once 一 is read), 每个星期, 每礼拜; a bare 周/星期/礼拜 before a
# number is a weekday (周三 is Wednesday, not 3 places) unless a unit follows (周3次)
_UNIT = r"(?:人次|人|次|个|名|位|户|份|场|单)"
_WEEK = r"(?:每|1|一)个?(?:周|星期|礼拜)"
_COUNT = re.compile(
    rf"(?:(?:{_WEEK}|每期|每次)?(\d+){_UNIT}?|(?:周|星期|礼拜)(\d+){_UNIT})(?:(?:/|每)(?:(?:1|一)?个?(?:周|星期|礼拜)|期))?"
)


def count_hint(value: str) -> str:
    """What to write instead of a count that is not one number a week (each period is a week),
    with the number it seems to mean where there is one."""
    once = re.sub(r"(?:1|一)个?(月|天|日)", r"每\1", "".join(value.split()))  # 一个月四次: 每月4次
    text = _CN_COUNT.sub(_cn_number, once)
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    asked = "每期名额按每周计：请填写每周能服务的人次（一个正整数）"
    if re.search(r"每?个?月", text) and len(numbers) == 1:
        return f"“{value}”是每月的次数，约合每周 {max(1, round(numbers[0] * 7 / 30.4))} 次；{asked}"
    if re.search(r"每天|每日|/天|/日|一天|1天", text) and len(numbers) == 1:
        n = numbers[0]
        return f"“{value}”是每天的人次：每天都服务请填 {7 * n}，只在工作日服务请填 {5 * n}；{asked}"
    if re.fullmatch(r"(?:周|星期|礼拜)[1-7日天]", text):
        return f"“{value}”像是服务时间（星期几），不是名额；{asked}，服务时间可写在备注里"
    if len(numbers) == 2 and re.search(r"\d\s*(?:-|~|～|到|至|—)\s*\d", text):
        return f"“{value}”是一个范围；{asked}，把握不准时请填较小的 {min(numbers)}"
    return f"“{value}”不是一个数；{asked}"


def clean_count(value: str | None) -> str | None:
    """A count as its digits when the text is a number with a unit word around it, else as written."""
    if value is None:
        return None
    text = "".join(value.split())
    m = _COUNT.fullmatch(text) or _COUNT.fullmatch(_CN_COUNT.sub(_cn_number, text))  # 三, 每周十份
    return (m.group(1) or m.group(2)) if m else value


# around a coded answer, what a person adds without changing it: a bracketed note ("特急（独居）"),
# an exclamation or a full stop ("紧急！", "已完成。")
_ASIDE = re.compile(r"[(\[【][^)\]】]*[)\]】]|[!.。~…,;、]+")


def coded(value: object, table: dict[str, object]) -> str | None:
    """A coded answer (urgency, area level, done, action, ...) as its code when ``table`` knows
    it, as written or without a note or punctuation around it; anything else as written, for the
    contract to report."""
    text = nfkc(value)
    if not text:
        return text
    if text.lower() in table:
        return str(table[text.lower()])
    bare = "".join(_ASIDE.sub("", text).split()).lower()
    return str(table[bare]) if bare and bare in table else text


# where a row is in its file (its sheet and row there), not what it says: never cleaned or compared
LOCATION_COLUMNS = ("row_number", "_sheet", "_sheet_row")
# free text keeps its own punctuation (full-width commas are right in Chinese prose)
FREE_TEXT = {"description", "contact_name", "name", "comment", "note", "reason", "_extra_cells", "address"}


# a phone number inside a name cell (a 联系人及电话 column: "王秀英 13812345678", "张桂兰（13812345670）")
_PHONE_IN_TEXT = re.compile(
    r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?(?:1[3-9]\d(?:[\s-]?\d){8}|0\d{2,3}[\s-]?\d{7,8})(?!\d)"
)
_AROUND_NAME = re.compile(
    r"^[\s:：,，;；/、|()（）\[\]【】<>《》\-—_]+|[\s:：,，;；/、|()（）\[\]【】<>《》\-—_]+$"
)
_PHONE_WORDS = re.compile(r"(?:联系)?(?:电话|手机|手机号|号码)|tel|phone", re.IGNORECASE)


def split_contact(text: object) -> tuple[str | None, str | None] | None:
    """(name, phone) of a cell holding both ("王秀英 13812345678", "李建国13812345679",
    "赵四/电话13812345671"); None when it holds no phone number, or more than one, or digits
    besides it (then it is not split: the contract or a hint asks)."""
    value = nfkc(text)
    if value is None:
        return None
    found = _PHONE_IN_TEXT.findall(value)
    if len(found) != 1:
        return None
    # the phone in brackets goes with them and what they say of it ("王秀英（女儿 13812345678）")
    bracketed = re.search(rf"[(\[【][^()\[\]【】]*{re.escape(found[0])}[^()\[\]【】]*[)\]】]", value)
    rest = _PHONE_WORDS.sub("", value.replace(bracketed.group(0) if bracketed else found[0], " "))
    if re.search(r"\d", rest):
        return None
    name = re.sub(r"\s+", " ", _AROUND_NAME.sub("", rest))
    return (name or None), found[0]


def _split_contacts(out: pd.DataFrame) -> None:
    """A name cell that also holds the phone: the phone where the row has none (the phone column
    keeps its own where it has one), the name without it."""
    if "contact_name" not in out:
        return
    names = out["contact_name"]
    digits = names.astype(str).str.contains(r"\d", regex=True).astype(bool)
    if not digits.any():  # (most sheets: no name cell holds a digit)
        return
    found = {v: split_contact(v) for v in names[digits].drop_duplicates().tolist()}
    found = {v: pair for v, pair in found.items() if pair is not None}
    if not found:
        return
    if "contact_phone" not in out:
        out["contact_phone"] = None
    new_names, new_phones = [], []
    for name, phone in zip(names.tolist(), out["contact_phone"].tolist(), strict=True):
        pair = found.get(name) if isinstance(name, str) else None
        if pair is None:
            new_names.append(name)
            new_phones.append(phone)
            continue
        new_names.append(pair[0])
        new_phones.append(phone if phone is not None and str(phone).strip() else pair[1])
    out["contact_name"] = pd.Series(new_names, index=out.index, dtype=object)
    out["contact_phone"] = pd.Series(new_phones, index=out.index, dtype=object)


def _by_unique(values: pd.Series, fn: Callable[[str | None], str | None]) -> pd.Series:
    """``fn`` applied once per distinct value (sheets repeat dates, grids and items a lot)."""
    uniq = values.drop_duplicates()
    table = dict(zip(uniq.tolist(), [fn(v) for v in uniq.tolist()], strict=True))
    return pd.Series([table[v] for v in values.tolist()], index=values.index, dtype=object)


def _datetime(value: str | None, today: date | None) -> str | None:
    out = clean_date(value, with_time=True, today=today)
    if out and re.fullmatch(r"\d{4}-\d{2}-\d{2}", out):
        out += " 00:00:00"
    return out


_ISO_DATETIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?"


def _text(values: pd.Series) -> pd.Series:
    """NFKC-trimmed strings (vectorised, arrow-backed), missing and empty as NA."""
    out = values.astype("str").str.normalize("NFKC").str.strip()
    return out.where(out != "")


def _objects(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None)


def _vector_ids(values: pd.Series) -> pd.Series:
    return _objects(_text(values).str.replace(r"\s+", "", regex=True).str.upper())


_FLOAT_NUMBER = r"^(\d{7,})\.0+$"  # a phone typed as a number, exported as a float: 13912345678.0
SCIENTIFIC = r"\d\.\d+[eE]\+?\d{1,2}"  # a number in Excel's scientific notation: 1.3912345678E+10


def _from_scientific(value: str) -> str:
    """The digits of a phone in Excel's scientific notation when all are there (1.3912345678E+10),
    else the value as written (1.39123E+10 kept 6 of 11 digits: the contract reports it)."""
    mantissa, exponent = value.lower().replace("+", "").split("e")
    whole, fraction = mantissa.split(".")
    return whole + fraction if len(fraction) == int(exponent) else value


def _vector_phones(values: pd.Series) -> pd.Series:
    text = _text(values).str.replace(_FLOAT_NUMBER, r"\1", regex=True)
    sci = text.str.fullmatch(SCIENTIFIC, na=False)
    if sci.any():
        text = text.where(~sci, text[sci].map(_from_scientific))
    lost = text.str.fullmatch(SCIENTIFIC, na=False)  # kept as written, for the contract to report
    out = text.str.replace(r"[\s\-()（）—_·.]", "", regex=True).where(~lost, text)
    out = out.str.replace(r"^(?:\+86|0086)", "", regex=True).str.replace(r"^86(?=1\d{10}$)", "", regex=True)
    # one number with words saying whose it is ("13812345678（本人）", "儿子13812345678"): the number.
    # Two numbers, or an extension ("转801"), stay as written for the contract (and a hint) to ask
    noted = out.str.fullmatch(_NOTED_PHONE, na=False)
    if noted.any():
        out = out.where(~noted, out[noted].str.replace(r"\D", "", regex=True))
    return _objects(out.where(out != ""))


# a single phone number among words (no other digit, no Latin letter): who answers it, not part of it
_NOTED_PHONE = r"[^\dA-Za-z]*(?:1[3-9]\d{9}|0\d{9,11})[^\dA-Za-z]*"


def _vector_datetimes(values: pd.Series, today: date | None) -> pd.Series:
    """ISO values (most of a platform export) in one vectorised pass; the rest one by one."""
    text = _text(values)
    iso = text.str.fullmatch(_ISO_DATETIME).fillna(False).astype(bool)
    out = _objects(text.where(~iso | (text.str.len() != 16), text + ":00"))
    if iso.any():  # ISO-shaped is not yet a real moment: 2026-02-30 10:00 is marked like clean_date does
        real = pd.to_datetime(out[iso], format="%Y-%m-%d %H:%M:%S", errors="coerce").notna()
        impossible = real.index[~real.to_numpy()]
        out[impossible] = out[impossible] + NO_SUCH_DAY
    rest = ~iso & text.notna()
    if rest.any():
        out[rest] = _by_unique(out[rest], lambda v: _datetime(v, today))
    return out


# what 问卷星 writes for a question skipped or left empty
SKIPPED = frozenset({"(跳过)", "（跳过）", "(空)", "（空）"})


def normalize_rows(rows: pd.DataFrame, today: date | None = None) -> pd.DataFrame:
    """Cleaned copy: every value NFKC-trimmed; ids, phones and dates in canonical form;
    coded answers (urgency, area level, done, action) mapped to their codes when recognised.
    ``today`` is the day the sheet arrived (the year of dates written without one)."""
    out = rows.copy()
    _split_contacts(out)
    for col in out.columns:
        if col in LOCATION_COLUMNS:
            continue
        skipped = out[col].isin(SKIPPED)
        if skipped.any():  # a survey tool's mark for a question not answered: nothing written
            out[col] = out[col].where(~skipped, None)
        if col in FREE_TEXT:
            out[col] = _by_unique(out[col], lambda v: (str(v).strip() or None) if v is not None else None)
            continue
        if col in ID_FIELDS:
            out[col] = _vector_ids(out[col])
            continue
        if col in PHONE_FIELDS:
            out[col] = _vector_phones(out[col])
            continue
        if col in DATETIME_FIELDS:
            out[col] = _vector_datetimes(out[col], today)
            continue
        if col in DATE_FIELDS:
            fn: Callable[[str | None], str | None] = lambda v: clean_date(nfkc(v), today=today)  # noqa: E731
        elif col in COUNT_FIELDS:
            fn = lambda v: clean_count(nfkc(v))  # noqa: E731
        elif col in LOOKUPS:
            fn = partial(coded, table=LOOKUPS[col])
        else:
            fn = nfkc
        out[col] = _by_unique(out[col], fn)
    return out


# a date range in one cell, as offers sheets write their 服务期限: "2026.11.1-2027.1.31",
# "2026年11月1日至2027年1月31日", "2026年11月-2027年1月" (whole months), "2026/11/1~长期"
_RANGE_SEP = re.compile(r"\s*(?:至|到|~|～|—|–|-{1,2})\s*")
# a year and month with no day (2026年11月, 2026-11, 二〇二六年十一月): no date, asked with a hint
_MONTH_TEXT = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(?:份)?"
_MONTH = re.compile(rf"^{_MONTH_TEXT}$")
MONTH_ONLY = rf"{_MONTH_TEXT}|[{''.join(_CN_DIGIT)}]{{4}}年[{''.join(_CN_DIGIT)}十]{{1,3}}月(?:份)?"
# a start with no end: "2026-12-01起", "自2026年12月1日起长期有效", "从12月起"
_FROM_ON = re.compile(r"(?:自|从)?(?P<day>.+?)\s*(?:起|开始|以后|之后)(?:长期)?(?:有效)?")
_MONTH_NO_YEAR = re.compile(r"^(\d{1,2})\s*月(?:份)?(?:底)?$")


def _range_end(text: str, first: bool, after: date | None = None) -> str | None:
    """One end of a range as an ISO day (a month: its first or last day; a day without its year:
    the year of ``after``, or the next when that would be before it), or None."""
    if m := _MONTH.fullmatch(text):
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            return None
        return date(y, mo, 1 if first else calendar.monthrange(y, mo)[1]).isoformat()
    if after is not None and (m := _MONTH_NO_YEAR.fullmatch(text)) and 1 <= int(m.group(1)) <= 12:
        mo = int(m.group(1))
        y = after.year if mo >= after.month else after.year + 1
        return date(y, mo, calendar.monthrange(y, mo)[1]).isoformat()
    if after is not None and (m := _SHORT_DATE.fullmatch(text)) and not m["h"]:
        try:
            day = date(after.year, int(m["mo"]), int(m["d"]))
            return (day if day >= after else day.replace(year=after.year + 1)).isoformat()
        except ValueError:
            return None
    out = clean_date(text)
    return out if out and re.fullmatch(r"\d{4}-\d{2}-\d{2}", out) else None


def split_date_range(
    value: object, open_words: set[str] | frozenset[str] = frozenset()
) -> tuple[str, str] | None:
    """(start, end) of a date range written in one cell, start as an ISO day and end as an ISO day
    or one of ``open_words`` ("长期"); None when the text is not a range of days."""
    text = nfkc(value)
    if not text:
        return None
    if "长期" in open_words and (m := _FROM_ON.fullmatch(text)):  # 2026-12-01起: from then on
        start = _range_end(m["day"].strip(), first=True)
        if start is not None:
            return start, "长期"
    for m in _RANGE_SEP.finditer(text):
        # "自2026年12月1日起至2027年1月31日止", "从…到…": the words around the two ends
        left = re.sub(r"^(?:自|从)|(?:起|开始)$", "", text[: m.start()].strip()).strip()
        right = re.sub(r"(?:止|为止|结束)$", "", text[m.end() :].strip()).strip()
        start = _range_end(left, first=True)
        if start is None:
            continue
        if "".join(right.split()) in open_words:
            return start, right
        end = _range_end(right, first=False, after=date.fromisoformat(start))
        if end is not None:
            return start, end
    return None
