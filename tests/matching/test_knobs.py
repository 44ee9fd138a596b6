"""The cost model's knobs: Variables over the code's defaults, run parameters over Variables,
each use recorded with its source, and a bad value refused with what to fix."""

from __future__ import annotations

import pytest

from matching.knobs import BadKnob, tuned_model
from matching.problem import CostModel


def test_defaults_variables_and_parameters_in_that_order():
    model, used = tuned_model({})
    assert model == CostModel() and {r["source"] for r in used} == {"代码默认"}
    model, used = tuned_model(
        {
            "threelists_per_km": "2.5",
            "threelists_scope_cost": '{"community": 4}',
            "threelists_deadline_cycles": {"1": 3},
        },
        {"per_km": 0.5, "rating_weight": None},
    )
    assert model.per_km == 0.5  # the run's parameter wins over the Variable
    assert model.scope_cost == {"grid": 0.0, "community": 4.0, "subdistrict": 2.0, "neighbour": 3.0}
    assert model.policy.deadline_cycles == {1: 3, 2: 1, 3: 1}
    source = {r["knob"]: r["source"] for r in used}
    assert (source["per_km"], source["scope_cost"], source["rating_weight"]) == (
        "运行参数",
        "Prefect 变量",
        "代码默认",
    )


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"threelists_per_km": "abc"}, "threelists_per_km 的值 'abc' 不是数字"),
        ({"threelists_urgency_penalty": '{"4": 1}'}, "未知的键"),
        ({"threelists_scope_cost": "[1, 2]"}, "应为 JSON 对象"),
        ({"threelists_wait_growth_per_week": -1}, "不能为负"),
    ],
)
def test_a_bad_value_says_which_variable_and_why(variables, says):
    with pytest.raises(BadKnob, match=says):
        tuned_model(variables)
