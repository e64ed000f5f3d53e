"""Exact MIP through OR-Tools' model builder: arrays in, one CSR matrix, a MIP backend.

The matrix is assembled once from the Problem's arrays (linopy style) and handed to
OR-Tools in a single call; CP-SAT and SCIP sit behind the same code. Shadow prices come
from the LP relaxation (GLOP) of the same matrix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder as mb
from ortools.linear_solver.python import model_builder_helper as mbh

from optimizer.problem import LinearRow, Problem
from optimizer.result import SolveResult, Termination
from optimizer.solvers.base import SolveRequest, register

INF = np.inf


@dataclass(frozen=True)
class MatrixModel:
    """The MIP in arrays: variables [x | y (coverage) | s (elastic slacks)]."""

    lower: np.ndarray
    upper: np.ndarray
    objective: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    matrix: sp.csr_matrix
    n_x: int
    global_rows: dict[str, int]  # row name -> matrix row (limits, floors, coverage, levels)
    slack_of: dict[str, int]  # row name -> slack variable (elastic only)


def build_matrix(problem: Problem, request: SolveRequest) -> MatrixModel:
    """Assemble the MIP of one request as CSR; see MatrixModel."""
    n = problem.size
    t = problem.triples
    blocks_rows: list[np.ndarray] = []
    blocks_cols: list[np.ndarray] = []
    blocks_vals: list[np.ndarray] = []
    row_lo: list[np.ndarray] = []
    row_hi: list[np.ndarray] = []
    n_rows = 0
    n_vars = n
    var_upper = [np.ones(n)]
    global_rows: dict[str, int] = {}
    elastic_rows: list[tuple[str, int, float, float]] = []  # name, row, sign, scale

    def add(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        blocks_rows.append(rows.astype(np.int64))
        blocks_cols.append(cols.astype(np.int64))
        blocks_vals.append(vals.astype(np.float64))

    local = problem.local
    if len(local):
        counts = np.diff(local.indptr)
        add(np.repeat(np.arange(len(local)), counts), local.indices, np.ones(len(local.indices)))
        row_lo.append(np.full(len(local), -INF))
        row_hi.append(local.rhs.astype(np.float64))
        n_rows += len(local)

    linear: list[LinearRow] = [*problem.rows, *request.extra_rows]
    for row in linear:
        add(np.full(len(row.index), n_rows), row.index, row.coef)
        row_lo.append(np.array([row.rhs if row.sense == ">=" else -INF]))
        row_hi.append(np.array([row.rhs if row.sense == "<=" else INF]))
        global_rows[row.name] = n_rows
        if row.kind != "level":
            elastic_rows.append((row.name, n_rows, 1.0 if row.sense == ">=" else -1.0,
                                 max(1.0, abs(row.rhs))))
        n_rows += 1

    for cov in problem.coverage:
        cust = t.customer[cov.index]
        owners, inverse = np.unique(cust, return_inverse=True)
        y = n_vars + np.arange(len(owners))
        n_vars += len(owners)
        var_upper.append(np.ones(len(owners)))
        link = n_rows + np.arange(len(owners))
        add(link, y, np.ones(len(owners)))  # y_u - sum x <= 0
        add(link[inverse], cov.index, -np.ones(len(cov.index)))
        row_lo.append(np.full(len(owners), -INF))
        row_hi.append(np.zeros(len(owners)))
        n_rows += len(owners)
        add(np.full(len(owners), n_rows), y, np.ones(len(owners)))  # sum y >= need
        row_lo.append(np.array([float(cov.need)]))
        row_hi.append(np.array([INF]))
        global_rows[cov.name] = n_rows
        elastic_rows.append((cov.name, n_rows, 1.0, max(1.0, float(cov.need))))
        n_rows += 1

    objective = np.zeros(n_vars)
    objective[:n] = request.objective
    slack_of: dict[str, int] = {}
    if request.elastic:
        objective[:] = 0.0
        for name, row, sign, scale in elastic_rows:
            if request.elastic_rows is not None and name not in request.elastic_rows:
                continue
            add(np.array([row]), np.array([n_vars]), np.array([sign]))
            slack_of[name] = n_vars
            var_upper.append(np.array([INF]))
            objective = np.append(objective, -1.0 / scale)
            n_vars += 1

    matrix = sp.csr_matrix(
        (np.concatenate(blocks_vals) if blocks_vals else np.zeros(0),
         (np.concatenate(blocks_rows) if blocks_rows else np.zeros(0, np.int64),
          np.concatenate(blocks_cols) if blocks_cols else np.zeros(0, np.int64))),
        shape=(n_rows, n_vars),
    )
    return MatrixModel(
        lower=np.zeros(n_vars),
        upper=np.concatenate(var_upper),
        objective=objective,
        row_lower=np.concatenate(row_lo) if row_lo else np.zeros(0),
        row_upper=np.concatenate(row_hi) if row_hi else np.zeros(0),
        matrix=matrix,
        n_x=n,
        global_rows=global_rows,
        slack_of=slack_of,
    )


def _to_model(m: MatrixModel, *, integral: bool) -> mb.Model:
    model = mb.Model()
    h = model.helper
    h.fill_model_from_sparse_data(m.lower, m.upper, m.objective, m.row_lower, m.row_upper,
                                  m.matrix)
    if integral:
        bounded = np.flatnonzero(np.isfinite(m.upper))
        for i in bounded.tolist():
            h.set_var_integrality(i, True)
    h.set_maximize(True)
    return model


_STATUS = {
    mbh.SolveStatus.OPTIMAL: Termination.OPTIMAL,
    mbh.SolveStatus.FEASIBLE: Termination.FEASIBLE,
    mbh.SolveStatus.INFEASIBLE: Termination.INFEASIBLE,
}


class OrToolsMip:
    """An exact MIP solve with one OR-Tools backend (CP-SAT or SCIP)."""

    def __init__(self, name: str, backend: str, parameters: str = "") -> None:
        self.name = name
        self.backend = backend
        self.parameters = parameters

    def solve(self, problem: Problem, request: SolveRequest) -> SolveResult:
        """LP relaxation first (its bound, duals and a rounded start), then the MIP."""
        start = time.perf_counter()
        m = build_matrix(problem, request)
        relaxed = _solve_lp(m, time_limit=max(0.3 * request.time_limit, 1.0))
        model = _to_model(m, integral=True)
        _add_hint(model, m, request.hint, relaxed)
        solver = mbh.ModelSolverHelper(self.backend)
        left = request.time_limit - (time.perf_counter() - start)
        solver.set_time_limit_in_seconds(max(left, 0.5))
        params = self._parameters(request.relative_gap, request.absolute_gap,
                                  workers=1 if request.deterministic else 8)
        if params:
            solver.set_solver_specific_parameters(params)
        solver.solve(model.helper)
        status = solver.status()
        termination = _STATUS.get(status)
        if termination is None:
            if status in (mbh.SolveStatus.NOT_SOLVED, mbh.SolveStatus.UNKNOWN_STATUS):
                termination = Termination.NO_SOLUTION
            else:
                return SolveResult(Termination.ERROR, self.name, time.perf_counter() - start,
                                   detail=f"{self.backend}: {status.name} "
                                   f"{solver.status_string()}")
        if termination == Termination.NO_SOLUTION and relaxed is not None and \
                relaxed.infeasible:
            termination = Termination.INFEASIBLE
        if termination in (Termination.INFEASIBLE, Termination.NO_SOLUTION):
            return SolveResult(termination, self.name, time.perf_counter() - start,
                               limit_reached=termination == Termination.NO_SOLUTION)
        values = np.asarray(solver.variable_values())
        rounded = np.round(values)
        x = rounded[: m.n_x].clip(0, 1)
        slack = {name: float(values[i]) for name, i in m.slack_of.items()}
        objective = float(np.dot(m.objective, values if request.elastic else rounded))
        bound = float(solver.best_objective_bound())
        if relaxed is not None and relaxed.objective is not None:
            bound = min(bound, relaxed.objective)  # the LP relaxation bounds the MIP too
        # CP-SAT says OPTIMAL also when it stops at a gap limit (its default absolute limit
        # is 1e-4, and the decomposition's polish asks for more): the bound it proved is
        # kept, never replaced by the objective
        if not np.isfinite(bound) and termination == Termination.OPTIMAL and \
                request.relative_gap == 0 and request.absolute_gap == 0:
            bound = objective
        bound = max(bound, objective) if np.isfinite(bound) else bound
        gap = (bound - objective) / max(abs(bound), abs(objective), 1e-9)
        if termination == Termination.FEASIBLE and (gap <= max(request.relative_gap, 1e-9) or (
                bound - objective <= request.absolute_gap)):
            termination = Termination.OPTIMAL
        # prices only from an LP that finished: a relaxation cut short prices nothing
        priced = relaxed if request.want_duals and relaxed is not None and \
            relaxed.objective is not None else None
        return SolveResult(
            termination, self.name, time.perf_counter() - start, x=x, objective=objective,
            bound=bound if np.isfinite(bound) else None,
            limit_reached=termination == Termination.FEASIBLE,
            row_duals=priced.duals if priced else {}, slacks=slack,
            dual_value=priced.objective if priced else None,
            price_source="LP relaxation (GLOP duals)" if priced else "",
        )

    def _parameters(self, gap: float, absolute: float, workers: int = 8) -> str:
        """CP-SAT: `workers` search threads. Several race without interleaving, so which of
        the plans within the gap comes back can change from run to run; one worker searches
        sequentially, a function of the model (until a time limit cuts it)."""
        if self.backend == "sat":
            text = f"num_workers:{workers},relative_gap_limit:{gap}"
            if absolute > 0:
                text += f",absolute_gap_limit:{absolute}"
            return f"{text},{self.parameters}".rstrip(",")
        if self.backend == "scip":
            text = f"limits/gap = {gap}"
            if absolute > 0:
                text += f"\nlimits/absgap = {absolute}"
            return f"{text}\n{self.parameters}".strip()
        return self.parameters


@dataclass(frozen=True)
class Relaxed:
    """The LP relaxation: an upper bound, the primal point, duals of the global rows."""

    objective: float | None
    values: np.ndarray | None
    duals: dict[str, float]
    infeasible: bool = False


def _solve_lp(m: MatrixModel, time_limit: float) -> Relaxed | None:
    """Solve the LP relaxation with GLOP; None when it does not finish in time."""
    model = _to_model(m, integral=False)
    solver = mbh.ModelSolverHelper("glop")
    solver.set_time_limit_in_seconds(time_limit)
    solver.solve(model.helper)
    status = solver.status()
    if status == mbh.SolveStatus.INFEASIBLE:
        return Relaxed(None, None, {}, infeasible=True)
    if status != mbh.SolveStatus.OPTIMAL:
        return None
    duals = np.asarray(solver.dual_values())
    # GLOP reports y = d(objective)/d(rhs) for a maximization; keep that sign convention
    return Relaxed(float(solver.objective_value()), np.asarray(solver.variable_values()),
                   {name: float(duals[r]) for name, r in m.global_rows.items()})


def _add_hint(model: mb.Model, m: MatrixModel, plan: np.ndarray | None,
              relaxed: Relaxed | None) -> None:
    """Start from a known plan, else from the rounded LP point (the MIP repairs it)."""
    if plan is not None:
        start = np.zeros(len(m.objective))
        start[: m.n_x] = plan > 0.5
    elif relaxed is not None and relaxed.values is not None:
        start = np.round(relaxed.values)
    else:
        return
    helper = model.helper
    for i, value in enumerate(start[: m.n_x].tolist()):
        helper.add_hint(i, value)


register("cp-sat", lambda: OrToolsMip("cp-sat", "sat"))
register("scip", lambda: OrToolsMip("scip", "scip"))
