"""The benchmark suite: one command runs a named set of cases against contactopt and peers.

    python -m benchmarks.suite --set small [--time-limit S] [--solver NAME] [--out FILE]

Every measured job (contactopt end to end, the independent verifier, HiGHS, CP-SAT) runs in
a fresh child process, so its peak RSS (read with os.wait4 for exactly that child) is its
own and nothing is warm from an earlier job. contactopt is timed around
`optimizer.run.run_scenario` (read Parquet -> write the run directory); the verifier is timed
separately. The peers get the same MIP: HiGHS is fed the CSR arrays of
`optimizer.solvers.exact.build_matrix` for objective level 1, and CP-SAT is our exact solver
on level 1; their `seconds` are solve time only (model building is reported apart), which
favours them. Generated inputs are cached under benchmarks/cache/<case>/.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results"
SEED = 20260101
PEER_MAX_CUSTOMERS = 200_000
"""Peers are skipped above this size: their models no longer fit a sensible time or memory."""

Row = dict[str, Any]


# --------------------------------------------------------------------------- cases and sets


@dataclass(frozen=True)
class Case:
    """One benchmark input: a generated scenario or an imported Bigler instance."""

    name: str
    customers: int = 0
    actions: int = 0
    horizon: int = 1
    instance: str | None = None  # Bigler instance name (GS1, ...) instead of generated

    @property
    def label(self) -> str:
        if self.instance:
            return f"bigler {self.instance}"
        return f"{_short(self.customers)}×{self.actions}×{self.horizon}"


@dataclass(frozen=True)
class Targets:
    """What a set must reach (README "Targets"); checked and reported, never enforced."""

    max_seconds: float | None = None
    max_rss_gb: float | None = None
    max_gap: float | None = None
    beat_highs_objective: bool = False
    max_time_vs_highs: float | None = None  # contactopt seconds / HiGHS seconds
    gap_below_highs: bool = False


@dataclass(frozen=True)
class BenchSet:
    cases: tuple[Case, ...]
    time_limit: float
    peer_time_limit: float | None = None  # None: the same as contactopt's
    targets: Targets = field(default_factory=Targets)
    about: str = ""


def _gen(customers: int, actions: int, horizon: int) -> Case:
    return Case(f"gen-{customers}x{actions}x{horizon}-s{SEED}", customers, actions, horizon)


SETS: dict[str, BenchSet] = {
    "smoke": BenchSet((_gen(2_000, 10, 1),), 30.0,
                      about="CI: a small generated case end to end, verified"),
    "small": BenchSet((_gen(10_000, 20, 1),), 60.0,
                      targets=Targets(max_gap=0.0005, beat_highs_objective=True,
                                      max_time_vs_highs=1 / 20),
                      about="exact territory: proven gap and speed against HiGHS"),
    "medium": BenchSet((_gen(1_000_000, 20, 1),), 60.0,
                       targets=Targets(max_seconds=60, max_rss_gb=6, max_gap=0.001),
                       about="one nightly run for a mid-size customer base"),
    "large": BenchSet((_gen(10_000_000, 50, 1),), 600.0,
                      targets=Targets(max_seconds=600, max_rss_gb=20, max_gap=0.001),
                      about="scale: 500M eligible-pair catalogue"),
    "multiday": BenchSet((_gen(200_000, 20, 7),), 300.0,
                         targets=Targets(max_seconds=300, max_gap=0.005),
                         about="a week planned at once: rolling caps and conflicts bind"),
    "bigler": BenchSet(tuple(Case(f"bigler-{n}", instance=n) for n in ("GS1", "GS2", "GS5")),
                       60.0, peer_time_limit=300.0,
                       targets=Targets(max_seconds=60, gap_below_highs=True),
                       about="published instances (Bigler et al. 2023), hard for MIP solvers"),
}


def _short(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return str(n)


# --------------------------------------------------------------------------- inputs


def prepare(case: Case, cache: Path) -> tuple[Path, dt.date]:
    """The case's scenario directory (generated or imported once, then reused) and run date.

    A finished cache holds a `.complete` file with the parameters that made it, so a changed
    case or an interrupted generation is rebuilt instead of silently reused."""
    from benchmarks.bigler import RUN_DATE as BIGLER_DATE
    from optimizer.synthetic import default_run_date

    target = cache / case.name
    run_date = BIGLER_DATE if case.instance else default_run_date()
    stamp = json.dumps({**dataclasses.asdict(case), "run_date": run_date.isoformat(),
                        "seed": SEED}, sort_keys=True)
    marker = target / ".complete"
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return target, run_date
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{case.name}.tmp-", dir=cache))
    try:
        if case.instance:
            from benchmarks.bigler import SHARED_DIR, import_bigler

            import_bigler(SHARED_DIR / case.instance, tmp)
        else:
            from optimizer.synthetic import generate_scenario

            generate_scenario(tmp, customers=case.customers, actions=case.actions,
                              horizon=case.horizon, seed=SEED, run_date=run_date)
        (tmp / ".complete").write_text(stamp, encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, run_date


def first_level_policy(policy: Path, out: Path) -> Path:
    """A copy of `policy` with only its first [[objective]]: for level-1-only runs."""
    text = policy.read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=\[)", text)
    seen = 0
    kept = []
    for block in blocks:
        if block.startswith("[[objective]]"):
            seen += 1
            if seen > 1:
                continue
        kept.append(block)
    out.write_text("".join(kept), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- child jobs


def _log_progress(message: str) -> None:
    """contactopt's progress lines in the child's log, with the peak RSS so far."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB → GB
    print(f"{dt.datetime.now():%H:%M:%S} [peak {peak:.1f} GB] {message}", file=sys.stderr,
          flush=True)


def _job_contactopt(job: dict[str, Any]) -> Row:
    """End to end: run_scenario from Parquet to the written run directory."""
    from optimizer.run import NoPlanError, RunOptions, run_scenario

    # no sales-only baseline: the suite times the plan's solve against its peers
    options = RunOptions(time_limit=job["time_limit"], solver=job["solver"],
                         relative_gap=job["gap"], baseline=False)
    start = time.perf_counter()
    try:
        outcome = run_scenario(Path(job["scenario"]), Path(job["out"]),
                               run_date=dt.date.fromisoformat(job["run_date"]),
                               policy_path=Path(job["policy"]) if job["policy"] else None,
                               options=options, progress=_log_progress)
    except NoPlanError as exc:
        # no sizes here: compiling the scenario a second time in this process, next to the
        # first run's memory, ran a 10M-customer case out of memory
        return {"status": exc.termination.value, "seconds": time.perf_counter() - start,
                "error": str(exc)}
    seconds = time.perf_counter() - start
    s = outcome.summary
    first = s["objectives"][0] if s["objectives"] else {}
    return {
        "status": s["status"], "seconds": seconds, "solver": s["solver"],
        "objective": first.get("solved_value"), "bound": first.get("bound"),
        "gap": first.get("gap"), "level1_final": first.get("value"),
        "overall_gap": s["gap"], "levels": len(outcome.problem.levels),
        "iterations": s["iterations"], "stats": first.get("stats"),
        "contacts": s["counts"]["contacts"],
        **_sizes(outcome.problem),
    }


def _sizes(problem: Any) -> Row:
    return {"customers": problem.n_customers, "actions": problem.n_actions,
            "days": problem.horizon, "triples": problem.size,
            "global_constraints": len(problem.rows) + len(problem.coverage),
            # only when the solve built them: building the caps' CSR here, after the run,
            # added 4 GB to the 10M case's peak RSS, which the run itself never needed
            "local_rows": len(problem.__dict__["local"]) if "local" in problem.__dict__
            else None}


def _job_verify(job: dict[str, Any]) -> Row:
    """The independent verifier on the written plan; loading is timed apart from checking."""
    import pyarrow.parquet as pq

    from optimizer.scenario import load_scenario
    from optimizer.verify import verify_plan

    start = time.perf_counter()
    scenario = load_scenario(Path(job["scenario"]), run_date=dt.date.fromisoformat(
        job["run_date"]), policy_path=Path(job["policy"]) if job["policy"] else None)
    plan = pq.read_table(Path(job["out"]) / "plan.parquet").to_pandas()
    loaded = time.perf_counter()
    violations = verify_plan(scenario, plan)
    done = time.perf_counter()
    return {"ok": not violations, "violations": len(violations),
            "messages": [f"{v.kind} '{v.name}': {v.message}" for v in violations[:3]],
            "seconds": done - loaded, "load_seconds": loaded - start}


def _level1_model(job: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The scenario, the compiled problem and the level-1 request as contactopt builds them."""
    from optimizer.problem import build_problem
    from optimizer.scenario import load_scenario
    from optimizer.solvers.base import SolveRequest

    scenario = load_scenario(Path(job["scenario"]), run_date=dt.date.fromisoformat(
        job["run_date"]), policy_path=Path(job["policy"]) if job["policy"] else None)
    problem = build_problem(scenario)
    request = SolveRequest(objective=problem.levels[0].values, time_limit=job["time_limit"],
                           relative_gap=job["gap"])
    return scenario, problem, request


def _verify_x(scenario: Any, problem: Any, x: Any) -> Row:
    """A peer's plan through the same independent verifier as ours (outside its timing):
    proof that the peer solved the contract's problem, not a looser one."""
    from optimizer.outputs import plan_table
    from optimizer.verify import verify_plan

    violations = verify_plan(scenario, plan_table(scenario, problem, x > 0.5).to_pandas())
    return {"ok": not violations, "violations": len(violations),
            "messages": [f"{v.kind} '{v.name}': {v.message}" for v in violations[:3]]}


def _job_highs(job: dict[str, Any]) -> Row:
    """HiGHS MIP on the same CSR as build_matrix: every finite-upper variable binary."""
    import highspy
    import numpy as np

    from optimizer.result import relative_gap
    from optimizer.solvers.exact import build_matrix
    from optimizer.solvers.highs import highs_model

    start = time.perf_counter()
    scenario, problem, request = _level1_model(job)
    m = build_matrix(problem, request)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(job["time_limit"]))
    h.setOptionValue("threads", int(job["threads"]))
    h.setOptionValue("mip_rel_gap", float(job["gap"]))
    h.setOptionValue("random_seed", 0)
    h.passModel(highs_model(m))
    built = time.perf_counter()
    h.run()
    solved = time.perf_counter()
    info = h.getInfo()
    has_plan = info.primal_solution_status == highspy.kSolutionStatusFeasible
    objective = float(info.objective_function_value) if has_plan else None
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    violation, verify = None, None
    if has_plan:
        x = np.asarray(h.getSolution().col_value)
        act = m.matrix @ x
        violation = float(max(np.max(m.row_lower - act, initial=0.0),
                              np.max(act - m.row_upper, initial=0.0),
                              np.max(np.abs(x - np.round(x)), initial=0.0)))
        verify = _verify_x(scenario, problem, x[: m.n_x])
    return {
        "status": h.modelStatusToString(h.getModelStatus()).lower(),
        "seconds": solved - built, "build_seconds": built - start,
        "objective": objective, "bound": bound, "gap": relative_gap(objective, bound),
        "iterations": int(info.simplex_iteration_count), "nodes": int(info.mip_node_count),
        "max_violation": violation, "threads": int(job["threads"]), "verify": verify,
    }


def _job_cpsat(job: dict[str, Any]) -> Row:
    """Our exact solver (LP relaxation, then CP-SAT) on level 1 alone."""
    from optimizer.solvers import get_solver

    start = time.perf_counter()
    scenario, problem, request = _level1_model(job)
    built = time.perf_counter()
    result = get_solver("cp-sat").solve(problem, request)
    solved = time.perf_counter()
    return {"status": result.termination.value, "seconds": solved - built,
            "build_seconds": built - start, "objective": result.objective,
            "bound": result.bound, "gap": result.gap, "iterations": result.iterations,
            "verify": None if result.x is None else _verify_x(scenario, problem, result.x)}


JOBS: dict[str, Callable[[dict[str, Any]], Row]] = {
    "contactopt": _job_contactopt, "verify": _job_verify, "highs": _job_highs,
    "cp-sat": _job_cpsat,
}


def worker(job_file: Path) -> int:
    """Child entry point: run one job, write its row as JSON next to the job file."""
    import resource

    job = json.loads(job_file.read_text(encoding="utf-8"))
    try:
        row = JOBS[job["kind"]](job)
    except Exception as exc:  # a crash is a result too: report it, do not lose the suite
        traceback.print_exc()
        row = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    row["self_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    Path(job["result"]).write_text(json.dumps(row, default=_jsonable), encoding="utf-8")
    return 0


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def run_child(job: dict[str, Any], work: Path, timeout: float) -> Row:
    """Run one job in a fresh interpreter; add its own peak RSS (os.wait4) and wall time."""
    name = f"{job['kind']}-{len(list(work.glob('*.job.json')))}"
    job_file = work / f"{name}.job.json"
    job = {**job, "result": str(work / f"{name}.result.json")}
    job_file.write_text(json.dumps(job), encoding="utf-8")
    log = work / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.suite", "--worker",
                                 str(job_file)], cwd=ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
        killed = threading.Event()

        def _kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, _kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    result = Path(job["result"])
    if result.is_file():
        row: Row = json.loads(result.read_text(encoding="utf-8"))
    else:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        why = f"killed after {timeout:g} s" if killed.is_set() else \
            f"exit {proc.returncode}"
        row = {"status": "error", "error": f"{why}: {' | '.join(tail)}"}
    row["rss_mb"] = usage.ru_maxrss * 1024 / 1e6  # Linux: KiB
    row["wall_seconds"] = wall
    return row


# --------------------------------------------------------------------------- the suite


@dataclass
class Options:
    time_limit: float
    peer_time_limit: float
    solver: str
    gap: float
    levels: str
    peers: tuple[str, ...]  # which peers run (empty: none)
    threads: int
    cache: Path


def run_case(case: Case, opts: Options, bench: BenchSet,
             say: Callable[[str], None]) -> Row:
    """contactopt, its verification, then the peers (unless too large) for one case."""
    say(f"{case.label}: preparing inputs in {opts.cache / case.name}")
    t0 = time.perf_counter()
    scenario, run_date = prepare(case, opts.cache)
    prepare_seconds = time.perf_counter() - t0
    work = Path(tempfile.mkdtemp(prefix=f"bench-{case.name}-"))
    try:
        policy = (first_level_policy(scenario / "policy.toml", work / "policy.toml")
                  if opts.levels == "1" else None)
        base = {"scenario": str(scenario), "run_date": run_date.isoformat(),
                "policy": str(policy) if policy else None, "gap": opts.gap,
                "out": str(work / "run"), "threads": opts.threads}
        say(f"{case.label}: contactopt --solver {opts.solver}, time limit "
            f"{opts.time_limit:g} s")
        ours = run_child({**base, "kind": "contactopt", "time_limit": opts.time_limit,
                          "solver": opts.solver}, work, _timeout(opts.time_limit))
        row: Row = {"case": case.name, "label": case.label, "run_date": run_date.isoformat(),
                    "prepare_seconds": prepare_seconds, "requested_solver": opts.solver,
                    "time_limit": opts.time_limit, **ours}
        if (work / "run" / "plan.parquet").is_file():
            say(f"{case.label}: verifying the plan")
            check = run_child({**base, "kind": "verify"}, work, _timeout(opts.time_limit))
            row["verify"] = {k: check.get(k) for k in ("ok", "violations", "messages",
                                                       "seconds", "load_seconds", "rss_mb",
                                                       "status", "error") if k in check}
        else:
            row["verify"] = {"ok": None, "status": "no plan"}
        size = row.get("customers") or case.customers
        for peer in ("highs", "cp-sat"):
            if peer not in opts.peers:
                row[peer] = {"status": "skipped: --no-peers" if not opts.peers else
                             "skipped: not in --peers"}
            elif size > PEER_MAX_CUSTOMERS:
                row[peer] = {"status": "skipped: too large"}
            else:
                say(f"{case.label}: peer {peer}, time limit {opts.peer_time_limit:g} s")
                row[peer] = run_child({**base, "kind": peer,
                                       "time_limit": opts.peer_time_limit}, work,
                                      _timeout(opts.peer_time_limit))
            row[peer]["time_limit"] = opts.peer_time_limit
            row[f"vs_{peer}"] = _ratios(row, row[peer])
        row["targets"] = check_targets(row, bench.targets)
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _timeout(limit: float) -> float:
    """Kill a child that overruns its time limit badly (load/compile are outside it)."""
    return 3 * limit + 900


def _ratios(ours: Row, peer: Row) -> Row:
    """contactopt seconds / peer seconds, and how far our level-1 objective is above theirs."""
    out: Row = {"time_ratio": None, "objective_diff": None, "objective_rel": None}
    if ours.get("seconds") and peer.get("seconds"):
        out["time_ratio"] = ours["seconds"] / peer["seconds"]
    a, b = ours.get("objective"), peer.get("objective")
    if a is not None and b is not None:
        out["objective_diff"] = a - b
        out["objective_rel"] = (a - b) / max(abs(b), 1e-9)
    return out


def check_targets(row: Row, t: Targets) -> dict[str, bool | None]:
    """Each target of the set: True met, False missed, None not measurable (no peer)."""
    gap = row.get("overall_gap")
    got: dict[str, bool | None] = {
        "plan": row.get("status") in ("optimal", "feasible"),
        "verified": (row.get("verify") or {}).get("ok"),
    }
    if t.max_seconds is not None:
        got[f"seconds<={t.max_seconds:g}"] = (row.get("seconds") or math.inf) <= t.max_seconds
    if t.max_rss_gb is not None:
        got[f"rss<={t.max_rss_gb:g}GB"] = row.get("rss_mb", math.inf) <= t.max_rss_gb * 1000
    if t.max_gap is not None:
        got[f"gap<={t.max_gap:.2%}"] = gap is not None and gap <= t.max_gap
    highs = row.get("highs", {})
    if t.beat_highs_objective:
        ho, ours = highs.get("objective"), row.get("objective")
        got[">=highs objective"] = None if ho is None else (
            ours is not None and ours >= ho - 1e-9 * max(1.0, abs(ho)))
    if t.max_time_vs_highs is not None:
        ratio = row.get("vs_highs", {}).get("time_ratio")
        got[f"time<=highs/{1 / t.max_time_vs_highs:g}"] = None if ratio is None else \
            ratio <= t.max_time_vs_highs
    if t.gap_below_highs:
        hg = highs.get("gap")
        got["gap<highs gap"] = None if hg is None else (gap is not None and gap < hg)
    return got


# --------------------------------------------------------------------------- output


def _num(x: Any, fmt: str = ",.2f") -> str:
    return "–" if x is None else format(x, fmt)


def _pct(x: Any) -> str:
    return "–" if x is None else f"{x:.4%}"


def table_rows(rows: list[Row]) -> list[list[str]]:
    """One line for contactopt and one per peer, per case."""
    lines = []
    for r in rows:
        v = r.get("verify", {})
        verify = "ok" if v.get("ok") else ("–" if v.get("ok") is None else
                                            f"{v.get('violations')} violated")
        if v.get("seconds") is not None:
            verify += f" ({v['seconds']:.1f} s)"
        met = [k for k, ok in r.get("targets", {}).items() if ok is False]
        lines.append([r["label"], f"contactopt ({r.get('solver') or r['requested_solver']})",
                      str(r.get("status")), _num(r.get("seconds"), ".1f"),
                      _num(r.get("rss_mb"), ",.0f"), _num(r.get("objective")),
                      _num(r.get("bound")), _pct(r.get("gap")), _pct(r.get("overall_gap")),
                      verify, "", "", "missed: " + ", ".join(met) if met else "all met"])
        for peer in ("highs", "cp-sat"):
            p, vs = r.get(peer, {}), r.get(f"vs_{peer}", {})
            pv = p.get("verify") or {}
            peer_verify = "–" if not pv else ("ok" if pv.get("ok") else
                                              f"{pv.get('violations')} violated")
            lines.append(["", f"{peer} ({_num(p.get('time_limit'), 'g')} s)",
                          str(p.get("status")), _num(p.get("seconds"), ".1f"),
                          _num(p.get("rss_mb"), ",.0f"), _num(p.get("objective")),
                          _num(p.get("bound")), _pct(p.get("gap")), "", peer_verify,
                          _num(vs.get("time_ratio"), ".3g"), _pct(vs.get("objective_rel")),
                          ""])
    return lines


HEADERS = ["case", "solver", "status", "seconds", "RSS MB", "objective (L1)", "bound (L1)",
           "gap (L1)", "gap (all)", "verify", "ours/peer s", "Δobj vs peer", "targets"]


def print_table(rows: list[Row], title: str) -> None:
    """A rich table when stdout is a terminal-capable console, plain text otherwise."""
    lines = table_rows(rows)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a dependency, but a plain table must always work
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in
                  enumerate(HEADERS)]
        print(title)
        for line in [HEADERS, *lines]:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
        return
    table = Table(title=title, show_lines=False)
    for h in HEADERS:
        table.add_column(h, justify="right" if h[0].isdigit() or h in (
            "seconds", "RSS MB", "objective (L1)", "bound (L1)", "gap (L1)", "gap (all)",
            "ours/peer s", "Δobj vs peer") else "left")
    for line in lines:
        table.add_row(*line)
    Console(width=max(200, shutil.get_terminal_size().columns)).print(table)


def environment() -> Row:
    """Machine and library versions: a timing means little without them."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("ortools", "highspy", "numpy", "scipy", "pyarrow"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "versions": versions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suite",
        description="Run a benchmark set: contactopt end to end (verified) against HiGHS and "
                    "CP-SAT on the same MIP. Sets: " + "; ".join(
                        f"{k} ({v.about})" for k, v in SETS.items()))
    parser.add_argument("--set", dest="set_name", choices=sorted(SETS))
    parser.add_argument("--time-limit", type=float, help="contactopt's time limit in seconds "
                        "(default: the set's)")
    parser.add_argument("--peer-time-limit", type=float, help="the peers' time limit "
                        "(default: the set's, else --time-limit)")
    parser.add_argument("--solver", default="auto", help="contactopt --solver (default auto)")
    parser.add_argument("--gap", type=float, default=0.0, help="relative gap at which "
                        "contactopt and HiGHS stop (default 0: prove optimality)")
    parser.add_argument("--levels", choices=("all", "1"), default="all",
                        help="run contactopt on every objective level (default) or level 1")
    parser.add_argument("--no-peers", action="store_true", help="run no peer")
    parser.add_argument("--peers", default="highs,cp-sat",
                        help="comma-separated peers to run (default highs,cp-sat)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="the HiGHS peer's threads (default: every core, as contactopt's "
                             "own HiGHS uses)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, help="results JSON (default "
                        "benchmarks/results/<set>-<timestamp>.json)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if not args.set_name:
        parser.error("--set is required")
    bench = SETS[args.set_name]
    limit = args.time_limit if args.time_limit is not None else bench.time_limit
    peer_limit = args.peer_time_limit or bench.peer_time_limit or limit
    peers = () if args.no_peers else tuple(p for p in args.peers.split(",") if p)
    unknown = sorted(set(peers) - {"highs", "cp-sat"})
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}: choose from highs, cp-sat")
    opts = Options(limit, peer_limit, args.solver, args.gap, args.levels, peers,
                   args.threads, args.cache)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or RESULTS / f"{args.set_name}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(f"{dt.datetime.now():%H:%M:%S} {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    doc: Row = {"set": args.set_name, "started": stamp, "environment": environment(),
                "options": {**dataclasses.asdict(opts), "cache": str(opts.cache)}, "rows": []}
    for case in bench.cases:
        doc["rows"].append(run_case(case, opts, bench, say))
        doc["seconds"] = time.perf_counter() - started
        out.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    print_table(doc["rows"], f"benchmark set '{args.set_name}' ({doc['seconds']:.0f} s total)")
    say(f"wrote {out}")
    bad = [r["case"] for r in doc["rows"] if not (r["targets"]["plan"] and
                                                  r["targets"]["verified"])]
    if bad:
        say(f"no verified plan for: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
