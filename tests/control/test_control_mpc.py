"""Sliding-horizon MPC: equals the LP with perfect foresight, forecasters, realised dispatch, errors."""

import numpy as np
import pytest
from control_helpers import make_community
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid import ConfigError, DataError, ModelError
from peergrid.assets.battery import BatteryFleet
from peergrid.control import battery_fleet
from peergrid.control.forecast import Forecaster, PerfectForecaster, PersistenceForecaster, get_forecaster
from peergrid.control.lp import HorizonLP, group_codes, lp_schedule, realise_step
from peergrid.control.mpc import MPCSchedule, mpc, mpc_community, mpc_individual
from peergrid.core import make_index


def assert_physical(s, com, tol=1e-6):
    _, fleet = battery_fleet(com)
    pmax = fleet.power * com.dt
    assert np.all(s.charge >= -tol) and np.all(s.discharge >= -tol)
    assert np.all(s.charge <= pmax + tol) and np.all(s.discharge <= pmax + tol)
    assert np.all(s.energy >= fleet.e_min - tol) and np.all(s.energy <= fleet.e_max + tol)
    prev = np.vstack([fleet.e_init, s.energy[:-1]])
    np.testing.assert_allclose(
        s.energy, prev + fleet.eff_charge * s.charge - s.discharge / fleet.eff_discharge, atol=tol
    )


class NoisyForecaster:
    """Perfect forecast plus seeded noise (a forecaster object for the Protocol)."""

    name = "noisy"

    def __init__(self, net, scale, seed):
        self.net, self.scale, self.rng = net, scale, np.random.default_rng(seed)

    def forecast(self, history, index, horizon):
        t = history.shape[0]
        truth = self.net[t : t + horizon]
        return truth + self.scale * self.rng.normal(size=truth.shape)


# ---- MPC with perfect foresight and full horizon == LP --------------------------------------------
@pytest.mark.parametrize("mode", ["individual", "community"])
@pytest.mark.parametrize("seed", [0, 3])
def test_perfect_full_horizon_equals_lp(mode, seed):
    com = make_community(seed, battery_eff_charge=0.95, battery_eff_discharge=0.9)
    lp = lp_schedule(com, mode=mode, window=None)
    s = mpc(com, horizon_steps=com.T, replan_every_steps=1, forecaster="perfect", mode=mode)
    assert isinstance(s, MPCSchedule) and s.replans == com.T
    assert s.cost == pytest.approx(lp.cost, abs=1e-6)
    assert s.lp_cost == pytest.approx(lp.cost, abs=1e-9)
    assert abs(s.gap) <= 1e-6
    assert_physical(s, com)


def test_perfect_full_horizon_equals_lp_for_every_dispatch_rule_and_interval():
    com = make_community(1)
    lp = lp_schedule(com, mode="community", window=None).cost
    for dispatch in ("marginal", "setpoint", "plan"):
        for every in (1, 5):
            s = mpc(com, horizon_steps=100, replan_every_steps=every, forecaster="perfect", mode="community",
                    dispatch=dispatch, report_gap=False)  # fmt: skip
            assert s.cost == pytest.approx(lp, abs=1e-6)
            assert s.replans == -(-com.T // every)


@pytest.mark.parametrize("mode", ["individual", "community"])
def test_warm_started_replans_are_optimal(mode):
    """Rolling the ring origin and updating data re-solves to the optimum of a freshly built LP.

    (Realised MPC schedules from warm and cold starts may differ where plans tie.)
    """
    com = make_community(2, T=40)
    owners, fleet = battery_fleet(com)
    codes, k = group_codes(com.N, owners, mode)
    net = com.net
    fc = PersistenceForecaster()
    H = 12
    warm = HorizonLP(fleet, codes[owners], k, com.dt, H, tie_break=1e-6)
    e = fleet.e_init.copy()
    for t in range(com.T):
        steps = min(H, com.T - t)
        f = fc.forecast(net[:t], com.index[t : t + steps], steps)
        res = f.sum(axis=1, keepdims=True) if mode == "community" else f[:, owners]
        args = (res, com.retail[t : t + steps], com.feed_in[t : t + steps], e, np.minimum(fleet.e_init, e), steps)
        warm.set_data(*args)
        c, d, _, obj = warm.solve()
        cold = HorizonLP(fleet, codes[owners], k, com.dt, steps, tie_break=1e-6)
        cold.set_data(*args)
        assert obj == pytest.approx(cold.solve()[3], abs=1e-7)
        e = np.clip(e + fleet.eff_charge * c[0] - d[0] / fleet.eff_discharge, fleet.e_min, fleet.e_max)
        warm.roll(1)


def test_cold_start_option_runs():
    com = make_community(2, T=20)
    lp = lp_schedule(com, window=None).cost
    s = mpc(com, horizon_steps=20, forecaster="perfect", warm_start=False, report_gap=False)
    assert s.cost == pytest.approx(lp, abs=1e-6)


@pytest.mark.parametrize("mode", ["individual", "community"])
def test_short_horizon_and_forecast_errors_cost_more(mode):
    com = make_community(4, T=96)
    lp = lp_schedule(com, mode=mode).cost
    short = mpc(com, horizon_steps=12, forecaster="perfect", mode=mode)
    persistence = mpc(com, horizon_steps=48, forecaster="persistence", mode=mode)
    for s in (short, persistence):
        assert s.lp_cost == pytest.approx(lp)
        assert s.gap >= -1e-6
        assert s.gap_relative == pytest.approx(s.gap / abs(s.lp_cost))
        assert_physical(s, com)
    none = peergrid.simulate(com, market="baseline" if mode == "individual" else "bs", control="none")
    assert persistence.cost <= none.metrics["community_cost"] + 1e-9


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 1000),
    scale=st.floats(0.0, 2.0),
    horizon=st.integers(1, 30),
    every=st.integers(1, 4),
    mode=st.sampled_from(["individual", "community"]),
    dispatch=st.sampled_from(["marginal", "setpoint", "plan"]),
    end=st.sampled_from(["free", "initial"]),
)
def test_any_forecast_keeps_batteries_physical(seed, scale, horizon, every, mode, dispatch, end):
    com = make_community(seed, T=30, battery_eff_charge=0.9, battery_eff_discharge=0.95, soc_min=0.2, soc_max=0.9)
    fc = NoisyForecaster(com.net, scale, seed)
    s = mpc(com, horizon_steps=horizon, replan_every_steps=min(every, horizon), forecaster=fc, mode=mode,
            dispatch=dispatch, end_soc=end, report_gap=False)  # fmt: skip
    assert s.forecaster == "noisy"
    assert_physical(s, com)
    if end == "initial":  # the run's end condition holds whatever the forecast error
        _, fleet = battery_fleet(com)
        assert np.all(s.energy[-1] >= fleet.e_init - 1e-6)
    # the engine bills the realised schedule exactly as MPC reports it
    market = "baseline" if mode == "individual" else "bs"
    billed = peergrid.simulate(com, market=market, control=lambda c, progress=None: s).metrics["community_cost"]
    assert billed == pytest.approx(s.cost, abs=1e-9)


def test_controllers_plug_into_simulate():
    com = make_community(5)
    for controller in (mpc_individual, mpc_community):
        res = peergrid.simulate(com, market="sdr", control=controller)
        assert res.battery.replans == com.T and np.isfinite(res.battery.gap)


def test_no_batteries():
    com = make_community(0, n_batt=0)
    s = mpc(com)
    assert s.owners.size == 0 and s.replans == 0 and s.gap == pytest.approx(0.0)


# ---- realised dispatch --------------------------------------------------------------------------
def _fleet(m=1, **kw):
    p = {
        "capacity": 10.0,
        "power": 2.0,
        "eff_charge": 1.0,
        "eff_discharge": 1.0,
        "soc_min": 0.0,
        "soc_max": 1.0,
        "soc_init": 0.5,
    }
    p.update(kw)
    return BatteryFleet(**{k: np.full(m, v, dtype=float) for k, v in p.items()})


def test_marginal_rule_never_charges_from_grid_for_missing_pv():
    fleet = _fleet()
    g = np.zeros(1, dtype=np.int64)
    # plan: charge 1.5 kWh of forecast surplus (forecast net −1.5); PV fails, realised net +0.5
    c, d = realise_step(np.array([1.5]), np.array([0.0]), np.array([-1.5]), np.array([0.5]), np.array([5.0]),
                        fleet, g, 1, 1.0, "marginal")  # fmt: skip
    assert c[0] == pytest.approx(0.0) and d[0] == pytest.approx(0.5)  # serves the load instead
    c, d = realise_step(np.array([1.5]), np.array([0.0]), np.array([-1.5]), np.array([0.5]), np.array([5.0]),
                        fleet, g, 1, 1.0, "plan")  # fmt: skip
    assert c[0] == pytest.approx(1.5)  # the plan rule buys the missing 2 kWh from the grid


def test_marginal_rule_keeps_planned_side_of_the_meter():
    fleet = _fleet()
    g = np.zeros(1, dtype=np.int64)
    # plan: import 1 kWh (forecast 1.0, idle battery); realised 1.8: still importing -> grid takes it
    c, d = realise_step(np.zeros(1), np.zeros(1), np.array([1.0]), np.array([1.8]), np.array([5.0]), fleet, g, 1, 1.0)
    assert c[0] == 0 and d[0] == 0
    # setpoint holds the 1 kWh import: the battery discharges 0.8
    c, d = realise_step(np.zeros(1), np.zeros(1), np.array([1.0]), np.array([1.8]), np.array([5.0]), fleet, g, 1, 1.0,
                        "setpoint")  # fmt: skip
    assert d[0] == pytest.approx(0.8)
    # realised surplus 0.5 instead: the meter would flip to export -> the battery stores it
    c, d = realise_step(np.zeros(1), np.zeros(1), np.array([1.0]), np.array([-0.5]), np.array([5.0]), fleet, g, 1, 1.0)
    assert c[0] == pytest.approx(0.5) and d[0] == 0


def test_realised_dispatch_respects_limits_and_shares_by_headroom():
    fleet = _fleet(2, capacity=[10.0, 10.0], power=[1.0, 3.0])
    g = np.zeros(2, dtype=np.int64)
    e = np.array([9.5, 5.0])  # room 0.5 and 5 kWh
    c, d = realise_step(np.zeros(2), np.zeros(2), np.zeros(1), np.array([-10.0]), e, fleet, g, 1, 1.0)
    np.testing.assert_allclose(c, [0.5, 3.0])  # both full up to their limits, rest exported
    np.testing.assert_allclose(d, 0.0)


# ---- forecasters ------------------------------------------------------------------------------------
def test_persistence_forecast_is_same_time_yesterday():
    idx = make_index("2022-08-01", 200, "30min")
    hist = np.arange(100.0)[:, None] * np.ones((1, 2))
    out = PersistenceForecaster().forecast(hist, idx[100:160], 60)
    assert out.shape == (60, 2)
    np.testing.assert_array_equal(out[:48, 0], np.arange(52.0, 100.0))
    np.testing.assert_array_equal(out[48:, 0], np.arange(52.0, 64.0))  # beyond a day: the last observed day again
    short = PersistenceForecaster().forecast(hist[:10], idx[10:20], 10)
    np.testing.assert_array_equal(short[:, 0], 9.0)  # less than a day of history: last observation
    np.testing.assert_array_equal(PersistenceForecaster().forecast(hist[:0], idx[:5], 5), 0.0)
    np.testing.assert_array_equal(
        PersistenceForecaster(season_steps=2).forecast(hist, idx[100:104], 4)[:, 0], [98, 99, 98, 99]
    )


def test_forecasters_resolve_and_never_see_the_future():
    com = make_community(0, T=20)
    seen = []

    def spy(history, index, horizon):
        seen.append((history.shape[0], index[0], history.flags.writeable))
        return np.zeros((horizon, com.N))

    s = mpc(com, horizon_steps=6, forecaster=spy, report_gap=False)
    assert [t for t, _, _ in seen] == list(range(com.T))
    assert all(ts == com.index[t] for t, ts, _ in seen)
    assert not any(w for *_, w in seen)
    assert s.forecaster == "spy"
    assert isinstance(PersistenceForecaster(), Forecaster) and isinstance(PerfectForecaster(com.net), Forecaster)
    np.testing.assert_array_equal(get_forecaster("perfect", com)(com.net[:3], com.index[3:5], 2), com.net[3:5])


def test_bad_forecasts_are_data_errors():
    com = make_community(0, T=10)
    with pytest.raises(DataError, match="shape"):
        mpc(com, forecaster=lambda h, i, n: np.zeros((n, 2)), report_gap=False)
    with pytest.raises(DataError, match="NaN"):
        mpc(com, forecaster=lambda h, i, n: np.full((n, com.N), np.nan), report_gap=False)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"horizon_steps": 0}, ConfigError),
        ({"horizon_steps": 2.5}, ConfigError),
        ({"horizon_steps": 4, "replan_every_steps": 5}, ConfigError),
        ({"forecaster": "oracle"}, ConfigError),
        ({"forecaster": 42}, ConfigError),
        ({"mode": "cluster"}, ConfigError),
        ({"dispatch": "greedy"}, ConfigError),
        ({"end_soc": 1.0}, ModelError),  # 5 kWh / 2.5 kW from 50 % in one 30-min step: out of reach
        ({"end_soc": "later"}, ConfigError),
    ],
)
def test_bad_settings(kwargs, error):
    with pytest.raises(error) as err:
        mpc(make_community(0, T=1), **kwargs)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        PersistenceForecaster(season_steps=0)
