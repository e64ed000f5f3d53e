"""The synthetic generator must be deterministic, contract-shaped and lawful.

Tests, samples and benchmarks all stand on these scenarios, so a silent drift here (a new
column type, history that already breaks a cap, a floor nobody can reach) would surface as
confusing failures elsewhere.
"""

from __future__ import annotations

import datetime
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from optimizer.synthetic import CHANNELS, default_run_date, generate_scenario

FILES = ("customers.parquet", "actions.parquet", "scores.parquet", "history.parquet",
         "policy.toml")
KPIS = ("p_response", "revenue", "margin", "discount_cost", "clv_delta", "churn_risk_delta")
RUN_DATE = default_run_date()


def _make(out: Path, customers: int = 200, actions: int = 12, horizon: int = 2,
          seed: int = 11, **kw: object) -> Path:
    generate_scenario(out, customers=customers, actions=actions, horizon=horizon, seed=seed,
                      run_date=RUN_DATE, **kw)
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unit-test size: 200 customers x 12 actions x 2 days."""
    return _make(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Big enough for shares to be stable; horizon 1, so no day column."""
    return _make(tmp_path_factory.mktemp("flat"), customers=3000, actions=8, horizon=1, seed=5)


def _read(d: Path, name: str) -> pd.DataFrame:
    return pq.read_table(d / f"{name}.parquet").to_pandas()


def _policy(d: Path) -> dict:
    with (d / "policy.toml").open("rb") as f:
        return tomllib.load(f)


def _allowed_scores(d: Path) -> pd.DataFrame:
    """Score rows joined with their actions and customers, consent rules applied."""
    s = _read(d, "scores").merge(_read(d, "actions"), on="action_id")
    s = s.merge(_read(d, "customers"), on="customer_id")
    denied = ((s.channel == "sms") & ~s.consent_sms) | ((s.channel == "call") & ~s.consent_call)
    return s[~denied]


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes(tmp_path: Path, small: Path) -> None:
    again = _make(tmp_path / "again")
    for name in FILES:
        assert (again / name).read_bytes() == (small / name).read_bytes(), name


def test_other_seed_other_data(tmp_path: Path, small: Path) -> None:
    other = _make(tmp_path / "other", seed=12)
    assert (other / "scores.parquet").read_bytes() != (small / "scores.parquet").read_bytes()


def test_default_run_date_is_fixed() -> None:
    assert default_run_date() == datetime.date(2026, 1, 5)


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize(("name", "expected"), [
    ("customers", {"customer_id": pa.string(), "segment": pa.string(),
                   "consent_sms": pa.bool_(), "consent_call": pa.bool_(),
                   "region": pa.string(), "age_band": pa.string(),
                   "tenure_years": pa.float64()}),
    ("actions", {"action_id": pa.string(), "channel": pa.string(), "cost": pa.float64(),
                 "discount": pa.float64(), "offer_type": pa.string(),
                 "campaign": pa.string()}),
    ("scores", {"customer_id": pa.string(), "action_id": pa.string(), "day": pa.int16(),
                **dict.fromkeys(KPIS, pa.float64())}),
    ("history", {"customer_id": pa.string(), "action_id": pa.string(), "date": pa.date32(),
                 "channel": pa.string()}),
])
def test_columns_and_types(small: Path, name: str, expected: dict[str, pa.DataType]) -> None:
    table = pq.read_table(small / f"{name}.parquet")
    assert {f.name: f.type for f in table.schema} == expected
    assert all(table.column(c).null_count == 0 for c in table.column_names)
    assert b"pandas" not in (table.schema.metadata or {})


def test_no_day_column_for_one_day(flat: Path) -> None:
    assert "day" not in pq.read_table(flat / "scores.parquet").column_names


def test_kpi_dtype_float32(tmp_path: Path) -> None:
    d = _make(tmp_path / "f32", customers=50, actions=5, horizon=1, kpi_dtype="float32")
    schema = pq.read_schema(d / "scores.parquet")
    assert all(schema.field(k).type == pa.float32() for k in KPIS)


# --------------------------------------------------------------------------- tables


def test_ids_unique_and_padded(small: Path) -> None:
    customers, actions = _read(small, "customers"), _read(small, "actions")
    assert customers.customer_id.is_unique and actions.action_id.is_unique
    assert customers.customer_id.iloc[0] == "C001" and customers.customer_id.iloc[-1] == "C200"
    assert actions.action_id.iloc[0] == "A001"


def test_score_keys_unique_and_known(small: Path) -> None:
    s = _read(small, "scores")
    assert not s.duplicated(["customer_id", "action_id", "day"]).any()
    assert s.customer_id.isin(_read(small, "customers").customer_id).all()
    assert s.action_id.isin(_read(small, "actions").action_id).all()
    days = s.groupby(["customer_id", "action_id"]).day.agg(["min", "max", "count"])
    assert (days["min"] == 0).all() and (days["max"] == 1).all() and (days["count"] == 2).all()


def test_action_values(flat: Path, small: Path) -> None:
    for d in (flat, small):
        a = _read(d, "actions")
        assert a.discount.between(0.0, 1.0).all()
        assert (a.cost >= 0).all()
        assert set(a.channel) == set(CHANNELS)
        assert 0.2 <= (a.discount > 0).mean() <= 0.45
    cost = _read(small, "actions").groupby("channel").cost.mean()
    assert cost["push"] < cost["email"] < cost["sms"] < cost["mail"] < cost["call"]


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 9])
def test_channels_by_catalogue_size(tmp_path: Path, m: int) -> None:
    d = _make(tmp_path / "m", customers=30, actions=m, horizon=1)
    channels = _read(d, "actions").channel.tolist()
    if m < 5:
        assert channels == list(CHANNELS[:m])
    else:
        assert set(channels) == set(CHANNELS)


def test_segments_and_consents(flat: Path) -> None:
    c = _read(flat, "customers")
    shares = c.segment.value_counts(normalize=True)
    assert set(shares.index) == {"high", "mid", "low"}
    assert shares["low"] > shares["mid"] > shares["high"]
    assert c.consent_call.mean() < 0.3
    assert 0.3 < c.consent_sms.mean() < 0.8
    assert (c.tenure_years >= 0).all()


def test_kpis_sound(small: Path, flat: Path) -> None:
    for d in (small, flat):
        s = _read(d, "scores").merge(_read(d, "actions"), on="action_id")
        assert np.isfinite(s[list(KPIS)].to_numpy()).all()
        assert ((s.p_response > 0) & (s.p_response < 1)).all()
        expected = s.revenue * s.discount * s.p_response
        assert np.allclose(s.discount_cost, expected, rtol=1e-9, atol=1e-9)
        assert (s.loc[s.discount == 0, "discount_cost"] == 0).all()
        assert (s.margin < 0).any() and (s.margin > 0).any()


def test_eligibility_density(flat: Path) -> None:
    pairs = len(_read(flat, "scores"))
    assert 0.4 <= pairs / (3000 * 8) <= 0.6


# --------------------------------------------------------------------------- history


def test_history_dates_and_channels(small: Path) -> None:
    h, a = _read(small, "history"), _read(small, "actions")
    assert 0.15 < h.customer_id.nunique() / 200 < 0.45
    assert (h.date < RUN_DATE).all()
    assert (h.date >= RUN_DATE - datetime.timedelta(days=30)).all()
    known = h.merge(a[["action_id", "channel"]], on="action_id", suffixes=("", "_a"))
    assert (known.channel == known.channel_a).all()
    retired = h[~h.action_id.isin(a.action_id)]
    assert len(retired) > 0 and retired.action_id.str.startswith("A_RETIRED_").all()
    assert retired.groupby("action_id").channel.nunique().eq(1).all()


def test_history_respects_policy(small: Path) -> None:
    h = _read(small, "history").merge(_read(small, "customers"), on="customer_id")
    assert not h.duplicated(["customer_id", "date"]).any()  # one a day
    assert not ((h.channel == "sms") & ~h.consent_sms).any()
    assert not ((h.channel == "call") & ~h.consent_call).any()
    sms = h[h.channel == "sms"]
    pairs = sms.merge(sms, on="customer_id")
    lag = (pd.to_datetime(pairs.date_y) - pd.to_datetime(pairs.date_x)).dt.days
    assert pairs[(lag >= 0) & (lag < 7)].groupby(["customer_id", "date_y"]).size().max() <= 2
    call_mail = h[h.channel == "call"].merge(h[h.channel == "mail"], on="customer_id")
    lag = (pd.to_datetime(call_mail.date_y) - pd.to_datetime(call_mail.date_x)).dt.days
    assert not ((lag >= 0) & (lag <= 70)).any()


# --------------------------------------------------------------------------- policy


def test_policy_has_every_section(small: Path) -> None:
    p = _policy(small)
    assert p["plan"]["horizon_days"] == 2
    assert [o["name"] for o in p["objective"]] == ["profit", "relationship"]
    assert p["objective"][0]["maximize"] == {"margin": 1.0, "cost": -1.0}
    assert p["objective"][0]["tolerance"] == 0.02
    for section, count in [("cap", 2), ("limit", 2), ("floor", 2), ("conflict", 1),
                           ("rule", 2), ("review", 1)]:
        assert len(p[section]) == count, section
    assert p["privacy"]["audit_only"] == ["age_band"]
    assert "age_band" not in (small / "policy.toml").read_text().split("[privacy]")[0]
    assert {r["unless"] for r in p["rule"]} == {"consent_sms", "consent_call"}
    assert p["review"][0]["where"] == {"discount": {"min": 0.3}}
    limits = {x["name"]: x for x in p["limit"]}
    assert isinstance(limits["discount budget"]["max"], float)
    assert limits["discount budget"]["max"] > 0 and limits["call centre"]["max"] >= 1


def test_floors_reachable(small: Path, flat: Path) -> None:
    """Coverage needs enough low customers with an allowed, history-safe, call-free pair."""
    for d in (small, flat):
        floors = {f["name"]: f for f in _policy(d)["floor"]}
        share = floors["low-potential coverage"]["min_share"]
        assert 0.0 < share < 1.0
        s = _allowed_scores(d)
        h = _read(d, "history")
        called = set(h.customer_id[h.channel == "call"])
        safe = s[(s.channel != "call") & ~((s.channel == "mail") & s.customer_id.isin(called))]
        low = _read(d, "customers").segment.eq("low").sum()
        reachable = safe[safe.segment == "low"].customer_id.nunique()
        assert math.ceil(share * low) <= reachable
        assert floors["low-potential value"]["min"] > 0


def test_scenario_size(small: Path) -> None:
    assert sum((small / name).stat().st_size for name in FILES) < 2_000_000
