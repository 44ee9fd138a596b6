"""The daily closed loop: release overdue work, hand accepted work to units, run follow-ups."""

from __future__ import annotations

from datetime import date

from prefect import flow

from flows.naming import by_day
from tasks import artifacts
from tasks.followup import prepare_followups, publish_call_list
from tasks.loop import release_overdue_work, write_unit_work_orders


@flow(name="closed-loop", flow_run_name=by_day("loop", "today"), log_prints=True)
def closed_loop(
    today: date | None = None,
    accept_days: int = 3,
    complete_days: int = 14,
    followup_delay_days: int = 28,
    reminder_interval_days: int = 3,
    max_reminders: int = 2,
) -> dict:
    """Daily: 督办销单 and 回访.

    Args:
        today: the day to run for (defaults to today).
        accept_days: dispatched work no unit answered within this many days is released.
        complete_days: accepted work not completed within this many days is released.
        followup_delay_days: a completed service is followed up this many days later
            (FixMyStreet asks after four weeks).
        reminder_interval_days: days between follow-up call attempts.
        max_reminders: attempts before a follow-up is recorded as unanswered.
    """
    today = today or date.today()
    released = release_overdue_work(today, accept_days, complete_days)
    orders = write_unit_work_orders()
    follow = prepare_followups(today, followup_delay_days, reminder_interval_days, max_reminders)
    calls = publish_call_list(today)
    summary = {
        "released": released,
        "work_orders": orders,
        "followups": follow,
        "call_list": str(calls.path),
        "calls": calls.row_count,
    }
    artifacts.table(
        f"closed-loop-{today.isoformat()}",
        [
            {"项目": "超时未接单收回", "数量": released["unanswered"]},
            {"项目": "接单超时未办结收回", "数量": released["not_completed"]},
            {"项目": "新建回访", "数量": follow["created"]},
            {"项目": "回访提醒", "数量": follow["reminded"]},
            {"项目": "回访未接通", "数量": follow["no_answer"]},
            {"项目": "今日回访电话", "数量": calls.row_count},
        ],
        description=f"{today} 闭环处理",
    )
    return summary


if __name__ == "__main__":
    closed_loop()
