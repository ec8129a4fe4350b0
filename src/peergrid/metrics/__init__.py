"""Paper metrics (pure functions on arrays)."""

from peergrid.metrics.core import (
    cost_reduction,
    efficiency_pct,
    energy_cost,
    energy_kwh,
    ess_utilisation,
    jain_index,
    peak_to_average,
    performance_measure,
    power_w,
    process_efficiency_pct,
    self_consumption,
    self_sufficiency,
    sharing_contribution_rate,
)

__all__ = [
    "cost_reduction",
    "efficiency_pct",
    "energy_cost",
    "energy_kwh",
    "ess_utilisation",
    "jain_index",
    "peak_to_average",
    "performance_measure",
    "power_w",
    "process_efficiency_pct",
    "self_consumption",
    "self_sufficiency",
    "sharing_contribution_rate",
]
