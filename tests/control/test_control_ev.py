"""EV charging control: sessions, smart vs immediate, feasibility errors, simulator integration."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid import ConfigError, DataError, ModelError
from peergrid.assets.ev import ev_availability, ev_immediate_charging, synthetic_ev_fleet
from peergrid.control.ev import (
    ev_charging,
    ev_controller,
    ev_immediate,
    ev_immediate_control,
    ev_sessions,
    ev_smart,
    ev_smart_control,
)
from peergrid.core import make_index
from peergrid.data import synthetic_community

AVAIL = np.array([[1, 0], [1, 1], [1, 1], [0, 1], [1, 1], [1, 0]], bool)
PRICE = np.array([3.0, 1.0, 2.0, 1.0, 5.0, 1.0])


def test_sessions():
    s = ev_sessions(AVAIL)
    assert s.count == 3
    np.testing.assert_array_equal(s.ev, [0, 0, 1])
    np.testing.assert_array_equal(s.start, [0, 4, 1])
    np.testing.assert_array_equal(s.stop, [3, 6, 5])
    np.testing.assert_array_equal(s.cut, [True, True, False])
    np.testing.assert_array_equal(s.id[:, 1], [-1, 2, 2, 2, 2, -1])


def test_smart_hand_computed():
    e = ev_smart(AVAIL, [3.0, 2.0], [2.0, 1.0], 1.0, PRICE)
    # EV 0, session 1 (steps 0-2, prices 3, 1, 2): 2 kWh at step 1, 1 at step 2
    # EV 0, session 2 (steps 4-5, prices 5, 1): 2 at step 5, 1 at step 4
    # EV 1 (steps 1-4, prices 1, 2, 1, 5, 1 kW): steps 1 and 3
    np.testing.assert_allclose(e[:, 0], [0, 2, 1, 0, 1, 2])
    np.testing.assert_allclose(e[:, 1], [0, 1, 0, 1, 0, 0])
    imm = ev_immediate(AVAIL, [3.0, 2.0], [2.0, 1.0], 1.0)
    np.testing.assert_allclose(imm[:, 0], [2, 1, 0, 0, 2, 1])
    np.testing.assert_allclose(imm[:, 1], [0, 1, 1, 0, 0, 0])
    assert (e * PRICE[:, None]).sum() <= (imm * PRICE[:, None]).sum()
    # equal prices: smart charges like immediate (earliest steps first)
    np.testing.assert_allclose(ev_smart(AVAIL, [3.0, 2.0], [2.0, 1.0], 1.0, np.ones(6)), imm)


def test_infeasible_session_names_ev_and_session():
    idx = make_index("2024-01-01", 6, "1h")
    avail = np.array([[0], [1], [1], [0], [1], [0]], bool)
    for fn, extra in ((ev_smart, (np.ones(6),)), (ev_immediate, ())):
        with pytest.raises(ModelError, match=r"EV 'car-7', session 1 \(2024-01-01T01:00:00\+00:00 to "
                                             r"2024-01-01T03:00:00\+00:00\): required 5.000 kWh exceeds the 4.000 kWh"):
            fn(avail, 5.0, 2.0, 1.0, *extra, ids=np.array(["car-7"]), index=idx)
    # (T, N) requirement: only the second session is short
    req = np.array([[0], [1.0], [0], [0], [3.0], [0]])
    with pytest.raises(ModelError, match="session 2"):
        ev_smart(avail, req, 2.0, 1.0, np.ones(6))
    # sessions cut by the horizon get what fits
    out = ev_smart(np.array([[1], [1], [0]], bool), 9.0, 2.0, 1.0, np.ones(3))
    np.testing.assert_allclose(out[:, 0], [2, 2, 0])


def test_input_errors():
    with pytest.raises(DataError, match="price"):
        ev_smart(AVAIL, 1.0, 1.0, 1.0, np.ones(5))
    with pytest.raises(ModelError, match="dt_hours"):
        ev_immediate(AVAIL, 1.0, 1.0, 0.0)
    with pytest.raises(ModelError, match="required"):
        ev_immediate(AVAIL, -1.0, 1.0, 1.0)
    with pytest.raises(DataError, match="power_kw"):
        ev_immediate(AVAIL, 1.0, [1.0, 2.0, 3.0], 1.0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), t=st.integers(2, 60))
def test_requirement_met_and_smart_never_dearer(seed, n, t):
    rng = np.random.default_rng(seed)
    avail = rng.random((t, n)) < 0.6
    power = rng.uniform(1, 11, n)
    dt = 0.5
    sessions = ev_sessions(avail)
    # feasible requirements: a random share of what each session can take
    req = np.zeros((t, n))
    req[sessions.start, sessions.ev] = rng.uniform(0, 1, sessions.count) * sessions.steps * power[sessions.ev] * dt
    price = rng.uniform(0.05, 0.5, t)
    smart = ev_smart(avail, req, power, dt, price)
    imm = ev_immediate(avail, req, power, dt)
    for e in (smart, imm):
        assert np.all(e >= -1e-12) and np.all(e <= power * dt + 1e-9)
        assert np.all(e[~avail] == 0)
        delivered = np.bincount(sessions.id[avail], weights=e[avail], minlength=sessions.count)
        np.testing.assert_allclose(delivered, req[sessions.start, sessions.ev], atol=1e-9)
    assert (smart * price[:, None]).sum() <= (imm * price[:, None]).sum() + 1e-9
    np.testing.assert_allclose(imm, ev_immediate_charging(avail, req, power, dt))


def test_controller_in_the_simulator():
    com = synthetic_community(20, periods=24 * 3, freq="1h", seed=2)
    fleet = synthetic_ev_fleet(12, seed=3)
    none = peergrid.simulate(com, market="sdr", control="none")
    runs = {mode: peergrid.simulate(com, market="sdr", control=ev_controller(fleet, mode)) for mode in
            ("immediate", "smart")}
    ev_total = ev_charging(com, fleet, "immediate").sum()
    assert ev_total > 0
    for mode, res in runs.items():
        assert res.control == f"ev-{mode}"
        delta = res.battery.load_delta
        assert delta.sum() == pytest.approx(ev_total)  # same energy whatever the timing
        assert res.metrics["load_kwh"] == pytest.approx(none.metrics["load_kwh"] + ev_total)
        assert res.steps["load_kwh"].sum() == pytest.approx(res.metrics["load_kwh"])
        assert res.participants["load_kwh"].sum() == pytest.approx(res.metrics["load_kwh"])
        tbl = res.table()  # net = load - generation + battery, row by row
        np.testing.assert_allclose(tbl["net"], tbl["load"] - tbl["generation"] + tbl["battery"], atol=1e-9)
    cost = {m: float((ev_charging(com, fleet, m) * com.retail[:, None]).sum()) for m in ("immediate", "smart")}
    assert cost["smart"] <= cost["immediate"]
    assert runs["smart"].metrics["community_cost"] <= runs["immediate"].metrics["community_cost"] + 1e-9


def test_meta_fleet_controllers_and_owner_mapping():
    com = synthetic_community(6, periods=48, freq="1h", seed=1)
    with pytest.raises(ConfigError, match="no EV fleet"):
        ev_smart_control(com)
    fleet = synthetic_ev_fleet(3, seed=1).assign(participant=[com.ids[5], com.ids[5], 0])
    com.meta["ev_fleet"] = fleet
    s = ev_smart_control(com)
    assert s.load_delta[:, 1:5].sum() == 0
    assert s.load_delta[:, 5].sum() == pytest.approx(ev_charging(com, fleet.iloc[:2], "smart")[:, 5].sum())
    assert ev_immediate_control(com).load_delta.sum() == pytest.approx(s.load_delta.sum())
    with pytest.raises(ConfigError, match="participant"):
        ev_charging(com, synthetic_ev_fleet(7, seed=1))
    with pytest.raises(ConfigError, match="lacks columns"):
        ev_charging(com, pd.DataFrame({"arrival_hour": [18.0]}))


def test_infeasible_fleet_is_a_one_line_model_error():
    com = synthetic_community(2, periods=72, freq="1h", seed=1)
    fleet = pd.DataFrame({"id": ["van"], "arrival_hour": [22.0], "departure_hour": [2.0], "required_kwh": [80.0],
                          "charger_kw": [7.0]})
    with pytest.raises(ModelError, match="EV 'van', session 1"):
        peergrid.simulate(com, control=ev_controller(fleet, "smart"))
    assert ev_availability(com.index, 22.0, 2.0).sum() > 0
