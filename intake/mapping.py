"""The header vocabulary: which words hand-made sheets use for each canonical field.

The words live in a data file the district edits (``reference/headers.csv``: dataset, field,
label_zh, required, words separated by ``|``), not in code. Headers are compared after NFKC
normalisation, lower case, without spaces, without a trailing "*" or "(必填)"-style note, so
"联系电话", "联系 电话 *", "Contact_Phone" and a platform export's "contactPhone" all find
``contact_phone``; a survey tool's question ("1、您的姓名：") finds its field's word (姓名). A
header that matches no word is not guessed at: the reader reports it with the closest known
field as a suggestion.
"""

from __future__ import annotations

import csv
import difflib
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lifecycle.vocabulary import CALL_HEADERS_ZH, WORK_ORDER_HEADERS_ZH

HEADERS_CSV = Path(__file__).resolve().parent.parent / "reference" / "headers.csv"

_NOTE = re.compile(r"[(\[【（][^)\]】）]*[)\]】）]$")  # a trailing bracketed note: (必填) （选填）【元】
_MARKS = "*＊:：?？"
_JOINER = re.compile(r"(?<=[0-9a-z])[_\-.]+(?=[0-9a-z])")  # between two letters or digits
# a survey tool's question number (问卷星: "1、您的姓名：", "(2)联系电话", "Q3.", "第4题")
_NUMBERED = re.compile(r"^(?:\(\d{1,3}\)|(?:q|第)?\d{1,3}(?:题[、.:)]?|[、.:)]))(?=\D)")
# a column numbered as one of several of its kind: 联系电话1, 电话2, 备注(2)
_NTH = re.compile(r"(?<=\D)(?:\d|\(\d\))$")
# a question's way of asking, around the field's own word ("您的姓名", "您所在的网格", "请问您的住址")
_ASKING = re.compile(r"^(?:请问|请填写|请选择)?(?:您|你)(?:家|们)?(?:的|所在的?|现在的?|目前的?)?")


def header_key(name: object) -> str:
    """A header as compared: NFKC, no spaces, lower case, no trailing note or required mark, and
    an English name's words run together (a platform's ``contactPhone``, ``contact_phone`` and
    ``Contact-Phone`` are one key; a leading ``_``, as in a survey tool's ``_id``, stays)."""
    text = "".join(unicodedata.normalize("NFKC", str(name or "")).lower().split())
    text = _JOINER.sub("", _NUMBERED.sub("", text.strip(_MARKS)))
    bare = _NOTE.sub("", text).strip(_MARKS)
    return bare or text


def numbered_stem(header: object) -> str | None:
    """A header numbered as one of several of its kind (需求1, 需求（2）) as compared without its
    number; None for one without."""
    key = header_key(header)
    stem = _NTH.sub("", key)
    return stem if stem != key and stem else None


@dataclass(frozen=True)
class Vocabulary:
    """One dataset's fields: words -> field, the Chinese label, and which fields a sheet must have."""

    dataset: str
    words: dict[str, str]  # header key -> field
    labels: dict[str, str]  # field -> Chinese label
    required: tuple[str, ...]
    examples: dict[str, tuple[str, ...]]  # field -> the words as written in the file

    def field_of(self, header: object) -> str | None:
        key = header_key(header)
        hit = self.words.get(key)
        if hit is None and (asked := _ASKING.sub("", key)) != key:  # a survey's question
            hit = self.words.get(asked)
        if hit is None and (first := _NTH.sub("", key)) != key:  # 联系电话1, 联系电话2: the field's
            hit = self.words.get(first)  # (a second one is reported as a repeat, as any is)
        return hit

    def suggest(self, header: object) -> str | None:
        """The field whose words look most like ``header`` (for an "is this ...?" hint), or None."""
        key = header_key(header)
        if not key:
            return None
        best = difflib.get_close_matches(key, list(self.words), n=1, cutoff=0.5)
        if not best:
            # a header that contains a known word (or is contained in one), longest word first
            hits = sorted(
                (w for w in self.words if len(w) >= 2 and (w in key or key in w)), key=len, reverse=True
            )
            best = hits[:1]
        return self.words[best[0]] if best else None

    @property
    def fields(self) -> list[str]:
        return list(self.labels)


def headers_path() -> Path:
    return Path(os.environ.get("THREELISTS_HEADERS_CSV") or HEADERS_CSV)


@cache
def _load(path: Path, mtime: float) -> dict[str, Vocabulary]:
    out: dict[str, dict] = {}
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            ds = out.setdefault(row["dataset"], {"words": {}, "labels": {}, "required": [], "examples": {}})
            field = row["field"].strip()
            ds["labels"][field] = row["label_zh"].strip() or field
            if (row.get("required") or "").strip().lower() in ("yes", "y", "1", "是", "必填"):
                ds["required"].append(field)
            words = [w.strip() for w in row["words"].split("|") if w.strip()]
            ds["examples"][field] = tuple(words)
            for w in words:
                ds["words"].setdefault(header_key(w), field)  # the first field to claim a word keeps it
    return {
        name: Vocabulary(name, d["words"], d["labels"], tuple(d["required"]), d["examples"])
        for name, d in out.items()
    }


def vocabulary(dataset: str) -> Vocabulary:
    """The dataset's vocabulary, re-read when the file changes (edits apply to the next run)."""
    return _vocabularies()[dataset]


def _vocabularies() -> dict[str, Vocabulary]:
    """Every dataset's vocabulary, re-read when the file changes."""
    path = headers_path()
    return _load(path, path.stat().st_mtime)


# what each dataset is called in the messages people read
DATASET_ZH = {
    "needs": "居民需求表",
    "offers": "资源清单",
    "units": "共建单位名单",
    "responses": "派单回复表",
    "survey_answers": "回访答卷",
}


# inbox sub-folder -> (dataset, default source of the rows); intake.ingest reads the folders
INBOX_FOLDERS = {
    "units": ("units", "units_register"),
    "offers": ("offers", "platform"),
    "needs": ("needs", "grid_sheet"),
    "surveys": ("needs", "survey"),
    "followups": ("survey_answers", "followup"),
    "responses": ("responses", "unit"),
}
# the folder each list is told to go in: its first (the needs also come in surveys/)
DATASET_FOLDER = {dataset: folder for folder, (dataset, _) in reversed(INBOX_FOLDERS.items())}


def other_list(headers: list[object], dataset: str) -> str | None:
    """The other list a sheet plainly is, by its header (an offers sheet put in the needs folder):
    one that names at least three of its fields and at least two more than ``dataset``'s; else None."""
    counts = {
        name: len({vocab.field_of(h) for h in headers if str(h if h is not None else "").strip()} - {None})
        for name, vocab in _vocabularies().items()
    }
    mine = counts.pop(dataset, 0)
    best = max(counts, key=lambda name: counts[name], default=None)
    if best is None or counts[best] < 3 or counts[best] < mine + 2:
        return None
    return best


def wrong_folder(dataset: str, other: str) -> str:
    """What the operator is told of a sheet of list ``other`` sent as list ``dataset``."""
    return (
        f"这张表是{DATASET_ZH.get(other, other)}（看表头），不是{DATASET_ZH.get(dataset, dataset)}："
        f"请把它放到收件箱的 {DATASET_FOLDER.get(other, other)}/ 文件夹后重新提交"
    )


# a resident's or a contact's personal details no list needs (the minimum is a name and a phone):
# never imported, whatever the sheet, and said so (not "map it in headers.csv")
PERSONAL_NOT_KEPT = frozenset(
    header_key(w)
    for w in (
        *("身份证号", "身份证", "身份证号码", "证件号", "证件号码", "公民身份号码", "证件类型"),
        *("性别", "年龄", "出生日期", "出生年月", "生日", "民族", "籍贯", "政治面貌", "婚姻状况"),
        *("户籍", "户籍地", "户籍地址", "银行卡号", "银行账号", "社保卡号", "医保卡号", "收入", "月收入"),
        *("病史", "既往病史", "健康状况", "残疾证号", "残疾类别", "低保证号"),
        # as a platform's export names them (idCard, id_number, gender, birthDate …)
        *("id_card", "id_card_no", "id_no", "id_number", "identity_card", "identity_no", "cert_no"),
        *("certificate_no", "gender", "sex", "age", "birthday", "birth_date", "date_of_birth"),
        *("ethnicity", "native_place", "marital_status", "political_status", "bank_card", "bank_account"),
        *("social_security_no", "medical_insurance_no", "income", "medical_history", "health_status"),
        *("disability_no", "disability_type"),
    )
)


# the lists threelists sends out, sent back filled in: a dataset's file may be one of them, and
# the list's own columns are then named as the list's, not imported (lifecycle.vocabulary)
RETURNED_LIST = {
    "responses": ("派单清单", frozenset(map(header_key, WORK_ORDER_HEADERS_ZH.values()))),
    "survey_answers": ("回访电话清单", frozenset(map(header_key, CALL_HEADERS_ZH.values()))),
}


def returned_list_column(dataset: str, header: object) -> str | None:
    """The name of the list threelists sent out that ``header`` is a column of, when a ``dataset``
    file is that list sent back filled in (its own columns are not imported), else None."""
    name, words = RETURNED_LIST.get(dataset, ("", frozenset()))
    return name if header_key(header) in words else None


# who filled a sheet in or visits the household (网格员 张三): the centre's own staff, not the list's
STAFF_NOT_KEPT = frozenset(
    header_key(w)
    for w in (
        *("网格员", "网格员姓名", "网格长", "专职网格员", "包片网格员", "联系网格员", "包户干部", "包联干部"),
        *("填表人", "填报人", "登记人", "录入人", "经办人", "走访人", "走访人员", "采集人", "社工"),
        *("grid_worker", "recorder", "registrar", "operator", "created_by", "creator"),
    )
)


def staff_not_kept(header: object) -> bool:
    """Whether ``header`` names the staff who made the row (网格员, 填表人): understood, not kept."""
    return header_key(header) in STAFF_NOT_KEPT


def personal_not_kept(header: object) -> bool:
    """Whether ``header`` is a personal detail threelists never imports (ID number, age, ...)."""
    return header_key(header) in PERSONAL_NOT_KEPT


def kept_elsewhere(dataset: str, header: object) -> bool:
    """Whether ``header`` is a word of another dataset's field that ``dataset`` has no field for
    (a units register's 联系人, a needs sheet's 拒单原因): the column is understood, it just is not
    kept here, and the closest of this dataset's fields (联系电话) would be a wrong suggestion."""
    every = _vocabularies()
    mine, key = every[dataset], header_key(header)
    return any(
        (field := vocab.words.get(key)) is not None and field not in mine.labels
        for name, vocab in every.items()
        if name != dataset
    )


def field_label(dataset: str, field: str) -> str:
    return vocabulary(dataset).labels.get(field, field)
