"""Pool sharing rules: hand-computed cases and invariants.

Formulas: SDR (Liu et al. 2017; Lange 2025, eqs. 2–4), MMR (Long et al. 2017), BS (Zhou et al. 2018).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peergrid import DataError
from peergrid.market import (
    bill_sharing,
    clear,
    demand_supply,
    get_mechanism,
    mid_market_rate,
    no_p2p,
    sdr_prices,
    sdr_ratio,
    supply_demand_ratio,
)

LB, LS = 0.30, 0.10


def test_demand_supply_splits_net():
    net = np.array([[2.0, -1.0, 0.5], [-3.0, -1.0, 1.0]])
    d, g = demand_supply(net)
    np.testing.assert_allclose(d, [2.5, 1.0])
    np.testing.assert_allclose(g, [1.0, 4.0])


def test_sdr_hand_computed():
    # SDR = 1/2: P_sell = 0.3·0.1 / (0.2·0.5 + 0.1) = 0.15; P_buy = 0.15·0.5 + 0.3·0.5 = 0.225
    p_sell, p_buy = sdr_prices(np.array([0.5]), LB, LS)
    assert p_sell[0] == pytest.approx(0.15)
    assert p_buy[0] == pytest.approx(0.225)
    # SDR = 0: P_sell = λb, P_buy = λb; SDR = 2 (> 1): both λs
    p_sell, p_buy = sdr_prices(np.array([0.0, 2.0]), LB, LS)
    np.testing.assert_allclose(p_sell, [LB, LS])
    np.testing.assert_allclose(p_buy, [LB, LS])


def test_sdr_ratio_edges():
    np.testing.assert_array_equal(sdr_ratio([2.0, 0.0, 0.0], [1.0, 3.0, 0.0]), [0.5, np.inf, 1.0])


def test_sdr_clearing_bills():
    # buyer of 2 kWh, seller of 1 kWh: SDR = 0.5 -> buyer pays 2·0.225, seller gets 1·0.15
    c = clear(np.array([[2.0, -1.0]]), LB, LS, "sdr")
    a = c.allocate(np.array([[2.0, -1.0]]))
    np.testing.assert_allclose(a.bill, [[0.45, -0.15]])
    np.testing.assert_allclose(a.bought, [[1.0, 0.0]])
    np.testing.assert_allclose(a.grid_import, [[1.0, 0.0]])
    # grid bill: 1 kWh imported at 0.30
    assert c.grid_bill[0] == pytest.approx(0.30)


def test_mmr_hand_computed():
    p = (LB + LS) / 2  # 0.20
    # surplus G=3 > D=1: buyers pay P_mmr, sellers get (1·0.2 + 2·0.1)/3
    c = mid_market_rate([1.0], [3.0], LB, LS)
    assert c.price_buy[0] == pytest.approx(p)
    assert c.price_sell[0] == pytest.approx((1 * p + 2 * LS) / 3)
    # deficit G=1 < D=4: sellers get P_mmr, buyers pay (1·0.2 + 3·0.3)/4
    c = mid_market_rate([4.0], [1.0], LB, LS)
    assert c.price_sell[0] == pytest.approx(p)
    assert c.price_buy[0] == pytest.approx((1 * p + 3 * LB) / 4)
    # balanced: everybody at P_mmr
    c = mid_market_rate([2.0], [2.0], LB, LS)
    assert c.price_buy[0] == pytest.approx(p) and c.price_sell[0] == pytest.approx(p)


def test_bill_sharing_hand_computed():
    # members: +3, +1 (import 4) and -2 (export 2): community imports 2 kWh at 0.30 = 0.60
    net = np.array([[3.0, 1.0, -2.0]])
    c = clear(net, LB, LS, "bs")
    a = c.allocate(net)
    # c_im = 0.60 / 4 = 0.15 per kWh imported; c_ex = 0 (community exports nothing)
    np.testing.assert_allclose(a.bill, [[0.45, 0.15, 0.0]])
    assert a.bill.sum() == pytest.approx(0.60)
    # export slot: -3, -1, +2 -> community exports 2 kWh at 0.10; c_ex = 0.2 / 4 = 0.05
    net = -net
    a = clear(net, LB, LS, "bs").allocate(net)
    np.testing.assert_allclose(a.bill, [[-0.15, -0.05, 0.0]])


def test_baseline_is_grid_only():
    net = np.array([[2.0, -1.0]])
    c = clear(net, LB, LS, "baseline")
    a = c.allocate(net)
    np.testing.assert_allclose(a.bill, [[0.60, -0.10]])
    assert a.bought.sum() == 0 and a.sold.sum() == 0


def test_unknown_market_and_bad_input():
    with pytest.raises(Exception, match="unknown market 'xyz'"):
        get_mechanism("xyz")
    with pytest.raises(DataError, match="NaN"):
        clear(np.array([[np.nan, 1.0]]), LB, LS)
    with pytest.raises(DataError, match="feed-in tariff"):
        supply_demand_ratio([1.0], [1.0], 0.1, 0.2)
    with pytest.raises(DataError, match="shape"):
        demand_supply(np.ones(3))


# ---- properties -----------------------------------------------------------------------

nets = st.integers(1, 6).flatmap(
    lambda n: st.integers(1, 8).flatmap(
        lambda t: arrays(np.float64, (t, n), elements=st.floats(-10, 10, allow_nan=False, width=32))
    )
)
tariffs = st.tuples(st.floats(0.0, 0.5), st.floats(0.01, 0.5)).map(lambda x: (x[0] + x[1], x[0]))


@settings(max_examples=200, deadline=None)
@given(net=nets, tariff=tariffs, mech=st.sampled_from(["baseline", "bs", "mmr", "sdr"]))
def test_energy_and_money_conserved(net, tariff, mech):
    lb, ls = tariff
    c = clear(net, lb, ls, mech)
    a = c.allocate(net)
    d, s = np.maximum(net, 0), np.maximum(-net, 0)
    # energy: bought + grid import = deficit, sold + grid export = surplus, peers balance
    np.testing.assert_allclose(a.bought + a.grid_import, d, atol=1e-9)
    np.testing.assert_allclose(a.sold + a.grid_export, s, atol=1e-9)
    np.testing.assert_allclose(a.bought.sum(1), a.sold.sum(1), atol=1e-9)
    # bought = sold + grid import − grid export, community-wide (DESIGN invariant)
    np.testing.assert_allclose(d.sum(1), s.sum(1) + a.grid_import.sum(1) - a.grid_export.sum(1), atol=1e-8)
    assert np.all(a.bought <= d + 1e-12) and np.all(a.sold <= s + 1e-12)
    # money: Σ member bills = community grid bill at the point of common coupling
    np.testing.assert_allclose(a.bill.sum(1), c.grid_bill, atol=1e-9)
    if mech == "baseline":  # every member settles with the grid on its own
        gb = lb * d.sum(1) - ls * s.sum(1)
    else:
        gb = lb * np.maximum(d.sum(1) - s.sum(1), 0) - ls * np.maximum(s.sum(1) - d.sum(1), 0)
    np.testing.assert_allclose(c.grid_bill, gb, atol=1e-8)


@settings(max_examples=200, deadline=None)
@given(net=nets, tariff=tariffs, mech=st.sampled_from(["mmr", "sdr"]))
def test_prices_within_tariff_bounds(net, tariff, mech):
    lb, ls = tariff
    c = clear(net, lb, ls, mech)
    for p in (c.price_buy, c.price_sell):
        assert np.all(p >= ls - 1e-12) and np.all(p <= lb + 1e-12)
    # nobody is worse off than with the grid alone
    assert np.all(c.price_buy <= lb + 1e-12) and np.all(c.price_sell >= ls - 1e-12)


@settings(max_examples=100, deadline=None)
@given(tariff=tariffs, eps=st.floats(1e-12, 1e-6))
def test_sdr_continuous_at_one(tariff, eps):
    lb, ls = tariff
    below = sdr_prices(np.array([1.0 - eps]), lb, ls)
    above = sdr_prices(np.array([1.0 + eps]), lb, ls)
    at = sdr_prices(np.array([1.0]), lb, ls)
    for i in range(2):
        assert below[i][0] == pytest.approx(at[i][0], abs=1e-5)
        assert above[i][0] == pytest.approx(at[i][0], abs=1e-12)
        assert at[i][0] == pytest.approx(ls)


@settings(max_examples=100, deadline=None)
@given(d=st.floats(0, 100), g=st.floats(0, 100), tariff=tariffs)
def test_sdr_buy_price_monotone_in_supply(d, g, tariff):
    lb, ls = tariff
    c1 = supply_demand_ratio([d], [g], lb, ls)
    c2 = supply_demand_ratio([d], [g + 1.0], lb, ls)
    assert c2.price_buy[0] <= c1.price_buy[0] + 1e-12


def test_bs_buyers_never_pay_more_than_retail():
    rng = np.random.default_rng(3)
    net = rng.normal(size=(200, 7))
    c = bill_sharing(*demand_supply(net), LB, LS)
    assert np.all(c.price_buy <= LB + 1e-12) and np.all(c.price_sell <= LS + 1e-12)
    assert np.all(no_p2p(*demand_supply(net), LB, LS).price_buy == LB)
