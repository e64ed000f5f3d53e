"""Privacy: audit_only columns are for reports alone, and no customer-level data reaches a
log (progress lines, findings, warnings, error messages, the verifier's and approve's
messages, Python logging, anything written to the process's stdout/stderr).

The scenario's customer ids, an attribute's per-customer values and the audit_only
column's values are distinctive strings; every command is run, successful or not, and none
of them may appear in what it prints.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.app import app
from optimizer.scenario import load_scenario
from tests.scenario_factory import write_scenario

RUN_DATE = dt.date(2026, 1, 5)
DATE = RUN_DATE.isoformat()
IDS = [f"SECRETCUST-{k:04d}" for k in range(1, 9)]
AUDIT = [f"AUDITVAL-{k}" for k in range(1, 9)]
INCOME = [731_000.0 + 1.25 * k for k in range(1, 9)]  # 731001.25, ...
SECRETS = [*IDS, *AUDIT, *(f"{v:g}" for v in INCOME), "SECRETCUST-9999"]
POLICY = """\
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

[[cap]]
name = "sms weekly"
where = { channel = ["sms"] }
max = 1
window_days = 7

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 1.0

[[review]]
name = "deep discounts"
where = { discount = { min = 0.3 } }

[privacy]
audit_only = ["age_band"]
"""


def _customers() -> list[dict]:
    segments = ["high", "mid", "low", "low", "mid", "high", "mid", "low"]
    return [{"customer_id": c, "segment": s, "income": inc, "age_band": a}
            for c, s, inc, a in zip(IDS, segments, INCOME, AUDIT, strict=True)]


ACTIONS = [{"action_id": "E1", "channel": "email", "cost": 0.1, "discount": 0.0},
           {"action_id": "S1", "channel": "sms", "cost": 0.05, "discount": 0.1},
           {"action_id": "D1", "channel": "email", "cost": 0.5, "discount": 0.4}]


def _scores() -> list[dict]:
    return [{"customer_id": c, "action_id": a["action_id"], "margin": 1.0 + k + 2 * j,
             "clv_delta": 0.5 * (k % 3)}
            for k, c in enumerate(IDS) for j, a in enumerate(ACTIONS)]


def _history() -> list[dict]:
    return [{"customer_id": IDS[0], "action_id": "S1", "date": RUN_DATE - dt.timedelta(2)},
            {"customer_id": "SECRETCUST-9999", "action_id": "E1",  # unknown: a warning
             "date": RUN_DATE - dt.timedelta(1)}]


def _write(directory: Path, customers: list[dict] | None = None,
           scores: list[dict] | None = None) -> Path:
    return write_scenario(directory, customers or _customers(), ACTIONS,
                          scores or _scores(), POLICY, _history())


class Log:
    """Everything the commands print, through typer's runner, the file descriptors and
    Python logging."""

    def __init__(self, capfd: pytest.CaptureFixture[str],
                 caplog: pytest.LogCaptureFixture) -> None:
        self.capfd, self.caplog = capfd, caplog
        self.text: list[str] = []

    def invoke(self, *args: object, code: int | None = 0) -> str:
        result = CliRunner().invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        out = result.output + (result.stderr or "")
        if code is not None:
            assert result.exit_code == code, out
        self.text.append(out)
        return out

    def everything(self) -> str:
        captured = self.capfd.readouterr()
        return "\n".join([*self.text, captured.out, captured.err, self.caplog.text])


def test_no_customer_data_reaches_the_log(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = Log(capfd, caplog)
    scenario = _write(tmp_path / "scenario")
    run = tmp_path / "run"
    log.invoke("validate", scenario, "--date", DATE)
    log.invoke("check", scenario, "--date", DATE)
    ran = log.invoke("run", scenario, "--out", run, "--date", DATE, "--time-limit", "30")
    assert "history row(s) name customers missing" in ran  # the warning, without the id
    log.invoke("verify", scenario, run, "--date", DATE)

    # a broken plan: every contact twice, and one unknown customer
    plan = pq.read_table(run / "plan.parquet")
    broken = pa.concat_tables([plan, plan]).to_pandas()
    broken.loc[0, "customer_id"] = "SECRETCUST-9999"
    bad = tmp_path / "bad.parquet"
    broken.to_parquet(bad, index=False)
    text = log.invoke("verify", scenario, bad, "--date", DATE, code=1)
    assert "plan row" in text and "violated constraint(s)" in text

    # approve: a decline that breaks the low coverage floor (refused), then a valid one
    review = pq.read_table(run / "review.parquet").to_pandas()
    assert len(review)
    segment = dict(zip(IDS, [c["segment"] for c in _customers()], strict=True))
    lows = review["customer_id"].map(segment).eq("low")
    assert lows.any()
    review["decision"] = "approve"
    first_low = review["customer_id"] == review.loc[lows.idxmax(), "customer_id"]
    review.loc[first_low, "decision"] = "decline"  # every contact of one low customer
    file = tmp_path / "decline.parquet"
    review.to_parquet(file, index=False)
    assert "floor 'low coverage'" in log.invoke("approve", run, "--decisions", file, code=1)
    review["decision"] = "approve"
    file = tmp_path / "approve.csv"
    review[["customer_id", "action_id", "date", "decision"]].iloc[1:].to_csv(file, index=False)
    log.invoke("approve", run, "--decisions", file, code=None)
    review.loc[0, "decision"] = "maybe"
    review[["customer_id", "action_id", "date", "decision"]].to_csv(file, index=False)
    log.invoke("approve", run, "--decisions", file, code=2)

    # bad inputs: each error points at rows by number
    customers = _customers()
    customers[2]["customer_id"] = IDS[5]
    log.invoke("run", _write(tmp_path / "dup", customers=customers), "--out",
               tmp_path / "x", "--date", DATE, code=2)
    scores = _scores()
    scores[4]["customer_id"] = "SECRETCUST-9999"
    log.invoke("run", _write(tmp_path / "unknown", scores=scores), "--out", tmp_path / "x",
               "--date", DATE, code=2)
    scores = _scores()
    scores[7]["margin"] = float("nan")
    log.invoke("run", _write(tmp_path / "nan", scores=scores), "--out", tmp_path / "x",
               "--date", DATE, code=2)
    scores = _scores()
    scores.append(dict(scores[3]))
    log.invoke("run", _write(tmp_path / "twice", scores=scores), "--out", tmp_path / "x",
               "--date", DATE, code=2)
    customers = _customers()
    customers[3]["segment"] = None
    log.invoke("validate", _write(tmp_path / "null", customers=customers), "--date", DATE,
               code=2)

    everything = log.everything()
    assert "error: " in everything and "row" in everything
    leaked = [s for s in SECRETS if s in everything]
    assert leaked == [], leaked


def test_audit_only_columns_are_kept_apart(tmp_path: Path) -> None:
    scenario = _write(tmp_path / "scenario")
    s = load_scenario(scenario, run_date=RUN_DATE)
    assert "age_band" not in s.customers.columns  # what filters and the model read
    assert list(s.audit_columns.columns) == ["age_band"]
    # the same rows in the same (sorted-id) order
    by_id = dict(zip(IDS, AUDIT, strict=True))
    expected = [by_id[c] for c in s.customers["customer_id"]]
    assert s.audit_columns["age_band"].tolist() == expected
    assert "income" in s.customers.columns  # other attributes stay available to filters
    # ... and the report still sees them, as aggregates
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out), "--date", DATE])
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "summary.json").read_text())["audit"]["audit_only"]["age_band"]
    assert sorted(g["group"] for g in audit) == sorted(AUDIT)
    assert sum(g["customers"] for g in audit) == len(IDS)
    plan = pd.read_parquet(out / "plan.parquet")
    assert "age_band" not in plan.columns
