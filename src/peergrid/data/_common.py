"""Helpers shared by the data loaders (public names, private module): step resampling kernels.

Energy is split evenly into finer steps and summed into coarser ones (conserved); intensive
values (prices, intensities, power) are held and averaged. Steps are along axis 0.
"""

from __future__ import annotations

import numpy as np


def split_steps(x: np.ndarray, u: int) -> np.ndarray:
    """Split every step evenly into ``u`` sub-steps (energy), new array."""
    out = np.repeat(x, u, axis=0)
    out /= u
    return out


def hold_steps(x: np.ndarray, u: int) -> np.ndarray:
    """Repeat every step ``u`` times (intensive), new array."""
    return np.repeat(x, u, axis=0)


def sum_steps(x: np.ndarray, d: int) -> np.ndarray:
    """Sum consecutive groups of ``d`` steps; ``len(x)`` must be a multiple of ``d``."""
    return x.reshape(x.shape[0] // d, d, *x.shape[1:]).sum(axis=1)


def mean_steps(x: np.ndarray, d: int) -> np.ndarray:
    """Average consecutive groups of ``d`` steps; ``len(x)`` must be a multiple of ``d``."""
    return x.reshape(x.shape[0] // d, d, *x.shape[1:]).mean(axis=1)
