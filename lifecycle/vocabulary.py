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
}
ESCALATION_REASONS = {
    "nothing_in_scope": "当前层级没有能服务该需求的资源",
    "waited_past_deadline": "等待超过期限仍未派单",
    "followup_not_done": "回访反映未办好",
}
