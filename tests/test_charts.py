"""The report's SVG charts (optimizer/charts.py): well-formed, sized, every bar drawn to
scale, names escaped, bad numbers refused (report.py then leaves a note instead)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from optimizer import charts
from optimizer.html_parts import chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0
    return root


def _bars(root: ET.Element, color: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("fill") == color]


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_stacked_bars_reach_each_days_total() -> None:
    counts = np.array([[3, 0, 5], [1, 2, 0]])
    root = _parse(charts.plan_by_day(["d1", "d2", "d3"], ["email", "sms"], counts))
    email, sms = (_bars(root, charts.PALETTE[k]) for k in (0, 1))
    assert len(email) == 3 + 1 and len(sms) == 3 + 1  # a bar per day and a legend key
    height = [float(r.get("height")) for r in email[:3]] + \
        [float(r.get("height")) for r in sms[:3]]
    per_unit = height[0] / 3
    assert height == pytest.approx([3 * per_unit, 0, 5 * per_unit, per_unit, 2 * per_unit, 0])
    # the sms bar of day 1 sits on top of the email bar
    assert float(sms[0].get("y")) + float(sms[0].get("height")) == \
        pytest.approx(float(email[0].get("y")), abs=0.11)
    assert "Planned contacts per day, by channel" in _texts(root)
    # one channel still gets its key: the legend names what the colour is
    root = _parse(charts.plan_by_day(["d1", "d2"], ["email"], counts[:1, :2]))
    assert len(_bars(root, charts.PALETTE[0])) == 2 + 1 and "email" in _texts(root)


def test_usage_bars_and_their_percentages() -> None:
    root = _parse(charts.constraint_usage(["budget", "low <coverage> & more"], [50.0, 120.0],
                                          [False, True]))
    limit, floor = _bars(root, charts.PLAN_COLOR), _bars(root, charts.FLOOR_COLOR)
    assert len(limit) == 1 and len(floor) == 1
    assert float(floor[0].get("width")) == pytest.approx(2.4 * float(limit[0].get("width")),
                                                         rel=1e-2)
    texts = _texts(root)
    assert "low <coverage> & more (floor)" in texts and "120%" in texts and "50%" in texts


def test_histogram_and_pairs_draw_both_series() -> None:
    root = _parse(charts.contacts_histogram([4, 1], [2, 2, 1]))
    assert len(_bars(root, charts.PLAN_COLOR)) == 3 + 1  # counts 0..2, and the legend key
    assert len(_bars(root, charts.BASE_COLOR)) == 3 + 1
    root = _parse(charts.plan_vs_baseline(["a", "b"], [1.0, 2.0], [2.0, 0.5], "x", "t"))
    assert len(_bars(root, charts.PLAN_COLOR)) == 2 + 1
    root = _parse(charts.objective_pairs(["profit", "cost"], [10.0, -3.0], [12.0, -2.0], 13.0))
    assert {"'profit' (level 1)", "'cost'", "10", "-3", "baseline's proven bound"} <= \
        set(_texts(root))
    dashed = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke-dasharray")]
    assert len(dashed) == 2  # the bound line and its legend key


@example(0.0, 5e-324)  # a denormal span: log10 of its fifth failed
@given(st.floats(-1e9, 1e9), st.floats(0, 1e9))
def test_ticks_cover_the_range_in_equal_round_steps(low: float, span: float) -> None:
    high = low + span
    ticks = charts.nice_ticks(low, high)
    steps = np.diff(ticks)
    assert len(ticks) >= 2 and np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9)
    # covered to a millionth of a step (far below a pixel)
    assert ticks[0] <= low + 1e-6 * steps[0] and ticks[-1] >= high - 1e-6 * steps[0]
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10))
    assert len(ticks) <= 12


def test_a_value_that_is_not_finite_leaves_a_note() -> None:
    with pytest.raises(ValueError, match="not finite"):
        charts.plan_vs_baseline(["a"], [float("nan")], [1.0], "x", "t")
    html = chart(lambda: charts.plan_vs_baseline(["a"], [float("inf")], [1.0], "x", "t"),
                 "pairs", "chart-x")
    assert "could not be drawn: ValueError" in html and "<img" not in html
    ok = chart(lambda: charts.plan_vs_baseline(["a"], [1.0], [1.0], "x", "t"), "pairs", "c")
    assert "src='data:image/svg+xml;base64," in ok
