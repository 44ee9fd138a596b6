"""Hypothesis strategies for small solver instances."""

from __future__ import annotations

import pandas as pd
from hypothesis import strategies as st


@st.composite
def small_instances(draw, max_needs: int = 5, max_offers: int = 3):
    n = draw(st.integers(0, max_needs))
    m = draw(st.integers(0, max_offers))
    pairs = [(i, o) for i in range(n) for o in range(m)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    costs = draw(st.lists(st.integers(-5, 30), min_size=len(chosen), max_size=len(chosen)))
    edges = pd.DataFrame(
        {
            "need_id": [p[0] for p in chosen],
            "offer_id": [f"o{p[1]}" for p in chosen],
            "cost": [float(c) for c in costs],
        }
    )
    capacity = pd.Series(
        draw(st.lists(st.integers(0, 3), min_size=m, max_size=m)),
        index=[f"o{j}" for j in range(m)],
        dtype="int64",
    )
    penalty = pd.Series(
        [float(x) for x in draw(st.lists(st.integers(0, 25), min_size=n, max_size=n))],
        index=range(n),
        dtype="float64",
    )
    return edges, capacity, penalty
