"""`check`: each crafted scenario plants one contradiction and `check` must report exactly
that finding with the right numbers (derived by hand in the comments); sound scenarios get
no error or warning; `run` and `check` agree on a floor that cannot be met."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from typer.testing import CliRunner

from cli.app import app
from optimizer.check import CheckReport, Finding, check_problem, quantity_kind
from optimizer.diagnosis import diagnose
from optimizer.problem import build_problem
from optimizer.run import NoPlanError, RunOptions, run_scenario, solve_scenario
from optimizer.scenario import load_scenario
from optimizer.solvers import get_solver
from optimizer.synthetic import generate_scenario
from tests.scenario_factory import write_scenario
from tests.test_property import _eligible, brute_force_optimum, scenarios

RUN = dt.date(2026, 1, 5)
DATE = ["--date", RUN.isoformat()]
runner = CliRunner()


def action(aid: str, channel: str, cost: float = 0.0) -> dict:
    return {"action_id": aid, "channel": channel, "cost": cost, "discount": 0.0}


def check(directory: Path) -> CheckReport:
    s = load_scenario(directory, run_date=RUN)
    return check_problem(s, build_problem(s))


def only(report: CheckReport, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def codes(report: CheckReport, *severities: str) -> list[str]:
    return [f.code for f in report.findings if f.severity in severities]


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join((result.output + (result.stderr or "")).split())


PROFIT = '[[objective]]\nname = "profit"\nmaximize = { margin = 1.0 }\n'

# --- 1. a coverage floor that eligibility, rules and history put out of reach -------------
# Five low customers: L1 has an email (reachable); L2 only an sms without consent (the rule
# denies it); L3 only an email, but history holds an email 2 days ago against "one email a
# week" (no room left); L4 an sms with consent (reachable); L5 no score row. So 2 of the 5
# are reachable, and min_share 0.8 needs ceil(0.8 * 5) = 4: short by 2. The high customer
# does not count. The largest min_share that fits is 2 / 5 = 0.4.
COVERAGE_CUSTOMERS = [
    {"customer_id": "H1", "segment": "high", "consent_sms": True},
    {"customer_id": "L1", "segment": "low", "consent_sms": False},
    {"customer_id": "L2", "segment": "low", "consent_sms": False},
    {"customer_id": "L3", "segment": "low", "consent_sms": False},
    {"customer_id": "L4", "segment": "low", "consent_sms": True},
    {"customer_id": "L5", "segment": "low", "consent_sms": False},
]
COVERAGE_POLICY = PROFIT + """
[[cap]]
name = "one email a week"
where = { channel = ["email"] }
max = 1
window_days = 7

[[rule]]
name = "sms needs consent"
deny = { channel = ["sms"] }
unless = "consent_sms"

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 0.8
"""


def coverage_scenario(directory: Path) -> Path:
    scores = [{"customer_id": c, "action_id": a, "margin": 1.0} for c, a in
              (("H1", "E1"), ("L1", "E1"), ("L2", "S1"), ("L3", "E1"), ("L4", "S1"))]
    history = [{"customer_id": "L3", "action_id": "E1", "date": RUN - dt.timedelta(days=2)}]
    return write_scenario(directory, COVERAGE_CUSTOMERS, [action("E1", "email"),
                                                          action("S1", "sms")],
                          scores, COVERAGE_POLICY, history)


def test_coverage_floor_out_of_reach(tmp_path: Path) -> None:
    report = check(coverage_scenario(tmp_path / "s"))
    assert codes(report, "error", "warning") == ["floor-unreachable"]
    f = only(report, "floor-unreachable")
    assert f.severity == "error" and f.subject == "low coverage"
    assert f.numbers == {"need": 4, "possible": 2, "alone": 2, "group_size": 5}
    assert f.message.startswith("floor 'low coverage' needs 4 customers contacted, at most 2 "
                                "are possible")
    assert "lower min_share to 0.4 or less" in f.suggestion
    assert report.infeasible


def test_run_and_check_agree_on_the_floor(tmp_path: Path) -> None:
    # Same scenario: run skips the solve, names the same floor with the same numbers (the
    # MIP confirms the move is exact: 2 of the 4 needed can be reached), writes nothing.
    scenario = coverage_scenario(tmp_path / "s")
    code, text = invoke("check", str(scenario), *DATE)
    assert code == 3, text
    assert "floor 'low coverage' needs 4 customers contacted, at most 2 are possible" in text
    out = tmp_path / "run"
    code, text = invoke("run", str(scenario), "--out", str(out), *DATE)
    assert code == 3, text
    assert "error floor-unreachable: floor 'low coverage' needs 4" in text  # printed first
    assert "in conflict (irreducible, shown by counting bounds): 'low coverage'" in text
    assert "floor 'low coverage': cover 2 fewer customers (need 4, at most 2 possible)" in text
    assert not out.exists()


# --- 2. a coverage floor that one limit prices out ---------------------------------------
# L1 and L2 can get an email (cost 2), L3 only a mail (cost 5): all 3 are reachable, but a
# budget of 5 pays for the two cheapest (2 + 2 = 4; adding 5 makes 9). min_share 1 needs 3,
# so at most 2 are possible and the budget must reach 9 (+4) to cover all three.
BUDGET_POLICY = PROFIT + """
[[limit]]
name = "budget"
sum = "cost"
max = 5.0

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 1.0
"""


def budget_scenario(directory: Path) -> Path:
    customers = [{"customer_id": c, "segment": "low"} for c in ("L1", "L2", "L3")]
    scores = [{"customer_id": c, "action_id": a, "margin": 1.0} for c, a in
              (("L1", "E1"), ("L2", "E1"), ("L3", "M1"))]
    return write_scenario(directory, customers, [action("E1", "email", 2.0),
                                                 action("M1", "mail", 5.0)],
                          scores, BUDGET_POLICY)


def test_coverage_floor_priced_out_by_a_limit(tmp_path: Path) -> None:
    report = check(budget_scenario(tmp_path / "s"))
    assert codes(report, "error", "warning") == ["floor-unreachable"]
    f = only(report, "floor-unreachable")
    assert f.numbers == {"need": 3, "possible": 2, "alone": 3, "limit_max": 5,
                         "limit_need": 9, "group_size": 3}
    assert "limit 'budget' (max 5) pays for at most 2" in f.message
    assert "raise limit 'budget' to at least 9" in f.suggestion


def test_run_names_the_floor_and_the_limit(tmp_path: Path) -> None:
    # The conflict is {floor, limit}: the floor alone has a plan (all 3 reachable), the limit
    # alone too (contact nobody). Each member's move, the other held: 1 fewer customer, or a
    # budget of 9.
    with pytest.raises(NoPlanError) as info:
        solve_scenario(load_scenario(budget_scenario(tmp_path / "s"), run_date=RUN),
                       RunOptions(time_limit=20))
    diagnosis = info.value.diagnosis
    assert diagnosis is not None and diagnosis.minimal
    assert [r.sentence() for r in diagnosis.relaxations] == [
        "floor 'low coverage': cover 1 fewer customers (need 3, at most 2 possible)",
        "limit 'budget': raise max from 5 to 9 (+4)",
    ]


# --- 3. a value floor above what the caps allow ------------------------------------------
# Horizon 3, "one a day" (1 per day) and "every other day" (1 in any 2 days: the windows
# ending on days 2 and 0 cover the horizon, so 2 contacts at most). C1's best is 10 (E1), so
# C1 gives at most 2 x 10 = 20; C2 has only E1 worth 3: 2 x 3 = 6. Bound 26 < min 27, and
# 26 is reached (days 0 and 2), so the run's move is exactly 1.
CAPS_POLICY = """
[plan]
horizon_days = 3
""" + PROFIT + """
[[cap]]
name = "one a day"
max = 1
window_days = 1

[[cap]]
name = "every other day"
max = 1
window_days = 2

[[floor]]
name = "value"
sum = "clv_delta"
min = 27.0
"""


def test_value_floor_above_what_caps_allow(tmp_path: Path) -> None:
    customers = [{"customer_id": c, "segment": "mid"} for c in ("C1", "C2")]
    scores = [{"customer_id": c, "action_id": a, "margin": 1.0, "clv_delta": v}
              for c, a, v in (("C1", "E1", 10.0), ("C1", "E2", 8.0), ("C1", "S1", 5.0),
                              ("C2", "E1", 3.0))]
    scenario = write_scenario(tmp_path / "s", customers,
                              [action("E1", "email"), action("E2", "email"),
                               action("S1", "sms")], scores, CAPS_POLICY)
    report = check(scenario)
    assert codes(report, "error", "warning") == ["floor-unreachable"]
    f = only(report, "floor-unreachable")
    assert f.numbers == {"need": 27, "possible": 26, "alone": 26}
    assert f.message == ("floor 'value' needs clv_delta >= 27, at most 26 is possible (an "
                         "upper bound: each customer's best contacts within the caps)")
    with pytest.raises(NoPlanError) as info:
        solve_scenario(load_scenario(scenario, run_date=RUN), RunOptions(time_limit=20))
    assert [r.sentence() for r in info.value.relaxations] == [
        "floor 'value': lower min from 27 to 26 (-1)"]


# --- 4. a channel floor against a limit on the same channel ------------------------------
# Six customers can each get a call; the floor wants 5 calls, the call centre takes 3. Each
# customer alone allows 6 calls; priced at lambda = 1 a call, the bound is 1 x 3 + 0 = 3.
# Any budget below (5 - 0) / 1 = 5 keeps the bound short, so the limit must reach 5.
CALLS_POLICY = PROFIT + """
[[limit]]
name = "call centre"
where = { channel = ["call"] }
sum = "contacts"
max = 3

[[floor]]
name = "calls"
where = { channel = ["call"] }
sum = "contacts"
min = 5
"""


def test_channel_floor_against_channel_limit(tmp_path: Path) -> None:
    customers = [{"customer_id": f"C{i}", "segment": "mid"} for i in range(6)]
    scores = [{"customer_id": f"C{i}", "action_id": "K1", "margin": 1.0} for i in range(6)]
    scenario = write_scenario(tmp_path / "s", customers, [action("K1", "call", 4.0)],
                              scores, CALLS_POLICY)
    f = only(check(scenario), "floor-unreachable")
    assert f.numbers == pytest.approx({"need": 5, "possible": 3, "alone": 6, "limit_max": 3,
                                       "limit_need": 5})
    assert "priced against limit 'call centre' (max 3)" in f.message
    assert "raise limit 'call centre' to at least 5" in f.suggestion


# --- 5. a limit that can never bind ------------------------------------------------------
# Horizon 2, one contact a day: C1 and C2 can each get at most 2 sms, C3 has none, so at most
# 4 sms are possible against a max of 100. The email limit (max 1, 3 customers) does bind.
LOOSE_POLICY = """
[plan]
horizon_days = 2
""" + PROFIT + """
[[cap]]
name = "one a day"
max = 1
window_days = 1

[[limit]]
name = "sms volume"
where = { channel = ["sms"] }
sum = "contacts"
max = 100

[[limit]]
name = "email volume"
where = { channel = ["email"] }
sum = "contacts"
max = 1
"""


def loose_scenario(directory: Path) -> Path:
    customers = [{"customer_id": c, "segment": "mid"} for c in ("C1", "C2", "C3")]
    scores = [{"customer_id": c, "action_id": a, "margin": 1.0} for c, a in
              (("C1", "S1"), ("C1", "S2"), ("C2", "S1"), ("C1", "E1"), ("C2", "E1"),
               ("C3", "E1"))]
    return write_scenario(directory, customers, [action("S1", "sms"), action("S2", "sms"),
                                                 action("E1", "email")], scores, LOOSE_POLICY)


def test_limit_that_never_binds(tmp_path: Path) -> None:
    report = check(loose_scenario(tmp_path / "s"))
    assert codes(report, "error", "warning") == ["limit-never-binds"]
    f = only(report, "limit-never-binds")
    assert f.subject == "sms volume"
    assert f.numbers == {"max": 100, "possible": 4}
    assert f.message == ("limit 'sms volume' (max 100) can never bind: at most 4 is possible "
                         "over the horizon (eligibility, rules and caps)")


def test_run_prints_findings_and_keeps_them_in_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, text = invoke("run", str(loose_scenario(tmp_path / "s")), "--out", str(out), *DATE)
    assert code == 0, text
    assert text.index("warning limit-never-binds") < text.index("solving")
    summary = json.loads((out / "summary.json").read_text())
    assert [f["code"] for f in summary["findings"]] == ["limit-never-binds"]
    assert summary["findings"][0]["numbers"] == {"max": 100, "possible": 4}
    assert summary["warnings"] == []
    assert "limit-never-binds" in (out / "report.html").read_text()


# --- 6. tolerances -----------------------------------------------------------------------
# One customer, one day, one contact: A has margin 10 and clv 0, B margin 6 and clv 5. The
# profit optimum is at most 10; maximizing clv alone picks B, which keeps profit at 6. With
# tolerance 0.5, later levels may take profit down to 5 <= 6: the tolerance absorbs the whole
# trade-off (it starts to matter below 1 - 6/10 = 0.4). With 0.3 (floor 7 > 6) it does not.
def tolerance_scenario(directory: Path, tolerance: float) -> Path:
    policy = f"""
[[objective]]
name = "profit"
maximize = {{ margin = 1.0 }}
tolerance = {tolerance}

[[objective]]
name = "relationship"
maximize = {{ clv_delta = 1.0 }}

[[cap]]
name = "one a day"
max = 1
window_days = 1
"""
    scores = [{"customer_id": "C1", "action_id": a, "margin": m, "clv_delta": c}
              for a, m, c in (("A", 10.0, 0.0), ("B", 6.0, 5.0))]
    return write_scenario(directory, [{"customer_id": "C1", "segment": "mid"}],
                          [action("A", "email"), action("B", "email")], scores, policy)


def test_tolerance_that_absorbs_the_trade_off(tmp_path: Path) -> None:
    report = check(tolerance_scenario(tmp_path / "a", 0.5))
    assert codes(report, "error", "warning") == ["tolerance-absorbs"]
    f = only(report, "tolerance-absorbs")
    assert f.numbers == {"tolerance": 0.5, "bound": 10, "next_alone": 6}
    assert f.suggestion == "lower tolerance to at most 0.4"
    assert codes(check(tolerance_scenario(tmp_path / "b", 0.3)), "error", "warning") == []


def test_tolerance_of_one_or_more_and_of_zero(tmp_path: Path) -> None:
    void = check(tolerance_scenario(tmp_path / "a", 1.5))
    assert codes(void, "error", "warning") == ["tolerance-void"]
    assert only(void, "tolerance-void").numbers == {"tolerance": 1.5}
    zero = check(tolerance_scenario(tmp_path / "b", 0.0))
    assert codes(zero, "error", "warning") == []
    assert only(zero, "tolerance-zero").severity == "info"


# --- 7. objectives that reward spending or churn -----------------------------------------
def test_objective_signs(tmp_path: Path) -> None:
    policy = """
[[objective]]
name = "profit"
maximize = { margin = 1.0, cost = -1.0, discount_cost = 1.0, churn_risk_delta = 0.5 }

[[objective]]
name = "relationship"
maximize = { clv_delta = -1.0, p_response = 2.0 }
"""
    scores = [{"customer_id": "C1", "action_id": "A", "margin": 1.0, "discount_cost": 0.5,
               "churn_risk_delta": 0.01, "clv_delta": 1.0, "p_response": 0.1}]
    report = check(write_scenario(tmp_path / "s", [{"customer_id": "C1", "segment": "mid"}],
                                  [action("A", "email")], scores, policy))
    found = [(f.code, f.subject, f.numbers["weight"]) for f in report.findings
             if f.severity == "warning"]
    assert found == [("objective-rewards-cost", "profit", 1.0),
                     ("objective-rewards-cost", "profit", 0.5),
                     ("objective-penalizes-value", "relationship", -1.0)]


@pytest.mark.parametrize(("name", "kind"), [
    ("discount_cost", "cost"), ("cost", "cost"), ("action.cost", "cost"),
    ("churn_risk_delta", "cost"), ("margin", "value"), ("score.clv_delta", "value"),
    ("p_response", "value"), ("revenue", "value"), ("contacts", None), ("margin_cost", None),
])
def test_quantity_kind(name: str, kind: str | None) -> None:
    assert quantity_kind(name) == kind


# --- 8. levels that want different contacts ----------------------------------------------
# C1: A is best for profit (5 > 1), B for relationship (5 > 1): apart. C2: A is best for both.
# C3: profit prefers no contact (-1 < 0), relationship A (2): apart. C4: both prefer none.
# 2 of 4 customers.
def test_levels_disagree(tmp_path: Path) -> None:
    policy = PROFIT + '[[objective]]\nname = "relationship"\nmaximize = { clv_delta = 1.0 }\n'
    rows = (("C1", "A", 5.0, 1.0), ("C1", "B", 1.0, 5.0), ("C2", "A", 5.0, 5.0),
            ("C3", "A", -1.0, 2.0), ("C4", "A", -1.0, -1.0))
    scores = [{"customer_id": c, "action_id": a, "margin": m, "clv_delta": v}
              for c, a, m, v in rows]
    customers = [{"customer_id": c, "segment": "mid"} for c in ("C1", "C2", "C3", "C4")]
    report = check(write_scenario(tmp_path / "s", customers,
                                  [action("A", "email"), action("B", "sms")], scores, policy))
    f = only(report, "levels-disagree")
    assert f.severity == "info" and f.subject == "profit / relationship"
    assert f.numbers == {"share": 0.5, "customers": 2, "of": 4}
    assert f.message.startswith("for 50% of customers (2 of 4) the best contact for 'profit' "
                                "is not a best one for 'relationship'")


# --- 9. sound scenarios ------------------------------------------------------------------
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_sample_and_generated_scenarios_have_no_error_or_warning(tmp_path: Path) -> None:
    assert codes(check(SAMPLE), "error", "warning") == []
    generate_scenario(tmp_path / "g", customers=600, actions=10, horizon=2, seed=11,
                      run_date=RUN)
    report = check(tmp_path / "g")
    assert codes(report, "error", "warning") == []
    assert not report.infeasible
    assert all(p.possible >= p.need for p in report.proofs)


def test_fast_bounds_match_the_sorting_greedy(tmp_path: Path) -> None:
    # The linear fast paths (one contact a day, room that fits) must give the plan and total
    # the plain sort-based greedy gives, for the levels and every limit and floor row.
    import numpy as np

    from optimizer.bounds import Bounds, Selector

    generate_scenario(tmp_path / "g", customers=400, actions=9, horizon=3, seed=5,
                      run_date=RUN)
    s = load_scenario(tmp_path / "g", run_date=RUN)
    problem = build_problem(s)
    b = Bounds(problem)
    every = np.arange(problem.size)
    cases = [(every, level.values) for level in problem.levels]
    cases += [(row.index, row.coef) for row in problem.rows]
    for idx, values in cases:
        room = b.capacity(idx)
        fast = Selector(b, idx, values, room)
        assert fast.mode != "generic"
        slow = b.greedy_plan(idx, values, room)
        assert fast.total(values) == pytest.approx(float(values[slow].sum()), rel=1e-12)
        assert float(values[fast.plan(values)].sum()) == pytest.approx(
            float(values[slow].sum()), rel=1e-12)


# --- 10. the diagnosis by deletion filter (no counting proof) ----------------------------
# L1's only contacts lose 5 margin each, H1's gains 2; the floor "margin >= -1" and the
# coverage of L1 conflict (cover L1: margin at most 2 - 5 = -3). Counting bounds prove
# nothing (the margin floor's min is not positive). The budget and the high floor are
# irrelevant and must be filtered out. Moves: margin min -1 -> -3 (-2), or cover 1 fewer.
def test_deletion_filter_finds_the_irreducible_conflict(tmp_path: Path) -> None:
    policy = PROFIT + """
[[limit]]
name = "budget"
sum = "cost"
max = 100.0

[[floor]]
name = "high reached"
where = { segment = ["high"] }
min_share = 1.0

[[floor]]
name = "margin floor"
sum = "margin"
min = -1.0

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 1.0
"""
    customers = [{"customer_id": "L1", "segment": "low"}, {"customer_id": "H1",
                                                           "segment": "high"}]
    scores = [{"customer_id": "L1", "action_id": a, "margin": -5.0} for a in ("E1", "E2")]
    scores.append({"customer_id": "H1", "action_id": "E1", "margin": 2.0})
    scenario = write_scenario(tmp_path / "s", customers, [action("E1", "email", 1.0),
                                                          action("E2", "email", 1.0)],
                              scores, policy)
    s = load_scenario(scenario, run_date=RUN)
    assert codes(check(scenario), "error") == []
    problem = build_problem(s)
    diagnosis = diagnose(problem, get_solver("cp-sat"), 30)
    assert diagnosis.method == "MIP" and diagnosis.minimal
    assert [r.sentence() for r in diagnosis.relaxations] == [
        "floor 'margin floor': lower min from -1 to -3 (-2)",
        "floor 'low coverage': cover 1 fewer customers (need 1, at most 0 possible)",
    ]


def test_two_floors_out_of_reach_are_two_conflicts(tmp_path: Path) -> None:
    # Both floors are short by counting (2 of 4 low reachable, 0 of 1 high), each is its own
    # conflict, and each move is computed with the other floor left out.
    policy = COVERAGE_POLICY + """
[[floor]]
name = "high coverage"
where = { segment = ["high"] }
min_share = 1.0
"""
    scores = [{"customer_id": c, "action_id": "E1", "margin": 1.0} for c in ("L1", "L4")]
    scenario = write_scenario(tmp_path / "s", COVERAGE_CUSTOMERS, [action("E1", "email")],
                              scores, policy)
    report = check(scenario)
    assert [f.subject for f in report.findings if f.severity == "error"] == [
        "low coverage", "high coverage"]
    with pytest.raises(NoPlanError) as info:
        solve_scenario(load_scenario(scenario, run_date=RUN), RunOptions(time_limit=20))
    diagnosis = info.value.diagnosis
    assert diagnosis is not None
    assert [[r.sentence() for r in c] for c in diagnosis.conflicts] == [
        ["floor 'low coverage': cover 2 fewer customers (need 4, at most 2 possible)"],
        ["floor 'high coverage': cover 1 fewer customers (need 1, at most 0 possible)"],
    ]


# --- 11. the command ---------------------------------------------------------------------
def test_check_command_exit_codes_and_json(tmp_path: Path) -> None:
    ok_json = tmp_path / "ok.json"
    code, text = invoke("check", str(SAMPLE), *DATE, "--json", str(ok_json))
    assert code == 0, text
    assert "0 error(s), 0 warning(s)" in text
    data = json.loads(ok_json.read_text())
    assert data["counts"]["error"] == 0 and data["run_date"] == "2026-01-05"

    bad_json = tmp_path / "bad.json"
    code, text = invoke("check", str(coverage_scenario(tmp_path / "s")), *DATE, "--json",
                        str(bad_json))
    assert code == 3, text
    data = json.loads(bad_json.read_text())
    assert data["counts"] == {"error": 1, "warning": 0, "info": 0}
    [finding] = data["findings"]
    assert finding["code"] == "floor-unreachable" and finding["severity"] == "error"
    assert finding["numbers"]["possible"] == 2

    code, text = invoke("check", str(tmp_path / "missing"), *DATE)
    assert code == 2 and "scenario directory not found" in text


# --- 12. soundness: a floor `check` calls unreachable has no plan -------------------------
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=scenarios())
def test_check_errors_are_proofs(tmp_path_factory: pytest.TempPathFactory,
                                 data: dict) -> None:
    directory = write_scenario(Path(tmp_path_factory.mktemp("chk")), **data)
    scenario = load_scenario(directory, run_date=RUN)
    report = check_problem(scenario, build_problem(scenario))
    optimum = brute_force_optimum(scenario, _eligible(scenario))
    event("check proves infeasible" if report.infeasible else
          "infeasible, not proven by check" if optimum is None else "feasible")
    if report.infeasible:
        assert optimum is None


def test_run_summary_findings_from_python(tmp_path: Path) -> None:
    outcome = run_scenario(SAMPLE, tmp_path / "run", run_date=RUN,
                           options=RunOptions(time_limit=20))
    assert [f["code"] for f in outcome.summary["findings"]] == ["levels-disagree"]
