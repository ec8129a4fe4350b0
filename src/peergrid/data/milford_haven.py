"""The Milford Haven harbour cluster of Petri et al. (2020), reconstructed.

Petri et al. model five harbour buildings of the Port of Milford Haven (South
Wales) — Packaway, K Shed, M Shed, F Shed and J Shed — each with 50 kW of PV, a
battery (0–40.5 kWh, ±7.5 kWh per half-hour step) and a time-of-use (TOU) tariff
over 48 half-hour steps (Section III, Section VI-A/3, eqs. 4–6). The paper's
EnergyPlus models and site readings are not published, so **every profile here is
reconstructed** from the paper's description; none of it is measured data:

* **Packaway** (main building): flake-ice machine "under operation all the time
  during the day" (25 kW, 04:00–20:00; 3 kW standby for the ice bin otherwise),
  box washing machine of 50 kW that "only works on a limited daily interval"
  (10:00–12:00 at 60 % duty = 30 kW mean), lighting of "23 double tubes of 25 W
  each … only used during the night" (1.15 kW while the sun is down), 0.5 kW of
  controls and smart meters.
* **K Shed**: a cold room, "the main appliance … fairly high power consumption":
  18 kW plus up to 6 kW with the afternoon ambient temperature (peak 15:00), four
  30-min defrost cycles of +5 kW (00:00, 06:00, 12:00, 18:00), 0.5 kW night lighting.
* **M Shed**: storage units B & C (1.5 kW lighting 08:00–18:00), unit A boat repair
  (10 kW, 08:00–17:00) and an incident-response office (4 kW, 08:00–17:00), 1 kW
  base, 0.8 kW night lighting.
* **F Shed**: ground-floor fish processing (30 kW, 05:00–13:00; chillers 6 kW
  otherwise), first-floor fish-container collection (3 kW, 07:00–17:00), 2 kW base.
* **J Shed**: not described in the paper; a generic harbour warehouse (2 kW base,
  +8 kW 07:00–18:00, 0.5 kW night lighting) — an assumption of peergrid.

PV: 50 kWp per building (the paper), south-facing at 20° tilt (assumed), pvlib
Ineichen clear-sky irradiance at Milford Haven (51.71° N, 5.04° W) times an optional
``clearness`` factor, through :func:`peergrid.assets.pv.pv_power_pvlib`. Loads and PV
are evaluated every 5 minutes and averaged into the step. The TOU tariff (GBP/kWh,
local time) is cheapest at night, "moderately cheaper" 05:00–07:00 and peaks at
16:00–19:00 (steps 33–38, the paper's peak-price period); its levels are assumptions.
Batteries follow the paper's LP: 40.5 kWh, 7.5 kWh per half hour (15 kW), SOC 0–100 %,
lossless (SOC_t = SOC_{t−1} + B_t); they start at 20 %.

Electric boats (the paper's secondary storage) are optional: two moored workboats of
60 kWh with 11 kW chargers at Packaway and M Shed (assumed sizes), handed to the
rule-based controller through ``community.meta["secondary_storage"]``.

References
----------
.. [1] Petri, I. et al., "Federating smart cluster energy grids for peer-to-peer
   energy sharing and trading", IEEE Access 8, 2020, Sections III and VI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError

__all__ = [
    "BATTERY_KW",
    "BATTERY_KWH",
    "BUILDINGS",
    "LATITUDE",
    "LONGITUDE",
    "PV_KWP",
    "milford_haven_community",
    "milford_haven_loads",
    "milford_haven_tou",
]

#: Building ids, in the paper's order.
BUILDINGS: tuple[str, ...] = ("Packaway", "K Shed", "M Shed", "F Shed", "J Shed")
LATITUDE = 51.71  # degrees north
LONGITUDE = -5.04  # degrees east (5.04° W)
PV_KWP = 50.0  # kWp per building (Petri et al., Section III-B)
BATTERY_KWH = 40.5  # kWh (Petri et al., Section VI-A/3)
BATTERY_KW = 15.0  # kW = 7.5 kWh per half-hour step
TZ = "Europe/London"
_FINE = "5min"

#: TOU tariff: (start hour, end hour, GBP/kWh), local time. Assumed levels.
TOU_BANDS: tuple[tuple[float, float, float], ...] = (
    (0.0, 5.0, 0.08),
    (5.0, 7.0, 0.12),
    (7.0, 16.0, 0.17),
    (16.0, 19.0, 0.30),
    (19.0, 24.0, 0.14),
)
FEED_IN = 0.05  # GBP/kWh, assumed export tariff


def _between(hour: np.ndarray, start: float, end: float) -> np.ndarray:
    return (hour >= start) & (hour < end)


def milford_haven_loads(hour: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Reconstructed power demand of the five buildings, kW.

    Parameters
    ----------
    hour : numpy.ndarray, shape (T,)
        Local clock hour of each instant, h in [0, 24).
    dark : numpy.ndarray of bool, shape (T,)
        True while the sun is down (night lighting is on).

    Returns
    -------
    numpy.ndarray, shape (T, 5)
        kW per building in :data:`BUILDINGS` order (see the module docstring).
    """
    h = np.asarray(hour, dtype=np.float64)
    night = np.asarray(dark, dtype=np.float64)
    day_ice = _between(h, 4.0, 20.0)
    packaway = np.where(day_ice, 25.0, 3.0) + 30.0 * _between(h, 10.0, 12.0) + 1.15 * night + 0.5
    ambient = np.clip(np.cos((h - 15.0) / 24.0 * 2 * np.pi), 0.0, None)  # afternoon warmth, 0..1
    defrost = np.zeros_like(h)
    for start in (0.0, 6.0, 12.0, 18.0):  # four fixed cycles, not a loop over steps
        defrost += 5.0 * _between(h, start, start + 0.5)
    k_shed = 18.0 + 6.0 * ambient + defrost + 0.5 * night
    work = _between(h, 8.0, 17.0)
    m_shed = 1.0 + 1.5 * _between(h, 8.0, 18.0) + 14.0 * work + 0.8 * night
    processing = _between(h, 5.0, 13.0)
    f_shed = 2.0 + np.where(processing, 30.0, 6.0) + 3.0 * _between(h, 7.0, 17.0)
    j_shed = 2.0 + 8.0 * _between(h, 7.0, 18.0) + 0.5 * night
    return np.column_stack([packaway, k_shed, m_shed, f_shed, j_shed])


def milford_haven_tou(hour: np.ndarray) -> np.ndarray:
    """TOU retail price at local clock hours, GBP/kWh (see :data:`TOU_BANDS`)."""
    h = np.asarray(hour, dtype=np.float64)
    price = np.full(h.shape, np.nan)
    for lo, hi, p in TOU_BANDS:
        price[_between(h, lo, hi)] = p
    return price


def _clear_sky(times: pd.DatetimeIndex, clearness: float) -> pd.DataFrame:
    import pvlib

    loc = pvlib.location.Location(LATITUDE, LONGITUDE, altitude=10.0)
    cs = loc.get_clearsky(times, model="ineichen")
    out = cs[["ghi", "dni", "dhi"]].clip(lower=0.0) * clearness
    out["temp_air"] = 12.0  # assumed spring air temperature, °C
    out["wind_speed"] = 4.0  # assumed coastal wind, m/s
    return out


def milford_haven_community(
    date: str = "2019-04-16",
    days: int = 1,
    freq: str = "30min",
    *,
    retail: float | None = None,
    feed_in: float = FEED_IN,
    batteries: bool = True,
    boats: bool = False,
    clearness: float = 1.0,
    battery_efficiency: float = 1.0,
    soc_init: float = 0.2,
) -> Community:
    """The five Milford Haven harbour buildings of Petri et al. (reconstructed profiles).

    Parameters
    ----------
    date : str
        First local day (Europe/London); the default is a spring day.
    days : int
        Number of days (the same weekday load every day, clear-sky PV of each day).
    freq : str
        Step length, a multiple of 5 minutes dividing a day (the paper: 30 min).
    retail : float, optional
        Flat retail price, GBP/kWh; default the TOU tariff :data:`TOU_BANDS`.
    feed_in : float
        Export tariff, GBP/kWh.
    batteries : bool
        Give every building the paper's battery (40.5 kWh, 15 kW).
    boats : bool
        Add the electric boats as secondary storage (``meta["secondary_storage"]``).
    clearness : float
        Factor on the clear-sky irradiance, in (0, 1].
    battery_efficiency : float
        One-way battery efficiency (the paper's LP is lossless: 1.0).
    soc_init : float
        Initial battery SOC, fraction.

    Returns
    -------
    Community
        5 participants, ``(T, 5)`` load and PV in kWh per step, TOU tariff in GBP,
        ``tz = "Europe/London"``.
    """
    from peergrid.assets.pv import pv_power_pvlib
    from peergrid.core.timeindex import make_index

    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or not 1 <= days <= 366:
        raise ConfigError(f"days must be an integer in 1..366, got {days!r}")
    if not 0 < clearness <= 1:
        raise ConfigError(f"clearness must lie in (0, 1], got {clearness!r}")
    if not 0 < battery_efficiency <= 1:
        raise ConfigError(f"battery_efficiency must lie in (0, 1], got {battery_efficiency!r}")
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
        local0 = pd.Timestamp(date).normalize()
    except (TypeError, ValueError):
        raise ConfigError(f"bad date {date!r} or freq {freq!r}") from None
    fine = pd.Timedelta(_FINE)
    if step < fine or step % fine or pd.Timedelta("1D") % step:
        raise ConfigError(f"freq {freq!r} must be a multiple of 5 min that divides a day")
    if local0.tzinfo is None:
        local0 = local0.tz_localize(TZ)
    start = local0.tz_convert("UTC")
    periods = int(days * pd.Timedelta("1D") / step)
    index = make_index(start, periods, freq)
    k = int(step / fine)
    fine_index = make_index(start, periods * k, _FINE)
    mid = fine_index + fine / 2
    local = mid.tz_convert(TZ)
    hour = local.hour.to_numpy() + local.minute.to_numpy() / 60.0 + local.second.to_numpy() / 3600.0
    weather = _clear_sky(mid, clearness)
    dark = weather["ghi"].to_numpy() <= 1.0
    load_kw = milford_haven_loads(hour, dark)
    pv_kw = pv_power_pvlib(
        weather.set_axis(fine_index), np.full(len(BUILDINGS), PV_KWP), latitude=LATITUDE, longitude=LONGITUDE,
        tilt=20.0, azimuth=180.0,
    )
    dt_fine = fine / pd.Timedelta("1h")
    load = (load_kw * dt_fine).reshape(periods, k, -1).sum(axis=1)
    gen = (pv_kw * dt_fine).reshape(periods, k, -1).sum(axis=1)
    step_local = (index + step / 2).tz_convert(TZ)
    step_hour = step_local.hour.to_numpy() + step_local.minute.to_numpy() / 60.0
    price = milford_haven_tou(step_hour) if retail is None else float(retail)
    parts = pd.DataFrame({"id": list(BUILDINGS), "pv_kwp": PV_KWP})
    if batteries:
        parts = parts.assign(
            battery_kwh=BATTERY_KWH, battery_kw=BATTERY_KW, battery_eff_charge=battery_efficiency,
            battery_eff_discharge=battery_efficiency, soc_min=0.0, soc_max=1.0, soc_init=soc_init,
        )
    meta: dict[str, object] = {
        "reconstructed": True,
        "reference": "Petri et al. 2020, IEEE Access 8 (Milford Haven harbour, Sections III and VI)",
        "date": str(local0.date()),
    }
    if boats:
        meta["secondary_storage"] = {
            "participants": ["Packaway", "M Shed"],
            "capacity": [60.0, 60.0],
            "power": [11.0, 11.0],
            "soc_init": 0.5,
        }
    return Community(
        index=index,
        participants=parts,
        load=load,
        generation=gen,
        retail=price,
        feed_in=feed_in,
        name="milford-haven",
        source=(
            "reconstructed from Petri et al. (2020): building loads rebuilt from the paper's appliance "
            "descriptions, PV from the pvlib Ineichen clear-sky model at 51.71 N, 5.04 W — not measured data"
        ),
        currency="GBP",
        meta=meta,
        tz=TZ,
    )
