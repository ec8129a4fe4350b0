"""Exact price-taker battery dispatch by dynamic programming (numba).

In ``"individual"`` mode the battery LP of :mod:`peergrid.control.lp` separates into
one small problem per battery: its owner's net energy :math:`r_t` (kWh, + import)
meets the grid at linear prices, import at :math:`\\lambda^b_t`, export at
:math:`\\lambda^s_t`. Written in the stored-energy change :math:`\\Delta_t = e_t - e_{t-1}`
(bus-side charge :math:`c = \\Delta/\\eta_c` when :math:`\\Delta \\ge 0`, discharge
:math:`d = -\\eta_d \\Delta` when :math:`\\Delta < 0`), the cost of a step is

.. math::

    g_t(\\Delta) = \\lambda^b_t\\, x^+ - \\lambda^s_t\\, x^- + \\varepsilon\\,(c + d),
    \\qquad x = r_t + c - d,

a convex piecewise-linear function of :math:`\\Delta \\in [-P\\Delta t/\\eta_d,\\ \\eta_c P \\Delta t]`
with at most three pieces (kinks at :math:`\\Delta = 0` and where :math:`x` changes sign) —
convex because :math:`0 \\le \\lambda^s_t \\le \\lambda^b_t` and :math:`\\eta_c \\eta_d \\le 1`.
The problem is :math:`\\min \\sum_t g_t(e_t - e_{t-1})` over a chain of energy bounds
:math:`e^{min} \\le e_t \\le e^{max}`, :math:`e_{T-1} \\ge e^{end}`.

The value function :math:`V_t(e) = \\min_{e'} g_t(e' - e) + V_{t+1}(e')` is convex
piecewise linear; it is stored as its sorted slope sequence (slope, length) on an
interval. One backward step is an infimal convolution — merging the three slopes of
:math:`g_t` (mirrored) into the sorted sequence, O(n) — followed by clipping the domain
to :math:`[e^{min}, e^{max}]`. For the forward pass only three numbers per step are kept:
for each piece j of :math:`g_t` with slope :math:`\\sigma_j`, the point
:math:`y_j = \\arg\\min_{e'} V_{t+1}(e') + \\sigma_j e'`. The optimal change from content
:math:`e` is then :math:`\\Delta^* = k_0 + \\sum_j \\mathrm{clip}(y_j - e - k_{j-1},\\ 0,\\ k_j - k_{j-1})`
with :math:`k_j` the kinks of :math:`g_t`. The result is an exact optimum of the LP
(same objective as HiGHS up to round-off; tied optima may differ in the schedule).

The throughput cost ε (the LP's tie-break) is part of :math:`g_t`, so the kernel
optimises the same objective as :func:`peergrid.control.lp.optimal_dispatch`. Windows
follow :func:`peergrid.control.lp.rolling_dispatch` with perfect foresight: plan
``horizon`` steps, keep the first ``every``, each plan ending with at least the
reference content clipped to what can be reached.

Exactness needs :math:`0 \\le \\lambda^s_t \\le \\lambda^b_t` in every step. With a negative
feed-in price the LP may burn energy through simultaneous charge and discharge (the
step cost is then not convex in Δ); :func:`peergrid.control.lp.optimal_dispatch` falls
back to HiGHS in that case.

References
----------
.. [1] O. O. Tooki, O. M. Popoola, J. D. Pam (2025), eqs. 4–5 (state of charge with efficiencies).
.. [2] D. P. Bertsekas, *Dynamic Programming and Optimal Control*, vol. 1, ch. 4
   (convex value functions of inventory problems; base-stock policies).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from peergrid.assets.battery import BatteryFleet
from peergrid.core.errors import ConfigError

__all__ = ["PriceTakerResult", "exact_price_taker", "owners_net_and_bills", "price_taker_applicable"]

try:  # numba is a core dependency; the pure-Python fallback only keeps imports working without it
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        def wrap(f):
            return f

        return wrap if not args or not callable(args[0]) else args[0]

    prange = range  # type: ignore[assignment]


@njit(cache=True, nogil=True)
def _pieces(r, lb, ls, cmax, dmax, eta_c, eta_d, eps, k, s):
    """Kinks ``k[0..n]`` and slopes ``s[0..n-1]`` of the step cost g(Δ), ascending; returns n (≤ 3)."""
    n = 0
    k[0] = -dmax
    sd_lo = eta_d * (ls - eps)  # discharging into export
    sd_hi = eta_d * (lb - eps)  # discharging into own import
    sc_lo = (ls + eps) / eta_c  # charging from own export
    sc_hi = (lb + eps) / eta_c  # charging from the grid
    # discharge side, Δ in [-dmax, 0]
    if dmax > 0.0:
        if r > 0.0:
            cross = -r / eta_d
            if cross > -dmax:
                s[n] = sd_lo
                k[n + 1] = cross
                n += 1
            s[n] = sd_hi
            k[n + 1] = 0.0
            n += 1
        else:
            s[n] = sd_lo
            k[n + 1] = 0.0
            n += 1
    else:
        k[0] = 0.0
    # charge side, Δ in [0, cmax]
    if cmax > 0.0:
        if r < 0.0:
            cross = -r * eta_c
            if cross < cmax:
                s[n] = sc_lo
                k[n + 1] = cross
                n += 1
                s[n] = sc_hi
            else:
                s[n] = sc_lo
            k[n + 1] = cmax
            n += 1
        else:
            s[n] = sc_hi
            k[n + 1] = cmax
            n += 1
    return n


@njit(cache=True, nogil=True)
def _battery(
    r, lb, ls, e0, e_end, emin, emax, cmax, dmax, eta_c, eta_d, eps, horizon, every, charge, discharge, energy
):
    """Windowed exact dispatch of one battery; writes its (T,) charge/discharge/energy columns.

    Returns the largest number of slope segments seen (a work measure).
    """
    T = r.shape[0]
    cap = 2 * (3 * horizon + 8)
    sl = np.empty(cap)
    ln = np.empty(cap)
    ys = np.empty((horizon, 3))
    kk = np.empty((horizon, 4))
    ns = np.empty(horizon, dtype=np.int64)
    k = np.empty(4)
    s = np.empty(3)
    pos = np.empty(3, dtype=np.int64)
    put = np.empty(3, dtype=np.bool_)
    e = e0
    widest = 0
    t = 0
    while t < T:
        steps = min(horizon, T - t)
        target = min(e_end, e + cmax * steps * (1.0 - 1e-9))
        target = min(max(target, emin), emax)
        # terminal value function: 0 on [target, emax]; segments sl/ln[off : off + n_seg]
        left = target
        n_seg = 0
        off = 0
        tot = 0.0
        if emax - target > 0.0:
            sl[0] = 0.0
            ln[0] = emax - target
            n_seg = 1
            tot = ln[0]
        for tau in range(steps - 1, -1, -1):
            j = t + tau
            n = _pieces(r[j], lb[j], ls[j], cmax, dmax, eta_c, eta_d, eps, k, s)
            ns[tau] = n
            for q in range(n + 1):
                kk[tau, q] = k[q]
            # y_q: argmin over the current domain of V(e') + s_q e' (left end of ties); the
            # thresholds -s_q fall with q, so one pass serves all pieces and also finds where the
            # mirrored slope -s_q of h(u) = g(-u) goes into the sorted sequence
            y = left
            i = off
            end = off + n_seg
            for q in range(n - 1, -1, -1):
                while i < end and sl[i] < -s[q]:
                    y += ln[i]
                    i += 1
                ys[tau, q] = y
                pos[q] = i
            # infimal convolution: insert the pieces (lengths k[q+1] - k[q]) into the sequence in
            # place, adding to a segment of equal slope where there is one
            ins = 0
            for q in range(n):
                length = k[q + 1] - k[q]
                put[q] = False
                if length <= 0.0:
                    continue
                tot += length
                if pos[q] < end and sl[pos[q]] == -s[q]:
                    ln[pos[q]] += length
                else:
                    put[q] = True
                    ins += 1
            if ins > 0:
                if end + ins > cap:  # compact to the front of the buffer
                    for i2 in range(n_seg):
                        sl[i2] = sl[off + i2]
                        ln[i2] = ln[off + i2]
                    for q in range(n):
                        pos[q] -= off
                    off = 0
                    end = n_seg
                w = end + ins - 1
                rd = end - 1
                for q in range(n):  # descending slopes: the last insertion first
                    if not put[q]:
                        continue
                    while rd >= pos[q]:
                        sl[w] = sl[rd]
                        ln[w] = ln[rd]
                        w -= 1
                        rd -= 1
                    sl[w] = -s[q]
                    ln[w] = k[q + 1] - k[q]
                    w -= 1
                n_seg += ins
            left = left - (k[n] if n > 0 else 0.0)  # the domain moves left by cmax (charging)
            # clip to [emin, emax]: drop length from the front and from the back
            if left < emin:
                cut = emin - left
                while n_seg > 0 and ln[off] <= cut:
                    cut -= ln[off]
                    tot -= ln[off]
                    off += 1
                    n_seg -= 1
                if n_seg > 0:
                    ln[off] -= cut
                    tot -= cut
                left = emin
            excess = left + tot - emax
            if excess > 0.0:
                while n_seg > 0 and ln[off + n_seg - 1] <= excess:
                    excess -= ln[off + n_seg - 1]
                    tot -= ln[off + n_seg - 1]
                    n_seg -= 1
                if n_seg > 0:
                    ln[off + n_seg - 1] -= excess
                    tot -= excess
            if n_seg == 0:
                tot = 0.0
            if n_seg > widest:
                widest = n_seg
        # forward pass over the kept steps
        keep = min(every, steps)
        for tau in range(keep):
            n = ns[tau]
            delta = kk[tau, 0]
            for q in range(n):
                lo = kk[tau, q]
                hi = kk[tau, q + 1]
                a = ys[tau, q] - e
                if a > hi:
                    a = hi
                if a > lo:
                    delta += a - lo
            e_new = e + delta
            if e_new < emin:
                e_new = emin
            elif e_new > emax:
                e_new = emax
            delta = e_new - e
            j = t + tau
            if delta > 0.0:
                charge[j] = delta / eta_c
                discharge[j] = 0.0
            else:
                charge[j] = 0.0
                discharge[j] = -delta * eta_d
            energy[j] = e_new
            e = e_new
        t += keep
    return widest


@njit(cache=True, parallel=True)
def _fleet(
    net, lb, ls, e0, e_end, emin, emax, cmax, dmax, eta_c, eta_d, eps, horizon, every, charge, discharge, energy,
    bills,
):  # fmt: skip
    """All batteries in parallel; ``bills[m] = (bill before, bill after)`` of battery m's owner."""
    M = net.shape[1]
    T = net.shape[0]
    widest = np.zeros(M, dtype=np.int64)
    for m in prange(M):
        r = np.ascontiguousarray(net[:, m])
        c = np.zeros(T)
        d = np.zeros(T)
        en = np.zeros(T)
        widest[m] = _battery(
            r, lb, ls, e0[m], e_end[m], emin[m], emax[m], cmax[m], dmax[m], eta_c[m], eta_d[m], eps, horizon,
            every, c, d, en,
        )  # fmt: skip
        before = 0.0
        after = 0.0
        for t in range(T):
            x = r[t]
            before += (lb[t] - ls[t]) * max(x, 0.0) + ls[t] * x
            x = x + c[t] - d[t]
            after += (lb[t] - ls[t]) * max(x, 0.0) + ls[t] * x
        bills[m, 0] = before
        bills[m, 1] = after
        charge[:, m] = c
        discharge[:, m] = d
        energy[:, m] = en
    return widest


@njit(cache=True, parallel=True)
def _gather_bill(load, generation, owners, lb, ls, own):
    """Owners' net ``own[:, m] = load[:, owners[m]] − generation[:, owners[m]]`` and the grid bills
    (every member alone) of all members and of the owners, before storage."""
    T, N = load.shape
    M = owners.shape[0]
    row_all = np.zeros(T)
    row_own = np.zeros(T)
    for t in prange(T):
        a = 0.0
        for i in range(N):
            x = load[t, i] - generation[t, i]
            a += (lb[t] - ls[t]) * max(x, 0.0) + ls[t] * x
        o = 0.0
        for m in range(M):
            x = load[t, owners[m]] - generation[t, owners[m]]
            own[t, m] = x
            o += (lb[t] - ls[t]) * max(x, 0.0) + ls[t] * x
        row_all[t] = a
        row_own[t] = o
    return row_all.sum(), row_own.sum()


def owners_net_and_bills(
    load: np.ndarray, generation: np.ndarray, owners: np.ndarray, retail: np.ndarray, feed_in: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Battery owners' net energy and the members' grid bills before storage, in one pass.

    Parameters
    ----------
    load, generation : numpy.ndarray
        ``(T, N)`` consumption and generation, kWh.
    owners : numpy.ndarray
        Participant column of each of the M batteries.
    retail, feed_in : numpy.ndarray
        λb and λs per step (length T), currency/kWh.

    Returns
    -------
    own : numpy.ndarray
        ``(T, M)`` owners' net energy before storage, kWh.
    bill_all, bill_owners : float
        Σ of every member's own grid bill λb·x⁺ − λs·x⁻, of all members and of the
        battery owners, currency.
    """
    T = load.shape[0]
    f = np.ascontiguousarray
    own = np.empty((T, owners.size))
    lb = f(np.broadcast_to(np.asarray(retail, dtype=np.float64), (T,)))
    ls = f(np.broadcast_to(np.asarray(feed_in, dtype=np.float64), (T,)))
    a, o = _gather_bill(
        f(load, dtype=np.float64), f(generation, dtype=np.float64), f(owners, dtype=np.int64), lb, ls, own
    )
    return own, float(a), float(o)


def price_taker_applicable(retail: np.ndarray, feed_in: np.ndarray) -> bool:
    """Whether :func:`exact_price_taker` is exact for these prices (0 ≤ λs ≤ λb in every step).

    Round-off of 1e-12 × max λb is tolerated; the kernel then clips λs into [0, λb].
    """
    retail = np.asarray(retail, dtype=np.float64)
    feed_in = np.asarray(feed_in, dtype=np.float64)
    tol = 1e-12 * max(float(np.max(np.abs(retail), initial=0.0)), 1.0)
    return bool(HAVE_NUMBA and np.all(feed_in >= -tol) and np.all(feed_in <= retail + tol))


class PriceTakerResult(NamedTuple):
    """Result of :func:`exact_price_taker` (``(T, M)`` arrays, kWh; bills per battery owner, currency)."""

    charge: np.ndarray
    discharge: np.ndarray
    energy: np.ndarray
    windows: int
    bill_before: np.ndarray
    bill_after: np.ndarray


def exact_price_taker(
    net: np.ndarray,
    fleet: BatteryFleet,
    retail: np.ndarray,
    feed_in: np.ndarray,
    dt: float,
    *,
    horizon: int,
    every: int,
    e_end: np.ndarray,
    tie_break: float = 0.0,
) -> PriceTakerResult:
    """Exact optimal dispatch of M batteries, each against its owner's net at grid prices.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, M)`` net energy of each battery's owner before storage, kWh (+ import).
    fleet : BatteryFleet
        The M batteries.
    retail, feed_in : numpy.ndarray
        λb and λs per step (length T), currency/kWh, with 0 ≤ λs ≤ λb.
    dt : float
        Step length, h.
    horizon : int
        Steps of every plan (``T`` for one plan over the run).
    every : int
        Steps kept from every plan before the next one starts (``horizon`` = no overlap).
    e_end : numpy.ndarray
        Stored energy required after the last step of the run, kWh (length M); every
        plan asks for it, clipped to what can be reached from its start.
    tie_break : float
        Throughput cost ε, currency per kWh charged or discharged.

    Returns
    -------
    PriceTakerResult
        ``charge``, ``discharge``, ``energy``: ``(T, M)`` bus-side charge and discharge
        (kWh per step) and stored energy at the end of each step (kWh); ``windows``:
        plans solved per battery; ``bill_before``, ``bill_after``: each owner's grid
        bill Σ λb·x⁺ − λs·x⁻ without and with its battery (length M, currency).

    Raises
    ------
    ConfigError
        Prices outside 0 ≤ λs ≤ λb (use HiGHS), bad horizon/interval.
    """
    net = np.asarray(net, dtype=np.float64)
    T, M = net.shape
    lb = np.ascontiguousarray(np.broadcast_to(np.asarray(retail, dtype=np.float64), (T,)))
    ls = np.ascontiguousarray(np.broadcast_to(np.asarray(feed_in, dtype=np.float64), (T,)))
    if not price_taker_applicable(lb, ls):
        raise ConfigError("the exact price-taker dispatch needs 0 <= feed-in <= retail in every step (use HiGHS)")
    ls = np.clip(ls, 0.0, lb)  # round-off only (checked above)
    horizon, every = int(horizon), int(every)
    if horizon < 1 or not 1 <= every:
        raise ConfigError(f"horizon and re-plan interval must be >= 1 step, got {horizon}, {every}")
    horizon = min(horizon, T)
    every = min(every, horizon)
    if not (math.isfinite(tie_break) and tie_break >= 0):
        raise ConfigError(f"tie_break must be a finite number >= 0, got {tie_break}")
    charge = np.zeros((T, M))
    discharge = np.zeros((T, M))
    energy = np.zeros((T, M))
    bills = np.zeros((M, 2))
    if M == 0 or T == 0:
        return PriceTakerResult(charge, discharge, energy, 0, bills[:, 0], bills[:, 1])
    pmax = fleet.power * dt
    f = np.ascontiguousarray
    _fleet(
        f(net),
        lb,
        ls,
        f(fleet.e_init),
        f(np.asarray(e_end, dtype=np.float64)),
        f(fleet.e_min),
        f(fleet.e_max),
        f(fleet.eff_charge * pmax),
        f(pmax / fleet.eff_discharge),
        f(fleet.eff_charge),
        f(fleet.eff_discharge),
        float(tie_break),
        horizon,
        every,
        charge,
        discharge,
        energy,
        bills,
    )
    return PriceTakerResult(charge, discharge, energy, -(-T // every), bills[:, 0], bills[:, 1])
