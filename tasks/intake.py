"""Intake tasks: one task run per handed-over file (a handful per run), never per row."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from prefect import get_run_logger, task

from data_contracts.validate import write_data_docs
from intake.ingest import IngestReport, ingest_file, list_inbox
from settings import get_settings
from store.db import session_factory
from tasks import artifacts


@task
def find_inbox_files(inbox: Path | None = None) -> list[tuple[Path, str, str]]:
    files = list_inbox(inbox or get_settings().inbox_dir)
    get_run_logger().info("%d file(s) waiting in the inbox", len(files))
    return files


@task(retries=2, retry_delay_seconds=5, task_run_name="ingest-{path.name}")
def ingest_inbox_file(path: Path, dataset: str, source: str, dedupe_days: int = 30) -> IngestReport:
    """Read, validate and load one file; a file that cannot be read is quarantined, not raised."""
    settings = get_settings()
    report = ingest_file(
        session_factory(settings.database_url),
        path,
        dataset,
        source,
        settings.archive_dir,
        dedupe_days=dedupe_days,
    )
    get_run_logger().info(
        "%s: %s, read %d, loaded %d, quarantined %d, merged %d, already loaded %d%s",
        path.name,
        report.status,
        report.rows_read,
        report.loaded,
        report.quarantined,
        report.merged,
        report.already_loaded,
        f" ({report.error})" if report.error else "",
    )
    return report


@task
def summarise_intake(reports: list[IngestReport]) -> dict[str, int]:
    """Artifacts for the operator: per file, per quarantine reason, and the Data Docs of the run."""
    settings = get_settings()
    totals = Counter()
    reasons: Counter[str] = Counter()
    for r in reports:
        totals.update(
            {
                "files": 1,
                "rows_read": r.rows_read,
                "loaded": r.loaded,
                "quarantined": r.quarantined,
                "merged": r.merged,
                "already_loaded": r.already_loaded,
                "already_quarantined": r.already_quarantined,
                "superseded": r.superseded,
                f"files_{r.status}": 1,
            }
        )
        reasons.update(r.reasons)
    run_dir = settings.data_docs_dir / datetime.now().strftime("%Y%m%d-%H%M%S")
    docs = write_data_docs(
        [(f"{i:02d}-{r.dataset}-{Path(r.file).stem}", r.validation) for i, r in enumerate(reports)],
        run_dir,
        "threelists 数据校验报告",
    )
    if reports:
        artifacts.table(
            "intake-files",
            [
                {
                    "文件": r.file,
                    "数据集": r.dataset,
                    "状态": r.status,
                    "读取行数": r.rows_read,
                    "导入": r.loaded,
                    "隔离": r.quarantined,
                    "合并重复": r.merged,
                    "此前已导入": r.already_loaded,
                    "此前已隔离": r.already_quarantined,
                    "修正替代": r.superseded,
                    "说明": r.error or "",
                }
                for r in reports
            ],
            description=f"本次共 {len(reports)} 个文件；读取 {totals['rows_read']} 行 = 导入 {totals['loaded']} + 隔离 "
            f"{totals['quarantined']} + 合并 {totals['merged']} + 此前已导入 {totals['already_loaded']} + 此前已隔离 {totals['already_quarantined']}",
        )
        artifacts.table(
            "intake-quarantine-reasons",
            [{"隔离原因": k, "行数": v} for k, v in reasons.most_common()] or [{"隔离原因": "无", "行数": 0}],
            description="被隔离的行按原因统计（每行可能有多个原因）",
        )
        artifacts.link(
            "intake-data-docs",
            docs.resolve().as_uri(),
            "great-expectations Data Docs",
            description=f"本次校验结果：{docs}",
        )
    get_run_logger().info("intake totals: %s; data docs: %s", dict(totals), docs)
    return dict(totals) | {"data_docs": str(docs)}  # type: ignore[operator]
