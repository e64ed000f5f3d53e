"""`explain` on a hand-made run: every reason named, with hand-derived numbers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from optimizer.explain import Explanation, Option, explain_customer
from optimizer.outputs import read_run_dir
from optimizer.run import RunOptions, run_scenario
from optimizer.scenario import load_scenario
from tests.conftest import RUN_DATE
from tests.scenario_factory import write_scenario

runner = CliRunner()

# Two customers, two days. C1 (low, no sms consent) called three days before the run:
#   - S1 (sms) is denied by "sms needs consent" (consent_sms is false);
#   - K1 (call) is removed by "calls weekly" (max 1 in 7 days): the history call on
#     2026-01-02 is in every window ending on day 0 or 1;
#   - M1 (mail) is removed by "no mail soon after a call" (within 7 days of 2026-01-02);
#   - N1 has no score row at all: never eligible.
# C2 (high) has E1 (margin 10, discount_cost 2) and P1 (margin 5, no discount cost).
# C1 keeps E1 (margin 4, discount_cost 2), P1 (margin 3, discount_cost 2) and E2 (margin -1).
# Discount budget 5. MIP (one contact a day each): C2 takes E1 on both days (20, budget 4);
# the last budget unit cannot buy a C1 contact (2 each): profit 20, unique (C2 E1 + P1 and
# C1 E1 gives 5 + 10 + 4 = 19).
# LP of level 1: C2's E1 over P1 gains 5 per 2 budget units (2.5/unit), C1's E1 4 per 2
# (2/unit): C2 E1 both days (4 units) and half a C1 E1 (1 unit). The fractional C1 E1 sets
# the budget's price: 4 / 2 = 2 per unit (unique: see the dual, y < 2 raises C1's day caps'
# duals by 2t each, y > 2 costs 5t and saves only 4t on C2's).
# So for C1: E1 pays 2 × 2 = 4, reduced value 4 - 4 = 0; P1 pays 4, reduced 3 - 4 = -1;
# both are blocked by the budget (the plan uses 4 of 5, each adds 2); E2 pays nothing,
# reduced -1, and fits: "not chosen". For C2: P1 is blocked on each day by "one a day"
# with the planned E1 of that day.
POLICY = """
[plan]
horizon_days = 2

[[objective]]
name = "profit"
maximize = { margin = 1.0 }

[[objective]]
name = "relationship"
maximize = { clv_delta = 1.0 }

[[cap]]
name = "one a day"
max = 1
window_days = 1

[[cap]]
name = "calls weekly"
where = { channel = ["call"] }
max = 1
window_days = 7

[[limit]]
name = "discount budget"
sum = "discount_cost"
max = 5.0

[[conflict]]
name = "no mail soon after a call"
first = { channel = ["call"] }
then = { channel = ["mail"] }
within_days = 7

[[rule]]
name = "sms needs consent"
deny = { channel = ["sms"] }
unless = "consent_sms"
"""


def _action(action_id: str, channel: str) -> dict:
    return {"action_id": action_id, "channel": channel, "cost": 0.0, "discount": 0.0}


def _score(c: str, a: str, margin: float, discount_cost: float = 0.0) -> dict:
    return {"customer_id": c, "action_id": a, "margin": margin,
            "discount_cost": discount_cost, "clv_delta": 1.0}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("explain")
    scenario = write_scenario(
        root / "scenario",
        [{"customer_id": "C1", "segment": "low", "consent_sms": False},
         {"customer_id": "C2", "segment": "high", "consent_sms": True}],
        [_action("E1", "email"), _action("E2", "email"), _action("P1", "push"),
         _action("S1", "sms"), _action("K1", "call"), _action("M1", "mail"),
         _action("N1", "push")],
        [_score("C1", "E1", 4.0, 2.0), _score("C1", "P1", 3.0, 2.0), _score("C1", "E2", -1.0),
         _score("C1", "S1", 9.0), _score("C1", "K1", 8.0), _score("C1", "M1", 7.0),
         _score("C2", "E1", 10.0, 2.0), _score("C2", "P1", 5.0)],
        POLICY,
        history=[{"customer_id": "C1", "action_id": "K1",
                  "date": RUN_DATE - dt.timedelta(days=3)}],
    )
    run_dir = root / "run"
    run_scenario(scenario, run_dir, run_date=RUN_DATE,
                 options=RunOptions(time_limit=20, solver="cp-sat"))
    return scenario, run_dir


def _explain(case: tuple[Path, Path], customer: str) -> Explanation:
    scenario, run_dir = case
    summary, plan = read_run_dir(run_dir)
    s = load_scenario(scenario, run_date=RUN_DATE)
    return explain_customer(s, customer, summary, plan)


def _options(e: Explanation) -> dict[tuple[str, str], Option]:
    return {(o.action_id, o.date): o for o in e.options}


DAY0, DAY1 = "2026-01-05", "2026-01-06"
CALL = ("K1", "2026-01-02", "history")


def test_removed_options_name_the_rule_the_cap_and_the_conflict(case) -> None:
    e = _explain(case, "C1")
    options = _options(e)
    assert e.never_eligible == (("N1", "push"),)
    assert [(c.action_id, c.date, c.source) for c in e.history] == [CALL]
    for day in (DAY0, DAY1):
        sms, call, mail = options[("S1", day)], options[("K1", day)], options[("M1", day)]
        for option in (sms, call, mail):
            assert option.status == "removed"
            assert option.reduced_value is None and option.prices == ()
            assert len(option.reasons) == 1
        assert (sms.reasons[0].kind, sms.reasons[0].name) == ("rule", "sms needs consent")
        assert "consent_sms is false" in sms.reasons[0].detail
        assert (call.reasons[0].kind, call.reasons[0].name) == ("cap", "calls weekly")
        assert [(c.action_id, c.date, c.source) for c in call.reasons[0].contacts] == [CALL]
        assert "1 of max 1" in call.reasons[0].detail
        assert (mail.reasons[0].kind, mail.reasons[0].name) == (
            "conflict", "no mail soon after a call")
        assert [(c.action_id, c.date, c.source) for c in mail.reasons[0].contacts] == [CALL]
    # level values come straight from the scores (profit = margin, relationship = clv_delta)
    assert options[("S1", DAY0)].values == {"profit": 9.0, "relationship": 1.0}


def test_prices_reduced_values_and_blocks(case) -> None:
    e = _explain(case, "C1")
    options = _options(e)
    assert not any(o.status == "chosen" for o in e.options)
    for day in (DAY0, DAY1):
        e1, p1, e2 = options[("E1", day)], options[("P1", day)], options[("E2", day)]
        for option, value in ((e1, 4.0), (p1, 3.0)):
            assert option.status == "blocked"
            assert [(r.kind, r.name) for r in option.reasons] == [("limit", "discount budget")]
            assert "the plan is at 4 (<= 5); this contact adds 2" in option.reasons[0].detail
            (price,) = option.prices
            assert price.constraint == "discount budget" and price.coefficient == 2.0
            assert price.shadow_price == pytest.approx(2.0, abs=1e-6)
            assert price.paid == pytest.approx(4.0, abs=1e-6)
            assert option.reduced_value == pytest.approx(value - 4.0, abs=1e-6)
        assert e2.status == "not chosen" and e2.reasons == ()
        assert e2.prices == () and e2.reduced_value == pytest.approx(-1.0)


def test_a_planned_contact_blocks_through_a_cap(case) -> None:
    options = _options(_explain(case, "C2"))
    for day in (DAY0, DAY1):
        assert options[("E1", day)].status == "chosen"
        p1 = options[("P1", day)]
        assert p1.status == "blocked"
        (reason,) = p1.reasons
        assert (reason.kind, reason.name) == ("cap", "one a day")
        assert [(c.action_id, c.date, c.source) for c in reason.contacts] == [("E1", day, "plan")]


def test_cli_table_and_json(case) -> None:
    scenario, run_dir = case
    result = runner.invoke(app, ["explain", str(scenario), str(run_dir), "--customer", "C1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for word in ("sms needs consent", "calls weekly", "no mail soon after a call",
                 "K1 on 2026-01-02 (history)", "never eligible (no score row): N1 (push)"):
        assert word in text
    result = runner.invoke(app, ["explain", str(scenario), str(run_dir), "--customer", "C1",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["customer_id"] == "C1"
    assert {o["status"] for o in data["options"]} == {"removed", "blocked", "not chosen"}


@pytest.mark.parametrize(("args", "message"), [
    (["--customer", "C9"], "no such customer"),
    (["--customer", "C1", "--date", "2026-01-06"], "differs from the run directory's date"),
])
def test_cli_bad_inputs(case, args: list[str], message: str) -> None:
    scenario, run_dir = case
    result = runner.invoke(app, ["explain", str(scenario), str(run_dir), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_cli_missing_run_dir(case, tmp_path: Path) -> None:
    scenario, _ = case
    result = runner.invoke(app, ["explain", str(scenario), str(tmp_path / "nope"),
                                 "--customer", "C1"])
    assert result.exit_code == 2
    assert "run directory not found" in " ".join(result.output.split())
