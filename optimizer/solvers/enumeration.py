"""Exact per-customer subproblems by enumerating each customer's feasible contact sets.

For policies without a one-contact-a-day cap (such as the published Bigler instances, where
each activity runs on one day and customers have a handful of eligible ones), a customer's
own rules (caps and conflicts as packing rows) admit few sets. They are enumerated once,
breadth-first by the highest position in the set, keeping only sets that break no row
(bitmask arithmetic, all customers at once). An evaluation is then one sparse product
(set values) and a segmented maximum per customer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from optimizer.problem import Problem

MAX_POSITIONS = 62  # one bit per eligible triple of a customer in a uint64 mask
MAX_SETS = 30_000_000


class EnumerationOracle:
    """Solves all customers' subproblems exactly over their enumerated feasible sets."""

    def __init__(self, problem: Problem) -> None:
        t = problem.triples
        self.n = problem.n_customers
        self.order = None  # the oracle's positions are the problem's triples, in order
        self.size = problem.size
        counts = np.bincount(t.customer, minlength=self.n)
        if counts.max(initial=0) > MAX_POSITIONS:
            raise ValueError(f"a customer has {counts.max()} eligible contacts; enumeration "
                             f"handles at most {MAX_POSITIONS}")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        position = np.arange(problem.size) - starts[t.customer]
        cust, masks = self._enumerate(problem, counts, starts, position)
        self.set_customer = cust
        # set × triple incidence, built once
        bits = np.arange(MAX_POSITIONS, dtype=np.uint64)
        member = (masks[:, None] >> bits[None, :]) & np.uint64(1)
        rows, cols = np.nonzero(member)
        triple = starts[cust[rows]] + cols
        self.incidence = sp.csr_matrix((np.ones(len(rows)), (rows, triple)),
                                       shape=(len(masks), problem.size))
        self.set_starts = np.flatnonzero(np.concatenate([[True], cust[1:] != cust[:-1]]))
        self.set_owner = cust[self.set_starts]
        covers = []
        for cov in problem.coverage:
            mark = np.zeros(problem.size)
            mark[cov.index] = 1.0
            covers.append((self.incidence @ mark) > 0)
        self.covers = np.array(covers).reshape(len(covers), len(masks))

    @staticmethod
    def check(problem: Problem) -> None:
        counts = np.bincount(problem.triples.customer, minlength=problem.n_customers)
        if counts.max(initial=0) > MAX_POSITIONS:
            raise ValueError("too many eligible contacts per customer to enumerate")

    def _enumerate(self, problem: Problem, counts: np.ndarray, starts: np.ndarray,
                   position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        local = problem.local
        n_rows = len(local)
        row_mask = np.zeros(n_rows, dtype=np.uint64)
        if n_rows:
            owner_of_entry = np.repeat(np.arange(n_rows), np.diff(local.indptr))
            np.bitwise_or.at(row_mask, owner_of_entry,
                             np.left_shift(np.uint64(1),
                                           position[local.indices].astype(np.uint64)))
        row_order = np.argsort(local.customer, kind="stable")
        row_cust = local.customer[row_order]
        row_mask, row_rhs = row_mask[row_order], local.rhs[row_order].astype(np.int64)
        row_start = np.searchsorted(row_cust, np.arange(self.n), side="left")
        row_count = np.searchsorted(row_cust, np.arange(self.n), side="right") - row_start
        has = np.flatnonzero(counts > 0)
        set_cust = [has.astype(np.int64)]
        set_mask = [np.zeros(len(has), dtype=np.uint64)]
        total = len(has)
        for p in range(int(counts.max(initial=0))):
            cust = np.concatenate(set_cust)
            mask = np.concatenate(set_mask)
            grow = counts[cust] > p
            cust, mask = cust[grow], mask[grow] | np.uint64(1 << p)
            k = row_count[cust]
            cand = np.repeat(np.arange(len(cust)), k)
            offset = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
            row = row_start[cust[cand]] + offset
            used = np.bitwise_count(mask[cand] & row_mask[row]).astype(np.int64)
            broken = np.zeros(len(cust), dtype=bool)
            broken[cand[used > row_rhs[row]]] = True
            set_cust.append(cust[~broken])
            set_mask.append(mask[~broken])
            total += int((~broken).sum())
            if total > MAX_SETS:
                raise ValueError(f"more than {MAX_SETS:,} feasible contact sets to enumerate")
        cust = np.concatenate(set_cust)
        mask = np.concatenate(set_mask)
        order = np.lexsort((mask, cust))
        return cust[order], mask[order]

    def solve(self, rv: np.ndarray | Callable[[int, int], np.ndarray],
              bonus: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-customer optimal values and the chosen triples (sorted positions); `rv` may
        be a function of a position range, as for the day-choice oracle."""
        if callable(rv):  # a sparse product needs the whole vector
            rv = rv(0, self.size)
        value = self.incidence @ rv
        if bonus is not None and len(bonus):
            value = value + bonus @ self.covers
        best = np.maximum.reduceat(value, self.set_starts) if len(value) else value
        group = np.repeat(np.arange(len(self.set_starts)), np.diff(
            np.concatenate([self.set_starts, [len(value)]])))
        position = np.where(value == best[group], np.arange(len(value)), len(value))
        first = np.minimum.reduceat(position, self.set_starts) if len(value) else position
        chosen = np.unique(self.incidence[first].indices)
        totals = np.zeros(self.n)
        totals[self.set_owner] = np.maximum(best, 0.0)  # the empty set is always there
        return totals, chosen

    def solve_counted(self, rv: np.ndarray | Callable[[int, int], np.ndarray],
                      bonus: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """`solve`, with no coverage counts: the caller counts them from the plan."""
        totals, chosen = self.solve(rv, bonus)
        return totals, chosen, None
