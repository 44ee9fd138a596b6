"""Task that hands the sample district over the way real sources would: files in the inbox."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from prefect import get_run_logger, task

from sample.district import generate_district
from sample.responses import simulate_unit_responses
from settings import get_settings


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
def simulate_responses(service_list_dir: str, day: date, seed: int) -> dict[str, int]:
    """Units answer the published list: their responses land in the inbox like any other file."""
    settings = get_settings()
    src = Path(service_list_dir) / "service_list.csv"
    out = (
        settings.inbox_dir / "responses" / f"responses_{Path(service_list_dir).parent.name}_{day:%Y%m%d}.json"
    )
    counts = simulate_unit_responses(src, out, day, seed)
    get_run_logger().info("units responded: %s -> %s", counts, out)
    return counts


@task
def simulate_week_of_needs(day: date, n: int, seed: int) -> int:
    """New needs reported through the platform during the week before ``day``."""
    from sample.district import generate_weekly_needs

    settings = get_settings()
    out = settings.inbox_dir / "needs" / f"platform_week_{day:%Y%m%d}.json"
    return generate_weekly_needs(settings.var_dir / "sample" / "district.json", out, day, n, seed)


@task
def simulate_followup_answers_task(call_list_dir: str, day: date, seed: int) -> dict[str, int]:
    """Residents answer today's follow-up calls; the answers land in the inbox."""
    from sample.responses import simulate_followup_answers

    settings = get_settings()
    src = Path(call_list_dir) / "call_list.csv"
    out = settings.inbox_dir / "followups" / f"followup_answers_{day:%Y%m%d}.json"
    return simulate_followup_answers(src, out, day, seed)
