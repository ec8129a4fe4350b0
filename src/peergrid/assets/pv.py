"""Photovoltaic generation: the Tooki et al. PV bound and a pvlib PVWatts model.

All functions are pure. Powers are in kW, irradiance in W/m², temperatures in °C.
Per-participant results are ``(T, N)`` float64 arrays (time x participant).

References
----------
.. [1] Tooki, O. O. et al., "A decentralized peer-to-peer energy trading framework
   for transactive energy systems", eq. 2 (PV constraint).
.. [2] Dobos, A. P., "PVWatts Version 5 Manual", NREL/TP-6A20-62641, 2014.
.. [3] Holmgren, W. F., Hansen, C. W., Mikofski, M. A., "pvlib python: a python
   package for modeling solar energy systems", JOSS 3(29), 884, 2018.
.. [4] Wilcox, S., Marion, W., "Users Manual for TMY3 Data Sets", NREL/TP-581-43156,
   2008.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta, timezone

import numpy as np
import pandas as pd

from peergrid.assets._common import as_param as _param
from peergrid.core.errors import DataError, ModelError
from peergrid.core.timeindex import step_hours, validate_index

__all__ = [
    "TMY_FILES",
    "annual_yield_kwh_per_kwp",
    "pv_power_pvlib",
    "pv_power_tooki",
    "pvlib_tmy",
]

#: TMY3 files shipped inside pvlib (``pvlib/data``), by peergrid name.
TMY_FILES: dict[str, str] = {
    "greensboro": "723170TYA.CSV",  # Greensboro Piedmont Triad Intl, NC, USA (USAF 723170)
    "sand_point": "703165TY.csv",  # Sand Point, AK, USA (USAF 703165), a windy site
}

_HOURS_PER_YEAR = 8760.0


# ---- validation helpers ------------------------------------------------------------------


def _series(value: object, name: str) -> np.ndarray:
    """Time series as a float64 ``(T, 1)`` or ``(T, N)`` array (``(T,)`` becomes ``(T, 1)``)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name} must have shape (T,), (T, 1) or (T, N), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        t = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise DataError(f"{name} has NaN or infinite values (first at step {t})")
    return arr


# ---- Tooki et al. eq. 2 ------------------------------------------------------------------
def pv_power_tooki(
    irradiance: np.ndarray | pd.Series,
    area_m2: float | np.ndarray,
    efficiency: float | np.ndarray,
    temp_air: float | np.ndarray | pd.Series | None = None,
    *,
    temp_coeff: float = -0.004,
    noct: float = 45.0,
    t_ref: float = 25.0,
) -> np.ndarray:
    r"""Available PV power from irradiance, panel area and efficiency (Tooki et al. eq. 2).

    Tooki et al. bound the PV output of unit *h* by

    .. math:: C^{PV}_{h,t} \le \eta^{PV}_h \, R^{PV}_t \, S^{PV}_h

    and this function returns the right-hand side (the available power; curtailing
    below it is the controller's decision), optionally derated for cell temperature
    with the NOCT model

    .. math:: T_c = T_a + \frac{NOCT - 20}{800} G, \qquad
              P = \eta G S \max\{0,\ 1 + \gamma (T_c - T_{ref})\}.

    Parameters
    ----------
    irradiance : array-like, shape (T,), (T, 1) or (T, N)
        Plane-of-array irradiance :math:`R^{PV}_t`, W/m² (≥ 0).
    area_m2 : float or array-like, shape (N,)
        Panel area :math:`S^{PV}_h` per participant, m² (≥ 0).
    efficiency : float or array-like, shape (N,)
        Module efficiency :math:`\eta^{PV}_h` at reference conditions, fraction in (0, 1].
    temp_air : float or array-like, shape (T,), (T, 1) or (T, N), optional
        Ambient air temperature :math:`T_a`, °C. If omitted, no temperature derating
        is applied (the plain eq. 2).
    temp_coeff : float, default -0.004
        Power temperature coefficient :math:`\gamma`, 1/°C (≤ 0).
    noct : float, default 45.0
        Nominal operating cell temperature, °C (> 20).
    t_ref : float, default 25.0
        Reference cell temperature of ``efficiency``, °C.

    Returns
    -------
    numpy.ndarray, shape (T, N)
        Available PV power, kW (≥ 0). A scalar ``area_m2`` and ``efficiency`` give N = 1.

    Raises
    ------
    ModelError
        If ``area_m2 < 0``, ``efficiency`` is outside (0, 1], ``temp_coeff > 0`` or
        ``noct <= 20``.
    DataError
        If ``irradiance`` or ``temp_air`` has NaN/inf, negative irradiance, or shapes
        that do not broadcast to (T, N).

    Examples
    --------
    >>> pv_power_tooki([1000.0], area_m2=10.0, efficiency=0.2)
    array([[2.]])
    """
    area = np.atleast_1d(_param(area_m2, "area_m2"))
    eff = np.atleast_1d(_param(efficiency, "efficiency"))
    if np.any(area < 0):
        raise ModelError(f"area_m2 must be >= 0 m², got {area[area < 0][0]}")
    if np.any((eff <= 0) | (eff > 1)):
        raise ModelError(f"efficiency must be in (0, 1], got {eff[(eff <= 0) | (eff > 1)][0]}")
    g = _series(irradiance, "irradiance")
    if np.any(g < 0):
        raise DataError(f"irradiance must be >= 0 W/m², got {g.min()} (clip sensor noise to 0 first)")
    try:
        power = g * (area * eff)[None, :] / 1000.0
    except ValueError:
        raise DataError(
            f"irradiance shape {g.shape} does not broadcast against area_m2/efficiency shape {area.shape}"
        ) from None
    if temp_air is None:
        return np.ascontiguousarray(power, dtype=np.float64)
    for name, val in (("temp_coeff", temp_coeff), ("noct", noct), ("t_ref", t_ref)):
        if not np.isfinite(val):
            raise ModelError(f"{name} must be finite, got {val!r}")
    if temp_coeff > 0:
        raise ModelError(f"temp_coeff must be <= 0 1/°C (PV loses power when hot), got {temp_coeff}")
    if noct <= 20:
        raise ModelError(f"noct must be > 20 °C, got {noct}")
    ta_raw = np.asarray(temp_air, dtype=np.float64)
    ta = ta_raw if ta_raw.ndim == 0 else _series(ta_raw, "temp_air")
    if not np.all(np.isfinite(ta)):
        raise DataError("temp_air has NaN or infinite values")
    try:
        t_cell = ta + (noct - 20.0) / 800.0 * g
        derate = np.maximum(1.0 + temp_coeff * (t_cell - t_ref), 0.0)
        power = power * derate
    except ValueError:
        raise DataError(f"temp_air shape {np.shape(ta)} does not broadcast against irradiance {g.shape}") from None
    return np.ascontiguousarray(power, dtype=np.float64)


# ---- pvlib PVWatts model -----------------------------------------------------------------
def _weather_frame(weather: pd.DataFrame | Mapping, index: pd.DatetimeIndex | None) -> pd.DataFrame:
    if isinstance(weather, pd.DataFrame):
        frame = weather.copy()
        if index is not None:
            if len(index) != len(frame):
                raise DataError(f"index has {len(index)} steps but weather has {len(frame)} rows")
            frame.index = index
    elif isinstance(weather, Mapping):
        if index is None:
            raise DataError("weather given as a mapping of arrays needs index=")
        try:
            frame = pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in weather.items()}, index=index)
        except ValueError as exc:
            raise DataError(f"weather arrays do not match index of length {len(index)}: {exc}") from None
    else:
        raise DataError(f"weather must be a DataFrame or a mapping of arrays, got {type(weather).__name__}")
    if "ghi" not in frame:
        raise DataError("weather needs a 'ghi' column (global horizontal irradiance, W/m²)")
    if ("dni" in frame) != ("dhi" in frame):
        raise DataError("weather must have both 'dni' and 'dhi' columns, or neither (Erbs decomposition)")
    return frame


def _per_kwp_profile(
    solar_zenith: np.ndarray,
    solar_azimuth: np.ndarray,
    dni: np.ndarray,
    ghi: np.ndarray,
    dhi: np.ndarray,
    dni_extra: np.ndarray,
    airmass: np.ndarray,
    temp_air: np.ndarray,
    wind_speed: np.ndarray,
    *,
    tilt: float,
    azimuth: float,
    albedo: float,
    sky_model: str,
    temperature_model: str,
    gamma_pdc: float,
    losses: float,
    inverter_efficiency: float,
) -> np.ndarray:
    """AC power of a 1 kWp array of one orientation, kW, shape (T,)."""
    import pvlib

    poa = pvlib.irradiance.get_total_irradiance(
        tilt,
        azimuth,
        solar_zenith,
        solar_azimuth,
        dni,
        ghi,
        dhi,
        dni_extra=dni_extra,
        airmass=airmass,
        albedo=albedo,
        model=sky_model,
    )
    poa_direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=np.float64))
    poa_diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=np.float64))
    poa_global = np.maximum(poa_direct + poa_diffuse, 0.0)
    aoi = np.asarray(pvlib.irradiance.aoi(tilt, azimuth, solar_zenith, solar_azimuth), dtype=np.float64)
    iam = np.nan_to_num(np.asarray(pvlib.iam.physical(aoi), dtype=np.float64))
    effective = np.maximum(poa_direct * iam + poa_diffuse, 0.0)
    if temperature_model == "sapm":
        p = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
        t_cell = pvlib.temperature.sapm_cell(poa_global, temp_air, wind_speed, **p)
    else:
        t_cell = pvlib.temperature.faiman(poa_global, temp_air, wind_speed)
    dc = pvlib.pvsystem.pvwatts_dc(effective, np.asarray(t_cell, dtype=np.float64), 1.0, gamma_pdc)
    ac = np.asarray(dc, dtype=np.float64) * (1.0 - losses) * inverter_efficiency
    return np.clip(np.nan_to_num(ac), 0.0, inverter_efficiency)


def pv_power_pvlib(
    weather: pd.DataFrame | Mapping,
    kwp: float | np.ndarray,
    *,
    latitude: float,
    longitude: float,
    tilt: float | np.ndarray = 20.0,
    azimuth: float | np.ndarray = 180.0,
    gamma_pdc: float = -0.004,
    inverter_efficiency: float = 0.96,
    losses: float = 0.14,
    index: pd.DatetimeIndex | None = None,
    altitude: float = 0.0,
    albedo: float = 0.25,
    sky_model: str = "haydavies",
    temperature_model: str = "sapm",
) -> np.ndarray:
    r"""AC power of rooftop PV arrays from weather with a pvlib PVWatts chain.

    The chain is: solar position (NREL SPA, at the middle of each step) →
    DNI/DHI from GHI by the Erbs decomposition when they are missing →
    plane-of-array irradiance (:func:`pvlib.irradiance.get_total_irradiance`,
    transposition model ``sky_model``) → incidence-angle modifier on the beam
    (:func:`pvlib.iam.physical`) → cell temperature (:func:`pvlib.temperature.sapm_cell`,
    open rack glass/polymer, or :func:`pvlib.temperature.faiman`) → PVWatts DC
    :math:`P_{dc} = P_{dc0} \frac{G_{eff}}{1000} (1 + \gamma_{pdc}(T_c - 25))` →
    system losses and a constant inverter efficiency, clipped at
    :math:`\eta_{inv} P_{dc0}` (DC/AC ratio 1).

    This is the physical model behind the PV bound of Tooki et al. eq. 2. The
    per-kWp profile is computed once per distinct (tilt, azimuth) pair and scaled by
    each participant's ``kwp``.

    Parameters
    ----------
    weather : pandas.DataFrame or mapping of arrays
        Columns ``ghi`` (W/m², required), ``dni`` and ``dhi`` (W/m², both or neither),
        ``temp_air`` (°C, default 20) and ``wind_speed`` (m/s at 10 m, default 0).
        Rows are steps of a fixed-step, timezone-aware index whose labels are period
        starts (see :func:`peergrid.core.timeindex.validate_index`).
    kwp : float or array-like, shape (N,)
        Installed DC capacity per participant, kWp (≥ 0).
    latitude, longitude : float
        Site position, degrees (north, east positive).
    tilt : float or array-like, shape (N,), default 20
        Surface tilt from horizontal, degrees in [0, 90].
    azimuth : float or array-like, shape (N,), default 180
        Surface azimuth, degrees clockwise from north in [0, 360] (180 = south).
    gamma_pdc : float, default -0.004
        DC power temperature coefficient, 1/°C (≤ 0).
    inverter_efficiency : float, default 0.96
        Constant inverter efficiency, fraction in (0, 1].
    losses : float, default 0.14
        PVWatts system losses (soiling, wiring, mismatch, ...), fraction in [0, 1).
    index : pandas.DatetimeIndex, optional
        Time index; required when ``weather`` is a mapping, else overrides its index.
    altitude : float, default 0
        Site altitude, m (used by the solar position).
    albedo : float, default 0.25
        Ground reflectance, fraction in [0, 1].
    sky_model : str, default "haydavies"
        pvlib transposition model: "isotropic", "klucher", "haydavies", "reindl",
        "king" or "perez".
    temperature_model : {"sapm", "faiman"}, default "sapm"
        Cell temperature model.

    Returns
    -------
    numpy.ndarray, shape (T, N)
        Mean AC power per step, kW. A scalar ``kwp`` gives N = 1.

    Raises
    ------
    ModelError
        If a parameter is out of range (the message names it).
    DataError
        If the weather lacks ``ghi``, has NaN/inf or negative irradiance, or the index
        is not a fixed-step timezone-aware index.

    Examples
    --------
    >>> weather, meta = pvlib_tmy("greensboro")
    >>> p = pv_power_pvlib(weather, [5.0, 10.0], latitude=meta["latitude"],
    ...                    longitude=meta["longitude"])
    >>> p.shape
    (8760, 2)
    """
    import pvlib

    kw = np.atleast_1d(_param(kwp, "kwp"))
    if np.any(kw < 0):
        raise ModelError(f"kwp must be >= 0 kWp, got {kw[kw < 0][0]}")
    tilts = np.atleast_1d(_param(tilt, "tilt"))
    azimuths = np.atleast_1d(_param(azimuth, "azimuth"))
    if np.any((tilts < 0) | (tilts > 90)):
        bad = tilts[(tilts < 0) | (tilts > 90)][0]
        raise ModelError(f"tilt must be in [0, 90] degrees, got {bad}")
    if np.any((azimuths < 0) | (azimuths > 360)):
        bad = azimuths[(azimuths < 0) | (azimuths > 360)][0]
        raise ModelError(f"azimuth must be in [0, 360] degrees, got {bad}")
    checks = (
        ("latitude", latitude, -90.0, 90.0),
        ("longitude", longitude, -180.0, 180.0),
        ("inverter_efficiency", inverter_efficiency, 1e-12, 1.0),
        ("losses", losses, 0.0, 1.0 - 1e-12),
        ("albedo", albedo, 0.0, 1.0),
        ("gamma_pdc", gamma_pdc, -1.0, 0.0),
        ("altitude", altitude, -500.0, 9000.0),
    )
    for name, val, lo, hi in checks:
        if not (np.isscalar(val) and np.isfinite(val) and lo <= val <= hi):
            raise ModelError(f"{name} must be a number in [{lo:g}, {hi:g}], got {val!r}")
    if temperature_model not in ("sapm", "faiman"):
        raise ModelError(f"temperature_model must be 'sapm' or 'faiman', got {temperature_model!r}")
    sky_models = ("isotropic", "klucher", "haydavies", "reindl", "king", "perez")
    if sky_model not in sky_models:
        raise ModelError(f"sky_model must be one of {sky_models}, got {sky_model!r}")
    try:
        n = np.broadcast_shapes(kw.shape, tilts.shape, azimuths.shape)[0]
    except ValueError:
        raise ModelError(
            f"kwp {kw.shape}, tilt {tilts.shape} and azimuth {azimuths.shape} must have "
            "the same length N (or be scalars)"
        ) from None

    frame = _weather_frame(weather, index)
    idx = validate_index(pd.DatetimeIndex(frame.index), "weather index")
    dt = step_hours(idx)
    cols = {}
    for col, default in (("ghi", None), ("dni", None), ("dhi", None), ("temp_air", 20.0), ("wind_speed", 0.0)):
        if col in frame:
            vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(vals)):
                t = int(np.argmax(~np.isfinite(vals)))
                raise DataError(f"weather column {col!r} has NaN/inf or non-numeric at step {t}")
            if col in ("ghi", "dni", "dhi", "wind_speed") and np.any(vals < 0):
                raise DataError(f"weather column {col!r} must be >= 0, got {vals.min()}")
            cols[col] = vals
        elif default is not None:
            cols[col] = np.full(len(idx), default)

    # Solar geometry at the middle of each period (labels are period starts).
    mid = idx + pd.Timedelta(hours=dt / 2.0)
    solpos = pvlib.solarposition.get_solarposition(mid, latitude, longitude, altitude=altitude)
    zenith = solpos["apparent_zenith"].to_numpy(dtype=np.float64)
    sun_az = solpos["azimuth"].to_numpy(dtype=np.float64)
    ghi = cols["ghi"]
    if "dni" in cols:
        dni, dhi = cols["dni"], cols["dhi"]
    else:
        erbs = pvlib.irradiance.erbs(ghi, zenith, mid.day_of_year.to_numpy())
        dni = np.nan_to_num(np.asarray(erbs["dni"], dtype=np.float64))
        dhi = np.nan_to_num(np.asarray(erbs["dhi"], dtype=np.float64))
    dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(mid.day_of_year.to_numpy()), dtype=np.float64)
    airmass = np.asarray(pvlib.atmosphere.get_relative_airmass(zenith), dtype=np.float64)

    orient = np.column_stack([np.broadcast_to(tilts, (n,)), np.broadcast_to(azimuths, (n,))])
    unique, inverse = np.unique(orient, axis=0, return_inverse=True)
    profiles = np.empty((len(idx), len(unique)), dtype=np.float64)
    for k, (tilt_k, az_k) in enumerate(unique):  # one pass per distinct orientation
        profiles[:, k] = _per_kwp_profile(
            zenith,
            sun_az,
            dni,
            ghi,
            dhi,
            dni_extra,
            airmass,
            cols["temp_air"],
            cols["wind_speed"],
            tilt=float(tilt_k),
            azimuth=float(az_k),
            albedo=albedo,
            sky_model=sky_model,
            temperature_model=temperature_model,
            gamma_pdc=gamma_pdc,
            losses=losses,
            inverter_efficiency=inverter_efficiency,
        )
    return np.ascontiguousarray(profiles[:, inverse.ravel()] * np.broadcast_to(kw, (n,))[None, :])


# ---- data and helpers --------------------------------------------------------------------
def pvlib_tmy(name: str = "greensboro", *, year: int = 2022) -> tuple[pd.DataFrame, dict]:
    """Load a typical meteorological year (TMY3) shipped inside pvlib, offline.

    The TMY3 files are NREL data (US public domain) distributed with pvlib-python
    (BSD-3-Clause) in ``pvlib/data``; see Wilcox & Marion (2008). Each month of a
    TMY comes from a different real year; the months are coerced to ``year`` and the
    rows sorted, giving a fixed-step hourly series. TMY3 timestamps mark the *end*
    of each hour in local standard time; they are shifted by one hour to period
    starts and converted to UTC, so the index runs from ``year``-01-01 00:00 local
    standard time for 8,760 hourly steps.

    Parameters
    ----------
    name : {"greensboro", "sand_point"}, default "greensboro"
        ``"greensboro"``: Greensboro Piedmont Triad International, NC (USAF 723170,
        36.1° N, 79.95° W). ``"sand_point"``: Sand Point, AK (USAF 703165,
        55.3° N, 160.5° W), a windy, cloudy site.
    year : int, default 2022
        Calendar year to put the data in (use a non-leap year).

    Returns
    -------
    weather : pandas.DataFrame
        UTC-indexed hourly (``freq="h"``) frame with columns ``ghi``, ``dni``,
        ``dhi`` (W/m²), ``temp_air`` (°C) and ``wind_speed`` (m/s at 10 m).
    meta : dict
        ``name``, ``station``, ``state``, ``usaf``, ``latitude``, ``longitude``
        (degrees), ``altitude`` (m), ``tz_offset_hours`` (local standard time),
        ``source`` and ``licence``.

    Raises
    ------
    DataError
        If ``name`` is unknown or the file is missing from the pvlib installation.
    """
    import pvlib

    key = name.lower().replace(" ", "_").replace("-", "_")
    if key == "sandpoint":
        key = "sand_point"
    if key not in TMY_FILES:
        raise DataError(f"unknown TMY name {name!r}; choose one of {sorted(TMY_FILES)}")
    if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        raise DataError(f"year must not be a leap year (TMY has 8760 hours), got {year}")
    path = os.path.join(os.path.dirname(pvlib.__file__), "data", TMY_FILES[key])
    if not os.path.exists(path):
        raise DataError(f"TMY file {TMY_FILES[key]} not found in the pvlib installation ({path})")
    raw, meta = pvlib.iotools.read_tmy3(path, map_variables=True)
    # Rebuild the index from the raw date and hour-ending columns: hour HH (1..24)
    # covers [HH-1, HH) local standard time, so its period start is date + (HH - 1) h.
    # (Parsing 24:00 as the next day would roll 28 Feb of a leap source year into 29 Feb.)
    dates = raw["Date (MM/DD/YYYY)"].astype(str).str.slice(0, 6) + str(year)
    hour_ending = raw["Time (HH:MM)"].astype(str).str.split(":").str[0].astype(int)
    local = pd.DatetimeIndex(
        pd.to_datetime(dates.to_numpy(), format="%m/%d/%Y") + pd.to_timedelta((hour_ending - 1).to_numpy(), unit="h")
    ).tz_localize(timezone(timedelta(hours=float(meta["TZ"]))))
    cols = ["ghi", "dni", "dhi", "temp_air", "wind_speed"]
    frame = pd.DataFrame(raw[cols].to_numpy(dtype=np.float64), index=local, columns=cols)
    frame = frame.sort_index()
    frame.index = frame.index.tz_convert("UTC")
    frame.index = validate_index(pd.DatetimeIndex(frame.index), f"TMY {key}")
    if len(frame) != 8760:
        raise DataError(f"TMY {key}: expected 8760 hourly rows, got {len(frame)}")
    info = {
        "name": key,
        "station": str(meta.get("Name", "")).strip('"'),
        "state": meta.get("State"),
        "usaf": meta.get("USAF"),
        "latitude": float(meta["latitude"]),
        "longitude": float(meta["longitude"]),
        "altitude": float(meta["altitude"]),
        "tz_offset_hours": float(meta["TZ"]),
        "source": f"NREL TMY3 {TMY_FILES[key]}, shipped with pvlib-python {pvlib.__version__}",
        "licence": "NREL TMY3 data: US public domain; pvlib-python: BSD-3-Clause",
    }
    return frame, info


def annual_yield_kwh_per_kwp(
    power_kw: np.ndarray, dt_hours: float, kwp: float | np.ndarray = 1.0
) -> float | np.ndarray:
    r"""Specific annual yield: energy per installed kWp, annualised to 8,760 h.

    .. math:: Y = \frac{8760}{T \Delta t} \cdot \frac{\sum_t P_t \Delta t}{P_{kWp}}

    Parameters
    ----------
    power_kw : array-like, shape (T,) or (T, N)
        Mean power per step, kW.
    dt_hours : float
        Step length, h (> 0).
    kwp : float or array-like, shape (N,), default 1.0
        Installed capacity to normalise by, kWp (> 0). Leave at 1 for a per-kWp
        profile.

    Returns
    -------
    float or numpy.ndarray, shape (N,)
        Specific yield, kWh/kWp per year (a float for a 1-D ``power_kw``).

    Raises
    ------
    ModelError
        If ``dt_hours <= 0`` or ``kwp <= 0``.
    DataError
        If ``power_kw`` is empty or has NaN/inf.
    """
    if not (np.isscalar(dt_hours) and np.isfinite(dt_hours) and dt_hours > 0):
        raise ModelError(f"dt_hours must be > 0 h, got {dt_hours!r}")
    p = np.asarray(power_kw, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[0] == 0:
        raise DataError(f"power_kw must have shape (T,) or (T, N) with T > 0, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise DataError("power_kw has NaN or infinite values")
    cap = _param(kwp, "kwp")
    if np.any(cap <= 0):
        raise ModelError(f"kwp must be > 0 kWp, got {cap.min()}")
    energy = p.sum(axis=0) * dt_hours
    result = energy / cap * (_HOURS_PER_YEAR / (p.shape[0] * dt_hours))
    if p.ndim == 1 and np.ndim(result) == 0:
        return float(result)
    return np.asarray(result, dtype=np.float64)
