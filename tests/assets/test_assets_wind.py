"""Tests for peergrid.assets.wind (Tooki et al. eq. 3 and windpowerlib power curves)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid import DataError, ModelError
from peergrid.assets.wind import (
    list_turbines,
    turbine_power_curve,
    wind_power_cubic,
    wind_power_turbine,
)


# ---- Tooki et al. eq. 3 -----------------------------------------------------------------
def test_cubic_hand_values() -> None:
    # cut-in 3, rated 12, cut-out 25, rated 10 kW
    v = np.array([0.0, 2.9, 3.0, 7.5, 12.0, 18.0, 25.0, 25.1, 40.0])
    out = wind_power_cubic(v, rated_kw=10.0)
    assert out.shape == (9, 1)
    # midway between cut-in and rated: rated x (1/2)^3 = 1.25 kW
    np.testing.assert_allclose(out[:, 0], [0, 0, 0, 1.25, 10, 10, 10, 0, 0])


def test_cubic_quarter_point() -> None:
    # v = 4, cut-in 2, rated 10: ((4-2)/8)^3 = 1/64 of 64 kW = 1 kW
    assert wind_power_cubic([4.0], 64.0, cut_in=2.0, rated_speed=10.0)[0, 0] == pytest.approx(1.0)


def test_cubic_broadcasts_participants() -> None:
    v = np.linspace(0, 30, 31)
    out = wind_power_cubic(v, [5.0, 10.0, 0.0], cut_in=[3.0, 2.5, 3.0])
    assert out.shape == (31, 3)
    np.testing.assert_allclose(out[:, 2], 0.0)
    assert out[12, 0] == 5.0 and out[12, 1] == 10.0
    per_participant = np.column_stack([v, v + 1.0])
    out2 = wind_power_cubic(per_participant, [5.0, 5.0])
    np.testing.assert_allclose(out2[:, 1], wind_power_cubic(v + 1.0, 5.0)[:, 0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rated_kw": -1.0}, "rated_kw"),
        ({"cut_in": -1.0}, "cut_in"),
        ({"cut_in": 12.0}, "rated_speed"),
        ({"rated_speed": 30.0}, "cut_out"),
        ({"cut_out": 12.0}, "cut_out"),
        ({"rated_kw": [1.0, 2.0], "cut_in": [1.0, 2.0, 3.0]}, "same length"),
    ],
)
def test_cubic_bad_parameters(kwargs: dict, match: str) -> None:
    args = {"wind_speed": [5.0], "rated_kw": 10.0, **kwargs}
    with pytest.raises(ModelError, match=match):
        wind_power_cubic(**args)


def test_cubic_bad_data() -> None:
    with pytest.raises(DataError, match="wind_speed"):
        wind_power_cubic([np.nan], 1.0)
    with pytest.raises(DataError, match="wind_speed"):
        wind_power_cubic([-1.0], 1.0)


@settings(max_examples=80, deadline=None)
@given(
    speeds=st.lists(st.floats(0, 40), min_size=2, max_size=40),
    rated=st.floats(0, 5000),
    cut_in=st.floats(0, 5),
    span=st.floats(0.5, 15),
    extra=st.floats(0.5, 20),
)
def test_cubic_bounded_and_monotone_below_rated(
    speeds: list[float], rated: float, cut_in: float, span: float, extra: float
) -> None:
    rated_speed = cut_in + span
    cut_out = rated_speed + extra
    v = np.sort(np.asarray(speeds))
    p = wind_power_cubic(v, rated, cut_in, rated_speed, cut_out)[:, 0]
    assert np.all(p >= 0) and np.all(p <= rated * (1 + 1e-12))
    inside = (v >= cut_in) & (v <= rated_speed)
    assert np.all(np.diff(p[inside]) >= -1e-9)
    assert np.all(p[(v > rated_speed) & (v <= cut_out)] == rated)
    assert np.all(p[(v < cut_in) | (v > cut_out)] == 0)


# ---- windpowerlib turbine library ---------------------------------------------------------
def test_list_turbines_offline() -> None:
    table = list_turbines()
    assert len(table) > 50
    assert {"E-126/4200", "E-53/800"} <= set(table["turbine_type"])
    row = table.set_index("turbine_type").loc["E-126/4200"]
    assert row["nominal_power_kw"] == pytest.approx(4200.0)


def test_turbine_power_curve_units() -> None:
    speeds, power = turbine_power_curve("E-126/4200")
    assert np.all(np.diff(speeds) > 0)
    assert power.max() == pytest.approx(4200.0)  # kW, not W
    with pytest.raises(ModelError, match="turbine_type"):
        turbine_power_curve("NoSuchTurbine/1")


def test_turbine_at_hub_height_matches_curve() -> None:
    # Measured at hub height: no profile correction, output equals the curve points.
    speeds, power = turbine_power_curve("E-126/4200")
    out = wind_power_turbine(speeds, "E-126/4200", hub_height=135.0, measurement_height=135.0)
    np.testing.assert_allclose(out, power)


def test_turbine_log_profile_hand_value() -> None:
    # v_hub = 5 * ln(50/0.15) / ln(10/0.15) = 6.9129 m/s, between curve points 6 and 7 m/s
    v_hub = 5.0 * np.log(50 / 0.15) / np.log(10 / 0.15)
    speeds, power = turbine_power_curve("E-53/800")
    expected = np.interp(v_hub, speeds, power)
    out = wind_power_turbine([5.0], "E-53/800", hub_height=50.0)
    assert out[0] == pytest.approx(expected)
    # Hellman with explicit exponent 1/7
    v_hel = 5.0 * (50 / 10) ** (1 / 7)
    out_h = wind_power_turbine([5.0], "E-53/800", hub_height=50.0, wind_profile="hellman",
                               hellman_exponent=1 / 7)
    assert out_h[0] == pytest.approx(np.interp(v_hel, speeds, power))


@pytest.mark.parametrize("turbine", ["E-53/800", "E-126/4200", "V90/2000"])
def test_turbine_output_bounded(turbine: str) -> None:
    v = np.linspace(0, 40, 401)
    out = wind_power_turbine(v, turbine)
    nominal = list_turbines().set_index("turbine_type").loc[turbine, "nominal_power_kw"]
    _, power = turbine_power_curve(turbine)
    assert np.all(out >= 0)
    assert out.max() <= power.max() + 1e-9
    assert out.max() <= 1.03 * nominal  # manufacturer curves peak at most ~2.5 % above nameplate
    assert out[-1] == 0.0  # beyond cut-out


def test_turbine_scaled_to_rated_kw() -> None:
    v = np.linspace(0, 30, 61)
    out = wind_power_turbine(v, "E-53/800", rated_kw=[5.0, 20.0, 0.0])
    assert out.shape == (61, 3)
    assert out[:, 0].max() == pytest.approx(5.0)
    np.testing.assert_allclose(out[:, 1], 4 * out[:, 0])
    np.testing.assert_allclose(out[:, 2], 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"turbine_type": "Nope/1"}, "turbine_type"),
        ({"hub_height": -5.0}, "hub_height"),
        ({"roughness_length": 0.0}, "roughness_length"),
        ({"roughness_length": 20.0}, "roughness_length"),
        ({"wind_profile": "cubic"}, "wind_profile"),
        ({"wind_profile": "hellman", "hellman_exponent": -0.1}, "hellman_exponent"),
        ({"hellman_exponent": 0.14}, "hellman_exponent"),
        ({"rated_kw": -2.0}, "rated_kw"),
        ({"turbine_type": "V112/3000"}, "hub_height"),  # no hub height listed
    ],
)
def test_turbine_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        wind_power_turbine([5.0, 6.0], **kwargs)


def test_turbine_bad_data() -> None:
    with pytest.raises(DataError, match="wind_speed"):
        wind_power_turbine([np.inf])
