"""Simulate units answering a published service list (the API-shaped JSON they would send back)."""

from __future__ import annotations

import json
import zlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

DECLINE_REASONS = ["本周人手不足", "超出服务范围", "该时段无法上门", "设备检修中"]


def simulate_unit_responses(
    service_list_csv: Path,
    out_path: Path,
    day: date,
    seed: int = 7,
    accept: float = 0.75,
    decline: float = 0.15,
    complete: float = 0.6,
) -> dict[str, int]:
    """Write responses for a service list: most units accept (and many complete), some decline,
    the rest stay silent. Returns how many of each were written."""
    rng = np.random.default_rng(seed)
    rows = pd.read_csv(service_list_csv, encoding="utf-8-sig", dtype={"unit_id": str})
    out, counts = [], {"accept": 0, "decline": 0, "complete": 0, "silent": 0}
    for r in rows.itertuples():
        u = rng.random()
        base = {"assignment_id": int(r.assignment_id), "unit_id": r.unit_id}
        if u < accept:
            at = day + timedelta(days=int(rng.integers(0, 2)))
            out.append(
                {
                    **base,
                    "response_id": f"RSP-{r.assignment_id}-A",
                    "action": "accept",
                    "responded_at": f"{at} 09:{int(rng.integers(10, 59))}:00",
                }
            )
            counts["accept"] += 1
            if rng.random() < complete:
                done = at + timedelta(days=int(rng.integers(1, 4)))
                out.append(
                    {
                        **base,
                        "response_id": f"RSP-{r.assignment_id}-C",
                        "action": "complete",
                        "responded_at": f"{done} 17:00:00",
                        "completed_on": str(done),
                        "note": "已上门服务",
                    }
                )
                counts["complete"] += 1
        elif u < accept + decline:
            out.append(
                {
                    **base,
                    "response_id": f"RSP-{r.assignment_id}-D",
                    "action": "decline",
                    "responded_at": f"{day} 10:00:00",
                    "reason": str(rng.choice(DECLINE_REASONS)),
                }
            )
            counts["decline"] += 1
        else:
            counts["silent"] += 1
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        json.dumps({"source": "unit_api", "responses": out}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return counts


def simulate_followup_answers(
    call_list_csv: Path, out_path: Path, day: date, seed: int = 7
) -> dict[str, int]:
    """Residents answer the phone team (most do): done yes / partly / no and a 1-5 score.
    Some units are consistently worse, so the reports have something to find."""
    rng = np.random.default_rng(seed)
    calls = pd.read_csv(call_list_csv, encoding="utf-8-sig", dtype={"phone": str})
    out, counts = [], {"answered": 0, "not_done": 0, "silent": 0}
    for r in calls.itertuples():
        if rng.random() > 0.8:
            counts["silent"] += 1
            continue
        weak = zlib.crc32(str(r.unit_name).encode()) % 7 == 0  # the same few units do worse every run
        u = rng.random()
        done = "no" if u < (0.3 if weak else 0.06) else ("partly" if u < (0.4 if weak else 0.1) else "yes")
        score = int(np.clip(round(rng.normal(2.6 if weak else 4.4, 0.8)), 1, 5))
        out.append(
            {
                "answer_id": f"FA-{r.survey_id}",
                "survey_id": str(r.survey_id),
                "answered_at": f"{day} 10:{int(rng.integers(10, 59))}:00",
                "done": done,
                "satisfaction": str(score),
                "comment": "服务及时" if score >= 4 else "希望改进",
            }
        )
        counts["answered"] += 1
        counts["not_done"] += done == "no"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        json.dumps({"source": "phone_team", "answers": out}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return counts
