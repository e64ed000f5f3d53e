"""Audit metrics of a plan: who is contacted, how often, how concentrated, how fair.

`audit_report` reads the scenario, the compiled problem and the chosen triples and returns
aggregates only (distributions, shares, per-group sums): nothing here names a customer, so
the result may go into summary.json, the report and logs. Every figure is computed with
array operations (bincount, groupby) over customers and triples, never a per-customer loop.

Conventions (the README's Outputs section says the same):
- percentiles are numpy's default (linear interpolation between order statistics);
- "last 30 days with history" counts history rows with day >= -30 plus the whole plan;
- the top decile is the ceil(n / 10) customers with the highest best p_response over their
  eligible options (ties: lower customer index first; customers with no option rank last);
- the Gini coefficient is sum((2i - n - 1) x_(i)) / (n sum x) over contacts per customer
  sorted ascending (0: all equal; (n - 1) / n: one customer has every contact);
- a group's contact rate is its share of customers with at least one contact over the
  horizon; its disparity ratio is that rate over the highest group's, flagged below 0.8;
- fatigue windows end on a day of the horizon; a customer is at a cap when, in some window
  ending on a horizon day, the plan adds at least one counted contact and uses all the room
  history left (`CapSpec.left`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from optimizer.problem import Problem
from optimizer.scenario import Scenario

DISPARITY_FLAG = 0.8
RECENT_DAYS = 30
ROLLING = (7, 30)
NULL_GROUP = "(null)"


def audit_report(s: Scenario, problem: Problem, chosen: np.ndarray,
                 plan_kpis: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The `audit` section of summary.json; see the module docstring.

    `plan_kpis`: KPI values of the chosen triples in triple order (the plan table's columns),
    to save reading them back from the scores file; read from `s.scores` when absent."""
    chosen = np.asarray(chosen, dtype=bool)
    t = problem.triples
    n = problem.n_customers
    idx = np.flatnonzero(chosen)
    per_customer = np.bincount(t.customer[idx], minlength=n).astype(np.int64)
    h = s.history
    recent = np.bincount(h.customer[h.day >= -RECENT_DAYS], minlength=n) + per_customer
    return {
        "contacts_per_customer": {
            "horizon": _distribution(per_customer),
            f"last_{RECENT_DAYS}_days_with_history": _distribution(recent),
        },
        "concentration": _concentration(s, problem, idx, per_customer, plan_kpis),
        "segments": _groups(s.customers["segment"], problem, idx, per_customer),
        "audit_only": {col: _disparity(_groups(s.audit_columns[col], problem, idx,
                                                per_customer))
                       for col in s.policy.audit_only},
        "fatigue": _fatigue(s, problem, idx),
    }


# --- pieces --------------------------------------------------------------------------------

def _distribution(counts: np.ndarray) -> dict[str, Any]:
    if not len(counts):
        return {"customers": 0, "min": None, "p50": None, "p90": None, "max": None,
                "mean": None, "never_contacted_share": None}
    p50, p90 = np.percentile(counts, [50, 90])
    return {"customers": len(counts), "min": int(counts.min()), "p50": float(p50),
            "p90": float(p90), "max": int(counts.max()), "mean": float(counts.mean()),
            "never_contacted_share": float((counts == 0).mean())}


def gini(values: np.ndarray) -> float | None:
    """Gini coefficient of non-negative values; None when they sum to 0 (or are none)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    total = x.sum()
    if not len(x) or total <= 0:
        return None
    n = len(x)
    rank = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * rank - n - 1) * x).sum() / (n * total))


def _share(part: float, total: float) -> float | None:
    return float(part / total) if total > 0 else None


def _concentration(s: Scenario, problem: Problem, idx: np.ndarray, per_customer: np.ndarray,
                   plan_kpis: Mapping[str, np.ndarray] | None) -> dict[str, Any]:
    t = problem.triples
    n = problem.n_customers
    if "discount_cost" in s.kpi_names:
        source = "kpi discount_cost"
        discount = _plan_kpi(s, t.row[idx], "discount_cost", plan_kpis)
    else:
        source = "action column discount"
        discount = s.actions["discount"].to_numpy(np.float64)[t.action[idx]]
    out: dict[str, Any] = {
        "gini_contacts": gini(per_customer),
        "discount_source": source,
        "top_decile_by": "p_response",
        "top_decile_customers": None,
        "top_decile_contact_share": None,
        "top_decile_discount_share": None,
        "reason": None,
    }
    if "p_response" not in s.kpi_names:
        out["reason"] = "no KPI column p_response in scores"
        return out
    # triples are sorted by customer: a segmented max, in the column's own precision
    p = s.scores.column("p_response")[t.row]
    best = np.full(n, -np.inf)
    if len(p):
        starts = np.flatnonzero(np.r_[True, t.customer[1:] != t.customer[:-1]])
        best[t.customer[starts]] = np.maximum.reduceat(p, starts)
    del p
    k = math.ceil(n / 10)
    top = np.zeros(n, dtype=bool)
    top[np.argsort(-best, kind="stable")[:k]] = True
    in_top = top[t.customer[idx]]
    out |= {"top_decile_customers": k,
            "top_decile_contact_share": _share(float(in_top.sum()), float(len(idx))),
            "top_decile_discount_share": _share(float(discount[in_top].sum()),
                                                float(discount.sum()))}
    return out


def _plan_kpi(s: Scenario, rows: np.ndarray, name: str,
              plan_kpis: Mapping[str, np.ndarray] | None) -> np.ndarray:
    if plan_kpis is not None and name in plan_kpis:
        return np.asarray(plan_kpis[name], dtype=np.float64)
    return s.scores.column(name)[rows].astype(np.float64)


def _groups(column: pd.Series, problem: Problem, idx: np.ndarray,
            per_customer: np.ndarray) -> list[dict[str, Any]]:
    """Customers, share contacted, contacts and each level's value per value of `column`."""
    t = problem.triples
    n = problem.n_customers
    keys = column.astype(object).where(column.notna(), NULL_GROUP).astype(str).to_numpy()
    frame = pd.DataFrame({"group": keys, "customers": 1,
                          "contacted": (per_customer > 0).astype(np.int64),
                          "contacts": per_customer})
    names = [lv.name for lv in problem.levels]
    for k, lv in enumerate(problem.levels):
        frame[f"level{k}"] = np.bincount(t.customer[idx], lv.values[idx].astype(np.float64),
                                         minlength=n)
    sums = frame.groupby("group", sort=True).sum()
    return [{"group": str(g), "customers": int(r["customers"]),
             "share_contacted": float(r["contacted"] / r["customers"]),
             "contacts": int(r["contacts"]),
             "objectives": {name: float(r[f"level{k}"]) for k, name in enumerate(names)}}
            for g, r in sums.iterrows()]


def _disparity(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rates = np.array([g["share_contacted"] for g in groups])
    top = rates.max(initial=0.0)
    for g, rate in zip(groups, rates, strict=True):
        ratio = float(rate / top) if top > 0 else None
        g["disparity_ratio"] = ratio
        g["flag"] = ratio is not None and ratio < DISPARITY_FLAG
    return groups


def _plan_days(problem: Problem, idx: np.ndarray) -> np.ndarray:
    """Planned contacts per (customer, day) of the horizon, a customers × days matrix."""
    t = problem.triples
    n, horizon = problem.n_customers, problem.horizon
    flat = t.customer[idx].astype(np.int64) * horizon + t.day[idx]
    return np.bincount(flat, minlength=n * horizon).reshape(n, horizon)


def _windowed(per_day: np.ndarray, window: int) -> np.ndarray:
    """Sums over the `window` days ending on each day (columns), inside the matrix."""
    c = np.concatenate([np.zeros((per_day.shape[0], 1), np.int64),
                        np.cumsum(per_day, axis=1, dtype=np.int64)], axis=1)
    end = np.arange(1, per_day.shape[1] + 1)
    return c[:, end] - c[:, np.maximum(end - window, 0)]


def _fatigue(s: Scenario, problem: Problem, idx: np.ndarray) -> dict[str, Any]:
    n, horizon = problem.n_customers, problem.horizon
    caps = []
    for cap in problem.caps:
        plan = _windowed(_plan_days(problem, idx[cap.counts[idx]]), cap.window)
        full = (plan > 0) & (plan >= cap.left)
        at = full.any(axis=1)
        caps.append({"name": cap.name, "window_days": cap.window, "max": cap.max,
                     "customers_at_cap": int(at.sum()),
                     "share_at_cap": float(at.mean()) if n else None})
    all_plan = _plan_days(problem, idx)
    h = s.history
    rolling = {}
    for window in ROLLING:
        plan = _windowed(all_plan, window)
        past = np.stack([np.bincount(h.customer[h.day >= d - window + 1], minlength=n)
                         for d in range(horizon)], axis=1) if horizon else plan
        worst = (plan + past).max(axis=1) if horizon else np.zeros(n, np.int64)
        rolling[f"{window}_days"] = {
            "max": int(worst.max()) if n else None,
            "p90": float(np.percentile(worst, 90)) if n else None,
        }
    return {"caps": caps, "rolling_with_history": rolling}
