"""Lange (2025) ESS utilisation and performance increase against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

import peergrid
from peergrid import metrics as M
from peergrid.core import make_index
from peergrid.metrics import METRICS


def test_storage_throughput_is_charge_plus_discharge():
    # "the total amount of charging and discharging in the ESS"
    assert M.storage_throughput(30.0, 27.0) == 57.0
    assert M.storage_throughput(0.0, 0.0) == 0.0


def test_storage_utilisation_is_full_cycles_per_day():
    # 10 kWh installed, 2 days: one full charge + discharge a day = 2 · 10 · 2 = 40 kWh
    assert M.storage_utilisation(40.0, 10.0, 48.0) == pytest.approx(1.0)
    assert M.storage_utilisation(10.0, 10.0, 24.0) == pytest.approx(0.5)  # half a cycle in one day
    assert math.isnan(M.storage_utilisation(5.0, 0.0, 24.0))  # no storage
    assert math.isnan(M.storage_utilisation(5.0, 10.0, 0.0))  # no horizon


def test_pm_increase_relative_to_the_comparator():
    assert M.pm_increase(0.42, 0.40) == pytest.approx(0.05)  # Lange's ≈ 5 %
    assert M.pm_increase(0.40, 0.42) == pytest.approx(-0.02 / 0.42)
    assert M.pm_increase(-0.1, -0.2) == pytest.approx(0.5)  # BS can have PM < 0: less negative is better
    assert math.isnan(M.pm_increase(0.3, 0.0))
    assert math.isnan(M.pm_increase(float("nan"), 0.3))


def test_ess_utilisation_keeps_its_keys_and_adds_throughput():
    u = M.ess_utilisation(1000.0, 900.0, 10.0)
    assert u["storage_throughput_kwh"] == pytest.approx(1900.0)
    assert "storage_utilisation" not in u
    u = M.ess_utilisation(1000.0, 900.0, 10.0, hours=24.0 * 95)
    assert u["storage_utilisation"] == pytest.approx(1900.0 / (2 * 10.0 * 95))
    assert u["ess_equivalent_cycles"] == pytest.approx(90.0)


def test_registry_names_the_new_metrics():
    for key in ("storage_throughput_kwh", "storage_utilisation", "pm_increase"):
        assert METRICS[key].core and METRICS[key].reference.startswith("Lange (2025)")
    assert METRICS["pm_increase"].format(0.05) == "5.0 %"
    assert METRICS["storage_utilisation"].format(0.5) == "0.500 cycles/day"


def test_simulation_reports_throughput_of_the_schedule_by_hand():
    # one home, 10 kWh / 5 kW battery (100 % efficient), 4 hourly steps: surplus 3, 2, then deficit 4, 1 kWh
    idx = make_index("2022-06-01", 4, "1h")
    load = np.array([[0.0], [0.0], [4.0], [1.0]])
    gen = np.array([[3.0], [2.0], [0.0], [0.0]])
    parts = pd.DataFrame(
        {"id": ["h0"], "battery_kwh": [10.0], "battery_kw": [5.0], "soc_init": [0.0], "soc_min": [0.0],
         "battery_eff_charge": [1.0], "battery_eff_discharge": [1.0]}
    )  # fmt: skip
    com = peergrid.Community(idx, parts, load, gen, retail=0.3, feed_in=0.1)
    res = peergrid.simulate(com, market="sdr", control="greedy")
    # greedy: charge 3 + 2 = 5 kWh, discharge 4 + 1 = 5 kWh → throughput 10 kWh
    assert res.metrics["storage_throughput_kwh"] == pytest.approx(10.0)
    # 10 kWh / (2 · 10 kWh · 4/24 day) = 3 cycles a day
    assert res.metrics["storage_utilisation"] == pytest.approx(3.0)
