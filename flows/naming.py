"""Flow-run names an operator can tell apart in the Prefect UI: by day, week or quarter.

Prefect calls these while it creates a run, with the run's parameters at hand; a scheduled run
without a date parameter is named after its scheduled start, in the district's time zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from prefect.runtime import flow_run

from settings import DISTRICT_TZ


def run_started() -> datetime:
    """When this run was scheduled to start (now, for a run started by hand), in district time."""
    when = flow_run.scheduled_start_time
    if not isinstance(when, datetime):
        when = datetime.now(DISTRICT_TZ)
    return when.astimezone(DISTRICT_TZ)


def param_day(name: str) -> date:
    """The run's date parameter ``name``, or the day it was scheduled for."""
    value = flow_run.parameters.get(name)
    if value in (None, ""):
        return run_started().date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def by_day(prefix: str, param: str) -> Callable[[], str]:
    """``prefix-YYYY-MM-DD`` from the date parameter ``param`` (or the scheduled day)."""

    def name() -> str:
        return f"{prefix}-{param_day(param).isoformat()}"

    return name


def by_time(prefix: str) -> Callable[[], str]:
    """``prefix-YYYY-MM-DD-HHMMSS`` for flows without a date, run many times a day."""

    def name() -> str:
        return f"{prefix}-{run_started():%Y-%m-%d-%H%M%S}"

    return name
