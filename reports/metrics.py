"""The headline rates (问效): response rate, completion rate (办结率), satisfaction rate (满意率)
and time to complete — by unit, item, grid, community, cycle and quarter. Pure pandas.

Definitions (per assignment that a unit did not decline):
- completed: the unit completed it and no follow-up said "not done" (status completed or closed);
- completion rate = completed / assignments (released or reopened work counts as not completed);
- response rate = follow-ups answered / follow-ups sent (unanswered after reminders count as sent);
- satisfaction rate = answers scoring 4 or 5 / answers with a score;
- days to complete = completed_on - need submitted, median.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lifecycle.states import DONE_ASSIGNMENT, AssignmentStatus, SurveyStatus
from store.models import Assignment, Grid, Item, Need, Survey, SurveyAnswer, Unit

DIMENSIONS = {
    "unit": "unit_id",
    "item": "item_code",
    "grid": "grid_id",
    "community": "community_id",
    "cycle": "cycle_id",
    "quarter": "quarter",
}
LABELS_ZH = {
    "dimension": "维度",
    "key": "编号",
    "name": "名称",
    "assignments": "派单数",
    "completed": "办结数",
    "completion_rate": "办结率",
    "surveys": "回访数",
    "answered": "已回访",
    "response_rate": "回访率",
    "scored": "评分数",
    "satisfied": "满意数",
    "satisfaction_rate": "满意率",
    "median_days_to_complete": "办结天数中位数",
}


def facts_query() -> Select:
    """One row per assignment not declined, with its follow-up and answer (if any)."""
    return (
        select(
            Assignment.id.label("assignment_id"),
            Assignment.cycle_id,
            Assignment.status,
            Assignment.completed_on,
            Assignment.unit_id,
            Unit.name.label("unit_name"),
            Need.item_code,
            Item.name_zh.label("item_name"),
            Need.grid_id,
            Grid.community_id,
            Need.submitted_at,
            Survey.status.label("survey_status"),
            SurveyAnswer.done,
            SurveyAnswer.satisfaction,
        )
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(Need, Need.id == Assignment.need_id)
        .join(Item, Item.code == Need.item_code)
        .join(Grid, Grid.id == Need.grid_id)
        .outerjoin(Survey, (Survey.assignment_id == Assignment.id) & (Survey.kind == "followup"))
        .outerjoin(SurveyAnswer, SurveyAnswer.survey_id == Survey.id)
        .where(Assignment.status != AssignmentStatus.DECLINED)
    )


def read_facts(session: Session) -> pd.DataFrame:
    """The facts (:func:`facts_query`) as a frame."""
    q = facts_query()
    return pd.DataFrame(session.execute(q).all(), columns=list(q.selected_columns.keys()))


def compute_metrics(facts: pd.DataFrame) -> pd.DataFrame:
    """Rates for every value of every dimension (long format: dimension, key, counts, rates)."""
    f = facts.copy()
    f["completed"] = f["status"].isin([str(x) for x in DONE_ASSIGNMENT])
    f["surveyed"] = f["survey_status"].notna()
    f["answered"] = f["survey_status"].eq(str(SurveyStatus.ANSWERED))
    f["scored"] = f["satisfaction"].notna()
    f["satisfied"] = f["satisfaction"].fillna(0) >= 4
    done_on = pd.to_datetime(f["completed_on"])
    f["days_to_complete"] = (done_on - pd.to_datetime(f["submitted_at"])).dt.total_seconds() / 86400
    f.loc[~f["completed"], "days_to_complete"] = float("nan")
    f["quarter"] = (
        pd.to_datetime(f["cycle_id"].str.replace(r"-W(\d+)", r"-W\1-1", regex=True), format="%G-W%V-%u")
        .dt.to_period("Q")
        .astype(str)
    )
    frames = []
    for dim, col in DIMENSIONS.items():
        g = f.groupby(col, dropna=False)
        out = pd.DataFrame(
            {
                "assignments": g.size(),
                "completed": g["completed"].sum(),
                "surveys": g["surveyed"].sum(),
                "answered": g["answered"].sum(),
                "scored": g["scored"].sum(),
                "satisfied": g["satisfied"].sum(),
                "median_days_to_complete": g["days_to_complete"].median().round(1),
            }
        )
        out["completion_rate"] = (out["completed"] / out["assignments"]).round(4)
        out["response_rate"] = (out["answered"] / out["surveys"].where(out["surveys"] > 0)).round(4)
        out["satisfaction_rate"] = (out["satisfied"] / out["scored"].where(out["scored"] > 0)).round(4)
        out = out.reset_index().rename(columns={col: "key"})
        out.insert(0, "dimension", dim)
        names = {
            "unit": f.drop_duplicates("unit_id").set_index("unit_id")["unit_name"],
            "item": f.drop_duplicates("item_code").set_index("item_code")["item_name"],
        }.get(dim)
        out.insert(2, "name", out["key"].map(names) if names is not None else out["key"])
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def worst(
    metrics: pd.DataFrame, dimension: str, by: str = "completion_rate", n: int = 10, min_assignments: int = 3
) -> pd.DataFrame:
    """The ``n`` lowest by ``by`` among keys with enough assignments to mean something."""
    m = metrics[(metrics["dimension"] == dimension) & (metrics["assignments"] >= min_assignments)]
    return m.sort_values([by, "assignments"], ascending=[True, False]).head(n)
