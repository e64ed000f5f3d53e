"""The compiled problem: arrays over eligible (customer, action, day) triples.

Built once from a Scenario with array operations only (no per-customer Python loop):
objective levels and global constraints become value vectors over the triples, and each
customer's own structure (caps with their history counts, conflicts) becomes packing rows
`sum x <= r` in one CSR matrix. Every solver reads this and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd

from optimizer.filters import BoundWhere, table_mask
from optimizer.policy import Where
from optimizer.scenario import Scenario, quantity_source

Sense = Literal["<=", ">="]
RowKind = Literal["limit", "floor", "level"]


def weighted_sum(values: np.ndarray, x: np.ndarray) -> float:
    """sum(values * x) accumulated in float64 whatever the storage dtype (float32 values
    over millions of triples would lose digits in a float32 dot product)."""
    if x.dtype == bool:
        return float(values[x].sum(dtype=np.float64))
    return float(np.dot(values.astype(np.float64, copy=False), x.astype(np.float64, copy=False)))


@dataclass(frozen=True)
class Triples:
    """Eligible triples sorted by (customer, day, action); `row` points into the scores."""

    customer: np.ndarray  # int32
    action: np.ndarray  # int32
    day: np.ndarray  # int16
    row: np.ndarray  # int64, index of the scores row the KPIs come from

    def __len__(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class LinearRow:
    """A global constraint `sum coef * x[index] (sense) rhs` over the triples."""

    name: str
    kind: RowKind
    sense: Sense
    rhs: float
    index: np.ndarray  # triple indices (int32 when they fit)
    coef: np.ndarray  # float32 when that holds the quantity exactly, else float64
    day: int | None = None
    policy_name: str = ""

    def activity(self, chosen: np.ndarray) -> float:
        """The row's value for a 0/1 (or fractional) vector over the triples."""
        return weighted_sum(self.coef, chosen[self.index])


@dataclass(frozen=True)
class CoverageRow:
    """A min_share floor: at least `need` customers of the group get a matching contact."""

    name: str
    need: int
    group_size: int
    index: np.ndarray  # triples that count (customer in the group, action matches)
    min_share: float

    def covered(self, chosen: np.ndarray, customer: np.ndarray) -> int:
        hit = self.index[chosen[self.index] > 0.5]
        return len(np.unique(customer[hit]))


@dataclass(frozen=True)
class LocalRows:
    """Per-customer packing rows `sum x[indices[indptr[r]:indptr[r+1]]] <= rhs[r]`."""

    indptr: np.ndarray  # int64
    indices: np.ndarray  # int64
    rhs: np.ndarray  # int32
    customer: np.ndarray  # int32, the customer each row belongs to
    source: np.ndarray  # int32, index into `names`
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.rhs)


@dataclass(frozen=True)
class CapSpec:
    """A cap in array form: which triples it counts and what each customer has left."""

    name: str
    window: int
    max: int
    counts: np.ndarray  # bool per triple: customer in the group and action in the filter
    left: np.ndarray  # int16 (customers × days): max minus history in the window ending d, >= 0


@dataclass(frozen=True)
class ConflictSpec:
    """A conflict in array form: triples of `first` (A) and `then` (B) in the group."""

    name: str
    lag: int
    first: np.ndarray  # bool per triple
    then: np.ndarray  # bool per triple


@dataclass(frozen=True)
class Level:
    name: str
    values: np.ndarray  # per triple: float32 when exact, else float64
    tolerance: float


@dataclass(frozen=True)
class Problem:
    """Everything a solver needs; see module docstring."""

    n_customers: int
    n_actions: int
    horizon: int
    triples: Triples
    levels: tuple[Level, ...]
    rows: tuple[LinearRow, ...]
    coverage: tuple[CoverageRow, ...]
    caps: tuple[CapSpec, ...]
    conflicts: tuple[ConflictSpec, ...]
    review: np.ndarray  # int8 (int16 past 126 rules) per triple: first matching review rule or -1
    review_names: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return len(self.triples)

    @cached_property
    def local(self) -> LocalRows:
        """The caps and conflicts as packing rows (built on first use: the MIP needs them,
        the decomposition solver works from the specs)."""
        return local_rows(self.triples, self.caps, self.conflicts)


# --- building ------------------------------------------------------------------------------

def build_problem(s: Scenario) -> Problem:
    """Compile a scenario into a Problem; see the module docstring."""
    policy = s.policy
    warnings: list[str] = []
    n_cust, n_act, horizon = len(s.customers), len(s.actions), s.horizon
    masks = PolicyMasks(s)

    triples = _expand_days(s)
    allowed = np.ones(len(triples), dtype=bool)
    for rule in policy.rules:
        cust_deny = masks.customer(rule.deny)
        if rule.unless is not None:
            cust_deny = cust_deny & ~s.customers[rule.unless].fillna(False).to_numpy(bool)
        allowed &= ~(cust_deny[triples.customer] & masks.action(rule.deny)[triples.action])
    for conflict in policy.conflicts:
        allowed &= ~_blocked_by_history(s, masks, conflict.first, conflict.then,
                                        conflict.within_days, triples)
    triples = _take(triples, allowed)
    del allowed

    levels = tuple(Level(o.name, _level_values(s, o.weights, triples), o.tolerance)
                   for o in policy.objectives)
    rows: list[LinearRow] = []
    for lim in policy.limits:
        rows += _global_rows(s, masks, triples, lim.name, "limit", "<=", lim.where,
                             lim.quantity, lim.max, lim.per)
    coverage: list[CoverageRow] = []
    for fl in policy.floors:
        if fl.min_share is None:
            assert fl.quantity is not None and fl.min is not None
            rows += _global_rows(s, masks, triples, fl.name, "floor", ">=", fl.where,
                                 fl.quantity, fl.min, fl.per)
            continue
        group = masks.customer(fl.where)
        size = int(group.sum())
        counts = group[triples.customer] & masks.action(fl.where)[triples.action]
        coverage.append(CoverageRow(fl.name, math.ceil(fl.min_share * size - 1e-9), size,
                                    _shared(_positions(counts), rows), fl.min_share))
    caps = tuple(_cap_spec(s, masks, triples, cap.name, cap.where, cap.max, cap.window_days,
                           warnings) for cap in policy.caps)
    conflicts = tuple(ConflictSpec(c.name, c.within_days, *_conflict_masks(masks, triples,
                                                                          c.first, c.then))
                      for c in policy.conflicts)
    review = np.full(len(triples), -1,
                     dtype=np.int8 if len(policy.reviews) < 127 else np.int16)
    for k, rev in reversed(list(enumerate(policy.reviews))):
        hit = masks.customer(rev.where)[triples.customer] & masks.action(rev.where)[
            triples.action]
        review[hit] = k
    if s.dropped_history_rows:
        warnings.append(f"{s.dropped_history_rows} history row(s) name customers missing from "
                        "customers.parquet and were ignored")
    return Problem(n_cust, n_act, horizon, triples, levels, tuple(rows), tuple(coverage),
                   caps, conflicts, review, tuple(r.name for r in policy.reviews), tuple(warnings))


class PolicyMasks:
    """Customer and action masks of the policy's filters, computed once each."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    def _bound(self, where: Where) -> BoundWhere:
        return self.s.where(where)

    def customer(self, where: Where) -> np.ndarray:
        key = (id(where), "c")
        if key not in self._cache:
            self._cache[key] = table_mask(self.s.customers, self._bound(where).customer)
        return self._cache[key]

    def action(self, where: Where) -> np.ndarray:
        key = (id(where), "a")
        if key not in self._cache:
            self._cache[key] = table_mask(self.s.actions, self._bound(where).action)
        return self._cache[key]

    def history_action(self, where: Where) -> np.ndarray:
        """Which history rows match the action part; retired actions match on channel only."""
        h = self.s.history
        conditions = self._bound(where).action
        known = h.action >= 0
        mask = np.zeros(len(h), dtype=bool)
        mask[known] = self.action(where)[h.action[known]]
        channel_only = all(c.key.removeprefix("action.") == "channel" for c in conditions)
        if (~known).any() and channel_only:
            frame = pd.DataFrame({"channel": h.channel[~known]})
            mask[~known] = table_mask(frame, conditions)
        return mask


def candidate_triples(s: Scenario) -> Triples:
    """Every scored (customer, action, day), before rules and history conflicts remove any
    (for explanations, which must name what removed an option)."""
    return _expand_days(s)


def quantity_values(s: Scenario, name: str, t: Triples) -> np.ndarray:
    """A quantity (KPI, numeric action column or `contacts`) per triple."""
    return _quantity(s, name, t)


def _expand_days(s: Scenario) -> Triples:
    """Score rows × days, sorted by (customer, day, action); no copy or sort when the score
    rows already are in that order (one day, or one row per day in key order)."""
    sc = s.scores
    n = len(sc)
    index = np.int32 if n * s.horizon < 2**31 else np.int64
    if sc.day is None and s.horizon == 1:  # scores are sorted by (customer, action)
        return Triples(sc.customer, sc.action, _day_zero(n), np.arange(n, dtype=index))
    if sc.day is None:
        horizon = s.horizon
        row = np.tile(np.arange(n, dtype=index), horizon)
        day = np.repeat(np.arange(horizon, dtype=np.int16), n)
    else:
        row = np.arange(n, dtype=index)
        day = sc.day
    cust, act = sc.customer[row], sc.action[row]
    order = np.lexsort((act, day, cust))
    return Triples(cust[order], act[order], day[order], row[order])


def _take(t: Triples, keep: np.ndarray) -> Triples:
    """The triples where the bool mask `keep` holds (all of them: the same object)."""
    if keep.all():
        return t
    customer = t.customer[keep]
    day = _day_zero(len(customer)) if t.day.strides == (0,) else t.day[keep]
    return Triples(customer, t.action[keep], day, t.row[keep])


def _day_zero(n: int) -> np.ndarray:
    """Day 0 for n triples of a one-day plan: a read-only view of one value (a 10M-customer
    catalogue spends no memory on a column that says nothing)."""
    return np.broadcast_to(np.zeros(1, dtype=np.int16), (n,))


def _quantity(s: Scenario, name: str, t: Triples) -> np.ndarray:
    """A quantity per triple: float32 when that holds it exactly (float32 KPIs, contacts),
    float64 otherwise."""
    source, col = quantity_source(s, name)
    if source == "contacts":
        return np.ones(len(t), dtype=np.float32)
    if source == "kpi":
        return s.scores.column(col)[t.row]
    per_action = s.actions[col].to_numpy(np.float64)
    if (per_action.astype(np.float32) == per_action).all():
        per_action = per_action.astype(np.float32)
    return per_action[t.action]


def _level_values(s: Scenario, weights: tuple[tuple[str, float], ...], t: Triples) -> np.ndarray:
    """Sum of weight × quantity; a lone quantity of weight 1 keeps its own dtype."""
    if len(weights) == 1 and weights[0][1] == 1.0:
        return _quantity(s, weights[0][0], t)
    total = np.zeros(len(t))
    for name, weight in weights:
        total += weight * _quantity(s, name, t)
    return total


def _global_rows(s: Scenario, masks: PolicyMasks, t: Triples, name: str, kind: RowKind,
                 sense: Sense, where: Where, quantity: str, rhs: float,
                 per: str) -> list[LinearRow]:
    values = _quantity(s, quantity, t)
    # a triple with a zero coefficient does not touch the row: leave it out
    match = masks.customer(where)[t.customer] & masks.action(where)[t.action] & (values != 0)
    if per == "horizon":
        idx = _positions(match)
        return [LinearRow(name, kind, sense, rhs, idx, values[idx], None, name)]
    rows = []
    for d, date in enumerate(s.dates()):
        idx = _positions(match & (t.day == d))
        rows.append(LinearRow(f"{name} [{date.isoformat()}]", kind, sense, rhs, idx,
                              values[idx], d, name))
    return rows


def _shared(index: np.ndarray, rows: list[LinearRow]) -> np.ndarray:
    """A global row's own index array when it holds the same positions (a coverage floor and
    a value floor over one group, say): one array in memory instead of two."""
    for row in rows:
        if len(row.index) == len(index) and np.array_equal(row.index, index):
            return row.index
    return index


def _positions(mask: np.ndarray) -> np.ndarray:
    """Indices where a mask holds, int32 when they fit (half the memory at scale)."""
    idx = np.flatnonzero(mask)
    return idx.astype(np.int32) if len(mask) < 2**31 else idx


def _blocked_by_history(s: Scenario, masks: PolicyMasks, first: Where, then: Where, lag: int,
                        t: Triples) -> np.ndarray:
    """Triples in `then` that a history contact in `first` already forbids."""
    h = s.history
    group = masks.customer(first) & masks.customer(then)
    hit = group[h.customer] & masks.history_action(first)
    if not hit.any():
        return np.zeros(len(t), dtype=bool)
    latest = np.full(len(s.customers), -(10**9), dtype=np.int64)
    np.maximum.at(latest, h.customer[hit], h.day[hit])
    in_b = masks.action(then)[t.action]
    return in_b & (t.day.astype(np.int64) <= latest[t.customer] + lag)


def _cap_spec(s: Scenario, masks: PolicyMasks, t: Triples, name: str, where: Where, cap: int,
              window: int, warnings: list[str]) -> CapSpec:
    """Which triples a cap counts, and each customer's room left by history per window end."""
    group = masks.customer(where)
    counts = group[t.customer] & masks.action(where)[t.action]
    h = s.history
    h_hit = group[h.customer] & masks.history_action(where)
    left = np.empty((len(s.customers), s.horizon), dtype=np.int16)
    over = 0
    for d in range(s.horizon):
        used = np.bincount(h.customer[h_hit & (h.day >= d - window + 1)],
                           minlength=len(s.customers))
        over += int((used > cap).sum())
        left[:, d] = np.clip(cap - used, 0, np.iinfo(np.int16).max)
    if over:
        warnings.append(f"cap '{name}': history alone already exceeds the cap in {over} "
                        "customer-day window(s); the plan adds no contact to those windows")
    return CapSpec(name, window, cap, counts, left)


def _conflict_masks(masks: PolicyMasks, t: Triples, first: Where,
                    then: Where) -> tuple[np.ndarray, np.ndarray]:
    group = masks.customer(first) & masks.customer(then)
    in_group = group[t.customer]
    return (in_group & masks.action(first)[t.action], in_group & masks.action(then)[t.action])


def local_rows(t: Triples, caps: tuple[CapSpec, ...],
               conflicts: tuple[ConflictSpec, ...]) -> LocalRows:
    """Caps (one row per customer and window end) and plan-plan conflicts (one row per pair)
    as one CSR of packing rows; rows that can never bind are left out."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []
    names: list[str] = []
    for cap in caps:
        names.append(cap.name)
        parts += _cap_rows(t, cap, len(names) - 1)
    for conflict in conflicts:
        names.append(conflict.name)
        parts += _conflict_rows(t, conflict, len(names) - 1)
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return LocalRows(np.zeros(1, np.int64), z, z.astype(np.int32), z.astype(np.int32),
                         z.astype(np.int32), tuple(names))
    lengths = np.concatenate([p[0] for p in parts])
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return LocalRows(
        indptr=indptr,
        indices=np.concatenate([p[1] for p in parts]).astype(np.int64),
        rhs=np.concatenate([p[2] for p in parts]).astype(np.int32),
        customer=np.concatenate([p[3] for p in parts]).astype(np.int32),
        source=np.concatenate([np.full(len(p[0]), p[4], np.int32) for p in parts]),
        names=tuple(names),
    )


def _cap_rows(t: Triples, cap: CapSpec, source: int):
    """One row per (customer, window end d) whose eligible triples exceed what is left,
    but for rows a later one implies: when no triple of the customer leaves the window
    between ends d and d + 1 and no more is left at d + 1, the row at d + 1 holds a
    superset with no more room. A cap whose window spans the horizon would otherwise give
    one nested row per day (Bigler GS1's fixed model: 79,981, where 1,541 say the same)."""
    in_cap = np.flatnonzero(cap.counts)
    n_days = cap.left.shape[1]
    # (customer, day) pairs with a counted triple: what leaves a window when it moves on
    present = np.unique(t.customer[in_cap].astype(np.int64) * n_days + t.day[in_cap])
    out = []
    for d in range(n_days):
        idx = in_cap[(t.day[in_cap] >= d - cap.window + 1) & (t.day[in_cap] <= d)]
        if not len(idx):
            continue
        cust = t.customer[idx]
        starts = np.flatnonzero(np.concatenate([[True], cust[1:] != cust[:-1]]))
        counts = np.diff(np.concatenate([starts, [len(idx)]]))
        owner = cust[starts]
        room = cap.left[owner, d].astype(np.int64)
        binding = counts > room
        if d + 1 < n_days:
            leaving = d - cap.window + 1
            leaves = np.zeros(len(owner), dtype=bool) if leaving < 0 else np.isin(
                owner.astype(np.int64) * n_days + leaving, present)
            binding &= leaves | (cap.left[owner, d + 1] > room)
        if not binding.any():
            continue
        keep = np.repeat(binding, counts)
        out.append((counts[binding], idx[keep], room[binding], owner[binding], source))
    return out


def _conflict_rows(t: Triples, conflict: ConflictSpec, source: int):
    """Rows x_p + x_q <= 1 for distinct triples p in A, q in B, 0 <= day_q - day_p <= lag."""
    a_idx = np.flatnonzero(conflict.first)
    b_idx = np.flatnonzero(conflict.then)
    if not len(a_idx) or not len(b_idx):
        return []
    # pair every A triple with the B triples of the same customer (both sorted by customer)
    b_cust = t.customer[b_idx]
    lo = np.searchsorted(b_cust, t.customer[a_idx], side="left")
    hi = np.searchsorted(b_cust, t.customer[a_idx], side="right")
    n_pairs = hi - lo
    p = np.repeat(a_idx, n_pairs)
    offsets = np.arange(n_pairs.sum()) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    q = b_idx[np.repeat(lo, n_pairs) + offsets]
    gap = t.day[q].astype(np.int64) - t.day[p].astype(np.int64)
    ok = (p != q) & (gap >= 0) & (gap <= conflict.lag)
    p, q = p[ok], q[ok]
    lo_pq, hi_pq = np.minimum(p, q), np.maximum(p, q)
    pairs = np.unique(np.stack([lo_pq, hi_pq], axis=1), axis=0)
    if not len(pairs):
        return []
    n = len(pairs)
    return [(np.full(n, 2), pairs.reshape(-1), np.ones(n, np.int32), t.customer[pairs[:, 0]],
             source)]
