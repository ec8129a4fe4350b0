"""Federations of energy clusters at scale: overlays, cluster managers, migration (Petri et al. 2020).

Quick start::

    from peergrid.federation import FederationConfig, simulate
    result = simulate(FederationConfig(nodes=1000, cycles=100), seed=1)
    print(result.totals()["exchanges"], result.per_node_cycle())

- :class:`FederationConfig` (TOML or PeerSim ``key value`` files via :func:`load_config`);
- :func:`simulate` — the cycle-driven numpy engine (:mod:`peergrid.federation.engine`);
- :mod:`peergrid.federation.overlay` — CSR views, Newscast, small-world metrics;
- :mod:`peergrid.federation.migration` — none / random / strategic / mixed migration;
- :mod:`peergrid.federation.experiments` — Petri et al. experiments 1–8;
- :mod:`peergrid.federation.sweep` — parameter sweeps on the local, Dask or Ray backend.
"""

from peergrid.federation.config import (
    FederationConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    parse_peersim,
)
from peergrid.federation.engine import METRICS, Federation, FederationResult, fill_jointly, simulate
from peergrid.federation.overlay import Overlay, overlay_stats

__all__ = [
    "METRICS",
    "Federation",
    "FederationConfig",
    "FederationResult",
    "Overlay",
    "apply_overrides",
    "config_from_dict",
    "fill_jointly",
    "load_config",
    "overlay_stats",
    "parse_peersim",
    "simulate",
]
