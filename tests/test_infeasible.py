"""Infeasible policies: the run names the constraints in conflict, by how much they must
move, exits 3 and writes nothing (a previous run directory stays as it was)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.app import app
from tests.scenario_factory import write_scenario

EMAIL = {"action_id": "E1", "channel": "email", "cost": 1.0, "discount": 0.0}
CUSTOMERS = [{"customer_id": c, "segment": s} for c, s in
             (("H1", "high"), ("L1", "low"), ("L2", "low"), ("L3", "low"))]
# L3 has no eligible action: at most 2 of the 3 low customers can be reached
SCORES = [{"customer_id": c, "action_id": "E1", "margin": 1.0} for c in ("H1", "L1", "L2")]
POLICY = """
[[objective]]
name = "profit"
maximize = { margin = 1.0 }

[[limit]]
name = "budget"
sum = "cost"
max = 1.0

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 1.0
"""


def test_infeasible_run_names_the_moves_and_writes_nothing(tmp_path: Path) -> None:
    # Coverage needs 3 low customers; only L1 and L2 are eligible, so the floor alone is the
    # conflict (no budget can fix it), and the budget (cost 1 a contact, max 1) pays for one
    # of them: with every other constraint held the floor must move by 2, to 1 customer.
    scenario = write_scenario(tmp_path / "s", CUSTOMERS, [EMAIL], SCORES, POLICY)
    out = tmp_path / "run"
    out.mkdir()
    (out / "plan.parquet").write_bytes(b"previous run")
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out),
                                      "--date", "2026-01-05"])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "infeasible" in text
    assert "floor 'low coverage': cover 2 fewer customers (need 3, at most 1 possible)" in text
    assert "in conflict (irreducible, shown by counting bounds): 'low coverage';" in text
    assert "limit 'budget': raise" not in text
    assert sorted(p.name for p in out.iterdir()) == ["plan.parquet"]
    assert (out / "plan.parquet").read_bytes() == b"previous run"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]


def test_history_that_already_breaks_a_cap_is_a_warning(tmp_path: Path) -> None:
    # Two sms in the last 7 days against a weekly max of 1: the plan cannot undo history,
    # so it adds no sms for C1 (email instead) and the run warns.
    sms = {"action_id": "S1", "channel": "sms", "cost": 0.0, "discount": 0.0}
    scenario = write_scenario(
        tmp_path / "s", [{"customer_id": "C1", "segment": "high"}], [EMAIL, sms],
        [{"customer_id": "C1", "action_id": "S1", "margin": 5.0},
         {"customer_id": "C1", "action_id": "E1", "margin": 1.0}],
        """
[[objective]]
name = "profit"
maximize = { margin = 1.0 }

[[cap]]
name = "sms weekly"
where = { channel = ["sms"] }
max = 1
window_days = 7
""",
        history=[{"customer_id": "C1", "action_id": "S1", "date": d}
                 for d in ("2026-01-02", "2026-01-03")],
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(scenario / "history.parquet")
    table = table.set_column(2, "date", table["date"].cast(pa.date32()))
    pq.write_table(table, scenario / "history.parquet")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out),
                                      "--date", "2026-01-05"])
    assert result.exit_code == 0, result.output
    assert "history alone already exceeds the cap" in " ".join(result.output.split())
    plan = pq.read_table(out / "plan.parquet").to_pandas()
    assert plan["action_id"].tolist() == ["E1"]
