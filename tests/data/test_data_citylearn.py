"""Tests of the shipped CityLearn 2022 data and the real community built from it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from peergrid.core.community import Community
from peergrid.core.errors import DataError
from peergrid.data import (
    CityLearnData,
    citylearn_community,
    detect_faulty_pv,
    load_citylearn,
    resample_energy,
)
from peergrid.data.citylearn import METADATA_KEY

HOMES = [f"home_{i:02d}" for i in range(1, 18)]
FIRST = pd.Timestamp("2022-08-01T07:00Z")
DATA_DIR = Path(__file__).resolve().parents[2] / "src" / "peergrid" / "data"
WHEEL = Path("/tmp/cl/CityLearn-2.1.2-py3-none-any.whl")


@pytest.fixture(scope="module")
def data() -> CityLearnData:
    return load_citylearn()


# ---- loader -------------------------------------------------------------------------


def test_index(data: CityLearnData) -> None:
    assert len(data.index) == 8760
    assert data.index[0] == FIRST
    assert data.index[-1] == pd.Timestamp("2023-08-01T06:00Z")
    assert str(data.index.tz) == "UTC"
    assert pd.Timedelta(data.index.freq) == pd.Timedelta("1h")
    for frame in (data.load, data.pv_per_kwp, data.weather, data.retail_price,
                  data.carbon_intensity):
        assert frame.index.equals(data.index)


def test_shapes_and_columns(data: CityLearnData) -> None:
    assert data.load.shape == (8760, 17)
    assert data.pv_per_kwp.shape == (8760, 17)
    assert list(data.load.columns) == HOMES
    assert list(data.pv_per_kwp.columns) == HOMES
    assert list(data.weather.columns) == ["temp_air_c", "relative_humidity", "dhi_wm2", "dni_wm2"]
    assert list(data.battery.columns) == ["capacity_kwh", "power_kw", "efficiency"]
    for frame in (data.load, data.pv_per_kwp, data.weather):
        assert (frame.dtypes == np.float64).all()
        assert np.isfinite(frame.to_numpy()).all()


def test_units_and_ranges(data: CityLearnData) -> None:
    daily = data.load.sum() / 365
    assert 27.0 < daily.mean() < 27.7  # kWh/day, DATA.md: 27.3
    assert daily.min() == pytest.approx(17.7, abs=0.1)
    assert daily.max() == pytest.approx(40.3, abs=0.1)
    assert (data.load.to_numpy() >= 0).all()
    pv = data.pv_per_kwp.to_numpy()
    assert pv.min() >= 0 and pv.max() < 1.1  # kWh per kWp per hour cannot exceed ~1
    assert set(data.pv_kwp.unique()) == {4.0, 5.0}
    assert (data.battery["capacity_kwh"] == 6.4).all()
    assert (data.battery["power_kw"] == 5.0).all()
    assert (data.battery["efficiency"] == 0.9).all()
    assert sorted(data.retail_price.unique()) == [0.21, 0.22, 0.40, 0.50, 0.54]
    assert 0.05 < data.carbon_intensity.min() < data.carbon_intensity.max() < 0.3
    assert -5 < data.weather["temp_air_c"].min() < data.weather["temp_air_c"].max() < 45
    assert data.weather["relative_humidity"].between(0, 100).all()


def test_pv_peaks_at_local_noon(data: CityLearnData) -> None:
    """UTC conversion: PV per local (UTC-8) hour of the period start peaks around noon."""
    local_hour = data.index.tz_convert("Etc/GMT+8").hour
    profile = data.pv_per_kwp[["home_01"]].groupby(local_hour).mean()["home_01"]
    assert 10 <= int(profile.idxmax()) <= 13
    assert profile.loc[[0, 1, 2, 3, 22, 23]].max() == 0.0


def test_pv_yields_and_faulty_homes(data: CityLearnData) -> None:
    assert data.faulty_pv == ("home_14", "home_15")
    good = data.pv_yield.drop(list(data.faulty_pv))
    assert good.between(1200, 1850).all()
    assert data.pv_yield["home_14"] == pytest.approx(493, abs=1)
    assert data.pv_yield["home_15"] == pytest.approx(29, abs=1)


def test_detect_faulty_pv_rule() -> None:
    index = pd.date_range(FIRST, periods=48, freq="1h")
    base = np.tile(np.r_[np.zeros(12), np.ones(12) * 0.5], 2)
    frame = pd.DataFrame(
        {"a": base, "b": base * 0.9, "c": base * 1.1, "d": base * 0.44, "e": base * 0.46},
        index=index,
    )
    assert detect_faulty_pv(frame) == ("d",)  # median 0.9: threshold 0.45
    assert detect_faulty_pv(frame, rel_threshold=0.0) == ()
    with pytest.raises(DataError, match="rel_threshold"):
        detect_faulty_pv(frame, rel_threshold=1.5)


def test_loader_is_cached_and_documented(data: CityLearnData) -> None:
    assert load_citylearn() is data
    assert "MIT" in data.licence
    assert "Fontana" in data.source
    assert "10.1145/3360322.3360998" in data.citation
    doc = load_citylearn.__doc__ or ""
    assert "MIT" in doc and "Fontana" in doc


def test_shipped_files() -> None:
    parquet = DATA_DIR / "citylearn_2022.parquet"
    assert parquet.stat().st_size < 1_500_000
    meta = json.loads(pq.read_schema(parquet).metadata[METADATA_KEY.encode()])
    assert meta["faulty_pv"] == ["home_14", "home_15"]
    assert meta["battery"]["home_01"]["capacity_kwh"] == 6.4
    licence = (DATA_DIR / "CITYLEARN_LICENSE.txt").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Vazquez-Canteli" in licence
    assert "Permission is hereby granted" in licence


@pytest.mark.skipif(not WHEEL.is_file(), reason="CityLearn wheel not available offline")
def test_extract_script_reproduces_shipped_data(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "extract_citylearn.py"
    spec = importlib.util.spec_from_file_location("extract_citylearn", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.extract(WHEEL, tmp_path)
    assert summary["faulty_pv"] == ["home_14", "home_15"]
    fresh = pq.read_table(tmp_path / "citylearn_2022.parquet")
    shipped = pq.read_table(DATA_DIR / "citylearn_2022.parquet")
    assert fresh.equals(shipped)
    assert fresh.schema.metadata == shipped.schema.metadata


# ---- community ----------------------------------------------------------------------


def test_community_default(data: CityLearnData) -> None:
    c = citylearn_community()
    assert isinstance(c, Community)
    assert c.name == "citylearn-2022"
    assert (c.T, c.N, c.dt) == (8760, 17, 1.0)
    assert c.index[0] == FIRST
    assert list(c.ids) == HOMES
    assert "measured" in c.source and "MIT" in c.source
    np.testing.assert_allclose(c.load, data.load.to_numpy())
    expected = data.pv_per_kwp.to_numpy() * data.pv_kwp.to_numpy()
    expected[:, [13, 14]] = 0.0
    np.testing.assert_allclose(c.generation, expected)
    np.testing.assert_allclose(c.retail, data.retail_price.to_numpy())
    assert np.all(c.feed_in == 0.07)
    parts = c.participants.set_index("id")
    assert parts.loc[["home_14", "home_15"], "pv_kwp"].eq(0).all()
    assert parts.loc[["home_14", "home_15"], "role"].eq("consumer").all()
    assert (parts.drop(["home_14", "home_15"])["role"] == "prosumer").all()
    assert parts["battery_kwh"].eq(6.4).all() and parts["battery_kw"].eq(5.0).all()
    np.testing.assert_allclose(
        parts["battery_eff_charge"] * parts["battery_eff_discharge"], 0.9
    )
    assert c.meta["faulty_pv"] == ("home_14", "home_15")


def test_community_options(data: CityLearnData) -> None:
    c = citylearn_community(exclude_faulty_pv=False, with_batteries=False)
    assert c.participants["battery_kwh"].eq(0).all()
    np.testing.assert_allclose(
        c.generation[:, 14], data.pv_per_kwp["home_15"].to_numpy() * 5.0
    )
    sub = citylearn_community([3, "home_14"], feed_in=0.05)
    assert list(sub.ids) == ["home_03", "home_14"]
    assert sub.generation[:, 1].sum() == 0.0
    assert np.all(sub.feed_in == 0.05)


@pytest.mark.parametrize("freq", ["15min", "30min", "150min"])
def test_community_resampled_conserves_energy(freq: str) -> None:
    hourly = citylearn_community()
    c = citylearn_community(freq=freq)
    assert c.T == 8760 * 60 // int(freq.removesuffix("min"))
    np.testing.assert_allclose(c.load.sum(axis=0), hourly.load.sum(axis=0), rtol=1e-9)
    np.testing.assert_allclose(
        c.generation.sum(axis=0), hourly.generation.sum(axis=0), rtol=1e-9
    )
    expected = resample_energy(hourly.load_frame(), freq)
    np.testing.assert_allclose(c.load, expected.to_numpy(), rtol=1e-12)
    # prices: held (sub-hourly) or time-averaged (150 min) within the TOU levels
    assert hourly.retail.min() - 1e-12 <= c.retail.min()
    assert c.retail.max() <= hourly.retail.max() + 1e-12
    np.testing.assert_allclose(c.retail.sum() * c.dt, hourly.retail.sum() * hourly.dt)


def test_community_window(data: CityLearnData) -> None:
    c = citylearn_community(start="2023-01-01T08:00Z", periods=48)
    assert c.index[0] == pd.Timestamp("2023-01-01T08:00Z") and c.T == 48
    pos = data.index.get_loc(pd.Timestamp("2023-01-01T08:00Z"))
    np.testing.assert_allclose(c.load, data.load.to_numpy()[pos : pos + 48])
    # a start inside an hour splits that hour evenly
    q = citylearn_community(["home_01"], start="2022-08-01T07:15Z", periods=3, freq="15min")
    np.testing.assert_allclose(q.load[:, 0], data.load["home_01"].iloc[0] / 4)
    # default periods: whole steps up to the data end
    tail = citylearn_community(start="2023-07-31T07:00Z", freq="150min")
    assert tail.T == 24 * 60 // 150


def test_community_errors() -> None:
    with pytest.raises(DataError, match="outside the CityLearn data year"):
        citylearn_community(start="2022-07-01")
    with pytest.raises(DataError, match="run past the data end"):
        citylearn_community(start="2023-07-31T07:00Z", periods=48)
    with pytest.raises(DataError, match="unknown CityLearn home"):
        citylearn_community([18])
    with pytest.raises(DataError, match="duplicates"):
        citylearn_community([1, "home_01"])
    with pytest.raises(DataError, match="fixed time step"):
        citylearn_community(freq="MS")
    with pytest.raises(DataError, match="feed-in"):
        citylearn_community(feed_in=0.6)
