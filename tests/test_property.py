"""Property tests: random small scenarios with every contract section.

The oracle is independent of the model builder: every subset of the eligible triples is
ranked by its level-1 value and the best one the independent verifier accepts is the
optimum. The exact solver's plan must pass the verifier and reach that value, and when no
subset passes, the run must be infeasible.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from optimizer.outputs import plan_table
from optimizer.run import NoPlanError, RunOptions, solve_scenario
from optimizer.scenario import load_scenario
from optimizer.verify import verify_plan
from tests.scenario_factory import write_scenario

RUN = dt.date(2026, 1, 5)
CHANNELS = ("email", "sms", "call", "mail")
MAX_TRIPLES = 9


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    n_cust = draw(st.integers(1, 3))
    n_act = draw(st.integers(1, 3))
    horizon = draw(st.integers(1, 2))
    customers = [{"customer_id": f"C{i}", "segment": draw(st.sampled_from(["high", "low"])),
                  "consent_sms": draw(st.booleans())} for i in range(n_cust)]
    actions = [{"action_id": f"A{j}", "channel": draw(st.sampled_from(CHANNELS)),
                "cost": float(draw(st.integers(0, 3))),
                "discount": draw(st.sampled_from([0.0, 0.2, 0.4]))} for j in range(n_act)]
    pairs = [(c, a) for c in range(n_cust) for a in range(n_act)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1,
                           max_size=max(1, MAX_TRIPLES // horizon)))
    value = st.integers(-3, 9).map(float)
    scores = [{"customer_id": f"C{c}", "action_id": f"A{a}", "margin": draw(value),
               "clv_delta": draw(value)} for c, a in sorted(chosen)]
    history = [{"customer_id": f"C{draw(st.integers(0, n_cust - 1))}",
                "action_id": f"A{draw(st.integers(0, n_act - 1))}",
                "date": RUN - dt.timedelta(days=draw(st.integers(1, 4)))}
               for _ in range(draw(st.integers(0, 2)))]
    sections = [
        f"[plan]\nhorizon_days = {horizon}\n",
        '[[objective]]\nname = "profit"\nmaximize = { margin = 1.0, cost = -1.0 }\n'
        f"tolerance = {draw(st.sampled_from([0.0, 0.1]))}\n",
        '[[objective]]\nname = "relationship"\nmaximize = { clv_delta = 1.0 }\n',
        f'[[cap]]\nname = "daily"\nmax = {draw(st.integers(1, 2))}\nwindow_days = 1\n',
        f'[[cap]]\nname = "sms"\nwhere = {{ channel = ["sms"] }}\nmax = '
        f"{draw(st.integers(0, 2))}\nwindow_days = {draw(st.integers(1, 5))}\n",
        f'[[limit]]\nname = "contacts"\nsum = "contacts"\nmax = {draw(st.integers(0, 5))}\n'
        f'per = "{draw(st.sampled_from(["day", "horizon"]))}"\n',
        f'[[limit]]\nname = "discount"\nsum = "discount"\nmax = '
        f"{draw(st.sampled_from([0.2, 0.5, 2.0]))}\n",
        f'[[floor]]\nname = "low share"\nwhere = {{ segment = ["low"] }}\nmin_share = '
        f"{draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))}\n",
        f'[[floor]]\nname = "clv"\nsum = "clv_delta"\nmin = {draw(st.integers(-4, 3))}.0\n',
        f'[[conflict]]\nname = "call then mail"\nfirst = {{ channel = ["call", "email"] }}\n'
        f'then = {{ channel = ["mail", "email"] }}\nwithin_days = {draw(st.integers(0, 3))}\n',
        '[[rule]]\nname = "sms consent"\ndeny = { channel = ["sms"] }\n'
        'unless = "consent_sms"\n',
        '[[review]]\nname = "discounts"\nwhere = { discount = { min = 0.3 } }\n',
    ]
    return {"customers": customers, "actions": actions, "scores": scores,
            "history": history or None, "policy": "\n".join(sections)}


def brute_force_optimum(scenario, triples: list[tuple[str, str, dt.date]]) -> float | None:
    """Best level-1 value over all subsets the independent verifier accepts."""
    values = _level1_values(scenario, triples)
    subsets = list(itertools.product((0, 1), repeat=len(triples)))
    totals = np.array([np.dot(s, values) for s in subsets])
    for k in np.argsort(-totals, kind="stable"):
        plan = pd.DataFrame([t for t, on in zip(triples, subsets[k], strict=True) if on],
                            columns=["customer_id", "action_id", "date"])
        if not verify_plan(scenario, plan):
            return float(totals[k])
    return None


def _level1_values(scenario, triples) -> np.ndarray:
    s = scenario
    cust_ids = s.customers["customer_id"].tolist()
    act_ids = s.actions["action_id"].tolist()
    cost = s.actions["cost"].to_numpy()
    key = {(cust_ids[c], act_ids[a]): i for i, (c, a) in
           enumerate(zip(s.scores.customer, s.scores.action, strict=True))}
    margin = s.scores.kpis["margin"]
    return np.array([margin[key[(c, a)]] - cost[act_ids.index(a)] for c, a, _ in triples])


def _eligible(scenario) -> list[tuple[str, str, dt.date]]:
    """Every (customer, action, date) with a scores row: the verifier filters the rest."""
    s = scenario
    cust_ids = s.customers["customer_id"].tolist()
    act_ids = s.actions["action_id"].tolist()
    return [(cust_ids[c], act_ids[a], s.run_date + dt.timedelta(days=d))
            for c, a in zip(s.scores.customer, s.scores.action, strict=True)
            for d in range(s.horizon)]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=scenarios())
def test_exact_solver_matches_brute_force(tmp_path_factory: pytest.TempPathFactory,
                                          data: dict) -> None:
    directory = write_scenario(Path(tmp_path_factory.mktemp("prop")), **data)
    scenario = load_scenario(directory, run_date=RUN)
    triples = _eligible(scenario)
    expected = brute_force_optimum(scenario, triples)
    try:
        problem, result = solve_scenario(scenario, RunOptions(time_limit=20))
    except NoPlanError as exc:
        event("infeasible")
        assert expected is None, f"solver says {exc}, but a plan worth {expected} exists"
        assert exc.relaxations, "an infeasible run must name what to move"
        return
    event(f"feasible, {int(result.chosen.sum()) if result.chosen is not None else 0} contacts")
    assert expected is not None, "solver found a plan the verifier rejects every subset of"
    assert result.chosen is not None
    plan = plan_table(scenario, problem, result.chosen).to_pandas()
    assert verify_plan(scenario, plan) == []
    level1 = result.levels[0]
    assert level1.solved_value == pytest.approx(expected, abs=1e-6)
    assert level1.bound is not None and level1.bound >= expected - 1e-6
    tolerance = problem.levels[0].tolerance
    assert level1.value >= expected - tolerance * abs(expected) - 1e-6
