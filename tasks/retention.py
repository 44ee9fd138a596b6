"""Retention as a task: one transaction, then an artifact saying what was done."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from prefect import get_run_logger, task

from service.retention import apply_retention
from settings import get_settings
from store.db import session_factory
from tasks import artifacts


@task(retries=2, retry_delay_seconds=3)
def run_retention(
    today: date, retain_contact_days: int | None = None, retain_source_days: int | None = None
) -> dict:
    settings = get_settings()
    contact_days = settings.retain_contact_days if retain_contact_days is None else retain_contact_days
    source_days = settings.retain_source_days if retain_source_days is None else retain_source_days
    with session_factory(settings.database_url)() as session, session.begin():
        report = apply_retention(session, today, contact_days, source_days)
    artifacts.table(
        "retention",
        [
            {"项目": "已清除联系方式的已销单需求", "数量": report.needs_anonymised},
            {"项目": "已脱敏的归档源文件", "数量": report.files_redacted},
            {"项目": "已脱敏的隔离行", "数量": report.rows_redacted},
        ],
        description=f"{today}：销单满 {contact_days} 天的需求清除居民联系方式（截至 {report.contact_cutoff}）；"
        f"收到满 {source_days} 天的源文件与隔离行脱敏（截至 {report.source_cutoff}），校验和保留",
    )
    out = asdict(report)
    get_run_logger().info("retention: %s", {k: v for k, v in out.items() if k != "files"})
    return out
