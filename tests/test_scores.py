"""The score loader's pieces that only large files reach: id lookup by binary search over
fixed-width bytes (also for sliced Arrow arrays and ids holding a NUL), and KPI columns
outside the policy read back from the file in row order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from optimizer.scores import SortedIds, _fixed_width


def test_fixed_width_reads_sliced_arrays_and_keeps_nul_ids_apart() -> None:
    ids = pa.array(["aa", "b", "cccc", "dd", "e"])
    assert _fixed_width(ids.slice(2, 3)).tolist() == [b"cccc", b"dd", b"e"]
    assert _fixed_width(ids).tolist() == [b"aa", b"b", b"cccc", b"dd", b"e"]
    # `S` cannot hold a NUL: such ids fall back to Python strings, never merge with "a"
    assert _fixed_width(pa.array(["a\x00", "a"])).tolist() == ["a\x00", "a"]


def test_sorted_ids_lookup_finds_known_ids_and_flags_unknown_ones() -> None:
    universe = SortedIds(pa.array(["C01", "C02", "C10", "C11"]))
    found = universe.lookup(pa.array(["C10", "C03", "C01", "C11", "C1"]))
    assert found.tolist() == [2, -1, 0, 3, -1]
    ints = SortedIds(pa.array([3, 7, 11], type=pa.int64()))
    assert ints.lookup(pa.array([11, 4, 3], type=pa.int32())).tolist() == [2, -1, 0]
    sliced = pa.array(["x", "C02", "C11"]).slice(1)
    assert universe.lookup(sliced).tolist() == [1, 3]


def test_unused_kpi_read_back_in_row_order(tmp_path) -> None:
    """A shuffled file: rows are sorted on load, a KPI the policy does not use is not kept,
    and reading it back (plan writer, frontier) follows the sorted order."""
    import datetime as dt

    import pyarrow.parquet as pq

    from optimizer.scenario import load_scenario
    from optimizer.synthetic import generate_scenario

    run = dt.date(2026, 1, 5)
    generate_scenario(tmp_path / "s", customers=50, actions=6, horizon=1, seed=2, run_date=run)
    path = tmp_path / "s" / "scores.parquet"
    table = pq.read_table(path)
    order = np.random.default_rng(0).permutation(table.num_rows)
    pq.write_table(table.take(pa.array(order)), path)
    s = load_scenario(tmp_path / "s", run_date=run)
    assert s.scores.file_row is not None and "p_response" not in s.scores.kpis
    back = s.scores.column("p_response")
    # the expected value of each sorted row, straight from the original table
    key = {(c, a): p for c, a, p in zip(table["customer_id"].to_pylist(),
                                       table["action_id"].to_pylist(),
                                       table["p_response"].to_pylist(), strict=True)}
    cust = s.customers["customer_id"].to_numpy()[s.scores.customer]
    act = s.actions["action_id"].to_numpy()[s.scores.action]
    expected = np.array([key[(c, a)] for c, a in zip(cust, act, strict=True)])
    assert np.array_equal(back.astype(np.float64), expected.astype(np.float64))
    rows = np.array([0, len(back) - 1, 3])
    assert np.array_equal(s.scores.values(rows)["p_response"], back[rows].astype(np.float64))
