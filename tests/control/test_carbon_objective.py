"""CO2 objective of the controllers (issue 17, item 6): objective_view and simulate(objective=...)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peergrid
from peergrid import Community, ConfigError
from peergrid.control import OBJECTIVES, check_objective, objective_view
from peergrid.control.prices import CO2_TIE_BREAK
from peergrid.data import citylearn_community


def _one_battery(days: int = 1) -> Community:
    """One member with a 2 kWh battery (empty, lossless) and 2 kWh of load in the last hour of each day.

    Hour 0 is cheap but dirty (0.10 currency/kWh, 0.6 kg/kWh), hour 1 dearer but clean (0.20, 0.1),
    the load's hour is the dearest (0.40, 0.3): the cost objective charges in hour 0 (cost 0.20 per
    day, 1.2 kg), the CO2 objective in hour 1 (cost 0.40, 0.2 kg); without the battery 0.80 and 0.6 kg.
    """
    T = 4 * days
    idx = pd.date_range("2022-01-01", periods=T, freq="1h", tz="UTC")
    parts = pd.DataFrame(
        {"id": ["a"], "battery_kwh": [2.0], "battery_kw": [2.0], "battery_eff_charge": [1.0],
         "battery_eff_discharge": [1.0], "soc_min": [0.0], "soc_init": [0.0]}
    )  # fmt: skip
    load = np.tile([0.0, 0.0, 0.0, 2.0], days)[:, None]
    return Community(
        idx, parts, load, np.zeros((T, 1)), retail=np.tile([0.10, 0.20, 0.40, 0.40], days), feed_in=0.0,
        carbon_intensity=np.tile([0.6, 0.1, 0.3, 0.3], days),
    )  # fmt: skip


@pytest.mark.parametrize("control", ["lp", "lp-community"])
def test_co2_objective_moves_charging_to_the_clean_hour(control):
    com = _one_battery()
    cost = peergrid.simulate(com, market="baseline", control=control)
    co2 = peergrid.simulate(com, market="baseline", control=control, objective="co2")
    assert cost.battery.charge[:, 0].tolist() == pytest.approx([2.0, 0.0, 0.0, 0.0])
    assert co2.battery.charge[:, 0].tolist() == pytest.approx([0.0, 2.0, 0.0, 0.0])
    assert cost.metrics["emissions_kg"] == pytest.approx(1.2)
    assert co2.metrics["emissions_kg"] == pytest.approx(0.2)
    assert cost.metrics["community_cost"] == pytest.approx(0.2)
    assert co2.metrics["community_cost"] == pytest.approx(0.4)  # markets bill the grid prices, not the view


def test_cost_plus_co2_switches_at_the_break_even_price():
    # charging in hour 1 instead of hour 0 costs 0.10 × 2 more and saves 0.5 × 2 kg: break-even 0.2 /kg
    com = _one_battery()
    low = peergrid.simulate(com, "baseline", "lp", objective="cost+co2", co2_price=0.1)
    high = peergrid.simulate(com, "baseline", "lp", objective="cost+co2", co2_price=0.3)
    assert low.battery.charge[0, 0] == pytest.approx(2.0)
    assert high.battery.charge[1, 0] == pytest.approx(2.0)


def test_mpc_follows_the_objective():
    com = _one_battery(days=6)  # MPC plans on persistence forecasts: the pattern repeats daily
    cost = peergrid.simulate(com, "baseline", "mpc")
    co2 = peergrid.simulate(com, "baseline", "mpc", objective="co2")
    assert co2.metrics["emissions_kg"] < cost.metrics["emissions_kg"] - 1.0
    assert co2.metrics["community_cost"] > cost.metrics["community_cost"]


def test_objective_view_prices():
    com = _one_battery()
    assert objective_view(com, "cost") is com  # the default objective: the community itself
    v = objective_view(com, "cost+co2", co2_price=0.5)
    assert v.retail == pytest.approx(com.retail + 0.5 * com.carbon_intensity)
    assert np.array_equal(v.feed_in, com.feed_in)  # export earns no CO2 credit
    v = objective_view(com, "co2")
    assert v.retail == pytest.approx(com.carbon_intensity + CO2_TIE_BREAK * com.retail)
    assert v.load is com.load and np.array_equal(com.retail, [0.10, 0.20, 0.40, 0.40])


def test_default_objective_is_bit_identical():
    com = citylearn_community(homes=[1, 2, 3, 4], periods=48)
    plain = peergrid.compare(com, markets=["baseline", "sdr"], control="lp")
    same = peergrid.compare(com, markets=["baseline", "sdr"], control="lp", objective="cost", co2_price=0.0)
    no_ci = peergrid.compare(
        Community(com.index, com.participants, com.load, com.generation, com.retail, com.feed_in),
        markets=["baseline", "sdr"], control="lp",
    )  # fmt: skip
    for other in (same, no_ci):
        assert np.array_equal(plain["sdr"].net, other["sdr"].net)
        assert np.array_equal(plain["sdr"].battery.charge, other["sdr"].battery.charge)
        assert plain["sdr"].metrics["community_cost"] == other["sdr"].metrics["community_cost"]


@pytest.mark.parametrize(("control", "market"), [("lp", "baseline"), ("lp-community", "sdr")])
def test_co2_objective_on_real_data_lowers_emissions(control, market):
    # each building's LP minimises its own grid import's emissions (seen without P2P, the baseline);
    # the joint LP the community's at the point of common coupling (seen under a pool rule)
    com = citylearn_community(homes=[1, 2, 3, 4, 5], periods=24 * 4)
    cost = peergrid.simulate(com, market, control)
    co2 = peergrid.simulate(com, market, control, objective="co2")
    assert co2.metrics["emissions_kg"] < cost.metrics["emissions_kg"] - 1.0
    assert co2.metrics["community_cost"] >= cost.metrics["community_cost"] - 1e-6


def test_price_response_under_co2_keeps_the_lowest_emissions():
    com = citylearn_community(homes=[1, 2, 3, 4, 5], periods=48)
    res = peergrid.simulate(com, "sdr", "lp", coordination="price-response", objective="co2", max_iterations=3)
    blind = peergrid.simulate(com, "sdr", "lp", objective="co2")
    assert res.coordination is not None
    assert res.metrics["emissions_kg"] <= blind.metrics["emissions_kg"] + CO2_TIE_BREAK * 10


@pytest.mark.parametrize(
    ("objective", "price", "match"),
    [("money", 0.0, "unknown objective"), ("co2", 0.1, "applies to"), ("cost+co2", -1.0, ">= 0"),
     ("cost", float("inf"), ">= 0")],
)  # fmt: skip
def test_check_objective_errors(objective, price, match):
    with pytest.raises(ConfigError, match=match):
        check_objective(objective, price)


def test_co2_objective_needs_an_intensity():
    com = _one_battery()
    com.carbon_intensity = None
    with pytest.raises(ConfigError, match="carbon intensity"):
        peergrid.simulate(com, "sdr", "lp", objective="co2")
    assert check_objective(" Cost+CO2 ", 1.0) == "cost+co2" and OBJECTIVES == ("cost", "co2", "cost+co2")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.integers(4, 24))
def test_each_objective_is_optimal_for_itself(seed, T):
    """One home with a battery (baseline: its import is the community's): the CO2 plan never emits more
    than the cost plan, the cost plan never costs more than the CO2 plan (both plans are feasible for both)."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-01-01", periods=T, freq="1h", tz="UTC")
    parts = pd.DataFrame({"id": ["a"], "battery_kwh": [rng.uniform(1, 5)], "battery_kw": [rng.uniform(0.5, 3)],
                          "soc_init": [rng.uniform(0.1, 1.0)]})  # fmt: skip
    retail = rng.uniform(0.1, 0.5, T)
    com = Community(
        idx, parts, rng.uniform(0, 2, (T, 1)), rng.uniform(0, 2, (T, 1)) * (rng.random((T, 1)) < 0.5),
        retail=retail, feed_in=retail * rng.uniform(0, 1), carbon_intensity=rng.uniform(0.05, 0.8, T),
    )  # fmt: skip
    cost = peergrid.simulate(com, "baseline", "lp").metrics
    co2 = peergrid.simulate(com, "baseline", "lp", objective="co2").metrics
    assert co2["emissions_kg"] <= cost["emissions_kg"] + 1e-6
    assert cost["community_cost"] <= co2["community_cost"] + 1e-6
