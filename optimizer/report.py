"""report.html: what a marketer reads the morning after a run. Self-contained: charts are
embedded SVGs (optimizer/charts.py), styles inline, no script, font or address outside the
page."""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optimizer import charts
from optimizer.html_parts import chart, fmt, pct, png_img_tag, table
from optimizer.report_baseline import baseline_section

__all__ = ["FRONTIER_DIR", "frontier_section", "png_img_tag", "refresh_report",
           "render_report"]

FRONTIER_DIR = "frontier"  # where a run directory keeps its efficient frontier


def frontier_section(run_dir: Path) -> str | None:
    """The efficient frontier written into `run_dir/frontier`, as an HTML section, or None
    when there is none."""
    folder = Path(run_dir) / FRONTIER_DIR
    files = [folder / n for n in ("frontier.json", "frontier.parquet", "frontier.png")]
    if not all(f.is_file() for f in files):
        return None
    meta = json.loads(files[0].read_text(encoding="utf-8"))
    points = pq.read_table(files[1]).to_pylist()
    x, y = meta["x"], meta["y"]
    sense = {"max": "maximized", "min": "minimized"}
    current = meta.get("current")
    mark = "" if current is None else (
        f" The star is the current policy's plan ({fmt(x['name'])} {fmt(current['x'])}, "
        f"{fmt(y['name'])} {fmt(current['y'])}).")
    text = (f"<p>Best {fmt(x['name'])} ({sense[x['sense']]}) for each requirement "
            f"{fmt(meta['eps'])} on {fmt(y['name'])} ({sense[y['sense']]}), every hard "
            f"constraint kept; bound: {fmt(meta['bound'])}.{mark}</p>")
    rows = [[p["point"], p["eps"], p["x"], p["y"], p["bound"],
             None if p["gap"] is None else f"{p['gap']:.4%}", p["status"]] for p in points]
    return ("<section id='frontier'><h2>Efficient frontier</h2>" + text
            + png_img_tag(files[2].read_bytes(), f"efficient frontier of {x['name']} vs "
                          f"{y['name']}", "chart-frontier")
            + table(["point", "eps", f"x: {x['name']}", f"y: {y['name']}", "bound on x",
                      "gap", "status"], rows) + "</section>")


def refresh_report(run_dir: Path) -> None:
    """Re-render a run's report.html from its files (say, once a frontier was added); the
    new page replaces the old one in a single rename."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    plan = pq.read_table(run_dir / "plan.parquet")
    section = frontier_section(run_dir)
    page = render_report(summary, plan, () if section is None else (section,))
    handle, tmp = tempfile.mkstemp(prefix=".report.html.tmp-", dir=run_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, run_dir / "report.html")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _usage_chart(constraints: list[dict[str, Any]]) -> str:
    """Each constraint's value as a % of its bound (bounds <= 0 have no such %); at most
    `charts.MAX_BARS`, the fullest first, with a note on the rest."""
    usable = [c for c in constraints if c.get("value") is not None and c.get("limit")
              and c["limit"] > 0]
    if not usable:
        return ""
    shown = sorted(usable, key=lambda c: -c["value"] / c["limit"])[: charts.MAX_BARS]
    shown.sort(key=lambda c: usable.index(c))
    note = "" if len(shown) == len(usable) else (
        f"<p class='note'>The chart shows the {len(shown)} fullest of {len(usable)} "
        "constraints; the table has them all.</p>")
    return chart(lambda: charts.constraint_usage(
        [c["name"] for c in shown], [100 * c["value"] / c["limit"] for c in shown],
        [c["sense"] == ">=" for c in shown]),
        "constraint usage: each limit and floor as a percentage of its bound",
        "chart-constraints") + note


def _prices_section(summary: dict[str, Any]) -> str:
    """Global constraints and level bounds: how much of each the plan uses, their shadow
    prices per level, and what each price says in one sentence."""
    constraints = summary.get("constraints", [])
    bounds = summary.get("level_bounds") or []
    levels = [o["name"] for o in summary.get("objectives", [])]
    source = summary.get("price_source") or "the solver"
    text = ("<section id='constraints'><h2>Constraint usage and shadow prices</h2><p>Limits "
            "(at most) and floors (at least) over the whole plan, how much of each the plan "
            "uses, and what one unit more of each would be worth. Shadow price: change of the "
            "level's objective per unit of the constraint's bound (per customer for a "
            f"coverage floor), from {html.escape(source)}; level k's price holds the earlier "
            "levels' bounds. Positive for a binding max, negative for a binding min, 0 when it "
            "does not bind.</p>")
    text += _usage_chart(constraints)
    priced = [c for c in constraints if "shadow_prices" in c]
    heads = [f"price in '{lv}'" for lv in levels] if priced else ["shadow price"]
    rows = [[c["name"], c["kind"], c["value"], c["sense"], c["limit"],
             pct(c["value"] / c["limit"]) if c.get("value") is not None and c.get("limit")
             else None,
             *([c["shadow_prices"].get(lv) for lv in levels] if priced
               else [c["shadow_price"]])] for c in constraints]
    text += table(["constraint", "kind", "value", "sense", "bound", "used", *heads], rows)
    if bounds:
        text += "<h3>Objective levels as bounds on the later ones</h3>" + table(
            ["level bound", "value in plan", "at least", "tolerance", "priced in",
             "shadow price"],
            [[b["name"], b["value"], b["limit"], f"{b['tolerance'] * 100:g}%", b["priced_in"],
              b["shadow_price"]] for b in bounds])
    readings = [c["reading"] for c in [*constraints, *bounds] if c.get("reading")]
    if readings:
        text += "<h3>What the prices say</h3><ul>" + "".join(
            f"<li>{html.escape(r)}</li>" for r in readings) + "</ul>"
    return text + "</section>"


def contacts_histogram(plan: pa.Table | None, customers: int) -> list[int]:
    """Customers with 0, 1, 2, ... contacts, from the plan (customers absent from it have
    none)."""
    if plan is None or not plan.num_rows:
        return [customers] if customers else []
    counts = pc.value_counts(plan.column("customer_id")).field("counts").to_numpy()
    hist = np.bincount(counts.astype(np.int64))
    hist[0] = max(customers - len(counts), 0)
    return hist.tolist()


def _audit_section(summary: dict[str, Any], plan: pa.Table | None) -> str:
    """The `audit` figures of summary.json as a few small tables (aggregates only) and the
    contacts-per-customer histogram."""
    audit = summary.get("audit")
    if not audit:
        return ""
    dist = audit.get("contacts_per_customer", {})
    text = ("<section id='audit'><h2>Audit</h2><p>Who the plan contacts and how often, in "
            "aggregates: no customer is named.</p>")
    hist = contacts_histogram(plan, int(summary.get("counts", {}).get("customers") or 0))
    if hist:
        text += chart(lambda: charts.contacts_histogram(hist),
                      "histogram of the number of contacts per customer over the horizon",
                      "chart-contacts-histogram")
    text += table(
        ["contacts per customer", "min", "p50", "p90", "max", "mean", "never contacted"],
        [[name.replace("_", " "), d["min"], d["p50"], d["p90"], d["max"], d["mean"],
          pct(d["never_contacted_share"])]
         for name, d in dist.items()])
    conc = audit.get("concentration", {})
    text += table(
        ["Gini of contacts", "top decile (p_response): contacts",
         f"top decile: discount ({conc.get('discount_source')})", "note"],
        [[conc.get("gini_contacts"), pct(conc.get("top_decile_contact_share")),
          pct(conc.get("top_decile_discount_share")), conc.get("reason") or ""]])
    groups = [("segment", g) for g in audit.get("segments", [])]
    for col, rows in (audit.get("audit_only") or {}).items():
        groups += [(col, g) for g in rows]
    if groups:
        text += table(
            ["attribute", "group", "customers", "contacted", "contacts", "disparity", "flag"],
            [[col, g["group"], g["customers"], pct(g["share_contacted"]), g["contacts"],
              g.get("disparity_ratio"), "below 0.8" if g.get("flag") else ""]
             for col, g in groups])
    fatigue = audit.get("fatigue", {})
    rows = [[c["name"], c["window_days"], c["max"], c["customers_at_cap"]]
            for c in fatigue.get("caps", [])]
    if rows:
        text += table(["cap", "window days", "max", "customers at cap"], rows)
    rolling = fatigue.get("rolling_with_history", {})
    if rolling:
        text += table(["rolling window (history included)", "max", "p90"],
                      [[name.replace("_", " "), r["max"], r["p90"]]
                       for name, r in rolling.items()])
    return text + "</section>"


def _plan_section(plan: pa.Table | None) -> str:
    """Contacts per channel and day: a stacked bar chart and the table with totals."""
    if plan is None or not plan.num_rows:
        return ("<section id='plan'><h2>Plan by channel and day</h2><p>The plan has no "
                "contact.</p></section>")
    frame = plan.select(["channel", "date"]).to_pandas()
    pivot = pd.crosstab(frame["channel"], frame["date"].astype(str))
    days, channels = pivot.columns.tolist(), pivot.index.tolist()
    counts = pivot.to_numpy(dtype=np.int64)
    rows = [[ch, *map(int, counts[k]), int(counts[k].sum())] for k, ch in enumerate(channels)]
    rows.append(["total", *map(int, counts.sum(axis=0)), int(counts.sum())])
    return ("<section id='plan'><h2>Plan by channel and day</h2>"
            + chart(lambda: charts.plan_by_day(days, channels, counts),
                    "planned contacts per day, stacked by channel", "chart-plan")
            + table(["channel", *days, "total"], rows, "plan") + "</section>")


def _cards(summary: dict[str, Any]) -> str:
    """The headline figures a marketer reads first."""
    counts = summary.get("counts", {})
    customers = counts.get("customers") or 0
    audit = summary.get("audit") or {}
    never = ((audit.get("contacts_per_customer") or {}).get("horizon") or {}).get(
        "never_contacted_share")
    reached = None if never is None else round(customers * (1 - never))
    cards = [("status", summary["status"]), ("contacts planned", fmt(counts.get("contacts"))),
             ("customers reached", "–" if reached is None else
              f"{reached:,} ({pct(reached / customers if customers else None) or '–'})")]
    objectives = summary.get("objectives") or []
    if objectives:
        first = objectives[0]
        gap = "" if first["gap"] is None else f" (gap {first['gap']:.2%})"
        cards.append((f"'{first['name']}' (level 1)", fmt(first["value"]) + gap))
    base = summary.get("baseline") or {}
    if base.get("computed") and base["value_given_up"]["share"] is not None:
        cards.append(("guardrails cost", f"{pct(base['value_given_up']['share'])} of "
                      f"'{base['value_given_up']['objective']}'"))
    cards.append(("need review", fmt(counts.get("review"))))
    findings = summary.get("findings") or []
    flagged = sum(f["severity"] in ("error", "warning") for f in findings)
    cards.append(("check warnings", f"{flagged:,}"))
    return "<div class='cards'>" + "".join(
        f"<div class='card'><div class='k'>{html.escape(k)}</div><div class='v'>"
        f"{html.escape(v) if k == 'status' else v}</div></div>" for k, v in cards) + "</div>"


def render_report(summary: dict[str, Any], plan: pa.Table | None,
                  sections: Sequence[str] = ()) -> str:
    """The HTML report of a run, from its summary and plan; `sections` are extra HTML
    blocks (the efficient frontier) placed before the warnings."""
    gap = summary.get("gap")
    status = summary["status"]
    counts = summary.get("counts", {})
    parts = [
        "<h1>contactopt run report</h1>",
        f"<p class='status {html.escape(status)}'>Status: <b>{html.escape(status)}</b> · "
        f"solver {html.escape(str(summary.get('solver')))} · "
        f"proven gap {'unknown' if gap is None else f'{gap:.4%}'} · "
        f"{summary.get('seconds', 0):.1f} s · run date {summary.get('run_date')} · "
        f"horizon {summary.get('horizon_days')} day(s)</p>",
        "<section id='headline'><h2>Headline</h2>" + _cards(summary) + table(
            ["customers", "actions", "eligible triples", "contacts planned", "for review"],
            [[counts.get("customers"), counts.get("actions"), counts.get("eligible"),
              counts.get("contacts"), counts.get("review")]]) + "</section>",
        "<section id='objectives'><h2>Objectives (in priority order)</h2><p>Each level is "
        "maximized in turn; the proven bound is the best any plan could reach at that level "
        "(given the earlier ones), the gap how far the plan may be from it.</p>" + table(
            ["level", "value in plan", "value when optimized", "proven bound", "gap",
             "status"],
            [[o["name"], o["value"], o["solved_value"], o["bound"],
              None if o["gap"] is None else f"{o['gap']:.4%}", o["termination"]]
             for o in summary.get("objectives", [])]) + "</section>",
        _plan_section(plan),
        _prices_section(summary),
        _audit_section(summary, plan),
        baseline_section(summary),
    ]
    infeasible = summary.get("infeasibility") or []
    if infeasible:
        parts.append("<h2>Why no plan exists</h2><ul>" + "".join(
            f"<li>{html.escape(r)}</li>" for r in infeasible) + "</ul>")
    parts.extend(sections)
    warnings = summary.get("warnings") or []
    if warnings:
        parts.append("<section id='warnings'><h2>Warnings</h2><ul>" + "".join(
            f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul></section>")
    findings = summary.get("findings") or []
    if findings:
        parts.append("<section id='check'><h2>Policy check</h2><p>What <code>contactopt "
                     "check</code> found in the policy against the data before the solve."
                     "</p>" + table(
                         ["severity", "code", "finding", "suggestion"],
                         [[f["severity"], f["code"], f["message"], f["suggestion"]]
                          for f in findings], "findings") + "</section>")
    body = "".join(parts)
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>contactopt report {html.escape(str(summary.get('run_date')))}</title>"
            f"<style>{STYLE}</style></head><body>{_nav(body)}{body}</body></html>\n")


NAV = (("headline", "Headline"), ("objectives", "Objectives"), ("plan", "Plan"),
       ("constraints", "Constraints"), ("audit", "Audit"), ("baseline", "Baseline"),
       ("frontier", "Frontier"), ("warnings", "Warnings"), ("check", "Policy check"))

STYLE = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;"
         "padding:0 1em;color:#222}"
         "nav{margin:.5em 0 1em}nav a{margin-right:1em}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
         "padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
         "td:first-child,th:first-child{text-align:left}.findings td{text-align:left}"
         ".compare td:nth-child(2),.compare th:nth-child(2){text-align:left}"
         ".optimal b{color:#106010}.infeasible b{color:#a01010}"
         ".cards{display:flex;flex-wrap:wrap;gap:.8em;margin:.5em 0}"
         ".card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:9em}"
         ".card .k{color:#555;font-size:.85em}.card .v{font-size:1.35em;font-weight:600}"
         "figure{margin:.8em 0}.note{color:#666;font-size:.9em}.lead{font-size:1.1em}"
         "section{margin-bottom:2em}")


def _nav(body: str) -> str:
    """Links to the sections the page has."""
    links = [f"<a href='#{key}'>{label}</a>" for key, label in NAV
             if f"<section id='{key}'>" in body]
    return "<nav>" + "".join(links) + "</nav>"
