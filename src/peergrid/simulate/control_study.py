"""Compare control strategies on one community; the Milford Haven reproduction of Petri et al.

Petri et al. (2020), Section VI-A/3, compare three scenarios on the Milford Haven
harbour cluster over 48 half-hour steps with a TOU tariff — *Scenario 1: No
Strategy*, *Scenario 2: Rule Based Control Strategy* (Algorithm 1) and *Scenario 3:
Optimisation Control Strategy* (an LP minimising the net cost of electricity,
eqs. 4–6) — and find the optimisation cheapest, with the rule-based control in
between. :func:`milford_haven_study` reruns that comparison in peergrid: no control,
:func:`peergrid.control.rule.rule_based` and the community-wide LP
(``peergrid.control.lp.lp_community``), all settled by one pool market, whose
community cost is the site's net bill at the point of common coupling (eq. 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from peergrid.control.greedy import BatterySchedule
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError
from peergrid.simulate.engine import simulate
from peergrid.simulate.result import Result

__all__ = ["ControlStudy", "compare_controls", "milford_haven_study", "optimal_controller"]

Controller = str | Callable[..., BatterySchedule]


def compare_controls(
    community: Community, controls: Mapping[str, Controller], market: str = "sdr"
) -> dict[str, Result]:
    """Simulate the same community and market under several controllers.

    Parameters
    ----------
    community : Community
    controls : mapping of str to controller
        Run name → controller name or callable.
    market : str
        Market mechanism used to settle every run.

    Returns
    -------
    dict of str to Result
    """
    if not controls:
        raise ConfigError("no controllers to compare")
    return {name: simulate(community, market=market, control=ctl) for name, ctl in controls.items()}


def optimal_controller(kind: str = "community") -> Callable[..., BatterySchedule]:
    """The LP controller of :mod:`peergrid.control.lp` (``lp_community`` or ``lp_individual``).

    Raises
    ------
    ConfigError
        If the LP module is not available.
    """
    try:
        from peergrid.control import lp
    except ImportError as exc:
        raise ConfigError(f"the LP controller peergrid.control.lp is not available ({exc})") from None
    name = {"community": "lp_community", "individual": "lp_individual"}.get(kind)
    if name is None or not hasattr(lp, name):
        raise ConfigError(f"peergrid.control.lp has no {name or kind!r} controller")
    return getattr(lp, name)


@dataclass
class ControlStudy:
    """Runs of a control comparison and their costs.

    Attributes
    ----------
    community : Community
    market : str
    results : dict of str to Result
        ``"none"``, ``"rule"``, ``"optimal"`` (+ any extra runs).
    reference : dict of str to Result
        Runs shown for information only (e.g. ``"optimal_individual"``).
    """

    community: Community
    market: str
    results: dict[str, Result]
    reference: dict[str, Result] = field(default_factory=dict)

    @property
    def costs(self) -> dict[str, float]:
        """Community cost (Petri et al. eq. 4 net cost) of every run, currency."""
        return {name: float(r.metrics["community_cost"]) for name, r in self.results.items()}

    def paper_check(self, tol: float = 1e-6) -> dict[str, bool]:
        """Petri et al.'s qualitative result: optimal cheapest, rule-based between optimal and none."""
        c = self.costs
        optimal_cheapest = all(c["optimal"] <= v + tol for v in c.values())
        rule_between = c["optimal"] - tol <= c["rule"] <= c["none"] + tol
        return {
            "optimal_cheapest": bool(optimal_cheapest),
            "rule_between": bool(rule_between),
            "reproduced": bool(optimal_cheapest and rule_between),
        }

    @staticmethod
    def run_summary(result: Result) -> dict[str, float | str]:
        """Headline figures of one run."""
        m = result.metrics
        sched = result.battery
        com = result.community
        e0 = 0.0
        if sched.owners.size:
            p = com.participants.iloc[sched.owners]
            cap = p["battery_kwh"].to_numpy(np.float64)
            e0 = float(np.clip(p["soc_init"].to_numpy() * cap, p["soc_min"].to_numpy() * cap,
                               p["soc_max"].to_numpy() * cap).sum())
        return {
            "control": result.control,
            "community_cost": float(m["community_cost"]),
            "grid_import_kwh": float(m["grid_import_kwh"]),
            "grid_export_kwh": float(m["grid_export_kwh"]),
            "peak_import_kw": float(m["peak_import_kw"]),
            "self_sufficiency": float(m["self_sufficiency"]),
            "battery_energy_start_kwh": e0,
            "battery_energy_end_kwh": float(sched.energy[-1].sum()) if sched.owners.size else 0.0,
            "battery_throughput_kwh": float(sched.discharge.sum()),
        }


def milford_haven_study(
    community: Community | None = None,
    *,
    market: str = "sdr",
    individual: bool = True,
) -> ControlStudy:
    """Petri et al.'s three scenarios on the Milford Haven cluster: no control, Algorithm 1, LP optimum.

    Parameters
    ----------
    community : Community, optional
        Default :func:`peergrid.data.milford_haven.milford_haven_community` (one
        spring day, 48 half-hour steps, reconstructed profiles).
    market : str
        Pool market settling every run (``"bs"``, ``"mmr"``, ``"sdr"`` give the same
        community cost; ``"baseline"`` settles every building alone).
    individual : bool
        Also run the per-building LP (``lp_individual``) as a reference run.

    Returns
    -------
    ControlStudy
        ``results`` holds ``"none"``, ``"rule"`` and ``"optimal"`` (community-wide LP).
    """
    from peergrid.control.rule import rule_based

    if community is None:
        from peergrid.data.milford_haven import milford_haven_community

        community = milford_haven_community()
    controls: dict[str, Controller] = {"none": "none", "rule": rule_based, "optimal": optimal_controller("community")}
    results = compare_controls(community, controls, market)
    reference = {}
    if individual:
        try:
            ind = optimal_controller("individual")
        except ConfigError:
            ind = None
        if ind is not None:
            reference["optimal_individual"] = simulate(community, market=market, control=ind)
    return ControlStudy(community, market, results, reference)
