"""LP battery scheduling (HiGHS): optimum vs an independent linprog model, bounds, conservation, errors."""

import subprocess
import sys

import numpy as np
import pytest
from control_helpers import make_community
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import peergrid
from peergrid import ConfigError, DataError, ModelError
from peergrid.assets.battery import BatteryFleet
from peergrid.control import battery_fleet
from peergrid.control.lp import (
    HorizonLP,
    LPSchedule,
    grid_cost,
    lp_community,
    lp_individual,
    lp_schedule,
    optimal_dispatch,
)


# ---- an independent formulation: dense, battery-major, scipy.optimize.linprog -------------------
def linprog_bill(com, mode, end_initial=True):
    """Minimum grid bill by scipy's linprog (HiGHS dual simplex), written from scratch."""
    owners, fleet = battery_fleet(com)
    net = com.load - com.generation
    T, N = net.shape
    M = owners.size
    if mode == "community":
        members = [list(range(N))]
        batt_groups = [list(range(M))]
        constant = 0.0
    else:
        members = [[int(i)] for i in owners]
        batt_groups = [[m] for m in range(M)]
        others = np.setdiff1d(np.arange(N), owners)
        x = net[:, others]
        constant = float((com.retail[:, None] * np.maximum(x, 0) - com.feed_in[:, None] * np.maximum(-x, 0)).sum())
    G = len(members)
    nv = 3 * M * T + 2 * G * T

    def c(m, t):
        return m * 3 * T + t

    def d(m, t):
        return m * 3 * T + T + t

    def e(m, t):
        return m * 3 * T + 2 * T + t

    def imp(g, t):
        return 3 * M * T + g * 2 * T + t

    def exp_(g, t):
        return 3 * M * T + g * 2 * T + T + t

    cost = np.zeros(nv)
    bounds = [(0.0, None)] * nv
    A, b = [], []
    e0 = np.clip(fleet.soc_init * fleet.capacity, fleet.soc_min * fleet.capacity, fleet.soc_max * fleet.capacity)
    for m in range(M):
        p = fleet.power[m] * com.dt
        for t in range(T):
            bounds[c(m, t)] = (0.0, p)
            bounds[d(m, t)] = (0.0, p)
            lo = fleet.soc_min[m] * fleet.capacity[m]
            if t == T - 1 and end_initial:
                lo = max(lo, e0[m])
            bounds[e(m, t)] = (lo, fleet.soc_max[m] * fleet.capacity[m])
            row = np.zeros(nv)
            row[e(m, t)] = 1.0
            if t > 0:
                row[e(m, t - 1)] = -1.0
            row[c(m, t)] = -fleet.eff_charge[m]
            row[d(m, t)] = 1.0 / fleet.eff_discharge[m]
            A.append(row)
            b.append(e0[m] if t == 0 else 0.0)
    for g in range(G):
        for t in range(T):
            cost[imp(g, t)] = com.retail[t]
            cost[exp_(g, t)] = -com.feed_in[t]
            row = np.zeros(nv)
            row[imp(g, t)] = 1.0
            row[exp_(g, t)] = -1.0
            for m in batt_groups[g]:
                row[c(m, t)] = -1.0
                row[d(m, t)] = 1.0
            A.append(row)
            b.append(net[t, members[g]].sum())
    res = linprog(cost, A_eq=np.array(A), b_eq=np.array(b), bounds=bounds, method="highs-ds")
    assert res.status == 0, res.message
    return res.fun + constant


def assert_physical(s, com, end_initial=True, tol=1e-6):
    """SOC within bounds, limits respected, SOC consistent with Tooki et al. eqs. 4–5."""
    owners, fleet = battery_fleet(com)
    assert s.charge.shape == s.discharge.shape == s.energy.shape == (com.T, owners.size)
    pmax = fleet.power * com.dt
    assert np.all(s.charge >= -tol) and np.all(s.discharge >= -tol)
    assert np.all(s.charge <= pmax + tol) and np.all(s.discharge <= pmax + tol)
    assert np.all(s.energy >= fleet.e_min - tol) and np.all(s.energy <= fleet.e_max + tol)
    prev = np.vstack([fleet.e_init, s.energy[:-1]])
    expected = prev + fleet.eff_charge * s.charge - s.discharge / fleet.eff_discharge
    np.testing.assert_allclose(s.energy, expected, atol=tol)
    if end_initial:
        assert np.all(s.energy[-1] >= fleet.e_init - tol)


# ---- optimum ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["individual", "community"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimum_equals_linprog(mode, seed):
    com = make_community(seed, T=24, battery_eff_charge=0.92, battery_eff_discharge=0.9)
    s = lp_schedule(com, mode=mode, tie_break=0.0)
    ref = linprog_bill(com, mode)
    assert s.cost == pytest.approx(ref, abs=1e-6)
    # the default tie-break does not move the bill measurably
    assert lp_schedule(com, mode=mode).cost == pytest.approx(ref, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    T=st.integers(1, 20),
    n_batt=st.integers(1, 3),
    eta=st.floats(0.7, 1.0),
    soc_min=st.floats(0.0, 0.4),
    soc_init=st.floats(0.0, 1.0),
    feed_in=st.floats(0.0, 0.2),
    mode=st.sampled_from(["individual", "community"]),
    end=st.sampled_from(["initial", "free"]),
)
def test_optimum_equals_linprog_random(seed, T, n_batt, eta, soc_min, soc_init, feed_in, mode, end):
    com = make_community(
        seed,
        T=T,
        N=5,
        n_batt=n_batt,
        freq="1h",
        feed_in=feed_in,
        battery_eff_charge=eta,
        battery_eff_discharge=eta,
        soc_min=soc_min,
        soc_max=0.95,
        soc_init=soc_init,
    )
    s = lp_schedule(com, mode=mode, end_soc=end, tie_break=0.0)
    assert s.cost == pytest.approx(linprog_bill(com, mode, end_initial=end == "initial"), abs=1e-6)
    assert_physical(s, com, end_initial=end == "initial")


@pytest.mark.parametrize("mode", ["individual", "community"])
def test_schedule_is_physical(mode):
    com = make_community(3, T=96, battery_eff_charge=0.95, battery_eff_discharge=0.9, soc_min=0.1, soc_max=0.9)
    s = lp_schedule(com, mode=mode)
    assert isinstance(s, LPSchedule) and s.mode == mode and s.windows == 1
    assert_physical(s, com)


def test_no_simultaneous_charge_and_discharge():
    # λs = 0 and lossless batteries make cycling energy free: only the tie-break prevents it
    com = make_community(4, T=48, feed_in=0.0, battery_eff_charge=1.0, battery_eff_discharge=1.0)
    for mode in ("individual", "community"):
        s = lp_schedule(com, mode=mode)
        assert np.all(np.minimum(s.charge, s.discharge) <= 1e-7)


# ---- never worse than the rule-based / no-control runs ---------------------------------------------
@pytest.mark.parametrize("seed", [0, 5])
def test_individual_lp_beats_greedy_and_no_control(seed):
    com = make_community(seed)
    bills = {
        c: peergrid.simulate(com, market="baseline", control=c).metrics["community_cost"] for c in ("none", "greedy")
    }
    res = peergrid.simulate(com, market="baseline", control=lp_individual)
    lp_bill = res.metrics["community_cost"]
    assert lp_bill == pytest.approx(res.battery.cost, abs=1e-9)  # the engine bills what the LP reports
    assert lp_bill <= bills["greedy"] + 1e-9
    assert lp_bill <= bills["none"] + 1e-9


@pytest.mark.parametrize("seed", [0, 5])
def test_community_lp_beats_every_other_schedule_at_the_pcc(seed):
    com = make_community(seed)
    res = peergrid.compare(com, markets=["bs", "mmr", "sdr"], control=lp_community)
    pcc = {m: r.metrics["community_cost"] for m, r in res.items()}
    lp_bill = res["bs"].battery.cost
    for bill in pcc.values():  # every pool mechanism settles the same PCC bill
        assert bill == pytest.approx(lp_bill, abs=1e-9)
    for control in ("none", "greedy", lp_individual):
        other = peergrid.simulate(com, market="bs", control=control).metrics["community_cost"]
        assert lp_bill <= other + 1e-9


def test_synthetic_community_costs_ordered():
    from peergrid.data import synthetic_community

    com = synthetic_community(40, start="2022-08-01", periods=96, freq="30min", pv_share=0.5, battery_share=0.3, seed=2)
    ind = lp_individual(com)
    joint = lp_community(com)
    assert joint.cost <= grid_cost(ind.apply(com.net), com.retail, com.feed_in, "community") + 1e-9
    greedy = peergrid.simulate(com, market="baseline", control="greedy").metrics["community_cost"]
    assert ind.cost <= greedy + 1e-9


def test_grid_cost_matches_the_engine():
    com = make_community(7)
    s = peergrid.control.greedy(com)
    net = s.apply(com.net)
    base = peergrid.simulate(com, market="baseline", control="greedy").metrics["community_cost"]
    pcc = peergrid.simulate(com, market="sdr", control="greedy").metrics["community_cost"]
    assert grid_cost(net, com.retail, com.feed_in, "individual") == pytest.approx(base)
    assert grid_cost(net, com.retail, com.feed_in, "community") == pytest.approx(pcc)


# ---- windows, end SOC, no batteries --------------------------------------------------------------
@pytest.mark.parametrize("mode", ["individual", "community"])
def test_windows_chained_by_soc_close_to_single_lp(mode):
    com = make_community(8, T=48 * 4, battery_eff_charge=0.95, battery_eff_discharge=0.95)
    single = lp_schedule(com, mode=mode, window=None)
    windowed = lp_schedule(com, mode=mode, window=48, lookahead=48)
    assert windowed.windows == 4
    assert_physical(windowed, com)
    assert single.cost <= windowed.cost + 1e-9
    assert windowed.cost <= single.cost + 0.005 * abs(single.cost)


def test_end_soc_options():
    com = make_community(9, soc_init=0.6)
    free = lp_schedule(com, end_soc="free")
    kept = lp_schedule(com, end_soc="initial")
    full = lp_schedule(com, end_soc=0.9)
    _, fleet = battery_fleet(com)
    assert free.cost <= kept.cost <= full.cost
    assert np.all(full.energy[-1] >= 0.9 * fleet.capacity - 1e-6)
    assert np.all(free.energy[-1] <= fleet.e_init + 1e-6)  # a free end empties (part of) the batteries


def test_community_without_batteries():
    com = make_community(1, n_batt=0)
    s = lp_community(com)
    assert s.owners.size == 0 and s.charge.shape == (com.T, 0)
    assert s.cost == pytest.approx(grid_cost(com.net, com.retail, com.feed_in, "community"))


def test_progress_reaches_the_end():
    com = make_community(2, T=96)
    seen = []
    lp_schedule(com, progress=seen.append, window=24)
    assert seen[-1] == com.T and seen == sorted(seen)


def test_horizon_model_reuse_gives_same_optimum():
    """Updating costs/bounds of a built model equals building a new one."""
    com = make_community(11, T=24)
    owners, fleet = battery_fleet(com)
    groups = np.zeros(owners.size, dtype=np.int64)
    res = com.net.sum(axis=1, keepdims=True)
    model = HorizonLP(fleet, groups, 1, com.dt, 24)
    model.set_data(res * 0.5, com.retail * 2, com.feed_in, fleet.e_init, fleet.e_init)
    model.solve()
    model.set_data(res, com.retail, com.feed_in, fleet.e_init, fleet.e_init)
    *_, obj = model.solve()
    fresh = HorizonLP(fleet, groups, 1, com.dt, 24)
    fresh.set_data(res, com.retail, com.feed_in, fleet.e_init, fleet.e_init)
    *_, obj_fresh = fresh.solve()
    assert obj == pytest.approx(obj_fresh, abs=1e-7)


# ---- errors: one clear line, never a solver traceback ---------------------------------------------
def test_negative_capacity_is_a_clear_error():
    with pytest.raises(DataError, match="negative battery_kwh"):
        make_community(0, battery_kwh=[-5.0, 5.0, 5.0, 0.0, 0.0, 0.0])
    fleet = BatteryFleet(
        capacity=np.array([5.0]),
        power=np.array([2.0]),
        eff_charge=np.array([0.95]),
        eff_discharge=np.array([0.95]),
        soc_min=np.array([0.1]),
        soc_max=np.array([1.0]),
        soc_init=np.array([0.5]),
    )
    with pytest.raises(ModelError, match="capacity"):
        BatteryFleet(**{**fleet.__dict__, "capacity": np.array([-5.0])})
    with pytest.raises(DataError, match="owners"):
        optimal_dispatch(np.zeros((4, 2)), np.array([0, 1]), fleet, 0.3, 0.1, 1.0)


def test_unreachable_end_soc_is_a_model_error():
    # 5 kWh battery at 10 %, 0.5 kW for 4 h: at most 2 kWh more, so 100 % is out of reach
    com = make_community(0, T=4, freq="1h", battery_kw=[0.5, 0.5, 0.5, 0, 0, 0], soc_init=0.1)
    with pytest.raises(ModelError, match="unreachable") as err:
        lp_schedule(com, end_soc=1.0)
    assert "\n" not in str(err.value) and "h0" in str(err.value)
    com = make_community(0, soc_max=0.8)
    with pytest.raises(ModelError, match="soc_max"):
        lp_schedule(com, end_soc=0.9)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"mode": "pool"}, ConfigError),
        ({"end_soc": "full"}, ConfigError),
        ({"end_soc": 1.5}, ConfigError),
        ({"window": 0}, ConfigError),
        ({"window": "daily"}, ConfigError),
        ({"tie_break": -1.0}, ConfigError),
        ({"options": {"no_such_option": 1}}, ConfigError),
    ],
)
def test_bad_settings(kwargs, error):
    with pytest.raises(error):
        lp_schedule(make_community(0, T=8), **kwargs)


def test_bad_arrays():
    _, fleet = battery_fleet(make_community(0))
    owners = np.arange(3)
    net = np.zeros((6, 6))
    with pytest.raises(DataError, match="NaN"):
        optimal_dispatch(np.full((6, 6), np.nan), owners, fleet, 0.3, 0.1, 1.0)
    with pytest.raises(DataError, match="feed-in"):
        optimal_dispatch(net, owners, fleet, 0.1, 0.3, 1.0)
    with pytest.raises(DataError, match=r"\(T, N\)"):
        optimal_dispatch(np.zeros(6), owners, fleet, 0.3, 0.1, 1.0)
    with pytest.raises(DataError, match="step length"):
        optimal_dispatch(net, owners, fleet, 0.3, 0.1, 0.0)


def test_unknown_controller_name_still_config_error():
    with pytest.raises(ConfigError):
        peergrid.simulate(make_community(0), control="no-such-controller")


def test_solver_prints_nothing():
    """HiGHS prints a licence banner on stdout unless silenced before first use; --json output must stay clean."""
    code = (
        "from peergrid.data import synthetic_community\n"
        "from peergrid.control.lp import lp_schedule\n"
        "from peergrid.control.mpc import mpc\n"
        "com = synthetic_community(6, periods=24, freq='1h', seed=1)\n"
        "lp_schedule(com, mode='community'); mpc(com, horizon_steps=6)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == ""
