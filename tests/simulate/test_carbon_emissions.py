"""Carbon (issue 17, item 6): Community.carbon_intensity and the emissions_kg metric."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peergrid
from peergrid import Community, DataError
from peergrid.data import citylearn_community, load_citylearn, synthetic_community
from peergrid.metrics import METRICS, TABLE_METRICS
from peergrid.simulate import Comparison


def _community(net: np.ndarray, ci: np.ndarray | float | None, retail: float = 0.3) -> Community:
    T, N = net.shape
    idx = pd.date_range("2022-01-01", periods=T, freq="1h", tz="UTC")
    return Community(
        idx,
        pd.DataFrame({"id": [f"m{i}" for i in range(N)]}),
        np.maximum(net, 0.0),
        np.maximum(-net, 0.0),
        retail=retail,
        feed_in=0.05,
        carbon_intensity=ci,
    )


def test_hand_computed_emissions():
    # two members, two steps: step 0 community imports 3 − 1 = 2 kWh, step 1 exports (no credit)
    net = np.array([[3.0, -1.0], [-2.0, 1.0]])
    com = _community(net, [0.5, 0.2])
    res = peergrid.simulate(com, market="sdr", control="none")
    assert res.metrics["emissions_kg"] == pytest.approx(2 * 0.5)
    base = peergrid.simulate(com, market="baseline", control="none")
    # without P2P every member imports its own deficit: 3 kWh at 0.5, 1 kWh at 0.2
    assert base.metrics["emissions_kg"] == pytest.approx(3 * 0.5 + 1 * 0.2)
    assert base.participants["emissions_kg"].tolist() == pytest.approx([1.5, 0.2])
    assert res.steps["emissions_kg"].tolist() == pytest.approx([1.0, 0.0])
    assert res.steps["carbon_intensity"].tolist() == [0.5, 0.2]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(0, 2**31 - 1),
    st.sampled_from(["baseline", "bs", "mmr", "sdr", "uniform", "pay-as-bid"]),
)
def test_emissions_equal_import_times_intensity(T, N, seed, market):
    rng = np.random.default_rng(seed)
    net = rng.normal(0.0, 2.0, (T, N)) * (rng.random((T, N)) < 0.8)
    ci = rng.uniform(0.0, 0.8, T)
    res = peergrid.simulate(_community(net, ci), market=market, control="none")
    expected = float(np.sum(res.steps["grid_import_kwh"].to_numpy() * ci))
    assert res.metrics["emissions_kg"] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # per member: own grid import × intensity, summing to the community figure
    alloc = res.allocation()
    assert res.participants["emissions_kg"].to_numpy() == pytest.approx(alloc.grid_import.T @ ci, abs=1e-12)
    assert res.participants["emissions_kg"].sum() == pytest.approx(expected, abs=1e-9)


def test_without_intensity_emissions_are_undefined():
    com = _community(np.array([[1.0, -0.5]]), None)
    res = peergrid.simulate(com, market="sdr", control="none")
    assert math.isnan(res.metrics["emissions_kg"])
    assert res.participants["emissions_kg"].isna().all()
    assert "carbon_intensity" not in res.steps
    assert res.summary()["emissions_kg"] is None
    assert com.summary()["carbon_intensity"] is None


@pytest.mark.parametrize("bad", [[0.1, -0.2], [0.1, float("nan")], [0.1, 0.2, 0.3]])
def test_intensity_is_validated(bad):
    with pytest.raises(DataError, match="carbon intensity"):
        _community(np.zeros((2, 1)), bad)


def test_flat_factor_and_slicing():
    com = _community(np.ones((4, 2)), 0.4)
    assert com.carbon_intensity.tolist() == [0.4] * 4
    ci = np.array([0.1, 0.2, 0.3, 0.4])
    com = _community(np.ones((4, 2)), ci)
    sub = com.select(participants=[1], steps=slice(1, 3))
    assert sub.carbon_intensity.tolist() == [0.2, 0.3]
    assert com.summary()["carbon_intensity"] == pytest.approx(0.25)


def test_citylearn_carries_its_series_and_resamples_it():
    data = load_citylearn().carbon_intensity.to_numpy()
    com = citylearn_community(periods=48)
    assert np.array_equal(com.carbon_intensity, data[:48])
    half = citylearn_community(periods=4, freq="30min")
    assert half.carbon_intensity.tolist() == [data[0], data[0], data[1], data[1]]  # held
    two = citylearn_community(periods=3, freq="2h")
    assert two.carbon_intensity == pytest.approx((data[0:6].reshape(3, 2)).mean(axis=1))  # time-averaged
    syn = synthetic_community(5, periods=24, freq="1h", seed=1)  # 2022-08-01T00:00Z: the data year wraps
    assert syn.carbon_intensity == pytest.approx(np.r_[data[-7:], data[:17]])


def test_parquet_round_trip_keeps_intensity(tmp_path):
    com = citylearn_community(homes=[1, 2, 3], periods=24)
    cmp = peergrid.compare(com, markets=["baseline", "sdr"], control="greedy")
    cmp.to_parquet(tmp_path)
    back = Comparison.from_parquet(tmp_path)
    assert np.array_equal(back.community.carbon_intensity, com.carbon_intensity)
    assert back["sdr"].metrics["emissions_kg"] == cmp["sdr"].metrics["emissions_kg"]


def test_registered_everywhere():
    m = METRICS["emissions_kg"]
    assert m.core and m.unit == "kgCO2" and "emissions_kg" in TABLE_METRICS
    assert m.format(1234.56) == "1,234.6 kgCO2"
    assert m.heading() == "Emissions (kgCO2)"
