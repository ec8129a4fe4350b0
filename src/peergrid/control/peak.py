"""Peak-load agents (p-MAS, Lange): classify the community state, shift flexible load, dispatch storage.

Lange's peer-multi-agent system (p-MAS) "classifies user nodes by load threshold
condition" — underloaded, lightly loaded, normally loaded, overloaded, severely
overloaded — and "dispatches load-shifting and power-allocation decisions" to
reduce the system peak (Lange 2025, *Supply-demand-ratio pricing and p-MAS
coordination* and Algorithm 1, steps 3 and 7). The paper gives no thresholds or
shifting rule; peergrid's agents are:

* **State.** The community (feeder) load L_t = Σ_i net_i,t / Δt (kW) is compared
  with a reference R_t: the daily mean import (default), a rated feeder capacity
  (a number, kW) or any series. The ratio L/R is classified by four thresholds
  (default 0.5, 0.8, 1.2, 1.5) into the five states of :class:`LoadState`.
* **Load shifting.** Each participant's agent offers a ``flexible_share`` of its
  consumption at every step. In overloaded steps an agent may move up to
  ``overloaded_fraction`` of its flexible load, in severely overloaded steps all of
  it; the energy above the top of the normal band is moved to less loaded steps of
  the same day within ``window_hours``, filling them at most to the top of the
  normal band (``fill_state``), weighted by their headroom — under-loaded steps take
  the most. Agents share each move pro
  rata to what they offer. Rounds repeat (agents re-classify after every round)
  until nothing moves. Every agent's shift is energy-neutral per day.
* **Price response.** Lange's cloud EMS "evaluates tariff conditions, and schedules
  power in order to shift or curtail load during high-price periods". With
  ``price_response`` (default) and prices that vary within a day, a step with a
  cheaper step within ``window_hours`` is a source too: agents move up to
  ``price_fraction`` of their flexible load there, weighted by headroom × saving
  (destinations still fill at most to ``fill_state``). The price is the signal
  ``community.retail`` — the grid tariff, or the internal price of a coordinator's
  price view. Flat prices leave the schedule as without it.
* **Storage.** The storage agents then agree on a *shaving level* θ for each local
  day: the lowest level at which the fleet, seen as one battery (summed energy and
  power, capacity-weighted efficiencies), can hold the community load over that day
  and the next (``lookahead_days``), discharging what exceeds θ and charging in the
  valleys up to θ — from the grid only in steps at or below the day's mean price
  (all steps under flat prices), otherwise only from the community's surplus. θ is
  found by bisection (feasibility is monotone in θ) and never lies in the lightly
  loaded band (below ``thresholds[1]`` × R): batteries do not cycle for flat days.
  The day is then dispatched with the real fleet, pro rata to each battery's
  available energy / room, within power and SOC limits.

  Until issue 16 the storage agents discharged in every step above the normal band
  and recharged only below the lightly loaded band; over a year they met the largest
  peaks with empty batteries and lost to plain greedy batteries on peak import in
  the shipped ``lange-urban`` (241.1 vs 235.3 kW) and ``tooki-260`` (625.5 vs
  624.9 kW) scenarios. With the planned level: 176.8 and 579.2 kW.

Days are calendar days in the community's display time zone
(:attr:`~peergrid.Community.tz`). Load shifting loops over rounds, every operation
vectorised over days, steps and participants; the storage agents run in numba
(bisection per day, then a pass over the steps of the day).

References
----------
.. [1] Lange, "Cloud-coordinated P2P energy sharing for urban community microgrids",
   2025: p-MAS threshold classes and peak-load management; stable operation under
   node failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from peergrid import metrics as M
from peergrid.control._common import ratio
from peergrid.control.greedy import BatterySchedule
from peergrid.core.community import Community
from peergrid.core.errors import ModelError

try:  # numba is a core dependency
    from numba import njit
except ImportError:  # pragma: no cover

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        return (lambda f: f) if not args or not callable(args[0]) else args[0]


__all__ = [
    "LoadState",
    "PeakParams",
    "PeakReport",
    "PeakSchedule",
    "classify_load",
    "peak_agents",
    "peak_report",
    "reference_load",
]


class LoadState(IntEnum):
    """p-MAS load classes (Lange), ordered by load."""

    UNDERLOADED = 0
    LIGHTLY_LOADED = 1
    NORMALLY_LOADED = 2
    OVERLOADED = 3
    SEVERELY_OVERLOADED = 4


@dataclass(frozen=True)
class PeakParams:
    """Parameters of the peak-load agents.

    Attributes
    ----------
    flexible_share : float or array-like (N,)
        Share of each participant's consumption that can be shifted, in [0, 1].
    window_hours : float
        Largest time a kWh may be moved (earlier or later), h (> 0).
    thresholds : tuple of 4 floats
        Upper bounds (inclusive) of L/R for under-, lightly and normally loaded and
        overloaded states, increasing (default 0.5, 0.8, 1.2, 1.5); above the last: severe.
    reference : "daily-mean", float or array-like (T,)
        Reference R: the mean community import of each day (default), a rated
        feeder capacity in kW, or a series in kW.
    overloaded_fraction : float
        Share of its flexible load an agent may move in an overloaded step (severe: all).
    fill_state : LoadState or int
        Destinations are filled at most to the top of this state's band (default
        normally loaded: load never moves into a step that would then be overloaded);
        ``LoadState.LIGHTLY_LOADED`` keeps shifted load in under-/lightly-loaded steps.
    rounds : int
        Most negotiation rounds.
    storage : bool
        Also dispatch batteries to flatten the peak.
    lookahead_days : int
        Days beyond the current one the storage agents plan their shaving level over.
    price_response : bool
        Read the price signal ``community.retail``: load moves out of dearer steps
        into cheaper ones within its window, and storage charges from the grid only
        in steps at or below the day's mean price. Under flat prices it changes nothing.
    price_fraction : float
        Share of its flexible load an agent may move out of a step for a cheaper one
        (``price_response``), in [0, 1].
    price_tolerance : float
        Price-driven moves stop once a round moves less than this share of the
        energy the first round moved (they converge geometrically); overload relief
        continues until nothing moves.
    """

    flexible_share: float | np.ndarray = 0.2
    window_hours: float = 4.0
    thresholds: Sequence[float] = (0.5, 0.8, 1.2, 1.5)
    reference: str | float | np.ndarray = "daily-mean"
    overloaded_fraction: float = 0.5
    fill_state: int = LoadState.NORMALLY_LOADED
    rounds: int = 30
    storage: bool = True
    lookahead_days: int = 1
    price_response: bool = True
    price_fraction: float = 0.5
    price_tolerance: float = 0.1

    def __post_init__(self) -> None:
        th = np.asarray(self.thresholds, dtype=np.float64)
        if th.shape != (4,) or not np.all(np.isfinite(th)) or np.any(np.diff(th) <= 0) or th[0] < 0:
            raise ModelError(f"thresholds must be 4 increasing non-negative ratios, got {self.thresholds!r}")
        share = np.asarray(self.flexible_share, dtype=np.float64)
        if not np.all(np.isfinite(share)) or np.any((share < 0) | (share > 1)):
            raise ModelError(f"flexible_share must lie in [0, 1], got {self.flexible_share!r}")
        if not (np.isfinite(self.window_hours) and self.window_hours > 0):
            raise ModelError(f"window_hours must be > 0 h, got {self.window_hours!r}")
        if not 0 <= self.price_tolerance <= 1:
            raise ModelError(f"price_tolerance must lie in [0, 1], got {self.price_tolerance!r}")
        if not 0 <= self.price_fraction <= 1:
            raise ModelError(f"price_fraction must lie in [0, 1], got {self.price_fraction!r}")
        if not 0 <= self.overloaded_fraction <= 1:
            raise ModelError(f"overloaded_fraction must lie in [0, 1], got {self.overloaded_fraction!r}")
        if int(self.fill_state) not in (0, 1, 2):
            raise ModelError(f"fill_state must be under-, lightly or normally loaded (0-2), got {self.fill_state!r}")
        if int(self.rounds) < 0:
            raise ModelError(f"rounds must be >= 0, got {self.rounds!r}")
        if int(self.lookahead_days) < 0:
            raise ModelError(f"lookahead_days must be >= 0, got {self.lookahead_days!r}")


@dataclass(frozen=True)
class PeakSchedule(BatterySchedule):
    """:class:`BatterySchedule` of the peak agents with their view of the feeder.

    Attributes
    ----------
    reference_kw : numpy.ndarray
        Reference R per step, kW.
    states_before, states_after : numpy.ndarray of int8
        :class:`LoadState` per step without control and after shifting and storage.
    shaving_level_kw : numpy.ndarray
        Level the storage agents planned to hold the community load at, kW (NaN
        without storage).
    """

    reference_kw: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    states_before: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8), repr=False)
    states_after: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8), repr=False)
    shaving_level_kw: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


def classify_load(load_kw: np.ndarray, reference_kw: np.ndarray | float, thresholds: Sequence[float]) -> np.ndarray:
    """p-MAS state of every step from the load ratio L/R.

    Parameters
    ----------
    load_kw : numpy.ndarray
        Community (feeder) load, kW, shape (T,).
    reference_kw : numpy.ndarray or float
        Reference R, kW; steps with R ≤ 0 are underloaded.
    thresholds : sequence of 4 floats
        Upper bounds (inclusive) of L/R of the first four states.

    Returns
    -------
    numpy.ndarray of int8
        :class:`LoadState` values.
    """
    load = np.asarray(load_kw, dtype=np.float64)
    ref = np.broadcast_to(np.asarray(reference_kw, dtype=np.float64), load.shape)
    r = ratio(load, ref)
    return np.digitize(r, np.asarray(thresholds, dtype=np.float64), right=True).astype(np.int8)


def _day_layout(community: Community) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Local calendar day and position in the day of every step.

    Days are calendar days in the community's time zone (:attr:`~peergrid.Community.tz`), so a
    day may be partial at the ends of the horizon or have 23/25 h at DST changes.

    Returns
    -------
    day, pos : numpy.ndarray of int64, shape (T,)
    n_days, steps_per_day : int
        Number of days D and the longest day S (steps).
    """
    local = community.local_index
    dates = np.asarray(local.tz_localize(None).normalize())
    codes = np.unique(dates, return_inverse=True)[1].astype(np.int64).ravel()
    starts = np.searchsorted(codes, np.arange(codes.max() + 1 if codes.size else 0))
    pos = np.arange(codes.size, dtype=np.int64) - starts[codes]
    counts = np.bincount(codes)
    return codes, pos, int(counts.size), int(counts.max()) if counts.size else 0


def _to_days(x: np.ndarray, day: np.ndarray, pos: np.ndarray, D: int, S: int) -> np.ndarray:
    """Scatter ``(T, ...)`` onto a zero-padded ``(D, S, ...)`` grid."""
    out = np.zeros((D, S, *x.shape[1:]))
    out[day, pos] = x
    return out


def reference_load(community: Community, reference: str | float | np.ndarray = "daily-mean") -> np.ndarray:
    """Reference community load R per step, kW.

    Parameters
    ----------
    community : Community
    reference : "daily-mean", float or array-like (T,)
        ``"daily-mean"``: the mean of max(L, 0) over each (local) day of the no-control
        load L; a number: a rated feeder capacity, kW; an array: R itself.

    Returns
    -------
    numpy.ndarray, shape (T,)
    """
    T = community.T
    if isinstance(reference, str):
        if reference != "daily-mean":
            raise ModelError(f"reference must be 'daily-mean', a capacity in kW or a series, got {reference!r}")
        load = np.maximum(community.net.sum(axis=1) / community.dt, 0.0)
        day = _day_layout(community)[0]
        return (np.bincount(day, weights=load) / np.bincount(day))[day]
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim == 0:
        ref = np.full(T, float(ref))
    if ref.shape != (T,) or not np.all(np.isfinite(ref)) or np.any(ref < 0):
        raise ModelError(f"reference must be 'daily-mean', a capacity >= 0 kW or a series of {T} values >= 0")
    return ref


def _shift_load(community: Community, net_kwh: np.ndarray, ref: np.ndarray, p: PeakParams) -> np.ndarray:
    """Energy-neutral daily load shifting by the agents, ``(T, N)`` kWh.

    Steps are laid out on a padded (day, step-of-day) grid for the per-day flows;
    per-participant arrays are only touched at the source and destination steps of a
    round (sparse), so a year of 1,000 households needs no ``(T, N)`` temporaries.
    A source step stays at or above the top of the normal band and a destination at
    or below ``fill``, so no step is ever both: the energy an agent has already moved
    out of a step is ``−delta`` there.
    """
    from scipy import sparse

    T, N = community.T, community.N
    dt = community.dt
    day, pos, D, S = _day_layout(community)
    th = np.asarray(p.thresholds, dtype=np.float64)
    share = np.broadcast_to(np.asarray(p.flexible_share, dtype=np.float64), (N,))
    tpos = np.full(D * S, -1, dtype=np.int64)  # padded grid -> time step
    tpos[day * S + pos] = np.arange(T)
    valid = tpos >= 0
    base = _to_days(net_kwh.sum(axis=1), day, pos, D, S).ravel()
    r = _to_days(ref, day, pos, D, S).ravel()
    hi = th[2] * r * dt  # top of the normal band, kWh per step
    # destinations are filled at most to here (a hair below the threshold: they stay in their state)
    fill = th[int(p.fill_state)] * r * dt * (1.0 - 1e-9)
    lag = np.abs(np.arange(S)[:, None] - np.arange(S)[None, :]) * dt
    window = (lag <= p.window_hours + 1e-9) & (lag > 0)  # (S, S): source t -> destination s
    delta = np.zeros((T, N))
    shifted = np.zeros(D * S)  # community total of delta per padded step
    price = _to_days(np.asarray(community.retail, dtype=np.float64), day, pos, D, S)  # (D, S)
    # price gain of moving a kWh from step t to step s of the same day (> 0: s is cheaper)
    gain = np.maximum(price[:, :, None] - price[:, None, :], 0.0) * window[None, :, :]
    gain[gain <= 1e-12 * max(float(np.abs(price).max()), 1.0)] = 0.0
    use_price = bool(p.price_response and np.any(gain > 0))
    first_moved = None
    for _ in range(int(p.rounds)):
        load = base + shifted
        state = classify_load(load / dt, r, th)
        frac = np.where(state >= LoadState.SEVERELY_OVERLOADED, 1.0, 0.0)
        frac[state == LoadState.OVERLOADED] = p.overloaded_fraction
        frac[~valid] = 0.0
        head = np.where(valid, np.maximum(fill - load, 0.0), 0.0)
        # sources: over the normal band, allowed to shift, with headroom within their window
        reach = (np.matmul((head > 1e-12).reshape(D, S).astype(np.float64), window.T) > 0).ravel()
        peak_src = (frac > 0) & (load > hi) & reach
        w = window[None, :, :] * head.reshape(D, 1, S)  # (D, t, s)
        want = np.zeros(D * S)
        want[peak_src] = np.maximum(load[peak_src] - hi[peak_src], 0.0)
        if use_price:
            # price sources: steps with a cheaper destination with headroom in their window;
            # agents move up to price_fraction of their flexible load there, weighted by the saving
            wp = gain * head.reshape(D, 1, S)
            price_src = valid & ~peak_src & (wp.reshape(D * S, S).sum(axis=1) > 1e-12)
            frac = np.where(price_src, p.price_fraction, np.where(peak_src, frac, 0.0))
            w = np.where(price_src.reshape(D, S, 1), wp, w)
            want[price_src] = np.inf
            src = np.flatnonzero(peak_src | price_src)
        else:
            src = np.flatnonzero(peak_src)
        if src.size == 0:
            break
        rows = tpos[src]
        # what each agent still offers at a source step: its allowed share minus what it already moved
        cap = np.maximum(frac[src, None] * community.load[rows] * share[None, :] + delta[rows], 0.0)
        offer = cap.sum(axis=1)
        want[src] = np.minimum(want[src], offer)
        wn = w * ratio(1.0, w.sum(axis=2))[:, :, None]
        flow = want.reshape(D, S, 1) * wn
        inflow = flow.sum(axis=1)  # (D, s)
        flow *= np.minimum(1.0, ratio(head.reshape(D, S), inflow))[:, None, :]
        flow = flow.reshape(D * S, S)
        moved = flow.sum(axis=1)  # per source step
        if moved.sum() <= 1e-9:
            if not use_price:
                break
            use_price = False  # overloaded steps may still have somewhere to go
            continue
        # price-driven moves converge geometrically: stop them once a round moves less
        # than price_tolerance of the first round (overload relief carries on)
        first_moved = moved.sum() if first_moved is None else first_moved
        if use_price and moved.sum() < p.price_tolerance * first_moved:
            use_price = False
        unit = cap * ratio(1.0, offer)[:, None]  # agents' shares of each source step
        part = unit * moved[src, None]  # energy each agent moves out this round
        k, s_idx = np.nonzero(flow[src])
        dst_padded = (src[k] // S) * S + s_idx
        dst, col = np.unique(dst_padded, return_inverse=True)
        B = sparse.csr_matrix((flow[src][k, s_idx], (k, col.ravel())), shape=(src.size, dst.size))
        added = np.asarray(B.T @ unit)  # (destinations, N)
        delta[rows] -= part
        delta[tpos[dst]] += added
        shifted[src] -= part.sum(axis=1)
        shifted[dst] += added.sum(axis=1)
    return delta


@njit(cache=True, nogil=True)
def _plan_level(load, floor, cheap, e0, e_min, e_max, p_c, p_d, eta_c, eta_d):
    """Lowest shaving level θ (kWh per step) the aggregate fleet can hold over a plan horizon.

    Policy simulated: above max(θ, floor_t) discharge the excess; below it charge up to it
    (from the grid only in ``cheap`` steps, else only from the community's surplus).
    Bisection on θ; feasibility is monotone in θ.
    """
    lo = 0.0
    hi = 0.0
    for t in range(load.shape[0]):
        hi = max(hi, load[t])
    if hi <= 0.0:
        return 0.0
    for _ in range(60):
        theta = 0.5 * (lo + hi)
        e = e0
        ok = True
        for t in range(load.shape[0]):
            level = max(theta, floor[t])
            x = load[t]
            if x > level:
                need = x - level
                e -= need / eta_d
                if need > p_d * (1.0 + 1e-12) or e < e_min - 1e-9:
                    ok = False
                    break
            else:
                c = level - x
                if not cheap[t]:
                    c = min(c, max(-x, 0.0))
                c = min(c, p_c, max(e_max - e, 0.0) / eta_c)
                e += c * eta_c
        if ok:
            hi = theta
        else:
            lo = theta
        if hi - lo <= 1e-9 * max(hi, 1.0):
            break
    return hi


@njit(cache=True, nogil=True)
def _storage_kernel(
    load,
    floor,
    cheap,
    day_start,
    lookahead_days,
    e0,
    e_min,
    e_max,
    power,
    eta_c,
    eta_d,
    charge,
    discharge,
    energy,
    level_out,
):
    """Day-by-day peak shaving of the fleet: plan θ over today + look-ahead, apply today."""
    M = e0.shape[0]
    D = day_start.shape[0] - 1
    e = e0.copy()
    cap_tot = 0.0
    ec = 0.0
    ed = 0.0
    for m in range(M):
        cap_tot += e_max[m] - e_min[m] + 1e-12
    for m in range(M):
        w = (e_max[m] - e_min[m] + 1e-12) / cap_tot
        ec += w * eta_c[m]
        ed += w * eta_d[m]
    room = np.empty(M)
    avail = np.empty(M)
    for d in range(D):
        a = day_start[d]
        b = day_start[min(d + 1 + lookahead_days, D)]
        e_sum = 0.0
        lo_sum = 0.0
        hi_sum = 0.0
        p_sum = 0.0
        for m in range(M):
            e_sum += e[m]
            lo_sum += e_min[m]
            hi_sum += e_max[m]
            p_sum += power[m]
        theta = _plan_level(load[a:b], floor[a:b], cheap[a:b], e_sum, lo_sum, hi_sum, p_sum, p_sum, ec, ed)
        for t in range(a, day_start[d + 1]):
            level = max(theta, floor[t])
            level_out[t] = level
            x = load[t]
            r_tot = 0.0
            a_tot = 0.0
            for m in range(M):
                room[m] = min(power[m], max(e_max[m] - e[m], 0.0) / eta_c[m])
                avail[m] = min(power[m], max(e[m] - e_min[m], 0.0) * eta_d[m])
                r_tot += room[m]
                a_tot += avail[m]
            if x > level and a_tot > 1e-12:
                f = min(1.0, (x - level) / a_tot)
                for m in range(M):
                    discharge[t, m] = avail[m] * f
            elif x < level and r_tot > 1e-12:
                gap = level - x
                if not cheap[t]:
                    gap = min(gap, max(-x, 0.0))
                f = min(1.0, gap / r_tot)
                for m in range(M):
                    charge[t, m] = room[m] * f
            for m in range(M):
                e[m] = min(max(e[m] + eta_c[m] * charge[t, m] - discharge[t, m] / eta_d[m], e_min[m]), e_max[m])
                energy[t, m] = e[m]


def _cheap_steps(price: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Steps whose price is at most the mean price of their (local) day (all steps under flat prices)."""
    mean = (np.bincount(day, weights=price) / np.bincount(day))[day]
    return price <= mean + 1e-12


def _dispatch_storage(
    community: Community, net_kwh: np.ndarray, ref: np.ndarray, p: PeakParams
) -> tuple[BatterySchedule, np.ndarray]:
    """Peak-shaving storage agents (see :func:`peak_agents`); returns the schedule and the level, kWh per step."""
    from peergrid.control import battery_fleet  # lazy: peergrid.control imports this module

    owners, fleet = battery_fleet(community)
    T = community.T
    if owners.size == 0:
        return BatterySchedule.empty(T), np.full(T, np.nan)
    dt = community.dt
    th = np.asarray(p.thresholds, dtype=np.float64)
    load = np.ascontiguousarray(net_kwh.sum(axis=1))
    floor = np.ascontiguousarray(th[1] * ref * dt)  # never discharge into the lightly loaded band
    day = _day_layout(community)[0]
    cheap = _cheap_steps(community.retail, day) if p.price_response else np.ones(T, dtype=bool)
    day_start = np.searchsorted(day, np.arange(int(day.max()) + 2)).astype(np.int64)
    m = owners.size
    charge = np.zeros((T, m))
    discharge = np.zeros((T, m))
    energy = np.zeros((T, m))
    level = np.zeros(T)
    f = np.ascontiguousarray
    _storage_kernel(
        load, floor, f(cheap), day_start, int(p.lookahead_days), f(fleet.e_init), f(fleet.e_min), f(fleet.e_max),
        f(fleet.power * dt), f(fleet.eff_charge), f(fleet.eff_discharge), charge, discharge, energy, level,
    )  # fmt: skip
    return BatterySchedule(owners, charge, discharge, energy, fleet.capacity), level


def peak_agents(
    community: Community,
    progress: Callable[[int], None] | None = None,
    *,
    params: PeakParams | None = None,
) -> PeakSchedule:
    """Peak-load agents (p-MAS, Lange): shift flexible load and dispatch storage to flatten the peak.

    Parameters
    ----------
    community : Community
    progress : callable, optional
        Called with the number of steps done (once, at the end).
    params : PeakParams, optional
        Thresholds, flexible share, window, reference (see :class:`PeakParams`).

    Returns
    -------
    PeakSchedule
        Battery operation ``(T, M)`` (kWh), ``load_delta`` ``(T, N)`` (kWh per step,
        summing to 0 per participant and day) and the p-MAS states before/after.
    """
    p = params or PeakParams()
    share = np.asarray(p.flexible_share, dtype=np.float64)
    if share.ndim not in (0, 1) or (share.ndim == 1 and share.shape != (community.N,)):
        raise ModelError(f"flexible_share must be a number or have one value per participant ({community.N})")
    ref = reference_load(community, p.reference)
    net = community.net
    states_before = classify_load(net.sum(axis=1) / community.dt, ref, p.thresholds)
    delta = _shift_load(community, net, ref, p)
    shifted = net + delta
    if p.storage:
        sched, level = _dispatch_storage(community, shifted, ref, p)
    else:
        sched, level = _idle(community), np.full(community.T, np.nan)
    after = sched.apply(shifted)
    states_after = classify_load(after.sum(axis=1) / community.dt, ref, p.thresholds)
    if progress is not None:
        progress(community.T)
    return PeakSchedule(
        sched.owners,
        sched.charge,
        sched.discharge,
        sched.energy,
        sched.capacity,
        delta,
        ref,
        states_before,
        states_after,
        level / community.dt,
    )


def _idle(community: Community) -> BatterySchedule:
    from peergrid.control import no_control

    return no_control(community)


@dataclass(frozen=True)
class PeakReport:
    """Peak figures of a controlled run against the no-control run (community import at the PCC).

    Attributes
    ----------
    peak_kw_none, peak_kw : float
        Peak community import, kW, without control and with the schedule.
    peak_reduction : float
        1 − peak_kw / peak_kw_none.
    par_none, par : float
        Peak-to-average ratio of community import.
    overloaded_steps_none, overloaded_steps : int
        Steps in the overloaded or severely overloaded state.
    shifted_kwh : float
        Flexible energy moved (Σ of positive ``load_delta``), kWh.
    max_daily_imbalance_kwh : float
        Largest |Σ load_delta| of a participant over a day (0 = energy-neutral), kWh.
    """

    peak_kw_none: float
    peak_kw: float
    peak_reduction: float
    par_none: float
    par: float
    overloaded_steps_none: int
    overloaded_steps: int
    shifted_kwh: float
    max_daily_imbalance_kwh: float

    def as_dict(self) -> dict[str, float]:
        """JSON-ready mapping."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def peak_report(
    community: Community,
    schedule: BatterySchedule,
    *,
    reference: str | float | np.ndarray = "daily-mean",
    thresholds: Sequence[float] = (0.5, 0.8, 1.2, 1.5),
) -> PeakReport:
    """Peak reduction and peak-to-average ratio of a schedule vs the no-control run.

    Parameters
    ----------
    community : Community
    schedule : BatterySchedule
        E.g. from :func:`peak_agents`.
    reference, thresholds
        For counting overloaded steps (see :class:`PeakParams`).

    Returns
    -------
    PeakReport
        Import is the community's net import max(Σ_i net_i, 0)/Δt (kW), the
        ``peak_import_kw`` of every pool market in :mod:`peergrid.simulate`.
    """
    dt = community.dt
    before = community.net.sum(axis=1) / dt
    after = schedule.apply(community.net).sum(axis=1) / dt
    imp0, imp1 = np.maximum(before, 0.0), np.maximum(after, 0.0)
    ref = reference_load(community, reference)
    s0 = classify_load(before, ref, thresholds)
    s1 = classify_load(after, ref, thresholds)
    peak0, peak1 = float(imp0.max()), float(imp1.max())
    shifted = 0.0
    imbalance = 0.0
    if schedule.load_delta is not None:
        delta = np.asarray(schedule.load_delta)
        shifted = float(np.maximum(delta, 0.0).sum())
        day, pos, D, S = _day_layout(community)
        imbalance = float(np.abs(_to_days(delta, day, pos, D, S).sum(axis=1)).max())
    return PeakReport(
        peak_kw_none=peak0,
        peak_kw=peak1,
        peak_reduction=float(1.0 - peak1 / peak0) if peak0 > 0 else float("nan"),
        par_none=M.peak_to_average(imp0),
        par=M.peak_to_average(imp1),
        overloaded_steps_none=int(np.sum(s0 >= LoadState.OVERLOADED)),
        overloaded_steps=int(np.sum(s1 >= LoadState.OVERLOADED)),
        shifted_kwh=shifted,
        max_daily_imbalance_kwh=imbalance,
    )
