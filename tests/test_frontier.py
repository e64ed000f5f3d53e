"""The efficient frontier: monotone, every point's plan verified, end points equal to
separate solves; the command's files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.app import app
from optimizer.blend import blend
from optimizer.errors import InputError
from optimizer.frontier import Axis, Frontier, FrontierOptions, compute_frontier, parse_axis
from optimizer.frontier_io import chart_img_tag
from optimizer.lexicographic import LEVEL_SLACK
from optimizer.outputs import plan_table
from optimizer.problem import LinearRow, Problem, build_problem
from optimizer.scenario import Scenario, load_scenario
from optimizer.solvers import SolveRequest, get_solver
from optimizer.verify import verify_plan
from tests.conftest import RUN_DATE
from tests.scenario_factory import write_scenario

runner = CliRunner()
DATE = ["--date", RUN_DATE.isoformat()]
PNG = b"\x89PNG\r\n\x1a\n"

# Margin and customer value pull apart (email earns, mail builds value, sms sits between),
# and every kind of hard constraint bites: one contact a day, an sms consent rule, no mail
# within 3 days after a call, a discount budget and a value floor on the low segment.
POLICY = """
[plan]
horizon_days = 2

[[objective]]
name = "profit"
maximize = { margin = 1.0, cost = -1.0 }

[[objective]]
name = "relationship"
maximize = { clv_delta = 1.0 }

[[cap]]
name = "one a day"
max = 1
window_days = 1

[[limit]]
name = "discount budget"
sum = "discount_cost"
max = 9.0

[[floor]]
name = "low value"
where = { segment = ["low"] }
sum = "clv_delta"
min = 16.0

[[conflict]]
name = "no mail after a call"
first = { channel = ["call"] }
then = { channel = ["mail"] }
within_days = 3

[[rule]]
name = "sms needs consent"
deny = { channel = ["sms"] }
unless = "consent_sms"
"""
ACTIONS = [
    {"action_id": "E1", "channel": "email", "cost": 0.1, "discount": 0.2},
    {"action_id": "S1", "channel": "sms", "cost": 0.3, "discount": 0.0},
    {"action_id": "M1", "channel": "mail", "cost": 1.0, "discount": 0.0},
    {"action_id": "K1", "channel": "call", "cost": 2.0, "discount": 0.0},
]
# per action: (margin, clv_delta, discount_cost, churn_risk_delta) before customer noise
BASE = {"E1": (6.0, 0.5, 1.5, 0.02), "S1": (4.0, 2.0, 0.0, 0.0),
        "M1": (1.5, 4.5, 0.0, -0.03), "K1": (7.0, 3.0, 0.0, -0.05)}


def make_scenario(directory: Path) -> Path:
    rng = np.random.default_rng(11)
    customers = [{"customer_id": f"C{i}", "segment": "low" if i % 2 else "high",
                  "consent_sms": bool(i % 3)} for i in range(1, 9)]
    scores = []
    for c in customers:
        for a, (margin, clv, disc, churn) in BASE.items():
            if rng.random() < 0.15:
                continue  # not every pair is eligible
            for day in (0, 1):
                k = rng.uniform(0.6, 1.4)
                scores.append({"customer_id": c["customer_id"], "action_id": a, "day": day,
                               "margin": round(margin * k, 2), "clv_delta": round(clv / k, 2),
                               "discount_cost": disc, "churn_risk_delta": churn * k})
    return write_scenario(directory, customers, ACTIONS, scores, POLICY)


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_scenario(tmp_path_factory.mktemp("frontier") / "scenario")


@pytest.fixture(scope="module")
def loaded(scenario_dir: Path) -> tuple[Scenario, Problem]:
    s = load_scenario(scenario_dir, run_date=RUN_DATE)
    return s, build_problem(s)


def _frontier(loaded, x: str, y: str, points: int = 5) -> Frontier:
    s, problem = loaded
    return compute_frontier(s, problem, get_solver("cp-sat"), parse_axis(s, problem, x, "--x"),
                            parse_axis(s, problem, y, "--y"),
                            FrontierOptions(points=points, time_limit=60))


@pytest.fixture(scope="module")
def margin_vs_clv(loaded) -> Frontier:
    return _frontier(loaded, "margin", "clv_delta")


def _best(problem: Problem, objective: np.ndarray,
          rows: tuple[LinearRow, ...] = ()) -> tuple[float, np.ndarray]:
    result = get_solver("cp-sat").solve(problem, SolveRequest(
        objective=objective, extra_rows=rows, time_limit=30))
    assert result.termination == "optimal" and result.x is not None
    return float(result.objective), result.x > 0.5


def _verify(s: Scenario, problem: Problem, chosen: np.ndarray) -> None:
    assert verify_plan(s, plan_table(s, problem, chosen).to_pandas()) == []


def test_frontier_is_monotone_and_every_plan_keeps_the_policy(loaded, margin_vs_clv) -> None:
    s, problem = loaded
    f = margin_vs_clv
    assert len(f.points) == 5
    eps = np.array([p.eps for p in f.points])
    xs = np.array([p.x for p in f.points])
    ys = np.array([p.y for p in f.points])
    assert np.all(np.diff(eps) > 0)
    assert np.all(np.diff(xs) <= 1e-6)  # a tighter floor on y never buys more x
    assert np.all(ys >= eps - 1e-6)
    assert xs[0] > xs[-1] and ys[-1] > ys[0]  # the quantities really pull apart here
    for p in f.points:
        assert p.status == "optimal" and p.gap == pytest.approx(0.0, abs=1e-9)
        assert p.bound == pytest.approx(p.x, abs=1e-6)
        assert p.x == pytest.approx(f.x.of(p.chosen)) and p.contacts == p.chosen.sum()
        _verify(s, problem, p.chosen)
    assert f.current is not None and f.current.source == "solved"


def test_end_points_match_separate_solves(loaded, margin_vs_clv) -> None:
    _, problem = loaded
    f = margin_vs_clv
    best_x, _ = _best(problem, f.x.values)
    best_y, _ = _best(problem, f.y.values)
    assert f.points[0].x == pytest.approx(best_x, abs=1e-6)
    assert f.points[-1].y == pytest.approx(best_y, abs=1e-6)
    # the y end: the best x among plans with the best y (lexicographic)
    nz = np.flatnonzero(f.y.values)
    keep_y = LinearRow("y", "level", ">=", best_y - LEVEL_SLACK * max(1.0, abs(best_y)), nz,
                       f.y.values[nz])
    x_at_best_y, _ = _best(problem, f.x.values, (keep_y,))
    assert f.points[-1].x == pytest.approx(x_at_best_y, abs=1e-6)
    # the x end: the best y among plans with the best x
    nz = np.flatnonzero(f.x.values)
    keep_x = LinearRow("x", "level", ">=", best_x - LEVEL_SLACK * max(1.0, abs(best_x)), nz,
                       f.x.values[nz])
    y_at_best_x, _ = _best(problem, f.y.values, (keep_x,))
    assert f.points[0].y == pytest.approx(y_at_best_x, abs=1e-6)


def test_blend_of_two_plans_keeps_every_constraint(loaded, margin_vs_clv) -> None:
    # from the y end's plan toward the x end's, under an eps halfway between their ys: the
    # mix must keep the eps row and the policy, and be worth at least the y end's plan
    s, problem = loaded
    f = margin_vs_clv
    rich, poor = f.points[-1].chosen, f.points[0].chosen
    half = 0.5 * (f.points[0].y + f.points[-1].y)
    nz = np.flatnonzero(f.y.values)
    eps_row = LinearRow("eps", "level", ">=", half, nz, f.y.values[nz])
    mix = blend(problem, rich, poor, f.x.values, (*problem.rows, eps_row))
    assert eps_row.activity(mix) >= half - 1e-9
    assert f.x.of(rich) <= f.x.of(mix) <= f.points[0].x + 1e-9
    assert f.x.of(mix) > f.x.of(rich)  # here some customers can move
    _verify(s, problem, mix)
    # customers move whole: each one's contacts come from one of the two plans
    t = problem.triples
    for c in np.unique(t.customer):
        mine = t.customer == c
        assert np.array_equal(mix[mine], rich[mine]) or np.array_equal(mix[mine], poor[mine])


def test_decomposition_keeps_a_feasible_hint(loaded, margin_vs_clv) -> None:
    # the decomposition solver ignores no warm start: a plan that keeps every row is one of
    # its candidates, so it never returns less (nor no plan at all)
    # even under the hardest eps (the largest y), where its own repair may find nothing
    _, problem = loaded
    f = margin_vs_clv
    hint = f.points[-1].chosen
    nz = np.flatnonzero(f.y.values)
    eps_row = LinearRow("eps", "level", ">=", f.y.of(hint) - 1e-9, nz, f.y.values[nz])
    result = get_solver("decomposition").solve(problem, SolveRequest(
        objective=f.x.values, extra_rows=(eps_row,), time_limit=2, hint=hint))
    assert result.x is not None and result.objective >= f.x.of(hint) - 1e-9


def test_frontier_with_the_decomposition_solver(loaded) -> None:
    s, problem = loaded
    f = compute_frontier(s, problem, get_solver("decomposition"),
                         parse_axis(s, problem, "margin", "--x"),
                         parse_axis(s, problem, "clv_delta", "--y"),
                         FrontierOptions(points=3, time_limit=30))
    assert np.all(np.diff([p.x for p in f.points]) <= 1e-6)
    for p in f.points:
        assert p.y >= p.eps - 1e-6 and p.bound is not None and p.bound >= p.x - 1e-6
        _verify(s, problem, p.chosen)


def test_minimized_y_and_a_level_as_x(loaded) -> None:
    s, problem = loaded
    f = _frontier(loaded, "profit", "-churn_risk_delta", points=3)
    assert (f.x.label, f.x.sense, f.y.sense) == ("profit", "max", "min")
    assert np.array_equal(f.x.values, problem.levels[0].values)
    eps = np.array([p.eps for p in f.points])
    assert np.all(np.diff(eps) < 0)  # y <= eps, eps falling: the requirement tightens
    assert all(p.y <= p.eps + 1e-9 for p in f.points)
    assert np.all(np.diff([p.x for p in f.points]) <= 1e-6)
    best_x, _ = _best(problem, problem.levels[0].values)
    least_y, _ = _best(problem, -f.y.values)
    assert f.points[0].x == pytest.approx(best_x, abs=1e-6)
    assert f.points[-1].y == pytest.approx(-least_y, abs=1e-6)
    for p in f.points:
        _verify(s, problem, p.chosen)


def test_axis_names(loaded) -> None:
    s, problem = loaded
    assert parse_axis(s, problem, "contacts", "--x").values.sum() == problem.size
    assert parse_axis(s, problem, "-cost", "--x").sense == "min"
    assert parse_axis(s, problem, "level.relationship", "--x").label == "level.relationship"
    with pytest.raises(InputError, match=r"--y: names no quantity .*did you mean 'clv_delta'"):
        parse_axis(s, problem, "clv_delt", "--y")


def test_chart_embeds_as_an_img_tag(margin_vs_clv) -> None:
    tag = chart_img_tag(margin_vs_clv)
    assert tag.startswith("<img ")
    data = tag.split("base64,")[1].split("'")[0]
    assert base64.b64decode(data).startswith(PNG)


def test_options_are_checked() -> None:
    with pytest.raises(InputError, match="--points: must be at least 2"):
        FrontierOptions(points=1).check()
    assert Axis("m", "min", np.ones(2)).sign == -1.0


# --- the command ---------------------------------------------------------------------------

def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join((result.output + (result.stderr or "")).split())


def test_cli_writes_the_frontier(scenario_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "frontier"
    code, text = invoke("frontier", str(scenario_dir), "--x", "margin", "--y", "clv_delta",
                        "--points", "3", "--out", str(out), *DATE, "--solver", "cp-sat",
                        "--time-limit", "40", "--plans")
    assert code == 0, text
    assert "point 1/3" in text and "point 3/3" in text  # progress per point on stderr
    assert sorted(p.name for p in out.iterdir()) == ["frontier.json", "frontier.parquet",
                                                    "frontier.png", "plans"]
    assert (out / "frontier.png").read_bytes().startswith(PNG)
    table = pq.read_table(out / "frontier.parquet")
    assert table.column_names == ["point", "eps", "x", "y", "bound", "gap", "status",
                                  "contacts", "seconds"]
    assert table.num_rows == 3
    meta = json.loads((out / "frontier.json").read_text())
    assert meta["x"] == {"name": "margin", "sense": "max"} and meta["current"] is not None
    s = load_scenario(scenario_dir, run_date=RUN_DATE)
    for k in range(3):
        plan = pq.read_table(out / "plans" / f"point-{k:02d}.parquet").to_pandas()
        assert verify_plan(s, plan) == []


def test_cli_with_a_run_adds_the_frontier_to_its_report(scenario_dir: Path,
                                                       tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, text = invoke("run", str(scenario_dir), "--out", str(run_dir), *DATE,
                        "--solver", "cp-sat", "--time-limit", "20")
    assert code == 0, text
    assert "Efficient frontier" not in (run_dir / "report.html").read_text()
    code, text = invoke("frontier", str(scenario_dir), "--x", "margin", "--y", "clv_delta",
                        "--points", "2", "--run", str(run_dir), "--solver", "cp-sat",
                        "--time-limit", "30")
    assert code == 0, text
    meta = json.loads((run_dir / "frontier" / "frontier.json").read_text())
    assert meta["current"]["source"] == str(run_dir)
    report = (run_dir / "report.html").read_text()
    assert "Efficient frontier" in report and "data:image/png;base64," in report


@pytest.mark.parametrize(("args", "message"), [
    (["--x", "margn", "--y", "clv_delta"], "--x: names no quantity"),
    (["--x", "margin", "--y", "margin"], "--y: names the same quantity as --x"),
    (["--x", "margin", "--y", "clv_delta", "--points", "1"], "--points: must be at least 2"),
    (["--x", "margin", "--y", "clv_delta", "--run", "/nonexistent/run"],
     "run directory not found"),
])
def test_cli_bad_inputs_write_nothing(scenario_dir: Path, tmp_path: Path, args: list[str],
                                      message: str) -> None:
    out = tmp_path / "out"
    code, text = invoke("frontier", str(scenario_dir), *args, "--out", str(out), *DATE)
    assert code == 2, text
    assert message in text
    assert not out.exists()
