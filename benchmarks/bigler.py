"""Import the published customer-assignment instances of Bigler, Kammermann & Baumann (2023).

The instances (phil85/customer-assignment-instances, CC BY 4.0) are the closest public thing
to a real direct-marketing planning problem, so they are our external yardstick. This module
maps one instance folder (table1..table4 CSV) into a contract scenario directory; the
mapping, and where the contract's semantics differ slightly from the paper's, is documented
in benchmarks/README.md.

Run date: day 0 is `RUN_DATE` (2026-01-01) = instance Day 1, so an activity on Day D is
eligible only on day D-1.

    python -m benchmarks.bigler /work/shared/bench/bigler/GS1 OUT
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

RUN_DATE = dt.date(2026, 1, 1)
"""Fixed run date of every imported instance: day 0 = instance Day 1."""

SHARED_DIR = Path("/work/shared/bench/bigler")
"""Where the published instances live on this workplace (the suite's default)."""

ALL = "ALL"

ATTRIBUTION = """\
# Data: customer-assignment instance {name} of T. Bigler, M. Kammermann, P. Baumann,
# "A matheuristic for a customer assignment problem in direct marketing", European Journal
# of Operational Research 304 (2023) 689-708, doi:10.1016/j.ejor.2022.04.009; published in
# the public repository phil85/customer-assignment-instances under the Creative Commons
# Attribution 4.0 International licence (CC BY 4.0,
# https://creativecommons.org/licenses/by/4.0/). Modified: converted from its CSV tables to
# the contactopt scenario contract by benchmarks/bigler.py (see benchmarks/README.md); the
# paper's soft constraints are hard here. No warranty (licence section 5).
"""


@dataclass(frozen=True)
class Instance:
    """The four tables of one instance, as published."""

    name: str
    activities: pd.DataFrame  # table1: Activity, Day, Channel, TargetProducts, Cost
    assignments: pd.DataFrame  # table2: Customer, Activity, ExpectedProfit, ResponseProbability
    constraints: pd.DataFrame  # table3: Index, Type, StartDay, EndDay, Channels, ...
    conflicts: pd.DataFrame  # table4: Index, Channel1, TargetProduct1, Channel2, ...

    @property
    def horizon(self) -> int:
        return int(self.activities["Day"].max())


def read_instance(directory: Path) -> Instance:
    """Read table1..table4; the ids and products stay as published (products as strings)."""
    directory = Path(directory)
    text = {"TargetProducts": str, "TargetProduct1": str, "TargetProduct2": str,
            "Channels": str}
    tables = [pd.read_csv(directory / f"table{k}.csv", dtype=text, skipinitialspace=True)
              for k in (1, 2, 3, 4)]
    return Instance(directory.name, *tables)


def _split(value: object) -> list[str]:
    """'direct mail; email' -> ['direct mail', 'email']; 'ALL' -> ['ALL']."""
    return [part.strip() for part in str(value).split(";") if part.strip()]


def _products(activities: pd.DataFrame) -> list[list[str]]:
    return [_split(v) for v in activities["TargetProducts"]]


def _product_key(products: list[str]) -> str:
    """The bool action column that says "targets one of these products"."""
    if len(products) == 1:
        return f"product_{products[0]}"
    return "product_any_" + "_".join(sorted(products, key=_natural))


def _natural(p: str) -> tuple[int, str]:
    return (int(p), p) if p.isdigit() else (10**9, p)


class _Mapper:
    """Builds the action table and the policy text of one instance."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        acts = inst.activities.sort_values("Activity").reset_index(drop=True)
        self.acts = acts
        self.targets = _products(acts)
        self.product_columns: dict[str, np.ndarray] = {}
        for p in sorted({p for ps in self.targets for p in ps}, key=_natural):
            self.product_columns[_product_key([p])] = np.array(
                [p in ps for ps in self.targets], dtype=bool)
        self.channels = sorted(acts["Channel"].astype(str).str.strip().unique())

    def product_filter(self, value: object) -> str | None:
        """The `where` entry for a TargetProducts cell (None for ALL), adding an OR column
        when the cell names several products: a `where` ANDs its keys, so "targets 1 or 11"
        needs a column of its own to stay exact."""
        products = _split(value)
        if not products or ALL in products:
            return None
        key = _product_key(products)
        if key not in self.product_columns:
            wanted = set(products)
            self.product_columns[key] = np.array([bool(wanted & set(ps))
                                                  for ps in self.targets], dtype=bool)
        return f"{key} = true"

    def channel_filter(self, value: object) -> str | None:
        channels = _split(value)
        if not channels or ALL in channels:
            return None
        unknown = sorted(set(channels) - set(self.channels))
        if unknown:
            raise ValueError(f"{self.inst.name}: table3/table4 names channel(s) {unknown} that "
                             f"no activity uses (known: {self.channels})")
        return f"channel = {_toml_list(channels)}"

    def where(self, channels: object, products: object, start: object = None,
              end: object = None) -> str:
        parts = [self.channel_filter(channels), self.product_filter(products)]
        if start is not None and end is not None:
            parts.append(f"run_day = {{ min = {int(start)}, max = {int(end)} }}")
        body = ", ".join(p for p in parts if p)
        return f"{{ {body} }}" if body else "{}"

    def actions_table(self) -> pa.Table:
        a = self.acts
        columns: dict[str, pa.Array] = {
            "action_id": pa.array([f"A{int(n)}" for n in a["Activity"]], pa.string()),
            "channel": pa.array(a["Channel"].astype(str).str.strip().tolist(), pa.string()),
            "cost": pa.array(a["Cost"].to_numpy(np.float64)),
            "discount": pa.array(np.zeros(len(a))),
            "run_day": pa.array(a["Day"].to_numpy(np.int64)),
            "target_products": pa.array([";".join(ps) for ps in self.targets], pa.string()),
        }
        for key, mask in self.product_columns.items():
            columns[key] = pa.array(mask)
        return pa.table(columns)

    def policy(self) -> str:
        """policy.toml: the attribution, the objective, then table3 and table4 in order."""
        inst = self.inst
        h = inst.horizon
        out = [ATTRIBUTION.format(name=inst.name),
               f"# Run date {RUN_DATE.isoformat()} = instance Day 1; activity Day D is plan "
               "day D-1.\n",
               f"[plan]\nhorizon_days = {h}\n",
               '[[objective]]\nname = "expected profit"\nmaximize = { profit = 1.0 }\n']
        for row in inst.constraints.itertuples(index=False):
            out.append(self._table3(row, h))
        for row in inst.conflicts.itertuples(index=False):
            out.append(self._table4(row))
        return "\n".join(out)

    def _table3(self, row: object, horizon: int) -> str:
        kind = str(row.Type).strip()
        start, end = int(row.StartDay), int(row.EndDay)
        where = self.where(row.Channels, row.TargetProducts, start, end)
        label = (f"t3-{int(row.Index)} {kind.lower()} (days {start}-{end}, "
                 f"{'; '.join(_split(row.Channels))}, products {row.TargetProducts})")
        bound = float(row.Bound)
        if kind == "Maximum contact":
            cap = math.floor(bound + 1e-9)  # contacts are whole: floor keeps the cap exact
            return (f"[[cap]]\nname = {_toml_str(label)}\nwhere = {where}\nmax = {cap}\n"
                    f"window_days = {horizon}\n")
        table, key, quantity = {
            "Minimum assignment": ("floor", "min", "contacts"),
            "Maximum assignment": ("limit", "max", "contacts"),
            "Budget": ("limit", "max", "cost"),
            "Minimum sales": ("floor", "min", "response"),
            "Maximum sales": ("limit", "max", "response"),
        }.get(kind, (None, None, None))
        if table is None:
            raise ValueError(f"{self.inst.name}: table3 type {kind!r} has no mapping "
                             "into the scenario contract")
        per = '\nper = "horizon"' if table == "limit" else ""
        return (f"[[{table}]]\nname = {_toml_str(label)}\nwhere = {where}\n"
                f"sum = \"{quantity}\"\n{key} = {_toml_float(bound)}{per}\n")

    def _table4(self, row: object) -> str:
        first = self.where(row.Channel1, row.TargetProduct1)
        then = self.where(row.Channel2, row.TargetProduct2)
        label = (f"t4-{int(row.Index)} {row.Channel1} ({row.TargetProduct1}) then "
                 f"{row.Channel2} ({row.TargetProduct2}) within {int(row.Lag)} days")
        return (f"[[conflict]]\nname = {_toml_str(label)}\nfirst = {first}\nthen = {then}\n"
                f"within_days = {int(row.Lag)}\n")


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a TOML basic string


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def _toml_float(x: float) -> str:
    text = repr(float(x))
    return text if ("." in text or "e" in text) else text + ".0"


def import_bigler(instance_dir: Path, out: Path) -> None:
    """Write customers/actions/scores.parquet and policy.toml for one instance into `out`."""
    inst = read_instance(Path(instance_dir))
    mapper = _Mapper(inst)
    policy = mapper.policy()  # may add OR-product columns: build it before the actions
    actions = mapper.actions_table()

    t2 = inst.assignments
    day_of = dict(zip(inst.activities["Activity"].astype(int),
                      inst.activities["Day"].astype(int), strict=True))
    activity = t2["Activity"].to_numpy(np.int64)
    unknown = sorted(set(activity.tolist()) - set(day_of))
    if unknown:
        raise ValueError(f"{inst.name}: table2 names activities missing from table1: "
                         f"{unknown[:3]}")
    lookup = np.zeros(max(day_of) + 1, dtype=np.int64)
    lookup[list(day_of)] = list(day_of.values())
    ids = np.array([f"A{n}" for n in range(max(day_of) + 1)], dtype=object)
    scores = pa.table({
        "customer_id": pa.array(t2["Customer"].to_numpy(np.int64)),
        "action_id": pa.array(ids[activity], pa.string()),
        "day": pa.array((lookup[activity] - 1).astype(np.int16)),
        "profit": pa.array(t2["ExpectedProfit"].to_numpy(np.float64)),
        "response": pa.array(t2["ResponseProbability"].to_numpy(np.float64)),
    })
    customer_ids = np.unique(t2["Customer"].to_numpy(np.int64))
    customers = pa.table({
        "customer_id": pa.array(customer_ids),
        "segment": pa.array(np.full(len(customer_ids), "all", dtype=object), pa.string()),
    })

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(customers, out / "customers.parquet", compression="zstd")
    pq.write_table(actions, out / "actions.parquet", compression="zstd")
    pq.write_table(scores, out / "scores.parquet", compression="zstd")
    (out / "policy.toml").write_text(policy, encoding="utf-8")


def semantic_differences(instance_dir: Path) -> dict[str, int]:
    """Activity pairs the contract's conflict semantics forbid although a strict reading of
    "followed by ... within Lag days" (0 < t' - t < Lag) would allow them: same-day pairs
    and pairs exactly Lag days apart. Reported by the CLI so the README's claim stays
    checkable."""
    inst = read_instance(Path(instance_dir))
    mapper = _Mapper(inst)
    acts = mapper.acts
    day = acts["Day"].to_numpy(np.int64)
    chan = acts["Channel"].astype(str).str.strip().to_numpy()
    same_day: set[tuple[int, int]] = set()
    at_lag: set[tuple[int, int]] = set()
    for row in inst.conflicts.itertuples(index=False):
        a = _side(mapper, chan, row.Channel1, row.TargetProduct1)
        b = _side(mapper, chan, row.Channel2, row.TargetProduct2)
        gap = day[None, :] - day[:, None]  # [p, q]: day_q - day_p
        pair = a[:, None] & b[None, :] & ~np.eye(len(day), dtype=bool)
        for p, q in zip(*np.nonzero(pair & (gap == 0)), strict=True):
            same_day.add((min(p, q), max(p, q)))
        for p, q in zip(*np.nonzero(pair & (gap == int(row.Lag))), strict=True):
            at_lag.add((min(p, q), max(p, q)))
    return {"same_day_pairs": len(same_day), "pairs_at_exact_lag": len(at_lag)}


def _side(mapper: _Mapper, chan: np.ndarray, channels: object, products: object) -> np.ndarray:
    wanted = _split(channels)
    mask = np.ones(len(chan), bool) if ALL in wanted else np.isin(chan, wanted)
    ps = _split(products)
    if ALL not in ps:
        mask &= np.array([bool(set(ps) & set(t)) for t in mapper.targets], dtype=bool)
    return mask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bigler",
        description="Map a Bigler et al. (2023) instance (table1..4.csv) into a scenario "
                    f"directory; run it with --date {RUN_DATE.isoformat()}.")
    parser.add_argument("instance", help=f"instance folder, or a name under {SHARED_DIR}")
    parser.add_argument("out", type=Path, help="scenario directory to write")
    args = parser.parse_args(argv)
    source = Path(args.instance)
    if not source.is_dir() and (SHARED_DIR / args.instance).is_dir():
        source = SHARED_DIR / args.instance
    if not source.is_dir():
        parser.error(f"instance folder not found: {args.instance}")
    import_bigler(source, args.out)
    diff = semantic_differences(source)
    print(f"wrote {args.out} from {source} (run it with --date {RUN_DATE.isoformat()}); "
          f"conflict pairs stricter than a strict reading of the paper: "
          f"{diff['same_day_pairs']} same-day, {diff['pairs_at_exact_lag']} at exactly the lag",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
