"""prefect.yaml declares a deployment for every flow, with a work pool and valid entrypoints."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _flows() -> set[str]:
    found = set()
    for path in (ROOT / "flows").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "flow")
                or getattr(d, "id", "") == "flow"
                for d in node.decorator_list
            ):
                found.add(f"flows/{path.name}:{node.name}")
    return found


def test_every_flow_has_a_deployment():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    entrypoints = {d["entrypoint"] for d in doc["deployments"]}
    assert _flows() == entrypoints
    for d in doc["deployments"]:
        assert d["work_pool"]["name"] == "threelists" and d.get("description") and d.get("tags")


def test_quarterly_survey_schedule_and_match_concurrency():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    by_entry = {d["entrypoint"]: d for d in doc["deployments"]}
    quarterly = by_entry["flows/surveys.py:quarterly_needs_survey"]["schedules"][0]
    assert quarterly == {"cron": "0 8 1 1,4,7,10 *", "timezone": "Asia/Shanghai"}
    assert by_entry["flows/match_cycle.py:match_cycle"]["concurrency_limit"]["limit"] == 1
