"""Platform economics: Tooki et al. (2025), eqs. 6–9, and the cost–benefit analysis of a community.

Pure functions on arrays (:mod:`~peergrid.economics.finance`,
:mod:`~peergrid.economics.communication`) and :func:`appraise`, which turns a simulation
:class:`~peergrid.simulate.Result` into CAPEX, OPEX, LCOE, NPV, payback and the investment
boundary (eq. 9) of the members' PV, batteries and wind turbines and of the trading
platform, per member and for the community (docs/economics.md).

* eq. 6 :func:`communication_cost`, eq. 7 :func:`cloudlet_utilisation`, eq. 8
  :func:`shannon_rate`, applied to the platform's message traffic by
  :func:`platform_traffic` (meter readings, orders, clearing results);
* eq. 9 :func:`investment_boundary`;
* :func:`npv`, :func:`annuity_factor`, :func:`lcoe`, :func:`payback`, :func:`discount_factors`;
* :class:`CostAssumptions` (``[invest]`` in a scenario) and :class:`PlatformTraffic`
  (``[invest.platform]``).
"""

from peergrid.economics.appraisal import (
    TECHNOLOGIES,
    Appraisal,
    appraise,
    investment_boundary,
    member_bills,
    pv_share,
)
from peergrid.economics.assumptions import CostAssumptions
from peergrid.economics.communication import (
    PlatformTraffic,
    TrafficResult,
    cloudlet_allocation,
    cloudlet_utilisation,
    communication_cost,
    platform_traffic,
    shannon_rate,
)
from peergrid.economics.finance import (
    annuity_factor,
    capital_recovery_factor,
    cumulative,
    discount_factors,
    lcoe,
    npv,
    payback,
)

__all__ = [
    "TECHNOLOGIES",
    "Appraisal",
    "CostAssumptions",
    "PlatformTraffic",
    "TrafficResult",
    "annuity_factor",
    "appraise",
    "capital_recovery_factor",
    "cloudlet_allocation",
    "cloudlet_utilisation",
    "communication_cost",
    "cumulative",
    "discount_factors",
    "investment_boundary",
    "lcoe",
    "member_bills",
    "npv",
    "payback",
    "platform_traffic",
    "pv_share",
    "shannon_rate",
]
