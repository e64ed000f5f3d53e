"""One nightly run: load → compile → solve the levels → write the run directory.

The CLI is a thin layer over `run_scenario`; everything here is usable from Python.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from optimizer import __version__
from optimizer.audit import audit_report
from optimizer.baseline import skipped, solve_baseline
from optimizer.bounds import FloorProof
from optimizer.check import CheckReport, Finding, check_problem
from optimizer.diagnosis import Diagnosis, Relaxation, diagnose
from optimizer.errors import ContactoptError
from optimizer.lexicographic import solve_lexicographic
from optimizer.outputs import plan_table, summary_dict, write_json, write_parquet, write_run_dir
from optimizer.problem import Problem, build_problem
from optimizer.report import render_report
from optimizer.result import PlanResult, Termination
from optimizer.review import REVIEW_FILE, review_table
from optimizer.scenario import Scenario, load_scenario
from optimizer.solvers import Solver, get_solver

DEFAULT_EXACT = "cp-sat"
# above this many eligible contacts `auto` prefers the decomposition solver, for `run`: at
# every size measured it was faster, with the same optima, since its proof step (HiGHS over
# what reduced-cost fixing leaves) proves small problems. Both levels, 60-s limit: 980
# contacts 3.0 s against CP-SAT's 5.1 s; 2,381 contacts 14.2 s against 32.5 s; the sample
# (4,398 contacts, 3 days) 15.1 s against 47.7 s; 4,278 contacts (3 days) proven optimal in
# 18.2 s, where CP-SAT stopped at the limit with a worse second level
DECOMPOSITION_ABOVE = 0
# the frontier keeps the exact MIP on small problems: its eps rows bind hard near the
# largest y, where the decomposition's gap can be several percent
FRONTIER_DECOMPOSITION_ABOVE = 20_000
# above this many eligible contacts `run` skips the policy check (see `check_compiled`)
CHECK_ABOVE = 50_000_000


class NoPlanError(ContactoptError):
    """The run ended without a plan: infeasible, or no plan found within the time limit."""

    def __init__(self, termination: Termination, message: str,
                 relaxations: tuple[Relaxation, ...] = (),
                 diagnosis: Diagnosis | None = None) -> None:
        self.termination = termination
        self.relaxations = relaxations
        self.diagnosis = diagnosis
        super().__init__(message)


@dataclass(frozen=True)
class RunOptions:
    time_limit: float = 60.0
    solver: str = "auto"
    relative_gap: float = 0.0
    deterministic: bool = False  # one CP-SAT worker (see README, Determinism)
    baseline: bool = True  # also solve the sales-only baseline (see optimizer/baseline.py)


@dataclass(frozen=True)
class RunOutcome:
    summary: dict[str, Any]
    plan: pa.Table
    scenario: Scenario = field(repr=False)
    problem: Problem = field(repr=False)
    result: PlanResult = field(repr=False)


def choose_solver(problem: Problem, name: str, above: int = DECOMPOSITION_ABOVE) -> str:
    """'auto': the decomposition solver above `above` eligible contacts when an exact
    subproblem oracle exists for the policy's structure, else the exact MIP."""
    if name != "auto":
        return name
    from optimizer.solvers.decomposition import supports

    if problem.size > above and supports(problem):
        return "decomposition"
    return DEFAULT_EXACT


def solve_scenario(scenario: Scenario, options: RunOptions,
                   progress: Callable[[str], None] = lambda _: None,
                   on_finding: Callable[[Finding], None] = lambda _: None
                   ) -> tuple[Problem, PlanResult]:
    """Compile, check and solve; raise NoPlanError (with the diagnosis) when there is no plan.

    The findings of `check` go to `on_finding` before the solve. When they prove a floor
    cannot be met, the solve is skipped: the diagnosis starts from the same proof, so `run`
    and `check` name the same constraint.
    """
    problem = compile_scenario(scenario, progress)
    report = check_compiled(scenario, problem, progress, on_finding)
    return problem, solve_problem(problem, options, report, progress)


def compile_scenario(scenario: Scenario,
                     progress: Callable[[str], None] = lambda _: None) -> Problem:
    problem = build_problem(scenario)
    progress(f"compiled {problem.size:,} eligible contacts, {len(problem.rows)} global "
             f"row(s), {len(problem.coverage)} coverage floor(s), {len(problem.caps)} cap(s), "
             f"{len(problem.conflicts)} conflict(s)")
    return problem


def check_compiled(scenario: Scenario, problem: Problem,
                   progress: Callable[[str], None] = lambda _: None,
                   on_finding: Callable[[Finding], None] = lambda _: None) -> CheckReport:
    """The policy check on the compiled problem; its findings go to `on_finding`.

    Above `CHECK_ABOVE` eligible contacts the check is skipped, with a finding that says so:
    its bounds hold several arrays the size of the problem, more memory than a run at that
    scale has to spare (at 238 million contacts it ran out of 24 GB)."""
    if problem.size > CHECK_ABOVE:
        skipped = Finding("info", "check-skipped", "policy", f"the policy check was skipped: "
                          f"{problem.size:,} eligible contacts is above {CHECK_ABOVE:,}",
                          "run `contactopt check` on a sample of the customers",
                          {"contacts": float(problem.size), "above": float(CHECK_ABOVE)})
        progress(skipped.message)
        on_finding(skipped)
        return CheckReport((skipped,), (), 0.0)
    report = check_problem(scenario, problem)
    progress(f"checked the policy against the data in {report.seconds:.1f} s: "
             f"{report.count('error')} error(s), {report.count('warning')} warning(s)")
    for finding in report.findings:
        on_finding(finding)
    return report


def solve_problem(problem: Problem, options: RunOptions, report: CheckReport,
                  progress: Callable[[str], None] = lambda _: None) -> PlanResult:
    """Solve the levels; raise NoPlanError (with the diagnosis) when there is no plan."""
    start = time.perf_counter()
    solver = get_solver(choose_solver(problem, options.solver))
    if report.infeasible:
        progress("a floor provably cannot be met: no solve; looking for the smallest moves")
        raise _diagnosed(problem, solver, options.time_limit, report.proofs)
    progress(f"solving {len(problem.levels)} objective level(s) with {solver.name}, time limit "
             f"{options.time_limit:g} s")
    result = solve_lexicographic(problem, solver, time_limit=options.time_limit,
                                 relative_gap=options.relative_gap,
                                 deterministic=options.deterministic, progress=progress)
    if result.chosen is not None:
        return result
    left = max(options.time_limit - (time.perf_counter() - start), 5.0)
    raise no_plan_error(problem, solver, result.termination, result.detail,
                        time_limit=options.time_limit, diagnosis_seconds=left,
                        proofs=report.proofs, progress=progress)


def no_plan_error(problem: Problem, solver: Solver, termination: Termination, detail: str, *,
                  time_limit: float, diagnosis_seconds: float,
                  proofs: tuple[FloorProof, ...] = (),
                  progress: Callable[[str], None] = lambda _: None) -> NoPlanError:
    """The error for a solve without a plan; when infeasible, with the smallest set of
    constraints in conflict and how far each must move."""
    if termination == Termination.INFEASIBLE:
        progress("no plan satisfies every hard constraint; looking for the smallest conflict")
        return _diagnosed(problem, solver, diagnosis_seconds, proofs)
    if termination == Termination.NO_SOLUTION:
        return NoPlanError(Termination.NO_SOLUTION, f"no plan found within the time limit "
                           f"({time_limit:g} s); raise --time-limit")
    return NoPlanError(Termination.ERROR, f"solver error: {detail}")


def _diagnosed(problem: Problem, solver: Solver, time_limit: float,
               proofs: tuple[FloorProof, ...]) -> NoPlanError:
    diagnosis = diagnose(problem, solver, time_limit, list(proofs))
    return NoPlanError(Termination.INFEASIBLE, "infeasible: no plan keeps every hard "
                       f"constraint; {diagnosis.summary()}", diagnosis.relaxations, diagnosis)


def run_scenario(directory: Path, out: Path, *, run_date: dt.date,
                 policy_path: Path | None = None, options: RunOptions | None = None,
                 progress: Callable[[str], None] = lambda _: None,
                 on_finding: Callable[[Finding], None] = lambda _: None) -> RunOutcome:
    """Run a scenario end to end and write `out` whole (or leave it untouched); the
    findings of `check` go to `on_finding` before the solve and into summary.json."""
    options = options or RunOptions()
    start = time.perf_counter()
    progress(f"loading {directory}")
    scenario = load_scenario(directory, run_date=run_date, policy_path=policy_path)
    progress(f"loaded {len(scenario.customers):,} customers, {len(scenario.actions):,} actions, "
             f"{len(scenario.scores):,} score rows, {len(scenario.history):,} history rows")
    findings: list[Finding] = []

    def keep(finding: Finding) -> None:
        findings.append(finding)
        on_finding(finding)

    problem = compile_scenario(scenario, progress)
    report = check_compiled(scenario, problem, progress, keep)
    # the compiled problem holds what the solve needs; the plan's KPIs are read back later
    scenario = dataclasses.replace(scenario, scores=scenario.scores.detached())
    result = solve_problem(problem, options, report, progress)
    assert result.chosen is not None
    plan = plan_table(scenario, problem, result.chosen)
    progress(f"plan table: {plan.num_rows:,} contacts with their KPIs")
    kpis = {name: plan.column(name).to_numpy() for name in ("discount_cost",)
            if name in plan.column_names}
    audit = audit_report(scenario, problem, result.chosen, kpis)
    progress("audit figures computed")
    baseline = solve_baseline(
        scenario, problem, result, audit, time_limit=options.time_limit, solver=options.solver,
        relative_gap=options.relative_gap, deterministic=options.deterministic,
        progress=progress) if options.baseline else skipped("skipped: --no-baseline")
    summary = summary_dict(scenario, problem, result, seconds=time.perf_counter() - start,
                           extra={"version": __version__,
                                  "options": {"time_limit": options.time_limit,
                                              "solver": options.solver,
                                              "relative_gap": options.relative_gap,
                                              "deterministic": options.deterministic,
                                              "baseline": options.baseline},
                                  "findings": [f.to_dict() for f in findings],
                                  "audit": audit,
                                  "baseline": baseline,
                                  # where `approve` finds the inputs again
                                  "inputs": {"scenario": str(Path(directory).resolve()),
                                             "policy": None if policy_path is None
                                             else str(Path(policy_path).resolve())}})
    report = render_report(summary, plan)
    progress(f"writing {out}")
    write_run_dir(out, {
        "plan.parquet": lambda p: write_parquet(p, plan),
        REVIEW_FILE: lambda p: write_parquet(p, review_table(plan)),
        "summary.json": lambda p: write_json(p, summary),
        "report.html": lambda p: p.write_text(report, encoding="utf-8"),
    })
    progress(f"wrote {out}")
    return RunOutcome(summary, plan, scenario, problem, result)
