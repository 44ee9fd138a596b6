"""Collect what was handed over: units, offers, needs, survey answers and unit responses."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from flows.naming import by_time
from tasks.intake import find_inbox_files, ingest_inbox_file, summarise_intake


@flow(name="collect-inbox", flow_run_name=by_time("collect"), log_prints=True)
def collect_inbox(dedupe_days: int = 30) -> dict[str, int]:
    """Load every file waiting in the inbox once; bad rows are quarantined with their reasons.

    Args:
        dedupe_days: a need for the same household and item reported within this many days
            of an open one is merged into it (重复上报合并).
    """
    files = find_inbox_files()
    progress = create_progress_artifact(0.0, key="collect-progress", description="导入进度（文件）")
    reports = []
    for k, (path, dataset, source) in enumerate(files, start=1):
        reports.append(ingest_inbox_file(path, dataset, source, dedupe_days))
        update_progress_artifact(progress, 100.0 * k / len(files))
    if not files:
        update_progress_artifact(progress, 100.0)
    return summarise_intake(reports)


if __name__ == "__main__":
    collect_inbox()
