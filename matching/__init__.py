"""The matching engine: eligibility, costs, the exact solver and its explanations. No Prefect here."""

from matching.solver import Assignment, check_inputs, solve_assignment

__all__ = ["Assignment", "check_inputs", "solve_assignment"]
