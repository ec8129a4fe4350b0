"""Greedy self-consumption battery rule, vectorised over batteries.

Each battery charges from its owner's own surplus and discharges into its owner's
own deficit, within power and SOC limits. It never charges from the grid or from
peers, and it is price-blind by definition: prices (``community.retail``/``feed_in``,
or a coordinator's price view) never change its schedule. The loop runs over time
only (the state couples steps); every step is one numpy operation over all batteries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from peergrid.assets.battery import BatteryFleet


@dataclass(frozen=True)
class BatterySchedule:
    """Battery operation over T steps for M batteries, ``(T, M)`` arrays.

    Attributes
    ----------
    owners : numpy.ndarray
        Participant column of each battery, length M.
    charge, discharge : numpy.ndarray
        Bus-side energy into / out of each battery per step, kWh.
    energy : numpy.ndarray
        Stored energy at the end of each step, kWh.
    capacity : numpy.ndarray
        Capacity of each battery, kWh (length M).
    load_delta : numpy.ndarray, optional
        ``(T, N)`` change of every participant's consumption made by the controller
        (flexible load shifted, EV charging added), kWh per step; ``None`` = no change.
    """

    owners: np.ndarray
    charge: np.ndarray
    discharge: np.ndarray
    energy: np.ndarray
    capacity: np.ndarray
    load_delta: np.ndarray | None = None

    @property
    def power(self) -> np.ndarray:
        """Net bus-side battery energy per step, kWh (+ charging, − discharging)."""
        return self.charge - self.discharge

    def apply(self, net: np.ndarray, *, inplace: bool = False) -> np.ndarray:
        """Net energy after battery operation, ``(T, N)`` kWh.

        Parameters
        ----------
        net : numpy.ndarray
            ``(T, N)`` net energy before storage, kWh.
        inplace : bool
            Update ``net`` itself instead of a copy (saves one ``(T, N)`` array).
        """
        out = net if inplace else np.array(net, dtype=np.float64, copy=True)
        if self.load_delta is not None:
            out += self.load_delta
        if self.owners.size:
            # row blocks keep the gather/scatter in cache and avoid a (T, M) temporary
            step = max(1, (1 << 20) // self.owners.size)
            for start in range(0, out.shape[0], step):
                rows = slice(start, start + step)
                out[rows, self.owners] += self.charge[rows] - self.discharge[rows]
        return out

    @classmethod
    def empty(cls, T: int) -> BatterySchedule:
        """A schedule with no batteries."""
        z = np.zeros((T, 0))
        return cls(np.zeros(0, dtype=np.int64), z, z.copy(), z.copy(), np.zeros(0))


def greedy_self_consumption(
    net: np.ndarray,
    fleet: BatteryFleet,
    dt: float,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy self-consumption: charge own surplus, discharge to own deficit.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, M)`` net energy of each battery owner before storage, kWh (+ deficit).
    fleet : BatteryFleet
        Parameters of the M batteries.
    dt : float
        Step length, h.
    progress : callable, optional
        Called with the number of steps done, about every 1 % of the horizon.

    Returns
    -------
    charge, discharge, energy : numpy.ndarray
        ``(T, M)`` bus-side charge and discharge (kWh per step) and stored energy
        at the end of each step (kWh). Uses Tooki et al. eqs. 4–5 for the SOC.
    """
    net = np.ascontiguousarray(net, dtype=np.float64)
    T, M = net.shape
    charge = np.zeros((T, M))
    discharge = np.zeros((T, M))
    energy = np.zeros((T, M))
    if M == 0:
        return charge, discharge, energy
    state = GreedyState(fleet, dt)
    every = max(T // 100, 1)
    # chunks of whole progress intervals: the kernel runs compiled, progress is reported between chunks
    chunk = every * max(1, (1 << 16) // max(every, 1))
    for start in range(0, T, chunk):
        rows = slice(start, min(start + chunk, T))
        state.step(net[rows], charge[rows], discharge[rows], energy[rows])
        if progress is not None:
            for done in range(start + every - start % every, rows.stop + 1, every):
                progress(done)
    if progress is not None:
        progress(T)
    return charge, discharge, energy


class GreedyState:
    """The greedy rule's state (stored energy per battery) carried from one block of steps to the next.

    :meth:`step` applies the rule to a block of steps and keeps the stored energy at its end,
    so a year run block by block (:mod:`peergrid.simulate.stream`) gives exactly the schedule of
    :func:`greedy_self_consumption` on the whole year.

    Parameters
    ----------
    fleet : BatteryFleet
        Parameters of the M batteries.
    dt : float
        Step length, h.
    """

    def __init__(self, fleet: BatteryFleet, dt: float) -> None:
        self.p = np.ascontiguousarray(fleet.power * dt, dtype=np.float64)
        self.e_min = np.ascontiguousarray(fleet.e_min, dtype=np.float64)
        self.e_max = np.ascontiguousarray(fleet.e_max, dtype=np.float64)
        self.eta_c = np.ascontiguousarray(fleet.eff_charge, dtype=np.float64)
        self.eta_d = np.ascontiguousarray(fleet.eff_discharge, dtype=np.float64)
        self.energy = np.ascontiguousarray(fleet.e_init, dtype=np.float64).copy()  # kWh, now

    def step(self, net: np.ndarray, charge: np.ndarray, discharge: np.ndarray, energy: np.ndarray) -> None:
        """Run the rule over ``(B, M)`` net energy (kWh, + deficit), writing charge, discharge
        (bus side, kWh per step) and stored energy at the end of each step (kWh) into the given
        ``(B, M)`` arrays; the stored energy carries over to the next call."""
        net = np.ascontiguousarray(net, dtype=np.float64)
        if net.shape[0] == 0 or net.shape[1] == 0:
            return
        _greedy_kernel(net, self.p, self.e_min, self.e_max, self.eta_c, self.eta_d, self.energy,
                       charge, discharge, energy)  # fmt: skip


def _greedy_python(
    net: np.ndarray,
    p: np.ndarray,
    e_min: np.ndarray,
    e_max: np.ndarray,
    eta_c: np.ndarray,
    eta_d: np.ndarray,
    e: np.ndarray,
    charge: np.ndarray,
    discharge: np.ndarray,
    energy: np.ndarray,
) -> None:
    """The greedy rule over ``(B, M)`` steps × batteries; ``e`` (stored energy, kWh) is updated in place.

    Per battery and step, in this order (Tooki et al. eqs. 4–5 for the stored energy):
    room = (e_max − e)/η_c, avail = (e − e_min)·η_d, deficit = max(x, 0), surplus = deficit − x,
    charge = min(surplus, p, room), discharge = min(deficit, p, avail),
    e ← clip(e + η_c·charge − discharge/η_d, e_min, e_max). The same operations in the same
    order as the former numpy loop, so the schedule is bit-identical to it.
    """
    B, M = net.shape
    inv_c = 1.0 / eta_c
    inv_d = 1.0 / eta_d
    for t in range(B):  # rows of the C-ordered arrays: sequential memory access
        for j in range(M):
            ej = e[j]
            pj, lo, hi = p[j], e_min[j], e_max[j]
            x = net[t, j]
            room = (hi - ej) * inv_c[j]
            avail = (ej - lo) * eta_d[j]
            deficit = x if x > 0.0 else 0.0
            surplus = deficit - x
            c = surplus if surplus < pj else pj
            c = c if c < room else room
            d = deficit if deficit < pj else pj
            d = d if d < avail else avail
            ej = ej + eta_c[j] * c
            ej = ej - d * inv_d[j]
            ej = ej if ej > lo else lo
            ej = ej if ej < hi else hi
            charge[t, j] = c
            discharge[t, j] = d
            energy[t, j] = ej
            e[j] = ej


try:  # numba is a core dependency; the pure-Python kernel is the same rule, for reading
    from numba import njit

    _greedy_kernel = njit(cache=True, nogil=True)(_greedy_python)
except ImportError:  # pragma: no cover
    _greedy_kernel = _greedy_python
