"""Frozen result types, MathOpt style: why the solve stopped is kept apart from what it found,
and every value travels with its proven bound."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Termination(StrEnum):
    """Why a solve stopped."""

    OPTIMAL = "optimal"  # proven optimal (within the requested relative gap)
    FEASIBLE = "feasible"  # a plan that keeps every hard constraint, optimality not proven
    INFEASIBLE = "infeasible"  # proven: no plan keeps every hard constraint
    NO_SOLUTION = "no_solution"  # a limit was hit before any plan was found
    ERROR = "error"  # the solver failed


@dataclass(frozen=True)
class SolveResult:
    """One single-objective solve."""

    termination: Termination
    solver: str
    seconds: float
    x: np.ndarray | None = None  # float per triple (0/1 for a MIP), None without a plan
    objective: float | None = None
    bound: float | None = None  # proven upper bound on the objective (maximization)
    iterations: int = 0
    limit_reached: bool = False
    row_duals: dict[str, float] = field(default_factory=dict)  # d objective / d rhs
    slacks: dict[str, float] = field(default_factory=dict)  # elastic solves: row moves
    detail: str = ""
    stats: dict[str, float] = field(default_factory=dict)  # solver figures worth reporting
    # the relaxation's value at the prices (LP optimum, or Lagrangian dual value): with the
    # prices p it bounds the optimum at other right-hand sides b', v(b') <= this + p·(b' - b)
    dual_value: float | None = None
    price_source: str = ""  # where `row_duals` come from, in words

    @property
    def gap(self) -> float | None:
        return relative_gap(self.objective, self.bound)


def relative_gap(value: float | None, bound: float | None) -> float | None:
    """(bound - value) / max(|bound|, |value|, 1e-9), or None when either is missing."""
    if value is None or bound is None or not np.isfinite(bound):
        return None
    scale = max(abs(bound), abs(value), 1e-9)
    return max(0.0, (bound - value) / scale)


@dataclass(frozen=True)
class LevelResult:
    """One objective level of a lexicographic solve."""

    name: str
    value: float  # the level's value in the final plan
    solved_value: float  # the value found when this level was optimized
    bound: float | None  # proven bound when this level was optimized
    termination: Termination
    seconds: float
    iterations: int = 0
    stats: dict[str, float] = field(default_factory=dict)  # the level's solver figures

    @property
    def gap(self) -> float | None:
        return relative_gap(self.solved_value, self.bound)


@dataclass(frozen=True)
class LevelPrices:
    """The shadow prices of one level's solve, in that level's objective units.

    Level k's solve holds the bound rows of levels < k, so its prices are partial
    derivatives with those bounds held where they were."""

    level: str  # the level solved
    duals: dict[str, float]  # row name -> d(level objective)/d(row's bound); {}: none
    dual_value: float | None  # the relaxation's value at these prices
    solved_value: float  # the level's value when it was solved
    source: str = ""  # "LP relaxation (GLOP)", "Lagrange multipliers", ...


@dataclass(frozen=True)
class LevelBound:
    """The bound a solved level puts on the later ones: value >= rhs."""

    name: str  # the row's name, e.g. "level 'profit'"
    level: str  # the bounded level
    rhs: float
    tolerance: float


@dataclass(frozen=True)
class PlanResult:
    """The outcome of a whole run: a plan (or none) and the proof that comes with it."""

    termination: Termination
    solver: str
    seconds: float
    chosen: np.ndarray | None  # bool per triple
    levels: tuple[LevelResult, ...] = ()
    row_duals: dict[str, float] = field(default_factory=dict)  # level 1's, as before
    iterations: int = 0
    detail: str = ""
    prices: tuple[LevelPrices, ...] = ()  # every solved level's prices, in order
    bounds: tuple[LevelBound, ...] = ()  # the bound of each level but the last

    @property
    def gap(self) -> float | None:
        gaps = [lv.gap for lv in self.levels]
        if not gaps or any(g is None for g in gaps):
            return None
        return max(g for g in gaps if g is not None)
