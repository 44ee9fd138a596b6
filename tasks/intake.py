"""Intake tasks: one task run per handed-over file (a handful per run), never per row."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from data_contracts.validate import write_data_docs
from intake.ingest import PROBLEMS_SHOWN, IngestReport, ingest_files, list_inbox
from intake.mapping import field_label
from settings import get_settings
from store.db import session_factory
from tasks import artifacts
from tasks.events import announce


@task(retries=2, retry_delay_seconds=5)
def ingest_inbox(
    inbox: Path | None = None, dedupe_days: int = 30, today: date | None = None
) -> list[IngestReport]:
    """Load every file waiting in the inbox: read and clean each, check each dataset's files in
    one contract pass, commit one transaction per file. A retry re-lists the inbox, so files
    an earlier attempt committed are not touched again. Progress per file is an artifact."""
    settings = get_settings()
    logger = get_run_logger()
    files = list_inbox(inbox or settings.inbox_dir)
    logger.info("%d file(s) waiting in the inbox", len(files))
    progress = create_progress_artifact(0.0, key="collect-progress", description="导入进度（文件）")
    done: list[IngestReport] = []

    def on_file(report: IngestReport) -> None:
        done.append(report)
        update_progress_artifact(progress, 100.0 * len(done) / len(files))
        logger.info(
            "%s: %s, read %d, loaded %d, quarantined %d, merged %d, already loaded %d%s",
            report.file,
            report.status,
            report.rows_read,
            report.loaded,
            report.quarantined,
            report.merged,
            report.already_loaded,
            f" ({report.error})" if report.error else "",
        )
        for message in report.messages:
            logger.warning("%s: %s", report.file, message)

    reports = ingest_files(
        session_factory(settings.database_url),
        files,
        settings.archive_dir,
        dedupe_days=dedupe_days,
        today=today,
        on_file=on_file,
    )
    if not files:
        update_progress_artifact(progress, 100.0)
    # every file committed: announce the needs' changes (new needs, responses, follow-up answers)
    changes = [c for r in reports for c in r.changes]
    if changes:
        logger.info("%d need change(s) announced as Prefect events", announce(changes))
    for r in reports:
        r.changes = []
    return reports


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
                "no_need": r.no_need,
                "done_already": r.done_already,
                "opted_out": r.opted_out,
                "superseded": r.superseded,
                f"files_{r.status}": 1,
            }
        )
        reasons.update(r.reasons)
    run_dir = settings.data_docs_dir / datetime.now().strftime("%Y%m%d-%H%M%S")
    # one validation result per dataset and run (its files were checked in one pass)
    batches: dict[int, tuple[str, object, list[str]]] = {}
    for r in reports:
        if r.validation is not None:
            batches.setdefault(id(r.validation), (r.dataset, r.validation, []))[2].append(Path(r.file).stem)
    docs = write_data_docs(
        [
            (
                f"{k:02d}-{dataset}-{'+'.join(stems) if len(stems) <= 3 else f'{stems[0]}-and-{len(stems) - 1}-more'}",
                result,
            )
            for k, (dataset, result, stems) in enumerate(batches.values())
        ],
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
                    "无需求": r.no_need,
                    "已办结不派单": r.done_already,
                    "不再回访": r.opted_out,
                    "修正替代": r.superseded,
                    "说明": "；".join(dict.fromkeys([*([r.error] if r.error else []), *r.messages])),
                }
                for r in reports
            ],
            description=f"本次共 {len(reports)} 个文件；读取 {totals['rows_read']} 行 = 导入 {totals['loaded']} + 隔离 "
            f"{totals['quarantined']} + 合并 {totals['merged']} + 此前已导入 {totals['already_loaded']} + 此前已隔离 {totals['already_quarantined']}"
            f" + 无需求（问卷答“没有”、摸排表未勾选） {totals['no_need']} + 表中已办结 {totals['done_already']}；{totals['opted_out']} 户选择不再接受回访和问卷（已登记，走访名单不再列出）",
        )
        artifacts.table(
            "intake-quarantine-reasons",
            [{"隔离原因": k, "行数": v} for k, v in reasons.most_common()] or [{"隔离原因": "无", "行数": 0}],
            description="被隔离的行按原因统计（每行可能有多个原因）",
        )
        problems = [
            {
                "文件": f"{r.file}（工作表“{p['sheet']}”）" if p.get("sheet") else r.file,
                "行号": p["row_number"],
                "列": field_label(r.dataset, p["column"]) if p["column"] else "",
                "原因": p["reason"],
                "怎么改": p["hint"] or "",
            }
            for r in reports
            for p in r.problems
        ]
        if problems:
            artifacts.table(
                "intake-quarantined-rows",
                problems[:500],
                description=f"被隔离的行（每个文件最多列出 {PROBLEMS_SHOWN} 行，全部保存在隔离区）：行号按 Excel 中的行计",
            )
        messages = [
            {"文件": r.file, "说明（请按提示修改表格或列名表）": m} for r in reports for m in r.messages
        ]
        if messages:
            artifacts.table(
                "intake-file-messages",
                messages,
                description=f"{len({m['文件'] for m in messages})} 个文件有需要注意的列或整表问题："
                "未识别的列（附最接近的字段）、缺少的必填列、按默认值登记的列",
            )
        artifacts.link(
            "intake-data-docs",
            docs.resolve().as_uri(),
            "great-expectations Data Docs",
            description=f"本次校验结果：{docs}",
        )
    get_run_logger().info("intake totals: %s; data docs: %s", dict(totals), docs)
    return dict(totals) | {"data_docs": str(docs)}  # type: ignore[operator]
