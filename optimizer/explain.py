"""Why one customer got these contacts and not others, from a finished run.

Everything is computed for that customer alone: the scenario is cut down to its customer
row, score rows and history (`customer_scenario`) and compiled with the same `build_problem`
as a run, so its options, coefficients, caps and conflicts are exactly the run's; no solve.
Each scored (action, day) is then one of

- chosen: in the run's plan;
- removed: no plan could choose it: a rule denies it, a history contact triggers a conflict,
  or history alone fills a cap (the history contacts are named);
- blocked: eligible, but adding it to the plan as it stands breaks a cap or conflict (the
  customer's other planned contacts are named) or a global limit/floor (the plan's usage);
- not chosen: it fits, and the objectives decided: its reduced value, level-1 value minus
  the shadow price it pays on each global constraint it touches, says at what price.

Actions without any score row for the customer were never eligible.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.outputs import chosen_from_plan
from optimizer.problem import (
    PolicyMasks,
    Problem,
    Triples,
    build_problem,
    candidate_triples,
    quantity_values,
)
from optimizer.scenario import History, Scenario, Scores

Status = Literal["chosen", "removed", "blocked", "not chosen"]
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Contact:
    """A contact that counts toward a reason: from history or from the run's plan."""

    action_id: str
    date: str
    source: Literal["history", "plan"]

    def text(self) -> str:
        return f"{self.action_id} on {self.date} ({self.source})"


@dataclass(frozen=True)
class Reason:
    kind: Literal["rule", "conflict", "cap", "limit", "floor"]
    name: str
    detail: str  # one sentence with the numbers
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True)
class Price:
    """What an option pays on one global constraint: coefficient × shadow price."""

    constraint: str
    coefficient: float
    shadow_price: float | None
    paid: float


@dataclass(frozen=True)
class Option:
    action_id: str
    channel: str
    date: str
    values: dict[str, float]  # per objective level
    status: Status
    reasons: tuple[Reason, ...] = ()
    prices: tuple[Price, ...] = ()
    reduced_value: float | None = None  # None for a removed option (never in the model)
    coverage: tuple[str, ...] = ()  # coverage floors this option would count toward


@dataclass(frozen=True)
class Explanation:
    customer_id: str | int
    segment: str
    run_date: str
    levels: tuple[str, ...]
    options: tuple[Option, ...]
    never_eligible: tuple[tuple[str, str], ...]  # (action_id, channel)
    history: tuple[Contact, ...]
    coverage: tuple[dict[str, Any], ...]  # floor, shadow price, what covering is worth
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- one customer's scenario ---------------------------------------------------------------

def find_customer(s: Scenario, text: str) -> int:
    """The dense index of a customer id given on the command line."""
    ids = s.customers["customer_id"]
    value: str | int = text
    if pd.api.types.is_integer_dtype(ids):
        try:
            value = int(text)
        except ValueError:
            raise InputError("--customer", "customer ids are integers in this scenario",
                             examples=(text,)) from None
    at = int(pd.Index(ids).get_indexer([value])[0])
    if at < 0:
        raise InputError("--customer", "no such customer in customers.parquet",
                         examples=(text,))
    return at


def customer_scenario(s: Scenario, i: int) -> Scenario:
    """The scenario cut down to customer i (dense index 0): its row, scores and history."""
    sc = s.scores
    lo, hi = np.searchsorted(sc.customer, [i, i + 1])  # scores are sorted by customer
    scores = Scores(np.zeros(hi - lo, np.int32), sc.action[lo:hi],
                    None if sc.day is None else sc.day[lo:hi],
                    {k: v[lo:hi] for k, v in sc.kpis.items()}, sc.columns)
    h = s.history
    mine = h.customer == i
    history = History(np.zeros(int(mine.sum()), np.int32), h.action[mine], h.channel[mine],
                      h.day[mine])
    return dataclasses.replace(s, customers=s.customers.iloc[[i]].reset_index(drop=True),
                               audit_columns=s.audit_columns.iloc[[i]].reset_index(drop=True),
                               scores=scores, history=history, dropped_history_rows=0,
                               bound=s.bound)


# --- the explanation -----------------------------------------------------------------------

def explain_customer(s: Scenario, customer: str, summary: dict[str, Any],
                     plan: pd.DataFrame) -> Explanation:
    """Explain the run (its `summary` and `plan`) for one customer; see the module docstring."""
    i = find_customer(s, customer)
    cid = s.customers["customer_id"].iloc[i]
    one = customer_scenario(s, i)
    return _Explainer(one, summary, plan[plan["customer_id"] == cid]).explain()


class _Explainer:
    def __init__(self, s: Scenario, summary: dict[str, Any], plan: pd.DataFrame) -> None:
        self.s = s
        self.masks = PolicyMasks(s)
        self.problem: Problem = build_problem(s)
        self.cand: Triples = candidate_triples(s)
        self.chosen, unmatched = chosen_from_plan(s, self.problem, plan)
        self.warnings: list[str] = []
        if unmatched:
            self.warnings.append(f"{unmatched} of this customer's plan row(s) name no eligible "
                                 "contact of this scenario: was the run made from these "
                                 "inputs?")
        self.constraints = {c["name"]: c for c in summary.get("constraints", [])}
        n_act = max(len(s.actions), 1)
        cand_key = self.cand.day.astype(np.int64) * n_act + self.cand.action
        t = self.problem.triples
        model_key = t.day.astype(np.int64) * n_act + t.action
        at = np.searchsorted(model_key, cand_key).clip(0, max(len(model_key) - 1, 0))
        inside = (model_key[at] == cand_key) if len(model_key) else np.zeros(
            len(cand_key), bool)
        self.model_index = np.where(inside, at, -1)  # candidate -> triple of the model
        h = s.history
        self.history = [Contact(self._aid(a, j), self._date(d), "history")
                        for j, (a, d) in enumerate(zip(h.action, h.day, strict=True))]

    # names ------------------------------------------------------------------------------

    def _aid(self, action: int, history_row: int | None = None) -> str:
        if action >= 0:
            return str(self.s.actions["action_id"].iloc[int(action)])
        return f"retired {self.s.history.channel[history_row]} action"

    def _date(self, day: int) -> str:
        return (self.s.run_date + dt.timedelta(days=int(day))).isoformat()

    def _plan_contact(self, triple: int) -> Contact:
        t = self.problem.triples
        return Contact(self._aid(int(t.action[triple])), self._date(int(t.day[triple])), "plan")

    # the whole -----------------------------------------------------------------------------

    def explain(self) -> Explanation:
        s, cand = self.s, self.cand
        levels = s.policy.objectives
        values = {o.name: sum((w * quantity_values(s, q, cand) for q, w in o.weights),
                              start=np.zeros(len(cand))) for o in levels}
        removed = self._removed()
        options = []
        for k in range(len(cand)):
            m = int(self.model_index[k])
            reasons = list(removed[k])
            prices: tuple[Price, ...] = ()
            reduced = None
            if m >= 0 and not reasons:
                prices = self._prices(m)
                reduced = float(values[levels[0].name][k]) - sum(p.paid for p in prices)
            if reasons:
                status: Status = "removed"
            elif self.chosen[m]:
                status = "chosen"
            else:
                reasons = self._blocked(m)
                status = "blocked" if reasons else "not chosen"
            options.append(Option(
                action_id=self._aid(int(cand.action[k])),
                channel=str(s.actions["channel"].iloc[int(cand.action[k])]),
                date=self._date(int(cand.day[k])),
                values={name: float(v[k]) for name, v in values.items()},
                status=status, reasons=tuple(reasons), prices=prices, reduced_value=reduced,
                coverage=self._coverage_of(m)))
        scored = np.zeros(len(s.actions), dtype=bool)
        scored[cand.action] = True
        never = tuple((str(a), str(c)) for a, c in zip(
            s.actions["action_id"][~scored], s.actions["channel"][~scored], strict=True))
        return Explanation(
            customer_id=_python(s.customers["customer_id"].iloc[0]),
            segment=str(s.customers["segment"].iloc[0]), run_date=s.run_date.isoformat(),
            levels=tuple(o.name for o in levels), options=tuple(options),
            never_eligible=never, history=tuple(self.history),
            coverage=self._coverage_notes(), warnings=tuple(self.warnings))

    # removed before any solve ---------------------------------------------------------

    def _removed(self) -> list[list[Reason]]:
        """Rules, history conflicts and caps that history alone fills, per candidate."""
        s, cand, masks = self.s, self.cand, self.masks
        out: list[list[Reason]] = [[] for _ in range(len(cand))]
        for rule in s.policy.rules:
            denied = masks.customer(rule.deny)[0] & masks.action(rule.deny)[cand.action]
            lifted = ""
            if rule.unless is not None:
                value = s.customers[rule.unless].iloc[0]
                if bool(value is not pd.NA and value):
                    denied[:] = False
                shown = "missing" if value is pd.NA else str(bool(value)).lower()
                lifted = f" ({rule.unless} is {shown})"
            for k in np.flatnonzero(denied):
                out[k].append(Reason("rule", rule.name, f"denied by rule '{rule.name}'"
                                     f"{lifted}"))
        h = s.history
        for conflict in s.policy.conflicts:
            in_group = masks.customer(conflict.first)[0] & masks.customer(conflict.then)[0]
            if not in_group:
                continue
            firsts = np.flatnonzero(masks.history_action(conflict.first))
            then = masks.action(conflict.then)[cand.action]
            for k in np.flatnonzero(then):
                hits = firsts[h.day[firsts] + conflict.within_days >= cand.day[k]]
                if len(hits):
                    named = tuple(self.history[j] for j in hits)
                    out[k].append(Reason(
                        "conflict", conflict.name,
                        f"conflict '{conflict.name}': {_list(named)} came within "
                        f"{conflict.within_days} day(s) before", named))
        for cap in s.policy.caps:
            counted = masks.customer(cap.where)[0] & masks.action(cap.where)[cand.action]
            used = self._history_in_cap(cap.where)
            for k in np.flatnonzero(counted):
                for end in self._window_ends(int(cand.day[k]), cap.window_days):
                    rows = used[(h.day[used] >= end - cap.window_days + 1)]
                    if len(rows) >= cap.max:
                        named = tuple(self.history[j] for j in rows)
                        out[k].append(Reason(
                            "cap", cap.name,
                            f"cap '{cap.name}': history already holds {len(rows)} of max "
                            f"{cap.max} in the {cap.window_days} day(s) ending "
                            f"{self._date(end)}: {_list(named)}", named))
                        break
        return out

    def _history_in_cap(self, where: Any) -> np.ndarray:
        group = self.masks.customer(where)[0]
        hits = self.masks.history_action(where)
        return np.flatnonzero(hits) if group else np.zeros(0, np.int64)

    def _window_ends(self, day: int, window: int) -> range:
        """Horizon days whose rolling window holds a contact on `day`."""
        return range(day, min(day + window, self.s.horizon))

    # blocked by the plan as it stands -------------------------------------------------

    def _blocked(self, m: int) -> list[Reason]:
        """Caps, conflicts and global rows that adding triple m to the plan would break."""
        reasons = self._cap_blocks(m) + self._conflict_blocks(m)
        for row in self.problem.rows:
            at = np.flatnonzero(row.index == m)
            if not len(at):
                continue
            coef = float(row.coef[at[0]])
            info = self.constraints.get(row.name)
            if info is None:
                continue
            after = float(info["value"]) + coef
            slack = TOLERANCE * max(1.0, abs(row.rhs))
            if (row.sense == "<=" and after > row.rhs + slack) or (
                    row.sense == ">=" and after < row.rhs - slack):
                kind: Literal["limit", "floor"] = "floor" if row.kind == "floor" else "limit"
                reasons.append(Reason(
                    kind, row.name,
                    f"{row.kind} '{row.name}': the plan is at {float(info['value']):g} "
                    f"({row.sense} {row.rhs:g}); this contact adds {coef:g}"))
        return reasons

    def _cap_blocks(self, m: int) -> list[Reason]:
        t, h = self.problem.triples, self.s.history
        out = []
        planned = np.flatnonzero(self.chosen)
        for spec, cap in zip(self.problem.caps, self.s.policy.caps, strict=True):
            if not spec.counts[m]:
                continue
            used = self._history_in_cap(cap.where)
            mine = planned[spec.counts[planned]]
            for end in self._window_ends(int(t.day[m]), cap.window_days):
                first = end - cap.window_days + 1
                rows = used[h.day[used] >= first]
                plan_in = mine[(t.day[mine] >= first) & (t.day[mine] <= end)]
                if len(rows) + len(plan_in) + 1 > cap.max:
                    named = (*(self.history[j] for j in rows),
                             *(self._plan_contact(q) for q in plan_in))
                    out.append(Reason(
                        "cap", cap.name,
                        f"cap '{cap.name}': {len(named)} of max {cap.max} already in the "
                        f"{cap.window_days} day(s) ending {self._date(end)}: {_list(named)}",
                        named))
                    break
        return out

    def _conflict_blocks(self, m: int) -> list[Reason]:
        t = self.problem.triples
        out = []
        planned = np.flatnonzero(self.chosen)
        for spec in self.problem.conflicts:
            lag = spec.lag
            hits = np.zeros(0, np.int64)
            gap_after = t.day[planned].astype(np.int64) - int(t.day[m])
            if spec.first[m]:  # planned `then` contacts 0..lag days after this one
                hits = planned[spec.then[planned] & (gap_after >= 0) & (gap_after <= lag)]
            if spec.then[m]:  # planned `first` contacts 0..lag days before this one
                before = planned[spec.first[planned] & (gap_after <= 0) & (gap_after >= -lag)]
                hits = np.union1d(hits, before)
            hits = hits[hits != m]
            if len(hits):
                named = tuple(self._plan_contact(q) for q in hits)
                out.append(Reason("conflict", spec.name,
                                  f"conflict '{spec.name}' with {_list(named)} (within "
                                  f"{lag} day(s))", named))
        return out

    # prices ------------------------------------------------------------------------------

    def _prices(self, m: int) -> tuple[Price, ...]:
        out = []
        for row in self.problem.rows:
            at = np.flatnonzero(row.index == m)
            if not len(at):
                continue
            coef = float(row.coef[at[0]])
            price = (self.constraints.get(row.name) or {}).get("shadow_price")
            out.append(Price(row.name, coef, price, 0.0 if price is None else coef * price))
        return tuple(out)

    def _coverage_of(self, m: int) -> tuple[str, ...]:
        if m < 0:
            return ()
        return tuple(c.name for c in self.problem.coverage if np.isin(m, c.index))

    def _coverage_notes(self) -> tuple[dict[str, Any], ...]:
        """Coverage floors of this customer's group: their price is paid per customer
        covered, not per contact, so it is shown apart from the reduced values."""
        notes = []
        for cov in self.problem.coverage:
            if cov.group_size == 0:  # the customer is not in the floor's group
                continue
            price = (self.constraints.get(cov.name) or {}).get("shadow_price")
            notes.append({"floor": cov.name, "shadow_price": price,
                          "worth_of_covering": None if price is None else -price,
                          "covered": bool(self.chosen[cov.index].any())})
        return tuple(notes)


def _python(value: Any) -> Any:
    """A numpy scalar as the Python value (for JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _list(contacts: tuple[Contact, ...]) -> str:
    return ", ".join(c.text() for c in contacts)
