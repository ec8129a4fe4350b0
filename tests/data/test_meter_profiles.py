"""peergrid.data.meter_profiles: the simulated meters' energy, from the CityLearn homes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from peergrid.core.errors import ConfigError
from peergrid.data import MeterProfiles, load_citylearn


def test_energy_is_the_scaled_home_of_each_meter():
    """Meter i = home i mod 17 × seeded factor (load, then PV draws), × period (h) × 1000 Wh/kWh, split by sign."""
    d = load_citylearn()
    n, seed = 20, 5
    rng = np.random.default_rng(seed)
    f_load, f_pv = rng.uniform(0.8, 1.2, n), rng.uniform(0.8, 1.2, n)
    t = dt.datetime(2023, 8, 3, 21, 15, tzinfo=dt.UTC)  # 13:15 in Fontana, a sunny August day
    h = int((t - d.index[0].to_pydatetime()).total_seconds() // 3600) % 8760
    home = np.arange(n) % 17
    pv_home = d.pv_per_kwp.to_numpy()[h] * d.pv_kwp.to_numpy()
    pv_home[[d.load.columns.get_loc(x) for x in d.faulty_pv]] = 0.0
    load = d.load.to_numpy()[h, home] * f_load * 0.25 * 1000.0
    pv = pv_home[home] * f_pv * 0.25 * 1000.0
    imp, exp, gen = MeterProfiles(n, seed=seed).energy_wh(t, 900)
    np.testing.assert_array_equal(imp, np.rint(np.maximum(load - pv, 0)))
    np.testing.assert_array_equal(exp, np.rint(np.maximum(pv - load, 0)))
    np.testing.assert_array_equal(gen, np.rint(pv))
    assert imp.dtype == exp.dtype == gen.dtype == np.int64
    faulty = np.isin(home, [d.load.columns.get_loc(x) for x in d.faulty_pv])  # their PV is dropped
    assert gen.sum() > 0 and faulty.any() and np.all(gen[faulty] == 0)


def test_same_seed_same_values_and_synthetic_mode():
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    a, b = MeterProfiles(3, seed=2).energy_wh(t, 3600), MeterProfiles(3, seed=2).energy_wh(t, 3600)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    imp, exp, pv = MeterProfiles(4, from_data=False, seed=1).energy_wh(t, 900)
    assert imp.shape == (4,) and exp.sum() == 0 and pv.sum() == 0 and imp.min() > 0


def test_no_meters_is_an_error():
    with pytest.raises(ConfigError, match="meters must be"):
        MeterProfiles(0)
