"""`contactopt simulate`: a deterministic toy world whose mechanics are what the README says,
and whose every nightly plan is the real solver's, keeping the policy over history."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.app import app
from optimizer.errors import InputError
from optimizer.outputs import plan_table
from optimizer.problem import Problem
from optimizer.result import PlanResult
from optimizer.scenario import Scenario
from optimizer.simulate import (
    DEFAULT_POLICIES,
    FILES,
    Simulation,
    SimulationOptions,
    State,
    World,
    WorldParams,
    apply_plan,
    load_policies,
    night_scenario,
    night_scores,
    simulate,
    solve_night,
    write_simulation,
)
from optimizer.synthetic import LOW
from optimizer.verify import verify_plan

SALES, BALANCED = DEFAULT_POLICIES
SMALL = SimulationOptions(days=8, customers=60, actions=6, seed=4)


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("sim") / "out"
    sim = simulate([SALES, BALANCED], SMALL)
    write_simulation(out, sim)
    return out, sim


# --- determinism and outputs ---------------------------------------------------------------

def test_same_seed_same_bytes(small_run: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = small_run
    again = tmp_path / "again"
    write_simulation(again, simulate([SALES, BALANCED], SMALL))
    assert (again / "simulation.parquet").read_bytes() == \
        (out / "simulation.parquet").read_bytes()


def test_another_seed_another_world(small_run: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = small_run
    other = tmp_path / "other"
    write_simulation(other, simulate([SALES], SimulationOptions(days=8, customers=60,
                                                                actions=6, seed=5)))
    a = pq.read_table(out / "simulation.parquet").to_pandas()
    b = pq.read_table(other / "simulation.parquet").to_pandas()
    assert not np.allclose(a[a.policy == "sales_only"].revenue.to_numpy(), b.revenue.to_numpy())


def test_outputs_day_by_policy(small_run: tuple[Path, object]) -> None:
    out, _ = small_run
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    table = pq.read_table(out / "simulation.parquet").to_pandas()
    assert len(table) == 2 * SMALL.days
    assert list(table.policy.unique()) == ["sales_only", "balanced"]
    for _, rows in table.groupby("policy"):
        assert rows.day.tolist() == list(range(1, SMALL.days + 1))
        assert np.allclose(rows.cum_margin, rows.margin.cumsum())
        assert (rows.cum_churned == rows.churned.cumsum()).all()
        assert (rows.active == SMALL.customers - rows.cum_churned).all()
        assert rows.low_coverage_30d.between(0, 1).all()
    summary = json.loads((out / "simulation.json").read_text())
    totals = summary["policies"]["balanced"]["totals"]
    rows = table[table.policy == "balanced"]
    assert totals["contacts"] == rows.contacts.sum()
    assert totals["margin"] == pytest.approx(rows.margin.sum(), abs=0.01)
    assert (out / "simulation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoints() -> None:
    def marks(days: int) -> list[int]:
        return Simulation(SimulationOptions(days=days), None, [], 0.0).checkpoints()  # type: ignore[arg-type]

    assert marks(90) == [30, 60, 90]
    assert marks(45) == [30, 45]
    assert marks(5) == [5]


# --- the world's mechanics on hand-checked cases ------------------------------------------

@pytest.fixture(scope="module")
def world() -> World:
    return World(SimulationOptions(days=40, customers=30, actions=6, seed=1))


def test_fatigue_lowers_response_by_the_documented_logit(world: World) -> None:
    prm = world.params
    fresh, tired = State(world), State(world)
    tired.daily[[5, 8, 9], 0] = 1  # customer 0: 3 contacts in the 7 days before night 10
    tired.daily[0, 0] = 1  # and one more 10 days before: 4 in the last 30
    eps = np.zeros((world.n, world.m))
    p_fresh = night_scores(world, fresh, 10, eps).p
    p_tired = night_scores(world, tired, 10, eps).p
    inside = (p_fresh[0] > 1e-4) & (p_fresh[0] < 0.95) & (p_tired[0] > 1e-4)
    assert inside.any()
    drop = logit(p_fresh[0, inside]) - logit(p_tired[0, inside])
    assert np.allclose(drop, 3 * prm.fatigue_7 + 4 * prm.fatigue_30)
    assert np.array_equal(p_fresh[1:], p_tired[1:])  # nobody else is affected


def _contact(world: World, state: State, night: int, customer: int, action: int) -> None:
    """Apply a one-contact plan with no conversion and no churn draw."""
    tonight = night_scores(world, state, night, np.zeros((world.n, world.m)))
    u = np.ones((world.n, world.m))  # U = 1: never converts
    v = np.ones(world.n)  # V = 1: never churns
    apply_plan(world, state, night, tonight, np.array([customer]), np.array([action]), u, v)


def test_churn_score_rises_with_over_contact_and_falls_with_relevant_contact(
        world: World) -> None:
    prm = world.params
    relevant = np.flatnonzero(world.relevant[0])
    dull = np.flatnonzero(~world.relevant[0])
    assert len(relevant) and len(dull)
    # within the allowance (2 in 7 days): a dull contact moves nothing but the decay
    state = State(world)
    _contact(world, state, 0, 0, dull[0])
    _contact(world, state, 1, 0, dull[0])
    assert state.score[0] == 0.0
    # the third in 7 days is over-contact: +P7
    _contact(world, state, 2, 0, dull[0])
    assert state.score[0] == pytest.approx(prm.push_7)
    before = state.score[0]
    _contact(world, state, 3, 0, dull[0])  # the 4th: +P7 again, after the decay
    assert state.score[0] == pytest.approx(prm.decay * before + prm.push_7)
    # a relevant contact within the allowance lowers the score by R
    calm = State(world)
    _contact(world, calm, 0, 0, relevant[0])
    assert calm.score[0] == pytest.approx(-prm.relief)
    # hazard follows the score: h0 e^s
    tonight = night_scores(world, state, 4, np.zeros((world.n, world.m)))
    risk = tonight.scores.kpis["churn_risk_delta"][tonight.scores.customer == 0]
    assert (risk > 0).any()  # another contact this week would add risk


def test_churn_risk_delta_sign(world: World) -> None:
    """A scorer's view: over-contact adds churn risk, a relevant contact removes some."""
    state = State(world)
    eps = np.zeros((world.n, world.m))
    fresh = night_scores(world, state, 0, eps)
    rows = fresh.scores
    rel = world.relevant[fresh.active[rows.customer], rows.action]
    risk = rows.kpis["churn_risk_delta"]
    assert (risk[rel] < 0).all() and (risk[~rel] == 0).all()
    state.daily[[0, 1, 2], :] = 1  # everyone contacted on 3 of the last 7 days
    tired = night_scores(world, state, 3, eps).scores.kpis["churn_risk_delta"]
    assert (tired[~rel] > 0).all()


def test_high_hazard_churns_and_churned_customers_get_no_contacts() -> None:
    params = WorldParams(base_hazard=(0.0, 0.0, 0.3))
    options = SimulationOptions(days=6, customers=50, actions=5, seed=2, params=params)
    sim = simulate([SALES], options)
    run = sim.runs[0]
    low = sim.world.segment == LOW
    assert (run.churn_night[~low] == -1).all()  # zero hazard: nobody else leaves
    assert (run.churn_night[low] >= 0).sum() > low.sum() / 2
    for night, customers in enumerate(run.log_customer):
        gone = run.churn_night[customers]
        assert ((gone == -1) | (gone >= night)).all()  # no contact after the night one left
    assert [r["active"] for r in run.rows][-1] == int((run.churn_night == -1).sum())


# --- every nightly plan keeps the policy ---------------------------------------------------

def test_every_night_verifies_and_caps_hold_over_the_whole_log() -> None:
    checked = []

    def verify(name: str, night: int, s: Scenario, problem: Problem,
               result: PlanResult | None) -> None:
        if result is None:
            return
        assert result.chosen is not None
        plan = plan_table(s, problem, result.chosen).to_pandas()
        assert verify_plan(s, plan) == [], (name, night)
        checked.append((name, night, len(s.history)))

    options = SimulationOptions(days=12, customers=80, actions=6, seed=3)
    sim = simulate([BALANCED], options, on_night=verify)
    assert len(checked) >= options.days - 3
    assert any(h > 0 for _, _, h in checked)  # history did reach the later nights
    run = sim.runs[0]
    daily = np.zeros((options.days, options.customers), dtype=int)
    for night, customers in enumerate(run.log_customer):
        np.add.at(daily[night], customers, 1)
    caps = {c.name: c for c in load_policies([BALANCED])[0].policy.caps}
    assert any(c.window_days > 1 for c in caps.values())  # a cap that reaches into history
    for cap in caps.values():
        window = np.lib.stride_tricks.sliding_window_view(
            np.vstack([np.zeros((cap.window_days - 1, options.customers), int), daily]),
            cap.window_days, axis=0).sum(axis=-1)
        assert window.max() <= cap.max, cap.name
    assert daily.sum() > 0


def test_night_plans_with_churned_customers_out_of_the_scenario(world: World) -> None:
    policy = load_policies([SALES])[0]
    state = State(world)
    state.active[:10] = False
    tonight = night_scores(world, state, 0, np.zeros((world.n, world.m)))
    s = night_scenario(world, state, 0, policy, tonight)
    assert len(s.customers) == world.n - 10
    _, result, status = solve_night(s, world.options, policy, 0)
    assert status == "optimal"
    assert result is not None and result.chosen is not None and result.chosen.any()


def test_a_night_without_a_plan_contacts_nobody_and_the_run_goes_on(tmp_path: Path) -> None:
    """Everyone low was contacted last night and may not be again within 3 days, so the
    floor on low customers cannot be met: the night has no plan and nobody is contacted."""
    path = tmp_path / "strict.toml"
    path.write_text(BALANCED.read_text().replace("min_share = 0.05", "min_share = 0.5"))
    world = World(SimulationOptions(days=3, customers=30, actions=6, seed=1))
    policy = load_policies([path])[0]
    state = State(world)
    state.daily[0, world.segment == LOW] = 1
    state.log_customer.append(np.flatnonzero(world.segment == LOW).astype(np.int32))
    state.log_action.append(np.zeros(int((world.segment == LOW).sum()), np.int32))
    tonight = night_scores(world, state, 1, np.zeros((world.n, world.m)))
    s = night_scenario(world, state, 1, policy, tonight)
    _, result, status = solve_night(s, world.options, policy, 1)
    assert result is None and status == "infeasible"
    sim = simulate([path], SimulationOptions(days=4, customers=30, actions=6, seed=1))
    run = sim.runs[0]
    assert "infeasible" in run.status
    for row, status in zip(run.rows, run.status, strict=True):
        assert (row["contacts"] == 0) == (status == "infeasible")
    assert sim.summary()["policies"]["strict"]["nights_without_plan"] == \
        run.status.count("infeasible")


def test_policy_horizon_is_one_night(tmp_path: Path) -> None:
    text = SALES.read_text().replace("horizon_days = 1", "horizon_days = 3")
    path = tmp_path / "three_days.toml"
    path.write_text(text)
    assert load_policies([path])[0].policy.horizon_days == 1


# --- bad input ------------------------------------------------------------------------------

def test_bad_options_raise_before_anything() -> None:
    with pytest.raises(InputError, match="--days"):
        simulate([SALES], SimulationOptions(days=0))
    with pytest.raises(InputError, match="policy file not found"):
        simulate([Path("nope.toml")], SMALL)


# --- the command ---------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join((result.output + (result.stderr or "")).split())


def test_cli_default_policies(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    code, text = invoke("simulate", "--days", "3", "--customers", "40", "--actions", "5",
                        "--seed", "1", "--out", str(out))
    assert code == 0, text
    assert "sales_only: day 3/3" in text and "balanced: day 3/3" in text
    assert "wrote" in text
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    summary = json.loads((out / "simulation.json").read_text())
    assert list(summary["policies"]) == ["sales_only", "balanced"]


def test_cli_explicit_policies(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    code, text = invoke("simulate", "--policy", str(BALANCED), "--policy", str(BALANCED),
                        "--days", "2", "--customers", "30", "--actions", "4", "--out",
                        str(out))
    assert code == 0, text
    summary = json.loads((out / "simulation.json").read_text())
    assert list(summary["policies"]) == ["balanced", "balanced-2"]


def test_cli_missing_policy_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    code, text = invoke("simulate", "--policy", str(tmp_path / "missing.toml"), "--days", "2",
                        "--out", str(out))
    assert code == 2
    assert "missing.toml" in text and "not found" in text
    assert not out.exists()


def test_cli_days_below_one_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    code, text = invoke("simulate", "--days", "0", "--out", str(out))
    assert code == 2
    assert "--days" in text and ">= 1" in text
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_invalid_policy_key_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SALES.read_text().replace('unless = "consent_sms"',
                                             'unless = "consent_email"'))
    out = tmp_path / "sim"
    code, text = invoke("simulate", "--policy", str(bad), "--days", "2", "--customers", "20",
                        "--out", str(out))
    assert code == 2, text
    assert "consent_email" in text
    assert not out.exists()
