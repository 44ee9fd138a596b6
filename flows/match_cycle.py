"""The match cycle: pair open needs with unit capacity exactly, explain, escalate, publish."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import flow, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from flows.naming import param_day, run_started
from matching.explain import REASONS
from matching.plan import CyclePlan
from matching.problem import CostModel
from matching.review import remove_pairings, removed_pairs
from matching.solver import batch_blocks
from service.publish import PublishResult
from settings import pause_point
from store.cycle import CycleLocked, cycle_id_for, period_of
from tasks import artifacts
from tasks.matching import (
    build_cycle_problem,
    cost_model_for_run,
    cost_model_table,
    cycle_lease,
    finish_cycle_plan,
    lock_cycle,
    read_cycle_inputs,
    record_review,
    release_cycle_lock,
    save_cycle_plan,
    show_draft,
    solve_block_batch,
    superseded_cycle_summary,
)
from tasks.publish import publish_cycle_list, push_cycle_list


class Removal(BaseModel):
    need_id: int = Field(title="需求编号", description="草稿服务清单中的一条派单")
    reason: str = Field(min_length=1, title="移除原因", description="例如：该单位本周人手不足")


class Review(RunInput):
    """审核服务清单草稿：批准发布，或移除部分派单后发布；取消“批准”则本期不发布。"""

    approve: bool = Field(True, title="批准发布", description="关闭则本期不发布，需求留在待派单池")
    operator: str = Field(min_length=1, title="审核人", description="审核人姓名")
    removals: list[Removal] = Field(
        default_factory=list,
        title="移除的派单",
        description="要移除的派单：需求编号与原因（该单位本期不再派此需求）",
    )


def _run_name() -> str:
    day = param_day("cycle_day")
    if flow_run.parameters.get("urgent_only"):
        return f"match-{cycle_id_for(day)}-urgent-{day.isoformat()}"
    return f"match-{cycle_id_for(day)}"


@flow(name="match-cycle", flow_run_name=_run_name, log_prints=True)
def match_cycle(
    cycle_day: date | None = None,
    publish_url: str | None = None,
    deadline_cycles: int | None = None,
    per_km: float | None = None,
    rating_weight: float | None = None,
    block_batches: int = 4,
    urgent_only: bool = False,
    approval: bool = False,
    approval_timeout_hours: float = 24.0,
) -> dict:
    """Match one weekly cycle (派单) and publish its service list.

    With ``urgent_only`` it is the day's urgent run (接诉即办): open urgent and critical needs
    are matched exactly, as the weekly run would, against the capacity the week has left; what
    is already on the list stays; the result is published as a new version of the week's list.

    Args:
        cycle_day: any day of the week to match; defaults to today.
        publish_url: optional downstream endpoint that receives the service list as JSON.
        deadline_cycles: cycles a normal need may wait unserved at one desk, while something
            in reach could serve it, before it moves up grid -> community -> subdistrict (urgent
            needs: one cycle; needs nothing in reach can serve move up at once). Empty: the
            Prefect Variable ``threelists_deadline_cycles``, else 2.
        per_km: cost per kilometre between the unit and the need's grid (empty: the Variable
            ``threelists_per_km``, else 1.0).
        rating_weight: how much a unit's satisfaction rating moves its cost (empty: the
            Variable ``threelists_rating_weight``, else 1.5).
        block_batches: batches the independent blocks are solved in (spread over the task
            runner's workers: threads here, a Dask cluster with prefect-dask).
        urgent_only: match only the open urgent needs (the day's urgent run).
        approval: stop before publishing until a person approves the draft list in the UI (the
            run pauses with a form: approve, or remove pairings with a reason); the urgent run
            never waits.
        approval_timeout_hours: with ``approval``, how long to wait; then nothing is published.
    """
    model, used = cost_model_for_run(
        {
            "per_km": per_km,
            "rating_weight": rating_weight,
            "deadline_cycles": None if deadline_cycles is None else {"1": deadline_cycles},
        }
    )
    return run_cycle(
        cycle_day or run_started().date(),
        model,
        urgent_only,
        publish_url,
        block_batches,
        used,
        approval_timeout_hours if approval and not urgent_only else None,
    )


def run_cycle(
    day: date,
    model: CostModel,
    urgent_only: bool = False,
    publish_url: str | None = None,
    block_batches: int = 4,
    knobs: list[dict] | None = None,
    approval_hours: float | None = None,
) -> dict:
    """The match cycle's tasks, in the calling flow run: the weekly run, or the day's urgent run
    (the collect flow runs it right after loading urgent needs, without a subflow)."""
    cycle_id, period = cycle_id_for(day), period_of(day)
    owner = f"flow-run:{flow_run.id or 'local'}"
    policy = model.policy
    urgent_from = policy.urgent_from if urgent_only else None
    if urgent_only and superseded_cycle_summary(cycle_id, period[0]) is not None:
        get_run_logger().info("urgent run %s: a later cycle already ran, nothing to add", cycle_id)
        return {"cycle_id": cycle_id, "needs": 0, "served": 0, "new_version": False, "urgent": True}
    try:
        lock_cycle(cycle_id, period, owner, wait=not urgent_only)
    except CycleLocked:
        if not urgent_only:
            raise
        # the week's other run holds the cycle and matches every open need, urgent ones included
        get_run_logger().info("urgent run %s: another match of the week is running; it covers them", cycle_id)
        return {"cycle_id": cycle_id, "needs": 0, "served": 0, "new_version": False, "urgent": True}
    matched, objective, approved = False, None, True
    with cycle_lease(cycle_id, owner):
        try:
            pause_point("match:after-lock")
            needs, offers, declined = read_cycle_inputs(cycle_id, urgent_from)
            if urgent_only and needs.empty:
                matched = True
                get_run_logger().info("urgent run %s: no urgent need waiting", cycle_id)
                return {"cycle_id": cycle_id, "needs": 0, "served": 0, "new_version": False, "urgent": True}
            problem, prepared = build_cycle_problem(needs, offers, declined, period, model)
            # independent blocks in a few balanced batches: parallel under a Dask (or thread) task runner
            futures = solve_block_batch.map(batch_blocks(prepared.blocks, block_batches))
            results = [r for batch in futures.result() for r in batch]
            plan = finish_cycle_plan(needs, offers, period, problem, prepared, results, model)
            if approval_hours is not None:
                plan, review = _review(cycle_id, plan, needs, approval_hours)
                if review is None:
                    approved = False
                    return {
                        "cycle_id": cycle_id,
                        "needs": len(needs),
                        "served": 0,
                        "published": False,
                        "approved": False,
                        "new_version": False,
                    }
            scope = needs["need_id"] if urgent_only else None
            actor = f"match:{cycle_id}" + (f":urgent:{day.isoformat()}" if urgent_only else "")
            saved = save_cycle_plan(cycle_id, plan, actor=actor, scope=scope, needs=needs)
            published: PublishResult = publish_cycle_list(cycle_id)
            if publish_url:
                push_cycle_list(cycle_id, publish_url)
            matched, objective = True, None if urgent_only else plan.solution.objective
        finally:
            # a plain call, not a task: it must run even when the server has stopped the run
            # (a pause that timed out)
            release_cycle_lock(cycle_id, owner, matched, objective, approved)
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
        "urgent": urgent_only,
        "cost_model": {r["knob"]: r["value"] for r in knobs or []},
    }
    kind = "urgent" if urgent_only else "summary"
    if knobs:
        artifacts.table(
            f"match-cost-model-{cycle_id.lower()}",
            cost_model_table(knobs),
            description=f"本次运行 {cycle_id} 使用的代价参数及来源（Prefect 变量 threelists_* 可在界面中修改，下次运行生效）",
        )
    artifacts.table(
        f"match-{kind}-{cycle_id.lower()}",
        [
            {"项目": "待匹配的紧急需求" if urgent_only else "待匹配需求", "数量": len(needs)},
            {"项目": "已派单", "数量": len(plan.chosen)},
            {"项目": "未派单", "数量": len(plan.unserved)},
            {"项目": "本期升级", "数量": saved.get("escalated", 0)},
            *[{"项目": f"未派单：{REASONS[k]}", "数量": v} for k, v in by_reason.items()],
        ],
        description=(f"{day} 紧急派单（接诉即办），" if urgent_only else "")
        + f"周期 {cycle_id}（{period[0]} 至 {period[1]}），服务清单 v{published.version}",
    )
    if urgent_only:
        get_run_logger().info("urgent run summary: %s", summary)
        return summary
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


def _review(
    cycle_id: str, plan: CyclePlan, needs: pd.DataFrame, hours: float
) -> tuple[CyclePlan, Review | None]:
    """Show the draft, pause for a person's decision; the plan as approved, or None (not approved)."""
    log = get_run_logger()
    show_draft(cycle_id, plan, needs, hours)
    try:
        review = pause_flow_run(
            wait_for_input=Review.with_initial_data(
                description=f"## 审核服务清单 {cycle_id}\n\n草稿：{len(plan.chosen)} 条派单，"
                f"{len(plan.unserved)} 项未能派单（见本次运行的产物）。批准后发布；可移除部分派单并注明原因。",
                approve=True,
            ),
            timeout=max(1, int(hours * 3600)),
            key=f"review-{cycle_id.lower()}",
        )
    except FlowPauseTimeout:
        text = f"服务清单 {cycle_id} 在 {hours:g} 小时内无人审核：本期未发布，需求留在待派单池。"
        artifacts.markdown(f"review-{cycle_id.lower()}", text, description="审核结果")
        log.warning(text)
        return plan, None
    if not review.approve:
        text = f"服务清单 {cycle_id} 未获批准（审核人 {review.operator}）：本期未发布，需求留在待派单池。"
        artifacts.markdown(f"review-{cycle_id.lower()}", text, description="审核结果")
        log.warning(text)
        return plan, None
    removals = [(r.need_id, r.reason) for r in review.removals]
    plan_after = remove_pairings(plan, removals, review.operator)
    record_review(cycle_id, removed_pairs(plan, removals), review.operator)
    text = f"服务清单 {cycle_id} 已由 {review.operator} 批准" + (
        f"，移除 {len(removals)} 条派单：" + "；".join(f"需求 {n}（{r}）" for n, r in removals)
        if removals
        else ""
    )
    artifacts.markdown(f"review-{cycle_id.lower()}", text, description="审核结果")
    log.info(text)
    return plan_after, review


if __name__ == "__main__":
    match_cycle()
