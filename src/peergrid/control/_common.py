"""Helpers shared by the controllers (participant lookup, safe ratios, cluster sums, LP mode and end SOC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from peergrid.assets.battery import BatteryFleet
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, ModelError

#: End condition of a battery plan: ``"initial"`` (at least the initial content), ``"free"`` or a SOC fraction.
EndSoc = Literal["initial", "free"] | float


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


def check_lp_mode(mode: str) -> str:
    """``mode`` normalised to ``"community"`` or ``"individual"`` (the LP balance structures); else ConfigError."""
    key = str(mode).strip().lower()
    if key not in ("community", "individual"):
        raise ConfigError(f"LP mode must be 'community' or 'individual', got {mode!r}")
    return key


def end_energy(fleet: BatteryFleet, end_soc: EndSoc, ids: np.ndarray | None = None) -> np.ndarray:
    """Lowest stored energy allowed at the end of the run, kWh (length M)."""
    if isinstance(end_soc, str):
        key = end_soc.strip().lower()
        if key == "initial":
            return fleet.e_init.copy()
        if key == "free":
            return fleet.e_min.copy()
        raise ConfigError(f"end_soc must be 'initial', 'free' or a SOC fraction in [0, 1], got {end_soc!r}")
    try:
        frac = float(end_soc)
    except (TypeError, ValueError):
        raise ConfigError(f"end_soc must be 'initial', 'free' or a SOC fraction in [0, 1], got {end_soc!r}") from None
    if not 0.0 <= frac <= 1.0:
        raise ConfigError(f"end_soc must be 'initial', 'free' or a SOC fraction in [0, 1], got {end_soc!r}")
    over = np.flatnonzero(frac > fleet.soc_max + 1e-12)
    if over.size:
        who = ids[over[0]] if ids is not None else over[0]
        raise ModelError(f"end SOC {frac:g} is unreachable: battery {who!r} has soc_max {fleet.soc_max[over[0]]:g}")
    return np.maximum(frac * fleet.capacity, fleet.e_min)


def check_reachable(fleet: BatteryFleet, e_end: np.ndarray, steps: int, dt: float, ids: np.ndarray | None) -> None:
    """Raise ModelError if a battery cannot charge from its initial content to ``e_end`` in time."""
    most = fleet.e_init + fleet.eff_charge * fleet.power * dt * steps
    bad = np.flatnonzero(e_end > np.minimum(most, fleet.e_max) + 1e-9)
    if bad.size:
        i = bad[0]
        who = ids[i] if ids is not None else i
        raise ModelError(
            f"end SOC of battery {who!r} is unreachable: needs {e_end[i]:.4g} kWh, at most "
            f"{min(most[i], fleet.e_max[i]):.4g} kWh can be stored in {steps} steps"
        )


def default_tie_break(retail: np.ndarray) -> float:
    """The LP's throughput cost ε per kWh: 1e-6 × the largest |λb| (1e-6 when all are 0)."""
    top = float(np.max(np.abs(retail))) if retail.size else 0.0
    return 1e-6 * (top if top > 0 else 1.0)
