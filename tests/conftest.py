"""Shared fixtures: solve a hand-made scenario end to end and verify every plan it writes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from optimizer.run import RunOptions, run_scenario
from optimizer.scenario import load_scenario
from optimizer.verify import verify_plan
from tests.scenario_factory import write_scenario

RUN_DATE = dt.date(2026, 1, 5)

Solved = tuple[pd.DataFrame, dict]


@pytest.fixture
def solve(tmp_path: Path) -> Callable[..., Solved]:
    """Write a scenario, run it, check the written plan with the independent verifier."""
    counter = iter(range(1000))

    def _solve(customers: list[dict], actions: list[dict], scores: list[dict], policy: str,
               history: list[dict] | None = None, solver: str = "auto") -> Solved:
        k = next(counter)
        directory = write_scenario(tmp_path / f"scenario{k}", customers, actions, scores,
                                   policy, history)
        out = tmp_path / f"run{k}"
        run_scenario(directory, out, run_date=RUN_DATE,
                     options=RunOptions(time_limit=30, solver=solver))
        plan = pq.read_table(out / "plan.parquet").to_pandas()
        summary = json.loads((out / "summary.json").read_text())
        scenario = load_scenario(directory, run_date=RUN_DATE)
        assert verify_plan(scenario, plan) == []
        return plan, summary

    return _solve


def contacts(plan: pd.DataFrame) -> set[tuple[str, str, int]]:
    """The plan as (customer_id, action_id, day offset) triples."""
    days = (pd.to_datetime(plan["date"]) - pd.Timestamp(RUN_DATE)).dt.days
    return set(zip(plan["customer_id"], plan["action_id"], days, strict=True))


def objective(summary: dict, name: str) -> float:
    return next(o["value"] for o in summary["objectives"] if o["name"] == name)
