"""Units, their offers and their answers as a district's sheets write them: names where the store
keeps ids.

A unit register by hand names a unit's kind in words (医院, 物业公司, 志愿者协会), its community by
name, and often has neither a unit id nor map coordinates; an offers sheet names the unit, the
item and the service area (安竹社区, 第3网格, 全街道) rather than their ids, and has no offer id.
What is meant without doubt is filled in, and said once per file; what is not is left as written
with a hint per row, and the contract quarantines the row with that hint. A unit's reply sheet
(派单编号, 单位, 处理结果) names the unit and carries no reply id. Pure, like
:mod:`intake.resolve`, whose directory it reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date

import pandas as pd

from intake.normalize import count_hint, split_date_range
from intake.resolve import Directory, Resolved, each_value, plain
from lifecycle.vocabulary import AREA_ZH, UNIT_KIND_ZH

# words in a unit's kind (or, when the kind is blank, its name) that say which kind it is; the
# longest word found decides ("民办非企业" is a social organisation, not a company)
KIND_WORDS = {
    "department": [
        "机关",
        "政府",
        "部门",
        "街道办",
        "办事处",
        "司法所",
        "民政",
        "派出所",
        "执法",
        "事业单位",
        "居委会",
    ],
    "school": ["学校", "小学", "中学", "大学", "学院", "幼儿园", "教育"],
    "hospital": [
        "医院",
        "医疗",
        "卫生",
        "诊所",
        "卫生院",
        "卫生室",
        "卫生服务中心",
        "卫生服务站",
        "药店",
        "药房",
    ],
    "utility": ["公用事业", "供电", "供水", "燃气", "电力", "电信", "通信", "水务", "邮政", "移动", "联通"],
    "company": [
        "企业",
        "公司",
        "商户",
        "物业",
        "个体",
        "超市",
        "商场",
        "国企",
        "央企",
        "民企",
        "私企",
        "外企",
        # what co-building registers name by its trade (a bank, a law firm, a restaurant)
        *("银行", "信用社", "保险", "事务所", "律所", "酒店", "饭店", "餐厅", "餐饮", "快递", "商店"),
        *("便利店", "门店", "理发店"),
    ],
    "social_org": ["社会组织", "协会", "社工", "基金会", "民办非企业", "商会", "服务站"],
    "volunteers": ["志愿", "服务队", "党员", "义工", "志愿服务站", "志愿服务队"],
}
# an area written as the unit's own place ("本社区") or the whole subdistrict ("全街道")
OWN_COMMUNITY = {"本社区", "全社区", "社区内", "本社区内"}
WHOLE_SUBDISTRICT = {"本街道", "全街道", "街道内", "全辖区", "本辖区", "辖区内"}


def unit_kind(text: object, name: object = None) -> tuple[str | None, str | None]:
    """(kind code, None) for a code, a label or words that name one kind; (None, hint) otherwise."""
    options = "、".join(UNIT_KIND_ZH.values())
    if text is None and name is None:
        return None, None
    raw = plain(text).lower()
    for code, label in UNIT_KIND_ZH.items():
        if raw in (code, label):
            return code, None
    for source in (raw, plain(name).lower()) if text is None else (raw,):
        best = {
            code: max((len(w) for w in words if w in source), default=0) for code, words in KIND_WORDS.items()
        }
        top = max(best.values())
        winners = [c for c, n in best.items() if n == top and n > 0]
        if len(winners) == 1:
            return winners[0], None
    return None, f"单位类型请填写：{options}"


def _fill(
    out: pd.DataFrame,
    column: str,
    keys: list[tuple],
    resolve: Callable[..., tuple[object, str | None]],
    hints: dict[int, dict[str, str]],
) -> None:
    """``column`` resolved from ``keys`` (once per distinct key, a hint per row it fails for);
    what cannot be resolved stays as written, for the contract to report with the hint."""
    got = each_value(keys, out["row_number"], resolve, column, hints)
    out[column] = pd.Series(
        [g if g is not None else t for g, t in zip(got, out[column], strict=True)],
        index=out.index,
        dtype=object,
    )


def _derive_ids(out: pd.DataFrame, column: str, prefix: str, key_columns: list[str]) -> int:
    """Fill a blank ``column`` with a stable id from ``key_columns`` (the same contents twice in a
    file are told apart by order); returns how many were made."""
    missing = out[column].isna()
    if not missing.any():
        return 0
    seen: dict[str, int] = {}
    ids = []
    for values in zip(*(out.loc[missing, c] for c in key_columns), strict=True):
        key = "|".join(plain(v) if v is not None else "" for v in values)
        seen[key] = seen.get(key, 0) + 1
        full = key if seen[key] == 1 else f"{key}|{seen[key]}"
        ids.append(prefix + hashlib.sha1(full.encode("utf-8")).hexdigest()[:12].upper())
    out.loc[missing, column] = ids
    return len(ids)


def resolve_units(rows: pd.DataFrame, directory: Directory) -> Resolved:
    """A unit register with kinds, communities, coordinates and ids filled in where meant."""
    out = rows.copy()
    hints: dict[int, dict[str, str]] = {}
    notes: list[str] = []

    def community(text: object) -> tuple[str | None, str | None]:
        cid = directory.community(text) if text is not None else None
        return cid, None if cid or text is None else f"找不到社区“{text}”：请写已登记的社区名称或编号"

    _fill(out, "community_id", [(t,) for t in out["community_id"]], community, hints)
    _fill(out, "kind", list(zip(out["kind"], out["name"], strict=True)), unit_kind, hints)

    # no coordinates: the community's centre (distances are then estimated from the community)
    no_place = out["x_km"].isna() & out["y_km"].isna()
    centre = [directory.community_centre.get(c) if isinstance(c, str) else None for c in out["community_id"]]
    placed = [bool(m) and c is not None for m, c in zip(no_place, centre, strict=True)]
    if any(placed):
        at = pd.Series(placed, index=out.index)
        out.loc[at, "x_km"] = [str(c[0]) for c, p in zip(centre, placed, strict=True) if p]
        out.loc[at, "y_km"] = [str(c[1]) for c, p in zip(centre, placed, strict=True) if p]
        notes.append(f"{sum(placed)} 个单位没有坐标：按所属社区的中心位置登记（派单距离按社区估算）")
    for n, m, p in zip(out["row_number"], no_place, placed, strict=True):
        if m and not p:
            hints.setdefault(int(n), {})["x_km"] = (
                "没有坐标，也没有可定位的所属社区：请填写横纵坐标（公里）或所属社区"
            )

    named = out.loc[out["name"].notna()].copy()  # a row without a name: the contract asks for it
    made = _derive_ids(named, "unit_id", "U", ["name", "community_id"])
    if made:
        out.loc[named.index, "unit_id"] = named["unit_id"]
        notes.append(f"{made} 个单位没有单位编号：已按单位名称和所属社区生成稳定编号")
    return Resolved(out, hints, notes, derived_refs=made)


def resolve_offers(rows: pd.DataFrame, directory: Directory) -> Resolved:
    """An offers sheet with units, items, service areas and offer ids filled in where meant."""
    out = rows.copy()
    hints: dict[int, dict[str, str]] = {}
    notes: list[str] = []
    _fill(out, "unit_id", [(t,) for t in out["unit_id"]], directory.unit, hints)
    _fill(out, "item", [(t,) for t in out["item"]], directory.item, hints)
    keys = [
        (level, text, directory.unit_community.get(u) if isinstance(u, str) else None)
        for level, text, u in zip(out["area_level"], out["area_id"], out["unit_id"], strict=True)
    ]
    areas = each_value(keys, out["row_number"], lambda *k: _area(directory, *k), "area_id", hints)
    out["area_level"] = pd.Series(
        [a[0] if a[0] else lv for a, lv in zip(areas, out["area_level"], strict=True)],
        index=out.index,
        dtype=object,
    )
    out["area_id"] = pd.Series(
        [a[1] if a[1] else t for a, t in zip(areas, out["area_id"], strict=True)],
        index=out.index,
        dtype=object,
    )
    if "capacity_per_cycle" in out:  # places not written as one number a week: what to write
        for n, places in zip(out["row_number"], out["capacity_per_cycle"], strict=True):
            if places is not None and not str(places).isdigit():
                hints.setdefault(int(n), {})["capacity_per_cycle"] = count_hint(str(places))
    ranged = _windows_from_ranges(out, hints)
    if ranged:
        notes.append(f"{ranged} 条资源的服务期限写在一格里：已拆为开始日期和结束日期")
    open_ended = open_ended_windows(out)
    if open_ended:
        notes.append(f"{open_ended} 条资源的结束日期写的是“长期”等：按开始日期起一年登记，到期前请重新报送")
    made = _derive_ids(out, "offer_id", "O", ["unit_id", "item", "area_level", "area_id", "window_start"])
    if made:
        notes.append(f"{made} 条资源没有资源编号：已按单位、事项、服务范围和开始日期生成稳定编号")
    return Resolved(out, hints, notes, derived_refs=made)


# an end date written as "for as long as it lasts": the offer runs a year from its start (as the
# joint meeting's pledges do), and the unit is asked to send it again before then
OPEN_END = {"长期", "长期有效", "持续", "持续有效", "不限", "无限期", "常年", "长年", "至今"}


def _windows_from_ranges(out: pd.DataFrame, hints: dict[int, dict[str, str]]) -> int:
    """Where a row has no start or end date but a 服务期限 cell ("2026.11.1-2027.1.31"), the two
    dates from it; how many rows. A cell that is no range of days is asked about. The range
    column itself is dropped (the store keeps the two dates)."""
    if "window" not in out:
        return 0
    for column in ("window_start", "window_end"):
        if column not in out:
            out[column] = None
    done = 0
    for k, n, text in zip(out.index, out["row_number"], out.pop("window"), strict=True):
        if text is None or (out.at[k, "window_start"] is not None and out.at[k, "window_end"] is not None):
            continue
        split = split_date_range(text, OPEN_END)
        if split is None:
            hints.setdefault(int(n), {})["window_start"] = (
                f"服务期限“{text}”不是起止日期：请写成“2026-11-01至2027-01-31”，或填开始日期和结束日期两列"
            )
            continue
        if out.at[k, "window_start"] is None:
            out.at[k, "window_start"] = split[0]
        if out.at[k, "window_end"] is None:
            out.at[k, "window_end"] = split[1]
        done += 1
    return done


def open_ended_windows(out: pd.DataFrame) -> int:
    """Fill an open-ended ``window_end`` with the day a year after ``window_start``; how many."""
    done = 0
    for k in out.index:
        end, start = out.at[k, "window_end"], out.at[k, "window_start"]
        if end is None or plain(end) not in OPEN_END or not isinstance(start, str):
            continue
        try:
            first = date.fromisoformat(start)
        except ValueError:
            continue  # the contract says what is wrong with the start
        out.at[k, "window_end"] = year_after(first).isoformat()
        done += 1
    return done


def year_after(first: date) -> date:
    """The last day of an open-ended offer that starts on ``first``: the same day a year on."""
    return (
        first.replace(year=first.year + 1)
        if (first.month, first.day) != (2, 29)
        else date(first.year + 1, 2, 28)
    )


def _area(
    directory: Directory, level: str | None, text: object, unit_community: str | None
) -> tuple[tuple[str | None, str | None], str | None]:
    """((area level, area id), None) for what a service area names; ((level, None), hint) otherwise."""
    if level is not None and level not in AREA_ZH:  # a place in the level's column ("服务范围: 安竹社区")
        text, level = (level if text is None else text), None
    raw = plain(text) if text is not None else ""
    own = {
        "community": unit_community,
        "subdistrict": directory.community_subdistrict.get(unit_community or ""),
    }
    if raw in OWN_COMMUNITY or (not raw and level == "community"):
        found = {"community": own["community"]}
    elif raw in WHOLE_SUBDISTRICT or (not raw and level == "subdistrict"):
        found = {"subdistrict": own["subdistrict"]}
    elif not raw:
        return (level, None), None  # the contract says the area is missing
    else:
        found = {
            "grid": directory.grid(raw, unit_community)[0],
            "community": directory.community(raw),
            "subdistrict": directory.subdistrict(raw),
        }
    if level in found:
        found = {level: found[level]}
    hits = {lv: a for lv, a in found.items() if a}
    if len(hits) == 1:
        ((lv, a),) = hits.items()
        return (lv, a), None
    where = AREA_ZH.get(level or "", "网格、社区或街道")
    if not raw:
        return (level, None), "本单位没有登记所属社区：请写明服务范围（社区或街道名称）"
    if re.search(r"\d\s*[、,，和及与]\s*(?:第)?\d", raw):  # 第3、4网格: one offer serves one area
        return (level, None), (
            f"“{raw}”写了几个地方：一条资源只对应一个服务范围，请每个网格写一行，或写整个社区"
        )
    return (level, None), f"找不到名为“{raw}”的{where}：请写已登记的{where}名称或编号"


def resolve_responses(rows: pd.DataFrame, directory: Directory) -> Resolved:
    """Units' replies with the unit by name and, when the sheet has none, a stable reply id (the
    same reply sent again is recognised, not applied twice)."""
    out = rows.copy()
    hints: dict[int, dict[str, str]] = {}
    _fill(out, "unit_id", [(t,) for t in out["unit_id"]], directory.unit, hints)
    made = _derive_ids(out, "response_id", "A", ["assignment_id", "unit_id", "action", "completed_on"])
    notes = [f"{made} 条回复没有回复编号：已按派单编号、单位和处理结果生成稳定编号"] if made else []
    return Resolved(out, hints, notes, derived_refs=made)


def resolve_answers(rows: pd.DataFrame, directory: Directory) -> Resolved:
    """Follow-up answers with, when the sheet has none (the phone team's call list sent back filled
    in), a stable answer id from the call and the answer (the same answer sent again is recognised)."""
    out = rows.copy()
    keys = ["survey_id", "done", "satisfaction"]
    for column in ("answer_id", *keys):
        if column not in out:
            out[column] = None
    made = _derive_ids(out, "answer_id", "F", keys)
    notes = [f"{made} 条回访没有回访编号：已按问卷编号和回答生成稳定编号"] if made else []
    return Resolved(out, {}, notes, derived_refs=made)
