"""The independent verifier: each hard rule of the contract broken exactly once.

One base scenario (4 customers, 4 actions, 3 days, history with a retired action) and a
clean plan that breaks nothing; each test changes the clean plan so that exactly one policy
entry breaks, and asserts the exact (kind, name, count) the verifier reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from optimizer.scenario import Scenario, load_scenario
from optimizer.verify import Violation, verify_plan
from tests.scenario_factory import write_scenario

RUN = dt.date(2026, 1, 5)


def day(offset: int) -> dt.date:
    return RUN + dt.timedelta(days=offset)


def plan(*rows: tuple[str | int, str, int]) -> pd.DataFrame:
    """A plan from (customer_id, action_id, day offset) triples."""
    return pd.DataFrame([(c, a, day(d)) for c, a, d in rows],
                        columns=["customer_id", "action_id", "date"])


def kinds(found: list[Violation]) -> list[tuple[str, str, int]]:
    return [(v.kind, v.name, v.count) for v in found]


CUSTOMERS = [
    {"customer_id": "C1", "segment": "high", "consent_sms": True},
    {"customer_id": "C2", "segment": "mid", "consent_sms": False},
    {"customer_id": "C3", "segment": "low", "consent_sms": True},
    {"customer_id": "C4", "segment": "low", "consent_sms": False},
]
ACTIONS = [
    {"action_id": "E1", "channel": "email", "cost": 0.1, "discount": 0.0, "offer_type": "info"},
    {"action_id": "S1", "channel": "sms", "cost": 0.05, "discount": 0.0, "offer_type": "alert"},
    {"action_id": "K1", "channel": "call", "cost": 5.0, "discount": 0.0,
     "offer_type": "service"},
    {"action_id": "M1", "channel": "mail", "cost": 1.0, "discount": 0.3, "offer_type": "promo"},
]
CLV = {"E1": 1.0, "S1": 0.5, "K1": 0.0, "M1": 2.0}
# every pair is eligible on every day except (C4, E1)
SCORES = [
    {"customer_id": c["customer_id"], "action_id": a["action_id"], "margin": 1.0,
     "clv_delta": CLV[a["action_id"]]}
    for c in CUSTOMERS for a in ACTIONS
    if (c["customer_id"], a["action_id"]) != ("C4", "E1")
]
HISTORY = [
    # C1: three sms in the last 3 days: history alone exceeds "sms weekly" (max 2)
    {"customer_id": "C1", "action_id": "S1", "date": day(-3), "channel": "sms"},
    {"customer_id": "C1", "action_id": "S1", "date": day(-2), "channel": "sms"},
    {"customer_id": "C1", "action_id": "S1", "date": day(-1), "channel": "sms"},
    # C2: a call 2 days ago (conflicts with a planned mail within 7 days)
    {"customer_id": "C2", "action_id": "K1", "date": day(-2), "channel": "call"},
    # C3: a retired sms action, known only by its channel
    {"customer_id": "C3", "action_id": "OLD_SMS", "date": day(-1), "channel": "sms"},
]
POLICY = """
[plan]
horizon_days = 3

[[objective]]
name = "profit"
maximize = { margin = 1.0 }

[[cap]]
name = "one a day"
max = 1
window_days = 1

[[cap]]
name = "sms weekly"
where = { channel = ["sms"] }
max = 2
window_days = 7

[[cap]]
name = "info weekly"
where = { offer_type = ["info"] }
max = 1
window_days = 7

[[limit]]
name = "call centre"
where = { channel = ["call"] }
sum = "contacts"
max = 1
per = "day"

[[limit]]
name = "discount budget"
sum = "discount"
max = 0.6

[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 1.0

[[floor]]
name = "low value"
where = { segment = ["low"] }
sum = "clv_delta"
min = 3.0

[[conflict]]
name = "no mail after a call"
first = { channel = ["call"] }
then = { channel = ["mail"] }
within_days = 7

[[rule]]
name = "sms consent"
deny = { channel = ["sms"] }
unless = "consent_sms"

[[rule]]
name = "no calls to low"
deny = { "customer.segment" = ["low"], "action.channel" = ["call"] }
"""
CLEAN = [
    ("C1", "E1", 0), ("C1", "K1", 1),
    ("C2", "E1", 0),
    ("C3", "E1", 0), ("C3", "S1", 1),  # sms weekly: 1 retired sms in history + 1 planned
    ("C4", "M1", 2),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    directory = write_scenario(tmp_path_factory.mktemp("base"), CUSTOMERS, ACTIONS, SCORES,
                               POLICY, HISTORY)
    return load_scenario(directory, run_date=RUN)


def edited(add: Sequence[tuple[str, str, int]] = (),
           drop: Sequence[tuple[str, str, int]] = ()) -> pd.DataFrame:
    """The clean plan with some rows added and some dropped."""
    return plan(*[r for r in CLEAN if r not in drop], *add)


# --- the clean plan ------------------------------------------------------------------------

def test_clean_plan_breaks_nothing(base: Scenario) -> None:
    # C1's history alone has 3 sms > max 2, but the plan adds no sms for C1 (design decision);
    # C3's retired sms counts for "sms weekly" (2 <= 2) but not for "info weekly" (1 <= 1)
    assert verify_plan(base, plan(*CLEAN)) == []


def test_retired_action_is_loaded_as_expected(base: Scenario) -> None:
    assert (base.history.action == -1).sum() == 1
    assert list(base.history.channel[base.history.action == -1]) == ["sms"]


# --- input sanity --------------------------------------------------------------------------

def test_missing_columns(base: Scenario) -> None:
    found = verify_plan(base, plan(*CLEAN).drop(columns=["date"]))
    assert kinds(found) == [("input", "plan columns", 1)]


def test_unknown_ids_and_dates_outside_the_horizon(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C9", "E1", 2), ("C2", "X1", 2), ("C2", "E1", 3),
                                          ("C2", "E1", -1)]))
    assert kinds(found) == [("input", "unknown customer_id", 1),
                            ("input", "unknown action_id", 1),
                            ("input", "date outside the horizon", 2)]
    assert "e.g. plan row 6" in found[0].message and "C9" not in found[0].message
    assert "'X1'" in found[1].message  # action ids are not customer data


def test_duplicate_row_is_reported_once_and_counted_once(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C1", "E1", 0)]))
    assert kinds(found) == [("duplicate", "duplicate contact", 1)]


def test_dates_may_be_strings_or_timestamps(base: Scenario) -> None:
    frame = plan(*CLEAN)
    frame["date"] = pd.to_datetime(frame["date"])
    assert verify_plan(base, frame) == []
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    assert verify_plan(base, frame) == []


# --- eligibility and rules -----------------------------------------------------------------

def test_ineligible_pair(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C4", "E1", 0)]))
    assert kinds(found) == [("eligibility", "not eligible", 1)]
    assert "plan row 6 (E1, 2026-01-05)" in found[0].message
    assert "C4" not in found[0].message  # messages reach logs: no customer id


def test_rule_without_unless_column(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C2", "S1", 1)]))
    assert kinds(found) == [("rule", "sms consent", 1)]


def test_rule_with_customer_and_action_parts(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C3", "K1", 2)]))
    assert kinds(found) == [("rule", "no calls to low", 1)]


# --- caps ----------------------------------------------------------------------------------

def test_one_a_day(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C2", "K1", 0)]))
    assert kinds(found) == [("cap", "one a day", 1)]
    assert found[0].value == 2 and found[0].limit == 1


def test_retired_history_counts_toward_channel_cap(base: Scenario) -> None:
    # plan alone has 2 sms for C3 (<= 2); with the retired sms of day -1 the window ending
    # on day 2 holds 3
    found = verify_plan(base, edited(add=[("C3", "S1", 2)]))
    assert kinds(found) == [("cap", "sms weekly", 1)]
    assert ("the customer of plan row 4 has 3 contacts in the 7 days ending 2026-01-07; max 2 "
            "(history 1)" in found[0].message)


def test_retired_history_does_not_match_another_action_column(base: Scenario) -> None:
    # "info weekly" filters on offer_type: the retired sms is not counted (history 0)
    found = verify_plan(base, edited(add=[("C3", "E1", 2)]))
    assert kinds(found) == [("cap", "info weekly", 1)]
    assert ("the customer of plan row 3 has 2 contacts in the 7 days ending 2026-01-07; max 1 "
            "(history 0)" in found[0].message)


def test_history_alone_over_the_cap_breaks_only_when_the_plan_adds(base: Scenario) -> None:
    # C1 has 3 sms in history (max 2); one planned sms on day 0 lands in the windows ending
    # on days 0, 1 and 2, each holding 4
    found = verify_plan(base, edited(add=[("C1", "S1", 2)]))  # only the window ending day 2
    assert kinds(found) == [("cap", "sms weekly", 1)]
    found = verify_plan(base, edited(add=[("C1", "S1", 0)], drop=[("C1", "E1", 0)]))
    assert kinds(found) == [("cap", "sms weekly", 3)]
    assert found[0].value == 4 and "(history 3)" in found[0].message


# --- conflicts -----------------------------------------------------------------------------

def test_history_call_then_planned_mail(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C2", "M1", 1)]))
    assert kinds(found) == [("conflict", "no mail after a call", 1)]
    assert "K1 (history) on 2026-01-03 then M1 on 2026-01-06, 3 day(s) apart" \
        in found[0].message


def test_planned_call_then_planned_mail(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C1", "M1", 2)]))
    assert kinds(found) == [("conflict", "no mail after a call", 1)]


def test_mail_before_a_call_is_no_conflict(base: Scenario) -> None:
    # C1's call is on day 1; a mail on day 0 precedes it (C1's email moves away from day 0)
    found = verify_plan(base, edited(add=[("C1", "M1", 0), ("C1", "E1", 2)],
                                     drop=[("C1", "E1", 0)]))
    assert found == []


# --- limits and floors ---------------------------------------------------------------------

def test_limit_per_day(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C2", "K1", 1)]))
    assert kinds(found) == [("limit", "call centre", 1)]
    assert found[0].value == 2 and found[0].limit == 1


def test_limit_over_the_horizon(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C3", "M1", 2), ("C4", "M1", 0)]))
    assert kinds(found) == [("limit", "discount budget", 1)]
    assert found[0].value == pytest.approx(0.9)


def test_value_floor(base: Scenario) -> None:
    found = verify_plan(base, edited(drop=[("C3", "E1", 0)]))
    assert kinds(found) == [("floor", "low value", 1)]
    assert found[0].value == pytest.approx(2.5) and found[0].limit == 3.0


def test_coverage_floor(base: Scenario) -> None:
    found = verify_plan(base, edited(add=[("C3", "M1", 2)], drop=[("C4", "M1", 2)]))
    assert kinds(found) == [("floor", "low coverage", 1)]
    assert (found[0].value, found[0].limit) == (1.0, 2.0)


def test_empty_plan_breaks_only_the_floors(base: Scenario) -> None:
    assert kinds(verify_plan(base, plan())) == [("floor", "low coverage", 1),
                                                ("floor", "low value", 1)]


# --- smaller scenarios for the remaining cases ---------------------------------------------

def small(tmp_path: Path, policy: str, scores: list[dict] | None = None,
          history: list[dict] | None = None, customers: list[dict] | None = None) -> Scenario:
    header = "[plan]\nhorizon_days = 3\n[[objective]]\nname = 'o'\nmaximize = { margin = 1.0 }\n"
    customers = customers or CUSTOMERS
    scores = scores or [{"customer_id": c["customer_id"], "action_id": a["action_id"],
                         "margin": 1.0} for c in customers for a in ACTIONS]
    directory = write_scenario(tmp_path, customers, ACTIONS, scores, header + policy, history)
    return load_scenario(directory, run_date=RUN)


def test_day_specific_scores(tmp_path: Path) -> None:
    scores = [{"customer_id": "C1", "action_id": "E1", "day": 0, "margin": 1.0},
              {"customer_id": "C1", "action_id": "E1", "day": 2, "margin": 1.0}]
    s = small(tmp_path, "", scores=scores)
    assert verify_plan(s, plan(("C1", "E1", 0), ("C1", "E1", 2))) == []
    found = verify_plan(s, plan(("C1", "E1", 0), ("C1", "E1", 1)))
    assert kinds(found) == [("eligibility", "not eligible", 1)]


def test_kpi_quantity_comes_from_the_day_row(tmp_path: Path) -> None:
    scores = [{"customer_id": "C1", "action_id": "E1", "day": d, "margin": 10.0 * (d + 1)}
              for d in range(3)]
    s = small(tmp_path, "[[limit]]\nname = 'm'\nsum = 'margin'\nmax = 25\nper = 'day'\n",
              scores=scores)
    found = verify_plan(s, plan(("C1", "E1", 0), ("C1", "E1", 1), ("C1", "E1", 2)))
    assert kinds(found) == [("limit", "m", 1)]
    assert found[0].value == 30.0


def test_action_in_both_sides_of_a_conflict(tmp_path: Path) -> None:
    s = small(tmp_path, "[[conflict]]\nname = 'email gap'\nfirst = { channel = ['email'] }\n"
              "then = { channel = ['email'] }\nwithin_days = 1\n")
    assert verify_plan(s, plan(("C1", "E1", 0))) == []  # a contact never conflicts with itself
    assert verify_plan(s, plan(("C1", "E1", 0), ("C1", "E1", 2))) == []
    found = verify_plan(s, plan(("C1", "E1", 0), ("C1", "E1", 1)))
    assert kinds(found) == [("conflict", "email gap", 1)]
    assert found[0].value == 1  # one unordered pair


def test_conflict_lag_is_inclusive(tmp_path: Path) -> None:
    s = small(tmp_path, "[[conflict]]\nname = 'lag 2'\nfirst = { channel = ['call'] }\n"
              "then = { channel = ['mail'] }\nwithin_days = 2\n"
              "[[conflict]]\nname = 'lag 1'\nfirst = { channel = ['call'] }\n"
              "then = { channel = ['mail'] }\nwithin_days = 1\n")
    found = verify_plan(s, plan(("C1", "K1", 0), ("C1", "M1", 2)))
    assert kinds(found) == [("conflict", "lag 2", 1)]


def test_conflict_customer_filter_ands_both_sides(tmp_path: Path) -> None:
    s = small(tmp_path, "[[conflict]]\nname = 'c'\nfirst = { channel = ['call'], segment = "
              "['low', 'mid'] }\nthen = { channel = ['mail'], segment = ['mid', 'high'] }\n"
              "within_days = 2\n")
    rows = [(c, a, d) for c in ("C1", "C2", "C3") for a, d in (("K1", 0), ("M1", 1))]
    found = verify_plan(s, plan(*rows))
    assert kinds(found) == [("conflict", "c", 1)]
    assert "the customer of plan row 3 has K1 on 2026-01-05" in found[0].message  # C2


def test_history_pairs_alone_are_ignored(tmp_path: Path) -> None:
    history = [{"customer_id": "C1", "action_id": "K1", "date": day(-3)},
               {"customer_id": "C1", "action_id": "M1", "date": day(-2)}]
    s = small(tmp_path, "[[conflict]]\nname = 'c'\nfirst = { channel = ['call'] }\n"
              "then = { channel = ['mail'] }\nwithin_days = 5\n", history=history)
    assert verify_plan(s, plan(("C1", "E1", 0))) == []
    # the history call on day -3 and a planned mail on day 2 are 5 days apart (<= 5)
    assert kinds(verify_plan(s, plan(("C1", "M1", 2)))) == [("conflict", "c", 1)]


def test_retired_history_in_a_conflict(tmp_path: Path) -> None:
    history = [{"customer_id": "C1", "action_id": "OLD_CALL", "date": day(-1),
                "channel": "call"}]
    by_channel = small(tmp_path / "a", "[[conflict]]\nname = 'c'\nfirst = { channel = "
                       "['call'] }\nthen = { channel = ['mail'] }\nwithin_days = 3\n",
                       history=history)
    found = verify_plan(by_channel, plan(("C1", "M1", 0)))
    assert kinds(found) == [("conflict", "c", 1)]
    assert "a retired call action (history)" in found[0].message
    by_cost = small(tmp_path / "b", "[[conflict]]\nname = 'c'\nfirst = { channel = "
                     "['call'], cost = { min = 0 } }\nthen = { channel = ['mail'] }\n"
                     "within_days = 3\n", history=history)
    assert verify_plan(by_cost, plan(("C1", "M1", 0))) == []


def test_per_day_floor_counts_empty_days(tmp_path: Path) -> None:
    s = small(tmp_path, "[[floor]]\nname = 'daily'\nsum = 'contacts'\nmin = 1\nper = 'day'\n")
    assert verify_plan(s, plan(("C1", "E1", 0), ("C2", "E1", 1), ("C3", "E1", 2))) == []
    found = verify_plan(s, plan(("C1", "E1", 1)))
    assert kinds(found) == [("floor", "daily", 2)]


def test_min_share_rounds_up_without_float_noise(tmp_path: Path) -> None:
    customers = [{"customer_id": f"L{i:02d}", "segment": "low"} for i in range(25)]
    history = [{"customer_id": f"L{i:02d}", "action_id": "E1", "date": day(-1)}
               for i in range(20)]
    s = small(tmp_path, "[[floor]]\nname = 'cover'\nwhere = { segment = ['low'] }\n"
              "min_share = 0.28\n", customers=customers, history=history)
    # 0.28 * 25 is 7.000000000000001 in floating point: 7 customers are enough
    assert verify_plan(s, plan(*[(f"L{i:02d}", "E1", i % 3) for i in range(7)])) == []
    # a customer counts once, and history does not count
    found = verify_plan(s, plan(*[(f"L{i:02d}", "E1", 0) for i in range(6)],
                                ("L00", "S1", 1)))
    assert kinds(found) == [("floor", "cover", 1)]
    assert (found[0].value, found[0].limit) == (6.0, 7.0)


def test_coverage_counts_only_matching_actions(tmp_path: Path) -> None:
    s = small(tmp_path, "[[floor]]\nname = 'mail cover'\nwhere = { segment = ['low'], "
              "channel = ['mail'] }\nmin_share = 0.5\n")
    assert kinds(verify_plan(s, plan(("C3", "E1", 0)))) == [("floor", "mail cover", 1)]
    assert verify_plan(s, plan(("C4", "M1", 0))) == []


def test_integer_customer_ids(tmp_path: Path) -> None:
    customers = [{"customer_id": i, "segment": "mid"} for i in (7, 3)]
    s = small(tmp_path, "[[cap]]\nname = 'once'\nmax = 1\nwindow_days = 3\n",
              customers=customers)
    assert verify_plan(s, plan((3, "E1", 0), (7, "E1", 1))) == []
    found = verify_plan(s, plan((3, "E1", 0), (3, "S1", 2)))
    assert kinds(found) == [("cap", "once", 1)]
    assert "the customer of plan row 0 has 2 contacts" in found[0].message
