"""Paper metrics (pure functions on arrays) and the metric registry (:data:`METRICS`)."""

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
from peergrid.metrics.registry import METRICS, TABLE_METRICS, MetricInfo, metric_label, metrics_markdown_table

__all__ = [
    "METRICS",
    "TABLE_METRICS",
    "MetricInfo",
    "cost_reduction",
    "efficiency_pct",
    "energy_cost",
    "energy_kwh",
    "ess_utilisation",
    "jain_index",
    "metric_label",
    "metrics_markdown_table",
    "peak_to_average",
    "performance_measure",
    "power_w",
    "process_efficiency_pct",
    "self_consumption",
    "self_sufficiency",
    "sharing_contribution_rate",
]
