"""Fixtures for the report tests: small communities built from numpy arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import peergrid
from peergrid.core import make_index

SOURCE = "synthetic test profiles (numpy, seed 0), licence CC0-1.0"


def _make_community(T: int = 96 * 3, N: int = 10, *, batteries: int = 3, seed: int = 0, **kw) -> peergrid.Community:
    rng = np.random.default_rng(seed)
    idx = make_index("2022-08-01", T, "15min")
    hour = (np.arange(T) % 96) / 4.0
    sun = np.clip(np.sin((hour - 6.0) / 12.0 * np.pi), 0.0, None)
    load = rng.uniform(0.0, 1.0, (T, N))
    gen = np.zeros((T, N))
    k = N // 2
    gen[:, :k] = sun[:, None] * rng.uniform(0.0, 2.0, (T, k))
    parts = pd.DataFrame(
        {
            "id": [f"h{i}" for i in range(N)],
            "battery_kwh": [5.0] * batteries + [0.0] * (N - batteries),
            "battery_kw": [2.5] * batteries + [0.0] * (N - batteries),
        }
    )
    kw.setdefault("source", SOURCE)
    return peergrid.Community(idx, parts, load, gen, retail=0.3, feed_in=0.08, **kw)


@pytest.fixture(name="make_community")
def make_community_fixture():
    """Factory ``make_community(T, N, *, batteries, seed, **community_kwargs)``."""
    return _make_community


@pytest.fixture(name="source")
def source_fixture() -> str:
    return SOURCE


@pytest.fixture(scope="module")
def comparison() -> peergrid.Comparison:
    com = _make_community(currency="EUR", meta={"display_tz": "Europe/Berlin"})
    return peergrid.compare(com)


@pytest.fixture(scope="module")
def long_comparison() -> peergrid.Comparison:
    """Three weeks: the representative week is a proper sub-window."""
    return peergrid.compare(_make_community(96 * 21, 12, batteries=10, seed=3))


@pytest.fixture(scope="module")
def no_battery_comparison() -> peergrid.Comparison:
    return peergrid.compare(_make_community(batteries=0, seed=1))


@pytest.fixture(scope="module")
def order_comparison() -> peergrid.Comparison:
    """All 8 markets (pool rules and order books), zero-intelligence bidding."""
    from peergrid.market import MARKETS

    com = _make_community(96 * 2, 8, batteries=2, seed=2)
    return peergrid.compare(com, markets=list(MARKETS), bidding="zero-intelligence", seed=1)
