"""The report's baseline section: what the guardrails cost in value and what they protect,
from summary.json's `baseline` (see optimizer/baseline.py), in words, tables and charts."""

from __future__ import annotations

import html
from typing import Any

from optimizer import charts
from optimizer.html_parts import chart, fmt, pct, table

TITLE = "Sales-only baseline: what the guardrails cost and protect"


def _names(names: list[str]) -> str:
    return ", ".join(f"'{html.escape(n)}'" for n in names)


def _cell(unit: str, value: float | None) -> str | float | None:
    if value is None:
        return None
    if unit == "share":
        return pct(value)
    if unit == "ratio":
        return f"{value:.3f}"
    return value


def _difference(unit: str, value: float | None) -> str | None:
    if value is None:
        return None
    if unit == "share":
        return f"{value * 100:+.1f} pts"
    if unit == "ratio":
        return f"{value:+.3f}"
    return f"{value:+,.4g}" if abs(value) < 1e4 else f"{value:+,.0f}"


def _cost_sentence(b: dict[str, Any]) -> str:
    g = b["value_given_up"]
    name = html.escape(g["objective"])
    share = "" if g["share"] is None else (
        f" ({pct(g['share'])} of the baseline's {fmt(g['baseline'])})")
    text = (f"<p class='lead'>The guardrails cost <b>{fmt(g['absolute'])} of '{name}'</b>"
            f"{share}: the plan reaches {fmt(g['plan'])}, the baseline {fmt(g['baseline'])}.")
    if b["removed"]["objective_levels"]:
        text += (f" Of that, {fmt(g['by_floors'])} is the floors' doing and "
                 f"{fmt(g['by_later_levels'])} the tolerance the later levels take.")
    if g["at_most"] is not None:
        text += (f" The baseline's proven bound caps the cost at {fmt(g['at_most'])}.")
    return text + "</p>"


def _protects(b: dict[str, Any]) -> str:
    items = []
    for f in b["floors"]:
        name = html.escape(f["name"])
        broken = "" if f["met_by_baseline"] else " <b>— the baseline breaks it</b>"
        if f["kind"] == "coverage":
            size = f.get("group_size") or 0
            items.append(f"<li>'{name}': {fmt(f['plan'])} of {fmt(size)} customers covered "
                         f"(at least {fmt(f['limit'])} needed); without guardrails "
                         f"{fmt(f['baseline'])}{broken}.</li>")
        else:
            items.append(f"<li>'{name}': {fmt(f['plan'])} (at least {fmt(f['limit'])} "
                         f"needed); without guardrails {fmt(f['baseline'])}{broken}.</li>")
    rows = {r["metric"]: r for r in b["comparison"]}
    never = rows.get("never contacted")
    if never and never["plan"] is not None and never["baseline"] is not None:
        items.append(f"<li>Customers never contacted: {pct(never['plan'])} in the plan, "
                     f"{pct(never['baseline'])} without guardrails.</li>")
    gini = rows.get("Gini of contacts per customer")
    if gini and gini["plan"] is not None and gini["baseline"] is not None:
        items.append(f"<li>Concentration of contacts (Gini, 0 = everyone alike): "
                     f"{gini['plan']:.3f} in the plan, {gini['baseline']:.3f} without "
                     f"guardrails.</li>")
    return "<p>What they protect:</p><ul>" + "".join(items) + "</ul>" if items else ""


def _charts(b: dict[str, Any]) -> str:
    objectives = b["objectives"]
    plan_values = {r["metric"]: r["plan"] for r in b["comparison"] if r["group"] == "value"}
    names = [o["name"] for o in objectives]
    plan = [plan_values[f"objective '{n}'"] for n in names]
    base = [o["value"] for o in objectives]
    out = chart(lambda: charts.objective_pairs(names, plan, base, objectives[0]["bound"]),
                "objective values of the plan and of the sales-only baseline",
                "chart-baseline-objectives")
    shares = [r for r in b["comparison"] if r["unit"] in ("share", "ratio")
              and r["plan"] is not None and r["baseline"] is not None]
    if shares:
        labels = [r["metric"] + (" (×100)" if r["unit"] == "ratio" else "") for r in shares]
        out += chart(lambda: charts.plan_vs_baseline(
            labels, [100 * r["plan"] for r in shares], [100 * r["baseline"] for r in shares],
            "% (Gini × 100)", "Coverage and concentration: plan against baseline"),
            "coverage, never-contacted share and concentration of the plan and of the "
            "baseline", "chart-baseline-shares")
    hist = b.get("contacts_histogram")
    if hist:
        out += chart(lambda: charts.contacts_histogram(hist["plan"], hist["baseline"]),
                     "customers by number of contacts, plan and baseline",
                     "chart-baseline-histogram")
    return out


def baseline_section(summary: dict[str, Any]) -> str:
    """The section; a one-line explanation when the run has no baseline."""
    b = summary.get("baseline")
    head = f"<section id='baseline'><h2>{TITLE}</h2>"
    if not b:
        return ""
    if not b.get("computed"):
        return (head + f"<p>No sales-only baseline in this run: {html.escape(b['reason'])}."
                "</p></section>")
    removed = b["removed"]
    dropped = []
    if removed["floors"]:
        dropped.append(f"without the floors {_names(removed['floors'])}")
    if removed["objective_levels"]:
        dropped.append(f"without the later objective levels "
                       f"{_names(removed['objective_levels'])}")
    gap = "unknown" if b["gap"] is None else pct(b["gap"], 2)
    text = (f"<p>The sales-only baseline is this scenario solved for "
            f"'{html.escape(b['objectives'][0]['name'])}' alone, {' and '.join(dropped)}. "
            f"It keeps {html.escape(b['kept'])}, so it shows what the fairness guardrails "
            f"change, nothing else. Solved by {html.escape(b['solver'])}: "
            f"{html.escape(b['status'])}, gap {gap}, {b['seconds']:.1f} s of a "
            f"{b['time_limit']:g} s budget; plan source: {html.escape(b['source'])}.</p>")
    rows = [[r["group"], r["metric"], _cell(r["unit"], r["plan"]),
             _cell(r["unit"], r["baseline"]), _difference(r["unit"], r["difference"])]
            for r in b["comparison"]]
    return (head + text + _cost_sentence(b) + _protects(b) + _charts(b)
            + "<h3>Side by side</h3>"
            + table(["", "figure", "plan (with guardrails)", "sales-only baseline",
                     "plan − baseline"], rows, "compare")
            + "</section>")
