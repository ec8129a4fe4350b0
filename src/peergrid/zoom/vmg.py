"""Virtual microgrids (VMGs) by LoRaWAN cluster zooming, and trading inside and between them.

Zooming (Anoh et al. 2026, abstract: "cluster zooming achieved by the spreading
factor via the ADR mechanism"; peergrid reads this as one VMG per gateway and SF ring):

* every covered device has a serving (home) gateway and an ADR spreading factor
  (:func:`peergrid.zoom.lora.plan_radio`); its **SF ring** is that SF;
* each gateway g has a **zoom level** z_g ∈ 7..12, an SF cap: its VMG holds the
  devices it serves on SF ≤ z_g. Zooming in (lower z) gives a smaller, denser
  VMG of devices close to the gateway; zooming out (z = 12) takes in its whole
  coverage;
* devices outside their gateway's zoom (SF > z_g) trade in the coordinator's
  **wide VMG** (one network-wide pool of the outer rings), and devices out of
  radio coverage form the **offline group**, which cannot trade (no messages)
  and settles with the grid only.

VMG codes are fixed: ``0..G−1`` the gateway VMGs, ``G`` the wide VMG, ``G+1``
the offline group, so every device is in exactly one VMG (empty VMGs are allowed).

Trading (:func:`trade`) clears every VMG in every step in **one** call of a
``peergrid.market`` mechanism (group codes t·K + k, no Python loop per VMG or
step), then the central coordinator pools the VMGs' residuals in a second-level
market (inter-VMG trades), and what is left goes to the main grid
(grid-connected) or, islanded, to the VMG's pooled storage and then is unserved
(deficit) or curtailed (surplus).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from peergrid.assets.battery import BatteryFleet
from peergrid.control.greedy import greedy_self_consumption
from peergrid.core.errors import ConfigError, DataError
from peergrid.market import MECHANISMS, ORDER_MECHANISMS, get_mechanism, get_order_mechanism, orders_from_net
from peergrid.zoom._common import step_prices
from peergrid.zoom.lora import SF, RadioState

__all__ = [
    "ZOOM_LEVELS",
    "TradeResult",
    "VMGPlan",
    "flat_plan",
    "form_vmgs",
    "group_sums",
    "local_match",
    "rezoom",
    "ring_sums",
    "trade",
    "trade_delivered",
]

#: Zoom levels = SF caps.
ZOOM_LEVELS = tuple(int(s) for s in SF)
#: Spreading factors counted as "lower SF" (the faster half of SF7..SF12).
LOWER_SF = (7, 8, 9)


@dataclass(frozen=True)
class VMGPlan:
    """Assignment of devices to VMGs.

    Attributes
    ----------
    vmg : numpy.ndarray
        ``(N,)`` VMG code of each device (0..G−1 gateway VMGs, G wide, G+1 offline).
    zoom : numpy.ndarray
        ``(G,)`` zoom level (SF cap) of each gateway.
    sf : numpy.ndarray
        ``(N,)`` ADR SF of each device (0 = uncovered).
    home : numpy.ndarray
        ``(N,)`` serving gateway.
    n_gateways : int
    """

    vmg: np.ndarray
    zoom: np.ndarray
    sf: np.ndarray
    home: np.ndarray
    n_gateways: int

    @property
    def n_vmg(self) -> int:
        """Number of VMG codes K = G + 2."""
        return self.n_gateways + 2

    @property
    def wide(self) -> int:
        """Code of the coordinator's wide VMG."""
        return self.n_gateways

    @property
    def offline(self) -> int:
        """Code of the offline (no radio link) group."""
        return self.n_gateways + 1

    def sizes(self) -> np.ndarray:
        """Members per VMG code, ``(K,)``."""
        return np.bincount(self.vmg, minlength=self.n_vmg)

    def multicast_sf(self) -> np.ndarray:
        """``(G, 2)`` SF of the settlement multicast per gateway: [its VMG, its wide-VMG members] (0 = none).

        A multicast must reach the member with the highest SF, so it is sent at
        the largest SF among the addressed devices.
        """
        G = self.n_gateways
        out = np.zeros((G, 2), dtype=np.int64)
        local = self.vmg < G
        np.maximum.at(out[:, 0], self.home[local], self.sf[local])
        wide = self.vmg == G
        np.maximum.at(out[:, 1], self.home[wide], self.sf[wide])
        return out


def form_vmgs(radio: RadioState, zoom: int | np.ndarray = 12) -> VMGPlan:
    """Zoom the clusters: gateway VMG = its devices on SF ≤ zoom level.

    Parameters
    ----------
    radio : RadioState
        Output of :func:`peergrid.zoom.lora.plan_radio`.
    zoom : int or array-like
        Zoom level (SF cap 7..12) of every gateway, or one per gateway.

    Returns
    -------
    VMGPlan
    """
    G = radio.n_gateways
    z = np.broadcast_to(np.asarray(zoom), (G,)).astype(np.int64)
    if np.any((z < 7) | (z > 12)):
        raise ConfigError(f"zoom levels must be spreading factors 7..12, got {sorted(set(z.tolist()))}")
    sf = radio.sf
    home = radio.home
    covered = sf > 0
    inside = covered & (sf <= z[home])
    vmg = np.where(inside, home, np.where(covered, G, G + 1)).astype(np.int64)
    return VMGPlan(vmg, z.copy(), sf, home, G)


def flat_plan(radio: RadioState) -> VMGPlan:
    """The flat baseline: one market over every covered device (the wide VMG), no zooming.

    Every gateway multicasts the settlement at the largest SF it serves.
    """
    G = radio.n_gateways
    vmg = np.where(radio.sf > 0, G, G + 1).astype(np.int64)
    return VMGPlan(vmg, np.full(G, 12, dtype=np.int64), radio.sf, radio.home, G)


def local_match(ring_demand: np.ndarray, ring_supply: np.ndarray) -> np.ndarray:
    """Energy a gateway VMG could trade locally at every zoom level.

    Parameters
    ----------
    ring_demand, ring_supply : numpy.ndarray
        ``(T, G, 6)`` buying / selling energy per gateway and SF ring, kWh.

    Returns
    -------
    numpy.ndarray
        ``(G, 6)``: Σ_t min(D_z, G_z) for zoom z = SF7..SF12, with D_z, G_z the
        sums over rings ≤ z, kWh (what a pool market inside the VMG matches).
    """
    D = np.cumsum(ring_demand, axis=2)
    S = np.cumsum(ring_supply, axis=2)
    return np.minimum(D, S).sum(axis=0)


def rezoom(plan: VMGPlan, ring_demand: np.ndarray, ring_supply: np.ndarray, threshold: float = 0.8) -> np.ndarray:
    """Zoom out (one SF step) every gateway whose VMG's energy balance is poor.

    Balance of gateway g at its zoom z_g: β_g = match(z_g) / match(12), the
    share of the locally matchable energy of its whole coverage that the zoomed
    VMG matches (:func:`local_match`). Gateways with β_g < ``threshold`` zoom
    out to z_g + 1 (at most 12); the others keep their level.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` new zoom levels.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"rezoom threshold must lie in [0, 1], got {threshold}")
    m = local_match(ring_demand, ring_supply)
    G = plan.n_gateways
    cur = m[np.arange(G), plan.zoom - 7]
    full = m[:, 5]
    beta = np.where(full > 0, cur / np.where(full > 0, full, 1.0), 1.0)
    return np.where(beta < threshold, np.minimum(plan.zoom + 1, 12), plan.zoom)


def _indicator(codes: np.ndarray, k: int) -> sp.csr_matrix:
    n = codes.shape[0]
    return sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, k))


def group_sums(x: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Column sums of a ``(T, N)`` array by group code: ``(T, k)`` (sparse product, no loop)."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray((_indicator(codes, k).T @ x.T).T)


def ring_sums(x: np.ndarray, plan: VMGPlan) -> np.ndarray:
    """``(T, G, 6)`` sums of a ``(T, N)`` array per gateway and SF ring (covered devices only)."""
    G = plan.n_gateways
    cov = plan.sf > 0
    codes = np.where(cov, plan.home * 6 + np.clip(plan.sf - 7, 0, 5), G * 6)
    out = group_sums(x, codes, G * 6 + 1)[:, : G * 6]
    return out.reshape(x.shape[0], G, 6)


@dataclass(frozen=True)
class TradeResult:
    """Outcome of VMG trading over T steps (per member ``(T, N)``, per VMG ``(T, K)``).

    Attributes
    ----------
    mechanism, mode : str
        Market mechanism and ``"grid"`` (grid-connected) or ``"island"``.
    bill : numpy.ndarray
        ``(T, N)`` money paid (+) / received (−) by each member, currency.
    bought, sold : numpy.ndarray
        ``(T, N)`` energy bought from / sold to peers of the own VMG, kWh.
    inter_import, inter_export : numpy.ndarray
        ``(T, N)`` energy bought from / sold to other VMGs via the coordinator, kWh.
    storage_in, storage_out : numpy.ndarray
        ``(T, N)`` member surplus absorbed by / deficit served from VMG storage, kWh.
    grid_import, grid_export : numpy.ndarray
        ``(T, N)`` energy from / to the main grid, kWh (zero when islanded).
    unserved, curtailed : numpy.ndarray
        ``(T, N)`` deficit not served / surplus spilled when islanded, kWh.
    vmg_demand, vmg_supply : numpy.ndarray
        ``(T, K)`` buying and selling energy per VMG, kWh.
    storage_energy : numpy.ndarray
        ``(T, K)`` stored energy per VMG at the end of each step, kWh.
    storage_account : numpy.ndarray
        ``(T, K)`` money the VMG storage operator receives (charged energy is
        free, discharged energy is given away: 0 by construction), currency.
    grid_bill : numpy.ndarray
        ``(T,)`` money paid to the main grid, currency.
    market_fees : numpy.ndarray
        ``(T,)`` money kept by the market operator (bid–ask spread of
        pay-as-bid / McAfee trades; 0 for pool rules and uniform prices), currency.
    vmg : numpy.ndarray
        ``(N,)`` VMG codes.
    """

    mechanism: str
    mode: str
    bill: np.ndarray
    bought: np.ndarray
    sold: np.ndarray
    inter_import: np.ndarray
    inter_export: np.ndarray
    storage_in: np.ndarray
    storage_out: np.ndarray
    grid_import: np.ndarray
    grid_export: np.ndarray
    unserved: np.ndarray
    curtailed: np.ndarray
    vmg_demand: np.ndarray
    vmg_supply: np.ndarray
    storage_energy: np.ndarray
    grid_bill: np.ndarray
    market_fees: np.ndarray
    vmg: np.ndarray

    @property
    def n_vmg(self) -> int:
        """Number of VMG codes K."""
        return int(self.vmg_demand.shape[1])

    @property
    def cost_per_participant(self) -> np.ndarray:
        """``(N,)`` energy cost of every participant over the horizon, currency (bills summed)."""
        return self.bill.sum(axis=0)

    def per_vmg(self, x: np.ndarray) -> np.ndarray:
        """Sum a ``(T, N)`` member array per VMG: ``(T, K)``."""
        return group_sums(x, self.vmg, self.n_vmg)

    def summary(self, load: np.ndarray | None = None) -> dict[str, Any]:
        """Totals with stable keys (kWh, currency)."""
        out = {
            "mechanism": self.mechanism,
            "mode": self.mode,
            "members_cost": float(self.bill.sum()),
            "grid_bill": float(self.grid_bill.sum()),
            "market_fees": float(self.market_fees.sum()),
            "p2p_kwh": float(self.bought.sum()),
            "inter_vmg_kwh": float(self.inter_import.sum()),
            "grid_import_kwh": float(self.grid_import.sum()),
            "grid_export_kwh": float(self.grid_export.sum()),
            "unserved_kwh": float(self.unserved.sum()),
            "curtailed_kwh": float(self.curtailed.sum()),
            "storage_out_kwh": float(self.storage_out.sum()),
        }
        if load is not None:
            consumed = float(np.asarray(load).sum())
            out["cost_per_kwh"] = out["members_cost"] / consumed if consumed > 0 else float("nan")
        return out


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)


def _local_pool(net, d, s, codes, K, retail, feed_in, mechanism, offline):
    """Pool-rule clearing of all VMGs × steps in one call; returns member arrays."""
    T = net.shape[0]
    D = group_sums(d, codes, K)
    Gs = group_sums(s, codes, K)
    mech = get_mechanism(mechanism)
    lb = np.repeat(retail, K)
    ls = np.repeat(feed_in, K)
    c = mech(D.ravel(), Gs.ravel(), lb, ls)
    fb = c.peer_share_buy.reshape(T, K).copy()
    fs = c.peer_share_sell.reshape(T, K).copy()
    pb = c.price_buy.reshape(T, K).copy()
    ps = c.price_sell.reshape(T, K).copy()
    # the offline group has no communication: grid only (no-P2P baseline prices)
    fb[:, offline] = 0.0
    fs[:, offline] = 0.0
    pb[:, offline] = retail
    ps[:, offline] = feed_in
    bought = d * fb[:, codes]
    sold = s * fs[:, codes]
    bill = pb[:, codes] * d - ps[:, codes] * s
    return D, Gs, bought, sold, bill, np.zeros(T)


def _local_orders(net, codes, K, retail, feed_in, mechanism, offline, seed):
    """Order-book clearing: one auction per (step, VMG) slot t·K + k, all in one vectorised call.

    The orders are those of the simulator (:func:`peergrid.market.orders_from_net`
    with zero-intelligence limit prices in [λs, λb], Gode & Sunder 1993), grouped
    by VMG; the offline group sends none and settles with the grid.
    """
    T, N = net.shape
    online = np.where(codes[None, :] == offline, 0.0, net)
    book = orders_from_net(online, retail, feed_in, "zero-intelligence", seed, groups=codes, n_groups=K)
    res = get_order_mechanism(mechanism)(book, retail=np.repeat(retail, K), feed_in=np.repeat(feed_in, K))
    fees = np.bincount(res.slots // K, weights=res.fees, minlength=T) if len(res.slots) else np.zeros(T)
    t, i = np.divmod(book.id, N)  # order id t·N + i
    d = np.maximum(net, 0.0)
    s = np.maximum(-net, 0.0)
    bought = np.zeros((T, N))
    sold = np.zeros((T, N))
    bill = retail[:, None] * d - feed_in[:, None] * s  # offline and non-trading members: grid prices
    buy = book.is_buy
    bought[t[buy], i[buy]] = res.filled[buy]
    sold[t[~buy], i[~buy]] = res.filled[~buy]
    bill[t, i] = res.bill
    D = group_sums(d, codes, K)
    Gs = group_sums(s, codes, K)
    return D, Gs, bought, sold, bill, fees


def trade(
    net: np.ndarray,
    plan: VMGPlan,
    retail: Any,
    feed_in: Any,
    mechanism: str = "sdr",
    mode: str = "grid",
    coordinator: bool = True,
    storage_kwh: np.ndarray | None = None,
    dt: float = 0.25,
    seed: int | None = 0,
) -> TradeResult:
    """Clear every VMG in every step, balance between VMGs, settle residuals.

    Stages (all vectorised over VMGs and steps):

    1. **Local market** in each VMG with ``mechanism`` (pool rules BS/MMR/SDR of
       :mod:`peergrid.market.sharing`, or an order-book auction of
       :mod:`peergrid.market.auction` on the orders of
       :func:`peergrid.market.orders_from_net` with zero-intelligence limit prices
       in [λs, λb], grouped by VMG); slot code t·K + k. The offline group settles
       with the grid.
    2. **Storage** (optional, ``storage_kwh`` per member pooled per VMG,
       power = capacity / 2 h, 95 % one-way efficiency, SOC 10–100 %, start 50 %):
       the greedy rule of :func:`peergrid.control.greedy.greedy_self_consumption`
       on each VMG's residual. Stored energy is a shared asset: charging takes
       surplus for free, discharging serves deficit for free.
    3. **Coordinator** (``coordinator=True``, grid-connected only): the residual
       imports and exports of all VMGs (except the offline group) are pooled
       in a second-level market with the same pool rule (SDR for order-book
       mechanisms); VMG k's residual is re-priced from (λb, λs) to the
       inter-VMG prices, pro rata to its members' residuals.
    4. **Settlement**: grid-connected, the rest is imported at λb / exported at
       λs; islanded, it is unserved / curtailed and nobody pays for it.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy per step, kWh (+ import).
    plan : VMGPlan
    retail, feed_in : float or array-like
        λb, λs per step, currency/kWh.
    mechanism : str
        ``"sdr"`` (default), ``"mmr"``, ``"bs"``, ``"baseline"``, or ``"uniform"``,
        ``"pay-as-bid"``, ``"mcafee"``.
    mode : str
        ``"grid"`` or ``"island"``.
    coordinator : bool
        Inter-VMG balancing by the central coordinator.
    storage_kwh : numpy.ndarray, optional
        ``(N,)`` member battery capacity pooled into VMG storage, kWh.
    dt : float
        Step length, h.
    seed : int, optional
        Seed of the order-book limit prices and arrival order (``None``: fresh entropy).

    Returns
    -------
    TradeResult
        Invariants (tested): per VMG and step Σ bought = Σ sold; Σ inter_import =
        Σ inter_export per step; Σ bill = grid_bill + market_fees per step (money conserved).
    """
    net = np.asarray(net, dtype=np.float64)
    if net.ndim != 2 or net.shape[1] != plan.vmg.shape[0]:
        raise DataError(f"net must be (T, N={plan.vmg.shape[0]}), got shape {net.shape}")
    if not np.all(np.isfinite(net)):
        raise DataError("net contains NaN or infinite values")
    if mode not in ("grid", "island"):
        raise ConfigError(f"mode must be 'grid' or 'island', got {mode!r}")
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt must be > 0 h, got {dt}")
    T, N = net.shape
    lb = step_prices(retail, T, "retail")
    ls = step_prices(feed_in, T, "feed_in")
    if np.any(ls > lb):
        raise DataError("feed-in tariff exceeds retail price")
    K = plan.n_vmg
    codes = plan.vmg
    key = str(mechanism).strip().lower().replace("_", "-")
    d = np.maximum(net, 0.0)
    s = np.maximum(-net, 0.0)
    if key in MECHANISMS:
        D, Gs, bought, sold, bill, fees = _local_pool(net, d, s, codes, K, lb, ls, key, plan.offline)
        inter_key = key
    elif key in ORDER_MECHANISMS and key != "bilateral":
        D, Gs, bought, sold, bill, fees = _local_orders(net, codes, K, lb, ls, key, plan.offline, seed)
        inter_key = "sdr"
    else:
        names = ", ".join([*MECHANISMS, *(m for m in ORDER_MECHANISMS if m != "bilateral")])
        raise ConfigError(f"unknown mechanism {mechanism!r}; choose from {names}")
    bought = np.minimum(bought, d)  # order-book fills may exceed the order by rounding
    sold = np.minimum(sold, s)
    gimp = d - bought  # member residual deficit after the local market
    gexp = s - sold
    Imp = group_sums(gimp, codes, K)
    Exp = group_sums(gexp, codes, K)

    # ---- 2. VMG storage -------------------------------------------------------------
    st_energy = np.zeros((T, K))
    c_k = np.zeros((T, K))
    dis_k = np.zeros((T, K))
    if storage_kwh is not None:
        cap_m = np.asarray(storage_kwh, dtype=np.float64)
        if cap_m.shape != (N,) or not np.all(np.isfinite(cap_m)) or np.any(cap_m < 0):
            raise DataError(f"storage_kwh must be {N} finite values >= 0 kWh")
        cap = np.bincount(codes, weights=cap_m, minlength=K)
        cap[plan.offline] = 0.0
        fleet = BatteryFleet(cap, cap / 2.0, 0.95, 0.95, 0.1, 1.0, 0.5)
        c_k, dis_k, st_energy = greedy_self_consumption(Imp - Exp, fleet, dt)
        # greedy acts on the net residual; a VMG never has both residual import and export
        c_k = np.minimum(c_k, Exp)
        dis_k = np.minimum(dis_k, Imp)
    f_dis = _safe_div(dis_k, Imp)  # share of each member's residual deficit served by storage
    f_chg = _safe_div(c_k, Exp)
    storage_out = gimp * f_dis[:, codes]
    storage_in = gexp * f_chg[:, codes]
    # storage energy is free: remove the grid price those shares carried in the local bill
    bill = bill - lb[:, None] * storage_out + ls[:, None] * storage_in
    rimp = gimp - storage_out
    rexp = gexp - storage_in
    Imp2 = Imp - dis_k
    Exp2 = Exp - c_k

    zeros = np.zeros((T, N))
    inter_imp = zeros
    inter_exp = zeros
    if mode == "grid":
        if coordinator:
            on = np.ones(K, dtype=bool)
            on[plan.offline] = False
            D2 = np.maximum((Imp2 * on).sum(axis=1), 0.0)
            G2 = np.maximum((Exp2 * on).sum(axis=1), 0.0)
            c2 = get_mechanism(inter_key)(D2, G2, lb, ls)
            mask = on[codes][None, :]
            fb2 = c2.peer_share_buy[:, None] * mask
            fs2 = c2.peer_share_sell[:, None] * mask
            inter_imp = rimp * fb2
            inter_exp = rexp * fs2
            # re-price the coordinator-balanced residual: (p_buy2 − λb) on imports, (p_sell2 − λs) on exports
            adj_b = np.where(mask, (c2.price_buy - lb)[:, None], 0.0)
            adj_s = np.where(mask, (c2.price_sell - ls)[:, None], 0.0)
            bill = bill + adj_b * rimp - adj_s * rexp
            # pool rules price the whole residual; what is left after inter-VMG trading is the grid's
        grid_imp = rimp - inter_imp
        grid_exp = rexp - inter_exp
        unserved = zeros
        curtailed = zeros
        grid_bill = lb * grid_imp.sum(axis=1) - ls * grid_exp.sum(axis=1)
    else:
        # islanded: no grid — remove the grid settlement of the residual from the local bill
        bill = bill - lb[:, None] * rimp + ls[:, None] * rexp
        grid_imp = zeros
        grid_exp = zeros
        unserved = rimp
        curtailed = rexp
        grid_bill = np.zeros(T)
    return TradeResult(
        mechanism=key,
        mode=mode,
        bill=bill,
        bought=bought,
        sold=sold,
        inter_import=inter_imp,
        inter_export=inter_exp,
        storage_in=storage_in,
        storage_out=storage_out,
        grid_import=grid_imp,
        grid_export=grid_exp,
        unserved=unserved,
        curtailed=curtailed,
        vmg_demand=D,
        vmg_supply=Gs,
        storage_energy=st_energy,
        grid_bill=grid_bill,
        market_fees=fees,
        vmg=codes,
    )


def trade_delivered(
    net: np.ndarray,
    plan: VMGPlan,
    delivered: np.ndarray,
    retail: Any,
    feed_in: Any,
    mechanism: str = "sdr",
    mode: str = "grid",
    coordinator: bool = True,
    storage_kwh: np.ndarray | None = None,
    dt: float = 0.25,
    seed: int | None = 0,
) -> TradeResult:
    """:func:`trade` where a member whose reading (and bid) did not reach the network server sits the step out.

    The radio decides who can trade: ``delivered[t, i]`` False (uplink lost after all
    retransmissions, see :func:`peergrid.zoom.uplinks.simulate_uplinks`) takes member i's
    energy of step t out of every market; grid-connected it is settled with the grid at
    (λb, λs), islanded it is unserved / curtailed.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy per step, kWh (+ import).
    plan : VMGPlan
    delivered : numpy.ndarray
        ``(T, N)`` bool.
    retail, feed_in, mechanism, mode, coordinator, storage_kwh, dt, seed : object
        As :func:`trade`.

    Returns
    -------
    TradeResult
        Same invariants as :func:`trade` (money conserved per step).
    """
    from dataclasses import replace

    net = np.asarray(net, dtype=np.float64)
    ok = np.asarray(delivered, dtype=bool)
    if ok.shape != net.shape:
        raise DataError(f"delivered must have the shape of net {net.shape}, got {ok.shape}")
    res = trade(np.where(ok, net, 0.0), plan, retail, feed_in, mechanism, mode, coordinator, storage_kwh, dt, seed)
    off = np.where(ok, 0.0, net)
    if not np.any(off):
        return res
    T = net.shape[0]
    lb = step_prices(retail, T, "retail")
    ls = step_prices(feed_in, T, "feed_in")
    d = np.maximum(off, 0.0)
    s = np.maximum(-off, 0.0)
    if mode == "grid":
        return replace(
            res,
            bill=res.bill + lb[:, None] * d - ls[:, None] * s,
            grid_import=res.grid_import + d,
            grid_export=res.grid_export + s,
            grid_bill=res.grid_bill + lb * d.sum(axis=1) - ls * s.sum(axis=1),
        )
    return replace(res, unserved=res.unserved + d, curtailed=res.curtailed + s)
