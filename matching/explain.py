"""Explain a solution: why each need stayed unserved, and how fair it was per area.

Who escalates is decided by :func:`lifecycle.escalation.escalate` from these reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from lifecycle.vocabulary import UNSERVED_REASONS
from matching.problem import Problem
from matching.solver import Assignment

REASONS = UNSERVED_REASONS  # reason code -> what an operator reads (lifecycle.vocabulary)


def explain_unserved(problem: Problem, solution: Assignment) -> pd.DataFrame:
    """One row per unserved need: ``need_id``, ``reason`` (code), ``detail`` (Chinese), ``penalty``."""
    f = problem.funnel.reindex(solution.unserved)
    reason = np.select(
        [f["item"] == 0, f["scope"] == 0, f["window"] == 0, f["declined"] == 0, f["cost"] == 0],
        ["no_offer_for_item", "no_offer_in_scope", "time_window", "declined", "cost_above_penalty"],
        default="capacity_taken",
    )
    detail = [_detail(code, row) for code, row in zip(reason, f.itertuples(), strict=True)]
    return pd.DataFrame(
        {
            "need_id": solution.unserved.to_numpy(),
            "reason": reason,
            "detail": detail,
            "penalty": problem.penalty.reindex(solution.unserved).to_numpy(),
        }
    )


def _detail(code: str, row: object) -> str:
    text = REASONS[code]
    if code == "no_offer_in_scope":
        return f"{text}（全街道该事项资源 {row.item} 个，升级至街道统筹后可跨社区派单）"
    if code == "capacity_taken":
        return f"{text}（可选资源 {row.cost} 个）"
    if code in ("time_window", "declined", "cost_above_penalty"):
        return f"{text}（范围内资源 {row.scope} 个）"
    return text


def fairness_report(needs: pd.DataFrame, served_ids: pd.Index, as_of: date) -> pd.DataFrame:
    """Per grid and community: needs, served, share served, average wait in days (served and not)."""
    df = needs[["need_id", "grid_id", "community_id", "submitted_at"]].copy()
    df["served"] = df["need_id"].isin(served_ids)
    df["wait_days"] = (pd.Timestamp(as_of) - pd.to_datetime(df["submitted_at"])).dt.total_seconds() / 86400
    frames = []
    for level in ("community_id", "grid_id"):
        g = df.groupby(level)
        out = pd.DataFrame(
            {
                "needs": g.size(),
                "served": g["served"].sum(),
                "avg_wait_days": g["wait_days"].mean().round(1),
                "avg_wait_days_unserved": df[~df["served"]].groupby(level)["wait_days"].mean().round(1),
            }
        )
        out["share_served"] = (out["served"] / out["needs"]).round(3)
        out = out.reset_index().rename(columns={level: "area_id"})
        out.insert(0, "level", level.removesuffix("_id"))
        frames.append(out)
    return pd.concat(frames, ignore_index=True)
