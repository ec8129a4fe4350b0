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
    p = fleet.power * dt
    e_min, e_max = fleet.e_min, fleet.e_max
    eta_c, eta_d = fleet.eff_charge, fleet.eff_discharge
    inv_eta_c, inv_eta_d = 1.0 / eta_c, 1.0 / eta_d
    e = fleet.e_init.copy()
    surplus = np.empty(M)
    deficit = np.empty(M)
    every = max(T // 100, 1)
    room = np.empty(M)
    avail = np.empty(M)
    for t in range(T):
        # room to charge and energy available to discharge, bus side
        np.subtract(e_max, e, out=room)
        room *= inv_eta_c
        np.subtract(e, e_min, out=avail)
        avail *= eta_d
        np.maximum(net[t], 0.0, out=deficit)
        np.subtract(deficit, net[t], out=surplus)  # max(-x, 0) = max(x, 0) - x
        c = np.minimum(np.minimum(surplus, p), room, out=charge[t])
        d = np.minimum(np.minimum(deficit, p), avail, out=discharge[t])
        e += eta_c * c
        e -= d * inv_eta_d
        np.maximum(e, e_min, out=e)
        np.minimum(e, e_max, out=energy[t])
        e = energy[t].copy()
        if progress is not None and (t + 1) % every == 0:
            progress(t + 1)
    if progress is not None:
        progress(T)
    return charge, discharge, energy
