"""Independent check of a plan against every hard rule of the contract.

The verifier shares nothing with the model builder except the loading layer (`Scenario`,
the frozen policy objects, `quantity_source`, and `Scenario.where` for key resolution):
filters, rolling windows, lags and sums are evaluated here from scratch in plain
pandas/numpy, straight from the contract's wording. A bug in the model therefore cannot hide
by being repeated in its own checker. Clarity is preferred to speed, but every step is
vectorized over customers and plan rows; Python loops run only over policy entries and days.

Messages name a contact by its plan row number (0-based, the header not counted), its
action and its date, never by its customer id: they are printed to logs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.policy import Cap, Condition, Conflict, Floor, Limit, Rule, Where
from optimizer.scenario import Scenario, quantity_source

PLAN_COLUMNS = ("customer_id", "action_id", "date")
MAX_EXAMPLES = 3
RELATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Violation:
    """One hard rule a plan breaks, with the numbers a person needs to see why."""

    # "input" | "duplicate" | "eligibility" | "rule" | "cap" | "conflict" | "limit" | "floor"
    kind: str
    name: str  # the policy entry's name, or a short label for input problems
    message: str  # one sentence with the numbers
    count: int  # how many customers / days / rows break it
    value: float | None = None
    limit: float | None = None


def verify_plan(scenario: Scenario, plan: pd.DataFrame) -> list[Violation]:
    """Check a plan (columns customer_id, action_id, date) against every hard rule.

    Rows with an unknown id or a date outside the horizon are reported as "input" and left
    out of the other checks; duplicate rows are reported once as "duplicate" and counted once
    afterwards, so each problem shows up under exactly one kind.
    """
    found: list[Violation] = []
    rows = _plan_rows(scenario, plan, found)
    if rows is None:
        return found
    check = _Checker(scenario, rows)
    found += check.eligibility()
    policy = scenario.policy
    for rule in policy.rules:
        found += check.rule(rule)
    for cap in policy.caps:
        found += check.cap(cap)
    for conflict in policy.conflicts:
        found += check.conflict(conflict)
    for limit in policy.limits:
        found += check.limit(limit)
    for floor in policy.floors:
        found += check.floor(floor)
    return found


def review_rules(scenario: Scenario, plan: pd.DataFrame) -> np.ndarray:
    """The first `[[review]]` rule each plan row matches (its name), or None; evaluated here
    from the contract's wording, apart from the model builder's flags, so `approve` can
    check that no contact needing review escaped it. Unknown ids match no rule."""
    customer = _lookup(scenario.customers["customer_id"], plan["customer_id"])
    action = _lookup(scenario.actions["action_id"], plan["action_id"])
    known = (customer >= 0) & (action >= 0)
    out = np.full(len(plan), None, dtype=object)
    for rule in reversed(scenario.policy.reviews):  # the first matching rule wins
        bound = scenario.where(rule.where)
        hit = known.copy()
        hit[known] = (_all_of(scenario.customers, bound.customer)[customer[known]]
                      & _all_of(scenario.actions, bound.action)[action[known]])
        out[hit] = rule.name
    return out


# --- the plan as dense rows ----------------------------------------------------------------

def _plan_rows(s: Scenario, plan: pd.DataFrame, found: list[Violation]) -> pd.DataFrame | None:
    """Dense (customer, action, day) rows of the plan's valid, distinct contacts.

    Returns None when a required column is missing (nothing else can be checked).
    """
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        found.append(Violation("input", "plan columns",
                               f"the plan lacks column(s) {', '.join(missing)}", len(missing)))
        return None
    customer = _lookup(s.customers["customer_id"], plan["customer_id"])
    action = _lookup(s.actions["action_id"], plan["action_id"])
    dates = pd.to_datetime(plan["date"], errors="coerce")
    if getattr(dates.dt, "tz", None) is not None:  # a zoned timestamp still names one date
        dates = dates.dt.tz_localize(None)
    offset = (dates.dt.normalize() - pd.Timestamp(s.run_date)).dt.days.to_numpy(
        dtype=np.float64, na_value=np.nan)
    in_horizon = (offset >= 0) & (offset < s.horizon)  # NaN (unreadable date) compares False

    for label, bad, table in (("unknown customer_id", customer < 0, "customers.parquet"),
                              ("unknown action_id", action < 0, "actions.parquet")):
        if bad.any():
            column = "customer_id" if "customer" in label else "action_id"
            shown = (_examples(plan[column].to_numpy()[bad]) if column == "action_id" else
                     ", ".join(f"plan row {r}" for r in np.flatnonzero(bad)[:MAX_EXAMPLES]))
            found.append(Violation("input", label, f"{int(bad.sum())} plan row(s) name "
                                   f"{column}s missing from {table}, e.g. {shown}",
                                   int(bad.sum())))
    if (~in_horizon).any():
        last = s.run_date + dt.timedelta(days=s.horizon - 1)
        shown = _examples(plan["date"].to_numpy()[~in_horizon])
        found.append(Violation("input", "date outside the horizon",
                               f"{int((~in_horizon).sum())} plan row(s) are dated outside "
                               f"{s.run_date.isoformat()}..{last.isoformat()} or unreadable, "
                               f"e.g. {shown}", int((~in_horizon).sum())))

    keep = (customer >= 0) & (action >= 0) & in_horizon
    rows = pd.DataFrame({"customer": customer[keep].astype(np.int64),
                         "action": action[keep].astype(np.int64),
                         "day": offset[keep].astype(np.int64),
                         "plan_row": np.flatnonzero(keep)})
    duplicated = rows.duplicated(["customer", "action", "day"]).to_numpy()
    if duplicated.any():
        first = rows[duplicated].head(MAX_EXAMPLES)
        shown = "; ".join(_contact_at(s, r, a, d) for _, a, d, r in first.itertuples(
            index=False))
        found.append(Violation("duplicate", "duplicate contact",
                               f"{int(duplicated.sum())} plan row(s) repeat a (customer, "
                               f"action, date) already in the plan, e.g. {shown}",
                               int(duplicated.sum())))
        rows = rows[~duplicated].reset_index(drop=True)
    return rows


def _lookup(ids: pd.Series, wanted: pd.Series) -> np.ndarray:
    """Dense index of each wanted id in the sorted id column; -1 when unknown."""
    return pd.Index(ids).get_indexer(wanted.to_numpy(dtype=object)).astype(np.int64)


# --- filters, evaluated here from the contract's wording -----------------------------------

def _column(key: str) -> str:
    """The column a filter key names: `customer.x` and `action.x` both name column x."""
    for prefix in ("customer.", "action."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _satisfies(values: pd.Series, cond: Condition) -> np.ndarray:
    """Which values satisfy one condition; a missing value never does."""
    present = values.notna().to_numpy(dtype=bool)
    if cond.kind == "bool":
        hit = values.eq(cond.flag).fillna(False).to_numpy(dtype=bool)
    elif cond.kind == "in":
        hit = values.isin(list(cond.values or ())).to_numpy(dtype=bool)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64,
                                                                  na_value=np.nan)
        hit = ~np.isnan(numbers)
        if cond.low is not None:
            hit &= numbers >= cond.low
        if cond.high is not None:
            hit &= numbers <= cond.high
    return present & hit


def _all_of(table: pd.DataFrame, conditions: tuple[Condition, ...]) -> np.ndarray:
    """Rows of a table meeting every condition (every row when there is none)."""
    mask = np.ones(len(table), dtype=bool)
    for cond in conditions:
        mask &= _satisfies(table[_column(cond.key)], cond)
    return mask


# --- the checks ----------------------------------------------------------------------------

class _Checker:
    """Evaluates each policy entry on one scenario and one set of plan rows."""

    def __init__(self, s: Scenario, rows: pd.DataFrame) -> None:
        self.s = s
        self.rows = rows
        self.customer = rows["customer"].to_numpy()
        self.action = rows["action"].to_numpy()
        self.day = rows["day"].to_numpy()
        self.plan_row = rows["plan_row"].to_numpy() if "plan_row" in rows else \
            np.arange(len(rows))
        self.score_row = self._score_rows()

    # helpers ---------------------------------------------------------------------------

    def _score_rows(self) -> np.ndarray:
        """Row of scores holding each plan contact's KPIs, -1 when the triple is ineligible."""
        scores = self.s.scores
        n_actions = len(self.s.actions)
        score_key = scores.customer.astype(np.int64) * n_actions + scores.action
        plan_key = self.customer * n_actions + self.action
        if scores.day is not None:  # rows keyed by day; otherwise a row holds for every day
            score_key = score_key * self.s.horizon + scores.day
            plan_key = plan_key * self.s.horizon + self.day
        return pd.Index(score_key).get_indexer(plan_key).astype(np.int64)

    def customers_in(self, where: Where) -> np.ndarray:
        return _all_of(self.s.customers, self.s.where(where).customer)

    def actions_in(self, where: Where) -> np.ndarray:
        return _all_of(self.s.actions, self.s.where(where).action)

    def history_actions_in(self, where: Where) -> np.ndarray:
        """History rows whose action matches a filter's action part.

        A retired action (missing from actions.parquet) is known only by its channel: a
        condition on `channel` is evaluated on the history row's channel, any other action
        condition does not match it.
        """
        history = self.s.history
        conditions = self.s.where(where).action
        known = history.action >= 0
        mask = np.zeros(len(history), dtype=bool)
        mask[known] = _all_of(self.s.actions, conditions)[history.action[known]]
        retired = np.flatnonzero(~known)
        if len(retired):
            channel = pd.Series(history.channel[retired], dtype=object)
            hit = np.ones(len(retired), dtype=bool)
            for cond in conditions:
                hit &= (_satisfies(channel, cond) if _column(cond.key) == "channel"
                        else np.zeros(len(retired), dtype=bool))
            mask[retired] = hit
        return mask

    def quantity(self, name: str) -> np.ndarray:
        """A quantity's value for each plan contact (0 for an ineligible one's KPI)."""
        source, column = quantity_source(self.s, name)
        if source == "contacts":
            return np.ones(len(self.rows))
        if source == "kpi":
            values = self.s.scores.column(column)[np.maximum(self.score_row, 0)]
            return np.where(self.score_row >= 0, values.astype(np.float64), 0.0)
        per_action = pd.to_numeric(self.s.actions[column], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
        return np.nan_to_num(per_action[self.action], nan=0.0)

    def matching(self, where: Where) -> np.ndarray:
        """Plan rows whose customer and action both match a filter."""
        return self.customers_in(where)[self.customer] & self.actions_in(where)[self.action]

    def aid(self, action: int) -> str:
        return str(self.s.actions["action_id"].iloc[int(action)])

    def date(self, day: int) -> str:
        return (self.s.run_date + dt.timedelta(days=int(day))).isoformat()

    # eligibility and rules --------------------------------------------------------------

    def eligibility(self) -> list[Violation]:
        """Every chosen (customer, action, day) needs a scores row."""
        bad = self.score_row < 0
        if not bad.any():
            return []
        shown = self._rows_shown(bad)
        return [Violation("eligibility", "not eligible",
                          f"{int(bad.sum())} plan row(s) have no scores row (not eligible), "
                          f"e.g. {shown}", int(bad.sum()))]

    def rule(self, rule: Rule) -> list[Violation]:
        """No chosen pair may match `deny` unless the customer's `unless` column is true."""
        denied = self.matching(rule.deny)
        if rule.unless is not None:
            lifted = self.s.customers[rule.unless].fillna(False).to_numpy(dtype=bool)
            denied &= ~lifted[self.customer]
        if not denied.any():
            return []
        lift = f" (and {rule.unless} is not true)" if rule.unless else ""
        return [Violation("rule", rule.name,
                          f"{int(denied.sum())} plan row(s) choose a denied pair{lift}, "
                          f"e.g. {self._rows_shown(denied)}", int(denied.sum()))]

    def _rows_shown(self, mask: np.ndarray) -> str:
        picked = np.flatnonzero(mask)[:MAX_EXAMPLES]
        return "; ".join(_contact_at(self.s, self.plan_row[i], self.action[i], self.day[i])
                         for i in picked)

    # caps ----------------------------------------------------------------------------

    def cap(self, cap: Cap) -> list[Violation]:
        """Rolling-window count per customer in G and horizon day, history included.

        Design decision: a window whose history alone already exceeds the max cannot be
        repaired by the plan, so it is a violation only when the plan adds a contact to it.
        Hence a window is broken exactly when the plan has >= 1 contact in it and history
        plus plan exceed the max (a window over the max with no plan contact is history
        alone).
        """
        s, width, most = self.s, cap.window_days, cap.max
        group = self.customers_in(cap.where)
        n = len(s.customers)
        history = s.history
        h_sel = (group[history.customer] & self.history_actions_in(cap.where)
                 & (history.day > -width))
        h_customer, h_day = history.customer[h_sel], history.day[h_sel]
        p_sel = group[self.customer] & self.actions_in(cap.where)[self.action]
        p_customer, p_day, p_row = self.customer[p_sel], self.day[p_sel], self.plan_row[p_sel]

        broken = 0
        worst = 0
        shown: list[str] = []
        for day in range(s.horizon):
            first = day - width + 1
            in_h = (h_day >= first) & (h_day <= day)
            in_p = (p_day >= first) & (p_day <= day)
            from_history = np.bincount(h_customer[in_h], minlength=n)
            from_plan = np.bincount(p_customer[in_p], minlength=n)
            total = from_history + from_plan
            bad = np.flatnonzero((from_plan >= 1) & (total > most))
            broken += len(bad)
            if len(bad):
                worst = max(worst, int(total[bad].max()))
            for c in bad[: MAX_EXAMPLES - len(shown)]:
                row = p_row[in_p & (p_customer == c)][0]
                shown.append(f"the customer of plan row {row} has {total[c]} contacts in the "
                             f"{width} days ending {self.date(day)}; max {most} "
                             f"(history {from_history[c]})")
        if not broken:
            return []
        return [Violation("cap", cap.name, f"{broken} (customer, day) window(s) over the cap: "
                          + "; ".join(shown), broken, float(worst), float(most))]

    # conflicts ---------------------------------------------------------------------------

    def conflict(self, conflict: Conflict) -> list[Violation]:
        """No customer in G has an A contact on day t and a different B contact on t + 0..L.

        The later (B) contact is always a plan contact: a history B contact cannot follow a
        plan A contact, and history-history pairs are outside the plan's control. The A
        contact may be a plan contact or a history one dated within L days of the run date.
        """
        s, lag = self.s, conflict.within_days
        group = self.customers_in(conflict.first) & self.customers_in(conflict.then)
        history = s.history
        in_a = group[self.customer] & self.actions_in(conflict.first)[self.action]
        in_b = group[self.customer] & self.actions_in(conflict.then)[self.action]
        h_sel = np.flatnonzero(group[history.customer]
                               & self.history_actions_in(conflict.first)
                               & (history.day >= -lag))
        plan_ids = np.arange(len(self.rows))
        # contact ids: plan row i -> i, history row j -> -1 - j (never equal to a plan id)
        a_side = pd.concat([
            pd.DataFrame({"customer": self.customer[in_a], "day_a": self.day[in_a],
                          "id_a": plan_ids[in_a], "action_a": self.action[in_a]}),
            pd.DataFrame({"customer": history.customer[h_sel].astype(np.int64),
                          "day_a": history.day[h_sel].astype(np.int64),
                          "id_a": -1 - h_sel, "action_a": history.action[h_sel]
                          .astype(np.int64)}),
        ], ignore_index=True)
        b_side = pd.DataFrame({"customer": self.customer[in_b], "day_b": self.day[in_b],
                               "id_b": plan_ids[in_b], "action_b": self.action[in_b]})
        pairs = b_side.merge(a_side, on="customer")
        gap = pairs["day_b"] - pairs["day_a"]
        pairs = pairs[(gap >= 0) & (gap <= lag) & (pairs["id_a"] != pairs["id_b"])]
        if pairs.empty:
            return []
        # an action in both A and B gives each unordered pair twice; count it once
        low = np.minimum(pairs["id_a"], pairs["id_b"])
        high = np.maximum(pairs["id_a"], pairs["id_b"])
        n_pairs = len(pd.DataFrame({"low": low, "high": high}).drop_duplicates())
        customers = pairs["customer"].nunique()
        shown = "; ".join(
            f"the customer of plan row {self.plan_row[r.id_b]} has "
            f"{self._contact(r.id_a, r.action_a)} on "
            f"{self.date(r.day_a)} then {self.aid(r.action_b)} on {self.date(r.day_b)}, "
            f"{r.day_b - r.day_a} day(s) apart"
            for r in pairs.drop_duplicates("customer").head(MAX_EXAMPLES).itertuples())
        return [Violation("conflict", conflict.name,
                          f"{customers} customer(s) have {n_pairs} conflicting pair(s) within "
                          f"{lag} day(s): {shown}", int(customers), float(n_pairs), 0.0)]

    def _contact(self, contact_id: int, action: int) -> str:
        if contact_id >= 0:
            return self.aid(action)
        row = -1 - contact_id
        what = self.aid(action) if action >= 0 else (
            f"a retired {self.s.history.channel[row]} action")
        return f"{what} (history)"

    # limits and floors -------------------------------------------------------------------

    def _sums(self, where: Where, quantity: str, per: str) -> np.ndarray:
        """The quantity summed over matching plan contacts: one total, or one per day."""
        weights = self.quantity(quantity) * self.matching(where)
        if per == "day":
            return np.bincount(self.day, weights=weights, minlength=self.s.horizon)
        return np.array([weights.sum()])

    def _over(self, totals: np.ndarray, bound: float, *, upper: bool) -> np.ndarray:
        slack = RELATIVE_TOLERANCE * max(1.0, abs(bound))
        return totals > bound + slack if upper else totals < bound - slack

    def limit(self, limit: Limit) -> list[Violation]:
        """Sum of the quantity over matching plan contacts <= max, per horizon or per day."""
        totals = self._sums(limit.where, limit.quantity, limit.per)
        bad = self._over(totals, limit.max, upper=True)
        if not bad.any():
            return []
        return [self._bound_violation("limit", limit.name, limit.quantity, limit.per, totals,
                                      bad, limit.max, "max")]

    def floor(self, floor: Floor) -> list[Violation]:
        """Sum >= min (per horizon or day), or enough customers of G contacted (min_share)."""
        if floor.min_share is not None:
            return self._coverage(floor)
        assert floor.quantity is not None and floor.min is not None
        totals = self._sums(floor.where, floor.quantity, floor.per)
        bad = self._over(totals, floor.min, upper=False)
        if not bad.any():
            return []
        return [self._bound_violation("floor", floor.name, floor.quantity, floor.per, totals,
                                      bad, floor.min, "min")]

    def _coverage(self, floor: Floor) -> list[Violation]:
        group = self.customers_in(floor.where)
        size = int(group.sum())
        assert floor.min_share is not None
        needed = math.ceil(floor.min_share * size - 1e-9)
        covered = int(np.unique(self.customer[self.matching(floor.where)]).size)
        if covered >= needed:
            return []
        return [Violation("floor", floor.name,
                          f"{covered} of {size} customer(s) in the group get a matching "
                          f"contact; min_share {floor.min_share} needs {needed}", 1,
                          float(covered), float(needed))]

    def _bound_violation(self, kind: str, name: str, quantity: str, per: str,
                         totals: np.ndarray, bad: np.ndarray, bound: float,
                         word: str) -> Violation:
        if per == "day":
            days = np.flatnonzero(bad)
            shown = "; ".join(f"{self.date(d)}: {totals[d]:g}" for d in days[:MAX_EXAMPLES])
            worst = totals[days].max() if word == "max" else totals[days].min()
            return Violation(kind, name, f"{quantity} per day breaks its {word} {bound:g} on "
                             f"{len(days)} day(s): {shown}", len(days), float(worst),
                             float(bound))
        return Violation(kind, name, f"{quantity} sums to {totals[0]:g} over the horizon; "
                         f"{word} {bound:g}", 1, float(totals[0]), float(bound))


# --- messages ------------------------------------------------------------------------------

def _contact_at(s: Scenario, plan_row: int, action: int, day: int) -> str:
    """A plan contact for a message: its row, action and date (no customer id)."""
    date = (s.run_date + dt.timedelta(days=int(day))).isoformat()
    return f"plan row {int(plan_row)} ({s.actions['action_id'].iloc[int(action)]}, {date})"


def _examples(values: np.ndarray) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:MAX_EXAMPLES])
