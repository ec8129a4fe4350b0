"""The power-flow benchmark helpers (tiny sizes; the full run is benchmarks/powerflow.py)."""

import numpy as np

from peergrid.grid import benchmark_powerflow, benchmark_powerflow_3ph, participant_table, synthetic_feeder


def test_synthetic_feeder_shapes():
    net, p, dt = synthetic_feeder(10, 24)
    assert p.shape == (24, 9) and dt == 1.0
    assert participant_table(net)["phase"].tolist()[:4] == ["a", "b", "c", "a"]
    assert (p.min(axis=0) < 0).sum() >= 4  # PV households export at noon
    assert np.all(p[0] > 0)  # night: consumption only


def test_benchmarks_return_seconds():
    assert benchmark_powerflow(5, 3, warmup=False, numba=False) > 0
    assert benchmark_powerflow_3ph(5, 2, warmup=False, numba=False) > 0
