"""Electric vehicles at home chargers: availability, energy needs, uncontrolled charging.

Energies are in kWh, powers in kW, hours of the day in h (local clock time).
Per-participant results are ``(T, N)`` arrays (time x EV), computed without Python
loops over EVs or time steps.

Tooki et al. let prosumers "buy for storage using ESS/EVs"; an EV is modelled
here as a battery that is only reachable while plugged in, with an energy
requirement per plug-in session.

References
----------
.. [1] Tooki, O. O. et al., "A decentralized peer-to-peer energy trading framework
   for transactive energy systems", Fig. 3 (prosumers buy energy for storage in
   ESS/EVs); an EV's stored energy follows the storage balance of eqs. 4-5.

The synthetic fleet uses normally distributed home arrival (≈ 18 h) and departure
(≈ 7-8 h) times, a stylised convention of EV-scheduling studies; its parameters
are assumptions of peergrid, listed in :func:`synthetic_ev_fleet`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peergrid.assets._common import as_param as _param
from peergrid.assets._common import availability_mask, positive_dt
from peergrid.core.errors import DataError, ModelError
from peergrid.core.timeindex import step_hours, validate_index

__all__ = [
    "ev_availability",
    "ev_immediate_charging",
    "ev_required_energy",
    "synthetic_ev_fleet",
]

_EPS = 1e-9


def ev_availability(
    index: pd.DatetimeIndex,
    arrival_hour: float | np.ndarray,
    departure_hour: float | np.ndarray,
    *,
    tz: str | None = None,
) -> np.ndarray:
    """Plugged-in mask of EVs that come home and leave at the same hours every day.

    EV *i* is plugged in from ``arrival_hour[i]`` to ``departure_hour[i]`` local
    time each day; a window with ``departure_hour < arrival_hour`` runs overnight
    (wraps around midnight). A step counts as plugged in only if the whole step
    ``[t, t + dt)`` lies inside the window, so energy charged in it is feasible.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Fixed-step, timezone-aware index of period starts (length T).
    arrival_hour : float or array-like, shape (N,)
        Local clock hour of arrival, h in [0, 24) (e.g. 18.5 = 18:30).
    departure_hour : float or array-like, shape (N,)
        Local clock hour of departure, h in [0, 24), different from ``arrival_hour``.
    tz : str, optional
        Time zone of the local hours (e.g. ``"Europe/Berlin"``, handles DST). If
        omitted, hours are read in the index's own time zone (UTC for peergrid).

    Returns
    -------
    numpy.ndarray of bool, shape (T, N)
        True where the EV is plugged in for the whole step.

    Raises
    ------
    ModelError
        If an hour is outside [0, 24) or an arrival equals its departure.
    DataError
        If ``index`` is not a fixed-step timezone-aware index.

    Examples
    --------
    >>> from peergrid.core.timeindex import make_index
    >>> idx = make_index("2024-01-01", 24, "1h")
    >>> ev_availability(idx, [18.0], [7.0])[:, 0].nonzero()[0]
    array([ 0,  1,  2,  3,  4,  5,  6, 18, 19, 20, 21, 22, 23])
    """
    idx = validate_index(index, "EV availability index")
    dt = step_hours(idx)
    arr = np.atleast_1d(_param(arrival_hour, "arrival_hour"))
    dep = np.atleast_1d(_param(departure_hour, "departure_hour"))
    for name, val in (("arrival_hour", arr), ("departure_hour", dep)):
        bad = (val < 0) | (val >= 24)
        if np.any(bad):
            raise ModelError(f"{name} must be in [0, 24) h, got {val[bad][0]}")
    try:
        arr, dep = np.broadcast_arrays(arr, dep)
    except ValueError:
        raise ModelError(
            f"arrival_hour {arr.shape} and departure_hour {dep.shape} must have the same length N"
        ) from None
    if np.any(arr == dep):
        k = int(np.argmax(arr == dep))
        raise ModelError(f"arrival_hour equals departure_hour ({arr[k]} h) for EV {k}")
    if tz is not None:
        try:
            local = idx.tz_convert(tz)
        except Exception as exc:  # pytz/zoneinfo raise different types
            raise ModelError(f"unknown time zone tz={tz!r}: {exc}") from None
    else:
        local = idx
    hour = (
        local.hour.to_numpy(dtype=np.float64)
        + local.minute.to_numpy(dtype=np.float64) / 60.0
        + local.second.to_numpy(dtype=np.float64) / 3600.0
    )[:, None]
    since_arrival = np.mod(hour - arr[None, :], 24.0)  # h since the latest arrival
    window = np.mod(dep - arr, 24.0)  # plug-in duration, h
    return since_arrival + dt <= window[None, :] + _EPS


def ev_required_energy(
    battery_kwh: float | np.ndarray,
    soc_arrival: float | np.ndarray,
    soc_departure_required: float | np.ndarray,
) -> np.ndarray:
    r"""Energy an EV must take in during a session to leave with the required SOC.

    .. math:: E^{req}_i = B_i \max\{0,\ SOC^{dep}_i - SOC^{arr}_i\}

    Parameters
    ----------
    battery_kwh : float or array-like, shape (N,)
        Usable battery capacity :math:`B_i`, kWh (≥ 0).
    soc_arrival : float or array-like, shape (N,)
        State of charge on arrival, fraction in [0, 1].
    soc_departure_required : float or array-like, shape (N,)
        State of charge required at departure, fraction in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (N,)
        Energy to be stored in the battery per session, kWh (≥ 0; zero when the EV
        arrives fuller than required).

    Raises
    ------
    ModelError
        If ``battery_kwh < 0`` or a state of charge is outside [0, 1].
    """
    cap = np.atleast_1d(_param(battery_kwh, "battery_kwh"))
    soc_a = np.atleast_1d(_param(soc_arrival, "soc_arrival"))
    soc_d = np.atleast_1d(_param(soc_departure_required, "soc_departure_required"))
    if np.any(cap < 0):
        raise ModelError(f"battery_kwh must be >= 0 kWh, got {cap[cap < 0][0]}")
    for name, val in (("soc_arrival", soc_a), ("soc_departure_required", soc_d)):
        bad = (val < 0) | (val > 1)
        if np.any(bad):
            raise ModelError(f"{name} must be in [0, 1], got {val[bad][0]}")
    try:
        return np.asarray(cap * np.maximum(soc_d - soc_a, 0.0), dtype=np.float64)
    except ValueError:
        raise ModelError(
            f"battery_kwh {cap.shape}, soc_arrival {soc_a.shape} and soc_departure_required "
            f"{soc_d.shape} must have the same length N"
        ) from None


def ev_immediate_charging(
    availability: np.ndarray,
    required_kwh_per_session: float | np.ndarray,
    power_kw: float | np.ndarray,
    dt_hours: float,
) -> np.ndarray:
    r"""Uncontrolled ("plug and charge") EV charging energy per step.

    Each contiguous block of plugged-in steps is one session. From the first step of
    a session the EV charges at full power until the session's requirement
    :math:`R` is met:

    .. math:: e_{t} = \min\{P \Delta t,\ \max(0,\ R - k_t P \Delta t)\}

    where :math:`k_t` is the number of plugged-in steps of the session before *t*.
    A session therefore receives :math:`\min(R,\ n P \Delta t)` for *n* plugged-in
    steps. A session already running at the first step, or still running at the
    last, is treated as starting or ending there (the horizon cuts it).

    Parameters
    ----------
    availability : array-like of bool, shape (T, N) or (T,)
        Plugged-in mask (see :func:`ev_availability`).
    required_kwh_per_session : float or array-like, shape (N,) or (T, N)
        Energy each session needs, kWh (≥ 0). Scalar or ``(N,)``: the same for every
        session of an EV. ``(T, N)``: the value at a session's first step applies to
        that session.
    power_kw : float or array-like, shape (N,)
        Charger power, kW (≥ 0), constant over time.
    dt_hours : float
        Step length, h (> 0).

    Returns
    -------
    numpy.ndarray, shape (T, N)
        Energy charged into each EV per step, kWh, in ``[0, power_kw * dt_hours]``
        and zero whenever the EV is not plugged in.

    Raises
    ------
    ModelError
        If ``power_kw < 0``, ``dt_hours <= 0`` or a requirement is negative.
    DataError
        If the shapes do not fit or inputs have NaN/inf.
    """
    dt = positive_dt(dt_hours)
    avail = availability_mask(availability)
    n_steps, n_ev = avail.shape
    power = np.atleast_1d(_param(power_kw, "power_kw"))
    if np.any(power < 0):
        raise ModelError(f"power_kw must be >= 0 kW, got {power[power < 0][0]}")
    if power.shape not in ((1,), (n_ev,)):
        raise DataError(f"power_kw must be a scalar or have length N={n_ev}, got {power.shape}")
    req = np.asarray(required_kwh_per_session, dtype=np.float64)
    if not np.all(np.isfinite(req)):
        raise DataError("required_kwh_per_session has NaN or infinite values")
    if np.any(req < 0):
        raise ModelError(f"required_kwh_per_session must be >= 0 kWh, got {req.min()}")
    if req.ndim == 2 and req.shape != (n_steps, n_ev):
        raise DataError(f"required_kwh_per_session of shape {req.shape} must be (T, N) = {avail.shape}")
    if req.ndim == 1 and req.shape not in ((1,), (n_ev,)):
        raise DataError(f"required_kwh_per_session must be a scalar, (N={n_ev},) or (T, N), got {req.shape}")
    if req.ndim > 2:
        raise DataError(f"required_kwh_per_session must be at most 2-D, got {req.shape}")

    starts = avail.copy()
    starts[1:] &= ~avail[:-1]
    steps = np.arange(n_steps, dtype=np.int64 if n_steps >= 2**31 else np.int32)[:, None]
    # Index of the latest session start at or before t (per EV, -1 if none yet).
    start_idx = np.where(starts, steps, steps.dtype.type(-1))
    np.maximum.accumulate(start_idx, axis=0, out=start_idx)
    step_cap = np.broadcast_to(power * dt, (n_ev,))[None, :]
    # k_t P dt: energy the session could have taken before t (k_t = steps since start)
    energy = (steps - start_idx) * step_cap
    if req.ndim == 2:
        session_req = np.take_along_axis(req, np.maximum(start_idx, 0), axis=0)
    else:
        session_req = np.broadcast_to(req, (n_steps, n_ev))
    np.subtract(session_req, energy, out=energy)
    np.clip(energy, 0.0, step_cap, out=energy)
    energy[~avail] = 0.0
    return energy


def synthetic_ev_fleet(
    n: int,
    seed: int | np.random.Generator | None = None,
    *,
    charger_kw: float = 11.0,
    soc_departure_required: float = 0.8,
) -> pd.DataFrame:
    """Draw a synthetic fleet of commuter EVs that charge at home overnight.

    Parameters
    ----------
    n : int
        Number of EVs (≥ 0).
    seed : int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same fleet.
    charger_kw : float, default 11.0
        Home charger power, kW (> 0; 11 kW = three-phase 16 A wallbox).
    soc_departure_required : float, default 0.8
        State of charge required at departure, fraction in [0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per EV with columns ``id`` (``"ev00000"``...), ``arrival_hour`` and
        ``departure_hour`` (local h in [0, 24)), ``battery_kwh`` (kWh),
        ``soc_arrival``, ``soc_departure_required`` (fractions), ``required_kwh``
        (kWh per session, :func:`ev_required_energy`) and ``charger_kw`` (kW).

    Raises
    ------
    ModelError
        If ``n < 0``, ``charger_kw <= 0`` or ``soc_departure_required`` is outside [0, 1].

    Notes
    -----
    Assumptions (a stylised commuter fleet, the same pattern every day):

    * arrival home ~ Normal(18 h, 1.5 h), departure ~ Normal(7.5 h, 1 h), wrapped
      to [0, 24) — the Gaussian home-arrival/departure model common in EV
      scheduling studies;
    * usable battery ~ Uniform(40, 75) kWh (compact to mid-size BEVs);
    * arrival state of charge ~ Uniform(0.3, 0.6), drawn once per EV and used for
      every session; required departure SOC ``soc_departure_required`` (0.8);
    * one charger per EV, constant power ``charger_kw``, no charging losses.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ModelError(f"n must be a non-negative integer number of EVs, got {n!r}")
    if not (np.isscalar(charger_kw) and np.isfinite(charger_kw) and charger_kw > 0):
        raise ModelError(f"charger_kw must be > 0 kW, got {charger_kw!r}")
    if not (np.isscalar(soc_departure_required) and 0 <= soc_departure_required <= 1):
        raise ModelError(f"soc_departure_required must be in [0, 1], got {soc_departure_required!r}")
    rng = np.random.default_rng(seed)
    arrival = np.mod(rng.normal(18.0, 1.5, n), 24.0)
    departure = np.mod(rng.normal(7.5, 1.0, n), 24.0)
    battery = rng.uniform(40.0, 75.0, n)
    soc_arr = rng.uniform(0.3, 0.6, n)
    soc_dep = np.full(n, float(soc_departure_required))
    return pd.DataFrame(
        {
            "id": [f"ev{i:05d}" for i in range(n)],
            "arrival_hour": arrival,
            "departure_hour": departure,
            "battery_kwh": battery,
            "soc_arrival": soc_arr,
            "soc_departure_required": soc_dep,
            "required_kwh": ev_required_energy(battery, soc_arr, soc_dep) if n else np.empty(0),
            "charger_kw": np.full(n, float(charger_kw)),
        }
    )
