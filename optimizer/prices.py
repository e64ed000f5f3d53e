"""Shadow prices for people: each global constraint's and each level bound's price, per
objective level, with a one-sentence reading.

Convention (both solvers): price = d(objective)/d(bound), in the units of the objective
level that was being solved per unit of the constraint's quantity (per customer for a
coverage floor). A binding limit (`max`) has a price >= 0, a binding floor (`min`,
`min_share`) one <= 0, a constraint that does not bind 0. Level k's solve holds the bounds
of levels < k where they were, so its prices are partial derivatives with those held.

Totals are only stated where the relaxation proves them. The relaxation's value R(b) (the
LP relaxation for the exact solver, the Lagrangian dual for the decomposition) is concave
in a bound b, and the prices p taken at b bound it everywhere: R(b') <= R(b) + p (b' - b).
For a floor with minimum m >= 0 over a non-negative quantity, a minimum of 0 is no floor
at all, so the best plan without it is worth at most R(0) <= R(m) + |p| m; this plan is
worth P, hence the floor costs at most |p| m + (R(m) - P). With a quantity that can be
negative, the same bound holds for lowering the floor to 0, not for dropping it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optimizer.result import LevelBound, LevelPrices

TIGHT = 1e-6  # relative: a constraint's value this close to its bound meets it exactly


def num(x: float) -> str:
    """A number for a sentence: 3 significant digits, thousands separated."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def price_or_none(value: float | None) -> float | None:
    """A price as written: 9 decimals, no negative zero; None stays None."""
    return None if value is None else round(float(value), 9) + 0.0


def prices_of(name: str, prices: Sequence[LevelPrices],
              first: int = 0) -> dict[str, float | None]:
    """{level: price of row `name`} over the solves from level `first` on (None: that solve
    gave no prices)."""
    return {lp.level: price_or_none(lp.duals.get(name)) if lp.duals else None
            for lp in prices[first:]}


def constraint_fields(*, name: str, sense: str, value: float, limit: float, coverage: bool,
                      nonnegative: bool, prices: Sequence[LevelPrices]) -> dict[str, Any]:
    """`shadow_prices` ({level: price}) and `reading` of one global constraint; for a
    binding floor, the level-1 total it can be proven to cost: `cost_at_most` (dropping it;
    a non-negative quantity), else `lowered_to_zero_gains_at_most`."""
    by_level = prices_of(name, prices)
    out: dict[str, Any] = {"shadow_prices": by_level}
    if not prices:
        out["reading"] = f"'{name}' has no price: no level was solved"
        return out
    first = prices[0]
    price = by_level[first.level]
    sentence = _first_level_sentence(name, sense, value, limit, coverage, first.level, price)
    total = _floor_total(sense, limit, nonnegative, price, first)
    if total is not None:
        cost, gap = total
        out["cost_at_most" if nonnegative else "lowered_to_zero_gains_at_most"] = round(cost, 6)
        claim = (f"the floor costs at most {num(cost)} of '{first.level}' in total"
                 if nonnegative else
                 f"lowering it to 0 gains at most {num(cost)} of '{first.level}'")
        sentence += (f"; {claim} ({_bound_words(first.source)}: {num(abs(price or 0.0))} × "
                     f"{num(limit)}, plus the plan's gap of {num(gap)} to it)")
    later = [f"{num(p)} in '{level}'" for level, p in list(by_level.items())[1:]
             if p is not None and p != 0.0]
    if later:
        sentence += f"; its price is {', '.join(later)}"
    out["reading"] = sentence
    return out


def _first_level_sentence(name: str, sense: str, value: float, limit: float,
                          coverage: bool, level: str, price: float | None) -> str:
    if price is None:
        return f"'{name}' has no price: the solver gave none for '{level}'"
    if price == 0.0:
        tight = abs(value - limit) <= TIGHT * max(1.0, abs(limit))
        if tight:
            return (f"'{name}' is met exactly but does not bind: moving it a little does "
                    f"not change '{level}' (price 0)")
        word = "max" if sense == "<=" else "min"
        return (f"'{name}' does not bind ({num(value)} against a {word} of {num(limit)}): "
                f"one unit more or less is worth nothing to '{level}'")
    if sense == "<=" and price > 0:
        return f"one more unit of '{name}' is worth {num(price)} of '{level}'"
    if sense == ">=" and price < 0:
        if coverage:
            return (f"covering one more customer for '{name}' costs {num(-price)} of "
                    f"'{level}'")
        return f"raising '{name}' by one costs {num(-price)} of '{level}'"
    # a sign the relaxation should not give (round-off at a degenerate point): say it plainly
    return f"one more unit of the bound of '{name}' changes '{level}' by {num(price)}"


def _floor_total(sense: str, limit: float, nonnegative: bool, price: float | None,
                 first: LevelPrices) -> tuple[float, float] | None:
    """(|p| m + (R(m) - P), R(m) - P) for a binding floor with m > 0, or None; see the
    module docstring."""
    if sense != ">=" or price is None or price >= 0 or limit <= 0 or first.dual_value is None:
        return None
    gap = max(first.dual_value - first.solved_value, 0.0)
    return -price * limit + gap, gap


def _bound_words(source: str) -> str:
    if source.startswith("LP"):
        return "a bound from the LP relaxation"
    if source.startswith("Lagrange"):
        return "a bound from the Lagrangian relaxation"
    return "a bound from the relaxation"


def level_bound_report(bounds: Sequence[LevelBound], prices: Sequence[LevelPrices],
                       values: dict[str, float]) -> list[dict[str, Any]]:
    """One entry per level bound: its price in the next level's solve (and in every later
    one), with a reading; `values` are the levels' values in the final plan."""
    out = []
    for k, bound in enumerate(bounds):
        by_level = prices_of(bound.name, prices, first=k + 1)
        if not by_level:
            continue
        nxt = prices[k + 1].level
        price = by_level[nxt]
        out.append({
            "name": bound.name, "level": bound.level, "priced_in": nxt,
            "value": values.get(bound.level), "limit": bound.rhs,
            "tolerance": bound.tolerance, "shadow_price": price, "shadow_prices": by_level,
            "reading": _bound_sentence(bound, nxt, price),
        })
    return out


def _bound_sentence(bound: LevelBound, nxt: str, price: float | None) -> str:
    kept = (f"the {bound.tolerance * 100:g}% tolerance lets '{bound.level}' fall to "
            f"{num(bound.rhs)}")
    if price is None:
        return f"the bound on '{bound.level}' has no price: the solver gave none for '{nxt}'"
    if price == 0.0:
        return (f"the bound on '{bound.level}' does not bind '{nxt}' ({kept}): giving up "
                f"more of '{bound.level}' buys nothing")
    if price < 0:
        return f"each unit of '{bound.level}' given up buys {num(-price)} of '{nxt}' ({kept})"
    return f"one more unit of the bound on '{bound.level}' changes '{nxt}' by {num(price)}"
