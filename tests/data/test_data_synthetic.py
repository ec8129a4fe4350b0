"""Tests of synthetic communities built from the measured CityLearn homes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peergrid.core.community import Community
from peergrid.core.errors import DataError
from peergrid.data import (
    daily_energy_stats,
    load_citylearn,
    resample_energy,
    synthetic_community,
)


@pytest.fixture(scope="module")
def big() -> Community:
    return synthetic_community(2000, seed=3)


def test_reproducible_with_seed() -> None:
    a = synthetic_community(40, periods=24 * 14, seed=7)
    b = synthetic_community(40, periods=24 * 14, seed=7)
    np.testing.assert_array_equal(a.load, b.load)
    np.testing.assert_array_equal(a.generation, b.generation)
    pd.testing.assert_frame_equal(a.participants, b.participants)
    np.testing.assert_array_equal(a.retail, b.retail)
    c = synthetic_community(40, periods=24 * 14, seed=8)
    assert not np.array_equal(a.load, c.load)
    assert not a.participants["pv_kwp"].equals(c.participants["pv_kwp"])


def test_generator_seed_accepted() -> None:
    a = synthetic_community(10, periods=48, seed=np.random.default_rng(5))
    b = synthetic_community(10, periods=48, seed=5)
    np.testing.assert_array_equal(a.load, b.load)


def test_shapes_and_table(big: Community) -> None:
    assert (big.T, big.N, big.dt) == (8760, 2000, 1.0)
    assert big.index[0] == pd.Timestamp("2022-08-01T00:00Z")
    p = big.participants
    assert p["id"].iloc[0] == "h00000" and p["id"].iloc[-1] == "h01999"
    assert p["phase"].iloc[:6].tolist() == ["a", "b", "c", "a", "b", "c"]
    assert p["node"].iloc[[0, 9, 10, 1999]].tolist() == [0, 0, 1, 199]
    assert p["source_home"].str.match(r"home_(0[1-9]|1[0-7])$").all()
    assert p["source_home"].nunique() == 17
    assert "synthetic members built from the 17 measured CityLearn 2022 homes" in big.source
    assert "(scaling, day shifting)" in big.source


def test_counts_of_pv_and_batteries(big: Community) -> None:
    p = big.participants
    pv = p["pv_kwp"] > 0
    batt = p["battery_kwh"] > 0
    assert pv.sum() == 1000 and batt.sum() == 600
    assert (p.loc[batt, "pv_kwp"] > 0).all()  # fewer batteries than PV owners: PV first
    assert (p["role"] == np.where(pv, "prosumer", "consumer")).all()
    assert p.loc[pv, "pv_kwp"].between(3.0, 8.0).all()
    assert p.loc[batt, "battery_kwh"].between(5.0, 13.5).all()
    np.testing.assert_allclose(p["battery_kw"], p["battery_kwh"] / 2)
    assert (p["battery_eff_charge"] == 0.95).all() and (p["battery_eff_discharge"] == 0.95).all()
    assert big.generation[:, ~pv.to_numpy()].sum() == 0.0


def test_more_batteries_than_pv_owners() -> None:
    c = synthetic_community(100, periods=48, pv_share=0.2, battery_share=0.5, seed=1)
    p = c.participants
    pv = p["pv_kwp"] > 0
    batt = p["battery_kwh"] > 0
    assert pv.sum() == 20 and batt.sum() == 50
    assert batt[pv].all()  # every PV owner has one
    assert (batt & ~pv).sum() == 30


def test_tooki_n_prosumers() -> None:
    c = synthetic_community(260, periods=24 * 7, n_prosumers=14, battery_share=0.0, seed=2)
    s = c.summary()
    assert s["prosumers"] == 14 and s["consumers"] == 246 and s["batteries"] == 0


def test_realistic_daily_energy(big: Community) -> None:
    stats = daily_energy_stats(big)
    assert stats["households"] == 2000 and stats["days"] == 365.0
    assert 25.0 < stats["daily_kwh_mean"] < 30.0  # CityLearn homes: 27.3 kWh/day
    assert 9.0 < stats["daily_kwh_p5"] < 16.0
    assert 22.0 < stats["daily_kwh_p50"] < 28.0
    assert 42.0 < stats["daily_kwh_p95"] < 58.0
    assert stats["pv_owners"] == 1000
    assert 1200 <= stats["pv_yield_min"] <= stats["pv_yield_max"] <= 1850
    assert 1400 < stats["pv_yield_mean"] < 1650


def test_no_faulty_pv_profiles_used(big: Community) -> None:
    sources = set(big.meta["pv_source_home"]) - {""}
    assert sources.isdisjoint(load_citylearn().faulty_pv)
    assert len(sources) == 15


def test_scale_sigma_zero_reproduces_measured_levels() -> None:
    data = load_citylearn()
    c = synthetic_community(50, start="2022-08-01T07:00Z", seed=4, scale_sigma=0.0)
    homes = c.participants["source_home"]
    np.testing.assert_allclose(
        c.load.sum(axis=0), data.load[homes].sum(axis=0).to_numpy(), rtol=1e-9
    )


def test_day_shift_zero_copies_homes() -> None:
    data = load_citylearn()
    c = synthetic_community(
        20, start="2022-08-01T07:00Z", seed=4, scale_sigma=0.0, day_shift=0
    )
    homes = c.participants["source_home"]
    np.testing.assert_allclose(c.load, data.load[homes].to_numpy())


def test_15min_shapes_and_conservation() -> None:
    fine = synthetic_community(30, periods=35040, freq="15min", seed=11)
    hourly = synthetic_community(30, periods=8760, freq="1h", seed=11)
    assert fine.load.shape == (35040, 30) and fine.dt == 0.25
    assert fine.index.freq == pd.Timedelta("15min")
    back = resample_energy(fine.load_frame(), "1h").to_numpy()
    np.testing.assert_allclose(back, hourly.load, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        fine.generation.sum(axis=0), hourly.generation.sum(axis=0), rtol=1e-9
    )
    stats = daily_energy_stats(fine)
    assert stats["days"] == 365.0


def test_150min_and_multi_year() -> None:
    c = synthetic_community(10, periods=3504, freq="150min", seed=0)
    assert c.T == 3504 and c.dt == 2.5
    two = synthetic_community(10, periods=2 * 8760, seed=0)
    np.testing.assert_array_equal(two.load[:8760], two.load[8760:])
    one = synthetic_community(10, periods=8760, seed=0)
    np.testing.assert_array_equal(two.load[:8760], one.load)


def test_start_off_the_hour() -> None:
    c = synthetic_community(5, start="2022-08-01T00:30Z", periods=8760, seed=0)
    ref = synthetic_community(5, start="2022-08-01T00:00Z", periods=8761, seed=0)
    # first step = second half of hour 0 + first half of hour 1
    np.testing.assert_allclose(c.load[0], 0.5 * (ref.load[0] + ref.load[1]))


def test_tariffs() -> None:
    c = synthetic_community(5, periods=48, seed=0)
    assert set(np.round(c.retail, 6)) <= {0.21, 0.22, 0.4, 0.5, 0.54}
    assert np.all(c.feed_in == 0.07)
    d = synthetic_community(5, periods=48, seed=0, retail=0.3, feed_in=0.1)
    assert np.all(d.retail == 0.3) and np.all(d.feed_in == 0.1)


def test_no_pv() -> None:
    c = synthetic_community(8, periods=24, pv_share=0.0, battery_share=0.0, seed=0)
    assert c.generation.sum() == 0.0
    assert daily_energy_stats(c)["pv_yield_mean"] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_households": 0}, "n_households"),
        ({"n_households": 2.5}, "n_households"),
        ({"pv_share": 1.5}, "pv_share"),
        ({"battery_share": -0.1}, "battery_share"),
        ({"n_prosumers": 11}, "n_prosumers"),
        ({"pv_kwp_range": (5.0, 3.0)}, "pv_kwp_range"),
        ({"battery_kwh_range": (0.0, 3.0)}, "battery_kwh_range"),
        ({"scale_sigma": -1.0}, "scale_sigma"),
        ({"day_shift": 400}, "day_shift"),
        ({"freq": "MS"}, "freq"),
        ({"periods": 0}, "periods"),
    ],
)
def test_errors(kwargs: dict, match: str) -> None:
    args = {"n_households": 10, "periods": 24, **kwargs}
    with pytest.raises(DataError, match=match):
        synthetic_community(**args)
