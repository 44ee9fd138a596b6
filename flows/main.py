"""The main job (``make run``): the sample district through intake -> match -> publish."""

from __future__ import annotations

import json
from datetime import date, timedelta

from prefect import flow

from flows.closed_loop import closed_loop
from flows.collect import collect_inbox
from flows.match_cycle import match_cycle, period_of
from matching.explain import REASONS
from settings import get_settings
from store.cycle import cycle_id_for
from tasks.matching import superseded_cycle_summary
from tasks.sample import hand_over_sample, simulate_responses
from tasks.store import prepare_store

SAMPLE_DAY = date(2026, 11, 16)


@flow(name="sample-district-cycle", log_prints=True)
def sample_district_cycle(
    size: float = 1.0, seed: int = 7, cycle_day: date = SAMPLE_DAY, weeks: int = 2
) -> dict:
    """Hand over a generated district's files, then run ``weeks`` weekly cycles: match and publish,
    units respond, the closed loop runs, and the next week matches what is still open.

    Args:
        size: 1 is one subdistrict (~300 needs, ~800 units); it scales needs and units linearly.
        seed: the generator's seed (same seed, same district).
        cycle_day: the Monday the sample's first week starts.
        weeks: how many weekly cycles to run.
    """
    registry = hand_over_sample(size, seed, cycle_day)
    prepare_store(registry)
    intake = collect_inbox()
    cycles: list[dict] = []
    loops: list[dict] = []
    responses: dict[str, dict] = {}  # cycle id -> how its units answered
    for week in range(weeks):
        day = cycle_day + timedelta(weeks=week)
        cycle_id, period = cycle_id_for(day), period_of(day)
        done = superseded_cycle_summary(cycle_id, period[0])
        if done is not None:  # a re-run: later weeks already ran, this one is history
            cycles.append(done)
            continue
        if week:
            # the units answer last week's list; the answers come in through the inbox
            prev = cycles[-1]
            responses[prev["cycle_id"]] = simulate_responses(
                prev["service_list"], day - timedelta(days=6), seed + week
            )
            collect_inbox()
            loops.append(closed_loop(today=day))
        cycles.append(match_cycle(cycle_day=day))
    return {"intake": intake, "cycles": cycles, "responses": responses, "loops": loops, "cycle": cycles[-1]}


def print_summary(result: dict) -> None:
    s, i = get_settings(), result["intake"]
    lines = [
        "",
        "threelists — 本次运行摘要 / run summary",
        f"  导入 intake: 文件 {i.get('files', 0)}，读取 {i.get('rows_read', 0)} 行 = 导入 {i.get('loaded', 0)} + 隔离 "
        f"{i.get('quarantined', 0)} + 合并重复 {i.get('merged', 0)} + 此前已导入 {i.get('already_loaded', 0)}"
        f" + 此前已隔离 {i.get('already_quarantined', 0)}",
    ]
    for c in result["cycles"]:
        r = result["responses"].get(c["cycle_id"])
        new = "（新版本）" if c["new_version"] else "（内容未变，未重新发布）"
        lines += [
            f"  匹配 {c['cycle_id']}: 需求 {c['needs']}，已派单 {c['served']}，未派单 {c['unserved']}，本期升级 {c['escalated']}",
            *[
                f"    未派单 {n:>4}  {REASONS[k]}"
                for k, n in sorted(c["unserved_by_reason"].items(), key=lambda kv: -kv[1])
            ],
            f"    服务清单 service list v{c['version']}{new}: {c['service_list']}/service_list.csv",
            "      (also .json .parquet, service_list_zh.csv for people, diff.json)",
        ]
        if r:
            lines.append(
                f"    单位回复 unit responses: 接单 {r['accept']}，办结 {r['complete']}，拒单 {r['decline']}，"
                f"未回复 {r['silent']}"
            )
    last = result["cycle"]
    lines += [
        f"  最新版本指针 latest pointer: {s.published_dir / last['cycle_id'] / 'latest.json'}",
        f"  单位派单回执（含完整联系方式，仅发给已接单单位）: {s.var_dir / 'outbox' / 'units'}",
        f"  回访电话清单 follow-up call lists: {s.published_dir / 'followups'}",
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
