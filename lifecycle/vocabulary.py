"""The Chinese words operators and residents read, once: statuses, actions, levels, urgency,
reasons a need stays unserved. Code and database columns use the English keys."""

from __future__ import annotations

NEED_STATUS_ZH = {
    "open": "待派单",
    "dispatched": "已派单",
    "accepted": "已接单",
    "completed": "已办结",
    "closed": "已销单",
}
ASSIGNMENT_STATUS_ZH = {
    "dispatched": "已派单",
    "accepted": "已接单",
    "declined": "已拒单",
    "completed": "已办结",
    "released": "已超时收回",
    "closed": "已销单",
    "reopened": "回访未办好，已重新派单",
    "withdrawn": "本期重新匹配，已改派",
}
ACTION_ZH = {
    "dispatch": "派单",
    "redispatch": "改派",
    "undispatch": "撤回派单",
    "accept": "接单",
    "decline": "拒单",
    "complete": "办结",
    "close": "销单",
    "release": "超时收回",
    "reopen": "回访未办好，重新派单",
    "report": "登记需求",
    "escalate": "升级",
}
# escalation levels: which desk holds the need (网格 -> 社区 -> 街道)
LEVEL_NAMES = ("grid", "community", "subdistrict")
LEVEL_ZH = {0: "网格", 1: "社区", 2: "街道"}
# co-building units' kinds, as a register names them
UNIT_KIND_ZH = {
    "department": "机关事业单位",
    "school": "学校",
    "hospital": "医疗机构",
    "utility": "公用事业单位",
    "company": "企业",
    "social_org": "社会组织",
    "volunteers": "志愿服务队",
}
AREA_ZH = {"grid": "网格", "community": "社区", "subdistrict": "街道"}
URGENCY_ZH = {1: "一般", 2: "紧急", 3: "特急"}
# reason code -> what an operator reads, in the order the eligibility rules apply
UNSERVED_REASONS = {
    "no_offer_for_item": "全街道没有提供该服务事项的资源",
    "no_offer_in_scope": "服务范围覆盖该居民的资源中没有该事项",
    "time_window": "可提供资源的服务时间与本期或居民期望时间不符",
    "declined": "可提供资源的单位均已拒单",
    "cost_above_penalty": "可提供资源距离过远，派单代价高于暂缓代价",
    "capacity_taken": "可提供资源的名额已被更紧急或等待更久的需求占用",
    "removed_at_review": "发布前审核时移除，退回待派单池（本期不再派给该单位）",
}
ESCALATION_REASONS = {
    "nothing_in_scope": "当前层级没有能服务该需求的资源",
    "waited_past_deadline": "等待超过期限仍未派单",
    "followup_not_done": "回访反映未办好",
}
# the fields of handed-over sheets, as people read them (contract reasons, sample sheets);
# the header words each may be written with are data: reference/headers.csv
FIELD_ZH = {
    "source_ref": "需求编号",
    "reported_at": "登记时间",
    "grid_id": "网格编号",
    "household_id": "户编号",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "item": "服务事项",
    "description": "需求描述",
    "urgency": "紧急程度",
    "preferred_start": "期望开始日期",
    "preferred_end": "期望结束日期",
    "unit_id": "单位编号",
    "name": "单位名称",
    "kind": "单位类型",
    "community_id": "所属社区",
    "x_km": "横坐标(公里)",
    "y_km": "纵坐标(公里)",
    "offer_id": "资源编号",
    "capacity_per_cycle": "每期服务次数",
    "area_level": "服务范围",
    "area_id": "范围编号",
    "window_start": "开始日期",
    "window_end": "结束日期",
    "answer_id": "回访编号",
    "survey_id": "问卷编号",
    "answered_at": "回访时间",
    "done": "是否办结",
    "satisfaction": "满意度",
    "response_id": "回复编号",
    "assignment_id": "派单编号",
    "action": "操作",
    "responded_at": "回复时间",
    "completed_on": "完成日期",
    "source": "来源",
    "_extra_cells": "多余单元格",
    "_sheet": "工作表",
    "_sheet_row": "工作表中的行号",
}
# the columns of the lists threelists publishes, as people read them
LIST_HEADERS_ZH = {
    "cycle_id": "周期",
    "version": "版本",
    "assignment_id": "派单编号",
    "need_id": "需求编号",
    "unit_id": "单位编号",
    "unit_name": "服务单位",
    "offer_id": "资源编号",
    "item_code": "事项编码",
    "item_name": "服务事项",
    "community_id": "社区",
    "grid_id": "网格",
    "window_start": "服务开始",
    "window_end": "服务结束",
    "resident_name_masked": "居民（脱敏）",
    "resident_phone_masked": "电话（脱敏）",
}


def _as_listed(*keys: str) -> dict[str, str]:
    """The service list's own Chinese headers of ``keys``, for a list that shares those columns."""
    return {k: LIST_HEADERS_ZH[k] for k in keys}


# lists threelists sends out that come back filled in: their own columns, and the empty ones to
# fill in. The phone team's call list (service.followup) returns to inbox/followups as the answers,
# a unit's work orders (service.loop) to inbox/responses as its replies; intake names their own
# columns as the list's instead of asking about them (intake.mapping.RETURNED_LIST)
CALL_HEADERS_ZH = {
    **_as_listed("version", "assignment_id", "need_id", "grid_id", "item_name", "unit_name"),
    "cycle_id": "日期",
    "survey_id": "问卷编号",
    "completed_on": "办结日期",
    "resident": "居民称呼",
    "phone": "回访电话",
    "reminders": "已提醒次数",
}
CALL_FILL_IN_ZH = ("是否办结（是/否/部分）", "满意度（1-5）", "回访时间", "意见建议")
WORK_ORDER_HEADERS_ZH = {
    **_as_listed("cycle_id", "assignment_id", "unit_id", "need_id", "item_name", "grid_id"),
    "household_id": "户编号",
    "contact_name": "居民姓名",
    "contact_phone": "联系电话",
    "description": "需求描述",
}
WORK_ORDER_REPLY_ZH = ("处理结果（接单/拒单/已完成）", "完成日期", "拒单原因", "备注")
