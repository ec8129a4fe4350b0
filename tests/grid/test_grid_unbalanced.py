"""Unbalanced three-phase flow (pandapower runpp_3ph) and the voltage imbalance metric (Tooki et al. eq. 13)."""

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid import DataError
from peergrid.grid import build_feeder, check_limits, feeder_from_net, power_flow, power_flow_3ph, vim

A = np.exp(2j * np.pi / 3)  # 120° rotation


def test_vim_hand_computed_magnitudes():
    # average 400 V, largest deviation 10 V -> 2.5 %
    assert vim(np.array([400.0, 410.0, 390.0])) == pytest.approx(2.5)
    # average 230 V, largest deviation |240 - 230| = 10 V -> 4.3478 %
    assert vim(np.array([230.0, 220.0, 240.0]), kind="phase") == pytest.approx(100 * 10 / 230)
    np.testing.assert_allclose(vim(np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.97]])), [0.0, 100 * 0.02 / 0.99])


def test_vim_from_phasors_line_and_phase():
    v = np.array([1.0, 0.9 * A**2, A])  # phase b sags to 0.9 pu
    # line voltages (law of cosines): |Va-Vb| = |Vb-Vc| = sqrt(1 + 0.81 + 0.9) = sqrt(2.71), |Vc-Va| = sqrt(3)
    lines = np.array([np.sqrt(2.71), np.sqrt(2.71), np.sqrt(3.0)])
    expected = 100 * np.max(np.abs(lines - lines.mean())) / lines.mean()
    assert vim(v) == pytest.approx(expected)
    assert vim(v) == pytest.approx(3.4164, abs=1e-3)
    # phase-to-neutral magnitudes 1, 0.9, 1: average 0.9667, deviation 0.0667 -> 6.897 %
    assert vim(v, kind="phase") == pytest.approx(100 * (0.1 * 2 / 3) / (2.9 / 3))


def test_vim_zero_for_symmetric_set():
    assert vim(np.array([1.0, A**2, A]) * 230) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    mags=st.lists(st.floats(0.5, 1.5), min_size=3, max_size=3),
    angle=st.floats(-np.pi, np.pi),
    scale=st.floats(0.01, 1000.0),
)
def test_vim_invariant_to_rotation_and_scale(mags, angle, scale):
    v = np.array(mags) * np.array([1.0, A**2, A])
    base = vim(v)
    assert base >= 0
    assert vim(v * scale * np.exp(1j * angle)) == pytest.approx(base, rel=1e-9, abs=1e-9)


def test_vim_bad_shape_raises():
    with pytest.raises(DataError, match="length 3"):
        vim(np.ones((4, 2)))
    with pytest.raises(DataError):
        vim(np.zeros(3))


@pytest.fixture(scope="module")
def three_on_one_bus():
    """Three participants on node 1 (phases a, b, c) and one three-phase participant, 150 m of NAYY 4x150."""
    mapping = pd.DataFrame({"id": ["a", "b", "c", "abc"], "bus": [1] * 4, "phase": ["a", "b", "c", "abc"]})
    return feeder_from_net(build_feeder(n_buses=2, length_km=0.15), mapping)


def test_balanced_load_has_zero_vim_and_matches_balanced_flow(three_on_one_bus):
    p = np.array([[10.0, 10.0, 10.0, 0.0], [0.0, 0.0, 0.0, 30.0]])
    flow3 = power_flow_3ph(three_on_one_bus, p, numba=False)
    assert flow3.converged.all()
    assert flow3.vm_pu.shape == (2, 3, 3)
    np.testing.assert_allclose(flow3.vim_pct, 0.0, atol=1e-4)
    np.testing.assert_allclose(flow3.line_in_ka, 0.0, atol=1e-6)
    flow1 = power_flow(three_on_one_bus, p, numba=False)
    np.testing.assert_allclose(flow3.vm_pu[:, :, 0], flow1.vm_pu, atol=2e-4)
    np.testing.assert_allclose(flow3.loading_pct, flow1.loading_pct, rtol=0.01)
    np.testing.assert_allclose(flow3.losses_kw, flow1.losses_kw, rtol=0.02)


def test_single_phase_load_unbalances_voltages(three_on_one_bus):
    p = np.array([[30.0, 0.0, 0.0, 0.0]])  # everything on phase a
    flow = power_flow_3ph(three_on_one_bus, p, numba=False)
    vm = flow.vm_pu[0, 1]
    assert vm[0] < vm[1] and vm[0] < vm[2]  # the loaded phase sags
    assert flow.vim_pct[0, 1] > 0.5
    assert flow.vim_pct[0, 1] > flow.vim_pct[0, 0]  # worse at the end of the cable than at the busbar
    assert flow.line_in_ka[0, 0] == pytest.approx(flow.line_i_ka[0, 0, 0], rel=0.05)  # neutral returns phase a
    assert flow.vuf_pct[0, 1] > 0.5
    # the loaded phase carries three times the balanced current
    balanced = power_flow_3ph(three_on_one_bus, np.array([[10.0, 10.0, 10.0, 0.0]]), numba=False)
    assert flow.loading_pct[0, 0] == pytest.approx(3 * balanced.loading_pct[0, 0], rel=0.05)
    v = check_limits(flow, max_vim_pct=0.5)
    assert v.unbalanced[0, 1] and 1 in v.buses
    assert "max_vim_pct" in flow.summary()


def test_3ph_fills_missing_zero_sequence_on_copy(three_on_one_bus):
    net = copy.deepcopy(three_on_one_bus)
    net.line = net.line.drop(columns=["r0_ohm_per_km", "x0_ohm_per_km", "c0_nf_per_km"])
    flow = power_flow_3ph(net, np.array([[5.0, 0.0, 0.0, 0.0]]), numba=False)
    assert flow.converged.all() and "r0_ohm_per_km" not in net.line


def test_3ph_bad_shape_raises(three_on_one_bus):
    with pytest.raises(DataError, match="expected shape"):
        power_flow_3ph(three_on_one_bus, np.ones((1, 3)))


def test_3ph_diverging_slot_recovers():
    net = feeder_from_net(build_feeder(n_buses=2, length_km=1.0, line_type="NAYY 4x50 SE"), {"x": 1})
    flow = power_flow_3ph(net, [[3.0], [2000.0], [3.0]], numba=False)
    assert flow.converged.tolist() == [True, False, True]
    assert np.isnan(flow.vim_pct[1]).all()
    np.testing.assert_allclose(flow.vm_pu[2], flow.vm_pu[0], atol=1e-9)
    assert flow.vm_pu[0, 1, 0] < 0.95  # 3 kW on one phase of 1 km of 4x50 already sags phase a by ~8 %
