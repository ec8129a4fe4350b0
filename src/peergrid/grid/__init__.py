"""Grid layer: LV feeders on pandapower, power flows, VIM, limits, line paths and fees.

pandapower (an optional dependency, ``pip install 'peergrid[grid]'``) is imported only
when a function needs it. Typical use::

    from peergrid.grid import build_feeder, power_flow, check_limits, net_power_kw
    net = build_feeder(community)                 # participants on their node / phase
    flow = power_flow(net, net_power_kw(community), dt=community.dt)
    check_limits(flow).bad_slots
    year = sweep_flow(net, net_power_kw(community), dt=community.dt)   # all slots at once, radial feeders

Network charges of pooled positions (the simulator's ``[grid]`` step and the service's pool
settlement): ``FeederTopology``, ``line_fee_money`` (eq. 12), ``allocate_losses``.

Network-aware bilateral trading: ``peergrid.market.bilateral(book, network=FeederLimits(net))``.

References: Tooki et al. (2025) eq. 12 (line-utilisation fee) and eq. 13 (VIM).
"""

from peergrid.grid.bench import benchmark_powerflow, benchmark_powerflow_3ph, synthetic_feeder
from peergrid.grid.charges import (
    FeederTopology,
    allocate_losses,
    fee_matrix,
    line_fee_money,
    line_weights,
    radial_fee_matrix,
    trafo_r_ohm,
    utilisation_fee,
)
from peergrid.grid.curtail import Curtailment, FeederLimits, curtail_to_limits
from peergrid.grid.feeder import (
    DEFAULT_LINE_TYPE,
    DEFAULT_TRAFO_TYPE,
    ZERO_SEQUENCE,
    add_zero_sequence,
    build_feeder,
    feeder_from_net,
    line_capacity_kw,
    participant_table,
)
from peergrid.grid.feeder_io import MAX_FEEDER_BYTES, read_feeder
from peergrid.grid.flow import FlowResult, FlowResult3ph, net_power_kw, power_flow, power_flow_3ph, vim
from peergrid.grid.limits import Violations, check_limits
from peergrid.grid.orderbook import FeederClearing, clear_on_feeder
from peergrid.grid.paths import (
    RadialTree,
    line_paths,
    line_utilisation_fee,
    participant_root_paths,
    radial_tree,
    transfer_flows_kw,
)
from peergrid.grid.sweep import FlowValidation, sweep_flow, validate_flow

__all__ = [
    "DEFAULT_LINE_TYPE",
    "DEFAULT_TRAFO_TYPE",
    "MAX_FEEDER_BYTES",
    "ZERO_SEQUENCE",
    "Curtailment",
    "FeederClearing",
    "FeederLimits",
    "FeederTopology",
    "FlowResult",
    "FlowResult3ph",
    "FlowValidation",
    "RadialTree",
    "Violations",
    "add_zero_sequence",
    "allocate_losses",
    "benchmark_powerflow",
    "benchmark_powerflow_3ph",
    "build_feeder",
    "check_limits",
    "clear_on_feeder",
    "curtail_to_limits",
    "fee_matrix",
    "feeder_from_net",
    "line_capacity_kw",
    "line_fee_money",
    "line_paths",
    "line_utilisation_fee",
    "line_weights",
    "net_power_kw",
    "participant_root_paths",
    "participant_table",
    "power_flow",
    "power_flow_3ph",
    "radial_fee_matrix",
    "radial_tree",
    "read_feeder",
    "sweep_flow",
    "synthetic_feeder",
    "trafo_r_ohm",
    "transfer_flows_kw",
    "utilisation_fee",
    "validate_flow",
    "vim",
]
