"""The sales-only baseline (summary.json `baseline`) and report.html, on a hand-made scenario
whose plan and baseline are derived by hand; the report is opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import optimizer.solvers
from cli.app import app
from optimizer import baseline as baseline_module
from optimizer import charts
from optimizer.report import contacts_histogram, render_report
from optimizer.result import SolveResult, Termination
from optimizer.run import RunOptions, RunOutcome, run_scenario
from tests.conftest import RUN_DATE
from tests.scenario_factory import write_scenario

POLICY = """
[[objective]]
name = "profit"
maximize = { margin = 1.0 }

[[objective]]
name = "relationship"
maximize = { clv_delta = 1.0 }

[[cap]]
name = "one a day"
max = 1

[[limit]]
name = "outreach"
sum = "contacts"
max = 2

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 0.5

[[floor]]
name = "low value"
where = { segment = ["low"] }
sum = "clv_delta"
min = 3.0

[[rule]]
name = "sms needs consent"
deny = { channel = ["sms"] }
unless = "consent_sms"
"""

# h1, h2 (high) and l1, l2 (low); nobody consents to sms, so the sms action (margin 50) is
# never allowed, with or without guardrails. Emails: margin h1 10, h2 9, l1 1, l2 0.5;
# clv_delta 5 for the low customers, 0 for the high ones.
#   plan: at most 2 contacts, at least 1 low customer (coverage 0.5 × 2) with clv >= 3:
#     profit = h1 + l1 = 11; relationship keeps profit >= 11 (tolerance 0): the same plan, 5.
#   baseline (profit only, no floors; the limit, cap and rule kept): h1 + h2 = 19,
#     relationship 0, no low customer covered. Guardrails cost 19 - 11 = 8 (8/19), all of it
#     the floors' doing (tolerance 0).
#   Both contact 2 of 4 customers once: never contacted 0.5, Gini 0.5; the top decile
#   (ceil(4/10) = 1 customer, best p_response) is h1, contacted by both: share 0.5.
CUSTOMERS = [{"customer_id": c, "segment": seg, "consent_sms": False}
             for c, seg in (("h1", "high"), ("h2", "high"), ("l1", "low"), ("l2", "low"))]
ACTIONS = [{"action_id": "e", "channel": "email", "cost": 0.0, "discount": 0.0},
           {"action_id": "s", "channel": "sms", "cost": 0.0, "discount": 0.0}]
EMAIL = {"h1": (10.0, 0.0, 0.9), "h2": (9.0, 0.0, 0.5), "l1": (1.0, 5.0, 0.2),
         "l2": (0.5, 5.0, 0.1)}
SCORES = [{"customer_id": c, "action_id": "e", "margin": m, "clv_delta": v, "p_response": p}
          for c, (m, v, p) in EMAIL.items()] + [
    {"customer_id": c, "action_id": "s", "margin": 50.0, "clv_delta": 0.0, "p_response": 0.01}
    for c in EMAIL]
SECTIONS = ["Headline", "Objectives (in priority order)", "Plan by channel and day",
            "Constraint usage and shadow prices", "Audit",
            "Sales-only baseline: what the guardrails cost and protect", "Policy check"]
CHARTS = ["chart-plan", "chart-constraints", "chart-contacts-histogram",
          "chart-baseline-objectives", "chart-baseline-shares", "chart-baseline-histogram"]


def _run(directory: Path, out: Path, **options: object) -> RunOutcome:
    return run_scenario(directory, out, run_date=RUN_DATE,
                        options=RunOptions(time_limit=20, solver="cp-sat", **options))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("report") / "scenario", CUSTOMERS, ACTIONS,
                          SCORES, POLICY)


@pytest.fixture(scope="module")
def outcome(scenario: Path) -> RunOutcome:
    return _run(scenario, scenario.parent / "run")


@pytest.fixture(scope="module")
def run_dir(outcome: RunOutcome, scenario: Path) -> Path:
    return scenario.parent / "run"


# --- the baseline --------------------------------------------------------------------------

def test_baseline_by_hand(outcome: RunOutcome) -> None:
    s = outcome.summary
    assert [o["value"] for o in s["objectives"]] == pytest.approx([11.0, 5.0])
    b = s["baseline"]
    assert b["computed"] and b["status"] == "optimal" and b["source"] == "baseline solve"
    assert b["removed"] == {"floors": ["low value", "low coverage"],
                            "objective_levels": ["relationship"]}
    assert b["gap"] == pytest.approx(0.0)
    assert 0 < b["seconds"] <= b["time_limit"] + 5 and b["time_limit"] == 5.0
    assert [(o["name"], o["value"]) for o in b["objectives"]] == [
        ("profit", pytest.approx(19.0)), ("relationship", pytest.approx(0.0))]
    assert b["objectives"][0]["bound"] == pytest.approx(19.0)
    assert b["value_given_up"] == {
        "objective": "profit", "plan": pytest.approx(11.0), "baseline": pytest.approx(19.0),
        "absolute": pytest.approx(8.0), "share": pytest.approx(8 / 19),
        "at_most": pytest.approx(8.0), "by_floors": pytest.approx(8.0),
        "by_later_levels": pytest.approx(0.0)}
    # the baseline keeps the limit (2 contacts), the cap and the consent rule (no sms)
    assert b["objectives"][0]["value"] >= s["objectives"][0]["value"]
    floors = {f["name"]: f for f in b["floors"]}
    assert floors["low coverage"] == {"name": "low coverage", "kind": "coverage", "limit": 1,
                                      "plan": 1, "baseline": 0, "group_size": 2,
                                      "met_by_baseline": False}
    assert (floors["low value"]["plan"], floors["low value"]["baseline"]) == (5.0, 0.0)
    assert not floors["low value"]["met_by_baseline"]
    rows = {r["metric"]: r for r in b["comparison"]}
    assert rows["'low coverage': share of its group covered"]["plan"] == 0.5
    assert rows["'low coverage': share of its group covered"]["baseline"] == 0.0
    assert rows["segment 'low': share contacted"]["difference"] == 0.5
    assert rows["contacts"]["plan"] == rows["contacts"]["baseline"] == 2
    assert rows["never contacted"]["plan"] == rows["never contacted"]["baseline"] == 0.5
    assert rows["Gini of contacts per customer"]["baseline"] == pytest.approx(0.5)
    assert rows["top decile (p_response): share of contacts"]["baseline"] == 0.5
    assert rows["customers at cap 'one a day'"]["baseline"] == 2
    assert b["contacts_histogram"] == {"plan": [2, 2], "baseline": [2, 2]}
    assert b["audit"]["segments"][1]["group"] == "low"
    assert b["audit"]["segments"][1]["share_contacted"] == 0.0
    assert s["options"]["baseline"] is True


def test_baseline_is_in_summary_json(run_dir: Path, outcome: RunOutcome) -> None:
    written = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert written["baseline"]["value_given_up"]["absolute"] == pytest.approx(8.0)
    # no baseline plan file: the run directory holds the run's own outputs only
    assert sorted(p.name for p in run_dir.iterdir()) == ["plan.parquet", "report.html",
                                                        "review.parquet", "summary.json"]


def test_no_baseline_option(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out), "--date",
                                      RUN_DATE.isoformat(), "--no-baseline",
                                      "--time-limit", "20"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["baseline"] == {"computed": False, "reason": "skipped: --no-baseline"}
    assert summary["options"]["baseline"] is False
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "No sales-only baseline in this run: skipped: --no-baseline." in page
    assert "chart-baseline" not in page


def test_baseline_failure_never_fails_the_run(scenario: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> dict:
        raise RuntimeError("out of luck")

    monkeypatch.setattr(baseline_module, "_solve", boom)
    outcome = _run(scenario, tmp_path / "run")
    assert outcome.summary["baseline"]["computed"] is False
    assert outcome.summary["baseline"]["reason"] == "failed: RuntimeError: out of luck"
    assert outcome.summary["baseline"]["removed"]["floors"] == ["low value", "low coverage"]
    assert "failed: RuntimeError: out of luck" in (tmp_path / "run" / "report.html").read_text()


def test_a_baseline_without_a_better_plan_is_the_run_plan(outcome: RunOutcome,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    class NoPlan:
        name = "none"

        def solve(self, problem: object, request: object) -> SolveResult:
            return SolveResult(Termination.NO_SOLUTION, self.name, 0.0, bound=25.0)

    monkeypatch.setattr(optimizer.solvers, "get_solver", lambda _: NoPlan())
    b = baseline_module.solve_baseline(outcome.scenario, outcome.problem, outcome.result,
                                       outcome.summary["audit"], time_limit=4)
    assert b["computed"] and b["status"] == "feasible"
    assert b["source"].startswith("the run's plan")
    assert b["objectives"][0] == {"name": "profit", "value": pytest.approx(11.0),
                                  "bound": 25.0}
    assert b["value_given_up"]["absolute"] == 0.0
    assert b["value_given_up"]["at_most"] == pytest.approx(14.0)
    assert b["gap"] == pytest.approx(14 / 25)


def test_nothing_to_remove(tmp_path: Path) -> None:
    policy = POLICY.split("[[objective]]\nname = \"relationship\"")[0]
    policy += "\n[[limit]]\nname = \"two\"\nsum = \"contacts\"\nmax = 2\n"
    directory = write_scenario(tmp_path / "s", CUSTOMERS, ACTIONS, SCORES, policy)
    b = _run(directory, tmp_path / "run").summary["baseline"]
    assert b["computed"] is False
    assert b["reason"].startswith("the policy has no floor and one objective level")


def test_baseline_problem_shares_the_compiled_arrays(outcome: RunOutcome) -> None:
    problem = outcome.problem
    reduced = baseline_module.baseline_problem(problem)
    assert reduced.triples is problem.triples and reduced.caps is problem.caps
    assert [lv.name for lv in reduced.levels] == ["profit"]
    assert reduced.coverage == () and [r.name for r in reduced.rows] == ["outreach"]
    assert baseline_module.budget(60) == 15.0 and baseline_module.budget(1) == 1.0


# --- the report ----------------------------------------------------------------------------

def test_report_has_every_section(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page.replace("&#x27;", "'"), heading
    for chart_id in CHARTS:
        assert f"id='{chart_id}'" in page
    assert page.count("<img class='chart'") == len(CHARTS)
    assert "The guardrails cost <b>8 of 'profit'</b> (42.1% of the baseline" in page
    assert "the baseline breaks it" in page
    # self-contained: every source is a data URL, no script, stylesheet link or address
    assert set(re.findall(r"src='([a-z]+):", page)) == {"data"}
    for outside in ("<script", "<link", "http://", "https://", "url("):
        assert outside not in page


def test_report_without_baseline_or_audit_still_renders(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    del summary["baseline"], summary["audit"]
    page = render_report(summary, pq.read_table(run_dir / "plan.parquet"))
    assert "<h2>Plan by channel and day</h2>" in page and "<h2>Audit</h2>" not in page
    assert "guardrails cost" not in page


def test_a_chart_that_fails_leaves_a_note(run_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> bytes:
        raise ValueError("no ink")

    monkeypatch.setattr(charts, "plan_by_day", broken)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    page = render_report(summary, pq.read_table(run_dir / "plan.parquet"))
    assert "could not be drawn: ValueError: no ink" in page
    assert page.count("<img class='chart'") == len(CHARTS) - 1


def test_contacts_histogram_counts_customers_without_contacts(run_dir: Path) -> None:
    plan = pq.read_table(run_dir / "plan.parquet")
    assert contacts_histogram(plan, 4) == [2, 2]
    assert contacts_histogram(plan.slice(0, 0), 4) == [4]
    assert np.sum(contacts_histogram(plan, 10)) == 10


# --- headless Chromium ---------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _browser(tmp_path: Path):  # -> selenium WebDriver
    """Headless Chromium from the Debian packages; skipped when absent, except in CI
    (CONTACTOPT_REQUIRE_CHROMIUM=1), where a missing browser fails the test."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the Python package selenium")
    if missing:
        reason = (f"the headless Chromium test needs {', '.join(missing)} (apt-get install "
                  "chromium chromium-driver; pip install -e '.[test]')")
        if os.environ.get("CONTACTOPT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # with the driver's path: no Selenium Manager
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                            options=options)


def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser(tmp_path)
    try:
        driver.get((run_dir / "report.html").resolve().as_uri())
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(
            "return [...document.images].every(i => i.complete)"))
        images = driver.execute_script(
            "return [...document.querySelectorAll('img.chart')].map(i => "
            "({id: i.id, alt: i.alt, width: i.naturalWidth, height: i.naturalHeight, "
            "shown: i.getBoundingClientRect().width}))")
        headings = driver.execute_script(
            "return [...document.querySelectorAll('h2')].map(h => h.textContent)")
        remote = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => !n.startsWith('data:'))")
        title = driver.title
    finally:
        driver.quit()
    assert [i["id"] for i in images] == CHARTS
    for image in images:
        assert image["width"] > 0 and image["height"] > 0 and image["shown"] > 0, image
        assert image["alt"]
    assert all(h in headings for h in SECTIONS), headings
    assert remote == []
    assert title == f"contactopt report {RUN_DATE.isoformat()}"
