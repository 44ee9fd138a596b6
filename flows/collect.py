"""Collect what was handed over: units, offers, needs, survey answers and unit responses."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger

from flows.match_cycle import run_cycle
from flows.naming import by_time, run_started
from lifecycle.escalation import EscalationPolicy
from tasks.intake import ingest_inbox, summarise_intake
from tasks.matching import cost_model_for_run, count_waiting_urgent

NEED_DATASETS = ("needs", "survey_answers")


@flow(name="collect-inbox", flow_run_name=by_time("collect"), log_prints=True)
def collect_inbox(dedupe_days: int = 30, today: date | None = None, dispatch_urgent: bool = True) -> dict:
    """Load every file waiting in the inbox once; bad rows are quarantined with their reasons.

    Urgent needs do not wait for Monday (接诉即办): when this run loaded new needs and urgent
    ones are waiting, it runs the week's urgent match right away (a new version of the week's
    service list), against the capacity the week has left.

    Args:
        dedupe_days: a need for the same household and item reported within this many days
            of an open one is merged into it (重复上报合并).
        today: the day of this collection (defaults to today); the urgent match runs in its week.
        dispatch_urgent: run the urgent match when urgent needs arrived.
    """
    reports = ingest_inbox(dedupe_days=dedupe_days, today=today)
    summary = summarise_intake(reports)
    new_needs = sum(r.loaded for r in reports if r.dataset in NEED_DATASETS)
    urgent_from = EscalationPolicy().urgent_from
    if dispatch_urgent and new_needs and count_waiting_urgent(urgent_from):
        day = today or run_started().date()
        get_run_logger().info("urgent needs waiting: matching them now (%s)", day)
        model, used = cost_model_for_run()
        summary["urgent_run"] = run_cycle(day, model, urgent_only=True, block_batches=1, knobs=used)
    return summary


if __name__ == "__main__":
    collect_inbox()
