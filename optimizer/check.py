"""`contactopt check`: what in a policy does not fit the data, found in seconds.

Array operations only (the bounds of `bounds.py`), no solve, so it scales with the number of
contacts like loading does. Each finding has a severity, a code, one sentence with its
numbers and a suggested change:

| code | severity | what |
| --- | --- | --- |
| `floor-unreachable` | error | a floor's upper bound is below its minimum: no plan exists |
| `limit-never-binds` | warning | a limit's max is at or above the most any plan can reach |
| `tolerance-void` | warning | tolerance >= 1: contacting nobody keeps the level |
| `tolerance-absorbs` | warning | maximizing the next level alone stays within tolerance |
| `tolerance-zero` | info | tolerance 0: later levels only break exact ties |
| `objective-rewards-cost` | warning | positive weight on a cost-like quantity (`COST_LIKE`) |
| `objective-penalizes-value` | warning | negative weight on a value-like quantity (`VALUE_LIKE`) |
| `levels-disagree` | info | how often two levels want different contacts |

Only `floor-unreachable` is a proof (an error); the rest are advice.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from optimizer.bounds import (
    Bounds,
    FloorProof,
    Selector,
    floor_proofs,
    limit_families,
    tolerance,
)
from optimizer.problem import Problem
from optimizer.scenario import Scenario

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

# Name stems (matched against the start of each word of a quantity's name, words split on
# anything but letters and digits) of quantities an objective should not reward ...
COST_LIKE = ("discount", "cost", "spend", "churn", "risk", "complaint", "unsubscribe",
             "optout", "fatigue")
# ... and of quantities it should not penalize. A name with stems of both lists is left alone.
VALUE_LIKE = ("margin", "revenue", "profit", "clv", "ltv", "value", "response", "conversion",
              "retention")


@dataclass(frozen=True)
class Finding:
    """One thing `check` found: a severity, a code, a sentence with numbers, a fix."""

    severity: Severity
    code: str
    subject: str  # the policy entry (or row, for per-day rows) it is about
    message: str
    suggestion: str
    numbers: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.severity} {self.code}: {self.message}; {self.suggestion}"


@dataclass(frozen=True)
class CheckReport:
    findings: tuple[Finding, ...]
    proofs: tuple[FloorProof, ...]  # every floor bound, met or not (the diagnosis reuses them)
    seconds: float

    def count(self, severity: Severity) -> int:
        return sum(f.severity == severity for f in self.findings)

    @property
    def infeasible(self) -> bool:
        """A floor provably cannot be met."""
        return any(p.infeasible for p in self.proofs)


def check_problem(s: Scenario, problem: Problem) -> CheckReport:
    """Every finding for a compiled scenario, errors first."""
    start = time.perf_counter()
    b = Bounds(problem)
    proofs = floor_proofs(problem, bounds=b)
    findings = [
        *_floor_findings(s, problem, proofs),
        *_limit_findings(problem, b),
        *_sign_findings(s),
        *_level_findings(problem, b),
        *_disagreement_findings(problem, b),
    ]
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))
    return CheckReport(tuple(findings), tuple(proofs), time.perf_counter() - start)


def fmt(x: float) -> str:
    """A number for a sentence: whole numbers with separators, others to 4 significant
    digits (one decimal above 100)."""
    if abs(x - round(x)) <= 1e-9 * max(1.0, abs(x)):
        return f"{round(x):,}"
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:.4g}"


# --- floors ----------------------------------------------------------------------------

def _floor_findings(s: Scenario, problem: Problem, proofs: list[FloorProof]) -> list[Finding]:
    floors = {f.name: f for f in s.policy.floors}
    sizes = {c.name: c.group_size for c in problem.coverage}
    out = []
    for p in proofs:
        if p.infeasible:
            out.append(floor_finding(p, floors[p.policy_name].quantity, sizes.get(p.row)))
    return out


def floor_finding(p: FloorProof, quantity: str | None, group_size: int | None) -> Finding:
    """The error for a floor whose bound is below its minimum."""
    numbers = {"need": p.need, "possible": p.possible, "alone": p.alone}
    by_limit = p.limit is not None and p.possible < p.alone
    if by_limit:
        assert p.limit_max is not None
        numbers["limit_max"] = p.limit_max
        if p.limit_need is not None:
            numbers["limit_need"] = p.limit_need
    fix_limit = ""
    if by_limit and not p.alone_infeasible:
        fix_limit = (f", or raise limit '{p.limit}' to at least {fmt(p.limit_need)}"
                     if p.limit_need is not None and p.limit_need > (p.limit_max or 0) else
                     f", or raise limit '{p.limit}'")
    if p.kind == "coverage":
        assert group_size is not None
        numbers["group_size"] = group_size
        why = (f"{fmt(p.alone)} of the group have an allowed matching contact (eligible, "
               "permitted by the rules, not blocked by history, with cap room)")
        if by_limit:
            why += f", and limit '{p.limit}' (max {fmt(p.limit_max or 0)}) pays for at most " \
                   f"{fmt(p.possible)} of them at their cheapest contact"
        share = math.floor(p.possible / group_size * 1e4) / 1e4 if group_size else 0.0
        return Finding(
            "error", "floor-unreachable", p.row,
            f"floor '{p.row}' needs {fmt(p.need)} customers contacted, at most "
            f"{fmt(p.possible)} are possible: {why}",
            f"lower min_share to {share:g} or less{fix_limit}, or make more of the group "
            "eligible", numbers)
    why = "each customer's best contacts within the caps"
    if by_limit:
        why += f", priced against limit '{p.limit}' (max {fmt(p.limit_max or 0)})"
    return Finding(
        "error", "floor-unreachable", p.row,
        f"floor '{p.row}' needs {quantity} >= {fmt(p.need)}, at most {fmt(p.possible)} is "
        f"possible (an upper bound: {why})",
        f"lower min to {fmt(p.possible)} or less{fix_limit}", numbers)


# --- limits ----------------------------------------------------------------------------

def _limit_findings(problem: Problem, b: Bounds) -> list[Finding]:
    """A limit none of whose rows any plan can exceed."""
    out = []
    for name, rows in limit_families(problem).items():
        reach = [b.row_max(row) for row in rows]
        if any(r > row.rhs + tolerance(row.rhs) for r, row in zip(reach, rows, strict=True)):
            continue
        most, rhs = max(reach), rows[0].rhs
        per = "on any day" if rows[0].day is not None else "over the horizon"
        if not any(len(row.index) for row in rows):
            message = f"limit '{name}' matches no eligible contact, so it never binds"
        else:
            message = (f"limit '{name}' (max {fmt(rhs)}) can never bind: at most {fmt(most)} "
                       f"is possible {per} (eligibility, rules and caps)")
        out.append(Finding("warning", "limit-never-binds", name, message,
                           f"remove it, or lower max below {fmt(most)} if it should bind",
                           {"max": rhs, "possible": most}))
    return out


# --- objectives ------------------------------------------------------------------------

def quantity_kind(name: str) -> Literal["cost", "value"] | None:
    """'cost' or 'value' by the explicit stem lists above, None when unsure."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower().split(".", 1)[-1]) if w]
    cost = any(w.startswith(COST_LIKE) for w in words)
    value = any(w.startswith(VALUE_LIKE) for w in words)
    if cost == value:
        return None
    return "cost" if cost else "value"


def _sign_findings(s: Scenario) -> list[Finding]:
    out = []
    for obj in s.policy.objectives:
        for q, w in obj.weights:
            kind = quantity_kind(q)
            if kind == "cost" and w > 0:
                out.append(Finding(
                    "warning", "objective-rewards-cost", obj.name,
                    f"objective '{obj.name}' rewards '{q}' (weight +{fmt(w)}): the more "
                    f"{q} a plan spends or causes, the better it scores",
                    f"use a negative weight ({q} = -{fmt(w)}), or bound it with a [[limit]]",
                    {"weight": w}))
            elif kind == "value" and w < 0:
                out.append(Finding(
                    "warning", "objective-penalizes-value", obj.name,
                    f"objective '{obj.name}' penalizes '{q}' (weight {fmt(w)}): the more "
                    f"{q} a plan earns, the worse it scores",
                    f"use a positive weight ({q} = {fmt(-w)})", {"weight": w}))
    return out


def _level_findings(problem: Problem, b: Bounds) -> list[Finding]:
    """Tolerances that leave a level without force over the next one."""
    out = []
    levels = problem.levels
    everything = np.arange(problem.size)
    select = Selector(b, everything, None, b.capacity(everything))
    for level, nxt in itertools.pairwise(levels):
        tol = level.tolerance
        if tol >= 1:
            out.append(Finding(
                "warning", "tolerance-void", level.name,
                f"objective '{level.name}' has tolerance {fmt(tol)} >= 1: later levels may "
                f"give up all of it (contacting nobody keeps it), so it does not rule "
                f"'{nxt.name}'", "lower tolerance below 1 (e.g. 0.05)", {"tolerance": tol}))
            continue
        if tol == 0:
            out.append(Finding(
                "info", "tolerance-zero", level.name,
                f"objective '{level.name}' has tolerance 0: '{nxt.name}' only breaks exact "
                f"ties among the plans that are optimal for '{level.name}'",
                f"give '{level.name}' a small tolerance (e.g. 0.01) if '{nxt.name}' should "
                "count", {"tolerance": 0.0}))
            continue
        top = select.total(level.values)
        greedy = select.plan(nxt.values)
        kept = float(level.values[greedy].sum())
        if top > 0 and kept < top * (1 - 1e-9) and kept >= (1 - tol) * top:
            most = 1 - kept / top
            out.append(Finding(
                "warning", "tolerance-absorbs", level.name,
                f"objective '{level.name}' has tolerance {fmt(tol)}: later levels may take it "
                f"down to {fmt((1 - tol) * top)} or less (its optimum is at most {fmt(top)}), "
                f"and the plan that maximizes '{nxt.name}' alone (caps only, limits ignored) "
                f"keeps it at {fmt(kept)}, so '{level.name}' likely constrains "
                f"'{nxt.name}' little", f"lower tolerance to at most {most:.3g}",
                {"tolerance": tol, "bound": top, "next_alone": kept}))
    return out


def _disagreement_findings(problem: Problem, b: Bounds) -> list[Finding]:
    """For each pair of levels, the share of customers whose best single contact (or none)
    for one is not a best one for the other, over allowed contacts."""
    idx = np.flatnonzero(b.reach.usable)
    if not len(idx) or len(problem.levels) < 2:
        return []
    cust = b.customer[idx]
    starts = np.flatnonzero(np.concatenate([[True], cust[1:] != cust[:-1]]))
    segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(idx))))
    best: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for level in problem.levels:
        v = level.values[idx]
        top = np.maximum(np.maximum.reduceat(v, starts), 0.0)  # 0: contact nobody
        eps = 1e-9 * np.maximum(1.0, np.abs(top))
        best.append((v >= (top - eps)[segment], top <= eps, top))
    out = []
    customers = len(starts)
    for k, first in enumerate(problem.levels):
        for m in range(k + 1, len(problem.levels)):
            second = problem.levels[m]
            both = np.add.reduceat((best[k][0] & best[m][0]).astype(np.int64), starts) > 0
            both |= best[k][1] & best[m][1]
            apart = int((~both).sum())
            if not apart:
                continue
            share = apart / customers
            out.append(Finding(
                "info", "levels-disagree", f"{first.name} / {second.name}",
                f"for {share:.0%} of customers ({apart:,} of {customers:,}) the best contact "
                f"for '{first.name}' is not a best one for '{second.name}' (best single "
                "allowed contact, or none)",
                f"expected when the levels trade off; the tolerance of '{first.name}' "
                f"({fmt(first.tolerance)}) sets how much of it '{second.name}' may take",
                {"share": share, "customers": apart, "of": customers}))
    return out
