"""Escalation and deadlines: when a need moves to the next desk (grid -> community -> subdistrict),
what that changes, and how long the closed loop waits for a unit. One policy, one function, one cap.

A need is eligible from its first cycle for every offer whose service area covers it (its grid's,
its community's, its subdistrict's); "small matters stay in the grid" is a preference in the cost
(``matching.problem.CostModel.scope_cost``), not a week of waiting per level. Escalation is for
what nothing in reach can serve, or what waits past its deadline. It

- moves the need to the next desk (网格 -> 社区 -> 街道统筹), recorded with its reason;
- raises its priority: the penalty of leaving it unserved grows by ``priority_growth`` per level;
- widens what can serve it where the policy allows: at the subdistrict desk
  (``cross_community_level``) the subdistrict coordinates across communities (街道统筹), so
  community-wide offers of the other communities of its subdistrict become eligible too, at a
  small extra cost (``CostModel.scope_cost["neighbour"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lifecycle.vocabulary import ESCALATION_REASONS, LEVEL_NAMES, LEVEL_ZH

TOP_LEVEL = len(LEVEL_NAMES) - 1  # the one cap: the subdistrict desk

# unserved reasons that mean "nothing within the need's current reach can serve it"
NOTHING_IN_REACH = ("no_offer_for_item", "no_offer_in_scope", "time_window", "declined")


@dataclass(frozen=True)
class EscalationPolicy:
    """Every knob of escalation and the closed loop's deadlines, with the defaults documented."""

    # cycles a need may stay unserved at one desk while something in reach could serve it
    # (capacity taken this week), by urgency (1 一般, 2 紧急, 3 特急), before it moves up
    deadline_cycles: dict[int, int] = field(default_factory=lambda: {1: 2, 2: 1, 3: 1})
    # penalty of leaving a need unserved grows by this factor per level (priority)
    priority_growth: float = 0.5
    # from this desk on, community-wide offers of the other communities of the subdistrict serve it
    cross_community_level: int = 2
    # closed loop: dispatched work nobody accepted within this many days is taken back
    accept_days: int = 3
    # accepted work not reported done within this many days is taken back
    complete_days: int = 14
    # an urgent need (urgency >= this) is matched the day it is reported (接诉即办)
    urgent_from: int = 2

    def deadline(self, urgency: int) -> int:
        return int(self.deadline_cycles.get(int(urgency), max(self.deadline_cycles.values())))


def escalate(needs: pd.DataFrame, policy: EscalationPolicy | None = None) -> pd.DataFrame:
    """New desk level for each need: the one place escalation is decided.

    ``needs``: ``need_id``, ``escalation_level``, ``cycles_unserved``, ``urgency`` and ``cause``:
    an unserved reason code from the match cycle, or ``"followup_not_done"``.
    A need whose cause means nothing in reach can serve it moves at once to the desk that reaches
    further (``cross_community_level``); a follow-up "not done" moves it one desk up at once; one that could be served but waited ``deadline(urgency)`` cycles moves up then;
    at the subdistrict desk it stays (the cap). Returns ``need_id``, ``from_level``, ``escalation_level``,
    ``cycles_unserved``, ``escalated`` (bool), ``why`` (code or None) and ``detail`` (Chinese).
    """
    policy = policy or EscalationPolicy()
    level = needs["escalation_level"].to_numpy(dtype=np.int64)
    count = needs["cycles_unserved"].to_numpy(dtype=np.int64) + 1
    cause = needs["cause"].astype(str).to_numpy()
    deadline = np.array([policy.deadline(u) for u in needs["urgency"]], dtype=np.int64)
    nothing = np.isin(cause, NOTHING_IN_REACH)
    followup = cause == "followup_not_done"
    waited = count >= deadline
    below_cap = level < TOP_LEVEL
    up = below_cap & (nothing | followup | waited)
    why = np.where(
        followup,
        "followup_not_done",
        np.where(nothing, "nothing_in_scope", np.where(waited, "waited_past_deadline", "")),
    )
    # nothing in reach: the community desk sees the same offers as the grid's (every covering
    # offer is eligible from the first cycle), so the need goes straight to the desk that reaches
    # further (街道统筹); a wait past the deadline or a failed follow-up moves it one desk up
    jump = np.maximum(level + 1, min(policy.cross_community_level, TOP_LEVEL))
    new_level = np.where(up, np.where(nothing & ~followup, jump, level + 1), level)
    detail = [
        f"{ESCALATION_REASONS[w]}，升级至{LEVEL_ZH[int(lv)]}统筹" if u else None
        for u, w, lv in zip(up, why, new_level, strict=True)
    ]
    return pd.DataFrame(
        {
            "need_id": needs["need_id"].to_numpy(),
            "from_level": level,
            "escalation_level": new_level,
            "cycles_unserved": np.where(up, 0, count),
            "escalated": up,
            "why": np.where(up, why, None),
            "detail": detail,
        }
    )


def priority_factor(level: pd.Series | np.ndarray, policy: EscalationPolicy | None = None) -> np.ndarray:
    """How much more leaving a need unserved costs at its desk level."""
    policy = policy or EscalationPolicy()
    return 1.0 + policy.priority_growth * np.asarray(level, dtype=float)
