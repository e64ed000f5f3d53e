"""HiGHS MIP (highspy) on the same CSR matrix as the OR-Tools solvers, from a start plan.

The decomposition's proof step hands HiGHS the customers reduced-cost fixing leaves free:
knapsack-like models with a handful of global rows and many near-ties. There HiGHS's cuts
and branching close the last gap far sooner than CP-SAT (measured on the 10k × 20
benchmark's fixed model, 457 binaries: HiGHS proved the optimum in 8.9 s, CP-SAT in
14.7 s; with 913 binaries HiGHS took 7.9 s, CP-SAT had not finished after 30 s). On the
Bigler instances (19,000-47,000 free contacts) HiGHS given the incumbent reached, in 30-50 s,
the plan and bound HiGHS on the whole problem reaches in 300 s.

Why highspy and not scipy's bundled HiGHS: only highspy takes a start plan (without one,
HiGHS found no plan in 24 s on 20,000-customer fixed models) and can stop on a callback,
which the proof step uses to refix as soon as a better plan shrinks the free set.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from optimizer.problem import Problem
from optimizer.result import SolveResult, Termination
from optimizer.solvers.base import SolveRequest
from optimizer.solvers.exact import MatrixModel, build_matrix


def highs_model(m: MatrixModel) -> Any:
    """The maximization `m` as a highspy.HighsLp: every finite-upper variable binary."""
    return _highs_lp(m.matrix, m.objective, m.lower, m.upper, m.row_lower, m.row_upper,
                     maximize=True, integer=np.isfinite(m.upper))


def _highs_lp(matrix: Any, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              row_lower: np.ndarray, row_upper: np.ndarray, *, maximize: bool,
              integer: np.ndarray | None) -> Any:
    """A highspy.HighsLp from a CSR matrix and bounds (±inf allowed), with the `integer`
    columns (None: none) integral."""
    import highspy

    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = matrix.shape
    if maximize:
        lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.where(np.isfinite(lower), lower, -inf)
    lp.col_upper_ = np.where(np.isfinite(upper), upper, inf)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf)
    a = lp.a_matrix_
    a.format_ = highspy.MatrixFormat.kRowwise
    a.num_row_, a.num_col_ = matrix.shape
    a.start_, a.index_, a.value_ = matrix.indptr, matrix.indices, matrix.data
    if integer is not None:
        lp.integrality_ = ([highspy.HighsVarType.kInteger] * len(integer) if integer.all()
                           else [highspy.HighsVarType.kInteger if b else
                                 highspy.HighsVarType.kContinuous for b in integer.tolist()])
    return lp


def _start_columns(m: MatrixModel, problem: Problem, plan: np.ndarray) -> np.ndarray:
    """Every column's value for a 0/1 plan: x, then each coverage row's owners' y (1 when
    the owner has a covered contact), then elastic slacks at 0."""
    values = np.zeros(m.matrix.shape[1])
    values[: m.n_x] = plan
    col = m.n_x
    customer = problem.triples.customer
    for cov in problem.coverage:
        owners = np.unique(customer[cov.index])
        covered = np.zeros(problem.n_customers, dtype=bool)
        covered[customer[cov.index[plan[cov.index] > 0.5]]] = True
        values[col: col + len(owners)] = covered[owners]
        col += len(owners)
    return values


def solve_highs(problem: Problem, request: SolveRequest,
                stop_at: Callable[[float], bool] | None = None,
                report: Callable[[float, float, int], None] | None = None,
                report_every: float = 10.0) -> SolveResult:
    """Maximize request.objective over the problem with HiGHS, from `request.hint` when
    given; `x` is the plan (or None) and `bound` HiGHS's proven bound (or None). HiGHS stops
    early when `stop_at(value)` holds for an improving plan's value. Every `report_every`
    seconds, `report(plan value, bound, nodes)` hears how the search stands (a long proof
    would otherwise run silent; the plan value is -inf before the first plan)."""
    start = time.perf_counter()
    m = build_matrix(problem, request)
    with _native_output_silenced():  # highspy prints a banner when constructed
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", max(float(request.time_limit), 0.1))
        h.setOptionValue("mip_rel_gap", float(request.relative_gap))
        h.setOptionValue("mip_abs_gap", float(request.absolute_gap))
        h.setOptionValue("random_seed", 0)
        h.passModel(highs_model(m))
        if request.hint is not None:
            start_plan = highspy.HighsSolution()
            start_plan.col_value = _start_columns(m, problem, np.asarray(request.hint))
            h.setSolution(start_plan)
        stopping = [False]
        reported = [time.perf_counter()]
        if stop_at is not None:
            def improved(event: Any) -> None:
                stopping[0] = stopping[0] or stop_at(
                    float(event.data_out.objective_function_value))

            h.cbMipImprovingSolution.subscribe(improved)
        if stop_at is not None or report is not None:
            def interrupt(event: Any) -> None:
                if stopping[0]:
                    event.interrupt()
                now = time.perf_counter()
                if report is not None and now - reported[0] >= report_every:
                    reported[0] = now
                    out = event.data_out
                    primal = float(out.mip_primal_bound)
                    report(primal if np.isfinite(primal) else -np.inf,
                           float(out.mip_dual_bound), int(out.mip_node_count))

            h.cbMipInterrupt.subscribe(interrupt)
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        has_plan = info.primal_solution_status == highspy.kSolutionStatusFeasible
        x_all = np.asarray(h.getSolution().col_value) if has_plan else None
        finished = status == highspy.HighsModelStatus.kOptimal
        infeasible = status == highspy.HighsModelStatus.kInfeasible
        stopped = status in (highspy.HighsModelStatus.kTimeLimit,
                             highspy.HighsModelStatus.kInterrupt,
                             highspy.HighsModelStatus.kSolutionLimit)
    seconds = time.perf_counter() - start
    if infeasible:
        return SolveResult(Termination.INFEASIBLE, "highs", seconds)
    # the bound is read only when HiGHS finished or stopped on a limit, not after a failure
    bound = float(info.mip_dual_bound) if finished or stopped else None
    bound = bound if bound is not None and np.isfinite(bound) else None
    if x_all is None:
        return SolveResult(Termination.NO_SOLUTION, "highs", seconds, bound=bound,
                           limit_reached=stopped)
    x = np.round(x_all[: m.n_x]).clip(0, 1)
    objective = float(np.dot(m.objective[: m.n_x], x))
    if bound is not None:
        bound = max(bound, objective)
    termination = Termination.OPTIMAL if finished else Termination.FEASIBLE
    return SolveResult(termination, "highs", seconds, x=x, objective=objective, bound=bound,
                       limit_reached=stopped)


def solve_small_lp(cost: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray,
                   lower: np.ndarray, upper: np.ndarray) -> tuple[float, np.ndarray] | None:
    """min cost·x s.t. a_ub x <= b_ub, lower <= x <= upper (±inf allowed), dense and small:
    the optimum and x, or None when HiGHS does not report an optimum. The decomposition's
    cutting-plane master runs here, not in scipy's linprog: importing scipy.optimize alone
    took 1.0 s of a 10,000-customer run."""
    import highspy
    import scipy.sparse as sp

    lp = _highs_lp(sp.csr_matrix(a_ub), cost, lower, upper, np.full(a_ub.shape[0], -np.inf),
                   b_ub, maximize=False, integer=None)
    with _native_output_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(h.getInfo().objective_function_value), np.asarray(
            h.getSolution().col_value)


@contextmanager
def _native_output_silenced() -> Iterator[None]:
    """HiGHS prints from C++ straight to the process's stdout (a banner when constructed,
    debugging lines in some builds); that would corrupt a command's JSON on stdout, so the
    descriptor points at /dev/null for the call. Stderr stays open: progress lines (which
    go there) keep flowing during a long solve. This is process-wide: other threads'
    stdout during the call is lost too (the solver calls HiGHS from one thread, one solve
    at a time)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            yield
        finally:
            os.dup2(saved, 1)  # Python's own buffered output reaches the real stdout later
            os.close(null)
    finally:
        os.close(saved)
