"""Daily retention: residents' contacts are kept no longer than the work needs them."""

from __future__ import annotations

from datetime import date

from prefect import flow

from flows.naming import by_day, run_started
from tasks.retention import run_retention


@flow(name="retention", flow_run_name=by_day("retention", "today"), log_prints=True)
def retention(
    today: date | None = None, retain_contact_days: int | None = None, retain_source_days: int | None = None
) -> dict:
    """Anonymise closed needs' contacts and redact archived source files and quarantined rows past
    their retention period (个人信息保留期限); idempotent, safe to run daily.

    Args:
        today: the day to apply the periods from (defaults to today).
        retain_contact_days: days a closed need keeps the resident's contact (default from
            THREELISTS_RETAIN_CONTACT_DAYS, 90).
        retain_source_days: days archived files and quarantined rows keep personal columns
            (default from THREELISTS_RETAIN_SOURCE_DAYS, 30).
    """
    return run_retention(today or run_started().date(), retain_contact_days, retain_source_days)


if __name__ == "__main__":
    retention()
