"""Simulate the quarterly joint meeting (联席会议): units answer the capacity-gap report.

As districts do it: the meeting reads the ranked recruitment list, and for some lines a unit
whose trade fits the item, in the community or nearest to it, claims (认领) the recommended slots
(more or fewer than asked); for other lines nobody does. Only the gap report and the units
register are used — never the needs still to come.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd


def simulate_joint_meeting(
    gap_lines: list[dict],
    units: pd.DataFrame,
    fits: dict[str, set[str]],
    out_path: Path,
    quarter_start: date,
    seed: int,
    claim_share: float = 0.7,
) -> dict[str, int]:
    """Write the offers units claimed at the meeting (a platform export) and count them.

    ``units``: unit_id, kind, community_id, x_km, y_km; ``fits``: kind -> item codes its trade can
    offer; ``gap_lines``: the report's ranked lines (community_id, item_code, recommended_slots,
    predicted_served, x/y of nothing — the unit's own place is used).
    """
    rng = np.random.default_rng([seed, quarter_start.toordinal()])
    offers, asked, claimed = [], 0, 0
    for k, line in enumerate(gap_lines):
        slots = int(line.get("recommended_slots") or 0)
        if slots <= 0 or int(line.get("predicted_served") or 0) <= 0:
            continue
        asked += 1
        if rng.random() >= claim_share:
            continue  # nobody took this one up
        able = units[units["kind"].map(lambda kind, item=line["item_code"]: item in fits.get(kind, set()))]
        local = able[able["community_id"] == line["community_id"]]
        pool = local if len(local) else able
        if pool.empty:
            continue
        unit = pool.iloc[int(rng.integers(len(pool)))]
        claimed += 1
        offers.append(
            {
                "offer_id": f"JM{quarter_start:%Y%m}-{k + 1:04d}",
                "unit_id": unit["unit_id"],
                "item": line["item_code"],
                "capacity_per_cycle": max(1, round(slots * rng.uniform(0.7, 1.3))),
                "area_level": "community",
                "area_id": line["community_id"],
                "window_start": quarter_start.isoformat(),
                "window_end": (quarter_start + timedelta(days=365)).isoformat(),
            }
        )
    if offers:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(
            json.dumps(
                {"exported_at": f"{quarter_start}T09:00:00", "source": "joint_meeting", "offers": offers},
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
    return {
        "lines_asked": asked,
        "claimed": claimed,
        "slots": int(sum(o["capacity_per_cycle"] for o in offers)),
    }
