"""Closed-loop tasks: release overdue work, hand accepted work (with full contact) to its unit."""

from __future__ import annotations

import json
from datetime import date

from prefect import get_run_logger, task

from settings import get_settings
from store.db import session_factory
from store.loop import accepted_work_orders, release_overdue


@task(retries=2, retry_delay_seconds=3)
def release_overdue_work(today: date, accept_days: int, complete_days: int) -> dict[str, int]:
    settings = get_settings()
    with session_factory(settings.database_url)() as session, session.begin():
        out = release_overdue(session, today, accept_days, complete_days, actor="closed-loop")
    get_run_logger().info("released overdue work: %s", out)
    return out


@task(retries=2, retry_delay_seconds=3)
def write_unit_work_orders(cycle_id: str) -> int:
    """Each accepting unit gets its own folder with the full contact of the residents it serves,
    and nothing about anyone else's (派单回执，仅对已接单单位开放联系方式)."""
    settings = get_settings()
    with session_factory(settings.database_url)() as session:
        orders = accepted_work_orders(session, cycle_id)
    root = settings.var_dir / "outbox" / "units"
    for unit_id, part in orders.groupby("unit_id"):
        folder = root / str(unit_id)
        folder.mkdir(parents=True, exist_ok=True)
        part.to_csv(folder / f"work_orders_{cycle_id}.csv", index=False, encoding="utf-8-sig")
        doc = {"unit_id": unit_id, "cycle_id": cycle_id, "orders": part.to_dict("records")}
        (folder / f"work_orders_{cycle_id}.json").write_text(
            json.dumps(doc, ensure_ascii=False, default=str), encoding="utf-8"
        )
    get_run_logger().info(
        "work orders for %d unit(s) under %s", orders["unit_id"].nunique() if len(orders) else 0, root
    )
    return len(orders)
