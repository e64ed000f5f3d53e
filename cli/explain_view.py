"""The explanation of one customer as a rich table plus one detail line per reason
(stdout)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from optimizer.explain import Explanation, Option

PIPE_WIDTH = 160
STYLE = {"chosen": "bold green", "blocked": "yellow", "removed": "red", "not chosen": "dim"}


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.4g}"


def _short(option: Option) -> str:
    """The reasons by name only; the details follow the table."""
    names = [f"{r.kind} '{r.name}'" for r in option.reasons]
    if option.status == "not chosen" and option.reduced_value is not None:
        names.append("reduced value <= 0" if option.reduced_value <= 1e-9 else
                     "reduced value > 0")
    return escape("; ".join(names))


def _details(number: int, option: Option) -> list[str]:
    head = f"#{number} {option.action_id} on {option.date}"
    lines = [f"{head}: {r.detail}" for r in option.reasons]
    if option.status == "not chosen" and option.reduced_value is not None:
        lines.append(f"{head}: fits the plan, but its reduced value (first level's value "
                     "minus its prices) is not positive" if
                     option.reduced_value <= 1e-9 else
                     f"{head}: fits the plan and is worth its LP prices, yet the integer plan "
                     "or a later objective level left it out")
    paid = [f"{p.constraint} {p.coefficient:,.4g} × {_num(p.shadow_price)} = {p.paid:,.4g}"
            for p in option.prices if p.paid]
    if paid:
        lines.append(f"{head}: prices " + "; ".join(paid))
    return lines


def print_explanation(e: Explanation, console: Console | None = None) -> None:
    """Every option of the customer, the reasons in full, then what was never eligible,
    the coverage floors and the history."""
    out = console or Console(highlight=False)
    if console is None and not out.is_terminal:  # piped to a file: no screen to fit
        out = Console(highlight=False, width=max(out.width, PIPE_WIDTH))
    table = Table(title=f"customer {escape(str(e.customer_id))} (segment "
                  f"{escape(e.segment)}), run {e.run_date}")
    table.add_column("#", justify="right")
    for col in ("action", "channel", "date"):
        table.add_column(col, no_wrap=True)
    for level in e.levels:
        table.add_column(escape(level), justify="right")
    table.add_column("prices paid", justify="right")
    table.add_column("reduced value", justify="right")
    table.add_column("status", no_wrap=True)
    table.add_column("reasons")
    details: list[str] = []
    for k, o in enumerate(e.options, start=1):
        paid = sum(p.paid for p in o.prices) if o.prices else None
        table.add_row(str(k), escape(o.action_id), escape(o.channel), o.date,
                      *(_num(o.values[name]) for name in e.levels), _num(paid),
                      _num(o.reduced_value), f"[{STYLE[o.status]}]{o.status}[/]", _short(o))
        details += _details(k, o)
    out.print(table)
    out.print("reduced value = first level's value − Σ shadow price × coefficient over the "
              "global constraints the contact touches (the run's LP prices)")
    for line in details:
        out.print(f"  {escape(line)}")
    if e.never_eligible:
        out.print("never eligible (no score row): " + ", ".join(
            f"{escape(a)} ({escape(c)})" for a, c in e.never_eligible))
    for note in e.coverage:
        out.print(f"coverage floor '{escape(note['floor'])}': the customer is in its group and "
                  f"{'covered' if note['covered'] else 'not covered'}; covering a customer is "
                  f"worth {_num(note['worth_of_covering'])} at the LP prices (per customer, "
                  "not per contact)")
    if e.history:
        out.print("history: " + ", ".join(escape(c.text()) for c in e.history))
