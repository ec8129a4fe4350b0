"""Peak-load agents (p-MAS, Lange): classification, energy-neutral shifting, storage, peak report."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid
from peergrid import ModelError
from peergrid.control.peak import (
    LoadState,
    PeakParams,
    classify_load,
    peak_agents,
    peak_report,
    reference_load,
)
from peergrid.core import make_index


def community(load, gen=None, freq="1h", start="2022-01-01", **battery):
    load = np.asarray(load, float)
    if load.ndim == 1:
        load = load[:, None]
    gen = np.zeros_like(load) if gen is None else np.asarray(gen, float)
    parts = pd.DataFrame({"id": [f"p{i}" for i in range(load.shape[1])]})
    for k, v in battery.items():
        parts[k] = v
    return peergrid.Community(make_index(start, load.shape[0], freq), parts, load, gen, 0.3, 0.1)


def test_classify_load_thresholds():
    states = classify_load(np.array([0.0, 0.6, 1.0, 1.3, 2.0, 5.0]), 1.0, (0.5, 0.8, 1.2, 1.5))
    assert states.tolist() == [
        LoadState.UNDERLOADED, LoadState.LIGHTLY_LOADED, LoadState.NORMALLY_LOADED,
        LoadState.OVERLOADED, LoadState.SEVERELY_OVERLOADED, LoadState.SEVERELY_OVERLOADED,
    ]
    assert classify_load(np.array([3.0]), 0.0, (0.5, 0.8, 1.2, 1.5)).tolist() == [0]  # no reference: underloaded


def test_shift_hand_computed():
    # one participant, load 1, 1, 1, 5 kWh per hour: daily mean 2 kW, the last hour is severe (ratio 2.5)
    com = community([1.0, 1.0, 1.0, 5.0])
    np.testing.assert_allclose(reference_load(com), 2.0)
    s = peak_agents(com, params=PeakParams(flexible_share=0.5, storage=False))
    # all 2.5 kWh of flexible load move, spread evenly over the three hours within 4 h (headroom 1.4 each)
    np.testing.assert_allclose(s.load_delta[:, 0], [2.5 / 3, 2.5 / 3, 2.5 / 3, -2.5])
    assert s.states_before.tolist() == [0, 0, 0, 4]  # ratio 0.5 is the top of underloaded
    # a 1-h window only reaches the hour before, filled to the top of the normal band (1.2 x 2 kW)
    s = peak_agents(com, params=PeakParams(flexible_share=0.5, window_hours=1.0, storage=False))
    np.testing.assert_allclose(s.load_delta[:, 0], [0.0, 0.0, 1.4, -1.4], atol=1e-8)
    # overloaded (ratio 1.6 / 1.15 = 1.39, not severe): only 20 % of the flexible load may move,
    # although 1.6 - 1.2 x 1.15 = 0.22 kWh is above the normal band
    s = peak_agents(community([1.0, 1.0, 1.0, 1.6]), params=PeakParams(flexible_share=0.5, storage=False,
                                                                        overloaded_fraction=0.2))
    assert s.states_before[3] == LoadState.OVERLOADED
    assert s.load_delta[3, 0] == pytest.approx(-0.2 * 0.5 * 1.6)


def test_storage_hand_computed():
    com = community(
        [1.0, 1.0, 1.0, 5.0], battery_kwh=[10.0], battery_kw=[2.0], battery_eff_charge=1.0,
        battery_eff_discharge=1.0, soc_min=0.0, soc_init=0.5,
    )
    s = peak_agents(com, params=PeakParams(flexible_share=0.5, window_hours=1.0))
    # after shifting: 1, 1, 2.4, 3.6 kWh. The storage agents plan the lowest level they can hold
    # the day at: 3.6 - θ <= 2 kW (power) gives θ >= 1.6 kW, which is also the floor (0.8 x the
    # 2 kW daily mean: no discharge into the lightly loaded band); 5 kWh stored + 2 x 0.6 kWh
    # charged in the valley cover the 0.8 + 2.0 kWh above it
    np.testing.assert_allclose(s.shaving_level_kw, 1.6, atol=1e-8)
    np.testing.assert_allclose(s.charge[:, 0], [0.6, 0.6, 0.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(s.discharge[:, 0], [0.0, 0.0, 0.8, 2.0], atol=1e-8)
    np.testing.assert_allclose(s.energy[:, 0], [5.6, 6.2, 5.4, 3.4], atol=1e-8)
    r = peak_report(com, s)
    assert r.peak_kw_none == pytest.approx(5.0) and r.peak_kw == pytest.approx(1.6)
    assert r.peak_reduction == pytest.approx(1 - 1.6 / 5.0)
    assert r.par_none == pytest.approx(5.0 / 2.0)
    assert r.par < r.par_none
    assert r.overloaded_steps_none == 1 and r.overloaded_steps == 0
    assert r.max_daily_imbalance_kwh == pytest.approx(0.0, abs=1e-12)
    # a small battery: the level rises until the stored energy suffices (1 kWh + valley charging)
    small = community(
        [1.0, 1.0, 1.0, 5.0], battery_kwh=[1.0], battery_kw=[2.0], battery_eff_charge=1.0,
        battery_eff_discharge=1.0, soc_min=0.0, soc_max=1.0, soc_init=0.5,
    )
    s = peak_agents(small, params=PeakParams(flexible_share=0.5, window_hours=1.0))
    # the valley fills the battery (0.5 + 0.5 kWh); below 2.4 kW the two dear steps need
    # 6 - 2θ <= 1 kWh (θ >= 2.5, a contradiction), above it 3.6 - θ <= 1: θ = 2.6 kW
    assert s.shaving_level_kw[0] == pytest.approx(2.6, rel=1e-6)
    assert peak_report(small, s).peak_kw == pytest.approx(2.6, rel=1e-6)


def constructed_feeder(days=2):
    """Ten homes with an evening peak (17-21 h) and a night valley, 30-min steps."""
    idx = make_index("2022-03-01", 48 * days, "30min")
    hour = (idx.hour + idx.minute / 60).to_numpy()
    base = 0.3 + 0.2 * ((hour >= 7) & (hour < 9)) + 1.2 * ((hour >= 17) & (hour < 21))
    rng = np.random.default_rng(5)
    load = base[:, None] * rng.uniform(0.7, 1.3, 10)[None, :] * 0.5  # kWh per half hour
    parts = pd.DataFrame({"id": [f"h{i}" for i in range(10)]})
    parts["battery_kwh"] = [20.0] * 3 + [0.0] * 7
    parts["battery_kw"] = [2.5] * 3 + [0.0] * 7
    return peergrid.Community(idx, parts, load, np.zeros_like(load), 0.3, 0.1)


def test_agents_flatten_a_constructed_peak():
    com = constructed_feeder()
    shift_only = peak_agents(com, params=PeakParams(flexible_share=0.3, window_hours=6.0, storage=False))
    both = peak_agents(com, params=PeakParams(flexible_share=0.3, window_hours=6.0))
    r1, r2 = peak_report(com, shift_only), peak_report(com, both)
    assert r1.peak_reduction > 0.10
    assert r2.peak_kw < r1.peak_kw
    assert r2.par < r1.par < r1.par_none
    assert r1.max_daily_imbalance_kwh < 1e-9
    # the simulator counts the shifted load: same energy, lower peak import
    none = peergrid.simulate(com, market="sdr", control="none").metrics
    res = peergrid.simulate(com, market="sdr", control=lambda c, progress=None: shift_only).metrics
    assert res["load_kwh"] == pytest.approx(none["load_kwh"])
    assert res["peak_import_kw"] == pytest.approx(r1.peak_kw)
    assert res["peak_import_kw"] < none["peak_import_kw"]


def test_rated_capacity_reference_and_local_days():
    com = constructed_feeder()
    s = peak_agents(com, params=PeakParams(reference=4.0, thresholds=(0.3, 0.6, 0.9, 1.0), storage=False))
    assert np.all(s.reference_kw == 4.0)
    r = peak_report(com, s, reference=4.0, thresholds=(0.3, 0.6, 0.9, 1.0))
    assert r.peak_kw < r.peak_kw_none
    # days follow the display time zone: shifting stays energy-neutral per local day
    com.meta["display_tz"] = "America/New_York"
    s = peak_agents(com, params=PeakParams(storage=False))
    local = com.index.tz_convert("America/New_York").normalize()
    daily = pd.DataFrame(s.load_delta).groupby(np.asarray(local)).sum().to_numpy()
    np.testing.assert_allclose(daily, 0.0, atol=1e-9)


def test_parameter_errors():
    with pytest.raises(ModelError, match="thresholds"):
        PeakParams(thresholds=(0.5, 0.4, 1.0, 2.0))
    with pytest.raises(ModelError, match="flexible_share"):
        PeakParams(flexible_share=1.5)
    with pytest.raises(ModelError, match="window_hours"):
        PeakParams(window_hours=0)
    with pytest.raises(ModelError, match="price_fraction"):
        PeakParams(price_fraction=-0.1)
    with pytest.raises(ModelError, match="price_tolerance"):
        PeakParams(price_tolerance=2.0)
    with pytest.raises(ModelError, match="lookahead_days"):
        PeakParams(lookahead_days=-1)
    with pytest.raises(ModelError, match="reference"):
        peak_agents(constructed_feeder(), params=PeakParams(reference="weekly"))
    with pytest.raises(ModelError, match="flexible_share"):
        peak_agents(constructed_feeder(), params=PeakParams(flexible_share=np.ones(3) * 0.1))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 8), days=st.integers(1, 3), share=st.floats(0, 1))
def test_shifting_is_energy_neutral_and_bounded(seed, n, days, share):
    rng = np.random.default_rng(seed)
    T = 24 * days
    load = rng.uniform(0, 2, (T, n)) * (1 + 3 * (rng.random((T, 1)) < 0.15))
    gen = rng.uniform(0, 1, (T, n)) * (rng.random(n) < 0.5)
    com = community(load, gen, battery_kwh=rng.uniform(0, 5, n), battery_kw=1.0, soc_init=0.5)
    s = peak_agents(com, params=PeakParams(flexible_share=share))
    daily = s.load_delta.reshape(days, 24, n).sum(axis=1)
    np.testing.assert_allclose(daily, 0.0, atol=1e-9)
    assert np.all(s.load_delta >= -share * load - 1e-9)  # never removes more than the flexible share
    assert np.all(load + s.load_delta >= -1e-9)
    p = com.participants.iloc[s.owners]
    cap = p["battery_kwh"].to_numpy()
    assert np.all(s.energy >= p["soc_min"].to_numpy() * cap - 1e-9)
    assert np.all(s.energy <= p["soc_max"].to_numpy() * cap + 1e-9)
    assert np.all(s.charge <= p["battery_kw"].to_numpy() + 1e-9)
    # load shifting alone never raises the peak of the community load
    shift = peak_agents(com, params=PeakParams(flexible_share=share, storage=False))
    assert peak_report(com, shift).peak_kw <= peak_report(com, shift).peak_kw_none + 1e-9
