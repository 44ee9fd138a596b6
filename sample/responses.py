"""Simulate units answering a published service list (the API-shaped JSON they would send back)."""

from __future__ import annotations

import json
import zlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

DECLINE_REASONS = ["本周人手不足", "超出服务范围", "该时段无法上门", "设备检修中"]


def _plan(assignment_id: int, seed: int, accept: float, decline: float, complete: float) -> dict:
    """What a unit does with one dispatched piece of work, fixed by the assignment and the seed:
    accept after 0-1 days and (mostly) complete 1-3 days later, decline, or stay silent."""
    rng = np.random.default_rng([seed, assignment_id])
    u = rng.random()
    accept_after = int(rng.integers(0, 2))
    done_after = int(rng.integers(1, 4))
    if u < accept:
        return {
            "action": "accept",
            "after": accept_after,
            "done": rng.random() < complete,
            "done_after": done_after,
        }
    if u < accept + decline:
        return {"action": "decline", "after": accept_after, "reason": str(rng.choice(DECLINE_REASONS))}
    return {"action": "silent"}


def simulate_unit_responses(
    service_lists: list[Path],
    out_path: Path,
    today: date,
    state_path: Path,
    seed: int = 7,
    accept: float = 0.85,
    decline: float = 0.09,
    complete: float = 0.95,
    send: bool = True,
) -> dict[str, int]:
    """Units answer the work on the published lists (the API-shaped JSON they send back).

    Each assignment is first seen on the day it appears on a list (its dispatch day, kept in
    ``state_path``); the unit's answers are dated from then, and only what happened before
    ``today`` is sent, once (with ``send=False`` only the first sightings are noted). Returns how
    many of each were written.
    """
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    seen: dict[str, str] = state.setdefault("first_seen", {})
    sent: set[str] = set(state.setdefault("sent", []))
    out, counts = [], {"accept": 0, "decline": 0, "complete": 0}
    for csv in service_lists:
        if not csv.exists():
            continue
        rows = pd.read_csv(csv, encoding="utf-8-sig", dtype={"unit_id": str})
        for r in rows.itertuples():
            key = str(int(r.assignment_id))
            first = date.fromisoformat(seen.setdefault(key, today.isoformat()))
            plan = _plan(int(r.assignment_id), seed, accept, decline, complete)
            base = {"assignment_id": int(r.assignment_id), "unit_id": r.unit_id}
            events = []
            if plan["action"] == "accept":
                at = first + timedelta(days=plan["after"])
                events.append(("A", at, {"action": "accept", "responded_at": f"{at} 09:30:00"}))
                if plan["done"]:
                    done = at + timedelta(days=plan["done_after"])
                    events.append(
                        (
                            "C",
                            done,
                            {
                                "action": "complete",
                                "responded_at": f"{done} 17:00:00",
                                "completed_on": str(done),
                                "note": "已上门服务",
                            },
                        )
                    )
            elif plan["action"] == "decline":
                at = first + timedelta(days=plan["after"])
                events.append(
                    (
                        "D",
                        at,
                        {"action": "decline", "responded_at": f"{at} 10:00:00", "reason": plan["reason"]},
                    )
                )
            for tag, at, body in events:
                rid = f"RSP-{key}-{tag}"
                if send and at < today and rid not in sent:
                    out.append({**base, "response_id": rid, **body})
                    sent.add(rid)
                    counts[body["action"]] += 1
    state["sent"] = sorted(sent)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state), encoding="utf-8")
    if out:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(
            json.dumps({"source": "unit_api", "responses": out}, ensure_ascii=False, indent=1),
            encoding="utf-8",
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
