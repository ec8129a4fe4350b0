"""clear_net's compiled block kernel (peergrid.market._netbook) against hand-computed books and the OrderBook path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peergrid import ConfigError, DataError
from peergrid.market import ORDER_MECHANISMS, clear_net, orders_from_net
from peergrid.market import _netbook as kern
from peergrid.market import bidding as bidding_module

KERNEL_MECHS = ("uniform", "pay-as-bid")
KERNEL_BIDDING = ("truthful", "zero-intelligence", "zic")


def _block(net, u, lb=1.0, ls=0.0, mode=kern.UNIFORM, k=0.5, rank=None, pricing=None):
    x = np.asarray(net, dtype=np.float64)
    T, N = x.shape
    n = int(np.count_nonzero(x))
    first = np.concatenate(([0], np.cumsum(np.count_nonzero(x, axis=1))[:-1])).astype(np.int64)
    rank = np.arange(n, dtype=np.int32) if rank is None else np.asarray(rank, dtype=np.int32)
    out = [np.empty((T, N)), np.empty((T, N))] + [np.empty(T) for _ in range(4)]
    u = np.asarray(u, dtype=np.float64)
    pricing = (kern.ZERO_INTELLIGENCE if len(u) else kern.TRUTHFUL) if pricing is None else pricing
    lim = np.zeros((0, 0))
    kern.clear_block(x, np.full(T, lb), np.full(T, ls), first, rank, u, pricing, lim, mode, k, *out)
    return out


def test_hand_computed_book_uniform_and_pay_as_bid():
    # bids: member 0 2 kWh @0.9, member 1 1 kWh @0.4; asks: member 2 1.5 kWh @0.2, member 3 1 kWh @0.6 (λb 1, λs 0)
    # bid 1 meets ask 3 (0.4 < 0.6): rejected; ask 3 meets bid 0 (0.9 ≥ 0.6): accepted; Q = min(2, 2.5) = 2
    net = [[2.0, 1.0, -1.5, -1.0]]
    u = [0.9, 0.4, 0.2, 0.6]
    peer, bill, traded, fees, paid, received = _block(net, u, mode=kern.UNIFORM, k=0.5)
    np.testing.assert_allclose(peer[0], [2.0, 0.0, -1.5, -0.5])
    p = 0.5 * 0.9 + 0.5 * 0.6  # the marginal pair: bid 0.9, ask 0.6
    np.testing.assert_allclose(bill[0], [2 * p, 1.0, -1.5 * p, -0.5 * p])
    assert traded[0] == 2.0 and fees[0] == 0.0
    np.testing.assert_allclose([paid[0], received[0]], [2 * p + 1.0, 2 * p])
    peer, bill, traded, fees, paid, received = _block(net, u, mode=kern.PAY_AS_BID)
    np.testing.assert_allclose(peer[0], [2.0, 0.0, -1.5, -0.5])
    np.testing.assert_allclose(bill[0], [1.8, 1.0, -0.3, -0.3])  # own limits; the unmatched kWh at λb / λs
    np.testing.assert_allclose(fees[0], 1.8 - 0.6)


def test_hand_computed_truthful_ties_follow_arrival():
    # truthful: every bid at λb, every ask at λs; 1.5 kWh of supply for 3 kWh of demand, filled in arrival order
    net = [[2.0, 1.0, -1.5]]
    peer, bill, *_ = _block(net, [], lb=0.3, ls=0.1, rank=[1, 0, 2])  # member 1 arrived first
    np.testing.assert_allclose(peer[0], [0.5, 1.0, -1.5])
    np.testing.assert_allclose(bill[0], [0.5 * 0.2 + 1.5 * 0.3, 0.2, -1.5 * 0.2])
    peer, bill, *_ = _block(net, [], lb=0.3, ls=0.1, rank=[0, 1, 2], mode=kern.PAY_AS_BID)
    np.testing.assert_allclose(peer[0], [1.5, 0.0, -1.5])
    np.testing.assert_allclose(bill[0], [0.6, 0.3, -0.15])  # pay-as-bid truthful: everybody at its grid price


def test_clear_net_truthful_two_sellers():
    c = clear_net(np.array([[2.0, -1.0, -0.5]]), 0.30, 0.10, "uniform", engine="kernel")
    np.testing.assert_allclose(c.peer[0], [1.5, -1.0, -0.5])
    np.testing.assert_allclose(c.bill[0], [1.5 * 0.2 + 0.5 * 0.3, -0.2, -0.1])
    c = clear_net(np.array([[2.0, -1.0, -0.5]]), 0.30, 0.10, "pay-as-bid", engine="kernel")
    np.testing.assert_allclose(c.bill[0], [0.6, -0.1, -0.05])
    np.testing.assert_allclose(c.fees, [0.3])


def _per_slot_reference(net, lb, ls, mech, bidding, seed, k, batteries=None):
    """The OrderBook path, each slot cleared alone (exact in-slot cumulative sums): peer and bill (T, N)."""
    if bidding == "zic":  # the agents clear round by round: rounds of one slot
        c = clear_net(net, lb, ls, mech, bidding="zic", seed=seed, k=k, engine="book", batteries=batteries,
                      round_slots=1, horizon=3)  # fmt: skip
        return c.peer, c.bill
    T, N = net.shape
    book = orders_from_net(net, lb, ls, bidding, seed)
    peer, bill = np.zeros((T, N)), np.zeros((T, N))
    fn = ORDER_MECHANISMS[mech]
    for t in range(T):
        sub = book.select(book.slot == t)
        if not len(sub):
            continue
        kw = {"k": k} if mech == "uniform" else {}
        r = fn(sub, retail=lb, feed_in=ls, **kw)
        i = sub.participant
        peer[t, i] = np.where(sub.side > 0, r.filled, -r.filled)
        bill[t, i] = r.bill
    return peer, bill


def _batteries(T, N, seed):
    """A battery plan: member 0 with two batteries, member N − 1 with one, a zero-capacity battery of member 1."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    owners = np.array([0, 0, N - 1, min(1, N - 1)])
    capacity = np.array([5.0, 3.0, 10.0, 0.0])
    energy = rng.uniform(0.0, 1.0, (T, 4)) * capacity
    return SimpleNamespace(owners=owners, energy=energy, capacity=capacity)


nets = st.integers(1, 7).flatmap(
    lambda n: st.integers(1, 6).flatmap(
        lambda t: arrays(np.float64, (t, n), elements=st.one_of(st.just(0.0), st.sampled_from([-1.0, 0.5, 1.5, -2.0]),
                                                                  st.floats(-5, 5, allow_nan=False, width=32)))
    )
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(nets, st.floats(0.0, 0.3), st.floats(0.0, 0.3), st.sampled_from(KERNEL_MECHS), st.sampled_from(KERNEL_BIDDING),
       st.integers(0, 2**31), st.floats(0, 1))  # fmt: skip
def test_kernel_equals_the_order_book_slot_by_slot(net, ls, spread, mech, bidding, seed, k):
    """Same orders, prices, arrival order and allocation as the OrderBook path (per slot: exact cumsums)."""
    T, N = net.shape
    lb = np.linspace(ls + spread, ls + 2 * spread, T)
    fs = np.full(T, ls)
    batteries = _batteries(T, N, seed)
    c = clear_net(net, lb, fs, mech, bidding=bidding, seed=seed, k=k, engine="kernel", batteries=batteries,
                  round_slots=1, horizon=3)  # fmt: skip
    peer, bill = _per_slot_reference(net, lb, fs, mech, bidding, seed, k, batteries)
    np.testing.assert_allclose(c.peer, peer, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c.bill, bill, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mech", KERNEL_MECHS)
@pytest.mark.parametrize("bidding", KERNEL_BIDDING)
@pytest.mark.parametrize("seed", [0, 11])
def test_kernel_equals_the_whole_horizon_book(mech, bidding, seed):
    """Continuous net positions (no exact quantity ties): the one-book path agrees to rounding."""
    rng = np.random.default_rng(seed)
    net = rng.normal(0.0, 1.5, (200, 37))
    net[rng.random(net.shape) < 0.1] = 0.0
    lb = rng.uniform(0.2, 0.4, 200)
    ls = rng.uniform(0.0, 0.1, 200)
    bat = _batteries(200, 37, seed)
    a = clear_net(net, lb, ls, mech, bidding=bidding, seed=seed, k=0.3, engine="book", batteries=bat, round_slots=24)
    b = clear_net(net, lb, ls, mech, bidding=bidding, seed=seed, k=0.3, batteries=bat, round_slots=24)
    for f in ("peer", "bill", "price_buy", "price_sell", "peer_share_buy", "peer_share_sell", "operator_fees"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-9, atol=1e-9, err_msg=f)
    np.testing.assert_array_equal(b.demand, a.demand)
    np.testing.assert_array_equal(b.supply, a.supply)
    assert (b.mechanism, b.bidding, b.options) == (a.mechanism, a.bidding, a.options)


@pytest.mark.parametrize("bidding", KERNEL_BIDDING)
def test_blocks_do_not_change_the_result(monkeypatch, bidding):
    rng = np.random.default_rng(4)
    net = rng.normal(0.0, 1.0, (50, 9))
    net[rng.random(net.shape) < 0.2] = 0.0
    whole = clear_net(net, 0.3, 0.05, "uniform", bidding=bidding, seed=3)
    for orders in (1, 7, 40):
        monkeypatch.setattr(bidding_module, "_KERNEL_ORDERS", orders)
        part = clear_net(net, 0.3, 0.05, "uniform", bidding=bidding, seed=3)
        np.testing.assert_array_equal(part.peer, whole.peer)
        np.testing.assert_array_equal(part.bill, whole.bill)
        np.testing.assert_array_equal(part.price_buy, whole.price_buy)


@pytest.mark.parametrize("n", [0, 1, 2, 17, 5000])
def test_arrival_ranks_invert_the_books_permutation(n):
    perm = np.random.default_rng(n).permutation(n)
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = np.arange(n)
    ranks = kern.ArrivalRanks(n, np.random.default_rng(n))
    np.testing.assert_array_equal(ranks.rank, inverse)
    ranks.release(n // 2)  # whole pages of the first half go back; the rest is intact
    np.testing.assert_array_equal(ranks.rank[n // 2 :], inverse[n // 2 :])


def test_engine_option():
    net = np.array([[1.0, -1.0]])
    with pytest.raises(ConfigError, match="unknown engine"):
        clear_net(net, 0.3, 0.1, engine="warp")
    with pytest.raises(ConfigError, match="engine='kernel'"):
        clear_net(net, 0.3, 0.1, "mcafee", engine="kernel")
    with pytest.raises(ConfigError, match="engine='kernel'"):
        clear_net(net, 0.3, 0.1, "uniform", bidding="zip", engine="kernel")
    with pytest.raises(ConfigError, match="round_slots"):
        clear_net(net, 0.3, 0.1, "uniform", bidding="zic", round_slots=0)
    a = clear_net(net, 0.3, 0.1, "mcafee", engine="auto")  # no kernel for McAfee: the book path
    b = clear_net(net, 0.3, 0.1, "mcafee", engine="book")
    np.testing.assert_array_equal(a.bill, b.bill)


def test_a_replaced_mechanism_is_honoured(monkeypatch):
    """The kernel reproduces the genuine auctions only; a replaced mechanism function runs on the book."""
    calls = []
    real = ORDER_MECHANISMS["pay-as-bid"]

    def spy(book, **kw):
        calls.append(len(book))
        return real(book, **kw)

    monkeypatch.setitem(bidding_module.ORDER_MECHANISMS, "pay-as-bid", spy)
    clear_net(np.array([[1.0, -1.0]]), 0.3, 0.1, "pay-as-bid")
    assert calls == [2]


def _numpy_allocation(c, net, rows):
    peer = c.peer[rows]
    bought, sold = np.maximum(peer, 0.0), np.maximum(-peer, 0.0)
    return (bought, sold, np.maximum(np.maximum(net, 0.0) - bought, 0.0),
            np.maximum(np.maximum(-net, 0.0) - sold, 0.0), c.bill[rows])  # fmt: skip


@pytest.mark.parametrize("engine", ["kernel", "book"])
def test_allocation_and_totals_are_the_numpy_expressions_bit_for_bit(engine):
    rng = np.random.default_rng(9)
    net = rng.normal(0.0, 1.0, (5000, 13))
    net[rng.random(net.shape) < 0.1] = 0.0
    c = clear_net(net, 0.3, 0.05, "uniform", bidding="zero-intelligence", seed=2, engine=engine)
    for rows in (slice(None), slice(100, 4200)):
        a = c.allocate(net[rows], rows)
        for got, want in zip(
            (a.bought, a.sold, a.grid_import, a.grid_export, a.bill), _numpy_allocation(c, net[rows], rows), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    totals = c.participant_totals()
    want = {k: np.zeros(13) for k in ("bought", "sold", "purchase_cost", "revenue")}
    for start in range(0, 5000, bidding_module._BLOCK):  # the per-block numpy sums it replaces
        p, b = c.peer[start : start + bidding_module._BLOCK], c.bill[start : start + bidding_module._BLOCK]
        want["bought"] += np.maximum(p, 0.0).sum(axis=0)
        want["sold"] += np.maximum(-p, 0.0).sum(axis=0)
        want["purchase_cost"] += np.maximum(b, 0.0).sum(axis=0)
        want["revenue"] += np.maximum(-b, 0.0).sum(axis=0)
    for key in want:
        np.testing.assert_array_equal(totals[key], want[key], err_msg=key)
    with pytest.raises(DataError, match="shape"):
        c.allocate(net[:10], slice(0, 20))
