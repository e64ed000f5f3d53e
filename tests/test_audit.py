"""Audit metrics (summary.json `audit`) on a hand-made plan, every figure derived by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from optimizer.audit import audit_report, gini
from optimizer.outputs import chosen_from_plan
from optimizer.problem import build_problem
from optimizer.scenario import load_scenario
from tests.scenario_factory import write_scenario

RUN = dt.date(2026, 3, 1)
POLICY = """
[plan]
horizon_days = 2

[[objective]]
name = "profit"
maximize = { margin = 1.0 }

[[cap]]
name = "one a day"
max = 1
window_days = 1

[[cap]]
name = "sms weekly"
where = { channel = ["sms"] }
max = 2
window_days = 7

[privacy]
audit_only = ["age_band"]
"""

# ten customers c0..c9: c0..c4 segment high, c5..c9 low; age_band young for c0..c3, old for
# c4..c9. Two actions, both eligible for everyone on both days: e (email, margin 1,
# discount_cost 0) and s (sms, margin 3, discount_cost 2). p_response of customer i is
# 0.01 i for e and 0.02 i for s, so c9 (best 0.18) is the top decile (ceil(10 / 10) = 1).
CUSTOMERS = [{"customer_id": f"c{i}", "segment": "high" if i < 5 else "low",
              "age_band": "young" if i < 4 else "old"} for i in range(10)]
ACTIONS = [{"action_id": "e", "channel": "email", "cost": 0.0, "discount": 0.0},
           {"action_id": "s", "channel": "sms", "cost": 0.0, "discount": 0.2}]
SCORES = [{"customer_id": f"c{i}", "action_id": a, "margin": m, "discount_cost": dc,
           "p_response": f * i}
          for i in range(10) for a, m, dc, f in (("e", 1.0, 0.0, 0.01), ("s", 3.0, 2.0, 0.02))]
# history (all emails): c0 on days -3 and -10, c1 on -40, c2 on -30 and -31
HISTORY = [{"customer_id": c, "action_id": "e", "date": RUN + dt.timedelta(days=d)}
           for c, d in (("c0", -3), ("c0", -10), ("c1", -40), ("c2", -30), ("c2", -31))]
# the plan: c0 e day 0 + s day 1, c1 e day 0, c2 s day 0, c5 e day 1, c9 s day 0 + s day 1
PLAN = [("c0", "e", 0), ("c0", "s", 1), ("c1", "e", 0), ("c2", "s", 0), ("c5", "e", 1),
        ("c9", "s", 0), ("c9", "s", 1)]


def _audit(tmp_path: Path, scores: list[dict] = SCORES) -> dict:
    directory = write_scenario(tmp_path / "scenario", CUSTOMERS, ACTIONS, scores, POLICY,
                               HISTORY)
    s = load_scenario(directory, run_date=RUN)
    problem = build_problem(s)
    plan = pd.DataFrame({"customer_id": [c for c, _, _ in PLAN],
                         "action_id": [a for _, a, _ in PLAN],
                         "date": [RUN + dt.timedelta(days=d) for _, _, d in PLAN]})
    chosen, unknown = chosen_from_plan(s, problem, plan)
    assert unknown == 0 and chosen.sum() == 7
    return audit_report(s, problem, chosen)


def test_audit_figures_by_hand(tmp_path: Path) -> None:
    audit = _audit(tmp_path)
    horizon = audit["contacts_per_customer"]["horizon"]
    # contacts per customer c0..c9: [2, 1, 1, 0, 0, 1, 0, 0, 0, 2]; sorted
    # [0,0,0,0,0,1,1,1,2,2]: p50 at position 4.5 -> 0.5, p90 at 8.1 -> 2 + 0.1 (2 - 2) = 2
    assert horizon == {"customers": 10, "min": 0, "p50": 0.5, "p90": 2.0, "max": 2,
                       "mean": 0.7, "never_contacted_share": 0.5}
    # with history rows dated day >= -30: c0 +2 (-3, -10), c2 +1 (-30; -31 is out), c1's
    # -40 is out: [4, 1, 2, 0, 0, 1, 0, 0, 0, 2], sorted [0,0,0,0,0,1,1,2,2,4]:
    # p50 0.5, p90 at 8.1 -> 2 + 0.1 (4 - 2) = 2.2, mean 10 / 10
    recent = audit["contacts_per_customer"]["last_30_days_with_history"]
    assert recent["max"] == 4 and recent["mean"] == pytest.approx(1.0)
    assert recent["p50"] == pytest.approx(0.5) and recent["p90"] == pytest.approx(2.2)
    assert recent["never_contacted_share"] == pytest.approx(0.5)

    conc = audit["concentration"]
    # Gini: sum over sorted ranks i = 6..10 of (2i - 11) x_i = 1 + 3 + 5 + 7*2 + 9*2 = 41,
    # over n * sum = 10 * 7 -> 41 / 70
    assert conc["gini_contacts"] == pytest.approx(41 / 70)
    # top decile = {c9}: 2 of 7 contacts; sms contacts c0, c2, c9, c9 at discount_cost 2
    # each = 8, c9's 4 -> 0.5
    assert conc["top_decile_customers"] == 1
    assert conc["top_decile_contact_share"] == pytest.approx(2 / 7)
    assert conc["discount_source"] == "kpi discount_cost"
    assert conc["top_decile_discount_share"] == pytest.approx(0.5)
    assert conc["reason"] is None

    # high (c0..c4): contacted c0, c1, c2 -> 3/5, 4 contacts, margin 1+3 + 1 + 3 = 8;
    # low (c5..c9): contacted c5, c9 -> 2/5, 3 contacts, margin 1 + 3+3 = 7
    seg = {g["group"]: g for g in audit["segments"]}
    assert seg["high"] == {"group": "high", "customers": 5, "share_contacted": 0.6,
                           "contacts": 4, "objectives": {"profit": 8.0}}
    assert seg["low"] == {"group": "low", "customers": 5, "share_contacted": 0.4,
                          "contacts": 3, "objectives": {"profit": 7.0}}

    # young (c0..c3): 3 of 4 contacted = 0.75; old (c4..c9): c5, c9 = 2/6; ratio (1/3) / 0.75
    # = 4/9 < 0.8: flagged
    age = {g["group"]: g for g in audit["audit_only"]["age_band"]}
    assert age["young"]["share_contacted"] == pytest.approx(0.75)
    assert age["young"]["disparity_ratio"] == pytest.approx(1.0) and not age["young"]["flag"]
    assert age["old"]["disparity_ratio"] == pytest.approx(4 / 9) and age["old"]["flag"]

    fatigue = audit["fatigue"]
    caps = {c["name"]: c for c in fatigue["caps"]}
    # one a day: every contacted customer fills some day (room 1): c0, c1, c2, c5, c9;
    # sms weekly (room 2, no sms in history): only c9 sends 2 sms within the horizon
    assert caps["one a day"]["customers_at_cap"] == 5
    assert caps["sms weekly"]["customers_at_cap"] == 1
    rolling = fatigue["rolling_with_history"]
    # 7 days ending day 1 (-5..1) for c0: history -3 + plan days 0, 1 = 3 (the worst);
    # 30 days ending day 1 (-28..1) for c0: -3, -10, 0, 1 = 4; c2's -30 falls outside
    # every 30-day window ending on a horizon day (the latest starts at -29 + 1)
    assert rolling["7_days"]["max"] == 3
    assert rolling["30_days"]["max"] == 4
    # 30-day worst per customer: [4, 1, 1, 0, 0, 1, 0, 0, 0, 2] -> p90 at 8.1: 2 + 0.1*2
    assert rolling["30_days"]["p90"] == pytest.approx(2.2)


def test_no_p_response_gives_null_with_a_reason(tmp_path: Path) -> None:
    scores = [{k: v for k, v in row.items() if k != "p_response"} for row in SCORES]
    conc = _audit(tmp_path, scores)["concentration"]
    assert conc["top_decile_contact_share"] is None
    assert "p_response" in conc["reason"]
    assert conc["gini_contacts"] == pytest.approx(41 / 70)


def test_gini_edges() -> None:
    assert gini(np.zeros(4)) is None
    assert gini(np.ones(4)) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 5])) == pytest.approx(3 / 4)


def test_run_writes_the_audit(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    result = CliRunner().invoke(app, ["run", "--out", str(out), "--time-limit", "20"])
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "summary.json").read_text(encoding="utf-8"))["audit"]
    assert set(audit) == {"contacts_per_customer", "concentration", "segments",
                          "audit_only", "fatigue"}
    assert "age_band" in audit["audit_only"]
    assert audit["concentration"]["discount_source"] == "kpi discount_cost"
    assert {c["name"] for c in audit["fatigue"]["caps"]} == {"one a day", "sms weekly"}
    assert "<h2>Audit</h2>" in (out / "report.html").read_text(encoding="utf-8")
