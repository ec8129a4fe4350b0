"""LoRaWAN cluster zooming (Anoh et al. 2026): radio layer, virtual microgrids, agents, costs, experiments.

Layers: :mod:`~peergrid.zoom.lora` (path loss, time on air, ADR, collisions) →
:mod:`~peergrid.zoom.uplinks` (measured uplinks; zoom levels act on SF, TX power and coverage
through zoom-bounded ADR) → :mod:`~peergrid.zoom.vmg` (VMGs, trading with :mod:`peergrid.market`) →
:mod:`~peergrid.zoom.agents` (gateway agents, coordinator, federated forecasting
via :mod:`peergrid.forecast`) and :mod:`~peergrid.zoom.costs` (OPEX, gateway power);
:mod:`~peergrid.zoom.distance` (electrical vs radio distance, cost-ordered coordinator market);
:mod:`~peergrid.zoom.experiments` reproduces the abstract's claims.
"""

from peergrid.zoom.agents import (
    AgentRun,
    Coordinator,
    GatewayAgent,
    RadioAgentRun,
    ZoomPolicy,
    run_agents,
    run_radio_agents,
)
from peergrid.zoom.costs import CostParams, NetworkCost, measured_network_cost, network_cost
from peergrid.zoom.distance import (
    MATCH_RULES,
    CostedTrade,
    DistanceCost,
    Neighbourhood,
    costed_trade,
    distance_pairs,
    neighbourhood,
    radio_terms,
)
from peergrid.zoom.lora import (
    SF,
    Deployment,
    RadioParams,
    RadioState,
    adr,
    link_budget,
    pdr_by_sf,
    plan_radio,
    time_on_air,
)
from peergrid.zoom.uplinks import (
    RadioConfig,
    UplinkLog,
    ZoomRadioParams,
    analytic_state,
    flat_config,
    join_config,
    simulate_uplinks,
    vmg_plan,
    zoom_step,
)
from peergrid.zoom.vmg import (
    ZOOM_LEVELS,
    TradeResult,
    VMGPlan,
    flat_plan,
    form_vmgs,
    rezoom,
    trade,
    trade_delivered,
)

__all__ = [
    "MATCH_RULES",
    "SF",
    "ZOOM_LEVELS",
    "AgentRun",
    "Coordinator",
    "CostParams",
    "CostedTrade",
    "Deployment",
    "DistanceCost",
    "GatewayAgent",
    "Neighbourhood",
    "NetworkCost",
    "RadioAgentRun",
    "RadioConfig",
    "RadioParams",
    "RadioState",
    "TradeResult",
    "UplinkLog",
    "VMGPlan",
    "ZoomPolicy",
    "ZoomRadioParams",
    "adr",
    "analytic_state",
    "costed_trade",
    "distance_pairs",
    "flat_config",
    "flat_plan",
    "form_vmgs",
    "join_config",
    "link_budget",
    "measured_network_cost",
    "neighbourhood",
    "network_cost",
    "pdr_by_sf",
    "plan_radio",
    "radio_terms",
    "rezoom",
    "run_agents",
    "run_radio_agents",
    "simulate_uplinks",
    "time_on_air",
    "trade",
    "trade_delivered",
    "vmg_plan",
    "zoom_step",
]
