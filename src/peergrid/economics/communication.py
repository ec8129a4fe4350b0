"""The platform's communication model: Tooki et al. (2025), eqs. 6–8, applied to its message traffic.

Tooki et al. (2025) model the cost of the microgrids' communication system as

* eq. 6, communication cost: ``J = ε_c1 · z + ε_c2 · z_c²`` — a price per unit of data sent
  plus a quadratic penalty on the utilisation z_c of the cloudlet (the edge server and
  radio link the members talk to);
* eq. 7, cloudlet utilisation: ``y = ε_s · PC / PC_max + ε_t · BW / BW_max`` with
  ``ε_s + ε_t = 1`` — the weighted share of transmit power PC and bandwidth BW in use;
* eq. 8, Shannon rate of a white-noise channel: ``N = BW · log2(1 + σ · PC / BW)``
  (σ · PC / BW is the signal-to-noise ratio; σ, the paper's bit-rate coefficient, is the
  channel gain over the noise power spectral density, Hz/W).

peergrid applies them to the trading platform's own traffic (:func:`platform_traffic`):
every member sends one meter reading per slot, every member with a non-zero net position
sends one order, and every order is answered by one clearing result. The bytes of the
slot must reach the cloudlet within ``window_s`` seconds (the gate closure), which fixes
the data rate the slot needs; :func:`cloudlet_allocation` finds the bandwidth and power
that carry that rate at the lowest utilisation (eq. 7) on the Shannon channel (eq. 8),
and :func:`communication_cost` prices the slot (eq. 6).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from numpy.typing import ArrayLike
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from peergrid.core.errors import ConfigError

if TYPE_CHECKING:
    from peergrid.simulate.result import Result

__all__ = [
    "PlatformTraffic",
    "TrafficResult",
    "cloudlet_allocation",
    "cloudlet_utilisation",
    "communication_cost",
    "platform_traffic",
    "shannon_rate",
]

_Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def communication_cost(z: ArrayLike, z_c: ArrayLike, eps_c1: float, eps_c2: float) -> np.ndarray | float:
    """Communication cost, Tooki et al. (2025), eq. 6: ``J = ε_c1 · z + ε_c2 · z_c²``.

    Parameters
    ----------
    z : array-like
        Amount of communication, in the unit ``eps_c1`` is priced in (peergrid: MB per slot).
    z_c : array-like
        Cloudlet utilisation rate, 1 (eq. 7; above 1 when the demand exceeds the cloudlet).
    eps_c1 : float
        Cost of communication ε_c1, currency per unit of ``z`` (currency/MB).
    eps_c2 : float
        Cloudlet penalty ε_c2, currency at full utilisation (per slot).

    Returns
    -------
    float or numpy.ndarray
        J, currency (per slot).

    Examples
    --------
    >>> round(communication_cost(2.0, 0.5, eps_c1=0.01, eps_c2=0.4), 12)   # 0.01·2 + 0.4·0.5²
    0.12
    """
    out = eps_c1 * np.asarray(z, dtype=np.float64) + eps_c2 * np.asarray(z_c, dtype=np.float64) ** 2
    return float(out) if np.ndim(out) == 0 else out


def cloudlet_utilisation(
    pc: ArrayLike, bw: ArrayLike, pc_max: float, bw_max: float, eps_s: float = 0.5, eps_t: float | None = None
) -> np.ndarray | float:
    """Cloudlet utilisation rate, Tooki et al. (2025), eq. 7: ``y = ε_s · PC/PC_max + ε_t · BW/BW_max``.

    Parameters
    ----------
    pc : array-like
        Communication (transmit) power in use, W.
    bw : array-like
        Bandwidth in use, Hz.
    pc_max : float
        Power of the cloudlet, W (> 0).
    bw_max : float
        Bandwidth of the cloudlet, Hz (> 0).
    eps_s : float
        Weight ε_s of power, in [0, 1].
    eps_t : float, optional
        Weight ε_t of bandwidth; default ``1 − eps_s``. The paper requires ε_s + ε_t = 1.

    Returns
    -------
    float or numpy.ndarray
        y, 1 (0 = idle, 1 = all power and bandwidth in use).

    Examples
    --------
    >>> cloudlet_utilisation(0.1, 0.35e6, pc_max=0.2, bw_max=1.4e6, eps_s=0.6)
    0.4
    """
    eps_t = 1.0 - eps_s if eps_t is None else eps_t
    if not (0.0 <= eps_s <= 1.0 and 0.0 <= eps_t <= 1.0) or abs(eps_s + eps_t - 1.0) > 1e-9:
        raise ConfigError(f"eps_s and eps_t must be in [0, 1] with eps_s + eps_t = 1, got {eps_s} and {eps_t}")
    if not (pc_max > 0 and bw_max > 0):
        raise ConfigError(f"pc_max and bw_max must be > 0, got {pc_max} and {bw_max}")
    out = eps_s * np.asarray(pc, dtype=np.float64) / pc_max + eps_t * np.asarray(bw, dtype=np.float64) / bw_max
    return float(out) if np.ndim(out) == 0 else out


def shannon_rate(bw: ArrayLike, pc: ArrayLike, sigma: float) -> np.ndarray | float:
    """Best achievable rate of a white-noise channel, Tooki et al. (2025), eq. 8: ``N = BW log2(1 + σ PC / BW)``.

    Parameters
    ----------
    bw : array-like
        Bandwidth BW_T, Hz (0 gives rate 0).
    pc : array-like
        Communication power PC_T, W.
    sigma : float
        Bit-rate coefficient σ: channel gain over noise power spectral density, Hz/W
        (σ · PC / BW is the signal-to-noise ratio).

    Returns
    -------
    float or numpy.ndarray
        N, bit/s.

    Examples
    --------
    1 MHz at a signal-to-noise ratio of 3 carries 2 Mbit/s:

    >>> shannon_rate(1e6, 0.1, sigma=3e7)
    2000000.0
    """
    b = np.asarray(bw, dtype=np.float64)
    p = np.asarray(pc, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b > 0, b * np.log2(1.0 + sigma * p / np.where(b > 0, b, 1.0)), 0.0)
    return float(out) if np.ndim(out) == 0 else out


def _power_for(rate: np.ndarray, bw: np.ndarray, sigma: float) -> np.ndarray:
    """Power that carries ``rate`` on ``bw`` (eq. 8 solved for PC), W."""
    return bw * np.expm1(rate / bw * np.log(2.0)) / sigma


def cloudlet_allocation(
    rate: ArrayLike, *, bw_max: float, pc_max: float, sigma: float, eps_s: float = 0.5, iterations: int = 80
) -> dict[str, np.ndarray]:
    """Bandwidth and power that carry ``rate`` at the lowest cloudlet utilisation (eqs. 7 and 8).

    Minimises ``y = ε_s PC/PC_max + ε_t BW/BW_max`` subject to ``BW log2(1 + σ PC/BW) ≥ rate``,
    ``PC ≤ PC_max``, ``BW ≤ BW_max``. On the rate constraint PC(BW) = BW (2^(rate/BW) − 1)/σ is
    convex and decreasing in BW, so y(BW) is convex: its minimum is found by bisection on
    dy/dBW, element-wise (vectorised over slots). A rate above the cloudlet's capacity
    ``shannon_rate(bw_max, pc_max, sigma)`` cannot be carried: those entries get all power and
    bandwidth, ``overloaded = True`` and the utilisation ``y = rate / capacity`` (> 1), the
    demand the penalty of eq. 6 then sees.

    Parameters
    ----------
    rate : array-like
        Required data rate, bit/s (≥ 0).
    bw_max : float
        Cloudlet bandwidth, Hz.
    pc_max : float
        Cloudlet power, W.
    sigma : float
        Bit-rate coefficient σ, Hz/W.
    eps_s : float
        Weight of power ε_s in eq. 7 (ε_t = 1 − ε_s).
    iterations : int
        Bisection steps (80 halve the bracket to machine precision).

    Returns
    -------
    dict of numpy.ndarray
        ``bw`` (Hz), ``pc`` (W), ``y`` (1), ``overloaded`` (bool), each shaped like ``rate``.

    Examples
    --------
    With power and bandwidth weighted equally the optimum spreads the rate over more
    bandwidth than power:

    >>> a = cloudlet_allocation(1e6, bw_max=1.4e6, pc_max=0.2, sigma=7e7)
    >>> bool(a["y"] < 1), round(float(shannon_rate(a["bw"], a["pc"], 7e7)) / 1e6, 6)
    (True, 1.0)
    """
    if not (bw_max > 0 and pc_max > 0 and sigma > 0):
        raise ConfigError(f"bw_max, pc_max and sigma must be > 0, got {bw_max}, {pc_max}, {sigma}")
    eps_t = 1.0 - eps_s
    cloudlet_utilisation(0.0, 0.0, pc_max, bw_max, eps_s, eps_t)  # checks the weights
    r = np.asarray(rate, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r < 0):
        raise ConfigError("rate must be finite and >= 0 (bit/s)")
    capacity = float(shannon_rate(bw_max, pc_max, sigma))
    flat = r.reshape(-1)
    bw = np.zeros_like(flat)
    pc = np.zeros_like(flat)
    over = flat > capacity * (1 + 1e-12)
    ok = (flat > 0) & ~over
    if ok.any():
        x = flat[ok]
        ln2 = np.log(2.0)
        # lowest bandwidth at which PC_max suffices: PC(BW) is decreasing, so bisect PC(BW) = PC_max
        lo = np.full_like(x, 0.0)
        hi = np.full_like(x, bw_max)

        def power(b: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                return np.where(b > 0, _power_for(x, np.maximum(b, 1e-300), sigma), np.inf)

        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            feasible = power(mid) <= pc_max
            hi = np.where(feasible, mid, hi)
            lo = np.where(feasible, lo, mid)
        b_min = hi

        def slope(b: np.ndarray) -> np.ndarray:  # dy/dBW on the rate constraint
            u = x / b * ln2
            with np.errstate(over="ignore"):
                dp = (np.expm1(u) - u * np.exp(u)) / sigma  # dPC/dBW ≤ 0
            return eps_s * dp / pc_max + eps_t / bw_max

        lo, hi = b_min.copy(), np.full_like(x, bw_max)
        rising = slope(lo) >= 0  # the minimum is at the lowest feasible bandwidth
        falling = slope(hi) <= 0  # … or at the whole bandwidth
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            pos = slope(mid) > 0
            hi = np.where(pos, mid, hi)
            lo = np.where(pos, lo, mid)
        b = np.where(rising, b_min, np.where(falling, bw_max, 0.5 * (lo + hi)))
        bw[ok] = b
        pc[ok] = np.minimum(power(b), pc_max)
    bw[over], pc[over] = bw_max, pc_max
    y = eps_s * pc / pc_max + eps_t * bw / bw_max
    y[over] = flat[over] / capacity
    shape = r.shape
    return {"bw": bw.reshape(shape), "pc": pc.reshape(shape), "y": y.reshape(shape), "overloaded": over.reshape(shape)}


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class PlatformTraffic:
    """The platform's messages and its cloudlet (``[invest.platform]`` in a scenario).

    Message sizes are application payloads plus ``overhead_bytes`` of protocol headers
    each (MQTT/TCP/IP/TLS record). Defaults: a signed JSON meter reading of the peergrid
    service (meter id, interval, kWh, sequence number, HMAC-SHA256) is about 250 bytes,
    an order about 200 bytes, a clearing result (trades, prices, bill) about 300 bytes.
    The cloudlet defaults describe one LTE-M (Cat-M1) narrowband carrier: 1.4 MHz and a
    23 dBm (0.2 W) power class, with σ set so that the signal-to-noise ratio at full power
    over the whole band is 10 (10 dB): σ = 10 · 1.4 MHz / 0.2 W = 7·10⁷ Hz/W, a capacity
    of 4.84 Mbit/s (eq. 8). Prices: ε_c1 = 0.01 currency/MB (bulk IoT data; order of
    magnitude), ε_c2 = 0.5 currency per hour at full utilisation (an assumption that makes
    a saturated cloudlet visibly expensive; eq. 6's penalty is charged per slot as
    ε_c2 · slot hours · y²).

    Attributes
    ----------
    reading_bytes, order_bytes, result_bytes : float
        Payload of a meter reading, an order and a clearing result, bytes.
    overhead_bytes : float
        Protocol headers per message, bytes.
    window_s : float
        Seconds within which a slot's messages must be delivered (sets the data rate), s.
    bw_max : float
        Cloudlet bandwidth BW_max, Hz.
    pc_max : float
        Cloudlet power PC_max, W.
    sigma : float
        Bit-rate coefficient σ, Hz/W.
    eps_s : float
        Weight ε_s of power in eq. 7 (ε_t = 1 − ε_s).
    eps_c1 : float
        Cost of communication ε_c1, currency/MB (10⁶ bytes).
    eps_c2 : float
        Cloudlet penalty ε_c2 at full utilisation, currency/h.
    """

    reading_bytes: _NonNeg = 250.0
    order_bytes: _NonNeg = 200.0
    result_bytes: _NonNeg = 300.0
    overhead_bytes: _NonNeg = 66.0
    window_s: _Pos = 60.0
    bw_max: _Pos = 1.4e6
    pc_max: _Pos = 0.2
    sigma: _Pos = 7e7
    eps_s: Annotated[float, Field(ge=0, le=1)] = 0.5
    eps_c1: _NonNeg = 0.01
    eps_c2: _NonNeg = 0.5

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class TrafficResult:
    """Per-slot traffic of a simulated platform and its cost (:func:`platform_traffic`).

    Attributes
    ----------
    messages : numpy.ndarray
        ``(T,)`` messages per slot (readings + orders + results).
    megabytes : numpy.ndarray
        ``(T,)`` data per slot including headers, MB (10⁶ bytes).
    rate : numpy.ndarray
        ``(T,)`` required data rate, bit/s.
    bw, pc : numpy.ndarray
        ``(T,)`` bandwidth (Hz) and power (W) allocated (:func:`cloudlet_allocation`).
    utilisation : numpy.ndarray
        ``(T,)`` cloudlet utilisation y (eq. 7; > 1 when overloaded).
    overloaded : numpy.ndarray
        ``(T,)`` bool, the slot's rate exceeds the cloudlet's capacity.
    cost : numpy.ndarray
        ``(T,)`` communication cost J (eq. 6), currency.
    capacity : float
        Cloudlet capacity at full power and bandwidth (eq. 8), bit/s.
    """

    messages: Any
    megabytes: Any
    rate: Any
    bw: Any
    pc: Any
    utilisation: Any
    overloaded: Any
    cost: Any
    capacity: float

    def summary(self, scale: float = 1.0) -> dict[str, float | int]:
        """Totals and peaks; ``scale`` multiplies the totals (e.g. to a year).

        Parameters
        ----------
        scale : float
            Factor on ``messages``, ``megabytes`` and ``cost`` totals.

        Returns
        -------
        dict
            ``messages``, ``megabytes``, ``cost`` (currency), ``peak_rate_bps``,
            ``mean_utilisation``, ``peak_utilisation``, ``overloaded_slots`` (in the window),
            ``capacity_bps``.
        """
        return {
            "messages": float(np.sum(self.messages) * scale),
            "megabytes": float(np.sum(self.megabytes) * scale),
            "cost": float(np.sum(self.cost) * scale),
            "peak_rate_bps": float(np.max(self.rate, initial=0.0)),
            "mean_utilisation": float(np.mean(self.utilisation)) if np.size(self.utilisation) else 0.0,
            "peak_utilisation": float(np.max(self.utilisation, initial=0.0)),
            "overloaded_slots": int(np.count_nonzero(self.overloaded)),
            "capacity_bps": self.capacity,
        }


def slot_messages(net: np.ndarray, block: int = 8192, tol: float = 1e-9) -> np.ndarray:
    """Members with a non-zero net position (an order each) per slot.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy per slot, kWh.
    block : int
        Rows per pass (bounds the temporary memory).
    tol : float
        Positions with ``|net| <= tol`` kWh send no order.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` int64 counts.
    """
    T = net.shape[0]
    out = np.empty(T, dtype=np.int64)
    for s in range(0, T, block):
        out[s : s + block] = np.count_nonzero(np.abs(net[s : s + block]) > tol, axis=1)
    return out


def platform_traffic(result: Result, traffic: PlatformTraffic | None = None) -> TrafficResult:
    """Message traffic of the trading platform in a simulation and its cost (eqs. 6–8).

    Per slot: N meter readings, one order per member with a non-zero net position and one
    clearing result per order; each message carries ``overhead_bytes`` of headers. The
    slot's bits over ``window_s`` give the data rate; :func:`cloudlet_allocation` the
    utilisation (eqs. 7, 8); :func:`communication_cost` prices the slot with z = MB sent
    and ε_c2 scaled to the slot (ε_c2 · dt).

    Parameters
    ----------
    result : peergrid.simulate.Result
        A simulation (its ``net`` positions decide who orders).
    traffic : PlatformTraffic, optional
        Message sizes and cloudlet; default :class:`PlatformTraffic()`.

    Returns
    -------
    TrafficResult
    """
    t = traffic or PlatformTraffic()
    com = result.community
    orders = slot_messages(result.net)
    messages = com.N + 2 * orders
    payload = com.N * t.reading_bytes + orders * (t.order_bytes + t.result_bytes)
    nbytes = payload + messages * t.overhead_bytes
    rate = nbytes * 8.0 / t.window_s
    alloc = cloudlet_allocation(rate, bw_max=t.bw_max, pc_max=t.pc_max, sigma=t.sigma, eps_s=t.eps_s)
    mb = nbytes / 1e6
    cost = communication_cost(mb, alloc["y"], t.eps_c1, t.eps_c2 * com.dt)
    return TrafficResult(
        messages=messages.astype(np.float64), megabytes=mb, rate=rate, bw=alloc["bw"], pc=alloc["pc"],
        utilisation=alloc["y"], overloaded=alloc["overloaded"], cost=np.asarray(cost),
        capacity=float(shannon_rate(t.bw_max, t.pc_max, t.sigma)),
    )  # fmt: skip
