"""Rule-based "In-Cluster" control of Petri et al. Algorithm 1, generalised.

Petri et al. (2020), Section VI-A, Algorithm 1 ("In-Cluster" Rule Based Control
Algorithm) operates a cluster of buildings (the Milford Haven harbour: Packaway,
K, M, F and J Shed) with a main battery per building (BESS1, SOC band 20–95 %)
and electric boats as secondary storage (BESS2, charged up to 98 %, discharged
above 20 %), and sells surplus to the grid when the price exceeds a reference
price P_ref. peergrid reads the algorithm per step and per cluster as follows
(every threshold is a parameter, the defaults are the paper's):

* **Initialisation** (ΣP = ΣC, "feed all P to C"): generation first feeds the
  consumption of the cluster's buildings — the in-cluster P2P exchange, settled by
  the market. Stage 2 ("BESS1 full → feed P_c2", the consumption of building 2) is
  the same exchange from the paper's two-building view: surplus serves the other
  buildings' consumption before it leaves the cluster.
* **Stage 1** (ΣP > ΣC): the residual cluster surplus charges BESS1 while
  SOC1 < ``soc1_max`` (95 %): each building's own residual surplus charges its own
  BESS1 first, the rest charges the other BESS1 of the cluster pro rata to their room.
* **Stages 3–4**: surplus left when every BESS1 is full is sold to the grid if
  P_ref < p_price; otherwise it charges BESS2 (electric boats) while
  SOC2 < ``soc2_max`` (98 %), and what is left is sold to the grid.
* **Deficit** (ΣP < ΣC): the residual cluster deficit is served by BESS1 down to
  ``soc1_min`` (20 %; the lower edge of the band 20 < SOC1 < 95), own battery first,
  then by BESS2 while SOC2 > ``soc2_min`` (Stage 5: "discharge BESS2, else buy
  energy from grid"), then by the grid. Boats are used only once BESS1 is
  exhausted, as in the paper's Fig. 6a narrative.

With ``clusters="individual"`` every building is a cluster of its own (no sharing).
Boats are flexible load from the community's point of view (issue 5): their
charging and discharging is returned as ``load_delta`` of their building, and their
state in :attr:`RuleSchedule.secondary`.

The loop runs over time only; every step is a handful of numpy operations over all
participants, with per-cluster sums by :func:`numpy.bincount`.

References
----------
.. [1] Petri, I. et al., "Federating smart cluster energy grids for peer-to-peer
   energy sharing and trading", IEEE Access 8, 2020, Section VI-A, Algorithm 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from peergrid.control._common import cluster_codes, participant_columns, ratio
from peergrid.control.greedy import BatterySchedule
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, ModelError

__all__ = ["RuleParams", "RuleSchedule", "SecondaryStorage", "rule_based", "rule_based_step_limits"]


@dataclass(frozen=True)
class RuleParams:
    """Thresholds of Petri et al. Algorithm 1 (defaults: the paper's values).

    Attributes
    ----------
    soc1_min, soc1_max : float
        SOC band of the main battery BESS1, fractions of capacity (20 %, 95 %). It is
        intersected with the participant's own ``soc_min``/``soc_max``.
    soc2_min, soc2_max : float
        Secondary storage (electric boats): discharge only above ``soc2_min`` (20 %),
        charge only below ``soc2_max`` (98 %).
    p_ref : float, optional
        Reference price P_ref, currency/kWh. Surplus is sold to the grid instead of
        charging BESS2 when P_ref < p_price. ``None``: the mean of the price signal
        over the horizon (the paper gives no value; this is peergrid's default).
    price : {"retail", "feed_in"}
        Which tariff is the "updated price tariff" p_price.
    clusters : array-like (N,), "individual" or None
        Cluster label of every participant; ``None`` = the whole community is one
        cluster (the paper's in-cluster case); ``"individual"`` = no sharing.
    """

    soc1_min: float = 0.20
    soc1_max: float = 0.95
    soc2_min: float = 0.20
    soc2_max: float = 0.98
    p_ref: float | None = None
    price: Literal["retail", "feed_in"] = "retail"
    clusters: object = None

    def __post_init__(self) -> None:
        for lo, hi in (("soc1_min", "soc1_max"), ("soc2_min", "soc2_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if not (0.0 <= a <= b <= 1.0):
                raise ModelError(f"rule thresholds need 0 <= {lo} <= {hi} <= 1, got {lo}={a}, {hi}={b}")
        if self.p_ref is not None and not np.isfinite(self.p_ref):
            raise ModelError(f"p_ref must be a finite price, got {self.p_ref!r}")
        if self.price not in ("retail", "feed_in"):
            raise ConfigError(f"price must be 'retail' or 'feed_in', got {self.price!r}")


@dataclass(frozen=True)
class SecondaryStorage:
    """Secondary storage per building (Petri et al.: electric boats, BESS2).

    One aggregate store per building (sum the boats moored at a building).

    Attributes
    ----------
    participants : array-like of int or str, shape (M2,)
        Building of each store (position or id), unique.
    capacity : array-like, shape (M2,)
        Usable capacity, kWh.
    power : array-like, shape (M2,)
        Charge/discharge power limit, kW.
    eff_charge, eff_discharge : float or array-like
        One-way efficiencies in (0, 1].
    soc_init : float or array-like
        Initial SOC, fraction of capacity.
    available : numpy.ndarray of bool, shape (T, M2), optional
        True while the boat is moored and plugged in (e.g. from
        :func:`peergrid.assets.ev.ev_availability`); default always.
    """

    participants: object
    capacity: object
    power: object
    eff_charge: object = 1.0
    eff_discharge: object = 1.0
    soc_init: object = 0.5
    available: np.ndarray | None = None

    @classmethod
    def from_mapping(cls, spec: Mapping[str, object]) -> SecondaryStorage:
        """Build from a mapping with the attribute names as keys (e.g. ``community.meta``)."""
        unknown = set(spec) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"secondary storage: unknown keys {sorted(unknown)}")
        try:
            return cls(**spec)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigError(f"secondary storage: {exc}") from None


@dataclass(frozen=True)
class RuleSchedule(BatterySchedule):
    """A :class:`BatterySchedule` of BESS1 plus the state of the secondary storage.

    Attributes
    ----------
    secondary : BatterySchedule, optional
        Electric boats (BESS2): bus-side charge/discharge (kWh per step) and stored
        energy (kWh) per store. Their net energy is already in ``load_delta``.
    p_ref : float
        Reference price used, currency/kWh.
    """

    secondary: BatterySchedule | None = field(default=None, repr=False)
    p_ref: float = float("nan")


def _band(community: Community, owners: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    p = community.participants.iloc[owners]
    cap = p["battery_kwh"].to_numpy(np.float64)
    e_lo = np.maximum(p["soc_min"].to_numpy(np.float64), lo) * cap
    e_hi = np.minimum(p["soc_max"].to_numpy(np.float64), hi) * cap
    return e_lo, np.maximum(e_hi, e_lo)


def _as_len(value: object, m: int, name: str) -> np.ndarray:
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (m,)).copy()
    except (TypeError, ValueError):
        raise ModelError(f"secondary storage {name} must be a number or have length {m}") from None
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ModelError(f"secondary storage {name} must be finite and >= 0")
    return arr


def _secondary(community: Community, spec: SecondaryStorage | Mapping | None) -> tuple | None:
    if spec is None:
        spec = community.meta.get("secondary_storage") if isinstance(community.meta, dict) else None
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        spec = SecondaryStorage.from_mapping(spec)
    cols = participant_columns(community, spec.participants, "secondary storage participant")
    if np.unique(cols).size != cols.size:
        raise ModelError("secondary storage: one aggregate store per building (participants must be unique)")
    m = cols.size
    cap = _as_len(spec.capacity, m, "capacity")
    power = _as_len(spec.power, m, "power")
    eta_c = _as_len(spec.eff_charge, m, "eff_charge")
    eta_d = _as_len(spec.eff_discharge, m, "eff_discharge")
    soc0 = _as_len(spec.soc_init, m, "soc_init")
    if np.any((eta_c <= 0) | (eta_c > 1) | (eta_d <= 0) | (eta_d > 1)):
        raise ModelError("secondary storage efficiencies must lie in (0, 1]")
    if np.any(soc0 > 1):
        raise ModelError("secondary storage soc_init must lie in [0, 1]")
    if spec.available is None:
        avail = np.ones((community.T, m), dtype=bool)
    else:
        avail = np.asarray(spec.available, dtype=bool)
        if avail.shape != (community.T, m):
            raise ModelError(
                f"secondary storage available must have shape (T, M2) = {(community.T, m)}, got {avail.shape}"
            )
    return cols, cap, power, eta_c, eta_d, soc0, avail


def _full(n: int, cols: np.ndarray, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    out = np.full(n, fill)
    out[cols] = values
    return out


def rule_based_step_limits(
    energy: np.ndarray,
    e_lo: np.ndarray,
    e_hi: np.ndarray,
    step_kwh: np.ndarray,
    eta_c: np.ndarray,
    eta_d: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bus-side room to charge and energy available to discharge in one step, kWh.

    Parameters
    ----------
    energy : numpy.ndarray
        Stored energy at the start of the step, kWh.
    e_lo, e_hi : numpy.ndarray
        Band of the rule, kWh.
    step_kwh : numpy.ndarray
        Power limit × step length, kWh.
    eta_c, eta_d : numpy.ndarray
        One-way efficiencies.

    Returns
    -------
    room, avail : numpy.ndarray
        ``min(P·Δt, (e_hi − E)/η_c)`` and ``min(P·Δt, (E − e_lo)·η_d)``, both ≥ 0.
    """
    room = np.minimum(step_kwh, np.maximum(e_hi - energy, 0.0) / eta_c)
    avail = np.minimum(step_kwh, np.maximum(energy - e_lo, 0.0) * eta_d)
    return room, avail


def _serve(need: np.ndarray, cap: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Serve ``need`` from ``cap``: own store first, then the cluster's other stores pro rata.

    Returns the energy each store moves and the need left per participant.
    """
    own = np.minimum(need, cap)
    need = need - own
    cap = cap - own
    total_need = np.bincount(codes, weights=need, minlength=k)
    total_cap = np.bincount(codes, weights=cap, minlength=k)
    moved = np.minimum(total_need, total_cap)
    pooled = cap * ratio(moved, total_cap)[codes]
    need = need * (1.0 - ratio(moved, total_need)[codes])
    return own + pooled, need


def rule_based(
    community: Community,
    progress: Callable[[int], None] | None = None,
    *,
    params: RuleParams | None = None,
    secondary: SecondaryStorage | Mapping | None = None,
) -> RuleSchedule:
    """Petri et al. Algorithm 1 "In-Cluster" rule-based control of every battery.

    Parameters
    ----------
    community : Community
        Buildings; each participant's battery (``battery_kwh``/``battery_kw``) is its BESS1.
    progress : callable, optional
        Called with the number of steps done.
    params : RuleParams, optional
        Thresholds; defaults are Petri et al.'s (BESS1 20–95 %, boats 20 %/98 %).
    secondary : SecondaryStorage or mapping, optional
        Electric boats (BESS2). Default: ``community.meta["secondary_storage"]`` if
        present, else none.

    Returns
    -------
    RuleSchedule
        BESS1 charge/discharge/energy ``(T, M)`` (kWh), the boats' net energy as
        ``load_delta`` ``(T, N)`` (kWh per step; ``None`` without boats) and their
        state in ``secondary``.

    Notes
    -----
    See the module docstring for how the five stages of Algorithm 1 map onto the
    steps of the rule. Batteries never charge from the grid and never discharge to
    the grid: they only move the cluster's own surplus in time, so the rule cannot
    raise the cost above the no-control run when λb·η_c·η_d ≥ λs.
    """
    params = params or RuleParams()
    T, N = community.T, community.N
    dt = community.dt
    codes, k = cluster_codes(params.clusters, N)
    price = community.retail if params.price == "retail" else community.feed_in
    p_ref = float(np.mean(price)) if params.p_ref is None else float(params.p_ref)

    parts = community.participants
    owners = np.flatnonzero((parts["battery_kwh"].to_numpy() > 0) & (parts["battery_kw"].to_numpy() > 0))
    sel = parts.iloc[owners]
    lo1, hi1 = _band(community, owners, params.soc1_min, params.soc1_max)
    cap1 = sel["battery_kwh"].to_numpy(np.float64)
    e_lo1, e_hi1 = _full(N, owners, lo1), _full(N, owners, hi1)
    p1 = _full(N, owners, sel["battery_kw"].to_numpy(np.float64) * dt)
    eta_c1 = _full(N, owners, sel["battery_eff_charge"].to_numpy(np.float64), 1.0)
    eta_d1 = _full(N, owners, sel["battery_eff_discharge"].to_numpy(np.float64), 1.0)
    # initial energy clipped into the participant's own bounds (not the rule's band)
    soc_lo = sel["soc_min"].to_numpy(np.float64) * cap1
    soc_hi = sel["soc_max"].to_numpy(np.float64) * cap1
    e1 = _full(N, owners, np.clip(sel["soc_init"].to_numpy(np.float64) * cap1, soc_lo, soc_hi))

    boats = _secondary(community, secondary)
    if boats is not None:
        cols2, cap2_m, pow2, eta_c2_m, eta_d2_m, soc02, avail2_m = boats
        e_lo2 = _full(N, cols2, params.soc2_min * cap2_m)
        e_hi2 = _full(N, cols2, params.soc2_max * cap2_m)
        p2 = _full(N, cols2, pow2 * dt)
        eta_c2 = _full(N, cols2, eta_c2_m, 1.0)
        eta_d2 = _full(N, cols2, eta_d2_m, 1.0)
        e2 = _full(N, cols2, np.minimum(soc02, 1.0) * cap2_m)
        plugged = np.zeros(N, dtype=bool)
        c2_out = np.zeros((T, cols2.size))
        u2_out = np.zeros((T, cols2.size))
        e2_out = np.zeros((T, cols2.size))

    m = owners.size
    charge = np.zeros((T, m))
    discharge = np.zeros((T, m))
    energy = np.zeros((T, m))
    every = max(T // 100, 1)
    for t in range(T):
        x = community.load[t] - community.generation[t]
        s = np.maximum(-x, 0.0)
        d = np.maximum(x, 0.0)
        # Initialisation / Stage 2: surplus feeds the cluster's consumption first (P2P)
        fed = np.minimum(np.bincount(codes, weights=s, minlength=k), np.bincount(codes, weights=d, minlength=k))
        s = s * (1.0 - ratio(fed, np.bincount(codes, weights=s, minlength=k))[codes])
        d = d * (1.0 - ratio(fed, np.bincount(codes, weights=d, minlength=k))[codes])
        room1, avail1 = rule_based_step_limits(e1, e_lo1, e_hi1, p1, eta_c1, eta_d1)
        # Stage 1: residual surplus charges BESS1 (own first, then the cluster's)
        c1, s = _serve(s, room1, codes, k)
        # deficit: BESS1 down to soc1_min
        u1, d = _serve(d, avail1, codes, k)
        e1 = e1 + eta_c1 * c1 - u1 / eta_d1
        if boats is not None:
            plugged[cols2] = avail2_m[t]
            room2, avail2 = rule_based_step_limits(e2, e_lo2, e_hi2, p2, eta_c2, eta_d2)
            room2 = np.where(plugged, room2, 0.0)
            avail2 = np.where(plugged, avail2, 0.0)
            # Stages 3-4: sell when P_ref < p_price, else charge the boats
            if price[t] > p_ref:
                c2 = np.zeros(N)
            else:
                c2, s = _serve(s, room2, codes, k)
            # Stage 5: discharge boats above soc2_min, else buy from the grid
            u2, d = _serve(d, avail2, codes, k)
            e2 = e2 + eta_c2 * c2 - u2 / eta_d2
            c2_out[t] = c2[cols2]
            u2_out[t] = u2[cols2]
            e2_out[t] = e2[cols2]
        charge[t] = c1[owners]
        discharge[t] = u1[owners]
        energy[t] = e1[owners]
        if progress is not None and (t + 1) % every == 0:
            progress(t + 1)
    if progress is not None:
        progress(T)
    secondary_schedule = None
    load_delta = None
    if boats is not None:
        secondary_schedule = BatterySchedule(cols2, c2_out, u2_out, e2_out, cap2_m)
        load_delta = np.zeros((T, N))
        load_delta[:, cols2] = c2_out - u2_out
    return RuleSchedule(owners, charge, discharge, energy, cap1, load_delta, secondary_schedule, p_ref)
