"""Outcomes per quarter — what the districts report (办结率 90-99.6 %): how many needs got done,
how fast, and whether the backlog shrinks. Pure pandas.

For a quarter [start, end]:
- completion rate: needs reported from ``start`` to ``end - settle_days`` (so each had two weeks)
  that were done (completed or closed) by ``end``;
- median days to completion: report -> completion, for needs done within the quarter, all and
  urgent (urgency >= 2) separately;
- open backlog: needs reported and not yet done, at the quarter's start and at its end.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

OUTCOME_LABELS_ZH = {
    "quarter": "季度",
    "needs_reported": "本季度上报需求",
    "eligible": "截止前14天上报的需求",
    "completed": "其中已办结",
    "completion_rate": "办结率",
    "median_days": "办结天数中位数",
    "median_days_urgent": "紧急需求办结天数中位数",
    "backlog_start": "季初待办",
    "backlog_end": "季末待办",
}


def quarter_bounds(label: str) -> tuple[date, date]:
    year, q = int(label[:4]), int(label[-1])
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + (q == 4), (3 * q) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def quarter_outcomes(
    needs: pd.DataFrame,
    quarters: list[str],
    settle_days: int = 14,
    urgent_from: int = 2,
    through: date | None = None,
) -> pd.DataFrame:
    """One row per quarter label (e.g. ``2026Q4``); ``needs``: need_id, urgency, submitted_at, done_on.

    ``through``: the last day the data covers (a quarter still running is cut there).
    """
    sub = pd.to_datetime(needs["submitted_at"]).dt.normalize()
    done = pd.to_datetime(needs["done_on"])
    urgent = needs["urgency"].astype(int) >= urgent_from
    rows = []
    for label in quarters:
        start, end = quarter_bounds(label)
        if through is not None:
            end = min(end, through)
        s, e = pd.Timestamp(start), pd.Timestamp(end)
        reported = (sub >= s) & (sub <= e)
        eligible = (sub >= s) & (sub <= e - pd.Timedelta(days=settle_days))
        done_by_end = done.notna() & (done <= e)
        in_quarter = done.notna() & (done >= s) & (done <= e)
        days = (done - sub).dt.days
        rows.append(
            {
                "quarter": label,
                "needs_reported": int(reported.sum()),
                "eligible": int(eligible.sum()),
                "completed": int((eligible & done_by_end).sum()),
                "completion_rate": round(float((eligible & done_by_end).sum() / eligible.sum()), 4)
                if eligible.any()
                else None,
                "median_days": _median(days[in_quarter]),
                "median_days_urgent": _median(days[in_quarter & urgent]),
                "backlog_start": int(((sub < s) & ~(done.notna() & (done < s))).sum()),
                "backlog_end": int(((sub <= e) & ~done_by_end).sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(OUTCOME_LABELS_ZH))


def _median(days: pd.Series) -> float | None:
    return round(float(days.median()), 1) if len(days) else None
