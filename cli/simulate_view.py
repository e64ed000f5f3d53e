"""The simulation's comparison table (stdout): totals per policy at days 30, 60, 90, ..."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from optimizer.simulate import Simulation, summary_rows


def print_simulation(sim: Simulation) -> None:
    """One row per (checkpoint day, policy), cumulative since day 1."""
    table = Table(title="Simulation (toy world): totals since day 1")
    for name in ("day", "policy", "revenue", "margin", "contacts", "churned", "active",
                 "low-potential coverage (30 d)"):
        table.add_column(name, justify="left" if name == "policy" else "right")
    for policy, day, f in summary_rows(sim):
        table.add_row(str(day), policy, f"{f['revenue']:,.0f}", f"{f['margin']:,.0f}",
                      f"{f['contacts']:,}", f"{f['churned']:,}", f"{f['active']:,}",
                      f"{f['low_coverage_30d']:.1%}")
    console = Console(width=120)
    console.print(table)
    for name, data in sim.summary()["policies"].items():
        if data["nights_without_plan"]:
            console.print(f"[yellow]{escape(name)}[/]: {data['nights_without_plan']} night(s) "
                          "without a plan (nobody contacted); see the status column")
