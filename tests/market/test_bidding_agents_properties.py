"""Bidding agents: no loss-making order or trade (hypothesis), conservation for every mechanism, reproducibility."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid.core import make_index
from peergrid.market import ORDER_MECHANISMS, OrderBook, clear_net
from peergrid.market.agents import STRATEGIES, ZIPParams, learn

MECHANISMS = list(ORDER_MECHANISMS)
TOL = 1e-9


@st.composite
def agent_markets(draw):
    """A small multi-slot book with reservation prices inside per-slot bands [λs, λb]."""
    T = draw(st.integers(1, 6))
    n = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    ls = rng.uniform(0.0, 0.15, T)
    lb = ls + rng.uniform(0.0, 0.3, T)
    slot = rng.integers(0, T, n)
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    limit = ls[slot] + rng.random(n) * (lb[slot] - ls[slot])
    book = OrderBook.from_arrays(participant=rng.integers(0, 5, n), side=side, quantity=rng.uniform(0.1, 3, n),
                                 price=limit, slot=slot, id=np.arange(n))  # fmt: skip
    return book, limit, ls, lb, seed


@settings(max_examples=60, deadline=None)
@given(market=agent_markets(), strategy=st.sampled_from(STRATEGIES), mechanism=st.sampled_from(MECHANISMS),
       round_slots=st.integers(1, 3))  # fmt: skip
def test_agents_never_trade_at_a_loss(market, strategy, mechanism, round_slots):
    book, limit, ls, lb, seed = market
    fn = ORDER_MECHANISMS[mechanism]
    rule = "cliff" if mechanism == "pay-as-bid" else "call"
    r = learn(book, limit, ls[book.slot], lb[book.slot], lambda b: fn(b, retail=lb, feed_in=ls), strategy,
              round_slots=round_slots, params=ZIPParams(rule=rule), seed=seed)  # fmt: skip
    # the result's book is sorted by slot; map limits by order id
    lim = limit[r.book.id]
    buy = r.book.side > 0
    p = r.book.price
    assert np.all(p[buy] <= lim[buy] + TOL) and np.all(p[~buy] >= lim[~buy] - TOL)  # within the reservation
    assert np.all(p >= ls[r.book.slot] - TOL) and np.all(p <= lb[r.book.slot] + TOL)  # within [λs, λb]
    t = r.trades
    assert np.all(t.price_buy <= lim[t.buy] + TOL) and np.all(t.price_sell >= lim[t.sell] - TOL)
    assert np.all(t.price_buy >= ls[t.slot] - TOL) and np.all(t.price_sell <= lb[t.slot] + TOL)
    # energy: no order fills beyond its quantity, bought = sold per slot
    assert np.all(r.filled <= r.book.quantity + TOL)
    np.testing.assert_allclose(np.bincount(t.slot, t.quantity, minlength=len(ls)),
                               np.bincount(r.book.slot, np.where(buy, r.filled, 0.0), minlength=len(ls)))  # fmt: skip


def community(load, gen, retail, feed_in, cap):
    T, N = load.shape
    parts = pd.DataFrame({"id": [f"m{i}" for i in range(N)], "battery_kwh": cap, "battery_kw": np.asarray(cap) / 2})
    return peergrid.Community(make_index("2022-08-01", T, "1h"), parts, load, gen, retail, feed_in)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 6),
    t=st.integers(1, 30),
    market=st.sampled_from(MECHANISMS),
    bidding=st.sampled_from(["truthful", "zero-intelligence", "zic", "zip"]),
)
def test_money_and_energy_balance_for_every_strategy_and_mechanism(seed, n, t, market, bidding):
    rng = np.random.default_rng(seed)
    load = rng.uniform(0, 3, (t, n))
    gen = rng.uniform(0, 3, (t, n)) * (rng.random(n) < 0.6)
    cap = np.where(rng.random(n) < 0.5, 5.0, 0.0)
    com = community(load, gen, rng.uniform(0.2, 0.5, t), 0.05, cap)
    res = peergrid.simulate(com, market=market, bidding=bidding, seed=seed, fee=0.01)
    c, a = res.clearing, res.allocation()
    d, s = np.maximum(res.net, 0), np.maximum(-res.net, 0)
    np.testing.assert_allclose(a.bought.sum(1), a.sold.sum(1), atol=TOL)  # energy: bought = sold per slot
    np.testing.assert_allclose(a.bought + a.grid_import, d, atol=TOL)
    np.testing.assert_allclose(a.sold + a.grid_export, s, atol=TOL)
    np.testing.assert_allclose(a.bill.sum(1), c.grid_bill + c.fees, atol=TOL)  # money: Σ bills = grid + fees
    assert np.all((c.price_buy >= c.feed_in - 1e-12) & (c.price_buy <= c.retail + 1e-12))
    assert np.all((c.price_sell >= c.feed_in - 1e-12) & (c.price_sell <= c.retail + 1e-12))
    assert np.all(res.participants["savings"] >= -TOL)  # nobody worse off than with the grid alone


@pytest.mark.parametrize("bidding", ["zic", "zip"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_seeded_reproducibility(bidding, mechanism):
    rng = np.random.default_rng(11)
    net = rng.normal(0, 1, (72, 15))
    lb = rng.uniform(0.2, 0.4, 72)
    run = lambda seed: clear_net(net, lb, 0.05, mechanism, bidding=bidding, seed=seed, round_slots=24)  # noqa: E731
    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a.peer, b.peer)
    np.testing.assert_array_equal(a.bill, b.bill)
    assert not np.array_equal(a.bill, c.bill)
    assert a.bidding == bidding and a.options["seed"] == 5


def test_zip_learns_across_days_on_an_energy_market():
    """Demand twice the supply (competitive price λb): the ZIP trade price climbs day by day."""
    T = 96 * 20
    net = np.tile(np.r_[np.full(8, 1.0), np.full(4, -1.0)], (T, 1))
    c = clear_net(net, 0.30, 0.10, "uniform", bidding="zip", seed=1, round_slots=96)
    day = c.price_sell.reshape(20, 96).mean(axis=1)
    assert day[-1] > day[0] + 0.01 and np.all(np.diff(day[::5]) > 0) and day[-1] <= 0.30 + 1e-12
    assert c.options == {"seed": 1, "k": 0.5, "learning_rate": 0.3, "momentum": 0.05, "round_slots": 96}
