"""The main job (``make run``): the sample district through two quarters of the whole cycle."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from flows.closed_loop import closed_loop
from flows.collect import collect_inbox
from flows.match_cycle import match_cycle
from flows.naming import param_day
from flows.surveys import metrics_report, quarterly_needs_survey
from matching.explain import REASONS
from reports.outcomes import quarter_bounds
from service.quarterly import quarter_of
from settings import get_settings
from store.cycle import cycle_id_for
from tasks.events import emitted, wait_until_recorded
from tasks.matching import cycle_summary_task, superseded_cycle_summary
from tasks.sample import (
    hand_over_sample,
    mark_simulated,
    simulate_day_needs,
    simulate_followup_answers_task,
    simulate_joint_meeting_task,
    simulate_unit_answers,
    simulated_steps,
)
from tasks.store import prepare_store

SAMPLE_DAY = date(2026, 10, 5)  # the first Monday of 2026Q4: two quarters run to 2027-03-31


def _sample_name() -> str:
    p = flow_run.parameters
    return f"sample-{param_day('cycle_day')}-{p.get('weeks', 26)}w-seed{p.get('seed', 7)}"


def _quarter_starts_in(monday: date) -> date | None:
    for k in range(7):
        d = monday + timedelta(days=k)
        if d.day == 1 and d.month in (1, 4, 7, 10):
            return d
    return None


@flow(name="sample-district-cycle", flow_run_name=_sample_name, log_prints=True)
def sample_district_cycle(
    size: float = 1.0,
    seed: int = 7,
    cycle_day: date = SAMPLE_DAY,
    weeks: int = 26,
    needs_per_day: float = 9.0,
) -> dict:
    """Two simulated quarters on a generated district, day by day.

    The first hand-over (grid sheets, platform export, units and their offers); then every day
    (Monday to Friday; the weekend's needs arrive with Monday's) residents report needs and units
    answer their work (their platform sends answers Monday, Wednesday and Friday); the inbox is
    collected and urgent needs are matched the same day (接诉即办); on Mondays the closed loop
    runs (overdue work released, follow-up calls, residents' answers) and the week is matched
    and published. When a quarter starts: the quarterly needs survey, the capacity-gap report,
    and the joint meeting where some units claim the recommended slots. The metrics report
    with the outcomes per quarter closes the run.

    Args:
        size: 1 is one subdistrict (~300 open needs, ~800 units); it scales needs and units linearly.
        seed: the generator's seed (same seed, same district, same run).
        cycle_day: the Monday the first week starts.
        weeks: how many weekly cycles to run (26: two quarters).
        needs_per_day: new needs residents report per day (x size).
    """
    started, events_before = datetime.now(UTC), emitted()
    registry = hand_over_sample(size, seed, cycle_day)
    prepare_store(registry)
    intake = collect_inbox(today=cycle_day)
    cycles: list[dict] = []
    loops: dict[str, dict] = {}
    surveys: list[dict] = []
    meetings: dict[str, dict] = {}
    last_calls: str | None = None
    per_day = needs_per_day * size
    key = f"size{size}-seed{seed}-{cycle_day}-{weeks}w-{needs_per_day}"
    done_steps = simulated_steps(key)
    for week in range(weeks):
        monday = cycle_day + timedelta(weeks=week)
        cycle_id = cycle_id_for(monday)
        done = superseded_cycle_summary(cycle_id, monday)
        if done is None and cycle_id in done_steps:
            done = cycle_summary_task(cycle_id)
        if done is not None:  # a re-run: this week already ran to its end, it is history
            cycles.append(done)
            continue
        if week:
            # Monday: what residents reported over the weekend and this morning, the units'
            # answers, and the residents' answers to last week's follow-up calls
            simulate_day_needs(
                [monday - timedelta(days=2), monday - timedelta(days=1), monday], per_day, seed
            )
            simulate_unit_answers(monday, seed)
            if last_calls:
                simulate_followup_answers_task(last_calls, monday, seed + week)
            collect_inbox(today=monday, dispatch_urgent=False)  # the weekly match follows at once
            loop = closed_loop(today=monday)
            loops[cycle_id] = loop
            last_calls = loop["call_list"] if loop["calls"] else None
        quarter_start = _quarter_starts_in(monday)
        if quarter_start and week:
            survey = quarterly_needs_survey(day=quarter_start)
            surveys.append(survey)
            # the joint meeting answers the gap report: some units claim the recommended slots
            meetings[quarter_of(quarter_start - timedelta(days=1))] = {
                **simulate_joint_meeting_task(survey["gap_report"], quarter_start, seed),
                "gap_report": survey["gap_report"]["path"],
            }
            collect_inbox(today=quarter_start, dispatch_urgent=False)
        cycles.append(match_cycle(cycle_day=monday))
        simulate_unit_answers(monday, seed, send=False)  # units see the week's list the day it goes out
        for k in range(1, 7):  # Tuesday to Sunday: needs arrive, units answer, urgent ones go out
            day = monday + timedelta(days=k)
            if k < 5:
                simulate_day_needs([day], per_day, seed)
                if k % 2 == 0:  # the units' platform sends their answers Monday, Wednesday, Friday
                    simulate_unit_answers(day, seed)
                # the day's collection and urgent match run inside this flow run (collect_inbox's
                # body: its tasks and artifacts, without a subflow run per simulated weekday)
                collect_inbox.fn(today=day)
                simulate_unit_answers(day, seed, send=False)  # units see the day's urgent work
        mark_simulated(key, cycle_id)
    end = cycle_day + timedelta(weeks=weeks)
    if "end" not in done_steps:
        # the quarter's last answers: what units did up to the end of the last week
        simulate_unit_answers(end, seed)
        collect_inbox(today=end, dispatch_urgent=False)
        closed_loop(today=end)
        mark_simulated(key, "end")
    # outcomes run to the end of the last simulated quarter (not into the next one's first days)
    report = metrics_report(
        as_of=min(end - timedelta(days=1), quarter_bounds(quarter_of(end - timedelta(days=7)))[1])
    )
    # the needs' events are stored by Prefect shortly after they are sent: with the embedded API,
    # which stops with this process, wait for them so the event feed keeps every change
    expected = emitted() - events_before
    recorded = wait_until_recorded(started, expected)
    get_run_logger().info("need events in Prefect's feed: %d of %d", recorded, expected)
    return {
        "intake": intake,
        "cycles": cycles,
        "loops": loops,
        "surveys": surveys,
        "meetings": meetings,
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
        f" + 此前已隔离 {i.get('already_quarantined', 0)}"
        + (f" + 无需求 {i['no_need']}" if i.get("no_need") else "")
        + (f" + 表中已办结 {i['done_already']}" if i.get("done_already") else ""),
        "  每周匹配 weekly cycles (pool / dispatched / unserved / escalated / list version):",
    ]
    for c in result["cycles"]:
        new = "new" if c["new_version"] else "unchanged"
        lines.append(
            f"    {c['cycle_id']}: 待派 {c['needs']:>4} 派单 {c['served']:>4} 未派单 {c['unserved']:>4} "
            f"升级 {c['escalated']:>3}  v{c['version']} ({new})"
        )
    last = result["cycle"]
    if last.get("unserved_by_reason"):
        lines.append(f"  最后一周未派单原因 {last['cycle_id']}:")
        lines += [
            f"    {n:>4}  {REASONS[k]}"
            for k, n in sorted(last["unserved_by_reason"].items(), key=lambda kv: -kv[1])
        ]
    m = result.get("metrics") or {}
    if m.get("outcomes"):
        lines.append("  各季度成效 outcomes (needs reported 14+ days before the quarter's end):")
        for o in m["outcomes"]:
            rate = f"{o['completion_rate']:.1%}" if o["completion_rate"] is not None else "—"
            lines.append(
                f"    {o['quarter']}: 上报 {o['needs_reported']:>4}，办结率 {rate} ({o['completed']}/{o['eligible']})，"
                f"办结天数中位数 {o['median_days']}（紧急 {o['median_days_urgent']}），"
                f"待办 季初 {o['backlog_start']} → 季末 {o['backlog_end']}"
            )
    for quarter, meeting in (result.get("meetings") or {}).items():
        lines.append(
            f"  联席会议 joint meeting {quarter}: 建议 {meeting['lines_asked']} 项，单位认领 {meeting['claimed']} 项"
            f"（{meeting['slots']} 个名额/周）；资源缺口报告 {meeting['gap_report']}"
        )
    for survey in result.get("surveys") or []:
        for line in (survey.get("gap_report") or {}).get("lines", [])[:3]:
            lines.append(f"    缺口 {line['rank']}. {line['recommendation']}")
    lines += [
        f"  服务清单 service list: {last['service_list']}/service_list.csv (.json .parquet, _zh.csv, diff.json)",
        f"  最新版本指针 latest pointer: {s.published_dir / last['cycle_id'] / 'latest.json'}",
        f"  资源缺口报告 gap reports: {s.published_dir / 'gaps'}",
        f"  单位派单回执（含完整联系方式，仅发给已接单单位）: {s.outbox_dir / 'units'}",
        f"  回访电话清单（含完整电话，仅回访组）follow-up call list: {s.outbox_dir / 'followups'}",
        f"  问需调研表单 survey forms (XLSForm, printable, rosters): {s.forms_dir}",
        f"  问效报告 metrics report: {m.get('html', '-')}  (charts *.png, metrics_zh.csv, outcomes_zh.csv)",
        f"  数据校验报告 Data Docs: {i.get('data_docs')}",
        f"  数据库 database: {s.database_url}",
        "",
    ]
    print("\n".join(lines))


def run_simulation() -> dict:
    """``make run``: the simulation on Prefect's local ephemeral API, tuned for ~300 short runs.

    Two Prefect costs dominate hundreds of short flow runs on the ephemeral API, measured here: a
    flow run's heartbeat thread holds its end for up to 1 s, and the server's task-run recorder
    races subflow creation on SQLite ("database is locked" -> a 2 s client retry per subflow),
    as do the automation triggers, the event logger and the event persister's small batches. The simulation turns these off
    (heartbeats detect crashed runs of deployments on a real server, where they stay on; no
    automation is configured on the ephemeral API; task runs of the simulation are not recorded).
    Flow runs, logs, artifacts and events are recorded as usual.
    """
    for service in ("TASK_RUN_RECORDER", "TRIGGERS", "EVENT_LOGGER"):  # the event persister stays on
        os.environ.setdefault(f"PREFECT_SERVER_SERVICES_{service}_ENABLED", "false")
    # ...and writes events in fewer, larger batches (every 20 events by default: each a lock)
    os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE", "20000")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", "60")
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return sample_district_cycle()


if __name__ == "__main__":
    out = run_simulation()
    print_summary(out)
    (get_settings().var_dir / "last_run.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
