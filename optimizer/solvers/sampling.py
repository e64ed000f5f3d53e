"""A sample of customers that prices the global rows almost as well as all of them.

With millions of customers, the multipliers that solve the dual depend on the customers
only through sums, and a random tenth of them gives nearly the same sums (scaled). So the
multipliers are first found on a sample whose row bounds are scaled to the sample's share;
the full problem then starts there, inside a small trust region, and needs a handful of
full evaluations instead of dozens. The bound stays proven: it always comes from full
evaluations, the sample only chooses where to evaluate.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from optimizer.problem import CapSpec, ConflictSpec, CoverageRow, LinearRow, Problem, Triples

SAMPLE_CUSTOMERS = 1_000_000  # customers in the sample (when the problem has many more)
HASH = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: a fixed, well-spread "random" pick


def sampled_customers(n_customers: int, size: int = SAMPLE_CUSTOMERS) -> np.ndarray | None:
    """A deterministic pseudo-random subset of about `size` customers (bool per customer),
    or None when the problem is small enough to price whole."""
    if n_customers <= 2 * size:
        return None
    spread = (np.arange(n_customers, dtype=np.uint64) * HASH) >> np.uint64(40)
    return spread < np.uint64(int((1 << 24) * size / n_customers))


def sample_problem(problem: Problem, rows: list[LinearRow],
                   chosen: np.ndarray) -> tuple[Problem, list[LinearRow], np.ndarray]:
    """The problem over the chosen customers (renumbered 0..m-1), each global row's bound
    and each coverage need scaled to the sample's share of the customers; also the sampled
    triples' indices in the full problem."""
    t = problem.triples
    share = float(chosen.sum()) / problem.n_customers
    keep = chosen[t.customer]
    idx = np.flatnonzero(keep)
    renumber = np.cumsum(chosen) - 1
    sub_t = Triples(renumber[t.customer[idx]].astype(np.int32), t.action[idx], t.day[idx],
                    t.row[idx])
    sub_rows = []
    for row in rows:
        inside = keep[row.index]
        sub_rows.append(replace(row, rhs=row.rhs * share,
                                index=np.searchsorted(idx, row.index[inside]),
                                coef=row.coef[inside]))
    coverage = tuple(
        CoverageRow(c.name, math.ceil(c.need * share), round(c.group_size * share),
                    np.searchsorted(idx, c.index[keep[c.index]]), c.min_share)
        for c in problem.coverage)
    caps = tuple(CapSpec(c.name, c.window, c.max, c.counts[idx], c.left[chosen])
                 for c in problem.caps)
    conflicts = tuple(ConflictSpec(c.name, c.lag, c.first[idx], c.then[idx])
                      for c in problem.conflicts)
    sub = Problem(int(chosen.sum()), problem.n_actions, problem.horizon, sub_t, (), (),
                  coverage, caps, conflicts, problem.review[idx], problem.review_names)
    return sub, sub_rows, idx
