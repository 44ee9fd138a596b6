"""Match-cycle tasks: lock, read the pool, solve, save. Each opens its own short transaction."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

import pandas as pd
from prefect import get_run_logger, task
from sqlalchemy.exc import OperationalError

from lifecycle.states import CAPACITY_USED, LISTED, CycleStatus
from matching.knobs import PREFIX, tuned_model, variable_names
from matching.plan import CyclePlan, finish_plan, prepare_plan
from matching.problem import CostModel, Problem
from matching.solver import Block, Prepared, solve_blocks
from service import cycle as service_cycle
from settings import get_settings, pause_point
from store import cycle as store_cycle
from store.db import session_factory
from tasks import artifacts
from tasks.events import announce


def _sessions():
    return session_factory(get_settings().database_url)


def lease_seconds() -> float:
    """How long a match run's lock lasts without renewal (THREELISTS_LOCK_LEASE_SECONDS, 300)."""
    return float(os.environ.get("THREELISTS_LOCK_LEASE_SECONDS", "300"))


def flow_run_gone(holder: str) -> str | None:
    """Why the lock's holder is gone, when Prefect says its flow run ended (crashed, failed,
    cancelled, or completed without releasing); None while it runs or when Prefect cannot tell."""
    if not holder.startswith("flow-run:"):
        return None
    try:
        run_id = UUID(holder.removeprefix("flow-run:"))
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run_id)
    except Exception:  # unknown id, another server, unreachable API: the lease decides
        return None
    state = run.state
    if state is not None and state.is_final():
        return f"Prefect 报告持有锁的运行 {run.name} 已结束（{state.name}）"
    return None


def lock_wait_seconds() -> float:
    """How long a match run queues behind another run of its week (THREELISTS_LOCK_WAIT_SECONDS;
    default: two leases, time for a live run to finish or a dead one's lease to lapse)."""
    return float(os.environ.get("THREELISTS_LOCK_WAIT_SECONDS", str(2 * lease_seconds())))


@task(retries=2, retry_delay_seconds=3)
def lock_cycle(cycle_id: str, period: tuple[date, date], owner: str, wait: bool = True) -> None:
    """Take the cycle's lock. A live match of the same week holding it: queue behind it (``wait``)
    for up to ``lock_wait_seconds()``, then fail clearly; without ``wait``, raise CycleLocked at once.
    A lock whose holder is gone (Prefect says it ended, or its lease lapsed) is taken over and logged."""
    log = get_run_logger()
    deadline = time.monotonic() + (lock_wait_seconds() if wait else 0.0)
    while True:
        try:
            with _sessions()() as session, session.begin():
                cycle = service_cycle.lock(session, cycle_id, period, owner, lease_seconds(), flow_run_gone)
                note = cycle.takeover_note if cycle.takeover_note and owner in cycle.takeover_note else None
            break
        except store_cycle.CycleLocked as locked:
            if time.monotonic() >= deadline:
                raise
            log.info("waiting for the week's other match run: %s", locked)
            time.sleep(min(5.0, max(0.5, lease_seconds() / 3)))
    if note:
        log.warning("lock takeover: %s", note)


@contextmanager
def cycle_lease(cycle_id: str, owner: str) -> Iterator[None]:
    """Renew the lock's lease from a background thread while the match runs (every third of it)."""
    stop = threading.Event()
    every = max(1.0, lease_seconds() / 3)

    def renew() -> None:
        while not stop.wait(every):
            try:
                with _sessions()() as session, session.begin():
                    if not store_cycle.renew_cycle_lock(session, cycle_id, owner):
                        return
            except OperationalError as e:  # e.g. SQLite busy while this run writes: try again
                logging.getLogger(__name__).warning("lease of %s not renewed this time: %s", cycle_id, e)

    thread = threading.Thread(target=renew, name=f"lease-{cycle_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def release_cycle_lock(
    cycle_id: str, owner: str, matched: bool, objective: float | None = None, approved: bool = True
) -> None:
    """Release the week's lock: matched, failed, or its draft not approved."""
    with _sessions()() as session, session.begin():
        status = None if approved else CycleStatus.UNAPPROVED
        service_cycle.unlock(session, cycle_id, owner, matched, objective, status)


@task
def show_draft(cycle_id: str, plan: CyclePlan, needs: pd.DataFrame, timeout_hours: float) -> None:
    """What a reviewer sees before approving: the draft list, the unserved with reasons, the gaps."""
    items = dict(zip(needs["need_id"], needs["item_code"], strict=True))
    grids = dict(zip(needs["need_id"], needs["grid_id"], strict=True))
    draft = pd.DataFrame(
        {
            "需求编号": plan.chosen["need_id"],
            "网格": plan.chosen["need_id"].map(grids),
            "服务事项": plan.chosen["need_id"].map(items),
            "服务单位": plan.chosen["unit_id"],
            "距离(公里)": plan.chosen["distance_km"].round(2),
            "代价": plan.chosen["cost"].round(2),
        }
    )
    artifacts.table(
        f"draft-service-list-{cycle_id.lower()}",
        draft,
        description=f"待审核的服务清单草稿 {cycle_id}：{len(draft)} 条派单。批准前不会发布；"
        f"{timeout_hours:g} 小时内无人批准则本期不发布。",
    )
    unserved = plan.unserved.assign(服务事项=plan.unserved["need_id"].map(items))
    artifacts.table(
        f"draft-unserved-{cycle_id.lower()}",
        unserved.rename(columns={"need_id": "需求编号", "detail": "原因"})[["需求编号", "服务事项", "原因"]],
        description=f"草稿中未能派单的需求 {len(unserved)} 项及原因",
    )
    gaps = (
        unserved.assign(
            社区=unserved["need_id"].map(dict(zip(needs["need_id"], needs["community_id"], strict=True)))
        )
        .groupby(["社区", "服务事项"])
        .size()
        .rename("未能派单")
        .reset_index()
        .sort_values("未能派单", ascending=False)
    )
    artifacts.table(f"draft-gaps-{cycle_id.lower()}", gaps, description="草稿中的资源缺口（社区 × 服务事项）")


@task
def record_review(cycle_id: str, pairs: list[tuple[int, str, str]], operator: str) -> None:
    with _sessions()() as session, session.begin():
        service_cycle.record_removals(session, cycle_id, pairs, operator)


@task(retries=2, retry_delay_seconds=3)
def read_cycle_inputs(
    cycle_id: str, urgent_from: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Open needs (plus this cycle's unanswered dispatches), active offers net of taken work, declines.

    With ``urgent_from`` (the day's urgent run): open needs of that urgency and up only, against
    the capacity the week has left after everything already on its list.
    """
    with _sessions()() as session:
        needs = service_cycle.read_pool(session, cycle_id, urgent_from)
        held = tuple(LISTED) if urgent_from is not None else tuple(CAPACITY_USED)
        offers = service_cycle.read_offers(session, cycle_id, held)
        declined = service_cycle.read_declined(session, cycle_id)
    get_run_logger().info(
        "pool: %d needs, %d offers (capacity %d), %d declined pairs",
        len(needs),
        len(offers),
        int(offers["capacity"].sum()) if len(offers) else 0,
        len(declined),
    )
    return needs, offers, declined


@task
def build_cycle_problem(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    declined: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel,
) -> tuple[Problem, Prepared]:
    """Eligible pairs and costs, split into independent blocks."""
    problem, prepared = prepare_plan(needs, offers, declined, period, model)
    get_run_logger().info("problem: %s", prepared.stats)
    return problem, prepared


@task
def solve_block_batch(blocks: list[Block]) -> list:
    """Solve a batch of independent blocks exactly (runs wherever the task runner puts it)."""
    results = solve_blocks(blocks)
    pause_point("match:mid-solve")
    return results


@task
def finish_cycle_plan(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    period: tuple[date, date],
    problem: Problem,
    prepared: Prepared,
    results: list,
    model: CostModel,
) -> CyclePlan:
    plan = finish_plan(needs, offers, period, problem, prepared, results, model)
    get_run_logger().info(
        "solved exactly: %d served, %d unserved, objective %.2f",
        len(plan.chosen),
        len(plan.unserved),
        plan.solution.objective,
    )
    return plan


@task(retries=2, retry_delay_seconds=3)
def save_cycle_plan(
    cycle_id: str,
    plan: CyclePlan,
    actor: str,
    scope: pd.Series | None = None,
    needs: pd.DataFrame | None = None,
) -> dict[str, int]:
    """Write assignments (only the differences) and the unserved with their reasons, in one
    transaction; then announce each need's change as a Prefect event.

    ``scope``: the needs this run matched (the urgent run's); None for the whole cycle.
    """
    with _sessions()() as session, session.begin():
        counts, changes = service_cycle.save_plan(
            session, cycle_id, plan.chosen, plan.unserved, plan.escalation, actor, scope, needs
        )
    counts["events"] = announce(changes)
    get_run_logger().info("saved: %s", counts)
    return counts


@task
def count_waiting_urgent(urgent_from: int) -> int:
    """Open urgent needs: whether an urgent run has anything to do."""
    with _sessions()() as session:
        return service_cycle.count_waiting_urgent(session, urgent_from)


@task
def superseded_cycle_summary(cycle_id: str, period_start: date) -> dict | None:
    """The stored summary of a cycle a later one has superseded; None while it can still be matched."""
    with _sessions()() as session:
        if store_cycle.later_cycle(session, period_start) is None:
            return None
        return store_cycle.cycle_summary(session, cycle_id)


@task
def cycle_summary_task(cycle_id: str) -> dict | None:
    """The stored summary of a cycle (None when it never ran)."""
    with _sessions()() as session:
        return store_cycle.cycle_summary(session, cycle_id)


@task
def cost_model_for_run(parameters: dict[str, Any] | None = None) -> tuple[CostModel, list[dict[str, Any]]]:
    """The cost model this run uses: the code's defaults, the Prefect Variables an operator set
    (``threelists_per_km`` ...), the run's own parameters over them; and what was used, from where."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import Variable

    with get_client(sync_client=True) as client:  # one request for all the knobs
        found = client.request("POST", "/variables/filter", json={"variables": {"name": {"like_": PREFIX}}})
    names = set(variable_names())
    variables = {v.name: v.value for v in Variable.model_validate_list(found.json()) if v.name in names}
    model, used = tuned_model(variables, parameters)
    if variables:
        get_run_logger().info("cost knobs from Prefect Variables: %s", variables)
    return model, used


def cost_model_table(used: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The knobs as the run's summary shows them (Chinese)."""
    return [
        {
            "参数": r["label_zh"],
            "名称": r["knob"],
            "取值": json.dumps(r["value"], ensure_ascii=False),
            "来源": r["source"],
        }
        for r in used
    ]
