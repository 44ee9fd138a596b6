"""Record a unit's answer from the Prefect UI: a typed form instead of a file in the inbox."""

from __future__ import annotations

from datetime import date
from typing import Literal

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, State

from lifecycle.states import Action, NeedStatus
from tasks import artifacts
from tasks.loop import record_response_from_form


def _run_name() -> str:
    p = flow_run.parameters
    return f"respond-{p.get('need_id')}-{p.get('action')}"


@flow(name="record-response", flow_run_name=_run_name, log_prints=True)
def record_response(
    need_id: int,
    unit_id: str,
    action: Literal["accept", "decline", "complete", "close"],
    operator: str,
    note: str | None = None,
    completed_on: date | None = None,
) -> State:
    """登记单位回复（接单 / 拒单 / 办结）或销单，与回复文件走同一流程：不合规的操作被拒绝，原因写入隔离区。

    Args:
        need_id: 需求编号 (the need).
        unit_id: 单位编号 (the unit the need was dispatched to).
        action: accept 接单, decline 拒单 (note: the reason, required), complete 办结, close 销单.
        operator: 登记人 (who records it: the operator taking the unit's call).
        note: 备注; for a decline, the unit's reason (required).
        completed_on: 办结日期 for complete (empty: today).
    """
    out = record_response_from_form(
        need_id, unit_id, action, operator, note, completed_on, f"ui:{flow_run.id or 'local'}"
    )
    verb = Action(action).zh
    if out["applied"]:
        status = NeedStatus(out["need_status"]).zh if out["need_status"] else ""
        text = f"已登记：需求 {need_id} {verb}（单位 {unit_id}，登记人 {operator}），需求现为“{status}”。"
        artifacts.markdown(f"response-{need_id}", text, description="界面登记的单位回复")
        get_run_logger().info(text)
        return Completed(message=text, data=out)
    text = f"未登记：需求 {need_id} {verb}被拒绝：{out['reason']}。已记入隔离区，请核对后重新登记。"
    artifacts.markdown(f"response-{need_id}", text, description="界面登记的单位回复（被拒绝）")
    get_run_logger().warning(text)
    return Completed(name="Refused", message=text, data=out)
