"""Write small hand-made scenarios to disk, so tests go through the real loading layer."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_scenario(
    directory: Path,
    customers: list[dict],
    actions: list[dict],
    scores: list[dict],
    policy: str,
    history: list[dict] | None = None,
) -> Path:
    """Write customers/actions/scores(/history).parquet and policy.toml; return the directory.

    Rows are dicts of column -> value; Arrow infers each column's type from the values
    (`datetime.date` -> date32, bool -> bool, ...). Customers need customer_id and segment;
    actions need action_id, channel, cost and discount; history rows need customer_id,
    action_id and date (plus channel when the action is missing from `actions`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tables = {"customers": customers, "actions": actions, "scores": scores}
    if history is not None:
        tables["history"] = history
    for name, rows in tables.items():
        pq.write_table(_table(rows), directory / f"{name}.parquet")
    (directory / "policy.toml").write_text(policy, encoding="utf-8")
    return directory


def _table(rows: list[dict]) -> pa.Table:
    """A table with every key of every row as a column (missing values are null)."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
