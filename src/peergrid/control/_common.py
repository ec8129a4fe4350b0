"""Helpers shared by the controllers (participant lookup, safe ratios, cluster sums)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError


def participant_columns(community: Community, which: object, what: str = "participant") -> np.ndarray:
    """Column indices of participants given by id or position.

    Parameters
    ----------
    community : Community
    which : int, str or sequence of int/str
        Participant positions (0 … N−1) or ids.
    what : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray of int64
        Column indices, same order as ``which``.

    Raises
    ------
    ConfigError
        Unknown id or position out of range.
    """
    items: Sequence[object]
    if isinstance(which, (str, int, np.integer)):
        items = [which]
    else:
        items = list(np.asarray(which, dtype=object).ravel())
    pos = {str(p): k for k, p in enumerate(community.ids)}
    out = np.empty(len(items), dtype=np.int64)
    for k, item in enumerate(items):  # a handful of ids, not a per-step loop
        if isinstance(item, (bool, np.bool_)):
            raise ConfigError(f"{what} {item!r} is neither an id nor a position")
        if isinstance(item, (int, np.integer)):
            if not 0 <= int(item) < community.N:
                raise ConfigError(f"{what} position {item} is out of range 0..{community.N - 1}")
            out[k] = int(item)
        elif str(item) in pos:
            out[k] = pos[str(item)]
        else:
            raise ConfigError(f"unknown {what} {item!r} (not an id of {community.name})")
    return out


def ratio(num: np.ndarray | float, den: np.ndarray | float, tol: float = 1e-12) -> np.ndarray:
    """``num / den`` where ``den > tol``, else 0 (no RuntimeWarning)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    num, den = np.broadcast_arrays(num, den)
    return np.divide(num, den, out=np.zeros(num.shape), where=den > tol)


def cluster_codes(clusters: object, n: int) -> tuple[np.ndarray, int]:
    """Integer cluster code per participant and the number of clusters.

    Parameters
    ----------
    clusters : array-like of shape (N,), ``"individual"`` or None
        Cluster label per participant; ``None`` = one cluster (the whole community);
        ``"individual"`` = every participant on its own.
    n : int
        Number of participants N.

    Returns
    -------
    codes : numpy.ndarray of int64, shape (N,)
    k : int
    """
    if clusters is None:
        return np.zeros(n, dtype=np.int64), 1
    if isinstance(clusters, str):
        if clusters != "individual":
            raise ConfigError(f"clusters must be labels per participant, None or 'individual', got {clusters!r}")
        return np.arange(n, dtype=np.int64), n
    labels = np.asarray(clusters, dtype=object)
    if labels.shape != (n,):
        raise ConfigError(f"clusters must have one label per participant ({n}), got shape {labels.shape}")
    _, codes = np.unique(labels.astype(str), return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    return codes, int(codes.max()) + 1 if n else 0
