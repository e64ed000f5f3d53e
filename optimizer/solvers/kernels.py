"""Compiled loops for the dual evaluation: the hot path reads the value data once.

A dual evaluation prices every eligible triple and keeps, per (customer, day, class), the
best one; then a small dynamic program per customer picks the day choices. In numpy the
segment maximum and its arg-max alone cost a dozen array passes (reduceat, repeat, compare,
reduceat again) and the program a few passes per transition; these numba loops do each in
one pass over cache-sized chunks. They are plain loops over arrays, so a block of customers
can run them anywhere numba runs (a Dask worker included).

Ties are broken exactly as the numpy code did: the first (lowest) position of a group wins,
the first transition (in transition order) wins a state, the lowest final state wins.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"nogil": True, "cache": True}


@numba.njit(**_JIT)
def subtract_scaled(rv: np.ndarray, coef: np.ndarray, lo: int, price: float) -> None:
    """rv[k] -= price * coef[lo + k], in float64 (one fused pass, no temporary)."""
    part = coef[lo:lo + rv.shape[0]]
    for k in range(rv.shape[0]):
        rv[k] -= price * np.float64(part[k])


@numba.njit(**_JIT)
def _group_best(rv: np.ndarray, starts: np.ndarray, g: int, lo: int, hi: int
                ) -> tuple[float, int]:
    """The largest of `rv` over group g (positions starts[g] .. starts[g+1]-1, the last
    group up to `hi`; `rv` starts at position `lo`) and its first position in `rv`."""
    s = starts[g] - lo
    e = (starts[g + 1] if g + 1 < starts.shape[0] else hi) - lo
    if e > hi - lo:
        e = hi - lo
    top = rv[s]
    arg = s
    for k in range(s + 1, e):
        if rv[k] > top:
            top = rv[k]
            arg = k
    return top, arg


@numba.njit(**_JIT)
def segment_best(rv: np.ndarray, starts: np.ndarray, g0: int, g1: int, lo: int, hi: int,
                 slots: np.ndarray, best: np.ndarray, where: np.ndarray) -> None:
    """For groups g0..g1-1 the largest of `rv` (positions from `lo`) and its first
    position, stored at the group's dense slot."""
    for g in range(g0, g1):
        top, arg = _group_best(rv, starts, g, lo, hi)
        slot = slots[g]
        best[slot] = top
        where[slot] = arg + lo


@numba.njit(**_JIT)
def day_program(best: np.ndarray, where: np.ndarray, n: int, horizon: int, n_classes: int,
                n_states: int, tr_source: np.ndarray, tr_choice: np.ndarray,
                tr_target: np.ndarray, tr_bonus: np.ndarray, need_start: np.ndarray,
                need_cap: np.ndarray, need_count: np.ndarray, caps_left: np.ndarray,
                totals: np.ndarray, picks: np.ndarray, ends: np.ndarray) -> None:
    """Each customer's optimal day choices over the transition system.

    `best`/`where` are (day, class, customer) flattened; `caps_left` is (cap, customer, day);
    transition t needs, for j in need_start[t] .. need_start[t+1]-1, at least
    need_count[j] room left in cap need_cap[j]. Writes each customer's optimum to
    `totals`, the chosen position of each day (or -1) to `picks` (customer, day) and the
    final state to `ends` (it records which coverage floors the customer reached)."""
    n_tr = tr_source.shape[0]
    value = np.empty(n_states)
    nxt = np.empty(n_states)
    back = np.empty((horizon, n_states), dtype=np.int32)
    neg = -np.inf
    for i in range(n):
        for s in range(n_states):
            value[s] = neg
        value[0] = 0.0
        for d in range(horizon):
            for s in range(n_states):
                nxt[s] = neg
                back[d, s] = -1
            for t in range(n_tr):
                src = value[tr_source[t]]
                if src == neg:
                    continue
                k = tr_choice[t]
                if k >= 0:
                    cand = src + best[(d * n_classes + k) * n + i]
                    cand += tr_bonus[t]
                else:
                    cand = src
                for j in range(need_start[t], need_start[t + 1]):
                    if caps_left[need_cap[j], i, d] < need_count[j]:
                        cand = neg
                target = tr_target[t]
                if back[d, target] < 0 or cand > nxt[target]:
                    nxt[target] = cand
                    back[d, target] = t
            for s in range(n_states):
                value[s] = nxt[s]
        final = 0
        for s in range(1, n_states):
            if value[s] > value[final]:
                final = s
        totals[i] = value[final]
        ends[i] = final
        state = final
        for d in range(horizon - 1, -1, -1):
            t = back[d, state]
            k = tr_choice[t]
            picks[i, d] = where[(d * n_classes + k) * n + i] if k >= 0 else -1
            state = tr_source[t]


@numba.njit(**_JIT)
def one_day_choice(rv: np.ndarray, starts: np.ndarray, g0: int, g1: int, lo: int, hi: int,
                   slots: np.ndarray, n: int, class_bonus: np.ndarray, totals: np.ndarray,
                   picks: np.ndarray, ends: np.ndarray) -> None:
    """The one-day program, in one pass over groups g0..g1-1 that hold whole customers:
    each group's best position (as in `segment_best`), and for each customer no contact or
    the group with the largest value plus its class's bonus, with no dense (class,
    customer) table in between. Groups run by (customer, class), so ties go to no contact
    first, then the lowest class, then the first position. Customers with no group keep
    what the caller set (no contact)."""
    current = -1
    top = 0.0
    arg = -1
    chosen_class = -1
    for g in range(g0, g1):
        best, at = _group_best(rv, starts, g, lo, hi)
        slot = slots[g]
        customer = slot % n
        klass = slot // n
        if customer != current:
            if current >= 0:
                totals[current] = top
                ends[current] = chosen_class
                picks[current, 0] = arg
            current = customer
            top = 0.0
            arg = -1
            chosen_class = -1
        candidate = best + class_bonus[klass]
        if candidate > top:
            top = candidate
            arg = at + lo
            chosen_class = klass
    if current >= 0:
        totals[current] = top
        ends[current] = chosen_class
        picks[current, 0] = arg


@numba.njit(**_JIT)
def subtract_scaled_at(rv: np.ndarray, index: np.ndarray, coef: np.ndarray, a: int, b: int,
                       lo: int, price: float) -> None:
    """rv[index[j] - lo] -= price * coef[j] for j in a .. b-1: a sparse row's share of one
    chunk (its positions sorted, so the writes stay inside the cache-sized chunk)."""
    for j in range(a, b):
        rv[index[j] - lo] -= price * np.float64(coef[j])


@numba.njit(**_JIT)
def sum_at(values: np.ndarray, positions: np.ndarray) -> float:
    """sum of values[positions] in float64, without a gathered copy."""
    total = 0.0
    for j in range(positions.shape[0]):
        total += np.float64(values[positions[j]])
    return total


@numba.njit(**_JIT)
def sum_where_marked(index: np.ndarray, coef: np.ndarray, x: np.ndarray) -> float:
    """sum of coef[j] over the j with x[index[j]] set: a row's activity in one read of the
    row (index sorted, so the reads of x run forward)."""
    total = 0.0
    for j in range(index.shape[0]):  # branch-free: x is set at random
        total += np.float64(coef[j]) * x[index[j]]
    return total


@numba.njit(**_JIT)
def customers_where_marked(index: np.ndarray, x: np.ndarray, customer: np.ndarray) -> int:
    """How many distinct customers have a position among `index` with x set (index sorted;
    positions run by customer, so equal customers are adjacent)."""
    count = 0
    last = -1
    for j in range(index.shape[0]):
        p = index[j]
        if x[p]:
            c = customer[p]
            if c != last:
                count += 1
                last = c
    return count


@numba.njit(**_JIT)
def set_flags(flags: np.ndarray, positions: np.ndarray, value: bool) -> None:
    """flags[positions] = value, without numpy's fancy-index machinery."""
    for j in range(positions.shape[0]):
        flags[positions[j]] = value
