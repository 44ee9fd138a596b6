"""Scheduled surveys and reports: the quarterly needs survey and the metrics report."""

from __future__ import annotations

from datetime import date, timedelta

from prefect import flow

from flows.gaps import resource_gap_report
from flows.naming import by_day, param_day, run_started
from service.quarterly import quarter_of
from tasks.surveys import build_metrics_report, prepare_quarterly_survey


def _quarter_name() -> str:
    return f"needs-survey-{quarter_of(param_day('day'))}"


@flow(name="quarterly-needs-survey", flow_run_name=_quarter_name, log_prints=True)
def quarterly_needs_survey(day: date | None = None, recency_days: int = 60) -> dict:
    """Each quarter (社区每季度问需调研): a visiting roster per grid and the survey form, and the
    capacity-gap report (资源缺口报告) for the joint meeting of the quarter that just ended.

    Args:
        day: the quarter's first day (defaults to today).
        recency_days: households visited within this many days are skipped this time.
    """
    day = day or run_started().date()
    survey = prepare_quarterly_survey(day, recency_days)
    # the joint meeting of the quarter that just ended reads where resources are missing
    gaps = resource_gap_report(as_of=day, label=quarter_of(day - timedelta(days=1)))
    return {**survey, "gap_report": gaps}


@flow(name="metrics-report", flow_run_name=by_day("metrics", "as_of"), log_prints=True)
def metrics_report(as_of: date | None = None) -> dict:
    """Response, completion (办结率) and satisfaction (满意率) rates with charts and an HTML report.

    Args:
        as_of: the report's date: outcomes per quarter run up to it (defaults to today).
    """
    return build_metrics_report(as_of=as_of or run_started().date())


if __name__ == "__main__":
    metrics_report()
