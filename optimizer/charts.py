"""The report's charts as PNG bytes: matplotlib's Agg canvas on a bare Figure (no pyplot, no
display, no global state), so rendering works in a server process and in parallel tests.

Each function takes plain numbers and returns the PNG; report.py embeds it as a data URL.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PLAN_COLOR, BASE_COLOR, LIMIT_COLOR = "#2b6cb0", "#c9a227", "#a01010"
MAX_BARS = 30  # more bars than this are unreadable: the caller says which were left out


def _figure(width: float = 7.5, height: float = 3.6) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.grid(alpha=0.3, axis="y")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def plan_by_day(days: Sequence[str], channels: Sequence[str],
                counts: np.ndarray) -> bytes:
    """Contacts per day, stacked by channel (`counts` is channels × days)."""
    fig, ax = _figure()
    bottom = np.zeros(len(days))
    for k, channel in enumerate(channels):
        ax.bar(days, counts[k], bottom=bottom, label=channel, color=f"C{k % 10}")
        bottom += counts[k]
    ax.set_ylabel("contacts")
    ax.set_title("Planned contacts per day, by channel")
    ax.legend(fontsize="small", ncols=min(len(channels), 6), loc="upper center",
              bbox_to_anchor=(0.5, -0.12), frameon=False)
    if len(days) > 10:
        ax.tick_params(axis="x", labelrotation=60)
    return _png(fig)


def constraint_usage(names: Sequence[str], used: Sequence[float],
                     minimum: Sequence[bool]) -> bytes:
    """Each global constraint's value as a % of its bound; floors (`minimum`) must reach
    100%, limits must stay at or below it."""
    height = 1.2 + 0.32 * len(names)
    fig, ax = _figure(7.5, height)
    ax.grid(alpha=0.3, axis="x")
    ax.grid(False, axis="y")
    y = np.arange(len(names))[::-1]
    colors = ["#2f855a" if m else PLAN_COLOR for m in minimum]
    ax.barh(y, used, color=colors)
    ax.axvline(100.0, color=LIMIT_COLOR, lw=1.5, ls="--")
    ax.set_yticks(y, [f"{n} ({'floor' if m else 'limit'})" for n, m in
                      zip(names, minimum, strict=True)], fontsize="small")
    ax.set_xlabel("% of the bound (dashed line: the bound)")
    ax.set_title("Constraint usage")
    for yy, u in zip(y, used, strict=True):
        ax.text(u, yy, f" {u:.0f}%", va="center", fontsize="x-small")
    return _png(fig)


def contacts_histogram(plan: Sequence[int], baseline: Sequence[int] | None = None) -> bytes:
    """Customers by number of contacts over the horizon, with the baseline's beside them."""
    fig, ax = _figure()
    n = max(len(plan), len(baseline or ()))
    x = np.arange(n)
    width = 0.4 if baseline is not None else 0.7
    plan_counts = np.zeros(n)
    plan_counts[: len(plan)] = plan
    ax.bar(x - (width / 2 if baseline is not None else 0), plan_counts, width,
           color=PLAN_COLOR, label="plan")
    if baseline is not None:
        base_counts = np.zeros(n)
        base_counts[: len(baseline)] = baseline
        ax.bar(x + width / 2, base_counts, width, color=BASE_COLOR,
               label="sales-only baseline")
        ax.legend(fontsize="small")
    if n <= 25:  # one tick per count while they fit
        ax.set_xticks(x)
    ax.set_xlabel("contacts per customer over the horizon")
    ax.set_ylabel("customers")
    ax.set_title("How many contacts each customer gets")
    return _png(fig)


def plan_vs_baseline(labels: Sequence[str], plan: Sequence[float],
                     baseline: Sequence[float], xlabel: str, title: str) -> bytes:
    """Paired horizontal bars, plan against baseline, one pair per figure."""
    height = 1.3 + 0.55 * len(labels)
    fig, ax = _figure(7.5, height)
    ax.grid(alpha=0.3, axis="x")
    ax.grid(False, axis="y")
    y = np.arange(len(labels))[::-1].astype(float)
    ax.barh(y + 0.2, plan, 0.4, color=PLAN_COLOR, label="plan (with guardrails)")
    ax.barh(y - 0.2, baseline, 0.4, color=BASE_COLOR, label="sales-only baseline")
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_title(title, pad=26)
    ax.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2,
              frameon=False)
    return _png(fig)


def objective_pairs(names: Sequence[str], plan: Sequence[float], baseline: Sequence[float],
                    bound: float | None = None) -> bytes:
    """One small panel per objective level (each in its own units): the plan's value beside
    the baseline's, and the baseline's proven bound on the first level as a dashed line."""
    n = len(names)
    fig = Figure(figsize=(min(3.2 * n, 9.0) + 0.6, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for k, ax in enumerate(axes):
        ax.bar([0, 1], [plan[k], baseline[k]], color=[PLAN_COLOR, BASE_COLOR], width=0.6)
        ax.set_xticks([0, 1], ["plan", "baseline"])
        ax.set_title(f"'{names[k]}'" + (" (level 1)" if k == 0 else ""), fontsize="medium")
        if k == 0 and bound is not None:
            ax.axhline(bound, color=LIMIT_COLOR, ls="--", lw=1,
                       label="baseline's proven bound")
            ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.1),
                      frameon=False)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(alpha=0.3, axis="y")
        ax.set_axisbelow(True)
        for x, v in ((0, plan[k]), (1, baseline[k])):
            ax.text(x, v, f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}", ha="center",
                    va="bottom", fontsize="small")
    fig.suptitle("Objective values: plan against the sales-only baseline")
    fig.tight_layout()
    return _png(fig)
