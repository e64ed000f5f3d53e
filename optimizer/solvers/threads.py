"""Threads for the map steps of one dual evaluation.

The compiled loops (`kernels.py`) and numpy's array operations release the GIL, so the
chunks of an evaluation, or its independent row sums, run on every core of the machine as
plain threads: no copies, and results that do not depend on the schedule (each task writes
its own slots or returns its own number).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
    os.cpu_count() or 1)

_pool: ThreadPoolExecutor | None = None


def thread_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """fn over items, in order, on up to WORKERS threads (serially when there is one)."""
    items = list(items)
    if WORKERS <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    global _pool
    if _pool is None:  # one pool for the process: evaluations come by the hundred
        _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="contactopt")
    return list(_pool.map(fn, items))
