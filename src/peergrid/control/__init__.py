"""Battery and flexibility control.

A controller is a callable ``f(community, progress=None) -> BatterySchedule``; the
names in :data:`CONTROLLERS` select the built-in ones: ``none``, ``greedy``
(self-consumption), ``rule`` (Petri et al. Algorithm 1), ``peak`` (Lange p-MAS agents),
``lp`` / ``lp-community`` (HiGHS perfect-foresight optimum per building / joint),
``mpc`` / ``mpc-community`` (sliding-horizon MPC), ``ev-smart`` / ``ev-immediate``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from peergrid.assets.battery import BatteryFleet
from peergrid.control.ev import ev_controller, ev_immediate_control, ev_smart_control
from peergrid.control.forecast import Forecaster, PerfectForecaster, PersistenceForecaster
from peergrid.control.greedy import BatterySchedule, greedy_self_consumption
from peergrid.control.lp import (
    LPSchedule,
    grid_cost,
    lp_community,
    lp_individual,
    lp_schedule,
    optimal_dispatch,
)
from peergrid.control.mpc import MPCSchedule, mpc, mpc_community, mpc_individual
from peergrid.control.peak import PeakParams, peak_agents, peak_report
from peergrid.control.prices import OBJECTIVES, check_objective, objective_view, price_view
from peergrid.control.rule import RuleParams, SecondaryStorage, rule_based
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError

Controller = Callable[..., BatterySchedule]


def battery_fleet(community: Community) -> tuple[np.ndarray, BatteryFleet]:
    """Battery owners and their parameters from the participants table.

    Parameters
    ----------
    community : Community

    Returns
    -------
    owners : numpy.ndarray
        Participant columns with ``battery_kwh > 0`` and ``battery_kw > 0``.
    fleet : BatteryFleet
    """
    p = community.participants
    mask = (p["battery_kwh"].to_numpy() > 0) & (p["battery_kw"].to_numpy() > 0)
    owners = np.flatnonzero(mask)
    sel = p.iloc[owners]
    fleet = BatteryFleet(
        capacity=sel["battery_kwh"].to_numpy(np.float64),
        power=sel["battery_kw"].to_numpy(np.float64),
        eff_charge=sel["battery_eff_charge"].to_numpy(np.float64),
        eff_discharge=sel["battery_eff_discharge"].to_numpy(np.float64),
        soc_min=sel["soc_min"].to_numpy(np.float64),
        soc_max=sel["soc_max"].to_numpy(np.float64),
        soc_init=sel["soc_init"].to_numpy(np.float64),
    )
    return owners, fleet


def no_control(community: Community, progress: Callable[[int], None] | None = None) -> BatterySchedule:
    """Leave every battery idle.

    Parameters
    ----------
    community : Community
    progress : callable, optional
        Ignored (instant).

    Returns
    -------
    BatterySchedule
        Zero charge/discharge; stored energy stays at its initial value.
    """
    owners, fleet = battery_fleet(community)
    T = community.T
    zeros = np.zeros((T, owners.size))
    energy = np.broadcast_to(fleet.e_init, (T, owners.size)).copy()
    return BatterySchedule(owners, zeros, zeros.copy(), energy, fleet.capacity)


def greedy(community: Community, progress: Callable[[int], None] | None = None) -> BatterySchedule:
    """Greedy self-consumption control of every battery in the community.

    Price-blind by definition: it charges its owner's own surplus and discharges into
    its owner's own deficit whatever ``community.retail``/``feed_in`` say, so a price
    view (coordination ``"price-response"``) does not change its schedule.

    Parameters
    ----------
    community : Community
    progress : callable, optional
        Called with steps done.

    Returns
    -------
    BatterySchedule
        See :func:`peergrid.control.greedy.greedy_self_consumption`.
    """
    owners, fleet = battery_fleet(community)
    if owners.size == 0:
        return BatterySchedule.empty(community.T)
    net = np.empty((community.T, owners.size))
    step = max(1, (1 << 20) // owners.size)
    for start in range(0, community.T, step):  # row blocks: no (T, M) temporaries
        rows = slice(start, start + step)
        np.subtract(community.load[rows][:, owners], community.generation[rows][:, owners], out=net[rows])
    charge, discharge, energy = greedy_self_consumption(net, fleet, community.dt, progress)
    return BatterySchedule(owners, charge, discharge, energy, fleet.capacity)


CONTROLLERS: dict[str, Controller] = {
    "none": no_control,
    "greedy": greedy,
    "rule": rule_based,
    "peak": peak_agents,
    "lp": lp_individual,
    "lp-community": lp_community,
    "mpc": mpc_individual,
    "mpc-community": mpc_community,
    "ev-smart": ev_smart_control,
    "ev-immediate": ev_immediate_control,
}


def get_controller(control: str | Controller) -> Controller:
    """Resolve a controller name or callable.

    Parameters
    ----------
    control : str or callable
        ``"none"``, ``"greedy"`` or ``f(community, progress=None) -> BatterySchedule``.

    Returns
    -------
    callable
    """
    if callable(control):
        return control
    key = str(control).strip().lower()
    if key not in CONTROLLERS:
        raise ConfigError(f"unknown control {control!r}; choose from {', '.join(CONTROLLERS)}")
    return CONTROLLERS[key]


__all__ = [
    "CONTROLLERS",
    "OBJECTIVES",
    "BatterySchedule",
    "Forecaster",
    "LPSchedule",
    "MPCSchedule",
    "PeakParams",
    "PerfectForecaster",
    "PersistenceForecaster",
    "RuleParams",
    "SecondaryStorage",
    "battery_fleet",
    "check_objective",
    "ev_controller",
    "ev_immediate_control",
    "ev_smart_control",
    "get_controller",
    "greedy",
    "greedy_self_consumption",
    "grid_cost",
    "lp_community",
    "lp_individual",
    "lp_schedule",
    "mpc",
    "mpc_community",
    "mpc_individual",
    "no_control",
    "objective_view",
    "optimal_dispatch",
    "peak_agents",
    "peak_report",
    "price_view",
    "rule_based",
]
