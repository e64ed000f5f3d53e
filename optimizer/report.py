"""report.html: what a marketer reads the morning after a run. Self-contained, no network."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import pyarrow as pa


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(summary: dict[str, Any], plan: pa.Table | None) -> str:
    """The HTML report of a run, from its summary and plan."""
    gap = summary.get("gap")
    status = summary["status"]
    parts = [
        "<h1>contactopt run report</h1>",
        f"<p class='status {html.escape(status)}'>Status: <b>{html.escape(status)}</b> · "
        f"solver {html.escape(str(summary.get('solver')))} · "
        f"proven gap {'unknown' if gap is None else f'{gap:.4%}'} · "
        f"{summary.get('seconds', 0):.1f} s · run date {summary.get('run_date')} · "
        f"horizon {summary.get('horizon_days')} day(s)</p>",
    ]
    counts = summary.get("counts", {})
    parts.append("<h2>Headline</h2>" + _table(
        ["customers", "actions", "eligible triples", "contacts planned", "for review"],
        [[counts.get("customers"), counts.get("actions"), counts.get("eligible"),
          counts.get("contacts"), counts.get("review")]]))
    parts.append("<h2>Objectives (in priority order)</h2>" + _table(
        ["level", "value in plan", "value when optimized", "proven bound", "gap", "status"],
        [[o["name"], o["value"], o["solved_value"], o["bound"],
          None if o["gap"] is None else f"{o['gap']:.4%}", o["termination"]]
         for o in summary.get("objectives", [])]))
    parts.append("<h2>Global constraints</h2><p>Shadow price: change of the first objective "
                 "per unit of the constraint's bound (LP relaxation).</p>" + _table(
        ["constraint", "kind", "value", "sense", "bound", "shadow price"],
        [[c["name"], c["kind"], c["value"], c["sense"], c["limit"], c["shadow_price"]]
         for c in summary.get("constraints", [])]))
    if plan is not None and plan.num_rows:
        frame = plan.select(["channel", "date"]).to_pandas()
        pivot = pd.crosstab(frame["channel"], frame["date"].astype(str))
        parts.append("<h2>Plan by channel and day</h2>" + _table(
            ["channel", *pivot.columns.tolist()],
            [[ch, *map(int, pivot.loc[ch].tolist())] for ch in pivot.index]))
    infeasible = summary.get("infeasibility") or []
    if infeasible:
        parts.append("<h2>Why no plan exists</h2><ul>" + "".join(
            f"<li>{html.escape(r)}</li>" for r in infeasible) + "</ul>")
    warnings = summary.get("warnings") or []
    if warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(
            f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
    findings = summary.get("findings") or []
    if findings:
        parts.append("<h2>Policy check</h2>" + _table(
            ["severity", "code", "finding", "suggestion"],
            [[f["severity"], f["code"], f["message"], f["suggestion"]] for f in findings]))
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
             "td:first-child{text-align:left}.optimal b{color:#106010}"
             ".infeasible b{color:#a01010}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>contactopt report"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
