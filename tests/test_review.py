"""Human review: the template every run writes and `contactopt approve`.

One hand-made scenario with a unique optimal plan: C01..C04 and C07 get the deep-discount
action D1 (a [[review]] rule), C05 and C06 only have the plain email E1 (no review). Two
floors hang on review contacts: every low customer (C03, C04) must be contacted, and the
high customer's (C01) margin must reach 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.app import app
from optimizer.scenario import load_scenario
from optimizer.verify import verify_plan
from tests.conftest import RUN_DATE
from tests.scenario_factory import write_scenario

DATE = RUN_DATE.isoformat()
POLICY = """\
[plan]
horizon_days = 1

[[objective]]
name = "profit"
maximize = { margin = 1.0 }

[[cap]]
name = "one a day"
max = 1

[[limit]]
name = "budget"
sum = "cost"
max = 100.0

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 1.0

[[floor]]
name = "high value"
where = { segment = ["high"] }
sum = "margin"
min = 2.0

[[review]]
name = "deep discounts"
where = { discount = { min = 0.3 } }
"""
SEGMENTS = {"C01": "high", "C02": "mid", "C03": "low", "C04": "low", "C05": "mid",
            "C06": "mid", "C07": "mid"}
REVIEW_IDS = ["C01", "C02", "C03", "C04", "C07"]


def _scenario(directory: Path, policy: str = POLICY, ids: dict[str, str] | None = None
              ) -> Path:
    ids = ids or {c: c for c in SEGMENTS}
    customers = [{"customer_id": ids[c], "segment": s} for c, s in SEGMENTS.items()]
    actions = [{"action_id": "E1", "channel": "email", "cost": 0.1, "discount": 0.0},
               {"action_id": "D1", "channel": "email", "cost": 0.5, "discount": 0.4}]
    scores = []
    for c in SEGMENTS:
        if c not in ("C03", "C04"):
            scores.append({"customer_id": ids[c], "action_id": "E1", "margin": 1.0,
                           "clv_delta": 0.5})
        if c not in ("C05", "C06"):
            scores.append({"customer_id": ids[c], "action_id": "D1", "margin": 3.0,
                           "clv_delta": 2.0})
    return write_scenario(directory, customers, actions, scores, policy)


def invoke(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The scenario and a pristine run directory (copied by each test before use)."""
    base = tmp_path_factory.mktemp("review")
    scenario = _scenario(base / "scenario")
    run = base / "run"
    result = invoke("run", scenario, "--out", run, "--date", DATE, "--time-limit", "30")
    assert result.exit_code == 0, result.output
    return scenario, run


@pytest.fixture
def run_dir(solved: tuple[Path, Path], tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "runs" / "run"
    shutil.copytree(solved[1], out)
    return out


def _decisions(path: Path, rows: dict[str, str | None], fmt: str = "csv") -> Path:
    """A decisions file deciding D1 on the run date for each customer in `rows`."""
    frame = pd.DataFrame({"customer_id": list(rows), "action_id": "D1", "date": DATE,
                          "decision": list(rows.values())})
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


# --- the template --------------------------------------------------------------------------

def test_run_writes_the_review_template(run_dir: Path) -> None:
    plan = _read(run_dir / "plan.parquet")
    review = pq.read_table(run_dir / "review.parquet")
    assert review.column_names == ["customer_id", "action_id", "date", "channel",
                                   "review_rule", "decision", "margin", "clv_delta"]
    assert review.schema.field("decision").type == pa.string()
    assert review.schema.field("date").type == pa.date32()
    frame = review.to_pandas()
    assert frame["decision"].isna().all()
    assert sorted(frame["customer_id"]) == REVIEW_IDS
    assert set(frame["review_rule"]) == {"deep discounts"}
    expected = plan[plan["review"]].drop(columns="review").reset_index(drop=True)
    pd.testing.assert_frame_equal(frame.drop(columns="decision"), expected[frame.columns.drop(
        "decision")])
    assert sorted(plan.loc[~plan["review"], "customer_id"]) == ["C05", "C06"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["review"] == len(frame)
    assert Path(summary["inputs"]["scenario"]).is_dir()


def test_a_policy_without_review_writes_an_empty_template(tmp_path: Path) -> None:
    policy = POLICY[:POLICY.index("[[review]]")]
    scenario = _scenario(tmp_path / "scenario", policy)
    out = tmp_path / "run"
    assert invoke("run", scenario, "--out", out, "--date", DATE).exit_code == 0
    review = pq.read_table(out / "review.parquet")
    assert review.num_rows == 0 and "decision" in review.column_names
    empty = tmp_path / "none.csv"
    empty.write_text("customer_id,action_id,date,decision\n")
    result = invoke("approve", out, "--decisions", empty)
    assert result.exit_code == 0, result.output
    final = _read(out / "final_plan.parquet")
    assert len(final) == len(_read(out / "plan.parquet")) == 7


# --- the flow ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_decisions_are_applied_and_rechecked(run_dir: Path, solved: tuple[Path, Path],
                                             tmp_path: Path, fmt: str) -> None:
    plan = _read(run_dir / "plan.parquet")
    file = _decisions(tmp_path / f"decisions.{fmt}",
                      {"C01": "Approve", "C02": "DECLINE", "C03": " approve ",
                       "C04": "approve", "C07": None}, fmt)
    result = invoke("approve", run_dir, "--decisions", file)
    assert result.exit_code == 0, result.output
    assert "3 approved, 1 declined, 1 pending" in result.stderr

    final = _read(run_dir / "final_plan.parquet")
    assert sorted(final["customer_id"]) == ["C01", "C03", "C04", "C05", "C06"]
    # every kept row is the plan's row, unchanged
    kept = plan[~plan["customer_id"].isin(["C02", "C07"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(final.drop(columns="decision"), kept)
    assert final.loc[final["review"], "decision"].eq("approve").all()
    assert final.loc[~final["review"], "decision"].isna().all()
    # the verifier, run here again, agrees
    scenario = load_scenario(solved[0], run_date=RUN_DATE)
    assert verify_plan(scenario, final) == []

    record = json.loads((run_dir / "approval.json").read_text())
    assert record["counts"] == {"plan": 7, "review": 5, "approved": 3, "declined": 1,
                                "pending": 1, "final": 5, "removed": 2}
    assert record["by_rule"] == {"deep discounts": {"approved": 3, "declined": 1,
                                                    "pending": 1}}
    assert record["verifier"] == {"ok": True, "violations": []}
    assert record["objectives"] == [{"name": "profit", "plan": 3.0 * 5 + 2,
                                     "final": 3.0 * 3 + 2}]
    assert record["fingerprints"] == json.loads(
        (run_dir / "summary.json").read_text())["fingerprints"]
    assert record["decisions"]["fingerprint"].startswith("sha256:")

    # nothing lost: every review contact has exactly one outcome
    outcomes = _read(run_dir / "approval.parquet")
    review = _read(run_dir / "review.parquet")
    assert len(outcomes) == len(review)
    pd.testing.assert_frame_equal(outcomes.drop(columns=["decision", "outcome"]),
                                  review.drop(columns="decision"))
    by_id = dict(zip(outcomes["customer_id"], outcomes["outcome"], strict=True))
    assert by_id == {"C01": "approved", "C02": "declined", "C03": "approved",
                     "C04": "approved", "C07": "pending"}
    approved = set(outcomes.loc[outcomes["outcome"] == "approved", "customer_id"])
    assert approved | {"C05", "C06"} == set(final["customer_id"])
    # the run's own files are untouched
    assert _read(run_dir / "plan.parquet").equals(plan)


def test_missing_rows_are_pending_never_approved(run_dir: Path, tmp_path: Path) -> None:
    file = _decisions(tmp_path / "d.csv", {"C01": "approve", "C03": "approve",
                                           "C04": "approve"})
    result = invoke("approve", run_dir, "--decisions", file)
    assert result.exit_code == 0, result.output
    assert "2 pending" in result.stderr
    final = _read(run_dir / "final_plan.parquet")
    assert not {"C02", "C07"} & set(final["customer_id"])


def test_the_filled_template_is_a_decisions_file(run_dir: Path, tmp_path: Path) -> None:
    review = pq.read_table(run_dir / "review.parquet").to_pandas()
    review["decision"] = "approve"
    file = tmp_path / "filled.parquet"
    review.to_parquet(file, index=False)
    result = invoke("approve", run_dir, "--decisions", file)
    assert result.exit_code == 0, result.output
    assert len(_read(run_dir / "final_plan.parquet")) == 7


def test_reapproval_replaces_the_previous_final_plan(run_dir: Path, tmp_path: Path) -> None:
    first = _decisions(tmp_path / "a.csv", {"C01": "approve", "C02": "decline",
                                            "C03": "approve", "C04": "approve"})
    assert invoke("approve", run_dir, "--decisions", first).exit_code == 0
    second = _decisions(tmp_path / "b.csv", dict.fromkeys(REVIEW_IDS, "approve"))
    assert invoke("approve", run_dir, "--decisions", second).exit_code == 0
    assert len(_read(run_dir / "final_plan.parquet")) == 7
    assert json.loads((run_dir / "approval.json").read_text())["counts"]["declined"] == 0
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "approval.json", "approval.parquet", "final_plan.parquet", "plan.parquet",
        "report.html", "review.parquet", "summary.json"]
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["run"]  # no temp siblings


def test_out_writes_elsewhere_and_leaves_the_run_alone(run_dir: Path, tmp_path: Path) -> None:
    before = _snapshot(run_dir)
    file = _decisions(tmp_path / "d.csv", dict.fromkeys(REVIEW_IDS, "approve"))
    out = tmp_path / "approved"
    result = invoke("approve", run_dir, "--decisions", file, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["approval.json", "approval.parquet",
                                                     "final_plan.parquet"]
    assert _snapshot(run_dir) == before


# --- refusals that write nothing -----------------------------------------------------------

@pytest.mark.parametrize(("declined", "floor", "shortfall"), [
    ("C03", "floor 'low coverage': 1 of 2 customer(s)", "short by 1"),
    ("C01", "floor 'high value': margin sums to 0 over the horizon; min 2", "short by 2"),
])
def test_a_decline_that_breaks_a_floor_is_refused(run_dir: Path, tmp_path: Path,
                                                  declined: str, floor: str,
                                                  shortfall: str) -> None:
    ok = _decisions(tmp_path / "ok.csv", dict.fromkeys(REVIEW_IDS, "approve"))
    assert invoke("approve", run_dir, "--decisions", ok).exit_code == 0
    before = _snapshot(run_dir)
    bad = _decisions(tmp_path / "bad.csv", dict.fromkeys(REVIEW_IDS, "approve")
                     | {declined: "decline"})
    result = invoke("approve", run_dir, "--decisions", bad)
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    assert "refused" in text and "nothing written" in text
    assert floor in text and shortfall in text
    assert declined not in text  # no customer id in the log
    assert _snapshot(run_dir) == before  # the previous final plan is untouched
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["run"]


def test_pending_contacts_count_as_removed_for_the_floors(run_dir: Path,
                                                          tmp_path: Path) -> None:
    file = _decisions(tmp_path / "d.csv", {"C01": "approve", "C03": "approve"})  # C04 pending
    before = _snapshot(run_dir)
    result = invoke("approve", run_dir, "--decisions", file)
    assert result.exit_code == 1
    assert "floor 'low coverage'" in result.stderr and "3 pending" in result.stderr
    assert _snapshot(run_dir) == before


BAD_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "missing column": ("customer_id,action_id,date\nC01,D1,2026-01-05\n",
                       ("d.csv: column 'decision'", "required column is missing")),
    "bad decision": ("customer_id,action_id,date,decision\nC01,D1,2026-01-05,approve\n"
                     "C02,D1,2026-01-05,yes\n",
                     ("d.csv: column 'decision'", "neither 'approve' nor 'decline'",
                      "row 1", "'yes'")),
    "duplicate": ("customer_id,action_id,date,decision\nC01,D1,2026-01-05,approve\n"
                  "C02,D1,2026-01-05,approve\nC01,D1,2026-01-05,decline\n",
                  ("d.csv", "1 contact(s) are decided more than once", "rows 0, 2")),
    "not in the plan": ("customer_id,action_id,date,decision\nC01,D1,2026-01-06,approve\n",
                        ("d.csv", "not awaiting review", "row 0")),
    "needs no review": ("customer_id,action_id,date,decision\nC05,E1,2026-01-05,decline\n",
                        ("d.csv", "not awaiting review (not in review.parquet)", "row 0")),
    "unknown customer": ("customer_id,action_id,date,decision\nC99,D1,2026-01-05,approve\n",
                         ("d.csv", "not awaiting review", "row 0")),
    "empty key": ("customer_id,action_id,date,decision\n,D1,2026-01-05,approve\n",
                  ("d.csv: column 'customer_id'", "empty value", "row 0")),
    "ragged row": ("customer_id,action_id,date,decision\nC01,D1\n",
                   ("d.csv", "cannot be read", "Expected 4 columns, got 2")),
    "bad date": ("customer_id,action_id,date,decision\nC01,D1,05/01/2026,approve\n",
                 ("d.csv: column 'date'", "not dates YYYY-MM-DD", "row 0")),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_bad_decisions_file_is_refused_whole(run_dir: Path, tmp_path: Path,
                                               case: str) -> None:
    text, expect = BAD_FILES[case]
    file = tmp_path / "d.csv"
    file.write_text(text)
    before = _snapshot(run_dir)
    result = invoke("approve", run_dir, "--decisions", file)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in expect:
        assert fragment in errors[0], (fragment, errors[0])
    for cid in ("C01", "C02", "C05", "C99"):
        assert cid not in result.stderr
    assert _snapshot(run_dir) == before


@pytest.mark.parametrize(("name", "expect"), [
    ("missing.csv", "decisions file not found"),
    ("d.xlsx", "must be .parquet or .csv"),
])
def test_an_unreadable_decisions_file_is_refused(run_dir: Path, tmp_path: Path, name: str,
                                                 expect: str) -> None:
    if name != "missing.csv":
        (tmp_path / name).write_text("x")
    result = invoke("approve", run_dir, "--decisions", tmp_path / name)
    assert result.exit_code == 2 and expect in result.stderr
    assert not (run_dir / "final_plan.parquet").exists()


def test_integer_customer_ids_match_a_csv(tmp_path: Path) -> None:
    ids = {c: int(c[1:]) * 1000 for c in SEGMENTS}
    scenario = _scenario(tmp_path / "scenario", ids=ids)
    out = tmp_path / "run"
    assert invoke("run", scenario, "--out", out, "--date", DATE).exit_code == 0
    file = tmp_path / "d.csv"
    file.write_text("customer_id,action_id,date,decision\n"
                    + "".join(f"{ids[c]},D1,{DATE},approve\n" for c in REVIEW_IDS))
    result = invoke("approve", out, "--decisions", file)
    assert result.exit_code == 0, result.output
    assert len(_read(out / "final_plan.parquet")) == 7
    file.write_text(f"customer_id,action_id,date,decision\nC1000,D1,{DATE},approve\n")
    result = invoke("approve", out, "--decisions", file)
    assert result.exit_code == 2 and "customer ids are integers in this run" in result.stderr


# --- the run and its inputs ----------------------------------------------------------------

def _edit(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_scenario_from_summary_or_given(run_dir: Path, solved: tuple[Path, Path],
                                        tmp_path: Path) -> None:
    _edit(run_dir / "summary.json", lambda d: d.pop("inputs"))
    file = _decisions(tmp_path / "d.csv", dict.fromkeys(REVIEW_IDS, "approve"))
    result = invoke("approve", run_dir, "--decisions", file)
    assert result.exit_code == 2 and "give --scenario" in result.stderr
    result = invoke("approve", run_dir, "--decisions", file, "--scenario", solved[0])
    assert result.exit_code == 0, result.output
    record = json.loads((run_dir / "approval.json").read_text())
    assert record["scenario"] == str(solved[0].resolve())


def test_changed_inputs_are_refused(run_dir: Path, solved: tuple[Path, Path],
                                    tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "scenario"
    shutil.copytree(solved[0], copy)
    policy = copy / "policy.toml"
    policy.write_text(policy.read_text().replace("max = 100.0", "max = 90.0"))
    file = _decisions(tmp_path / "d.csv", dict.fromkeys(REVIEW_IDS, "approve"))
    result = invoke("approve", run_dir, "--decisions", file, "--scenario", copy)
    assert result.exit_code == 2
    assert "policy.toml changed since the run" in " ".join(result.stderr.split())
    assert not (run_dir / "final_plan.parquet").exists()


def test_review_rows_must_match_the_plan(run_dir: Path, tmp_path: Path) -> None:
    file = _decisions(tmp_path / "d.csv", dict.fromkeys(REVIEW_IDS, "approve"))
    review = pq.read_table(run_dir / "review.parquet")
    pq.write_table(review.slice(1), run_dir / "review.parquet")  # a review row lost
    result = invoke("approve", run_dir, "--decisions", file)
    assert result.exit_code == 2
    assert "review.parquet: does not list exactly the plan's contacts" in result.stderr


def test_review_flags_are_rechecked_against_the_policy(run_dir: Path, tmp_path: Path) -> None:
    # a contact that matches [[review]] but is not marked would be approved silently
    plan = pq.read_table(run_dir / "plan.parquet")
    flags = pa.array([False] * plan.num_rows)
    plan = plan.set_column(plan.column_names.index("review"), "review", flags)
    pq.write_table(plan, run_dir / "plan.parquet")
    pq.write_table(pq.read_table(run_dir / "review.parquet").slice(0, 0),
                   run_dir / "review.parquet")
    empty = tmp_path / "none.csv"
    empty.write_text("customer_id,action_id,date,decision\n")
    result = invoke("approve", run_dir, "--decisions", empty)
    assert result.exit_code == 2
    assert "5 contact(s) are marked for review differently" in result.stderr
    assert not (run_dir / "final_plan.parquet").exists()


def test_a_new_run_drops_the_old_approval(run_dir: Path, solved: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    file = _decisions(tmp_path / "d.csv", dict.fromkeys(REVIEW_IDS, "approve"))
    assert invoke("approve", run_dir, "--decisions", file).exit_code == 0
    assert invoke("run", solved[0], "--out", run_dir, "--date", DATE).exit_code == 0
    assert not (run_dir / "final_plan.parquet").exists()
