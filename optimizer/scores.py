"""Stream `scores.parquet` into compact arrays, batch by batch.

The score table is the one input that grows with customers × actions (250 million rows for
10 million customers × 50 actions), so it is never read whole: batches of about a million
rows are validated, their ids turned into dense indices, and written into preallocated
arrays. Every KPI column is checked, but only the columns the policy uses stay in memory,
in the precision they are stored in (float32 stays float32); the plan writer reads the
others back for the chosen rows only (`Scores.values`).

Rows end sorted by (customer, action[, day]). Files written in that order (the usual case:
models score customer by customer) are recognised while streaming and need no sort at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from optimizer.columns import is_integer_type, is_number, is_string, plain, type_error
from optimizer.errors import InputError, closest

SOURCE = "scores.parquet"
KEYS = ("customer_id", "action_id", "day")
BATCH_ROWS = 1 << 20


class SortedIds:
    """Ids in sorted order, looked up by binary search.

    String ids are compared as fixed-width UTF-8 bytes (numpy's `S` dtype compares with
    memcmp, an order of magnitude faster than Python strings; UTF-8 byte order is code point
    order, the order the customer table was sorted in). Ids holding a NUL byte, which `S`
    cannot represent, fall back to Python strings."""

    def __init__(self, ids: pa.Array) -> None:
        self.is_string = is_string(ids.type)
        self.values = _fixed_width(ids) if self.is_string else ids.to_numpy(
            zero_copy_only=False).astype(np.int64)

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, ids: pa.Array) -> np.ndarray:
        """Position of each id (an Arrow array of the same kind), -1 where unknown."""
        n = len(self.values)
        query = _fixed_width(ids) if self.is_string else ids.to_numpy(
            zero_copy_only=False).astype(np.int64)
        if not len(query) or not n:
            return np.full(len(query), -1, dtype=np.int64)
        if query.dtype.kind != self.values.dtype.kind:  # one side needed Python strings
            query = query.astype(object) if query.dtype != object else query
            values = self.values.astype(object) if self.values.dtype != object else self.values
        else:
            values = self.values
        pos = np.minimum(np.searchsorted(values, query), n - 1)
        return np.where(values[pos] == query, pos, -1)


def _fixed_width(ids: pa.Array) -> np.ndarray:
    """An Arrow string array as a numpy `S` array (object array if an id holds a NUL)."""
    ids = ids.cast(pa.large_string())
    _, offset_buffer, data = ids.buffers()
    # a sliced array starts `ids.offset` entries into its offsets, and its first string
    # `offsets[0]` bytes into its data
    offsets = np.frombuffer(offset_buffer, dtype=np.int64,
                            count=ids.offset + len(ids) + 1)[ids.offset:]
    raw = (np.frombuffer(data, dtype=np.uint8, count=int(offsets[-1]))[int(offsets[0]):]
           if data is not None else np.zeros(0, np.uint8))
    if (raw == 0).any():
        return ids.to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    width = max(int(lengths.max(initial=0)), 1)
    out = np.zeros((len(ids), width), dtype=np.uint8)
    rows = np.repeat(np.arange(len(ids), dtype=np.int64), lengths)
    cols = np.arange(len(raw), dtype=np.int64) - np.repeat(offsets[:-1] - offsets[0], lengths)
    out[rows, cols] = raw
    return out.view(f"S{width}").reshape(-1)


@dataclass(frozen=True)
class Scores:
    """Eligible score rows: dense customer/action indices, optional day, KPI arrays."""

    customer: np.ndarray  # int32
    action: np.ndarray  # int32
    day: np.ndarray | None  # int16, or None when each row holds for every day
    kpis: dict[str, np.ndarray]  # the KPI columns the policy uses, float32 or float64
    columns: tuple[str, ...] = ()  # every KPI column of the file, in file order
    path: Path | None = None
    file_row: np.ndarray | None = None  # file row of each (sorted) row; None: the same

    def __len__(self) -> int:
        return len(self.customer)

    def column(self, name: str) -> np.ndarray:
        """One KPI column in row order: from memory when the policy uses it, else read from
        the file once (a frontier or an audit may sum a KPI the policy does not)."""
        if name not in self.kpis:
            if self.path is None or name not in self.columns:
                raise KeyError(name)
            parts = [plain(b.column(name)).to_numpy(zero_copy_only=False)
                     for b in _batches(_dataset(self.path), [name])]
            values = np.concatenate(parts) if parts else np.zeros(0)
            self.kpis[name] = values if self.file_row is None else values[self.file_row]
        return self.kpis[name]

    def detached(self) -> Scores:
        """The same scores without their arrays (KPIs are read back from the file): once the
        problem is compiled, the run no longer needs them in memory."""
        empty = np.zeros(0, dtype=np.int32)
        return Scores(empty, empty, None, {}, self.columns, self.path, self.file_row)

    def values(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Every KPI column at the given (sorted-order) rows, as float64 in file order; the
        columns not kept in memory are read back from the file in one streaming pass."""
        out = {name: self.kpis[name][rows].astype(np.float64)
               for name in self.columns if name in self.kpis}
        missing = [name for name in self.columns if name not in self.kpis]
        if missing and self.path is not None:
            read = _gather(self.path, missing, rows if self.file_row is None
                           else self.file_row[rows])
            out |= {name: values.astype(np.float64) for name, values in read.items()}
        return {name: out[name] for name in self.columns}


def kpi_columns(path: Path) -> tuple[str, ...]:
    """The KPI column names of a score file (everything but the key columns)."""
    return tuple(n for n in _dataset(path).schema.names if n not in KEYS)


def load_scores(path: Path, customers: SortedIds, actions: SortedIds, horizon: int,
                keep: set[str]) -> Scores:
    """Validate and load the score table; `customers`/`actions` are the sorted id indices."""
    dataset = _dataset(path)
    schema = dataset.schema
    _check_schema(schema, customers)
    has_day = "day" in schema.names
    kpis = [n for n in schema.names if n not in KEYS]
    n_rows = dataset.count_rows()
    customer = np.empty(n_rows, dtype=np.int32)
    action = np.empty(n_rows, dtype=np.int32)
    day = np.empty(n_rows, dtype=np.int16) if has_day else None
    kept = {name: np.empty(n_rows, dtype=_kpi_dtype(schema.field(name).type))
            for name in kpis if name in keep}
    n_act = len(actions)
    last_key = -1
    in_order = True
    offset = 0
    for batch in _batches(dataset, list(schema.names)):
        size = batch.num_rows
        part = slice(offset, offset + size)
        customer[part] = _indices(batch.column("customer_id"), customers, "customer_id",
                                  "customers.parquet", offset)
        action[part] = _indices(batch.column("action_id"), actions, "action_id",
                                "actions.parquet", offset)
        key = customer[part].astype(np.int64) * n_act + action[part]
        if day is not None:
            day[part] = _days(batch.column("day"), horizon, offset)
            key = key * horizon + day[part]
        for name in kpis:
            values = _kpi(batch, name, offset)
            if name in kept:
                kept[name][part] = values
        if in_order and size:
            in_order = bool(key[0] > last_key and (key[1:] > key[:-1]).all())
            last_key = int(key[-1])
        offset += size
    scores = Scores(customer, action, day, kept, tuple(kpis), Path(path))
    return scores if in_order else _sorted(scores, n_act, horizon)


# --- reading -------------------------------------------------------------------------------

def _dataset(path: Path) -> ds.Dataset:
    # ids read as dictionaries: each distinct id is decoded (and later looked up) once per
    # row group instead of once per row
    # no pre-buffering: it kept every column chunk of a single-file scan until the scan
    # ended (6 GB held on a 250M-row file)
    fmt = ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(dictionary_columns=["customer_id", "action_id"]),
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False))
    try:
        return ds.dataset(path, format=fmt, partitioning="hive")
    except (OSError, pa.ArrowException) as exc:
        raise InputError(SOURCE, f"cannot be read as Parquet: {exc}") from None


def _batches(dataset: ds.Dataset, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The table's batches in file order (the same order on every pass)."""
    try:
        # little read-ahead: decoding outpaces the checks, and every batch waiting in the
        # queue is memory (the defaults buffered 9 GB on a 250M-row file)
        yield from dataset.scanner(columns=columns, batch_size=BATCH_ROWS, batch_readahead=2,
                                   fragment_readahead=1).to_batches()
    except (OSError, pa.ArrowException) as exc:
        raise InputError(SOURCE, f"cannot be read as Parquet: {exc}") from None


def _gather(path: Path, names: list[str], file_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Columns `names` at the given file rows (any order), in one streaming pass."""
    if not len(file_rows):
        return {name: np.empty(0) for name in names}
    order = np.argsort(file_rows, kind="stable")
    wanted = file_rows[order]
    out: dict[str, np.ndarray] = {}
    offset = 0
    for batch in _batches(_dataset(path), names):
        lo, hi = np.searchsorted(wanted, [offset, offset + batch.num_rows])
        if hi > lo:
            local = wanted[lo:hi] - offset
            for name in names:
                column = plain(batch.column(name)).to_numpy(zero_copy_only=False)
                if name not in out:
                    out[name] = np.empty(len(file_rows), dtype=column.dtype)
                out[name][order[lo:hi]] = column[local]
        offset += batch.num_rows
    return out


# --- checks --------------------------------------------------------------------------------

def _check_schema(schema: pa.Schema, customers: SortedIds) -> None:
    for col in ("customer_id", "action_id"):
        if col not in schema.names:
            guess = closest(col, schema.names)
            raise InputError(SOURCE, "required column is missing", key=f"column '{col}'",
                             hint=f"found '{guess}'" if guess else
                             f"columns present: {', '.join(schema.names)}")
    cust_type = _value_type(schema.field("customer_id").type)
    want_int = not customers.is_string
    if not (is_integer_type(cust_type) if want_int else is_string(cust_type)):
        expected = pa.int64() if want_int else pa.string()
        raise type_error(SOURCE, "customer_id", f"the type of customers.parquet's customer_id "
                         f"({expected})", cust_type)
    act_type = _value_type(schema.field("action_id").type)
    if not is_string(act_type):
        raise type_error(SOURCE, "action_id", "the type of actions.parquet's action_id "
                         "(string)", act_type)
    if "day" in schema.names and not is_integer_type(_value_type(schema.field("day").type)):
        raise type_error(SOURCE, "day", "integer", _value_type(schema.field("day").type))
    for name in schema.names:
        if name not in KEYS and not is_number(_value_type(schema.field(name).type)):
            raise type_error(SOURCE, name, "float (a KPI)", _value_type(schema.field(name).type))


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _kpi_dtype(t: pa.DataType) -> np.dtype:
    """float32 columns stay float32 (half the memory, no precision lost); others float64."""
    t = _value_type(t)
    return np.dtype(np.float32) if t in (pa.float16(), pa.float32()) else np.dtype(np.float64)


def _null_rows(array: pa.Array, col: str, offset: int) -> None:
    if array.null_count:
        rows = np.flatnonzero(np.asarray(array.is_null()))[:3] + offset
        raise InputError(SOURCE, f"{array.null_count} null value(s) where none are allowed",
                         key=f"column '{col}'", examples=[f"row {r}" for r in rows])


def _indices(column: pa.Array, universe: SortedIds, col: str, target: str,
             offset: int) -> np.ndarray:
    """Dense indices of a batch's ids in the sorted id index; unknown ids are an error.

    Score files repeat each id many times in a row, so the ids are dictionary-encoded first
    and only the distinct ones are looked up."""
    array = column if pa.types.is_dictionary(column.type) else plain(column)
    _null_rows(array, col, offset)
    if pa.types.is_dictionary(array.type) or is_string(array.type):
        encoded = array if pa.types.is_dictionary(array.type) else array.dictionary_encode()
        found = universe.lookup(encoded.dictionary)
        index = found[encoded.indices.to_numpy(zero_copy_only=False)]
        missing = encoded.dictionary.filter(pa.array(found < 0)).to_pylist()
    else:
        index = universe.lookup(array)
        missing = pd.unique(array.to_numpy(zero_copy_only=False)[index < 0])
    if len(missing):
        # a customer id must not reach a log: the rows are named by number instead
        examples = ([f"row {r + offset}" for r in np.flatnonzero(index < 0)[:3]]
                    if col == "customer_id" else [_py(v) for v in missing[:3]])
        raise InputError(SOURCE, f"{len(missing)} id(s) not found in {target}",
                         key=f"column '{col}'", examples=examples)
    return index.astype(np.int32)


def _py(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _days(column: pa.Array, horizon: int, offset: int) -> np.ndarray:
    array = plain(column)
    _null_rows(array, "day", offset)
    days = array.to_numpy(zero_copy_only=False).astype(np.int64)
    bad = (days < 0) | (days >= horizon)
    if bad.any():
        raise InputError(SOURCE, f"day must be in 0..{horizon - 1} (horizon_days = {horizon})",
                         key="column 'day'", examples=np.unique(days[bad])[:3].tolist())
    return days.astype(np.int16)


def _kpi(batch: pa.RecordBatch, name: str, offset: int) -> np.ndarray:
    array = plain(batch.column(name))
    values = array.to_numpy(zero_copy_only=False)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad)[:3]
        raise InputError(SOURCE, f"{int(bad.sum())} NaN, infinite or null KPI value(s)",
                         key=f"column '{name}'",
                         examples=[f"row {int(r) + offset}" for r in rows])
    return values


# --- ordering ------------------------------------------------------------------------------

def _sorted(s: Scores, n_act: int, horizon: int) -> Scores:
    """Sort rows by (customer, action[, day]); a repeated key is an error."""
    key = s.customer.astype(np.int64) * n_act + s.action
    if s.day is not None:
        key = key * horizon + s.day
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    del key
    dup = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if len(dup):
        # named by file row numbers: a key holds a customer id, which must not reach a log
        cols = ["customer_id", "action_id"] + (["day"] if s.day is not None else [])
        pairs = np.sort(np.stack([order[dup[:3]], order[dup[:3] + 1]]), axis=0)
        raise InputError(SOURCE, f"{len(dup)} duplicate key(s) ({', '.join(cols)}); each "
                         "key must appear once", key="key",
                         examples=[f"rows {a} and {b}" for a, b in pairs.T])
    return Scores(
        customer=s.customer[order],
        action=s.action[order],
        day=None if s.day is None else s.day[order],
        kpis={k: v[order] for k, v in s.kpis.items()},
        columns=s.columns,
        path=s.path,
        file_row=order,
    )

