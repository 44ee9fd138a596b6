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

import pandas as pd

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
    "hospital": ["医院", "医疗", "卫生", "诊所", "卫生院", "卫生服务中心", "药店"],
    "utility": ["公用事业", "供电", "供水", "燃气", "电力", "电信", "通信", "水务", "邮政", "移动", "联通"],
    "company": ["企业", "公司", "商户", "物业", "个体", "超市", "商场"],
    "social_org": ["社会组织", "协会", "社工", "基金会", "民办非企业", "商会", "服务站"],
    "volunteers": ["志愿", "服务队", "党员", "义工"],
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


def _derived_id(prefix: str, keys: list[str]) -> list[str]:
    """Stable ids from row contents; the same contents twice in a file are told apart by order."""
    seen: dict[str, int] = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        full = key if seen[key] == 1 else f"{key}|{seen[key]}"
        out.append(prefix + hashlib.sha1(full.encode("utf-8")).hexdigest()[:12].upper())
    return out


def resolve_units(rows: pd.DataFrame, directory: Directory) -> Resolved:
    """A unit register with kinds, communities, coordinates and ids filled in where meant."""
    out = rows.copy()
    hints: dict[int, dict[str, str]] = {}
    notes: list[str] = []

    def community(text: object) -> tuple[object, str | None]:
        if text is None:
            return None, None
        cid = directory.community(text)
        return (cid, None) if cid else (text, f"找不到社区“{text}”：请写已登记的社区名称或编号")

    out["community_id"] = pd.Series(
        each_value([(t,) for t in out["community_id"]], out["row_number"], community, "community_id", hints),
        index=out.index,
        dtype=object,
    )
    kinds = each_value(
        list(zip(out["kind"], out["name"], strict=True)), out["row_number"], unit_kind, "kind", hints
    )
    out["kind"] = pd.Series(
        [k if k is not None else t for k, t in zip(kinds, out["kind"], strict=True)],
        index=out.index,
        dtype=object,
    )

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

    missing = out["unit_id"].isna() & out["name"].notna()
    if missing.any():
        keys = [f"{plain(n)}|{c or ''}" for n, c in zip(out["name"], out["community_id"], strict=True)]
        out.loc[missing, "unit_id"] = _derived_id("U", [k for k, m in zip(keys, missing, strict=True) if m])
        notes.append(f"{int(missing.sum())} 个单位没有单位编号：已按单位名称和所属社区生成稳定编号")
    return Resolved(out, hints, notes, derived_refs=int(missing.sum()))


def resolve_offers(rows: pd.DataFrame, directory: Directory) -> Resolved:
    """An offers sheet with units, items, service areas and offer ids filled in where meant."""
    out = rows.copy()
    hints: dict[int, dict[str, str]] = {}
    notes: list[str] = []
    units = each_value([(t,) for t in out["unit_id"]], out["row_number"], directory.unit, "unit_id", hints)
    out["unit_id"] = pd.Series(
        [u if u is not None else t for u, t in zip(units, out["unit_id"], strict=True)],
        index=out.index,
        dtype=object,
    )
    items = each_value([(t,) for t in out["item"]], out["row_number"], directory.item, "item", hints)
    out["item"] = pd.Series(
        [c if c is not None else t for c, t in zip(items, out["item"], strict=True)],
        index=out.index,
        dtype=object,
    )
    unit_community = dict(zip(directory.units["id"], directory.units["community_id"], strict=True))
    keys = [
        (level, text, unit_community.get(u) if isinstance(u, str) else None)
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
    missing = out["offer_id"].isna()
    if missing.any():
        keys_ = [
            "|".join(str(v or "") for v in r)
            for r in zip(
                out["unit_id"],
                out["item"],
                out["area_level"],
                out["area_id"],
                out["window_start"],
                strict=True,
            )
        ]
        out.loc[missing, "offer_id"] = _derived_id("O", [k for k, m in zip(keys_, missing, strict=True) if m])
        notes.append(
            f"{int(missing.sum())} 条资源没有资源编号：已按单位、事项、服务范围和开始日期生成稳定编号"
        )
    return Resolved(out, hints, notes, derived_refs=int(missing.sum()))


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
    return (level, None), f"找不到名为“{raw}”的{where}：请写已登记的{where}名称或编号"


def resolve_responses(rows: pd.DataFrame, directory: Directory) -> Resolved:
    """Units' replies with the unit by name and, when the sheet has none, a stable reply id (the
    same reply sent again is recognised, not applied twice)."""
    out = rows.copy()
    hints: dict[int, dict[str, str]] = {}
    notes: list[str] = []
    units = each_value([(t,) for t in out["unit_id"]], out["row_number"], directory.unit, "unit_id", hints)
    out["unit_id"] = pd.Series(
        [u if u is not None else t for u, t in zip(units, out["unit_id"], strict=True)],
        index=out.index,
        dtype=object,
    )
    missing = out["response_id"].isna()
    if missing.any():
        keys = [
            "|".join(str(v or "") for v in r)
            for r in zip(
                out["assignment_id"], out["unit_id"], out["action"], out["completed_on"], strict=True
            )
        ]
        out.loc[missing, "response_id"] = _derived_id(
            "A", [k for k, m in zip(keys, missing, strict=True) if m]
        )
        notes.append(f"{int(missing.sum())} 条回复没有回复编号：已按派单编号、单位和处理结果生成稳定编号")
    return Resolved(out, hints, notes, derived_refs=int(missing.sum()))
