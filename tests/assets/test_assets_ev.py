"""Tests for peergrid.assets.ev (availability, requirements, immediate charging, fleet)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peergrid import DataError, ModelError
from peergrid.assets.ev import (
    ev_availability,
    ev_immediate_charging,
    ev_required_energy,
    synthetic_ev_fleet,
)
from peergrid.core.timeindex import make_index


# ---- availability ------------------------------------------------------------------------------
def test_availability_overnight_and_daytime_windows() -> None:
    idx = make_index("2024-01-01", 48, "1h")
    avail = ev_availability(idx, [18.0, 8.5, 22.0], [7.0, 17.25, 23.5])
    assert avail.shape == (48, 3) and avail.dtype == bool
    hours = np.arange(48) % 24
    np.testing.assert_array_equal(avail[:, 0], (hours >= 18) | (hours < 7))
    # 08:30-17:15 with hourly steps: whole steps 09:00 ... 16:00
    np.testing.assert_array_equal(avail[:, 1], (hours >= 9) & (hours <= 16))
    # 22:00-23:30: only the 22:00 step fits entirely
    np.testing.assert_array_equal(avail[:, 2], hours == 22)


def test_availability_local_time_zone_and_dst() -> None:
    # 2024-03-31: Europe/Berlin switches from UTC+1 to UTC+2.
    idx = make_index("2024-03-30 00:00", 48, "1h")
    avail = ev_availability(idx, 18.0, 7.0, tz="Europe/Berlin")[:, 0]
    plugged_utc_hours = idx[avail].hour.tolist()
    # 30 Mar: until 07:00 CET = 06:00 UTC; evening from 18:00 CET = 17:00 UTC;
    # 31 Mar: until 07:00 CEST = 05:00 UTC; evening from 18:00 CEST = 16:00 UTC.
    assert plugged_utc_hours == [*range(0, 6), *range(17, 24), *range(0, 5), *range(16, 24)]


def test_availability_sub_hourly_fractional_hours() -> None:
    idx = make_index("2024-01-01", 96, "15min")
    avail = ev_availability(idx, 18.25, 6.75)[:, 0]
    local = idx.hour + idx.minute / 60
    np.testing.assert_array_equal(avail, (local >= 18.25) | (local < 6.75))


@pytest.mark.parametrize(
    ("arrival", "departure", "match"),
    [(24.0, 7.0, "arrival_hour"), (18.0, -1.0, "departure_hour"), (8.0, 8.0, "equals"),
     ([18.0, 19.0], [7.0, 7.0, 8.0], "same length")],
)
def test_availability_bad_parameters(arrival: object, departure: object, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        ev_availability(make_index("2024-01-01", 24, "1h"), arrival, departure)


def test_availability_bad_index() -> None:
    with pytest.raises(DataError):
        ev_availability(pd.date_range("2024-01-01", periods=4, freq="h"), 18.0, 7.0)


# ---- requirements ------------------------------------------------------------------------------
def test_required_energy_hand_values() -> None:
    out = ev_required_energy([50.0, 60.0, 40.0], [0.4, 0.9, 0.3], 0.8)
    np.testing.assert_allclose(out, [20.0, 0.0, 20.0])
    with pytest.raises(ModelError, match="battery_kwh"):
        ev_required_energy(-1.0, 0.4, 0.8)
    with pytest.raises(ModelError, match="soc_arrival"):
        ev_required_energy(50.0, 1.4, 0.8)
    with pytest.raises(ModelError, match="soc_departure_required"):
        ev_required_energy(50.0, 0.4, -0.1)


# ---- immediate charging ------------------------------------------------------------------
def test_immediate_charging_hand_values() -> None:
    avail = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0], dtype=bool)
    # 11 kW x 0.5 h = 5.5 kWh per step; 12 kWh needed per session
    out = ev_immediate_charging(avail, 12.0, 11.0, 0.5)
    np.testing.assert_allclose(out[:, 0], [0, 5.5, 5.5, 1.0, 0, 0, 5.5, 5.5, 0])


def test_immediate_charging_per_session_requirements() -> None:
    avail = np.array([[1, 1], [1, 0], [0, 1], [1, 1], [1, 1]], dtype=bool)
    req = np.array([[3.0, 1.0], [99.0, 99.0], [99.0, 10.0], [4.0, 99.0], [99.0, 99.0]])
    out = ev_immediate_charging(avail, req, [2.0, 4.0], 1.0)
    # EV0: session steps 0-1 needs 3 -> 2, 1; session steps 3-4 needs 4 -> 2, 2
    # EV1: session step 0 needs 1 -> 1; session steps 2-4 needs 10 -> 4, 4, 2
    np.testing.assert_allclose(out, [[2, 1], [1, 0], [0, 4], [2, 4], [2, 2]])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"power_kw": -1.0}, ModelError, "power_kw"),
        ({"dt_hours": 0.0}, ModelError, "dt_hours"),
        ({"required_kwh_per_session": -3.0}, ModelError, "required_kwh_per_session"),
        ({"required_kwh_per_session": [1.0, 2.0, 3.0]}, DataError, "required_kwh_per_session"),
        ({"power_kw": [1.0, 2.0, 3.0]}, DataError, "power_kw"),
        ({"availability": np.full((4, 2), 2)}, DataError, "availability"),
    ],
)
def test_immediate_charging_bad_inputs(kwargs: dict, exc: type, match: str) -> None:
    args = {"availability": np.ones((4, 2), dtype=bool), "required_kwh_per_session": 5.0,
            "power_kw": 3.0, "dt_hours": 1.0, **kwargs}
    with pytest.raises(exc, match=match):
        ev_immediate_charging(**args)


def _sessions(mask: np.ndarray) -> list[tuple[int, int]]:
    """Reference: (start, stop) of contiguous True blocks, with a plain loop."""
    out, start = [], None
    for t, on in enumerate(mask):
        if on and start is None:
            start = t
        if not on and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, len(mask)))
    return out


@settings(max_examples=80, deadline=None)
@given(
    avail=arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 4))),
    req=st.floats(0, 60),
    power=st.floats(0, 22),
    dt=st.sampled_from([0.25, 0.5, 1.0]),
)
def test_immediate_charging_properties(
    avail: np.ndarray, req: float, power: float, dt: float
) -> None:
    out = ev_immediate_charging(avail, req, power, dt)
    cap = power * dt
    assert out.shape == avail.shape
    assert np.all(out >= 0)
    assert np.all(out <= cap + 1e-12)  # never above power x dt
    assert np.all(out[~avail] == 0)  # never when unplugged
    for i in range(avail.shape[1]):
        for start, stop in _sessions(avail[:, i]):
            delivered = out[start:stop, i].sum()
            assert delivered == pytest.approx(min(req, cap * (stop - start)), abs=1e-9)


def test_immediate_charging_with_fleet_end_to_end() -> None:
    fleet = synthetic_ev_fleet(50, seed=3)
    idx = make_index("2024-01-01", 96 * 7, "15min")
    avail = ev_availability(idx, fleet["arrival_hour"], fleet["departure_hour"],
                            tz="Europe/Berlin")
    out = ev_immediate_charging(avail, fleet["required_kwh"], fleet["charger_kw"], 0.25)
    assert out.shape == (96 * 7, 50)
    # A full night at 11 kW covers every requirement (≤ 0.5 x 75 kWh = 37.5 kWh).
    assert out.sum() > 0.8 * 7 * fleet["required_kwh"].sum()


# ---- synthetic fleet -----------------------------------------------------------------------
def test_synthetic_fleet_distributions_and_reproducibility() -> None:
    fleet = synthetic_ev_fleet(4000, seed=7)
    again = synthetic_ev_fleet(4000, seed=np.random.default_rng(7))
    pd.testing.assert_frame_equal(fleet, again)
    assert list(fleet.columns) == ["id", "arrival_hour", "departure_hour", "battery_kwh",
                                   "soc_arrival", "soc_departure_required", "required_kwh",
                                   "charger_kw"]
    assert fleet["arrival_hour"].mean() == pytest.approx(18.0, abs=0.1)
    assert fleet["arrival_hour"].std() == pytest.approx(1.5, abs=0.1)
    assert fleet["departure_hour"].mean() == pytest.approx(7.5, abs=0.1)
    assert fleet["departure_hour"].std() == pytest.approx(1.0, abs=0.1)
    assert fleet["battery_kwh"].between(40, 75).all()
    assert fleet["soc_arrival"].between(0.3, 0.6).all()
    assert (fleet["soc_departure_required"] == 0.8).all()
    np.testing.assert_allclose(
        fleet["required_kwh"], fleet["battery_kwh"] * (0.8 - fleet["soc_arrival"])
    )
    assert not synthetic_ev_fleet(5, seed=1).equals(synthetic_ev_fleet(5, seed=2))
    assert len(synthetic_ev_fleet(0, seed=1)) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": -1}, "n must"), ({"n": 2.5}, "n must"), ({"n": 3, "charger_kw": 0.0}, "charger_kw"),
     ({"n": 3, "soc_departure_required": 1.2}, "soc_departure_required")],
)
def test_synthetic_fleet_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        synthetic_ev_fleet(**kwargs)
