"""From needs and offers to a solver problem: who may serve whom, at what cost, and why not.

Eligibility rules, in the order they are applied (each unserved need is explained by the
first rule that left it with nothing):
1. ``item``: the offer gives the need's service item;
2. ``scope``: the offer's service area covers the need — its grid's, its community's and its
   subdistrict's offers, from the need's first cycle ("small matters stay in the grid" is the
   cheaper ``scope_cost`` of local offers, not a wait); at the subdistrict desk
   (``EscalationPolicy.cross_community_level``) also the community-wide offers of the other
   communities of its subdistrict (街道统筹);
3. ``window``: the offer's time window overlaps the cycle and the need's preferred dates;
4. ``declined``: the unit has not already declined this need;
5. ``cost``: the pairing costs no more than leaving the need unserved (its penalty).

Pure pandas/numpy; the frames are built by the store and handed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from lifecycle.escalation import EscalationPolicy, priority_factor
from lifecycle.vocabulary import LEVEL_NAMES

NEED_COLUMNS = [
    "need_id",
    "grid_id",
    "community_id",
    "subdistrict_id",
    "item_code",
    "urgency",
    "submitted_at",
    "escalation_level",
    "cycles_unserved",
    "x_km",
    "y_km",
    "preferred_start",
    "preferred_end",
]
OFFER_COLUMNS = [
    "offer_id",
    "unit_id",
    "item_code",
    "capacity",
    "area_level",
    "area_id",
    "window_start",
    "window_end",
    "x_km",
    "y_km",
    "rating",
    "area_subdistrict_id",
]


@dataclass(frozen=True)
class CostModel:
    """How pairings are priced and how much leaving a need unserved costs. All tunable."""

    per_km: float = 1.0
    # prefer local help (小事不出网格): a community-wide or subdistrict-wide offer costs a little
    # more than the grid's own, another community's offer (at the subdistrict desk) more again
    scope_cost: dict[str, float] = field(
        default_factory=lambda: {"grid": 0.0, "community": 1.0, "subdistrict": 2.0, "neighbour": 3.0}
    )
    # satisfaction (1-5) moves cost by this much per point away from the neutral rating
    rating_weight: float = 1.5
    neutral_rating: float = 4.0
    # penalty of leaving a need unserved: by urgency, growing with weeks waited and escalation
    urgency_penalty: dict[int, float] = field(default_factory=lambda: {1: 10.0, 2: 25.0, 3: 60.0})
    wait_growth_per_week: float = 0.25
    # escalation: deadlines, priority growth per level, cross-community reach (one policy)
    policy: EscalationPolicy = field(default_factory=EscalationPolicy)


@dataclass(frozen=True)
class Problem:
    """A solver problem with everything needed to explain its solution."""

    edges: pd.DataFrame  # need_id, offer_id, cost + cost_distance, cost_scope, cost_rating, distance_km
    capacity: pd.Series
    penalty: pd.Series
    # per need: how many offers were left after each rule (for explanations)
    funnel: pd.DataFrame


def compute_penalty(needs: pd.DataFrame, period_start: date, model: CostModel) -> pd.Series:
    """Cost of leaving each need unserved: grows with urgency, weeks waited and escalation."""
    base = needs["urgency"].map(model.urgency_penalty).astype(float)
    waited = (pd.Timestamp(period_start) - pd.to_datetime(needs["submitted_at"])).dt.days.clip(lower=0) / 7.0
    pen = (
        base
        * (1.0 + model.wait_growth_per_week * waited)
        * priority_factor(needs["escalation_level"], model.policy)
    )
    return pd.Series(
        pen.round(4).to_numpy(), index=pd.Index(needs["need_id"].to_numpy(), name="need_id"), name="penalty"
    )


def build_problem(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel | None = None,
    declined: pd.DataFrame | None = None,
) -> Problem:
    """Eligible pairs with their cost breakdown, capacities and penalties, vectorised and sparse.

    ``declined`` has columns ``need_id``, ``unit_id``: units that declined a need never get it again.
    """
    model = model or CostModel()
    needs = needs.reset_index(drop=True)
    penalty = compute_penalty(needs, period[0], model)
    capacity = pd.Series(
        offers["capacity"].to_numpy(dtype=np.int64),
        index=pd.Index(offers["offer_id"].to_numpy(), name="offer_id"),
        name="capacity",
    )
    n_item = needs["item_code"].map(offers.groupby("item_code").size()).fillna(0).astype(int)

    # rules 1+2: one join per covering level on (item, area id), sparse by construction
    need_cols = ["need_id", "item_code", "x_km", "y_km", "preferred_start", "preferred_end"]
    parts = []
    for level in LEVEL_NAMES:
        lv_offers = offers[offers["area_level"] == level]
        if lv_offers.empty or needs.empty:
            continue
        parts.append(
            needs[[*need_cols, f"{level}_id"]].merge(
                lv_offers.rename(columns={"area_id": f"{level}_id"}),
                on=["item_code", f"{level}_id"],
                suffixes=("_need", "_offer"),
            )
        )
    # at the subdistrict desk: community-wide offers of the subdistrict's other communities
    far = needs[needs["escalation_level"] >= model.policy.cross_community_level]
    comm_offers = offers[offers["area_level"] == "community"]
    if len(far) and len(comm_offers) and "area_subdistrict_id" in offers:
        cross = far[[*need_cols, "community_id", "subdistrict_id"]].merge(
            comm_offers.rename(columns={"area_subdistrict_id": "subdistrict_id"}),
            on=["item_code", "subdistrict_id"],
            suffixes=("_need", "_offer"),
        )
        cross = cross[cross["community_id"].to_numpy() != cross["area_id"].to_numpy()]
        parts.append(cross.assign(area_level="neighbour"))
    cols = [
        "need_id",
        "offer_id",
        "unit_id",
        "area_level",
        "x_km_need",
        "y_km_need",
        "x_km_offer",
        "y_km_offer",
        "rating",
        "window_start",
        "window_end",
        "preferred_start",
        "preferred_end",
    ]
    pairs = pd.concat([p[cols] for p in parts], ignore_index=True) if parts else pd.DataFrame(columns=cols)
    n_scope = pairs.groupby("need_id").size()

    # rule 3: time windows overlap the cycle and the need's preferred dates (when given)
    p_start, p_end = pd.Timestamp(period[0]), pd.Timestamp(period[1])
    w_start, w_end = pd.to_datetime(pairs["window_start"]), pd.to_datetime(pairs["window_end"])
    fits = (w_start <= p_end) & (w_end >= p_start)
    pref_s, pref_e = pd.to_datetime(pairs["preferred_start"]), pd.to_datetime(pairs["preferred_end"])
    fits &= (pref_s.isna() | (w_end >= pref_s)) & (pref_e.isna() | (w_start <= pref_e))
    pairs = pairs[fits.to_numpy()]
    n_window = pairs.groupby("need_id").size()

    # rule 4: never offer a need again to a unit that declined it
    if declined is not None and len(declined):
        key = pd.MultiIndex.from_frame(pairs[["need_id", "unit_id"]])
        pairs = pairs[~key.isin(pd.MultiIndex.from_frame(declined[["need_id", "unit_id"]]))]
    n_declined = pairs.groupby("need_id").size()

    dist = np.hypot(
        pairs["x_km_need"].to_numpy(float) - pairs["x_km_offer"].to_numpy(float),
        pairs["y_km_need"].to_numpy(float) - pairs["y_km_offer"].to_numpy(float),
    )
    rating = pairs["rating"].astype(float).fillna(model.neutral_rating).to_numpy()
    edges = pd.DataFrame(
        {
            "need_id": pairs["need_id"].to_numpy(),
            "offer_id": pairs["offer_id"].to_numpy(),
            "cost_distance": np.round(model.per_km * dist, 4),
            "cost_scope": pairs["area_level"].map(model.scope_cost).to_numpy(dtype=float),
            "cost_rating": np.round(model.rating_weight * (model.neutral_rating - rating), 4),
            "distance_km": np.round(dist, 3),
        }
    )
    edges["cost"] = (edges["cost_distance"] + edges["cost_scope"] + edges["cost_rating"]).round(4)
    # rule 5 (reported only; the solver drops such edges itself)
    affordable = edges["cost"].to_numpy() <= penalty.reindex(edges["need_id"]).to_numpy()
    n_cost = edges[affordable].groupby("need_id").size()

    ids = needs["need_id"]
    funnel = pd.DataFrame(
        {
            "need_id": ids.to_numpy(),
            "item": n_item.to_numpy(),
            "scope": ids.map(n_scope).fillna(0).astype(int).to_numpy(),
            "window": ids.map(n_window).fillna(0).astype(int).to_numpy(),
            "declined": ids.map(n_declined).fillna(0).astype(int).to_numpy(),
            "cost": ids.map(n_cost).fillna(0).astype(int).to_numpy(),
        }
    ).set_index("need_id")
    edges = edges.sort_values(["need_id", "offer_id"], kind="stable").reset_index(drop=True)
    return Problem(edges=edges, capacity=capacity, penalty=penalty, funnel=funnel)
