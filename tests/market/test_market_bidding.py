"""Order-book markets on net positions: bidding strategies, OrderClearing, energy and money invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peergrid import ConfigError, DataError
from peergrid.market import (
    BIDDING,
    MARKETS,
    ORDER_MECHANISMS,
    OrderClearing,
    check_market,
    clear,
    clear_net,
    is_order_market,
    orders_from_net,
    uniform_price,
)
from peergrid.market import bidding as bidding_module

LB, LS = 0.30, 0.10
TOL = 1e-9


def test_truthful_orders_hand_computed():
    net = np.array([[2.0, -1.0, 0.0], [0.0, 0.5, -3.0]])
    book = orders_from_net(net, retail=[0.30, 0.40], feed_in=[0.10, 0.05])
    rows = sorted(zip(book.id.tolist(), book.slot.tolist(), book.side.tolist(), book.quantity.tolist(),
                      book.price.tolist(), strict=True))  # fmt: skip
    # id t·N + i; zeros make no order; buyers bid λb of their slot, sellers ask λs
    assert rows == [(0, 0, 1, 2.0, 0.30), (1, 0, -1, 1.0, 0.10), (4, 1, 1, 0.5, 0.40), (5, 1, -1, 3.0, 0.05)]
    np.testing.assert_array_equal(book.participant, book.id % 3)


def test_zero_intelligence_prices_are_seeded_and_within_tariffs():
    rng = np.random.default_rng(0)
    net = rng.normal(0, 1, (50, 20))
    lb = rng.uniform(0.2, 0.5, 50)
    a = orders_from_net(net, lb, 0.05, bidding="zero-intelligence", seed=7)
    b = orders_from_net(net, lb, 0.05, bidding="zero_intelligence", seed=7)
    c = orders_from_net(net, lb, 0.05, bidding="zero-intelligence", seed=8)
    np.testing.assert_array_equal(a.price, b.price)
    np.testing.assert_array_equal(a.id, b.id)
    assert not np.array_equal(np.sort(a.price), np.sort(c.price))
    assert np.all(a.price >= 0.05) and np.all(a.price <= lb[a.slot])
    assert len(np.unique(a.price)) == len(a)  # continuous draws: no ties
    # arrival order is a seeded permutation, not slot-major
    assert not np.all(np.diff(a.slot) >= 0)


def test_grouped_orders_are_separate_auctions():
    """groups: slot t·G + group; the same orders and prices as without groups (hand-computed)."""
    net = np.array([[2.0, -1.0, 0.0, -2.0], [0.0, 0.5, -3.0, 1.0]])
    lb = np.array([0.30, 0.40])
    book = orders_from_net(net, lb, 0.10, groups=[0, 0, 1, 1], n_groups=3)
    rows = sorted(zip(book.id.tolist(), book.slot.tolist(), book.price.tolist(), strict=True))
    # participants 0, 1 in group 0, 2, 3 in group 1; slot = t·3 + group
    assert rows == [(0, 0, 0.30), (1, 0, 0.10), (3, 1, 0.10), (5, 3, 0.40), (6, 4, 0.10), (7, 4, 0.40)]
    flat = orders_from_net(net, lb, 0.10, "zero-intelligence", seed=4)
    zi = orders_from_net(net, lb, 0.10, "zero-intelligence", seed=4, groups=[0, 0, 1, 1])
    np.testing.assert_array_equal(zi.id, flat.id)
    np.testing.assert_array_equal(zi.price, flat.price)  # ZI prices drawn per time step, not per group slot
    np.testing.assert_array_equal(zi.slot, flat.slot * 2 + np.array([0, 0, 1, 1])[zi.participant])
    # one uniform auction per group: group 0 of step 0 trades 1 kWh, group 1 of step 0 has no buyer
    r = uniform_price(book)
    assert dict(zip(r.slots.tolist(), r.traded.tolist(), strict=True))[0] == pytest.approx(1.0)
    with pytest.raises(DataError, match="group codes"):
        orders_from_net(net, lb, 0.10, groups=[0, 0, 1, 3], n_groups=3)
    with pytest.raises(DataError, match="groups must be 4 integer codes"):
        orders_from_net(net, lb, 0.10, groups=[0, 1])


def test_uniform_truthful_two_members():
    net = np.array([[2.0, -1.0]])
    c = clear_net(net, LB, LS, "uniform")
    # 1 kWh at (0.30 + 0.10)/2 = 0.20; the buyer imports the other kWh at 0.30
    assert c.traded[0] == pytest.approx(1.0)
    assert c.price_sell[0] == pytest.approx(0.20) and c.price_buy[0] == pytest.approx(0.25)
    np.testing.assert_allclose(c.peer, [[1.0, -1.0]])
    np.testing.assert_allclose(c.bill, [[0.20 + 0.30, -0.20]])
    assert c.fees[0] == 0.0 and c.bidding == "truthful" and c.options == {"seed": 0, "k": 0.5}


def test_pay_as_bid_truthful_operator_keeps_the_spread():
    c = clear_net(np.array([[2.0, -1.0]]), LB, LS, "pay-as-bid")
    np.testing.assert_allclose(c.bill, [[2 * 0.30, -0.10]])
    assert c.fees[0] == pytest.approx(LB - LS)
    assert c.member_bill[0] == pytest.approx(c.grid_bill[0] + c.fees[0])


def test_bilateral_flat_fee():
    c = clear_net(np.array([[1.0, -1.0]]), LB, LS, "bilateral", k=0.5, fee=0.02)
    # γ = 0.5·(0.30 − 0.02) + 0.5·(0.10 + 0.02) = 0.20; buyer pays 0.22, seller gets 0.18
    np.testing.assert_allclose(c.bill, [[0.22, -0.18]])
    assert c.fees[0] == pytest.approx(0.04)


def test_truthful_uniform_is_mid_market_rate():
    rng = np.random.default_rng(3)
    net = rng.normal(0, 2, (40, 9))
    lb = rng.uniform(0.2, 0.5, 40)
    u = clear_net(net, lb, 0.07, "uniform", k=0.5)
    m = clear(net, lb, 0.07, "mmr")
    np.testing.assert_allclose(u.traded, np.minimum(u.demand, u.supply), atol=1e-9)  # all bids cross all asks
    np.testing.assert_allclose(u.price_buy, m.price_buy, atol=1e-12)
    np.testing.assert_allclose(u.price_sell, m.price_sell, atol=1e-12)


def test_one_book_one_clearing_call(monkeypatch):
    """Vectorised over slots: the mechanism is called once for the whole horizon."""
    calls = []
    real = ORDER_MECHANISMS["uniform"]

    def counting(book, **kw):
        calls.append(len(np.unique(book.slot)))
        return real(book, **kw)

    monkeypatch.setitem(bidding_module.ORDER_MECHANISMS, "uniform", counting)
    net = np.random.default_rng(1).normal(0, 1, (96, 30))
    clear_net(net, LB, LS, "uniform", bidding="zero-intelligence")
    assert calls == [96]


def test_registry_and_errors():
    assert MARKETS == ("baseline", "bs", "mmr", "sdr", "uniform", "pay-as-bid", "mcafee", "bilateral")
    assert BIDDING == ("truthful", "zero-intelligence", "zic", "zip")
    assert check_market(" Pay_As_Bid ") == "pay-as-bid" and is_order_market("McAfee") and not is_order_market("sdr")
    net = np.array([[1.0, -1.0]])
    with pytest.raises(ConfigError, match="unknown market 'vickrey'"):
        clear(net, LB, LS, "vickrey")
    with pytest.raises(ConfigError, match="unknown bidding strategy 'smart'"):
        clear_net(net, LB, LS, bidding="smart")
    with pytest.raises(ConfigError, match="k must be"):
        clear_net(net, LB, LS, k=1.5)
    with pytest.raises(ConfigError, match="fee must be"):
        clear_net(net, LB, LS, "bilateral", fee=-0.1)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        clear_net(net, LB, LS, seed=1.5)
    with pytest.raises(ConfigError, match="takes no options"):
        clear(net, LB, LS, "sdr", bidding="truthful")
    with pytest.raises(ConfigError, match="unknown order-book mechanism"):
        clear_net(net, LB, LS, "sdr")
    with pytest.raises(DataError, match="exceeds retail"):
        clear_net(net, 0.1, 0.2)
    with pytest.raises(DataError, match=r"\(T, N\)"):
        clear_net(np.ones(3), LB, LS)
    with pytest.raises(DataError, match="NaN"):
        clear_net(np.array([[np.nan, 1.0]]), LB, LS)


# ---- properties -----------------------------------------------------------------------

nets = st.integers(1, 6).flatmap(
    lambda n: st.integers(1, 8).flatmap(
        lambda t: arrays(
            np.float64, (t, n), elements=st.one_of(st.just(0.0), st.floats(-10, 10, allow_nan=False, width=32))
        )
    )
)
tariffs = st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 0.5)).map(lambda x: (x[0] + x[1], x[0]))


@settings(max_examples=150, deadline=None)
@given(
    nets,
    tariffs,
    st.sampled_from(list(ORDER_MECHANISMS)),
    st.sampled_from(BIDDING),
    st.floats(0, 1),
    st.integers(0, 2**31),
    st.sampled_from([0.0, 0.03]),
)
def test_energy_money_and_price_invariants(net, tariff, mech, bidding, k, seed, fee):
    lb, ls = tariff
    c = clear_net(net, lb, ls, mech, bidding=bidding, k=k, seed=seed, fee=fee if mech == "bilateral" else 0.0)
    assert isinstance(c, OrderClearing) and c.mechanism == mech
    scale = max(1.0, float(np.abs(net).sum()))
    tol = TOL * scale
    a = c.allocate(net)
    d, s = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    # nobody buys more than its deficit or sells more than its surplus; buyers do not sell, sellers do not buy
    assert np.all(a.bought <= d + tol) and np.all(a.sold <= s + tol)
    assert np.all(a.bought[net <= 0] == 0) and np.all(a.sold[net >= 0] == 0)
    # energy balance per slot: bought = sold = traded; demand = bought + import; supply = sold + export
    np.testing.assert_allclose(a.bought.sum(1), c.traded, atol=tol)
    np.testing.assert_allclose(a.sold.sum(1), c.traded, atol=tol)
    np.testing.assert_allclose(a.bought + a.grid_import, d, atol=tol)
    np.testing.assert_allclose(a.sold + a.grid_export, s, atol=tol)
    np.testing.assert_allclose(c.grid_import - c.grid_export, net.sum(1), atol=tol)
    assert c.traded.sum() <= np.minimum(c.demand, c.supply).sum() + tol
    # budget balance incl. fees: Σ member bills = grid bill + operator fees, per slot
    money_tol = tol * max(lb, 1.0)
    np.testing.assert_allclose(a.bill.sum(1), c.grid_bill + c.fees, atol=money_tol)
    np.testing.assert_allclose(c.member_bill, c.grid_bill + c.fees, atol=money_tol)
    assert np.all(c.fees >= -money_tol)
    if mech == "uniform" or (mech == "bilateral" and fee == 0.0):
        np.testing.assert_allclose(c.fees, 0.0, atol=money_tol)
    # prices: every average price in [λs, λb]; individual rationality: nobody worse off than with the grid alone
    assert np.all((c.price_buy >= ls - 1e-12) & (c.price_buy <= lb + 1e-12))
    assert np.all((c.price_sell >= ls - 1e-12) & (c.price_sell <= lb + 1e-12))
    buyer, seller = net > 0, net < 0
    paid, got = a.bill[buyer], -a.bill[seller]
    assert np.all(paid <= lb * d[buyer] + money_tol)  # buyers pay at most λb per kWh (the grid alternative)
    assert np.all(paid >= ls * d[buyer] - money_tol)  # ... and at least λs
    assert np.all(got >= ls * s[seller] - money_tol)  # sellers receive at least λs per kWh (the grid alternative)
    assert np.all(got <= lb * s[seller] + money_tol)  # ... and at most λb
    assert np.all(a.bill[net == 0] == 0)
    # per-participant totals agree with the allocation
    totals = c.participant_totals()
    np.testing.assert_allclose(totals["bought"], a.bought.sum(0), atol=tol)
    np.testing.assert_allclose(totals["purchase_cost"] - totals["revenue"], a.bill.sum(0), atol=money_tol)


@settings(max_examples=40, deadline=None)
@given(nets, tariffs, st.integers(0, 1000))
def test_same_seed_same_result(net, tariff, seed):
    a = clear_net(net, *tariff, "pay-as-bid", bidding="zero-intelligence", seed=seed)
    b = clear_net(net, *tariff, "pay-as-bid", bidding="zero-intelligence", seed=seed)
    np.testing.assert_array_equal(a.bill, b.bill)
    np.testing.assert_array_equal(a.peer, b.peer)
