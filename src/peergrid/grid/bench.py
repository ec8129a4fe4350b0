"""Power-flow benchmarks: a synthetic LV feeder with a day of household load and PV.

Used by ``benchmarks/powerflow.py`` and ``benchmarks/clearing.py`` (issue 4: "Feeder
power flow for a 100-bus LV feeder × 96 slots: report time").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from peergrid.core.errors import ModelError
from peergrid.core.types import FloatArray
from peergrid.grid.feeder import build_feeder, feeder_from_net
from peergrid.grid.flow import power_flow, power_flow_3ph

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet


def synthetic_feeder(buses: int = 100, slots: int = 96, *, seed: int = 0) -> tuple[pandapowerNet, FloatArray, float]:
    """A default feeder with one household on every LV bus but the busbar, and a day of net power.

    Households rotate over phases a, b, c. Load: 0.3 kW base plus morning (7:30) and
    evening (19:00) peaks, scaled per household by U(0.5, 1.5); every second household
    has 3–6 kWp of PV (half-sine 6:00–18:00, 80 % of peak).

    Parameters
    ----------
    buses : int
        LV buses of the feeder (≥ 2; the MV slack bus comes on top).
    slots : int
        Slots over one day (96 = 15 min).
    seed : int
        Seed of the household scaling and PV sizes.

    Returns
    -------
    net : pandapowerNet
    p_kw : numpy.ndarray
        ``(slots, buses - 1)`` net power per household, kW.
    dt : float
        Slot length, hours.
    """
    if buses < 2 or slots < 1:
        raise ModelError(f"need buses >= 2 and slots >= 1, got {buses}, {slots}")
    rng = np.random.default_rng(seed)
    n = buses - 1
    base = build_feeder(n_buses=buses)
    phases = np.array(["a", "b", "c"])[np.arange(n) % 3]
    mapping = pd.DataFrame({"id": [f"h{i:04d}" for i in range(n)], "bus": np.arange(1, buses), "phase": phases})
    net = feeder_from_net(base, mapping)
    dt = 24.0 / slots
    hours = (np.arange(slots) + 0.5) * dt
    shape = 0.3 + 0.5 * np.exp(-((hours - 7.5) ** 2) / 2.0) + 1.2 * np.exp(-((hours - 19.0) ** 2) / 8.0)
    load = shape[:, None] * rng.uniform(0.5, 1.5, n)[None, :]
    kwp = np.where(np.arange(n) % 2 == 0, rng.uniform(3.0, 6.0, n), 0.0)
    sun = np.clip(np.sin(np.pi * (hours - 6.0) / 12.0), 0.0, None)
    return net, load - 0.8 * sun[:, None] * kwp[None, :], dt


def _warm_up(three_phase: bool, numba: bool | None) -> None:
    """Run a tiny flow once so that imports and numba JIT compilation are not timed."""
    net, p, dt = synthetic_feeder(4, 2)
    (power_flow_3ph if three_phase else power_flow)(net, p, dt=dt, numba=numba)


def _time_flow(three_phase: bool, buses: int, slots: int, seed: int, warmup: bool, numba: bool | None) -> float:
    """Seconds of one balanced or three-phase flow on :func:`synthetic_feeder` (feeder building not timed)."""
    net, p, dt = synthetic_feeder(buses, slots, seed=seed)
    if warmup:
        _warm_up(three_phase, numba)
    flow_fn = power_flow_3ph if three_phase else power_flow
    t0 = time.perf_counter()
    flow = flow_fn(net, p, dt=dt, numba=numba)
    elapsed = time.perf_counter() - t0
    if not flow.converged.all():  # pragma: no cover - the synthetic feeder always converges
        name = "benchmark_powerflow_3ph" if three_phase else "benchmark_powerflow"
        raise ModelError(f"{name}: some slots did not converge")
    return elapsed


def benchmark_powerflow(
    buses: int = 100, slots: int = 96, *, seed: int = 0, warmup: bool = True, numba: bool | None = None
) -> float:
    """Seconds for a balanced power flow of ``slots`` slots on a ``buses``-bus LV feeder.

    Times :func:`~peergrid.grid.power_flow` only (not building the feeder or the profiles);
    with ``warmup`` a tiny flow runs first so pandapower's imports and numba's JIT
    compilation (~2–3 s once per process) are excluded. ``numba`` is passed through
    (default: the library default, see :func:`~peergrid.grid.power_flow`).
    """
    return _time_flow(False, buses, slots, seed, warmup, numba)


def benchmark_powerflow_3ph(
    buses: int = 100, slots: int = 96, *, seed: int = 0, warmup: bool = True, numba: bool | None = None
) -> float:
    """Seconds for an unbalanced (``runpp_3ph``) flow; as :func:`benchmark_powerflow`."""
    return _time_flow(True, buses, slots, seed, warmup, numba)
