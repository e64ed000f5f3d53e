"""Every class of bad input ends the run with exit status 2, one message naming the file and
the column or policy key (with up to three offending values), and writes nothing.

Each case starts from one small valid scenario and applies one mutation; the CLI is driven
through typer's CliRunner, exactly as a nightly job would call it.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.app import app
from optimizer.scenario import load_scenario
from tests.scenario_factory import write_scenario

DATE = "2026-01-05"
RUN_DATE = dt.date(2026, 1, 5)

POLICY = """\
[plan]
horizon_days = 2

[[objective]]
name = "profit"
maximize = { margin = 1.0 }
tolerance = 0.0

[[objective]]
name = "relationship"
maximize = { clv_delta = 1.0 }

[[cap]]
name = "one a day"
max = 1
window_days = 1

[[limit]]
name = "budget"
sum = "cost"
max = 100.0

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 0.0

[[floor]]
name = "low value"
where = { segment = ["low"] }
sum = "clv_delta"
min = 0.0

[[rule]]
name = "sms needs consent"
deny = { channel = ["sms"] }
unless = "consent_sms"

[privacy]
audit_only = ["age_band"]
"""


def _base() -> dict[str, Any]:
    customers = [
        {"customer_id": "C1", "segment": "high", "consent_sms": True, "age_band": "18-25"},
        {"customer_id": "C2", "segment": "low", "consent_sms": False, "age_band": "26-40"},
        {"customer_id": "C3", "segment": "mid", "consent_sms": True, "age_band": "41-60"},
    ]
    actions = [
        {"action_id": "E1", "channel": "email", "cost": 0.1, "discount": 0.0},
        {"action_id": "S1", "channel": "sms", "cost": 0.05, "discount": 0.1},
    ]
    scores = [
        {"customer_id": "C1", "action_id": "E1", "margin": 3.0, "clv_delta": 1.0},
        {"customer_id": "C1", "action_id": "S1", "margin": 5.0, "clv_delta": 0.5},
        {"customer_id": "C2", "action_id": "E1", "margin": 2.0, "clv_delta": 2.0},
        {"customer_id": "C3", "action_id": "E1", "margin": 1.0, "clv_delta": 0.2},
        {"customer_id": "C3", "action_id": "S1", "margin": 4.0, "clv_delta": 0.1},
    ]
    history = [{"customer_id": "C1", "action_id": "E1", "date": dt.date(2026, 1, 1)}]
    return {"customers": customers, "actions": actions, "scores": scores,
            "history": history, "policy": POLICY}


def _build(directory: Path, mutate: Callable[[dict[str, Any]], None] | None = None) -> Path:
    parts = copy.deepcopy(_base())
    if mutate is not None:
        mutate(parts)
    return write_scenario(directory, parts["customers"], parts["actions"], parts["scores"],
                          parts["policy"], parts["history"])


# --- mutations ------------------------------------------------------------------------------

def sub(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    """Replace one piece of the policy text (which must be there, so no case is a no-op)."""

    def _mutate(p: dict[str, Any]) -> None:
        assert old in p["policy"], old
        p["policy"] = p["policy"].replace(old, new, 1)

    return _mutate


def drop_col(table: str, col: str) -> Callable[[dict[str, Any]], None]:
    def _mutate(p: dict[str, Any]) -> None:
        for row in p[table]:
            del row[col]

    return _mutate


def set_col(table: str, col: str, fn: Callable[[int, Any], Any]) -> Callable[[dict], None]:
    """Set `col` of every row to fn(row index, old value)."""

    def _mutate(p: dict[str, Any]) -> None:
        for i, row in enumerate(p[table]):
            row[col] = fn(i, row.get(col))

    return _mutate


def set_cell(table: str, row: int, col: str, value: Any) -> Callable[[dict], None]:
    def _mutate(p: dict[str, Any]) -> None:
        p[table][row][col] = value

    return _mutate


def add_row(table: str, row: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def _mutate(p: dict[str, Any]) -> None:
        p[table].append(dict(row))

    return _mutate


def both(*fns: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def _mutate(p: dict[str, Any]) -> None:
        for fn in fns:
            fn(p)

    return _mutate


def with_day(days: list[int]) -> Callable[[dict[str, Any]], None]:
    """Give scores a `day` column (one value per row, in row order)."""
    return set_col("scores", "day", lambda i, _: days[i])


# Region in both tables, for the ambiguity cases.
REGION = both(set_col("customers", "region", lambda i, _: ["north", "south", "north"][i]),
              set_col("actions", "region", lambda i, _: ["north", "south"][i]))


CONFLICT_ON_AGE = """[[conflict]]
name = "no sms after email"
first = { channel = ["email"] }
then = { channel = ["sms"], age_band = ["18-25"] }
within_days = 1
"""
REVIEW_ON_AGE = """[[review]]
name = "young"
where = { "customer.age_band" = ["18-25"] }
"""


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[dict[str, Any]], None] | None
    expect: tuple[str, ...]  # every one must appear in the single error message
    remove: str | None = None  # a file to delete after writing
    date: str = DATE
    absent: tuple[str, ...] = ()  # must NOT appear (e.g. a 4th example)


CASES = [
    # missing files
    Case("missing customers", None, ("customers.parquet", "required input file not found"),
         remove="customers.parquet"),
    Case("missing actions", None, ("actions.parquet", "required input file not found"),
         remove="actions.parquet"),
    Case("missing scores", None, ("scores.parquet", "required input file not found"),
         remove="scores.parquet"),
    Case("missing policy", None, ("policy.toml", "policy file not found"),
         remove="policy.toml"),
    # missing required columns
    Case("no segment", drop_col("customers", "segment"),
         ("customers.parquet: column 'segment'", "required column is missing")),
    Case("no customer_id", drop_col("customers", "customer_id"),
         ("customers.parquet: column 'customer_id'", "required column is missing")),
    Case("no action_id", drop_col("actions", "action_id"),
         ("actions.parquet: column 'action_id'", "required column is missing")),
    Case("no channel", drop_col("actions", "channel"),
         ("actions.parquet: column 'channel'", "required column is missing")),
    Case("no cost", drop_col("actions", "cost"),
         ("actions.parquet: column 'cost'", "required column is missing")),
    Case("no discount", drop_col("actions", "discount"),
         ("actions.parquet: column 'discount'", "required column is missing")),
    Case("scores without customer_id", drop_col("scores", "customer_id"),
         ("scores.parquet: column 'customer_id'", "required column is missing")),
    Case("scores without action_id", drop_col("scores", "action_id"),
         ("scores.parquet: column 'action_id'", "required column is missing")),
    Case("history without date", drop_col("history", "date"),
         ("history.parquet: column 'date'", "required column is missing")),
    # wrong column types
    Case("cost as string", set_col("actions", "cost", lambda _, v: str(v)),
         ("actions.parquet: column 'cost'", "wrong column type", "expected float",
          "found string")),
    Case("discount as bool", set_col("actions", "discount", lambda _, v: False),
         ("actions.parquet: column 'discount'", "wrong column type", "found bool")),
    Case("segment as int", set_col("customers", "segment", lambda i, _: i),
         ("customers.parquet: column 'segment'", "wrong column type", "expected string",
          "found int64")),
    Case("channel as int", set_col("actions", "channel", lambda i, _: i),
         ("actions.parquet: column 'channel'", "wrong column type", "found int64")),
    Case("KPI as string", set_col("scores", "margin", lambda _, v: str(v)),
         ("scores.parquet: column 'margin'", "wrong column type", "found string")),
    Case("history date as string", set_col("history", "date", lambda _, v: v.isoformat()),
         ("history.parquet: column 'date'", "wrong column type", "expected date",
          "found string")),
    Case("customer_id as float", both(
        set_col("customers", "customer_id", lambda i, _: float(i + 1)),
        set_col("scores", "customer_id", lambda i, _: float(i % 3 + 1))),
        ("customers.parquet: column 'customer_id'", "wrong column type",
         "expected string or integer", "found double")),
    Case("action_id as int", both(set_col("actions", "action_id", lambda i, _: i)),
         ("actions.parquet: column 'action_id'", "wrong column type", "found int64")),
    Case("scores customer_id of another type",
         set_col("scores", "customer_id", lambda i, _: i),
         ("scores.parquet: column 'customer_id'", "wrong column type", "found int64")),
    Case("history customer_id of another type",
         set_col("history", "customer_id", lambda i, _: 1.0),
         ("history.parquet: column 'customer_id'", "wrong column type", "found double")),
    Case("history action_id as int", set_col("history", "action_id", lambda i, _: 7),
         ("history.parquet: column 'action_id'", "wrong column type", "expected string",
          "found int64")),
    Case("history channel as int", both(set_col("history", "action_id", lambda i, _: "OLD"),
                                        set_col("history", "channel", lambda i, _: 3)),
         ("history.parquet: column 'channel'", "wrong column type", "found int64")),
    Case("scores day as float", with_day([0.0, 0.0, 1.0, 1.0, 0.0]),
         ("scores.parquet: column 'day'", "wrong column type", "found double")),
    # duplicates
    Case("duplicate customer_id", set_cell("customers", 2, "customer_id", "C1"),
         ("customers.parquet: column 'customer_id'", "duplicate", "'row 0', 'row 2'"),
         absent=("C1",)),
    Case("duplicate action_id", set_cell("actions", 1, "action_id", "E1"),
         ("actions.parquet: column 'action_id'", "duplicate", "'E1'")),
    Case("duplicate score key", add_row("scores", {"customer_id": "C2", "action_id": "E1",
                                                   "margin": 9.0, "clv_delta": 0.0}),
         ("scores.parquet: key", "duplicate", "'rows 2 and 5'"), absent=("C2",)),
    Case("duplicate score key with day", both(
        add_row("scores", {"customer_id": "C3", "action_id": "S1", "margin": 9.0,
                           "clv_delta": 0.0}),
        with_day([0, 0, 0, 1, 1, 1])),
        ("scores.parquet: key", "duplicate", "customer_id, action_id, day", "'rows 4 and 5'"),
        absent=("C3",)),
    # unknown ids in scores
    Case("scores unknown customer", set_cell("scores", 2, "customer_id", "C9"),
         ("scores.parquet: column 'customer_id'", "not found in customers.parquet",
          "'row 2'"), absent=("C9",)),
    Case("scores unknown action", set_cell("scores", 1, "action_id", "X9"),
         ("scores.parquet: column 'action_id'", "not found in actions.parquet", "'X9'")),
    Case("at most three examples", both(*(set_cell("scores", i, "customer_id", f"Z{i}")
                                          for i in range(5))),
         ("scores.parquet: column 'customer_id'", "5 id(s) not found",
          "'row 0', 'row 1', 'row 2'"), absent=("Z0", "row 3", "row 4")),
    # non-finite KPI values
    Case("NaN KPI", set_cell("scores", 3, "margin", float("nan")),
         ("scores.parquet: column 'margin'", "NaN, infinite or null", "'row 3'"),
         absent=("C3",)),
    Case("infinite KPI", set_cell("scores", 1, "clv_delta", float("inf")),
         ("scores.parquet: column 'clv_delta'", "NaN, infinite or null", "'row 1'"),
         absent=("C1",)),
    Case("null KPI", set_cell("scores", 2, "margin", None),
         ("scores.parquet: column 'margin'", "NaN, infinite or null", "'row 2'"),
         absent=("C2",)),
    # out-of-range action values
    Case("negative cost", set_cell("actions", 0, "cost", -1.5),
         ("actions.parquet: column 'cost'", "must be >= 0", "('E1', -1.5)")),
    Case("discount above 1", set_cell("actions", 1, "discount", 1.2),
         ("actions.parquet: column 'discount'", "must be in [0, 1]", "('S1', 1.2)")),
    Case("discount below 0", set_cell("actions", 0, "discount", -0.1),
         ("actions.parquet: column 'discount'", "must be in [0, 1]", "('E1', -0.1)")),
    # history dates
    Case("history on the run date", set_cell("history", 0, "date", RUN_DATE),
         ("history.parquet: column 'date'", "on or after the run date 2026-01-05",
          "(e.g. 2026-01-05)")),
    Case("history after the run date", set_cell("history", 0, "date", dt.date(2026, 2, 1)),
         ("history.parquet: column 'date'", "on or after the run date", "2026-02-01")),
    # unknown policy keys, with the closest valid one suggested
    Case("unknown cap key", sub("window_days = 1", "windows_days = 1"),
         ("policy.toml: cap.windows_days", "unknown policy key",
          "did you mean 'cap.window_days'?")),
    Case("unknown section", sub("[[limit]]", "[[limits]]"),
         ("policy.toml: limits", "unknown policy key", "did you mean 'limit'?")),
    Case("unknown plan key", sub("horizon_days = 2", "horizon = 2"),
         ("policy.toml: plan.horizon", "unknown policy key",
          "did you mean 'plan.horizon_days'?")),
    # quantities that name no column
    Case("objective quantity", sub("maximize = { margin = 1.0 }", "maximize = { marg = 1.0 }"),
         ("policy.toml: objective 'profit'.maximize", "names no quantity", "'marg'",
          "did you mean 'margin'?")),
    Case("limit quantity", sub('sum = "cost"', 'sum = "costs"'),
         ("policy.toml: limit 'budget'.sum", "names no quantity", "'costs'",
          "did you mean 'cost'?")),
    Case("floor quantity", sub('sum = "clv_delta"', 'sum = "clv"'),
         ("policy.toml: floor 'low value'.sum", "names no quantity", "'clv'",
          "did you mean 'clv_delta'?")),
    # filter keys
    Case("filter key names no column", sub('deny = { channel = ["sms"] }',
                                           'deny = { chanel = ["sms"] }'),
         ("policy.toml: rule 'sms needs consent'.deny.chanel", "names no column",
          "did you mean 'channel'?")),
    Case("ambiguous filter key", both(REGION, sub(
        "window_days = 1", 'window_days = 1\nwhere = { region = ["north"] }')),
         ("policy.toml: cap 'one a day'.where.region", "both customers and actions",
          "customer.region")),
    # audit_only columns outside reports
    Case("audit_only in a filter", sub("window_days = 1",
                                       'window_days = 1\nwhere = { age_band = ["18-25"] }'),
         ("policy.toml: cap 'one a day'.where.age_band", "audit_only", "'age_band'")),
    Case("audit_only in a filter, dotted", sub("window_days = 1",
                                               'window_days = 1\n'
                                               'where = { customer.age_band = ["18-25"] }'),
         ("policy.toml: cap 'one a day'.where.customer.age_band", "audit_only", "'age_band'")),
    Case("audit_only in a rule's unless", sub('unless = "consent_sms"', 'unless = "age_band"'),
         ("policy.toml: rule 'sms needs consent'.unless", "audit_only", "'age_band'")),
    Case("audit_only in a floor's where", sub(
        'name = "low coverage"\nwhere = { segment = ["low"] }',
        'name = "low coverage"\nwhere = { "customer.age_band" = ["18-25"] }'),
        ("policy.toml: floor 'low coverage'.where.customer.age_band", "audit_only",
         "'age_band'")),
    Case("audit_only in a value floor's where", sub(
        'name = "low value"\nwhere = { segment = ["low"] }',
        'name = "low value"\nwhere = { age_band = ["18-25"] }'),
        ("policy.toml: floor 'low value'.where.age_band", "audit_only", "'age_band'")),
    Case("audit_only in a limit's where", sub('sum = "cost"',
                                              'sum = "cost"\nwhere = { age_band = ["26-40"] }'),
         ("policy.toml: limit 'budget'.where.age_band", "audit_only", "'age_band'")),
    Case("audit_only in a rule's deny", sub('deny = { channel = ["sms"] }',
                                            'deny = { channel = ["sms"], age_band = ["18-25"] }'),
         ("policy.toml: rule 'sms needs consent'.deny.age_band", "audit_only", "'age_band'")),
    Case("audit_only in a conflict", sub("[privacy]", CONFLICT_ON_AGE + "\n[privacy]"),
         ("policy.toml: conflict 'no sms after email'.then.age_band", "audit_only",
          "'age_band'")),
    Case("audit_only in a review's where", sub("[privacy]", REVIEW_ON_AGE + "\n[privacy]"),
         ("policy.toml: review 'young'.where.customer.age_band", "audit_only", "'age_band'")),
    Case("audit_only as an objective quantity", sub("maximize = { margin = 1.0 }",
                                                    "maximize = { margin = 1.0, age_band = 1 }"),
         ("policy.toml: objective 'profit'.maximize", "audit_only", "'age_band'")),
    Case("audit_only names customer_id", sub('audit_only = ["age_band"]',
                                             'audit_only = ["age_band", "customer_id"]'),
         ("policy.toml: privacy.audit_only = 'customer_id'", "cannot be audit_only")),
    Case("audit_only names no column", sub('audit_only = ["age_band"]',
                                           'audit_only = ["age_bnd"]'),
         ("policy.toml: privacy.audit_only = 'age_bnd'", "names no customer column",
          "did you mean 'age_band'?")),
    # null segment: the row is named by number, never by its customer id
    Case("null segment", set_cell("customers", 1, "segment", None),
         ("customers.parquet: column 'segment'", "null value", "'row 1'"), absent=("C2",)),
    # numbers out of range
    Case("cap max < 0", sub("max = 1\n", "max = -1\n"),
         ("policy.toml: cap 'one a day'.max", "must be >= 0", "(e.g. -1)")),
    Case("limit max < 0", sub("max = 100.0", "max = -5.0"),
         ("policy.toml: limit 'budget'.max", "must be >= 0", "(e.g. -5.0)")),
    Case("min_share above 1", sub("min_share = 0.0", "min_share = 1.5"),
         ("policy.toml: floor 'low coverage'.min_share", "must be <= 1", "(e.g. 1.5)")),
    Case("min_share below 0", sub("min_share = 0.0", "min_share = -0.25"),
         ("policy.toml: floor 'low coverage'.min_share", "must be >= 0", "(e.g. -0.25)")),
    Case("window_days < 1", sub("window_days = 1", "window_days = 0"),
         ("policy.toml: cap 'one a day'.window_days", "must be >= 1", "(e.g. 0)")),
    Case("tolerance < 0", sub("tolerance = 0.0", "tolerance = -0.1"),
         ("policy.toml: objective 'profit'.tolerance", "must be >= 0", "(e.g. -0.1)")),
    Case("horizon_days < 1", sub("horizon_days = 2", "horizon_days = 0"),
         ("policy.toml: plan.horizon_days", "must be >= 1", "(e.g. 0)")),
    # empty objective
    Case("empty maximize", sub("maximize = { margin = 1.0 }", "maximize = {}"),
         ("policy.toml: objective 'profit'.maximize", "at least one weighted quantity")),
    Case("no objective at all", sub(
        '[[objective]]\nname = "profit"\nmaximize = { margin = 1.0 }\ntolerance = 0.0\n\n'
        '[[objective]]\nname = "relationship"\nmaximize = { clv_delta = 1.0 }\n', ""),
        ("policy.toml: objective", "no [[objective]]")),
    Case("policy section of the wrong shape", sub("[plan]\nhorizon_days = 2",
                                                  "[[plan]]\nhorizon_days = 2"),
         ("policy.toml: plan", "must be a table", "[plan]")),
    # scores day outside the horizon
    Case("day beyond the horizon", with_day([0, 1, 2, 0, 1]),
         ("scores.parquet: column 'day'", "must be in 0..1", "(e.g. 2)")),
    Case("negative day", with_day([0, 1, -1, 0, 1]),
         ("scores.parquet: column 'day'", "must be in 0..1", "(e.g. -1)")),
    # the run date option
    Case("bad --date", None, ("--date", "YYYY-MM-DD", "'2026-13-01'"), date="2026-13-01"),
    Case("--date not a date", None, ("--date", "YYYY-MM-DD", "'yesterday'"), date="yesterday"),
]


# --- driving the CLI ------------------------------------------------------------------------

def _scenario(tmp_path: Path, case: Case) -> Path:
    directory = _build(tmp_path / "scenario", case.mutate)
    if case.remove:
        (directory / case.remove).unlink()
    return directory


def _invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _error_line(result) -> str:
    """The one error message of a failed run (rich prints it to stderr)."""
    text = result.stderr
    assert "Traceback" not in result.output
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    return errors[0]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_run_rejects_bad_input(tmp_path: Path, case: Case) -> None:
    scenario = _scenario(tmp_path, case)
    runs = tmp_path / "runs"
    out = runs / "run"
    result = _invoke("run", scenario, "--out", out, "--date", case.date)
    assert result.exit_code == 2, result.output
    line = _error_line(result)
    for text in case.expect:
        assert text in line, f"{text!r} not in {line!r}"
    for text in case.absent:
        assert text not in line, f"{text!r} in {line!r}"
    # nothing written: not the run directory, not even its parent or a temporary sibling
    assert not out.exists()
    assert not runs.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_reports_the_same_error(tmp_path: Path, case: Case) -> None:
    scenario = _scenario(tmp_path, case)
    ran = _invoke("run", scenario, "--out", tmp_path / "runs" / "run", "--date", case.date)
    checked = _invoke("validate", scenario, "--date", case.date)
    assert checked.exit_code == 2, checked.output
    assert _error_line(checked) == _error_line(ran)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario"]


def test_base_scenario_is_valid(tmp_path: Path) -> None:
    # Without this, every case above could pass for the wrong reason.
    scenario = _build(tmp_path / "scenario")
    checked = _invoke("validate", scenario, "--date", DATE)
    assert checked.exit_code == 0, checked.output
    assert "valid" in checked.stderr
    result = _invoke("run", scenario, "--out", tmp_path / "run", "--date", DATE)
    assert result.exit_code == 0, result.output
    assert {"plan.parquet", "summary.json"} <= {p.name for p in (tmp_path / "run").iterdir()}


@pytest.mark.parametrize("key", ["customer.region", '"customer.region"'])
def test_customer_prefix_resolves_an_ambiguous_key(tmp_path: Path, key: str) -> None:
    # both the TOML dotted key and the quoted key name the customer column
    scenario = _build(tmp_path / "scenario", both(REGION, sub(
        "window_days = 1", f'window_days = 1\nwhere = {{ {key} = ["north"] }}')))
    checked = _invoke("validate", scenario, "--date", DATE)
    assert checked.exit_code == 0, checked.output
    result = _invoke("run", scenario, "--out", tmp_path / "run", "--date", DATE)
    assert result.exit_code == 0, result.output
    loaded = load_scenario(scenario, run_date=RUN_DATE)
    bound = loaded.where(loaded.policy.caps[0].where)
    assert [c.key for c in bound.customer] == ["customer.region"]
    assert bound.action == ()
    # action.region resolves it too, to the action side
    policy = scenario / "policy.toml"
    policy.write_text(policy.read_text().replace("customer.region", "action.region"))
    assert _invoke("validate", scenario, "--date", DATE).exit_code == 0
    loaded = load_scenario(scenario, run_date=RUN_DATE)
    bound = loaded.where(loaded.policy.caps[0].where)
    assert [c.key for c in bound.action] == ["action.region"]
    assert bound.customer == ()


def test_failed_run_leaves_previous_run_untouched(tmp_path: Path) -> None:
    scenario = _build(tmp_path / "scenario")
    out = tmp_path / "runs" / "run"
    first = _invoke("run", scenario, "--out", out, "--date", DATE)
    assert first.exit_code == 0, first.output
    before = _snapshot(out)
    assert "plan.parquet" in before
    stat_before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    # break the scenario, then run again into the same directory
    pq.write_table(pa.table({"action_id": ["E1", "E1"], "channel": ["email", "sms"],
                             "cost": [0.1, 0.05], "discount": [0.0, 0.1]}),
                   scenario / "actions.parquet")
    second = _invoke("run", scenario, "--out", out, "--date", DATE)
    assert second.exit_code == 2, second.output
    assert "actions.parquet: column 'action_id'" in _error_line(second)
    assert _snapshot(out) == before
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stat_before
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no temp siblings left


def test_partitioned_scores_give_the_same_plan(tmp_path: Path) -> None:
    single = _build(tmp_path / "single")
    parted = tmp_path / "parted"
    shutil.copytree(single, parted)
    (parted / "scores.parquet").unlink()
    rows = _base()["scores"]
    (parted / "scores").mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:2]), parted / "scores" / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(rows[2:]), parted / "scores" / "part-1.parquet")

    one = _invoke("run", single, "--out", tmp_path / "run-single", "--date", DATE)
    two = _invoke("run", parted, "--out", tmp_path / "run-parted", "--date", DATE)
    assert one.exit_code == 0, one.output
    assert two.exit_code == 0, two.output
    plan = (tmp_path / "run-single" / "plan.parquet").read_bytes()
    assert pq.read_table(tmp_path / "run-single" / "plan.parquet").num_rows > 0
    assert (tmp_path / "run-parted" / "plan.parquet").read_bytes() == plan
