"""Solving the battery LP over time: one optimum, windows chained by SOC, rolling re-plans, controllers.

:func:`optimal_dispatch` plans a whole horizon (HiGHS on :class:`~peergrid.control.lp.model.HorizonLP`,
or the exact DP of :mod:`peergrid.control.pricetaker` in ``"individual"`` mode), in windows beyond
:data:`AUTO_MAX_COLUMNS` columns; :func:`rolling_dispatch` re-plans every few steps and meets the
realised net energy with :func:`realise_step`; :func:`lp_schedule`, :func:`lp_individual` and
:func:`lp_community` are the controllers. The formulation is in :mod:`peergrid.control.lp`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from peergrid.assets.battery import BatteryFleet, step_limits
from peergrid.control._common import EndSoc, check_lp_mode, check_reachable, default_tie_break, end_energy
from peergrid.control.greedy import BatterySchedule
from peergrid.control.lp.model import HorizonLP, grid_cost, group_codes
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError

__all__ = [
    "AUTO_MAX_COLUMNS",
    "DISPATCH_RULES",
    "DispatchResult",
    "LPSchedule",
    "RollingStats",
    "lp_community",
    "lp_individual",
    "lp_schedule",
    "optimal_dispatch",
    "realise_step",
    "rolling_dispatch",
]

#: Horizons up to this many LP columns are solved as one LP when ``window="auto"``.
AUTO_MAX_COLUMNS = 150_000


# ---- rolling solves (windows, MPC) ----------------------------------------------------
@dataclass
class RollingStats:
    """Book-keeping of a rolling solve."""

    replans: int = 0
    build_seconds: float = 0.0
    solve_seconds: float = 0.0


def _group_sums(net: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """``(T, K)`` sums of ``(T, N)`` net energy by balance group (codes −1 are dropped)."""
    if k == 1 and np.all(codes == 0):
        return net.sum(axis=1, keepdims=True)
    keep = codes >= 0
    out = np.zeros((net.shape[0], k))
    order = np.argsort(codes[keep], kind="stable")
    cols = np.flatnonzero(keep)[order]
    c = codes[keep][order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    out[:, c[starts]] = np.add.reduceat(net[:, cols], starts, axis=1)
    return out


#: How a plan's first step meets the realised net energy (see :func:`rolling_dispatch`).
DISPATCH_RULES = ("marginal", "setpoint", "plan")


def realise_step(
    plan_c: np.ndarray,
    plan_d: np.ndarray,
    forecast: np.ndarray,
    realised: np.ndarray,
    energy: np.ndarray,
    fleet: BatteryFleet,
    groups: np.ndarray,
    k: int,
    dt: float,
    rule: str = "marginal",
    e_floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Realised charge/discharge of one step when the net energy differs from its forecast.

    Parameters
    ----------
    plan_c, plan_d : numpy.ndarray
        Planned bus-side charge and discharge of the M batteries, kWh.
    forecast, realised : numpy.ndarray
        Forecast and realised net energy before storage of the K balance groups, kWh.
    energy : numpy.ndarray
        Stored energy at the start of the step, kWh.
    fleet : BatteryFleet
    groups : numpy.ndarray
        Balance group of each battery.
    k : int
        Number of groups K.
    dt : float
        Step length, h.
    rule : {"marginal", "setpoint", "plan"}
        ``"plan"``: the planned energies (limited by power and the realised SOC); the
        grid takes the forecast error. ``"setpoint"``: the batteries hold the planned
        grid exchange of their group and absorb the whole error. ``"marginal"``: the
        grid takes the error as long as the meter stays on the planned side (import
        or export, i.e. the marginal price λb or λs the plan was made with does not
        change); the part that would flip the meter to the other side is absorbed by
        the batteries. A planned exchange of zero is held exactly.
    e_floor : numpy.ndarray, optional
        Lowest stored energy allowed after the step, kWh (keeps the run's end-SOC
        condition reachable whatever the forecast error); the batteries charge at
        least / discharge at most what it takes, and the grid takes the rest.

    Returns
    -------
    charge, discharge : numpy.ndarray
        kWh, within power and SOC limits; extra energy is shared between a group's
        batteries in proportion to their headroom.
    """
    max_c, max_d = step_limits(energy, fleet, dt)
    p = np.clip(plan_c - plan_d, -max_d, max_c)
    if rule == "plan":
        if e_floor is not None:
            p = np.maximum(p, _power_floor(energy, e_floor, fleet, max_c, max_d))
        return np.maximum(p, 0.0), np.maximum(-p, 0.0)
    planned_sum = np.bincount(groups, weights=p, minlength=k)
    exchange_plan = forecast + planned_sum  # planned meter reading
    exchange = realised + planned_sum  # meter reading if the batteries follow the plan
    if rule == "setpoint":
        need = exchange_plan - exchange
    else:
        tol = 1e-9
        flip = ((exchange_plan >= -tol) & (exchange < 0.0)) | ((exchange_plan <= tol) & (exchange > 0.0))
        need = np.where(flip, -exchange, 0.0)
    up = max_c - p
    down = p + max_d
    up_g = np.bincount(groups, weights=up, minlength=k)
    down_g = np.bincount(groups, weights=down, minlength=k)
    need = np.clip(need, -down_g, up_g)
    share = np.where(
        need > 0,
        np.divide(need, up_g, out=np.zeros(k), where=up_g > 0),
        np.divide(need, down_g, out=np.zeros(k), where=down_g > 0),
    )
    s = share[groups]
    p = p + np.where(s > 0, s * up, s * down)
    if e_floor is not None:
        p = np.maximum(p, _power_floor(energy, e_floor, fleet, max_c, max_d))
    return np.maximum(p, 0.0), np.maximum(-p, 0.0)


def _power_floor(
    energy: np.ndarray, e_floor: np.ndarray, fleet: BatteryFleet, max_c: np.ndarray, max_d: np.ndarray
) -> np.ndarray:
    """Lowest bus-side battery power (kWh per step, + charge) that keeps the content ≥ ``e_floor``."""
    gap = e_floor - energy
    return np.where(gap > 0, np.minimum(gap / fleet.eff_charge, max_c), -np.minimum(-gap * fleet.eff_discharge, max_d))


def rolling_dispatch(
    net: np.ndarray,
    owners: np.ndarray,
    fleet: BatteryFleet,
    retail: np.ndarray,
    feed_in: np.ndarray,
    dt: float,
    *,
    mode: str,
    horizon: int,
    every: int,
    forecast: Callable[[int, int], np.ndarray] | None = None,
    e_end: np.ndarray,
    dispatch: str = "marginal",
    tie_break: float = 0.0,
    options: dict[str, object] | None = None,
    warm_start: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, RollingStats]:
    """Receding-horizon dispatch: plan ``horizon`` steps, apply ``every``, repeat.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` realised net energy before storage, kWh.
    owners : numpy.ndarray
        Participant column of each battery (length M).
    fleet : BatteryFleet
    retail, feed_in : numpy.ndarray
        λb and λs per step (length T), currency/kWh; tariffs are known in advance.
    dt : float
        Step length, h.
    mode : {"community", "individual"}
    horizon : int
        Planning horizon H, steps.
    every : int
        Re-plan interval S, steps (1 ≤ S ≤ H); the first S planned steps are applied.
    forecast : callable, optional
        ``forecast(t, steps) -> (steps, N)`` net energy forecast for steps
        ``t … t+steps−1`` made at the start of step t; ``None`` = perfect foresight.
    e_end : numpy.ndarray
        Required stored energy after the last step of the run, kWh (length M). Every
        plan that ends before the run ends asks for the same reference content,
        clipped to what can be reached from the current state.
    dispatch : {"plan", "setpoint", "marginal"}
        How the first planned steps meet the realised net energy (see
        :func:`realise_step`); irrelevant with perfect foresight.
    tie_break : float
        Throughput cost ε, currency/kWh.
    options : dict, optional
        HiGHS options.
    warm_start : bool
        Re-solve every plan from the previous optimal basis (see :class:`HorizonLP`);
        ``False`` solves every plan from scratch.
    progress : callable, optional
        Called with the number of steps applied so far.

    Returns
    -------
    charge, discharge, energy : numpy.ndarray
        ``(T, M)`` realised bus-side charge, discharge (kWh/step) and stored energy (kWh).
    stats : RollingStats
    """
    T, N = net.shape
    M = owners.size
    codes, k = group_codes(N, owners, mode)
    groups = codes[owners]
    H = min(int(horizon), T)
    every = int(every)
    if not 1 <= every:
        raise ConfigError(f"re-plan interval must be >= 1 step, got {every}")
    every = min(every, H)
    if dispatch not in DISPATCH_RULES:
        raise ConfigError(f"dispatch must be one of {', '.join(DISPATCH_RULES)}, got {dispatch!r}")
    charge = np.zeros((T, M))
    discharge = np.zeros((T, M))
    energy = np.zeros((T, M))
    stats = RollingStats()
    model = HorizonLP(fleet, groups, k, dt, H, tie_break=tie_break, options=options)
    stats.build_seconds = model.build_seconds
    realised = _group_sums(net, codes, k)
    e = fleet.e_init.copy()
    rate = fleet.eff_charge * fleet.power * dt
    for t in range(0, T, every):
        steps = min(H, T - t)
        if forecast is None:
            res = realised[t : t + steps]
        else:
            fc = np.asarray(forecast(t, steps), dtype=np.float64)
            if fc.shape != (steps, N):
                raise DataError(f"forecast for step {t} has shape {fc.shape}, expected {(steps, N)}")
            if not np.all(np.isfinite(fc)):
                raise DataError(f"forecast for step {t} contains NaN or infinite values")
            res = _group_sums(fc, codes, k)
        # end condition of this plan: the reference content, as far as it can be reached
        # (a single LP over the run was checked up front; windows and forecast errors
        # can leave a plan short of it)
        target = np.minimum(e_end, e + rate * steps * (1.0 - 1e-9))
        model.set_data(res, retail[t : t + steps], feed_in[t : t + steps], e, target, steps)
        c, d, _, _ = model.solve()
        n = min(every, T - t)
        for j in range(n):  # apply the first n planned steps with the realised net energy
            cj, dj = c[j], d[j]
            rule = dispatch if forecast is not None else "plan"
            # content from which the run's end condition stays reachable after this step
            floor = e_end - rate * (T - t - j - 1) - 1e-9
            cj, dj = realise_step(cj, dj, res[j], realised[t + j], e, fleet, groups, k, dt, rule, floor)
            e = np.clip(e + fleet.eff_charge * cj - dj / fleet.eff_discharge, fleet.e_min, fleet.e_max)
            charge[t + j], discharge[t + j], energy[t + j] = cj, dj, e
        model.roll(every)
        if not warm_start:
            model.cold_start()
        stats.replans += 1
        if progress is not None:
            progress(t + n)
    stats.solve_seconds = model.solve_seconds
    return charge, discharge, energy, stats


# ---- array-level API -------------------------------------------------------------------
@dataclass(frozen=True)
class DispatchResult:
    """Optimal dispatch of M batteries (see :func:`optimal_dispatch`).

    Attributes
    ----------
    charge, discharge, energy : numpy.ndarray
        ``(T, M)`` bus-side charge/discharge (kWh per step) and stored energy at the
        end of each step (kWh).
    cost : float
        Exact grid bill of the schedule (mode's metering, without tie-break), currency.
    windows : int
        Number of LPs solved (1 = a single LP over the whole horizon).
    build_seconds, solve_seconds : float
        Model build and solver time, s.
    method : str
        ``"dp"`` (exact price-taker dynamic programme) or ``"highs"`` (the LP).
    """

    charge: np.ndarray
    discharge: np.ndarray
    energy: np.ndarray
    cost: float
    windows: int
    build_seconds: float
    solve_seconds: float
    method: str = "highs"


#: Solution methods of :func:`optimal_dispatch`.
METHODS = ("auto", "dp", "highs")


def _check_method(
    method: str, mode: str, retail: np.ndarray, feed_in: np.ndarray, options: dict[str, object] | None = None
) -> str:
    """Resolve ``method`` to ``"dp"`` or ``"highs"`` (see :func:`optimal_dispatch`)."""
    from peergrid.control.pricetaker import price_taker_applicable

    key = str(method).strip().lower()
    if key not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    exact = mode == "individual" and price_taker_applicable(retail, feed_in)
    if key == "auto":
        return "dp" if exact and not options else "highs"
    if key == "dp" and not exact:
        raise ConfigError(
            "method 'dp' is exact only in individual mode with 0 <= feed-in <= retail in every step; use 'highs'"
        )
    return key


def _resolve_window(window: int | str | None, T: int, M: int, K: int, steps_per_day: int) -> int | None:
    if window is None:
        return None
    if isinstance(window, str):
        if window.strip().lower() != "auto":
            raise ConfigError(f"window must be None, 'auto' or a number of steps, got {window!r}")
        return None if T * (3 * M + 2 * K) <= AUTO_MAX_COLUMNS else max(steps_per_day, 1)
    w = int(window)
    if w < 1:
        raise ConfigError(f"window must be >= 1 step, got {window}")
    return None if w >= T else w


def optimal_dispatch(
    net: np.ndarray,
    owners: np.ndarray,
    fleet: BatteryFleet,
    retail: np.ndarray | float,
    feed_in: np.ndarray | float,
    dt: float,
    *,
    mode: str = "individual",
    end_soc: EndSoc = "initial",
    window: int | str | None = "auto",
    lookahead: int | None = None,
    tie_break: float | None = None,
    options: dict[str, object] | None = None,
    ids: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    method: str = "auto",
) -> DispatchResult:
    """Cost-optimal battery dispatch against the grid (pure function on arrays).

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy before storage, kWh (+ import).
    owners : numpy.ndarray
        Participant column of each of the M batteries.
    fleet : BatteryFleet
        Battery parameters (length M).
    retail, feed_in : numpy.ndarray or float
        λb and λs per step, currency/kWh, λs ≤ λb.
    dt : float
        Step length, h.
    mode : {"individual", "community"}
        Every participant alone against the grid (default), or joint dispatch at the
        PCC (see module docs).
    end_soc : "initial", "free" or float
        End condition: stored energy after the last step ≥ the initial content
        (default), no condition (the SOC floor), or ≥ this SOC fraction.
    window : int, "auto" or None
        Solve in windows of this many steps chained by SOC; ``None`` = one LP;
        ``"auto"`` = one LP up to :data:`AUTO_MAX_COLUMNS` columns, else one-day windows.
    lookahead : int, optional
        Steps planned beyond each window (default: one day, at least one window).
    tie_break : float, optional
        Throughput cost ε per kWh (default 1e-6 × max λb); 0 disables it.
    options : dict, optional
        HiGHS options, e.g. ``{"solver": "ipm"}``.
    ids : numpy.ndarray, optional
        Battery names for error messages.
    progress : callable, optional
        Called with the number of steps done.
    method : {"auto", "dp", "highs"}
        ``"dp"``: the exact price-taker dynamic programme of
        :mod:`peergrid.control.pricetaker` (``"individual"`` mode with 0 ≤ λs ≤ λb
        only; same objective as the LP, about 100–1000× faster); ``"highs"``: the
        LP on HiGHS; ``"auto"`` (default): ``"dp"`` where it is exact, else HiGHS
        (community mode, negative feed-in prices) or when HiGHS ``options`` are given.

    Returns
    -------
    DispatchResult

    Raises
    ------
    DataError
        Shapes disagree, NaN in the data, λs > λb.
    ModelError
        Bad battery parameters or an unreachable end SOC.
    ConfigError
        Unknown method, or ``"dp"`` where it is not exact.
    """
    net = np.asarray(net, dtype=np.float64)
    if net.ndim != 2:
        raise DataError(f"net must be a (T, N) array, got shape {net.shape}")
    T, N = net.shape
    if T == 0:
        raise DataError("net has no time steps")
    if not np.all(np.isfinite(net)):
        raise DataError("net energy contains NaN or infinite values")
    owners = np.asarray(owners, dtype=np.int64)
    if owners.shape != (fleet.size,):
        raise DataError(f"{owners.size} battery owners given for {fleet.size} batteries")
    if owners.size and (owners.min() < 0 or owners.max() >= N or np.unique(owners).size != owners.size):
        raise DataError("battery owners must be distinct participant columns")
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64), (T,)).copy()
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64), (T,)).copy()
    if not (np.all(np.isfinite(lb)) and np.all(np.isfinite(ls))):
        raise DataError("tariffs contain NaN or infinite values")
    if np.any(ls > lb + 1e-12):
        raise DataError("feed-in tariff exceeds the retail tariff; the LP would buy to sell")
    if not (math.isfinite(dt) and dt > 0):
        raise DataError(f"step length must be > 0 h, got {dt}")
    mode = check_lp_mode(mode)
    method = _check_method(method, mode, lb, ls, options)
    e_end = end_energy(fleet, end_soc, ids)
    check_reachable(fleet, e_end, T, dt, ids)
    M = fleet.size
    if M == 0:
        z = np.zeros((T, 0))
        return DispatchResult(z, z.copy(), z.copy(), grid_cost(net, lb, ls, mode), 0, 0.0, 0.0, method)
    tie = default_tie_break(lb) if tie_break is None else float(tie_break)
    _, k = group_codes(N, owners, mode)
    steps_per_day = max(round(24.0 / dt), 1)
    w = _resolve_window(window, T, M, k, steps_per_day)
    if w is None:
        horizon, every = T, T
    else:
        la = steps_per_day if lookahead is None else int(lookahead)
        if la < 0:
            raise ConfigError(f"lookahead must be >= 0 steps, got {lookahead}")
        horizon, every = w + la, w
    if method == "dp":
        from peergrid.control.pricetaker import exact_price_taker

        t0 = time.perf_counter()
        everyone = owners.size == N and bool(np.all(owners == np.arange(N)))
        res = exact_price_taker(
            net if everyone else net[:, owners], fleet, lb, ls, dt, horizon=horizon, every=every, e_end=e_end,
            tie_break=tie,
        )  # fmt: skip
        charge, discharge, energy, windows = res.charge, res.discharge, res.energy, res.windows
        seconds = time.perf_counter() - t0
        if progress is not None:
            progress(T)
        cost = float(res.bill_after.sum())
        if not everyone:
            cost += grid_cost(net, lb, ls) - float(res.bill_before.sum())
        return DispatchResult(charge, discharge, energy, cost, windows, 0.0, seconds, "dp")
    charge, discharge, energy, stats = rolling_dispatch(
        net,
        owners,
        fleet,
        lb,
        ls,
        dt,
        mode=mode,
        horizon=horizon,
        every=every,
        e_end=e_end,
        tie_break=tie,
        options=options,
        progress=progress,
    )
    after = net.copy()
    after[:, owners] += charge - discharge
    return DispatchResult(
        charge,
        discharge,
        energy,
        grid_cost(after, lb, ls, mode),
        stats.replans,
        stats.build_seconds,
        stats.solve_seconds,
        "highs",
    )


# ---- controllers -----------------------------------------------------------------------
@dataclass(frozen=True)
class LPSchedule(BatterySchedule):
    """A :class:`BatterySchedule` from an LP, with its cost.

    Attributes
    ----------
    cost : float
        Exact grid bill of the schedule, currency: the PCC bill in ``"community"``
        mode, the sum of every participant's own grid bill in ``"individual"`` mode.
    mode : str
        ``"community"`` or ``"individual"``.
    windows : int
        LPs solved (1 = single LP over the horizon).
    build_seconds, solve_seconds : float
        Model build and solver time, s.
    method : str
        ``"dp"`` (exact price-taker dynamic programme) or ``"highs"``.
    """

    cost: float = float("nan")
    mode: str = "individual"
    windows: int = 1
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    method: str = "highs"


def lp_schedule(
    community: Community,
    progress: Callable[[int], None] | None = None,
    *,
    mode: str = "individual",
    end_soc: EndSoc = "initial",
    window: int | str | None = "auto",
    lookahead: int | None = None,
    tie_break: float | None = None,
    options: dict[str, object] | None = None,
    method: str = "auto",
) -> LPSchedule:
    """Cost-optimal battery schedule of a community (exact DP or HiGHS LP).

    Parameters
    ----------
    community : Community
    progress : callable, optional
        Called with the number of steps done (after each window).
    mode : {"individual", "community"}
        Every participant against the grid alone (default), or joint dispatch with
        internal sharing (bill at the PCC).
    end_soc, window, lookahead, tie_break, options, method
        See :func:`optimal_dispatch` (``method="auto"``: the exact price-taker DP in
        individual mode, HiGHS in community mode).

    Returns
    -------
    LPSchedule

    Examples
    --------
    >>> from peergrid.data import synthetic_community
    >>> com = synthetic_community(10, periods=48, freq="1h", seed=1)
    >>> s = lp_schedule(com, mode="community")
    >>> s.charge.shape == (48, s.owners.size)
    True
    """
    from peergrid.control import battery_fleet  # late import: peergrid.control imports this module

    owners, fleet = battery_fleet(community)
    mode = check_lp_mode(mode)
    if _check_method(method, mode, community.retail, community.feed_in, options) == "dp":
        # individual mode separates by member: dispatch the owners' columns only and add the
        # (schedule-independent) bills of the members without a battery, with no (T, N) temporaries
        from peergrid.control.pricetaker import owners_net_and_bills

        net, bill_all, bill_owners = owners_net_and_bills(
            community.load, community.generation, owners, community.retail, community.feed_in
        )
        columns, others, method, options = np.arange(owners.size), bill_all - bill_owners, "dp", None
    else:
        net, columns, others = community.net, owners, 0.0
    res = optimal_dispatch(
        net,
        columns,
        fleet,
        community.retail,
        community.feed_in,
        community.dt,
        mode=mode,
        end_soc=end_soc,
        window=window,
        lookahead=lookahead,
        tie_break=tie_break,
        options=options,
        ids=community.ids[owners],
        progress=progress,
        method=method,
    )
    return LPSchedule(
        owners,
        res.charge,
        res.discharge,
        res.energy,
        fleet.capacity,
        cost=res.cost + others,  # members without a battery keep their bill
        mode=mode,
        windows=res.windows,
        build_seconds=res.build_seconds,
        solve_seconds=res.solve_seconds,
        method=res.method,
    )


def lp_individual(community: Community, progress: Callable[[int], None] | None = None) -> LPSchedule:
    """Every participant's battery scheduled optimally against the grid alone.

    Controller ``"lp"``: see :func:`lp_schedule` with ``mode="individual"``,
    ``end_soc="initial"``, automatic windows. Solved by the exact price-taker DP
    (:mod:`peergrid.control.pricetaker`) when 0 ≤ λs ≤ λb, else by HiGHS. Price
    responsive: the schedule follows ``community.retail``/``community.feed_in``.
    """
    return lp_schedule(community, progress, mode="individual")


def lp_community(community: Community, progress: Callable[[int], None] | None = None) -> LPSchedule:
    """All batteries dispatched jointly for the lowest community bill at the PCC.

    Controller ``"lp-community"``: see :func:`lp_schedule` with ``mode="community"``,
    ``end_soc="initial"``, automatic windows.
    """
    return lp_schedule(community, progress, mode="community")
