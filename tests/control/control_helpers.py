"""Shared test community of the LP and MPC tests."""

import numpy as np
import pandas as pd

import peergrid
from peergrid.core import make_index


def make_community(seed=0, T=48, N=6, n_batt=3, freq="30min", feed_in=0.05, **battery):
    """The brief's test community: 3 PV + battery homes, 3 consumers, evening peak tariff."""
    rng = np.random.default_rng(seed)
    idx = make_index("2022-08-01", T, freq)
    load = rng.uniform(0, 1, (T, N))
    gen = np.zeros((T, N))
    gen[:, :n_batt] = rng.uniform(0, 2, (T, n_batt))
    parts = pd.DataFrame(
        {
            "id": [f"h{i}" for i in range(N)],
            "battery_kwh": [5.0] * n_batt + [0.0] * (N - n_batt),
            "battery_kw": [2.5] * n_batt + [0.0] * (N - n_batt),
        }
    )
    for key, value in battery.items():
        parts[key] = value
    retail = np.where(np.arange(T) % 48 > 34, 0.4, 0.2)
    return peergrid.Community(idx, parts, load, gen, retail=retail, feed_in=feed_in)
