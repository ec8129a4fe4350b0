"""LoRaWAN cluster zooming (Anoh et al. 2026): radio layer, virtual microgrids, agents, costs, experiments.

Layers: :mod:`~peergrid.zoom.lora` (path loss, time on air, ADR, collisions) →
:mod:`~peergrid.zoom.vmg` (zooming, VMG trading with :mod:`peergrid.market`) →
:mod:`~peergrid.zoom.agents` (gateway agents, coordinator, federated forecasting
via :mod:`peergrid.forecast`) and :mod:`~peergrid.zoom.costs` (OPEX, gateway power);
:mod:`~peergrid.zoom.experiments` reproduces the abstract's claims.
"""

from peergrid.zoom.agents import AgentRun, Coordinator, GatewayAgent, ZoomPolicy, run_agents
from peergrid.zoom.costs import CostParams, NetworkCost, network_cost
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
from peergrid.zoom.vmg import ZOOM_LEVELS, TradeResult, VMGPlan, flat_plan, form_vmgs, rezoom, trade

__all__ = [
    "SF",
    "ZOOM_LEVELS",
    "AgentRun",
    "Coordinator",
    "CostParams",
    "Deployment",
    "GatewayAgent",
    "NetworkCost",
    "RadioParams",
    "RadioState",
    "TradeResult",
    "VMGPlan",
    "ZoomPolicy",
    "adr",
    "flat_plan",
    "form_vmgs",
    "link_budget",
    "network_cost",
    "pdr_by_sf",
    "plan_radio",
    "rezoom",
    "run_agents",
    "time_on_air",
    "trade",
]
