"""One nightly run: load → compile → solve the levels → write the run directory.

The CLI is a thin layer over `run_scenario`; everything here is usable from Python.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from optimizer import __version__
from optimizer.diagnosis import Relaxation, explain_infeasibility
from optimizer.errors import ContactoptError
from optimizer.lexicographic import solve_lexicographic
from optimizer.outputs import plan_table, summary_dict, write_json, write_parquet, write_run_dir
from optimizer.problem import Problem, build_problem
from optimizer.report import render_report
from optimizer.result import PlanResult, Termination
from optimizer.scenario import Scenario, load_scenario
from optimizer.solvers import Solver, get_solver

DEFAULT_EXACT = "cp-sat"
# above this many eligible contacts `auto` prefers the decomposition solver (measured: the
# exact MIP's gap on 2,000 customers × 12 actions × 3 days was 4% after 120 s, the
# decomposition's 0.005%)
DECOMPOSITION_ABOVE = 20_000


class NoPlanError(ContactoptError):
    """The run ended without a plan: infeasible, or no plan found within the time limit."""

    def __init__(self, termination: Termination, message: str,
                 relaxations: tuple[Relaxation, ...] = ()) -> None:
        self.termination = termination
        self.relaxations = relaxations
        super().__init__(message)


@dataclass(frozen=True)
class RunOptions:
    time_limit: float = 60.0
    solver: str = "auto"
    relative_gap: float = 0.0


@dataclass(frozen=True)
class RunOutcome:
    summary: dict[str, Any]
    plan: pa.Table
    scenario: Scenario = field(repr=False)
    problem: Problem = field(repr=False)
    result: PlanResult = field(repr=False)


def choose_solver(problem: Problem, name: str) -> str:
    """'auto': the exact MIP on small problems, the decomposition solver at scale (when an
    exact subproblem oracle exists for the policy's structure)."""
    if name != "auto":
        return name
    from optimizer.solvers.decomposition import supports

    if problem.size > DECOMPOSITION_ABOVE and supports(problem):
        return "decomposition"
    return DEFAULT_EXACT


def solve_scenario(scenario: Scenario, options: RunOptions,
                   progress: Callable[[str], None] = lambda _: None
                   ) -> tuple[Problem, PlanResult]:
    """Compile and solve; raise NoPlanError (with the diagnosis) when there is no plan."""
    start = time.perf_counter()
    problem = build_problem(scenario)
    progress(f"compiled {problem.size:,} eligible contacts, {len(problem.rows)} global "
             f"row(s), {len(problem.coverage)} coverage floor(s), {len(problem.caps)} cap(s), "
             f"{len(problem.conflicts)} conflict(s)")
    solver = get_solver(choose_solver(problem, options.solver))
    progress(f"solving {len(problem.levels)} objective level(s) with {solver.name}, time limit "
             f"{options.time_limit:g} s")
    result = solve_lexicographic(problem, solver, time_limit=options.time_limit,
                                 relative_gap=options.relative_gap)
    if result.chosen is not None:
        return problem, result
    left = max(options.time_limit - (time.perf_counter() - start), 5.0)
    raise no_plan_error(problem, solver, result.termination, result.detail,
                        time_limit=options.time_limit, diagnosis_seconds=left,
                        progress=progress)


def no_plan_error(problem: Problem, solver: Solver, termination: Termination, detail: str, *,
                  time_limit: float, diagnosis_seconds: float,
                  progress: Callable[[str], None] = lambda _: None) -> NoPlanError:
    """The error for a solve without a plan; when infeasible, with the smallest moves of
    floors and limits that would make room (the diagnosis solves an elastic model)."""
    if termination == Termination.INFEASIBLE:
        progress("no plan satisfies every hard constraint; looking for the smallest moves")
        relax = tuple(explain_infeasibility(problem, solver, diagnosis_seconds))
        lines = "; ".join(r.sentence() for r in relax) or "no floor or limit move found"
        return NoPlanError(Termination.INFEASIBLE,
                           f"infeasible: no plan keeps every hard constraint. {lines}", relax)
    if termination == Termination.NO_SOLUTION:
        return NoPlanError(Termination.NO_SOLUTION, f"no plan found within the time limit "
                           f"({time_limit:g} s); raise --time-limit")
    return NoPlanError(Termination.ERROR, f"solver error: {detail}")


def run_scenario(directory: Path, out: Path, *, run_date: dt.date,
                 policy_path: Path | None = None, options: RunOptions | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> RunOutcome:
    """Run a scenario end to end and write `out` whole (or leave it untouched)."""
    options = options or RunOptions()
    start = time.perf_counter()
    progress(f"loading {directory}")
    scenario = load_scenario(directory, run_date=run_date, policy_path=policy_path)
    progress(f"loaded {len(scenario.customers):,} customers, {len(scenario.actions):,} actions, "
             f"{len(scenario.scores):,} score rows, {len(scenario.history):,} history rows")
    problem, result = solve_scenario(scenario, options, progress)
    assert result.chosen is not None
    plan = plan_table(scenario, problem, result.chosen)
    summary = summary_dict(scenario, problem, result, seconds=time.perf_counter() - start,
                           extra={"version": __version__,
                                  "options": {"time_limit": options.time_limit,
                                              "solver": options.solver,
                                              "relative_gap": options.relative_gap}})
    report = render_report(summary, plan)
    write_run_dir(out, {
        "plan.parquet": lambda p: write_parquet(p, plan),
        "summary.json": lambda p: write_json(p, summary),
        "report.html": lambda p: p.write_text(report, encoding="utf-8"),
    })
    progress(f"wrote {out}")
    return RunOutcome(summary, plan, scenario, problem, result)
