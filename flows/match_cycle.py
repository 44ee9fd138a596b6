"""The match cycle: pair open needs with unit capacity exactly, explain, escalate, publish."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.naming import param_day
from matching.explain import REASONS
from matching.problem import CostModel
from matching.solver import batch_blocks
from service.publish import PublishResult
from store.cycle import cycle_id_for, period_of
from tasks import artifacts
from tasks.matching import (
    build_cycle_problem,
    finish_cycle_plan,
    lock_cycle,
    read_cycle_inputs,
    save_cycle_plan,
    solve_block_batch,
    unlock_cycle,
)
from tasks.publish import publish_cycle_list, push_cycle_list


def _run_name() -> str:
    return f"match-{cycle_id_for(param_day('cycle_day'))}"


@flow(name="match-cycle", flow_run_name=_run_name, log_prints=True)
def match_cycle(
    cycle_day: date | None = None,
    publish_url: str | None = None,
    escalate_after_cycles: int = 1,
    per_km: float = 1.0,
    rating_weight: float = 1.5,
    block_batches: int = 4,
) -> dict:
    """Match one weekly cycle (派单) and publish its service list.

    Args:
        cycle_day: any day of the week to match; defaults to today.
        publish_url: optional downstream endpoint that receives the service list as JSON.
        escalate_after_cycles: cycles a need may stay unserved before it escalates
            grid -> community -> subdistrict.
        per_km: cost per kilometre between the unit and the need's grid.
        rating_weight: how much a unit's satisfaction rating moves its cost.
        block_batches: batches the independent blocks are solved in (spread over the task
            runner's workers: threads here, a Dask cluster with prefect-dask).
    """
    day = cycle_day or date.today()
    cycle_id, period = cycle_id_for(day), period_of(day)
    owner = f"flow-run:{flow_run.id or 'local'}"
    model = CostModel(per_km=per_km, rating_weight=rating_weight, escalate_after_cycles=escalate_after_cycles)
    lock_cycle(cycle_id, period, owner)
    status, objective = "failed", None
    try:
        needs, offers, declined = read_cycle_inputs(cycle_id)
        problem, prepared = build_cycle_problem(needs, offers, declined, period, model)
        # independent blocks in a few balanced batches: parallel under a Dask (or thread) task runner
        futures = solve_block_batch.map(batch_blocks(prepared.blocks, block_batches))
        results = [r for batch in futures.result() for r in batch]
        plan = finish_cycle_plan(needs, offers, period, problem, prepared, results, model)
        saved = save_cycle_plan(cycle_id, plan, actor=f"match:{cycle_id}")
        published: PublishResult = publish_cycle_list(cycle_id)
        if publish_url:
            push_cycle_list(cycle_id, publish_url)
        status, objective = "matched", plan.solution.objective
    finally:
        unlock_cycle(cycle_id, owner, status, objective)
    by_reason = plan.unserved.groupby("reason").size().to_dict() if len(plan.unserved) else {}
    summary = {
        "cycle_id": cycle_id,
        "needs": len(needs),
        "served": len(plan.chosen),
        "unserved": len(plan.unserved),
        "unserved_by_reason": by_reason,
        "escalated": saved.get("escalated", 0),
        "objective": round(plan.solution.objective, 2),
        "version": published.version,
        "new_version": published.created,
        "service_list": str(published.path),
    }
    artifacts.table(
        f"match-summary-{cycle_id.lower()}",
        [
            {"项目": "待匹配需求", "数量": len(needs)},
            {"项目": "已派单", "数量": len(plan.chosen)},
            {"项目": "未派单", "数量": len(plan.unserved)},
            {"项目": "本期升级", "数量": saved.get("escalated", 0)},
            *[{"项目": f"未派单：{REASONS[k]}", "数量": v} for k, v in by_reason.items()],
        ],
        description=f"周期 {cycle_id}（{period[0]} 至 {period[1]}），服务清单 v{published.version}",
    )
    artifacts.table(
        f"fairness-{cycle_id.lower()}",
        plan.fairness[plan.fairness["level"] == "community"]
        .rename(
            columns={
                "area_id": "社区",
                "needs": "需求",
                "served": "派单",
                "share_served": "派单率",
                "avg_wait_days": "平均等待天数",
                "avg_wait_days_unserved": "未派单平均等待天数",
            }
        )
        .drop(columns="level"),
        description="各社区派单率与等待时间（公平性）",
    )
    get_run_logger().info("cycle summary: %s", summary)
    return summary


if __name__ == "__main__":
    match_cycle()
