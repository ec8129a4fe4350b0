"""Bilateral trading with line-utilisation fees (Tooki et al. eqs. 10–12)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orderbook_helpers import assert_invariants, order_books, reference_welfare

from peergrid import ConfigError, DataError
from peergrid.grid.charges import fee_matrix, line_weights, radial_fee_matrix, utilisation_fee
from peergrid.market.auction import uniform_price
from peergrid.market.bilateral import (
    bilateral,
    buyer_cost,
    supplier_profit,
)
from peergrid.market.mechanisms import ORDER_MECHANISMS, get_order_mechanism
from peergrid.market.orders import OrderBook


def test_eq12_hand_computed():
    # lines: τ = 0.1, 0.2 currency/kWh; loading 50 %, 25 %
    w = line_weights(flow=[-50.0, 25.0], capacity=[100.0, 100.0], tau=[0.1, 0.2])
    np.testing.assert_allclose(w, [0.05, 0.05])
    h = utilisation_fee([[1, 0], [1, -1], [0, 0]], [50, 25], [100, 100], [0.1, 0.2])  # signed incidence is fine
    np.testing.assert_allclose(h, [0.05, 0.10, 0.0])
    from scipy.sparse import csr_matrix

    np.testing.assert_allclose(utilisation_fee(csr_matrix([[1, -1]]), [50, 25], [100, 100], [0.1, 0.2]), [0.10])
    with pytest.raises(DataError, match="capacity must be > 0"):
        line_weights([1.0], [0.0], [0.1])
    with pytest.raises(DataError, match="tau"):
        line_weights([1.0], [1.0], [-0.1])
    with pytest.raises(DataError, match="incidence has 3 lines"):
        utilisation_fee([[1, 0, 1]], [50, 25], [100, 100], [0.1, 0.2])


def test_radial_matches_explicit_paths():
    # feeder: head -L0- n1 -L1- n2 -L2- n3 ; participant 3 at the head
    head = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0]])
    flow, cap, tau = [50, 20, 10], [100, 100, 100], [0.1, 0.1, 0.1]
    H = radial_fee_matrix(head, flow, cap, tau)
    paths = {(a, b): np.flatnonzero(head[a] != head[b]).tolist() for a in range(4) for b in range(4)}
    np.testing.assert_allclose(H, fee_matrix(paths, flow, cap, tau, n_participants=4))
    assert H[0, 2] == pytest.approx(0.1 * 0.2 + 0.1 * 0.1)
    np.testing.assert_allclose(np.diag(H), 0.0)
    np.testing.assert_allclose(radial_fee_matrix(-head, flow, cap, tau), H)  # signed root paths
    F = fee_matrix({(0, 1): [0]}, flow, cap, tau, n_participants=2, default=np.inf)
    assert F[0, 1] == pytest.approx(0.05) and np.isinf(F[1, 0])
    with pytest.raises(DataError, match=r"outside 0\.\.2"):
        fee_matrix({(0, 1): [5]}, flow, cap, tau, n_participants=2)


def test_prefers_lower_fees():
    book = OrderBook.from_arrays(
        participant=[0, 1, 2, 3], side=[1, 1, -1, -1], quantity=[1] * 4, price=[0.3, 0.3, 0.1, 0.1]
    )
    H = np.zeros((4, 4))
    H[2, 0], H[2, 1], H[3, 0], H[3, 1] = 0.01, 0.05, 0.05, 0.01  # seller 2 is near buyer 0, seller 3 near buyer 1
    r = bilateral(book, fees=H)
    assert sorted(zip(r.trades.seller.tolist(), r.trades.buyer.tolist(), strict=True)) == [(2, 0), (3, 1)]
    # γ = 0.5·(0.3 − 0.01) + 0.5·(0.1 + 0.01) = 0.2; buyer pays γ + H, seller gets γ − H
    np.testing.assert_allclose(r.trades.price_buy, 0.21)
    np.testing.assert_allclose(r.trades.price_sell, 0.19)
    np.testing.assert_allclose(r.trades.fee, 0.02)
    assert_invariants(r)


def test_fee_shares_and_forbidden_pairs():
    book = OrderBook.from_arrays(participant=["a", "b"], side=["buy", "sell"], quantity=[1, 1], price=[0.30, 0.10])
    r = bilateral(book, fees={("b", "a"): 0.08}, buyer_fee_share=1.0, seller_fee_share=0.0, k=1.0)
    # buyer-only fee; k = 1 gives the surplus to the seller: γ = 0.30 − 0.08 = 0.22
    assert r.trades.price_buy[0] == pytest.approx(0.30) and r.trades.price_sell[0] == pytest.approx(0.22)
    # a fee larger than the spread makes the pair infeasible
    assert len(bilateral(book, fees={("b", "a"): 0.11}).trades) == 0
    assert len(bilateral(book, fees=np.inf).trades) == 0
    with pytest.raises(ConfigError, match="fee shares"):
        bilateral(book, buyer_fee_share=-1)
    with pytest.raises(DataError, match="fees must be >= 0"):
        bilateral(book, fees=-0.1)
    with pytest.raises(ConfigError, match="max_pairs"):
        bilateral(book, max_pairs=0)


def test_no_self_trades():
    book = OrderBook.from_arrays(participant=[0, 0, 1], side=[1, -1, -1], quantity=[1, 1, 1], price=[0.3, 0.1, 0.2])
    r = bilateral(book)
    assert r.trades.seller.tolist() == [1]


def test_eq10_eq11():
    book = OrderBook.from_arrays(participant=[0, 1, 2], side=[1, 1, -1], quantity=[2, 1, 1.5], price=[0.3, 0.3, 0.1])
    H = np.full((3, 3), 0.02)
    r = bilateral(book, fees=H, retail=0.4, feed_in=0.05)
    profit = supplier_profit(r, utility_price=0.4, demand_generating=[0, 0, 1.0], demand_non_generating=[0, 0, 0.5])
    # seller 2 sold 1.5 kWh at γ − H: γ = 0.5(0.28) + 0.5(0.12) = 0.2 → receipts 1.5·0.18 + (1 − 0.5)·0.4
    assert profit[2] == pytest.approx(1.5 * 0.18 + 0.5 * 0.4)
    cost = buyer_cost(r)
    # buyer 0 bought 1.5 kWh at 0.22 and imports the remaining 0.5 kWh at λb; buyer 1 imports 1 kWh
    assert cost[0] == pytest.approx(1.5 * 0.22 + 0.5 * 0.4)
    assert cost[1] == pytest.approx(0.4)
    np.testing.assert_allclose(buyer_cost(r, utility_price=0.0), [1.5 * 0.22, 0.0, 0.0])


@settings(max_examples=120, deadline=None)
@given(
    order_books(max_orders=10, n_slots=2, integer_quantities=False),
    st.floats(0, 1),
    st.lists(st.floats(0, 0.3), min_size=25, max_size=25),
    st.sampled_from([(1.0, 1.0), (1.0, 0.0), (0.5, 0.5)]),
)
def test_bilateral_invariants(book, k, fee_values, shares):
    H = np.array(fee_values).reshape(5, 5)
    sb, ss = shares
    r = bilateral(book, fees=H, k=k, buyer_fee_share=sb, seller_fee_share=ss)
    assert_invariants(r)
    t = r.trades
    h = H[t.seller, t.buyer]
    np.testing.assert_allclose(t.price_buy - t.price_sell, (sb + ss) * h, atol=1e-12)
    assert np.all(t.buyer != t.seller)
    # greedy maximality: no feasible pair is left with both sides unfilled
    res = r.residual
    for i in np.flatnonzero((book.side > 0) & (res > 1e-9)):
        for j in np.flatnonzero((book.side < 0) & (res > 1e-9)):
            same = book.slot[i] == book.slot[j] and book.participant[i] != book.participant[j]
            fee = H[book.participant[j], book.participant[i]]
            assert not (same and book.price[i] - sb * fee >= book.price[j] + ss * fee + 1e-12)


@settings(max_examples=80, deadline=None)
@given(order_books(max_orders=8, n_participants=1000))
def test_zero_fees_is_efficient(book):
    # distinct participants (almost surely), no fees: the greedy by surplus is price-priority matching
    if len(np.unique(book.participant)) < len(book):
        return
    r = bilateral(book)
    assert r.welfare.sum() == pytest.approx(reference_welfare(book), abs=1e-9)
    assert r.traded.sum() == pytest.approx(uniform_price(book).traded.sum(), abs=1e-9)


def test_registry():
    assert list(ORDER_MECHANISMS) == ["uniform", "pay-as-bid", "mcafee", "bilateral"]
    assert get_order_mechanism("Pay_As_Bid") is ORDER_MECHANISMS["pay-as-bid"]
    with pytest.raises(ConfigError, match="unknown order-book mechanism 'dutch'"):
        get_order_mechanism("dutch")


def test_eq12_per_slot_flows():
    # (T, L) flows give (T, P) fees; row t is the 1-D formula on flows[t]
    inc = np.array([[1, 0], [1, -1]])
    flows = np.array([[50.0, 25.0], [100.0, 0.0]])
    h = utilisation_fee(inc, flows, [100, 100], [0.1, 0.2])
    np.testing.assert_allclose(h, [[0.05, 0.10], [0.10, 0.10]])
    from scipy.sparse import csr_matrix

    np.testing.assert_allclose(utilisation_fee(csr_matrix(inc), flows, 100.0, [0.1, 0.2]), h)
    with pytest.raises(DataError, match="one slot"):
        radial_fee_matrix(np.eye(2), flows, 100.0, 0.1)


def test_network_hook_scales_trades_down():
    book = OrderBook.from_arrays(
        participant=["a", "b", "c", "d"], side=["sell", "buy", "sell", "buy"], quantity=[2, 2, 1, 1],
        price=[0.1, 0.3, 0.1, 0.3], slot=[0, 0, 1, 1],
    )  # fmt: skip
    seen = []

    def halve_slot_0(trades, b):
        seen.append((len(trades), b is book))
        return np.where(trades.slot == 0, trades.quantity / 2, trades.quantity)

    r = bilateral(book, retail=0.4, feed_in=0.05, network=halve_slot_0)
    assert seen == [(2, True)]
    np.testing.assert_allclose(r.trades.quantity, [1.0, 1.0])
    np.testing.assert_allclose(r.curtailed, [1.0, 0.0])
    np.testing.assert_allclose(r.residual, [1.0, 1.0, 0.0, 0.0])
    assert_invariants(r)
    # a trade cut to zero disappears
    r = bilateral(book, network=lambda t, b: np.where(t.slot == 1, 0.0, t.quantity))
    assert r.trades.slot.tolist() == [0] and r.curtailed.tolist() == [0.0, 1.0]
    # an empty match never calls the check
    empty = bilateral(book.select(book.side > 0), network=lambda t, b: 1 / 0)
    assert len(empty.trades) == 0 and empty.curtailed.tolist() == [0.0, 0.0]
    with pytest.raises(DataError, match="one finite kWh value per trade"):
        bilateral(book, network=lambda t, b: np.ones(5))
    with pytest.raises(DataError, match="outside"):
        bilateral(book, network=lambda t, b: t.quantity * 2)


@settings(max_examples=60, deadline=None)
@given(order_books(max_orders=10, n_slots=2, integer_quantities=False), st.integers(0, 1000))
def test_network_hook_invariants(book, seed):
    rng = np.random.default_rng(seed)
    r = bilateral(book, network=lambda t, b: t.quantity * rng.random(len(t)))
    assert_invariants(r)
    full = bilateral(book)
    np.testing.assert_allclose(r.traded + r.curtailed, full.traded, atol=1e-9)


def test_eq12_has_one_implementation_in_the_grid_layer():
    """The eq. 12 fee lives in grid.charges; market and grid re-use that function (no upward import)."""
    import ast
    import inspect

    import peergrid.grid as grid
    import peergrid.grid.paths as paths
    import peergrid.market as market

    for name in ("line_weights", "utilisation_fee", "fee_matrix", "radial_fee_matrix"):
        assert getattr(market, name) is getattr(grid, name)
        assert getattr(market, name).__module__ == "peergrid.grid.charges"
    tree = ast.parse(inspect.getsource(paths))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.startswith("peergrid.market") for m in imported)
