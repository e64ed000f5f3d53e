"""A customer-by-customer mix of two feasible plans: a cheap, feasible warm start.

Caps, conflicts and rules bind each customer alone, so a plan that takes every customer's
whole contact set from one of two feasible plans keeps them all; only the global rows
(limits, floors, coverage floors, extra rows such as an eps requirement) couple customers.
`blend` moves customers from a plan that keeps the rows (`base`) to one worth more
(`better`) greedily, best value per unit of row use first: a customer moves when every
global row still holds with it. The greedy runs in vectorized stretches: the
longest run of customers that all fit is accepted at once from cumulative sums, the first
customer that does not fit is skipped, and so on (at most `MAX_SKIPS` times).
"""

from __future__ import annotations

import numpy as np

from optimizer.problem import LinearRow, Problem

TOLERANCE = 1e-12  # float noise of the cumulative sums, relative to a row's bound
MAX_SKIPS = 20_000  # customers that do not fit before the greedy stops
WINDOW = 4096  # customers tested at once


def blend(problem: Problem, base: np.ndarray, better: np.ndarray, objective: np.ndarray,
          rows: tuple[LinearRow, ...]) -> np.ndarray:
    """A feasible mix of `base` (feasible) and `better` worth at least `base`.

    Customers are tried in the order of a multi-row knapsack greedy: value gained per unit
    of "weight", each row's use weighed by that row's total demand over all customers, so a
    customer who frees a tight row comes early and makes room for others.
    """
    t = problem.triples
    n = problem.n_customers
    diff = better.astype(np.int8) - base.astype(np.int8)
    touched = np.flatnonzero(diff)
    if not len(touched):
        return base
    owner = t.customer[touched]
    movers = np.unique(owner)
    gain = np.bincount(owner, weights=objective[touched] * diff[touched],
                       minlength=n)[movers]
    movers, gain = movers[gain > 0], gain[gain > 0]
    if not len(movers):
        return base
    use, room = _usage(problem, base, better, movers, rows, diff)
    used = np.maximum(use, 0.0)
    weight = (used / (used.sum(axis=0) + 1e-300)).sum(axis=1)
    order = np.lexsort((-gain, -np.where(weight > 0, gain / np.maximum(weight, 1e-300),
                                         np.inf)))
    movers, use = movers[order], use[order]
    accept = np.zeros(len(movers), dtype=bool)
    at, skips = 0, 0
    while at < len(movers) and skips <= MAX_SKIPS:
        level = np.cumsum(use[at:at + WINDOW], axis=0)
        fits = (level <= room).all(axis=1)
        run = len(fits) if fits.all() else int(np.argmin(fits))
        accept[at:at + run] = True
        if run:
            room = room - level[run - 1]
        at += run
        if run < len(fits):  # the customer at `at` does not fit: skip it
            at += 1
            skips += 1
    if not accept.any():
        return base
    switched = np.zeros(n, dtype=bool)
    switched[movers[accept]] = True
    return np.where(switched[t.customer], better, base)


def _usage(problem: Problem, base: np.ndarray, better: np.ndarray, movers: np.ndarray,
           rows: tuple[LinearRow, ...], diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What moving each customer uses of each row's room (`<=` form: positive = uses), and
    the room `base` leaves (never less than zero: `base` may sit a hair past a bound)."""
    t = problem.triples
    n = problem.n_customers
    slot = np.full(n, -1, dtype=np.int64)
    slot[movers] = np.arange(len(movers))
    columns, room = [], []
    for row in rows:
        sign = 1.0 if row.sense == "<=" else -1.0
        change = np.zeros(len(movers))
        at = slot[t.customer[row.index]]
        on = at >= 0
        np.add.at(change, at[on], row.coef[on] * diff[row.index[on]])
        columns.append(sign * change)
        left = sign * (row.rhs - row.activity(base))
        room.append(max(left, 0.0) + TOLERANCE * max(1.0, abs(row.rhs)))
    for cov in problem.coverage:
        before = _covered(t.customer, cov.index, base, n)[movers]
        after = _covered(t.customer, cov.index, better, n)[movers]
        columns.append(before.astype(np.float64) - after)
        room.append(max(cov.covered(base, t.customer) - cov.need, 0) + 0.5)
    if not columns:
        return np.zeros((len(movers), 0)), np.zeros(0)
    return np.stack(columns, axis=1), np.array(room)


def _covered(customer: np.ndarray, index: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    mark = np.zeros(n, dtype=bool)
    mark[customer[index[x[index]]]] = True
    return mark
