"""Exact price-taker DP (individual-mode LP) against HiGHS: same objective, physical schedules, windows."""

import copy

import numpy as np
import pandas as pd
import pytest
from control_helpers import make_community
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peergrid
from peergrid import ConfigError
from peergrid.assets.battery import BatteryFleet
from peergrid.control import battery_fleet, lp_individual
from peergrid.control.lp import grid_cost, lp_schedule, optimal_dispatch
from peergrid.control.pricetaker import exact_price_taker, price_taker_applicable
from peergrid.core import make_index


def price_view(com, buy, sell):
    """The community with other prices (what the coordinator's ``peergrid.control.price_view`` hands over)."""
    view = copy.copy(com)
    view.retail = np.asarray(buy, dtype=float)
    view.feed_in = np.asarray(sell, dtype=float)
    return view


def objective(res, net, owners, retail, feed_in, tie):
    """LP objective of a dispatch: the members' grid bills plus the throughput tie-break."""
    after = np.array(net, dtype=float)
    after[:, owners] += res.charge - res.discharge
    return grid_cost(after, retail, feed_in, "individual") + tie * float(res.charge.sum() + res.discharge.sum())


def assert_feasible(res, fleet, dt, e_end, tol=1e-7):
    pmax = fleet.power * dt
    assert np.all(res.charge >= -tol) and np.all(res.discharge >= -tol)
    assert np.all(res.charge <= pmax + tol) and np.all(res.discharge <= pmax + tol)
    assert np.all(res.energy >= fleet.e_min - tol) and np.all(res.energy <= fleet.e_max + tol)
    prev = np.vstack([fleet.e_init, res.energy[:-1]])
    np.testing.assert_allclose(
        res.energy, prev + fleet.eff_charge * res.charge - res.discharge / fleet.eff_discharge, atol=tol
    )
    assert np.all(np.minimum(res.charge, res.discharge) <= tol)
    assert np.all(res.energy[-1] >= e_end - tol)


@st.composite
def cases(draw, continuous_prices=False):
    """Small random individual-mode problems, with the degenerate corners hypothesis likes."""
    T = draw(st.integers(1, 30))
    N = draw(st.integers(1, 4))
    M = draw(st.integers(1, N))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    net = rng.normal(0.0, draw(st.sampled_from([0.3, 1.0, 3.0])), (T, N))
    if draw(st.booleans()):
        net[rng.random((T, N)) < 0.3] = 0.0  # exact zeros: kinks on the origin
    if continuous_prices:
        retail = rng.uniform(0.1, 0.5, T)
        feed_in = retail * rng.uniform(0.0, 1.0, T)
    else:
        levels = draw(st.sampled_from(["flat", "tou", "random", "equal", "zero-feed-in"]))
        retail = {"flat": np.full(T, 0.3), "tou": np.where(np.arange(T) % 8 > 4, 0.4, 0.2)}.get(
            levels, rng.uniform(0.1, 0.5, T)
        )
        feed_in = {"equal": retail.copy(), "zero-feed-in": np.zeros(T)}.get(levels, retail * rng.uniform(0, 1, T))
    eta = draw(st.sampled_from([1.0, 0.95, rng.uniform(0.6, 1.0)]))
    soc_min = draw(st.sampled_from([0.0, 0.1, 0.5]))
    soc_max = draw(st.sampled_from([1.0, 0.9, soc_min]))
    fleet = BatteryFleet(
        capacity=rng.uniform(0.5, 10.0, M),
        power=rng.uniform(0.2, 5.0, M),
        eff_charge=np.full(M, eta),
        eff_discharge=rng.uniform(0.6, 1.0, M) if draw(st.booleans()) else np.full(M, eta),
        soc_min=np.full(M, soc_min),
        soc_max=np.full(M, soc_max),
        soc_init=rng.uniform(0.0, 1.0, M),
    )
    owners = rng.choice(N, M, replace=False)
    dt = draw(st.sampled_from([0.25, 0.5, 1.0]))
    end = draw(st.sampled_from(["initial", "free", 0.0, 0.5]))
    if isinstance(end, float) and end > soc_max:
        end = "free"
    return net, owners, fleet, retail, feed_in, dt, end


def _solve_both(net, owners, fleet, retail, feed_in, dt, end, **kw):
    tie = 1e-6 * float(retail.max())
    try:
        ref = optimal_dispatch(
            net, owners, fleet, retail, feed_in, dt, end_soc=end, method="highs", tie_break=tie, **kw
        )
    except Exception as exc:  # unreachable end SOC etc.: both methods must refuse alike
        with pytest.raises(type(exc)):
            optimal_dispatch(net, owners, fleet, retail, feed_in, dt, end_soc=end, method="dp", tie_break=tie, **kw)
        return None
    dp = optimal_dispatch(net, owners, fleet, retail, feed_in, dt, end_soc=end, method="dp", tie_break=tie, **kw)
    return ref, dp, tie


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_single_plan_objective_equals_highs(case):
    net, owners, fleet, retail, feed_in, dt, end = case
    out = _solve_both(net, owners, fleet, retail, feed_in, dt, end, window=None)
    if out is None:
        return
    ref, dp, tie = out
    assert dp.method == "dp" and ref.method == "highs"
    j_ref = objective(ref, net, owners, retail, feed_in, tie)
    j_dp = objective(dp, net, owners, retail, feed_in, tie)
    scale = float(np.abs(net).sum() * retail.max()) + 1.0
    assert j_dp <= j_ref + 1e-6 * scale  # never worse than HiGHS ...
    assert j_dp == pytest.approx(j_ref, rel=1e-6, abs=1e-6 * scale)  # ... and the same optimum
    from peergrid.control._common import end_energy

    assert_feasible(dp, fleet, dt, end_energy(fleet, end))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(continuous_prices=True), window=st.integers(1, 12), lookahead=st.integers(0, 12))
def test_windows_objective_equals_highs(case, window, lookahead):
    """Windows chained by SOC (with look-ahead) reproduce the HiGHS windows: per-step continuous prices
    make every plan's optimum unique, so both methods walk the same chain of plans."""
    net, owners, fleet, retail, feed_in, dt, end = case
    out = _solve_both(net, owners, fleet, retail, feed_in, dt, end, window=window, lookahead=lookahead)
    if out is None:
        return
    ref, dp, tie = out
    assert dp.windows == ref.windows
    scale = float(np.abs(net).sum() * retail.max()) + 1.0
    j_ref = objective(ref, net, owners, retail, feed_in, tie)
    j_dp = objective(dp, net, owners, retail, feed_in, tie)
    assert j_dp == pytest.approx(j_ref, rel=1e-6, abs=1e-6 * scale)


def test_hand_computed_arbitrage():
    """A lossless 1 kWh battery and 1 kWh of own load in the dear step: charge cheap, discharge dear."""
    net = np.array([[0.0], [1.0]])
    fleet = BatteryFleet(
        capacity=np.array([1.0]),
        power=np.array([1.0]),
        eff_charge=np.array([1.0]),
        eff_discharge=np.array([1.0]),
        soc_min=np.array([0.0]),
        soc_max=np.array([1.0]),
        soc_init=np.array([0.0]),
    )
    res = optimal_dispatch(net, np.array([0]), fleet, np.array([0.1, 0.5]), np.array([0.0, 0.0]), 1.0, method="dp")
    np.testing.assert_allclose(res.charge[:, 0], [1.0, 0.0])
    np.testing.assert_allclose(res.discharge[:, 0], [0.0, 1.0])
    assert res.cost == pytest.approx(0.1)
    # a smaller spread than the losses: the battery stays idle
    lossy = BatteryFleet(**{**fleet.__dict__, "eff_charge": np.array([0.8]), "eff_discharge": np.array([0.8])})
    res = optimal_dispatch(net, np.array([0]), lossy, np.array([0.4, 0.5]), np.array([0.0, 0.0]), 1.0, method="dp")
    assert np.all(res.charge == 0) and np.all(res.discharge == 0)
    assert res.cost == pytest.approx(0.5)


def test_lp_controller_uses_the_dp_and_matches_highs():
    com = make_community(3, T=96, battery_eff_charge=0.95, battery_eff_discharge=0.9, soc_min=0.1, soc_max=0.9)
    fast = lp_individual(com)
    slow = lp_schedule(com, mode="individual", method="highs")
    assert fast.method == "dp" and slow.method == "highs"
    assert fast.cost == pytest.approx(slow.cost, rel=1e-6)
    assert lp_schedule(com, mode="community").method == "highs"


def test_method_choice_and_errors():
    com = make_community(1, T=24)
    with pytest.raises(ConfigError, match="method"):
        lp_schedule(com, method="simplex")
    with pytest.raises(ConfigError, match="individual mode"):
        lp_schedule(com, mode="community", method="dp")
    # negative feed-in prices: the DP is not exact (energy may be burnt), auto falls back to HiGHS
    neg = price_view(com, com.retail, np.where(np.arange(com.T) < 4, -0.05, 0.05))
    assert not price_taker_applicable(neg.retail, neg.feed_in)
    assert lp_schedule(neg).method == "highs"
    with pytest.raises(ConfigError):
        lp_schedule(neg, method="dp")
    # round-off in a coordinator's internal prices does not push the LP onto HiGHS
    assert price_taker_applicable(com.retail, com.retail * (1 + 1e-15))
    assert price_taker_applicable(com.retail, np.full(com.T, -1e-16))
    # HiGHS options ask for HiGHS
    assert lp_schedule(com, options={"solver": "simplex"}).method == "highs"


def test_kernel_zero_power_battery_stays_idle():
    fleet = BatteryFleet(
        capacity=np.array([1.0]),
        power=np.array([0.0]),
        eff_charge=np.array([1.0]),
        eff_discharge=np.array([1.0]),
        soc_min=np.array([0.0]),
        soc_max=np.array([1.0]),
        soc_init=np.array([0.5]),
    )
    c, d, e, windows, before, after = exact_price_taker(
        np.ones((5, 1)), fleet, np.full(5, 0.3), np.full(5, 0.1), 1.0, horizon=5, every=5, e_end=np.array([0.5])
    )
    assert windows == 1 and np.all(c == 0) and np.all(d == 0) and np.allclose(e, 0.5)
    assert before[0] == pytest.approx(5 * 0.3) and after[0] == pytest.approx(5 * 0.3)


def one_home(T=8, retail=0.3, feed_in=0.0, load=1.0, generation=0.0, soc_init=0.0):
    """One home with a 2 kWh / 2 kW battery (η = 0.95 each way), hourly steps."""
    idx = make_index("2022-08-01", T, "1h")
    parts = pd.DataFrame(
        {
            "id": ["h0"],
            "battery_kwh": [2.0],
            "battery_kw": [2.0],
            "battery_eff_charge": [0.95],
            "battery_eff_discharge": [0.95],
            "soc_init": [soc_init],
        }
    )
    return peergrid.Community(
        idx, parts, np.full((T, 1), load), np.full((T, 1), generation), retail=retail, feed_in=feed_in
    )


def test_price_view_moves_the_lp_schedule():
    """Flat prices: the lossy battery idles; a cheap slot in the price view: it charges there and
    discharges into the dear slots after it."""
    com = one_home()
    assert np.all(lp_individual(com).power == 0)
    retail = np.full(com.T, 0.3)
    retail[2] = 0.05
    s = lp_individual(price_view(com, retail, com.feed_in))
    _, fleet = battery_fleet(com)
    room = float(fleet.e_max[0] - fleet.e_init[0])  # the battery fills up in the cheap hour ...
    assert s.charge[2, 0] == pytest.approx(room / 0.95)
    assert np.all(s.charge[np.arange(com.T) != 2] == 0)
    assert s.discharge[3:].sum() == pytest.approx(room * 0.95)  # ... and serves the load after it
