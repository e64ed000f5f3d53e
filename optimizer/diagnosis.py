"""Explain infeasibility: how far each global constraint must move for a plan to exist.

Caps, conflicts and rules can always be met (by contacting nobody), so a run is infeasible
only through its floors (against limits, caps, rules and eligibility). The elastic model
gives every floor and limit a slack, minimizes the total slack scaled by each bound, and
reports the rows whose slack is not zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.problem import Problem
from optimizer.solvers.base import Solver, SolveRequest


@dataclass(frozen=True)
class Relaxation:
    """One constraint in conflict and the move that would make the plan feasible."""

    name: str
    kind: str
    limit: float
    move: float  # positive: raise a limit's max / lower a floor's min by this much

    def sentence(self) -> str:
        if self.kind == "limit":
            return (f"limit '{self.name}': raise max from {self.limit:,.4g} to "
                    f"{self.limit + self.move:,.4g} (+{self.move:,.4g})")
        if self.kind == "coverage":
            return (f"floor '{self.name}': cover {self.move:,.0f} fewer customers "
                    f"(need {self.limit:,.0f}, at most {self.limit - self.move:,.0f} possible)")
        return (f"floor '{self.name}': lower min from {self.limit:,.4g} to "
                f"{self.limit - self.move:,.4g} (-{self.move:,.4g})")


def explain_infeasibility(problem: Problem, solver: Solver,
                          time_limit: float) -> list[Relaxation]:
    """The smallest total move (scaled) of floors and limits that admits a plan."""
    request = SolveRequest(objective=np.zeros(problem.size), time_limit=time_limit,
                           elastic=True)
    result = solver.solve(problem, request)
    slack = result.slacks
    out: list[Relaxation] = []
    for row in problem.rows:
        move = slack.get(row.name, 0.0)
        if move > 1e-6 * max(1.0, abs(row.rhs)):
            out.append(Relaxation(row.name, row.kind, row.rhs, move))
    for cov in problem.coverage:
        move = slack.get(cov.name, 0.0)
        if move > 1e-6:
            out.append(Relaxation(cov.name, "coverage", float(cov.need), float(np.ceil(
                move - 1e-9))))
    return out
