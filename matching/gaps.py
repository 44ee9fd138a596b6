"""The capacity-gap report (资源缺口报告) for the quarterly joint meeting (联席会议).

Computed from the exact optimum of the open pool: per community x service item, the needs left
unserved for lack of any offer in reach and for lack of capacity; what one more slot there is
worth (an exact re-solve: the drop in the optimum's total cost); which units already offer the
item nearby and could add slots or widen their area; and a ranked recruitment list — "k more
slots of item X in community Y serve z more needs", where z comes from an exact re-solve of the
item's problem with those k slots added as a community-wide offer at the community's centre.

Pure pandas/numpy/scipy (no Prefect, no database): the frames are read by the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from matching.plan import CyclePlan, plan_cycle
from matching.problem import CostModel, Problem, build_problem
from matching.solver import assemble, prepare_blocks, solve_assignment, solve_blocks

# unserved reasons that mean "no offer in reach" (vs "capacity taken by others")
NO_OFFER = ("no_offer_for_item", "no_offer_in_scope", "time_window", "declined", "cost_above_penalty")
GAP_COLUMNS_ZH = {
    "rank": "排序",
    "community_id": "社区编号",
    "community_name": "社区",
    "item_code": "服务事项编号",
    "item_name": "服务事项",
    "open_needs": "待派单需求",
    "unserved": "未能派单",
    "unserved_no_offer": "其中：范围内无资源",
    "unserved_no_capacity": "其中：名额不足",
    "urgent_unserved": "其中：紧急",
    "quarter_waited": "本季度曾因缺资源等待的需求",
    "recommended_slots": "建议增加名额（每周）",
    "predicted_served": "预计可多派单",
    "slot_value": "每增加一个名额的价值（总代价下降）",
    "nearby_units": "附近已提供该事项的单位",
    "candidate_units": "可认领的同类单位",
    "recommendation": "建议",
}


@dataclass(frozen=True)
class GapReport:
    lines: pd.DataFrame  # one row per community x item with unserved needs, ranked (GAP_COLUMNS_ZH keys)
    plan: CyclePlan  # the exact optimum the report was computed from
    served: int
    unserved: int


def _hypothetical_offer(offer_id: str, item: str, community: pd.Series, slots: int, period: tuple) -> dict:
    return {
        "offer_id": offer_id,
        "unit_id": offer_id,
        "item_code": item,
        "capacity": int(slots),
        "area_level": "community",
        "area_id": community["community_id"],
        "window_start": period[0],
        "window_end": period[1],
        "x_km": float(community["x_km"]),
        "y_km": float(community["y_km"]),
        "rating": np.nan,
        "area_subdistrict_id": community["subdistrict_id"],
    }


@dataclass(frozen=True)
class ItemOptimum:
    """One item's exact optimum, kept per need, so that a re-solve with one more offer solves only
    the component that offer joins: every other component keeps its needs, edges and optimum."""

    item: str
    needs: pd.DataFrame  # the item's needs
    problem: Problem
    edges: pd.DataFrame  # the problem's pairs: need_id, offer_id (plain values), cost
    component: np.ndarray  # per need (position in problem.penalty): its component, or -1 (no edge)
    served: int
    objective: float
    contribution: np.ndarray  # per need: its pair's cost if served, else its penalty
    is_served: np.ndarray  # per need


def item_optimum(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    declined: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel,
    item: str,
) -> ItemOptimum:
    """The exact optimum of ``item``'s needs and offers (items never share an offer)."""
    n = needs[needs["item_code"] == item]
    o = offers[offers["item_code"] == item]
    problem = build_problem(n, o, period, model, declined)
    prepared = prepare_blocks(**problem.solver_inputs())
    component = np.full(len(problem.penalty), -1, dtype=np.int64)
    for k, block in enumerate(prepared.blocks):
        component[block.needs] = k
    solution = assemble(prepared, solve_blocks(prepared.blocks))  # the blocks just cut, not cut again
    at = problem.penalty.index.get_indexer(solution.pairs["need_id"])
    contribution = problem.penalty.to_numpy(dtype=float).copy()
    contribution[at] = solution.pairs["cost"].to_numpy()
    is_served = np.zeros(len(contribution), dtype=bool)
    is_served[at] = True
    edges = problem.edges[["need_id", "offer_id", "cost"]].astype(
        {"need_id": problem.penalty.index.dtype, "offer_id": object}
    )
    return ItemOptimum(
        item,
        n,
        problem,
        edges,
        component,
        len(solution.pairs),
        float(solution.objective),
        contribution,
        is_served,
    )


def with_slots(
    base: ItemOptimum,
    declined: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel,
    community: pd.Series,
    slots: Sequence[int],
) -> list[tuple[int, float]]:
    """Per number of slots: (needs served, objective) of ``base``'s item with that many more
    community-wide slots in ``community``, exactly. Only the component the new offer joins is
    solved again (the needs that may use it, and all needs of the components they are in); the
    rest keeps its optimum."""
    out = [(base.served, base.objective)] * len(slots)
    offer_id = f"NEW-{community['community_id']}-{base.item}"
    extra = _hypothetical_offer(offer_id, base.item, community, 1, period)
    # the new offer's own pairs, by the same rules and costs as every other offer's, among the
    # needs a community-wide offer can reach at all: its community's, and its subdistrict's
    # (needs at the subdistrict desk may use other communities' offers)
    n = base.needs
    near = n[
        (n["community_id"] == community["community_id"])
        | (n["subdistrict_id"] == community["subdistrict_id"])
    ]
    reach = build_problem(near, pd.DataFrame([extra]), period, model, declined).edges
    penalty = base.problem.penalty
    reached = penalty.index.get_indexer(reach["need_id"].astype(penalty.index.dtype))
    # ...affordable ones only (the solver drops the rest): a need it cannot serve changes nothing
    affordable = reach["cost"].to_numpy() <= penalty.to_numpy()[reached]
    if not affordable.any():
        return out
    joined = np.zeros(len(penalty), dtype=bool)
    joined[reached[affordable]] = True
    touched = np.unique(base.component[joined])
    joined |= np.isin(base.component, touched[touched >= 0])
    pn, _ = base.problem.positions
    reach = reach[["need_id", "offer_id", "cost"]].astype(
        {"need_id": penalty.index.dtype, "offer_id": object}
    )
    edges = pd.concat([base.edges.loc[joined[pn]], reach], ignore_index=True)
    served, objective = int(base.is_served[joined].sum()), float(base.contribution[joined].sum())
    for k, count in enumerate(slots):
        if count > 0:
            capacity = pd.concat([base.problem.capacity, pd.Series({offer_id: int(count)})])
            part = solve_assignment(edges, capacity, penalty[joined])
            out[k] = (base.served - served + len(part.pairs), base.objective - objective + part.objective)
    return out


def resolve_with_slots(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    declined: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel,
    item: str,
    community: pd.Series,
    slots: int,
) -> tuple[int, float]:
    """Exact re-solve of ``item``'s problem with ``slots`` more community-wide slots in ``community``:
    (needs served after, objective after). Items never share an offer, so the rest is unchanged."""
    base = item_optimum(needs, offers, declined, period, model, item)
    return with_slots(base, declined, period, model, community, [slots])[0]


def build_gap_report(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    declined: pd.DataFrame,
    period: tuple[date, date],
    communities: pd.DataFrame,
    units: pd.DataFrame,
    items: pd.DataFrame,
    history: pd.DataFrame | None = None,
    model: CostModel | None = None,
    nearby: int = 3,
) -> GapReport:
    """The ranked gap lines of the open pool ``needs`` against ``offers`` (exact optimum).

    ``communities``: community_id, name, subdistrict_id, x_km, y_km (its centre);
    ``units``: unit_id, name, kind, community_id, x_km, y_km, fits (list of item codes its trade can
    offer); ``items``: item_code, item_name; ``history``: community_id, item_code, needs (distinct needs
    of the quarter that waited for lack of an offer or of capacity), optional.
    """
    model = model or CostModel()
    plan = plan_cycle(needs, offers, declined, period, model)
    cols = list(GAP_COLUMNS_ZH)
    if needs.empty:
        return GapReport(pd.DataFrame(columns=cols), plan, 0, 0)
    un = plan.unserved.merge(needs[["need_id", "community_id", "item_code", "urgency"]], on="need_id")
    un["no_offer"] = un["reason"].isin(NO_OFFER)
    g = un.groupby(["community_id", "item_code"])
    lines = pd.DataFrame(
        {
            "unserved": g.size(),
            "unserved_no_offer": g["no_offer"].sum(),
            "urgent_unserved": g["urgency"].apply(lambda u: int((u >= model.policy.urgent_from).sum())),
        }
    ).reset_index()
    lines["unserved_no_capacity"] = lines["unserved"] - lines["unserved_no_offer"]
    open_needs = needs.groupby(["community_id", "item_code"]).size().rename("open_needs")
    lines = lines.merge(open_needs.reset_index(), on=["community_id", "item_code"], how="left")
    if history is not None and len(history):
        lines = lines.merge(
            history.rename(columns={"needs": "quarter_waited"}), on=["community_id", "item_code"], how="left"
        )
    else:
        lines["quarter_waited"] = 0
    lines["quarter_waited"] = lines["quarter_waited"].fillna(0).astype(int)
    comm = communities.set_index("community_id", drop=False)
    item_name = items.set_index("item_code")["item_name"]
    # each item's optimum without new slots, once (items never share an offer); each line then
    # re-solves only the component its new offer joins
    base = {
        item: item_optimum(needs, offers, declined, period, model, item)
        for item in lines["item_code"].unique()
    }
    # per item, once: the units offering it (with their slots) and the units whose trade fits it
    slots_of = offers.groupby(["item_code", "unit_id"])["capacity"].sum()
    offering, fitting = {}, {}
    for item in base:
        o = slots_of.loc[item] if item in slots_of.index.get_level_values(0) else pd.Series(dtype=int)
        offering[item] = units[units["unit_id"].isin(o.index)].assign(
            slots=lambda u, o=o: u["unit_id"].map(o)
        )
        fitting[item] = units[[item in f for f in units["fits"]]]
    predicted, value, near, cand, slots = [], [], [], [], []
    for line in lines.itertuples():
        c = comm.loc[line.community_id]
        b = base[line.item_code]
        k = int(line.unserved)
        (served_k, _), (_, obj_1) = with_slots(b, declined, period, model, c, [k, 1])
        slots.append(k)
        predicted.append(served_k - b.served)
        value.append(round(b.objective - obj_1, 2) + 0.0)  # + 0.0: never "-0.0"
        near.append(_nearby_offering(offering[line.item_code], c, nearby))
        cand.append(_candidates(fitting[line.item_code], c, nearby))
    lines["recommended_slots"] = slots
    lines["predicted_served"] = predicted
    lines["slot_value"] = value
    lines["nearby_units"] = near
    lines["candidate_units"] = cand
    lines["community_name"] = lines["community_id"].map(comm["name"])
    lines["item_name"] = lines["item_code"].map(item_name).fillna(lines["item_code"])
    lines = lines.sort_values(
        ["predicted_served", "urgent_unserved", "slot_value", "community_id", "item_code"],
        ascending=[False, False, False, True, True],
        kind="stable",
    ).reset_index(drop=True)
    lines["rank"] = np.arange(1, len(lines) + 1)
    lines["recommendation"] = [
        f"{r.community_name}每周增加 {r.recommended_slots} 个“{r.item_name}”名额，可多服务 {r.predicted_served} 件需求"
        + (f"（其中紧急 {r.urgent_unserved} 件）" if r.urgent_unserved else "")
        for r in lines.itertuples()
    ]
    return GapReport(lines[cols], plan, len(plan.chosen), len(plan.unserved))


def _dist(df: pd.DataFrame, c: pd.Series) -> np.ndarray:
    return np.hypot(
        df["x_km"].to_numpy(float) - float(c["x_km"]), df["y_km"].to_numpy(float) - float(c["y_km"])
    )


def _nearby_offering(offering: pd.DataFrame, c: pd.Series, n: int) -> str:
    """The ``n`` units nearest to ``c`` among ``offering`` (units offering the item, with ``slots``)."""
    if offering.empty:
        return "无"
    u = offering.assign(km=_dist(offering, c)).nsmallest(n, "km")
    return "；".join(
        f"{r.name}（{r.unit_id}，{r.km:.1f} 公里，现有 {int(r.slots)} 个名额）" for r in u.itertuples()
    )


def _nearest(km: np.ndarray, among: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` of ``among`` (positions, in order) by ``km`` ascending, ties in order: what a
    stable sort would put first, without sorting them all."""
    if len(among) > n > 0:
        kth = np.partition(km[among], n - 1)[n - 1]
        among = among[km[among] <= kth]
    return among[np.argsort(km[among], kind="stable")][:n]


def _candidates(fitting: pd.DataFrame, c: pd.Series, n: int) -> str:
    """Units of a fitting trade (``fitting``) in the community (nearest first) that could claim the item."""
    if fitting.empty:
        return "无"
    km = _dist(fitting, c)
    local = (fitting["community_id"] == c["community_id"]).to_numpy(dtype=bool)
    pick = _nearest(km, np.flatnonzero(local), n)
    if len(pick) < n:  # then the nearest of other communities
        pick = np.r_[pick, _nearest(km, np.flatnonzero(~local), n - len(pick))]
    return "；".join(f"{r.name}（{r.unit_id}）" for r in fitting.iloc[pick].itertuples())


def unit_fits(units: pd.DataFrame, items: pd.DataFrame, kind_categories: dict[str, list[str]]) -> pd.Series:
    """For each unit, the item codes its trade can offer (from its kind's categories)."""
    by_cat = items.groupby("category_code")["item_code"].apply(list).to_dict()
    return units["kind"].map(
        lambda k: [i for c in kind_categories.get(str(k), []) for i in by_cat.get(c, [])]
    )


def gap_lines_for_people(lines: pd.DataFrame) -> pd.DataFrame:
    """The report with Chinese headers, for the joint meeting."""
    return lines.rename(columns=GAP_COLUMNS_ZH)
