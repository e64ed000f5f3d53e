"""The report's charts as SVG bytes, drawn here without a plotting library.

Why not matplotlib: rendering the report's PNGs took 0.6-1.3 s of every run (half the dual
phase on 10k customers), and importing it 0.9 s of importing optimizer.run. These
charts are bars, grid lines and text: plain SVG says that in a few kilobytes, stays sharp
at any zoom, and keeps the report self-contained. Each function takes plain numbers and
returns the document; report.py embeds it as a data URL. Text widths are estimated (a
fixed share of the font size per character), which is enough to size the margins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

from optimizer.html_parts import fmt

PLAN_COLOR, BASE_COLOR, LIMIT_COLOR = "#2b6cb0", "#c9a227", "#a01010"
FLOOR_COLOR, GRID_COLOR, INK = "#2f855a", "#d9d9d9", "#222222"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # the usual ten-colour categorical palette
MAX_BARS = 30  # more bars than this are unreadable: the caller says which were left out
FONT = "font-family='DejaVu Sans, Arial, Helvetica, sans-serif'"


@dataclass
class Series:
    """One set of bars: a legend label, a value per category and a colour (or one per
    category)."""

    label: str
    values: Sequence[float]
    color: str | Sequence[str]

    def color_of(self, k: int) -> str:
        return self.color if isinstance(self.color, str) else self.color[k]


@dataclass
class _Svg:
    """Elements appended in drawing order, serialized once."""

    width: float
    height: float
    parts: list[str] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(w, 0):.1f}' "
                          f"height='{max(h, 0):.1f}' fill='{fill}'/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str,
             width: float = 1.0, dash: bool = False) -> None:
        style = " stroke-dasharray='6 4'" if dash else ""
        self.parts.append(f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
                          f"stroke='{color}' stroke-width='{width}'{style}/>")

    def text(self, x: float, y: float, words: str, size: float = 11, anchor: str = "middle",
             rotate: float = 0.0, bold: bool = False) -> None:
        turn = f" transform='rotate({rotate:g} {x:.1f} {y:.1f})'" if rotate else ""
        weight = " font-weight='bold'" if bold else ""
        self.parts.append(f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size:g}' "
                          f"text-anchor='{anchor}' fill='{INK}'{weight}{turn}>"
                          f"{escape(words)}</text>")

    def bytes(self) -> bytes:
        w, h = math.ceil(self.width), math.ceil(self.height)
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
                f"viewBox='0 0 {w} {h}' {FONT}><rect width='100%' height='100%' "
                f"fill='white'/>{''.join(self.parts)}</svg>").encode()


def text_width(words: str, size: float = 11) -> float:
    """An estimate of a label's width in pixels (0.6 em per character)."""
    return 0.6 * size * len(words)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    values = [v for v in (low, high) if not math.isfinite(v)]
    if values:
        raise ValueError(f"a chart value is not finite: {values[0]}")
    # one value (to 1e-9, or a span too small for a tick step): a range around it
    if high - low <= max(1e-9 * max(abs(low), abs(high)), 1e-200):
        pad = max(0.1 * abs(low), 1.0)
        low, high = low - (pad if low < 0 else 0.0), high + pad
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [k * step for k in range(first, max(last, first + 1) + 1)]


def tick_label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.3g}"


def _extent(series: Sequence[Series], stacked: bool, extra: Sequence[float] = ()
            ) -> tuple[float, float]:
    """The value axis's range: 0, every bar's end (stacks summed) and `extra` lines."""
    arrays = [np.asarray(s.values, dtype=float) for s in series]
    ends = [np.sum(arrays, axis=0)] if stacked and arrays else arrays
    found = [0.0, *extra, *(float(v) for a in ends for v in a)]
    bad = [v for v in found if not math.isfinite(v)]
    if bad:
        raise ValueError(f"a chart value is not finite: {bad[0]}")
    return min(found), max(found)


def _legend(svg: _Svg, series: Sequence[Series], y: float, extra: Sequence[tuple[str, str]]
            = ()) -> None:
    """One centred row of colour keys (a dashed key for `extra` lines)."""
    keys = [(s.label, s.color_of(0), False) for s in series if s.label] + \
        [(label, color, True) for label, color in extra]
    widths = [22 + text_width(label, 10) + 14 for label, _, _ in keys]
    x = max(4.0, (svg.width - sum(widths)) / 2)
    for (label, color, dashed), w in zip(keys, widths, strict=True):
        if dashed:
            svg.line(x, y - 4, x + 16, y - 4, color, 1.5, dash=True)
        else:
            svg.rect(x, y - 10, 16, 10, color)
        svg.text(x + 22, y, label, 10, anchor="start")
        x += w


def vertical_bars(categories: Sequence[str], series: Sequence[Series], *, title: str,
                  ylabel: str = "", xlabel: str = "", stacked: bool = False,
                  width: float = 750, height: float = 360, value_labels: bool = False,
                  line: tuple[float, str] | None = None, legend: bool = False) -> _Svg:
    """Bars up from zero, one group (or stack) per category; with `legend`, a key per
    labelled series (and the `line`) below them."""
    n = len(categories)
    rotate = n > 10 and max((len(c) for c in categories), default=0) > 2
    bottom_room = 28 + (max((text_width(c, 10) for c in categories), default=0) * 0.8
                        if rotate else 0) + (18 if xlabel else 0) + (26 if legend else 0)
    low, high = _extent(series, stacked, () if line is None else (line[0],))
    room = 0.1 * (high - low) if value_labels else 0.0  # for the labels at the bars' ends
    ticks = nice_ticks(low - (room if low < 0 else 0.0), high + (room if high > 0 else 0.0))
    left = 18 + max(text_width(tick_label(t), 10) for t in ticks) + (18 if ylabel else 0)
    top = 34
    svg = _Svg(width, height + (bottom_room if rotate else 0))
    plot_w, plot_h = width - left - 16, svg.height - top - bottom_room
    lo, hi = ticks[0], ticks[-1]

    def y_of(v: float) -> float:
        return top + plot_h * (hi - v) / (hi - lo)

    for t in ticks:
        svg.line(left, y_of(t), left + plot_w, y_of(t), GRID_COLOR)
        svg.text(left - 6, y_of(t) + 4, tick_label(t), 10, anchor="end")
    slot = plot_w / max(n, 1)
    groups = 1 if stacked else max(len(series), 1)
    bar = slot * (0.7 if groups == 1 else 0.8) / groups
    for k, category in enumerate(categories):
        x0 = left + k * slot + (slot - bar * groups) / 2
        base = 0.0
        for g, s in enumerate(series):
            v = float(s.values[k])
            start = base if stacked else 0.0
            x = x0 if stacked else x0 + g * bar
            svg.rect(x, y_of(max(start, start + v)), bar, abs(y_of(start) - y_of(start + v)),
                     s.color_of(k))
            if value_labels:  # above a bar up, below a bar down
                svg.text(x + bar / 2, y_of(start + v) + (-4 if v >= 0 else 13), fmt(v), 10)
            base += v if stacked else 0.0
        cx = left + (k + 0.5) * slot
        if rotate:
            svg.text(cx, top + plot_h + 12, category, 10, anchor="end", rotate=-60)
        elif n <= 25 or k % math.ceil(n / 25) == 0:
            svg.text(cx, top + plot_h + 16, category, 10)
    svg.line(left, y_of(0.0), left + plot_w, y_of(0.0), INK)
    if line is not None:
        svg.line(left, y_of(line[0]), left + plot_w, y_of(line[0]), LIMIT_COLOR, 1.2, True)
    svg.text(width / 2, 20, title, 13, bold=True)
    if ylabel:
        svg.text(14, top + plot_h / 2, ylabel, 11, rotate=-90)
    label_y = svg.height - bottom_room + (bottom_room - (26 if legend else 0)) + 2
    if xlabel:
        svg.text(left + plot_w / 2, label_y - 6, xlabel, 11)
    if legend:
        _legend(svg, series, svg.height - 8, () if line is None else ((line[1], LIMIT_COLOR),))
    return svg


def horizontal_bars(labels: Sequence[str], series: Sequence[Series], *, title: str,
                    xlabel: str = "", width: float = 750, line: float | None = None,
                    value_text: Sequence[str] | None = None, legend: bool = False) -> _Svg:
    """Bars right from zero, one group per label, the first label on top; with `legend`,
    a key per labelled series above them."""
    n, groups = len(labels), max(len(series), 1)
    row = 22.0 if groups == 1 else 36.0
    top = 34 + (22 if legend else 0)
    left = 12 + max((text_width(label, 10) for label in labels), default=0)
    low, high = _extent(series, False, () if line is None else (line,))
    ticks = nice_ticks(low, high * (1.08 if value_text else 1.0))
    plot_w = width - left - 20
    svg = _Svg(width, top + row * n + 44)
    lo, hi = ticks[0], ticks[-1]

    def x_of(v: float) -> float:
        return left + plot_w * (v - lo) / (hi - lo)

    bottom = top + row * n
    for t in ticks:
        svg.line(x_of(t), top, x_of(t), bottom, GRID_COLOR)
        svg.text(x_of(t), bottom + 14, tick_label(t), 10)
    bar = row * 0.7 / groups
    for k, label in enumerate(labels):
        y0 = top + k * row + (row - bar * groups) / 2
        for g, s in enumerate(series):
            v = float(s.values[k])
            svg.rect(min(x_of(0), x_of(v)), y0 + g * bar, abs(x_of(v) - x_of(0)), bar,
                     s.color_of(k))
            if value_text is not None and g == 0:
                svg.text(x_of(max(v, 0)) + 4, y0 + bar * 0.75, value_text[k], 9,
                         anchor="start")
        svg.text(left - 6, top + (k + 0.5) * row + 4, label, 10, anchor="end")
    svg.line(x_of(0), top, x_of(0), bottom, INK)
    if line is not None:
        svg.line(x_of(line), top - 4, x_of(line), bottom, LIMIT_COLOR, 1.5, dash=True)
    svg.text(width / 2, 20, title, 13, bold=True)
    if xlabel:
        svg.text(left + plot_w / 2, bottom + 34, xlabel, 11)
    if legend:
        _legend(svg, series, 48)
    return svg


def plan_by_day(days: Sequence[str], channels: Sequence[str],
                counts: np.ndarray) -> bytes:
    """Contacts per day, stacked by channel (`counts` is channels × days)."""
    series = [Series(c, counts[k], PALETTE[k % len(PALETTE)]) for k, c in enumerate(channels)]
    return vertical_bars(days, series, title="Planned contacts per day, by channel",
                         ylabel="contacts", stacked=True, legend=True).bytes()


def constraint_usage(names: Sequence[str], used: Sequence[float],
                     minimum: Sequence[bool]) -> bytes:
    """Each global constraint's value as a % of its bound; floors (`minimum`) must reach
    100%, limits must stay at or below it."""
    labels = [f"{n} ({'floor' if m else 'limit'})" for n, m in zip(names, minimum, strict=True)]
    colors = [FLOOR_COLOR if m else PLAN_COLOR for m in minimum]
    return horizontal_bars(labels, [Series("used", used, colors)], title="Constraint usage",
                           xlabel="% of the bound (dashed line: the bound)", line=100.0,
                           value_text=[f"{u:.0f}%" for u in used]).bytes()


def contacts_histogram(plan: Sequence[int], baseline: Sequence[int] | None = None) -> bytes:
    """Customers by number of contacts over the horizon, with the baseline's beside them."""
    n = max(len(plan), len(baseline or ()))
    plan_counts = np.zeros(n)
    plan_counts[: len(plan)] = plan
    series = [Series("plan", plan_counts, PLAN_COLOR)]
    if baseline is not None:
        base_counts = np.zeros(n)
        base_counts[: len(baseline)] = baseline
        series.append(Series("sales-only baseline", base_counts, BASE_COLOR))
    return vertical_bars([str(k) for k in range(n)], series,
                         title="How many contacts each customer gets", ylabel="customers",
                         xlabel="contacts per customer over the horizon",
                         legend=baseline is not None).bytes()


def plan_vs_baseline(labels: Sequence[str], plan: Sequence[float],
                     baseline: Sequence[float], xlabel: str, title: str) -> bytes:
    """Paired horizontal bars, plan against baseline, one pair per label."""
    return horizontal_bars(labels, [Series("plan (with guardrails)", plan, PLAN_COLOR),
                                    Series("sales-only baseline", baseline, BASE_COLOR)],
                           title=title, xlabel=xlabel, legend=True).bytes()


def objective_pairs(names: Sequence[str], plan: Sequence[float], baseline: Sequence[float],
                    bound: float | None = None) -> bytes:
    """One small panel per objective level (each in its own units): the plan's value beside
    the baseline's, and the baseline's proven bound on the first level as a dashed line."""
    n = len(names)
    panel_w = min(300.0, 900.0 / max(n, 1))
    panels = []
    for k in range(n):
        line = (bound, "baseline's proven bound") if k == 0 and bound is not None else None
        panels.append(vertical_bars(
            ["plan", "baseline"], [Series("", [plan[k], baseline[k]],
                                          [PLAN_COLOR, BASE_COLOR])],
            title=f"'{names[k]}'" + (" (level 1)" if k == 0 else ""), width=panel_w,
            height=300, value_labels=True, line=line, legend=line is not None))
    height = max(p.height for p in panels)
    svg = _Svg(panel_w * n, height + 30)
    svg.text(svg.width / 2, 18, "Objective values: plan against the sales-only baseline", 13,
             bold=True)
    for k, p in enumerate(panels):
        svg.parts.append(f"<g transform='translate({k * panel_w:.1f} 30)'>"
                         f"{''.join(p.parts)}</g>")
    return svg.bytes()
