"""Tasks that play the sample district's people: files land in the inbox the way real sources hand
them over (grid sheets, platform exports, unit responses, follow-up answers, joint-meeting claims)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import get_run_logger, task

from reference import kind_categories, load_taxonomy_frame
from sample.district import UNIT_HEADERS_ZH, generate_district, generate_needs_export
from sample.joint_meeting import simulate_joint_meeting
from sample.responses import simulate_followup_answers, simulate_unit_responses
from settings import get_settings
from store.cycle import cycle_id_for


@task
def hand_over_sample(size: float, seed: int, cycle_day: date) -> Path:
    """Generate the sample district and drop its files into the inbox; returns the registry path."""
    settings = get_settings()
    settings.ensure_dirs()
    out = settings.var_dir / "sample"
    summary = generate_district(out, size=size, seed=seed, cycle_start=cycle_day)
    shutil.copytree(out / "inbox", settings.inbox_dir, dirs_exist_ok=True)
    get_run_logger().info("sample district: %s", summary)
    return out / "district.json"


@task
def simulate_day_needs(days: list[date], per_day: float, seed: int) -> int:
    """New needs residents report on each of ``days``: the platform's export since the last
    collection, one file in the inbox."""
    settings = get_settings()
    counts = [int(np.random.default_rng([seed, d.toordinal()]).poisson(per_day)) for d in days]
    out = settings.inbox_dir / "needs" / f"platform_{days[0]:%Y%m%d}_{days[-1]:%Y%m%d}.json"
    registry = settings.var_dir / "sample" / "district.json"
    return generate_needs_export(registry, out, list(zip(days, counts, strict=True)), seed)


def _latest_list(published: Path, cycle_id: str) -> Path:
    pointer = published / cycle_id / "latest.json"
    if not pointer.exists():
        return published / cycle_id / "missing"
    return published / cycle_id / json.loads(pointer.read_text(encoding="utf-8"))["path"] / "service_list.csv"


@task
def simulate_unit_answers(today: date, seed: int, send: bool = True) -> dict[str, int]:
    """Units answer this week's and last week's lists: what they did before ``today`` lands in the
    inbox (``send``); without ``send`` they only take note of the work published today."""
    settings = get_settings()
    lists = [_latest_list(settings.published_dir, cycle_id_for(today - timedelta(days=k))) for k in (7, 0)]
    out = settings.inbox_dir / "responses" / f"responses_{today:%Y%m%d}.json"
    state = settings.var_dir / "sample" / "units_state.json"
    counts = simulate_unit_responses(lists, out, today, state, seed, send=send)
    get_run_logger().info("units responded: %s", counts)
    return counts


@task
def simulate_followup_answers_task(call_list_dir: str, day: date, seed: int) -> dict[str, int]:
    """Residents answer the follow-up calls; the answers land in the inbox."""
    settings = get_settings()
    src = Path(call_list_dir) / "call_list.csv"
    out = settings.inbox_dir / "followups" / f"followup_answers_{day:%Y%m%d}.json"
    return simulate_followup_answers(src, out, day, seed)


@task
def simulate_joint_meeting_task(gap: dict, quarter_start: date, seed: int) -> dict[str, int]:
    """The joint meeting: units of a fitting trade claim some of the recommended slots."""
    settings = get_settings()
    reg = settings.var_dir / "sample" / "inbox" / "units" / "units_register.csv"
    units = pd.read_csv(reg, encoding="utf-8-sig", dtype=str).rename(
        columns={v: k for k, v in UNIT_HEADERS_ZH.items()}
    )
    tax = load_taxonomy_frame()
    by_cat = tax.groupby("category_code")["item_code"].apply(set).to_dict()
    fits = {k: set().union(*(by_cat.get(c, set()) for c in cats)) for k, cats in kind_categories().items()}
    out = settings.inbox_dir / "offers" / f"joint_meeting_{quarter_start:%Y%m%d}.json"
    counts = simulate_joint_meeting(gap["lines"], units, fits, out, quarter_start, seed)
    get_run_logger().info("joint meeting %s: %s", quarter_start, counts)
    return counts


def _progress_file() -> Path:
    return get_settings().var_dir / "sample" / "progress.json"


@task
def simulated_steps(key: str) -> set[str]:
    """Steps of the simulation ``key`` (seed, start, length) already run to the end: a re-run of
    ``make run`` skips them, so it is a no-op once the simulation is complete."""
    f = _progress_file()
    if not f.exists():
        return set()
    return set(json.loads(f.read_text(encoding="utf-8")).get(key, []))


@task
def mark_simulated(key: str, step: str) -> None:
    f = _progress_file()
    data = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
    data[key] = sorted({*data.get(key, []), step})
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(data, indent=1), encoding="utf-8")
