"""The one small interface every solver implements, and the registry that names them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from optimizer.errors import InputError
from optimizer.problem import LinearRow, Problem
from optimizer.result import SolveResult


@dataclass(frozen=True)
class SolveRequest:
    """One single-objective solve: maximize `objective` subject to the problem and `extra`."""

    objective: np.ndarray  # float64 per triple
    extra_rows: tuple[LinearRow, ...] = ()  # e.g. the bounds earlier levels put on later ones
    time_limit: float = 60.0
    relative_gap: float = 0.0
    absolute_gap: float = 0.0  # stop once bound - value <= this (0: off)
    hint: np.ndarray | None = None  # a known feasible 0/1 plan to start from
    want_duals: bool = False  # also compute shadow prices of the global rows
    elastic: bool = False  # minimize the violation of global rows instead (diagnosis)
    elastic_rows: frozenset[str] | None = None  # rows that may move (None: every floor/limit)
    progress: Callable[[str], None] | None = None  # status lines during long solves
    deterministic: bool = False  # one CP-SAT worker: the same model gives the same plan


class Solver(Protocol):
    name: str

    def solve(self, problem: Problem, request: SolveRequest) -> SolveResult: ...


_REGISTRY: dict[str, Callable[[], Solver]] = {}


def register(name: str, factory: Callable[[], Solver]) -> None:
    _REGISTRY[name] = factory


def solver_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_solver(name: str) -> Solver:
    _load_builtin()
    if name not in _REGISTRY:
        from optimizer.errors import closest

        guess = closest(name, _REGISTRY)
        raise InputError("--solver", f"unknown solver {name!r}",
                         hint=f"did you mean {guess!r}?" if guess else
                         f"choose one of {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def _load_builtin() -> None:
    from optimizer.solvers import decomposition, exact  # noqa: F401  (they register)
