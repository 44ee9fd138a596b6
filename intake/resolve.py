"""Resolve what people write into what the store knows: grids by name, items by a close name,
households by phone or address, a stable reference for rows that carry none.

Pure: it takes the district's directory (read by the store) and a normalised sheet, and returns
the sheet with ids filled in plus, per row and column, a hint in Chinese for anything it could
not resolve with confidence (the contract then quarantines the row and the hint says what would
fix it). It never guesses between two candidates: an ambiguous value is asked about.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from data_contracts.suites import DATE_REGEX
from intake.normalize import LOCATION_COLUMNS, NO_SUCH_DAY, SCIENTIFIC

# a preferred time that sets no constraint
ANY_TIME = {
    "尽快",
    "越快越好",
    "随时",
    "都可以",
    "都行",
    "不限",
    "无",
    "没有",
    "待定",
    "均可",
    "任意",
    "无要求",
    "/",
    "-",
    "—",
}
# a description this short is compared with the item names as a whole (close variants count);
# a longer one only names an item by holding its full name
DESCRIBED_ITEM_CHARS = 8
ITEM_ACCEPT = 0.75  # similarity at or above which a written item name is taken as the item
ITEM_MARGIN = 0.1  # ... and only when the runner-up is this much further away
# words that say how or that help is wanted, not which service ("上门服务": 上门理发? 上门康复护理?):
# no item is taken for holding one of them
GENERIC_WORDS = frozenset({"上门", "帮忙", "帮助", "需要", "求助", "其他", "其它", "服务"})
# the words a resident's wish starts with, before the service ("需要助餐", "想请人上门理发")
_WANTING = re.compile(r"^(?:需要|想要|希望|申请|请求|要求|求助|请人|想请人|想|要|请)+")
_BARE_NUMBER = re.compile(r"[0-9一二三四五六七八九十百零〇两]+号?")
# an item written as "other": no item, the row's description says which (items_from_descriptions)
OTHER_ITEM = frozenset(
    {"其他", "其它", "其他服务", "其它服务", "其他需求", "其它需求", "其他类", "other", "others"}
)
# what people put between several services written in one cell ("助餐、理发", "助餐+陪诊", "助餐和理发",
# a survey export's multiple choice "助餐┋理发")
ITEM_LIST = re.compile(r"[、，,/／+＋;；&＆┋|｜]|以及|和")
# what separates a sentence's clauses: a cell holding one is not read as a list of services
_CLAUSES = re.compile(r"[,，。:：]")
ITEM_SUGGEST = 0.34  # below this no suggestion is offered

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def _cn_number(text: str) -> str:
    """Chinese numerals up to 99 as digits (第十二网格 -> 第12网格)."""

    def one(m: re.Match[str]) -> str:
        s = m.group(0)
        if "十" not in s:
            return "".join(str(_CN_DIGITS[c]) for c in s)
        tens, _, units = s.partition("十")
        return str((_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(units, 0) if units else 0))

    return re.sub(r"[零〇一二两三四五六七八九十]+", one, text)


def plain(text: object) -> str:
    return "".join(unicodedata.normalize("NFKC", str(text or "")).split())


# a flat as an address ends: building (栋, 幢, 号楼, 座, 楼, #), unit (单元), room (室, 号, or a dash)
_FLAT = re.compile(r"(?P<b>\d+)(?:栋|幢|号楼|座|楼|#|-)(?:(?P<u>\d+)(?:单元|-))?(?P<r>\d+)(?:室|号|房)?$")


def address_key(text: object) -> str:
    """An address as compared: "1栋101室", "1幢101", "1号楼101室", "一栋101" and "1-101" are one flat;
    a unit, when written, is part of it ("1栋2单元301" = "1-2-301"); the text before the flat
    (an estate's name) is compared as written."""
    t = plain(text)
    m = _FLAT.search(digits := _cn_number(t))
    if m is None:
        return t
    return digits[: m.start()] + "-".join(p for p in (m["b"], m["u"], m["r"]) if p)


def grid_key(text: object) -> str:
    """A grid name as compared: 第３网格 / 第三网格 / 3网格 / 3号网格 / 03网格 / 网格3 -> "3"; other
    names kept."""
    t = _cn_number(plain(text))
    t = re.sub(r"网格$|格$", "", t)
    t = re.sub(r"^网格(?=\d)", "", t)  # 网格3, 网格三
    t = re.sub(r"第(?=\d)", "", t)
    t = re.sub(r"(?<=\d)号", "", t)
    t = re.sub(r"(?<!\d)0+(?=\d)", "", t)  # 03网格, 第03网格
    return t.lower()


def community_key(text: object) -> str:
    t = plain(text)
    return re.sub(r"(社区|居委会|居民委员会|村委会|村)$", "", t).lower()


def subdistrict_key(text: object) -> str:
    return re.sub(r"(街道办事处|街道|镇|乡)$", "", plain(text)).lower()


def _parts(text: str) -> list[str]:
    """A cell's parts between :data:`ITEM_LIST` separators; [] when it has fewer than two."""
    parts = [p for p in (q.strip() for q in ITEM_LIST.split(text)) if p]
    return parts if len(parts) >= 2 else []


def item_key(text: object) -> str:
    t = plain(text).lower()
    return re.sub(r"(服务|需求|项目)$", "", t) or t


@dataclass(frozen=True)
class Directory:
    """What the district has registered, as the resolver needs it (read by the store)."""

    communities: pd.DataFrame  # id, name (and subdistrict_id)
    grids: pd.DataFrame  # id, community_id, name (and x_km, y_km: the grid's centre)
    items: pd.DataFrame  # code, name_zh (and subcategory_zh, category_zh: the catalogue's groups)
    households: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["id", "grid_id", "phone", "address"])
    )
    subdistricts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "name"]))
    units: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "name", "community_id"]))
    # everyday words for items (修水管 for 水管维修: ``reference/item_words.csv``), item code -> words
    item_words: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def _communities(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for cid, name in zip(self.communities["id"], self.communities["name"], strict=True):
            out[str(cid).lower()] = cid
            out[plain(name).lower()] = cid
            out[community_key(name)] = cid
        return out

    @cached_property
    def community_names(self) -> dict[str, str]:
        return dict(zip(self.communities["id"], self.communities["name"], strict=True))

    @cached_property
    def _grid_ids(self) -> dict[str, str]:
        """Grid ids as written, and without their separators (C001G03 for C001-G03) where that
        names one grid only."""
        ids = {str(g).upper(): g for g in self.grids["id"]}
        bare: dict[str, list[str]] = {}
        for key, g in ids.items():
            bare.setdefault(re.sub(r"[-_.\s]", "", key), []).append(g)
        return {**{k: v[0] for k, v in bare.items() if len(v) == 1}, **ids}

    @cached_property
    def _grid_full(self) -> dict[str, str]:
        """ "晖昌社区第3网格" / "晖昌3" / "C001第3网格" -> grid id (names unique city-wide)."""
        out: dict[str, str] = {}
        names = self.community_names
        for gid, cid, name in zip(
            self.grids["id"], self.grids["community_id"], self.grids["name"], strict=True
        ):
            g = grid_key(name)
            for c in (community_key(names.get(cid, "")), str(cid).lower()):
                out[f"{c}{g}"] = gid
                out[f"{c}社区{g}"] = gid
        return out

    @cached_property
    def _grid_local(self) -> dict[tuple[str, str], str]:
        return {
            (cid, grid_key(name)): gid
            for gid, cid, name in zip(
                self.grids["id"], self.grids["community_id"], self.grids["name"], strict=True
            )
        }

    @cached_property
    def _grid_by_name(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for gid, name in zip(self.grids["id"], self.grids["name"], strict=True):
            out.setdefault(grid_key(name), []).append(gid)
        return out

    @cached_property
    def grid_label(self) -> dict[str, str]:
        names = self.community_names
        return {
            gid: f"{names.get(cid, cid)}{name}"
            for gid, cid, name in zip(
                self.grids["id"], self.grids["community_id"], self.grids["name"], strict=True
            )
        }

    @cached_property
    def grid_community(self) -> dict[str, str]:
        return dict(zip(self.grids["id"], self.grids["community_id"], strict=True))

    @cached_property
    def _items(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for code, name in zip(self.items["code"], self.items["name_zh"], strict=True):
            out[str(code).lower()] = code
            out[plain(name).lower()] = code
            out[item_key(name)] = code
        return out

    @cached_property
    def _groups(self) -> dict[str, list[str]]:
        """The catalogue's categories and subcategories by name (养老服务, 水电维修) -> their items."""
        out: dict[str, list[str]] = {}
        for column in ("category_zh", "subcategory_zh"):
            if column not in self.items:
                continue
            for name, codes in self.items.groupby(column)["code"]:
                for key in {plain(name).lower(), item_key(name)}:
                    if key and key not in self._items:  # an item's own name is that item
                        out[key] = list(codes)
        return out

    @cached_property
    def longest_item_name(self) -> int:
        return max((len(plain(n)) for n in self.item_names.values()), default=0)

    def sentence(self, text: object) -> bool:
        """Whether ``text`` is longer than any service's name: a sentence in someone's words
        ("家里水管漏水了"), which may name a service but is more than one."""
        return (
            isinstance(text, str)
            and len(text) > self.longest_item_name
            and len(plain(text)) > self.longest_item_name
        )

    @cached_property
    def item_names(self) -> dict[str, str]:
        return dict(zip(self.items["code"], self.items["name_zh"], strict=True))

    @cached_property
    def _words(self) -> dict[str, str]:
        """Each everyday word of an item in the catalogue -> its code (a word two items claim: neither)."""
        claimed: dict[str, set[str]] = {}
        for code, words in self.item_words.items():
            if code not in self.item_names:
                continue
            for w in words:
                for key in {plain(w).lower(), item_key(w)}:
                    if key:
                        claimed.setdefault(key, set()).add(code)
        return {key: next(iter(codes)) for key, codes in claimed.items() if len(codes) == 1}

    @cached_property
    def _spelled(self) -> list[tuple[str, str]]:
        """(text, code) for every item name and everyday word of two characters or more, longest
        first: what a longer text may hold."""
        out = {(plain(n).lower(), c) for c, n in self.item_names.items()}
        out |= {(w, c) for w, c in self._words.items()}
        return sorted(((t, c) for t, c in out if len(t) >= 2), key=lambda x: -len(x[0]))

    def items_named_in(self, text: str) -> list[str]:
        """The items whose name or everyday word ``text`` holds (a word inside a longer one
        counts once: 帮忙修水管 holds 修水管, not also 水管)."""
        low, found = plain(text).lower(), set()
        for spelled, code in self._spelled:
            if spelled in low:
                found.add(code)
                low = low.replace(spelled, "\0")
        return sorted(found)

    @cached_property
    def _households_by_phone(self) -> dict[tuple[str, str], str]:
        return _unique_index(self.households, "phone")

    @cached_property
    def _households_by_address(self) -> dict[tuple[str, str], str]:
        h = self.households.assign(address=self.households["address"].map(address_key))
        return _unique_index(h, "address")

    # --- the questions the resolver asks --------------------------------------------------

    def names(self, field: str, text: object) -> bool:
        """Whether ``text`` names, as written, something registered of ``field`` (a grid —
        possibly one of several of that name —, a community, an item, its group or everyday word,
        a unit): a column under an unknown header holding such values is that field
        (``intake.ingest._adopt_by_content``). An item may also be a variant the resolver reads
        as one item (助餐 for 助餐送餐), no longer than the catalogue's longest name: a longer text
        naming an item is a description of the need, not its item."""
        if text is None or not str(text).strip():
            return False
        raw = plain(text)
        low = raw.lower()
        if field in ("community", "community_id"):
            return self.community(raw) is not None
        if field == "grid_id":
            if _BARE_NUMBER.fullmatch(raw):  # 3, 03, 三: a count as much as a grid's number
                return False
            if raw.upper() in self._grid_ids or grid_key(raw) in self._grid_full:
                return True
            named, rest = self._split_community(raw)
            key = grid_key(rest)
            return (named, key) in self._grid_local if named else key in self._grid_by_name
        if field == "item":
            key = item_key(raw)
            if any(k in m for k in (low, key) for m in (self._items, self._groups, self._words)):
                return True
            return not self.sentence(raw) and self.item(raw)[0] is not None
        if field == "unit_id":
            ids, names = self._units
            return raw.upper() in ids or low in names
        return False

    def community(self, text: object) -> str | None:
        if text is None:
            return None
        t = plain(text).lower()
        return self._communities.get(t) or self._communities.get(community_key(t))

    def community_in(self, text: str) -> str | None:
        """The one community a sheet's title or file name names (id or name), else None."""
        t = plain(text).lower()
        found = set()
        for key, cid in self._communities.items():
            if len(key) >= 2 and key in t:
                found.add(cid)
        return found.pop() if len(found) == 1 else None

    def grid_in(self, text: str) -> str | None:
        """The one grid a sheet's name, title or file name names ("第2网格", "安竹社区3号网格居民
        需求表"), in the one community it names or, failing that, by a name unique city-wide; else None."""
        community = self.community_in(text)
        found = set()
        # "第1-3网格", "1、2网格": several grids, none of them the sheet's own
        digits = "0-9０-９一二三四五六七八九十百零〇两"
        for named in re.findall(rf"(?<![{digits}\-—~～至到、,，和及与])第?[{digits}]+号?网格", plain(text)):
            gid, _ = self.grid(named, community)
            if gid:
                found.add(gid)
        if community:  # grids with names of their own ("幸福里网格") in the community's sheet
            t = plain(text).lower()
            found |= {
                g
                for (c, key), g in self._grid_local.items()
                # a numbered grid's key is its number ("11"): only the pattern above finds it, not
                # any "11" in the text (a date, "2026/11/20", in the title named 第11网格)
                if c == community and len(key) >= 2 and not key.isdigit() and key in t
            }
        return found.pop() if len(found) == 1 else None

    def grid(self, text: object, community: str | None) -> tuple[str | None, str | None]:
        """(grid id, None) when the text names one grid; (None, hint) otherwise."""
        if text is None:
            return None, None
        raw = plain(text)
        hit = self._grid_ids.get(raw.upper()) or self._grid_ids.get(re.sub(r"[-_.\s]", "", raw.upper()))
        if hit:
            return hit, None
        key = grid_key(raw)
        hit = self._grid_full.get(key)
        if hit:
            return hit, None
        named, rest = self._split_community(raw)
        if named:  # the text names its community: that one, whatever the sheet is about
            community, raw, key = named, rest, grid_key(rest)
        if community:
            hit = self._grid_local.get((community, key))
            if hit:
                return hit, None
            near = [
                self.grid_label[g]
                for g in self.grids.loc[self.grids["community_id"] == community, "id"]
                if difflib.SequenceMatcher(None, key, grid_key(self.grid_label[g])).ratio() > 0.5
            ][:3]
            where = self.community_names.get(community, community)
            return None, f"{where}没有名为“{raw}”的网格" + (
                f"，是否指：{'、'.join(near)}" if near else "；请写网格编号"
            )
        candidates = self._grid_by_name.get(key, [])
        if len(candidates) == 1:
            return candidates[0], None
        if candidates:
            shown = "、".join(self.grid_label[g] for g in candidates[:4])
            more = f"等 {len(candidates)} 个" if len(candidates) > 4 else ""
            return (
                None,
                f"“{raw}”在多个社区都有（{shown}{more}）：请写网格编号，或写明社区，如“{self.grid_label[candidates[0]]}”",
            )
        return (
            None,
            f"找不到网格“{raw}”：请写网格编号（如 {next(iter(self._grid_ids.values()), 'C001-G01')}）或“社区名+网格名”",
        )

    @cached_property
    def _community_prefixes(self) -> list[tuple[str, str]]:
        out = []
        for cid, name in zip(self.communities["id"], self.communities["name"], strict=True):
            for p in {plain(name).lower(), community_key(name), str(cid).lower()}:
                if len(p) >= 2:
                    out.append((p, cid))
        return sorted(out, key=lambda x: len(x[0]), reverse=True)

    def _split_community(self, raw: str) -> tuple[str | None, str]:
        """(community, the rest) of a grid written with its community before it ("和平社区第3网格")
        or after it in brackets ("第3网格（和平）"); (None, raw) when it names none."""
        low = raw.lower()
        for prefix, cid in self._community_prefixes:
            if low.startswith(prefix) and len(raw) > len(prefix):
                return cid, raw[len(prefix) :].lstrip("社区-_ ")
        after = re.fullmatch(r"(.+?)\s*[(（\[【](.+?)[)）\]】]", raw)
        if after and (cid := self.community(after.group(2))):
            return cid, after.group(1)
        return None, raw

    def item(self, text: object) -> tuple[str | None, str | None]:
        """(item code, None) for a code, a name, an everyday word (修水管), a text holding one
        item's name or word (帮忙修水管) or a close variant; (None, hint) otherwise. Each text is
        resolved once per directory (a city's 200 sheets write the same few hundred ways)."""
        if text is None:
            return None, None
        raw = plain(text)
        if raw not in self._item_answers:
            self._item_answers[raw] = self._item(raw)
        return self._item_answers[raw]

    @cached_property
    def _item_answers(self) -> dict[str, tuple[str | None, str | None]]:
        return {}

    def _item(self, raw: str) -> tuple[str | None, str | None]:
        hit = self._items.get(raw.lower()) or self._items.get(item_key(raw))
        if hit:
            return hit, None
        group = self._groups.get(raw.lower()) or self._groups.get(item_key(raw))
        if group and len(group) == 1:  # 就业帮扶: a group of one item
            return group[0], None
        if group:
            shown = "、".join(f"“{self.item_names[c]}”" for c in group)
            return None, f"“{raw}”是一类服务，请写具体事项：{shown}"
        listed = self._listed_items(raw)  # "助餐、理发": each part an item of its own
        if len(listed) == 1:  # "助餐/送餐": two words for one item
            return listed[0], None
        named = self.items_named_in(raw)  # 修水管, 帮忙修水管, 上门理发: one item's name or word in it
        if len(named) == 1 and not listed:
            return named[0], None
        if len(listed) > 1 or len(named) > 1:  # one need is one item: which one is not guessed
            shown = "、".join(f"“{self.item_names[c]}”" for c in (listed if len(listed) > 1 else named))
            return None, f"一格写了不止一项服务（{shown}）：请每项服务写一行"
        wanted = _WANTING.sub("", raw)  # "需要助餐", "想要理发服务": the service after the wish
        if wanted != raw and wanted:
            code, _ = self.item(wanted)
            if code:
                return code, None
        key = item_key(raw)
        names = self.item_names
        scored = []
        for code, name in names.items():
            nk = item_key(name)
            score = difflib.SequenceMatcher(None, key, nk).ratio()
            if len(key) >= 2 and key not in GENERIC_WORDS and (key in nk or nk in key):
                score = max(score, 0.8)
            scored.append((score, code))
        scored.sort(reverse=True)
        best, runner = scored[0], scored[1] if len(scored) > 1 else (0.0, None)
        if best[0] >= ITEM_ACCEPT and best[0] - runner[0] >= ITEM_MARGIN:
            return best[1], None
        # what to ask: the names, and the everyday words (a typo of a word, "心里咨询" for 心理咨询,
        # suggests its item; a word is only taken as written, never by likeness)
        like: dict[str, float] = {c: sc for sc, c in scored}
        for word, code in self._words.items():
            like[code] = max(like[code], difflib.SequenceMatcher(None, key, word).ratio())
        ranked = sorted(((sc, c) for c, sc in like.items()), reverse=True)
        top = ranked[0][0]
        close = [c for sc, c in ranked if sc >= max(ITEM_SUGGEST, top - ITEM_MARGIN)][:3]
        if not close:
            return None, "请填写服务事项目录中的名称或编码（见 reference/taxonomy.csv）"
        shown = "、".join(f"“{names[c]}”（{c}）" for c in close)
        return None, f"是否指：{shown}？请改为目录中的名称或编码"

    def items_in_cell(self, text: object) -> list[str]:
        """The services one cell lists, in the order written, when it lists several and every
        part is one ("助餐、理发", "助餐+陪诊", "修水管和换灯泡", a survey's "助餐┋理发"): a need
        each (``intake.split``). [] otherwise: one service, none, or words among which some name
        no service (asked about, as :meth:`item` says)."""
        raw = plain(text)
        if not raw or self.item(raw)[0] is not None:
            return []
        if _CLAUSES.search(raw):
            # "独居，需要助餐和陪诊" is a sentence; "助餐送餐,陪同就医" (a form's options as exported)
            # a list: with a comma, every part must be a service's own name or everyday word
            codes = [self._items.get(p.lower()) or self._words.get(p.lower()) for p in _parts(raw)]
        else:
            codes = [self.item(p)[0] for p in _parts(raw)]
        found = list(dict.fromkeys(codes))
        return found if len(found) > 1 and None not in found else []

    def _listed_items(self, text: str) -> list[str]:
        """The items of a cell that lists several services (:data:`ITEM_LIST` between them), in the
        order written, when at least two of its parts are items; else [] (a name that holds a
        separator is not split: it was found whole before)."""
        found = [c for c in (self.item(p)[0] for p in _parts(text)) if c]
        return list(dict.fromkeys(found)) if len(found) >= 2 else []

    def item_in_text(self, text: object) -> tuple[str | None, str | None]:
        """The item a need's description names clearly: (code, None) when the text is an item's
        name or a close variant (“助餐”, “理发”), or holds the full name or an everyday word of
        exactly one item (“需要助餐送餐服务”, “家里水管漏水了”); (None, hint) otherwise. A long text
        is only searched for names and words (compared as a whole with every name it would cost a
        fuzzy match per item and row)."""
        raw = plain(text)
        if not raw:
            return None, None
        if len(raw) <= DESCRIBED_ITEM_CHARS:
            return self.item(raw)
        named = self.items_named_in(raw)
        if len(named) == 1:
            return named[0], None
        if named:
            shown = "、".join(f"“{self.item_names[c]}”（{c}）" for c in named[:3])
            return None, f"写到了不止一项：{shown}"
        return None, "请填写服务事项目录中的名称或编码（见 reference/taxonomy.csv）"

    @cached_property
    def _subdistricts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for sid, name in zip(self.subdistricts["id"], self.subdistricts["name"], strict=True):
            for key in (str(sid).lower(), plain(name).lower(), subdistrict_key(name)):
                if key:
                    out[key] = sid
        return out

    def subdistrict(self, text: object) -> str | None:
        """The subdistrict an id or a name ("东湖街道", "东湖") means, else None."""
        t = plain(text).lower()
        return self._subdistricts.get(t) or self._subdistricts.get(subdistrict_key(t))

    @cached_property
    def community_subdistrict(self) -> dict[str, str]:
        if "subdistrict_id" not in self.communities:
            return {}
        return dict(zip(self.communities["id"], self.communities["subdistrict_id"], strict=True))

    @cached_property
    def community_centre(self) -> dict[str, tuple[float, float]]:
        """Each community's centre: the mean of its grids' centres (km)."""
        if "x_km" not in self.grids or not len(self.grids):
            return {}
        mean = self.grids.groupby("community_id")[["x_km", "y_km"]].mean()
        return {
            c: (round(float(x), 3), round(float(y), 3))
            for c, (x, y) in zip(mean.index, mean.to_numpy(), strict=True)
        }

    @cached_property
    def unit_community(self) -> dict[str, str]:
        return dict(zip(self.units["id"], self.units["community_id"], strict=True))

    @cached_property
    def _units(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        ids = {str(u).upper(): u for u in self.units["id"]}
        names: dict[str, list[str]] = {}
        for uid, name in zip(self.units["id"], self.units["name"], strict=True):
            names.setdefault(plain(name).lower(), []).append(uid)
        return ids, names

    def unit(self, text: object) -> tuple[str | None, str | None]:
        """(unit id, None) for a registered unit's id or its one name; (None, hint) otherwise."""
        if text is None:
            return None, None
        ids, names = self._units
        raw = plain(text)
        if raw.upper() in ids:
            return ids[raw.upper()], None
        hits = sorted(set(names.get(raw.lower(), [])))
        if len(hits) == 1:
            return hits[0], None
        if hits:
            return None, f"有 {len(hits)} 个单位都叫“{raw}”（{'、'.join(hits[:4])}）：请写单位编号"
        near = difflib.get_close_matches(raw.lower(), list(names), n=3, cutoff=0.6)
        shown = "、".join(f"“{n}”" for n in near)
        return None, f"找不到单位“{raw}”：请先提交该单位的登记信息，或写已登记单位的编号" + (
            f"（相近的有 {shown}）" if near else ""
        )

    def household(self, grid_id: str | None, phone: object, address: object) -> str | None:
        if grid_id is None:
            return None
        if phone is not None:
            hit = self._households_by_phone.get((grid_id, str(phone)))
            if hit:
                return hit
        if address is not None:
            return self._households_by_address.get((grid_id, address_key(address)))
        return None


def _unique_index(households: pd.DataFrame, column: str) -> dict[tuple[str, str], str]:
    h = households.dropna(subset=[column])
    h = h[h[column].astype(str) != ""]
    counts = h.groupby(["grid_id", column])["id"].transform("size")
    h = h[counts == 1]
    return {(g, str(v)): i for g, v, i in zip(h["grid_id"], h[column], h["id"], strict=True)}


@dataclass
class Resolved:
    """The sheet with ids resolved; ``hints[row_number][column]`` says what would fix a value."""

    rows: pd.DataFrame
    hints: dict[int, dict[str, str]]
    notes: list[str]  # file-level remarks for the operator (community taken from the title, ...)
    derived_refs: int = 0


_CONTRACT_DAY = re.compile(DATE_REGEX)  # what the contract takes as a preferred day


def resolve_needs(
    rows: pd.DataFrame,
    directory: Directory,
    *,
    source: str,
    context: str = "",
    present: list[str] | None = None,
    context_is: str = "工作表名、表头标题或文件名",
) -> Resolved:
    """Fill grid_id, item, household_id, urgency and source_ref from what a sheet wrote.

    ``context`` is the sheet's title and file name (the community a community's sheet is about),
    ``context_is`` what it is, as the notes name it; ``present`` the fields the sheet has a column for.
    """
    out = rows.copy()
    hints: dict[int, dict[str, str]] = {}
    notes: list[str] = []
    present = list(present if present is not None else out.columns)
    sheet_community = directory.community_in(context) if context else None
    row_community = (
        [directory.community(c) for c in out["community"]] if "community" in out else [None] * len(out)
    )

    def grid(text: object, rc: str | None) -> tuple[object, str | None]:
        gid, why = directory.grid(text, rc or sheet_community)
        return (gid if gid else text), why

    # a grid's own sheet (its name or title names the grid) may leave the grid out of its rows
    sheet_grid = directory.grid_in(context) if context else None
    blank = out["grid_id"].isna() & pd.Series([rc is None for rc in row_community], index=out.index)
    if sheet_grid and blank.any():
        out.loc[blank, "grid_id"] = sheet_grid
        notes.append(
            f"{int(blank.sum())} 行没有填写网格：按{context_is}中的“{directory.grid_label[sheet_grid]}”登记"
        )
    keys = list(zip(out["grid_id"], row_community, strict=True))
    out["grid_id"] = pd.Series(
        each_value(keys, out["row_number"], grid, "grid_id", hints), index=out.index, dtype=object
    )
    if sheet_community:  # say how many rows only the sheet's title or file name placed
        by_title = {
            (text, rc)
            for text, rc in set(keys)
            if rc is None
            and text is not None
            and directory.grid(text, None)[0] is None
            and directory.grid(text, sheet_community)[0] is not None
        }
        used = sum(k in by_title for k in keys)
        if used:
            notes.append(
                f"{used} 行的网格按{context_is}中的“{directory.community_names.get(sheet_community, sheet_community)}”识别"
            )

    def item(text: object) -> tuple[object, str | None]:
        code, why = directory.item(text)
        return (code if code else text), why

    written = out["item"].tolist()
    items = each_value([(t,) for t in written], out["row_number"], item, "item", hints)
    out["item"] = pd.Series(items, index=out.index, dtype=object)
    # an item cell that is a sentence ("需求": "家里水管漏水，厨房也滴水") is the resident's words
    # too: kept as the description where the row has none
    said = [
        (k, str(w).strip())
        for k, w, code in zip(out.index, written, items, strict=True)
        if directory.sentence(w) and code in directory.item_names
    ]
    if said:  # (over lists: a pandas cell read or write costs ~30 µs, on every such row)
        position = {k: i for i, k in enumerate(out.index)}
        own = out["description"].tolist() if "description" in out else [None] * len(out)
        for k, text in said:
            i = position[k]
            if own[i] is None or own[i] != own[i] or not plain(own[i]):
                own[i] = text
        out["description"] = pd.Series(own, index=out.index, dtype=object)
    if "description" in out:
        notes += items_from_descriptions(out, directory, hints)

    if "household_id" in out:
        households = []
        for hid, gid, phone, addr in zip(
            out["household_id"],
            out["grid_id"],
            out["contact_phone"],
            out.get("address", [None] * len(out)),
            strict=True,
        ):
            households.append(hid if hid is not None else directory.household(gid, phone, addr))
        out["household_id"] = pd.Series(households, index=out.index, dtype=object)

    if "contact_phone" in out:  # Excel's rounded scientific notation (normalize keeps it as written)
        for n, phone in zip(out["row_number"], out["contact_phone"], strict=True):
            if phone is not None and re.fullmatch(SCIENTIFIC, str(phone)):
                hints.setdefault(int(n), {})["contact_phone"] = (
                    f"Excel 把号码存成了科学计数法（{phone}），后几位已丢失：请在原表中把该列设为“文本”格式，"
                    "重新填写完整号码"
                )
            elif phone is not None and len(re.findall(r"\d{7,}", str(phone))) > 1:
                hints.setdefault(int(n), {})["contact_phone"] = (
                    f"一格里写了几个号码（{phone}）：请只留一个最常用的号码"
                )

    if "urgency" not in present:
        out["urgency"] = "1"
        notes.append("表中没有“紧急程度”列：全部按“一般”登记")

    # a preferred time in words ("尽快", "周末上午"): no date to match on, but not a wrong row — the
    # need loads without one, and words that say more than "any time" go into its description
    worded = 0
    for column in ("preferred_start", "preferred_end"):
        if column not in out:
            continue
        values = out[column]
        # (over the values as a list: pandas' string methods cost ~1 ms a call, on every file)
        bad = [
            k
            for k, v in zip(values.index, values.tolist(), strict=True)
            if v is not None
            and v == v
            and not _CONTRACT_DAY.fullmatch(str(v))
            and not str(v).endswith(NO_SUCH_DAY)
        ]
        for k in bad:
            words = str(values[k]).strip()
            if plain(words) not in ANY_TIME:
                desc = out.at[k, "description"]
                out.at[k, "description"] = f"{desc}（期望时间：{words}）" if desc else f"期望时间：{words}"
            out.at[k, column] = None
            worded += 1
    if worded:
        notes.append(
            f"{worded} 处期望时间写的是文字（如“尽快”“周末”），不是日期：按不限时间登记，文字记入需求描述"
        )

    missing_ref = out["source_ref"].isna()
    if missing_ref.any():
        scope = [
            sheet_community or rc or directory.grid_community.get(g or "", "")
            for rc, g in zip(row_community, out["grid_id"], strict=True)
        ]
        out.loc[missing_ref, "source_ref"] = derive_refs(
            out[missing_ref], source, [s for s, m in zip(scope, missing_ref, strict=True) if m]
        )
    return Resolved(out, hints, notes, derived_refs=int(missing_ref.sum()))


def items_from_descriptions(
    out: pd.DataFrame, directory: Directory, hints: dict[int, dict[str, str]]
) -> list[str]:
    """Rows with no item whose description names one (a grid worker's 需求内容 “助餐”, a hotline's
    来电内容 “需要上门理发”) take that item, in place, when the description names it clearly: the
    whole text is an item's name or a close variant, or holds one item's full name
    (:meth:`Directory.item_in_text`). Any other such row keeps no item and says why.
    Returns the note for the operator."""
    # "其他" written as the item says no more than a blank one: the description says which
    # (over lists: this runs on every file, and most items are resolved codes by now)
    items = out["item"].tolist()
    flags = [isinstance(v, str) and len(v) <= 8 and plain(v).lower() in OTHER_ITEM for v in items]
    described = out["description"].notna().tolist()
    wanted = [(v is None or v != v or o) and d for v, o, d in zip(items, flags, described, strict=True)]
    if not any(wanted):
        return []
    other = pd.Series(flags, index=out.index)
    blank = pd.Series(wanted, index=out.index)
    written = out["item"].copy()

    def described(text: str) -> tuple[str | None, str | None]:
        code, why = directory.item_in_text(text)
        if code:
            return code, None
        shown = text if len(text) <= 20 else f"{text[:20]}…"
        return None, (
            f"没有填写服务事项，需求描述“{shown}”也没有明确对应目录中的一项"
            f"（{why or '请填写服务事项'}）：请补填服务事项"
        )

    texts = [str(t).strip() for t in out.loc[blank, "description"]]
    codes = each_value([(t,) for t in texts], out.loc[blank, "row_number"], described, "item", hints)
    out.loc[blank, "item"] = pd.Series(codes, index=out.index[blank], dtype=object)
    for k, n, code in zip(out.index[blank], out.loc[blank, "row_number"], codes, strict=True):
        if not other[k]:
            continue
        if code:  # (the hint the written "其他" got is answered)
            hints.get(int(n), {}).pop("item", None)
        else:  # kept as written, and asked
            out.at[k, "item"] = written[k]
            hints.setdefault(int(n), {})["item"] = (
                f"服务事项写的是“{written[k]}”，需求描述也没有明确对应目录中的一项：请写目录中的具体一项"
            )
    taken = {t: c for t, c in zip(texts, codes, strict=True) if c}  # description -> item, for the note
    if not taken:
        return []
    names = directory.item_names
    examples = "、".join(f"“{t}”→“{names[c]}”" for t, c in list(taken.items())[:3])
    n = sum(c is not None for c in codes)
    said = "没有填写服务事项" if not other[blank].any() else "没有填写具体的服务事项（空着或写“其他”）"
    return [f"{n} 行{said}：按需求描述中写明的服务登记（{examples}），请核对"]


def each_value(
    keys: list[tuple],
    numbers: pd.Series,
    resolve: Callable[..., tuple[object, str | None]],
    column: str,
    hints: dict[int, dict[str, str]],
) -> list[object]:
    """``resolve(*key)`` once per distinct key (sheets repeat grids and items); a hint per row."""
    memo: dict[tuple, tuple[object, str | None]] = {}
    out = []
    for n, key in zip(numbers, keys, strict=True):
        if key not in memo:
            memo[key] = resolve(*key)
        value, why = memo[key]
        if why:
            hints.setdefault(int(n), {})[column] = why
        out.append(value)
    return out


def derive_refs(rows: pd.DataFrame, source: str, scopes: list[str]) -> list[str]:
    """A stable reference for rows that carry none: the same person asking on the same day
    through the same channel and community gets the same reference, whichever file brings it,
    so a re-sent row is recognised and a corrected one supersedes its quarantined version.
    (A correction of the person or the day itself makes a new reference: the old quarantined
    row then stays open for the operator to close.) ``scopes``: each row's community."""
    keys = []
    for r, scope in zip(rows.to_dict("records"), scopes, strict=True):
        name, phone = r.get("contact_name"), r.get("contact_phone")
        day = str(r.get("reported_at") or "")[:10]
        if name is None and phone is None:
            content = "|".join(
                f"{k}={v}" for k, v in sorted(r.items()) if k not in LOCATION_COLUMNS and v is not None
            )
            keys.append(f"{source}|{content}")
        else:
            keys.append(f"{source}|{scope}|{day}|{name or ''}|{phone or ''}")
    # the same person twice on one day in one sheet: the item tells the rows apart, then the order
    seen: dict[str, int] = {}
    items = rows["item"].tolist()
    out = []
    dup = pd.Series(keys).duplicated(keep=False).tolist()
    for key, item, is_dup in zip(keys, items, dup, strict=True):
        if is_dup:
            key = f"{key}|{item or ''}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key}|{seen[key]}"
        out.append("R" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12].upper())
    return out
