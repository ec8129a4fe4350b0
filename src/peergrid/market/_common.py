"""Input checks shared by the market modules (public names, private module).

Grid prices per slot of an order book (:func:`per_slot`, :func:`slot_tariffs`), the k of a
k-double auction (:func:`check_k`) and the inputs of a pool rule (:func:`pool_inputs`).
Pure: no I/O.
"""

from __future__ import annotations

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import ArrayLike, FloatArray, IntArray


def per_slot(values: ArrayLike | None, slots: IntArray, name: str) -> FloatArray | None:
    """A tariff (currency/kWh) given as a scalar or as an array indexed by slot number, per slot in ``slots``."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        out = np.full(slots.shape, float(arr))
    else:
        if arr.ndim != 1 or (slots.size and (slots.min() < 0 or slots.max() >= arr.shape[0])):
            raise DataError(
                f"{name} must be a scalar or a 1-D array indexed by slot number (slots up to {slots.max()})"
            )
        out = arr[slots]
    if not np.all(np.isfinite(out)):
        raise DataError(f"{name} contains NaN or infinite values")
    return out



def slot_tariffs(
    slots: IntArray, retail: ArrayLike | None, feed_in: ArrayLike | None
) -> tuple[FloatArray | None, FloatArray | None]:
    """Grid prices λb, λs (currency/kWh) of ``slots`` for an order book's residuals; both or neither, 0 ≤ λs ≤ λb."""
    lb = per_slot(retail, slots, "retail")
    ls = per_slot(feed_in, slots, "feed_in")
    if (lb is None) != (ls is None):
        raise ConfigError("give both retail and feed_in (grid prices for the residuals), or neither")
    if lb is not None and ls is not None:
        if np.any(lb < 0) or np.any(ls < 0):
            raise DataError("retail and feed_in must be >= 0")
        if np.any(ls > lb):
            t = int(np.argmax(ls > lb))
            raise DataError(f"feed-in tariff {ls[t]} exceeds retail price {lb[t]} in slot {slots[t]}")
    return lb, ls



def check_k(k: float) -> float:
    """The k of a k-double auction as a float; ConfigError unless 0 ≤ k ≤ 1 (the registry's ``k`` option)."""
    from peergrid.market.mechanisms import K_OPTION  # mechanisms imports the auctions, which import this module

    return K_OPTION.check(k)



def pool_inputs(
    demand: ArrayLike, supply: ArrayLike, retail: ArrayLike, feed_in: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Checked ``(D, G, λb, λs)`` of a pool rule: 1-D, equal length, finite, ≥ 0, λs ≤ λb (prices broadcast)."""
    d = np.atleast_1d(np.asarray(demand, dtype=np.float64))
    g = np.atleast_1d(np.asarray(supply, dtype=np.float64))
    if d.shape != g.shape or d.ndim != 1:
        raise DataError(f"demand {d.shape} and supply {g.shape} must be 1-D arrays of equal length")
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64), d.shape).copy()
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64), d.shape).copy()
    for name, arr in (("demand", d), ("supply", g), ("retail", lb), ("feed_in", ls)):
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{name} contains NaN or infinite values")
        if np.any(arr < 0):
            raise DataError(f"{name} must be >= 0")
    if np.any(ls > lb):
        t = int(np.argmax(ls > lb))
        raise DataError(f"feed-in tariff {ls[t]} exceeds retail price {lb[t]} at slot {t}")
    return d, g, lb, ls
