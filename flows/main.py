"""The main job (``make run``): the sample district through intake -> match -> publish."""

from __future__ import annotations

import json
from datetime import date, timedelta

from prefect import flow
from prefect.runtime import flow_run

from flows.closed_loop import closed_loop
from flows.collect import collect_inbox
from flows.match_cycle import match_cycle
from flows.naming import param_day
from flows.surveys import metrics_report, quarterly_needs_survey
from matching.explain import REASONS
from settings import get_settings
from store.cycle import cycle_id_for, period_of
from tasks.matching import superseded_cycle_summary
from tasks.sample import (
    hand_over_sample,
    simulate_followup_answers_task,
    simulate_responses,
    simulate_week_of_needs,
)
from tasks.store import prepare_store

SAMPLE_DAY = date(2026, 11, 16)


def _sample_name() -> str:
    p = flow_run.parameters
    return f"sample-{param_day('cycle_day')}-{p.get('weeks', 13)}w-seed{p.get('seed', 7)}"


@flow(name="sample-district-cycle", flow_run_name=_sample_name, log_prints=True)
def sample_district_cycle(
    size: float = 1.0, seed: int = 7, cycle_day: date = SAMPLE_DAY, weeks: int = 13, weekly_needs: int = 60
) -> dict:
    """A simulated quarter on a generated district: the first hand-over, then every week new needs
    arrive, units answer last week's list, the closed loop runs (follow-up calls, answers) and
    the week is matched and published; the quarterly survey runs when a quarter starts, and the
    metrics report closes the run.

    Args:
        size: 1 is one subdistrict (~300 needs, ~800 units); it scales needs and units linearly.
        seed: the generator's seed (same seed, same district, same run).
        cycle_day: the Monday the first week starts.
        weeks: how many weekly cycles to run (13 is a quarter).
        weekly_needs: new needs reported per week after the first hand-over.
    """
    registry = hand_over_sample(size, seed, cycle_day)
    prepare_store(registry)
    intake = collect_inbox()
    cycles: list[dict] = []
    loops: dict[str, dict] = {}
    responses: dict[str, dict] = {}  # cycle id -> how its units answered
    surveys: list[dict] = []
    for week in range(weeks):
        day = cycle_day + timedelta(weeks=week)
        cycle_id, period = cycle_id_for(day), period_of(day)
        done = superseded_cycle_summary(cycle_id, period[0])
        if done is not None:  # a re-run: later weeks already ran, this one is history
            cycles.append(done)
            continue
        quarter_start = next(
            (
                period[0] + timedelta(days=k)
                for k in range(7)
                if (period[0] + timedelta(days=k)).day == 1
                and (period[0] + timedelta(days=k)).month in (1, 4, 7, 10)
            ),
            None,
        )
        if quarter_start:
            surveys.append(quarterly_needs_survey(day=quarter_start))
        if week:
            prev = cycles[-1]
            responses[prev["cycle_id"]] = simulate_responses(
                prev["service_list"], day - timedelta(days=6), seed + week
            )
            simulate_week_of_needs(day, int(weekly_needs * size), seed * 1000 + week)
            collect_inbox()
            loop = closed_loop(today=day)
            loops[cycle_id] = loop
            if loop["calls"]:
                simulate_followup_answers_task(loop["call_list"], day, seed + week)
                collect_inbox()
        cycles.append(match_cycle(cycle_day=day))
    report = metrics_report(as_of=cycle_day + timedelta(weeks=weeks))
    return {
        "intake": intake,
        "cycles": cycles,
        "responses": responses,
        "loops": loops,
        "surveys": surveys,
        "metrics": report,
        "cycle": cycles[-1],
    }


def print_summary(result: dict) -> None:
    s, i = get_settings(), result["intake"]
    lines = [
        "",
        "threelists — 本次运行摘要 / run summary",
        f"  首次导入 intake: 文件 {i.get('files', 0)}，读取 {i.get('rows_read', 0)} 行 = 导入 {i.get('loaded', 0)} + 隔离 "
        f"{i.get('quarantined', 0)} + 合并重复 {i.get('merged', 0)} + 此前已导入 {i.get('already_loaded', 0)}"
        f" + 此前已隔离 {i.get('already_quarantined', 0)}",
        "  每周匹配 weekly cycles (needs / served / unserved / escalated / list version):",
    ]
    for c in result["cycles"]:
        new = "new" if c["new_version"] else "unchanged"
        r = result["responses"].get(c["cycle_id"])
        answered = f"；单位接单 {r['accept']} 办结 {r['complete']} 拒单 {r['decline']}" if r else ""
        lines.append(
            f"    {c['cycle_id']}: 需求 {c['needs']:>4} 派单 {c['served']:>4} 未派单 {c['unserved']:>4} "
            f"升级 {c['escalated']:>3}  v{c['version']} ({new}){answered}"
        )
    last = result["cycle"]
    lines.append(f"  最后一周未派单原因 {last['cycle_id']}:")
    lines += [
        f"    {n:>4}  {REASONS[k]}"
        for k, n in sorted(last["unserved_by_reason"].items(), key=lambda kv: -kv[1])
    ]
    m = result.get("metrics") or {}
    lines += [
        f"  服务清单 service list: {last['service_list']}/service_list.csv (.json .parquet, _zh.csv, diff.json)",
        f"  最新版本指针 latest pointer: {s.published_dir / last['cycle_id'] / 'latest.json'}",
        f"  单位派单回执（含完整联系方式，仅发给已接单单位）: {s.var_dir / 'outbox' / 'units'}",
        f"  回访电话清单 follow-up call lists: {s.published_dir / 'followups'}",
        f"  问需调研表单 survey forms (XLSForm, printable, rosters): {s.forms_dir}",
        f"  问效报告 metrics report: {m.get('html', '-')}  (charts *.png, metrics_zh.csv)",
        f"  数据校验报告 Data Docs: {i.get('data_docs')}",
        f"  数据库 database: {s.database_url}",
        "",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    out = sample_district_cycle()
    print_summary(out)
    (get_settings().var_dir / "last_run.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
