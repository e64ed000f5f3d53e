"""The sales-only baseline: the run's scenario solved again with only the first objective level
and no floors, so the report can show what the guardrails cost and what they protect.

Removed: every `[[floor]]` (value floors and `min_share` coverage floors) and every objective
level after the first (and with them the first level's tolerance, which only lets later
levels take value from it). Kept: eligibility, rules and consent, conflicts (with history),
caps and limits: those are business rules, not fairness guardrails.

The baseline is a reduced Problem over the same compiled triples, not a second compile: the
model builder runs once. The run's own plan keeps every constraint the baseline keeps, so it
is the solve's warm start and the fallback: the baseline is never worse than the plan on the
first level, even when its time budget runs out. A failure is recorded, never raised.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from optimizer.audit import audit_report
from optimizer.problem import Problem, weighted_sum
from optimizer.result import PlanResult, Termination
from optimizer.result import relative_gap as gap_of
from optimizer.scenario import Scenario
from optimizer.solvers.base import SolveRequest

SHARE = 0.25  # the baseline's time budget as a share of --time-limit, on top of the run's
MIN_SECONDS = 1.0
KEPT = "eligibility, rules and consent, conflicts, caps and limits"


def baseline_problem(problem: Problem) -> Problem:
    """The problem without floors and without levels after the first (arrays are shared)."""
    reduced = dataclasses.replace(problem, levels=problem.levels[:1], coverage=(),
                                  rows=tuple(r for r in problem.rows if r.kind != "floor"))
    if "local" in problem.__dict__:  # caps and conflicts are unchanged: reuse their rows
        reduced.__dict__["local"] = problem.__dict__["local"]
    return reduced


def removed(problem: Problem) -> dict[str, list[str]]:
    """What the baseline leaves out, by policy name."""
    floors = [r.policy_name or r.name for r in problem.rows if r.kind == "floor"]
    floors += [c.name for c in problem.coverage]
    return {"floors": list(dict.fromkeys(floors)),
            "objective_levels": [lv.name for lv in problem.levels[1:]]}


def skipped(reason: str) -> dict[str, Any]:
    """The summary's `baseline` when none was computed."""
    return {"computed": False, "reason": reason}


def budget(time_limit: float) -> float:
    """Seconds the baseline may take: a share of the run's limit, at least MIN_SECONDS."""
    return max(SHARE * time_limit, MIN_SECONDS)


def solve_baseline(s: Scenario, problem: Problem, result: PlanResult,
                   plan_audit: dict[str, Any], *, time_limit: float, solver: str = "auto",
                   relative_gap: float = 0.0, deterministic: bool = False,
                   progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The `baseline` section of summary.json (see the README, Outputs); never raises."""
    what = removed(problem)
    if not what["floors"] and not what["objective_levels"]:
        return skipped("the policy has no floor and one objective level: the plan is its "
                       "own baseline") | {"removed": what}
    try:
        return _solve(s, problem, result, plan_audit, what, time_limit=time_limit,
                      solver=solver, relative_gap=relative_gap, deterministic=deterministic,
                      progress=progress)
    except Exception as exc:  # the baseline is a comparison: it must never fail the run
        progress(f"the baseline failed ({type(exc).__name__}: {exc}); the run goes on")
        return skipped(f"failed: {type(exc).__name__}: {exc}") | {"removed": what}


def _solve(s: Scenario, problem: Problem, result: PlanResult, plan_audit: dict[str, Any],
           what: dict[str, list[str]], *, time_limit: float, solver: str, relative_gap: float,
           deterministic: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    from optimizer.run import choose_solver  # run imports this module
    from optimizer.solvers import get_solver

    assert result.chosen is not None
    start = time.perf_counter()
    reduced = baseline_problem(problem)
    engine = get_solver(choose_solver(reduced, solver))
    seconds = budget(time_limit)
    level = problem.levels[0]
    progress(f"solving the sales-only baseline ('{level.name}' only, no floors) with "
             f"{engine.name}, time limit {seconds:g} s")
    out = engine.solve(reduced, SolveRequest(
        objective=level.values, time_limit=seconds, relative_gap=relative_gap,
        hint=result.chosen, deterministic=deterministic, progress=progress))
    if out.termination == Termination.ERROR:
        raise RuntimeError(f"solver error: {out.detail}")
    plan_value = weighted_sum(level.values, result.chosen)
    chosen = out.x > 0.5 if out.x is not None else None
    source, status = "baseline solve", out.termination.value
    if chosen is None or weighted_sum(level.values, chosen) < plan_value - 1e-9 * max(
            1.0, abs(plan_value)):
        # the run's plan keeps every constraint the baseline keeps: a valid, better plan
        chosen, source = result.chosen, "the run's plan (the baseline solve found no better one)"
        status = Termination.FEASIBLE.value
    value = weighted_sum(level.values, chosen)
    audit = audit_report(s, problem, chosen, _discount(s, problem, chosen))
    seconds_used = time.perf_counter() - start
    progress(f"baseline: '{level.name}' = {value:,.2f} against the plan's {plan_value:,.2f} "
             f"({seconds_used:.1f} s)")
    return {
        "computed": True,
        "removed": what,
        "kept": KEPT,
        "solver": engine.name,
        "status": status,
        "source": source,
        "gap": gap_of(value, out.bound),
        "seconds": round(seconds_used, 3),
        "time_limit": seconds,
        "objectives": [{"name": lv.name, "value": weighted_sum(lv.values, chosen),
                        "bound": out.bound if k == 0 else None}
                       for k, lv in enumerate(problem.levels)],
        "value_given_up": _given_up(result, level.name, plan_value, value, out.bound),
        "floors": _floors(problem, result.chosen, chosen),
        "comparison": _comparison(problem, result.chosen, chosen, plan_audit, audit),
        "contacts_histogram": {"plan": _histogram(problem, result.chosen),
                               "baseline": _histogram(problem, chosen)},
        "audit": audit,
    }


def _discount(s: Scenario, problem: Problem, chosen: np.ndarray) -> dict[str, np.ndarray]:
    """discount_cost of the chosen triples, read back for these rows only (the audit would
    otherwise read the whole column)."""
    if "discount_cost" not in s.kpi_names:
        return {}
    rows = problem.triples.row[np.flatnonzero(chosen)]
    return {"discount_cost": s.scores.values(rows)["discount_cost"]}


def _given_up(result: PlanResult, name: str, plan: float, base: float,
              bound: float | None) -> dict[str, Any]:
    """What the guardrails cost the first level, and how that splits between the floors and
    the later levels' use of its tolerance."""
    first = result.levels[0]
    return {
        "objective": name,
        "plan": plan,
        "baseline": base,
        "absolute": base - plan,
        "share": (base - plan) / abs(base) if base else None,
        "at_most": None if bound is None else max(bound - plan, 0.0),
        "by_floors": base - first.solved_value,
        "by_later_levels": first.solved_value - plan,
    }


def _floors(problem: Problem, plan: np.ndarray, base: np.ndarray) -> list[dict[str, Any]]:
    """Each removed floor's value in the plan and in the baseline, and whether the baseline
    would have met it."""
    out = []
    for row in problem.rows:
        if row.kind == "floor":
            p, b = row.activity(plan), row.activity(base)
            out.append({"name": row.name, "kind": "value", "limit": row.rhs, "plan": p,
                        "baseline": b, "met_by_baseline": b >= row.rhs - 1e-9})
    customer = problem.triples.customer
    for cov in problem.coverage:
        p, b = cov.covered(plan, customer), cov.covered(base, customer)
        out.append({"name": cov.name, "kind": "coverage", "limit": cov.need, "plan": p,
                    "baseline": b, "group_size": cov.group_size,
                    "met_by_baseline": b >= cov.need})
    return out


def _histogram(problem: Problem, chosen: np.ndarray) -> list[int]:
    """Customers with 0, 1, 2, ... contacts over the horizon."""
    per = np.bincount(problem.triples.customer[chosen], minlength=problem.n_customers)
    return np.bincount(per).tolist() if len(per) else []


def _comparison(problem: Problem, plan: np.ndarray, base: np.ndarray,
                plan_audit: dict[str, Any], base_audit: dict[str, Any]) -> list[dict[str, Any]]:
    """Plan against baseline, one row per figure: value, reach, coverage, concentration,
    fatigue. `difference` is plan minus baseline."""
    rows: list[dict[str, Any]] = []

    def add(group: str, metric: str, unit: str, p: float | None, b: float | None) -> None:
        rows.append({"group": group, "metric": metric, "unit": unit, "plan": p,
                     "baseline": b, "difference": None if p is None or b is None else p - b})

    for lv in problem.levels:
        add("value", f"objective '{lv.name}'", "value", weighted_sum(lv.values, plan),
            weighted_sum(lv.values, base))
    customer = problem.triples.customer
    add("reach", "contacts", "count", int(plan.sum()), int(base.sum()))
    add("reach", "customers contacted", "count", len(np.unique(customer[plan])),
        len(np.unique(customer[base])))
    add("reach", "never contacted", "share",
        plan_audit["contacts_per_customer"]["horizon"]["never_contacted_share"],
        base_audit["contacts_per_customer"]["horizon"]["never_contacted_share"])
    for cov in problem.coverage:
        add("coverage", f"'{cov.name}': share of its group covered", "share",
            cov.covered(plan, customer) / cov.group_size if cov.group_size else None,
            cov.covered(base, customer) / cov.group_size if cov.group_size else None)
    for row in problem.rows:
        if row.kind == "floor":
            add("coverage", f"'{row.name}' (at least {row.rhs:,.4g})", "value",
                row.activity(plan), row.activity(base))
    base_segments = {g["group"]: g for g in base_audit["segments"]}
    for g in plan_audit["segments"]:
        add("coverage", f"segment '{g['group']}': share contacted", "share",
            g["share_contacted"], base_segments[g["group"]]["share_contacted"])
    pc, bc = plan_audit["concentration"], base_audit["concentration"]
    add("concentration", "Gini of contacts per customer", "ratio", pc["gini_contacts"],
        bc["gini_contacts"])
    add("concentration", "top decile (p_response): share of contacts", "share",
        pc["top_decile_contact_share"], bc["top_decile_contact_share"])
    add("concentration", "top decile (p_response): share of discount", "share",
        pc["top_decile_discount_share"], bc["top_decile_discount_share"])
    base_caps = {c["name"]: c for c in base_audit["fatigue"]["caps"]}
    for c in plan_audit["fatigue"]["caps"]:
        add("fatigue", f"customers at cap '{c['name']}'", "count", c["customers_at_cap"],
            base_caps[c["name"]]["customers_at_cap"])
    base_roll = base_audit["fatigue"]["rolling_with_history"]
    for window, r in plan_audit["fatigue"]["rolling_with_history"].items():
        days = window.split("_")[0]
        add("fatigue", f"p90 of contacts in a rolling {days} days (history included)", "count",
            r["p90"], base_roll[window]["p90"])
    return rows
