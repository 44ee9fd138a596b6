"""One cycle's plan from its inputs: problem, exact solution, explanations, escalations, fairness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from lifecycle.escalation import escalate
from matching.explain import explain_unserved, fairness_report
from matching.problem import CostModel, Problem, build_problem
from matching.solver import Assignment, Prepared, assemble, prepare_blocks, solve_assignment

BREAKDOWN = ["cost", "cost_distance", "cost_scope", "cost_rating", "distance_km"]


@dataclass(frozen=True)
class CyclePlan:
    problem: Problem
    solution: Assignment
    chosen: pd.DataFrame  # need_id, offer_id, unit_id + cost breakdown
    unserved: pd.DataFrame  # need_id, reason, detail, penalty
    escalation: pd.DataFrame  # for needs unserved for the first time in this cycle
    fairness: pd.DataFrame


def plan_cycle(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    declined: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel | None = None,
    workers: int | None = None,
) -> CyclePlan:
    """Pair the pool with capacity exactly and explain everything left over (in this process)."""
    model = model or CostModel()
    problem = build_problem(needs, offers, period, model, declined)
    solution = solve_assignment(**problem.solver_inputs(), workers=workers)
    return explain_plan(needs, offers, period, problem, solution, model)


def prepare_plan(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    declined: pd.DataFrame,
    period: tuple[date, date],
    model: CostModel | None = None,
) -> tuple[Problem, Prepared]:
    """The problem and its independent blocks, to solve the blocks elsewhere (a pool, Dask)."""
    problem = build_problem(needs, offers, period, model or CostModel(), declined)
    prepared = prepare_blocks(**problem.solver_inputs())
    return problem, prepared


def finish_plan(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    period: tuple[date, date],
    problem: Problem,
    prepared: Prepared,
    results: list,
    model: CostModel | None = None,
) -> CyclePlan:
    """Assemble block results (from any executor, in any order) into the cycle's plan."""
    return explain_plan(needs, offers, period, problem, assemble(prepared, results), model or CostModel())


def _offer_rows(offers: pd.DataFrame, problem: Problem, solution: Assignment) -> np.ndarray | None:
    """Each pair's row in ``offers``, when ``offers`` is the frame the problem was built from
    (:func:`build_problem` keeps its rows as the solver's offer positions; checked id by id):
    a gather instead of a join on a city's 442k offer ids (0.5 s of the explain). Else None."""
    if problem.positions is None or solution.edge_rows is None or len(offers) != len(problem.capacity):
        return None
    at = problem.positions[1][solution.edge_rows]
    same = offers["offer_id"].to_numpy()[at] == solution.pairs["offer_id"].to_numpy()
    return at if bool(np.all(same)) else None


def explain_plan(
    needs: pd.DataFrame,
    offers: pd.DataFrame,
    period: tuple[date, date],
    problem: Problem,
    solution: Assignment,
    model: CostModel,
) -> CyclePlan:
    """Cost breakdown of every pair, a reason for every unserved need, escalations and fairness."""
    # the solver says which edge each pair is: its cost breakdown is that row
    chosen = problem.breakdown(solution.edge_rows)[BREAKDOWN].reset_index(drop=True)
    chosen.insert(0, "need_id", solution.pairs["need_id"].to_numpy())
    chosen.insert(1, "offer_id", solution.pairs["offer_id"].to_numpy())
    at = _offer_rows(offers, problem, solution)
    if at is not None:  # the ids as the offers hold them (their dtype), as the join gave them
        for c in ("offer_id", "unit_id"):
            chosen[c] = pd.Series(offers[c].array.take(at), index=chosen.index, dtype=offers[c].dtype)
    else:
        chosen = chosen.merge(offers[["offer_id", "unit_id"]], on="offer_id")
    unserved = explain_unserved(problem, solution)
    first_time = needs.loc[
        ~needs.get("unserved_before_in_cycle", pd.Series(False, index=needs.index)).astype(bool), "need_id"
    ]
    # escalation is decided once per need and cycle (a re-run keeps the first run's decision)
    fresh = unserved[unserved["need_id"].isin(first_time)][["need_id", "reason"]]
    state = needs[["need_id", "escalation_level", "cycles_unserved", "urgency"]].merge(fresh, on="need_id")
    escalation = escalate(state.rename(columns={"reason": "cause"}), model.policy)
    fairness = fairness_report(needs, pd.Index(chosen["need_id"]), period[0])
    return CyclePlan(
        problem,
        solution,
        chosen.sort_values("need_id").reset_index(drop=True),
        unserved,
        escalation,
        fairness,
    )
