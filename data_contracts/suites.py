"""One great-expectations suite per dataset, built in code from the district's reference data.

Each expectation carries ``meta.reason``: what an operator reads when a row breaks it
(Chinese), and ``meta.rule``: a stable code for machines. Allowed values (taxonomy items,
grid ids, units) come from the store, so the contract follows the district's own catalogue.
"""

from __future__ import annotations

import great_expectations as gx
from great_expectations import expectations as gxe

from lifecycle.vocabulary import FIELD_ZH, UNIT_KIND_ZH
from store.reference import Reference  # what the store knows (re-exported for the suites)

_PHONE = r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}"  # a mobile, or a landline with its area code
PHONE_REGEX = rf"^(?:{_PHONE})$"
# a unit may also give its service line: 95598, 12345, 96119, 400/800 numbers
UNIT_PHONE_REGEX = rf"^(?:{_PHONE}|[48]00\d{{7}}|9[56]\d{{3,4}}|12\d{{3}})$"
DATE_REGEX = r"^\d{4}-\d{2}-\d{2}$"
DATETIME_REGEX = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
INT_REGEX = r"^\d+$"
NUMBER_REGEX = r"^-?\d+(?:\.\d+)?$"
ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
UNIT_KINDS = list(UNIT_KIND_ZH)


def _meta(rule: str, reason: str) -> dict[str, str]:
    return {"rule": rule, "reason": reason}


def required(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column, meta=_meta("required", f"缺少必填项“{FIELD_ZH.get(column, column)}”")
    )


UNIQUE_IN_FILE = {
    "needs": ("source_ref",),
    "units": ("unit_id",),
    "offers": ("offer_id",),
    "survey_answers": ("answer_id",),
    "responses": ("response_id",),
}


def in_file(column: str) -> str:
    """The derived column holding (file, value): unique per file when a batch holds many files."""
    return f"{column}__in_file"


def unique(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeUnique(
        column=in_file(column),
        meta={**_meta("unique", f"“{FIELD_ZH.get(column, column)}”在本文件中重复"), "column": column},
    )


# the longest value the store keeps per field (store/models.py; tests/service/test_contract.py
# holds the two together): a longer one is asked about, never cut and never a failed load
MAX_LENGTH = {
    "needs": {"source_ref": 100, "source": 32, "contact_name": 50, "contact_phone": 20, "household_id": 32},
    "units": {"unit_id": 32, "name": 200, "contact_phone": 20},
    "offers": {"offer_id": 32, "unit_id": 32},
    "survey_answers": {"answer_id": 100},
    "responses": {"response_id": 100, "unit_id": 32},
}


def intake_suite(dataset: str) -> gx.ExpectationSuite:
    """A new suite for an intake dataset, holding what every one checks: no value longer than the
    store keeps."""
    suite = gx.ExpectationSuite(name=dataset)
    for column, n in MAX_LENGTH[dataset].items():
        suite.add_expectation(
            gxe.ExpectColumnValueLengthsToBeBetween(
                column=column,
                max_value=n,
                meta=_meta("length", f"“{FIELD_ZH.get(column, column)}”太长：最多 {n} 个字"),
            )
        )
    return suite


def matches(column: str, regex: str, what: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=regex, meta=_meta("format", f"“{FIELD_ZH.get(column, column)}”格式不对：{what}")
    )


def in_set(column: str, values: frozenset[str] | list[str], what: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=sorted(values),
        meta=_meta("allowed", f"“{FIELD_ZH.get(column, column)}”{what}"),
    )


def ordered(later: str, earlier: str) -> gxe.Expectation:
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=later,
        column_B=earlier,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        meta=_meta("order", f"“{FIELD_ZH[later]}”早于“{FIELD_ZH[earlier]}”"),
    )


def known(flag: str, column: str, reason: str) -> gxe.Expectation:
    """Membership in a large registry (households, units), checked on a flag computed beforehand:
    a value set of every household in each expectation would bloat every run's results."""
    return gxe.ExpectColumnValuesToBeInSet(
        column=flag, value_set=[True], meta={**_meta("allowed", reason), "column": column}
    )


def no_extra_cells() -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeNull(
        column="_extra_cells", meta=_meta("extra_cells", "该行在表头以外的列还有内容（可能错列或多填）")
    )


def needs_suite(ref: Reference) -> gx.ExpectationSuite:
    suite = intake_suite("needs")
    for col in ("source_ref", "reported_at", "grid_id", "item", "urgency"):
        suite.add_expectation(required(col))
    for e in (
        unique("source_ref"),
        matches("source_ref", ID_REGEX, "只能含字母、数字和 - _ . :"),
        matches("reported_at", DATETIME_REGEX, "应为日期时间，如 2026-11-16 09:30"),
        in_set("grid_id", ref.grids, "不是本街道已登记的网格"),
        known("household_known", "household_id", "“户编号”不是已登记的住户"),
        matches("contact_phone", PHONE_REGEX, "应为11位手机号或带区号的座机号"),
        in_set("item", ref.items, "不在服务事项目录中（可填事项编码或中文名称）"),
        in_set("urgency", ["1", "2", "3"], "应为“一般”“紧急”或“特急”"),
        matches("preferred_start", DATE_REGEX, "应为日期，如 2026-11-20"),
        matches("preferred_end", DATE_REGEX, "应为日期，如 2026-11-30"),
        ordered("preferred_end", "preferred_start"),
        no_extra_cells(),
    ):
        suite.add_expectation(e)
    return suite


def units_suite(ref: Reference) -> gx.ExpectationSuite:
    suite = intake_suite("units")
    for col in ("unit_id", "name", "kind", "x_km", "y_km"):
        suite.add_expectation(required(col))
    for e in (
        unique("unit_id"),
        matches("unit_id", ID_REGEX, "只能含字母、数字和 - _ . :"),
        in_set("kind", UNIT_KINDS, "应为 " + "、".join(UNIT_KIND_ZH[k] for k in UNIT_KINDS) + " 之一"),
        in_set("community_id", ref.communities, "不是本街道已登记的社区"),
        matches("x_km", NUMBER_REGEX, "应为数字（公里）"),
        matches("y_km", NUMBER_REGEX, "应为数字（公里）"),
        matches(
            "contact_phone",
            UNIT_PHONE_REGEX,
            "应为手机号、带区号的座机号或服务热线（如 95598、400 开头的号码）",
        ),
        no_extra_cells(),
    ):
        suite.add_expectation(e)
    return suite


def offers_suite(ref: Reference) -> gx.ExpectationSuite:
    suite = intake_suite("offers")
    for col in (
        "offer_id",
        "unit_id",
        "item",
        "capacity_per_cycle",
        "area_level",
        "area_id",
        "window_start",
        "window_end",
    ):
        suite.add_expectation(required(col))
    for e in (
        unique("offer_id"),
        matches("offer_id", ID_REGEX, "只能含字母、数字和 - _ . :"),
        known("unit_known", "unit_id", "“单位编号”不是已登记的共建单位（请先提交单位信息）"),
        in_set("item", ref.items, "不在服务事项目录中（可填事项编码或中文名称）"),
        matches("capacity_per_cycle", INT_REGEX, "应为正整数"),
        gxe.ExpectColumnValuesToBeBetween(
            column="capacity_num",
            min_value=1,
            max_value=10_000,
            meta={**_meta("range", "“每期服务次数”应大于 0"), "column": "capacity_per_cycle"},
        ),
        in_set("area_level", ["grid", "community", "subdistrict"], "应为“网格”“社区”或“街道”"),
        gxe.ExpectColumnValuesToBeInSet(
            column="area_ref",
            value_set=sorted(ref.area_refs),
            meta={
                **_meta("allowed", "“范围编号”与服务范围层级不符，或不是已登记的网格/社区/街道"),
                "column": "area_id",
            },
        ),
        matches("window_start", DATE_REGEX, "应为日期，如 2026-11-16"),
        matches("window_end", DATE_REGEX, "应为日期，如 2027-03-31"),
        ordered("window_end", "window_start"),
        no_extra_cells(),
    ):
        suite.add_expectation(e)
    return suite


def survey_answers_suite(ref: Reference) -> gx.ExpectationSuite:
    suite = intake_suite("survey_answers")
    for col in ("answer_id", "survey_id", "answered_at", "done"):
        suite.add_expectation(required(col))
    for e in (
        unique("answer_id"),
        in_set("survey_id", ref.surveys, "不是已发出的回访问卷"),
        matches("answered_at", DATETIME_REGEX, "应为日期时间，如 2026-12-20 10:00"),
        in_set("done", ["yes", "no", "partly"], "应为“是”“否”或“部分”"),
        in_set("satisfaction", ["1", "2", "3", "4", "5"], "应为 1-5 的整数"),
        no_extra_cells(),
    ):
        suite.add_expectation(e)
    return suite


def responses_suite(ref: Reference) -> gx.ExpectationSuite:
    suite = intake_suite("responses")
    for col in ("response_id", "assignment_id", "unit_id", "action"):
        suite.add_expectation(required(col))
    for e in (
        unique("response_id"),
        matches("assignment_id", INT_REGEX, "应为派单编号（整数）"),
        known("unit_known", "unit_id", "“单位编号”不是已登记的共建单位"),
        in_set("action", ["accept", "decline", "complete"], "应为“接单”“拒单”或“办结”"),
        matches("responded_at", DATETIME_REGEX, "应为日期时间，如 2026-11-18 09:00"),
        matches("completed_on", DATE_REGEX, "应为日期，如 2026-11-20"),
        no_extra_cells(),
    ):
        suite.add_expectation(e)
    return suite


SERVICE_LIST_COLUMNS = [
    "cycle_id",
    "version",
    "assignment_id",
    "need_id",
    "unit_id",
    "unit_name",
    "offer_id",
    "item_code",
    "item_name",
    "community_id",
    "grid_id",
    "window_start",
    "window_end",
    "resident_name_masked",
    "resident_phone_masked",
]


def service_list_suite(ref: Reference) -> gx.ExpectationSuite:
    """What every published service list row guarantees its consumers (checked before publishing)."""
    suite = gx.ExpectationSuite(name="service_list")
    suite.add_expectation(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*SERVICE_LIST_COLUMNS, "row_number"],
            exact_match=True,
            meta=_meta("columns", "服务清单的列与约定不符"),
        )
    )
    for col in (
        "cycle_id",
        "assignment_id",
        "need_id",
        "unit_id",
        "offer_id",
        "item_code",
        "grid_id",
        "resident_name_masked",
    ):
        suite.add_expectation(
            gxe.ExpectColumnValuesToNotBeNull(column=col, meta=_meta("required", f"服务清单缺少“{col}”"))
        )
    for e in (
        gxe.ExpectColumnValuesToBeUnique(
            column="need_id", meta=_meta("unique", "同一需求在服务清单中出现多次")
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="resident_phone_masked",
            regex=r"^(?:\d{3}\*{4}\d{4})?$",
            meta=_meta("pii", "居民电话未按 138****5678 脱敏"),
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="resident_name_masked", regex=r"^[^*]\*+$", meta=_meta("pii", "居民姓名未脱敏（只保留姓）")
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="window_end",
            column_B="window_start",
            or_equal=True,
            meta=_meta("order", "服务时间结束早于开始"),
        ),
    ):
        suite.add_expectation(e)
    return suite


SUITES = {
    "needs": needs_suite,
    "units": units_suite,
    "offers": offers_suite,
    "survey_answers": survey_answers_suite,
    "responses": responses_suite,
    "service_list": service_list_suite,
}
