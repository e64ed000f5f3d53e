"""Arrow column checks shared by the table loaders: one error format for every input file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optimizer.errors import InputError, closest


def read_table(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path.name, f"cannot be read as Parquet: {exc}") from None
    return table.combine_chunks()


def require_columns(table: pa.Table, source: str, columns: tuple[str, ...]) -> None:
    for col in columns:
        if col not in table.column_names:
            guess = closest(col, table.column_names)
            raise InputError(source, "required column is missing", key=f"column '{col}'",
                             hint=f"found '{guess}'" if guess else
                             f"columns present: {', '.join(table.column_names)}")


def plain(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Decode dictionary columns so type checks see the value type."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def is_integer_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t)


def is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def type_error(source: str, col: str, expected: str, actual: pa.DataType) -> InputError:
    return InputError(source, f"wrong column type: expected {expected}, found {actual}",
                      key=f"column '{col}'")


def no_nulls(array: pa.Array, source: str, col: str, ids: pa.Array | None = None) -> None:
    """No null value; rows are named by `ids` (never customer ids) or by row number."""
    if array.null_count:
        rows = np.flatnonzero(np.asarray(array.is_null()))[:3]
        shown = [f"row {r}" for r in rows] if ids is None else [ids[r].as_py() for r in rows]
        raise InputError(source, f"{array.null_count} null value(s) where none are allowed",
                         key=f"column '{col}'", examples=shown)


def unique_values(array: pa.Array, source: str, col: str, *, by_row: bool = False) -> None:
    """Each value once. `by_row`: name the repeated rows by number, not by value (for
    customer ids, which must not reach a log)."""
    counts = pc.value_counts(array)
    dup = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if not len(dup):
        return
    examples: list[object] = dup.to_pylist()
    if by_row:
        repeated = np.asarray(pc.is_in(array, value_set=dup))
        rows = np.flatnonzero(repeated)[:3]
        examples = [f"row {r}" for r in rows]
    raise InputError(source, f"{len(dup)} duplicate value(s); each must appear once",
                     key=f"column '{col}'", examples=examples)
