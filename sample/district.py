"""Generate a sample district shaped by the figures in DOMAIN.md, deterministic from a seed.

Size 1 is the Sanshui-like subdistrict: 12 communities, ~150 grids, ~800 units with ~1,000
offers and ~300 open needs. ``size`` scales needs, units and offers linearly (size 334 gives
100,000+ needs) and the map by its square root.

The data is written the way real sources hand it over, so the intake path is exercised:
- ``district.json``: the registry the centre keeps (subdistricts, communities, grids with
  map coordinates, households with their personal data);
- ``inbox/needs/``: grid workers' sheets per community, as GBK CSV, UTF-8-with-BOM CSV and
  XLSX with a merged title row, all with Chinese headers; a platform's JSON export (English
  keys) that repeats some needs already on a sheet (the duplicates intake must merge);
- ``inbox/units/``: the units register (CSV, Chinese headers) and the offers (a platform
  JSON export).
A small share of rows carries the mistakes real sheets have (full-width digits, spaces in
phone numbers, unknown items, missing urgency), so quarantine has something to show.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from lifecycle.vocabulary import FIELD_ZH, URGENCY_ZH
from reference import kind_categories, load_taxonomy_frame

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕")
COMMUNITY_WORDS = list("和平安康幸福东湖西城南苑北岭新华文昌锦绣翠竹桃源春晖金沙")
UNIT_KINDS = {
    "department": ["街道办事处", "司法所", "民政所", "综合执法队"],
    "school": ["第一小学", "实验中学", "职业技术学校"],
    "hospital": ["社区卫生服务中心", "人民医院", "中医院"],
    "utility": ["燃气公司", "电信营业部", "供水公司", "供电所"],
    "company": ["物业公司", "家政服务公司", "家电维修部"],
    "social_org": ["志愿者协会", "社工服务站", "老年协会"],
    "volunteers": ["在职党员服务队", "楼长志愿队"],
}
# which unit kinds give which categories (a gas company does not tutor homework): reference data
KIND_CATEGORIES = kind_categories()

NEED_HEADERS_ZH = {
    k: FIELD_ZH[k]
    for k in (
        "source_ref",
        "reported_at",
        "grid_id",
        "household_id",
        "contact_name",
        "contact_phone",
        "item",
        "description",
        "urgency",
        "preferred_start",
        "preferred_end",
    )
}
UNIT_HEADERS_ZH = {
    k: FIELD_ZH[k] for k in ("unit_id", "name", "kind", "community_id", "x_km", "y_km", "contact_phone")
}


@dataclass(frozen=True)
class SampleSummary:
    """What was generated, and where."""

    out_dir: Path
    subdistricts: int
    communities: int
    grids: int
    households: int
    units: int
    offers: int
    needs: int
    cycle_start: date


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    s = rng.choice(SURNAMES, n)
    g1 = rng.choice(GIVEN, n)
    g2 = np.where(rng.random(n) < 0.6, rng.choice(GIVEN, n), "")
    return np.char.add(np.char.add(s.astype(str), g1.astype(str)), g2.astype(str))


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = rng.choice(["138", "139", "135", "150", "186", "177", "159", "133"], n)
    body = rng.integers(0, 10**8, n)
    return np.array([f"{p}{b:08d}" for p, b in zip(prefix, body, strict=True)])


def _zipf_weights(n: int, rng: np.random.Generator, a: float = 0.9) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** a
    rng.shuffle(w)
    return w / w.sum()


def item_popularity(n_items: int) -> np.ndarray:
    """How often residents ask for each catalogue item (last year's shares): one fixed Zipf-like
    profile used by the need generators and, as the district's planning figure, by the resource
    list; independent of the seed so every run of the district sees the same popularity."""
    return _zipf_weights(n_items, np.random.default_rng(2026))


def _resource_plan(
    rng: np.random.Generator,
    items: np.ndarray,
    item_w: np.ndarray,
    item_cat: dict[str, str],
    unit_kind: np.ndarray,
    unit_comm: np.ndarray,
    community_ids: list[str],
    n_offers: int,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Which unit offers which item with how many slots a week.

    Each community asks for slots of every item in proportion to the expected share of its
    needs (``item_w``: last year's popularity), with lognormal noise; in about one community
    in eight an item gets no local offer at all (a real shortfall). The asks go to units of a
    fitting trade in that community (any fitting unit of the district when it has none), and the
    remaining offers are spread by popularity like the asks. Every unit offers at least one item.
    """
    n_units = len(unit_kind)
    fits = {
        k: np.isin([item_cat[i] for i in items], cats) for k, cats in KIND_CATEGORIES.items()
    }  # kind -> which items its trade can offer
    units_by_comm = {c: np.flatnonzero(unit_comm == c) for c in community_ids}
    offer_unit: list[int] = []
    offer_item: list[str] = []
    n_per_comm = max(1, n_offers // max(1, len(community_ids)))
    for c in community_ids:
        local = units_by_comm[c]
        shortfall = rng.random(len(items)) < 0.12
        w = item_w * np.exp(rng.normal(0, 0.35, len(items))) * ~shortfall
        asks = rng.choice(len(items), n_per_comm, p=w / w.sum())
        for it in asks:
            able = [u for u in local if fits[unit_kind[u]][it]]
            if not able:
                able = [u for u in range(n_units) if fits[unit_kind[u]][it]]
            offer_unit.append(int(rng.choice(able)))
            offer_item.append(str(items[it]))
    # units asked for nothing yet offer one item of their trade, by popularity
    for u in sorted(set(range(n_units)) - set(offer_unit)):
        w = item_w * fits[unit_kind[u]]
        offer_unit.append(u)
        offer_item.append(str(rng.choice(items, p=w / w.sum())))
    caps = rng.integers(1, 6, len(offer_unit))
    return np.array(offer_unit), offer_item, caps


def generate_district(
    out_dir: Path,
    size: float = 1.0,
    seed: int = 7,
    cycle_start: date | None = None,
    dirty_share: float = 0.02,
    duplicate_share: float = 0.05,
    households_per_grid: int | None = None,
) -> SampleSummary:
    """Write a sample district under ``out_dir`` (registry + inbox files) and summarise it."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    needs_dir = out_dir / "inbox" / "needs"
    units_dir = out_dir / "inbox" / "units"
    offers_dir = out_dir / "inbox" / "offers"
    needs_dir.mkdir(parents=True, exist_ok=True)
    units_dir.mkdir(parents=True, exist_ok=True)
    offers_dir.mkdir(parents=True, exist_ok=True)
    cycle_start = cycle_start or date(2026, 11, 16)
    taxonomy = load_taxonomy_frame()
    items = taxonomy["item_code"].to_numpy()
    item_zh = dict(zip(taxonomy["item_code"], taxonomy["item_zh"], strict=True))
    item_cat = dict(zip(taxonomy["item_code"], taxonomy["category_code"], strict=True))

    # --- hierarchy: subdistricts of 12 communities, ~12.5 grids each, laid out on a map ------
    n_sub = max(1, round(math.sqrt(size)))
    n_comm = 12 * n_sub
    subdistricts = [{"id": f"SD{s + 1:02d}", "name": f"第{s + 1}街道"} for s in range(n_sub)]
    communities, grids = [], []
    for c in range(n_comm):
        sub = c // 12
        cid = f"C{c + 1:03d}"
        words = rng.choice(COMMUNITY_WORDS, 2, replace=False)
        communities.append({"id": cid, "subdistrict_id": f"SD{sub + 1:02d}", "name": f"{''.join(words)}社区"})
        # subdistricts are 12 km apart; communities sit on a 4x3 block within
        cx = (sub % 8) * 12.0 + (c % 12 % 4) * 2.5
        cy = (sub // 8) * 12.0 + (c % 12 // 4) * 2.5
        for g in range(int(rng.integers(10, 16))):
            grids.append(
                {
                    "id": f"{cid}-G{g + 1:02d}",
                    "community_id": cid,
                    "name": f"第{g + 1}网格",
                    "x_km": round(cx + rng.uniform(0, 2.4), 3),
                    "y_km": round(cy + rng.uniform(0, 2.4), 3),
                }
            )
    grid_df = pd.DataFrame(grids)
    grid_comm = dict(zip(grid_df["id"], grid_df["community_id"], strict=True))
    comm_sub = {c["id"]: c["subdistrict_id"] for c in communities}

    # --- households: 300 per grid at district scale, fewer per grid at city scale ---------------
    per_grid = households_per_grid or (300 if size <= 1 else max(40, int(300 / math.sqrt(size))))
    n_hh = per_grid * len(grid_df)
    hh_grid = np.repeat(grid_df["id"].to_numpy(), per_grid)
    hh_idx = np.tile(np.arange(1, per_grid + 1), len(grid_df))
    hh_ids = np.char.add(np.char.add(hh_grid.astype(str), "-H"), np.char.zfill(hh_idx.astype(str), 4))
    visited_days = rng.integers(0, 400, n_hh)
    hh = pd.DataFrame(
        {
            "id": hh_ids,
            "grid_id": hh_grid,
            "address": [f"{(i - 1) // 24 + 1}栋{(i - 1) % 24 // 4 + 1}0{(i - 1) % 4 + 1}室" for i in hh_idx],
            "head_name": _names(rng, n_hh),
            "phone": _phones(rng, n_hh),
            "survey_opt_out": rng.random(n_hh) < 0.03,
            "last_visited_at": [
                (datetime.combine(cycle_start, datetime.min.time()) - timedelta(days=int(d))).isoformat()
                for d in visited_days
            ],
        }
    )
    registry = {
        "subdistricts": subdistricts,
        "communities": communities,
        "grids": grids,
        "households": hh.to_dict("records"),
    }
    (out_dir / "district.json").write_text(json.dumps(registry, ensure_ascii=False), encoding="utf-8")

    # --- units and offers --------------------------------------------------------------------
    n_units = round(800 * size)
    n_offers = round(1000 * size)
    kinds = np.array(list(UNIT_KINDS))
    kind_p = np.array([0.08, 0.06, 0.06, 0.04, 0.16, 0.12, 0.48])
    unit_kind = rng.choice(kinds, n_units, p=kind_p)
    unit_comm = rng.choice([c["id"] for c in communities], n_units)
    comm_grids = grid_df.groupby("community_id")["id"].apply(list).to_dict()
    unit_home = np.array([comm_grids[c][rng.integers(len(comm_grids[c]))] for c in unit_comm])
    home_xy = grid_df.set_index("id").loc[unit_home, ["x_km", "y_km"]].to_numpy()
    units = pd.DataFrame(
        {
            "unit_id": [f"U{i + 1:05d}" for i in range(n_units)],
            "name": [
                f"{comm}{rng.choice(UNIT_KINDS[k])}{i + 1}"
                for i, (comm, k) in enumerate(zip(unit_comm, unit_kind, strict=True))
            ],
            "kind": unit_kind,
            "community_id": unit_comm,
            "x_km": np.round(home_xy[:, 0] + rng.normal(0, 0.2, n_units), 3),
            "y_km": np.round(home_xy[:, 1] + rng.normal(0, 0.2, n_units), 3),
            "contact_phone": _phones(rng, n_units),
        }
    )
    # the resource list is built the way districts build it: units are asked to offer what last
    # year's needs asked for (the same item popularity the needs are drawn from, never the needs
    # themselves), each unit within its trade; with noise, and with real shortfalls: in some
    # communities nobody offers some items (the joint meeting's gaps)
    item_w = item_popularity(len(items))
    offer_unit, offer_item, offer_cap = _resource_plan(
        rng, items, item_w, item_cat, unit_kind, unit_comm, [c["id"] for c in communities], n_offers
    )
    offer_level = rng.choice(["grid", "community", "subdistrict"], len(offer_unit), p=[0.5, 0.42, 0.08])
    area_id = [
        unit_home[u] if lvl == "grid" else unit_comm[u] if lvl == "community" else comm_sub[unit_comm[u]]
        for u, lvl in zip(offer_unit, offer_level, strict=True)
    ]
    # a year's resource list: most offers run well past the simulated half-year, some end early
    win_start = [cycle_start - timedelta(days=int(d)) for d in rng.integers(0, 60, len(offer_unit))]
    win_end = [
        s + timedelta(days=int(d))
        for s, d in zip(
            win_start, np.where(rng.random(len(offer_unit)) < 0.9, 365, rng.integers(60, 200)), strict=True
        )
    ]
    offers = pd.DataFrame(
        {
            "offer_id": [f"R{i + 1:06d}" for i in range(len(offer_unit))],
            "unit_id": units["unit_id"].to_numpy()[offer_unit],
            "item": offer_item,
            "capacity_per_cycle": offer_cap,
            "area_level": offer_level,
            "area_id": area_id,
            "window_start": [d.isoformat() for d in win_start],
            "window_end": [d.isoformat() for d in win_end],
        }
    )
    units_zh = units.rename(columns=UNIT_HEADERS_ZH)
    units_zh["单位类型"] = units["kind"]
    units_zh.to_csv(units_dir / "units_register.csv", index=False, encoding="utf-8-sig")
    (offers_dir / "offers_platform_export.json").write_text(
        json.dumps(
            {"exported_at": f"{cycle_start}T08:00:00", "offers": offers.to_dict("records")},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )

    # --- needs ---------------------------------------------------------------------------------
    n_needs = round(300 * size)
    pick = rng.integers(0, n_hh, n_needs)
    need_item = rng.choice(items, n_needs, p=item_w)
    urgency = rng.choice([1, 2, 3], n_needs, p=[0.65, 0.27, 0.08])
    age_days = rng.integers(0, 45, n_needs)
    reported = [
        datetime.combine(cycle_start, datetime.min.time()) - timedelta(days=int(d), minutes=int(m))
        for d, m in zip(age_days, rng.integers(0, 600, n_needs), strict=True)
    ]
    has_window = rng.random(n_needs) < 0.3
    pref_start = [
        cycle_start + timedelta(days=int(d)) if w else None
        for d, w in zip(rng.integers(0, 7, n_needs), has_window, strict=True)
    ]
    pref_end = [
        s + timedelta(days=int(d)) if s else None
        for s, d in zip(pref_start, rng.integers(7, 30, n_needs), strict=True)
    ]
    needs = pd.DataFrame(
        {
            "source_ref": [f"N{seed:02d}-{i + 1:07d}" for i in range(n_needs)],
            "reported_at": [r.strftime("%Y-%m-%d %H:%M") for r in reported],
            "grid_id": hh["grid_id"].to_numpy()[pick],
            "household_id": hh["id"].to_numpy()[pick],
            "contact_name": hh["head_name"].to_numpy()[pick],
            "contact_phone": hh["phone"].to_numpy()[pick],
            "item": [item_zh[i] if rng.random() < 0.7 else i for i in need_item],
            "description": [
                f"{item_zh[i]}，请尽快安排" if u > 1 else f"希望提供{item_zh[i]}服务"
                for i, u in zip(need_item, urgency, strict=True)
            ],
            "urgency": [URGENCY_ZH[u] for u in urgency],
            "preferred_start": [d.isoformat() if d else "" for d in pref_start],
            "preferred_end": [d.isoformat() if d else "" for d in pref_end],
        }
    )
    # the mistakes real sheets have: fixable ones (full-width digits, spaces) and real errors
    n_dirty = int(n_needs * dirty_share)
    if n_dirty:
        dirty = rng.choice(n_needs, n_dirty, replace=False)
        fullwidth = str.maketrans("0123456789", "０１２３４５６７８９")
        for k, i in enumerate(dirty):
            kind = k % 5
            if kind == 0:
                needs.loc[i, "contact_phone"] = needs.loc[i, "contact_phone"].translate(fullwidth)  # fixable
            elif kind == 1:
                p = needs.loc[i, "contact_phone"]
                needs.loc[i, "contact_phone"] = f"{p[:3]} {p[3:7]} {p[7:]}"  # fixable
            elif kind == 2:
                needs.loc[i, "item"] = "修自行车"  # not in the catalogue
            elif kind == 3:
                needs.loc[i, "urgency"] = ""  # required
            else:
                needs.loc[i, "contact_phone"] = needs.loc[i, "contact_phone"][:7]  # too short
    needs["community_id"] = needs["grid_id"].map(grid_comm)
    sheet_cols = list(NEED_HEADERS_ZH)
    # most needs reach the centre on grid workers' sheets; a share through the platform
    via_platform = rng.random(n_needs) < 0.25
    for k, (cid, part) in enumerate(needs[~via_platform].groupby("community_id", sort=True)):
        sheet = part[sheet_cols].rename(columns=NEED_HEADERS_ZH)
        stem = f"needs_{cid}_{cycle_start:%Y%m%d}"
        if k % 3 == 0:
            sheet.to_csv(needs_dir / f"{stem}.csv", index=False, encoding="gb18030")
        elif k % 3 == 1:
            sheet.to_csv(needs_dir / f"{stem}.csv", index=False, encoding="utf-8-sig")
        else:
            _write_sheet_xlsx(needs_dir / f"{stem}.xlsx", sheet, f"{cid} 网格需求登记表")
    platform = needs[via_platform].copy()
    # the platform repeats some needs already on a sheet (same household, same item)
    n_dup = int(n_needs * duplicate_share)
    on_sheets = needs[~via_platform]
    if n_dup and len(on_sheets):
        dup = on_sheets.sample(min(n_dup, len(on_sheets)), random_state=seed).copy()
        dup["source_ref"] = [f"P{seed:02d}-{i + 1:07d}" for i in range(len(dup))]
        dup["description"] = "平台重复上报：" + dup["description"]
        platform = pd.concat([platform, dup])
    platform_records = platform[sheet_cols].rename(
        columns={"reported_at": "submitted_at", "item": "service_item"}
    )
    (needs_dir / f"platform_export_{cycle_start:%Y%m%d}.json").write_text(
        json.dumps(
            {"source": "platform", "records": platform_records.to_dict("records")}, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    return SampleSummary(
        out_dir, n_sub, n_comm, len(grid_df), n_hh, n_units, len(offers), n_needs, cycle_start
    )


def _write_sheet_xlsx(path: Path, sheet: pd.DataFrame, title: str) -> None:
    """A grid worker's XLSX: a merged title row above the header and two blank trailing rows."""
    from openpyxl import Workbook

    wb = Workbook(write_only=False)
    # fixed document times: the same sheet gives the same bytes (and checksum) every time
    wb.properties.created = wb.properties.modified = datetime(2026, 1, 1)
    ws = wb.active
    ws.title = "需求登记"
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(sheet.columns))
    ws.append(list(sheet.columns))
    for row in sheet.itertuples(index=False):
        ws.append(list(row))
    ws.append([None] * len(sheet.columns))
    ws.append([None] * len(sheet.columns))
    buf = io.BytesIO()
    wb.save(buf)
    # zip entries carry the time of writing: fix them so the same sheet is the same bytes
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the time of saving
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", data)
            dst.writestr(fixed, data)


@lru_cache(maxsize=2)
def _households(registry_path: str, mtime_ns: int) -> pd.DataFrame:
    """The registry's households (read once per registry version: the simulation asks daily)."""
    reg = json.loads(Path(registry_path).read_text(encoding="utf-8"))
    return pd.DataFrame(reg["households"])[["id", "grid_id", "head_name", "phone"]]


def generate_needs_export(
    registry_path: Path, out_path: Path, days: list[tuple[date, int]], seed: int
) -> int:
    """New needs reported through the platform on each day (08:00-20:00), in one export file, for
    simulating the cycle: the same item popularity as the first hand-over and the resource plan."""
    hh = _households(str(registry_path), Path(registry_path).stat().st_mtime_ns)
    items = load_taxonomy_frame()["item_code"].to_numpy()
    item_w = item_popularity(len(items))
    records = []
    for day, n in days:
        rng = np.random.default_rng([seed, day.toordinal()])
        pick = rng.integers(0, len(hh), n)
        need_item = rng.choice(items, n, p=item_w)
        urgency = [URGENCY_ZH[u] for u in rng.choice([1, 2, 3], n, p=[0.65, 0.27, 0.08])]
        records += [
            {
                "source_ref": f"D{day:%Y%m%d}-{seed:03d}-{i:05d}",
                "submitted_at": f"{day} {int(rng.integers(8, 20)):02d}:{int(rng.integers(0, 60)):02d}:00",
                "grid_id": hh["grid_id"].iat[p],
                "household_id": hh["id"].iat[p],
                "contact_name": hh["head_name"].iat[p],
                "contact_phone": hh["phone"].iat[p],
                "service_item": it,
                "description": "平台求助",
                "urgency": u,
            }
            for i, (p, it, u) in enumerate(zip(pick, need_item, urgency, strict=True))
        ]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        json.dumps({"source": "platform", "records": records}, ensure_ascii=False), encoding="utf-8"
    )
    return len(records)
