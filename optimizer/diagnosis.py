"""Explain infeasibility: the smallest set of constraints in conflict that we can find, and
how far each must move for a plan to exist.

Caps, conflicts and rules can always be met (by contacting nobody), so a run is infeasible
only through its floors (against limits, caps, rules and eligibility). In order:
1. The counting bounds of `bounds.py` (the ones `check` reports): a floor whose bound is
   below its minimum is in conflict by itself, or with the one limit that priced it out.
   `check` and `run` name the same constraints because both start here.
2. Otherwise a deletion filter over the floor and limit rows: drop one, and keep it out when
   the rest still has no plan (each test is a counting bound first, then a MIP feasibility
   solve). What is left is irreducible: without any one member a plan exists. The filter is
   repeated on what is left outside the conflicts found, to find further conflicts.
3. Each member's move: the smallest change of that constraint alone (the others, and the
   members of the other conflicts, left out) that admits a plan, from an elastic MIP with a
   slack on that row only. Above `MIP_ABOVE` contacts, or when time runs out, the moves stay
   the counting bounds' (marked "at least").
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from optimizer.bounds import FloorProof, Reach, floor_proofs, reach
from optimizer.problem import Problem
from optimizer.result import Termination
from optimizer.solvers.base import Solver, SolveRequest, get_solver

# Above this many eligible contacts the diagnosis does not run MIPs for the conflict's
# members (each would take as long as the run itself): counting bounds only.
MIP_ABOVE = 200_000
TEST_SECONDS = 10.0  # at most per feasibility test

Bound = Literal["exact", "at least", "at most"]


@dataclass(frozen=True)
class Relaxation:
    """One constraint in conflict and the move that would admit a plan."""

    name: str
    kind: str  # "limit", "floor" (a sum) or "coverage" (a min_share floor)
    limit: float  # the max, the min, or the customers needed
    move: float | None  # positive: raise a limit's max / lower a floor's min by this much;
    # None: unknown, or moving this constraint alone is not enough (see `alone`)
    bound: Bound = "exact"  # "at least": a counting lower bound; "at most": enough, maybe
    # more than needed (the MIP stopped before proving it the smallest)
    alone: bool = True  # False: moving only this constraint cannot admit a plan

    def sentence(self) -> str:
        label = "limit" if self.kind == "limit" else "floor"
        head = f"{label} '{self.name}'"
        if not self.alone:
            return f"{head}: in the conflict, but moving it alone admits no plan"
        if self.move is None:
            return f"{head}: in the conflict (move unknown)"
        more = {"exact": "", "at least": " or more", "at most": " or less"}[self.bound]
        if self.kind == "limit":
            return (f"{head}: raise max from {_num(self.limit)} to {_num(self.limit + self.move)}"
                    f"{more} (+{_num(self.move)}{more})")
        if self.kind == "coverage":
            fewer = {"exact": "", "at least": "at least ", "at most": "at most "}[self.bound]
            return (f"{head}: cover {fewer}{self.move:,.0f} fewer customers (need "
                    f"{self.limit:,.0f}, at most {self.limit - self.move:,.0f} possible)")
        low = {"exact": "", "at least": " or less", "at most": " or more"}[self.bound]
        return (f"{head}: lower min from {_num(self.limit)} to {_num(self.limit - self.move)}"
                f"{low} (-{_num(self.move)}{more})")


@dataclass(frozen=True)
class Diagnosis:
    """Constraint sets in conflict. Moving one member of each as stated admits a plan
    (members whose move is exact and `alone`), except after the "elastic MIP" fallback,
    whose moves go together."""

    conflicts: tuple[tuple[Relaxation, ...], ...]
    minimal: bool  # every conflict proven irreducible
    method: str  # how infeasibility was shown: "counting bounds" or "MIP"

    @property
    def relaxations(self) -> tuple[Relaxation, ...]:
        return tuple(r for c in self.conflicts for r in c)

    def summary(self) -> str:
        if not self.conflicts:
            return "no floor or limit move found"
        sets = " | ".join(", ".join(f"'{r.name}'" for r in c) for c in self.conflicts)
        kind = "irreducible" if self.minimal else "not proven irreducible"
        if self.method == "elastic MIP":
            how = "; move them together as below"
        elif all(r.bound == "exact" and r.alone and r.move is not None
                 for r in self.relaxations):
            how = "; moving one member of each as below admits a plan"
        else:
            how = "; each member's move below, alone (\"or more\": a lower bound)"
        return f"in conflict ({kind}, shown by {self.method}): {sets}{how}"


def diagnose(problem: Problem, solver: Solver, time_limit: float,
             proofs: list[FloorProof] | None = None) -> Diagnosis:
    """Conflicts and moves for an infeasible problem (see the module docstring)."""
    deadline = time.perf_counter() + time_limit
    cache = reach(problem)
    proofs = floor_proofs(problem, cache) if proofs is None else proofs
    tester = _Tester(problem, _exact(solver), cache, deadline)
    bad = [p for p in proofs if p.infeasible]
    if bad:
        sets = [list(p.members) for p in bad]
        minimal = all(len(s) == 1 for s in sets)
        if tester.mip_allowed and not minimal:
            filtered = [tester.deletion_filter(s) for s in sets]
            sets = [s for s, _ in filtered]
            minimal = all(ok for _, ok in filtered)
        conflicts = [[_counted(problem, p, name) for name in s] for p, s in
                     zip(bad, sets, strict=True)]
        method = "counting bounds"
    elif tester.mip_allowed:
        sets, minimal = tester.all_conflicts()
        conflicts = [[_blank(problem, name) for name in s] for s in sets]
        method = "MIP"
    else:
        return _elastic_all(problem, _exact(solver), deadline)
    if tester.mip_allowed:
        conflicts = [[tester.move(r, _others(sets, k)) for r in c]
                     for k, c in enumerate(conflicts)]
    return Diagnosis(tuple(tuple(c) for c in conflicts), minimal, method)


def _elastic_all(problem: Problem, solver: Solver, deadline: float) -> Diagnosis:
    """Too large for a deletion filter: one elastic MIP over every floor and limit, whose
    total move (scaled by each bound) is smallest; its moving rows form one conflict."""
    result = solver.solve(problem, SolveRequest(
        np.zeros(problem.size), time_limit=max(deadline - time.perf_counter(), 5.0),
        elastic=True))
    out = []
    for name, move in result.slacks.items():
        kind, limit = _kind_limit(problem, name)
        if move > 1e-6 * max(1.0, abs(limit)):
            move = float(math.ceil(move - 1e-6)) if kind == "coverage" else move
            out.append(Relaxation(name, kind, limit, move, "exact" if result.termination ==
                                  Termination.OPTIMAL else "at most"))
    return Diagnosis((tuple(out),) if out else (), False, "elastic MIP")


def _others(sets: list[list[str]], k: int) -> set[str]:
    return {name for j, s in enumerate(sets) if j != k for name in s}


def _exact(solver: Solver) -> Solver:
    """Feasibility tests need the exact MIP (the decomposition solver proves no
    infeasibility)."""
    return solver if solver.name in ("cp-sat", "scip") else get_solver("cp-sat")


def _num(x: float) -> str:
    return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.0f}"


def _kind_limit(problem: Problem, name: str) -> tuple[str, float]:
    for row in problem.rows:
        if row.name == name:
            return row.kind, row.rhs
    cov = next(c for c in problem.coverage if c.name == name)
    return "coverage", float(cov.need)


def _blank(problem: Problem, name: str) -> Relaxation:
    kind, limit = _kind_limit(problem, name)
    return Relaxation(name, kind, limit, None)


def _counted(problem: Problem, p: FloorProof, name: str) -> Relaxation:
    """A member's move from the counting bound: a lower bound."""
    kind, limit = _kind_limit(problem, name)
    if name == p.row:
        move = p.need - p.possible
        return Relaxation(name, kind, limit, math.ceil(move - 1e-9) if kind == "coverage" else
                          move, "at least")
    if len(p.limit_rows) == 1 and p.limit_need is not None and p.limit_max is not None \
            and p.limit_need > p.limit_max:
        return Relaxation(name, kind, limit, p.limit_need - p.limit_max, "at least")
    return Relaxation(name, kind, limit, None, "at least")


def restrict(problem: Problem, keep: set[str]) -> Problem:
    """The problem with only the floor and limit rows named in `keep`."""
    sub = dataclasses.replace(
        problem, rows=tuple(r for r in problem.rows if r.name in keep),
        coverage=tuple(c for c in problem.coverage if c.name in keep))
    sub.__dict__["local"] = problem.local  # same caps and conflicts: reuse the packing rows
    return sub


class _Tester:
    """Feasibility of subsets of the floor and limit rows: counting bounds, then a MIP."""

    def __init__(self, problem: Problem, solver: Solver, cache: Reach, deadline: float) -> None:
        self.problem = problem
        self.solver = solver
        self.cache = cache
        self.deadline = deadline
        self.mip_allowed = problem.size <= MIP_ABOVE
        self.names = [r.name for r in problem.rows] + [c.name for c in problem.coverage]

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def feasible(self, keep: set[str]) -> bool | None:
        """True: a plan keeps these rows; False: none does; None: not known in time."""
        sub = restrict(self.problem, keep)
        if not any(r.kind == "floor" and r.rhs > 0 for r in sub.rows) and not any(
                c.need > 0 for c in sub.coverage):
            return True  # contacting nobody keeps every limit (max >= 0) and these floors
        if any(p.infeasible for p in floor_proofs(sub, self.cache)):
            return False
        if not self.mip_allowed or self.left() <= 0.5:
            return None
        result = self.solver.solve(sub, SolveRequest(np.zeros(sub.size),
                                                     time_limit=min(self.left(), TEST_SECONDS)))
        if result.termination == Termination.INFEASIBLE:
            return False
        if result.termination in (Termination.OPTIMAL, Termination.FEASIBLE):
            return True
        return None

    def deletion_filter(self, members: list[str]) -> tuple[list[str], bool]:
        """An irreducible subset of `members` (which have no plan together). Limits are first
        tried all at once: most conflicts are a floor against eligibility and caps."""
        keep = list(members)
        proven = True
        floors_only = [m for m in keep if _kind_limit(self.problem, m)[0] != "limit"]
        if len(floors_only) < len(keep) and self.feasible(set(floors_only)) is False:
            keep = floors_only
        for name in list(keep):
            trial = [m for m in keep if m != name]
            answer = self.feasible(set(trial))
            if answer is False:
                keep = trial
            elif answer is None:
                proven = False
        return keep, proven

    def all_conflicts(self) -> tuple[list[list[str]], bool]:
        """Disjoint conflicts: filter, set the conflict aside, repeat while the rest has no
        plan."""
        rest = list(self.names)
        sets: list[list[str]] = []
        proven = True
        while rest:
            found, ok = self.deletion_filter(rest)
            sets.append(found)
            proven &= ok
            rest = [n for n in rest if n not in found]
            if self.feasible(set(rest)) is not False:
                break
        return sets, proven

    def move(self, r: Relaxation, others: set[str]) -> Relaxation:
        """The smallest move of `r` alone (other conflicts' members left out), or `r` as it
        was when the MIP does not answer in time."""
        if self.left() <= 0.5:
            return r
        keep = set(self.names) - others
        sub = restrict(self.problem, keep)
        result = self.solver.solve(sub, SolveRequest(
            np.zeros(sub.size), time_limit=min(self.left(), TEST_SECONDS), elastic=True,
            elastic_rows=frozenset({r.name})))
        if result.termination == Termination.INFEASIBLE:
            return dataclasses.replace(r, move=None, alone=False, bound="exact")
        if result.termination not in (Termination.OPTIMAL, Termination.FEASIBLE):
            return r
        move = result.slacks.get(r.name, 0.0)
        if r.kind == "coverage":
            move = float(math.ceil(move - 1e-6))
        bound: Bound = "exact" if result.termination == Termination.OPTIMAL else "at most"
        return dataclasses.replace(r, move=move, bound=bound, alone=True)
