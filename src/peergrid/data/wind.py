"""Wind speed series and wind generation for communities (offline data).

Two kinds of wind-speed source:

* **typical years shipped with pvlib** (NREL TMY3 files inside the ``pvlib`` wheel, public
  domain, nothing downloaded): ``"tmy3"`` — Greensboro Piedmont Triad International
  airport, North Carolina (``723170TYA.CSV``, mean 3.1 m/s at 10 m), and
  ``"tmy3-sand-point"`` — Sand Point, Alaska (``703165TY.csv``, a windy coastal site,
  mean 5.1 m/s). A typical year has no date: a step takes the value of the same local
  clock hour of the year (month, day, hour; 29 February repeats 28 February) in the
  community's time zone, so the series stands in for the wind at the community's site;
* **dated measurements** in a CSV file: a timestamp column and a wind-speed column (m/s);
  every step takes the value in force at its start (the file must cover the window).

:func:`wind_generation` turns the speed at the anemometer height into energy per step of
turbines with a rated power per participant (``wind_kw`` of the participants table): the
speed is carried to the hub height with the logarithmic profile, then through the cubic
power curve of Tooki et al. (2025), eq. 3 (:func:`peergrid.assets.wind.wind_power_cubic`)
or a windpowerlib turbine's power curve normalised to the rated power
(:func:`peergrid.assets.wind.wind_power_turbine`). Power is evaluated on sub-steps that lie
inside one data hour and summed to energy per step (no averaging of speeds before the cubic
curve).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from peergrid.core.errors import ConfigError, DataError

__all__ = ["TMY3_SITES", "WindSpeed", "read_wind_speed", "tmy3_wind_speed", "wind_generation", "wind_per_kw"]

#: Shipped typical-year sources: name -> (pvlib data file, description).
TMY3_SITES: dict[str, tuple[str, str]] = {
    "tmy3": ("723170TYA.CSV", "Greensboro Piedmont Triad Int'l airport, NC (NREL TMY3 723170, shipped with pvlib)"),
    "tmy3-sand-point": ("703165TY.csv", "Sand Point, AK (NREL TMY3 703165, shipped with pvlib)"),
}


@dataclass(frozen=True)
class WindSpeed:
    """A wind-speed source.

    Attributes
    ----------
    speed : numpy.ndarray
        Wind speed, m/s: 8,760 hourly values of a typical year (``typical=True``) or the
        values of ``times``.
    times : pandas.DatetimeIndex or None
        UTC timestamps of a dated series (each value holds from its timestamp on); None for
        a typical year.
    height : float
        Anemometer height, m.
    source : str
        Provenance.
    """

    speed: np.ndarray
    times: pd.DatetimeIndex | None
    height: float
    source: str

    @property
    def typical(self) -> bool:
        """A typical year (mapped by local clock hour), not a dated series."""
        return self.times is None

    def at(self, starts: pd.DatetimeIndex, tz: str) -> np.ndarray:
        """Wind speed in force at each timestamp, m/s.

        Parameters
        ----------
        starts : pandas.DatetimeIndex
            UTC timestamps.
        tz : str
            Community time zone (the clock of a typical year).
        """
        if self.times is None:
            local = starts.tz_convert(tz)
            doy = local.dayofyear.to_numpy()
            leap = local.is_leap_year
            doy = np.where(leap & (doy >= 60), doy - 1, doy)  # 29 Feb repeats 28 Feb
            pos = (doy - 1) * 24 + local.hour.to_numpy()
            return self.speed[np.minimum(pos, len(self.speed) - 1)]
        first = self.times[0]
        step = self.times.to_series().diff().median() if len(self.times) > 1 else pd.Timedelta(1, "ns")
        end = self.times[-1] + step
        if len(starts) and (starts[0] < first or starts[-1] >= end):
            raise DataError(
                f"{self.source}: wind speeds cover {first.isoformat()} .. {end.isoformat()}, "
                f"the steps {starts[0].isoformat()} .. {starts[-1].isoformat()}"
            )
        pos = self.times.searchsorted(starts, side="right") - 1
        return self.speed[pos]


@functools.cache
def tmy3_wind_speed(site: str = "tmy3") -> WindSpeed:
    """The wind speed of a typical year shipped with pvlib (offline).

    Parameters
    ----------
    site : {"tmy3", "tmy3-sand-point"}
        See :data:`TMY3_SITES`.

    Returns
    -------
    WindSpeed
        8,760 hourly values, m/s, at 10 m (TMY3 ``Wspd``), row k = local standard hour k of the year.
    """
    if site not in TMY3_SITES:
        raise ConfigError(f"unknown wind-speed source {site!r}; shipped: {', '.join(TMY3_SITES)} (or a CSV file)")
    import pvlib

    name, desc = TMY3_SITES[site]
    path = os.path.join(os.path.dirname(pvlib.__file__), "data", name)
    data, _ = pvlib.iotools.read_tmy3(path, map_variables=True)
    speed = data["wind_speed"].to_numpy(np.float64)
    if speed.shape != (8760,) or not np.all(np.isfinite(speed)) or np.any(speed < 0):
        raise DataError(f"{path}: expected 8,760 hourly wind speeds >= 0 m/s")
    return WindSpeed(speed, None, 10.0, f"{desc}, typical year, wind speed at 10 m")


def read_wind_speed(path: str | Path, *, column: str | None = None, tz: str = "UTC", height: float = 10.0) -> WindSpeed:
    """Read dated wind speeds from a CSV file (timestamp column + wind speed in m/s).

    Parameters
    ----------
    path : str or pathlib.Path
        CSV; the first column holds ISO 8601 timestamps (naive ones are local time in ``tz``).
    column : str, optional
        Wind-speed column (default: the second column).
    tz : str
        Zone of naive timestamps.
    height : float
        Anemometer height, m.

    Returns
    -------
    WindSpeed
    """
    from peergrid.market.tariff import read_price_csv

    try:
        s = read_price_csv(path, column=column, tz=tz)
    except (ConfigError, DataError) as exc:
        raise type(exc)(str(exc).replace("price file", "wind-speed file").replace("price", "wind speed")) from None
    v = s.to_numpy(np.float64)
    if np.any(v < 0):
        raise DataError(f"{path}: negative wind speed {v[v < 0][0]} m/s")
    if s.index.has_duplicates:
        raise DataError(f"{path}: duplicate timestamp {s.index[s.index.duplicated()][0]}")
    return WindSpeed(v, pd.DatetimeIndex(s.index), float(height), f"{Path(path).name} (wind speed at {height:g} m)")


def _fine_grid(index: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, int]:
    """Sub-steps of ``index`` that never straddle a whole hour, and how many per step."""
    step = int(pd.Timedelta(index.freq).value)
    hour = 3_600_000_000_000
    offset = int(index[0].value) % hour
    g = math.gcd(step, hour, offset) if offset else math.gcd(step, hour)
    k = step // g
    fine = pd.date_range(index[0], periods=len(index) * k, freq=pd.Timedelta(g))
    return fine, k


def wind_per_kw(
    index: pd.DatetimeIndex,
    speed: WindSpeed,
    *,
    tz: str = "UTC",
    model: Literal["cubic", "turbine"] = "cubic",
    hub_height: float = 30.0,
    roughness_length: float = 0.15,
    cut_in: float = 3.0,
    rated_speed: float = 12.0,
    cut_out: float = 25.0,
    turbine: str = "E-53/800",
) -> np.ndarray:
    """Energy per step of 1 kW of rated wind power, kWh/kW (length T).

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Fixed-step UTC index of the community (period starts).
    speed : WindSpeed
        Wind speed at its anemometer height.
    tz : str
        Community time zone (the clock of a typical year).
    model : {"cubic", "turbine"}
        Tooki et al. (2025), eq. 3 (cubic between ``cut_in`` and ``rated_speed``, rated up
        to ``cut_out``, m/s) at the hub-height speed, or the windpowerlib power curve of
        ``turbine`` scaled to 1 kW at its maximum.
    hub_height : float
        Hub height, m; the speed is carried from the anemometer with the logarithmic profile
        ``v · ln(h_hub/z0) / ln(h/z0)``.
    roughness_length : float
        Surface roughness z0, m (0.15: farmland with hedges; 0.5-1: suburbs).
    cut_in, rated_speed, cut_out : float
        Cubic model speeds, m/s.
    turbine : str
        windpowerlib turbine name (:func:`peergrid.assets.wind.list_turbines`).

    Returns
    -------
    numpy.ndarray
        ``(T,)`` kWh per kW rated, in ``[0, dt]``.
    """
    from peergrid.assets.wind import wind_power_cubic, wind_power_turbine
    from peergrid.core.errors import ModelError

    if not (hub_height > roughness_length > 0 and speed.height > roughness_length):
        raise ConfigError(
            f"wind: roughness_length ({roughness_length} m) must be > 0 and below hub_height ({hub_height} m) "
            f"and the anemometer height ({speed.height} m)"
        )
    T = len(index)
    if T == 0:
        return np.zeros(0)
    fine, k = _fine_grid(index)
    v = speed.at(fine, tz)
    dt_fine = float(pd.Timedelta(fine.freq).total_seconds()) / 3600.0 if len(fine) > 1 else (
        float(pd.Timedelta(index.freq).total_seconds()) / 3600.0
    )
    try:
        if model == "cubic":
            v_hub = v * (math.log(hub_height / roughness_length) / math.log(speed.height / roughness_length))
            p = wind_power_cubic(v_hub, 1.0, cut_in=cut_in, rated_speed=rated_speed, cut_out=cut_out)[:, 0]
        elif model == "turbine":
            p = wind_power_turbine(
                v, turbine, hub_height=hub_height, measurement_height=speed.height,
                roughness_length=roughness_length, rated_kw=1.0,
            )[:, 0]  # fmt: skip
        else:
            raise ConfigError(f"wind model must be 'cubic' or 'turbine', got {model!r}")
    except ModelError as exc:
        raise ConfigError(f"wind: {exc}") from None
    return (p * dt_fine).reshape(T, k).sum(axis=1)


def wind_generation(index: pd.DatetimeIndex, wind_kw: np.ndarray, speed: WindSpeed, **options: object) -> np.ndarray:
    """Wind energy per step and participant, kWh: ``wind_kw`` × :func:`wind_per_kw`.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Fixed-step UTC index.
    wind_kw : numpy.ndarray
        ``(N,)`` rated wind power per participant, kW (0: no turbine).
    speed : WindSpeed
    **options
        Passed to :func:`wind_per_kw` (``tz``, ``model``, ``hub_height``, ...).

    Returns
    -------
    numpy.ndarray
        ``(T, N)`` kWh per step; zero columns where ``wind_kw == 0``.

    Examples
    --------
    >>> idx = pd.date_range("2022-01-01", periods=24, freq="1h", tz="UTC")
    >>> gen = wind_generation(idx, np.array([0.0, 5.0]), tmy3_wind_speed())
    >>> gen.shape, bool(gen[:, 0].sum() == 0.0), bool(0 <= gen[:, 1].max() <= 5.0)
    ((24, 2), True, True)
    """
    kw = np.asarray(wind_kw, dtype=np.float64)
    per_kw = wind_per_kw(index, speed, **options)  # type: ignore[arg-type]
    return np.ascontiguousarray(per_kw[:, None] * kw[None, :])
