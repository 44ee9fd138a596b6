"""The declared header mapping: every accepted column name (Chinese or English) per field.

Keys are compared after NFKC normalisation, lower case and without spaces, so "联系电话",
"联系 电话" and "Contact_Phone" all find ``contact_phone``.
"""

from __future__ import annotations

import unicodedata

FIELDS: dict[str, dict[str, list[str]]] = {
    "needs": {
        "source_ref": ["需求编号", "编号", "工单号", "source_ref", "ref", "id", "answer_id", "回答编号"],
        "reported_at": [
            "登记时间",
            "上报时间",
            "提交时间",
            "reported_at",
            "submitted_at",
            "created_at",
            "时间",
        ],
        "grid_id": ["网格编号", "网格", "grid_id", "grid"],
        "household_id": ["户编号", "住户编号", "household_id", "household"],
        "contact_name": ["联系人", "姓名", "居民姓名", "contact_name", "name"],
        "contact_phone": ["联系电话", "电话", "手机", "手机号", "contact_phone", "phone", "mobile"],
        "item": ["服务事项", "需求事项", "事项", "服务项目", "service_item", "item", "item_code"],
        "description": ["需求描述", "描述", "具体需求", "description", "detail"],
        "urgency": ["紧急程度", "紧急", "urgency", "priority"],
        "preferred_start": ["期望开始日期", "期望开始", "preferred_start"],
        "preferred_end": ["期望结束日期", "期望结束", "preferred_end"],
        "source": ["来源", "渠道", "source", "channel"],
    },
    "units": {
        "unit_id": ["单位编号", "unit_id", "id"],
        "name": ["单位名称", "名称", "name"],
        "kind": ["单位类型", "类型", "kind", "type"],
        "community_id": ["所属社区", "社区编号", "community_id", "community"],
        "x_km": ["横坐标(公里)", "横坐标", "x_km", "x"],
        "y_km": ["纵坐标(公里)", "纵坐标", "y_km", "y"],
        "contact_phone": ["联系电话", "电话", "contact_phone", "phone"],
    },
    "offers": {
        "offer_id": ["资源编号", "offer_id", "id"],
        "unit_id": ["单位编号", "unit_id", "unit"],
        "item": ["服务事项", "事项", "service_item", "item", "item_code"],
        "capacity_per_cycle": ["每期服务次数", "服务次数", "名额", "capacity_per_cycle", "capacity"],
        "area_level": ["服务范围", "范围层级", "area_level", "level"],
        "area_id": ["范围编号", "服务区域编号", "area_id", "area"],
        "window_start": ["开始日期", "服务开始", "window_start", "start"],
        "window_end": ["结束日期", "服务结束", "window_end", "end"],
    },
    "survey_answers": {
        "answer_id": ["回访编号", "回答编号", "answer_id", "id"],
        "survey_id": ["问卷编号", "回访单号", "survey_id", "survey"],
        "answered_at": ["回访时间", "回答时间", "answered_at", "submitted_at", "time"],
        "done": ["是否办结", "是否完成", "done", "completed"],
        "satisfaction": ["满意度", "satisfaction", "score"],
        "comment": ["意见建议", "备注", "comment", "note"],
    },
    "responses": {
        "response_id": ["回复编号", "response_id", "id"],
        "assignment_id": ["派单编号", "assignment_id", "assignment"],
        "unit_id": ["单位编号", "unit_id", "unit"],
        "action": ["操作", "处理结果", "action", "response"],
        "responded_at": ["回复时间", "responded_at", "at", "time"],
        "reason": ["拒单原因", "原因", "reason"],
        "completed_on": ["完成日期", "completed_on"],
        "note": ["备注", "办理情况", "note"],
    },
}


def _key(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).strip().lower().split())


HEADER_ALIASES: dict[str, dict[str, str]] = {
    dataset: {_key(alias): field for field, aliases in fields.items() for alias in aliases}
    for dataset, fields in FIELDS.items()
}
