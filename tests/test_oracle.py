"""The compiled subproblem oracle against brute force, customer by customer.

For random small scenarios and random reduced values, every customer's optimum from
`DayChoiceOracle.solve` must equal the best subset of that customer's triples that keeps its
caps (history included), conflicts and one contact a day (the oracle's premise), plus the
coverage bonuses it earns; and the positions it returns must achieve that value.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from optimizer.problem import Problem, build_problem
from optimizer.scenario import load_scenario
from optimizer.solvers.daydp import DayChoiceOracle
from tests.scenario_factory import write_scenario
from tests.test_decomposition import RUN, scenarios

ONE_A_DAY = re.compile(r'(name = "contact cap"\nmax = )\d+(\nwindow_days = )\d+')


def _keeps_rules(problem: Problem, i: int, chosen: list[int]) -> bool:
    t = problem.triples
    days = [int(t.day[p]) for p in chosen]
    if len(set(days)) < len(days) and any(c.window == 1 and c.max <= 1 for c in problem.caps):
        return False
    for cap in problem.caps:
        for d in range(problem.horizon):
            inside = sum(1 for p in chosen
                         if cap.counts[p] and d - cap.window < int(t.day[p]) <= d)
            if inside > int(cap.left[i, d]):
                return False
    for conflict in problem.conflicts:
        for a in chosen:
            for b in chosen:
                if a != b and conflict.first[a] and conflict.then[b] and (
                        0 <= int(t.day[b]) - int(t.day[a]) <= conflict.lag):
                    return False
    return True


def _brute_force(problem: Problem, rv: np.ndarray, bonus: np.ndarray,
                 allowed: np.ndarray) -> np.ndarray:
    t = problem.triples
    best = np.zeros(problem.n_customers)
    members = [set(c.index.tolist()) for c in problem.coverage]
    for i in range(problem.n_customers):
        mine = [p for p in np.flatnonzero(t.customer == i).tolist() if allowed[p]]
        # the oracle applies only under a one-a-day cap: at most one triple per day
        per_day = [[None] + [p for p in mine if t.day[p] == d] for d in range(problem.horizon)]
        for pick in itertools.product(*per_day):
            chosen = [p for p in pick if p is not None]
            if not chosen or not _keeps_rules(problem, i, chosen):
                continue
            value = float(rv[chosen].sum()) + sum(
                float(bonus[f]) for f, m in enumerate(members) if m & set(chosen))
            best[i] = max(best[i], value)
    return best


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=scenarios(), seed=st.integers(0, 2**32 - 1), horizon=st.integers(1, 4))
def test_oracle_matches_brute_force(tmp_path_factory: pytest.TempPathFactory, data: dict,
                                    seed: int, horizon: int) -> None:
    root: Path = tmp_path_factory.mktemp("oracle")
    rng = np.random.default_rng(seed)
    # the day-choice oracle's premise (one contact a day), several days, and a dense
    # history so that caps and conflicts start part-filled
    data["policy"] = re.sub(r"horizon_days = \d+", f"horizon_days = {horizon}",
                            ONE_A_DAY.sub(r"\g<1>1\g<2>1", data["policy"]))
    n_cust, n_act = len(data["customers"]), len(data["actions"])
    data["history"] = (data["history"] or []) + [
        {"customer_id": f"C{int(rng.integers(0, n_cust)):02d}",
         "action_id": f"A{int(rng.integers(0, n_act))}",
         "date": RUN - dt.timedelta(days=int(rng.integers(1, 4)))}
        for _ in range(2 * n_cust)]
    directory = write_scenario(root, **data)
    problem = build_problem(load_scenario(directory, run_date=RUN))
    try:
        oracle = DayChoiceOracle(problem)
    except ValueError:
        event("too many states")
        return
    event(f"compared over {problem.horizon} day(s)")
    rv = rng.normal(size=problem.size).round(2)
    bonus = rng.uniform(0, 2, size=len(problem.coverage)).round(2)
    totals, chosen, counted = oracle.solve_counted(rv.copy(), bonus)
    assert oracle.order is None  # the generated scenarios keep the problem's own order
    allowed = np.ones(problem.size, dtype=bool)
    allowed[oracle.blocked] = False
    expected = _brute_force(problem, rv, bonus, allowed)
    np.testing.assert_allclose(totals, expected, atol=1e-9)
    # the positions returned achieve each customer's value and keep its rules
    assert (np.diff(chosen) > 0).all()
    got = np.zeros(problem.n_customers)
    np.add.at(got, problem.triples.customer[chosen], rv[chosen])
    for f, cov in enumerate(problem.coverage):
        hit = np.zeros(problem.n_customers, dtype=bool)
        hit[problem.triples.customer[np.intersect1d(chosen, cov.index)]] = True
        got += bonus[f] * hit
        assert counted[f] == hit.sum()  # the count the program's end states give
    np.testing.assert_allclose(got, expected, atol=1e-9)
    for i in range(problem.n_customers):
        mine = [int(p) for p in chosen if problem.triples.customer[p] == i]
        assert _keeps_rules(problem, i, mine)
