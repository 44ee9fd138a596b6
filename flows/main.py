"""The main job (``make run``): the sample district through intake -> match -> publish."""

from __future__ import annotations

import json
from datetime import date

from prefect import flow

from flows.collect import collect_inbox
from flows.match_cycle import match_cycle
from matching.explain import REASONS
from settings import get_settings
from tasks.sample import hand_over_sample
from tasks.store import prepare_store

SAMPLE_DAY = date(2026, 11, 16)


@flow(name="sample-district-cycle", log_prints=True)
def sample_district_cycle(size: float = 1.0, seed: int = 7, cycle_day: date = SAMPLE_DAY) -> dict:
    """Hand over a generated district's files, collect them, match the week and publish.

    Args:
        size: 1 is one subdistrict (~300 needs, ~800 units); it scales needs and units linearly.
        seed: the generator's seed (same seed, same district).
        cycle_day: the day the sample's week starts.
    """
    registry = hand_over_sample(size, seed, cycle_day)
    prepare_store(registry)
    intake = collect_inbox()
    cycle = match_cycle(cycle_day=cycle_day)
    return {"intake": intake, "cycle": cycle}


def print_summary(result: dict) -> None:
    s, i, c = get_settings(), result["intake"], result["cycle"]
    lines = [
        "",
        "threelists — 本次运行摘要 / run summary",
        f"  导入 intake: 文件 {i.get('files', 0)}，读取 {i.get('rows_read', 0)} 行 = 导入 {i.get('loaded', 0)} + 隔离 "
        f"{i.get('quarantined', 0)} + 合并重复 {i.get('merged', 0)} + 此前已导入 {i.get('already_loaded', 0)}",
        f"  匹配 {c['cycle_id']}: 需求 {c['needs']}，已派单 {c['served']}，未派单 {c['unserved']}，本期升级 {c['escalated']}",
        *[
            f"    未派单 {n:>4}  {REASONS[k]}"
            for k, n in sorted(c["unserved_by_reason"].items(), key=lambda kv: -kv[1])
        ],
        f"  服务清单 service list v{c['version']}{'（新版本）' if c['new_version'] else '（内容未变，未重新发布）'}:",
        f"    {c['service_list']}/service_list.csv  (.json .parquet, 服务清单 service_list_zh.csv, diff.json)",
        f"    latest pointer: {s.published_dir / c['cycle_id'] / 'latest.json'}",
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
