"""Small HTML building blocks of the report: numbers, tables and embedded charts.

Everything returns a string of self-contained HTML: no file, font, script or address
outside the page, so the report opens the same offline, from a mail, or in an archive.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any


def fmt(value: Any) -> str:
    """A cell: thousands separators, 4 significant digits below 10,000, '–' for none."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def pct(value: float | None, digits: int = 1) -> str | None:
    """A share as a percentage string, None for none."""
    return None if value is None else f"{value:.{digits}%}"


def table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    attr = f" class='{html.escape(cls, quote=True)}'" if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_img_tag(png: bytes, alt: str, chart_id: str | None = None) -> str:
    """A PNG as a self-contained `<img class='chart'>`."""
    return img_tag(png, "image/png", alt, chart_id)


def img_tag(data: bytes, mime: str, alt: str, chart_id: str | None = None) -> str:
    """An image as a self-contained `<img class='chart'>` (base64 data URL): the report
    needs no files, and tests find every chart by its class."""
    encoded = base64.b64encode(data).decode("ascii")
    ident = "" if chart_id is None else f" id='{html.escape(chart_id, quote=True)}'"
    return (f"<img class='chart'{ident} alt='{html.escape(alt, quote=True)}' "
            f"style='max-width:100%' src='data:{mime};base64,{encoded}'>")


def chart(render: Callable[[], bytes], alt: str, chart_id: str) -> str:
    """An SVG chart (optimizer/charts.py) in a `<figure>`, or a one-line note when it cannot
    be drawn: a chart is an illustration of the tables next to it, and must never cost the
    run its report."""
    try:
        svg = render()
    except Exception as exc:  # any drawing failure: the tables still carry the figures
        return (f"<p class='note'>(chart '{html.escape(alt)}' could not be drawn: "
                f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))})</p>")
    return f"<figure>{img_tag(svg, 'image/svg+xml', alt, chart_id)}</figure>"
