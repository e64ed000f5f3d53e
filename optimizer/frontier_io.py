"""`contactopt frontier` end to end: load, solve the frontier, draw it, write it whole.

The output directory holds `frontier.parquet` (one row per point), `frontier.json` (what the
columns mean, the current plan's point, warnings), `frontier.png` and, on request, each
point's plan. Written to the run directory's `frontier/` (the default with `--run`), it also
appears in that run's `report.html`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from optimizer.errors import InputError
from optimizer.frontier import (
    Frontier,
    FrontierOptions,
    compute_frontier,
    parse_axis,
)
from optimizer.outputs import (
    chosen_from_plan,
    plan_table,
    read_run_dir,
    run_date_of,
    stale_inputs,
    write_json,
    write_parquet,
    write_run_dir,
)
from optimizer.problem import Problem, build_problem
from optimizer.report import FRONTIER_DIR, png_img_tag, refresh_report
from optimizer.scenario import Scenario, load_scenario
from optimizer.solvers import get_solver

Progress = Callable[[str], None]


def render_chart(f: Frontier) -> bytes:
    """The frontier as a PNG (Agg, no display): proven points filled, unproven ones hollow
    with a bar to their proven bound, the policy's own plan as a star."""
    fig = Figure(figsize=(7.5, 4.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = np.array([p.x for p in f.points])
    ys = np.array([p.y for p in f.points])
    proven = np.array([p.status == "optimal" for p in f.points])
    ax.plot(xs, ys, "-", color="C0", alpha=0.6, zorder=1)
    for p in f.points:
        if p.bound is not None and p.status != "optimal":
            ax.plot([p.x, p.bound], [p.y, p.y], color="C0", alpha=0.35, lw=3, zorder=1)
    if proven.any():
        ax.scatter(xs[proven], ys[proven], color="C0", zorder=2,
                   label="frontier point (proven optimal)")
    if (~proven).any():
        ax.scatter(xs[~proven], ys[~proven], facecolors="white", edgecolors="C0", zorder=2,
                   label="frontier point (feasible; bar: proven bound on x)")
    if f.current is not None:
        ax.scatter([f.current.x], [f.current.y], marker="*", s=220, color="C3", zorder=3,
                   label="current policy plan")
    ax.set_xlabel(f.x.title)
    ax.set_ylabel(f.y.title)
    ax.set_title(f"Efficient frontier: {f.x.label} vs {f.y.label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def chart_img_tag(f: Frontier) -> str:
    """The chart as a self-contained `<img>` (base64 PNG) for an HTML report."""
    return png_img_tag(render_chart(f), f"efficient frontier of {f.x.label} vs {f.y.label}")


def write_frontier(out: Path, f: Frontier, s: Scenario, problem: Problem, *,
                   plans: bool = False) -> None:
    """Write the frontier directory whole (temporary sibling, then rename)."""
    png = render_chart(f)
    writers = {
        "frontier.parquet": lambda p: write_parquet(p, f.table()),
        "frontier.json": lambda p: write_json(p, f.meta() | {
            "run_date": s.run_date.isoformat(), "fingerprints": s.fingerprints}),
        "frontier.png": lambda p: p.write_bytes(png),
    }
    if plans:
        def write_plans(folder: Path) -> None:
            folder.mkdir()
            for point in f.points:
                write_parquet(folder / f"point-{point.point:02d}.parquet",
                              plan_table(s, problem, point.chosen))
        writers["plans"] = write_plans
    write_run_dir(out, writers)


def run_frontier(directory: Path, out: Path | None, *, x: str, y: str,
                 options: FrontierOptions, run_date: dt.date | None,
                 policy_path: Path | None = None, solver: str = "auto",
                 run_dir: Path | None = None, plans: bool = False,
                 progress: Progress = lambda _: None) -> tuple[Frontier, Path]:
    """Load, solve and write a frontier; return it and where it was written.

    With `run_dir`, the run's plan is the chart's marker, its run date is the default, and
    the default output is `run_dir/frontier` (then the run's report shows the frontier).
    """
    from optimizer.run import FRONTIER_DECOMPOSITION_ABOVE, choose_solver

    options.check()
    summary, frame = read_run_dir(run_dir) if run_dir is not None else (None, None)
    if summary is not None:
        run_date = run_date_of(summary, run_date)
    if run_date is None:
        raise InputError("--date", "is required without --run")
    if out is None:
        out = run_dir / FRONTIER_DIR if run_dir is not None else Path("frontier")
    progress(f"loading {directory}")
    scenario = load_scenario(directory, run_date=run_date, policy_path=policy_path)
    problem = build_problem(scenario)
    x_axis = parse_axis(scenario, problem, x, "--x")
    y_axis = parse_axis(scenario, problem, y, "--y")
    if x_axis.label == y_axis.label:
        raise InputError("--y", "names the same quantity as --x", examples=(y,))
    current, warnings = None, []
    if frame is not None:
        assert summary is not None and run_dir is not None
        current, unmatched = chosen_from_plan(scenario, problem, frame)
        if unmatched:
            raise InputError(str(run_dir / "plan.parquet"), f"{unmatched} plan row(s) name no "
                             "eligible contact of this scenario; was the run made from "
                             "these inputs?")
        stale = stale_inputs(summary, scenario)
        if stale:
            warnings.append(f"the run in {run_dir} was made from other versions of "
                            f"{', '.join(stale)}; its marker may not be comparable")
    engine = get_solver(choose_solver(problem, solver, FRONTIER_DECOMPOSITION_ABOVE))
    progress(f"compiled {problem.size:,} eligible contacts; {options.points} points with "
             f"{engine.name}, time limit {options.time_limit:g} s for all solves")
    frontier = compute_frontier(scenario, problem, engine, x_axis, y_axis, options,
                                current=current, current_source=str(run_dir or ""),
                                progress=progress)
    frontier = dataclasses.replace(frontier, warnings=(*warnings, *frontier.warnings))
    write_frontier(out, frontier, scenario, problem, plans=plans)
    progress(f"wrote {out}")
    if run_dir is not None and out.resolve() == (run_dir / FRONTIER_DIR).resolve():
        refresh_report(run_dir)
        progress(f"added the frontier to {run_dir / 'report.html'}")
    return frontier, out
