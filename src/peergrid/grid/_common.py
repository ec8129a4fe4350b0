"""Helpers shared by the flow modules (public names, private module): inputs, numba, BLAS, phases.

:func:`flow_inputs` validates the inputs of every flow run (:mod:`peergrid.grid.flow`,
:mod:`peergrid.grid.sweep`): participant table, ``(T, N)`` P and Q (kW, kvar), slot rows and
``dt`` (h).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.core.types import ArrayLike, FloatArray, IndexArray
from peergrid.grid._pp import has_numba
from peergrid.grid.feeder import participant_table

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

#: Default numba use: from this many bus-slots on, numba's ~2–3 s one-off JIT compilation pays off.
NUMBA_MIN_BUS_SLOTS = 50_000

#: Share of a member's power on phases a, b, c by its connection (``abc``: balanced three-phase).
PHASE_SHARE = {"a": (1.0, 0.0, 0.0), "b": (0.0, 1.0, 0.0), "c": (0.0, 0.0, 1.0), "abc": (1 / 3, 1 / 3, 1 / 3)}


def use_numba(numba: bool | None, n_bus: int, n_slots: int) -> bool:
    """Whether a flow uses numba: as asked (if installed), else from :data:`NUMBA_MIN_BUS_SLOTS` bus-slots on."""
    if numba is None:
        return has_numba() and n_bus * n_slots >= NUMBA_MIN_BUS_SLOTS
    return bool(numba) and has_numba()


def single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """Limit BLAS to one thread (threadpoolctl, if installed) around runpp_3ph's tiny dense products."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = threadpool_limits(limits=1, user_api="blas")
    return limits


def _power(p_kw: ArrayLike, q_kvar: ArrayLike | None, n: int) -> tuple[FloatArray, FloatArray]:
    p = np.asarray(p_kw, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != n:
        raise DataError(f"p_kw: expected shape (T, {n}) (one column per participant on the feeder), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise DataError("p_kw: contains NaN or infinite values")
    if q_kvar is None:
        return p, np.zeros_like(p)
    q = np.asarray(q_kvar, dtype=np.float64)
    if q.ndim == 1:
        q = q[None, :]
    if q.shape != p.shape:
        raise DataError(f"q_kvar: expected the shape of p_kw {p.shape}, got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise DataError("q_kvar: contains NaN or infinite values")
    return p, q


def _slots(slots: ArrayLike | slice | None, n: int) -> IndexArray:
    if slots is None:
        return np.arange(n)
    if isinstance(slots, slice):
        return np.arange(n)[slots]
    rows = np.atleast_1d(np.asarray(slots))
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise DataError(f"slots: boolean mask needs {n} entries, got {rows.shape}")
        return np.flatnonzero(rows)
    if rows.dtype.kind not in "iu":
        raise DataError(f"slots: expected integer slot numbers, got {rows.dtype}")
    if rows.size and (rows.min() < -n or rows.max() >= n):
        raise DataError(f"slots: slot numbers must be in 0..{n - 1}")
    return np.where(rows < 0, rows + n, rows)


def _dt(dt: float) -> float:
    if not (np.isfinite(dt) and dt > 0):
        raise DataError(f"dt must be a positive number of hours, got {dt}")
    return float(dt)


def flow_inputs(
    net: pandapowerNet, p_kw: ArrayLike, q_kvar: ArrayLike | None, slots: ArrayLike | slice | None, dt: float
) -> tuple[pd.DataFrame, FloatArray, FloatArray, IndexArray, float]:
    """Validated inputs of a flow run: participant table, (T, N) P and Q in kW/kvar, slot rows, dt in h."""
    table = participant_table(net)
    p, q = _power(p_kw, q_kvar, len(table))
    return table, p, q, _slots(slots, p.shape[0]), _dt(dt)
