"""Parameter validation shared by the asset models and the controllers that use them (public names)."""

from __future__ import annotations

import numpy as np

from peergrid.core.errors import DataError, ModelError


def as_param(value: object, name: str) -> np.ndarray:
    """Per-participant parameter as a float64 array of shape ``()`` or ``(N,)``.

    Parameters
    ----------
    value : scalar or array-like
        The parameter.
    name : str
        Parameter name for error messages.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ModelError
        Non-numeric, more than one dimension, or not finite.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(f"{name} must be numeric, got {value!r}") from None
    if arr.ndim > 1:
        raise ModelError(f"{name} must be a scalar or a 1-D array (N,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"{name} must be finite, got {value!r}")
    return arr


def positive_dt(dt_hours: object) -> float:
    """``dt_hours`` as a float; ModelError unless it is a finite scalar > 0 (a step length, h)."""
    if not (np.isscalar(dt_hours) and np.isfinite(dt_hours) and dt_hours > 0):
        raise ModelError(f"dt_hours must be > 0 h, got {dt_hours!r}")
    return float(dt_hours)


def availability_mask(availability: object) -> np.ndarray:
    """``(T, N)`` boolean plug-in mask from a boolean or 0/1 array (a ``(T,)`` vector is one EV)."""
    avail = np.asarray(availability)
    if avail.ndim == 1:
        avail = avail[:, None]
    if avail.ndim != 2:
        raise DataError(f"availability must have shape (T, N), got {avail.shape}")
    if avail.dtype != bool:
        if not np.all(np.isin(avail, (0, 1))):
            raise DataError("availability must be boolean (or 0/1)")
        avail = avail.astype(bool)
    return avail
