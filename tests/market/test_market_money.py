"""peergrid.market.money: the rounding rule of settlements (hypothesis properties, exact references)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from peergrid.core.errors import DataError
from peergrid.market import bid_commitment_minor, settle_trades, to_minor

prices = st.floats(0.0, 2.0, allow_nan=False, allow_infinity=False)
trades = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 50_000), prices, prices), min_size=0, max_size=60
)


def _exact(q: int, p: float) -> Fraction:
    return Fraction(q) * Fraction(p) / 10  # minor units, exactly


@settings(max_examples=300, deadline=None)
@given(trades)
def test_party_totals_round_once_and_trades_add_up(rows):
    """Each party's total is its exact total rounded (≤ ½ cent off, ≤ ⌈exact⌉); every trade within 1 cent."""
    b = [r[0] for r in rows]
    s = [r[1] for r in rows]
    q = [r[2] for r in rows]
    pb = [max(r[3], r[4]) for r in rows]
    ps = [min(r[3], r[4]) for r in rows]
    m = settle_trades(b, s, q, pb, ps)
    assert m.payment.dtype == np.int64 and m.receipt.dtype == np.int64
    for party, prices_, amounts in ((b, pb, m.payment), (s, ps, m.receipt)):
        for who in set(party):
            idx = [i for i, x in enumerate(party) if x == who]
            exact = sum((_exact(q[i], prices_[i]) for i in idx), Fraction(0))
            total = int(sum(int(amounts[i]) for i in idx))
            assert abs(total - exact) <= Fraction(1, 2) + Fraction(1, 10**6)
            assert total <= math.ceil(exact - Fraction(1, 10**6))
            for i in idx:
                assert abs(int(amounts[i]) - _exact(q[i], prices_[i])) < 1 + Fraction(1, 10**6)
    # money is conserved exactly: what buyers pay = what sellers receive + the community's residual
    assert int(m.payment.sum()) == int(m.receipt.sum()) + m.residual
    assert int(m.fee.sum()) == m.residual
    spread = sum((_exact(q[i], pb[i]) - _exact(q[i], ps[i]) for i in range(len(rows))), Fraction(0))
    parties = len(set(b)) + len(set(s))
    assert abs(m.residual - spread) <= Fraction(parties, 2) + Fraction(1, 10**6)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.integers(1, 40), min_size=20, max_size=80),
    p_bid=st.floats(0.01, 1.0, allow_nan=False),
    cheaper=st.sets(st.integers(0, 79), max_size=5),
)
@example(parts=[15] * 50, p_bid=0.35, cheaper=set())  # the issue-15 attack
def test_a_bid_never_pays_more_than_it_committed(parts, p_bid, cheaper):
    """However a bid is split into trades at prices ≤ its limit, the buyer pays ≤ ⌈q·p⌉ (the commitment)."""
    q = np.array(parts)
    price = np.array([p_bid * (0.9 if i in cheaper else 1.0) for i in range(len(q))])
    m = settle_trades(np.zeros(len(q)), np.arange(len(q)), q, price, price * 0.5)
    assert int(m.payment.sum()) <= bid_commitment_minor(int(q.sum()), p_bid)


@settings(max_examples=200, deadline=None)
@given(trades)
def test_largest_remainder_order(rows):
    """Within a party, a trade rounded down never has a larger fractional part than one rounded up."""
    b = [r[0] for r in rows]
    q = [r[2] for r in rows]
    p = [r[3] for r in rows]
    m = settle_trades(b, b, q, p, p)
    frac = m.payment_exact - np.floor(m.payment_exact)
    up = m.payment - np.floor(m.payment_exact).astype(np.int64)
    assert set(np.unique(up).tolist()) <= {0, 1}
    for who in set(b):
        idx = np.flatnonzero(np.array(b) == who)
        if (up[idx] == 1).any() and (up[idx] == 0).any():
            assert frac[idx][up[idx] == 1].min() >= frac[idx][up[idx] == 0].max()
        assert not (up[idx][frac[idx] == 0] == 1).any()  # whole amounts are paid exactly


def test_fifty_tiny_trades_round_once():
    """The issue-15 attack: 50 × 15 Wh at 0.35 = 26.25 cents; per-trade rounding made it 50."""
    q, p = np.full(50, 15), np.full(50, 0.35)
    assert int(to_minor(q / 1000 * p).sum()) == 50  # the old rule, trade by trade
    m = settle_trades(np.zeros(50), np.arange(50), q, p, np.full(50, 0.10))
    assert int(m.payment.sum()) == 26 <= bid_commitment_minor(750, 0.35) == 27
    assert sorted(set(m.payment.tolist())) == [0, 1]
    assert int(m.receipt.sum()) == 0 and m.residual == 26  # 50 sellers × 0.15 cent each round to 0


def test_commitment_and_to_minor():
    assert bid_commitment_minor(750, 0.35) == 27
    assert bid_commitment_minor(1000, 0.30) == 30  # float noise of 0.3 is not a cent
    assert bid_commitment_minor(1, 0.0) == 0 and bid_commitment_minor(5, -1.0) == 0
    assert to_minor([0.125, 0.135, -0.005]).tolist() == [12, 14, 0]


def test_bad_input_is_a_data_error():
    with pytest.raises(DataError, match="one entry per trade"):
        settle_trades([0], [1, 2], [1], [0.1], [0.1])
    with pytest.raises(DataError, match="price_buy"):
        settle_trades([0], [1], [1], [np.nan], [0.1])
    with pytest.raises(DataError, match="quantity_wh"):
        settle_trades([0], [1], [-1], [0.1], [0.1])
    empty = settle_trades([], [], [], [], [])
    assert empty.payment.shape == (0,) and empty.residual == 0
