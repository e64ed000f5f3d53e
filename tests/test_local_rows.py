"""The caps as packing rows (`optimizer.problem.local_rows`) against the cap's definition.

Rows a later window's row implies are left out (a cap whose window spans the horizon gave
one nested row per day); a plan must keep the rows left exactly when it keeps the cap:
for every customer and window end d, at most `left[customer, d]` counted triples in the
window. History makes `left` differ by day, which the pruning must respect.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.problem import CapSpec, Triples, local_rows


def _keeps_cap(t: Triples, cap: CapSpec, x: np.ndarray) -> bool:
    """The definition, one (customer, window end) at a time."""
    for c in range(cap.left.shape[0]):
        for d in range(cap.left.shape[1]):
            inside = (t.customer == c) & cap.counts & x & \
                (t.day > d - cap.window) & (t.day <= d)
            if int(inside.sum()) > int(cap.left[c, d]):
                return False
    return True


def _keeps_rows(t: Triples, cap: CapSpec, x: np.ndarray) -> bool:
    rows = local_rows(t, (cap,), ())
    for r in range(len(rows)):
        members = rows.indices[rows.indptr[r]: rows.indptr[r + 1]]
        if int(x[members].sum()) > int(rows.rhs[r]):
            return False
    return True


@st.composite
def capped(draw: st.DrawFn) -> tuple[Triples, CapSpec, list[np.ndarray]]:
    n_customers = draw(st.integers(1, 3))
    horizon = draw(st.integers(1, 6))
    pairs = sorted(set(draw(st.lists(st.tuples(st.integers(0, n_customers - 1),
                                               st.integers(0, horizon - 1),
                                               st.integers(0, 2)), min_size=1, max_size=14))))
    customer = np.array([p[0] for p in pairs], dtype=np.int32)
    day = np.array([p[1] for p in pairs], dtype=np.int16)
    action = np.array([p[2] for p in pairs], dtype=np.int32)
    t = Triples(customer, action, day, np.arange(len(pairs), dtype=np.int64))
    window = draw(st.integers(1, horizon + 2))
    most = draw(st.integers(0, 3))
    # history: contacts before and inside the horizon's windows use up some of the room
    used = np.array(draw(st.lists(st.integers(0, 2), min_size=n_customers * horizon,
                                  max_size=n_customers * horizon))).reshape(n_customers, horizon)
    left = np.maximum(most - used, 0).astype(np.int16)
    counts = np.array(draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs))))
    cap = CapSpec("cap", window, most, counts, left)
    plans = [np.array(draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs))))
             for _ in range(6)]
    return t, cap, plans


@settings(max_examples=300, deadline=None)
@given(capped())
def test_rows_hold_exactly_when_the_cap_holds(case: tuple[Triples, CapSpec, list[np.ndarray]]
                                              ) -> None:
    t, cap, plans = case
    for x in plans:
        assert _keeps_rows(t, cap, x) == _keeps_cap(t, cap, x)


def test_a_horizon_long_cap_gives_one_row_per_customer() -> None:
    # 2 customers with a triple on each of 5 days, at most 2 in any 10 days, no history:
    # the windows ending on days 0-4 are nested, and only the last one's row is needed
    customer = np.repeat(np.arange(2, dtype=np.int32), 5)
    day = np.tile(np.arange(5, dtype=np.int16), 2)
    t = Triples(customer, np.zeros(10, np.int32), day, np.arange(10, dtype=np.int64))
    cap = CapSpec("cap", 10, 2, np.ones(10, dtype=bool), np.full((2, 5), 2, np.int16))
    rows = local_rows(t, (cap,), ())
    assert len(rows) == 2
    assert np.diff(rows.indptr).tolist() == [5, 5]
    # with room 1 on days 0-2 and 2 later, the window ending on day 2 (three triples, room
    # 1) is implied by no later row and stays; day 1's row is implied by day 2's, day 3's by
    # day 4's, and day 0's window holds one triple, within its room
    left = np.full((2, 5), 2, np.int16)
    left[:, :3] = 1
    rows = local_rows(t, (CapSpec("cap", 10, 2, np.ones(10, dtype=bool), left),), ())
    assert sorted(np.diff(rows.indptr).tolist()) == [3, 3, 5, 5]
