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
other customer fixed. On a small problem (see `_fixing_affordable`) a proof step follows:
reduced-cost fixing (`fixing.py`) finds the customers a better plan could change, and
HiGHS solves them exactly, so the plan is a proven optimum when it finishes in time.

One iteration is a map over customer blocks (reduced values → subproblem optima) and a
reduce of a few sums (row activities, coverage counts, the dual value): `_Block` holds one
block's arrays, so a distributed engine can run the blocks elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from math import inf

import numpy as np

from optimizer.problem import (
    CapSpec,
    ConflictSpec,
    CoverageRow,
    LinearRow,
    Problem,
    Triples,
    weighted_sum,
)
from optimizer.result import SolveResult, Termination
from optimizer.solvers.base import SolveRequest, register
from optimizer.solvers.daydp import DayChoiceOracle, ValuesAt
from optimizer.solvers.enumeration import EnumerationOracle
from optimizer.solvers.fixing import Fixing, flip_costs
from optimizer.solvers.repair import repair
from optimizer.solvers.sampling import sample_problem, sampled_customers
from optimizer.solvers.threads import thread_map

FEASIBILITY_TOL = 1e-7
DEFAULT_GAP = 1e-4  # relative gap (0.01%) the decomposition aims for when none is asked
# Shadow prices are the multipliers, so the dual is minimized further than the gap needs:
# near its minimum the dual is flat, and a dual value 2e-5 (relative) above it left a
# coverage multiplier 7% off the LP dual on 5,000 customers; at 1e-9 every multiplier met
# the LP's (or, at a kink, fell between its one-sided slopes). At most PRICE_EVALUATIONS
# more evaluations, within the solve's time limit.
PRICE_TOLERANCE = 1e-9
PRICE_EVALUATIONS = 40
CHUNK_SCRATCH = 1 << 19  # float64 values per thread's reduced-value buffer, at least
# reduced-cost fixing (optimizer/solvers/fixing.py) is tried up to this many positions
FIXING_MAX_POSITIONS = 2_000_000
# the proof step hands HiGHS at most this many contacts left free by fixing (Bigler GS5:
# 46,676, HiGHS presolves them in 3 s); more go to the CP-SAT polish instead
FIXING_MAX_MODEL = 50_000
# a proof round stops to refix once a better plan leaves at most this share of its contacts
REFIX_SHARE = 0.5
# a HiGHS polish before a proof step stops once its plan leaves at most this many contacts
# free: HiGHS proves such models in seconds (10k × 20: 787 contacts, 4.2 s)
PROOF_READY_CONTACTS = 2_000


@dataclass(frozen=True)
class DualRows:
    """Global rows in `a x <= b` form, priced in scaled units (largest |coefficient| 1).

    The coefficients stay the rows' own arrays (no scaled copy of hundreds of millions of
    values): a scaled multiplier u on row r prices each triple at u * sign[r] / scale[r]
    times the row's coefficient."""

    names: tuple[str, ...]
    index: tuple[np.ndarray, ...]  # sorted positions
    coef: tuple[np.ndarray, ...]  # the row's own coefficients (any float dtype)
    rhs: np.ndarray  # scaled, in <= form
    scale: np.ndarray  # original units per scaled unit
    sign: np.ndarray  # +1 for <= rows, -1 for >= rows

    @staticmethod
    def of(rows: list[LinearRow]) -> DualRows:
        names, index, coef, rhs, scale, sign = [], [], [], [], [], []
        for row in rows:
            s = 1.0 if row.sense == "<=" else -1.0
            top = float(np.abs(row.coef).max()) if len(row.coef) else 1.0
            top = top if top > 0 else 1.0
            if len(row.index) > 1 and not (row.index[1:] > row.index[:-1]).all():
                order = np.argsort(row.index, kind="stable")
                row = replace(row, index=row.index[order], coef=row.coef[order])
            names.append(row.name)
            index.append(row.index)
            coef.append(row.coef)
            rhs.append(s * row.rhs / top)
            scale.append(top)
            sign.append(s)
        return DualRows(tuple(names), tuple(index), tuple(coef), np.array(rhs, dtype=float),
                        np.array(scale, dtype=float), np.array(sign, dtype=float))

    def prices(self, multipliers: np.ndarray) -> np.ndarray:
        """Price per unit of each row's own coefficient (sign and scale folded in)."""
        return multipliers * self.sign / self.scale

    def scaled(self, raw: np.ndarray) -> np.ndarray:
        """Row activities in the rows' own units → scaled <= form."""
        return raw * self.sign / self.scale


@dataclass(frozen=True)
class Evaluation:
    """The dual function at one point: value, subgradient and the subproblem plan."""

    multipliers: np.ndarray  # rows then coverage floors
    dual: float
    subgradient: np.ndarray
    # the subproblem plan as its sorted positions (one per customer and day at most: far
    # smaller than a flag per position); None in the cutting-plane history
    chosen: np.ndarray | None
    size: int  # positions in all
    primal: float  # objective of the plan (from the dual's sums: to rounding error)
    feasible: bool  # the plan keeps every global row

    @property
    def x(self) -> np.ndarray:
        """The plan as a bool per position (made on demand)."""
        assert self.chosen is not None, "a cut keeps no plan"
        x = np.zeros(self.size, dtype=bool)
        x[self.chosen] = True
        return x

    def cut(self) -> Evaluation:
        """The same point without its plan: what the cutting-plane model keeps."""
        return replace(self, chosen=None)


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
    """One block of customers: the oracle over its positions (the whole problem for now).

    `solve` is the map step: from the multipliers' reduced values to the block's
    subproblem optima and chosen positions; the caller reduces the sums."""

    def __init__(self, oracle: DayChoiceOracle | EnumerationOracle) -> None:
        self.oracle = oracle

    def solve(self, values: ValuesAt, bonus: np.ndarray
              ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """The block's dual share, chosen positions and, when the oracle counts them, the
        customers each coverage floor reaches (else None)."""
        totals, chosen, covered = self.oracle.solve_counted(values, bonus)
        return float(totals.sum()), chosen, covered


class Lagrangian:
    """The priced problem: evaluates the dual function at given multipliers.

    Works in the oracle's order of the triples that can be chosen (`order`; usually the
    problem's own order, then nothing is copied), so one evaluation reads each array front
    to back, once; `to_triples` maps a plan back.
    """

    def __init__(self, problem: Problem, objective: np.ndarray, rows: list[LinearRow]) -> None:
        self.problem = problem
        # numba loads with the first solver that needs it, not with every command
        from optimizer.solvers import kernels

        self._kernels = kernels
        oracle = make_oracle(problem)
        self.order = oracle.order
        self.identity = oracle.order is None
        if self.identity:
            self.customer = problem.triples.customer
            self.objective = objective
        else:
            position = np.full(problem.size, -1, dtype=np.int64)
            position[oracle.order] = np.arange(oracle.size)
            self.customer = problem.triples.customer[oracle.order]
            self.objective = objective[oracle.order]
            rows = [_remap(row, position) for row in rows]
        self.rows = DualRows.of(rows)
        n_pos = oracle.size
        self.size = n_pos
        # a row over every position is its own dense array (a slice per chunk); the others
        # are read as (index, coef) pairs, merged into each chunk by a compiled loop
        self.dense = [c if len(i) == n_pos else None
                      for i, c in zip(self.rows.index, self.rows.coef, strict=True)]
        self.coverage = problem.coverage
        if self.identity:
            self.cov_index = [c.index for c in self.coverage]
        else:
            self.cov_index = [np.sort(position[c.index][position[c.index] >= 0])
                              for c in self.coverage]
        self.cov_need = np.array([c.need for c in self.coverage], dtype=float)
        self.blocks = [_Block(oracle)]
        # positions the oracle prices at -inf (caps with no room left): never choosable
        self.blocked: np.ndarray = getattr(oracle, "blocked", np.zeros(0, dtype=np.int64))
        self.n_rows = len(self.rows.names)
        self.dim = self.n_rows + len(self.coverage)
        self.evaluations = 0
        self.evaluation_seconds = 0.0
        # the steady cost of one evaluation: the first ones also compile (or load) numba's
        # kernels, seconds in a fresh environment, which an average would charge to every one
        self.fastest_evaluation = inf
        self._mark = np.zeros(n_pos, dtype=bool)  # scratch plan flags for `evaluate`
        self._local = threading.local()  # per-thread reduced-value buffers (`_scratch`)

    def to_triples(self, x: np.ndarray) -> np.ndarray:
        """A plan over the oracle's positions as a plan over the problem's triples."""
        if self.order is None:
            return x
        out = np.zeros(self.problem.size, dtype=bool)
        out[self.order] = x
        return out

    def from_triples(self, plan: np.ndarray) -> np.ndarray:
        """A plan over the problem's triples as a plan over the oracle's positions."""
        return plan if self.order is None else plan[self.order]

    def values_at(self, prices: np.ndarray, lo: int, hi: int,
                  out: np.ndarray | None = None) -> np.ndarray:
        """Reduced values of positions [lo, hi): objective minus priced row coefficients,
        in float64 whatever the storage dtype; into `out` (hi - lo values) when given."""
        if out is None:
            rv = self.objective[lo:hi].astype(np.float64)
        else:
            rv = out
            rv[:] = self.objective[lo:hi]
        for r in np.flatnonzero(prices):
            price = float(prices[r])
            dense = self.dense[r]
            if dense is not None:
                self._kernels.subtract_scaled(rv, dense, lo, price)
                continue
            index = self.rows.index[r]
            # keys in the index's own dtype: int64 keys on an int32 index copy the index
            a, b = np.searchsorted(index, np.array([lo, hi], dtype=index.dtype))
            if b > a:
                self._kernels.subtract_scaled_at(rv, index, self.rows.coef[r], int(a), int(b),
                                                 lo, price)
        return rv

    def evaluate(self, multipliers: np.ndarray) -> Evaluation:
        started = time.perf_counter()
        self.evaluations += 1
        lam = np.maximum(multipliers, 0.0)
        prices = self.rows.prices(lam[: self.n_rows])
        bonus = lam[self.n_rows:]
        total = 0.0
        parts = []
        counted: np.ndarray | None = np.zeros(len(self.coverage))
        for block in self.blocks:  # map over blocks; reduce the sums
            value, chosen, covered = block.solve(
                lambda lo, hi: self.values_at(prices, lo, hi, self._scratch(hi - lo)), bonus)
            total += value
            parts.append(chosen)
            counted = None if covered is None or counted is None else counted + covered
        chosen = np.concatenate(parts) if len(parts) > 1 else parts[0]
        need = self.cov_need
        dual = total + float(np.dot(lam[: self.n_rows], self.rows.rhs)) - float(
            np.dot(bonus, need))
        x = self._mark  # all False between uses: set the plan, read the rows, clear it
        self._kernels.set_flags(x, chosen, True)
        try:
            reached = self.covered(x, chosen) if counted is None else counted
            activity = self.activities(x, chosen)
        finally:
            self._kernels.set_flags(x, chosen, False)
        sub = np.concatenate([self.rows.rhs - activity, reached - need])
        feasible = bool((sub >= -FEASIBILITY_TOL * np.maximum(1.0, np.abs(
            np.concatenate([self.rows.rhs, need])))).all())
        # the plan's objective without reading it again: the subproblem optima hold its
        # reduced values plus the bonuses it earns, and the priced rows hold the rest
        primal = total - float(np.dot(bonus, reached)) + float(
            np.dot(lam[: self.n_rows], activity))
        took = time.perf_counter() - started
        self.evaluation_seconds += took
        self.fastest_evaluation = min(self.fastest_evaluation, took)
        return Evaluation(lam, dual, sub, chosen, self.size, primal, feasible)

    def _scratch(self, size: int) -> np.ndarray:
        """This thread's reusable float64 buffer of `size` values: a chunk's reduced values
        live only while the oracle reads them, and a fresh chunk-sized array each time
        costs its page faults again."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = self._local.buffer = np.empty(max(size, CHUNK_SCRATCH))
        return buffer[:size]

    def activities(self, x: np.ndarray, chosen: np.ndarray | None = None) -> np.ndarray:
        """Every row's activity for plan `x` (bool per position), scaled <= form; `chosen`
        (x's positions, sorted, when known) saves finding them."""
        def activity(r: int) -> float:
            dense = self.dense[r]
            if dense is None:
                return self._kernels.sum_where_marked(self.rows.index[r], self.rows.coef[r], x)
            return self._kernels.sum_at(dense, np.flatnonzero(x) if chosen is None else chosen)

        raw = np.array(thread_map(activity, range(self.n_rows)), dtype=float)
        return self.rows.scaled(raw)

    def covered(self, x: np.ndarray, chosen: np.ndarray | None = None) -> np.ndarray:
        """How many customers each coverage floor reaches."""
        return np.array(thread_map(lambda index: float(self._kernels.customers_where_marked(
            index, x, self.customer)), self.cov_index), dtype=float)

    def pass_seconds(self) -> float:
        """Seconds for one plain pass over the value data (objective and row coefficients):
        the unit in which an evaluation's cost is quoted."""
        started = time.perf_counter()
        float(self.objective.sum(dtype=np.float64))
        for c in self.rows.coef:
            float(c.sum(dtype=np.float64))
        return time.perf_counter() - started


def _evaluation_stats(lag: Lagrangian) -> dict[str, float]:
    """What one dual evaluation costs, also in passes over the value data (the objective
    and every row's coefficients read once): the figure that says how close the evaluation
    is to reading its data once."""
    per = lag.evaluation_seconds / max(lag.evaluations, 1)
    one_pass = lag.pass_seconds()
    return {"dual_evaluations": lag.evaluations, "seconds_per_evaluation": round(per, 4),
            "seconds_per_pass": round(one_pass, 4),
            "passes_per_evaluation": round(per / max(one_pass, 1e-9), 1)}


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
                  start_point: np.ndarray | None = None,
                  resume: tuple[Evaluation, list[Evaluation]] | None = None,
                  ) -> tuple[Evaluation, list[Evaluation], int]:
    """Boxstep cutting planes on the (convex, piecewise-linear) dual function, from zero or
    from `start_point` (then inside a small box around it), or on from an earlier run's
    best point and cuts (`resume`, to a tighter tolerance); the count returned is of new
    evaluations."""
    scale = float(np.abs(lag.objective).max()) if lag.problem.size else 1.0
    if resume is not None:
        best, history = resume
        radius = max(0.05 * float(np.abs(best.multipliers).max(initial=0.0)),
                     1e-6 * max(scale, 1.0))
        state = _DualState(best, list(history), radius)
        iterations = 0
    else:
        start = lag.evaluate(np.zeros(lag.dim) if start_point is None else start_point)
        if on_primal:
            on_primal(start)
        radius = max(scale, 1e-9) if start_point is None else max(
            0.05 * float(np.abs(start_point).max(initial=0.0)), 1e-6 * max(scale, 1.0))
        state = _DualState(start, [start.cut()], radius)
        iterations = 1
    if lag.dim == 0:
        return state.best, state.cuts, iterations
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
        state.cuts.append(trial.cut())
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
    from optimizer.solvers.highs import solve_small_lp

    g = np.array([c.subgradient for c in cuts])
    rhs = np.array([float(np.dot(c.subgradient, c.multipliers)) - c.dual for c in cuts])
    a_ub = np.hstack([g, -np.ones((len(cuts), 1))])
    lower = np.append(np.maximum(0.0, center - radius), -np.inf)
    upper = np.append(center + radius, np.inf)
    cost = np.zeros(dim + 1)
    cost[-1] = 1.0
    solved = solve_small_lp(cost, a_ub, rhs, lower, upper)
    if solved is None:
        return np.inf, None
    return solved[0], solved[1][:dim]


# --- primal: from the subproblem plans to a plan that keeps every global row ----------------

def _usable_hint(lag: Lagrangian, hint: np.ndarray | None) -> np.ndarray | None:
    """The request's hint as a plan, when it keeps every global row and coverage floor and
    chooses only triples the oracle may choose (so also its customers' caps and conflicts
    left by history); else None."""
    if hint is None:
        return None
    plan = hint > 0.5
    x = lag.from_triples(plan)
    if int(x.sum()) != int(plan.sum()) or x[lag.blocked].any():
        return None
    s = np.concatenate([lag.rows.rhs - lag.activities(x), lag.covered(x) - lag.cov_need])
    scale = np.maximum(1.0, np.abs(np.concatenate([lag.rows.rhs, lag.cov_need])))
    return plan if bool((s >= -FEASIBILITY_TOL * scale).all()) else None


def _merged(lag: Lagrangian, request: SolveRequest, outside: np.ndarray, idx: np.ndarray,
            x_sub: np.ndarray, value: float, check_rows: bool) -> tuple[np.ndarray, float] | None:
    """A restricted solve's plan (`x_sub` over triples `idx`) merged into the plan fixed
    outside them, with its value, when it beats `value` (and, with `check_rows`, keeps
    every global row at the oracle's tolerance); else None."""
    merged = outside.copy()
    merged[idx] = x_sub > 0.5
    merged_value = weighted_sum(request.objective, merged)
    if np.isfinite(value) and merged_value <= value + 1e-9 * max(1.0, abs(value)):
        return None  # no real gain (with no plan yet, any plan is one)
    if check_rows and _usable_hint(lag, merged.astype(float)) is None:
        return None
    return merged, merged_value


def restrict(problem: Problem, rows: list[LinearRow], keep: np.ndarray,
             fixed: np.ndarray) -> tuple[Problem, np.ndarray]:
    """The problem over the triples `keep` marks, every other triple fixed at `fixed`:
    global rows and coverage needs lose what the fixed triples already give. Keep all of
    a customer's triples, or drop only triples fixed at 0 (a dropped triple at 1 would no
    longer count towards its customer's caps and conflicts)."""
    t = problem.triples
    idx = np.flatnonzero(keep)
    fixed_x = fixed & ~keep
    sub_rows = []
    for row in rows:
        inside = keep[row.index]
        done = weighted_sum(row.coef, fixed_x[row.index])  # fixed_x is 0 inside
        sub_rows.append(replace(row, rhs=row.rhs - done,
                                index=np.searchsorted(idx, row.index[inside]),
                                coef=row.coef[inside]))
    cov_rows = []
    for cov in problem.coverage:
        inside = keep[cov.index]
        already = cov.covered(fixed_x, t.customer)
        cov_rows.append(CoverageRow(cov.name, max(cov.need - already, 0), cov.group_size,
                                    np.searchsorted(idx, cov.index[inside]),
                                    cov.min_share))
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
        self.proof_stats: dict[str, float] = {}  # the last solve's proof step, if it ran

    def solve(self, problem: Problem, request: SolveRequest) -> SolveResult:
        start = time.perf_counter()
        self.proof_stats = {}
        if request.elastic:  # diagnosis is small-model work: the exact solver does it
            from optimizer.solvers.exact import OrToolsMip

            return OrToolsMip("cp-sat", "sat").solve(problem, request)
        rows = [*problem.rows, *request.extra_rows]
        lag = Lagrangian(problem, request.objective, rows)
        best_primal: list[Evaluation] = []

        def keep_primal(ev: Evaluation) -> None:
            if ev.feasible and (not best_primal or ev.primal > best_primal[0].primal):
                best_primal[:] = [ev]

        say = request.progress or (lambda _: None)
        target = max(request.relative_gap, DEFAULT_GAP)
        warm = self._sampled_multipliers(problem, rows, request, target,
                                         deadline=start + 0.25 * request.time_limit)
        if warm is not None:
            say(f"decomposition: multipliers from a customer sample after "
                f"{time.perf_counter() - start:.0f} s")
        deadline = start + 0.6 * request.time_limit
        center, cuts, iterations = minimize_dual(
            lag, deadline=deadline, tolerance=target * 0.2, on_primal=keep_primal,
            start_point=warm)
        if self._fixing_affordable(lag, request) and time.perf_counter() < deadline:
            # fixing prunes by the dual's distance to the incumbent: sharpen it first
            center, cuts, more = minimize_dual(
                lag, deadline=deadline, tolerance=PRICE_TOLERANCE,
                max_iterations=PRICE_EVALUATIONS, on_primal=keep_primal,
                resume=(center, cuts))
            iterations += more
        bound = min(c.dual for c in cuts)
        say(f"decomposition: bound {bound:,.2f} after {iterations} dual iterations "
            f"({time.perf_counter() - start:.0f} s); building the plan")
        plan, value, exact_bound = self._primal(
            problem, rows, lag, center, best_primal, request, start,
            absolute_gap=0.5 * target * abs(bound), bound=bound)
        if request.want_duals and plan is not None:  # sharpen the multipliers: the prices
            # at most a fifth of the time limit: at scale an evaluation takes seconds
            center, cuts, more = minimize_dual(
                lag, deadline=min(start + request.time_limit,
                                  time.perf_counter() + 0.2 * request.time_limit),
                tolerance=PRICE_TOLERANCE,
                max_iterations=PRICE_EVALUATIONS, resume=(center, cuts))
            iterations += more
            bound = min(bound, min(c.dual for c in cuts))
        bound = min(bound, exact_bound)  # an exact solve of the whole problem may prove more
        seconds = time.perf_counter() - start
        if plan is not None:
            gap_now = (bound - value) / max(abs(bound), 1e-9)
            say(f"decomposition: plan {value:,.2f}, gap {gap_now:.4%} ({seconds:.0f} s)")
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
        return SolveResult(termination, self.name, seconds, x=plan,
                           objective=value, bound=bound, iterations=iterations,
                           row_duals=duals, detail=f"{lag.evaluations} dual evaluations",
                           dual_value=center.dual if request.want_duals else None,
                           price_source="Lagrange multipliers" if request.want_duals else "",
                           stats={**_evaluation_stats(lag), **self.proof_stats})

    @staticmethod
    def _sampled_multipliers(problem: Problem, rows: list[LinearRow], request: SolveRequest,
                             target: float, deadline: float) -> np.ndarray | None:
        """Multipliers that solve the dual of a customer sample (None: no sample needed)."""
        chosen = sampled_customers(problem.n_customers)
        if chosen is None or (not rows and not problem.coverage):
            return None
        sub, sub_rows, idx = sample_problem(problem, rows, chosen)
        sub_lag = Lagrangian(sub, request.objective[idx], sub_rows)
        center, _, _ = minimize_dual(sub_lag, deadline=deadline, tolerance=target * 0.1)
        return center.multipliers

    @staticmethod
    def _prices(lag: Lagrangian, center: Evaluation) -> dict[str, float]:
        """Multipliers back in each row's own units: d(dual value)/d(bound), the exact
        solver's sign convention. The dual value holds u * sign * b / scale for a row
        priced at u (scaled `<=` form), so d/db = u * sign / scale: >= 0 for a limit,
        <= 0 for a floor; a coverage bonus u holds -u * need, so -u per customer."""
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
                bound: float) -> tuple[np.ndarray | None, float, float]:
        """Repair the subproblem plan at the best multipliers into a feasible plan, then
        improve it exactly; also the bound an exact solve proved (else inf). On a problem
        small enough for reduced-cost fixing, the proof step (`_prove`) goes on to the gap
        asked for; the CP-SAT polish over the customers whose choice the multipliers decide
        runs when there is no proof step, or fixing leaves it too much."""
        candidates: list[tuple[float, np.ndarray]] = []
        if found:  # valued exactly: an evaluation's primal is rebuilt from its sums
            found_plan = lag.to_triples(found[0].x)
            candidates.append((weighted_sum(request.objective, found_plan), found_plan))
        start_plan = _usable_hint(lag, request.hint)
        if start_plan is not None:  # a warm start: polished like any other candidate
            candidates.append((weighted_sum(request.objective, start_plan), start_plan))
        repaired = repair(lag, center.x, center.multipliers,
                          deadline=start + 0.85 * request.time_limit)
        if repaired is not None:
            plan = lag.to_triples(repaired)
            candidates.append((weighted_sum(request.objective, plan), plan))
        left = request.time_limit - (time.perf_counter() - start)
        if not candidates:
            if problem.size > self.polish_triples or left < 1.0:
                return None, float("-inf"), inf
            # small enough to hand over whole: the exact MIP finds a plan if there is one
            plan, value = np.zeros(problem.size, dtype=bool), float("-inf")
            free = np.ones(problem.n_customers, dtype=bool)
        else:
            value, plan = max(candidates, key=lambda c: c[0])
            if left < 1.0:
                return plan, value, inf
            free = None
        exact = inf
        asked = max(request.relative_gap * abs(bound), request.absolute_gap)
        small = self._fixing_affordable(lag, request)
        fixing = flip_costs(lag, center) if small and free is None and bound - value > asked \
            else None
        provable = fixing is not None and int(fixing.kept(value)[0].sum()) <= FIXING_MAX_MODEL
        goal = asked if small else 2.0 * absolute_gap
        if free is not None or (not provable and bound - value > goal):
            if free is None:
                free = self._free_customers(problem, lag, center, lag.from_triples(plan),
                                            deadline=start + 0.7 * request.time_limit)
            # before a proof step HiGHS polishes a model it can hold, for a short while:
            # it finds good plans early and then spends long on proving them
            quick = small and int(free[problem.triples.customer].sum()) <= FIXING_MAX_MODEL
            share = 0.05 if quick else 0.25

            def ready(whole: float) -> bool:
                return fixing is not None and \
                    int(fixing.kept(whole)[0].sum()) <= PROOF_READY_CONTACTS

            plan, value, exact = self._polish(
                problem, rows, lag, free, plan, value, request,
                budget=min(left * 0.8, max(2.0, share * request.time_limit)),
                absolute_gap=asked if small else absolute_gap, use_highs=quick,
                enough=ready)
        if not np.isfinite(value):
            return None, value, exact
        if small and bound - value > asked:
            plan, value, proven = self._prove(problem, rows, lag,
                                              fixing or flip_costs(lag, center), plan, value,
                                              request, start + 0.85 * request.time_limit, asked)
            exact = min(exact, proven)
        return plan, value, exact

    @staticmethod
    def _polish(problem: Problem, rows: list[LinearRow], lag: Lagrangian, free: np.ndarray,
                plan: np.ndarray, value: float, request: SolveRequest, budget: float,
                absolute_gap: float, use_highs: bool,
                enough: Callable[[float], bool] | None = None,
                ) -> tuple[np.ndarray, float, float]:
        """An exact solve over the `free` customers, from `plan`, the others fixed at
        `plan`: the better plan, and the bound it proved when it covered every customer
        (else inf). CP-SAT, or HiGHS (`use_highs`) before a proof step: on these
        knapsack-like models HiGHS finds near-optimal plans sooner (10k × 20, 131
        customers: within 0.004 of the optimum in 1 s, where CP-SAT stopped 0.25 short),
        and stops once `enough` holds for the whole plan's value."""
        from optimizer.solvers.exact import OrToolsMip
        from optimizer.solvers.highs import solve_highs

        sub, idx = restrict(problem, rows, free[problem.triples.customer], plan)
        sub_request = SolveRequest(
            objective=request.objective[idx], time_limit=budget,
            relative_gap=request.relative_gap, absolute_gap=absolute_gap, hint=plan[idx],
            deterministic=request.deterministic)
        # a longer polish of the whole problem was tried on the Bigler instances: CP-SAT
        # found no better plan in 40 s more, so the polish keeps its quarter of the limit
        outside = plan & ~free[problem.triples.customer]
        outside_value = weighted_sum(request.objective, outside)
        result = solve_highs(sub, sub_request, stop_at=None if enough is None else
                             lambda v: enough(outside_value + v)) if use_highs else \
            OrToolsMip("cp-sat", "sat").solve(sub, sub_request)
        # a polish over every customer is the whole problem: its proven bound is global
        exact = float(result.bound) if free.all() and result.bound is not None else inf
        if result.x is not None:
            # HiGHS's plan is checked against the rows at the oracle's tolerance
            found = _merged(lag, request, outside, idx, result.x, value,
                            check_rows=use_highs)
            if found is not None:
                return found[0], found[1], exact
        return plan, value, exact

    def _fixing_affordable(self, lag: Lagrangian, request: SolveRequest) -> bool:
        """Whether reduced-cost fixing pays: one oracle solve per position rank (the most
        positions a customer has) within 5% of the time limit, on a problem small enough
        for the exact MIP to finish what fixing leaves."""
        if lag.size == 0 or lag.size > FIXING_MAX_POSITIONS or \
                not bool((lag.customer[1:] >= lag.customer[:-1]).all()):
            return False
        ranks = int(np.bincount(lag.customer).max(initial=0))
        per = lag.fastest_evaluation if lag.evaluations else 0.0
        return ranks * per <= 0.05 * request.time_limit

    def _prove(self, problem: Problem, rows: list[LinearRow], lag: Lagrangian,
               fixing: Fixing, plan: np.ndarray, value: float, request: SolveRequest,
               deadline: float, asked: float) -> tuple[np.ndarray, float, float]:
        """Reduced-cost fixing (optimizer/solvers/fixing.py), then HiGHS over what it leaves,
        from the incumbent: a better plan if there is one, and a proven bound (inf: none).
        A better plan that leaves at most REFIX_SHARE of the free contacts stops HiGHS, to
        refix and go on over the smaller model. What it did goes into the stats (`proof_*`)."""
        from optimizer.solvers.highs import solve_highs

        say = request.progress or (lambda _: None)
        started = time.perf_counter()
        stats = self.proof_stats
        stats.update(proof_rounds=0, proof_optimal=0)
        proven = inf
        refused_stop = False  # the last early stop brought a plan the rows refused
        while time.perf_counter() < deadline - 0.5:
            kept, n_free = fixing.kept(value)
            keep = lag.to_triples(kept)
            n_keep = int(keep.sum())
            stats.update(proof_free_customers=n_free, proof_free_contacts=n_keep)
            if n_keep > FIXING_MAX_MODEL:
                say(f"decomposition: reduced-cost fixing leaves {n_free:,} customers "
                    f"({n_keep:,} contacts) free: too many to solve exactly")
                break
            fixed = lag.to_triples(fixing.chosen) & ~keep
            if not keep.any():  # the subproblem plan is the one plan that could be better
                stats["proof_optimal"] = 1
                best = weighted_sum(request.objective, fixed)
                if best > value and _usable_hint(lag, fixed.astype(float)) is not None:
                    return fixed, best, best
                return plan, value, value
            sub, idx = restrict(problem, rows, keep, fixed)
            fixed_value = weighted_sum(request.objective, fixed)
            say(f"decomposition: reduced-cost fixing leaves {n_free:,} customers "
                f"({n_keep:,} contacts) free of {problem.n_customers:,}; "
                f"solving them exactly with HiGHS")

            stopped: list[bool] = []  # set when `shrinks` stopped HiGHS

            def shrinks(sub_value: float, most: float = REFIX_SHARE * n_keep,
                        fixed_value: float = fixed_value, stopped: list[bool] = stopped
                        ) -> bool:
                if int(fixing.kept(fixed_value + sub_value)[0].sum()) > most:
                    return False
                stopped.append(True)
                return True

            def progress(sub_plan: float, sub_bound: float, nodes: int,
                         fixed_value: float = fixed_value, value: float = value,
                         proven: float = proven) -> None:
                say(f"decomposition: HiGHS after {nodes:,} nodes: plan "
                    f"{max(value, fixed_value + sub_plan):,.2f}, bound "
                    f"{min(fixing.dual, proven, fixed_value + sub_bound):,.2f} "
                    f"({time.perf_counter() - started:.0f} s into the proof)")

            # the incumbent is a start plan when it agrees with the fixing (it does unless
            # one of its choices costs exactly the whole gap)
            inside = bool(np.array_equal(plan & ~keep, fixed))
            result = solve_highs(sub, SolveRequest(
                objective=request.objective[idx],
                time_limit=deadline - time.perf_counter(), relative_gap=0.0,
                absolute_gap=max(asked, 1e-9 * max(1.0, abs(value))),
                hint=plan[idx] if inside else None),
                stop_at=None if refused_stop else shrinks, report=progress)
            stats["proof_rounds"] += 1
            stats["proof_seconds"] = round(time.perf_counter() - started, 2)
            if result.termination == Termination.INFEASIBLE:
                stats["proof_optimal"] = 1
                return plan, value, value  # no plan beats the incumbent
            if result.bound is not None:
                proven = min(proven, max(value, fixed_value + float(result.bound)))
            better = False
            if result.x is not None:
                found = _merged(lag, request, fixed, idx, result.x, value, check_rows=True)
                better = found is not None
                if found is not None:
                    plan, value = found
            say(f"decomposition: HiGHS {result.termination} in {result.seconds:.1f} s, plan "
                f"{value:,.2f}, bound {max(proven, value):,.2f}")
            if result.termination == Termination.OPTIMAL:
                # HiGHS finished: its plan (if kept) is the best there is, within the gap
                # asked for unless the rows refused that plan at the oracle's tolerance
                stats["proof_optimal"] = int(
                    max(proven, value) - value <= asked + 1e-9 * max(1.0, abs(value)))
                break
            if not better and stopped and not refused_stop:
                # HiGHS stopped for a plan the rows then refused (at the oracle's tolerance):
                # go on over the same model, without stopping early this time
                refused_stop = True
                continue
            if not better:  # HiGHS ran out of time
                break
            refused_stop = False
        return plan, value, max(proven, value)

    def _free_customers(self, problem: Problem, lag: Lagrangian, center: Evaluation,
                        plan: np.ndarray, deadline: float) -> np.ndarray:
        """Customers whose choice flips when one multiplier moves a little (or whose plan
        the repair changed): at most `polish_triples` triples' worth."""
        customer = lag.customer
        if problem.size <= self.polish_triples:
            return np.ones(problem.n_customers, dtype=bool)
        lam = center.multipliers
        base = max(float(np.abs(lag.objective).max(initial=0.0)), 1e-6)
        center_x = center.x
        moved = plan != center_x
        for delta in (0.01, 0.003, 0.001):
            flips = moved.copy()
            if time.perf_counter() > deadline:
                break
            for r in range(lag.dim):
                for sign in (-1.0, 1.0):
                    trial = lam.copy()
                    trial[r] = max(0.0, lam[r] + sign * max(lam[r] * delta, base * delta * 1e-2))
                    flips |= lag.evaluate(trial).x != center_x
            free = np.zeros(problem.n_customers, dtype=bool)
            free[customer[flips]] = True
            if int(free[problem.triples.customer].sum()) <= self.polish_triples:
                return free
        free = np.zeros(problem.n_customers, dtype=bool)
        free[customer[moved]] = True
        return free


register("decomposition", Decomposition)
