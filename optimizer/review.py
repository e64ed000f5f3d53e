"""Human review: the review template a run writes, and the decisions file a person returns.

Every run writes `review.parquet`: one row per planned contact that matches a `[[review]]`
rule, with an empty `decision` column for a person to fill with `approve` or `decline`.
`read_decisions` reads that file back (or any Parquet/CSV file with the same key columns)
and checks it at the boundary, like every other input: a bad file is refused whole with one
`InputError` naming the file, the column and the rows (by number: customer ids stay out of
logs), so a half-understood file can never approve anything.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from optimizer.errors import MAX_EXAMPLES, InputError, closest

REVIEW_FILE = "review.parquet"
KEY = ("customer_id", "action_id", "date")
DECISION = "decision"
APPROVE, DECLINE = "approve", "decline"
# what a review contact became in the final plan
APPROVED, DECLINED, PENDING = "approved", "declined", "pending"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FRONT = ("customer_id", "action_id", "date", "channel", "review_rule")


def review_table(plan: pa.Table) -> pa.Table:
    """The rows of a plan that need review, as a template: key, channel, rule, an empty
    `decision` (string) and the plan's KPI values, in the plan's row order."""
    rows = plan.filter(pc.equal(plan["review"], True))
    kpis = [c for c in rows.column_names if c not in (*FRONT, "review")]
    columns = {c: rows[c] for c in FRONT}
    columns[DECISION] = pa.nulls(rows.num_rows, type=pa.string())
    columns |= {c: rows[c] for c in kpis}
    return pa.table(columns)


def read_decisions(path: Path, review: pd.DataFrame) -> np.ndarray:
    """Each review row's decision (`approve`, `decline`, or None when the file has none),
    from a Parquet or CSV file with columns customer_id, action_id, date and decision.

    Refused (InputError, nothing applied): a missing file or column, a null key, an
    unreadable date, a decision other than approve/decline (any case; empty is no decision),
    a contact decided twice, a contact not in `review` (REVIEW_FILE)."""
    source = Path(path).name
    frame = _read(Path(path), source)
    for col in (*KEY, DECISION):
        if col not in frame.columns:
            guess = closest(col, [str(c) for c in frame.columns])
            raise InputError(source, "required column is missing", key=f"column '{col}'",
                             hint=f"found '{guess}'" if guess else
                             f"columns present: {', '.join(map(str, frame.columns))}")
    keys = pd.DataFrame({
        "customer_id": _customer_ids(frame["customer_id"], review["customer_id"], source),
        "action_id": _text(frame["action_id"], source, "action_id"),
        "date": _dates(frame["date"], source),
    })
    decision = _decisions(frame[DECISION], source)
    _no_duplicates(keys, source)
    at = _review_positions(keys, review)
    unknown = np.flatnonzero(at < 0)
    if len(unknown):
        raise InputError(source, f"{len(unknown)} row(s) name a contact that is not awaiting "
                         f"review (not in {REVIEW_FILE}): {_rows(unknown)}",
                         hint=f"decide only contacts listed in {REVIEW_FILE}")
    out = np.full(len(review), None, dtype=object)
    out[at] = decision
    return out


# --- reading -------------------------------------------------------------------------------

def _read(path: Path, source: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(str(path), "decisions file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        elif suffix == ".csv":
            # every key read as text: an id like 007 stays 007, and types are checked here
            text = dict.fromkeys((*KEY, DECISION), pa.string())
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types=text, strings_can_be_null=True))
        else:
            raise InputError(source, "a decisions file must be .parquet or .csv",
                             examples=(suffix or path.name,))
    except (OSError, pa.ArrowException) as exc:
        raise InputError(source, f"cannot be read: {_without_row_text(exc)}") from None
    return table.to_pandas()


def _without_row_text(exc: Exception) -> str:
    """Arrow's CSV errors end with the offending row's text (`Expected 4 columns, got 2:
    C01,D1`), which may hold a customer id: keep what comes before it."""
    text = str(exc)
    return text.rsplit(": ", 1)[0] if "CSV" in text and ": " in text else text


def _rows(rows: np.ndarray | list[int]) -> str:
    shown = ", ".join(str(int(r)) for r in list(rows)[:MAX_EXAMPLES])
    more = ", ..." if len(rows) > MAX_EXAMPLES else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _nulls(column: pd.Series, source: str, col: str) -> None:
    missing = np.flatnonzero(column.isna().to_numpy())
    if len(missing):
        raise InputError(source, f"{len(missing)} empty value(s) where none are allowed: "
                         f"{_rows(missing)}", key=f"column '{col}'")


def _text(column: pd.Series, source: str, col: str) -> np.ndarray:
    _nulls(column, source, col)
    return column.astype(str).to_numpy(dtype=object)


def _customer_ids(column: pd.Series, wanted: pd.Series, source: str) -> np.ndarray:
    """Ids in the run's id type: integers when the run's ids are integers."""
    _nulls(column, source, "customer_id")
    if not pd.api.types.is_integer_dtype(wanted):
        return column.astype(str).to_numpy(dtype=object)
    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype=np.int64).astype(object)
    numbers = pd.to_numeric(column.astype(str).str.strip(), errors="coerce")
    bad = np.flatnonzero((numbers.isna() | (numbers % 1 != 0)).to_numpy())
    if len(bad):
        raise InputError(source, f"customer ids are integers in this run; {len(bad)} value(s) "
                         f"are not: {_rows(bad)}", key="column 'customer_id'")
    return numbers.to_numpy(dtype=np.int64).astype(object)


def _dates(column: pd.Series, source: str) -> np.ndarray:
    """Dates, datetimes or text YYYY-MM-DD (a spreadsheet's 05/01/2026 is ambiguous and
    refused), as days."""
    _nulls(column, source, "date")
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column.dt.tz_localize(None) if column.dt.tz is not None else column
    else:
        lookup = {v: _date(v) for v in pd.unique(column)}
        parsed = pd.to_datetime(column.map(lookup))
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise InputError(source, f"{len(bad)} value(s) are not dates YYYY-MM-DD: "
                         f"{_rows(bad)}", key="column 'date'")
    return parsed.dt.normalize().to_numpy(dtype="datetime64[D]")


def _date(value: object) -> pd.Timestamp:
    if isinstance(value, dt.date):  # a datetime too
        return pd.Timestamp(value)
    if isinstance(value, str) and ISO_DATE.fullmatch(value.strip()):
        try:
            return pd.Timestamp(dt.date.fromisoformat(value.strip()))
        except ValueError:
            pass
    return pd.NaT


def _decisions(column: pd.Series, source: str) -> np.ndarray:
    """approve / decline in any case and spacing; empty or null: no decision (None)."""
    text = column.astype("string").str.strip().str.lower()
    text = text.mask(text == "")
    bad = text.notna() & ~text.isin([APPROVE, DECLINE])
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        raise InputError(source, f"{len(rows)} decision(s) are neither '{APPROVE}' nor "
                         f"'{DECLINE}' (any case; leave it empty for no decision): "
                         f"{_rows(rows)}", key=f"column '{DECISION}'",
                         examples=pd.unique(column[bad].astype(str)))
    return text.astype(object).where(text.notna(), None).to_numpy(dtype=object)


def _no_duplicates(keys: pd.DataFrame, source: str) -> None:
    repeated = keys.duplicated(list(KEY), keep=False).to_numpy()
    if repeated.any():
        rows = np.flatnonzero(repeated)
        contacts = int(keys.duplicated(list(KEY)).sum())
        raise InputError(source, f"{contacts} contact(s) are decided more than once: "
                         f"{_rows(rows)}", hint="give each contact one decision")


def _review_positions(keys: pd.DataFrame, review: pd.DataFrame) -> np.ndarray:
    """The review row of each decision row, -1 when the contact is not in review."""
    wanted = pd.MultiIndex.from_arrays([
        review["customer_id"].to_numpy(dtype=object),
        review["action_id"].astype(str).to_numpy(dtype=object),
        pd.to_datetime(review["date"]).to_numpy(dtype="datetime64[D]"),
    ])
    given = pd.MultiIndex.from_arrays([keys[c].to_numpy() for c in KEY])
    return wanted.get_indexer(given).astype(np.int64)
