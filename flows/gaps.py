"""The capacity-gap report (资源缺口报告) for the quarterly joint meeting, on demand or each quarter."""

from __future__ import annotations

from datetime import date

from prefect import flow

from flows.naming import param_day, run_started
from service.quarterly import quarter_of
from tasks.gaps import compute_and_publish_gap_report
from tasks.matching import cost_model_for_run


def _gap_name() -> str:
    return f"gaps-{param_day('as_of').isoformat()}"


@flow(name="resource-gap-report", flow_run_name=_gap_name, log_prints=True)
def resource_gap_report(as_of: date | None = None, label: str | None = None) -> dict:
    """Where resources are missing: per community x service item, the needs the exact optimum
    leaves unserved for lack of an offer or of capacity, what one more slot is worth, nearby units
    that could add slots, and a ranked recruitment list for the joint meeting (联席会议).

    Args:
        as_of: the day whose open pool and weekly capacity are analysed (defaults to today).
        label: the folder under published/gaps/ (defaults to the quarter, e.g. 2026Q4).
    """
    day = as_of or run_started().date()
    return compute_and_publish_gap_report(day, label or quarter_of(day), cost_model_for_run()[0])


if __name__ == "__main__":
    resource_gap_report()
