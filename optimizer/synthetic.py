"""Realistic synthetic scenarios for tests, samples and benchmarks.

A scenario is the directory the contract describes: customers, actions, scores, history and a
policy.toml. Everything is vectorized with numpy and streamed in customer chunks, so the same
code writes 200 customers for a unit test and 10 million for a benchmark with modest memory.
Output is byte-for-byte deterministic for a seed: one `default_rng(seed)` root spawns an
independent stream per table, and Parquet is written with pyarrow (zstd, no pandas index).

The policy's binding values are computed from the generated data, not guessed:
- P, the "profit-only" plan: every customer gets, on every day, the allowed action with the
  best `margin - cost` if that is positive (rules applied, limits and floors ignored).
- W, a witness plan over low customers that satisfies every hard constraint by construction:
  at most one contact per customer per day, chosen by `clv_delta`; no calls; mail only without
  a call in history; sms only on day 0 and only without sms in history; discounted actions
  only if W's whole discount_cost fits the budget (else a discount-free W is used).
Limits are set below what P uses (so they bind); floors sit between P and W (so they bind but
W proves them achievable together).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "FLOAT32_ABOVE",
    "PairFactors",
    "default_run_date",
    "draw_factors",
    "generate_scenario",
    "kpi_cubes",
    "make_actions",
    "make_customers",
    "response",
]

FLOAT32_ABOVE = 100_000
"""Scenarios with more customers store KPI columns as float32 to halve the scores table."""

CHUNK_CELLS = 2_000_000
"""Customer x action x day cells built densely at once; bounds memory for any N."""

SEGMENTS = ("high", "mid", "low")
SEGMENT_SHARES = (0.2, 0.3, 0.5)
HIGH, MID, LOW = 0, 1, 2

# Channel order also decides which channels a catalogue with fewer than 5 actions gets.
CHANNELS = ("email", "sms", "call", "mail", "push")
EMAIL, SMS, CALL, MAIL, PUSH = range(5)
CHANNEL_COST = np.array([0.01, 0.05, 4.0, 0.8, 0.005])
CHANNEL_MIX = np.array([0.35, 0.2, 0.1, 0.15, 0.2])  # extra actions beyond the first five
BASE_LOGIT = np.array([-3.4, -2.9, -1.9, -3.0, -3.8])  # response: call best, push worst
ANNOYANCE = np.array([0.01, 0.04, 0.15, 0.0, 0.015])  # clv lost by non-responders (x value)
CHURN_PRESSURE = np.array([0.001, 0.004, 0.01, 0.0, 0.002])
HISTORY_MIX = np.array([0.4, 0.15, 0.1, 0.1, 0.25])
# Weekday x channel logit shift: weekends are poor for calls and email, fine for push.
WEEKEND_SHIFT = np.array([-0.15, 0.05, -0.3, 0.0, 0.1])

SEGMENT_LOGIT = np.array([0.6, 0.0, -0.6])
SEGMENT_LOG_VALUE = np.log([160.0, 80.0, 35.0])
CONSENT_SMS = np.array([0.65, 0.55, 0.45])
CONSENT_CALL = np.array([0.2, 0.15, 0.1])
TENURE_SCALE = np.array([3.0, 2.0, 1.5])
REGIONS = ("north", "south", "east", "west", "central")
REGION_SHARES = (0.22, 0.26, 0.18, 0.2, 0.14)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_SHARES = (0.1, 0.2, 0.22, 0.2, 0.16, 0.12)

REACH_EMAIL, REACH_PHONE, REACH_ADDRESS, REACH_APP = 0.72, 0.8, 0.9, 0.45
TARGETING = 0.75  # share of reachable pairs a campaign actually targets
DISCOUNT_LIFT = 4.0  # logit lift per unit of discount
FULFILMENT_COST = 8.0  # median cost of serving one order

# offer_type -> (gross margin rate, order value multiplier, clv multiplier)
PLAIN_OFFERS = {
    "newsletter": (0.35, 0.8, 1.0),
    "cross_sell": (0.40, 1.3, 0.9),
    "loyalty": (0.30, 0.9, 1.6),
    "reminder": (0.35, 1.0, 1.0),
}
DISCOUNT_OFFERS = {"percent_off": (0.38, 1.1, 1.2), "bundle": (0.42, 1.5, 1.1)}
CAMPAIGNS = ("always_on", "spring_sale", "retention", "onboarding", "winback")

HISTORY_SHARE = 0.3
RETIRED = (("A_RETIRED_1", EMAIL, 0.01), ("A_RETIRED_2", CALL, 0.02))

KPIS = ("p_response", "revenue", "margin", "discount_cost", "clv_delta", "churn_risk_delta")

# Policy knobs: how far below P the limits sit and where floors sit between P and W.
BUDGET_SHARE = 0.4
CALL_SHARE = 0.5
COVERAGE_POSITION = 0.5
VALUE_POSITION = 0.25


def default_run_date() -> datetime.date:
    """A fixed run date (a Monday) so that samples are reproducible."""
    return datetime.date(2026, 1, 5)


@dataclass
class _Customers:
    """Customer columns the scores and history generators depend on."""

    ids: pa.Array
    segment: np.ndarray
    consent_sms: np.ndarray
    consent_call: np.ndarray
    tenure: np.ndarray


@dataclass
class _Actions:
    """Action columns plus hidden economics (margin rate, appeal) used to derive KPIs."""

    ids: pa.Array
    channel: np.ndarray
    cost: np.ndarray
    discount: np.ndarray
    gross_margin: np.ndarray
    value_mult: np.ndarray
    clv_mult: np.ndarray
    appeal: np.ndarray


@dataclass
class _Witness:
    """Totals of a feasible-by-construction plan over low customers."""

    covered: int
    value: float
    discount: float
    swapped: int  # low customers given their discount-allowed variant


@dataclass
class _Variant:
    """Per low customer: does the witness reach them, its clv sum and its discount_cost."""

    covered: np.ndarray
    value: np.ndarray
    spend: np.ndarray


@dataclass
class _Stats:
    """Sums over all chunks that the policy's binding values are computed from."""

    horizon: int
    pairs: int = 0
    low: int = 0
    p_discount: float = 0.0
    p_calls: np.ndarray = field(init=False)
    p_low_covered: int = 0
    p_low_value: float = 0.0
    plain: list[_Variant] = field(default_factory=list)
    deal: list[_Variant] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.p_calls = np.zeros(self.horizon, dtype=np.int64)

    def witness(self, budget: float) -> _Witness:
        """Mix the two witness variants per customer within the discount budget.

        Start discount-free (spends nothing), then greedily swap customers to their
        discount-allowed variant by clv gained per unit of discount_cost, while the total
        stays under the budget (with a margin for float sums). Customers are independent
        except through that budget, so the mix stays feasible.
        """
        plain, deal = (_Variant(*(np.concatenate([getattr(v, f) for v in vs]) for f in
                                  ("covered", "value", "spend")))
                       for vs in (self.plain, self.deal))
        gain = deal.value - plain.value
        candidates = np.flatnonzero(gain > 0)
        ratio = gain[candidates] / (deal.spend[candidates] + 1e-9)
        order = candidates[np.argsort(-ratio, kind="stable")]
        room = budget - 1e-6 * budget - 0.01
        fits = np.cumsum(deal.spend[order]) <= room
        swap = order[: int(np.argmin(fits)) if not fits.all() else order.size]
        covered, value = plain.covered.copy(), plain.value.copy()
        covered[swap], value[swap] = deal.covered[swap], deal.value[swap]
        return _Witness(int(covered.sum()), float(value.sum()), float(deal.spend[swap].sum()),
                        int(swap.size))


def generate_scenario(
    out: Path,
    *,
    customers: int,
    actions: int,
    horizon: int,
    seed: int,
    run_date: datetime.date,
    kpi_dtype: str | np.dtype | None = None,
) -> None:
    """Write customers/actions/scores/history .parquet and policy.toml into `out` (created).

    `kpi_dtype` defaults to float64 up to FLOAT32_ABOVE customers and float32 above.
    """
    if customers < 1 or actions < 1 or horizon < 1:
        raise ValueError("customers, actions and horizon must all be >= 1")
    dtype = np.dtype(kpi_dtype or (np.float64 if customers <= FLOAT32_ABOVE else np.float32))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng_cust, rng_act, rng_hist, rng_scores = np.random.default_rng(seed).spawn(4)

    cust = _write_customers(out, rng_cust, customers)
    acts = _write_actions(out, rng_act, actions)
    hist_call, hist_sms = _write_history(out, rng_hist, cust, acts, run_date)
    stats = _write_scores(out, rng_scores, cust, acts, hist_call, hist_sms, horizon, run_date,
                          dtype)
    text = _policy_toml(stats, customers=customers, actions=actions, seed=seed,
                        run_date=run_date)
    (out / "policy.toml").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- customers


def _labels(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """Strings from small integer codes without a Python loop over rows."""
    return pa.array(names, type=pa.string()).take(pa.array(codes))


def _prefixed_ids(prefix: str, n: int, width: int) -> pa.Array:
    """Ids like C0000001, zero-padded to `width`, built in Arrow for speed."""
    digits = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return pc.utf8_replace_slice(pc.utf8_lpad(digits, width=width, padding="0"), 0, 0, prefix)


def _write_customers(out: Path, rng: np.random.Generator, n: int) -> _Customers:
    """Write customers.parquet (see `make_customers`)."""
    table, cust = make_customers(rng, n)
    _write_parquet(table, out / "customers.parquet")
    return cust


def make_customers(rng: np.random.Generator, n: int) -> tuple[pa.Table, _Customers]:
    """Segments (low largest), consents (call mostly false), region, age band, tenure.

    Public so that `simulate` draws the very same population a scenario would have."""
    segment = rng.choice(3, size=n, p=SEGMENT_SHARES).astype(np.int8)
    consent_sms = rng.random(n) < CONSENT_SMS[segment]
    consent_call = rng.random(n) < CONSENT_CALL[segment]
    region = rng.choice(len(REGIONS), size=n, p=REGION_SHARES).astype(np.int8)
    age = rng.choice(len(AGE_BANDS), size=n, p=AGE_SHARES).astype(np.int8)
    tenure = np.round(rng.gamma(2.0, TENURE_SCALE[segment]), 1)
    ids = _prefixed_ids("C", n, len(str(n)))
    table = pa.table({
        "customer_id": ids,
        "segment": _labels(SEGMENTS, segment),
        "consent_sms": pa.array(consent_sms),
        "consent_call": pa.array(consent_call),
        "region": _labels(REGIONS, region),
        "age_band": _labels(AGE_BANDS, age),
        "tenure_years": pa.array(tenure),
    })
    return table, _Customers(ids, segment, consent_sms, consent_call, tenure)


# --------------------------------------------------------------------------- actions


def _action_channels(rng: np.random.Generator, m: int) -> np.ndarray:
    """Every channel at least once from 5 actions on; fewer take CHANNELS in order."""
    if m < len(CHANNELS):
        return np.arange(m)
    extra = rng.choice(len(CHANNELS), size=m - len(CHANNELS), p=CHANNEL_MIX)
    return rng.permutation(np.concatenate([np.arange(len(CHANNELS)), extra]))


def _action_discounts(rng: np.random.Generator, m: int) -> np.ndarray:
    """About a third of actions carry 10-40% off; at least one deep (>=30%) when two do."""
    discount = np.zeros(m)
    n_disc = round(m / 3)
    which = rng.choice(m, size=n_disc, replace=False)
    discount[which] = rng.choice(np.round(np.arange(0.10, 0.401, 0.05), 2), size=n_disc)
    if n_disc >= 2 and discount.max() < 0.3:
        discount[which[0]] = 0.3
    return discount


def _write_actions(out: Path, rng: np.random.Generator, m: int) -> _Actions:
    """Write actions.parquet (see `make_actions`)."""
    table, acts = make_actions(rng, m)
    _write_parquet(table, out / "actions.parquet")
    return acts


def make_actions(rng: np.random.Generator, m: int) -> tuple[pa.Table, _Actions]:
    """Channels with very different costs, discounts, offer types and campaigns.

    Public so that `simulate` draws the very same catalogue a scenario would have."""
    channel = _action_channels(rng, m)
    discount = _action_discounts(rng, m)
    cost = np.round(CHANNEL_COST[channel] * np.exp(rng.normal(0.0, 0.1, m)), 4)
    plain = rng.integers(0, len(PLAIN_OFFERS), m)
    deal = rng.integers(0, len(DISCOUNT_OFFERS), m)
    offer_names = (*PLAIN_OFFERS, *DISCOUNT_OFFERS)
    offer = np.where(discount > 0, len(PLAIN_OFFERS) + deal, plain)
    econ = np.array([*PLAIN_OFFERS.values(), *DISCOUNT_OFFERS.values()])[offer]
    campaign = rng.integers(0, len(CAMPAIGNS), m)
    jitter = np.exp(rng.normal(0.0, 0.1, (3, m)))
    appeal = rng.normal(0.0, 0.3, m)
    ids = _prefixed_ids("A", m, max(3, len(str(m))))
    table = pa.table({
        "action_id": ids,
        "channel": _labels(CHANNELS, channel),
        "cost": pa.array(cost, type=pa.float64()),
        "discount": pa.array(discount, type=pa.float64()),
        "offer_type": _labels(offer_names, offer),
        "campaign": _labels(CAMPAIGNS, campaign),
    })
    return table, _Actions(
        ids=ids,
        channel=channel,
        cost=cost,
        discount=discount,
        gross_margin=np.clip(econ[:, 0] * jitter[0], 0.1, 0.6),
        value_mult=econ[:, 1] * jitter[1],
        clv_mult=econ[:, 2] * jitter[2],
        appeal=appeal,
    )


# --------------------------------------------------------------------------- history


def _history_slots(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """1-3 contacts on distinct days within the last 30; slot 0 is the most recent."""
    count = rng.choice(3, size=k, p=[0.5, 0.3, 0.2]) + 1
    first = rng.integers(1, 11, size=k)
    gaps = rng.integers(1, 11, size=(k, 2))
    days_before = np.column_stack([first, first + gaps[:, 0], first + gaps.sum(axis=1)])
    valid = np.arange(3)[None, :] < count[:, None]
    return days_before, valid


def _lawful_history_actions(
    rng: np.random.Generator, acts: _Actions, sms_ok: np.ndarray, call_ok: np.ndarray,
    valid: np.ndarray,
) -> np.ndarray:
    """Draw past actions, then replace the ones that would break consent, caps or conflicts.

    Replacements are email/push actions, which no cap, conflict or rule of the policy limits
    beyond one a day (already guaranteed by distinct days).
    """
    k = valid.shape[0]
    weights = HISTORY_MIX[acts.channel] / np.bincount(acts.channel, minlength=5)[acts.channel]
    act = rng.choice(acts.channel.size, size=(k, 3), p=weights / weights.sum())
    safe_pool = np.flatnonzero(np.isin(acts.channel, (EMAIL, PUSH)))
    safe = rng.choice(safe_pool, size=(k, 3))
    ch = acts.channel[act]
    no_consent = ((ch == SMS) & ~sms_ok[:, None]) | ((ch == CALL) & ~call_ok[:, None])
    act = np.where(no_consent, safe, act)
    ch = acts.channel[act]
    third_sms = ((ch == SMS) & valid).sum(axis=1) > 2  # cap: 2 sms in any 7 days
    act[third_sms, 2] = safe[third_sms, 2]
    ch = acts.channel[act]
    call = (ch == CALL) & valid
    older_call = np.column_stack([call[:, 1] | call[:, 2], call[:, 2], np.zeros(k, bool)])
    return np.where((ch == MAIL) & older_call, safe, act)  # conflict: no mail after a call


def _write_history(
    out: Path, rng: np.random.Generator, cust: _Customers, acts: _Actions,
    run_date: datetime.date,
) -> tuple[np.ndarray, np.ndarray]:
    """Past contacts for ~30% of customers; returns who has a call / an sms in history."""
    n = cust.segment.size
    who = np.flatnonzero(rng.random(n) < HISTORY_SHARE)
    days_before, valid = _history_slots(rng, who.size)
    act = _lawful_history_actions(rng, acts, cust.consent_sms[who], cust.consent_call[who],
                                  valid)
    # Oldest slot first so rows come out by customer, then date ascending.
    rows, slots = np.nonzero(valid[:, ::-1])
    slots = 2 - slots
    customer = who[rows]
    code = act[rows, slots]
    channel = acts.channel[code]
    code = _retire_some(rng, code, channel, acts.channel.size)
    vocab = pa.concat_arrays([acts.ids, pa.array([r[0] for r in RETIRED], pa.string())])
    epoch_days = (run_date - datetime.date(1970, 1, 1)).days
    dates = (epoch_days - days_before[rows, slots]).astype(np.int32)
    table = pa.table({
        "customer_id": cust.ids.take(pa.array(customer)),
        "action_id": vocab.take(pa.array(code)),
        "date": pa.array(dates, type=pa.int32()).cast(pa.date32()),
        "channel": _labels(CHANNELS, channel),
    })
    _write_parquet(table, out / "history.parquet")
    hist_call = np.zeros(n, dtype=bool)
    hist_call[customer[channel == CALL]] = True
    hist_sms = np.zeros(n, dtype=bool)
    hist_sms[customer[channel == SMS]] = True
    return hist_call, hist_sms


def _retire_some(
    rng: np.random.Generator, code: np.ndarray, channel: np.ndarray, m: int,
) -> np.ndarray:
    """A few rows point at retired actions (absent from actions.parquet), same channel."""
    draw = rng.random(code.size)
    code = code.copy()
    for offset, (_, ch, share) in enumerate(RETIRED):
        match = channel == ch
        pick = match & (draw < share)
        if match.any() and not pick.any():
            pick[np.argmax(match)] = True
        code[pick] = m + offset
    return code


# --------------------------------------------------------------------------- scores


def _write_scores(
    out: Path, rng: np.random.Generator, cust: _Customers, acts: _Actions,
    hist_call: np.ndarray, hist_sms: np.ndarray, horizon: int, run_date: datetime.date,
    dtype: np.dtype,
) -> _Stats:
    """Stream scores in customer chunks, accumulating the stats the policy needs."""
    n, m = cust.segment.size, acts.channel.size
    chunk = max(1, CHUNK_CELLS // (m * horizon))
    fields = [pa.field("customer_id", pa.string()), pa.field("action_id", pa.string())]
    if horizon > 1:
        fields.append(pa.field("day", pa.int16()))
    fields += [pa.field(k, pa.from_numpy_dtype(dtype)) for k in KPIS]
    schema = pa.schema(fields)
    weekend = (run_date.weekday() + np.arange(horizon)) % 7 >= 5
    stats = _Stats(horizon)
    with pq.ParquetWriter(out / "scores.parquet", schema, compression="zstd") as writer:
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            elig, kpi = _chunk_kpis(rng, cust, acts, lo, hi, weekend, dtype)
            writer.write_table(_chunk_table(schema, cust, acts, lo, elig, kpi))
            ctx = _ChunkContext(cust, acts, lo, hi, hist_call[lo:hi], hist_sms[lo:hi])
            _accumulate(stats, ctx, elig, kpi)
    return stats


@dataclass
class PairFactors:
    """The random factors behind the scores of a block of customers (c) × actions (m).

    Drawn once, in a fixed order, so that a scenario's scores and a simulated population
    (`simulate`) come from the same model."""

    latent: np.ndarray  # (c,) propensity, shifts every response logit
    value: np.ndarray  # (c,) typical order value
    affinity: np.ndarray  # (c, channels) channel liking
    elig: np.ndarray  # (c, m) bool: reachable on the action's channel and targeted
    pair_noise: np.ndarray  # (c, m) logit noise of the pair
    day_noise: np.ndarray  # (c, m, h) logit noise of the pair on each day
    order_noise: np.ndarray  # (c, m) log order-value noise of the pair
    fulfilment_noise: np.ndarray  # (c,) log fulfilment-cost noise

    @property
    def fulfilment(self) -> np.ndarray:
        """Cost of serving one order of each customer."""
        return np.exp(np.log(FULFILMENT_COST) + 0.3 * self.fulfilment_noise)

    def order(self, acts: _Actions) -> np.ndarray:
        """(c, m) order value if the customer responds to the action."""
        return self.value[:, None] * acts.value_mult[None, :] * np.exp(self.order_noise)

    def fit(self, acts: _Actions) -> np.ndarray:
        """(c, m) how well an action suits a customer, apart from potential and discount:
        channel affinity + the action's appeal + the pair's own noise."""
        return self.affinity[:, acts.channel] + acts.appeal[None, :] + self.pair_noise

    def base_logit(self, segment: np.ndarray, acts: _Actions) -> np.ndarray:
        """(c, m) response logit before day effects."""
        ch = acts.channel
        return (BASE_LOGIT[ch][None, :] + SEGMENT_LOGIT[segment][:, None]
                + 0.5 * self.latent[:, None] + self.affinity[:, ch]
                + (acts.appeal + DISCOUNT_LIFT * acts.discount)[None, :] + self.pair_noise)


def draw_factors(rng: np.random.Generator, segment: np.ndarray, acts: _Actions,
                 horizon: int) -> PairFactors:
    """Draw the factors of customers with these segments (the order of draws is fixed:
    changing it changes every generated scenario)."""
    c, m = segment.size, acts.channel.size
    latent = rng.standard_normal(c)
    value = np.exp(SEGMENT_LOG_VALUE[segment] + 0.5 * rng.standard_normal(c))
    affinity = rng.normal(0.0, 0.4, (c, len(CHANNELS)))
    phone = rng.random(c) < REACH_PHONE
    reach = np.column_stack([
        rng.random(c) < REACH_EMAIL, phone, phone,
        rng.random(c) < REACH_ADDRESS, rng.random(c) < REACH_APP,
    ])
    elig = reach[:, acts.channel] & (rng.random((c, m)) < TARGETING)
    pair_noise = rng.normal(0.0, 0.3, (c, m))
    day_noise = rng.normal(0.0, 0.12, (c, m, horizon))
    order_noise = rng.normal(0.0, 0.25, (c, m))
    fulfilment_noise = rng.standard_normal(c)
    return PairFactors(latent, value, affinity, elig, pair_noise, day_noise, order_noise,
                       fulfilment_noise)


def response(logit: np.ndarray) -> np.ndarray:
    """Response probability from a logit, kept inside [1e-4, 0.95]."""
    return np.clip(1.0 / (1.0 + np.exp(-logit)), 1e-4, 0.95)


def kpi_cubes(p: np.ndarray, order: np.ndarray, fulfilment: np.ndarray, value: np.ndarray,
              tenure: np.ndarray, acts: _Actions) -> dict[str, np.ndarray]:
    """Every KPI (c, m, h) from the response probability p (c, m, h) and the pair economics.

    All KPIs flow from one response probability, so they correlate the way real scores do.
    """
    ch = acts.channel
    revenue = np.broadcast_to(order[:, :, None], p.shape)
    disc = acts.discount[None, :, None]
    expected = p * revenue
    discount_cost = expected * disc
    # Every order also costs fulfilment (shipping, handling, returns): small baskets lose money.
    margin = (expected * acts.gross_margin[None, :, None] - discount_cost
              - p * fulfilment[:, None, None])
    loyalty = 0.8 + 0.06 * np.minimum(tenure, 10.0)
    annoy = (1.0 - p) * (ANNOYANCE[ch][None, :, None] * value[:, None, None])
    clv = (expected * loyalty[:, None, None] * (acts.clv_mult[None, :, None] * (1.0 + 1.5 * disc))
           - annoy)
    churn = -0.04 * p * (1.0 + disc) + (1.0 - p) * CHURN_PRESSURE[ch][None, :, None]
    return dict(zip(KPIS, (p, revenue, margin, discount_cost, clv, churn), strict=True))


def _chunk_kpis(
    rng: np.random.Generator, cust: _Customers, acts: _Actions, lo: int, hi: int,
    weekend: np.ndarray, dtype: np.dtype,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Eligibility (c, M) and KPI cubes (c, M, H) for customers lo..hi.

    The logit is driven by segment, channel, a per-customer latent factor and channel
    affinity (`PairFactors.base_logit`), plus a weekday effect and daily noise.
    """
    seg = cust.segment[lo:hi]
    ch = acts.channel
    f = draw_factors(rng, seg, acts, weekend.size)
    logit = f.base_logit(seg, acts)
    day_shift = np.where(weekend[None, :], WEEKEND_SHIFT[ch][:, None], 0.0)
    logit = logit[:, :, None] + day_shift[None] + f.day_noise
    p = response(logit)
    del logit
    cubes = kpi_cubes(p, f.order(acts), f.fulfilment, f.value, cust.tenure[lo:hi], acts)
    return f.elig, {k: np.asarray(v, dtype=dtype) for k, v in cubes.items()}


def _chunk_table(
    schema: pa.Schema, cust: _Customers, acts: _Actions, lo: int, elig: np.ndarray,
    kpi: dict[str, np.ndarray],
) -> pa.Table:
    """Rows for eligible pairs only, ordered by customer, action, day."""
    h = kpi["p_response"].shape[2]
    ci, ai = np.nonzero(elig)
    cols: dict[str, pa.Array] = {
        "customer_id": cust.ids.take(pa.array(np.repeat(lo + ci, h))),
        "action_id": acts.ids.take(pa.array(np.repeat(ai, h))),
    }
    if h > 1:
        cols["day"] = pa.array(np.tile(np.arange(h, dtype=np.int16), ci.size))
    for name in KPIS:
        cols[name] = pa.array(kpi[name][ci, ai, :].reshape(-1))
    return pa.table(cols, schema=schema)


# --------------------------------------------------------------------------- policy stats


@dataclass
class _ChunkContext:
    """The customer slice a chunk covers, with its history flags."""

    cust: _Customers
    acts: _Actions
    lo: int
    hi: int
    hist_call: np.ndarray
    hist_sms: np.ndarray


def _allowed(ctx: _ChunkContext, elig: np.ndarray) -> np.ndarray:
    """Eligible pairs the consent rules leave open (sms needs consent_sms, call consent_call)."""
    ch = ctx.acts.channel[None, :]
    sms_ok = ctx.cust.consent_sms[ctx.lo:ctx.hi, None]
    call_ok = ctx.cust.consent_call[ctx.lo:ctx.hi, None]
    return elig & ((ch != SMS) | sms_ok) & ((ch != CALL) | call_ok)


def _best(values: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (customer, day): index and value of the best allowed action (-inf if none)."""
    masked = np.where(ok, values, -np.inf)
    idx = masked.argmax(axis=1)
    return idx, np.take_along_axis(masked, idx[:, None, :], axis=1)[:, 0, :]


def _pick(cube: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """cube[i, idx[i, d], d] as float64, for summing float32 KPIs exactly enough."""
    return np.take_along_axis(cube, idx[:, None, :], axis=1)[:, 0, :].astype(np.float64)


def _accumulate(stats: _Stats, ctx: _ChunkContext, elig: np.ndarray,
                kpi: dict[str, np.ndarray]) -> None:
    """Add this chunk's share of the profit-only plan P and the witness plan W."""
    acts = ctx.acts
    low = ctx.cust.segment[ctx.lo:ctx.hi] == LOW
    allowed = _allowed(ctx, elig)
    stats.pairs += int(elig.sum())
    stats.low += int(low.sum())

    profit = kpi["margin"].astype(np.float64) - acts.cost[None, :, None]
    idx, val = _best(profit, allowed[:, :, None])
    chosen = val > 0
    stats.p_discount += float(_pick(kpi["discount_cost"], idx)[chosen].sum())
    stats.p_calls += ((acts.channel[idx] == CALL) & chosen).sum(axis=0)
    stats.p_low_covered += int((chosen.any(axis=1) & low).sum())
    stats.p_low_value += float(_pick(kpi["clv_delta"], idx)[chosen & low[:, None]].sum())

    stats.plain.append(_witness(ctx, allowed, kpi, low, discounts=False))
    stats.deal.append(_witness(ctx, allowed, kpi, low, discounts=True))


def _witness(ctx: _ChunkContext, allowed: np.ndarray, kpi: dict[str, np.ndarray],
             low: np.ndarray, *, discounts: bool) -> _Variant:
    """Low customers' part of a plan that meets every cap, conflict and rule by construction.

    Per day, the best-clv action among: email/push; mail unless history has a call; sms on
    day 0 only, unless history has an sms; never calls (no call-centre load, no new
    call-then-mail conflicts); discounts only if `discounts`. Contacts with positive clv are
    kept on every day; a customer with none still gets day 0's best, for coverage.
    Returns, per low customer: reached or not, clv_delta sum, discount_cost spent.
    """
    acts = ctx.acts
    h = kpi["clv_delta"].shape[2]
    ch = acts.channel[None, :, None]
    day0 = (np.arange(h) == 0)[None, None, :]
    channel_ok = (
        np.isin(ch, (EMAIL, PUSH))
        | ((ch == MAIL) & ~ctx.hist_call[:, None, None])
        | ((ch == SMS) & day0 & ~ctx.hist_sms[:, None, None])
    )
    deal_ok = np.ones(acts.discount.size, bool) if discounts else acts.discount == 0
    ok = allowed[:, :, None] & deal_ok[None, :, None] & channel_ok & low[:, None, None]
    idx, val = _best(kpi["clv_delta"].astype(np.float64), ok)
    reachable = np.isfinite(val[:, 0])  # day 0 allows a superset of later days
    chosen = val > 0
    chosen[:, 0] |= reachable & ~chosen.any(axis=1)  # one contact for coverage, even if clv < 0
    value = np.where(chosen, val, 0.0).sum(axis=1)
    spend = np.where(chosen, _pick(kpi["discount_cost"], idx), 0.0).sum(axis=1)
    return _Variant(reachable[low], value[low], spend[low])


# --------------------------------------------------------------------------- policy.toml


def _floor2(x: float) -> float:
    """Round down to cents so a computed bound never overshoots what is achievable."""
    return math.floor(x * 100.0) / 100.0


def _fmt(x: float) -> str:
    """A TOML float that always has a decimal point."""
    return f"{x:.2f}"


def _coverage_share(stats: _Stats, w: _Witness) -> float:
    """Between P's and W's low coverage; never more than W reaches after ceil()."""
    if stats.low == 0:
        return 0.0
    p_share = stats.p_low_covered / stats.low
    w_share = w.covered / stats.low
    target = p_share + COVERAGE_POSITION * (w_share - p_share) if w_share > p_share else w_share
    share = _floor2(target)
    while share > 0 and math.ceil(share * stats.low) > w.covered:
        share = round(share - 0.01, 2)
    return max(share, 0.0)


def _value_floor(stats: _Stats, w: _Witness) -> float:
    """Between P's and W's low clv_delta, with a safety margin below W for float sums."""
    if w.covered == 0:
        return 0.0  # W contacts nobody, so its sum is exactly 0
    p_val, w_val = stats.p_low_value, w.value
    slack = 0.001 * abs(w_val) + 0.01
    target = p_val + VALUE_POSITION * (w_val - p_val) if w_val > p_val else w_val
    return _floor2(min(target, w_val - slack))


def _policy_toml(stats: _Stats, *, customers: int, actions: int, seed: int,
                 run_date: datetime.date) -> str:
    """Every contract section, with limits and floors computed to bind yet stay feasible."""
    h = stats.horizon
    budget = _floor2(BUDGET_SHARE * stats.p_discount)
    peak_calls = int(stats.p_calls.max())
    calls = max(1, int(CALL_SHARE * peak_calls)) if peak_calls else max(1, customers // 50)
    w = stats.witness(budget)
    return f"""\
# Synthetic scenario: customers={customers} actions={actions} horizon={h} seed={seed}
# run_date={run_date.isoformat()} eligible pairs={stats.pairs}
# Profit-only plan P (best margin - cost per customer and day, consent rules applied):
#   discount_cost={stats.p_discount:.2f} peak calls/day={peak_calls}
#   low covered={stats.p_low_covered}/{stats.low} low clv_delta={stats.p_low_value:.2f}
# Feasible witness W (low customers only, no calls, history-safe; {w.swapped} discounted):
#   low covered={w.covered}/{stats.low} low clv_delta={w.value:.2f} \
discount_cost={w.discount:.2f}

[plan]
horizon_days = {h}

[[objective]]
name = "profit"
maximize = {{ margin = 1.0, cost = -1.0 }}
tolerance = 0.02

[[objective]]
name = "relationship"
maximize = {{ clv_delta = 1.0 }}

[[cap]]
name = "one a day"
max = 1
window_days = 1

[[cap]]
name = "sms weekly"
where = {{ channel = ["sms"] }}
max = 2
window_days = 7

[[limit]]
name = "discount budget"
sum = "discount_cost"
max = {_fmt(budget)}
per = "horizon"

[[limit]]
name = "call centre"
where = {{ channel = ["call"] }}
sum = "contacts"
max = {calls}
per = "day"

[[floor]]
name = "low-potential coverage"
where = {{ segment = ["low"] }}
min_share = {_fmt(_coverage_share(stats, w))}

[[floor]]
name = "low-potential value"
where = {{ segment = ["low"] }}
sum = "clv_delta"
min = {_fmt(_value_floor(stats, w))}

[[conflict]]
name = "no mail soon after a call"
first = {{ channel = ["call"] }}
then = {{ channel = ["mail"] }}
within_days = 70

[[rule]]
name = "sms needs consent"
deny = {{ channel = ["sms"] }}
unless = "consent_sms"

[[rule]]
name = "call needs consent"
deny = {{ channel = ["call"] }}
unless = "consent_call"

[[review]]
name = "deep discounts"
where = {{ discount = {{ min = 0.3 }} }}

[privacy]
audit_only = ["age_band"]
"""


# --------------------------------------------------------------------------- io


def _write_parquet(table: pa.Table, path: Path) -> None:
    """One place for the deterministic writer settings."""
    pq.write_table(table, path, compression="zstd")
