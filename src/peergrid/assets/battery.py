"""Battery energy storage: state-of-charge dynamics (Tooki et al. eqs. 4–5).

Conventions: ``charge`` is energy drawn from the household bus in a step (kWh ≥ 0),
``discharge`` is energy delivered to the bus (kWh ≥ 0). Stored energy changes by
η_c·charge − discharge/η_d, which is Tooki et al. eq. 5,
C_t − C_{t−1} = Δt (C^G_t − C^D_t), written with bus-side energies and the
efficiencies of eq. 1; eq. 4 is the same update from the initial content ESS^In.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peergrid.core.errors import ModelError


@dataclass(frozen=True)
class BatteryFleet:
    """Parameters of M batteries, each array of length M.

    Attributes
    ----------
    capacity : numpy.ndarray
        Usable capacity, kWh.
    power : numpy.ndarray
        Charge and discharge power limit, kW.
    eff_charge, eff_discharge : numpy.ndarray
        One-way efficiencies in (0, 1].
    soc_min, soc_max, soc_init : numpy.ndarray
        SOC bounds and initial SOC as fractions of capacity.
    """

    capacity: np.ndarray
    power: np.ndarray
    eff_charge: np.ndarray
    eff_discharge: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray
    soc_init: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.capacity).shape
        for name in ("capacity", "power", "eff_charge", "eff_discharge", "soc_min", "soc_max", "soc_init"):
            arr = np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), m).copy()
            if not np.all(np.isfinite(arr)):
                raise ModelError(f"battery {name} contains NaN")
            if np.any(arr < 0):
                raise ModelError(f"battery {name} must be >= 0")
            object.__setattr__(self, name, arr)
        if np.any(
            (self.eff_charge <= 0) | (self.eff_charge > 1) | (self.eff_discharge <= 0) | (self.eff_discharge > 1)
        ):
            raise ModelError("battery efficiencies must lie in (0, 1]")
        if np.any(self.soc_min > self.soc_max) or np.any(self.soc_max > 1):
            raise ModelError("battery SOC bounds need 0 <= soc_min <= soc_max <= 1")

    @property
    def size(self) -> int:
        """Number of batteries M."""
        return self.capacity.shape[0]

    @property
    def e_min(self) -> np.ndarray:
        """Lowest allowed stored energy, kWh."""
        return self.soc_min * self.capacity

    @property
    def e_max(self) -> np.ndarray:
        """Highest allowed stored energy, kWh."""
        return self.soc_max * self.capacity

    @property
    def e_init(self) -> np.ndarray:
        """Initial stored energy (clipped into the SOC band), kWh."""
        return np.clip(self.soc_init * self.capacity, self.e_min, self.e_max)


def soc_update(
    energy: np.ndarray,
    charge: np.ndarray,
    discharge: np.ndarray,
    eff_charge: np.ndarray | float = 1.0,
    eff_discharge: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Stored energy after one step (Tooki et al. eqs. 4–5).

    Parameters
    ----------
    energy : numpy.ndarray
        Stored energy at the start of the step (ESS^In for t = 1), kWh.
    charge : numpy.ndarray
        Energy drawn from the bus to charge, kWh.
    discharge : numpy.ndarray
        Energy delivered to the bus, kWh.
    eff_charge, eff_discharge : numpy.ndarray or float
        One-way efficiencies η_c and η_d.

    Returns
    -------
    numpy.ndarray
        Stored energy at the end of the step, kWh: E + η_c·charge − discharge/η_d.
    """
    return energy + np.asarray(eff_charge) * charge - discharge / np.asarray(eff_discharge)


def step_limits(energy: np.ndarray, fleet: BatteryFleet, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Largest feasible bus-side charge and discharge in one step.

    Parameters
    ----------
    energy : numpy.ndarray
        Stored energy at the start of the step, kWh.
    fleet : BatteryFleet
        Battery parameters.
    dt : float
        Step length, h.

    Returns
    -------
    max_charge, max_discharge : numpy.ndarray
        kWh per step, limited by power × dt and by the SOC band.
    """
    p = fleet.power * dt
    max_charge = np.minimum(p, np.maximum(fleet.e_max - energy, 0.0) / fleet.eff_charge)
    max_discharge = np.minimum(p, np.maximum(energy - fleet.e_min, 0.0) * fleet.eff_discharge)
    return max_charge, max_discharge
