"""`contactopt approve`: apply a person's review decisions and write the final plan.

The final plan is the run's plan without the declined contacts and without the pending
ones (contacts needing review that the decisions file leaves undecided: a contact is never
approved by silence). Removing contacts can break a floor (a coverage or value minimum),
so the final plan is checked again against every hard constraint by the independent
verifier; when it breaks one, nothing is written and the refusal names the constraint and
its shortfall. Hard constraints stay hard: there is no option to accept a shortfall.

Outputs, written all or none (into the run directory, replacing a previous approval whole,
or into `--out`): `final_plan.parquet` (the kept plan rows, unchanged, plus `decision`),
`approval.parquet` (every review contact with its decision and outcome) and
`approval.json` (counts, objectives before and after, the verifier's result, fingerprints).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from optimizer.errors import ContactoptError, InputError
from optimizer.outputs import (
    read_run_dir,
    stale_inputs,
    update_run_dir,
    write_json,
    write_parquet,
    write_run_dir,
)
from optimizer.review import (
    APPROVE,
    APPROVED,
    DECISION,
    DECLINE,
    DECLINED,
    KEY,
    PENDING,
    REVIEW_FILE,
    read_decisions,
)
from optimizer.scenario import Scenario, load_scenario, quantity_source
from optimizer.verify import Violation, review_rules, verify_plan

FINAL_PLAN, APPROVAL_JSON, APPROVAL_TABLE = ("final_plan.parquet", "approval.json",
                                             "approval.parquet")
PENDING_RULE = ("a contact needing review without a decision stays pending: it is left out "
                "of the final plan")


class ApprovalRefused(ContactoptError):
    """The final plan would break a hard constraint; nothing was written."""

    def __init__(self, violations: list[Violation], counts: dict[str, int]) -> None:
        self.violations = tuple(violations)
        self.counts = counts
        super().__init__(f"refused: without the {counts['declined']} declined and "
                         f"{counts['pending']} pending contact(s) the final plan breaks "
                         f"{len(violations)} hard constraint(s); nothing written")

    def lines(self) -> list[str]:
        """One sentence per broken constraint, with its shortfall (or excess)."""
        return [shortfall_text(v) for v in self.violations]


@dataclass(frozen=True)
class Approval:
    record: dict[str, Any]  # approval.json
    final: pa.Table
    outcomes: pa.Table
    out: Path


def shortfall_text(v: Violation) -> str:
    text = f"{v.kind} '{v.name}': {v.message}"
    if v.value is not None and v.limit is not None and v.kind in ("floor", "limit"):
        gap = v.limit - v.value if v.kind == "floor" else v.value - v.limit
        text += f" ({'short' if v.kind == 'floor' else 'over'} by {gap:,.6g})"
    return text


def approve_run(run_dir: Path, decisions: Path, *, scenario_dir: Path | None = None,
                policy_path: Path | None = None, out: Path | None = None,
                progress: Callable[[str], None] = lambda _: None) -> Approval:
    """Apply `decisions` to the run in `run_dir`, re-verify, write; see the module docstring.

    InputError: a bad run directory, scenario or decisions file (nothing written).
    ApprovalRefused: the final plan breaks a hard constraint (nothing written)."""
    run_dir = Path(run_dir)
    summary, plan = read_run_dir(run_dir)
    review_arrow = _read_review(run_dir)
    review = review_arrow.to_pandas()
    s, scenario_dir = _scenario(summary, run_dir, scenario_dir, policy_path)
    _check_review_rows(s, plan, review, run_dir)
    decided = read_decisions(decisions, review)
    outcome = np.where(decided == APPROVE, APPROVED,
                       np.where(decided == DECLINE, DECLINED, PENDING)).astype(object)
    counts = {"plan": len(plan), "review": len(review),
              **{k: int((outcome == k).sum()) for k in (APPROVED, DECLINED, PENDING)}}
    progress(f"decisions: {counts[APPROVED]} approved, {counts[DECLINED]} declined, "
             f"{counts[PENDING]} pending of {counts['review']} contact(s) needing review")

    needs = plan["review"].to_numpy(dtype=bool)
    approved_keys = _keys(review[outcome == APPROVED])
    keep = ~needs | _keys(plan).isin(approved_keys)
    final = plan[keep].reset_index(drop=True)
    counts |= {"final": len(final), "removed": int((~keep).sum())}
    assert counts["removed"] == counts[DECLINED] + counts[PENDING]  # nothing lost

    progress(f"re-checking {len(final):,} contact(s) against every hard constraint")
    violations = verify_plan(s, final)
    if violations:
        raise ApprovalRefused(violations, counts)

    record = {
        "run_dir": str(run_dir.resolve()),
        "run_date": summary["run_date"],
        "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "decisions": {"file": str(Path(decisions).resolve()),
                      "fingerprint": _fingerprint(Path(decisions))},
        "pending": PENDING_RULE,
        "counts": counts,
        "by_rule": _by_rule(review, outcome),
        "objectives": [{"name": name, "plan": before, "final": after}
                       for (name, before), after in zip(
                           objective_values(s, plan).items(),
                           objective_values(s, final).values(), strict=True)],
        "verifier": {"ok": True, "violations": []},
        "scenario": str(scenario_dir.resolve()),
        "fingerprints": s.fingerprints,
    }
    # the kept rows exactly as plan.parquet holds them, plus the decision that kept them
    final_table = pq.read_table(run_dir / "plan.parquet").filter(pa.array(keep))
    final_table = final_table.append_column(DECISION, pa.array(
        np.where(final["review"].to_numpy(dtype=bool), APPROVE, None), type=pa.string()))
    at = review_arrow.column_names.index(DECISION)
    outcome_table = review_arrow.set_column(at, DECISION, pa.array(decided, type=pa.string()))
    outcome_table = outcome_table.append_column("outcome", pa.array(outcome, type=pa.string()))
    writers = {
        FINAL_PLAN: lambda p: write_parquet(p, final_table),
        APPROVAL_TABLE: lambda p: write_parquet(p, outcome_table),
        APPROVAL_JSON: lambda p: write_json(p, record),
    }
    target = run_dir if out is None or Path(out).resolve() == run_dir.resolve() else Path(out)
    if target == run_dir:
        update_run_dir(run_dir, writers)
    else:
        write_run_dir(target, writers)
    progress(f"wrote {target / FINAL_PLAN}")
    return Approval(record, final_table, outcome_table, target)


# --- the run and its scenario --------------------------------------------------------------

def _read_review(run_dir: Path) -> pa.Table:
    path = run_dir / REVIEW_FILE
    if not path.is_file():
        raise InputError(str(path), "not found: the run directory predates human review; "
                         "run `contactopt run` again")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(str(path), f"cannot be read: {exc}") from None
    if DECISION not in table.column_names:
        raise InputError(str(path), "has no 'decision' column: not written by `contactopt "
                         "run`")
    return table


def _recorded(summary: dict[str, Any], name: str) -> str | None:
    inputs = summary.get("inputs")
    return inputs.get(name) if isinstance(inputs, dict) else None


def _scenario(summary: dict[str, Any], run_dir: Path, directory: Path | None,
              policy_path: Path | None) -> tuple[Scenario, Path]:
    """The run's scenario and its directory (the recorded one unless given), unchanged
    since the run: the plan and its review rows were made from exactly those inputs."""
    given = directory or _recorded(summary, "scenario")
    if given is None:
        raise InputError("--scenario", f"{run_dir / 'summary.json'} records no scenario "
                         "directory; give --scenario")
    policy = policy_path or _recorded(summary, "policy")
    run_date = dt.date.fromisoformat(str(summary["run_date"]))
    s = load_scenario(Path(given), run_date=run_date,
                      policy_path=None if policy is None else Path(policy))
    stale = stale_inputs(summary, s)
    if stale:
        raise InputError(str(given), f"{', '.join(stale)} changed since the run in {run_dir}; "
                         "approve a plan made from the current inputs: run `contactopt run` "
                         "again")
    return s, Path(given)


def _check_review_rows(s: Scenario, plan: pd.DataFrame, review: pd.DataFrame,
                       run_dir: Path) -> None:
    """review.parquet lists exactly the plan's contacts that need review, and those are
    exactly the contacts the verifier's own reading of `[[review]]` selects."""
    needs = plan["review"].to_numpy(dtype=bool)
    rules = review_rules(s, plan)
    flagged = np.asarray([r is not None for r in rules], dtype=bool)
    if (flagged != needs).any():
        raise InputError(str(run_dir / "plan.parquet"), f"{int((flagged != needs).sum())} "
                         "contact(s) are marked for review differently from the policy's "
                         "[[review]] rules; was the run made from these inputs?")
    listed = _keys(review)
    if len(listed) != int(needs.sum()) or not listed.sort_values().equals(
            _keys(plan[needs]).sort_values()):
        raise InputError(str(run_dir / REVIEW_FILE), "does not list exactly the plan's "
                         "contacts with review = true; run `contactopt run` again")


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    """(customer_id, action_id, date) of each row, dates as days."""
    return pd.MultiIndex.from_arrays([
        frame["customer_id"].to_numpy(dtype=object),
        frame["action_id"].astype(str).to_numpy(dtype=object),
        pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[D]"),
    ], names=list(KEY))


# --- figures -------------------------------------------------------------------------------

def objective_values(s: Scenario, plan: pd.DataFrame) -> dict[str, float]:
    """Each objective level's value over a plan's rows: KPI values from the plan's own
    columns, action columns from the scenario, `contacts` as 1 each."""
    out: dict[str, float] = {}
    for objective in s.policy.objectives:
        total = 0.0
        for name, weight in objective.weights:
            source, col = quantity_source(s, name)
            if source == "contacts":
                values = np.ones(len(plan))
            elif source == "kpi":
                values = plan[col].to_numpy(dtype=np.float64)
            else:
                per_action = pd.Series(pd.to_numeric(s.actions[col]).to_numpy(np.float64),
                                       index=s.actions["action_id"].astype(str))
                values = per_action.reindex(plan["action_id"].astype(str)).to_numpy()
            total += weight * float(np.nansum(values))
        out[objective.name] = total
    return out


def _by_rule(review: pd.DataFrame, outcome: np.ndarray) -> dict[str, dict[str, int]]:
    frame = pd.DataFrame({"rule": review["review_rule"].astype(str), "outcome": outcome})
    table = frame.groupby(["rule", "outcome"]).size()
    return {rule: {k: int(table.get((rule, k), 0)) for k in (APPROVED, DECLINED, PENDING)}
            for rule in sorted(frame["rule"].unique())}


def _fingerprint(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
