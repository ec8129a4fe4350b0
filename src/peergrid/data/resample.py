"""Energy-conserving resampling between fixed time steps.

Two kinds of quantity are resampled differently:

* **energy per step** (kWh per step: load, generation, trades) is *extensive*: when
  the step gets longer the values are **summed**, when it gets shorter each value
  is **split evenly** over the sub-steps. Totals are conserved to floating-point
  rounding. Steps that are not multiples of each other (1 h -> 150 min, Tooki et
  al.'s trading interval) go through the greatest common divisor of the two steps
  (1 h -> 30 min split, then 5 x 30 min summed).
* **intensive quantities** (prices in currency/kWh, temperatures in °C, power in
  kW, irradiance in W/m²) are **averaged over time** when the step gets longer and
  **held** (repeated) when it gets shorter.

Both functions are vectorised (one ``reshape`` + ``sum``/``mean`` or one
``repeat``), so a ``(35040, 10000)`` array resamples in well under a second.

The target grid starts at the first input timestamp (bins are *not* snapped to
midnight or to the epoch).
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from peergrid.core.errors import DataError
from peergrid.core.timeindex import validate_index
from peergrid.data._common import hold_steps, mean_steps, split_steps, sum_steps

__all__ = ["resample_energy", "resample_intensive", "to_step"]

ArrayOrFrame = np.ndarray | pd.Series | pd.DataFrame


def to_step(freq: str | pd.Timedelta | pd.DateOffset) -> pd.Timedelta:
    """Convert a fixed frequency to a positive step length.

    Parameters
    ----------
    freq : str, pandas.Timedelta or pandas.DateOffset
        Fixed step, e.g. ``"15min"``, ``"1h"``, ``"150min"``. Calendar frequencies
        (months, business days) are not fixed and are rejected.

    Returns
    -------
    pandas.Timedelta
        Step length (> 0).

    Raises
    ------
    DataError
        If ``freq`` is not a fixed, positive step.
    """
    try:
        if isinstance(freq, pd.Timedelta):
            step = freq
        else:
            step = pd.Timedelta(to_offset(freq))
    except (ValueError, TypeError):
        raise DataError(
            f"freq {freq!r} is not a fixed time step (use e.g. '15min', '1h', '150min')"
        ) from None
    if step <= pd.Timedelta(0):
        raise DataError(f"freq {freq!r} must be a positive time step")
    return step


def _fmt(td: pd.Timedelta) -> str:
    """Short human form of a duration: '4h', '150min', '2d 3h', '90s'."""
    sec = td.total_seconds()
    if sec % 3600 == 0:
        hours = int(sec // 3600)
        return f"{hours}h" if hours < 48 else f"{hours // 24}d {hours % 24}h".replace(" 0h", "")
    if sec % 60 == 0:
        return f"{int(sec // 60)}min"
    return f"{sec:g}s"


def _check_index(index: pd.Index | None, n: int, what: str) -> pd.DatetimeIndex:
    if index is None:
        raise DataError(f"{what}: a numpy array needs index= (a DatetimeIndex of length {n})")
    if isinstance(index, pd.DatetimeIndex):
        # validate_index infers freq from integer nanoseconds; normalise the unit.
        index = index.as_unit("ns")
    index = validate_index(index, what)
    if len(index) != n:
        raise DataError(f"{what}: has {len(index)} timestamps but the data has {n} rows")
    return index


# ---- vectorised kernels on (T, ...) arrays ---------------------------------------------


def _convert(x: np.ndarray, u: int, d: int, n_out: int, intensive: bool) -> np.ndarray:
    """Go from step ``s`` to step ``t`` where ``s = u*g`` and ``t = d*g``."""
    if u == 1 and d == 1:
        return x[:n_out].copy()
    if u == 1:
        x = x[: n_out * d]
        return mean_steps(x, d) if intensive else sum_steps(x, d)
    if d == 1:
        return hold_steps(x, u) if intensive else split_steps(x, u)
    # Non-multiple steps: up to the gcd step, then down. The division by u of the
    # energy split is applied after summing (same totals, on the smaller array).
    fine = np.repeat(x, u, axis=0)[: n_out * d]
    if intensive:
        return mean_steps(fine, d)
    out = sum_steps(fine, d)
    out /= u
    return out


def _resample(
    x: ArrayOrFrame,
    freq: str | pd.Timedelta,
    index: pd.DatetimeIndex | None,
    trim: bool,
    intensive: bool,
) -> ArrayOrFrame | tuple[np.ndarray, pd.DatetimeIndex]:
    what = "resample_intensive" if intensive else "resample_energy"
    is_pandas = isinstance(x, (pd.Series, pd.DataFrame))
    if is_pandas:
        if index is not None:
            raise DataError(f"{what}: pass index= only with a numpy array, not with pandas data")
        values = x.to_numpy(dtype=np.float64)
        index = _check_index(x.index, len(x), f"{what}: input index")
    else:
        values = np.asarray(x, dtype=np.float64)
        if values.ndim not in (1, 2):
            raise DataError(f"{what}: expected a (T,) or (T, N) array, got shape {values.shape}")
        index = _check_index(index, values.shape[0], f"{what}: index")
    src = pd.Timedelta(index.freq)
    dst = to_step(freq)
    s_ns, t_ns = int(src.value), int(dst.value)
    g = math.gcd(s_ns, t_ns)
    u, d = s_ns // g, t_ns // g
    n_fine = values.shape[0] * u
    n_out, rem = divmod(n_fine, d)
    span = src * values.shape[0]
    if rem and not trim:
        raise DataError(
            f"{what}: span {_fmt(span)} ({values.shape[0]} steps of {_fmt(src)}) is not a "
            f"whole number of freq={_fmt(dst)} steps; pass trim=True to drop the trailing "
            "partial step"
        )
    if n_out == 0:
        raise DataError(f"{what}: span {_fmt(span)} is shorter than one freq={_fmt(dst)} step")
    out = _convert(values, u, d, n_out, intensive)
    new_index = pd.date_range(index[0], periods=n_out, freq=to_offset(dst), name=index.name)
    if isinstance(x, pd.Series):
        return pd.Series(out, index=new_index, name=x.name)
    if isinstance(x, pd.DataFrame):
        return pd.DataFrame(out, index=new_index, columns=x.columns)
    return out, new_index


@overload
def resample_energy(
    x: pd.Series, freq: str | pd.Timedelta, *, index: None = None, trim: bool = False
) -> pd.Series: ...
@overload
def resample_energy(
    x: pd.DataFrame, freq: str | pd.Timedelta, *, index: None = None, trim: bool = False
) -> pd.DataFrame: ...
@overload
def resample_energy(
    x: np.ndarray, freq: str | pd.Timedelta, *, index: pd.DatetimeIndex, trim: bool = False
) -> tuple[np.ndarray, pd.DatetimeIndex]: ...
def resample_energy(
    x: ArrayOrFrame,
    freq: str | pd.Timedelta,
    *,
    index: pd.DatetimeIndex | None = None,
    trim: bool = False,
) -> ArrayOrFrame | tuple[np.ndarray, pd.DatetimeIndex]:
    """Resample energy per step (kWh) to another fixed step, conserving totals.

    Downsampling sums whole source steps; upsampling splits each step evenly;
    non-multiple steps (e.g. 1 h -> 150 min) split to the greatest common divisor
    step and then sum. Column totals are conserved to floating-point rounding.

    Parameters
    ----------
    x : pandas.Series, pandas.DataFrame or numpy.ndarray
        Energy per step, kWh, shape ``(T,)`` or ``(T, N)``. pandas input must carry a
        fixed-step, timezone-aware :class:`~pandas.DatetimeIndex`. NaN propagates
        into the bins that contain it.
    freq : str or pandas.Timedelta
        Target step, e.g. ``"15min"``, ``"30min"``, ``"1h"``, ``"150min"``.
    index : pandas.DatetimeIndex, optional
        Time index of a numpy ``x`` (period starts, length T). Not allowed with
        pandas input.
    trim : bool
        If the span is not a whole number of target steps: ``False`` (default)
        raises :class:`DataError`; ``True`` drops the trailing partial target step.
        **The energy of the dropped part is lost**, so totals are then only
        conserved over the kept span.

    Returns
    -------
    pandas.Series, pandas.DataFrame or (numpy.ndarray, pandas.DatetimeIndex)
        Energy per target step, kWh: the same pandas type with a new UTC index
        (``freq`` set, starting at the first input timestamp), or for a numpy input
        the tuple ``(values, new_index)`` with float64 values.

    Raises
    ------
    DataError
        If the index has gaps, duplicates, irregular steps or no timezone, if its
        length does not match the data, if ``freq`` is not a fixed step, or if the
        span is not a whole number of target steps and ``trim`` is ``False``.

    Examples
    --------
    >>> idx = pd.date_range("2022-08-01", periods=5, freq="1h", tz="UTC")
    >>> resample_energy(pd.Series([1.0, 2, 3, 4, 5], index=idx), "150min").tolist()
    [4.5, 10.5]
    """
    return _resample(x, freq, index, trim, intensive=False)


@overload
def resample_intensive(
    x: pd.Series, freq: str | pd.Timedelta, *, index: None = None, trim: bool = False
) -> pd.Series: ...
@overload
def resample_intensive(
    x: pd.DataFrame, freq: str | pd.Timedelta, *, index: None = None, trim: bool = False
) -> pd.DataFrame: ...
@overload
def resample_intensive(
    x: np.ndarray, freq: str | pd.Timedelta, *, index: pd.DatetimeIndex, trim: bool = False
) -> tuple[np.ndarray, pd.DatetimeIndex]: ...
def resample_intensive(
    x: ArrayOrFrame,
    freq: str | pd.Timedelta,
    *,
    index: pd.DatetimeIndex | None = None,
    trim: bool = False,
) -> ArrayOrFrame | tuple[np.ndarray, pd.DatetimeIndex]:
    """Resample an intensive quantity (price, temperature, power) to another step.

    Downsampling takes the time-weighted mean over each target step; upsampling
    holds each value over its sub-steps; non-multiple steps go through the greatest
    common divisor step (hold, then mean).

    Parameters
    ----------
    x : pandas.Series, pandas.DataFrame or numpy.ndarray
        Values in their own unit (currency/kWh, °C, kW, W/m², ...), shape ``(T,)``
        or ``(T, N)``, with a fixed-step, timezone-aware index.
    freq : str or pandas.Timedelta
        Target step, e.g. ``"15min"``, ``"1h"``, ``"150min"``.
    index : pandas.DatetimeIndex, optional
        Time index of a numpy ``x`` (period starts, length T).
    trim : bool
        Drop a trailing partial target step instead of raising.

    Returns
    -------
    pandas.Series, pandas.DataFrame or (numpy.ndarray, pandas.DatetimeIndex)
        Values per target step in the input unit; pandas in, pandas out, numpy in,
        ``(values, new_index)`` out.

    Raises
    ------
    DataError
        Same conditions as :func:`resample_energy`.
    """
    return _resample(x, freq, index, trim, intensive=True)
