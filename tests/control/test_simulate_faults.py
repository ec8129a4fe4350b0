"""Node failure (Lange): controller and meter faults, imbalance settlement, balance invariants."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid import ConfigError
from peergrid.core import make_index
from peergrid.data import synthetic_community
from peergrid.simulate.faults import Fault, apply_controller_faults, fault_study, meter_estimate


def small():
    # two members: m0 PV + battery (2 kWh, 1 kW, lossless, empty), m1 consumer
    parts = pd.DataFrame({
        "id": ["m0", "m1"], "battery_kwh": [2.0, 0.0], "battery_kw": [1.0, 0.0], "battery_eff_charge": 1.0,
        "battery_eff_discharge": 1.0, "soc_min": 0.0, "soc_init": 0.0,
    })
    load = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 1.0], [2.0, 1.0]])
    gen = np.array([[3.0, 0.0], [3.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    return peergrid.Community(make_index("2022-08-01", 4, "1h"), parts, load, gen, 0.30, 0.10)


def test_controller_fault_idles_the_battery_then_resumes():
    com = small()
    healthy = peergrid.simulate(com, market="sdr", control="greedy")
    np.testing.assert_allclose(healthy.battery.charge[:, 0], [1, 1, 0, 0])
    res = peergrid.simulate(com, market="sdr", control="greedy", faults=[Fault("m0", 0, 1, "controller")])
    # idle in step 0; step 1 charges 1; steps 2-3 want to discharge 1 each, only 1 kWh stored
    np.testing.assert_allclose(res.battery.charge[:, 0], [0, 1, 0, 0])
    np.testing.assert_allclose(res.battery.discharge[:, 0], [0, 0, 1, 0])
    np.testing.assert_allclose(res.battery.energy[:, 0], [0, 1, 0, 0])
    m = res.metrics
    assert m["controller_fault_steps"] == 1 and m["meter_fault_steps"] == 0
    assert m["imbalance_kwh"] == 0 and m["imbalance_cost"] == 0
    # the community still balances and serves all demand, at a higher cost
    assert m["served_demand_kwh"] == pytest.approx(healthy.metrics["load_kwh"])
    assert m["community_cost"] > healthy.metrics["community_cost"]
    # export: step 0 3 - 1 = 2, step 1 3 - 1 charged - 1 = 1; import: steps 2-3 deficit 3 each, minus 1 discharged
    assert m["grid_import_kwh"] == pytest.approx(5.0) and m["grid_export_kwh"] == pytest.approx(2.0 + 1.0)


def test_meter_fault_persistence_and_imbalance():
    com = small()
    res = peergrid.simulate(com, market="sdr", control="none", faults=[Fault("m1", 2, 4, "meter")])
    # m1's last good reading (step 1) is 1 kWh: the estimate holds it -> no error in steps 2-3
    assert res.metrics["imbalance_kwh"] == 0
    res = peergrid.simulate(com, market="sdr", control="none", faults=[Fault("m0", 2, 4, "meter")])
    # m0 read -3 at step 1; true 2, 2 in steps 2-3: settled as -3 -> imbalance +5 kWh per step at retail
    np.testing.assert_allclose(res.net[:, 0], [-3, -3, -3, -3])
    np.testing.assert_allclose(res.faults.imbalance_kwh, [0, 0, 5, 5])
    m = res.metrics
    assert m["imbalance_net_kwh"] == pytest.approx(10.0)
    # settled: steps 2-3 community net -3 + 1 = -2 (export 2 at 0.10); true: +3 import at 0.30
    assert m["settled_community_cost"] == pytest.approx(-0.2 - 0.2 + 2 * (-0.2))
    assert m["true_community_cost"] == pytest.approx(-0.2 - 0.2 + 2 * 0.9)
    assert m["imbalance_cost"] == pytest.approx(m["true_community_cost"] - m["settled_community_cost"])
    zero = peergrid.simulate(com, market="sdr", control="none",
                             faults=[Fault("m0", 2, 4, "meter", estimate="zero")])
    np.testing.assert_allclose(zero.faults.imbalance_kwh, [0, 0, 2, 2])


def test_meter_estimate_edges():
    com = small()
    net = com.net
    first = meter_estimate(com, net, [Fault(0, 0, 2, "meter")])  # no reading before: first good one after
    np.testing.assert_allclose(first[:2, 0], net[2, 0])
    whole = meter_estimate(com, net, [Fault(1, 0, 4, "meter")])
    np.testing.assert_allclose(whole[:, 1], 0.0)
    assert meter_estimate(com, net, [Fault(0, 0, 2, "controller")]) is net


def test_windows_by_timestamp_and_errors():
    com = small()
    s = peergrid.control.greedy(com)
    a = apply_controller_faults(com, s, [Fault("m0", "2022-08-01 01:00", "2022-08-01 04:00")])
    b = apply_controller_faults(com, s, [Fault(0, 1, 4)])
    np.testing.assert_allclose(a.charge, b.charge)
    with pytest.raises(ConfigError, match="start < end"):
        Fault(0, 3, 3).window(com)
    with pytest.raises(ConfigError, match="not a step"):
        Fault(0, "2022-08-01 00:30", 3).window(com)
    with pytest.raises(ConfigError, match="unknown faulty participant"):
        Fault("zz", 0, 1).window(com)
    with pytest.raises(ConfigError, match="kind"):
        Fault(0, 0, 1, "network")
    with pytest.raises(ConfigError, match="Fault objects"):
        peergrid.simulate(com, faults=[(0, 0, 1)])


def test_no_faults_is_the_plain_run():
    com = synthetic_community(8, periods=48, freq="1h", seed=3, battery_share=0.5)
    a = peergrid.simulate(com, market="mmr", control="greedy")
    b = peergrid.simulate(com, market="mmr", control="greedy", faults=[])
    assert a.faults is None and b.faults is None
    assert a.metrics == b.metrics


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), market=st.sampled_from(["baseline", "bs", "mmr", "sdr"]))
def test_community_keeps_balancing(seed, market):
    rng = np.random.default_rng(seed)
    com = synthetic_community(12, periods=72, freq="1h", seed=seed % 50, battery_share=0.5)
    owners = np.flatnonzero(com.participants["battery_kwh"].to_numpy() > 0)
    faults = []
    for k in range(3):
        t0 = int(rng.integers(0, 60))
        who = int(owners[k % owners.size]) if owners.size else k
        faults.append(Fault(who, t0, t0 + int(rng.integers(1, 12)), "controller"))
        faults.append(Fault(int(rng.integers(0, 12)), t0, t0 + int(rng.integers(1, 12)), "meter"))
    table = fault_study(com, faults, market=market)
    assert list(table.index) == ["no fault", "fault"]
    # every slot balances in energy and money, with and without faults
    assert (table["energy_balance_error_kwh"] < 1e-9).all()
    assert (table["money_balance_error"] < 1e-9).all()
    # all demand is served (the grid backs the community up), and the numbers are reported
    assert table.loc["fault", "served_demand_kwh"] == pytest.approx(table.loc["no fault", "served_demand_kwh"])
    assert table.loc["no fault", "imbalance_kwh"] == 0
    res = peergrid.simulate(com, market=market, faults=faults)
    m = res.metrics
    # true bill = settled bill + imbalance, and the settled market clears the settled readings
    assert m["true_community_cost"] == pytest.approx(m["settled_community_cost"] + m["imbalance_cost"])
    assert m["settled_community_cost"] == pytest.approx(m["community_cost"])
    p = com.participants.iloc[res.battery.owners]
    cap = p["battery_kwh"].to_numpy()
    assert np.all(res.battery.energy >= p["soc_min"].to_numpy() * cap - 1e-9)
    assert np.all(res.battery.energy <= p["soc_max"].to_numpy() * cap + 1e-9)
    col = {o: j for j, o in enumerate(res.battery.owners)}
    for f in faults:
        if f.kind == "controller" and f.participant in col:
            j = col[f.participant]
            assert np.all(res.battery.charge[f.start:f.end, j] == 0)
            assert np.all(res.battery.discharge[f.start:f.end, j] == 0)
