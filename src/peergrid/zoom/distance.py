"""Electrical distance vs radio distance, and a coordinator market priced and matched by both.

Anoh et al. (2026, abstract) "formulate an energy trading model connecting the physical
(electrical) and virtual (telecom) distances". VMGs are formed by the radio (who hears whom
at which SF); the energy flows on the feeder. The two distances differ: neighbours across a
street can hang on different LV feeders or substations (electrically far, one radio hop),
and houses on one feeder can sit on either side of a gateway boundary (electrically close,
different VMGs). peergrid makes both explicit:

* :func:`neighbourhood` places the households of a LoRaWAN deployment on LV feeders built
  with :func:`peergrid.grid.build_feeder` (one radial template per MV/LV substation,
  substations on their own grid, each house connected to its nearest bus by a service
  cable) and reads the line resistances with :func:`peergrid.grid.radial_tree` (read-only);
* **electrical distance** R_ij, Ω: the series resistance of the path between two houses —
  service cables + feeder lines to the common bus (same substation), or up both feeders
  and through both transformers (different substations; the MV path is neglected);
* **radio distance** a_i + a_j (+ the coordinator's hop across VMGs), s: airtime per
  delivered reading of each end, ToA(SF) × transmissions per delivered reading (measured);
* **combined cost** per kWh traded (:class:`DistanceCost`)::

      c_ij = λ̄b · κ · R_ij                                  (losses, κ = P_ref / V², 1/Ω)
           + [c_msg · (n_i + n_j + h·[VMG_i ≠ VMG_j]) + c_air · (a_i + a_j)] / q_ref   (radio)

  the value of the losses a standalone transfer of P_ref causes, plus the messaging OPEX
  the trade causes (transmissions per delivered reading n, extra coordinator messages h,
  gateway receive energy) spread over a typical trade of q_ref kWh.

:func:`costed_trade` clears every VMG locally (the pool rule of
:func:`peergrid.zoom.vmg.trade`), then the coordinator matches VMG residuals **pairwise in
merit order of a cost** — the combined one, the electrical or the radio distance alone — or
pools them pro rata (the cost-blind coordinator of :func:`~peergrid.zoom.vmg.trade`). A pair
trades only when its combined cost is below the spread λb − λs; buyer pays mid + c/2, seller
gets mid − c/2, the network operators get c. Realised costs are always evaluated with the
combined cost, within VMGs (pro-rata pairing of the pool) and across them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.zoom._common import step_prices
from peergrid.zoom.lora import Deployment, LinkBudget, time_on_air
from peergrid.zoom.uplinks import RadioConfig, UplinkLog
from peergrid.zoom.vmg import VMGPlan, group_sums, trade

__all__ = [
    "MATCH_RULES",
    "CostedTrade",
    "DistanceCost",
    "Neighbourhood",
    "costed_trade",
    "distance_pairs",
    "neighbourhood",
    "radio_terms",
]

#: Coordinator matching rules of :func:`costed_trade`.
MATCH_RULES = ("combined", "electrical", "radio", "pool")


@dataclass(frozen=True)
class Neighbourhood:
    """Households on LV feeders under a LoRaWAN deployment (see :func:`neighbourhood`).

    Attributes
    ----------
    deployment : Deployment
        Devices at their houses and the gateways, m.
    substations : numpy.ndarray
        ``(S, 2)`` MV/LV substation coordinates, m.
    bus_xy : numpy.ndarray
        ``(B, 2)`` position of every bus of the feeder template relative to its substation, m
        (B = LV buses of the template; position b is ``tree.bus`` position b).
    substation : numpy.ndarray
        ``(N,)`` substation of each house.
    bus : numpy.ndarray
        ``(N,)`` bus (template position) each house is connected to.
    service_m : numpy.ndarray
        ``(N,)`` service-cable length house–bus, m.
    root_r : numpy.ndarray
        ``(B,)`` resistance from the LV busbar to each bus, Ω (from :func:`peergrid.grid.radial_tree`).
    shared_r : numpy.ndarray
        ``(B, B)`` resistance of the common part of two buses' paths to the busbar, Ω.
    trafo_r : float
        Transformer series resistance referred to LV, Ω.
    service_r_per_m : float
        Service-cable resistance, Ω/m.
    """

    deployment: Deployment
    substations: np.ndarray
    bus_xy: np.ndarray
    substation: np.ndarray
    bus: np.ndarray
    service_m: np.ndarray
    root_r: np.ndarray
    shared_r: np.ndarray
    trafo_r: float
    service_r_per_m: float

    @property
    def n_devices(self) -> int:
        """Number of houses N."""
        return int(self.substation.shape[0])

    def resistance(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Electrical distance R_ij between houses ``i`` and ``j`` (broadcast), Ω (0 for i = j)."""
        i, j = np.broadcast_arrays(np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64))
        bi, bj = self.bus[i], self.bus[j]
        same = self.substation[i] == self.substation[j]
        feeder = self.root_r[bi] + self.root_r[bj] - np.where(same, 2.0 * self.shared_r[bi, bj], -2.0 * self.trafo_r)
        svc = self.service_r_per_m * (self.service_m[i] + self.service_m[j])
        return np.where(i == j, 0.0, feeder + svc)


def neighbourhood(
    n_devices: int,
    n_gateways: int,
    gateway_spacing_m: float = 400.0,
    substation_spacing_m: float = 250.0,
    feeders: int = 4,
    buses_per_feeder: int = 6,
    section_m: float = 30.0,
    service_r_ohm_per_km: float = 0.641,
    seed: int | None = 0,
) -> Neighbourhood:
    """Place a LoRaWAN deployment's houses on radial LV feeders.

    Gateways and houses as :meth:`peergrid.zoom.lora.Deployment.grid`. Substations on their
    own square grid ``substation_spacing_m`` apart (not aligned with the gateways); each
    feeds ``feeders`` radial cables of ``buses_per_feeder`` sections of ``section_m`` leaving
    diagonally (:func:`peergrid.grid.build_feeder` with explicit parents, default
    NAYY 4x150 SE cable and 0.4 MVA transformer). Each house connects to the nearest bus of any
    substation with a service cable (NAYY 4x50 SE, ``service_r_ohm_per_km``).

    Returns
    -------
    Neighbourhood
    """
    from scipy.spatial import cKDTree

    from peergrid.grid import build_feeder, radial_tree

    if int(feeders) < 1 or int(buses_per_feeder) < 1:
        raise ConfigError("feeders and buses_per_feeder must be >= 1")
    for name, v in (("substation_spacing_m", substation_spacing_m), ("section_m", section_m)):
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{name} must be > 0, got {v}")
    dep = Deployment.grid(n_devices, n_gateways, gateway_spacing_m, seed=seed)
    F, L = int(feeders), int(buses_per_feeder)
    nb = 1 + F * L
    parents = np.zeros(nb, dtype=np.int64)
    k = np.arange(1, nb)
    parents[1:] = np.where((k - 1) % L == 0, 0, k - 1)
    net = build_feeder(n_buses=nb, parents=parents, length_km=section_m / 1000.0)
    tree = radial_tree(net)
    pos = tree.positions(np.arange(nb))  # template buses 0..nb-1 → tree positions
    R = abs(tree.root_paths[pos])  # (nb, lines) 0/1
    r = tree.line_r_ohm
    root_r = np.asarray(R @ r).ravel()
    shared = np.asarray((R.multiply(r[None, :]) @ R.T).todense())
    tr = net.trafo.iloc[0]
    trafo_r = float(tr["vkr_percent"]) / 100.0 * float(tr["vn_lv_kv"]) ** 2 / float(tr["sn_mva"])
    ang = 2.0 * np.pi * np.arange(F) / F + np.pi / 4.0
    bus_xy = np.zeros((nb, 2))
    c, j = np.divmod(k - 1, L)
    bus_xy[1:, 0] = (j + 1) * section_m * np.cos(ang[c])
    bus_xy[1:, 1] = (j + 1) * section_m * np.sin(ang[c])
    lo, hi = dep.devices.min(axis=0), dep.devices.max(axis=0)
    span = np.maximum(dep.gateways.max(axis=0) + gateway_spacing_m / 2.0, hi)
    nx = max(1, math.ceil(span[0] / substation_spacing_m))
    ny = max(1, math.ceil(span[1] / substation_spacing_m))
    gx, gy = np.meshgrid((np.arange(nx) + 0.5) * substation_spacing_m, (np.arange(ny) + 0.5) * substation_spacing_m)
    subs = np.column_stack([gx.ravel(), gy.ravel()])
    pts = (subs[:, None, :] + bus_xy[None, :, :]).reshape(-1, 2)
    dist, idx = cKDTree(pts).query(dep.devices)
    sub, bus = np.divmod(np.asarray(idx, dtype=np.int64), nb)
    del lo
    return Neighbourhood(
        deployment=dep,
        substations=subs,
        bus_xy=bus_xy,
        substation=sub,
        bus=bus,
        service_m=np.asarray(dist, dtype=np.float64),
        root_r=root_r,
        shared_r=shared,
        trafo_r=trafo_r,
        service_r_per_m=service_r_ohm_per_km / 1000.0,
    )


@dataclass(frozen=True)
class DistanceCost:
    """Prices turning electrical and radio distance into currency per kWh traded.

    Attributes
    ----------
    p_ref_kw, v_ll_v : float
        Reference transfer power, kW, and line-to-line voltage, V: loss fraction κ·R with
        κ = P_ref / V² (5 kW over 0.1 Ω at 400 V loses 0.31 %).
    cost_per_message : float
        Network-server/backhaul cost per LoRaWAN message, currency (as :class:`peergrid.zoom.costs.CostParams`).
    air_cost_per_s : float
        Gateway receive energy per airtime second, currency/s (0.5 W × 0.30 currency/kWh).
    hop_messages : float
        Extra messages of a trade across VMGs (coordinator backhaul + the other gateway's downlink).
    q_ref_kwh : float or None
        Energy of a typical trade, kWh (None: the mean energy a trading member trades per step).
    """

    p_ref_kw: float = 5.0
    v_ll_v: float = 400.0
    cost_per_message: float = 1e-4
    air_cost_per_s: float = 0.5 * 0.30 / 3.6e6
    hop_messages: float = 2.0
    q_ref_kwh: float | None = None

    def __post_init__(self) -> None:
        for name in ("p_ref_kw", "v_ll_v"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"{name} must be > 0")
        for name in ("cost_per_message", "air_cost_per_s", "hop_messages"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be >= 0")
        if self.q_ref_kwh is not None and not (math.isfinite(self.q_ref_kwh) and self.q_ref_kwh > 0):
            raise ConfigError("q_ref_kwh must be > 0")

    @property
    def loss_per_ohm(self) -> float:
        """κ = P_ref / V², share of the traded energy lost per Ω of path, 1/Ω."""
        return self.p_ref_kw * 1e3 / self.v_ll_v**2


def radio_terms(budget: LinkBudget, cfg: RadioConfig, log: UplinkLog) -> tuple[np.ndarray, np.ndarray]:
    """Per device: transmissions per delivered reading n_i and airtime per delivered reading a_i, s.

    Silent devices (SF 0) get n = a = 0 (they cannot trade anyway).
    """
    sf = np.asarray(cfg.sf)
    got = log.delivered.sum(axis=0).astype(float)
    n = np.where(got > 0, log.transmissions / np.maximum(got, 1.0), 0.0)
    toa = np.where(sf > 0, time_on_air(budget.params.payload_bytes, np.where(sf > 0, sf, 7)), 0.0)
    return n, toa * n


def distance_pairs(
    nb: Neighbourhood, plan: VMGPlan, airtime_s: np.ndarray, pairs: int = 20000, seed: int | None = 0
) -> dict[str, Any]:
    """Compare electrical and radio distance on random pairs of online houses.

    Returns
    -------
    dict
        ``spearman`` rank correlation of R_ij and a_i + a_j (+ hop), the shares of same-VMG
        pairs on different substations and of cross-VMG pairs on the same substation, and the
        median R_ij of same-VMG vs cross-VMG pairs, Ω.
    """
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    online = np.flatnonzero(plan.vmg < plan.offline)
    if online.size < 2:
        raise DataError("distance_pairs needs at least two online devices")
    i = rng.choice(online, pairs)
    j = rng.choice(online, pairs)
    keep = i != j
    i, j = i[keep], j[keep]
    R = nb.resistance(i, j)
    same_vmg = plan.vmg[i] == plan.vmg[j]
    hop = np.where(same_vmg, 0.0, np.median(airtime_s[online]))
    radio = airtime_s[i] + airtime_s[j] + hop
    rho = float(spearmanr(R, radio).statistic)
    same_sub = nb.substation[i] == nb.substation[j]
    return {
        "pairs": int(i.size),
        "spearman": rho,
        "same_vmg_other_substation": float((same_vmg & ~same_sub).sum() / max(same_vmg.sum(), 1)),
        "cross_vmg_same_substation": float((~same_vmg & same_sub).sum() / max((~same_vmg).sum(), 1)),
        "median_r_same_vmg_ohm": float(np.median(R[same_vmg])) if same_vmg.any() else float("nan"),
        "median_r_cross_vmg_ohm": float(np.median(R[~same_vmg])) if (~same_vmg).any() else float("nan"),
    }


@dataclass(frozen=True)
class CostedTrade:
    """Outcome of :func:`costed_trade` (energy kWh, money currency).

    Attributes
    ----------
    rule : str
        Coordinator matching rule (:data:`MATCH_RULES`).
    bill : numpy.ndarray
        ``(T, N)`` member bills incl. the inter-VMG prices and the cost share, currency.
    local_kwh, inter_kwh : numpy.ndarray
        ``(T,)`` energy traded within VMGs and across VMGs.
    inter_flow : numpy.ndarray
        ``(T, K, K)`` inter-VMG energy from seller VMG k to buyer VMG l.
    local_el_cost, local_radio_cost, inter_el_cost, inter_radio_cost : numpy.ndarray
        ``(T,)`` combined-cost parts of the trades, currency.
    local_loss_kwh, inter_loss_kwh : numpy.ndarray
        ``(T,)`` estimated losses of the trades (κ·R·q), kWh.
    grid_bill, fees : numpy.ndarray
        ``(T,)`` money to the grid and to the network operators (inter-VMG cost).
    q_ref_kwh : float
    """

    rule: str
    bill: np.ndarray
    local_kwh: np.ndarray
    inter_kwh: np.ndarray
    inter_flow: np.ndarray
    local_el_cost: np.ndarray
    local_radio_cost: np.ndarray
    inter_el_cost: np.ndarray
    inter_radio_cost: np.ndarray
    local_loss_kwh: np.ndarray
    inter_loss_kwh: np.ndarray
    grid_bill: np.ndarray
    fees: np.ndarray
    q_ref_kwh: float

    def summary(self) -> dict[str, float]:
        """Totals with stable keys."""
        traded = float(self.local_kwh.sum() + self.inter_kwh.sum())
        cost = float(
            self.local_el_cost.sum()
            + self.local_radio_cost.sum()
            + self.inter_el_cost.sum()
            + self.inter_radio_cost.sum()
        )
        return {
            "rule": self.rule,
            "local_kwh": float(self.local_kwh.sum()),
            "inter_kwh": float(self.inter_kwh.sum()),
            "loss_kwh": float(self.local_loss_kwh.sum() + self.inter_loss_kwh.sum()),
            "inter_loss_kwh": float(self.inter_loss_kwh.sum()),
            "electrical_cost": float(self.local_el_cost.sum() + self.inter_el_cost.sum()),
            "radio_cost": float(self.local_radio_cost.sum() + self.inter_radio_cost.sum()),
            "inter_cost": float(self.inter_el_cost.sum() + self.inter_radio_cost.sum()),
            "cost_per_kwh_traded": cost / traded if traded > 0 else float("nan"),
            "inter_cost_per_kwh": float(self.inter_el_cost.sum() + self.inter_radio_cost.sum())
            / max(float(self.inter_kwh.sum()), 1e-12),
            "members_cost": float(self.bill.sum()),
            "grid_bill": float(self.grid_bill.sum()),
            "fees": float(self.fees.sum()),
        }


def _pair_terms(nb: Neighbourhood, codes: np.ndarray, K: int, b: np.ndarray, s: np.ndarray):
    """Energy-weighted electrical sums between buyers and sellers of every VMG pair, per step.

    Returns ``E[t, k, l] = Σ_{j∈k, i∈l} s_tj · b_ti · R_ij`` (sellers in k, buyers in l), using
    R_ij = root_i + root_j + svc_i + svc_j + 2 r_T − [same substation] (2 r_T + 2 shared_ij):
    separable parts from per-VMG sums, the rest from (VMG, substation) aggregates per bus.
    """
    T = b.shape[0]
    root = nb.root_r[nb.bus] + nb.service_r_per_m * nb.service_m  # (N,)
    Bk = group_sums(b, codes, K)
    Sk = group_sums(s, codes, K)
    Bw = group_sums(b * root, codes, K)
    Sw = group_sums(s * root, codes, K)
    E = (
        Sw[:, :, None] * Bk[:, None, :]
        + Sk[:, :, None] * Bw[:, None, :]
        + 2.0 * nb.trafo_r * Sk[:, :, None] * Bk[:, None, :]
    )
    # (VMG, substation) groups and their per-bus aggregates
    pair_code = codes.astype(np.int64) * (int(nb.substation.max()) + 1) + nb.substation
    uniq, inv = np.unique(pair_code, return_inverse=True)
    C = uniq.size
    nbus = nb.root_r.size
    cell = inv * nbus + nb.bus
    Ba = group_sums(b, cell, C * nbus).reshape(T, C, nbus)
    Sa = group_sums(s, cell, C * nbus).reshape(T, C, nbus)
    W = 2.0 * nb.trafo_r + 2.0 * nb.shared_r
    SW = Sa @ W  # (T, C, nbus)
    ck, csub = np.divmod(uniq, int(nb.substation.max()) + 1)
    # every pair of groups on the same substation
    order = np.argsort(csub, kind="stable")
    sub_sorted = csub[order]
    starts = np.searchsorted(sub_sorted, sub_sorted, side="left")
    ends = np.searchsorted(sub_sorted, sub_sorted, side="right")
    reps = ends - starts
    g1 = np.repeat(order, reps)
    offs = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    g2 = order[np.repeat(starts, reps) + offs]
    quad = np.einsum("tpb,tpb->tp", SW[:, g1, :], Ba[:, g2, :])  # sellers g1, buyers g2
    flat = (ck[g1] * K + ck[g2]).astype(np.int64)
    sub_term = np.zeros((T, K * K))
    for_t = np.zeros((T, K * K))
    np.add.at(for_t.T, flat, quad.T)
    sub_term += for_t
    return E - sub_term.reshape(T, K, K), Bk, Sk


def costed_trade(
    net: np.ndarray,
    plan: VMGPlan,
    nb: Neighbourhood,
    n_tx: np.ndarray,
    airtime_s: np.ndarray,
    retail: Any,
    feed_in: Any,
    rule: str = "combined",
    mechanism: str = "sdr",
    cost: DistanceCost | None = None,
    delivered: np.ndarray | None = None,
) -> CostedTrade:
    """VMG trading where the coordinator prices and matches inter-VMG trades by distance cost.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy, kWh (+ import).
    plan : VMGPlan
        VMGs (from the radio).
    nb : Neighbourhood
        The same houses on the feeder.
    n_tx, airtime_s : numpy.ndarray
        ``(N,)`` transmissions and airtime per delivered reading (:func:`radio_terms`).
    retail, feed_in : float or array-like
        λb, λs, currency/kWh.
    rule : str
        ``"combined"``, ``"electrical"``, ``"radio"`` (merit order of that cost) or ``"pool"``
        (pro-rata pooling, cost-blind).
    mechanism : str
        Pool rule inside the VMGs (``"sdr"``, ``"mmr"``, ``"bs"``).
    cost : DistanceCost, optional
    delivered : numpy.ndarray, optional
        ``(T, N)`` readings that reached the network server; the others trade with the grid.

    Returns
    -------
    CostedTrade
        Σ bill = grid_bill + fees per step (tested).
    """
    if rule not in MATCH_RULES:
        raise ConfigError(f"unknown matching rule {rule!r}; choose from {', '.join(MATCH_RULES)}")
    cp = cost or DistanceCost()
    net = np.asarray(net, dtype=np.float64)
    T, N = net.shape
    if N != nb.n_devices or plan.vmg.shape[0] != N:
        raise DataError(f"net has {N} members, the neighbourhood {nb.n_devices}, the plan {plan.vmg.shape[0]}")
    if delivered is not None:
        net_on = np.where(np.asarray(delivered, dtype=bool), net, 0.0)
    else:
        net_on = net
    lb = step_prices(retail, T, "retail")
    ls = step_prices(feed_in, T, "feed_in")
    K = plan.n_vmg
    codes = plan.vmg
    local = trade(net_on, plan, lb, ls, mechanism, "grid", coordinator=False)
    off = net - net_on
    bill = local.bill + lb[:, None] * np.maximum(off, 0.0) - ls[:, None] * np.maximum(-off, 0.0)
    kappa = cp.loss_per_ohm
    traded_member = local.bought + local.sold
    q_ref = cp.q_ref_kwh
    if q_ref is None:
        active = traded_member > 1e-9
        q_ref = float(traded_member[active].mean()) if active.any() else 1.0
    rad = (
        cp.cost_per_message * np.asarray(n_tx) + cp.air_cost_per_s * np.asarray(airtime_s)
    ) / q_ref  # per kWh, per end
    hop = cp.cost_per_message * cp.hop_messages / q_ref

    # ---- within VMGs: the pool pairs buyers and sellers pro rata --------------------------
    Eb, Bk, Sk = _pair_terms(nb, codes, K, local.bought, local.sold)
    diag = np.arange(K)
    with np.errstate(invalid="ignore", divide="ignore"):
        Qk = group_sums(local.bought, codes, K)  # traded per VMG
        mean_r_local = np.where(Bk * Sk > 0, Eb[:, diag, diag] / np.where(Bk * Sk > 0, Bk * Sk, 1.0), 0.0)
        rad_b = np.where(Bk > 0, group_sums(local.bought * rad, codes, K) / np.where(Bk > 0, Bk, 1.0), 0.0)
        rad_s = np.where(Sk > 0, group_sums(local.sold * rad, codes, K) / np.where(Sk > 0, Sk, 1.0), 0.0)
    local_loss = (kappa * mean_r_local * Qk).sum(axis=1)
    local_el = (lb[:, None] * kappa * mean_r_local * Qk).sum(axis=1)
    local_rad = ((rad_b + rad_s) * Qk).sum(axis=1)

    # ---- across VMGs ----------------------------------------------------------------------
    gimp = np.maximum(net_on, 0.0) - local.bought
    gexp = np.maximum(-net_on, 0.0) - local.sold
    on = codes != plan.offline
    gimp = gimp * on
    gexp = gexp * on
    Er, Ib, Xs = _pair_terms(nb, codes, K, gimp, gexp)  # sellers k (exports), buyers l (imports)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = Xs[:, :, None] * Ib[:, None, :]
        mean_r = np.where(denom > 0, Er / np.where(denom > 0, denom, 1.0), 0.0)  # (T, K, K) Ω
        rad_imp = np.where(Ib > 0, group_sums(gimp * rad, codes, K) / np.where(Ib > 0, Ib, 1.0), 0.0)
        rad_exp = np.where(Xs > 0, group_sums(gexp * rad, codes, K) / np.where(Xs > 0, Xs, 1.0), 0.0)
    c_el = lb[:, None, None] * kappa * mean_r
    c_rad = rad_exp[:, :, None] + rad_imp[:, None, :] + hop
    c_all = c_el + c_rad
    spread = (lb - ls)[:, None, None]
    ok = (Xs[:, :, None] > 0) & (Ib[:, None, :] > 0) & (c_all < spread)
    ok[:, diag, diag] = False
    flow = np.zeros((T, K, K))
    if rule == "pool":
        Xt, It = Xs.sum(axis=1), Ib.sum(axis=1)
        M = np.minimum(Xt, It)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = (M / np.where(Xt * It > 0, Xt * It, 1.0))[:, None, None] * Xs[:, :, None] * Ib[:, None, :]
        flow = np.where(ok | (np.eye(K, dtype=bool)[None] & False), f, 0.0)
        flow[:, diag, diag] = 0.0
    else:
        key = {"combined": c_all, "electrical": c_el, "radio": c_rad}[rule]
        key = np.where(ok, key, np.inf).reshape(T, K * K)
        order = np.argsort(key, axis=1, kind="stable")
        n_ok = ok.reshape(T, -1).sum(axis=1)
        X = Xs.copy()
        Im = Ib.copy()
        tt = np.arange(T)
        fl = flow.reshape(T, K * K)
        for r in range(int(n_ok.max()) if T else 0):
            idx = order[:, r]
            k, l_ = np.divmod(idx, K)
            q = np.where(r < n_ok, np.minimum(X[tt, k], Im[tt, l_]), 0.0)
            fl[tt, idx] += q
            X[tt, k] -= q
            Im[tt, l_] -= q
        flow = fl.reshape(T, K, K)
    inter_el = (c_el * flow).sum(axis=(1, 2))
    inter_rad = (c_rad * flow).sum(axis=(1, 2))
    inter_loss = (kappa * mean_r * flow).sum(axis=(1, 2))
    mid = (lb + ls) / 2.0
    # re-price the VMG residuals that traded across VMGs, pro rata to the members' residuals
    out_k = flow.sum(axis=2)  # exported by seller VMG k
    in_l = flow.sum(axis=1)  # imported by buyer VMG l
    pay_l = ((mid[:, None, None] + c_all / 2.0) * flow).sum(axis=1)  # buyers pay
    get_k = ((mid[:, None, None] - c_all / 2.0) * flow).sum(axis=2)  # sellers get
    with np.errstate(invalid="ignore", divide="ignore"):
        adj_b = np.where(Ib > 0, (pay_l - lb[:, None] * in_l) / np.where(Ib > 0, Ib, 1.0), 0.0)
        adj_s = np.where(Xs > 0, (get_k - ls[:, None] * out_k) / np.where(Xs > 0, Xs, 1.0), 0.0)
    bill = bill + adj_b[:, codes] * gimp - adj_s[:, codes] * gexp
    grid_imp = np.maximum(net, 0.0).sum(axis=1) - local.bought.sum(axis=1) - in_l.sum(axis=1)
    grid_exp = np.maximum(-net, 0.0).sum(axis=1) - local.sold.sum(axis=1) - out_k.sum(axis=1)
    grid_bill = lb * grid_imp - ls * grid_exp
    fees = (c_all * flow).sum(axis=(1, 2))
    return CostedTrade(
        rule=rule,
        bill=bill,
        local_kwh=local.bought.sum(axis=1),
        inter_kwh=flow.sum(axis=(1, 2)),
        inter_flow=flow,
        local_el_cost=local_el,
        local_radio_cost=local_rad,
        inter_el_cost=inter_el,
        inter_radio_cost=inter_rad,
        local_loss_kwh=local_loss,
        inter_loss_kwh=inter_loss,
        grid_bill=grid_bill,
        fees=fees,
        q_ref_kwh=float(q_ref),
    )
