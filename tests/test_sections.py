"""One hand-made scenario per contract section; each optimum is derived by hand in comments.

Every plan also passes the independent verifier (see conftest.solve).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import RUN_DATE, contacts, objective

EMAIL = {"action_id": "E1", "channel": "email", "cost": 0.0, "discount": 0.0}
SMS = {"action_id": "S1", "channel": "sms", "cost": 0.0, "discount": 0.0}
CALL = {"action_id": "K1", "channel": "call", "cost": 0.0, "discount": 0.0}
MAIL = {"action_id": "M1", "channel": "mail", "cost": 0.0, "discount": 0.0}
ONE_A_DAY = """
[[cap]]
name = "one a day"
max = 1
window_days = 1
"""


def day(offset: int) -> dt.date:
    return RUN_DATE + dt.timedelta(days=offset)


def scores(table: dict[tuple[str, str], dict[str, float]]) -> list[dict]:
    return [{"customer_id": c, "action_id": a, **kpis} for (c, a), kpis in table.items()]


def policy(horizon: int, body: str, objective: str = "margin = 1.0") -> str:
    return (f"[plan]\nhorizon_days = {horizon}\n\n[[objective]]\nname = \"profit\"\n"
            f"maximize = {{ {objective} }}\n{body}")


def test_rolling_cap_counts_history(solve) -> None:
    # One customer, 3 days, one contact a day. sms (5) beats email (3), but "sms weekly"
    # allows 2 in any 7 days and the history already holds one sms 2 days ago, which sits in
    # every window ending on days 0..2: one more sms only. Optimum 5 + 3 + 3 = 11.
    plan, summary = solve(
        [{"customer_id": "C1", "segment": "high"}], [EMAIL, SMS],
        scores({("C1", "E1"): {"margin": 3.0}, ("C1", "S1"): {"margin": 5.0}}),
        policy(3, ONE_A_DAY + """
[[cap]]
name = "sms weekly"
where = { channel = ["sms"] }
max = 2
window_days = 7
"""),
        history=[{"customer_id": "C1", "action_id": "S1", "date": day(-2)}],
    )
    assert objective(summary, "profit") == pytest.approx(11.0)
    assert (plan["action_id"] == "S1").sum() == 1
    assert len(plan) == 3
    assert summary["status"] == "optimal"
    assert summary["gap"] == pytest.approx(0.0, abs=1e-9)


def test_limits_per_day_and_per_horizon(solve) -> None:
    # 3 customers × 2 days, one contact a day each. Calls earn 10/8/6, email 1. At most one
    # call a day; spend (call 3, email 1) at most 8 over the horizon. Two calls (6) leave
    # room for two emails (2): C1 calls both days (20) + 2 emails = 22, versus one call and
    # five emails = 15. Optimum 22.
    table = {}
    for c, m in (("C1", 10.0), ("C2", 8.0), ("C3", 6.0)):
        table[(c, "K1")] = {"margin": m, "spend": 3.0}
        table[(c, "E1")] = {"margin": 1.0, "spend": 1.0}
    plan, summary = solve(
        [{"customer_id": c, "segment": "mid"} for c in ("C1", "C2", "C3")], [EMAIL, CALL],
        scores(table),
        policy(2, ONE_A_DAY + """
[[limit]]
name = "call centre"
where = { channel = ["call"] }
sum = "contacts"
max = 1
per = "day"

[[limit]]
name = "budget"
sum = "spend"
max = 8.0
"""),
    )
    assert objective(summary, "profit") == pytest.approx(22.0)
    assert {(c, a, d) for c, a, d in contacts(plan) if a == "K1"} == {("C1", "K1", 0),
                                                                       ("C1", "K1", 1)}
    assert (plan["action_id"] == "E1").sum() == 2
    by_name = {c["name"]: c for c in summary["constraints"]}
    assert by_name["budget"]["value"] == pytest.approx(8.0)
    assert by_name["call centre [2026-01-05]"]["value"] == pytest.approx(1.0)
    assert by_name["budget"]["shadow_price"] is not None


def test_floors_count_every_customer_of_the_group(solve) -> None:
    # H1 earns 5; low customers lose money (L1 -1, L2 -2, L3 -0.5); L4 is low but has no
    # eligible action. Coverage 0.6 of |G| = 4 (L4 counts) needs ceil(2.4) = 3 low customers:
    # L1, L2 and L3. Their clv 1 + 3 + 1 = 5 >= 4 also meets the value floor.
    # Optimum 5 - 1 - 2 - 0.5 = 1.5 (had L4 not counted, 2 would do: 2.5).
    margins = {"H1": 5.0, "L1": -1.0, "L2": -2.0, "L3": -0.5}
    clv = {"H1": 0.0, "L1": 1.0, "L2": 3.0, "L3": 1.0}
    customers = [{"customer_id": "H1", "segment": "high"}] + [
        {"customer_id": c, "segment": "low"} for c in ("L1", "L2", "L3", "L4")]
    plan, summary = solve(
        customers, [EMAIL],
        scores({(c, "E1"): {"margin": m, "clv_delta": clv[c]} for c, m in margins.items()}),
        policy(1, """
[[floor]]
name = "low coverage"
where = { segment = ["low"] }
min_share = 0.6

[[floor]]
name = "low value"
where = { segment = ["low"] }
sum = "clv_delta"
min = 4.0
"""),
    )
    assert objective(summary, "profit") == pytest.approx(1.5)
    assert set(plan["customer_id"]) == {"H1", "L1", "L2", "L3"}
    cov = next(c for c in summary["constraints"] if c["name"] == "low coverage")
    assert (cov["value"], cov["limit"], cov["group_size"]) == (3, 3, 4)


def test_value_floor_alone_picks_the_cheapest_way(solve) -> None:
    # Same data, only the value floor clv >= 4 among low: {L2, L3} (clv 4, margin -2.5) beats
    # {L1, L2} (-3) and all three (-3.5). Optimum 5 - 2.5 = 2.5.
    margins = {"H1": 5.0, "L1": -1.0, "L2": -2.0, "L3": -0.5}
    clv = {"H1": 0.0, "L1": 1.0, "L2": 3.0, "L3": 1.0}
    customers = [{"customer_id": "H1", "segment": "high"}] + [
        {"customer_id": c, "segment": "low"} for c in ("L1", "L2", "L3")]
    plan, summary = solve(
        customers, [EMAIL],
        scores({(c, "E1"): {"margin": m, "clv_delta": clv[c]} for c, m in margins.items()}),
        policy(1, """
[[floor]]
name = "low value"
where = { segment = ["low"] }
sum = "clv_delta"
min = 4.0
"""),
    )
    assert objective(summary, "profit") == pytest.approx(2.5)
    assert set(plan["customer_id"]) == {"H1", "L2", "L3"}


def test_conflicts_with_plan_and_history(solve) -> None:
    # 3 days, one contact a day, at most one call per customer in any 3 days; call 10,
    # mail 6, email 1; no mail on the day of a call or the day after (lag 1).
    # C1: mail, mail, call = 22 (a call on day 1 blocks day-2 mail: 10 + 6 + 1 = 17).
    # C2: called yesterday (history): that call blocks mail today and sits in the 3-day call
    # windows ending days 0 and 1, so its only call is on day 2: email, mail, call = 17.
    # Optimum 39.
    table = {}
    for c in ("C1", "C2"):
        table[(c, "K1")] = {"margin": 10.0}
        table[(c, "M1")] = {"margin": 6.0}
        table[(c, "E1")] = {"margin": 1.0}
    plan, summary = solve(
        [{"customer_id": c, "segment": "mid"} for c in ("C1", "C2")], [EMAIL, CALL, MAIL],
        scores(table),
        policy(3, ONE_A_DAY + """
[[cap]]
name = "one call"
where = { channel = ["call"] }
max = 1
window_days = 3

[[conflict]]
name = "no mail soon after a call"
first = { channel = ["call"] }
then = { channel = ["mail"] }
within_days = 1
"""),
        history=[{"customer_id": "C2", "action_id": "K1", "date": day(-1)}],
    )
    assert objective(summary, "profit") == pytest.approx(39.0)
    assert contacts(plan) == {("C1", "M1", 0), ("C1", "M1", 1), ("C1", "K1", 2),
                              ("C2", "E1", 0), ("C2", "M1", 1), ("C2", "K1", 2)}


def test_rules_filters_and_review(solve) -> None:
    # A: vip with sms consent; B: neither. Push with a 35% discount earns 6, sms 5, email 1.
    # Rules: sms needs consent; deep discounts (>= 0.3) only for vip. One contact a day.
    # A takes the push (6, flagged for review: discount >= 0.3); B may only get email (1).
    # Optimum 7.
    push = {"action_id": "P1", "channel": "push", "cost": 0.0, "discount": 0.35}
    customers = [
        {"customer_id": "A", "segment": "high", "consent_sms": True, "vip": True},
        {"customer_id": "B", "segment": "low", "consent_sms": False, "vip": False},
    ]
    table = {(c, a): {"margin": m} for c in ("A", "B")
             for a, m in (("P1", 6.0), ("S1", 5.0), ("E1", 1.0))}
    plan, summary = solve(
        customers, [EMAIL, SMS, push], scores(table),
        policy(1, ONE_A_DAY + """
[[rule]]
name = "sms needs consent"
deny = { channel = ["sms"] }
unless = "consent_sms"

[[rule]]
name = "deep discounts for vip only"
deny = { discount = { min = 0.3 }, vip = false }

[[review]]
name = "deep discounts"
where = { discount = { min = 0.3 } }
"""),
    )
    assert objective(summary, "profit") == pytest.approx(7.0)
    assert contacts(plan) == {("A", "P1", 0), ("B", "E1", 0)}
    flagged = plan.set_index("customer_id")["review"].to_dict()
    assert flagged == {"A": True, "B": False}
    assert plan.set_index("customer_id").loc["A", "review_rule"] == "deep discounts"
    assert summary["counts"]["review"] == 1


@pytest.mark.parametrize(("tolerance", "margin", "clv"), [(0.05, 19.0, 5.0), (0.0, 20.0, 0.0)])
def test_lexicographic_levels_with_tolerance(solve, tolerance, margin, clv) -> None:
    # Two customers, one contact each: X (margin 10, clv 0) or Y (margin 9, clv 5).
    # Level 1 optimum 20 (X, X). With 5% tolerance margin >= 19 allows one Y: clv 5.
    # With no tolerance the plan stays X, X: clv 0.
    table = {(c, a): {"margin": m, "clv_delta": v} for c in ("C1", "C2")
             for a, m, v in (("X", 10.0, 0.0), ("Y", 9.0, 5.0))}
    actions = [{"action_id": a, "channel": "email", "cost": 0.0, "discount": 0.0}
               for a in ("X", "Y")]
    body = ONE_A_DAY + """
[[objective]]
name = "relationship"
maximize = { clv_delta = 1.0 }
"""
    text = policy(1, body).replace('name = "profit"\n',
                                   f'name = "profit"\ntolerance = {tolerance}\n')
    plan, summary = solve([{"customer_id": c, "segment": "mid"} for c in ("C1", "C2")],
                          actions, scores(table), text)
    assert objective(summary, "profit") == pytest.approx(margin)
    assert objective(summary, "relationship") == pytest.approx(clv)
    assert sorted(plan["action_id"]) == (["X", "Y"] if tolerance else ["X", "X"])
    level1 = summary["objectives"][0]
    assert level1["solved_value"] == pytest.approx(20.0)
    assert level1["bound"] == pytest.approx(20.0)


def test_day_column_limits_eligibility_and_action_quantities(solve) -> None:
    # Scores with a day column: S1 is eligible on day 1 only, E1 on both days. The objective
    # uses an action column: maximize margin - cost, with sms cost 2 and margin 5 (net 3)
    # and email margin 1. Optimum: day 0 email (1), day 1 sms (3) = 4.
    sms = dict(SMS, cost=2.0)
    rows = [{"customer_id": "C1", "action_id": "E1", "day": d, "margin": 1.0} for d in (0, 1)]
    rows.append({"customer_id": "C1", "action_id": "S1", "day": 1, "margin": 5.0})
    plan, summary = solve([{"customer_id": "C1", "segment": "high"}], [EMAIL, sms], rows,
                          policy(2, ONE_A_DAY, objective="margin = 1.0, cost = -1.0"))
    assert objective(summary, "profit") == pytest.approx(4.0)
    assert contacts(plan) == {("C1", "E1", 0), ("C1", "S1", 1)}


def test_contacts_quantity_and_both_solvers_agree(solve) -> None:
    # Maximize contacts under a 1-a-day cap: 2 customers × 2 days = 4.
    table = {(c, "E1"): {"margin": 0.0} for c in ("C1", "C2")}
    for solver in ("cp-sat", "scip"):
        _, summary = solve([{"customer_id": c, "segment": "mid"} for c in ("C1", "C2")],
                           [EMAIL], scores(table),
                           policy(2, ONE_A_DAY, objective="contacts = 1.0"), solver=solver)
        assert objective(summary, "profit") == pytest.approx(4.0)
        assert summary["solver"] == solver
