"""sweep_flow(unbalanced=True): a hand-checked single-phase load, agreement with runpp_3ph, VIM, balance."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid import DataError
from peergrid.grid import (
    FlowResult3ph,
    build_feeder,
    check_limits,
    feeder_from_net,
    power_flow_3ph,
    sweep_flow,
    synthetic_feeder,
    validate_flow,
    vim,
)
from peergrid.grid._pp import pandapower

#: Stated agreement with pandapower's runpp_3ph (docs/grid.md): its outer tolerance is 3e-8 MVA.
VOLTAGE_TOL_PU = 1e-6
LOADING_TOL_PCT = 1e-3
VIM_TOL_PCT = 1e-4


def _two_bus_3ph(r=0.1, x=0.05, r0=0.4, x0=0.2, phase="a"):
    """A very stiff 0.4 kV source, one 1 km line without capacitance, one participant on ``phase``."""
    pp = pandapower()
    net = pp.create_empty_network()
    b0 = pp.create_bus(net, 0.4)
    b1 = pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, b0, vm_pu=1.0, s_sc_max_mva=1e8, rx_max=0.1, r0x0_max=0.1, x0x_max=1.0)
    pp.create_line_from_parameters(
        net, b0, b1, 1.0, r, x, 0.0, 0.5, r0_ohm_per_km=r0, x0_ohm_per_km=x0, c0_nf_per_km=0.0
    )
    return feeder_from_net(net, pd.DataFrame({"id": ["house"], "bus": [b1], "phase": [phase]}))


@pytest.fixture(scope="module")
def feeder_30():
    """30-bus synthetic feeder, households on a, b, c, a day at 2 h (evening peak and noon feed-in), scaled up."""
    net, p, dt = synthetic_feeder(30, 12, seed=2)
    return net, 2.5 * p, dt


def test_single_phase_load_matches_self_and_mutual_impedance():
    r, x, r0, x0 = 0.1, 0.05, 0.4, 0.2
    net = _two_bus_3ph(r, x, r0, x0)
    p_kw = np.array([[6.0], [-4.0]])
    flow = sweep_flow(net, p_kw, unbalanced=True)
    assert isinstance(flow, FlowResult3ph) and flow.converged.all()
    # phase a alone: I_a flows out and back through the zero-sequence path;
    # V_a drop = Zs I_a, phases b and c move by Zm I_a (Zs = (Z0 + 2 Z1) / 3, Zm = (Z0 - Z1) / 3)
    z1, z0 = r + 1j * x, r0 + 1j * x0
    zs, zm = (z0 + 2 * z1) / 3, (z0 - z1) / 3
    v0 = 400.0 / np.sqrt(3)
    p = p_kw[:, 0] * 1000.0  # all of it on phase a, W
    c = v0**2 - 2 * zs.real * p
    va = np.sqrt((c + np.sqrt(c**2 - 4 * abs(zs) ** 2 * p**2)) / 2)  # closed form, constant power on Zs
    np.testing.assert_allclose(flow.vm_pu[:, 1, 0], va / v0, atol=1e-7)
    # the phasor: I_a = conj(S / V_a), then V_b = V_b0 - Zm I_a
    ang = np.arcsin(np.clip(-(zs.imag * p) / (v0 * va), -1, 1))  # angle of V_a from Im(V0 conj(V_a)) balance
    va_ph = va * np.exp(1j * ang)
    ia = np.conj(p / va_ph)
    vb = v0 * np.exp(-2j * np.pi / 3) - zm * ia
    vc = v0 * np.exp(2j * np.pi / 3) - zm * ia
    np.testing.assert_allclose(flow.vm_pu[:, 1, 1], np.abs(vb) / v0, atol=1e-6)
    np.testing.assert_allclose(flow.vm_pu[:, 1, 2], np.abs(vc) / v0, atol=1e-6)
    # currents: phase a carries I_a, b and c nothing, the neutral return carries I_a too
    np.testing.assert_allclose(flow.line_i_ka[:, 0, 0], np.abs(ia) / 1000, rtol=1e-6)
    np.testing.assert_allclose(flow.line_i_ka[:, 0, 1:], 0.0, atol=1e-9)
    np.testing.assert_allclose(flow.line_in_ka[:, 0], np.abs(ia) / 1000, rtol=1e-6)
    # losses: I_a^2 Re(Zs) (the phase conductor and the zero-sequence return), slack = load + losses
    np.testing.assert_allclose(flow.losses_kw, np.abs(ia) ** 2 * zs.real / 1000, rtol=1e-6)
    np.testing.assert_allclose(flow.grid_kw, p_kw[:, 0] + flow.losses_kw, atol=1e-6)
    # VIM of the far bus from its own phasors, eq. 13
    phasors = flow.vm_pu[:, 1] * np.exp(1j * np.deg2rad(flow.va_degree[:, 1]))
    np.testing.assert_allclose(flow.vim_pct[:, 1], vim(phasors), atol=1e-9)
    assert (flow.vim_pct[:, 1] > 0.1).all()


def test_matches_runpp_3ph_on_a_synthetic_feeder(feeder_30):
    net, p, dt = feeder_30
    ours = sweep_flow(net, p, dt=dt, unbalanced=True)
    ref = power_flow_3ph(net, p, dt=dt, numba=False)
    assert ours.converged.all() and ref.converged.all()
    assert ref.max_vim_pct > 0.3 and (ref.grid_kw < 0).any()  # unbalanced, with reverse flow at noon
    np.testing.assert_allclose(ours.vm_pu, ref.vm_pu, atol=VOLTAGE_TOL_PU)
    np.testing.assert_allclose(ours.va_degree, ref.va_degree, atol=1e-4)
    np.testing.assert_allclose(ours.vim_pct, ref.vim_pct, atol=VIM_TOL_PCT)
    np.testing.assert_allclose(ours.vuf_pct, ref.vuf_pct, atol=VIM_TOL_PCT)
    np.testing.assert_allclose(ours.loading_pct, ref.loading_pct, atol=LOADING_TOL_PCT)
    np.testing.assert_allclose(ours.trafo_loading_pct, ref.trafo_loading_pct, atol=LOADING_TOL_PCT)
    np.testing.assert_allclose(ours.line_i_ka, ref.line_i_ka, atol=1e-6)
    np.testing.assert_allclose(ours.line_in_ka, ref.line_in_ka, atol=1e-6)
    for name in ("line_p_kw", "line_loss_kw", "losses_kw", "grid_kw"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), atol=1e-3, err_msg=name)
    limits = check_limits(ours, max_vim_pct=0.5)
    np.testing.assert_array_equal(limits.unbalanced, check_limits(ref, max_vim_pct=0.5).unbalanced)


def test_validate_flow_unbalanced_reports_vim_error(feeder_30):
    net, p, dt = feeder_30
    check = validate_flow(net, p, slots=4, dt=dt, unbalanced=True, seed=1)
    assert check.unbalanced and check.not_converged == 0 and len(check.slots) == 4
    assert check.voltage_pu < VOLTAGE_TOL_PU and check.loading_pct < LOADING_TOL_PCT
    assert 0 <= check.vim_pct < VIM_TOL_PCT
    assert check.summary()["max_abs_vim_error_pct"] == check.vim_pct


def test_three_phase_members_give_the_balanced_flow():
    net = feeder_from_net(
        build_feeder(n_buses=6, length_km=0.06), pd.DataFrame({"id": list("abcd"), "bus": [1, 3, 5, 5], "phase": "abc"})
    )
    p = np.array([[12.0, 20.0, -9.0, 6.0], [3.0, 1.0, -25.0, 0.5]])
    three, one = sweep_flow(net, p, unbalanced=True), sweep_flow(net, p)
    np.testing.assert_allclose(three.vim_pct, 0.0, atol=1e-9)
    for ph in range(3):
        np.testing.assert_allclose(three.vm_pu[..., ph], one.vm_pu, atol=1e-8)
    np.testing.assert_allclose(three.loading_pct, one.loading_pct, atol=1e-6)
    np.testing.assert_allclose(three.losses_kw, one.losses_kw, atol=1e-6)
    np.testing.assert_allclose(three.grid_kw, one.grid_kw, atol=1e-6)


_NET = feeder_from_net(
    build_feeder(n_buses=5, length_km=0.08),
    pd.DataFrame({"id": list("abcde"), "bus": [1, 2, 3, 4, 4], "phase": ["a", "b", "c", "a", "abc"]}),
)


@settings(max_examples=20, deadline=None)
@given(p=st.lists(st.floats(-12.0, 20.0, allow_nan=False), min_size=5, max_size=5))
def test_unbalanced_power_balance_and_nonnegative_losses(p):
    flow = sweep_flow(_NET, np.array([p]), unbalanced=True)
    assert flow.converged.all()
    assert flow.losses_kw[0] >= 0 and (flow.line_loss_kw >= -1e-12).all()
    assert flow.grid_kw[0] == pytest.approx(sum(p) + flow.losses_kw[0], abs=1e-6)


def test_unbalanced_bad_input():
    with pytest.raises(DataError, match="shape"):
        sweep_flow(_NET, np.zeros((2, 3)), unbalanced=True)
    delta = build_feeder(n_buses=3)
    pandapower().create_load(delta, 2, p_mw=0.01, type="delta")
    with pytest.raises(DataError, match="delta"):
        sweep_flow(feeder_from_net(delta, {"x": 1}), [[1.0]], unbalanced=True)
    with pytest.raises(DataError, match="dtype"):
        sweep_flow(_NET, np.zeros((1, 5)), unbalanced=True, dtype="int8")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # pandapower divides by the NaN buses' voltages
def test_unsupplied_buses_are_nan_in_both_flows():
    """An out-of-service line cuts off the tail: its buses and member are left out, as pandapower does."""
    net = build_feeder(n_buses=8, length_km=0.05)
    net.line.loc[2, "in_service"] = False  # nodes 3..7 lose their supply
    members = pd.DataFrame({"id": list("abc"), "bus": [1, 2, 5], "phase": ["a", "b", "c"]})
    feeder = feeder_from_net(net, members)
    p = np.array([[5.0, 3.0, 4.0], [1.0, 8.0, 9.0]])
    ref = power_flow_3ph(feeder, p, numba=False)  # raised on the NaN buses' VIM before (flow.py)
    ours = sweep_flow(feeder, p, unbalanced=True)
    assert np.isnan(ref.vim_pct[:, 3:8]).all() and np.isfinite(ref.vim_pct[:, :3]).all()
    for name in ("vm_pu", "vim_pct", "loading_pct", "line_i_ka"):
        a, b = getattr(ours, name), getattr(ref, name)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, atol=1e-5, err_msg=name)
    # the cut-off member draws nothing: slack = the two supplied members + losses
    np.testing.assert_allclose(ours.grid_kw, p[:, :2].sum(axis=1) + ours.losses_kw, atol=1e-6)
