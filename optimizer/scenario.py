"""Load a scenario directory into dense, validated arrays.

Ids are mapped once to dense indices in sorted-id order, so the model does not depend on
the row order of the inputs. Every check of the contract's input rules happens here and
raises `InputError`; nothing downstream re-validates.

Privacy: the policy's `privacy.audit_only` customer columns are split off at load time into
`Scenario.audit_columns`, so `Scenario.customers` (what filters, rules and the model builder
read) never holds them; only the audit reads them. A policy that names one anywhere but
`privacy` is refused. Error messages point at customer rows by row number (0-based, the
header not counted), never by a customer id or a customer column's value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.columns import (
    is_number,
    is_string,
    no_nulls,
    plain,
    read_table,
    require_columns,
    type_error,
    unique_values,
)
from optimizer.errors import InputError, closest
from optimizer.filters import BoundWhere, column_name
from optimizer.policy import Condition, Policy, Where, load_policy
from optimizer.scores import Scores, SortedIds, kpi_columns, load_scores

CONTACTS = "contacts"
TABLES = ("customers", "actions", "scores", "history")


@dataclass(frozen=True)
class History:
    """Past contacts: dense customer index, action index (-1 if retired), channel, day < 0."""

    customer: np.ndarray  # int32
    action: np.ndarray  # int32, -1 for an action missing from actions.parquet
    channel: np.ndarray  # object (str)
    day: np.ndarray  # int32, offset from the run date, always negative

    def __len__(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class Scenario:
    """Everything a run reads, validated; customers and actions sorted by id.

    `customers` holds no audit_only column: those sit apart in `audit_columns` (same rows,
    same order), for reports only."""

    policy: Policy
    run_date: dt.date
    customers: pd.DataFrame
    actions: pd.DataFrame
    scores: Scores
    history: History
    fingerprints: dict[str, str]
    dropped_history_rows: int = 0
    bound: dict[Where, BoundWhere] = field(default_factory=dict, compare=False, repr=False)
    audit_columns: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False,
                                        repr=False)

    @property
    def horizon(self) -> int:
        return self.policy.horizon_days

    @property
    def kpi_names(self) -> tuple[str, ...]:
        return self.scores.columns

    def where(self, where: Where) -> BoundWhere:
        """The customer and action parts of a filter of this scenario's policy."""
        return self.bound[where]

    def dates(self) -> list[dt.date]:
        return [self.run_date + dt.timedelta(days=d) for d in range(self.horizon)]


def load_scenario(
    directory: Path,
    *,
    run_date: dt.date,
    policy_path: Path | None = None,
    horizon_days: int | None = None,
) -> Scenario:
    """Read and validate a scenario; raise InputError on the first bad input."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(str(directory), "scenario directory not found")
    policy = load_policy(policy_path or directory / "policy.toml")
    if horizon_days is not None:
        policy = _with_horizon(policy, horizon_days)
    paths = {name: _locate(directory, name, required=name != "history") for name in TABLES}

    customers, cust_ids = _load_customers(paths["customers"])
    customers, audit_columns = _split_audit_only(customers, policy)
    actions = _load_actions(paths["actions"])
    used = _kpis_used(policy, kpi_columns(paths["scores"]), actions)
    scores = load_scores(paths["scores"], SortedIds(cust_ids),
                         SortedIds(pa.array(actions["action_id"].to_numpy(), type=pa.string())),
                         policy.horizon_days, used)
    history, dropped = _load_history(paths["history"], cust_ids, actions, run_date)

    scenario = Scenario(
        policy=policy,
        run_date=run_date,
        customers=customers,
        actions=actions,
        scores=scores,
        history=history,
        fingerprints={name: _fingerprint(p) for name, p in paths.items() if p is not None}
        | {"policy.toml": _fingerprint(policy_path or directory / "policy.toml")},
        dropped_history_rows=dropped,
        audit_columns=audit_columns,
    )
    _bind_policy(scenario)
    return scenario


def _split_audit_only(customers: pd.DataFrame,
                      policy: Policy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move the audit_only columns out of the customer table the model reads."""
    cols = set(customers.columns)
    for col in policy.audit_only:
        key = f"privacy.audit_only = {col!r}"
        if col in ("customer_id", "segment"):
            raise InputError(policy.source, f"{col} is a required customer column the plan "
                             "and its audit need; it cannot be audit_only", key=key)
        if col not in cols:
            raise InputError(policy.source, "names no customer column", key=key,
                             hint=_did_you_mean(col, cols))
    audit = list(dict.fromkeys(policy.audit_only))
    return customers.drop(columns=audit), customers[audit].copy()


def scenario_from_tables(policy: Policy, run_date: dt.date, customers: pa.Table,
                         actions: pa.Table, scores: Scores, history: History,
                         fingerprints: dict[str, str] | None = None) -> Scenario:
    """A scenario from tables already in memory (the simulator's nightly world), with the
    policy bound to them exactly as `load_scenario` binds it.

    The tables must already keep the contract (no file checks run here) and be sorted by
    id, because `scores` and `history` index their rows; an unsorted table is an error."""
    for table, key in ((customers, "customer_id"), (actions, "action_id")):
        ids = table[key]
        if len(ids) > 1 and not pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
            raise ValueError(f"{key} must be unique and sorted")
    frame, audit_columns = _split_audit_only(_frame(customers, "customer_id"), policy)
    scenario = Scenario(
        policy=policy,
        run_date=run_date,
        customers=frame,
        actions=_frame(actions, "action_id"),
        scores=scores,
        history=history,
        fingerprints=dict(fingerprints or {}),
        audit_columns=audit_columns,
    )
    _bind_policy(scenario)
    return scenario


def _with_horizon(policy: Policy, horizon: int) -> Policy:
    import dataclasses

    if horizon < 1:
        raise InputError("--horizon", "must be >= 1", examples=(horizon,))
    return dataclasses.replace(policy, horizon_days=horizon)


# --- reading -------------------------------------------------------------------------------

def _locate(directory: Path, name: str, *, required: bool) -> Path | None:
    for candidate in (directory / f"{name}.parquet", directory / name):
        if candidate.exists():
            return candidate
    if required:
        raise InputError(f"{name}.parquet", f"required input file not found in {directory}")
    return None


def _fingerprint(path: Path) -> str:
    """sha256 of a file, or of a directory's files in sorted order with their names."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def _frame(table: pa.Table, sort_key: str) -> pd.DataFrame:
    order = pc.sort_indices(table, sort_keys=[(sort_key, "ascending")])
    # nullable bools stay bools (pandas' "boolean"), so filters on them work; null never matches
    frame = table.take(order).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    return frame.reset_index(drop=True)


# --- the four tables -----------------------------------------------------------------------

def _load_customers(path: Path) -> tuple[pd.DataFrame, pa.Array]:
    source = "customers.parquet"
    table = read_table(path)
    require_columns(table, source, ("customer_id", "segment"))
    ids = plain(table["customer_id"])
    if pa.types.is_integer(ids.type):
        ids = ids.cast(pa.int64())
    elif is_string(ids.type):
        ids = ids.cast(pa.string())
    else:
        raise type_error(source, "customer_id", "string or integer", ids.type)
    no_nulls(ids, source, "customer_id")
    unique_values(ids, source, "customer_id", by_row=True)
    segment = _text(table, source, "segment")
    table = table.set_column(table.column_names.index("customer_id"), "customer_id", ids)
    table = table.set_column(table.column_names.index("segment"), "segment",
                             segment.cast(pa.string()))
    frame = _frame(table, "customer_id")
    return frame, pa.array(frame["customer_id"].to_numpy(), type=ids.type)


def _text(table: pa.Table, source: str, col: str, ids: pa.Array | None = None) -> pa.Array:
    """A required string column without nulls (`ids`, action ids only, name the rows in
    messages; otherwise row numbers do)."""
    values = plain(table[col])
    if not is_string(values.type):
        raise type_error(source, col, "string", values.type)
    no_nulls(values, source, col, ids)
    return values


def _load_actions(path: Path) -> pd.DataFrame:
    source = "actions.parquet"
    table = read_table(path)
    require_columns(table, source, ("action_id", "channel", "cost", "discount"))
    ids = _text(table, source, "action_id")
    unique_values(ids, source, "action_id")
    channel = _text(table, source, "channel", ids)
    for col in ("cost", "discount"):
        values = plain(table[col])
        if not is_number(values.type):
            raise type_error(source, col, "float", values.type)
        no_nulls(values, source, col, ids)
        array = values.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = ~np.isfinite(array) | (array < 0) | ((array > 1) if col == "discount" else False)
        if bad.any():
            rule = "must be in [0, 1]" if col == "discount" else "must be >= 0 and finite"
            rows = np.flatnonzero(bad)[:3]
            raise InputError(source, f"{int(bad.sum())} value(s) out of range: {rule}",
                             key=f"column '{col}'",
                             examples=[(ids[r].as_py(), float(array[r])) for r in rows])
        table = table.set_column(table.column_names.index(col), col, pa.array(array))
    table = table.set_column(table.column_names.index("action_id"), "action_id",
                             ids.cast(pa.string()))
    table = table.set_column(table.column_names.index("channel"), "channel",
                             channel.cast(pa.string()))
    return _frame(table, "action_id")


def _load_history(path: Path | None, cust_ids: pa.Array, actions: pd.DataFrame,
                  run_date: dt.date) -> tuple[History, int]:
    empty = History(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, object),
                    np.zeros(0, np.int32))
    if path is None:
        return empty, 0
    source = "history.parquet"
    table = read_table(path)
    require_columns(table, source, ("customer_id", "action_id", "date"))
    dates = plain(table["date"])
    if pa.types.is_timestamp(dates.type):
        dates = pc.cast(dates, pa.date32())
    if not pa.types.is_date(dates.type):
        raise type_error(source, "date", "date", dates.type)
    no_nulls(dates, source, "date")
    day = (dates.cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
           - np.datetime64(run_date, "D")).astype(np.int64)
    late = day >= 0
    if late.any():
        shown = pc.unique(pc.filter(dates, pa.array(late))).to_pylist()
        raise InputError(source, f"{int(late.sum())} row(s) dated on or after the run date "
                         f"{run_date.isoformat()}", key="column 'date'", examples=shown)
    raw_cust = plain(table["customer_id"])
    if pa.types.is_integer(cust_ids.type) and pa.types.is_integer(raw_cust.type):
        raw_cust = raw_cust.cast(pa.int64())
    elif is_string(cust_ids.type) and is_string(raw_cust.type):
        raw_cust = raw_cust.cast(pa.string())
    else:
        raise type_error(source, "customer_id", f"the type of customers.parquet's "
                          f"customer_id ({cust_ids.type})", raw_cust.type)
    no_nulls(raw_cust, source, "customer_id")
    cust_index = pc.index_in(raw_cust, value_set=cust_ids)
    known_customer = np.asarray(cust_index.is_valid())
    action_ids = pa.array(actions["action_id"].to_numpy(), type=pa.string())
    raw_act = plain(table["action_id"])
    if not is_string(raw_act.type):
        raise type_error(source, "action_id", "string", raw_act.type)
    raw_act = raw_act.cast(pa.string())
    no_nulls(raw_act, source, "action_id")
    act = pc.fill_null(pc.index_in(raw_act, value_set=action_ids), -1).to_numpy(
        zero_copy_only=False).astype(np.int32)
    channel = np.where(act >= 0, actions["channel"].to_numpy(dtype=object)[np.maximum(act, 0)],
                       None)
    retired = act < 0
    if retired.any():
        if "channel" not in table.column_names:
            raise InputError(source, "rows name actions missing from actions.parquet, so a "
                             "'channel' column is required", key="column 'channel'",
                             examples=pc.unique(pc.filter(raw_act, pa.array(retired))).to_pylist())
        given = plain(table["channel"])
        if not is_string(given.type) and not pa.types.is_null(given.type):
            raise type_error(source, "channel", "string", given.type)
        given = given.cast(pa.string()).to_numpy(zero_copy_only=False)
        missing = retired & pd.isna(given)
        if missing.any():
            raise InputError(source, "a retired action (missing from actions.parquet) needs "
                             "a channel value", key="column 'channel'",
                             examples=np.unique(raw_act.to_numpy(zero_copy_only=False)[missing])
                             [:3].tolist())
        channel = np.where(retired, given, channel)
    keep = known_customer
    history = History(
        customer=cust_index.to_numpy(zero_copy_only=False)[keep].astype(np.int32),
        action=act[keep],
        channel=channel[keep].astype(object),
        day=day[keep].astype(np.int32),
    )
    order = np.lexsort((history.action, history.day, history.customer))
    history = History(history.customer[order], history.action[order],
                      history.channel[order], history.day[order])
    return history, int((~keep).sum())


# --- binding the policy to the tables ------------------------------------------------------

def _bind_policy(s: Scenario) -> None:
    """Resolve every filter key and quantity against the tables; fill `s.bound`."""
    policy = s.policy
    cust_cols = set(s.customers.columns)
    act_cols = set(s.actions.columns)
    for path, where in policy.filters():
        s.bound[where] = _bind_where(where, path, s)
    for rule in policy.rules:
        if rule.unless is None:
            continue
        path = f"rule '{rule.name}'.unless"
        if rule.unless in policy.audit_only:
            raise _audit_error(policy.source, path, rule.unless)
        if rule.unless not in cust_cols:
            raise InputError(policy.source, "names no customer column", key=path,
                             examples=(rule.unless,), hint=_did_you_mean(rule.unless, cust_cols))
        if not pd.api.types.is_bool_dtype(s.customers[rule.unless]):
            raise InputError(policy.source, "must name a bool customer column", key=path,
                             examples=(rule.unless,))
    for path, name in policy.quantities():
        quantity_source(s, name, path)
    del act_cols


def _audit_error(source: str, path: str, col: str) -> InputError:
    return InputError(source, "is an audit_only column: it may appear in reports only, never "
                      "in an objective, filter, cap, limit, floor, conflict, rule or review",
                      key=path, examples=(col,))


def _did_you_mean(name: str, options: set[str]) -> str | None:
    guess = closest(name, options)
    return f"did you mean '{guess}'?" if guess else None


def _bind_where(where: Where, path: str, s: Scenario) -> BoundWhere:
    cust_part: list[Condition] = []
    act_part: list[Condition] = []
    cust_cols = set(s.customers.columns)
    act_cols = set(s.actions.columns)
    for cond in where.conditions:
        key = cond.key
        name = column_name(key)
        at = f"{path}.{key}"
        if name in s.policy.audit_only and not key.startswith("action."):
            raise _audit_error(s.policy.source, at, name)
        if key.startswith("customer."):
            side = "customer" if name in cust_cols else None
        elif key.startswith("action."):
            side = "action" if name in act_cols else None
        elif name in cust_cols and name in act_cols:
            raise InputError(s.policy.source, "is a column of both customers and actions; "
                             f"write customer.{name} or action.{name}", key=at)
        else:
            side = "customer" if name in cust_cols else "action" if name in act_cols else None
        if side is None:
            raise InputError(s.policy.source, "names no column of customers or actions",
                             key=at, hint=_did_you_mean(name, cust_cols | act_cols))
        table = s.customers if side == "customer" else s.actions
        _check_condition_type(table[name], cond, at, s.policy.source)
        (cust_part if side == "customer" else act_part).append(cond)
    return BoundWhere(tuple(cust_part), tuple(act_part))


def _check_condition_type(column: pd.Series, cond: Condition, at: str, source: str) -> None:
    is_bool = pd.api.types.is_bool_dtype(column)
    is_num = pd.api.types.is_numeric_dtype(column) and not is_bool
    if cond.kind == "bool" and not is_bool:
        raise InputError(source, f"true/false needs a bool column; this one is {column.dtype}",
                         key=at)
    if cond.kind == "range" and not is_num:
        raise InputError(source, f"a {{ min, max }} range needs a numeric column; this one is "
                         f"{column.dtype}", key=at)
    if cond.kind == "in":
        values = cond.values or ()
        numbers = all(isinstance(v, int | float) for v in values)
        if is_bool or (is_num and not numbers) or (not is_num and numbers):
            raise InputError(source, f"values do not match the column's type ({column.dtype})",
                             key=at, examples=values)


def quantity_source(s: Scenario, name: str, path: str = "quantity") -> tuple[str, str]:
    """Where a quantity comes from: ('contacts', ''), ('kpi', col) or ('action', col)."""
    return resolve_quantity(name, s.scores.columns, s.actions, s.policy.source, path)


def resolve_quantity(name: str, kpis: tuple[str, ...], actions: pd.DataFrame, source: str,
                     path: str = "quantity") -> tuple[str, str]:
    """`quantity_source` before the scores are loaded (only their column names known)."""
    if name == CONTACTS:
        return "contacts", ""
    if name.startswith("score."):
        col = name[len("score."):]
        if col in kpis:
            return "kpi", col
    elif name.startswith("action."):
        col = name[len("action."):]
        if col in actions.columns and _numeric(actions[col]):
            return "action", col
    else:
        in_kpis = name in kpis
        in_actions = name in actions.columns and _numeric(actions[name])
        if in_kpis and in_actions:
            raise InputError(source, f"'{name}' is both a KPI and an action column; "
                             f"write score.{name} or action.{name}", key=path)
        if in_kpis:
            return "kpi", name
        if in_actions:
            return "action", name
    options = set(kpis) | {CONTACTS} | {c for c in actions.columns if _numeric(actions[c])}
    raise InputError(source, "names no quantity (a KPI column of scores, a numeric "
                     "column of actions, or 'contacts')", key=path, examples=(name,),
                     hint=_did_you_mean(name, options))


def _kpis_used(policy: Policy, kpis: tuple[str, ...], actions: pd.DataFrame) -> set[str]:
    """The KPI columns the policy sums: the only ones the solve keeps in memory."""
    used = set()
    for path, name in policy.quantities():
        if name in policy.audit_only:  # `score.NAME` still names a KPI of that name
            raise _audit_error(policy.source, path, name)
        source, col = resolve_quantity(name, kpis, actions, policy.source, path)
        if source == "kpi":
            used.add(col)
    return used


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
