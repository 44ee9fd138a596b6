"""A person's review of a draft service list before it is published: pairings removed with a
reason go back to the pool (unserved this cycle, reason ``removed_at_review``). Pure."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from lifecycle.vocabulary import UNSERVED_REASONS
from matching.plan import CyclePlan


class UnknownPairing(ValueError):
    """A removal names a need the draft does not pair; the message says which."""


def remove_pairings(plan: CyclePlan, removals: list[tuple[int, str]], operator: str) -> CyclePlan:
    """The plan without the pairings of these needs ((need_id, reason) each); raises
    :class:`UnknownPairing` for a need the draft does not pair (nothing is removed then)."""
    if not removals:
        return plan
    ids = [int(n) for n, _ in removals]
    unknown = sorted(set(ids) - set(plan.chosen["need_id"].astype(int)))
    if unknown:
        raise UnknownPairing(f"草稿服务清单中没有这些需求的派单：{unknown}")
    why = {int(n): reason for n, reason in removals}
    removed = plan.chosen[plan.chosen["need_id"].isin(ids)]
    back = pd.DataFrame(
        {
            "need_id": removed["need_id"].to_numpy(),
            "reason": "removed_at_review",
            "detail": [
                f"{UNSERVED_REASONS['removed_at_review']}：{why[int(n)]}（审核人 {operator}）"
                for n in removed["need_id"]
            ],
            "penalty": plan.problem.penalty.reindex(removed["need_id"]).to_numpy(),
        }
    )
    return replace(
        plan,
        chosen=plan.chosen[~plan.chosen["need_id"].isin(ids)].reset_index(drop=True),
        unserved=pd.concat([plan.unserved, back], ignore_index=True),
    )


def removed_pairs(plan: CyclePlan, removals: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """(need_id, unit_id, reason) of each removal, from the draft."""
    unit_of = dict(zip(plan.chosen["need_id"].astype(int), plan.chosen["unit_id"], strict=True))
    return [(int(n), unit_of[int(n)], reason) for n, reason in removals if int(n) in unit_of]
