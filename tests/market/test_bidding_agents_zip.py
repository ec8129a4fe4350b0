"""ZIP agents (Cliff 1997): hand-computed Widrow–Hoff margin updates, rounds, convergence to equilibrium."""

import numpy as np
import pytest

from peergrid import ConfigError
from peergrid.market import OrderBook, bilateral, mcafee, pay_as_bid, uniform_price
from peergrid.market.agents import (
    ZIPParams,
    allocative_efficiency,
    band_margin,
    band_price,
    learn,
    zip_step,
    zip_target,
)


def test_zip_step_hand_computed():
    # Δ = β(τ − p) = 0.5·(0.25 − 0.20) = 0.025; γ = 0: Γ = Δ
    p, g = zip_step(0.20, 0.25, 0.0, learning_rate=0.5, momentum=0.0)
    assert p == pytest.approx(0.225) and g == pytest.approx(0.025)
    # with momentum γ = 0.4 and Γ_prev = −0.01: Γ = 0.4·(−0.01) + 0.6·0.5·0.05 = 0.011
    p, g = zip_step(0.20, 0.25, -0.01, learning_rate=0.5, momentum=0.4)
    assert g == pytest.approx(0.011) and p == pytest.approx(0.211)


def test_zip_target_and_band_margin():
    # above q: R = 1 + 0.05·0.5, A = 0.05·0.2·0.1; below q: the mirror image
    up = zip_target([0.2, 0.2], [True, False], [0.5, 0.5], [0.2, 0.2], band=0.1)
    assert up.tolist() == pytest.approx([0.2 * 1.025 + 0.001, 0.2 * 0.975 - 0.001])
    buy = np.array([True, False])
    price = band_price(buy, np.array([0.25, 0.25]), np.array([0.30, 0.10]), 0.10, 0.30)
    assert price.tolist() == pytest.approx([0.25, 0.15])  # buyer r − μ(r − λs), seller r + μ(λb − r)
    back = band_margin(buy, price, np.array([0.30, 0.10]), 0.10, 0.30, np.zeros(2))
    assert back.tolist() == pytest.approx([0.25, 0.25])
    # an empty band (r = λs for a buyer) keeps the old margin
    assert band_margin(np.array([True]), np.array([0.1]), np.array([0.1]), 0.1, 0.3, np.array([0.4]))[0] == 0.4


def two_traders(T):
    """Buyer 0 (r = 0.30) and seller 1 (r = 0.10), 1 kWh each in every slot, band [0.10, 0.30]."""
    return OrderBook.from_arrays(
        participant=np.tile([0, 1], T), side=np.tile([1, -1], T), quantity=np.ones(2 * T),
        price=np.zeros(2 * T), slot=np.repeat(np.arange(T), 2), id=np.arange(2 * T),
    )  # fmt: skip


FIXED = {"margin_low": 0.2, "margin_high": 0.2, "c_r": 0.0, "c_a": 0.0}


def prices(result):
    b = result.book
    return [(int(s), float(p)) for s, p in zip(b.slot[b.side > 0], b.price[b.side > 0], strict=True)], [
        float(p) for p in b.price[b.side < 0]
    ]


def test_zip_margin_updates_hand_computed():
    book = two_traders(3)
    limit = np.tile([0.30, 0.10], 3)
    params = ZIPParams(learning_rate=0.5, momentum=0.5, rule="cliff", **FIXED)
    r = learn(book, limit, 0.10, 0.30, lambda b: uniform_price(b, k=0.5), "zip", round_slots=1, params=params)
    bids, asks = prices(r)
    # slot 0: μ = 0.2 → bid 0.30 − 0.2·0.2 = 0.26, ask 0.10 + 0.2·0.2 = 0.14; trade at q = 0.20.
    # Both raise their margin toward q (c_R = c_A = 0: τ = q):
    #   Γ = 0.5·0 + 0.5·0.5·(0.20 − 0.26) = −0.015 → bid 0.245;  seller +0.015 → ask 0.155
    # slot 1 (q = 0.20 again): Γ = 0.5·(−0.015) + 0.25·(0.20 − 0.245) = −0.01875 → bid 0.22625
    assert [p for _, p in bids] == pytest.approx([0.26, 0.245, 0.22625])
    assert asks == pytest.approx([0.14, 0.155, 0.17375])
    np.testing.assert_allclose(r.clearing_price, 0.20)


def test_round_prices_orders_with_the_margins_of_its_start():
    """round_slots=2: slots 0 and 1 are priced together, then the margins learn from both slots in order."""
    book = two_traders(3)
    limit = np.tile([0.30, 0.10], 3)
    params = ZIPParams(learning_rate=0.5, momentum=0.0, rule="cliff", **FIXED)
    r = learn(book, limit, 0.10, 0.30, lambda b: uniform_price(b, k=0.5), "zip", round_slots=2, params=params)
    bids, _ = prices(r)
    # slots 0, 1 at 0.26; updates 0.26 → 0.23 (slot 0, q = 0.20) → 0.215 (slot 1, q = 0.20); slot 2 bids 0.215
    assert [p for _, p in bids] == pytest.approx([0.26, 0.26, 0.215])


def test_no_trade_moves_both_sides_toward_the_best_opposite_quote():
    # buyer r = 0.20 at margin 0.5 bids 0.15; seller r = 0.18 at margin 0.5 asks 0.24: no trade.
    book = two_traders(2)
    limit = np.tile([0.20, 0.18], 2)
    params = ZIPParams(learning_rate=1.0, momentum=0.0, margin_low=0.5, margin_high=0.5, c_r=0.0, c_a=0.0)
    r = learn(book, limit, 0.10, 0.30, uniform_price, "zip", round_slots=1, params=params)
    bids, asks = prices(r)
    # β = 1: the buyer jumps to the best ask 0.24, capped at its reservation 0.20; the seller to the best bid 0.15,
    # floored at its reservation 0.18
    assert [p for _, p in bids] == pytest.approx([0.15, 0.20]) and asks == pytest.approx([0.24, 0.18])
    assert r.traded.tolist() == pytest.approx([0.0, 1.0])


def test_zip_params_are_checked():
    with pytest.raises(ConfigError, match="learning_rate"):
        ZIPParams(learning_rate=0.0)
    with pytest.raises(ConfigError, match="momentum"):
        ZIPParams(momentum=1.0)
    with pytest.raises(ConfigError, match="ZIP rule"):
        ZIPParams(rule="cda")
    with pytest.raises(ConfigError, match="round_slots"):
        learn(two_traders(1), [0.3, 0.1], 0.1, 0.3, uniform_price, "zip", round_slots=0)
    with pytest.raises(ConfigError, match="unknown agent strategy"):
        learn(two_traders(1), [0.3, 0.1], 0.1, 0.3, uniform_price, "aa")


# ---- a stationary market (Smith-style stepped curves): ZIP learns the competitive equilibrium --------------
VALUES = np.round(np.arange(0.20, 0.39, 0.02), 2)  # 10 buyers 0.20 … 0.38
COSTS = np.round(np.arange(0.12, 0.31, 0.02), 2)  # 10 sellers 0.12 … 0.30
P0, MAX_GAIN = 0.25, 0.98  # 7 efficient trades, equilibrium price in [0.24, 0.26]; Σ (value − cost) of them


def stationary(T):
    lim = np.tile(np.r_[VALUES, COSTS], T)
    book = OrderBook.from_arrays(
        participant=np.tile(np.arange(20), T), side=np.tile(np.r_[np.ones(10), -np.ones(10)], T).astype(np.int8),
        quantity=np.ones(20 * T), price=lim, slot=np.repeat(np.arange(T), 20), id=np.arange(20 * T),
    )  # fmt: skip
    return book, lim


def late_efficiency(result, lim, T, last=50):
    t = result.trades
    m = t.slot >= T - last
    return float(np.sum(t.quantity[m] * (lim[t.buy[m]] - lim[t.sell[m]]))) / (MAX_GAIN * last)


@pytest.mark.parametrize(
    "mechanism",
    [lambda b: uniform_price(b, k=0.5), pay_as_bid, mcafee, lambda b: bilateral(b, k=0.5)],
    ids=["uniform", "pay-as-bid", "mcafee", "bilateral"],
)
def test_zip_converges_to_equilibrium_and_beats_zic(mechanism):
    rule = "call"
    T = 200
    book, lim = stationary(T)
    assert allocative_efficiency(mechanism(book), lim) == pytest.approx(1.0)  # truthful books are efficient
    zip_eff, zic_eff = [], []
    for seed in range(3):
        r = learn(book, lim, 0.10, 0.40, mechanism, "zip", round_slots=1, params=ZIPParams(rule=rule), seed=seed,
                  history=True)  # fmt: skip
        res, hist = r
        late = hist["slot"] >= T - 50
        # transaction prices settle at the competitive equilibrium (buyers' paid price; Cliff 1997, fig. 7 ff.)
        assert np.mean(0.5 * (hist["price_buy"] + hist["price_sell"])[late]) == pytest.approx(P0, abs=0.015)
        zip_eff.append(late_efficiency(res, lim, T))
        zic = learn(book, lim, 0.10, 0.40, mechanism, "zic", seed=seed)
        zic_eff.append(late_efficiency(zic, lim, T))
    assert np.mean(zip_eff) >= 0.95 and np.mean(zip_eff) >= np.mean(zic_eff)
    # early on (initial margins 0.05–0.35) ZIP is further from the optimum than after learning
    first = learn(book.select(book.slot < 1), lim[:20], 0.10, 0.40, mechanism, "zip", params=ZIPParams(rule=rule))
    assert allocative_efficiency(first, lim[:20]) <= np.mean(zip_eff) + 1e-9


def test_cliffs_cda_rule_oscillates_in_a_call_market():
    """Why rule "call" is the default: with Cliff's directions the uniform auction settles at P0 but loses half the
    gains (traders that traded aim below q and drop out, the others come back)."""
    T = 200
    book, lim = stationary(T)
    r, hist = learn(book, lim, 0.10, 0.40, uniform_price, "zip", round_slots=1, params=ZIPParams(rule="cliff"),
                    history=True)  # fmt: skip
    assert np.mean(hist["price_buy"][hist["slot"] >= T - 50]) == pytest.approx(P0, abs=0.015)
    assert late_efficiency(r, lim, T) < 0.7


def test_fixed_strategies_clear_the_same_by_rounds_or_at_once():
    """zic on a slot-sorted book is cleared day by day: identical trades to one call on a shuffled copy."""
    rng = np.random.default_rng(4)
    n = 400
    slot = np.sort(rng.integers(0, 30, n))
    lim = rng.uniform(0.1, 0.3, n)
    book = OrderBook.from_arrays(participant=rng.integers(0, 20, n), side=np.where(rng.random(n) < 0.5, 1, -1),
                                 quantity=rng.uniform(0.1, 2, n), price=lim, slot=slot, id=np.arange(n))  # fmt: skip
    by_rounds = learn(book, lim, 0.1, 0.3, pay_as_bid, "zic", round_slots=7, seed=3)
    assert len(by_rounds.slots) == len(np.unique(slot))
    once = pay_as_bid(book.with_prices(by_rounds.book.price))
    np.testing.assert_allclose(by_rounds.filled, once.filled)
    np.testing.assert_allclose(by_rounds.bill, once.bill)
    np.testing.assert_allclose(by_rounds.fees, once.fees)
