"""Parameter validation shared by the asset models."""

from __future__ import annotations

import numpy as np

from peergrid.core.errors import ModelError


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
