"""Closed-loop tasks: release overdue work, hand accepted work (with full contact) to its unit."""

from __future__ import annotations

import json
import os
from datetime import date

from prefect import get_run_logger, task

from lifecycle.changes import NeedChange
from service.loop import accepted_work_orders, record_from_form, release_overdue, work_order_sheet
from settings import get_settings
from store.db import session_factory
from tasks.events import announce


@task(retries=2, retry_delay_seconds=3)
def release_overdue_work(today: date, accept_days: int, complete_days: int) -> dict[str, int]:
    settings = get_settings()
    changes: list[NeedChange] = []
    with session_factory(settings.database_url)() as session, session.begin():
        out = release_overdue(
            session, today, accept_days, complete_days, actor="closed-loop", changes=changes
        )
    announce(changes)
    get_run_logger().info("released overdue work: %s", out)
    return out


@task(retries=2, retry_delay_seconds=3)
def write_unit_work_orders() -> int:
    """Each accepting unit gets its own file of open work with the full contact of the residents it
    serves, and nothing about anyone else's (接单后才向该单位开放联系方式). Rewritten atomically each run."""
    settings = get_settings()
    with session_factory(settings.database_url)() as session:
        orders = accepted_work_orders(session)
    root = settings.outbox_dir / "units"
    # a unit with no open work keeps no residents' contacts
    open_units = set(orders["unit_id"]) if len(orders) else set()
    for stale in root.glob("*/work_orders*") if root.exists() else []:
        if stale.parent.name not in open_units:
            stale.unlink()
    for unit_id, part in orders.groupby("unit_id"):
        folder = root / str(unit_id)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".work_orders.csv.tmp"
        part.to_csv(tmp, index=False, encoding="utf-8-sig")
        os.replace(tmp, folder / "work_orders.csv")
        # for the unit's staff: Chinese headers and the reply columns to fill in and send back
        tmp = folder / ".work_orders_zh.csv.tmp"
        work_order_sheet(part).to_csv(tmp, index=False, encoding="utf-8-sig")
        os.replace(tmp, folder / "work_orders_zh.csv")
        doc = {"unit_id": unit_id, "orders": part.to_dict("records")}
        tmp = folder / ".work_orders.json.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, folder / "work_orders.json")
    get_run_logger().info(
        "open work orders: %d for %d unit(s) under %s",
        len(orders),
        orders["unit_id"].nunique() if len(orders) else 0,
        root,
    )
    return len(orders)


@task
def record_response_from_form(
    need_id: int,
    unit_id: str,
    action: str,
    operator: str,
    note: str | None,
    completed_on: date | None,
    response_id: str,
) -> dict:
    """Apply an answer typed in the Prefect UI (one transaction), then announce the change."""
    changes: list[NeedChange] = []
    with session_factory(get_settings().database_url)() as session, session.begin():
        reason = record_from_form(
            session, need_id, unit_id, action, operator, note, completed_on, response_id, changes
        )
    announce(changes)
    status = str(changes[-1].step.need_to) if changes else None
    return {"applied": reason is None, "reason": reason, "need_status": status, "events": len(changes)}
