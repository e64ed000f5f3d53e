"""The marketer's framework (policy.toml) as typed, frozen objects.

Only the structure of the file is checked here; whether a filter key or a quantity names a
real column is checked in `scenario.py`, once the tables are known.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from optimizer.errors import InputError, closest

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    """One key of a `where` table: `values` (one of), a `[low, high]` range, or a bool."""

    key: str
    values: tuple[Scalar, ...] | None = None
    low: float | None = None
    high: float | None = None
    flag: bool | None = None

    @property
    def kind(self) -> Literal["in", "range", "bool"]:
        if self.flag is not None:
            return "bool"
        return "in" if self.values is not None else "range"


@dataclass(frozen=True)
class Where:
    """A filter: conditions ANDed. No condition matches everything."""

    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Objective:
    name: str
    weights: tuple[tuple[str, float], ...]
    tolerance: float = 0.0


@dataclass(frozen=True)
class Cap:
    name: str
    where: Where
    max: int
    window_days: int


@dataclass(frozen=True)
class Limit:
    name: str
    where: Where
    quantity: str
    max: float
    per: Literal["horizon", "day"]


@dataclass(frozen=True)
class Floor:
    """`quantity`/`min` (value floor) or `min_share` (coverage floor), never both."""

    name: str
    where: Where
    quantity: str | None = None
    min: float | None = None
    min_share: float | None = None
    per: Literal["horizon", "day"] = "horizon"


@dataclass(frozen=True)
class Conflict:
    name: str
    first: Where
    then: Where
    within_days: int


@dataclass(frozen=True)
class Rule:
    name: str
    deny: Where
    unless: str | None = None


@dataclass(frozen=True)
class Review:
    name: str
    where: Where


@dataclass(frozen=True)
class Policy:
    horizon_days: int
    objectives: tuple[Objective, ...]
    caps: tuple[Cap, ...] = ()
    limits: tuple[Limit, ...] = ()
    floors: tuple[Floor, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    rules: tuple[Rule, ...] = ()
    reviews: tuple[Review, ...] = ()
    audit_only: tuple[str, ...] = ()
    source: str = field(default="policy.toml", compare=False)

    def filters(self) -> list[tuple[str, Where]]:
        """Every `where` in the policy with the key path that names it in messages."""
        out: list[tuple[str, Where]] = []
        for kind, items, attr in (
            ("cap", self.caps, "where"),
            ("limit", self.limits, "where"),
            ("floor", self.floors, "where"),
            ("conflict", self.conflicts, "first"),
            ("conflict", self.conflicts, "then"),
            ("rule", self.rules, "deny"),
            ("review", self.reviews, "where"),
        ):
            out.extend((f"{kind} '{item.name}'.{attr}", getattr(item, attr)) for item in items)
        return out

    def quantities(self) -> list[tuple[str, str]]:
        """Every quantity the policy sums, with the key path that names it."""
        out = [(f"objective '{o.name}'.maximize", q) for o in self.objectives for q, _ in o.weights]
        out += [(f"limit '{lim.name}'.sum", lim.quantity) for lim in self.limits]
        out += [(f"floor '{f.name}'.sum", f.quantity) for f in self.floors if f.quantity]
        return out


SECTIONS = {
    "plan": {"horizon_days"},
    "objective": {"name", "maximize", "tolerance"},
    "cap": {"name", "where", "max", "window_days"},
    "limit": {"name", "where", "sum", "max", "per"},
    "floor": {"name", "where", "sum", "min", "min_share", "per"},
    "conflict": {"name", "first", "then", "within_days"},
    "rule": {"name", "deny", "unless"},
    "review": {"name", "where"},
    "privacy": {"audit_only"},
}
TABLE_SECTIONS = {"plan", "privacy"}


def load_policy(path: Path) -> Policy:
    """Read and check a policy file; raise InputError naming the key at fault."""
    source = path.name
    if not path.is_file():
        raise InputError(source, f"policy file not found at {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(source, f"not valid TOML: {exc}") from None
    return parse_policy(raw, source)


def parse_policy(raw: dict[str, Any], source: str = "policy.toml") -> Policy:
    """Build a Policy from parsed TOML, checking every key and value."""
    _check_keys(raw, set(SECTIONS), source, "")
    p = _Parser(source)
    plan = p.table(raw, "plan")
    horizon = p.integer(plan, "horizon_days", "plan", default=1, low=1)
    objectives = tuple(p.objective(t, i) for i, t in enumerate(p.array(raw, "objective")))
    if not objectives:
        raise InputError(source, "the policy has no [[objective]]; add at least one level",
                         key="objective")
    privacy = p.table(raw, "privacy")
    audit_only = privacy.get("audit_only", [])
    if not isinstance(audit_only, list) or not all(isinstance(c, str) for c in audit_only):
        raise InputError(source, "must be a list of column names", key="privacy.audit_only")
    policy = Policy(
        horizon_days=horizon,
        objectives=objectives,
        caps=tuple(p.cap(t, i) for i, t in enumerate(p.array(raw, "cap"))),
        limits=tuple(p.limit(t, i) for i, t in enumerate(p.array(raw, "limit"))),
        floors=tuple(p.floor(t, i) for i, t in enumerate(p.array(raw, "floor"))),
        conflicts=tuple(p.conflict(t, i) for i, t in enumerate(p.array(raw, "conflict"))),
        rules=tuple(p.rule(t, i) for i, t in enumerate(p.array(raw, "rule"))),
        reviews=tuple(p.review(t, i) for i, t in enumerate(p.array(raw, "review"))),
        audit_only=tuple(audit_only),
        source=source,
    )
    _check_unique_names(policy, source)
    return policy


def _check_keys(table: dict[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            guess = closest(key, allowed)
            raise InputError(
                source,
                "unknown policy key",
                key=f"{prefix}{key}",
                hint=f"did you mean '{prefix}{guess}'?" if guess else
                f"valid keys here: {', '.join(sorted(allowed))}",
            )


def _check_unique_names(policy: Policy, source: str) -> None:
    seen: set[str] = set()
    groups = (policy.objectives, policy.caps, policy.limits, policy.floors, policy.conflicts,
              policy.rules, policy.reviews)
    for group in groups:
        for item in group:
            if item.name in seen:
                raise InputError(source, "two policy entries share this name; names must be "
                                 "unique", key=f"name = {item.name!r}")
            seen.add(item.name)


class _Parser:
    """Turns one TOML section at a time into its frozen object."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, message: str, value: object = None) -> InputError:
        return InputError(self.source, message, key=key,
                          examples=() if value is None else (value,))

    def table(self, raw: dict[str, Any], section: str) -> dict[str, Any]:
        value = raw.get(section, {})
        if not isinstance(value, dict):
            raise self.error(section, f"must be a table: write [{section}]")
        _check_keys(value, SECTIONS[section], self.source, f"{section}.")
        return value

    def array(self, raw: dict[str, Any], section: str) -> list[dict[str, Any]]:
        value = raw.get(section, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(section, f"must be an array of tables: write [[{section}]]")
        for item in value:
            _check_keys(item, SECTIONS[section], self.source, f"{section}.")
        return value

    def name(self, t: dict[str, Any], section: str, i: int) -> tuple[str, str]:
        name = t.get("name", f"{section} {i + 1}")
        if not isinstance(name, str) or not name.strip():
            raise self.error(f"{section}[{i}].name", "must be a non-empty string", name)
        return name, f"{section} '{name}'"

    def number(self, t: dict[str, Any], key: str, ctx: str, *, default: float | None = None,
               low: float | None = None, high: float | None = None) -> float:
        value = t.get(key, default)
        if value is None:
            raise self.error(f"{ctx}.{key}", "is required")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise self.error(f"{ctx}.{key}", "must be a finite number", value)
        if low is not None and value < low:
            raise self.error(f"{ctx}.{key}", f"must be >= {low}", value)
        if high is not None and value > high:
            raise self.error(f"{ctx}.{key}", f"must be <= {high}", value)
        return float(value)

    def integer(self, t: dict[str, Any], key: str, ctx: str, *, default: int | None = None,
                low: int | None = None) -> int:
        value = t.get(key, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is None:
            raise self.error(f"{ctx}.{key}", "is required")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{ctx}.{key}", "must be a whole number", value)
        if low is not None and value < low:
            raise self.error(f"{ctx}.{key}", f"must be >= {low}", value)
        return value

    def per(self, t: dict[str, Any], ctx: str) -> Literal["horizon", "day"]:
        per = t.get("per", "horizon")
        if per not in ("horizon", "day"):
            raise self.error(f"{ctx}.per", "must be 'horizon' or 'day'", per)
        return per

    def quantity(self, t: dict[str, Any], key: str, ctx: str) -> str:
        value = t.get(key)
        if not isinstance(value, str) or not value:
            raise self.error(f"{ctx}.{key}", "must name a quantity: a KPI column, a numeric "
                             "action column or 'contacts'", value)
        return value

    def where(self, t: dict[str, Any], key: str, ctx: str) -> Where:
        raw = t.get(key, {})
        if not isinstance(raw, dict):
            raise self.error(f"{ctx}.{key}", "must be a table like { channel = [\"sms\"] }", raw)
        conditions = []
        items = list(raw.items())
        for side in ("customer", "action"):
            # TOML reads the dotted key `customer.region = [...]` as a nested table
            # { customer = { region = [...] } }: turn it back into "customer.region". A table
            # of only min/max stays a range on a column named `customer`/`action`.
            spec = raw.get(side)
            if isinstance(spec, dict) and spec and not set(spec) <= {"min", "max"}:
                at = next(i for i, (k, _) in enumerate(items) if k == side)
                items[at:at + 1] = [(f"{side}.{k}", v) for k, v in spec.items()]
        for col, spec in items:
            path = f"{ctx}.{key}.{col}"
            if isinstance(spec, bool):
                conditions.append(Condition(col, flag=spec))
            elif isinstance(spec, str | int | float):
                conditions.append(Condition(col, values=(spec,)))
            elif isinstance(spec, list):
                if not spec or not all(isinstance(v, str | int | float) and not isinstance(
                        v, bool) for v in spec):
                    raise self.error(path, "a list must hold one or more strings or numbers",
                                     spec)
                conditions.append(Condition(col, values=tuple(spec)))
            elif isinstance(spec, dict):
                _check_keys(spec, {"min", "max"}, self.source, f"{path}.")
                if not spec:
                    raise self.error(path, "a range needs 'min', 'max' or both")
                low = self.number(spec, "min", path, default=-math.inf) if "min" in spec \
                    else None
                high = self.number(spec, "max", path, default=math.inf) if "max" in spec \
                    else None
                if low is not None and high is not None and low > high:
                    raise self.error(path, "min is above max", (low, high))
                conditions.append(Condition(col, low=low, high=high))
            else:
                raise self.error(path, "must be a list, a { min, max } range or a bool", spec)
        return Where(tuple(conditions))

    def objective(self, t: dict[str, Any], i: int) -> Objective:
        name, ctx = self.name(t, "objective", i)
        weights = t.get("maximize")
        if not isinstance(weights, dict) or not weights:
            raise self.error(f"{ctx}.maximize", "an objective needs at least one weighted "
                             "quantity, e.g. maximize = { margin = 1.0 }", weights)
        pairs = tuple((q, self.number(weights, q, f"{ctx}.maximize")) for q in weights)
        if all(w == 0 for _, w in pairs):
            raise self.error(f"{ctx}.maximize", "every weight is zero: the objective is empty")
        tolerance = self.number(t, "tolerance", ctx, default=0.0, low=0.0)
        return Objective(name, pairs, tolerance)

    def cap(self, t: dict[str, Any], i: int) -> Cap:
        name, ctx = self.name(t, "cap", i)
        return Cap(name, self.where(t, "where", ctx), self.integer(t, "max", ctx, low=0),
                   self.integer(t, "window_days", ctx, default=1, low=1))

    def limit(self, t: dict[str, Any], i: int) -> Limit:
        name, ctx = self.name(t, "limit", i)
        return Limit(name, self.where(t, "where", ctx), self.quantity(t, "sum", ctx),
                     self.number(t, "max", ctx, low=0.0), self.per(t, ctx))

    def floor(self, t: dict[str, Any], i: int) -> Floor:
        name, ctx = self.name(t, "floor", i)
        where = self.where(t, "where", ctx)
        if "min_share" in t:
            if "sum" in t or "min" in t:
                raise self.error(ctx, "a floor has either min_share or sum and min, not both")
            if "per" in t:
                raise self.error(f"{ctx}.per", "a min_share floor always spans the horizon")
            share = self.number(t, "min_share", ctx, low=0.0, high=1.0)
            return Floor(name, where, min_share=share)
        if "sum" not in t or "min" not in t:
            raise self.error(ctx, "a floor needs min_share, or both sum and min")
        return Floor(name, where, quantity=self.quantity(t, "sum", ctx),
                     min=self.number(t, "min", ctx), per=self.per(t, ctx))

    def conflict(self, t: dict[str, Any], i: int) -> Conflict:
        name, ctx = self.name(t, "conflict", i)
        if "first" not in t or "then" not in t:
            raise self.error(ctx, "a conflict needs both 'first' and 'then'")
        return Conflict(name, self.where(t, "first", ctx), self.where(t, "then", ctx),
                        self.integer(t, "within_days", ctx, low=0))

    def rule(self, t: dict[str, Any], i: int) -> Rule:
        name, ctx = self.name(t, "rule", i)
        if "deny" not in t:
            raise self.error(ctx, "a rule needs 'deny'")
        unless = t.get("unless")
        if unless is not None and not isinstance(unless, str):
            raise self.error(f"{ctx}.unless", "must name a bool customer column", unless)
        return Rule(name, self.where(t, "deny", ctx), unless)

    def review(self, t: dict[str, Any], i: int) -> Review:
        name, ctx = self.name(t, "review", i)
        return Review(name, self.where(t, "where", ctx))
