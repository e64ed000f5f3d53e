"""report.html: what a marketer reads the morning after a run. Self-contained, no network."""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FRONTIER_DIR = "frontier"  # where a run directory keeps its efficient frontier


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


def png_img_tag(png: bytes, alt: str) -> str:
    """A PNG as a self-contained `<img>` (base64 data URL): the report needs no files."""
    data = base64.b64encode(png).decode("ascii")
    return (f"<img alt='{html.escape(alt, quote=True)}' style='max-width:100%' "
            f"src='data:image/png;base64,{data}'>")


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
        f" The star is the current policy's plan ({_fmt(x['name'])} {_fmt(current['x'])}, "
        f"{_fmt(y['name'])} {_fmt(current['y'])}).")
    text = (f"<p>Best {_fmt(x['name'])} ({sense[x['sense']]}) for each requirement "
            f"{_fmt(meta['eps'])} on {_fmt(y['name'])} ({sense[y['sense']]}), every hard "
            f"constraint kept; bound: {_fmt(meta['bound'])}.{mark}</p>")
    rows = [[p["point"], p["eps"], p["x"], p["y"], p["bound"],
             None if p["gap"] is None else f"{p['gap']:.4%}", p["status"]] for p in points]
    return ("<h2>Efficient frontier</h2>" + text
            + png_img_tag(files[2].read_bytes(), f"efficient frontier of {x['name']} vs "
                          f"{y['name']}")
            + _table(["point", "eps", f"x: {x['name']}", f"y: {y['name']}", "bound on x",
                      "gap", "status"], rows))


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


def _prices_section(summary: dict[str, Any]) -> str:
    """Global constraints and level bounds with their shadow prices per level, and what
    each price says in one sentence."""
    constraints = summary.get("constraints", [])
    bounds = summary.get("level_bounds") or []
    levels = [o["name"] for o in summary.get("objectives", [])]
    source = summary.get("price_source") or "the solver"
    text = (f"<h2>Global constraints</h2><p>Shadow price: change of the level's objective per "
            f"unit of the constraint's bound (per customer for a coverage floor), from "
            f"{html.escape(source)}; level k's price holds the earlier levels' bounds. "
            f"Positive for a binding max, negative for a binding min, 0 when it does not "
            f"bind.</p>")
    priced = [c for c in constraints if "shadow_prices" in c]
    heads = [f"price in '{lv}'" for lv in levels] if priced else ["shadow price"]
    rows = [[c["name"], c["kind"], c["value"], c["sense"], c["limit"],
             *([c["shadow_prices"].get(lv) for lv in levels] if priced
               else [c["shadow_price"]])] for c in constraints]
    text += _table(["constraint", "kind", "value", "sense", "bound", *heads], rows)
    if bounds:
        text += "<h3>Objective levels as bounds on the later ones</h3>" + _table(
            ["level bound", "value in plan", "at least", "tolerance", "priced in",
             "shadow price"],
            [[b["name"], b["value"], b["limit"], f"{b['tolerance'] * 100:g}%", b["priced_in"],
              b["shadow_price"]] for b in bounds])
    readings = [c["reading"] for c in [*constraints, *bounds] if c.get("reading")]
    if readings:
        text += "<h3>What the prices say</h3><ul>" + "".join(
            f"<li>{html.escape(r)}</li>" for r in readings) + "</ul>"
    return text


def _audit_section(summary: dict[str, Any]) -> str:
    """The `audit` figures of summary.json as a few small tables (aggregates only)."""
    audit = summary.get("audit")
    if not audit:
        return ""
    dist = audit.get("contacts_per_customer", {})
    text = "<h2>Audit</h2>" + _table(
        ["contacts per customer", "min", "p50", "p90", "max", "mean", "never contacted"],
        [[name.replace("_", " "), d["min"], d["p50"], d["p90"], d["max"], d["mean"],
          None if d["never_contacted_share"] is None else f"{d['never_contacted_share']:.1%}"]
         for name, d in dist.items()])
    conc = audit.get("concentration", {})

    def pct(v: Any) -> Any:
        return None if v is None else f"{v:.1%}"

    text += _table(
        ["Gini of contacts", "top decile (p_response): contacts",
         f"top decile: discount ({conc.get('discount_source')})", "note"],
        [[conc.get("gini_contacts"), pct(conc.get("top_decile_contact_share")),
          pct(conc.get("top_decile_discount_share")), conc.get("reason") or ""]])
    groups = [("segment", g) for g in audit.get("segments", [])]
    for col, rows in (audit.get("audit_only") or {}).items():
        groups += [(col, g) for g in rows]
    if groups:
        text += _table(
            ["attribute", "group", "customers", "contacted", "contacts", "disparity", "flag"],
            [[col, g["group"], g["customers"], pct(g["share_contacted"]), g["contacts"],
              g.get("disparity_ratio"), "below 0.8" if g.get("flag") else ""]
             for col, g in groups])
    fatigue = audit.get("fatigue", {})
    rows = [[c["name"], c["window_days"], c["max"], c["customers_at_cap"]]
            for c in fatigue.get("caps", [])]
    if rows:
        text += _table(["cap", "window days", "max", "customers at cap"], rows)
    rolling = fatigue.get("rolling_with_history", {})
    if rolling:
        text += _table(["rolling window (history included)", "max", "p90"],
                       [[name.replace("_", " "), r["max"], r["p90"]]
                        for name, r in rolling.items()])
    return text


def render_report(summary: dict[str, Any], plan: pa.Table | None,
                  sections: Sequence[str] = ()) -> str:
    """The HTML report of a run, from its summary and plan; `sections` are extra HTML
    blocks (the efficient frontier) placed before the warnings."""
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
    parts.append(_prices_section(summary))
    parts.append(_audit_section(summary))
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
    parts.extend(sections)
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
