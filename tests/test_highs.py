"""HiGHS from a start plan: the start's columns, the start kept, and the early stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optimizer.problem import Problem, build_problem, weighted_sum
from optimizer.result import Termination
from optimizer.scenario import load_scenario
from optimizer.solvers import SolveRequest
from optimizer.solvers.exact import build_matrix
from optimizer.solvers.highs import _start_columns, solve_highs, solve_small_lp
from optimizer.synthetic import generate_scenario
from tests.test_decomposition import RUN


@pytest.fixture(scope="module")
def problem(tmp_path_factory: pytest.TempPathFactory) -> Problem:
    """A synthetic scenario with its coverage floors (each adds one y column per owner)."""
    root: Path = tmp_path_factory.mktemp("highs")
    generate_scenario(root, customers=800, actions=8, horizon=1, seed=11, run_date=RUN)
    problem = build_problem(load_scenario(root, run_date=RUN))
    assert problem.coverage, "the test needs coverage floors"
    return problem


def test_start_columns_mark_covered_owners(problem: Problem) -> None:
    request = SolveRequest(objective=problem.levels[0].values)
    m = build_matrix(problem, request)
    customer = problem.triples.customer
    # a random plan and a feasible one (HiGHS's, whose y columns are dropped here)
    for plan in (np.random.default_rng(3).random(problem.size) < 0.2,
                 _a_feasible_plan(problem) > 0.5):
        values = _start_columns(m, problem, plan.astype(float))
        assert np.array_equal(values[: m.n_x], plan)
        assert set(np.unique(values[m.n_x:]).tolist()) <= {0.0, 1.0}
        # each floor's y columns count the customers it reaches (CoverageRow.covered)
        col = m.n_x
        for cov in problem.coverage:
            owners = len(np.unique(customer[cov.index]))
            assert values[col: col + owners].sum() == cov.covered(plan, customer)
            col += owners
        assert col == len(values)
        activity = m.matrix @ values
        y_rows = np.unique(m.matrix[:, m.n_x:].nonzero()[0])
        links = y_rows[np.isfinite(m.row_upper[y_rows])]
        assert len(links) and (activity[links] <= m.row_upper[links] + 1e-9).all()
    # at the feasible plan every row holds, the floors' `sum y >= need` included
    assert (activity >= m.row_lower - 1e-6).all() and (activity <= m.row_upper + 1e-6).all()


def _a_feasible_plan(problem: Problem) -> np.ndarray:
    # a 5% gap stops HiGHS at a plan well below the optimum (2,121.6 against 2,182.0)
    found = solve_highs(problem, SolveRequest(objective=problem.levels[0].values,
                                              time_limit=60, relative_gap=0.05))
    assert found.x is not None
    return found.x


def test_start_plan_is_kept_when_time_is_short(problem: Problem) -> None:
    objective = problem.levels[0].values
    start = _a_feasible_plan(problem)
    result = solve_highs(problem, SolveRequest(objective=objective, time_limit=0.1,
                                               hint=start))
    assert result.x is not None
    assert result.objective >= weighted_sum(objective, start > 0.5) - 1e-6


def test_stop_at_interrupts_on_an_improving_plan(problem: Problem) -> None:
    objective = problem.levels[0].values
    start = _a_feasible_plan(problem)
    seen: list[float] = []

    def stop(value: float) -> bool:
        seen.append(value)
        return True

    result = solve_highs(problem, SolveRequest(objective=objective, time_limit=60,
                                               hint=start), stop_at=stop)
    # the start plan (2.8% below the optimum) is the first improving plan: HiGHS stops there
    assert seen, "no improving plan was reported"
    assert result.termination == Termination.FEASIBLE and result.limit_reached
    assert result.x is not None and result.objective >= max(seen) - 1e-6
    assert result.seconds < 10.0  # the full solve takes seconds more


def test_without_a_stop_highs_proves_the_optimum(problem: Problem) -> None:
    objective = problem.levels[0].values
    start = _a_feasible_plan(problem)
    result = solve_highs(problem, SolveRequest(objective=objective, time_limit=120,
                                               hint=start))
    assert result.termination == Termination.OPTIMAL
    assert result.objective > weighted_sum(objective, start > 0.5) + 1.0
    assert result.bound == pytest.approx(result.objective, abs=1e-6)


def test_reports_progress(problem: Problem) -> None:
    objective = problem.levels[0].values
    start = _a_feasible_plan(problem)
    heard: list[tuple[float, float, int]] = []
    result = solve_highs(problem, SolveRequest(objective=objective, time_limit=120,
                                               hint=start),
                         report=lambda plan, bound, nodes: heard.append((plan, bound, nodes)),
                         report_every=0.0)
    assert result.termination == Termination.OPTIMAL
    assert heard, "no progress was reported"
    start_value = weighted_sum(objective, start > 0.5)
    for plan, bound, nodes in heard:
        # the start plan is known from the first report on; the bound never undercuts a plan
        assert plan >= start_value - 1e-6 and bound >= plan - 1e-6 and nodes >= 0
    assert heard[-1][1] >= result.objective - 1e-6


def test_a_fresh_process_prints_nothing_on_stdout(tmp_path: Path) -> None:
    """highspy prints a banner on the first Highs() of a process: a fresh one must show
    that it stays off stdout, where a command's JSON goes."""
    script = f"""
import datetime as dt
from pathlib import Path
from optimizer.problem import build_problem
from optimizer.scenario import load_scenario
from optimizer.solvers import SolveRequest
from optimizer.solvers.highs import solve_highs
from optimizer.synthetic import generate_scenario
run = dt.date.fromisoformat("{RUN.isoformat()}")
generate_scenario(Path(r"{tmp_path}"), customers=60, actions=4, horizon=1, seed=1,
                  run_date=run)
problem = build_problem(load_scenario(Path(r"{tmp_path}"), run_date=run))
result = solve_highs(problem, SolveRequest(objective=problem.levels[0].values, time_limit=30))
assert result.x is not None
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_small_lp_optimum_and_infeasible() -> None:
    """The cutting-plane master's LP: min -x - 2y s.t. x + y <= 4, x - y <= 1, 0 <= x <= 3,
    y <= 3 (y free below) has its optimum at x = 1, y = 3 (value -7); with x + y <= -10 and
    x, y >= 0 there is no point, and no answer."""
    inf = np.inf
    solved = solve_small_lp(np.array([-1.0, -2.0]), np.array([[1.0, 1.0], [1.0, -1.0]]),
                            np.array([4.0, 1.0]), np.array([0.0, -inf]), np.array([3.0, 3.0]))
    assert solved is not None
    value, x = solved
    assert value == pytest.approx(-7.0)
    assert x == pytest.approx([1.0, 3.0])
    assert solve_small_lp(np.array([1.0, 1.0]), np.array([[1.0, 1.0]]), np.array([-10.0]),
                          np.zeros(2), np.full(2, inf)) is None
