"""Quarterly needs survey and metrics tasks."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task

from lifecycle.escalation import EscalationPolicy
from lifecycle.states import DONE_ASSIGNMENT
from reference import load_taxonomy_frame
from reports.charts import write_report
from reports.metrics import compute_metrics, read_facts, worst
from reports.outcomes import OUTCOME_LABELS_ZH, quarter_bounds, quarter_outcomes
from service.masking import building_only, mask_name
from service.quarterly import (
    quarter_of,
    register_quarterly_surveys,
    visiting_roster,
    write_printable,
    write_xlsform,
)
from settings import get_settings
from store.db import session_factory
from store.outcomes import first_cycle_start, read_need_outcomes
from tasks import artifacts


@task(retries=2, retry_delay_seconds=3)
def prepare_quarterly_survey(day: date, recency_days: int) -> dict:
    """Rosters per grid (opt-outs and recent visits skipped), the XLSForm and printable sheets."""
    settings = get_settings()
    quarter = quarter_of(day)
    out = settings.forms_dir / quarter
    with session_factory(settings.database_url)() as session, session.begin():
        roster = visiting_roster(session, day, recency_days)
        new = register_quarterly_surveys(session, day, roster)
    taxonomy = load_taxonomy_frame()
    form = write_xlsform(out / f"needs_survey_{quarter}.xlsx", taxonomy, quarter)
    out.mkdir(parents=True, exist_ok=True)
    # the grid worker knows the grid's households by id (网格台账): no room number, surname only
    roster.assign(
        address=roster["address"].map(building_only), head_name=roster["head_name"].map(mask_name)
    ).rename(columns={"address": "building"}).to_csv(
        out / f"visiting_roster_{quarter}.csv", index=False, encoding="utf-8-sig"
    )
    sheets = [
        write_printable(
            out / f"print_{cid}.html", part, taxonomy, quarter, str(part["community_name"].iloc[0])
        )
        for cid, part in roster.groupby("community_id")
    ]
    get_run_logger().info(
        "%s: %d households to visit in %d grids; form %s",
        quarter,
        len(roster),
        roster["grid_id"].nunique(),
        form,
    )
    artifacts.table(
        f"quarterly-survey-{quarter.lower()}",
        roster.groupby("community_name")
        .agg(网格数=("grid_id", "nunique"), 走访户数=("household_id", "size"))
        .reset_index()
        .rename(columns={"community_name": "社区"}),
        description=f"{quarter} 问需调研走访名单；表单 {form}",
    )
    return {
        "quarter": quarter,
        "households": len(roster),
        "grids": int(roster["grid_id"].nunique()),
        "new_surveys": new,
        "form": str(form),
        "printable": [str(p) for p in sheets],
    }


def outcome_figures(as_of: date) -> pd.DataFrame:
    """Per quarter since the first match cycle: completion rate, days to completion, backlog
    (reports.outcomes)."""
    with session_factory(get_settings().database_url)() as session:
        needs = read_need_outcomes(session, [str(s) for s in DONE_ASSIGNMENT])
        first = first_cycle_start(session)
    if needs.empty or first is None:
        return pd.DataFrame(columns=list(OUTCOME_LABELS_ZH))
    quarters, day = [], first
    while day <= as_of:
        quarters.append(quarter_of(day))
        day = quarter_bounds(quarters[-1])[1] + timedelta(days=1)
    return quarter_outcomes(needs, quarters, urgent_from=EscalationPolicy().urgent_from, through=as_of)


@task(retries=2, retry_delay_seconds=3)
def build_metrics_report(out_dir: Path | None = None, as_of: date | None = None) -> dict:
    """Rates by unit, item, grid, community, cycle and quarter; outcomes per quarter (completion of
    needs, days to completion, backlog); charts, table and HTML report."""
    settings = get_settings()
    with session_factory(settings.database_url)() as session:
        facts = read_facts(session)
    if facts.empty:
        get_run_logger().info("no assignments yet: nothing to report")
        return {"assignments": 0}
    metrics = compute_metrics(facts)
    outcomes = outcome_figures(as_of or date.today())
    paths = write_report(metrics, out_dir or settings.reports_dir, outcomes=outcomes)
    artifacts.table(
        "outcomes-by-quarter",
        outcomes.rename(columns=OUTCOME_LABELS_ZH),
        description="各季度成效：截止前14天上报需求的办结率、办结天数中位数（含紧急）、季初/季末待办",
    )
    quarter = metrics[metrics["dimension"] == "quarter"]
    artifacts.table(
        "metrics-by-quarter",
        quarter.rename(columns={"key": "季度"})[
            [
                "季度",
                "assignments",
                "completion_rate",
                "satisfaction_rate",
                "response_rate",
                "median_days_to_complete",
            ]
        ].rename(
            columns={
                "assignments": "派单数",
                "completion_rate": "办结率",
                "satisfaction_rate": "满意率",
                "response_rate": "回访率",
                "median_days_to_complete": "办结天数中位数",
            }
        ),
        description="各季度三率",
    )
    artifacts.table(
        "metrics-worst-grids",
        worst(metrics, "grid")[["key", "assignments", "completion_rate"]].rename(
            columns={"key": "网格", "assignments": "派单数", "completion_rate": "办结率"}
        ),
        description="办结率最低的网格",
    )
    artifacts.link(
        "metrics-report",
        paths["html"].resolve().as_uri(),
        "问效报告（图表）",
        description=f"图表 PNG 与表格在 {paths['html'].parent}",
    )
    return {
        "assignments": len(facts),
        "outcomes": outcomes.to_dict("records"),
        **{k: str(v) for k, v in paths.items()},
    }
