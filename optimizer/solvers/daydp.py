"""Exact per-customer subproblems when every customer gets at most one contact a day.

With the global rows priced out, each customer's problem is: pick at most one eligible
action per day, maximizing the sum of reduced values (plus a bonus for reaching a coverage
floor's group), under the customer's own caps and conflicts. Only an action's *class*
matters to those rules (which cap filters, conflict sides and coverage sets it belongs to),
so each day reduces to "no contact, or the best action of one class". A dynamic program over
the days then tracks the little state the rules need: contacts counted by each multi-day
cap (a count, or a bitmask of recent days for windows shorter than the horizon), days since
the last `first` contact of each conflict, and whether each coverage floor is reached yet.
Every step is one array operation over all customers at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.problem import CapSpec, Problem
from optimizer.solvers.threads import thread_map

NEG = -np.inf
ValuesAt = Callable[[int, int], np.ndarray]  # reduced values of positions [lo, hi)


@dataclass(frozen=True)
class Transition:
    source: int  # state before the day
    choice: int  # class chosen, or -1 for no contact
    target: int  # state after the day
    needs: tuple[tuple[int, int], ...]  # (cap, contacts in the window ending today) to check
    covers: tuple[int, ...]  # coverage floors first reached by this choice


def _conflict_radix(lag: int, horizon: int) -> int:
    """States of one conflict: 0 (no `first` within reach) or days since the last one; when
    the lag spans the horizon, only whether there was one."""
    return 2 if lag >= horizon - 1 else lag + 1


def one_contact_a_day(problem: Problem) -> bool:
    """True when some cap limits every customer to one contact a day over all actions."""
    return any(
        cap.window == 1 and cap.max <= 1 and bool(cap.counts.all()) for cap in problem.caps
    )


def stateful_caps(problem: Problem) -> list[CapSpec]:
    """Caps the day program must track. With one contact a day, a one-day cap only forbids
    its actions where no room is left; so does any cap when the horizon is a single day."""
    if problem.horizon == 1:
        return []
    return [c for c in problem.caps if c.window > 1]


CHUNK = 1 << 18  # positions per evaluation chunk: the chunk's arrays stay in cache


class DayChoiceOracle:
    """Solves all customers' subproblems exactly for given reduced values and bonuses."""

    max_states = 4096

    @classmethod
    def check(cls, problem: Problem) -> None:
        """Raise ValueError when the oracle cannot solve this problem's subproblems."""
        if not one_contact_a_day(problem):
            raise ValueError("the day-choice oracle needs a one-contact-a-day cap")
        n_states = 1
        for cap in stateful_caps(problem):
            n_states *= (min(cap.max, problem.horizon) + 1 if cap.window >= problem.horizon
                         else 1 << (cap.window - 1))
        for conflict in problem.conflicts:
            if conflict.lag >= 1 and problem.horizon > 1:
                n_states *= _conflict_radix(conflict.lag, problem.horizon)
        n_states *= 2 ** len(problem.coverage)
        if n_states > cls.max_states:
            raise ValueError(f"too many subproblem states ({n_states})")

    def __init__(self, problem: Problem) -> None:
        self.check(problem)
        from optimizer.solvers import kernels  # numba loads with the first oracle

        self._kernels = kernels
        t = problem.triples
        self.n = problem.n_customers
        self.horizon = h = problem.horizon
        self.size = len(t)
        self.caps: list[CapSpec] = stateful_caps(problem)
        allowed = np.ones(len(t), dtype=bool)
        for cap in problem.caps:  # a cap the program does not track forbids where it is full
            if not any(cap is c for c in self.caps):
                allowed &= ~(cap.counts & (cap.left[t.customer, t.day] == 0))
        # multi-day caps, conflicts that reach another day, and coverage sets give the bits
        self.conflicts = [c for c in problem.conflicts if c.lag >= 1 and h > 1]
        bits = [c.counts for c in self.caps]
        bits += [m for c in self.conflicts for m in (c.first, c.then)]
        for cov in problem.coverage:
            mask = np.zeros(len(t), dtype=bool)
            mask[cov.index] = True
            bits.append(mask)
        self.n_coverage = len(problem.coverage)
        signature = np.zeros(len(t), dtype=np.int32 if len(bits) < 31 else np.int64)
        for j, mask in enumerate(bits):
            signature |= mask.astype(signature.dtype) << j
        if len(bits) <= 16:  # few bits: classes by counting, no sort of the triples
            classes = np.flatnonzero(np.bincount(signature, minlength=1 << len(bits)))
            lookup = np.zeros(1 << len(bits), dtype=np.int32)
            lookup[classes] = np.arange(len(classes), dtype=np.int32)
            klass = lookup[signature]
        else:
            classes, klass = np.unique(signature, return_inverse=True)
        del signature
        self.class_bits = [[bool(c >> j & 1) for j in range(len(bits))] for c in classes]
        self.n_classes = len(classes)
        klass = klass.astype(np.int32)
        self._build_states()
        # group triples by (customer, day, class) once; each evaluation is a segment max.
        # Triples come sorted by (customer, day, action): when the class never decreases
        # within a (customer, day), that order already groups them and no sort is needed.
        same = (t.customer[1:] == t.customer[:-1]) & (t.day[1:] == t.day[:-1])
        in_order = bool((~same | (klass[1:] >= klass[:-1])).all())
        del same
        if in_order:  # keep every triple; forbidden ones are priced -inf at evaluation
            order = None
            self.blocked = np.flatnonzero(~allowed)
            cust, day, cls = t.customer, t.day, klass
        else:
            key = (t.customer.astype(np.int64) * h + t.day) * self.n_classes + klass
            key = np.where(allowed, key, -1)
            order = np.argsort(key, kind="stable")
            order = order[key[order] >= 0]
            del key
            self.blocked = np.zeros(0, dtype=np.int64)
            cust, day, cls = t.customer[order], t.day[order], klass[order]
        del allowed
        # the oracle's positions: None when they are the problem's triples, in order
        self.order = order
        self.size = len(t) if order is None else len(order)
        new_group = np.ones(self.size, dtype=bool)
        new_group[1:] = (cust[1:] != cust[:-1]) | (day[1:] != day[:-1]) | (cls[1:] != cls[:-1])
        small = self.size < 2**31 and self.n * self.horizon * self.n_classes < 2**31
        starts = np.flatnonzero(new_group)
        if small:  # int32 halves the two group arrays
            starts = starts.astype(np.int32)
        del new_group, cust, day, cls
        self.starts = starts
        first = starts if order is None else order[starts]
        # the (day, class, customer) table of group maxima; a one-day plan needs none (see
        # `kernels.one_day_choice`)
        cells = self.n * self.horizon * self.n_classes if self.horizon > 1 else 0
        self._dense = np.full(cells, NEG)
        self._where = np.full(cells, -1, dtype=np.int64)
        # dense slot of each group in (day, class, customer) layout: one contiguous row per
        # (day, class), so the DP reads whole customer vectors
        self.slot = ((t.day[first].astype(np.int64) * self.n_classes + klass[first])
                     * self.n + t.customer[first])
        if small:
            self.slot = self.slot.astype(np.int32)
        # evaluation chunks: about CHUNK positions each, cut at group starts; for one day
        # at customer starts, as the fused kernel finishes each customer within its chunk
        cut = np.searchsorted(starts, np.arange(0, self.size, CHUNK))
        if h == 1 and len(starts):
            owner = t.customer[first]
            # the fused kernel finishes a customer within one chunk: groups must run by
            # customer (the problem's triples are sorted so)
            assert bool((owner[1:] >= owner[:-1]).all()), "groups out of customer order"
            new_customer = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
            cut = new_customer[np.minimum(np.searchsorted(new_customer, cut),
                                          len(new_customer) - 1)]
            del owner, new_customer
        self.chunk_groups = np.unique(np.append(cut, len(starts)))

    # --- states and transitions (built once, customer-independent) --------------------------

    def _build_states(self) -> None:
        h = self.horizon
        radices: list[int] = []
        for cap in self.caps:
            if cap.window >= h:
                radices.append(min(cap.max, h) + 1)  # contacts so far
            else:
                radices.append(1 << (cap.window - 1))  # which of the last w-1 days had one
        for conflict in self.conflicts:
            radices.append(_conflict_radix(conflict.lag, h))
        radices += [2] * self.n_coverage
        self.radices = radices
        n_states = int(np.prod(radices)) if radices else 1
        if n_states > self.max_states:
            raise ValueError(f"too many subproblem states ({n_states})")
        self.n_states = n_states
        states = list(itertools.product(*[range(r) for r in radices])) if radices else [()]
        index = {s: i for i, s in enumerate(states)}
        transitions: list[Transition] = []
        for s in states:
            for choice in range(-1, self.n_classes):
                step = self._step(s, choice)
                if step is not None:
                    target, needs, covers = step
                    transitions.append(Transition(index[s], choice, index[target], needs,
                                                  covers))
        self.transitions = transitions
        # the same system as flat arrays for the compiled program
        self._tr_source = np.array([tr.source for tr in transitions], dtype=np.int64)
        self._tr_choice = np.array([tr.choice for tr in transitions], dtype=np.int64)
        self._tr_target = np.array([tr.target for tr in transitions], dtype=np.int64)
        self._need_start = np.cumsum([0] + [len(tr.needs) for tr in transitions],
                                     dtype=np.int64)
        self._need_cap = np.array([c for tr in transitions for c, _ in tr.needs],
                                  dtype=np.int64)
        self._need_count = np.array([k for tr in transitions for _, k in tr.needs],
                                    dtype=np.int64)
        self._caps_left = (np.stack([cap.left for cap in self.caps]) if self.caps
                           else np.zeros((0, 1, 1), dtype=np.int16))
        # which coverage floors each end state has reached (its last n_coverage digits),
        # and, for one day, which floors each class reaches (row 0: no contact)
        n_cov = self.n_coverage
        self._state_covers = np.array([list(s[len(s) - n_cov:]) if n_cov else []
                                       for s in states], dtype=np.int64).reshape(
                                           len(states), n_cov)
        first_cov = len(self.caps) + 2 * len(self.conflicts)
        self._class_covers = np.array(
            [[0] * n_cov] + [[int(bits[first_cov + f]) for f in range(n_cov)]
                             for bits in self.class_bits], dtype=np.int64).reshape(
                                 self.n_classes + 1, n_cov)

    def _step(self, state: tuple[int, ...], choice: int):
        bits = self.class_bits[choice] if choice >= 0 else None
        new: list[int] = []
        needs: list[tuple[int, int]] = []
        pos = 0
        for c, cap in enumerate(self.caps):
            hit = int(bits[pos]) if bits else 0
            value = state[c]
            if cap.window >= self.horizon:
                count = value + hit
                if count > min(cap.max, self.horizon):
                    return None
                new.append(count)
                if hit:
                    needs.append((c, count))
            else:
                count = bin(value).count("1") + hit
                if count > cap.max:
                    return None
                if hit:
                    needs.append((c, count))
                new.append(((value << 1) | hit) & ((1 << (cap.window - 1)) - 1))
            pos += 1
        for k, conflict in enumerate(self.conflicts):
            first = bool(bits[pos]) if bits else False
            then = bool(bits[pos + 1]) if bits else False
            pos += 2
            since = state[len(self.caps) + k]
            if then and since and since <= conflict.lag:
                return None
            if conflict.lag >= self.horizon - 1:  # every later day is within the lag
                new.append(1 if (first or since) else 0)
            else:
                limit = conflict.lag
                new.append(1 if first else (since + 1 if since and since < limit else 0))
        covers: list[int] = []
        base = len(self.caps) + len(self.conflicts)
        for f in range(self.n_coverage):
            hit = bool(bits[pos + f]) if bits else False
            done = state[base + f]
            if hit and not done:
                covers.append(f)
            new.append(1 if (hit or done) else 0)
        return tuple(new), tuple(needs), tuple(covers)

    # --- evaluation -------------------------------------------------------------------------

    def best_per_class(self, values: np.ndarray | ValuesAt) -> tuple[np.ndarray, np.ndarray]:
        """Best reduced value and its position for each (customer, day, class).

        `values` are the reduced values of this oracle's positions (`self.order`), or a function
        giving them for positions [lo, hi): then they are made chunk by chunk and never
        exist whole, so one evaluation reads the value data once."""
        assert self.horizon > 1, "a one-day plan has no table of maxima: see _one_day"
        dense, where = self._dense, self._where  # empty slots stay -inf / -1 for good
        at = values if callable(values) else (lambda lo, hi: values[lo:hi])

        def chunk(groups: tuple[int, int]) -> None:
            g0, g1 = groups
            lo, hi, rv = self._chunk_values(at, g0, g1)
            # ties go to the first triple of the group: the lowest action index (determinism)
            self._kernels.segment_best(rv, self.starts, g0, g1, lo, hi, self.slot, dense, where)

        # chunks write disjoint slots: threads share the cores with no effect on the result
        thread_map(chunk, itertools.pairwise(self.chunk_groups.tolist()))
        shape = (self.horizon, self.n_classes, self.n)
        return dense.reshape(shape), where.reshape(shape)

    def _chunk_values(self, at: ValuesAt, g0: int, g1: int) -> tuple[int, int, np.ndarray]:
        """The reduced values of groups g0..g1-1 (positions lo..hi-1), blocked ones -inf."""
        lo = int(self.starts[g0])
        hi = int(self.starts[g1]) if g1 < len(self.starts) else self.size
        rv = at(lo, hi)
        a, b = np.searchsorted(self.blocked, [lo, hi])
        if b > a:
            rv[self.blocked[a:b] - lo] = NEG
        return lo, hi, rv

    def _one_day(self, values: np.ndarray | ValuesAt, class_bonus: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The one-day choice of every customer in one fused pass per chunk (totals, picks
        and chosen class, -1 for none); chunks hold whole customers and run as threads."""
        at = values if callable(values) else (lambda lo, hi: values[lo:hi])
        totals = np.zeros(self.n)
        picks = np.full((self.n, 1), -1, dtype=np.int64)
        ends = np.full(self.n, -1, dtype=np.int32)

        def chunk(groups: tuple[int, int]) -> None:
            g0, g1 = groups
            lo, hi, rv = self._chunk_values(at, g0, g1)
            self._kernels.one_day_choice(rv, self.starts, g0, g1, lo, hi, self.slot, self.n,
                                         class_bonus, totals, picks, ends)

        thread_map(chunk, itertools.pairwise(self.chunk_groups.tolist()))
        return totals, picks, ends

    def solve(self, rv: np.ndarray | ValuesAt,
              bonus: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-customer optimal values and the chosen positions (sorted, in this oracle's
        order) for reduced values `rv` (see `best_per_class`) and coverage bonuses."""
        totals, chosen, _ = self.solve_counted(rv, bonus)
        return totals, chosen

    def solve_counted(self, rv: np.ndarray | ValuesAt, bonus: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`solve`, plus how many customers each coverage floor reaches: the program's end
        state (or one-day class) says it, so no pass over the floors' positions is needed."""
        bonus = np.zeros(self.n_coverage) if bonus is None else np.asarray(bonus, float)
        tr_bonus = np.array([float(sum(bonus[f] for f in tr.covers))
                             for tr in self.transitions], dtype=np.float64)
        if self.horizon == 1:  # no state but coverage: each class's bonus is fixed
            first = self._tr_source == 0
            class_bonus = np.zeros(self.n_classes)
            class_bonus[self._tr_choice[first & (self._tr_choice >= 0)]] = tr_bonus[
                first & (self._tr_choice >= 0)]
            totals, picks, ends = self._one_day(rv, class_bonus)
            # shifted by one: "no contact" (-1) counts in row 0, which covers nothing
            covered = np.bincount(ends + 1, minlength=self.n_classes + 1) @ self._class_covers
        else:
            best, where = self.best_per_class(rv)
            totals = np.empty(self.n)
            picks = np.empty((self.n, self.horizon), dtype=np.int64)
            ends = np.empty(self.n, dtype=np.int32)
            self._kernels.day_program(
                best.reshape(-1), where.reshape(-1), self.n, self.horizon, self.n_classes,
                self.n_states, self._tr_source, self._tr_choice, self._tr_target, tr_bonus,
                self._need_start, self._need_cap, self._need_count, self._caps_left, totals,
                picks, ends)
            covered = np.bincount(ends, minlength=self.n_states) @ self._state_covers
        # positions run by (customer, day): the picks in customer-major order are sorted
        picks = picks.reshape(-1)
        return totals, picks[picks >= 0], covered.astype(float)
