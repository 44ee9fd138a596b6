"""Explain a solution: why each need stayed unserved, who escalates, and how fair it was per area."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from matching.problem import LEVELS, CostModel, Problem
from matching.solver import Assignment

# reason code -> what an operator reads (Chinese), in the order the rules apply
REASONS = {
    "no_offer_for_item": "全街道没有提供该服务事项的资源",
    "no_offer_in_scope": "本网格/当前升级层级内没有该事项的资源",
    "time_window": "可提供资源的服务时间与本期或居民期望时间不符",
    "declined": "可提供资源的单位均已拒单",
    "cost_above_penalty": "可提供资源距离过远，派单代价高于暂缓代价",
    "capacity_taken": "可提供资源的名额已被更紧急或等待更久的需求占用",
}
LEVEL_ZH = {0: "网格", 1: "社区", 2: "街道"}


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
        return f"{text}（全街道该事项资源 {row.item} 个，升级后可扩大派单范围）"
    if code == "capacity_taken":
        return f"{text}（可选资源 {row.cost} 个）"
    if code in ("time_window", "declined", "cost_above_penalty"):
        return f"{text}（范围内资源 {row.scope} 个）"
    return text


def escalate(needs: pd.DataFrame, unserved_ids: pd.Index, model: CostModel) -> pd.DataFrame:
    """New ``escalation_level`` and ``cycles_unserved`` for the needs that stayed unserved.

    A need unserved for ``escalate_after_cycles`` cycles at a level moves up one level
    (grid -> community -> subdistrict) and its counter restarts; at the top it stays there.
    Returns ``need_id``, ``escalation_level``, ``cycles_unserved``, ``escalated`` (bool).
    """
    cur = needs.set_index("need_id").loc[unserved_ids, ["escalation_level", "cycles_unserved"]]
    count = cur["cycles_unserved"] + 1
    up = (count >= model.escalate_after_cycles) & (cur["escalation_level"] < len(LEVELS) - 1)
    return pd.DataFrame(
        {
            "need_id": cur.index.to_numpy(),
            "escalation_level": np.where(up, cur["escalation_level"] + 1, cur["escalation_level"]),
            "cycles_unserved": np.where(up, 0, count),
            "escalated": up.to_numpy(),
        }
    )


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
