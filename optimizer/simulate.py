"""`contactopt simulate`: the nightly loop in a toy world, to see delayed effects.

Does more revenue today fuel churn in three months? One night's plan cannot tell: its
scores are today's. So this module runs the real solver night after night on a synthetic
population whose response falls with recent contacts and whose churn risk rises with
over-contact and falls with relevant contact, and compares policies day by day.

It is a TOY WORLD. Its equations are assumptions chosen to be simple and plausible, not
estimated from any data; its answer is "what these policies do in this world", never a
forecast. Every parameter is in `WorldParams` (README, "Simulating delayed effects").

The population and catalogue are those of `contactopt generate` (`synthetic.make_customers`,
`make_actions`, `draw_factors`): for customer i and action a, a base response logit b_ia,
an order value o_ia, a fulfilment cost f_i, a typical order value v_i, an eligibility flag
and a fit phi_ia = channel affinity + the action's appeal + pair noise. State per customer:
active or churned, a churn score s_i (0 at the start) and the contacts made on each day
c_i(d). History starts empty. Night t, for the active customers only:

1. Scores. n7_i, n30_i = contacts on the 7 / 30 days before t.
     logit_ia = b_ia + weekend_a(t) + eps_iat - F7 n7_i - F30 n30_i     (eps ~ N(0, 0.12))
     p_ia = clip(sigmoid(logit_ia), 1e-4, 0.95); revenue, margin, discount_cost as in
     `synthetic.kpi_cubes` (revenue is the order value if the customer responds).
     D_ia = P7 [n6_i + 1 > A7] + P30 [n29_i + 1 > A30] - R [phi_ia > theta]   (the move of
     s_i this contact alone would cause; n6, n29: contacts on the 6 / 29 days before t)
     churn_risk_delta_ia = h0_i e^(delta s_i) (e^D_ia - 1) (1 - delta^90) / (1 - delta)
       (about the change in the probability of churning within 90 days)
     clv_delta_ia = the synthetic clv_delta - L v_i churn_risk_delta_ia
2. Plan. The policy (horizon forced to 1 day) over these scores, with the contacts of the
   last W days as history (W: the longest cap window or conflict lag), is compiled, checked
   and solved by the library (`compile_scenario`, `check_problem`, `solve_lexicographic`).
   A night without a plan (a floor that history made impossible, say) contacts nobody, as
   a failed nightly job would, and is recorded as such.
3. Outcomes. Contact (i, a) converts iff U_iat < p_ia. A conversion brings revenue
   o_ia (1 - d_a) and margin o_ia g_a - o_ia d_a - f_i; every contact costs cost_a
   (margin figures are net of contact costs).
4. Churn. w7_i, w30_i = contacts on the 7 / 30 days ending at t (tonight's included),
   C_i = contacts tonight, Rel_i = those with phi > theta:
     s_i <- clip(delta s_i + C_i (P7 [w7_i > A7] + P30 [w30_i > A30]) - R Rel_i, s_min, s_max)
     h_i = min(1, h0_seg(i) e^(s_i)); customer i churns iff V_it < h_i and leaves for good.

Common random numbers: eps, U and V are drawn for every customer, active or not, from a
stream keyed by (seed, night), so all policies face the same luck and their differences
come from the policies. Everything is vectorized over customers; the only Python loops run
over nights and policies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from optimizer.check import check_problem
from optimizer.errors import InputError
from optimizer.lexicographic import solve_lexicographic
from optimizer.outputs import write_json, write_parquet, write_run_dir
from optimizer.policy import Policy, load_policy
from optimizer.problem import Problem
from optimizer.result import PlanResult, Termination
from optimizer.run import NoPlanError, compile_scenario
from optimizer.scenario import History, Scenario, scenario_from_tables
from optimizer.scores import Scores
from optimizer.solvers import get_solver
from optimizer.synthetic import (
    CHANNELS,
    KPIS,
    LOW,
    SEGMENTS,
    WEEKEND_SHIFT,
    default_run_date,
    draw_factors,
    kpi_cubes,
    make_actions,
    make_customers,
    response,
)

Progress = Callable[[str], None]
NightHook = Callable[[str, int, Scenario, Problem, PlanResult | None], None]

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "simulate"
DEFAULT_POLICIES = (DATA_DIR / "sales_only.toml", DATA_DIR / "balanced.toml")
FILES = ("simulation.parquet", "simulation.json", "simulation.png")
EXACT_UP_TO = 3000  # eligible contacts a night up to which `auto` uses the exact MIP
_POPULATION, _NIGHT = 0, 1  # spawn keys of the two random streams


@dataclass(frozen=True)
class WorldParams:
    """The toy world's parameters (see the module docstring for the equations)."""

    fatigue_7: float = 0.15  # F7: response logit lost per contact in the last 7 days
    fatigue_30: float = 0.03  # F30: ... per contact in the last 30 days
    base_hazard: tuple[float, float, float] = (0.0003, 0.0005, 0.0008)  # h0: daily, high/mid/low
    allowance_7: int = 2  # A7: contacts in 7 days a customer takes without annoyance
    allowance_30: int = 6  # A30: ... in 30 days
    push_7: float = 0.06  # P7: churn score added by a contact beyond A7
    push_30: float = 0.03  # P30: ... beyond A30
    relief: float = 0.05  # R: churn score removed by a relevant contact
    fit_threshold: float = 0.3  # theta: fit above which a contact is relevant
    decay: float = 0.97  # delta: daily persistence of the churn score (half-life 23 days)
    score_min: float = -1.0  # the churn score's range: hazard between h0/e and h0 e^2
    score_max: float = 2.0
    lifetime_orders: float = 6.0  # L: orders a kept customer still brings (for clv_delta)


@dataclass(frozen=True)
class SimulationOptions:
    days: int = 90
    customers: int = 5000
    actions: int = 10
    seed: int = 0
    start: dt.date = field(default_factory=default_run_date)
    time_limit: float = 10.0  # per night and policy, for the solve
    solver: str = "auto"
    relative_gap: float = 1e-3  # per night and objective level
    params: WorldParams = field(default_factory=WorldParams)

    def check(self) -> None:
        """Reject impossible options before anything runs (InputError names the option)."""
        for name, value in (("--days", self.days), ("--customers", self.customers),
                            ("--actions", self.actions)):
            if value < 1:
                raise InputError(name, "must be >= 1", examples=(value,))
        if not self.time_limit > 0:
            raise InputError("--time-limit", "must be > 0", examples=(self.time_limit,))
        if not 0 <= self.relative_gap < 1:
            raise InputError("--gap", "must be in [0, 1)", examples=(self.relative_gap,))


# --- the world ----------------------------------------------------------------------------

class World:
    """The static population and catalogue, and the per-night random draws."""

    def __init__(self, options: SimulationOptions) -> None:
        self.options = options
        self.params = options.params
        seeds = np.random.SeedSequence(options.seed, spawn_key=(_POPULATION,)).spawn(3)
        rng_cust, rng_act, rng_factors = (np.random.default_rng(s) for s in seeds)
        self.customer_table, cust = make_customers(rng_cust, options.customers)
        self.action_table, self.acts = make_actions(rng_act, options.actions)
        f = draw_factors(rng_factors, cust.segment, self.acts, horizon=1)
        self.n, self.m = options.customers, options.actions
        self.segment = cust.segment
        self.tenure = cust.tenure
        self.elig = f.elig
        self.value = f.value
        self.base_logit = f.base_logit(cust.segment, self.acts)
        self.order = f.order(self.acts)
        self.fulfilment = f.fulfilment
        self.fit = f.fit(self.acts)
        self.relevant = self.fit > self.params.fit_threshold
        self.hazard0 = np.asarray(self.params.base_hazard)[cust.segment]
        self.channel_names = np.array(CHANNELS, dtype=object)[self.acts.channel]

    def date(self, night: int) -> dt.date:
        return self.options.start + dt.timedelta(days=night)

    def draws(self, night: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(eps (n, m), U (n, m), V (n,)) of a night: the same for every policy."""
        seq = np.random.SeedSequence(self.options.seed, spawn_key=(_NIGHT, night))
        rng = np.random.default_rng(seq)
        return (rng.normal(0.0, 0.12, (self.n, self.m)), rng.random((self.n, self.m)),
                rng.random(self.n))

    def day_shift(self, night: int) -> np.ndarray:
        """Per action: the weekday effect of the generator (weekends favour push)."""
        weekend = self.date(night).weekday() >= 5
        return WEEKEND_SHIFT[self.acts.channel] if weekend else np.zeros(self.m)


class State:
    """One policy's trajectory through the world: who is active, churn scores, contacts."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.active = np.ones(world.n, dtype=bool)
        self.score = np.zeros(world.n)
        self.churn_night = np.full(world.n, -1, dtype=np.int32)  # -1: still active
        self.daily = np.zeros((world.options.days, world.n), dtype=np.int16)
        self.log_customer: list[np.ndarray] = []  # per night: global customer index
        self.log_action: list[np.ndarray] = []

    def recent(self, night: int, days: int, *, tonight: bool) -> np.ndarray:
        """Contacts per customer on the `days` days before `night` (or ending at it)."""
        end = night + 1 if tonight else night
        return self.daily[max(0, end - days):end].sum(axis=0, dtype=np.int64)

    def history(self, night: int, lookback: int, dense: np.ndarray) -> History:
        """The contacts of the last `lookback` days of the active customers, as history."""
        first = max(0, night - lookback)
        nights = range(first, night)
        if not nights:
            empty = np.zeros(0, np.int32)
            return History(empty, empty, np.zeros(0, object), empty)
        cust = np.concatenate([self.log_customer[d] for d in nights])
        act = np.concatenate([self.log_action[d] for d in nights])
        day = np.concatenate([np.full(len(self.log_customer[d]), d - night, np.int32)
                              for d in nights])
        keep = dense[cust] >= 0
        cust, act, day = dense[cust[keep]].astype(np.int32), act[keep], day[keep]
        order = np.lexsort((act, day, cust))
        return History(cust[order], act[order].astype(np.int32),
                       self.world.channel_names[act[order]], day[order])


@dataclass(frozen=True)
class NightScores:
    """The night's scores of the active customers, dense (k, m) and as eligible rows."""

    active: np.ndarray  # global index of each active customer (sorted)
    p: np.ndarray  # (k, m) response probability
    scores: Scores


def night_scores(world: World, state: State, night: int, eps: np.ndarray) -> NightScores:
    """Step 1: the KPIs a perfect scorer would give tonight (see the module docstring)."""
    prm = world.params
    idx = np.flatnonzero(state.active)
    n7 = state.recent(night, 7, tonight=False)[idx]
    n30 = state.recent(night, 30, tonight=False)[idx]
    logit = (world.base_logit[idx] + world.day_shift(night)[None, :] + eps[idx]
             - (prm.fatigue_7 * n7 + prm.fatigue_30 * n30)[:, None])
    p = response(logit)
    cubes = {k: v[:, :, 0] for k, v in kpi_cubes(
        p[:, :, None], world.order[idx], world.fulfilment[idx], world.value[idx],
        world.tenure[idx], world.acts).items()}
    n6 = state.recent(night, 6, tonight=False)[idx]
    n29 = state.recent(night, 29, tonight=False)[idx]
    move = ((prm.push_7 * (n6 + 1 > prm.allowance_7)
             + prm.push_30 * (n29 + 1 > prm.allowance_30))[:, None]
            - prm.relief * world.relevant[idx])
    persistence = (1.0 - prm.decay ** 90) / (1.0 - prm.decay)
    risk = ((world.hazard0[idx] * np.exp(prm.decay * state.score[idx]))[:, None]
            * np.expm1(move) * persistence)
    cubes["churn_risk_delta"] = risk
    cubes["clv_delta"] = cubes["clv_delta"] - prm.lifetime_orders * world.value[idx, None] * risk
    ci, ai = np.nonzero(world.elig[idx])
    kpis = {name: np.ascontiguousarray(cubes[name][ci, ai], dtype=np.float64) for name in KPIS}
    scores = Scores(ci.astype(np.int32), ai.astype(np.int32), None, kpis, KPIS)
    return NightScores(idx, p, scores)


def apply_plan(world: World, state: State, night: int, tonight: NightScores,
               customers: np.ndarray, actions: np.ndarray, u: np.ndarray,
               v: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """Steps 3 and 4: outcomes of tonight's contacts, churn update and draws.

    `customers` are global indices, `actions` action indices of tonight's contacts.
    Returns the night's figures and the mask of customers who churned tonight."""
    prm, acts = world.params, world.acts
    dense = np.full(world.n, -1, dtype=np.int64)
    dense[tonight.active] = np.arange(len(tonight.active))
    p = tonight.p[dense[customers], actions]
    convert = u[customers, actions] < p
    order = world.order[customers, actions]
    disc = acts.discount[actions]
    revenue = np.where(convert, order * (1.0 - disc), 0.0)
    gross = np.where(convert, order * acts.gross_margin[actions] - order * disc
                     - world.fulfilment[customers], 0.0)
    cost = acts.cost[actions]
    planned = p * (order * acts.gross_margin[actions] - order * disc
                   - world.fulfilment[customers]) - cost

    state.log_customer.append(customers.astype(np.int32))
    state.log_action.append(actions.astype(np.int32))
    contacts = np.bincount(customers, minlength=world.n)
    state.daily[night] = contacts
    relevant = np.bincount(customers, weights=world.relevant[customers, actions],
                           minlength=world.n)
    w7 = state.recent(night, 7, tonight=True)
    w30 = state.recent(night, 30, tonight=True)
    push = prm.push_7 * (w7 > prm.allowance_7) + prm.push_30 * (w30 > prm.allowance_30)
    state.score = np.clip(prm.decay * state.score + contacts * push - prm.relief * relevant,
                          prm.score_min, prm.score_max)
    hazard = np.minimum(1.0, world.hazard0 * np.exp(state.score))
    churned = state.active & (v < hazard)
    over = int((state.active & (contacts > 0) & (w7 > prm.allowance_7)).sum())
    state.active &= ~churned
    state.churn_night[churned] = night

    low = (world.segment == LOW) & state.active
    covered = low & (w30 > 0)
    figures = {
        "contacts": len(customers),
        "low_contacts": int((world.segment[customers] == LOW).sum()),
        "conversions": int(convert.sum()),
        "revenue": float(revenue.sum()),
        "margin": float(gross.sum() - cost.sum()),
        "contact_cost": float(cost.sum()),
        "discount_cost": float(np.where(convert, order * disc, 0.0).sum()),
        "planned_margin": float(planned.sum()),
        "churned": int(churned.sum()),
        "active": int(state.active.sum()),
        "low_coverage_30d": float(covered.sum() / low.sum()) if low.any() else 0.0,
        "over_contacted": over,
    }
    return figures, churned


# --- policies and the nightly solve -------------------------------------------------------

@dataclass(frozen=True)
class NamedPolicy:
    name: str
    path: Path
    policy: Policy

    @property
    def lookback(self) -> int:
        """Days of history that can matter to a cap or a conflict of this policy."""
        windows = [c.window_days for c in self.policy.caps]
        lags = [c.within_days + 1 for c in self.policy.conflicts]
        return max([1, *windows, *lags])


def load_policies(paths: list[Path]) -> list[NamedPolicy]:
    """Read each policy file (InputError if missing or invalid), name it after its file and
    plan one day a night. Two files with the same name get -2, -3, ... suffixes."""
    if not paths:
        raise InputError("--policy", "give at least one policy file")
    out: list[NamedPolicy] = []
    seen: dict[str, int] = {}
    for path in paths:
        policy = load_policy(Path(path))
        if policy.horizon_days != 1:
            policy = dataclasses.replace(policy, horizon_days=1)
        name = Path(path).stem
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}-{seen[name]}"
        out.append(NamedPolicy(name, Path(path), policy))
    return out


def night_scenario(world: World, state: State, night: int, policy: NamedPolicy,
                   tonight: NightScores) -> Scenario:
    """Tonight's scenario, in memory: active customers, all actions, scores, history."""
    dense = np.full(world.n, -1, dtype=np.int64)
    dense[tonight.active] = np.arange(len(tonight.active))
    return scenario_from_tables(
        policy.policy, world.date(night), world.customer_table.take(pa.array(tonight.active)),
        world.action_table, tonight.scores, state.history(night, policy.lookback, dense),
        {"policy.toml": policy.path.name})


def night_solver(problem: Problem, name: str) -> str:
    """'auto': the exact MIP up to EXACT_UP_TO eligible contacts, above them the
    decomposition whenever it supports the policy.

    A night here is a one-day problem, the case the decomposition is built for: on 5,000
    customers (19,000 contacts) the MIP's second objective level used the whole time limit
    night after night (measured: 20 s unproven, against 0.1 to 5 s for the decomposition).
    On small nights the MIP is as fast and proves optimality (300 customers: every night
    proven in < 0.1 s), where the decomposition's Lagrangian bound leaves a gap."""
    if name != "auto":
        return name
    from optimizer.solvers.decomposition import supports

    if problem.size > EXACT_UP_TO and supports(problem):
        return "decomposition"
    return "cp-sat"


def solve_night(scenario: Scenario, options: SimulationOptions, policy: NamedPolicy,
                night: int) -> tuple[Problem, PlanResult | None, str]:
    """Step 2: compile, check and solve with the library; returns the plan (None when the
    night has none) and the night's status: the solve's, or `infeasible` when the policy
    check proves a floor cannot be met (no solve then: the decomposition cannot prove
    infeasibility and would search until its time limit). A solver error stops the run."""
    problem = compile_scenario(scenario)
    if check_problem(scenario, problem).infeasible:
        return problem, None, str(Termination.INFEASIBLE)
    solver = get_solver(night_solver(problem, options.solver))
    result = solve_lexicographic(problem, solver, time_limit=options.time_limit,
                                 relative_gap=options.relative_gap, deterministic=True)
    if result.termination == Termination.ERROR:
        raise NoPlanError(Termination.ERROR, f"policy '{policy.name}', night {night + 1} "
                          f"({scenario.run_date}): solver error: {result.detail}")
    return problem, (result if result.chosen is not None else None), str(result.termination)


# --- the loop -----------------------------------------------------------------------------

COLUMNS = ("contacts", "low_contacts", "conversions", "revenue", "margin", "contact_cost",
           "discount_cost", "planned_margin", "churned", "active", "low_coverage_30d",
           "over_contacted")


@dataclass
class PolicyRun:
    """Everything one policy did: figures per night, its contact log, timings."""

    name: str
    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    log_customer: list[np.ndarray] = field(default_factory=list)
    log_action: list[np.ndarray] = field(default_factory=list)
    churn_night: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    solve_seconds: float = 0.0
    seconds: float = 0.0


@dataclass
class Simulation:
    options: SimulationOptions
    world: World
    runs: list[PolicyRun]
    seconds: float

    def table(self) -> pa.Table:
        """One row per (policy, day): the night's figures plus running totals."""
        cols: dict[str, list] = {"policy": [], "day": [], "date": []}
        for name in COLUMNS:
            cols[name] = []
        for run in self.runs:
            for night, row in enumerate(run.rows):
                cols["policy"].append(run.name)
                cols["day"].append(night + 1)
                cols["date"].append(self.world.date(night))
                for name in COLUMNS:
                    cols[name].append(row[name])
        table = pa.table({
            "policy": pa.array(cols["policy"], pa.string()),
            "day": pa.array(cols["day"], pa.int32()),
            "date": pa.array(cols["date"], pa.date32()),
            **{name: pa.array(cols[name], pa.float64() if isinstance(cols[name][0], float)
                              else pa.int64()) for name in COLUMNS if cols[name]},
        })
        cum = {}
        for name in ("revenue", "margin", "contacts", "churned", "conversions"):
            values = np.concatenate([np.cumsum([r[name] for r in run.rows])
                                     for run in self.runs])
            cum[f"cum_{name}"] = pa.array(values)
        for name, values in cum.items():
            table = table.append_column(name, values)
        statuses = [s for run in self.runs for s in run.status]
        return table.append_column("status", pa.array(statuses, pa.string()))

    def checkpoints(self) -> list[int]:
        """Days 30, 60, 90, ... up to the last day, and the last day."""
        days = self.options.days
        marks = list(range(30, days + 1, 30))
        return marks if marks and marks[-1] == days else [*marks, days]

    def summary(self) -> dict[str, Any]:
        """Totals per policy at each checkpoint (cumulative since day 1)."""
        policies = {}
        for run in self.runs:
            at = {}
            for day in self.checkpoints():
                rows = run.rows[:day]
                low = rows[-1]["low_coverage_30d"]
                at[str(day)] = {
                    "revenue": round(sum(r["revenue"] for r in rows), 2),
                    "margin": round(sum(r["margin"] for r in rows), 2),
                    "contacts": sum(r["contacts"] for r in rows),
                    "conversions": sum(r["conversions"] for r in rows),
                    "churned": sum(r["churned"] for r in rows),
                    "active": rows[-1]["active"],
                    "low_coverage_30d": round(low, 4),
                    "over_contacted": sum(r["over_contacted"] for r in rows),
                }
            policies[run.name] = {
                "file": str(run.path),
                "totals": at[str(self.options.days)],
                "at_day": at,
                "nights_not_proven_optimal": sum(s == "feasible" for s in run.status),
                "nights_without_plan": sum(s not in ("optimal", "feasible")
                                           for s in run.status),
                "solve_seconds": round(run.solve_seconds, 2),
                "seconds": round(run.seconds, 2),
            }
        o = self.options
        segments = {name: int((self.world.segment == k).sum())
                    for k, name in enumerate(SEGMENTS)}
        return {
            "days": o.days, "customers": o.customers, "actions": o.actions, "seed": o.seed,
            "start": o.start.isoformat(), "solver": o.solver,
            "time_limit_per_night": o.time_limit, "relative_gap": o.relative_gap,
            "segments": segments,
            "world": dataclasses.asdict(o.params),
            "policies": policies,
            "seconds": round(self.seconds, 2),
            "note": "a toy world: its equations are assumptions, not estimates "
                    "(README, Simulating delayed effects)",
        }


def simulate(paths: list[Path], options: SimulationOptions, *,
             progress: Progress = lambda _: None,
             on_night: NightHook | None = None) -> Simulation:
    """Run every policy over the nights on the same world and the same random draws.

    `on_night(policy, night, scenario, problem, result)` sees each night's solve (tests
    verify plans with it; `result` is None on a night without a plan). Raises InputError
    (bad option or policy) before any solve, NoPlanError on a solver error."""
    options.check()
    policies = load_policies(paths)
    start = time.perf_counter()
    world = World(options)
    for policy in policies:  # bind every policy to the tables before the first solve
        state = State(world)
        night_scenario(world, state, 0, policy, night_scores(world, state, 0,
                                                             np.zeros((world.n, world.m))))
    runs = [_run_policy(world, policy, options, progress, on_night) for policy in policies]
    return Simulation(options, world, runs, time.perf_counter() - start)


def _run_policy(world: World, policy: NamedPolicy, options: SimulationOptions,
                progress: Progress, on_night: NightHook | None) -> PolicyRun:
    run = PolicyRun(policy.name, policy.path)
    state = State(world)
    started = time.perf_counter()
    for night in range(options.days):
        eps, u, v = world.draws(night)
        tonight = night_scores(world, state, night, eps)
        scenario = night_scenario(world, state, night, policy, tonight)
        solve_start = time.perf_counter()
        problem, result, status = solve_night(scenario, options, policy, night)
        run.solve_seconds += time.perf_counter() - solve_start
        if on_night is not None:
            on_night(policy.name, night, scenario, problem, result)
        pick = np.flatnonzero(result.chosen) if result is not None and \
            result.chosen is not None else np.zeros(0, np.int64)
        if result is None:
            progress(f"{policy.name}: day {night + 1}/{options.days} ({world.date(night)}): "
                     f"no plan ({status}): nobody is contacted tonight")
        customers = tonight.active[problem.triples.customer[pick]]
        actions = problem.triples.action[pick].astype(np.int64)
        figures, _ = apply_plan(world, state, night, tonight, customers, actions, u, v)
        run.rows.append(figures)
        run.status.append(status)
        if night in (0, options.days - 1) or (night + 1) % 10 == 0:
            total = sum(r["margin"] for r in run.rows)
            churned = sum(r["churned"] for r in run.rows)
            progress(f"{policy.name}: day {night + 1}/{options.days} "
                     f"({world.date(night)}): {figures['contacts']:,} contacts, "
                     f"margin so far {total:,.0f}, churned so far {churned:,}, "
                     f"active {figures['active']:,}")
    run.log_customer, run.log_action = state.log_customer, state.log_action
    run.churn_night = state.churn_night
    run.seconds = time.perf_counter() - started
    return run


# --- outputs ------------------------------------------------------------------------------

def render_chart(sim: Simulation) -> bytes:
    """Four panels, one line per policy: cumulative margin, cumulative churn, low-potential
    coverage over 30 days, daily revenue (7-day mean). PNG via Agg (no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    days = np.arange(1, sim.options.days + 1)
    panels = (
        (axes[0, 0], "cumulative margin", lambda rows: np.cumsum([r["margin"] for r in rows])),
        (axes[0, 1], "customers churned (cumulative)",
         lambda rows: np.cumsum([r["churned"] for r in rows])),
        (axes[1, 0], "low-potential customers contacted in the last 30 days (share)",
         lambda rows: np.array([r["low_coverage_30d"] for r in rows])),
        (axes[1, 1], "daily revenue (7-day mean)",
         lambda rows: _rolling_mean(np.array([r["revenue"] for r in rows]), 7)),
    )
    for ax, title, series in panels:
        for k, run in enumerate(sim.runs):
            ax.plot(days, series(run.rows), color=f"C{k}", label=run.name)
        ax.set_title(title, fontsize="medium")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("day")
    axes[0, 0].legend(fontsize="small", loc="best")
    o = sim.options
    fig.suptitle(f"Toy-world simulation: {o.customers:,} customers × {o.actions} actions, "
                 f"{o.days} nights, seed {o.seed}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` values (fewer at the start)."""
    cum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (cum[idx] - cum[lo]) / (idx - lo)


def write_simulation(out: Path, sim: Simulation) -> None:
    """simulation.parquet, simulation.json and simulation.png, written whole or not at all."""
    png = render_chart(sim)
    table = sim.table()
    write_run_dir(out, {
        "simulation.parquet": lambda p: write_parquet(p, table),
        "simulation.json": lambda p: write_json(p, sim.summary()),
        "simulation.png": lambda p: p.write_bytes(png),
    })


def summary_rows(sim: Simulation) -> list[tuple[str, int, dict[str, Any]]]:
    """(policy, day, totals) at each checkpoint, for the printed table."""
    summary = sim.summary()["policies"]
    return [(name, int(day), figures) for day in map(str, sim.checkpoints())
            for name, data in summary.items() for figures in [data["at_day"][day]]]

