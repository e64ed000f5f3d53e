"""Lagrangian decomposition for millions of customers, with a proven bound.

Customers interact only through a few global rows (limits, floors, coverage floors and the
bounds earlier objective levels put on later ones). Pricing those rows with multipliers
splits the problem into one small subproblem per customer, solved exactly and all at once by
an oracle (`daydp.DayChoiceOracle`). For any multipliers the sum of the subproblem optima
plus the priced right-hand sides is an upper bound on the best plan (weak duality), so the
bound is proven whatever the multipliers. The multipliers are chosen by a cutting-plane
method with a trust region (boxstep): the dual is convex and low-dimensional, so a handful
of cuts pins it down. A primal plan then comes from the subproblem solutions (each already
keeps its customer's caps, conflicts and rules) and an exact polish: the customers whose
choice flips when the multipliers move a little are handed to the OR-Tools MIP with every
other customer fixed.

One iteration is a map over customer blocks (reduced values → subproblem optima) and a
reduce of a few sums (row activities, coverage counts, the dual value): `_Block` holds one
block's arrays, so a distributed engine can run the blocks elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linprog

from optimizer.problem import (
    CapSpec,
    ConflictSpec,
    CoverageRow,
    LinearRow,
    Problem,
    Triples,
)
from optimizer.result import SolveResult, Termination
from optimizer.solvers.base import SolveRequest, register
from optimizer.solvers.daydp import DayChoiceOracle
from optimizer.solvers.enumeration import EnumerationOracle
from optimizer.solvers.repair import covered_customers, repair

FEASIBILITY_TOL = 1e-7
DEFAULT_GAP = 1e-4  # relative gap (0.01%) the decomposition aims for when none is asked


@dataclass(frozen=True)
class DualRows:
    """Global rows in `a x <= b` form, each scaled so its largest |coefficient| is 1."""

    names: tuple[str, ...]
    index: tuple[np.ndarray, ...]
    coef: tuple[np.ndarray, ...]
    rhs: np.ndarray
    scale: np.ndarray  # original units per scaled unit (a_scaled = a / scale)
    sign: np.ndarray  # +1 for <= rows, -1 for >= rows

    @staticmethod
    def of(rows: list[LinearRow]) -> DualRows:
        names, index, coef, rhs, scale, sign = [], [], [], [], [], []
        for row in rows:
            s = 1.0 if row.sense == "<=" else -1.0
            a = s * row.coef
            top = float(np.abs(a).max()) if len(a) else 1.0
            top = top if top > 0 else 1.0
            names.append(row.name)
            index.append(row.index)
            coef.append(a / top)
            rhs.append(s * row.rhs / top)
            scale.append(top)
            sign.append(s)
        return DualRows(tuple(names), tuple(index), tuple(coef), np.array(rhs, dtype=float),
                        np.array(scale, dtype=float), np.array(sign, dtype=float))


@dataclass(frozen=True)
class Evaluation:
    """The dual function at one point: value, subgradient and the subproblem plan."""

    multipliers: np.ndarray  # rows then coverage floors
    dual: float
    subgradient: np.ndarray
    x: np.ndarray  # bool per triple
    primal: float  # objective of x
    feasible: bool  # x keeps every global row


def make_oracle(problem: Problem) -> DayChoiceOracle | EnumerationOracle:
    """The exact subproblem oracle for this problem's structure; ValueError if none fits."""
    try:
        return DayChoiceOracle(problem)
    except ValueError as day_error:
        try:
            return EnumerationOracle(problem)
        except ValueError as enum_error:
            raise ValueError(f"{day_error}; {enum_error}") from None


def supports(problem: Problem) -> bool:
    """Whether an exact subproblem oracle exists for this problem's structure (cheap)."""
    for oracle in (DayChoiceOracle, EnumerationOracle):
        try:
            oracle.check(problem)
        except ValueError:
            continue
        return True
    return False


class _Block:
    """One block of customers: the oracle over its triples (the whole problem for now)."""

    def __init__(self, oracle: DayChoiceOracle | EnumerationOracle) -> None:
        self.oracle = oracle

    def solve(self, rv: np.ndarray, bonus: np.ndarray) -> tuple[float, np.ndarray]:
        values, chosen = self.oracle.solve(rv, bonus)
        return float(values.sum()), chosen


class Lagrangian:
    """The priced problem: evaluates the dual function at given multipliers.

    Works in the oracle's order of the triples that can be chosen (`order`), so one
    evaluation reads each array front to back; `to_triples` maps a plan back.
    """

    def __init__(self, problem: Problem, objective: np.ndarray, rows: list[LinearRow]) -> None:
        self.problem = problem
        oracle = make_oracle(problem)
        self.order = oracle.order
        position = np.full(problem.size, -1, dtype=np.int64)
        position[self.order] = np.arange(len(self.order))
        self.customer = problem.triples.customer[self.order]
        self.objective = objective.astype(np.float64)[self.order]
        self.rows = DualRows.of([_remap(row, position) for row in rows])
        # rows touching many positions are kept dense too: one sequential pass instead of
        # a gather and a scatter
        n_pos = len(self.order)
        self.dense = [_densify(i, c, n_pos) if len(i) > 0.2 * n_pos else None
                      for i, c in zip(self.rows.index, self.rows.coef, strict=True)]
        self.coverage = problem.coverage
        self.cov_index = [position[c.index][position[c.index] >= 0] for c in self.coverage]
        self.cov_need = np.array([c.need for c in self.coverage], dtype=float)
        self.blocks = [_Block(oracle)]
        self.n_rows = len(self.rows.names)
        self.dim = self.n_rows + len(self.coverage)
        self.evaluations = 0

    def to_triples(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(self.problem.size, dtype=bool)
        out[self.order] = x
        return out

    def reduced_values(self, multipliers: np.ndarray) -> np.ndarray:
        rv = self.objective.copy()
        for r in range(self.n_rows):
            if multipliers[r] == 0.0:
                continue
            dense = self.dense[r]
            if dense is not None:
                rv -= multipliers[r] * dense
            else:  # a row lists each triple once
                rv[self.rows.index[r]] -= multipliers[r] * self.rows.coef[r]
        return rv

    def evaluate(self, multipliers: np.ndarray) -> Evaluation:
        self.evaluations += 1
        lam = np.maximum(multipliers, 0.0)
        rv = self.reduced_values(lam)
        bonus = lam[self.n_rows:]
        total = 0.0
        x = np.zeros(len(self.order), dtype=bool)
        for block in self.blocks:  # map over blocks; reduce the sums
            value, chosen = block.solve(rv, bonus)
            total += value
            x |= chosen
        need = self.cov_need
        dual = total + float(np.dot(lam[: self.n_rows], self.rows.rhs)) - float(
            np.dot(bonus, need))
        sub = np.concatenate([self.rows.rhs - self.activities(x), self.covered(x) - need])
        feasible = bool((sub >= -FEASIBILITY_TOL * np.maximum(1.0, np.abs(
            np.concatenate([self.rows.rhs, need])))).all())
        return Evaluation(lam, dual, sub, x, float(np.dot(self.objective, x)), feasible)

    def activities(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(self.n_rows)
        for r, (i, c) in enumerate(zip(self.rows.index, self.rows.coef, strict=True)):
            dense = self.dense[r]
            out[r] = float(np.dot(dense, x)) if dense is not None else float(np.dot(c, x[i]))
        return out

    def covered(self, x: np.ndarray) -> np.ndarray:
        """How many customers each coverage floor reaches."""
        n = self.problem.n_customers
        return np.array([float(np.count_nonzero(covered_customers(self.customer, index, x, n)))
                         for index in self.cov_index])


def _densify(index: np.ndarray, coef: np.ndarray, size: int) -> np.ndarray:
    dense = np.zeros(size)
    dense[index] = coef
    return dense


def _remap(row: LinearRow, position: np.ndarray) -> LinearRow:
    """The row over the oracle's positions; triples that can never be chosen drop out."""
    pos = position[row.index]
    keep = pos >= 0
    return replace(row, index=pos[keep], coef=row.coef[keep])


@dataclass
class _DualState:
    best: Evaluation
    cuts: list[Evaluation]
    radius: float


def minimize_dual(lag: Lagrangian, *, deadline: float, tolerance: float,
                  max_iterations: int = 200,
                  on_primal: Callable[[Evaluation], None] | None = None,
                  ) -> tuple[Evaluation, list[Evaluation], int]:
    """Boxstep cutting planes on the (convex, piecewise-linear) dual function."""
    start = lag.evaluate(np.zeros(lag.dim))
    if on_primal:
        on_primal(start)
    scale = float(np.abs(lag.objective).max()) if lag.problem.size else 1.0
    state = _DualState(start, [start], max(scale, 1e-9))
    iterations = 1
    if lag.dim == 0:
        return start, state.cuts, iterations
    while iterations < max_iterations and time.perf_counter() < deadline:
        center = state.best.multipliers
        model_value, point = _master(state.cuts, center, state.radius, lag.dim)
        if point is None:
            break
        predicted = state.best.dual - model_value
        if predicted <= tolerance * max(1.0, abs(state.best.dual)):
            # the model is exact within the box; if the box is not binding we are done
            if np.abs(point - center).max() < 0.999 * state.radius or state.radius > 1e12:
                break
            state.radius *= 4.0
            continue
        trial = lag.evaluate(point)
        iterations += 1
        if on_primal:
            on_primal(trial)
        state.cuts.append(trial)
        if trial.dual <= state.best.dual - 0.1 * predicted:
            on_edge = np.abs(point - center).max() >= 0.999 * state.radius
            state.best = trial
            if on_edge:
                state.radius *= 2.0
        else:
            state.radius = max(state.radius * 0.5, 1e-9 * max(scale, 1.0))
    return state.best, state.cuts, iterations


def _master(cuts: list[Evaluation], center: np.ndarray, radius: float,
            dim: int) -> tuple[float, np.ndarray | None]:
    """min z s.t. z >= L_j + g_j (u - u_j) for every cut, u >= 0, |u - center| <= radius."""
    g = np.array([c.subgradient for c in cuts])
    rhs = np.array([float(np.dot(c.subgradient, c.multipliers)) - c.dual for c in cuts])
    a_ub = np.hstack([g, -np.ones((len(cuts), 1))])
    bounds = [(max(0.0, center[i] - radius), center[i] + radius) for i in range(dim)]
    bounds.append((None, None))
    cost = np.zeros(dim + 1)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=rhs, bounds=bounds, method="highs")
    if res.status != 0:
        return np.inf, None
    return float(res.fun), np.asarray(res.x[:dim])


# --- primal: from the subproblem plans to a plan that keeps every global row ----------------

def _usable_hint(lag: Lagrangian, hint: np.ndarray | None) -> np.ndarray | None:
    """The request's hint as a plan, when it keeps every global row and coverage floor and
    chooses only triples the oracle may choose (so also its customers' caps and conflicts
    left by history); else None."""
    if hint is None:
        return None
    plan = hint > 0.5
    x = plan[lag.order]
    if int(x.sum()) != int(plan.sum()):
        return None
    s = np.concatenate([lag.rows.rhs - lag.activities(x), lag.covered(x) - lag.cov_need])
    scale = np.maximum(1.0, np.abs(np.concatenate([lag.rows.rhs, lag.cov_need])))
    return plan if bool((s >= -FEASIBILITY_TOL * scale).all()) else None


def restrict(problem: Problem, rows: list[LinearRow], free: np.ndarray,
             fixed: np.ndarray) -> tuple[Problem, np.ndarray]:
    """The problem over the triples of `free` customers, every other customer fixed at
    `fixed`: global rows and coverage needs lose what the fixed customers already give."""
    t = problem.triples
    keep = free[t.customer]
    idx = np.flatnonzero(keep)
    remap = np.full(len(t), -1, dtype=np.int64)
    remap[idx] = np.arange(len(idx))
    fixed_x = fixed & ~keep
    sub_rows = []
    for row in rows:
        inside = keep[row.index]
        done = float(np.dot(row.coef[~inside], fixed_x[row.index[~inside]]))
        sub_rows.append(replace(row, rhs=row.rhs - done, index=remap[row.index[inside]],
                                coef=row.coef[inside]))
    cov_rows = []
    for cov in problem.coverage:
        inside = keep[cov.index]
        already = cov.covered(fixed_x, t.customer)
        cov_rows.append(CoverageRow(cov.name, max(cov.need - already, 0), cov.group_size,
                                    remap[cov.index[inside]], cov.min_share))
    sub_t = Triples(t.customer[idx], t.action[idx], t.day[idx], t.row[idx])
    caps = tuple(CapSpec(c.name, c.window, c.max, c.counts[idx], c.left) for c in problem.caps)
    conflicts = tuple(ConflictSpec(c.name, c.lag, c.first[idx], c.then[idx])
                      for c in problem.conflicts)
    sub = Problem(problem.n_customers, problem.n_actions, problem.horizon, sub_t, (),
                  tuple(sub_rows), tuple(cov_rows), caps, conflicts,
                  problem.review[idx], problem.review_names)
    return sub, idx


class Decomposition:
    """The large-scale solver: Lagrangian bound, subproblem plans, exact polish."""

    name = "decomposition"

    def __init__(self, polish_triples: int = 60_000) -> None:
        self.polish_triples = polish_triples

    def solve(self, problem: Problem, request: SolveRequest) -> SolveResult:
        start = time.perf_counter()
        if request.elastic:  # diagnosis is small-model work: the exact solver does it
            from optimizer.solvers.exact import OrToolsMip

            return OrToolsMip("cp-sat", "sat").solve(problem, request)
        rows = [*problem.rows, *request.extra_rows]
        lag = Lagrangian(problem, request.objective, rows)
        best_primal: list[Evaluation] = []

        def keep_primal(ev: Evaluation) -> None:
            if ev.feasible and (not best_primal or ev.primal > best_primal[0].primal):
                best_primal[:] = [ev]

        target = max(request.relative_gap, DEFAULT_GAP)
        deadline = start + 0.6 * request.time_limit
        center, cuts, iterations = minimize_dual(
            lag, deadline=deadline, tolerance=target * 0.2, on_primal=keep_primal)
        bound = min(c.dual for c in cuts)
        plan, value = self._primal(problem, rows, lag, center, best_primal, request, start,
                                   absolute_gap=0.5 * target * abs(bound), bound=bound)
        seconds = time.perf_counter() - start
        if plan is None:
            return SolveResult(Termination.NO_SOLUTION, self.name, seconds, bound=bound,
                               iterations=iterations, limit_reached=True,
                               detail="no plan keeping every global row was found")
        bound = max(bound, value)
        gap = (bound - value) / max(abs(bound), abs(value), 1e-9)
        # "optimal" only when the proven gap meets the requested one (default: exactly 0)
        termination = Termination.OPTIMAL if gap <= max(request.relative_gap, 1e-9) \
            else Termination.FEASIBLE
        duals = self._prices(lag, center) if request.want_duals else {}
        return SolveResult(termination, self.name, seconds, x=plan.astype(float),
                           objective=value, bound=bound, iterations=iterations,
                           row_duals=duals, detail=f"{lag.evaluations} dual evaluations")

    @staticmethod
    def _prices(lag: Lagrangian, center: Evaluation) -> dict[str, float]:
        """Multipliers back in each row's own units: d objective / d bound."""
        out = {}
        r = lag.rows
        for k, name in enumerate(r.names):
            out[name] = float(center.multipliers[k] / r.scale[k] * r.sign[k])
        for f, cov in enumerate(lag.coverage):
            out[cov.name] = -float(center.multipliers[lag.n_rows + f])
        return out

    def _primal(self, problem: Problem, rows: list[LinearRow], lag: Lagrangian,
                center: Evaluation, found: list[Evaluation], request: SolveRequest,
                start: float, absolute_gap: float,
                bound: float) -> tuple[np.ndarray | None, float]:
        """Repair the subproblem plan at the best multipliers into a feasible plan, then
        polish it exactly over the customers whose choice the multipliers decide."""
        from optimizer.solvers.exact import OrToolsMip

        candidates: list[tuple[float, np.ndarray]] = []
        if found:
            candidates.append((found[0].primal, lag.to_triples(found[0].x)))
        start_plan = _usable_hint(lag, request.hint)
        if start_plan is not None:  # a warm start: polished like any other candidate
            candidates.append((float(np.dot(request.objective, start_plan)), start_plan))
        repaired = repair(lag, center.x, center.multipliers,
                          deadline=start + 0.85 * request.time_limit)
        if repaired is not None:
            plan = lag.to_triples(repaired)
            candidates.append((float(np.dot(request.objective, plan)), plan))
        left = request.time_limit - (time.perf_counter() - start)
        if not candidates:
            if problem.size > self.polish_triples or left < 1.0:
                return None, float("-inf")
            # small enough to hand over whole: the exact MIP finds a plan if there is one
            plan, value = np.zeros(problem.size, dtype=bool), float("-inf")
            free = np.ones(problem.n_customers, dtype=bool)
        else:
            value, plan = max(candidates, key=lambda c: c[0])
            if left < 1.0 or bound - value <= 2.0 * absolute_gap:  # the target gap
                return plan, value  # out of time, or already within the gap asked for
            free = self._free_customers(problem, lag, center, plan[lag.order],
                                        deadline=start + 0.7 * request.time_limit)
        sub, idx = restrict(problem, rows, free, plan)
        budget = min(left * 0.8, max(2.0, 0.25 * request.time_limit))
        result = OrToolsMip("cp-sat", "sat").solve(sub, SolveRequest(
            objective=request.objective[idx], time_limit=budget,
            relative_gap=request.relative_gap, absolute_gap=absolute_gap, hint=plan[idx]))
        if result.x is not None:
            polished = plan & ~free[problem.triples.customer]
            polished[idx] = result.x > 0.5
            polished_value = float(np.dot(request.objective, polished))
            if polished_value > value:
                return polished, polished_value
        if not np.isfinite(value):
            return None, value
        return plan, value

    def _free_customers(self, problem: Problem, lag: Lagrangian, center: Evaluation,
                        plan: np.ndarray, deadline: float) -> np.ndarray:
        """Customers whose choice flips when one multiplier moves a little (or whose plan
        the repair changed): at most `polish_triples` triples' worth."""
        customer = lag.customer
        if problem.size <= self.polish_triples:
            return np.ones(problem.n_customers, dtype=bool)
        lam = center.multipliers
        base = max(float(np.abs(lag.objective).max(initial=0.0)), 1e-6)
        moved = plan != center.x
        for delta in (0.01, 0.003, 0.001):
            flips = moved.copy()
            if time.perf_counter() > deadline:
                break
            for r in range(lag.dim):
                for sign in (-1.0, 1.0):
                    trial = lam.copy()
                    trial[r] = max(0.0, lam[r] + sign * max(lam[r] * delta, base * delta * 1e-2))
                    flips |= lag.evaluate(trial).x != center.x
            free = np.zeros(problem.n_customers, dtype=bool)
            free[customer[flips]] = True
            if int(free[problem.triples.customer].sum()) <= self.polish_triples:
                return free
        free = np.zeros(problem.n_customers, dtype=bool)
        free[customer[moved]] = True
        return free


register("decomposition", Decomposition)
