"""Provable bounds from arrays alone, without a solve.

`check` turns these bounds into findings and the infeasibility diagnosis turns them into
conflicts, so both name the same floor with the same numbers (`floor_proofs`).

Every bound is an upper bound on what any plan that keeps the hard constraints can reach.
It comes from a relaxation that only drops structure:
- a contact is *usable* when it is eligible, allowed by the rules, not blocked by history
  through a conflict, and every cap that counts it has room left in every window holding it;
- each customer gets at most `day room` contacts a day and `horizon room` over the horizon,
  from the caps that count every contact in question (the rest of the cap structure and the
  conflicts between two planned contacts are ignored);
- a limit with non-negative coefficients enters through one Lagrange multiplier
  (weak duality: any multiplier gives a valid bound, the search only tightens it).
So a floor whose bound is below its minimum cannot be met by any plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from optimizer.problem import CoverageRow, LinearRow, Problem

UNLIMITED = np.iinfo(np.int64).max // 4
GOLDEN_STEPS = 12  # multiplier search: enough to tighten, cheap at a million customers


def tolerance(value: float) -> float:
    """Round-off allowed when comparing a bound with a row's right-hand side."""
    return 1e-6 * max(1.0, abs(value))


@dataclass(frozen=True)
class Reach:
    """What the caps and rules leave each customer, computed once per problem."""

    usable: np.ndarray  # bool per triple: a plan may hold this contact
    cap_horizon: tuple[np.ndarray, ...]  # per cap: int64 per customer, most contacts it lets
    # through over the horizon (sum of the room of disjoint windows that cover the horizon)
    cap_day: tuple[np.ndarray, ...]  # per cap: int64 (customers × days), most contacts on a
    # day (the least room among the windows that hold that day)


def reach(problem: Problem) -> Reach:
    """Usable triples and each cap's room per customer (history included)."""
    t = problem.triples
    horizon = problem.horizon
    usable = np.ones(len(t), dtype=bool)
    cap_horizon: list[np.ndarray] = []
    cap_day: list[np.ndarray] = []
    for cap in problem.caps:
        left = cap.left.astype(np.int64)
        day_room = np.empty_like(left)
        for d in range(horizon):  # a contact on day d counts in the windows ending d..d+W-1
            day_room[:, d] = left[:, d:min(d + cap.window, horizon)].min(axis=1)
        usable &= ~(cap.counts & (day_room[t.customer, t.day] == 0))
        ends = np.arange(horizon - 1, -1, -cap.window)  # disjoint windows covering the horizon
        cap_horizon.append(left[:, ends].sum(axis=1))
        cap_day.append(day_room)
    return Reach(usable, tuple(cap_horizon), tuple(cap_day))


def top_k(values: np.ndarray, group: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Mask of the elements among the k largest of their group (k given per element).

    Only groups with more than k elements are sorted, so the usual case (few customers whose
    room binds) stays linear.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    over = np.bincount(group)[group] > k
    if not over.any():
        return np.ones(n, dtype=bool)
    mask = ~over
    sub = np.flatnonzero(over)
    values, group, k = values[sub], group[sub], k[sub]
    m = len(sub)
    if np.all(k <= 1) and np.all(group[1:] >= group[:-1]):
        starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
        best = np.maximum.reduceat(values, starts)
        segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, m)))
        position = np.where(values == best[segment], np.arange(m), m)
        first = np.minimum.reduceat(position, starts)
        mask[sub[first]] = k[first] >= 1
        return mask
    order = np.lexsort((-values, group))
    g = group[order]
    new = np.concatenate([[True], g[1:] != g[:-1]])
    start = np.maximum.accumulate(np.where(new, np.arange(m), 0))
    mask[sub[order]] = (np.arange(m) - start) < k[order]
    return mask


@dataclass(frozen=True)
class Capacity:
    """Per customer, how many contacts of one set of triples the caps let through."""

    day: np.ndarray  # int64 (customers × days)
    horizon: np.ndarray  # int64 per customer


class Bounds:
    """Bounds on rows and objectives of one problem (see the module docstring)."""

    def __init__(self, problem: Problem, reach_: Reach | None = None) -> None:
        self.problem = problem
        self.reach = reach_ or reach(problem)
        # int32 where (customer, day) keys fit: half the memory at hundreds of millions
        wide = problem.n_customers * max(problem.horizon, 1) >= 2**31
        self.customer = problem.triples.customer.astype(np.int64 if wide else np.int32)
        self.day = problem.triples.day.astype(self.customer.dtype)

    @cached_property
    def _dense(self) -> np.ndarray:
        return np.zeros(self.problem.size)

    def capacity(self, idx: np.ndarray) -> Capacity:
        """Room for the triples `idx`: only caps that count all of a customer's `idx`
        triples bound that customer (a cap that misses one of them bounds nothing)."""
        p = self.problem
        day = np.full((p.n_customers, p.horizon), UNLIMITED, dtype=np.int64)
        horizon = np.full(p.n_customers, UNLIMITED, dtype=np.int64)
        cust = self.customer[idx]
        for k, cap in enumerate(p.caps):
            missed = np.zeros(p.n_customers, dtype=bool)
            missed[cust[~cap.counts[idx]]] = True
            covered = ~missed
            horizon = np.where(covered, np.minimum(horizon, self.reach.cap_horizon[k]), horizon)
            day = np.where(covered[:, None], np.minimum(day, self.reach.cap_day[k]), day)
        return Capacity(day, horizon)

    def best_plan(self, idx: np.ndarray, values: np.ndarray, room: Capacity) -> np.ndarray:
        """Mask over `idx`: per customer, the most valuable positive contacts within the day
        and horizon room (greedy, which is exact for these nested count limits)."""
        return Selector(self, idx, values, room).plan(values)

    def greedy_plan(self, idx: np.ndarray, values: np.ndarray, room: Capacity) -> np.ndarray:
        """`best_plan` by sorting, for any room."""
        keep = self.reach.usable[idx] & (values > 0)
        pos = np.flatnonzero(keep)
        cust, day, v = self.customer[idx[pos]], self.day[idx[pos]], values[pos]
        first = top_k(v, cust * self.problem.horizon + day, room.day[cust, day])
        pos, cust, v = pos[first], cust[first], v[first]
        second = top_k(v, cust, room.horizon[cust])
        mask = np.zeros(len(idx), dtype=bool)
        mask[pos[second]] = True
        return mask

    def max_sum(self, idx: np.ndarray, values: np.ndarray, room: Capacity) -> float:
        """Upper bound on sum(values * x) over the triples `idx` for any plan."""
        return Selector(self, idx, values, room).total(values)

    def row_max(self, row: LinearRow) -> float:
        """Upper bound on a row's activity."""
        return self.max_sum(row.index, row.coef, self.capacity(row.index))

    def limit_costs(self, idx: np.ndarray, family: list[LinearRow]
                    ) -> tuple[np.ndarray, float, tuple[str, ...]] | None:
        """A limit family (one policy limit, maybe per day) as costs on `idx` and a budget:
        the sum of the max of its rows that touch `idx`. None when a coefficient is negative
        (then spending elsewhere could free budget and the argument fails) or nothing touches."""
        cost = np.zeros(len(idx))
        budget, names = 0.0, []
        usable = self.reach.usable[idx]
        dense = self._dense  # all zeros between calls
        for row in family:
            if (row.coef < 0).any():
                return None
            dense[row.index] = row.coef
            mine = dense[idx] * usable
            dense[row.index] = 0.0
            if mine.any():
                cost += mine
                budget += row.rhs
                names.append(row.name)
        if not names:
            return None
        return cost, budget, tuple(names)


class Selector:
    """`Bounds.max_sum` and `best_plan` for one set of triples and room, for many value
    vectors: the grouping is done once, and in the common cases (caps that count every
    contact, one contact a day) a total is a linear pass plus, where the horizon room binds,
    a sort of the few per-day picks. Given `values`, only triples where they are positive are
    kept, so later vectors must never exceed them (Lagrange prices only lower values)."""

    def __init__(self, b: Bounds, idx: np.ndarray, values: np.ndarray | None,
                 room: Capacity) -> None:
        self.b, self.idx, self.room = b, idx, room
        keep = b.reach.usable[idx]
        self.pos = np.flatnonzero(keep if values is None else keep & (values > 0))
        self.mode = "generic"
        n = len(self.pos)
        if n == 0:
            self.mode, self.fits = "all", True
            return
        cust = b.customer[idx[self.pos]]
        day = b.day[idx[self.pos]]
        group = cust * b.problem.horizon + day
        if np.any(group[1:] < group[:-1]):
            return
        self.starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
        counts = np.diff(np.append(self.starts, n))
        owner = cust[self.starts]
        day_room = room.day[owner, day[self.starts]]
        picks = np.bincount(owner, weights=np.minimum(counts, day_room))
        self.fits = bool(np.all(picks[owner] <= room.horizon[owner]))
        if np.all(counts <= day_room):
            self.mode, self.owner, self.k = "all", cust, room.horizon[cust]
        elif np.all(day_room <= 1):
            self.mode, self.open = "max", day_room >= 1
            self.owner, self.k = owner[self.open], room.horizon[owner[self.open]]

    def plan(self, values: np.ndarray) -> np.ndarray:
        """The plan behind `total`, as a mask over the triples."""
        if self.mode == "generic":
            return self.b.greedy_plan(self.idx, values, self.room)
        w = values[self.pos]
        pick = np.arange(len(w))
        if self.mode == "max":
            best = np.maximum.reduceat(w, self.starts)
            sizes = np.diff(np.append(self.starts, len(w)))
            first = np.minimum.reduceat(np.where(w == np.repeat(best, sizes), pick, len(w)),
                                        self.starts)
            pick, w = first[self.open], best[self.open]
        keep = w > 0
        if not self.fits:
            keep &= top_k(np.maximum(w, 0.0), self.owner, self.k)
        mask = np.zeros(len(self.idx), dtype=bool)
        mask[self.pos[pick[keep]]] = True
        return mask

    def total(self, values: np.ndarray) -> float:
        """max_sum for `values` (over the same triples, never above the first values)."""
        if self.mode == "generic":
            return float(values[self.b.greedy_plan(self.idx, values, self.room)].sum())
        w = np.maximum(values[self.pos], 0.0)
        if self.mode == "max":
            w = np.maximum.reduceat(w, self.starts)[self.open]
        if self.fits:
            return float(w.sum())
        return float(w[top_k(w, self.owner, self.k)].sum())


@dataclass(frozen=True)
class FloorProof:
    """The most one floor row can reach, and whether that is below its minimum.

    `alone` uses eligibility, rules and caps only; `possible` also each limit in turn and is
    the smaller. The conflict is the floor alone when `alone` is short, else the floor and
    the limit that gave `possible`.
    """

    row: str  # row name (a per-day row carries its date)
    policy_name: str
    kind: Literal["coverage", "floor"]
    need: float
    alone: float
    possible: float
    limit: str | None = None  # policy name of the limit behind `possible`, if any
    limit_rows: tuple[str, ...] = ()
    limit_max: float | None = None  # the budget those rows allow together
    limit_need: float | None = None  # lower bound on the budget the floor needs (None:
    # unknown, or no budget is enough)

    @property
    def infeasible(self) -> bool:
        return self.possible < self.need - tolerance(self.need)

    @property
    def alone_infeasible(self) -> bool:
        return self.alone < self.need - tolerance(self.need)

    @property
    def members(self) -> tuple[str, ...]:
        """Row names of the smallest conflict this proof shows."""
        if self.alone_infeasible or self.limit is None:
            return (self.row,)
        return (self.row, *self.limit_rows)


def floor_proofs(problem: Problem, reach_: Reach | None = None,
                 bounds: Bounds | None = None) -> list[FloorProof]:
    """A bound for every floor and coverage row with something to prove (need > 0)."""
    b = bounds or Bounds(problem, reach_)
    families = limit_families(problem)
    out: list[FloorProof] = []
    for cov in problem.coverage:
        if cov.need > 0:
            out.append(_coverage_proof(b, cov, families))
    for row in problem.rows:
        if row.kind == "floor" and row.rhs > 0:
            out.append(_sum_proof(b, row, families))
    return out


def limit_families(problem: Problem) -> dict[str, list[LinearRow]]:
    """Limit rows grouped by the policy limit they come from (per-day limits give several)."""
    out: dict[str, list[LinearRow]] = {}
    for row in problem.rows:
        if row.kind == "limit":
            out.setdefault(row.policy_name, []).append(row)
    return out


def _coverage_proof(b: Bounds, cov: CoverageRow,
                    families: dict[str, list[LinearRow]]) -> FloorProof:
    """Customers of the group with a usable matching contact; with a limit, how many of the
    cheapest of them (each at its cheapest contact) its budget pays for."""
    idx = cov.index[b.reach.usable[cov.index]]
    cust = b.customer[idx]  # sorted: triples are ordered by customer
    starts = np.flatnonzero(np.concatenate([[True], cust[1:] != cust[:-1]])) if len(idx) \
        else np.zeros(0, dtype=np.int64)
    reachable = len(starts)
    best = FloorProof(cov.name, cov.name, "coverage", float(cov.need), float(reachable),
                      float(reachable))
    for name, family in families.items():
        costs = b.limit_costs(idx, family)
        if costs is None:
            continue
        cost, budget, rows = costs
        per_customer = np.sort(np.minimum.reduceat(cost, starts))
        spent = np.cumsum(per_customer)
        count = int(np.searchsorted(spent, budget + tolerance(budget), side="right"))
        need = cov.need
        limit_need = float(spent[need - 1]) if need <= len(spent) else None
        if count < best.possible:
            best = FloorProof(cov.name, cov.name, "coverage", float(need), float(reachable),
                              float(count), name, rows, budget, limit_need)
    return best


def _sum_proof(b: Bounds, row: LinearRow, families: dict[str, list[LinearRow]]) -> FloorProof:
    """Best contacts per customer within the caps; with a limit, the Lagrangian bound
    lambda * budget + sum over customers of the best (value - lambda * cost) within the caps,
    minimized over lambda by golden section (convex in lambda)."""
    idx, v = row.index, row.coef
    room = b.capacity(idx)
    select = Selector(b, idx, v, room)
    alone = select.total(v)
    best = FloorProof(row.name, row.policy_name, "floor", row.rhs, alone, alone)
    for name, family in families.items():
        costs = b.limit_costs(idx, family)
        if costs is None:
            continue
        cost, budget, rows = costs
        priced = (cost > 0) & (v > 0) & b.reach.usable[idx]
        if not priced.any() or cost[select.plan(v)].sum() <= budget:
            continue  # the bound is convex in lambda and does not fall from lambda = 0

        def bound(lam: float, cost: np.ndarray = cost, budget: float = budget) -> float:
            return lam * budget + select.total(v - lam * cost)

        ratio = v[priced] / cost[priced]
        start = _knapsack_price(ratio, cost[priced], budget)
        tried = {0.0: alone, start: bound(start)}
        tried.update(_golden(bound, 0.0, float(ratio.max())))
        value = min(tried.values())
        if value < best.possible:
            # a budget below (need - S(lambda)) / lambda leaves the bound short of the floor
            needs = [(row.rhs - tried[m] + m * budget) / m for m in tried if m > 0]
            limit_need = max(needs) if needs else None
            best = FloorProof(row.name, row.policy_name, "floor", row.rhs, alone, value, name,
                              rows, budget, limit_need)
    return best


def _golden(f, low: float, high: float) -> dict[float, float]:
    """Golden-section search of a convex function on [low, high]; every point evaluated."""
    phi = (math.sqrt(5) - 1) / 2
    a, c = high - phi * (high - low), low + phi * (high - low)
    seen = {a: f(a), c: f(c)}
    for _ in range(GOLDEN_STEPS):
        if seen[a] <= seen[c]:
            high, c = c, a
            a = high - phi * (high - low)
            seen[a] = f(a)
        else:
            low, a = a, c
            c = low + phi * (high - low)
            seen[c] = f(c)
    return seen


def _knapsack_price(ratio: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """The multiplier of the fractional knapsack (caps ignored): the value/cost ratio of the
    item that fills the budget, or 0 when everything fits."""
    order = np.argsort(-ratio, kind="stable")
    spent = np.cumsum(cost[order])
    at = int(np.searchsorted(spent, budget, side="left"))
    return 0.0 if at >= len(order) else float(ratio[order[at]])
