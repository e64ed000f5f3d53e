"""Evaluate policy filters (`where` tables) on the customer and action tables as masks.

A filter is split once into its customer part and its action part (see `scenario.bind`);
each part becomes a boolean mask over its table by array operations, and a pair matches
when both masks hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.policy import Condition


@dataclass(frozen=True)
class BoundWhere:
    """A filter whose keys are resolved to customer columns and action columns."""

    customer: tuple[Condition, ...] = ()
    action: tuple[Condition, ...] = ()

    @property
    def matches_all_actions(self) -> bool:
        return not self.action


def condition_mask(column: pd.Series, cond: Condition) -> np.ndarray:
    """Rows of `column` that satisfy one condition; missing values never match."""
    if cond.kind == "bool":
        return np.asarray(column.fillna(not cond.flag).astype(bool).to_numpy() == cond.flag)
    if cond.kind == "in":
        return np.asarray(column.isin(list(cond.values or ())).to_numpy(), dtype=bool)
    numeric = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    mask = ~np.isnan(numeric)
    if cond.low is not None:
        mask &= numeric >= cond.low
    if cond.high is not None:
        mask &= numeric <= cond.high
    return mask


def table_mask(table: pd.DataFrame, conditions: tuple[Condition, ...]) -> np.ndarray:
    """Rows of `table` that satisfy every condition (all rows when there is none)."""
    mask = np.ones(len(table), dtype=bool)
    for cond in conditions:
        mask &= condition_mask(table[column_name(cond.key)], cond)
    return mask


def column_name(key: str) -> str:
    """The column a filter key names, without its `customer.`/`action.` prefix."""
    for prefix in ("customer.", "action."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key
