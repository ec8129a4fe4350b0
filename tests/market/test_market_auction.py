"""Double auctions: hand-computed books, brute-force references and invariants (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orderbook_helpers import (
    assert_invariants,
    order_books,
    random_book,
    reference_quantity,
    reference_uniform,
    reference_welfare,
)

from peergrid import ConfigError, DataError
from peergrid.market import REGISTRY
from peergrid.market.auction import efficient_quantity, mcafee, pay_as_bid, slot_codes, uniform_price
from peergrid.market.orders import OrderBook


def small_book() -> OrderBook:
    # bids 2 kWh @ 0.30, 1 kWh @ 0.20; asks 1.5 kWh @ 0.10, 3 kWh @ 0.25
    return OrderBook.from_arrays(
        participant=[0, 1, 2, 3],
        side=["buy", "buy", "sell", "sell"],
        quantity=[2, 1, 1.5, 3],
        price=[0.3, 0.2, 0.1, 0.25],
    )


def unit_book(bids, asks) -> OrderBook:
    n = len(bids) + len(asks)
    return OrderBook.from_arrays(
        participant=range(n), side=[1] * len(bids) + [-1] * len(asks), quantity=[1.0] * n, price=list(bids) + list(asks)
    )


# ------------------------------------------------------------------ uniform
def test_uniform_hand_computed():
    r = uniform_price(small_book())
    # Q* = 2: bid 0.30 takes 1.5 @ ask 0.10 and 0.5 @ ask 0.25; marginal pair (0.30, 0.25)
    assert r.traded[0] == pytest.approx(2.0)
    assert r.clearing_price[0] == pytest.approx(0.275)
    df = r.trades.to_frame(r.book)
    assert df[["buy_id", "sell_id"]].to_numpy().tolist() == [[0, 2], [0, 3]]
    np.testing.assert_allclose(df.quantity_kwh, [1.5, 0.5])
    assert r.welfare[0] == pytest.approx(1.5 * 0.2 + 0.5 * 0.05)
    np.testing.assert_allclose(r.residual, [0.0, 1.0, 0.0, 2.5])


@pytest.mark.parametrize(("k", "price"), [(0.0, 0.25), (1.0, 0.30), (0.25, 0.2625)])
def test_uniform_k_rule(k, price):
    assert uniform_price(small_book(), k=k).clearing_price[0] == pytest.approx(price)


def test_uniform_no_cross_and_one_sided():
    r = uniform_price(unit_book([0.1], [0.2]))
    assert len(r.trades) == 0 and np.isnan(r.clearing_price[0])
    assert r.summary()["clearing_price"] is None
    r = uniform_price(unit_book([0.3, 0.2], []))
    assert len(r.trades) == 0
    empty = OrderBook.from_arrays(participant=[], side=np.zeros(0, np.int8), quantity=[], price=[])
    assert len(uniform_price(empty).trades) == 0


def test_equal_prices_trade_and_time_priority():
    # two bids at the same price, one ask of 1.5 kWh: the earlier bid fills first
    book = OrderBook.from_arrays(participant=[0, 1, 2], side=[1, 1, -1], quantity=[1, 1, 1.5], price=[0.2, 0.2, 0.2])
    r = uniform_price(book)
    np.testing.assert_allclose(r.filled, [1.0, 0.5, 1.5])
    assert r.clearing_price[0] == pytest.approx(0.2)
    # reversed book order reverses priority
    book2 = OrderBook.from_arrays(participant=[1, 0, 2], side=[1, 1, -1], quantity=[1, 1, 1.5], price=[0.2, 0.2, 0.2])
    np.testing.assert_allclose(uniform_price(book2).filled, [1.0, 0.5, 1.5])


def test_residuals_go_to_grid():
    r = uniform_price(small_book(), retail=0.35, feed_in=0.05)
    np.testing.assert_allclose(r.grid_bill, [0.0, 0.35, 0.0, -2.5 * 0.05])
    assert r.grid_import[0] == pytest.approx(1.0) and r.grid_export[0] == pytest.approx(2.5)
    # bill = peer payments − receipts + grid
    np.testing.assert_allclose(r.bill, [2 * 0.275, 0.35, -1.5 * 0.275, -0.5 * 0.275 - 2.5 * 0.05])
    assert r.summary()["grid_bill"] == pytest.approx(0.35 - 0.125)


def test_tariffs_per_slot_and_errors():
    book = OrderBook.from_arrays(participant=[0, 1], side=[1, -1], quantity=[1, 2], price=[0.3, 0.1], slot=[2, 2])
    r = uniform_price(book, retail=[0.3, 0.3, 0.4], feed_in=[0.1, 0.1, 0.05])
    assert r.retail.tolist() == [0.4] and r.grid_bill[1] == pytest.approx(-0.05)
    with pytest.raises(DataError, match="indexed by slot"):
        uniform_price(book, retail=[0.3], feed_in=[0.1])
    with pytest.raises(ConfigError, match="both"):
        uniform_price(book, retail=0.3)
    with pytest.raises(DataError, match="exceeds retail"):
        uniform_price(book, retail=0.1, feed_in=0.2)
    with pytest.raises(ConfigError, match="k must be"):
        uniform_price(book, k=1.5)
    with pytest.raises(DataError, match="grid prices unknown"):
        _ = uniform_price(book).grid_bill


def test_slots_are_separate_auctions():
    book = random_book(400, seed=3, n_slots=7)
    r = uniform_price(book, k=0.3)
    for i, s in enumerate(r.slots):
        sub = book.select(book.slot == s)
        rs = uniform_price(sub, k=0.3)
        assert r.traded[i] == pytest.approx(rs.traded[0], rel=1e-12)
        assert r.clearing_price[i] == pytest.approx(rs.clearing_price[0])
        assert r.welfare[i] == pytest.approx(rs.welfare[0], rel=1e-12)
    assert_invariants(r, uniform=True)


def test_slot_codes_sparse_and_dense():
    slots, codes = slot_codes(np.array([5, 3, 5, 10**12]))
    assert slots.tolist() == [3, 5, 10**12] and codes.tolist() == [1, 0, 1, 2]
    slots, codes = slot_codes(np.array([-2, 0, -2]))
    assert slots.tolist() == [-2, 0] and codes.tolist() == [0, 1, 0]


@pytest.mark.parametrize("tick", [None, 0.01])
def test_large_book_matches_reference_volume(tick):
    book = random_book(20_000, seed=1, n_slots=5, tick=tick)
    r = uniform_price(book)
    assert_invariants(r, uniform=True)
    for i, s in enumerate(r.slots):
        ref = reference_quantity(book.select(book.slot == s))
        assert r.traded[i] == pytest.approx(ref, rel=1e-9)
    np.testing.assert_allclose(efficient_quantity(book), r.traded, rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(order_books(max_orders=8), st.floats(0, 1))
def test_uniform_equals_brute_force(book, k):
    r = uniform_price(book, k=k)
    assert_invariants(r, uniform=True)
    assert r.traded.sum() == pytest.approx(reference_quantity(book), abs=1e-9)
    assert r.welfare.sum() == pytest.approx(reference_welfare(book), abs=1e-9)
    # every trade of a slot at its clearing price
    if len(r.trades):
        np.testing.assert_allclose(r.trades.price_buy, r.clearing_price[np.searchsorted(r.slots, r.trades.slot)])


@settings(max_examples=200, deadline=None)
@given(order_books(max_orders=10, n_participants=4), st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_pay_as_clear_equals_unit_brute_force(book, k):
    """Same fills per order (price-time priority) and the same price as a 1-kWh-unit brute force."""
    r = uniform_price(book, k=k)
    filled, price = reference_uniform(book, k)
    np.testing.assert_allclose(r.filled, filled, atol=1e-9)
    if np.isnan(price):
        assert len(r.trades) == 0
    else:
        assert r.clearing_price[0] == pytest.approx(price, abs=1e-12)
        np.testing.assert_allclose(r.trades.price_buy, price, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(order_books(max_orders=12, n_slots=3, integer_quantities=False), st.floats(0, 1))
def test_uniform_invariants_multislot(book, k):
    r = uniform_price(book, k=k, retail=1.0, feed_in=0.0)
    assert_invariants(r, uniform=True)
    for i, s in enumerate(r.slots):
        assert r.traded[i] == pytest.approx(reference_quantity(book.select(book.slot == s)), abs=1e-9)
    np.testing.assert_allclose(r.bill.sum(), r.grid_bill.sum(), atol=1e-9)


# ------------------------------------------------------------- pay-as-bid
def test_pay_as_bid_hand_computed():
    r = pay_as_bid(small_book())
    np.testing.assert_allclose(r.trades.price_buy, [0.3, 0.3])
    np.testing.assert_allclose(r.trades.price_sell, [0.1, 0.25])
    assert r.fees[0] == pytest.approx(r.welfare[0])
    assert np.isnan(r.clearing_price[0])


@settings(max_examples=100, deadline=None)
@given(order_books(max_orders=10, n_slots=2, integer_quantities=False))
def test_pay_as_bid_invariants(book):
    r = pay_as_bid(book)
    assert_invariants(r)
    u = uniform_price(book)
    np.testing.assert_allclose(r.traded, u.traded, atol=1e-12)
    np.testing.assert_allclose(r.filled, u.filled, atol=1e-12)
    np.testing.assert_allclose(r.fees, r.welfare, atol=1e-9)  # all gains go to the operator


# ----------------------------------------------------------------- McAfee
def test_mcafee_all_trade_at_p0():
    # k = 3 (6 >= 5); p0 = (4 + 7)/2 = 5.5 in [5, 6]
    r = mcafee(unit_book([10, 8, 6, 4], [1, 3, 5, 7]))
    assert r.traded[0] == 3 and r.clearing_price[0] == pytest.approx(5.5)
    np.testing.assert_allclose(r.trades.price_buy, 5.5)
    assert r.fees[0] == pytest.approx(0.0)


def test_mcafee_trade_reduction():
    # k = 3; p0 = (1 + 12)/2 = 6.5 > b_3 = 6: two trade, buyers pay 6, sellers get 5
    r = mcafee(unit_book([10, 8, 6, 1], [1, 3, 5, 12]))
    assert r.traded[0] == 2
    np.testing.assert_allclose(r.trades.price_buy, 6.0)
    np.testing.assert_allclose(r.trades.price_sell, 5.0)
    assert r.fees[0] == pytest.approx(2.0)
    assert np.isnan(r.clearing_price[0]) and r.summary()["clearing_price"] is None
    assert sorted(r.trades.buy.tolist()) == [0, 1] and sorted(r.trades.sell.tolist()) == [4, 5]


def test_mcafee_without_next_order_reduces():
    r = mcafee(small_book())  # no third ask: no p0, the marginal pair is dropped
    assert r.traded[0] == 0.0


def test_mcafee_divisible_reduction_cuts_longer_side():
    # bids 3 x 1 kWh @ 0.5, 0.4, 0.3; asks 0.5 kWh @ 0.1 then 5 kWh @ 0.2 (marginal), no next ask
    book = OrderBook.from_arrays(
        participant=range(5), side=[1, 1, 1, -1, -1], quantity=[1, 1, 1, 0.5, 5], price=[0.5, 0.4, 0.3, 0.1, 0.2]
    )
    r = mcafee(book)
    # reduction: bid 0.3 and ask 0.2 leave; bids 0.5 and 0.4 share the 0.5 kWh ask in priority order
    np.testing.assert_allclose(r.filled, [0.5, 0.0, 0.0, 0.5, 0.0])
    assert r.trades.price_buy[0] == pytest.approx(0.3) and r.trades.price_sell[0] == pytest.approx(0.2)
    assert_invariants(r)


@settings(max_examples=150, deadline=None)
@given(order_books(max_orders=10, n_slots=2))
def test_mcafee_invariants(book):
    r = mcafee(book)
    assert_invariants(r)
    u = uniform_price(book)
    assert np.all(r.traded <= u.traded + 1e-9)
    assert np.all(r.welfare <= u.welfare + 1e-9)
    # at most the marginal pair is lost: every order that trades under McAfee also trades efficiently
    assert np.all((r.filled > 0) <= (u.filled > 0))


def test_registry():
    auctions = {"uniform": uniform_price, "pay-as-bid": pay_as_bid, "mcafee": mcafee}
    assert all(REGISTRY[name].function is fn and REGISTRY[name].kind == "order-book" for name, fn in auctions.items())
    with pytest.raises(DataError, match="OrderBook"):
        uniform_price([1, 2, 3])
