"""Tests for peergrid.assets.pv (Tooki et al. eq. 2, pvlib PVWatts chain, TMY loader)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peergrid import DataError, ModelError
from peergrid.assets.pv import (
    annual_yield_kwh_per_kwp,
    pv_power_pvlib,
    pv_power_tooki,
    pvlib_tmy,
)


@pytest.fixture(scope="module")
def greensboro() -> tuple[pd.DataFrame, dict]:
    return pvlib_tmy("greensboro")


# ---- Tooki et al. eq. 2 -----------------------------------------------------------------
def test_tooki_eq2_hand_value() -> None:
    # 1000 W/m² x 10 m² x 0.2 = 2000 W = 2 kW
    assert pv_power_tooki([1000.0], 10.0, 0.2) == pytest.approx(np.array([[2.0]]))


def test_tooki_eq2_no_derating_at_25c_cell_temperature() -> None:
    # T_c = T_a + (45 - 20)/800 * 1000 = T_a + 31.25 -> T_a = -6.25 °C gives T_c = 25 °C
    out = pv_power_tooki([1000.0], 10.0, 0.2, temp_air=-6.25)
    assert out[0, 0] == pytest.approx(2.0)


def test_tooki_temperature_derating_hand_value() -> None:
    # G = 800, T_a = 30: T_c = 30 + 25/800*800 = 55; derate = 1 - 0.004*30 = 0.88
    # P = 800 * 5 m² * 0.18 / 1000 * 0.88 = 0.6336 kW
    out = pv_power_tooki([800.0], 5.0, 0.18, temp_air=30.0)
    assert out[0, 0] == pytest.approx(0.6336)


def test_tooki_derating_clipped_at_zero() -> None:
    out = pv_power_tooki([1000.0], 10.0, 0.2, temp_air=300.0)
    assert out[0, 0] == 0.0


def test_tooki_broadcasts_time_against_participants() -> None:
    g = np.array([0.0, 500.0, 1000.0])
    out = pv_power_tooki(g, [10.0, 20.0], [0.2, 0.1])
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out, [[0, 0], [1.0, 1.0], [2.0, 2.0]])
    out2 = pv_power_tooki(g[:, None], np.array([10.0, 20.0]), 0.2, temp_air=np.full(3, 25.0))
    assert out2.shape == (3, 2)
    assert out2.dtype == np.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"area_m2": -1.0}, "area_m2"),
        ({"efficiency": 0.0}, "efficiency"),
        ({"efficiency": 1.5}, "efficiency"),
        ({"efficiency": np.nan}, "efficiency"),
        ({"temp_air": 20.0, "temp_coeff": 0.01}, "temp_coeff"),
        ({"temp_air": 20.0, "noct": 15.0}, "noct"),
    ],
)
def test_tooki_bad_parameters(kwargs: dict, match: str) -> None:
    args = {"irradiance": [1000.0], "area_m2": 10.0, "efficiency": 0.2, **kwargs}
    with pytest.raises(ModelError, match=match):
        pv_power_tooki(**args)


def test_tooki_bad_data() -> None:
    with pytest.raises(DataError, match="irradiance"):
        pv_power_tooki([np.nan], 1.0, 0.2)
    with pytest.raises(DataError, match="irradiance"):
        pv_power_tooki([-5.0], 1.0, 0.2)
    with pytest.raises(DataError, match="broadcast"):
        pv_power_tooki(np.ones((3, 2)), [1.0, 2.0, 3.0], 0.2)


@settings(max_examples=60, deadline=None)
@given(
    g=arrays(np.float64, st.integers(1, 24), elements=st.floats(0, 1400)),
    area=st.floats(0, 200),
    eff=st.floats(0.01, 1.0),
    factor=st.floats(0, 10),
    temp=st.floats(-30, 50),
)
def test_tooki_non_negative_and_linear_in_area(
    g: np.ndarray, area: float, eff: float, factor: float, temp: float
) -> None:
    base = pv_power_tooki(g, area, eff, temp_air=temp)
    scaled = pv_power_tooki(g, area * factor, eff, temp_air=temp)
    assert np.all(base >= 0)
    np.testing.assert_allclose(scaled, base * factor, rtol=1e-12, atol=1e-12)


# ---- TMY loader ------------------------------------------------------------------------------
def test_pvlib_tmy_greensboro(greensboro: tuple[pd.DataFrame, dict]) -> None:
    weather, meta = greensboro
    assert list(weather.columns) == ["ghi", "dni", "dhi", "temp_air", "wind_speed"]
    assert len(weather) == 8760
    assert str(weather.index.tz) == "UTC"
    assert weather.index.freq == pd.Timedelta(hours=1)
    assert weather.index.is_monotonic_increasing
    # Period starts: local standard time (UTC-5) 2022-01-01 00:00 is 05:00 UTC.
    assert weather.index[0] == pd.Timestamp("2022-01-01 05:00", tz="UTC")
    assert meta["latitude"] == pytest.approx(36.1)
    assert meta["longitude"] == pytest.approx(-79.95)
    assert meta["altitude"] == pytest.approx(273.0)
    assert "TMY3" in meta["source"]
    assert np.isfinite(weather.to_numpy()).all()
    # Night at local midnight, sun at local noon in June.
    noon = weather.loc[pd.Timestamp("2022-06-21 17:00", tz="UTC"), "ghi"]
    midnight = weather.loc[pd.Timestamp("2022-06-21 05:00", tz="UTC"), "ghi"]
    assert noon > 300 and midnight == 0


def test_pvlib_tmy_sand_point_is_windier(greensboro: tuple[pd.DataFrame, dict]) -> None:
    sand, meta = pvlib_tmy("sand_point")
    assert len(sand) == 8760 and meta["latitude"] == pytest.approx(55.317)
    assert sand["wind_speed"].mean() > greensboro[0]["wind_speed"].mean() + 1.0


def test_pvlib_tmy_unknown_name() -> None:
    with pytest.raises(DataError, match="unknown TMY"):
        pvlib_tmy("atlantis")
    with pytest.raises(DataError, match="leap"):
        pvlib_tmy("greensboro", year=2024)


# ---- pvlib PVWatts model ------------------------------------------------------------------
def test_pvlib_annual_yield_greensboro_plausible(greensboro: tuple[pd.DataFrame, dict]) -> None:
    weather, meta = greensboro
    power = pv_power_pvlib(
        weather, [1.0, 4.0], latitude=meta["latitude"], longitude=meta["longitude"],
        altitude=meta["altitude"],
    )
    assert power.shape == (8760, 2)
    yields = annual_yield_kwh_per_kwp(power, 1.0, kwp=[1.0, 4.0])
    assert np.all((yields > 1200) & (yields < 1700)), yields
    np.testing.assert_allclose(power[:, 1], 4 * power[:, 0])
    assert np.all(power >= 0)
    assert power[:, 0].max() <= 0.96 + 1e-12  # inverter clipping at eta_inv * kWp


def test_pvlib_orientations_and_models(greensboro: tuple[pd.DataFrame, dict]) -> None:
    weather, meta = greensboro
    loc = {"latitude": meta["latitude"], "longitude": meta["longitude"]}
    power = pv_power_pvlib(weather, 1.0, tilt=[20, 20, 90], azimuth=[180, 90, 0], **loc)
    y = annual_yield_kwh_per_kwp(power, 1.0)
    assert y[0] > y[1] > y[2]  # south > east > north-facing wall
    ghi_only = pv_power_pvlib(weather[["ghi", "temp_air", "wind_speed"]], 1.0, **loc)
    faiman = pv_power_pvlib(weather, 1.0, temperature_model="faiman", sky_model="perez", **loc)
    for other in (ghi_only, faiman):
        assert 1200 < annual_yield_kwh_per_kwp(other, 1.0)[0] < 1700


def test_pvlib_accepts_mapping_with_index() -> None:
    index = pd.date_range("2022-06-21 00:00", periods=48, freq="30min", tz="UTC")
    ghi = np.clip(900 * np.sin(np.linspace(-np.pi / 2, 3 * np.pi / 2, 48)), 0, None)
    out = pv_power_pvlib({"ghi": ghi}, [2.0], latitude=52.5, longitude=13.4, index=index)
    assert out.shape == (48, 1) and np.all(out >= 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kwp": -1.0}, "kwp"),
        ({"tilt": 95.0}, "tilt"),
        ({"azimuth": -10.0}, "azimuth"),
        ({"latitude": 100.0}, "latitude"),
        ({"inverter_efficiency": 1.2}, "inverter_efficiency"),
        ({"losses": 1.0}, "losses"),
        ({"gamma_pdc": 0.01}, "gamma_pdc"),
        ({"temperature_model": "noct"}, "temperature_model"),
        ({"sky_model": "magic"}, "sky_model"),
        ({"kwp": [1.0, 2.0], "tilt": [10.0, 20.0, 30.0]}, "same length"),
    ],
)
def test_pvlib_bad_parameters(
    kwargs: dict, match: str, greensboro: tuple[pd.DataFrame, dict]
) -> None:
    weather = greensboro[0].iloc[:24]
    args = {"weather": weather, "kwp": 1.0, "latitude": 36.1, "longitude": -79.95, **kwargs}
    with pytest.raises(ModelError, match=match):
        pv_power_pvlib(**args)


def test_pvlib_bad_weather(greensboro: tuple[pd.DataFrame, dict]) -> None:
    weather = greensboro[0].iloc[:24].copy()
    loc = {"latitude": 36.1, "longitude": -79.95}
    with pytest.raises(DataError, match="ghi"):
        pv_power_pvlib(weather.drop(columns="ghi"), 1.0, **loc)
    with pytest.raises(DataError, match="dni"):
        pv_power_pvlib(weather.drop(columns="dni"), 1.0, **loc)
    bad = weather.copy()
    bad.iloc[3, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        pv_power_pvlib(bad, 1.0, **loc)
    with pytest.raises(DataError, match="index"):
        pv_power_pvlib({"ghi": np.zeros(24)}, 1.0, **loc)


# ---- yield helper ------------------------------------------------------------------------------
def test_annual_yield_hand_value() -> None:
    # 1 kW constant for one day at 15-min steps: 24 kWh/day -> 8760 kWh/kWp/yr annualised
    power = np.ones(96)
    assert annual_yield_kwh_per_kwp(power, 0.25) == pytest.approx(8760.0)
    two = np.column_stack([power, 2 * power])
    np.testing.assert_allclose(annual_yield_kwh_per_kwp(two, 0.25, kwp=[1.0, 4.0]), [8760, 4380])
    with pytest.raises(ModelError, match="dt_hours"):
        annual_yield_kwh_per_kwp(power, 0.0)
    with pytest.raises(ModelError, match="kwp"):
        annual_yield_kwh_per_kwp(power, 1.0, kwp=0.0)
