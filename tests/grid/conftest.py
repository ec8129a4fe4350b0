"""Shared helpers for the grid tests: tiny communities and feeders (pandapower is imported lazily)."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from peergrid import Community

if importlib.util.find_spec("pandapower") is None:  # the optional extra peergrid[grid] is not installed
    collect_ignore_glob = ["test_grid_*.py"]


def make_community(nodes, phases=None, periods=2, load_kwh=1.0):
    """A community of len(nodes) consumers on the given feeder nodes and phases (hourly steps)."""
    n = len(nodes)
    parts = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "node": list(nodes)})
    if phases is not None:
        parts["phase"] = list(phases)
    index = pd.date_range("2024-06-01", periods=periods, freq="h", tz="UTC")
    return Community(
        index=index, participants=parts, load=np.full((periods, n), load_kwh), generation=np.zeros((periods, n))
    )


@pytest.fixture
def community_factory():
    return make_community
