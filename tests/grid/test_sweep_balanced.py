"""sweep_flow (balanced): closed-form 2-bus case, agreement with pandapower, power balance, bad input."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peergrid import DataError
from peergrid.grid import (
    FlowResult,
    build_feeder,
    check_limits,
    feeder_from_net,
    power_flow,
    sweep_flow,
    synthetic_feeder,
    validate_flow,
)
from peergrid.grid._pp import pandapower

#: Stated agreement with pandapower's runpp (docs/grid.md): both solve the same model to ~1e-9 pu.
LOADING_TOL_PCT = 1e-4
VOLTAGE_TOL_PU = 1e-7
LOSSES_TOL_KWH = 1e-5


def _two_bus(r_ohm: float = 0.05, x_ohm: float = 0.02):
    """A 0.4 kV slack bus and one line (no shunt capacitance) to a bus with one participant."""
    pp = pandapower()
    net = pp.create_empty_network()
    b0 = pp.create_bus(net, 0.4)
    b1 = pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, b0, vm_pu=1.0)
    pp.create_line_from_parameters(net, b0, b1, 1.0, r_ohm, x_ohm, 0.0, 0.5)
    return feeder_from_net(net, {"house": b1})


@pytest.fixture(scope="module")
def year_feeder():
    """The synthetic 100-bus feeder with 4 days of 15-min profiles, scaled by day (reverse flow at noon)."""
    net, p, dt = synthetic_feeder(100, 96, seed=3)
    scale = np.repeat(np.array([0.6, 1.0, 1.4, 1.8]), 96)[:, None]
    return net, np.tile(p, (4, 1)) * scale, dt


def test_two_bus_matches_closed_form_voltage():
    r, x = 0.05, 0.02
    net = _two_bus(r, x)
    p_kw, q_kvar = np.array([[40.0], [-30.0]]), np.array([[10.0], [0.0]])
    flow = sweep_flow(net, p_kw, q_kvar=q_kvar)
    assert isinstance(flow, FlowResult) and flow.converged.all()
    # |V1|^4 - (V0^2 - 2(RP + XQ)) |V1|^2 + |Z|^2 |S|^2 = 0 (per phase, V in volts, single-phase powers)
    v0 = 400.0 / np.sqrt(3)
    p, q = p_kw[:, 0] * 1000 / 3, q_kvar[:, 0] * 1000 / 3
    c = v0**2 - 2 * (r * p + x * q)
    v1 = np.sqrt((c + np.sqrt(c**2 - 4 * (r**2 + x**2) * (p**2 + q**2))) / 2)
    np.testing.assert_allclose(flow.vm_pu[:, 1], v1 / v0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(flow.vm_pu[:, 0], 1.0)
    # line current and losses: I = |S| / V1 per phase, losses 3 I^2 R, grid = load + losses
    i_a = np.hypot(p, q) / v1
    np.testing.assert_allclose(flow.line_i_ka[:, 0], i_a / 1000, rtol=1e-9)
    np.testing.assert_allclose(flow.line_loss_kw[:, 0], 3 * i_a**2 * r / 1000, rtol=1e-6)
    np.testing.assert_allclose(flow.grid_kw, p_kw[:, 0] + flow.losses_kw, rtol=0, atol=1e-6)
    np.testing.assert_allclose(flow.loading_pct[:, 0], 100 * i_a / 1000 / 0.5, rtol=1e-9)


def test_matches_pandapower_on_the_default_feeder(community_factory):
    community = community_factory([1, 2, 2, 3, 5, 5], ["a", "b", "c", "a", "b", "c"], periods=24)
    net = build_feeder(community, length_km=0.05)
    rng = np.random.default_rng(1)
    p = rng.uniform(-8.0, 12.0, (24, 6))  # consumption and PV feed-in
    q = rng.uniform(-1.0, 2.0, (24, 6))
    ours, ref = sweep_flow(net, p, q_kvar=q, dt=0.5), power_flow(net, p, q, dt=0.5, numba=False)
    np.testing.assert_allclose(ours.vm_pu, ref.vm_pu, rtol=0, atol=VOLTAGE_TOL_PU)
    np.testing.assert_allclose(ours.va_degree, ref.va_degree, rtol=0, atol=1e-5)  # incl. the Dyn5 -150 deg shift
    np.testing.assert_allclose(ours.line_i_ka, ref.line_i_ka, rtol=0, atol=1e-7)
    for name in ("loading_pct", "trafo_loading_pct"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), atol=LOADING_TOL_PCT, err_msg=name)
    for name in ("line_p_kw", "line_loss_kw", "losses_kw", "grid_kw"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), atol=1e-4, err_msg=name)
    assert ours.losses_kwh.sum() == pytest.approx(ref.losses_kwh.sum(), rel=1e-6)


def test_validate_flow_on_the_synthetic_100_bus_feeder(year_feeder):
    net, p, dt = year_feeder
    assert p.min() < -3.0  # PV feed-in: reverse flow at noon
    check = validate_flow(net, p, slots=12, dt=dt, seed=5)
    assert len(check.slots) == 12 and check.not_converged == 0
    assert check.loading_pct < LOADING_TOL_PCT
    assert check.trafo_loading_pct < LOADING_TOL_PCT
    assert check.voltage_pu < VOLTAGE_TOL_PU
    assert check.losses_kwh < LOSSES_TOL_KWH and check.losses_rel < 1e-6
    assert np.isnan(check.vim_pct)
    summary = check.summary()
    assert summary["max_abs_loading_error_pct"] == check.loading_pct and summary["slots"] == 12


def test_validate_flow_slot_numbers_and_noon_reverse_flow(year_feeder):
    net, p, dt = year_feeder
    noon = [48, 144, 336]  # midday of days 1, 2, 4: the busbar exports
    check = validate_flow(net, p, slots=noon, dt=dt)
    np.testing.assert_array_equal(check.slots, noon)
    flow = sweep_flow(net, p, dt=dt, slots=noon)
    assert (flow.grid_kw < 0).all() and flow.v_max_pu > 1.0
    assert check.voltage_pu < VOLTAGE_TOL_PU and check.loading_pct < LOADING_TOL_PCT


def test_a_year_of_slots_in_one_call_matches_slot_by_slot(year_feeder):
    net, p, dt = year_feeder
    flow = sweep_flow(net, p, dt=dt)
    assert flow.vm_pu.shape == (len(p), len(net.bus)) and flow.converged.all()
    part = sweep_flow(net, p, dt=dt, slots=[7, 200])  # other warm start, same fixed point
    np.testing.assert_allclose(part.vm_pu, flow.vm_pu[[7, 200]], atol=1e-8)
    np.testing.assert_array_equal(part.slots, [7, 200])
    assert check_limits(flow).counts()["slots"] >= 0


def test_background_loads_and_sgens_are_kept():
    pp = pandapower()
    base = build_feeder(n_buses=6, length_km=0.08)
    pp.create_load(base, 3, p_mw=0.02, q_mvar=0.005)
    pp.create_sgen(base, 5, p_mw=0.015, scaling=0.8)
    pp.create_load(base, 4, p_mw=0.5, in_service=False)
    net = feeder_from_net(base, pd.DataFrame({"id": ["a", "b"], "bus": [2, 5]}))
    p = np.array([[5.0, -3.0], [10.0, 4.0]])
    ours, ref = sweep_flow(net, p), power_flow(net, p, numba=False)
    np.testing.assert_allclose(ours.vm_pu, ref.vm_pu, atol=1e-8)
    np.testing.assert_allclose(ours.grid_kw, ref.grid_kw, atol=1e-4)
    # grid = participants + background (20 kW load - 12 kW sgen) + losses
    np.testing.assert_allclose(ours.grid_kw, p.sum(axis=1) + 20.0 - 12.0 + ours.losses_kw, atol=1e-6)


def test_collapse_is_flagged_not_raised():
    net = _two_bus(0.5, 0.2)
    flow = sweep_flow(net, [[10.0], [5000.0], [10.0]])  # 5 MW through 0.5 ohm at 0.4 kV: no solution
    np.testing.assert_array_equal(flow.converged, [True, False, True])
    assert np.isnan(flow.vm_pu[1]).all() and np.isnan(flow.loading_pct[1]).all()
    assert check_limits(flow).not_converged[1]
    np.testing.assert_allclose(flow.vm_pu[0], flow.vm_pu[2])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    p=st.lists(st.floats(-15.0, 25.0, allow_nan=False), min_size=5, max_size=5),
    q=st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=5, max_size=5),
)
def test_power_balance_and_nonnegative_losses(p, q):
    net = _BALANCE_NET
    flow = sweep_flow(net, np.array([p]), q_kvar=np.array([q]))
    assert flow.converged.all()
    assert flow.losses_kw[0] >= 0 and (flow.line_loss_kw >= -1e-12).all()
    # slack import = sum of the participants' loads + line and transformer losses
    assert flow.grid_kw[0] == pytest.approx(sum(p) + flow.losses_kw[0], abs=1e-6)
    assert flow.losses_kw[0] >= flow.line_loss_kw.sum()  # plus the transformer's copper and iron losses


_BALANCE_NET = feeder_from_net(
    build_feeder(n_buses=5, length_km=0.1), pd.DataFrame({"id": list("abcde"), "bus": [1, 2, 3, 4, 4]})
)


def test_bad_input_is_one_line_data_error():
    net = _BALANCE_NET
    with pytest.raises(DataError, match=r"shape \(T, 5\)"):
        sweep_flow(net, np.zeros((3, 4)))
    with pytest.raises(DataError, match="NaN"):
        sweep_flow(net, np.array([[1.0, np.nan, 0, 0, 0]]))
    with pytest.raises(DataError, match="q_kvar"):
        sweep_flow(net, np.zeros((2, 5)), q_kvar=np.zeros((3, 5)))
    with pytest.raises(DataError, match="tol"):
        sweep_flow(net, np.zeros((2, 5)), tol=0.0)
    with pytest.raises(DataError, match="slots"):
        validate_flow(net, np.zeros((2, 5)), slots=0)


def test_meshed_and_unsupported_nets_are_refused():
    pp = pandapower()
    meshed = build_feeder(n_buses=5)
    pp.create_line(meshed, 1, 4, 0.05, "NAYY 4x150 SE")  # closes a loop 1-2-3-4-1
    meshed = feeder_from_net(meshed, {"x": 2})
    with pytest.raises(DataError, match=r"meshed.*closing a loop: line \d+.*power_flow") as err:
        sweep_flow(meshed, [[1.0]])
    assert "\n" not in str(err.value)
    with_gen = build_feeder(n_buses=3)
    pp.create_gen(with_gen, 2, p_mw=0.01, vm_pu=1.0)
    with pytest.raises(DataError, match=r"gen element.*power_flow"):
        sweep_flow(feeder_from_net(with_gen, {"x": 1}), [[1.0]])
    two_slacks = build_feeder(n_buses=3)
    pp.create_ext_grid(two_slacks, 2)
    with pytest.raises(DataError, match="ext_grid"):
        sweep_flow(feeder_from_net(two_slacks, {"x": 1}), [[1.0]])
    zip_load = build_feeder(n_buses=3)
    pp.create_load(zip_load, 2, p_mw=0.01, const_z_p_percent=50.0)
    with pytest.raises(DataError, match="ZIP"):
        sweep_flow(feeder_from_net(zip_load, {"x": 1}), [[1.0]])


def test_pandapower_kerber_feeder_and_unsupplied_tail():
    """pandapower's own rural cable feeder (Kerber), with one cable out of service: same flows as runpp."""
    import pandapower.networks as pn

    net = pn.create_kerber_landnetz_kabel_2()
    buses = net.load["bus"].to_numpy()[:6]
    net.line.loc[net.line.index[-1], "in_service"] = False
    feeder = feeder_from_net(net, pd.DataFrame({"id": [f"m{i}" for i in range(6)], "bus": buses}))
    p = np.random.default_rng(4).uniform(-6.0, 9.0, (5, 6))
    ours, ref = sweep_flow(feeder, p), power_flow(feeder, p, numba=False)
    for name in ("vm_pu", "loading_pct", "line_i_ka", "trafo_loading_pct"):
        a, b = getattr(ours, name), getattr(ref, name)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, atol=LOADING_TOL_PCT, err_msg=name)
    np.testing.assert_allclose(ours.losses_kw, ref.losses_kw, atol=1e-5)


def test_model_is_reused_until_the_net_changes():
    net = feeder_from_net(build_feeder(n_buses=4, length_km=0.1), {"x": 3})
    first = sweep_flow(net, [[30.0]])
    again = sweep_flow(net, [[30.0]])  # cached model: the same numbers
    np.testing.assert_array_equal(first.vm_pu, again.vm_pu)
    net.line["length_km"] = 0.2  # edited in place: the model is rebuilt, and agrees with pandapower
    longer = sweep_flow(net, [[30.0]])
    assert longer.vm_pu[0, 3] < first.vm_pu[0, 3] - 1e-3
    np.testing.assert_allclose(longer.vm_pu, power_flow(net, [[30.0]], numba=False).vm_pu, atol=VOLTAGE_TOL_PU)
    three = sweep_flow(net, [[30.0]], unbalanced=True)  # the three-phase model is cached separately
    assert three.vm_pu.shape == (1, len(net.bus), 3)


def test_taps_parallel_cables_derating_switches_and_base_power():
    """Off-neutral tap, sn_mva != 1, parallel and derated cables, a closed bus-bus switch: as pandapower."""
    pp = pandapower()
    net = build_feeder(n_buses=6, length_km=0.1)
    net.trafo.loc[0, "tap_pos"] = 2
    net.sn_mva = 0.5
    net.line.loc[1, "parallel"] = 2
    net.line.loc[2, "df"] = 0.8
    fused = pp.create_bus(net, 0.4)
    pp.create_switch(net, 3, fused, et="b", closed=True)
    tail = pp.create_bus(net, 0.4)
    pp.create_line(net, fused, tail, 0.05, "NAYY 4x150 SE")
    members = pd.DataFrame({"id": list("abc"), "bus": [2, fused, tail], "phase": ["a", "b", "c"]})
    feeder = feeder_from_net(net, members)
    p = np.array([[15.0, 30.0, -10.0], [40.0, 8.0, 20.0]])
    ours, ref = sweep_flow(feeder, p), power_flow(feeder, p, numba=False)
    np.testing.assert_allclose(ours.vm_pu, ref.vm_pu, atol=VOLTAGE_TOL_PU)
    np.testing.assert_allclose(ours.loading_pct, ref.loading_pct, atol=LOADING_TOL_PCT)
    np.testing.assert_allclose(ours.trafo_loading_pct, ref.trafo_loading_pct, atol=LOADING_TOL_PCT)
    np.testing.assert_allclose(ours.grid_kw, ref.grid_kw, atol=1e-5)
    assert abs(ours.vm_pu[0, 0] - 1.0) > 0.03  # the tap moved the busbar voltage by ~5 %
