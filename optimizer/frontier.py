"""The efficient frontier between two quantities, by the epsilon-constraint method.

A marketer asks "how much margin does each extra unit of customer value cost?". The answer
is a curve of plans, each the best x for a floor eps on y, with every hard constraint of the
policy kept (the policy's objective levels are replaced by x). The eps values run from y at
the x-optimal plan (lexicographically: the best y among x-optimal plans, so the first point
is not weakly dominated) to the largest y found.

Points are solved from the loosest eps up, each warm-started (`hint`) with the previous
point's plan; when that plan misses the new eps, customers are moved whole from it into the
best known plan that keeps the eps, as many as every global row allows (`blend.py`), so
the start is always feasible. A tighter point's plan keeps every looser eps and a looser
point's proven bound bounds every tighter one, so both are made monotone at the end. Each
point reports an honest status and gap; nothing here is called optimal without a proof.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa

from optimizer.blend import TOLERANCE, blend
from optimizer.errors import InputError, closest
from optimizer.lexicographic import solve_lexicographic
from optimizer.problem import LinearRow, Problem, quantity_values
from optimizer.result import SolveResult, Termination, relative_gap
from optimizer.scenario import CONTACTS, Scenario, quantity_source
from optimizer.solvers import Solver, SolveRequest

# keeps a plan feasible for an eps row built from its own value despite round-off
EPS_SLACK = 1e-9
MIN_SOLVE_SECONDS = 1.0
LEVEL_PREFIX = "level."

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Axis:
    """One side of the frontier: a quantity (or objective level) and whether more is better.

    `values` are in the quantity's own units; `signed` is what is maximized internally.
    """

    label: str
    sense: Literal["max", "min"]
    values: np.ndarray = field(repr=False)

    @property
    def sign(self) -> float:
        return 1.0 if self.sense == "max" else -1.0

    @property
    def signed(self) -> np.ndarray:
        return self.sign * self.values

    @property
    def title(self) -> str:
        return f"{self.label} ({'maximize' if self.sense == 'max' else 'minimize'})"

    def of(self, chosen: np.ndarray) -> float:
        return float(np.dot(self.values, chosen))


def parse_axis(s: Scenario, problem: Problem, text: str, option: str) -> Axis:
    """`[-]NAME`: a quantity (as in a policy's `sum =`) or an objective level's name; a
    leading `-` minimizes it. `level.NAME` names a level whose name is also a quantity."""
    raw = text.strip()
    sense: Literal["max", "min"] = "min" if raw.startswith("-") else "max"
    name = raw.removeprefix("-").strip()
    levels = {lv.name: lv for lv in problem.levels}
    if name.startswith(LEVEL_PREFIX) and name[len(LEVEL_PREFIX):] in levels:
        return Axis(name, sense, levels[name[len(LEVEL_PREFIX):]].values)
    try:
        quantity_source(s, name, option)
    except InputError as exc:
        if name in levels:
            return Axis(name, sense, levels[name].values)
        if "both a KPI and an action column" in exc.message:
            raise InputError(option, exc.message, examples=(text,)) from None
        options = [*s.scores.kpis, CONTACTS, *levels,
                   *(c for c in s.actions.columns if _numeric_column(s, c))]
        guess = closest(name, options)
        raise InputError(option, "names no quantity (a KPI column of scores, a numeric "
                         "column of actions, 'contacts') or objective level", examples=(text,),
                         hint=f"did you mean {guess!r}?" if guess else
                         f"choose one of {', '.join(options)}") from None
    return Axis(name, sense, quantity_values(s, name, problem.triples))


def _numeric_column(s: Scenario, column: str) -> bool:
    col = s.actions[column]
    return bool(col.dtype.kind in "iuf")


@dataclass(frozen=True)
class FrontierOptions:
    points: int = 5
    time_limit: float = 120.0  # seconds for every solve of the frontier together
    relative_gap: float = 0.0

    def check(self) -> None:
        if self.points < 2:
            raise InputError("--points", "must be at least 2", examples=(self.points,))
        if not self.time_limit > 0:
            raise InputError("--time-limit", "must be > 0", examples=(self.time_limit,))
        if not 0 <= self.relative_gap < 1:
            raise InputError("--gap", "must be in [0, 1)", examples=(self.relative_gap,))


@dataclass(frozen=True)
class FrontierPoint:
    """One eps-constrained solve, in the axes' own units."""

    point: int  # 0 = the x-optimal end; eps tightens with the index
    eps: float  # y >= eps (maximized y) or y <= eps (minimized y)
    x: float
    y: float
    bound: float | None  # proven bound on x at this eps: upper when maximized, lower if not
    gap: float | None
    status: str  # "optimal" (gap proven within the requested one) or "feasible"
    contacts: int
    seconds: float
    chosen: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class CurrentPlan:
    """The policy's own plan, marked on the chart."""

    x: float
    y: float
    source: str  # "solved" or the run directory it was read from
    status: str


@dataclass(frozen=True)
class Frontier:
    x: Axis
    y: Axis
    points: tuple[FrontierPoint, ...]
    current: CurrentPlan | None
    solver: str
    seconds: float
    y_bound: float | None  # proven bound on y alone (its best over all plans)
    warnings: tuple[str, ...] = ()

    def table(self) -> pa.Table:
        """frontier.parquet: one row per point."""
        p = self.points
        return pa.table({
            "point": pa.array([q.point for q in p], pa.int32()),
            "eps": pa.array([q.eps for q in p], pa.float64()),
            "x": pa.array([q.x for q in p], pa.float64()),
            "y": pa.array([q.y for q in p], pa.float64()),
            "bound": pa.array([q.bound for q in p], pa.float64()),
            "gap": pa.array([q.gap for q in p], pa.float64()),
            "status": pa.array([q.status for q in p], pa.string()),
            "contacts": pa.array([q.contacts for q in p], pa.int64()),
            "seconds": pa.array([round(q.seconds, 3) for q in p], pa.float64()),
        }, metadata={"x": self.x.label, "x_sense": self.x.sense, "y": self.y.label,
                     "y_sense": self.y.sense})

    def meta(self) -> dict:
        """frontier.json: what the columns mean, the current plan, the solver."""
        current = None if self.current is None else {
            "x": self.current.x, "y": self.current.y, "source": self.current.source,
            "status": self.current.status}
        return {
            "x": {"name": self.x.label, "sense": self.x.sense},
            "y": {"name": self.y.label, "sense": self.y.sense},
            "eps": "y >= eps" if self.y.sense == "max" else "y <= eps",
            "bound": "proven " + ("upper" if self.x.sense == "max" else "lower")
                     + " bound on x at that eps",
            "points": len(self.points),
            "y_bound": self.y_bound,
            "current": current,
            "solver": self.solver,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


class _Budget:
    """Shares one time limit over a known number of solves, each taking what is left over
    the solves still to come (an overrun shortens the later ones, not the total)."""

    def __init__(self, seconds: float, solves: int) -> None:
        self.deadline = time.perf_counter() + seconds
        self.left = solves

    def take(self, solves: int = 1) -> float:
        share = (self.deadline - time.perf_counter()) * solves / max(self.left, solves)
        self.left -= solves
        return max(share, MIN_SOLVE_SECONDS)


def _keeps(row: LinearRow, plan: np.ndarray) -> bool:
    return row.activity(plan) >= row.rhs - TOLERANCE * max(1.0, abs(row.rhs))


def _row(name: str, values: np.ndarray, rhs: float) -> LinearRow:
    """`values . x >= rhs`, loosened by the round-off slack."""
    nz = np.flatnonzero(values)
    return LinearRow(name, "level", ">=", rhs - EPS_SLACK * max(1.0, abs(rhs)), nz,
                     values[nz], None, name)


def compute_frontier(scenario: Scenario, problem: Problem, solver: Solver, x: Axis, y: Axis,
                     options: FrontierOptions, *, current: np.ndarray | None = None,
                     current_source: str = "", progress: Progress = lambda _: None
                     ) -> Frontier:
    """Solve the end points and `options.points` eps-constrained points; see the module
    docstring. `current` is the policy's plan (read from a run); None solves the policy."""
    from optimizer.run import no_plan_error  # run imports the report; keep this light

    options.check()
    start = time.perf_counter()
    budget = _Budget(options.time_limit,
                     3 + options.points + (len(problem.levels) if current is None else 0))
    u, v = x.signed, y.signed
    warnings: list[str] = []

    def solve(objective: np.ndarray, rows: tuple[LinearRow, ...],
              hint: np.ndarray | None) -> SolveResult:
        return solver.solve(problem, SolveRequest(
            objective=objective, extra_rows=rows, time_limit=budget.take(),
            relative_gap=options.relative_gap, hint=hint))

    progress(f"end point: best {x.title}")
    a = solve(u, (), None)
    if a.x is None:
        raise no_plan_error(problem, solver, a.termination, a.detail,
                            time_limit=options.time_limit,
                            diagnosis_seconds=max(budget.take(), 5.0), progress=progress)
    plan_a = a.x > 0.5
    progress(f"end point: best {y.title} among plans with the best {x.label}")
    b = solve(v, (_row(f"frontier: best {x.label}", u, float(u @ plan_a)),), plan_a)
    plan_b = b.x > 0.5 if b.x is not None else plan_a
    progress(f"end point: best {y.title}")
    c = solve(v, (), plan_b)
    plan_c = c.x > 0.5 if c.x is not None else plan_b
    if c.x is None:
        warnings.append(f"no plan maximizing {y.label} was found in time; the frontier "
                        "stops at the best y seen")
    low, high = float(v @ plan_b), max(float(v @ plan_c), float(v @ plan_b))
    n = options.points
    if high - low <= EPS_SLACK * max(1.0, abs(high)):
        warnings.append(f"{y.label} is already at its best at the {x.label}-optimal plan: "
                        "the frontier is one point")
        n = 1
    eps = np.linspace(low, high, n) if n > 1 else np.array([low])
    found = _sweep(problem, x, y, eps, [plan_a, plan_b, plan_c], solve, progress, warnings)
    points = _points(x, y, eps, found, a.bound, options.relative_gap)
    marker = None
    if current is not None:
        marker = CurrentPlan(x.of(current), y.of(current), current_source, "read")
    else:
        progress("the policy's own plan, for the marker")
        result = solve_lexicographic(problem, solver, time_limit=budget.take(
            len(problem.levels)), relative_gap=options.relative_gap)
        if result.chosen is None:
            warnings.append(f"the policy's own plan was not found ({result.termination}); "
                            "the chart has no marker")
        else:
            marker = CurrentPlan(x.of(result.chosen), y.of(result.chosen), "solved",
                                 result.termination.value)
    y_bound = None if c.bound is None else y.sign * max(c.bound, high)
    return Frontier(x, y, points, marker, solver.name, time.perf_counter() - start, y_bound,
                    tuple(warnings))


Solve = Callable[[np.ndarray, tuple[LinearRow, ...], np.ndarray | None], SolveResult]


def _sweep(problem: Problem, x: Axis, y: Axis, eps: np.ndarray, known: list[np.ndarray],
           solve: Solve, progress: Progress,
           warnings: list[str]) -> list[tuple[np.ndarray, float | None, float]]:
    """Each eps from the loosest up: (plan, the solver's bound on x, seconds). `known` are
    the end points' plans [x-optimal, best y at the x optimum, y-optimal]; the last keeps
    every eps, so every point has a plan."""
    u, v = x.signed, y.signed
    found = []
    previous = known[1]
    for k, target in enumerate(eps):
        t0 = time.perf_counter()
        row = _row(f"frontier: {y.label} eps", v, float(target))
        keeping = [p for p in (*known, previous) if _keeps(row, p)]
        base = max(keeping, key=lambda p: float(u @ p))
        # warm start: the previous (looser) point's plan when it keeps this eps too, else
        # the best known plan that does, with the customers of the previous plan that fit
        start_plan = previous if _keeps(row, previous) else blend(
            problem, base, previous, u, (*problem.rows, row))
        r = solve(u, (row,), start_plan)
        candidates = [*keeping, start_plan] + ([r.x > 0.5] if r.x is not None else [])
        if r.termination == Termination.INFEASIBLE:
            warnings.append(f"point {k}: the solver reported infeasible although a known plan "
                            "keeps eps; its bound is ignored")
        bound = r.bound if r.termination != Termination.INFEASIBLE else None
        previous = max(candidates, key=lambda p: float(u @ p))
        found.append((previous, bound, time.perf_counter() - t0))
        progress(_point_text(k, len(eps), x, y, float(target), previous, bound,
                             r.termination, time.perf_counter() - t0))
    return found


def _points(x: Axis, y: Axis, eps: np.ndarray,
            found: list[tuple[np.ndarray, float | None, float]], bound_all: float | None,
            gap: float) -> tuple[FrontierPoint, ...]:
    """Back to the axes' units, made monotone both ways: a tighter point's plan keeps every
    looser eps (so a looser point takes it when it is worth more), and a looser point's
    bound bounds every tighter one."""
    plans = [plan for plan, _, _ in found]
    for k in range(len(plans) - 2, -1, -1):
        if float(x.signed @ plans[k + 1]) > float(x.signed @ plans[k]):
            plans[k] = plans[k + 1]
    out = []
    best_bound = np.inf if bound_all is None else bound_all
    for k, ((_, bound, seconds), plan) in enumerate(zip(found, plans, strict=True)):
        if bound is not None:
            best_bound = min(best_bound, bound)
        value = float(x.signed @ plan)
        proven = best_bound if np.isfinite(best_bound) else None
        g = relative_gap(value, proven)
        out.append(FrontierPoint(
            point=k, eps=float(y.sign * eps[k]), x=x.of(plan), y=y.of(plan),
            bound=None if proven is None else float(x.sign * max(proven, value)),
            gap=g, status="optimal" if g is not None and g <= max(gap, 1e-9) else "feasible",
            contacts=int(plan.sum()), seconds=seconds, chosen=plan))
    return tuple(out)


def _point_text(k: int, n: int, x: Axis, y: Axis, eps: float, plan: np.ndarray,
                bound: float | None, termination: Termination, seconds: float) -> str:
    word = ">=" if y.sense == "max" else "<="
    value = x.of(plan)
    gap = relative_gap(float(x.signed @ plan), bound)
    shown = "" if bound is None else f", bound {x.sign * bound:,.2f}"
    gap_text = "gap unknown" if gap is None else f"gap {gap:.3%}"
    return (f"point {k + 1}/{n}: {y.label} {word} {y.sign * eps:,.2f} -> "
            f"{x.label} = {value:,.2f}{shown}, {gap_text} ({termination.value}), "
            f"{seconds:.1f} s")
