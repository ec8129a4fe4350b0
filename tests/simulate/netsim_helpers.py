"""Communities on stressed feeders for the network-aware simulation tests (part netsim)."""

from __future__ import annotations

import dataclasses

import numpy as np

from peergrid.core.community import Community
from peergrid.data import synthetic_community


def feeder_community(
    n: int = 12,
    periods: int = 24,
    *,
    pv_kwp: tuple[float, float] = (25.0, 35.0),
    pv_share: float = 0.5,
    battery_share: float = 0.0,
    phases: str = "cycle",
    seed: int = 3,
    start: str = "2022-06-01",
) -> Community:
    """``n`` members on nodes 1..n of one cable feeder (chain), half with large PV (overloads at noon)."""
    com = synthetic_community(
        n, start=start, periods=periods, freq="1h", seed=seed, pv_share=pv_share, battery_share=battery_share,
        pv_kwp_range=pv_kwp,
    )  # fmt: skip
    parts = com.participants.copy()
    parts["node"] = 1 + np.arange(n)
    if phases == "abc":
        parts["phase"] = "abc"
    elif phases == "a":
        parts["phase"] = "a"
    return dataclasses.replace(com, participants=parts)
