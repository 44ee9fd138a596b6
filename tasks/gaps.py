"""The capacity-gap report as a task: read the store, compute exactly, publish files and artifacts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import get_run_logger, task

from lifecycle.states import CAPACITY_USED
from matching.gaps import GAP_COLUMNS_ZH, NO_OFFER, build_gap_report, gap_lines_for_people, unit_fits
from matching.problem import CostModel
from reference import kind_categories
from reports.charts import write_gap_chart
from service import cycle as service_cycle
from service.publish import finish_publication, publish_rows
from settings import get_settings
from store import gaps as store_gaps
from store.cycle import cycle_id_for, period_of
from store.db import session_factory
from tasks import artifacts

GAP_KIND = "gap_report"


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


@task(retries=1, retry_delay_seconds=3)
def compute_and_publish_gap_report(as_of: date, label: str, model: CostModel | None = None) -> dict:
    """The gap report of the open pool on ``as_of`` (its week's capacity), for the joint meeting.

    Published under ``published/gaps/<label>/vNNNN/`` (CSV/JSON/Parquet, ``gap_report_zh.csv`` for
    people, ``latest.json``), with a chart and Prefect artifacts. Returns the lines and paths.
    """
    settings = get_settings()
    sessions = session_factory(settings.database_url)
    cycle_id, period = cycle_id_for(as_of), period_of(as_of)
    with sessions() as s:
        needs = service_cycle.read_pool(s, cycle_id)
        offers = service_cycle.read_offers(s, cycle_id, tuple(CAPACITY_USED))
        declined = service_cycle.read_declined(s)
        communities = store_gaps.read_communities(s)
        units = store_gaps.read_units(s)
        items = store_gaps.read_items(s)
        history = store_gaps.read_waited(s, quarter_start(as_of), as_of, (*NO_OFFER, "capacity_taken"))
    units["fits"] = unit_fits(units, items, kind_categories())
    report = build_gap_report(
        needs, offers, declined, period, communities, units, items, history, model or CostModel()
    )
    lines = report.lines.assign(line_id=report.lines["community_id"] + ":" + report.lines["item_code"])
    folder = settings.published_dir / "gaps"
    columns = ["line_id", *report.lines.columns, "version"]
    with sessions() as s, s.begin():
        result = publish_rows(
            s,
            GAP_KIND,
            label,
            lines,
            folder / label,
            key="line_id",
            stem="gap_report",
            headers_zh={"line_id": "缺口编号", **gap_header_zh()},
            columns=columns,
        )
    with sessions() as s:
        finish_publication(s, GAP_KIND, label, folder)
    chart = write_gap_chart(report.lines, Path(result.path) / "gap_chart.png") if result.created else None
    top = gap_lines_for_people(report.lines.head(20)).drop(columns=["社区编号", "服务事项编号"])
    total_pred = int(report.lines["predicted_served"].sum())
    artifacts.table(
        f"gap-report-{label.lower()}",
        top if len(top) else [{"说明": "本期没有未能派单的需求"}],
        description=f"资源缺口报告 {label}（{as_of}）：待派单 {len(needs)}，最优方案可派 {report.served}，"
        f"未能派单 {report.unserved}；按建议补足名额预计可多派 {total_pred} 件",
    )
    artifacts.link(
        f"gap-report-files-{label.lower()}",
        result.path.resolve().as_uri(),
        f"资源缺口报告 {label} v{result.version}",
        description="gap_report_zh.csv（中文表头）、gap_report.json、gap_chart.png",
    )
    get_run_logger().info(
        "gap report %s: %d lines, %d unserved, %d more served with the recommended slots -> %s",
        label,
        len(report.lines),
        report.unserved,
        total_pred,
        result.path,
    )
    return {
        "label": label,
        "as_of": as_of.isoformat(),
        "path": str(result.path),
        "version": result.version,
        "chart": str(chart or (Path(result.path) / "gap_chart.png")),
        "open_needs": len(needs),
        "served": report.served,
        "unserved": report.unserved,
        "predicted_served": total_pred,
        "lines": report.lines.to_dict("records"),
    }


def gap_header_zh() -> dict[str, str]:
    return {**GAP_COLUMNS_ZH, "version": "版本"}
