"""The run directory: plan.parquet, summary.json, report.html, written whole or not at all."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from optimizer.errors import InputError
from optimizer.prices import constraint_fields, level_bound_report, price_or_none
from optimizer.problem import Problem
from optimizer.result import LevelPrices, PlanResult
from optimizer.scenario import Scenario

FILE_WRITERS = Callable[[Path], None]


def plan_table(s: Scenario, problem: Problem, chosen: np.ndarray) -> pa.Table:
    """One row per chosen contact, sorted by (customer_id, date, action_id)."""
    t = problem.triples
    idx = np.flatnonzero(chosen)
    cust, act, day, row = t.customer[idx], t.action[idx], t.day[idx], t.row[idx]
    dates = np.datetime64(s.run_date, "D") + day.astype("timedelta64[D]")
    review = problem.review[idx]
    names = np.array([*problem.review_names, ""], dtype=object)
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(s.customers["customer_id"].to_numpy()[cust]),
        "action_id": pa.array(s.actions["action_id"].to_numpy()[act], type=pa.string()),
        "date": pa.array(dates, type=pa.date32()),
        "channel": pa.array(s.actions["channel"].to_numpy()[act], type=pa.string()),
        "review": pa.array(review >= 0),
        "review_rule": pa.array(np.where(review >= 0, names[review], None), type=pa.string()),
    }
    for kpi, values in s.scores.values(row).items():
        columns[kpi] = pa.array(values)
    return pa.table(columns)


def chosen_from_plan(s: Scenario, problem: Problem,
                     plan: pd.DataFrame) -> tuple[np.ndarray, int]:
    """The inverse of `plan_table`: a bool per triple, and how many plan rows name no
    eligible triple (a plan from other inputs, or one the verifier would reject)."""
    t = problem.triples
    customer = pd.Index(s.customers["customer_id"]).get_indexer(
        plan["customer_id"].to_numpy(dtype=object)).astype(np.int64)
    action = pd.Index(s.actions["action_id"]).get_indexer(
        plan["action_id"].to_numpy(dtype=object)).astype(np.int64)
    day = (pd.to_datetime(plan["date"]).dt.normalize() - pd.Timestamp(s.run_date)).dt.days
    day = day.to_numpy(dtype=np.int64)
    known = (customer >= 0) & (action >= 0) & (day >= 0) & (day < s.horizon)
    n_act = max(problem.n_actions, 1)
    # triples are sorted by (customer, day, action), so this key is sorted too
    keys = (t.customer.astype(np.int64) * s.horizon + t.day) * n_act + t.action
    wanted = ((customer * s.horizon + day) * n_act + action)[known]
    at = np.searchsorted(keys, wanted).clip(0, max(len(keys) - 1, 0))
    hit = (at < len(keys)) & (keys[at] == wanted) if len(keys) else np.zeros(0, bool)
    chosen = np.zeros(problem.size, dtype=bool)
    chosen[at[hit]] = True
    return chosen, int(len(plan) - hit.sum())


def read_run_dir(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """summary.json and plan.parquet of a run directory; InputError when either is missing
    or unreadable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(str(run_dir), "run directory not found")
    for name in ("summary.json", "plan.parquet"):
        if not (run_dir / name).is_file():
            raise InputError(str(run_dir / name), "not found: is this a run directory "
                             "written by `contactopt run`?")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        plan = pq.read_table(run_dir / "plan.parquet").to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(str(run_dir), f"cannot be read: {exc}") from None
    if not isinstance(summary, dict) or "run_date" not in summary:
        raise InputError(str(run_dir / "summary.json"), "has no run_date")
    return summary, plan


def run_date_of(summary: dict[str, Any], given: dt.date | None) -> dt.date:
    """The run's own date; an explicit --date must agree (a plan's dates are offsets from
    it, so another date would shift every contact)."""
    recorded = dt.date.fromisoformat(str(summary["run_date"]))
    if given is not None and given != recorded:
        raise InputError("--date", f"differs from the run directory's date {recorded}; leave "
                         "--date out to use it", examples=(given.isoformat(),))
    return recorded


def stale_inputs(summary: dict[str, Any], s: Scenario) -> list[str]:
    """Input files whose fingerprint differs from the one the run recorded."""
    recorded = summary.get("fingerprints") or {}
    return sorted(name for name, digest in s.fingerprints.items()
                  if recorded.get(name) != digest)


def constraint_report(problem: Problem, chosen: np.ndarray, duals: dict[str, float],
                      prices: Sequence[LevelPrices] = ()) -> list[dict[str, Any]]:
    """Value, limit and shadow price of every global constraint for the plan; with the
    levels' `prices`, also each level's price and a reading (see `prices.py`)."""
    x = chosen.astype(np.float64)
    out: list[dict[str, Any]] = []
    for row in problem.rows:
        entry = {
            "name": row.name, "kind": row.kind, "sense": row.sense,
            "value": round(row.activity(x), 9), "limit": row.rhs,
            "day": row.day, "shadow_price": price_or_none(duals.get(row.name)),
        }
        out.append(entry | constraint_fields(
            name=row.name, sense=row.sense, value=entry["value"], limit=row.rhs,
            coverage=False, nonnegative=bool((row.coef >= 0).all()), prices=prices))
    for cov in problem.coverage:
        covered = cov.covered(x, problem.triples.customer)
        out.append({
            "name": cov.name, "kind": "floor", "sense": ">=",
            "value": covered, "limit": cov.need,
            "day": None, "shadow_price": price_or_none(duals.get(cov.name)),
            "group_size": cov.group_size, "min_share": cov.min_share,
        } | constraint_fields(name=cov.name, sense=">=", value=covered, limit=cov.need,
                              coverage=True, nonnegative=True, prices=prices))
    return out


def summary_dict(s: Scenario, problem: Problem, result: PlanResult, *, seconds: float,
                 extra: dict[str, Any]) -> dict[str, Any]:
    """summary.json: status, objectives with bounds, gap, constraints, solver, fingerprints."""
    chosen = result.chosen if result.chosen is not None else np.zeros(problem.size, bool)
    return {
        "status": result.termination.value if result.chosen is not None else "infeasible",
        "objectives": [
            {"name": lv.name, "value": lv.value, "bound": lv.bound,
             "solved_value": lv.solved_value, "gap": lv.gap,
             "termination": lv.termination.value, "seconds": round(lv.seconds, 3),
             "iterations": lv.iterations, "stats": lv.stats}
            for lv in result.levels
        ],
        "gap": result.gap,
        "constraints": constraint_report(problem, chosen, result.row_duals, result.prices),
        "level_bounds": level_bound_report(result.bounds, result.prices,
                                           {lv.name: lv.value for lv in result.levels}),
        "price_source": result.prices[0].source if result.prices else "",
        "solver": result.solver,
        "iterations": result.iterations,
        "seconds": round(seconds, 3),
        "run_date": s.run_date.isoformat(),
        "horizon_days": s.horizon,
        "counts": {
            "customers": problem.n_customers, "actions": problem.n_actions,
            "eligible": problem.size,
            "contacts": int(chosen.sum()), "review": int((problem.review[chosen] >= 0).sum()),
        },
        "warnings": list(problem.warnings),
        "fingerprints": s.fingerprints,
        **extra,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value)}")


def write_parquet(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path, compression="zstd")


def write_run_dir(out: Path, writers: dict[str, FILE_WRITERS]) -> None:
    """Write every file into a fresh temporary sibling, then swap it into place.

    A failure before the swap leaves `out` exactly as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    old: Path | None = None
    try:
        for name, writer in writers.items():
            writer(tmp / name)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "run")
        os.rename(tmp, out)
    except BaseException:
        if old is not None and not out.exists():
            os.rename(old / "run", out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def update_run_dir(run_dir: Path, writers: dict[str, FILE_WRITERS]) -> None:
    """Add or replace some files of an existing run directory, all or none: every other
    entry is carried over (hard-linked where the file system allows, else copied) into the
    temporary sibling that `write_run_dir` swaps into place."""
    run_dir = Path(run_dir)
    carried = {p.name: _carry(p) for p in sorted(run_dir.iterdir())
               if p.name not in writers and not p.name.startswith(".")}
    write_run_dir(run_dir, carried | writers)


def _carry(source: Path) -> FILE_WRITERS:
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir():
        return lambda dst: shutil.copytree(source, dst, copy_function=link_or_copy)
    return lambda dst: link_or_copy(str(source), str(dst))
