"""Lexicographic levels: solve level 1, bound it, solve level 2, and so on.

Level k, once solved, becomes a constraint on the later levels: value_k >= v_k -
tolerance_k * |v_k|, where v_k is the value found (a feasible plan reaches it, so the
next level always starts feasible). The bound rows are ordinary global rows of kind
"level", so any solver that handles global rows handles levels.

Every level's solve also prices its global rows (the bound rows of the earlier levels
included): level k's prices are d(level k)/d(bound) with the earlier bounds held.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from optimizer.problem import LinearRow, Problem, weighted_sum
from optimizer.result import LevelBound, LevelPrices, LevelResult, PlanResult, Termination
from optimizer.solvers.base import Solver, SolveRequest

# keeps a level's own plan feasible for its bound despite floating-point round-off
LEVEL_SLACK = 1e-9


def level_bound_row(problem: Problem, k: int, value: float) -> LinearRow:
    level = problem.levels[k]
    rhs = value - level.tolerance * abs(value) - LEVEL_SLACK * max(1.0, abs(value))
    nonzero = level.values != 0
    if nonzero.all():  # the usual case: the level's own array, no copy
        index, coef = np.arange(len(nonzero), dtype=np.int32 if len(nonzero) < 2**31
                                else np.int64), level.values
    else:
        index = np.flatnonzero(nonzero)
        coef = level.values[index]
    return LinearRow(f"level '{level.name}'", "level", ">=", rhs, index, coef, None, level.name)


def solve_lexicographic(problem: Problem, solver: Solver, *, time_limit: float,
                        relative_gap: float = 0.0, deterministic: bool = False,
                        progress: Callable[[str], None] | None = None) -> PlanResult:
    """Solve every level in order within one overall time limit."""
    start = time.perf_counter()
    extra: list[LinearRow] = []
    levels: list[tuple[str, float, float | None, Termination, float, int, dict]] = []
    hint: np.ndarray | None = None
    prices: list[LevelPrices] = []
    bounds: list[LevelBound] = []
    iterations = 0
    x: np.ndarray | None = None
    n_levels = len(problem.levels)
    for k, level in enumerate(problem.levels):
        left = time_limit - (time.perf_counter() - start)
        share = left / (n_levels - k) if k < n_levels - 1 else left
        result = solver.solve(problem, SolveRequest(
            objective=level.values, extra_rows=tuple(extra), time_limit=max(share, 0.05),
            relative_gap=relative_gap, hint=hint, want_duals=True,
            deterministic=deterministic, progress=progress))
        iterations += result.iterations
        if result.x is None or result.objective is None:
            if k == 0 or result.termination == Termination.ERROR:
                return PlanResult(result.termination, solver.name,
                                  time.perf_counter() - start, None, iterations=iterations,
                                  detail=result.detail)
            break  # keep the plan of the previous level: it satisfies every hard constraint
        prices.append(LevelPrices(level.name, result.row_duals, result.dual_value,
                                  result.objective, result.price_source))
        x = result.x
        hint = x
        levels.append((level.name, result.objective, result.bound, result.termination,
                       result.seconds, result.iterations, result.stats))
        if k < n_levels - 1:
            extra.append(level_bound_row(problem, k, result.objective))
            bounds.append(LevelBound(extra[-1].name, level.name, extra[-1].rhs,
                                     level.tolerance))
    assert x is not None
    chosen = x > 0.5
    results = tuple(
        LevelResult(name, weighted_sum(problem.levels[k].values, chosen), value, bound, term,
                    secs, its, stats)
        for k, (name, value, bound, term, secs, its, stats) in enumerate(levels)
    )
    all_optimal = len(results) == n_levels and all(
        r.termination == Termination.OPTIMAL for r in results)
    return PlanResult(
        Termination.OPTIMAL if all_optimal else Termination.FEASIBLE,
        solver.name, time.perf_counter() - start, chosen, results, prices[0].duals, iterations,
        prices=tuple(prices), bounds=tuple(bounds[: len(results) - 1]),
    )
