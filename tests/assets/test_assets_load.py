"""Tests for peergrid.assets.load (annual scaling, BDEW H25 household profile)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peergrid import DataError, ModelError
from peergrid.assets.load import bdew_household_profile, scale_to_annual
from peergrid.core.timeindex import make_index

HAS_DEMANDLIB = importlib.util.find_spec("demandlib") is not None
needs_demandlib = pytest.mark.skipif(not HAS_DEMANDLIB, reason="demandlib not installed")


# ---- scale_to_annual ---------------------------------------------------------------------
def test_scale_to_annual_hand_values() -> None:
    # mean power of 8760 kWh/a is 1 kW; shape [1, 3] has mean 2 -> [0.5, 1.5]
    np.testing.assert_allclose(scale_to_annual([1.0, 3.0], 8760.0, 1.0), [0.5, 1.5])
    year = np.ones(8760 * 4)
    out = scale_to_annual(year, 3500.0, 0.25)
    assert out.shape == (35040,)
    assert out.sum() * 0.25 == pytest.approx(3500.0)


def test_scale_to_annual_per_participant() -> None:
    profile = np.column_stack([np.ones(24), np.arange(1.0, 25.0)])
    out = scale_to_annual(profile, [3650.0, 7300.0], 1.0)
    assert out.shape == (24, 2)
    # a one-day profile gets 1/365 of the annual energy
    np.testing.assert_allclose(out.sum(axis=0), [10.0, 20.0])
    out1 = scale_to_annual(np.ones(24), [365.0, 730.0], 1.0)
    assert out1.shape == (24, 2)
    np.testing.assert_allclose(out1.sum(axis=0), [1.0, 2.0])


@settings(max_examples=60, deadline=None)
@given(
    profile=arrays(np.float64, st.integers(1, 96), elements=st.floats(0.01, 10)),
    annual=st.floats(0, 1e5),
    dt=st.sampled_from([0.25, 0.5, 1.0]),
)
def test_scale_to_annual_preserves_shape_and_mean(
    profile: np.ndarray, annual: float, dt: float
) -> None:
    out = scale_to_annual(profile, annual, dt)
    assert out.mean() == pytest.approx(annual / 8760.0, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(out * profile.sum(), profile * out.sum(), rtol=1e-9, atol=1e-12)


def test_scale_to_annual_bad_inputs() -> None:
    with pytest.raises(ModelError, match="annual_kwh"):
        scale_to_annual([1.0], -5.0, 1.0)
    with pytest.raises(ModelError, match="dt_hours"):
        scale_to_annual([1.0], 5.0, 0.0)
    with pytest.raises(DataError, match="sums to zero"):
        scale_to_annual(np.zeros(4), 5.0, 1.0)
    with pytest.raises(DataError, match=">= 0"):
        scale_to_annual([1.0, -1.0], 5.0, 1.0)
    with pytest.raises(DataError, match="columns"):
        scale_to_annual(np.ones((4, 2)), [1.0, 2.0, 3.0], 1.0)


# ---- BDEW H25 -------------------------------------------------------------------------------
@needs_demandlib
@pytest.mark.parametrize(("freq", "periods"), [("1h", 8760), ("15min", 35040), ("5min", 105120)])
def test_bdew_full_year_matches_annual_energy(freq: str, periods: int) -> None:
    idx = make_index("2022-01-01", periods, freq)
    out = bdew_household_profile(idx, [3000.0, 4500.0])
    dt = pd.Timedelta(freq).total_seconds() / 3600
    assert out.shape == (periods, 2)
    np.testing.assert_allclose(out.sum(axis=0) * dt, [3000.0, 4500.0], rtol=0.01)
    np.testing.assert_allclose(out[:, 1], 1.5 * out[:, 0])
    assert np.all(out > 0)


@needs_demandlib
def test_bdew_daily_shape_is_household_like() -> None:
    idx = make_index("2022-01-10", 24 * 7, "1h")  # a January week
    out = bdew_household_profile(idx, 3500.0)[:, 0]
    local = pd.Series(out, index=idx.tz_convert("Europe/Berlin"))
    by_hour = local.groupby(local.index.hour).mean()
    assert by_hour[3] < by_hour[12] and by_hour[3] < by_hour[18]  # night trough
    # the same sum from a 15-min index, aggregated, equals the hourly result
    fine = bdew_household_profile(make_index("2022-01-10", 96 * 7, "15min"), 3500.0)[:, 0]
    np.testing.assert_allclose(fine.reshape(-1, 4).mean(axis=1), out, rtol=1e-12)


@needs_demandlib
def test_bdew_bad_inputs() -> None:
    with pytest.raises(ModelError, match="annual_kwh"):
        bdew_household_profile(make_index("2022-01-01", 4, "1h"), -1.0)
    with pytest.raises(DataError, match="quarter"):
        bdew_household_profile(make_index("2022-01-01 00:05", 4, "1h"), 1000.0)
    with pytest.raises(DataError, match="divide"):
        bdew_household_profile(make_index("2022-01-01", 4, "7min"), 1000.0)


@pytest.mark.skipif(HAS_DEMANDLIB, reason="demandlib installed")
def test_bdew_without_demandlib_raises_model_error() -> None:
    with pytest.raises(ModelError, match="demandlib"):
        bdew_household_profile(make_index("2022-01-01", 4, "1h"), 1000.0)
