"""Balanced power flow: hand-checkable 2- and 3-bus cases, limits, and bad inputs."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid import DataError
from peergrid.grid import build_feeder, check_limits, feeder_from_net, net_power_kw, power_flow

R_150 = 0.208  # NAYY 4x150 SE, ohm/km
I_MAX_150 = 0.270  # kA


@pytest.fixture(scope="module")
def two_bus():
    """Busbar (node 0) -- 100 m NAYY 4x150 -- node 1 with one participant."""
    return feeder_from_net(build_feeder(n_buses=2, length_km=0.1), {"house": 1})


def test_line_loading_matches_s_over_sqrt3_v(two_bus):
    flow = power_flow(two_bus, [[50.0]], numba=False)
    assert flow.converged.all()
    v_kv = flow.vm_pu[0, 1] * 0.4
    i_ka = 50.0 / (np.sqrt(3) * v_kv) / 1000.0  # I = S / (sqrt(3) V), unity power factor
    assert flow.line_i_ka[0, 0] == pytest.approx(i_ka, rel=0.01)
    assert flow.loading_pct[0, 0] == pytest.approx(100 * i_ka / I_MAX_150, rel=0.01)
    assert flow.max_loading_pct == pytest.approx(flow.loading_pct[0, 0])
    # line losses = 3 I^2 R (about 0.33 kW here), total losses add the transformer
    r_ohm = R_150 * 0.1
    assert flow.line_loss_kw[0, 0] == pytest.approx(3 * (i_ka * 1000) ** 2 * r_ohm / 1000, rel=0.03)
    assert flow.losses_kw[0] > flow.line_loss_kw[0, 0]
    # the grid supplies the load plus the losses
    assert flow.grid_kw[0] == pytest.approx(50.0 + flow.losses_kw[0], rel=1e-6)
    assert flow.line_p_kw[0, 0] == pytest.approx(50.0 + flow.line_loss_kw[0, 0], rel=1e-3)


def test_voltage_drop_direction_and_size(two_bus):
    flow = power_flow(two_bus, [[50.0], [0.0], [-50.0]], numba=False)
    v0, v1 = flow.vm_pu[:, 0], flow.vm_pu[:, 1]
    drop = v0 - v1
    # consumption pulls the far end down, feed-in lifts it above the busbar
    assert drop[0] > 0 and drop[2] < 0 and abs(drop[1]) < 1e-4
    # dV ≈ R P / V^2 = 0.0208 ohm * 50 kW / (400 V)^2 = 0.0065 pu
    assert drop[0] == pytest.approx(0.0208 * 50e3 / 400**2, rel=0.1)
    assert -drop[2] == pytest.approx(0.0208 * 50e3 / 400**2, rel=0.1)
    assert flow.v_max_pu > 1.0 > flow.v_min_pu
    # feed-in: the line flows backwards (to -> from) and the grid imports less than zero
    assert flow.line_p_kw[2, 0] < 0 and flow.grid_kw[2] < 0


def test_three_bus_chain_loading_decreases_downstream():
    net = feeder_from_net(build_feeder(n_buses=3, n_feeders=1, length_km=0.05), {"a": 1, "b": 2})
    flow = power_flow(net, [[20.0, 30.0]], numba=False)
    p = flow.line_p_kw[0]
    assert p[0] == pytest.approx(50.0, rel=0.02) and p[1] == pytest.approx(30.0, rel=0.02)
    assert flow.vm_pu[0, 0] > flow.vm_pu[0, 1] > flow.vm_pu[0, 2]


def test_slots_subset_losses_kwh_and_frames(two_bus):
    p = np.array([[10.0], [20.0], [30.0], [40.0]])
    flow = power_flow(two_bus, p, slots=[3, 1], dt=0.25, numba=False)
    assert flow.slots.tolist() == [3, 1] and flow.vm_pu.shape == (2, 3)
    np.testing.assert_allclose(flow.losses_kwh, flow.losses_kw * 0.25)
    full = power_flow(two_bus, p, numba=False)
    np.testing.assert_allclose(flow.loading_pct, full.loading_pct[[3, 1]], rtol=1e-6)
    assert list(flow.loading_frame().index) == [3, 1]
    assert set(flow.summary()) >= {"max_loading_pct", "v_min_pu", "v_max_pu", "losses_kwh"}


def test_q_kvar_raises_current(two_bus):
    p = np.array([[40.0]])
    plain = power_flow(two_bus, p, numba=False)
    with_q = power_flow(two_bus, p, q_kvar=[[30.0]], numba=False)
    assert with_q.line_i_ka[0, 0] == pytest.approx(plain.line_i_ka[0, 0] * 50 / 40, rel=0.02)


def test_community_power_and_caller_net_untouched(community_factory):
    community = community_factory([1, 2], periods=3, load_kwh=0.5)
    net = build_feeder(community, length_km=0.05)
    before = net.load["p_mw"].copy()
    flow = power_flow(net, net_power_kw(community), dt=community.dt, numba=False)
    pd.testing.assert_series_equal(net.load["p_mw"], before)
    assert flow.grid_kw == pytest.approx([1.0 + flow.losses_kw[0]] * 3, rel=1e-6)


def test_check_limits_flags_overload_and_undervoltage(two_bus):
    # 250 kW at 0.4 kV is ~360 A on a 270 A cable
    flow = power_flow(two_bus, [[10.0], [250.0]], numba=False)
    v = check_limits(flow)
    assert v.any
    assert v.bad_slots.tolist() == [1]
    assert v.lines.tolist() == [0]
    assert v.overloaded.tolist() == [[False], [True]]
    frame = v.to_frame(flow)
    row = frame[frame["kind"] == "line_overload"].iloc[0]
    assert row["slot"] == 1 and row["value"] > 100 and row["limit"] == 100
    assert check_limits(flow, max_loading_pct=200).overloaded.sum() == 0
    assert v.counts()["slots"] == 1


def test_check_limits_flags_overvoltage_and_undervoltage():
    net = feeder_from_net(build_feeder(n_buses=2, length_km=0.5, line_type="NAYY 4x50 SE"), {"pv": 1})
    flow = power_flow(net, [[-60.0], [60.0], [1.0]], numba=False)
    v = check_limits(flow, max_loading_pct=1000)
    assert v.overvoltage[0, 1] and v.undervoltage[1, 1]
    assert not v.overvoltage[1:].any() and not v.undervoltage[[0, 2]].any()
    assert set(v.buses.tolist()) == {1}
    assert not check_limits(flow, max_loading_pct=1000, v_min=0.5, v_max=1.5).any


@pytest.mark.parametrize(
    ("p_kw", "kwargs", "match"),
    [
        (np.ones((3, 2)), {}, "expected shape"),
        (np.array([[np.nan]]), {}, "NaN"),
        (np.ones((3, 1)), {"q_kvar": np.ones((2, 1))}, "q_kvar"),
        (np.ones((3, 1)), {"slots": [5]}, "slots"),
        (np.ones((3, 1)), {"dt": 0.0}, "dt"),
    ],
)
def test_bad_inputs_raise(two_bus, p_kw, kwargs, match):
    with pytest.raises(DataError, match=match):
        power_flow(two_bus, p_kw, numba=False, **kwargs)


def test_bad_limits_raise(two_bus):
    flow = power_flow(two_bus, [[1.0]], numba=False)
    with pytest.raises(DataError):
        check_limits(flow, v_min=1.1, v_max=1.0)


def test_raw_pandapower_net_raises():
    import pandapower as pp

    with pytest.raises(DataError, match="participants"):
        power_flow(pp.create_empty_network(), np.ones((1, 1)))


def test_diverging_slot_is_nan_flagged_and_the_next_slot_recovers():
    net = feeder_from_net(build_feeder(n_buses=2, length_km=1.0, line_type="NAYY 4x50 SE"), {"x": 1})
    flow = power_flow(net, [[10.0], [2000.0], [10.0]], numba=False)
    assert flow.converged.tolist() == [True, False, True]
    assert np.isnan(flow.vm_pu[1]).all() and np.isnan(flow.losses_kw[1])
    np.testing.assert_allclose(flow.vm_pu[2], flow.vm_pu[0])
    v = check_limits(flow)
    assert v.not_converged.tolist() == [False, True, False] and 1 in v.bad_slots
    assert "not_converged" in set(v.to_frame()["kind"])


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(-40.0, 40.0), min_size=4, max_size=4))
def test_energy_balance_grid_equals_load_plus_losses(p_kw):
    """The slack supplies exactly the participants' net power plus the network losses."""
    flow = power_flow(_four_bus(), np.array([p_kw]), numba=False)
    assert flow.converged.all()
    # to the Newton–Raphson tolerance (1e-8 MVA = 1e-5 kW)
    assert flow.grid_kw[0] == pytest.approx(sum(p_kw) + flow.losses_kw[0], abs=1e-4)
    assert flow.losses_kw[0] > 0


_CACHE: dict = {}


def _four_bus():
    """Built on first use, not at collection (importing pandapower imports matplotlib.pyplot)."""
    if "net" not in _CACHE:
        _CACHE["net"] = feeder_from_net(build_feeder(n_buses=5, length_km=0.05), {"a": 1, "b": 2, "c": 3, "d": 4})
    return _CACHE["net"]
