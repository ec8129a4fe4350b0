"""Zooming that changes the radio: measured uplinks, zoom-bounded ADR, coverage and hand-over.

Anoh et al. (2026, abstract) zoom the clusters "by the spreading factor (SF) via the adaptive
data rate (ADR) mechanism": the network server's agent of each gateway selects the coverage.
peergrid models this as what a LoRaWAN network server can actually do:

* **zoom level z_g** of gateway g = the largest SF the network server's ADR may assign to the
  devices g serves (a per-gateway "minimum data rate", as ChirpStack's ADR ``min_dr``/``max_dr``).
  Zooming in lowers the cap, zooming out raises it;
* **coverage**: g covers device i at zoom z_g when the device's measured mean SNR at g, at full
  TX power, clears the requirement of SF z_g by ``coverage_margin_db``
  (:func:`coverage_mask`). A device no longer covered by its gateway **hands over** to the
  best other gateway that covers it at that gateway's zoom, or, when none does, leaves the
  zoomed VMGs for the coordinator's wide layer (served uncapped, SF ≤ 12);
* **ADR** (:func:`peergrid.zoom.lora.adr` with ``sf_max``): margin = max SNR of the last
  ``adr_history`` received uplinks − required SNR(SF) − 10 dB; each 3 dB lowers the SF one
  step (to SF7), then the TX power by 2 dB steps; negative steps raise the power, then the
  SF, up to the zoom cap. A device squeezed under a cap below its ADR SF keeps a thinner
  margin and loses more packets to fading — the radio price of zooming in; its shorter time
  on air collides less and costs less energy — the radio gain;
* **measured uplinks** (:func:`simulate_uplinks`): one reading per device and step at a
  uniform random time, random channel, per-packet log-normal fading around the link mean;
  reception at every one of the ``receive_gateways`` strongest gateways when power ≥
  sensitivity(SF), SNR ≥ required SNR(SF) and no packet on the same channel and SF overlaps
  it at that gateway within ``capture_db`` (stronger or up to 6 dB weaker). Interference at a
  gateway counts the packets of the devices that have it among their ``interference_gateways``
  (9) strongest.
  Lost readings are retransmitted (confirmed uplinks) at a fresh random time of the same step,
  up to ``max_transmissions``; a retransmission collides with every packet placed so far (the
  fate of earlier packets is not revisited). All vectorised over packets: receptions are sorted
  by (gateway, channel, SF, start) and each one's overlapping partners found with two
  ``searchsorted`` calls, never a loop per device or packet.

The gateway agents then decide from what was measured (:class:`UplinkLog`): packet delivery
ratio, losses to collisions vs weak links, airtime heard (channel load) per gateway.

References
----------
Anoh et al. (2026), abstract; Bor et al. (2016), LoRaSim (path loss, capture, TX current);
Semtech AN1200.13 (time on air); LoRa Alliance RP002-1.0.3 (EU868, ADR power steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.zoom.lora import (
    SENSITIVITY_DBM,
    SNR_REQ_DB,
    LinkBudget,
    RadioParams,
    RadioState,
    adr,
    link_margin_db,
    min_sf,
    noise_floor_dbm,
    radio_state,
    time_on_air,
)
from peergrid.zoom.vmg import VMGPlan

__all__ = [
    "TX_CURRENT_MA",
    "RadioConfig",
    "UplinkLog",
    "ZoomRadioParams",
    "analytic_state",
    "coverage_mask",
    "coverage_rings",
    "flat_config",
    "join_config",
    "simulate_uplinks",
    "tx_current_ma",
    "vmg_plan",
    "zoom_step",
]

#: SX1272/76 supply current while transmitting, mA, for TX power −2 … 20 dBm (LoRaSim, Bor et al. 2016).
TX_CURRENT_MA = np.array(
    [22, 22, 22, 23, 24, 24, 24, 25, 25, 25, 25, 26, 31, 32, 34, 35, 44, 82, 85, 90, 105, 115, 125], dtype=float
)
#: Supply voltage of the radio, V (LoRaSim).
SUPPLY_V = 3.0


def tx_current_ma(tx_dbm: np.ndarray | float) -> np.ndarray:
    """Radio supply current while transmitting at ``tx_dbm`` (−2 … 20 dBm, rounded), mA."""
    k = np.clip(np.rint(np.asarray(tx_dbm, dtype=np.float64)).astype(np.int64) + 2, 0, TX_CURRENT_MA.size - 1)
    return TX_CURRENT_MA[k]


@dataclass(frozen=True)
class ZoomRadioParams:
    """Network-server settings of radio zooming (units in the names).

    Attributes
    ----------
    coverage_margin_db : float
        A gateway covers a device at zoom z when the measured mean SNR at full power exceeds
        the requirement of SF z (and the RSSI the sensitivity) by this much, dB. 2 dB with
        the default 2 dB per-uplink fading is a first-transmission success of ≈ 84 %.
    receive_gateways : int
        Strongest gateways per device at which reception is simulated (macro-diversity: the
        network server takes an uplink from any of them).
    interference_gateways : int
        Strongest gateways per device at which its packets count as interference (9: the
        3 × 3 gateways around it on a grid; beyond them its power is > 10 dB below the
        nearer cells' packets in all but deep-shadowing cases).
    """

    coverage_margin_db: float = 2.0
    receive_gateways: int = 4
    interference_gateways: int = 9

    def __post_init__(self) -> None:
        if not math.isfinite(self.coverage_margin_db):
            raise ConfigError("coverage_margin_db must be finite")
        if int(self.receive_gateways) < 1 or int(self.interference_gateways) < 1:
            raise ConfigError("receive_gateways and interference_gateways must be >= 1")


@dataclass(frozen=True)
class RadioConfig:
    """What the network server has told every device (and where it is served).

    Attributes
    ----------
    home_col : numpy.ndarray
        ``(N,)`` column (into the link budget's gateway table) of the serving gateway.
    sf : numpy.ndarray
        ``(N,)`` SF 7..12; 0 = out of radio coverage (silent).
    tx_dbm : numpy.ndarray
        ``(N,)`` TX power, dBm.
    in_zoom : numpy.ndarray
        ``(N,)`` the serving gateway covers the device at its zoom level (the device is in the
        gateway's VMG); False = the coordinator's wide layer.
    zoom : numpy.ndarray
        ``(G,)`` zoom level (SF cap) of every gateway.
    """

    home_col: np.ndarray
    sf: np.ndarray
    tx_dbm: np.ndarray
    in_zoom: np.ndarray
    zoom: np.ndarray

    def home(self, budget: LinkBudget) -> np.ndarray:
        """``(N,)`` serving gateway index."""
        return budget.gateway[np.arange(budget.gateway.shape[0]), self.home_col]


def join_config(budget: LinkBudget) -> RadioConfig:
    """Devices after joining: SF12, maximum power, best gateway, all gateways at zoom 12."""
    p = budget.params
    covered = min_sf(budget.home_rssi, budget.home_snr) > 0
    N = covered.shape[0]
    return RadioConfig(
        budget.home_col.copy(),
        np.where(covered, 12, 0).astype(np.int64),
        np.full(N, p.tx_max_dbm),
        covered.copy(),
        np.full(budget.n_gateways, 12, dtype=np.int64),
    )


def flat_config(budget: LinkBudget, sf: int = 12) -> RadioConfig:
    """The flat baseline: every covered device at ``sf`` and maximum power on its best gateway, no ADR."""
    cfg = join_config(budget)
    return replace(cfg, sf=np.where(cfg.sf > 0, int(sf), 0).astype(np.int64))


def analytic_state(budget: LinkBudget, cfg: RadioConfig, step_s: float = 900.0) -> RadioState:
    """The analytic radio model (:func:`peergrid.zoom.lora.plan_radio`'s PDR) of a configuration."""
    return radio_state(replace(budget, home_col=cfg.home_col.copy()), cfg.sf.copy(), cfg.tx_dbm.copy(), float(step_s))


# ---------------------------------------------------------------------------- measured uplinks
@dataclass(frozen=True)
class UplinkLog:
    """What the network server measured over ``steps`` steps (see :func:`simulate_uplinks`).

    Attributes
    ----------
    delivered : numpy.ndarray
        ``(T, N)`` the reading (and bid) of step t reached the network server (any gateway,
        within ``max_transmissions``); False for silent devices.
    transmissions : numpy.ndarray
        ``(N,)`` transmissions sent over the run (first + retransmissions).
    received : numpy.ndarray
        ``(N,)`` transmissions received by at least one gateway.
    lost_collision, lost_weak : numpy.ndarray
        ``(N,)`` transmissions lost although the signal cleared sensitivity at some gateway
        (destroyed by an overlapping packet), and lost below sensitivity everywhere.
    cols : numpy.ndarray
        ``(N, m)`` link-budget columns at which reception was simulated.
    snr_max, snr_mean : numpy.ndarray
        ``(N, m)`` max SNR of the received uplinks of the last ``adr_history`` steps, and mean
        SNR of all received uplinks, at each column and the device's TX power, dB (NaN: none).
    gw_transmissions, gw_received : numpy.ndarray
        ``(G,)`` transmissions of the devices each gateway serves, and how many reached the
        network server.
    gw_lost_collision : numpy.ndarray
        ``(G,)`` of those, lost to collisions.
    gw_airtime_s : numpy.ndarray
        ``(G,)`` airtime a gateway heard above sensitivity (all devices, all SFs), s.
    energy_j : numpy.ndarray
        ``(N,)`` device radio energy spent transmitting, J.
    airtime_s : numpy.ndarray
        ``(N,)`` device time on air over the run (all transmissions), s.
    steps : int
    step_s : float
    channels : int
    """

    delivered: np.ndarray
    transmissions: np.ndarray
    received: np.ndarray
    lost_collision: np.ndarray
    lost_weak: np.ndarray
    cols: np.ndarray
    snr_max: np.ndarray
    snr_mean: np.ndarray
    gw_transmissions: np.ndarray
    gw_received: np.ndarray
    gw_lost_collision: np.ndarray
    gw_airtime_s: np.ndarray
    energy_j: np.ndarray
    airtime_s: np.ndarray
    steps: int
    step_s: float
    channels: int

    @property
    def pdr(self) -> np.ndarray:
        """``(N,)`` measured packet delivery ratio per transmission (NaN for silent devices)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.transmissions > 0, self.received / self.transmissions, np.nan)

    @property
    def gw_pdr(self) -> np.ndarray:
        """``(G,)`` measured PDR of the transmissions of each gateway's devices (NaN: no traffic)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.gw_transmissions > 0, self.gw_received / self.gw_transmissions, np.nan)

    @property
    def gw_collision_share(self) -> np.ndarray:
        """``(G,)`` share of each gateway's lost transmissions lost to collisions (0 without losses)."""
        lost = self.gw_transmissions - self.gw_received
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(lost > 0, self.gw_lost_collision / np.where(lost > 0, lost, 1.0), 0.0)

    @property
    def gw_load(self) -> np.ndarray:
        """``(G,)`` channel load: airtime heard / (duration × channels), 1."""
        return self.gw_airtime_s / (self.steps * self.step_s * self.channels)

    @property
    def duty_ok(self) -> np.ndarray:
        """``(N,)`` device airtime within the duty-cycle limit (1 % in EU868 g/g1)."""
        return self.airtime_s / (self.steps * self.step_s) <= 0.01 + 1e-12

    @property
    def delivery_ratio(self) -> float:
        """Share of the active devices' readings that reached the network server."""
        active = self.transmissions > 0
        return float(self.delivered[:, active].mean()) if active.any() else 1.0

    def summary(self) -> dict[str, float]:
        """Totals with stable keys."""
        tx = float(self.transmissions.sum())
        return {
            "transmissions": tx,
            "pdr": float(self.received.sum() / tx) if tx else float("nan"),
            "reading_delivery": self.delivery_ratio,
            "lost_collision_share": float(self.lost_collision.sum() / max(tx - self.received.sum(), 1.0)),
            "mean_gateway_load": float(self.gw_load.mean()),
            "device_energy_j": float(self.energy_j.sum()),
        }


def simulate_uplinks(
    budget: LinkBudget,
    cfg: RadioConfig,
    steps: int,
    step_s: float = 900.0,
    zp: ZoomRadioParams | None = None,
    seed: int | list[int] | None = 0,
) -> UplinkLog:
    """Simulate every device's uplinks for ``steps`` steps and measure what the network server sees.

    Parameters
    ----------
    budget : LinkBudget
        Mean links (path loss + static shadowing) at maximum TX power.
    cfg : RadioConfig
        SF, TX power and serving gateway of every device (SF 0 = silent).
    steps : int
        Number of steps T (one reading per device and step).
    step_s : float
        Step length, s.
    zp : ZoomRadioParams, optional
    seed : int or list of int, optional
        Seed of times, channels and fading (anything :func:`numpy.random.default_rng` takes).

    Returns
    -------
    UplinkLog
    """
    p = budget.params
    zp = zp or ZoomRadioParams()
    T = int(steps)
    if T < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    if not (math.isfinite(step_s) and step_s > 0):
        raise ConfigError(f"step_s must be > 0, got {step_s}")
    sf = np.asarray(cfg.sf, dtype=np.int64)
    N = sf.shape[0]
    if budget.rssi.shape[0] != N:
        raise DataError(f"radio config has {N} devices but the link budget {budget.rssi.shape[0]}")
    rng = np.random.default_rng(seed)
    G = budget.n_gateways
    k = budget.gateway.shape[1]
    m = min(int(zp.receive_gateways), k)
    M = max(m, min(int(zp.interference_gateways), k))
    colsM = np.argsort(-budget.rssi, axis=1, kind="stable")[:, :M]
    cols = colsM[:, :m]
    floor = noise_floor_dbm(p.bandwidth_hz, p.noise_figure_db)
    tx = np.asarray(cfg.tx_dbm, dtype=np.float64)
    offset = tx - p.tx_max_dbm
    act = np.flatnonzero(sf > 0)
    na = act.size
    home = cfg.home(budget)
    toa_dev = np.where(sf > 0, time_on_air(p.payload_bytes, np.where(sf > 0, sf, 7)), 0.0)
    sens = np.where(sf > 0, SENSITIVITY_DBM[np.clip(sf - 7, 0, 5)], np.inf)
    req = np.where(sf > 0, SNR_REQ_DB[np.clip(sf - 7, 0, 5)], np.inf)
    mean_pwM = budget.rssi[act[:, None], colsM[act]] + offset[act, None]  # (na, M) dBm
    col_gwM = budget.gateway[act[:, None], colsM[act]]  # (na, M)
    col_gw = col_gwM[:, :m]

    delivered = np.zeros((T, na), dtype=bool)
    n_tx = np.zeros(na)
    n_rx = np.zeros(na)
    n_coll = np.zeros(na)
    n_weak = np.zeros(na)
    snr_best = np.full((T, na, m), -np.inf)
    snr_sum = np.zeros((na, m))
    snr_cnt = np.zeros((na, m))
    heard = np.zeros(G)
    # every reception (packet × its m strongest gateways) placed so far, sorted by (gateway, channel, SF, start);
    # integer microseconds keep the keys exact
    ngroups = 6 * int(p.channels)
    span_us = math.ceil((T * step_s + 10.0) * 1e6)
    R_key = np.zeros(0, dtype=np.int64)
    R_pow = np.zeros(0)
    R_id = np.zeros(0, dtype=np.int64)
    placed = 0
    pending_t = np.repeat(np.arange(T), na)
    pending_a = np.tile(np.arange(na), T)
    for _ in range(int(p.max_transmissions)):
        if pending_a.size == 0 or na == 0:
            break
        n_new = pending_a.size
        a = pending_a
        ta = toa_dev[act[a]]
        start = pending_t * step_s + rng.uniform(0.0, 1.0, n_new) * np.maximum(step_s - ta, 0.0)
        chan = rng.integers(0, p.channels, n_new)
        group = chan * 6 + (sf[act[a]] - 7)
        ownM = mean_pwM[a] + rng.normal(0.0, p.fading_db, (n_new, M)) if p.fading_db > 0 else mean_pwM[a].copy()
        own = ownM[:, :m]
        above = (own >= sens[act[a], None]) & (own - floor >= req[act[a], None])
        key_new = (col_gwM[a] * ngroups + group[:, None]) * span_us + np.rint(start * 1e6).astype(np.int64)[:, None]
        id_new = (placed + np.arange(n_new, dtype=np.int64))[:, None] * M + np.arange(M)
        placed += n_new
        all_key = np.concatenate([R_key, key_new.ravel()])
        order = np.argsort(all_key, kind="stable")  # the old part is one sorted run: near-linear merge
        R_key = all_key[order]
        R_pow = np.concatenate([R_pow, ownM.ravel()])[order]
        R_id = np.concatenate([R_id, id_new.ravel()])[order]
        # receptions at the same gateway on the same channel and SF overlap iff their starts are < ToA apart
        kq = key_new[:, :m].ravel()  # only the receiving gateways are targets
        toa_us = np.rint(np.repeat(ta, m) * 1e6).astype(np.int64)
        qo = np.argsort(kq, kind="stable")  # sorted queries make searchsorted cache-friendly
        lo = np.empty_like(kq)
        hi = np.empty_like(kq)
        lo[qo] = np.searchsorted(R_key, (kq - toa_us + 1)[qo], side="left")
        hi[qo] = np.searchsorted(R_key, (kq + toa_us)[qo], side="left")
        counts = hi - lo
        tgt = np.repeat(np.arange(kq.size), counts)
        cand = np.repeat(lo, counts) + (np.arange(tgt.size) - np.repeat(np.cumsum(counts) - counts, counts))
        other = R_id[cand] != id_new[:, :m].ravel()[tgt]
        own_flat = own.ravel()
        hit = other & (R_pow[cand] >= own_flat[tgt] - p.capture_db)
        destroyed_flat = np.zeros(kq.size, dtype=bool)
        destroyed_flat[tgt[hit]] = True
        destroyed = destroyed_flat.reshape(n_new, m)
        ok = above & ~destroyed
        got = ok.any(axis=1)
        coll = ~got & above.any(axis=1)
        np.add.at(n_tx, a, 1.0)
        np.add.at(n_rx, a, got.astype(float))
        np.add.at(n_coll, a, coll.astype(float))
        np.add.at(n_weak, a, (~got & ~coll).astype(float))
        snr = np.where(ok, own - floor, -np.inf)
        np.maximum.at(snr_best, (pending_t, a), snr)
        okf = ok.astype(float)
        np.add.at(snr_sum, a, np.where(ok, own - floor, 0.0))
        np.add.at(snr_cnt, a, okf)
        heard += np.bincount(col_gw[a][above], weights=np.repeat(ta, m).reshape(n_new, m)[above], minlength=G)
        delivered[pending_t[got], a[got]] = True
        pending_t, pending_a = pending_t[~got], a[~got]

    hist = min(int(p.adr_history), T)
    out_delivered = np.zeros((T, N), dtype=bool)
    out_delivered[:, act] = delivered
    with np.errstate(invalid="ignore"):
        smax = snr_best[T - hist :].max(axis=0)
    smax = np.where(np.isfinite(smax), smax, np.nan)
    smean = np.where(snr_cnt > 0, snr_sum / np.maximum(snr_cnt, 1.0), np.nan)

    def full(x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((N, *x.shape[1:]), fill)
        out[act] = x
        return out

    transmissions = full(n_tx)
    received = full(n_rx)
    lost_c = full(n_coll)
    energy = transmissions * toa_dev * tx_current_ma(tx) * 1e-3 * SUPPLY_V
    return UplinkLog(
        delivered=out_delivered,
        transmissions=transmissions,
        received=received,
        lost_collision=lost_c,
        lost_weak=full(n_weak),
        cols=cols,
        snr_max=full(smax, np.nan),
        snr_mean=full(smean, np.nan),
        gw_transmissions=np.bincount(home[act], weights=n_tx, minlength=G),
        gw_received=np.bincount(home[act], weights=n_rx, minlength=G),
        gw_lost_collision=np.bincount(home[act], weights=n_coll, minlength=G),
        gw_airtime_s=heard,
        energy_j=energy,
        airtime_s=transmissions * toa_dev,
        steps=T,
        step_s=float(step_s),
        channels=int(p.channels),
    )


# ---------------------------------------------------------------------------- zoom → radio
def coverage_mask(
    snr_mean_full: np.ndarray, zoom_of_col: np.ndarray, params: RadioParams, zp: ZoomRadioParams
) -> np.ndarray:
    """Which measured links close at their gateway's zoom level (SF cap) with the coverage margin.

    Parameters
    ----------
    snr_mean_full : numpy.ndarray
        ``(N, m)`` measured mean SNR at full TX power, dB (NaN: never heard).
    zoom_of_col : numpy.ndarray
        ``(N, m)`` zoom level of the gateway of each column.

    Returns
    -------
    numpy.ndarray
        ``(N, m)`` bool.
    """
    floor = noise_floor_dbm(params.bandwidth_hz, params.noise_figure_db)
    s = np.where(np.isfinite(snr_mean_full), snr_mean_full, -np.inf)
    margin = link_margin_db(s + floor, s, zoom_of_col)
    return margin >= zp.coverage_margin_db


def coverage_rings(budget: LinkBudget, log: UplinkLog, cfg: RadioConfig, zp: ZoomRadioParams | None = None):
    """Each device's best measured gateway and the smallest zoom level at which that gateway covers it.

    Returns
    -------
    home : numpy.ndarray
        ``(N,)`` gateway with the best measured mean SNR (the link budget's best when unheard).
    ring : numpy.ndarray
        ``(N,)`` coverage ring 7..12 (0: not covered even at zoom 12 — the device is offline
        or reachable only without margin).
    """
    zp = zp or ZoomRadioParams()
    p = budget.params
    N = budget.rssi.shape[0]
    full = log.snr_mean + (p.tx_max_dbm - np.asarray(cfg.tx_dbm))[:, None]
    s = np.where(np.isfinite(full), full, -np.inf)
    best = np.argmax(s, axis=1)
    heard = np.isfinite(s[np.arange(N), best])
    col = np.where(heard, log.cols[np.arange(N), best], budget.home_col)
    home = budget.gateway[np.arange(N), col]
    sb = s[np.arange(N), best]
    floor = noise_floor_dbm(p.bandwidth_hz, p.noise_figure_db)
    ring = min_sf(sb + floor, sb, zp.coverage_margin_db)
    return home, np.where(heard, ring, 0)


def zoom_step(
    budget: LinkBudget,
    log: UplinkLog,
    cfg: RadioConfig,
    zoom: np.ndarray | int,
    zp: ZoomRadioParams | None = None,
) -> RadioConfig:
    """The network server applies new zoom levels: coverage, hand-over and zoom-bounded ADR.

    1. At full power, gateway g covers device i when its measured mean SNR clears SF z_g's
       requirement by the coverage margin (:func:`coverage_mask`).
    2. Each device is served by the covering gateway it hears best (hand-over when that is not
       its current one); with no covering gateway it is served uncapped (zoom 12) by the best
       gateway that heard it and leaves the zoomed VMGs (wide layer).
    3. ADR on the max SNR of its last uplinks at the serving gateway, with the SF bounded by
       the serving gateway's zoom (:func:`peergrid.zoom.lora.adr` with ``sf_max``).
    4. Devices the network server did not hear at all back off to SF12 at full power (the
       device-side ADR back-off of LoRaWAN); devices without any link stay silent.

    Parameters
    ----------
    budget : LinkBudget
    log : UplinkLog
        The last period's measurements (at the configuration ``cfg``).
    cfg : RadioConfig
    zoom : int or array-like
        New zoom level (SF cap 7..12) per gateway.
    zp : ZoomRadioParams, optional

    Returns
    -------
    RadioConfig
    """
    zp = zp or ZoomRadioParams()
    p = budget.params
    G = budget.n_gateways
    z = np.broadcast_to(np.asarray(zoom), (G,)).astype(np.int64)
    if np.any((z < 7) | (z > 12)):
        raise ConfigError(f"zoom levels must be spreading factors 7..12, got {sorted(set(z.tolist()))}")
    N = budget.rssi.shape[0]
    rows = np.arange(N)
    tx = np.asarray(cfg.tx_dbm, dtype=np.float64)
    sf = np.asarray(cfg.sf, dtype=np.int64)
    alive = sf > 0
    up = (p.tx_max_dbm - tx)[:, None]
    mean_full = log.snr_mean + up
    gw = budget.gateway[rows[:, None], log.cols]
    cover = coverage_mask(mean_full, z[gw], p, zp)
    s_mean = np.where(np.isfinite(mean_full), mean_full, -np.inf)
    heard = np.isfinite(s_mean).any(axis=1)
    in_zoom = cover.any(axis=1) & alive
    pick = np.where(in_zoom, np.argmax(np.where(cover, s_mean, -np.inf), axis=1), np.argmax(s_mean, axis=1))
    home_col = np.where(heard & alive, log.cols[rows, pick], cfg.home_col)
    cap = np.where(in_zoom, z[budget.gateway[rows, home_col]], 12)
    new_sf = sf.copy()
    new_tx = tx.copy()
    smax = log.snr_max[rows, pick]
    run = alive & heard & np.isfinite(smax)
    if run.any():
        floor = noise_floor_dbm(p.bandwidth_hz, p.noise_figure_db)
        s_, t_ = adr(smax[run], sf[run], tx[run], p, rssi_max=smax[run] + floor, sf_max=cap[run])
        new_sf[run] = s_
        new_tx[run] = t_
    lost = alive & ~run
    new_sf[lost] = 12
    new_tx[lost] = p.tx_max_dbm
    in_zoom = in_zoom & run
    return RadioConfig(home_col.astype(np.int64), new_sf, new_tx, in_zoom, z.copy())


def vmg_plan(budget: LinkBudget, cfg: RadioConfig) -> VMGPlan:
    """VMG membership that follows the radio: the serving gateway's VMG when in zoom, else wide/offline."""
    G = budget.n_gateways
    home = cfg.home(budget)
    vmg = np.where(cfg.sf > 0, np.where(cfg.in_zoom, home, G), G + 1).astype(np.int64)
    return VMGPlan(vmg, np.asarray(cfg.zoom, dtype=np.int64).copy(), cfg.sf.copy(), home, G)
