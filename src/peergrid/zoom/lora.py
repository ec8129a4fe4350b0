"""LoRaWAN radio layer (EU868, 125 kHz), vectorised over devices and gateways.

What is modelled (standard LoRaWAN reference values: Semtech SX1276 datasheet, AN1200.13,
LoRaSim; Anoh et al. 2026 rely on them but do not spell them out):

* **Placement**: devices (smart meters) and gateways in a plane, metres
  (:class:`Deployment`: random, gateway grid, or given coordinates).
* **Path loss**: log-distance with log-normal shadowing (LoRaSim values,
  Bor et al. 2016): PL(d) = PL(d0) + 10·γ·log10(d/d0) + X_σ, d0 = 40 m,
  PL(d0) = 127.41 dB, γ = 2.08, σ = 3.57 dB. Shadowing is static per link.
* **Receiver**: SF7..SF12 sensitivity −123 … −137 dBm and required SNR
  −7.5 … −20 dB; noise floor −174 + 10·log10(BW) + NF dBm (NF = 6 dB).
  A link closes at a spreading factor when *both* RSSI ≥ sensitivity and
  SNR ≥ required SNR.
* **Time on air**: Semtech AN1200.13 formula (:func:`time_on_air`).
* **ADR** at the network server (Semtech's recommended network-server algorithm):
  margin = max SNR of the last 20 uplinks − required SNR(SF) −
  installation margin (10 dB); every 3 dB of margin lowers the SF one step, then
  the TX power by 2 dB steps; a negative margin raises the TX power. peergrid
  takes the *smaller* of the SNR margin and the RSSI-over-sensitivity margin
  (conservative: at 125 kHz the two differ by ≤ 1.5 dB), so ADR never assigns an
  SF whose sensitivity the link misses (:func:`adr`).
* **Duty cycle**: 1 % per device in the EU868 g/g1 sub-bands (ETSI EN 300 220).
* **Collisions**: unslotted ALOHA per gateway, channel and SF (SFs treated as
  orthogonal), with the capture effect: a packet survives an overlap with an
  interferer that is at least ``capture_db`` (6 dB) weaker at the gateway
  (Bor et al. 2016). Packet delivery ratio = link success under per-uplink fading
  × P(no destructive overlap) = Φ(margin/σ_f) · exp(−2·k·λ·ToA/channels).

References
----------
.. [Semtech] Semtech, "LoRa Modem Designer's Guide", AN1200.13, 2013 — time on air.
.. [Bor2016] M. Bor, U. Roedig, T. Voigt, J. Alonso, "Do LoRa low-power wide-area
   networks scale?", MSWiM 2016 — LoRaSim path loss, capture effect.
.. [LoRaWAN] LoRa Alliance, "LoRaWAN Regional Parameters RP002-1.0.3" (EU868 data
   rates, TX power steps of 2 dB, duty cycle).
.. [Anoh2026] K. Anoh et al., "Optimising P2P energy trading using IoT and agentic
   AI cluster zooming", IEEE Trans. Smart Grid, 2026 (abstract only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from peergrid.core.errors import ConfigError, DataError

__all__ = [
    "BITRATE_BPS",
    "SENSITIVITY_DBM",
    "SF",
    "SNR_REQ_DB",
    "Deployment",
    "LinkBudget",
    "RadioParams",
    "RadioState",
    "adr",
    "collision_pdr",
    "link_budget",
    "link_margin_db",
    "min_sf",
    "noise_floor_dbm",
    "path_loss_db",
    "pdr_by_sf",
    "plan_radio",
    "radio_state",
    "snr_history",
    "time_on_air",
]

#: Spreading factors, index 0..5 = SF7..SF12.
SF = np.arange(7, 13)
#: Receiver sensitivity at 125 kHz, dBm (Semtech SX1276 datasheet).
SENSITIVITY_DBM = np.array([-123.0, -126.0, -129.0, -132.0, -134.5, -137.0])
#: Demodulation SNR floor, dB (Semtech SX1276 datasheet).
SNR_REQ_DB = np.array([-7.5, -10.0, -12.5, -15.0, -17.5, -20.0])
#: Equivalent bit rate at 125 kHz, CR 4/5, bit/s (LoRaWAN Regional Parameters, EU868 DR5..DR0).
BITRATE_BPS = np.array([5470.0, 3125.0, 1760.0, 980.0, 440.0, 250.0])


@dataclass(frozen=True)
class RadioParams:
    """Radio and network-server parameters (EU868 defaults; units in the names).

    Attributes
    ----------
    d0_m, pl0_db, gamma, shadowing_db
        Log-distance path loss with shadowing (LoRaSim): reference distance, m;
        loss at d0, dB; exponent, 1; shadowing standard deviation, dB.
    fading_db
        Standard deviation of the per-uplink SNR variation around the link mean,
        dB (drives the ADR history and the link success probability).
    tx_max_dbm, tx_min_dbm, tx_step_db
        Device TX power range and ADR step (EU868: 14 dBm max, 2 dB steps).
    noise_figure_db, bandwidth_hz
        Receiver noise figure, dB; channel bandwidth, Hz.
    installation_margin_db
        ADR installation margin, dB (Semtech: 10 dB).
    adr_history
        Uplinks whose maximum SNR ADR uses (20).
    capture_db
        Capture threshold, dB: a packet survives an overlap with a weaker
        interferer at least this much below it (6 dB, Bor et al.).
    channels
        Uplink channels a gateway listens to (8 on an SX1301 gateway).
    duty_cycle
        Maximum fraction of time a device may transmit (0.01 in EU868 g/g1).
    gateway_duty_cycle
        Maximum downlink fraction of a gateway (0.10 on the 869.525 MHz RX2 band).
    payload_bytes, downlink_bytes
        Application payload of a meter/bid uplink and of a settlement downlink, bytes.
    max_transmissions
        Cap on transmissions per delivered reading (LoRaWAN NbTrans ≤ 15; 8 here).
    neighbour_gateways
        Gateways per device whose links are modelled: the nearest ones (all when
        G is smaller). Beyond the 32nd-nearest gateway of a 400 m grid (≈ 1.3 km)
        the mean RSSI is below −145 dBm, under any SF12 packet's capture window,
        so the link budget stays O(N·k) instead of O(N·G).
    """

    d0_m: float = 40.0
    pl0_db: float = 127.41
    gamma: float = 2.08
    shadowing_db: float = 3.57
    fading_db: float = 2.0
    tx_max_dbm: float = 14.0
    tx_min_dbm: float = 2.0
    tx_step_db: float = 2.0
    noise_figure_db: float = 6.0
    bandwidth_hz: float = 125e3
    installation_margin_db: float = 10.0
    adr_history: int = 20
    capture_db: float = 6.0
    channels: int = 8
    duty_cycle: float = 0.01
    gateway_duty_cycle: float = 0.10
    payload_bytes: int = 20
    downlink_bytes: int = 12
    max_transmissions: int = 8
    neighbour_gateways: int = 32

    def __post_init__(self) -> None:
        positive = ("d0_m", "gamma", "bandwidth_hz", "duty_cycle", "gateway_duty_cycle")
        for name in positive:
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"radio {name} must be > 0, got {v}")
        for name in ("shadowing_db", "fading_db", "installation_margin_db", "capture_db", "noise_figure_db"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"radio {name} must be >= 0, got {v}")
        if not self.tx_min_dbm <= self.tx_max_dbm or self.tx_step_db <= 0:
            raise ConfigError("radio TX power needs tx_min_dbm <= tx_max_dbm and tx_step_db > 0")
        for name in ("adr_history", "channels", "max_transmissions", "payload_bytes", "neighbour_gateways"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"radio {name} must be >= 1, got {getattr(self, name)}")
        if not (0 < self.duty_cycle <= 1 and 0 < self.gateway_duty_cycle <= 1):
            raise ConfigError("duty cycles must lie in (0, 1]")
        if self.downlink_bytes < 0 or self.payload_bytes > 255 or self.downlink_bytes > 255:
            raise ConfigError("payload sizes must lie in 0..255 bytes")


# ---------------------------------------------------------------------------- placement
@dataclass(frozen=True)
class Deployment:
    """Devices and gateways in a plane.

    Attributes
    ----------
    devices : numpy.ndarray
        ``(N, 2)`` device coordinates, m.
    gateways : numpy.ndarray
        ``(G, 2)`` gateway coordinates, m.
    """

    devices: np.ndarray
    gateways: np.ndarray

    def __post_init__(self) -> None:
        for name in ("devices", "gateways"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 1:
                raise DataError(f"{name} must be an (n >= 1, 2) array of x, y coordinates in m, got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise DataError(f"{name} coordinates contain NaN or infinite values")
            object.__setattr__(self, name, a)

    @property
    def n_devices(self) -> int:
        """Number of devices N."""
        return int(self.devices.shape[0])

    @property
    def n_gateways(self) -> int:
        """Number of gateways G."""
        return int(self.gateways.shape[0])

    @classmethod
    def from_coordinates(cls, devices: np.ndarray, gateways: np.ndarray) -> Deployment:
        """Deployment from given ``(N, 2)`` and ``(G, 2)`` coordinates in m."""
        return cls(np.asarray(devices), np.asarray(gateways))

    @classmethod
    def grid(cls, n_devices: int, n_gateways: int, spacing_m: float = 400.0, seed: int | None = 0) -> Deployment:
        """Gateways on a square-ish grid ``spacing_m`` apart, devices uniform over the covered area.

        Parameters
        ----------
        n_devices, n_gateways : int
            N ≥ 1, G ≥ 1.
        spacing_m : float
            Gateway spacing, m (default 400 m: every point is within 283 m of a
            gateway, inside the SF12 range of the LoRaSim path loss).
        seed : int, optional
            Seed of the device positions.
        """
        n, g = _counts(n_devices, n_gateways)
        if not (math.isfinite(spacing_m) and spacing_m > 0):
            raise ConfigError(f"spacing_m must be > 0, got {spacing_m}")
        cols = math.ceil(math.sqrt(g))
        rows = math.ceil(g / cols)
        k = np.arange(g)
        gw = np.column_stack([(k % cols + 0.5) * spacing_m, (k // cols + 0.5) * spacing_m])
        rng = np.random.default_rng(seed)
        dev = rng.uniform(0.0, 1.0, (n, 2)) * np.array([cols * spacing_m, rows * spacing_m])
        return cls(dev, gw)

    @classmethod
    def random(cls, n_devices: int, n_gateways: int, side_m: float = 2000.0, seed: int | None = 0) -> Deployment:
        """Devices and gateways uniformly at random in a ``side_m`` × ``side_m`` square."""
        n, g = _counts(n_devices, n_gateways)
        if not (math.isfinite(side_m) and side_m > 0):
            raise ConfigError(f"side_m must be > 0, got {side_m}")
        rng = np.random.default_rng(seed)
        gw = rng.uniform(0.0, side_m, (g, 2))
        dev = rng.uniform(0.0, side_m, (n, 2))
        return cls(dev, gw)

    def distances(self) -> np.ndarray:
        """``(N, G)`` device–gateway distances, m (at least 1 m)."""
        d = np.sqrt(
            (self.devices[:, 0:1] - self.gateways[None, :, 0]) ** 2
            + (self.devices[:, 1:2] - self.gateways[None, :, 1]) ** 2
        )
        return np.maximum(d, 1.0)


def _counts(n_devices: int, n_gateways: int) -> tuple[int, int]:
    for name, v in (("n_devices", n_devices), ("n_gateways", n_gateways)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
    return int(n_devices), int(n_gateways)


# ---------------------------------------------------------------------------- link budget
def path_loss_db(
    distance_m: np.ndarray | float, params: RadioParams | None = None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Log-distance path loss with log-normal shadowing (LoRaSim; Bor et al. 2016).

    PL(d) = PL(d0) + 10·γ·log10(d/d0) + X_σ, X_σ ~ N(0, σ²) (omitted without ``rng``).

    Parameters
    ----------
    distance_m : array-like
        Distances, m (> 0).
    params : RadioParams, optional
    rng : numpy.random.Generator, optional
        Source of the shadowing draws; ``None`` gives the mean path loss.

    Returns
    -------
    numpy.ndarray
        Path loss, dB, same shape as ``distance_m``.
    """
    p = params or RadioParams()
    d = np.asarray(distance_m, dtype=np.float64)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise DataError("distances must be finite and > 0 m")
    pl = p.pl0_db + 10.0 * p.gamma * np.log10(d / p.d0_m)
    if rng is not None and p.shadowing_db > 0:
        pl = pl + rng.normal(0.0, p.shadowing_db, d.shape)
    return pl


def noise_floor_dbm(bandwidth_hz: float = 125e3, noise_figure_db: float = 6.0) -> float:
    """Thermal noise floor −174 + 10·log10(BW) + NF, dBm (−117.0 dBm at 125 kHz, NF 6 dB)."""
    return -174.0 + 10.0 * math.log10(bandwidth_hz) + noise_figure_db


def time_on_air(
    payload_bytes: int | np.ndarray,
    sf: int | np.ndarray,
    bandwidth_hz: float = 125e3,
    coding_rate: int = 1,
    preamble: int = 8,
    explicit_header: bool = True,
    crc: bool = True,
    low_dr_optimize: bool | None = None,
) -> np.ndarray:
    """LoRa time on air, Semtech AN1200.13 (eqs. for T_preamble and payloadSymbNb).

    T_sym = 2^SF / BW; T_preamble = (n_preamble + 4.25)·T_sym;
    n_payload = 8 + max(⌈(8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE))⌉·(CR + 4), 0);
    ToA = T_preamble + n_payload·T_sym. IH = 1 for implicit header, DE = 1 with
    low-data-rate optimisation (default: on when T_sym ≥ 16 ms, i.e. SF11/SF12 at 125 kHz).

    Parameters
    ----------
    payload_bytes : int or array-like
        PHY payload length PL, bytes (0..255).
    sf : int or array-like
        Spreading factor 7..12 (broadcasts with ``payload_bytes``).
    bandwidth_hz : float
        125 kHz default.
    coding_rate : int
        CR in 1..4 for 4/5..4/8.
    preamble : int
        Programmed preamble symbols (8 in LoRaWAN).
    explicit_header, crc : bool
        Header mode and payload CRC.
    low_dr_optimize : bool, optional
        Force DE on/off; ``None`` = automatic.

    Returns
    -------
    numpy.ndarray
        Time on air, s.

    Examples
    --------
    >>> round(float(time_on_air(20, 7)) * 1e3, 3), round(float(time_on_air(20, 12)) * 1e3, 3)
    (56.576, 1318.912)
    """
    pl = np.asarray(payload_bytes, dtype=np.float64)
    s = np.asarray(sf, dtype=np.float64)
    if np.any((s < 6) | (s > 12) | (s != np.round(s))):
        raise ConfigError("spreading factor must be an integer in 7..12")
    if np.any((pl < 0) | (pl > 255)):
        raise ConfigError("payload must be 0..255 bytes")
    if coding_rate not in (1, 2, 3, 4):
        raise ConfigError(f"coding_rate must be 1..4 (4/5..4/8), got {coding_rate}")
    t_sym = 2.0**s / bandwidth_hz
    if low_dr_optimize is None:
        de = (t_sym >= 0.016).astype(np.float64)
    else:
        de = np.full(np.shape(t_sym), float(bool(low_dr_optimize)))
    ih = 0.0 if explicit_header else 1.0
    num = 8.0 * pl - 4.0 * s + 28.0 + 16.0 * float(crc) - 20.0 * ih
    n_payload = 8.0 + np.maximum(np.ceil(num / (4.0 * (s - 2.0 * de))) * (coding_rate + 4), 0.0)
    return (preamble + 4.25) * t_sym + n_payload * t_sym


@dataclass(frozen=True)
class LinkBudget:
    """Mean link quality of every device to its ``k`` nearest gateways at maximum TX power.

    Attributes
    ----------
    rssi : numpy.ndarray
        ``(N, k)`` received power at ``tx_max_dbm``, dBm (shadowing included).
    snr : numpy.ndarray
        ``(N, k)`` SNR = RSSI − noise floor, dB.
    gateway : numpy.ndarray
        ``(N, k)`` gateway index of each column (nearest first).
    home_col : numpy.ndarray
        ``(N,)`` column of the best link (highest RSSI).
    n_gateways : int
        Number of gateways G.
    params : RadioParams
    """

    rssi: np.ndarray
    snr: np.ndarray
    gateway: np.ndarray
    home_col: np.ndarray
    n_gateways: int
    params: RadioParams

    @property
    def home(self) -> np.ndarray:
        """``(N,)`` best gateway (highest RSSI) of each device."""
        return self.gateway[np.arange(self.gateway.shape[0]), self.home_col]

    @property
    def home_rssi(self) -> np.ndarray:
        """RSSI at the home gateway, dBm, ``(N,)``."""
        return self.rssi[np.arange(self.rssi.shape[0]), self.home_col]

    @property
    def home_snr(self) -> np.ndarray:
        """SNR at the home gateway, dB, ``(N,)``."""
        return self.snr[np.arange(self.snr.shape[0]), self.home_col]


def link_budget(deployment: Deployment, params: RadioParams | None = None, seed: int | None = 0) -> LinkBudget:
    """RSSI and SNR of every device at its nearest gateways at maximum TX power.

    The ``params.neighbour_gateways`` nearest gateways of every device are found
    with a k-d tree (:class:`scipy.spatial.cKDTree`), so memory and time grow
    with N·k, not N·G.

    Parameters
    ----------
    deployment : Deployment
    params : RadioParams, optional
    seed : int, optional
        Seed of the static shadowing.

    Returns
    -------
    LinkBudget
    """
    from scipy.spatial import cKDTree

    p = params or RadioParams()
    G = deployment.n_gateways
    k = min(int(p.neighbour_gateways), G)
    dist, gw = cKDTree(deployment.gateways).query(deployment.devices, k=k)
    dist = np.maximum(np.asarray(dist, dtype=np.float64).reshape(-1, k), 1.0)
    gw = np.asarray(gw, dtype=np.int64).reshape(-1, k)
    pl = path_loss_db(dist, p)
    if p.shadowing_db > 0:
        # shadowing is a property of the (device, gateway) pair: counter-based draws keyed by the pair,
        # so a link has the same shadowing whatever k is
        pair = np.arange(gw.shape[0], dtype=np.uint64)[:, None] * np.uint64(G) + gw.astype(np.uint64)
        pl = pl + p.shadowing_db * _pair_normal(pair, 0 if seed is None else int(seed))
    rssi = p.tx_max_dbm - pl
    snr = rssi - noise_floor_dbm(p.bandwidth_hz, p.noise_figure_db)
    home_col = np.argmax(rssi, axis=1)
    return LinkBudget(rssi, snr, gw, home_col, G, p)


def _pair_normal(pair: np.ndarray, seed: int) -> np.ndarray:
    """Standard normal draws keyed by integer ``pair`` ids (splitmix64 hash → inverse normal CDF)."""
    from scipy.special import ndtri

    with np.errstate(over="ignore"):
        z = pair.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % (1 << 64))
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = ((z >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return ndtri(u)


def link_margin_db(rssi: np.ndarray, snr: np.ndarray, sf: np.ndarray) -> np.ndarray:
    """Smaller of RSSI − sensitivity(SF) and SNR − required SNR(SF), dB (elementwise).

    ``sf`` outside 7..12 (e.g. 0 for "no link") gives −inf.
    """
    s = np.asarray(sf)
    ok = (s >= 7) & (s <= 12)
    k = np.clip(s - 7, 0, 5)
    m = np.minimum(np.asarray(rssi) - SENSITIVITY_DBM[k], np.asarray(snr) - SNR_REQ_DB[k])
    return np.where(ok, m, -np.inf)


def min_sf(rssi: np.ndarray, snr: np.ndarray, margin_db: float = 0.0) -> np.ndarray:
    """Smallest SF whose sensitivity and SNR floor the link meets with ``margin_db`` to spare.

    Returns
    -------
    numpy.ndarray
        int SF 7..12, or 0 where even SF12 fails.
    """
    r = np.asarray(rssi, dtype=np.float64)[..., None]
    q = np.asarray(snr, dtype=np.float64)[..., None]
    ok = (r - SENSITIVITY_DBM >= margin_db) & (q - SNR_REQ_DB >= margin_db)
    first = np.argmax(ok, axis=-1)
    return np.where(ok.any(axis=-1), SF[first], 0)


def snr_history(mean_snr: np.ndarray, n: int = 20, fading_db: float = 2.0, seed: int | None = 0) -> np.ndarray:
    """Simulated SNR of the last ``n`` uplinks around each link's mean, dB, ``(N, n)``."""
    rng = np.random.default_rng(seed)
    m = np.asarray(mean_snr, dtype=np.float64)
    return m[:, None] + rng.normal(0.0, fading_db, (m.shape[0], int(n)))


def adr(
    snr_max: np.ndarray,
    sf: np.ndarray,
    tx_dbm: np.ndarray,
    params: RadioParams | None = None,
    rssi_max: np.ndarray | None = None,
    sf_max: np.ndarray | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Network-server ADR step (Semtech network-server algorithm), vectorised over devices.

    margin = min(SNR_max − SNR_req(SF), RSSI_max − sensitivity(SF)) − installation margin;
    N_step = ⌊margin / 3 dB⌋. While N_step > 0: lower the SF (down to SF7), then the
    TX power by ``tx_step_db`` (down to ``tx_min_dbm``). While N_step < 0: raise
    the TX power (up to ``tx_max_dbm``). One SF step raises the requirement by
    ≤ 3 dB and one power step costs 2 dB, so the link keeps at least the
    installation margin on the observed maximum.

    With ``sf_max`` (a zoom level: the largest SF the network server allows, see
    :mod:`peergrid.zoom.uplinks`) the rule also works in reverse when a link degrades:
    a device above the cap is first moved down to it (the margin is evaluated there),
    and negative steps that remain once the TX power is at its maximum raise the SF,
    one step each, up to the cap. Without ``sf_max`` the SF is never raised (Semtech).

    Parameters
    ----------
    snr_max : array-like
        Maximum SNR of the last ``adr_history`` uplinks at the current TX power, dB.
    sf : array-like
        Current SF (7..12) of each device.
    tx_dbm : array-like
        Current TX power, dBm.
    params : RadioParams, optional
    rssi_max : array-like, optional
        Maximum RSSI of the same uplinks, dBm; default SNR_max + noise floor.
    sf_max : int or array-like, optional
        Per-device SF cap 7..12 (the serving gateway's zoom level).

    Returns
    -------
    sf, tx_dbm : numpy.ndarray
        New SF (int) and TX power (dBm).
    """
    p = params or RadioParams()
    snr_max = np.asarray(snr_max, dtype=np.float64)
    sf = np.asarray(sf).astype(np.int64)
    tx = np.asarray(tx_dbm, dtype=np.float64).copy()
    if np.any((sf < 7) | (sf > 12)):
        raise ConfigError("ADR needs current spreading factors in 7..12")
    if rssi_max is None:
        rssi_max = snr_max + noise_floor_dbm(p.bandwidth_hz, p.noise_figure_db)
    cap = None
    if sf_max is not None:
        cap = np.broadcast_to(np.asarray(sf_max), sf.shape).astype(np.int64)
        if np.any((cap < 7) | (cap > 12)):
            raise ConfigError("ADR sf_max must lie in 7..12")
        sf = np.minimum(sf, cap)
    margin = link_margin_db(rssi_max, snr_max, sf) - p.installation_margin_db
    steps = np.floor(margin / 3.0).astype(np.int64)
    down = np.minimum(np.maximum(steps, 0), sf - 7)
    sf_new = sf - down
    rest = np.maximum(steps, 0) - down
    tx_room_down = np.floor((tx - p.tx_min_dbm) / p.tx_step_db + 1e-9).astype(np.int64)
    tx_new = tx - p.tx_step_db * np.minimum(rest, np.maximum(tx_room_down, 0))
    tx_room_up = np.floor((p.tx_max_dbm - tx) / p.tx_step_db + 1e-9).astype(np.int64)
    up = np.minimum(np.maximum(-steps, 0), np.maximum(tx_room_up, 0))
    tx_new = tx_new + p.tx_step_db * up
    if cap is not None:
        # the reverse: steps left once the power is at its maximum raise the SF, up to the cap
        sf_up = np.minimum(np.maximum(-steps, 0) - up, cap - sf_new)
        sf_new = sf_new + np.maximum(sf_up, 0)
    return sf_new, tx_new


# ---------------------------------------------------------------------------- collisions
def collision_pdr(
    rssi: np.ndarray,
    gateway: np.ndarray,
    home_col: np.ndarray,
    sf: np.ndarray,
    tx_dbm: np.ndarray,
    rate_hz: np.ndarray | float,
    params: RadioParams | None = None,
) -> np.ndarray:
    """P(no destructive overlap) of each device's uplink at its home gateway (ALOHA + capture).

    Device i's packet at gateway h is destroyed by an overlapping packet of any
    device j ≠ i on the same SF whose power at h is within ``capture_db`` below
    i's or stronger. With such devices sending at rates λ_j over ``channels``
    random channels, pure ALOHA gives P = exp(−2 · Σ_j λ_j · ToA(SF) / channels)
    (vulnerable period 2·ToA).

    Counting is vectorised: all (device, gateway) powers are sorted by
    (gateway, SF, power) once and each device's interferers are found with two
    ``searchsorted`` calls on prefix sums of the rates — O(N·k·log(N·k)), no
    Python loop.

    Parameters
    ----------
    rssi : numpy.ndarray
        ``(N, k)`` RSSI at maximum TX power, dBm, at the gateways in ``gateway``.
    gateway : numpy.ndarray
        ``(N, k)`` gateway index of each column.
    home_col : numpy.ndarray
        ``(N,)`` column of each device's serving gateway.
    sf : numpy.ndarray
        ``(N,)`` SF 7..12 (0 = silent device).
    tx_dbm : numpy.ndarray
        ``(N,)`` TX power, dBm.
    rate_hz : float or numpy.ndarray
        Uplinks per second of each device (including retransmissions).
    params : RadioParams, optional

    Returns
    -------
    numpy.ndarray
        ``(N,)`` probability in [0, 1] (1 for silent devices).
    """
    p = params or RadioParams()
    rssi = np.asarray(rssi, dtype=np.float64)
    gateway = np.asarray(gateway, dtype=np.int64)
    N = rssi.shape[0]
    sf = np.asarray(sf).astype(np.int64)
    active = (sf >= 7) & (sf <= 12)
    rate = np.broadcast_to(np.asarray(rate_hz, dtype=np.float64), (N,))
    out = np.ones(N)
    if not active.any():
        return out
    offset = np.asarray(tx_dbm, dtype=np.float64) - p.tx_max_dbm
    idx = np.flatnonzero(active)
    h = home_col[idx]
    own = rssi[idx, h] + offset[idx]
    # interferers weaker than every target's capture window cannot destroy anything
    floor = float(own.min()) - p.capture_db - 1.0
    power = rssi[idx] + offset[idx, None]  # (n_active, k)
    j, col = np.nonzero(power >= floor)
    val = power[j, col]
    dev = idx[j]
    key = (gateway[dev, col] * 6 + (sf[dev] - 7)).astype(np.float64)
    # one sortable number per (gateway, SF, power); powers lie in [floor, floor + 200) so a span of 1000 separates keys
    comb = key * 1000.0 + (val - floor)
    order = np.argsort(comb, kind="stable")
    comb = comb[order]
    cum = np.concatenate([[0.0], np.cumsum(rate[dev][order])])  # offered uplinks/s, prefix sums
    qkey = (gateway[idx, h] * 6 + (sf[idx] - 7)).astype(np.float64) * 1000.0
    lo = np.searchsorted(comb, qkey + np.maximum(own - p.capture_db - floor, 0.0), side="left")
    hi = np.searchsorted(comb, qkey + 1000.0, side="left")
    load = np.maximum(cum[hi] - cum[lo] - rate[idx], 0.0)  # minus the device itself (always in its window)
    toa = time_on_air(p.payload_bytes, sf[idx])
    out[idx] = np.exp(-2.0 * load * toa / p.channels)
    return out


# ---------------------------------------------------------------------------- whole plan
@dataclass(frozen=True)
class RadioState:
    """Radio configuration and performance of every device after ADR.

    Attributes
    ----------
    home : numpy.ndarray
        ``(N,)`` serving gateway.
    sf : numpy.ndarray
        ``(N,)`` SF 7..12; 0 = out of coverage even at SF12 / max power.
    tx_dbm : numpy.ndarray
        ``(N,)`` TX power, dBm.
    margin_db : numpy.ndarray
        ``(N,)`` mean link margin at (sf, tx), dB.
    toa_s : numpy.ndarray
        ``(N,)`` uplink time on air, s (0 when uncovered).
    pdr : numpy.ndarray
        ``(N,)`` packet delivery ratio of one transmission (link × collisions).
    transmissions : numpy.ndarray
        ``(N,)`` expected transmissions per delivered reading, min(1/PDR, cap).
    duty_ok : numpy.ndarray
        ``(N,)`` whether the device respects the duty-cycle limit.
    step_s : float
        Reporting interval (one uplink per step), s.
    budget : LinkBudget
    params : RadioParams
    """

    home: np.ndarray
    sf: np.ndarray
    tx_dbm: np.ndarray
    margin_db: np.ndarray
    toa_s: np.ndarray
    pdr: np.ndarray
    transmissions: np.ndarray
    duty_ok: np.ndarray
    step_s: float
    budget: LinkBudget = field(repr=False)
    params: RadioParams = field(repr=False)

    @property
    def covered(self) -> np.ndarray:
        """``(N,)`` devices with a working link."""
        return self.sf > 0

    @property
    def n_gateways(self) -> int:
        """Number of gateways G."""
        return self.budget.n_gateways

    def with_fixed_sf(self, sf: int = 12) -> RadioState:
        """The same network without ADR: every covered device at ``sf`` and maximum power."""
        return radio_state(
            self.budget, np.where(self.covered, sf, 0), np.full(self.sf.shape, self.params.tx_max_dbm), self.step_s
        )


def radio_state(budget: LinkBudget, sf: np.ndarray, tx: np.ndarray, step_s: float) -> RadioState:
    """The :class:`RadioState` of devices at spreading factors ``sf`` and powers ``tx`` (dBm).

    Margins, time on air, packet delivery (link × collisions, with retransmissions raising
    the offered load in a short fixed point) and duty-cycle compliance for uplinks every
    ``step_s`` seconds; ``sf == 0`` marks an uncovered device.
    """
    p = budget.params
    N = sf.shape[0]
    rssi = budget.home_rssi + (tx - p.tx_max_dbm)
    snr = budget.home_snr + (tx - p.tx_max_dbm)
    margin = link_margin_db(rssi, snr, sf)
    covered = sf > 0
    p_link = np.where(covered, _phi(np.where(covered, margin, 0.0) / max(p.fading_db, 1e-9)), 0.0)
    toa = np.where(covered, time_on_air(p.payload_bytes, np.where(covered, sf, 7)), 0.0)
    # fixed point: retransmissions raise the offered load (two iterations suffice at the loads considered)
    tx_count = np.ones(N)
    pdr = p_link
    for _ in range(3):
        p_coll = collision_pdr(budget.rssi, budget.gateway, budget.home_col, sf, tx, tx_count / step_s, p)
        pdr = p_link * p_coll
        tx_count = np.where(covered, np.minimum(1.0 / np.maximum(pdr, 1e-12), p.max_transmissions), 0.0)
    duty_ok = toa * tx_count / step_s <= p.duty_cycle + 1e-12
    return RadioState(
        budget.home, sf.astype(np.int64), tx, margin, toa, pdr, tx_count, duty_ok, float(step_s), budget, p
    )


def _phi(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def plan_radio(
    deployment: Deployment,
    params: RadioParams | None = None,
    step_s: float = 900.0,
    seed: int | None = 0,
    adr_rounds: int = 2,
) -> RadioState:
    """Link budget, join at SF12 / max power, ADR, then PDR — the whole radio layer.

    Devices join at SF12 and maximum TX power (LoRaWAN default); the network
    server runs :func:`adr` on the maximum SNR of each device's last
    ``adr_history`` uplinks at its best gateway (simulated with
    :func:`snr_history`), ``adr_rounds`` times. Devices whose link misses SF12
    even at maximum power are out of coverage (``sf = 0``).

    Parameters
    ----------
    deployment : Deployment
    params : RadioParams, optional
    step_s : float
        Reporting interval, s (900 s = one reading per 15-min step).
    seed : int, optional
        Seed of shadowing and fading.
    adr_rounds : int
        ADR iterations (each uses a fresh history at the current settings).

    Returns
    -------
    RadioState
    """
    p = params or RadioParams()
    if not (math.isfinite(step_s) and step_s > 0):
        raise ConfigError(f"step_s must be > 0, got {step_s}")
    budget = link_budget(deployment, p, seed)
    N = deployment.n_devices
    mean_snr = budget.home_snr
    covered = min_sf(budget.home_rssi, mean_snr) > 0
    sf = np.where(covered, 12, 0)
    tx = np.full(N, p.tx_max_dbm)
    floor = noise_floor_dbm(p.bandwidth_hz, p.noise_figure_db)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    for _ in range(max(int(adr_rounds), 0)):
        hist = snr_history(mean_snr + (tx - p.tx_max_dbm), p.adr_history, p.fading_db, rng)
        smax = hist.max(axis=1)
        c = covered
        if c.any():
            new_sf, new_tx = adr(smax[c], sf[c], tx[c], p, rssi_max=smax[c] + floor)
            sf[c] = new_sf
            tx[c] = new_tx
    return radio_state(budget, sf, tx, step_s)


def pdr_by_sf(state: RadioState) -> dict[int, dict[str, float]]:
    """Devices, mean PDR and time on air per SF (SF7..SF12).

    Returns
    -------
    dict
        ``{sf: {"devices": n, "pdr": mean PDR, "toa_ms": ToA}}`` (PDR NaN without devices).
    """
    out: dict[int, dict[str, float]] = {}
    counts = np.bincount(state.sf, minlength=13)
    sums = np.bincount(state.sf, weights=state.pdr, minlength=13)
    for s in SF:
        n = int(counts[s])
        out[int(s)] = {
            "devices": n,
            "pdr": float(sums[s] / n) if n else float("nan"),
            "toa_ms": float(time_on_air(state.params.payload_bytes, int(s)) * 1e3),
        }
    return out


def with_params(params: RadioParams, **changes: float) -> RadioParams:
    """A copy of ``params`` with some fields changed (validated)."""
    return replace(params, **changes)
