"""Helpers shared by the zoom modules (public names, private module)."""

from __future__ import annotations

from typing import Any

import numpy as np

from peergrid.core.errors import DataError


def step_prices(x: Any, T: int, name: str) -> np.ndarray:
    """A price (currency/kWh) as one value per step, ``(T,)``: a scalar is repeated; DataError unless finite, >= 0."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(T, float(a))
    if a.shape != (T,):
        raise DataError(f"{name} must be a scalar or have one value per step ({T}), got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise DataError(f"{name} must be finite and >= 0")
    return a
