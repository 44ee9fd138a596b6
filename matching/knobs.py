"""The cost model's knobs, tunable without a deploy: each may be set as a Prefect Variable (named
``threelists_<knob>``) or as a run parameter; what is set neither way keeps the code's default.
Pure: the values come in as a mapping; ``tasks/matching.py`` reads the Variables."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from matching.problem import CostModel

PREFIX = "threelists_"


@dataclass(frozen=True)
class Knob:
    name: str
    label_zh: str
    kind: str  # "number" or "map" (a JSON object of numbers)
    keys: tuple[str, ...] = ()


KNOBS = (
    Knob("per_km", "每公里代价", "number"),
    Knob("rating_weight", "满意度每差一分的代价", "number"),
    Knob(
        "scope_cost", "就近优先：各服务范围的代价", "map", ("grid", "community", "subdistrict", "neighbour")
    ),
    Knob("urgency_penalty", "未派单代价（按紧急程度 1/2/3）", "map", ("1", "2", "3")),
    Knob("wait_growth_per_week", "每等待一周未派单代价增长", "number"),
    Knob("deadline_cycles", "升级期限（周期数，按紧急程度 1/2/3）", "map", ("1", "2", "3")),
    Knob("priority_growth", "每升一级未派单代价增长", "number"),
)


class BadKnob(ValueError):
    """A knob's value cannot be used; the message says which and why, in Chinese."""


def _number(where: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadKnob(f"{where} 的值 {value!r} 不是数字") from None
    if x < 0 or x != x:
        raise BadKnob(f"{where} 的值 {value!r} 不能为负")
    return x


def _parse(knob: Knob, value: Any, where: str) -> Any:
    if knob.kind == "number":
        return _number(where, value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BadKnob(f"{where} 应为 JSON 对象，例如 {json.dumps(dict.fromkeys(knob.keys, 1))}") from None
    if not isinstance(value, Mapping):
        raise BadKnob(f"{where} 应为 JSON 对象，键为 {'、'.join(knob.keys)}")
    unknown = set(map(str, value)) - set(knob.keys)
    if unknown:
        raise BadKnob(f"{where} 有未知的键 {sorted(unknown)}，可用的键：{'、'.join(knob.keys)}")
    return {str(k): _number(f"{where}[{k}]", v) for k, v in value.items()}


def _current(model: CostModel, name: str) -> Any:
    if name in ("deadline_cycles", "priority_growth"):
        value = getattr(model.policy, name)
    else:
        value = getattr(model, name)
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


def tuned_model(
    variables: Mapping[str, Any], parameters: Mapping[str, Any] | None = None, base: CostModel | None = None
) -> tuple[CostModel, list[dict[str, Any]]]:
    """The cost model with the knobs set by Prefect Variables (``threelists_<knob>``) and, over
    them, by the run's parameters (None: not given); and one row per knob saying the value used
    and where it came from (for the run's summary). A map knob sets only the keys it names."""
    model = base or CostModel()
    parameters = parameters or {}
    rows = []
    for knob in KNOBS:
        value, source = _current(model, knob.name), "代码默认"
        for given, src, where in (
            (variables.get(PREFIX + knob.name), "Prefect 变量", f"Prefect 变量 {PREFIX + knob.name}"),
            (parameters.get(knob.name), "运行参数", f"运行参数 {knob.name}"),
        ):
            if given is None:
                continue
            parsed = _parse(knob, given, where)
            value = {**value, **parsed} if knob.kind == "map" else parsed
            source = src
        rows.append({"knob": knob.name, "label_zh": knob.label_zh, "value": value, "source": source})
    used = {r["knob"]: r["value"] for r in rows}
    policy = replace(
        model.policy,
        deadline_cycles={int(k): int(v) for k, v in used["deadline_cycles"].items()},
        priority_growth=float(used["priority_growth"]),
    )
    model = replace(
        model,
        per_km=float(used["per_km"]),
        rating_weight=float(used["rating_weight"]),
        scope_cost={k: float(v) for k, v in used["scope_cost"].items()},
        urgency_penalty={int(k): float(v) for k, v in used["urgency_penalty"].items()},
        wait_growth_per_week=float(used["wait_growth_per_week"]),
        policy=policy,
    )
    return model, rows


def variable_names() -> list[str]:
    return [PREFIX + k.name for k in KNOBS]
