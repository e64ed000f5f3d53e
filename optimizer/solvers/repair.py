"""From a subproblem plan to one that keeps every global row, by swapping whole customers.

Each customer's plan from the oracle already keeps that customer's caps, conflicts and
rules, so swapping a customer's whole plan for the plan it would choose under other
multipliers keeps them too. To mend a violated row r, raise its multiplier until the
subproblem plans satisfy r, then move the customers whose plans differ, cheapest value lost
per unit of r mended first, just as many as the row needs. All of it is array work over
customers; the loop runs over violated rows, a handful of times.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from optimizer.solvers.decomposition import Lagrangian

ROUNDS = 40


def slack(lag: Lagrangian, x: np.ndarray) -> np.ndarray:
    """b - a x for every row in <= form (coverage: covered - need); negative = violated."""
    return np.concatenate([lag.rows.rhs - lag.activities(x), lag.covered(x) - lag.cov_need])


def violated(lag: Lagrangian, s: np.ndarray) -> np.ndarray:
    scale = np.maximum(1.0, np.abs(np.concatenate([lag.rows.rhs, lag.cov_need])))
    return s < -1e-7 * scale


def per_customer_change(lag: Lagrangian, x: np.ndarray, alt: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Customers whose plans differ, the objective change and each row's slack change."""
    customer = lag.customer
    n = lag.problem.n_customers
    diff = alt.astype(np.int8) - x.astype(np.int8)
    touched = np.flatnonzero(diff)
    movers = np.unique(customer[touched])
    value = np.bincount(customer[touched], weights=lag.objective[touched] * diff[touched],
                        minlength=n)[movers]
    changes = []
    unit = lag.rows.scaled(np.ones(lag.n_rows))  # scaled units per unit of each row
    for r, (idx, coef) in enumerate(zip(lag.rows.index, lag.rows.coef, strict=True)):
        d = diff[idx]
        on = d != 0
        changes.append(-unit[r] * np.bincount(customer[idx[on]], weights=coef[on] * d[on],
                                              minlength=n)[movers])
    for index in lag.cov_index:
        before = covered_customers(customer, index, x, n)
        after = covered_customers(customer, index, alt, n)
        changes.append((after.astype(float) - before)[movers])
    return movers, value, np.array(changes).reshape(len(changes), len(movers))


def covered_customers(customer: np.ndarray, index: np.ndarray, x: np.ndarray,
                      n: int) -> np.ndarray:
    """Which customers have a chosen position among `index` (a marker array: no sort)."""
    mark = np.zeros(n, dtype=bool)
    mark[customer[index[x[index]]]] = True
    return mark


def repair(lag: Lagrangian, x: np.ndarray, multipliers: np.ndarray,
           deadline: float = float("inf")) -> np.ndarray | None:
    """A plan keeping every global row, near `x`; None when the swaps cannot find one
    (or time runs out)."""
    x = x.copy()
    lam = multipliers.copy()
    base_step = max(float(np.abs(lag.objective).max(initial=0.0)), 1e-6) * 1e-3
    for _ in range(ROUNDS):
        if time.perf_counter() > deadline:
            return None
        s = slack(lag, x)
        bad = violated(lag, s)
        if not bad.any():
            return x
        scale = np.maximum(1.0, np.abs(np.concatenate([lag.rows.rhs, lag.cov_need])))
        r = int(np.argmax(np.where(bad, -s / scale, -np.inf)))
        alt = None
        step = max(lam[r] * 0.02, base_step)
        for _ in range(40):  # raise row r's price until the subproblem plans keep it
            trial = lam.copy()
            trial[r] += step
            ev = lag.evaluate(trial)
            if not violated(lag, ev.subgradient)[r]:  # the subgradient is the plan's slack
                alt, lam = ev.x, trial
                break
            step *= 2.0
        if alt is None:
            return None
        movers, value, change = per_customer_change(lag, x, alt)
        gain = change[r]
        # prefer swaps that leave the other tight rows no worse, so mending one row does
        # not break another (which would cycle)
        tight = (s < 1e-3 * scale) & (np.arange(len(s)) != r)
        harmless = (change[tight] >= -1e-12).all(axis=0) if tight.any() else np.ones(
            len(movers), dtype=bool)
        useful = (gain > 0) & harmless
        if gain[useful].sum() < -s[r]:
            useful = gain > 0
        if not useful.any():
            return None
        # cheapest value lost per unit of row r mended first; mend a little past zero
        ratio = np.where(useful, -value / np.where(useful, gain, 1.0), np.inf)
        order = np.argsort(ratio, kind="stable")
        order = order[useful[order]]
        cum = np.cumsum(gain[order])
        want = min(-s[r] + 1e-4 * scale[r], float(cum[-1]))
        k = int(np.searchsorted(cum, want - 1e-9)) + 1
        chosen = movers[order[:k]]
        swap = np.zeros(lag.problem.n_customers, dtype=bool)
        swap[chosen] = True
        rows = swap[lag.customer]
        x[rows] = alt[rows]
    return None
