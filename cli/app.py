"""`contactopt` commands. Status, progress and findings go to stderr; exit codes are
documented: 0 ok, 1 plan violates the contract (verify), 2 bad input, 3 infeasible (run) or
a floor provably cannot be met (check), 4 no plan in time, 5 solver error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from optimizer.errors import ContactoptError, InputError
from optimizer.result import Termination

if TYPE_CHECKING:  # pandas and pyarrow load with the command that needs them, not --help
    from optimizer.check import Finding
    from optimizer.run import NoPlanError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Multi-objective contact optimization under hard guardrails.")
err = Console(stderr=True, highlight=False)

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_DATE = dt.date(2026, 1, 5)
EXIT_VIOLATIONS, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_PLAN, EXIT_SOLVER = 1, 2, 3, 4, 5


def _date(value: str | None, default: dt.date) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail_input(InputError("--date", "must be a date YYYY-MM-DD", examples=(value,)))
        raise  # unreachable


def _fail_input(exc: InputError) -> None:
    err.print(f"[bold red]error[/]: {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(EXIT_INPUT)


def _fail_no_plan(exc: NoPlanError) -> None:
    err.print(f"[bold red]{escape(str(exc))}[/]", soft_wrap=True)
    for r in exc.relaxations:
        err.print(f"  - {escape(r.sentence())}", soft_wrap=True)
    code = {Termination.INFEASIBLE: EXIT_INFEASIBLE,
            Termination.NO_SOLUTION: EXIT_NO_PLAN}.get(exc.termination, EXIT_SOLVER)
    raise typer.Exit(code) from None


@contextmanager
def _errors_reported() -> Iterator[None]:
    """Bad input and no-plan outcomes as one message and their exit status (raises Exit)."""
    try:
        yield
    except InputError as exc:
        _fail_input(exc)
    except ContactoptError as exc:
        from optimizer.run import NoPlanError  # the solve stack loads only when needed

        if isinstance(exc, NoPlanError):
            _fail_no_plan(exc)
        raise


def _progress(message: str) -> None:
    err.print(f"[dim]{dt.datetime.now():%H:%M:%S}[/] {escape(message)}", soft_wrap=True)


SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _print_finding(f: Finding) -> None:
    err.print(f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/] [dim]{f.code}[/]: "
              f"{escape(f.message)}\n  [dim]suggestion:[/] {escape(f.suggestion)}",
              soft_wrap=True)


DateOpt = Annotated[str | None, typer.Option("--date", help="Run date YYYY-MM-DD (day 0); "
                                             "default today.")]
PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Policy file instead of "
                                                "SCENARIO/policy.toml.")]


@app.command()
def run(
    scenario: Annotated[Path | None, typer.Argument(help="Scenario directory; omitted: the "
                                                     "embedded sample.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")] = Path("run"),
    date: DateOpt = None,
    policy: PolicyOpt = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for the whole "
                                              "solve.")] = 60.0,
    solver: Annotated[str, typer.Option("--solver", help="auto, cp-sat or scip.")] = "auto",
    gap: Annotated[float, typer.Option("--gap", help="Relative gap at which a level counts "
                                       "as solved.")] = 0.0,
    deterministic: Annotated[bool, typer.Option(
        "--deterministic", help="One CP-SAT worker: the same inputs give the same plan, "
        "unless a time limit cuts a solve short (slower on hard models).")] = False,
    baseline: Annotated[bool, typer.Option(
        "--baseline/--no-baseline", help="Also solve the sales-only baseline (first level "
        "only, no floors; at most a quarter of --time-limit more) to show what the "
        "guardrails cost and protect.")] = True,
) -> None:
    """Optimize a scenario and write plan.parquet, summary.json and report.html to --out."""
    from optimizer.run import RunOptions, run_scenario

    default_date = dt.date.today()
    if scenario is None:
        scenario = SAMPLE_DIR
        default_date = SAMPLE_DATE
        err.print(f"no SCENARIO given: running the embedded sample in {SAMPLE_DIR} "
                  f"(run date {SAMPLE_DATE} unless --date)")
    run_date = _date(date, default_date)
    with _errors_reported():
        outcome = run_scenario(scenario, out, run_date=run_date, policy_path=policy,
                               options=RunOptions(time_limit, solver, gap, deterministic,
                                                  baseline),
                               progress=_progress,
                               on_finding=_print_finding)
    s = outcome.summary
    gap_text = "unknown" if s["gap"] is None else f"{s['gap']:.4%}"
    levels = "; ".join(_level_text(o) for o in s["objectives"])
    err.print(f"[bold]{s['status']}[/]: {s['counts']['contacts']:,} contacts; {escape(levels)}; "
              f"proven gap {gap_text}; {s['seconds']:.1f} s", soft_wrap=True)
    for w in s["warnings"]:
        err.print(f"[yellow]warning[/]: {escape(w)}", soft_wrap=True)


def _level_text(level: dict) -> str:
    text = f"{level['name']} = {level['value']:,.2f}"
    if level["bound"] is not None:
        text += f" (optimized {level['solved_value']:,.2f}, bound {level['bound']:,.2f})"
    return text


@app.command()
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory.")],
    date: DateOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Run every input check, without solving."""
    from optimizer.problem import build_problem
    from optimizer.scenario import load_scenario

    with _errors_reported():
        s = load_scenario(scenario, run_date=_date(date, dt.date.today()), policy_path=policy)
    problem = build_problem(s)
    err.print(f"[bold green]valid[/]: {len(s.customers):,} customers, {len(s.actions):,} "
              f"actions, {len(s.scores):,} score rows, {len(s.history):,} history rows; "
              f"{problem.size:,} eligible contacts over {s.horizon} day(s)")
    for w in problem.warnings:
        err.print(f"[yellow]warning[/]: {escape(w)}", soft_wrap=True)


@app.command()
def check(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory.")],
    date: DateOpt = None,
    policy: PolicyOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the findings "
                                                  "as JSON to this file.")] = None,
) -> None:
    """Check the policy against the data in seconds, without solving: floors that cannot be
    met, limits that can never bind, tolerances and objective weights that defeat their
    purpose, levels that want different contacts. Exit 0 when there is no error, 3 when a
    floor provably cannot be met, 2 on bad input."""
    from optimizer.check import check_problem
    from optimizer.outputs import write_json
    from optimizer.problem import build_problem
    from optimizer.scenario import load_scenario

    run_date = _date(date, dt.date.today())
    with _errors_reported():
        s = load_scenario(scenario, run_date=run_date, policy_path=policy)
    problem = build_problem(s)
    report = check_problem(s, problem)
    for w in problem.warnings:
        err.print(f"[yellow]warning[/]: {escape(w)}", soft_wrap=True)
    for finding in report.findings:
        _print_finding(finding)
    counts = {sev: report.count(sev) for sev in ("error", "warning", "info")}
    style = "bold red" if counts["error"] else "bold yellow" if counts["warning"] else \
        "bold green"
    err.print(f"[{style}]checked[/] {problem.size:,} eligible contacts in "
              f"{report.seconds:.2f} s: {counts['error']} error(s), {counts['warning']} "
              f"warning(s), {counts['info']} info")
    if json_out is not None:
        write_json(json_out, {"scenario": str(scenario), "run_date": run_date.isoformat(),
                              "seconds": round(report.seconds, 3), "counts": counts,
                              "findings": [f.to_dict() for f in report.findings],
                              "warnings": list(problem.warnings)})
    if counts["error"]:
        raise typer.Exit(EXIT_INFEASIBLE)


@app.command()
def verify(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory.")],
    plan: Annotated[Path, typer.Argument(help="plan.parquet, or a run directory.")],
    date: DateOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Check any plan against the contract, independently of the solver. Exit 1 on any
    violation."""
    import pyarrow.parquet as pq

    from optimizer.scenario import load_scenario
    from optimizer.verify import verify_plan

    plan_path = plan / "plan.parquet" if plan.is_dir() else plan
    with _errors_reported():
        s = load_scenario(scenario, run_date=_date(date, dt.date.today()), policy_path=policy)
        if not plan_path.is_file():
            raise InputError(str(plan_path), "plan file not found")
        frame = pq.read_table(plan_path).to_pandas()
    violations = verify_plan(s, frame)
    if not violations:
        err.print(f"[bold green]ok[/]: {len(frame):,} contacts keep every cap, conflict, rule, "
                  "limit and floor")
        return
    for v in violations:
        err.print(f"[bold red]{v.kind}[/] '{escape(v.name)}': {escape(v.message)}",
                  soft_wrap=True)
    err.print(f"[bold red]{len(violations)} violated constraint(s)[/]")
    raise typer.Exit(EXIT_VIOLATIONS)


@app.command()
def frontier(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory.")],
    x: Annotated[str, typer.Option("--x", help="Quantity to optimize on the horizontal axis: "
                                   "a KPI, a numeric action column, 'contacts' or an "
                                   "objective level; a leading '-' minimizes it.")],
    y: Annotated[str, typer.Option("--y", help="Quantity whose requirement (eps) moves along "
                                   "the frontier; same forms as --x.")],
    points: Annotated[int, typer.Option("--points", help="Number of frontier points (>= 2)."
                                        )] = 5,
    out: Annotated[Path | None, typer.Option("--out", help="Directory to write; default "
                                             "RUN_DIR/frontier with --run, else ./frontier."
                                             )] = None,
    run_dir: Annotated[Path | None, typer.Option("--run", help="A run directory whose plan "
                                                 "is marked on the chart (else the policy is "
                                                 "solved once for it).")] = None,
    date: DateOpt = None,
    policy: PolicyOpt = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for all solves "
                                              "together.")] = 120.0,
    solver: Annotated[str, typer.Option("--solver", help="auto, decomposition, cp-sat or "
                                        "scip.")] = "auto",
    gap: Annotated[float, typer.Option("--gap", help="Relative gap at which a point counts "
                                       "as solved.")] = 0.0,
    plans: Annotated[bool, typer.Option("--plans", help="Also write each point's plan to "
                                        "plans/point-NN.parquet.")] = False,
) -> None:
    """The efficient frontier between two quantities (epsilon-constraint): writes
    frontier.parquet, frontier.json and frontier.png."""
    from optimizer.frontier import FrontierOptions
    from optimizer.frontier_io import run_frontier

    run_date = None if date is None else _date(date, dt.date.today())
    if run_date is None and run_dir is None:
        run_date = dt.date.today()
    with _errors_reported():
        result, where = run_frontier(
            scenario, out, x=x, y=y, options=FrontierOptions(points, time_limit, gap),
            run_date=run_date, policy_path=policy, solver=solver, run_dir=run_dir,
            plans=plans, progress=_progress)
    proven = sum(p.status == "optimal" for p in result.points)
    err.print(f"[bold]frontier[/]: {len(result.points)} point(s), {proven} proven optimal; "
              f"{result.seconds:.1f} s; wrote {escape(str(where))}", soft_wrap=True)
    for w in result.warnings:
        err.print(f"[yellow]warning[/]: {escape(w)}", soft_wrap=True)


@app.command()
def explain(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory.")],
    run_dir: Annotated[Path, typer.Argument(help="The run directory to explain.")],
    customer: Annotated[str, typer.Option("--customer", help="The customer_id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table."
                                          )] = False,
    date: Annotated[str | None, typer.Option("--date", help="Run date; default the run's."
                                             )] = None,
    policy: PolicyOpt = None,
) -> None:
    """Why a customer got these contacts and not others: every option with its values,
    prices, and the caps, rules and conflicts that removed or blocked it."""
    import json

    from optimizer.explain import explain_customer
    from optimizer.outputs import read_run_dir, run_date_of, stale_inputs
    from optimizer.scenario import load_scenario

    with _errors_reported():
        summary, plan = read_run_dir(run_dir)
        run_date = run_date_of(summary, None if date is None else _date(date, dt.date.today()))
        s = load_scenario(scenario, run_date=run_date, policy_path=policy)
        result = explain_customer(s, customer, summary, plan)
    stale = stale_inputs(summary, s)
    if stale:
        err.print(f"[yellow]warning[/]: the run was made from other versions of "
                  f"{escape(', '.join(stale))}", soft_wrap=True)
    for w in result.warnings:
        err.print(f"[yellow]warning[/]: {escape(w)}", soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    from cli.explain_view import print_explanation

    print_explanation(result)


@app.command()
def approve(
    run_dir: Annotated[Path, typer.Argument(help="The run directory whose plan is reviewed.")],
    decisions: Annotated[Path, typer.Option("--decisions", help="Parquet or CSV: customer_id, "
                                            "action_id, date, decision (approve|decline).")],
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario directory; "
                                                  "default the one the run recorded.")] = None,
    policy: PolicyOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the final plan here instead "
                                             "of into RUN_DIR.")] = None,
) -> None:
    """Apply review decisions: drop declined and undecided (pending) contacts, re-check every
    hard constraint, write final_plan.parquet. Exit 1, writing nothing, when the final plan
    would break one; 2 on a bad decisions file."""
    from optimizer.approval import ApprovalRefused, approve_run

    try:
        with _errors_reported():
            done = approve_run(run_dir, decisions, scenario_dir=scenario, policy_path=policy,
                               out=out, progress=_progress)
    except ApprovalRefused as exc:
        err.print(f"[bold red]{escape(str(exc))}[/]", soft_wrap=True)
        for line in exc.lines():
            err.print(f"  - {escape(line)}", soft_wrap=True)
        err.print("approve more of the removed contacts, or change the policy and run again",
                  soft_wrap=True)
        raise typer.Exit(EXIT_VIOLATIONS) from None
    c = done.record["counts"]
    levels = "; ".join(f"{o['name']} = {o['final']:,.2f} (plan {o['plan']:,.2f})"
                       for o in done.record["objectives"])
    err.print(f"[bold green]approved[/]: final plan {c['final']:,} of {c['plan']:,} contacts; "
              f"review: {c['approved']} approved, {c['declined']} declined, {c['pending']} "
              f"pending (no decision: left out); every hard constraint holds; {escape(levels)}",
              soft_wrap=True)


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="Directory to write the scenario into.")],
    customers: Annotated[int, typer.Option("--customers", min=1)] = 2000,
    actions: Annotated[int, typer.Option("--actions", min=1)] = 12,
    horizon: Annotated[int, typer.Option("--horizon", min=1)] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    date: DateOpt = None,
) -> None:
    """Write a synthetic scenario with realistic structure that uses every policy section."""
    from optimizer.synthetic import default_run_date, generate_scenario

    run_date = _date(date, default_run_date())
    generate_scenario(out, customers=customers, actions=actions, horizon=horizon, seed=seed,
                      run_date=run_date)
    err.print(f"wrote {customers:,} customers × {actions} actions × {horizon} day(s) to {out} "
              f"(run it with --date {run_date})")


@app.command()
def simulate(
    policy: Annotated[list[Path] | None, typer.Option(
        "--policy", help="A policy file to compare; repeat for each. Default: "
        "data/simulate/sales_only.toml and balanced.toml.")] = None,
    days: Annotated[int, typer.Option("--days", help="Nights to simulate.")] = 90,
    customers: Annotated[int, typer.Option("--customers", help="Synthetic customers.")] = 5000,
    actions: Annotated[int, typer.Option("--actions", help="Synthetic actions.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the world and its luck.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Directory to write.")] = Path(
        "simulation"),
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds per night and "
                                              "policy for the solve.")] = 10.0,
    solver: Annotated[str, typer.Option("--solver", help="auto (the exact MIP up to 3,000 "
                                        "contacts a night, else the decomposition when it "
                                        "supports the policy), decomposition, cp-sat or "
                                        "scip.")] = "auto",
    gap: Annotated[float, typer.Option("--gap", help="Relative gap per night and level."
                                       )] = 1e-3,
    date: Annotated[str | None, typer.Option("--date", help="First night YYYY-MM-DD; "
                                             "default 2026-01-05.")] = None,
) -> None:
    """Delayed effects: run each policy night after night on a synthetic (toy) world whose
    response falls with recent contacts and whose churn rises with over-contact; write
    simulation.parquet, simulation.json and simulation.png."""
    from cli.simulate_view import print_simulation
    from optimizer import simulate as simulation
    from optimizer.synthetic import default_run_date

    options = simulation.SimulationOptions(
        days=days, customers=customers, actions=actions, seed=seed,
        start=_date(date, default_run_date()), time_limit=time_limit, solver=solver,
        relative_gap=gap)
    with _errors_reported():
        sim = simulation.simulate(list(policy or simulation.DEFAULT_POLICIES), options,
                                  progress=_progress)
        simulation.write_simulation(out, sim)
    print_simulation(sim)
    err.print(f"simulated {len(sim.runs)} policies × {days} nights in {sim.seconds:.0f} s; "
              f"wrote {escape(str(out))}", soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
