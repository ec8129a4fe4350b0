"""Price-responsive coordination: internal prices drive the controllers (Lange (2025), Algorithm 1).

Without coordination (``coordination="none"``) control runs once, blind to the market,
and every market settles the same schedule. With ``coordination="price-response"``
the coordinator closes the loop for each market separately:

0. **Price-blind plan.** The controller plans against the grid prices λb / λs (exactly
   the ``"none"`` run).
1. **Clear** the market on the planned net positions and read its **internal prices**
   per slot (:func:`peergrid.market.internal_prices`: buy = what one more kWh imported
   costs a member, sell = what one more kWh exported earns).
2. **Re-plan.** Every controller plans again on a *price view* of the community
   (:func:`peergrid.control.price_view`: the same data, ``retail``/``feed_in``
   replaced by the damped internal prices), whole horizon at once. Sliding-horizon
   controllers (``mpc``, ``mpc-community``) re-plan at each of their steps on this
   price forecast, i.e. on the previous iteration's prices.
3. Repeat 1–2 until the loop converges or ``max_iterations`` re-plans were made.

**Damping: method of successive averages (MSA) on prices.** The prices of re-plan k
(k ≥ 1) are the mean of the internal prices of the plans 0 … k−1,
``p_{k+1} = p_k + (P_k − p_k)/(k + 1)`` with ``p_1 = P_0``. Price-taking optimisers
respond in a bang-bang way (every battery charges in the cheapest slots, which then
turn into deficit slots with high prices); averaging the prices damps that oscillation
while every iterate stays a real schedule of the controller (averages of valid price
pairs are valid: 0 ≤ sell ≤ buy). When a plan stops moving (``max |net_k − net_{k−1}| ≤
energy_tolerance``) but its prices are still off, the average restarts at that plan's own
prices P_k: if the plan is a fixed point, the next re-plan reproduces it and converges.

**Convergence rule.** Iterate k (with its plan made on prices p_k, p_0 = λb / λs) has
converged when the market's internal prices of that plan equal the prices it was made
on, ``max |P_k − p_k| ≤ tolerance`` (currency/kWh, buy and sell, every slot), *and* the
plan stopped moving, ``max |net_k − net_{k−1}| ≤ energy_tolerance`` (kWh, every member
and step; not checked for k = 0, where re-planning on P_0 = p_0 would reproduce the
plan). Then the plan is a fixed point: nobody would change it on the prices it makes.

**Kept iterate.** The loop keeps the iterate with the lowest community cost — the
members' bills summed over the horizon under that market (the grid bill at the point of
common coupling plus operator fees), earliest on ties — so with perfect forecasts the
result is never worse than the price-blind plan (iterate 0). The run reports every
iterate's cost and price change in :class:`CoordinationInfo`. Under a CO2 objective
(``score``, :func:`peergrid.control.objective_view`) the kept iterate is the one with the
lowest objective instead: cost + CO2 price × emissions, or emissions.

Limits: controllers are price takers (nobody anticipates how its own schedule moves the
price); MSA need not reach a fixed point within ``max_iterations`` (bang-bang responses
can cycle), in which case ``converged`` is False and the best iterate is still kept;
each iteration costs one controller run and one clearing per market. Pool rules clear on
the community totals D and G only, so when plans change nothing but the batteries the loop
keeps only the battery owners' columns per iterate (:class:`_Positions`); order books and
controllers that shift load iterate on the whole ``(T, N)`` net.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peergrid.control import BatterySchedule, Controller, price_view
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError
from peergrid.market.internal import internal_prices
from peergrid.market.mechanisms import is_order_market
from peergrid.market.sharing import Clearing, demand_supply
from peergrid.simulate.engine import clear_market

__all__ = [
    "COORDINATION",
    "ENERGY_TOLERANCE",
    "CoordinationInfo",
    "Iterate",
    "check_coordination",
    "coordinate",
]

#: Coordination modes of :func:`peergrid.simulate` / :func:`peergrid.compare` and ``[simulation] coordination``.
COORDINATION: tuple[str, ...] = ("none", "price-response")

#: Default energy tolerance of the convergence rule: largest change of any member's net per step, kWh.
ENERGY_TOLERANCE = 1e-3


def check_coordination(coordination: str, max_iterations: int = 10, tolerance: float = 1e-4) -> str:
    """Validate the coordination options; returns the canonical mode name.

    Raises
    ------
    ConfigError
        Unknown mode, ``max_iterations`` not an integer ≥ 0, ``tolerance`` not finite ≥ 0.
    """
    key = str(coordination).strip().lower().replace("_", "-")
    if key not in COORDINATION:
        raise ConfigError(f"unknown coordination {coordination!r}; choose from {', '.join(COORDINATION)}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int | np.integer) or max_iterations < 0:
        raise ConfigError(f"max_iterations must be an integer >= 0, got {max_iterations!r}")
    tol = float(tolerance)
    if not (math.isfinite(tol) and tol >= 0):
        raise ConfigError(f"tolerance must be a finite number >= 0 (currency/kWh), got {tolerance!r}")
    return key


@dataclass(frozen=True)
class CoordinationInfo:
    """How the price-response loop of one market went.

    Attributes
    ----------
    market : str
        The market whose internal prices drove the controllers.
    iterations : int
        Price-responsive re-plans made (0: the price-blind plan was already a fixed point,
        or ``max_iterations = 0``).
    converged : bool
        Whether the convergence rule held (module docstring) before ``max_iterations``.
    kept : int
        The iterate whose schedule the result holds (0 = the price-blind plan).
    cost : tuple of float
        Community cost of iterate 0 … ``iterations`` under the market, currency.
    price_change : tuple of float
        ``max |P_k − p_k|`` per iterate: how far the internal prices of plan k are from the
        prices it was made on (iterate 0: from λb / λs), currency/kWh.
    net_change : tuple of float
        ``max |net_k − net_{k−1}|`` per iterate, kWh (NaN for iterate 0).
    tolerance : float
        Price tolerance, currency/kWh.
    energy_tolerance : float
        Energy tolerance, kWh.
    max_iterations : int
        Re-plans allowed.
    damping : str
        ``"msa"`` (method of successive averages on prices).
    """

    market: str
    iterations: int
    converged: bool
    kept: int
    cost: tuple[float, ...]
    price_change: tuple[float, ...]
    net_change: tuple[float, ...]
    tolerance: float
    energy_tolerance: float
    max_iterations: int
    damping: str = "msa"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (NaN → None); :meth:`from_dict` reads it back."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "method": "price-response",
            "market": self.market,
            "iterations": int(self.iterations),
            "converged": bool(self.converged),
            "kept": int(self.kept),
            "cost": [num(v) for v in self.cost],
            "price_change": [num(v) for v in self.price_change],
            "net_change": [num(v) for v in self.net_change],
            "tolerance": float(self.tolerance),
            "energy_tolerance": float(self.energy_tolerance),
            "max_iterations": int(self.max_iterations),
            "damping": self.damping,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoordinationInfo:
        """Inverse of :meth:`to_dict`."""

        def nums(key: str) -> tuple[float, ...]:
            return tuple(math.nan if v is None else float(v) for v in data.get(key, []))

        return cls(
            market=str(data["market"]),
            iterations=int(data["iterations"]),
            converged=bool(data["converged"]),
            kept=int(data["kept"]),
            cost=nums("cost"),
            price_change=nums("price_change"),
            net_change=nums("net_change"),
            tolerance=float(data["tolerance"]),
            energy_tolerance=float(data["energy_tolerance"]),
            max_iterations=int(data["max_iterations"]),
            damping=str(data.get("damping", "msa")),
        )


@dataclass
class Iterate:
    """The kept plan of a coordination run: schedule, net positions and their clearing."""

    schedule: BatterySchedule
    net: np.ndarray
    clearing: Clearing
    info: CoordinationInfo = field(repr=False)


class _Mismatch(Exception):
    """A plan does not fit the owner-column shortcut of :class:`_Positions`."""


class _Positions:
    """The part of the net positions that plans change.

    Order books need every member's position, ``(T, N)``. Pool rules clear on the community
    totals D and G only, so when plans change nothing but the batteries (no ``load_delta``),
    the members without a battery contribute fixed totals, computed once, and a plan is
    represented by its owners' columns, ``(T, M)``: no ``(T, N)`` array per iteration.
    """

    def __init__(self, base: np.ndarray, schedule: BatterySchedule, pool: bool) -> None:
        self.base = base
        self.fast = pool and schedule.load_delta is None
        if self.fast:
            self.owners = np.asarray(schedule.owners).copy()
            self.base_own = base[:, self.owners]
            # D, G of the members without a battery: all members' minus the owners' (no (T, N) copy)
            d_all, g_all = demand_supply(base)
            d_own, g_own = self._own(self.base_own)
            self.rest = (np.maximum(d_all - d_own, 0.0), np.maximum(g_all - g_own, 0.0))

    def of(self, schedule: BatterySchedule) -> np.ndarray:
        """A plan's positions: ``(T, N)``, or ``(T, M)`` owner columns under the shortcut, kWh."""
        if not self.fast:
            return schedule.apply(self.base)
        if schedule.load_delta is not None or not np.array_equal(schedule.owners, self.owners):
            raise _Mismatch
        return self.base_own + schedule.power

    def demand_supply(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Community buying and selling energy D, G per slot of positions :meth:`of` returned, kWh."""
        if not self.fast:
            return demand_supply(x)
        d, g = self._own(x)
        return self.rest[0] + d, self.rest[1] + g

    @staticmethod
    def _own(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return demand_supply(x) if x.shape[1] else (np.zeros(x.shape[0]), np.zeros(x.shape[0]))

    def full(self, schedule: BatterySchedule, x: np.ndarray) -> np.ndarray:
        """The ``(T, N)`` net positions of a plan, kWh."""
        return schedule.apply(self.base) if self.fast else x


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| over a (T, N) pair, in row blocks (no (T, N) temporary)."""
    out = 0.0
    step = max(1, (1 << 20) // max(a.shape[1], 1))
    for start in range(0, a.shape[0], step):
        blk = slice(start, start + step)
        d = np.abs(a[blk] - b[blk])
        if d.size:
            out = max(out, float(d.max()))
    return out


def _price_change(buy: np.ndarray, sell: np.ndarray, plan_buy: np.ndarray, plan_sell: np.ndarray) -> float:
    """max |P − p| over both price series, currency/kWh."""
    return max(float(np.max(np.abs(buy - plan_buy), initial=0.0)), float(np.max(np.abs(sell - plan_sell), initial=0.0)))


def coordinate(
    community: Community,
    controller: Controller,
    market: str,
    *,
    options: Mapping[str, Any] | None = None,
    max_iterations: int = 10,
    tolerance: float = 1e-4,
    energy_tolerance: float = ENERGY_TOLERANCE,
    initial: BatterySchedule | None = None,
    base_net: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    check: Callable[[BatterySchedule], None] | None = None,
    score: Callable[[Clearing], float] | None = None,
    _fast: bool = True,
) -> Iterate:
    """Run the price-response loop of one market (module docstring).

    Parameters
    ----------
    community : Community
        The community (its ``retail`` / ``feed_in`` are the grid prices the market clears with).
    controller : callable
        ``f(community, progress=None) -> BatterySchedule``; re-planned on price views.
    market : str
        Canonical market name (pool rule or order-book mechanism).
    options : mapping, optional
        Order-book options (``bidding``, ``k``, ``seed``, ``fee``), as checked by
        :func:`peergrid.market.check_order_options`; ignored by pool rules.
    max_iterations : int
        Price-responsive re-plans allowed after the price-blind plan.
    tolerance : float
        Price tolerance of the convergence rule, currency/kWh.
    energy_tolerance : float
        Energy tolerance of the convergence rule, kWh per member and step.
    initial : BatterySchedule, optional
        The price-blind plan, if already computed (shared between the markets of a comparison).
    base_net : numpy.ndarray, optional
        ``community.net`` (``(T, N)`` kWh), if already computed; not modified.
    progress : callable, optional
        Passed to the price-blind control run (when ``initial`` is not given).
    check : callable, optional
        Called with every new schedule (e.g. shape checks); raises to abort.
    score : callable, optional
        ``score(clearing) -> float``: what the kept iterate minimises (default: the community
        cost, Σ member bills); a CO2 objective passes cost + CO2 price × emissions.

    Returns
    -------
    Iterate
        The kept iterate (lowest community cost) and its :class:`CoordinationInfo`.
    """
    opts = dict(options or {})
    lb, ls = community.retail, community.feed_in
    base = community.net if base_net is None else base_net
    schedule = first = initial if initial is not None else controller(community, progress=progress)
    if check is not None and initial is None:
        check(schedule)
    pos = _Positions(base, schedule, pool=not is_order_market(market) and _fast)

    def clear(x: np.ndarray, plan: BatterySchedule) -> Clearing:
        return clear_market(community, market, x, opts, plan, pos.demand_supply(x) if pos.fast else None)

    try:
        x = pos.of(schedule)
        clearing = clear(x, schedule)
        buy, sell = internal_prices(clearing)
        plan_buy, plan_sell = lb, ls  # the prices plan 0 was made on
        costs = [float(clearing.member_bill.sum())]
        scores = [costs[0] if score is None else score(clearing)]
        dprice = [_price_change(buy, sell, plan_buy, plan_sell)]
        dnet = [math.nan]
        best = (scores[0], 0, schedule, x, clearing)
        converged = dprice[0] <= tolerance
        k = 0
        avg_buy, avg_sell = buy.copy(), sell.copy()  # p_1 = P_0
        terms = 1  # clearing prices in the running average
        while not converged and k < max_iterations:
            k += 1
            plan_buy, plan_sell = avg_buy.copy(), avg_sell.copy()
            new_schedule = controller(price_view(community, plan_buy, plan_sell))
            if check is not None:
                check(new_schedule)
            new_x = pos.of(new_schedule)
            dnet.append(_max_abs_diff(new_x, x))
            schedule, x = new_schedule, new_x
            clearing = clear(x, schedule)
            buy, sell = internal_prices(clearing)
            cost = float(clearing.member_bill.sum())
            costs.append(cost)
            scores.append(cost if score is None else score(clearing))
            dprice.append(_price_change(buy, sell, plan_buy, plan_sell))
            if scores[-1] < best[0]:
                best = (scores[-1], k, schedule, x, clearing)
            converged = dprice[-1] <= tolerance and dnet[-1] <= energy_tolerance
            if dnet[-1] <= energy_tolerance:
                # the plan stopped moving under damping: test it undamped (restart the average at P_k);
                # if it is a fixed point, the next plan reproduces it and its prices
                avg_buy, avg_sell, terms = buy.copy(), sell.copy(), 1
            else:
                # MSA: p_{k+1} = p_k + (P_k − p_k)/(n + 1), the mean of the n + 1 clearing prices so far
                terms += 1
                avg_buy += (buy - avg_buy) / terms
                avg_sell += (sell - avg_sell) / terms
    except _Mismatch:  # a plan changed the owners or added flexible load: redo on whole (T, N) positions
        return coordinate(
            community, controller, market, options=options, max_iterations=max_iterations, tolerance=tolerance,
            energy_tolerance=energy_tolerance, initial=first, base_net=base, check=check, score=score,
            _fast=False,
        )  # fmt: skip
    kept_schedule, kept_x, kept_clearing = best[2], best[3], best[4]
    net = pos.full(kept_schedule, kept_x)
    if pos.fast:  # clear the kept plan on its whole positions, exactly as a price-blind run would
        kept_clearing = clear_market(community, market, net, opts, kept_schedule)
    info = CoordinationInfo(
        market=market,
        iterations=k,
        converged=bool(converged),
        kept=best[1],
        cost=tuple(costs),
        price_change=tuple(dprice),
        net_change=tuple(dnet),
        tolerance=float(tolerance),
        energy_tolerance=float(energy_tolerance),
        max_iterations=int(max_iterations),
    )
    return Iterate(kept_schedule, net, kept_clearing, info)
