"""Continuous double auction: price-time priority, market orders, cancel, invariants vs a naive reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid import DataError
from peergrid.market.cda import ContinuousDoubleAuction


class NaiveBook:
    """Reference: a list of resting orders searched linearly (obviously correct, slow)."""

    def __init__(self):
        self.resting = []  # [id, participant, side, qty, price, seq]
        self.fills = []
        self.seq = 0

    def submit(self, oid, participant, side, qty, price):
        limit = price if price is not None else (math.inf if side == 1 else -math.inf)
        while qty > 1e-12:
            opp = [o for o in self.resting if o[2] == -side]
            if not opp:
                break
            best = min(opp, key=lambda o: (o[4], o[5])) if side == 1 else min(opp, key=lambda o: (-o[4], o[5]))
            if (side == 1 and best[4] > limit) or (side == -1 and best[4] < limit):
                break
            q = min(qty, best[3])
            if side == 1:
                self.fills.append((oid, best[0], participant, best[1], q, best[4]))
            else:
                self.fills.append((best[0], oid, best[1], participant, q, best[4]))
            best[3] -= q
            qty -= q
            if best[3] <= 1e-12:
                self.resting.remove(best)
        if qty > 1e-12 and price is not None:
            self.resting.append([oid, participant, side, qty, price, self.seq])
            self.seq += 1

    def cancel(self, oid):
        for o in self.resting:
            if o[0] == oid:
                self.resting.remove(o)
                return o[3]
        return None


def test_price_time_priority_and_partial_fills():
    b = ContinuousDoubleAuction(slot=7)
    a1 = b.submit(1, "sell", 1.0, 0.20)
    a2 = b.submit(2, "sell", 1.0, 0.18)
    a3 = b.submit(3, "sell", 1.0, 0.18)  # same price as a2, later
    assert (b.best_bid, b.best_ask, len(b)) == (None, 0.18, 3)
    bid = b.submit(9, "buy", 2.5, 0.20)
    assert b.last_filled == pytest.approx(2.5)
    t = b.trades()
    assert t.sell.tolist() == [a2, a3, a1] and t.buy.tolist() == [bid] * 3
    np.testing.assert_allclose(t.quantity, [1.0, 1.0, 0.5])
    np.testing.assert_allclose(t.price_buy, [0.18, 0.18, 0.20])  # resting order's price
    assert t.slot.tolist() == [7, 7, 7] and t.buyer.tolist() == [9, 9, 9] and t.seller.tolist() == [2, 3, 1]
    assert b.remaining(a1) == pytest.approx(0.5) and a2 not in b
    b.check()


def test_limit_rests_and_market_order_is_ioc():
    b = ContinuousDoubleAuction()
    b.submit(1, "buy", 1.0, 0.10)
    oid = b.submit(2, "sell", 3.0, None)  # market sell: fills 1 kWh, the rest is cancelled
    assert b.last_filled == pytest.approx(1.0) and oid not in b and len(b) == 0
    assert b.trades().price_sell.tolist() == [0.10]
    b.submit(3, "buy", 1.0, None)  # nothing to buy: nothing happens
    assert b.last_filled == 0.0 and len(b) == 0 and b.n_fills == 1
    b.submit(4, -1, 1.0, 0.3)
    b.submit(5, 1, 1.0, 0.2)  # does not cross: rests
    assert (b.best_bid, b.best_ask) == (0.2, 0.3)
    assert b.depth("buy").to_dict("records") == [{"price": 0.2, "quantity_kwh": 1.0, "orders": 1}]
    snap = b.snapshot()
    assert snap.side.tolist() == ["buy", "sell"] and snap.price.tolist() == [0.2, 0.3]


def test_cancel():
    b = ContinuousDoubleAuction()
    x = b.submit(1, "buy", 2.0, 0.2)
    y = b.submit(2, "buy", 1.0, 0.2)
    assert b.cancel(x) == pytest.approx(2.0)
    assert x not in b and b.best_bid == 0.2
    with pytest.raises(DataError, match="not in the book"):
        b.cancel(x)
    b.submit(3, "sell", 0.5, 0.1)  # trades with y, not the cancelled x
    assert b.trades().buy.tolist() == [y]
    b.cancel(y)
    assert b.best_bid is None and len(b) == 0
    b.check()


def test_validation_and_ids():
    b = ContinuousDoubleAuction()
    for q in (0, -1, math.nan, math.inf):
        with pytest.raises(DataError, match="quantity"):
            b.submit(1, "buy", q, 0.1)
    with pytest.raises(DataError, match="limit price"):
        b.submit(1, "buy", 1, math.nan)
    with pytest.raises(DataError, match="side"):
        b.submit(1, "hold", 1, 0.1)
    assert b.submit(1, "buy", 1, 0.1, order_id=41) == 41
    assert b.submit(1, "buy", 1, 0.1) == 42
    with pytest.raises(DataError, match="already in the book"):
        b.submit(1, "buy", 1, 0.1, order_id=41)


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.integers(0, 3),
            st.sampled_from([1, -1]),
            st.integers(1, 5).map(float),
            st.one_of(st.none(), st.integers(1, 6).map(lambda x: x / 10)),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_book_invariants_match_reference(sequence):
    b, ref = ContinuousDoubleAuction(), NaiveBook()
    issued = []
    for op in sequence:
        if op[0] == "submit":
            _, part, side, qty, price = op
            oid = b.submit(part, side, qty, price)
            ref.submit(oid, part, side, qty, price)
            issued.append(oid)
        elif issued:
            oid = issued[op[1] % len(issued)]
            expected = ref.cancel(oid)
            if expected is None:
                with pytest.raises(DataError):
                    b.cancel(oid)
            else:
                assert b.cancel(oid) == pytest.approx(expected)
            assert oid not in b
        b.check()
        bb, ba = b.best_bid, b.best_ask
        assert bb is None or ba is None or bb < ba
    got = [(f[0], f[1], f[2], f[3], round(f[4], 9), f[5]) for f in b._fills]
    want = [(f[0], f[1], f[2], f[3], round(f[4], 9), f[5]) for f in ref.fills]
    assert got == want
    resting = sorted((o[0], round(o[3], 9)) for o in ref.resting)
    assert (
        sorted((int(i), round(q, 9)) for i, q in zip(b.snapshot().id, b.snapshot().quantity_kwh, strict=True))
        == resting
    )
    # energy: each order trades at most its quantity; fills are positive
    t = b.trades()
    assert np.all(t.quantity > 0)


def test_many_submissions_fast_enough():
    rng = np.random.default_rng(0)
    n = 20_000
    side = np.where(rng.random(n) < 0.5, 1, -1).tolist()
    price = np.round(rng.normal(0.2, 0.02, n), 3).tolist()
    qty = rng.uniform(0.1, 5, n).tolist()
    b = ContinuousDoubleAuction()
    for i in range(n):
        b.submit(i % 100, side[i], qty[i], price[i])
    b.check()
    assert b.n_fills > 0
