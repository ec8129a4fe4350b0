"""Reputation scores (exponential smoothing of delivery performance) and reputation pricing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orderbook_helpers import assert_invariants, order_books

from peergrid import ConfigError, DataError
from peergrid.market.auction import mcafee, pay_as_bid, uniform_price
from peergrid.market.bilateral import bilateral
from peergrid.market.orders import OrderBook
from peergrid.market.reputation import (
    ReputationRule,
    apply_reputation,
    clear_with_reputation,
    delivery_performance,
    price_factors,
    reputation_history,
    reputation_limits,
    update_reputation,
)


def test_delivery_performance():
    x = delivery_performance([2.0, 2.0, 2.0, 0.0, 1.0], [2.0, 1.0, 3.0, 5.0, 4.0])
    np.testing.assert_allclose(x[[0, 1, 2, 4]], [1.0, 0.5, 0.5, 0.0])
    assert np.isnan(x[3])
    with pytest.raises(DataError, match=">= 0"):
        delivery_performance([-1.0], [1.0])


def test_update_rule():
    r = update_reputation([1.0, 1.0, 0.5], promised=[2.0, 2.0, 0.0], delivered=[2.0, 0.0, 1.0], alpha=0.2)
    np.testing.assert_allclose(r, [1.0, 0.8, 0.5])  # exact, missed entirely, no promise
    with pytest.raises(ConfigError, match="alpha"):
        update_reputation([1.0], [1.0], [1.0], alpha=0.0)
    with pytest.raises(DataError, match=r"score must be in \[0, 1\]"):
        update_reputation([1.2], [1.0], [1.0])


def test_history_matches_repeated_updates():
    rng = np.random.default_rng(0)
    promised = rng.uniform(0, 2, (50, 6)) * (rng.random((50, 6)) < 0.7)
    delivered = promised * rng.uniform(0.5, 1.5, (50, 6))
    h = reputation_history(promised, delivered, alpha=0.3, initial=0.5)
    r = np.full(6, 0.5)
    for t in range(50):
        r = update_reputation(r, promised[t], delivered[t], alpha=0.3)
        np.testing.assert_allclose(h[t], r)
    assert np.all((h >= 0) & (h <= 1))
    assert ReputationRule(alpha=0.3, initial=0.5).history(promised, delivered)[-1] == pytest.approx(r)


def test_a_cheater_converges_to_its_performance():
    promised = np.ones((200, 1))
    h = reputation_history(promised, 0.6 * promised)
    assert h[-1, 0] == pytest.approx(0.6, abs=1e-9)
    assert h[0, 0] == pytest.approx(0.8 + 0.2 * 0.6)


def test_pricing_hand_computed():
    u, v = price_factors([1.0, 0.0, 0.5], surcharge=0.1, discount=0.2)
    np.testing.assert_allclose(u, [0.0, 0.1, 0.05])
    np.testing.assert_allclose(v, [0.0, 0.2, 0.1])
    book = OrderBook.from_arrays(participant=[0, 1], side=[1, -1], quantity=[1, 1], price=[0.30, 0.10])
    r = apply_reputation(uniform_price(book), scores=[0.0, 0.5], surcharge=0.1, discount=0.2)
    # p = 0.2; buyer (score 0) pays 0.2·1.1, seller (score 0.5) receives 0.2·0.9
    assert r.trades.price_buy[0] == pytest.approx(0.22) and r.trades.price_sell[0] == pytest.approx(0.18)
    assert r.fees[0] == pytest.approx(0.04) and np.isnan(r.clearing_price[0])
    with pytest.raises(ConfigError, match="surcharge"):
        price_factors([1.0], surcharge=1.0)


def test_limits_keep_individual_rationality():
    book = OrderBook.from_arrays(
        participant=[0, 1, 2, 3], side=[1, 1, -1, -1], quantity=[1] * 4, price=[0.3, -0.1, 0.1, -0.2]
    )
    adj = reputation_limits(book, scores=[0.0, 0.0, 0.0, 0.0], surcharge=0.1, discount=0.1)
    p = adj.price
    # b' + 0.1|b'| = b and a' − 0.1|a'| = a
    np.testing.assert_allclose(p[:2] + 0.1 * np.abs(p[:2]), book.price[:2])
    np.testing.assert_allclose(p[2:] - 0.1 * np.abs(p[2:]), book.price[2:])


def test_book_reputation_column_and_missing_scores():
    book = OrderBook.from_arrays(
        participant=[0, 1], side=[1, -1], quantity=[1, 1], price=[0.3, 0.1], reputation=[0.0, 1.0]
    )
    r = clear_with_reputation(book, uniform_price)
    assert r.trades.price_buy[0] > r.trades.price_sell[0]
    plain = OrderBook.from_arrays(participant=[0, 1], side=[1, -1], quantity=[1, 1], price=[0.3, 0.1])
    with pytest.raises(DataError, match="no reputation scores"):
        clear_with_reputation(plain, uniform_price)
    with pytest.raises(ConfigError, match="initial"):
        ReputationRule(initial=2.0)


@settings(max_examples=100, deadline=None)
@given(
    order_books(max_orders=10, n_slots=2, integer_quantities=False),
    st.lists(st.floats(0, 1), min_size=5, max_size=5),
    st.sampled_from([uniform_price, pay_as_bid, mcafee, bilateral]),
    st.floats(0, 0.5),
    st.floats(0, 0.5),
)
def test_reputation_pricing_invariants(book, scores, mechanism, surcharge, discount):
    rule = ReputationRule(surcharge=surcharge, discount=discount)
    r = rule.clear(book, mechanism, scores=scores)
    assert r.book is book
    assert_invariants(r)  # IR against the true limits, budget balance with the reputation spread as fees
    base = mechanism(reputation_limits(book, scores, surcharge, discount))
    np.testing.assert_allclose(r.trades.quantity, base.trades.quantity)
    # a perfect score never pays more / receives less than the reference price
    s = np.asarray(scores)
    perfect_buy = s[r.trades.buyer] == 1.0
    np.testing.assert_allclose(r.trades.price_buy[perfect_buy], base.trades.price_buy[perfect_buy])
