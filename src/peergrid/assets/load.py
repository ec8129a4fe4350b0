"""Household electricity demand: scaling profiles and BDEW standard load profiles.

Powers are in kW (mean power per step), energies in kWh, step lengths in h.
Per-participant results are ``(T, N)`` float64 arrays (time x participant).

References
----------
.. [1] Tooki, O. O. et al., "A decentralized peer-to-peer energy trading framework
   for transactive energy systems", eq. 1 (consumption side of the balance).
.. [2] BDEW, "Standardlastprofile Strom", 2025 revision (H25 household profile);
   implemented by demandlib (oemof, MIT licence).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError, ModelError
from peergrid.core.timeindex import step_hours, validate_index

__all__ = ["bdew_household_profile", "scale_to_annual"]

_HOURS_PER_YEAR = 8760.0
#: Annual energy demandlib normalises the BDEW profiles to, kWh/a.
_BDEW_REFERENCE_KWH = 1.0e6


def _annual(value: object) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise ModelError(f"annual_kwh must be numeric, got {value!r}") from None
    if arr.ndim > 1:
        raise ModelError(f"annual_kwh must be a scalar or a 1-D array (N,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ModelError(f"annual_kwh must be finite and >= 0 kWh, got {value!r}")
    return arr


def scale_to_annual(
    profile: np.ndarray | pd.Series | pd.DataFrame,
    annual_kwh: float | np.ndarray,
    dt_hours: float,
) -> np.ndarray:
    r"""Scale a load shape so that it corresponds to a given annual consumption.

    The result has the shape of ``profile`` and a mean power of
    ``annual_kwh / 8760 h``:

    .. math:: P_t = p_t \, \frac{E_{a}}{8760} \, \frac{T}{\sum_t p_t}

    so a profile spanning exactly one 365-day year (8,760 h) sums to ``annual_kwh``
    kWh, and a shorter profile (a typical day or week) gets its pro-rata share.

    Parameters
    ----------
    profile : array-like, shape (T,) or (T, N)
        Load shape, any non-negative unit (e.g. kW or a relative profile).
    annual_kwh : float or array-like, shape (N,)
        Annual consumption per participant, kWh/a (≥ 0).
    dt_hours : float
        Step length, h (> 0).

    Returns
    -------
    numpy.ndarray
        Mean power per step, kW: shape (T,) for a 1-D profile and scalar
        ``annual_kwh``, else (T, N).

    Raises
    ------
    ModelError
        If ``annual_kwh < 0`` or ``dt_hours <= 0``.
    DataError
        If the profile is empty, has NaN/inf or negative values, a column that sums to
        zero, or a width that does not match ``annual_kwh``.

    Examples
    --------
    >>> scale_to_annual([1.0, 3.0], 8760.0, dt_hours=1.0)
    array([0.5, 1.5])
    """
    if not (np.isscalar(dt_hours) and np.isfinite(dt_hours) and dt_hours > 0):
        raise ModelError(f"dt_hours must be > 0 h, got {dt_hours!r}")
    p = np.asarray(profile, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[0] == 0:
        raise DataError(f"profile must have shape (T,) or (T, N) with T > 0, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise DataError("profile has NaN or infinite values")
    if np.any(p < 0):
        raise DataError(f"profile must be >= 0, got {p.min()}")
    energy = np.asarray(_annual(annual_kwh))
    scalar_out = p.ndim == 1 and np.ndim(annual_kwh) == 0
    if p.ndim == 1:
        p = p[:, None]
    total = p.sum(axis=0)
    if np.any(total <= 0):
        k = int(np.argmax(total <= 0))
        raise DataError(f"profile column {k} sums to zero; it has no shape to scale")
    mean_kw = energy / _HOURS_PER_YEAR
    try:
        out = p * (mean_kw * p.shape[0] / total)[None, :]
    except ValueError:
        raise DataError(
            f"profile has {p.shape[1]} columns but annual_kwh has {energy.shape[0]} values"
        ) from None
    return out[:, 0].copy() if scalar_out else np.ascontiguousarray(out)


def bdew_household_profile(
    index: pd.DatetimeIndex,
    annual_kwh: float | np.ndarray,
    *,
    tz: str = "Europe/Berlin",
    holidays: list | dict | None = None,
) -> np.ndarray:
    """German BDEW standard household load profile (H25), scaled to annual demand.

    Uses demandlib's implementation of the 2025 BDEW household profile H25 (the
    successor of H0, with the dynamisation polynomial over the day of the year).
    The profile is built on a 15-minute grid in local time ``tz`` (so weekdays,
    Saturdays, Sundays/holidays and DST follow the local calendar), averaged to the
    index's step, and scaled by ``annual_kwh`` / 1,000,000 kWh — the BDEW
    normalisation. A full calendar year therefore sums to ``annual_kwh`` within
    about 1 % (calendar effects, e.g. 0.995 for 2022 without holidays).

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Fixed-step, timezone-aware index of period starts (length T). Steps of 15 min
        or a multiple must start on a quarter hour; shorter steps divide it.
    annual_kwh : float or array-like, shape (N,)
        Annual consumption per household, kWh/a (≥ 0).
    tz : str, default "Europe/Berlin"
        Local time zone of the households.
    holidays : list or dict of dates, optional
        Public holidays, treated like Sundays (passed to demandlib).

    Returns
    -------
    numpy.ndarray, shape (T, N)
        Mean household power per step, kW.

    Raises
    ------
    ModelError
        If demandlib is not installed or ``annual_kwh < 0``.
    DataError
        If the index is not a fixed-step timezone-aware index, or its steps do not
        align with the profile's quarter hours.

    Notes
    -----
    demandlib (MIT) is an optional dependency: ``pip install demandlib>=0.2.2``.
    Its older ``ElecSlp`` H0 implementation fails with pandas 3 (it turns all
    warnings into errors and then hits pandas deprecation warnings), so only the
    ``H25`` class is used here.
    """
    try:
        from demandlib.bdew import H25
    except ImportError:
        raise ModelError(
            "bdew_household_profile needs the optional package demandlib "
            "(pip install 'demandlib>=0.2.2')"
        ) from None
    energy = _annual(annual_kwh)
    idx = validate_index(index, "BDEW profile index")
    dt = step_hours(idx)
    quarter = pd.Timedelta(minutes=15)
    step = pd.Timedelta(hours=dt)
    if step >= quarter:
        ratio = step / quarter
        if ratio != int(ratio) or idx[0] != idx[0].floor(quarter):
            raise DataError(
                f"BDEW profile index: steps of {step} must be whole quarter hours "
                f"starting on a quarter hour (first step {idx[0].isoformat()})"
            )
        k = int(ratio)
        grid = pd.date_range(idx[0], periods=len(idx) * k, freq=quarter)
    else:
        if quarter / step != int(quarter / step):
            raise DataError(f"BDEW profile index: step {step} must divide 15 minutes")
        start = idx[0].floor(quarter)
        grid = pd.date_range(start, idx[-1].floor(quarter), freq=quarter)
    try:
        local = grid.tz_convert(tz)
    except Exception as exc:  # zoneinfo/pytz raise different types
        raise ModelError(f"unknown time zone tz={tz!r}: {exc}") from None
    with warnings.catch_warnings():
        # demandlib 0.2.2 uses pandas ``inplace=`` arguments deprecated in pandas 3.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"demandlib")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"demandlib")
        quarter_kw = np.asarray(H25(local, holidays=holidays).to_numpy(), dtype=np.float64)
    if quarter_kw.shape != (len(grid),) or not np.all(np.isfinite(quarter_kw)):
        raise DataError("BDEW profile index: demandlib returned an incomplete H25 profile")
    if step >= quarter:
        shape_kw = quarter_kw.reshape(len(idx), k).mean(axis=1)
    else:
        pos = ((idx.floor(quarter) - grid[0]) // quarter).to_numpy(dtype=np.int64)
        shape_kw = quarter_kw[pos]
    return np.ascontiguousarray(shape_kw[:, None] * (energy / _BDEW_REFERENCE_KWH)[None, :])
