"""Lagrangian reduced-cost fixing: which choices no plan better than the incumbent can make.

At multipliers λ every plan x that keeps the global rows satisfies
    value(x) <= L(λ) - Σ_c loss_c(x_c),
where L(λ) is the dual value and loss_c(x_c) >= 0 is how much customer c's reduced value
falls short of its subproblem optimum (the priced slacks only lower the right side further).
So a plan worth more than the incumbent loses less than G = L(λ) - incumbent in total. If
flipping position p (choosing it when the subproblem plan does not, or dropping it when it
does) costs its customer at least G, every better plan keeps p as the subproblem plan has
it. The positions left free, and their customers, are usually few: an exact MIP over them,
with every other customer at its subproblem plan, finds the proven optimum.

A flip's cost comes from the oracle itself: one more solve per position rank (the k-th
position of every customer flipped at once), so fixing costs as many evaluations as the
most positions any customer has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from optimizer.solvers.decomposition import Evaluation, Lagrangian


@dataclass(frozen=True)
class Fixing:
    """The cost of flipping each position at one point of the dual, in the oracle's order."""

    dual: float  # L(λ): the bound the losses are measured against
    loss: np.ndarray  # per position: reduced value its customer gives up to flip it
    chosen: np.ndarray  # the subproblem plan at λ, bool per position
    customer: np.ndarray  # each position's customer

    def free_positions(self, incumbent: float) -> np.ndarray:
        """Positions some plan better than `incumbent` may set unlike the subproblem plan."""
        gap = self.dual - incumbent
        # a margin for float rounding in sums of reduced values
        slack = 1e-9 * max(1.0, abs(self.dual))
        return self.loss < gap + slack

    def kept(self, incumbent: float) -> tuple[np.ndarray, int]:
        """The positions an exact solve must keep at `incumbent` (every position of a
        customer with a free one, but those fixed at 0), and how many customers those are."""
        free = self.free_positions(incumbent)
        touched = np.zeros(int(self.customer.max(initial=-1)) + 1, dtype=bool)
        touched[self.customer[free]] = True
        return touched[self.customer] & (free | self.chosen), int(touched.sum())


def flip_costs(lag: Lagrangian, center: Evaluation) -> Fixing:
    """What flipping each position costs its customer at `center`'s multipliers: one oracle
    solve per position rank within a customer."""
    lam = np.maximum(center.multipliers, 0.0)
    prices = lag.rows.prices(lam[: lag.n_rows])
    bonus = lam[lag.n_rows:]
    oracle = lag.blocks[0].oracle
    customer = lag.customer
    n_pos = lag.size
    if n_pos and not bool((customer[1:] >= customer[:-1]).all()):
        raise ValueError("flip costs need positions grouped by customer")
    starts = np.searchsorted(customer, customer, side="left")
    rank = np.arange(n_pos) - starts
    chosen = center.x
    base = np.asarray(lag.values_at(prices, 0, n_pos), dtype=np.float64)
    if len(lag.blocked):
        base[lag.blocked] = -np.inf
    # forcing a position in: a bonus per customer that no plan of that customer can beat
    # without it (twice everything it could gain or lose), and no larger, so that the
    # rounding in `totals - big` stays far below the gaps that fixing compares against
    spread = np.bincount(customer, weights=np.abs(np.where(np.isfinite(base), base, 0.0)),
                         minlength=lag.problem.n_customers)
    big = 1.0 + 2.0 * (spread + float(np.abs(bonus).sum()))
    # what that rounding can be at most: a few units in the last place per summed term
    rounding = 4.0 * (lag.problem.horizon + 1) * np.spacing(2.0 * big)
    opt, _ = oracle.solve(base, bonus)
    loss = np.full(n_pos, np.inf)
    for k in range(int(rank.max(initial=-1)) + 1):
        at = np.flatnonzero(rank == k)
        rv = base.copy()
        took = chosen[at]
        rv[at[took]] = -np.inf
        forced = at[~took & np.isfinite(base[at])]
        rv[forced] += big[customer[forced]]
        totals, picks = oracle.solve(rv, bonus)
        c = customer[at[took]]
        loss[at[took]] = opt[c] - totals[c]
        picked = np.zeros(n_pos, dtype=bool)
        picked[picks] = True
        got = forced[picked[forced]]
        c = customer[got]
        # rounded down by the most the float sums can be off: fixing less is always safe
        loss[got] = opt[c] - (totals[c] - big[c]) - rounding[c]
    return Fixing(center.dual, np.maximum(loss, 0.0), chosen, customer)
