"""Bidding agents for the order-book markets: reservation prices, ZI-C and ZIP (pure functions on arrays).

A member's order in slot t is a bid (deficit) or an ask (surplus) for its planned net
position; the agents decide only the **limit price**. Every strategy prices inside the
member's *reservation bound*, so no agent ever sends a loss-making order:

* a buyer's reservation price r_b (the most a kWh from a peer is worth to it) is at most
  λb_t, the grid alternative; a seller's r_s (the least it accepts) is at least λs_t;
* a buyer bids in [λs_t, r_b], a seller asks in [r_s, λb_t].

**Reservation prices** (:func:`reservation_prices`). Without storage r_b = λb_t and
r_s = λs_t. A member with a battery at state of charge s ∈ [0, 1] (planned, at the
start of the slot) values a stored kWh at v_t = η · min(λb over the next H slots) —
what the kWh saves when it replaces the cheapest import of the coming horizon, after
round-trip losses η — clipped to [λs_t, λb_t] (:func:`storage_value`). Then

    r_b = λb_t − s · (λb_t − v_t)       a full battery lets a buyer wait for cheaper energy;
    r_s = λs_t + (1 − s) · (v_t − λs_t)  an empty battery would rather store the surplus.

An empty battery (s = 0) buys at λb like a member without one; a full one (s = 1) sells
at λs like a member without one. Since r_s ≤ v_t ≤ r_b in every slot, truthful bids at
the reservation prices still all cross.

**Strategies.**

* ``"truthful"`` — every order at its reservation price.
* ``"zic"`` — zero-intelligence-constrained traders (Gode & Sunder 1993): a buyer's
  limit is uniform in [λs_t, r_b], a seller's uniform in [r_s, λb_t] (seeded).
* ``"zip"`` — Zero-Intelligence-Plus traders (Cliff 1997). Each member keeps a profit
  margin μ ∈ [0, 1] per side (bid and ask), initialised uniform in [0.05, 0.35]
  (seeded). Its price is the reservation price moved by μ across its feasible band:
  buyer p = r_b − μ_b (r_b − λs_t), seller p = r_s + μ_s (λb_t − r_s). (Cliff writes
  p = λ (1 ± μ); the band form is the same rule in units that also work when λs = 0.)
  After every slot with a trade at price q (the slot's trade price: the mean of the
  volume-weighted prices buyers paid and sellers received, which differ under pay-as-bid,
  McAfee's reduction branch and bilateral fees; both sides learn from the same q):

  - a buyer with p ≥ q and a seller with p ≤ q *raise* their margin (target just on
    their trading side of q: buyers above it, sellers below it — rule ``"call"``, the
    default; Cliff's CDA rule ``"cliff"`` aims past q, see :class:`ZIPParams`);
  - a buyer with p < q and a seller with p > q *lower* their margin (target just on the
    other side of q: buyers above it, sellers below it);
  - in a slot where both sides quoted but nothing traded, buyers lower their margin
    toward the best ask and sellers toward the best bid.

  The target is τ = R·q + A with R ∈ U[1, 1 + c_R] and A ∈ U[0, c_A]·(λb − λs) when the
  target lies above q, R ∈ U[1 − c_R, 1] and A ∈ U[−c_A, 0]·(λb − λs) below it
  (Cliff: c_R = c_A = 0.05; A scales with the slot's price band here). The price moves
  by the Widrow–Hoff rule with momentum (:func:`zip_step`):

      Δ = β (τ − p),   Γ ← γ Γ + (1 − γ) Δ,   p ← p + Γ,

  and the margin is read back from the new price (clipped to [0, 1]). Only the members
  that quoted on a side in a slot update that side's margin.

**Rounds.** Agents learn across *rounds*: a round is ``round_slots`` consecutive slots
(default one day) whose orders are priced with the margins known at the round's start
and cleared in one call of the mechanism (day-ahead submission); then the margins are
updated slot by slot in time order from that round's outcomes (a loop over slots with
numpy over the members). ``round_slots=1`` is strictly sequential ZIP in a call market;
it costs one mechanism call per slot.

References
----------
.. [GodeSunder1993] D. K. Gode, S. Sunder, "Allocative efficiency of markets with
   zero-intelligence traders", Journal of Political Economy 101(1), 119–137, 1993.
.. [Cliff1997] D. Cliff, "Minimal-intelligence agents for bargaining behaviors in
   market-based environments", HP Laboratories Technical Report HPL-97-91, 1997.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, cast, overload

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import AnyArray, ArrayLike, BoolArray, FloatArray, IndexArray, IntArray
from peergrid.market.orders import MarketResult, OrderBook, Trades

#: Agent strategies of :func:`agent_prices` / :func:`learn`.
STRATEGIES: tuple[str, ...] = ("truthful", "zic", "zip")

#: Round-trip efficiency η of :func:`storage_value` (default).
EFFICIENCY = 0.9

#: ZIP update rules: where a margin-raising target lies (see :class:`ZIPParams`).
ZIP_RULES: tuple[str, ...] = ("call", "cliff")



class BatteryPlan(Protocol):
    """A planned battery schedule (e.g. :class:`~peergrid.control.BatterySchedule`)."""

    @property
    def owners(self) -> ArrayLike:
        """``(M,)`` member column of each battery."""

    @property
    def energy(self) -> ArrayLike:
        """``(T, M)`` stored energy, kWh."""

    @property
    def capacity(self) -> ArrayLike:
        """``(M,)`` usable capacity, kWh."""


@dataclass(frozen=True)
class ZIPParams:
    """Parameters of the ZIP traders (Cliff 1997).

    Attributes
    ----------
    learning_rate : float
        β ∈ (0, 1]: share of the gap to the target price closed per update.
    momentum : float
        γ ∈ [0, 1): weight of the previous price change.
    margin_low, margin_high : float
        Initial margins are uniform in [margin_low, margin_high] ⊂ [0, 1].
    c_r, c_a : float
        Target perturbations: R within 1 ± c_r, A within ±c_a·(λb − λs).
    rule : {"call", "cliff"}
        Where the target of a trader that *raises* its margin lies. ``"cliff"`` (Cliff
        1997, made for the continuous double auction where each trade is at a shout's
        price): past q on the trader's profitable side (a buyer aims below q, a seller
        above). ``"call"`` (default; for the batch call markets here, where one clearing
        per slot meets all orders): just on the trading side of q (a buyer aims above q,
        a seller below), so a trader that traded shaves its margin toward q without
        dropping out; lowering a margin is the same in both. In a call market Cliff's
        directions make the traders that traded drop out in the next slot and those that
        did not come back, an oscillation that halves the efficiency
        (tests/market/test_bidding_agents_zip.py measures it).
    """

    learning_rate: float = 0.3
    momentum: float = 0.05
    margin_low: float = 0.05
    margin_high: float = 0.35
    c_r: float = 0.05
    c_a: float = 0.05
    rule: str = "call"

    def __post_init__(self) -> None:
        if self.rule not in ZIP_RULES:
            raise ConfigError(f"unknown ZIP rule {self.rule!r}; choose from {', '.join(ZIP_RULES)}")
        if not (np.isfinite(self.learning_rate) and 0.0 < self.learning_rate <= 1.0):
            raise ConfigError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if not (np.isfinite(self.momentum) and 0.0 <= self.momentum < 1.0):
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0.0 <= self.margin_low <= self.margin_high <= 1.0:
            lo, hi = self.margin_low, self.margin_high
            raise ConfigError(f"initial margins must satisfy 0 <= low <= high <= 1, got {lo}, {hi}")
        if not (0.0 <= self.c_r < 1.0 and 0.0 <= self.c_a):
            raise ConfigError(f"c_r must be in [0, 1) and c_a >= 0, got {self.c_r}, {self.c_a}")


def storage_value(retail: ArrayLike, horizon: int = 96, efficiency: float = EFFICIENCY) -> FloatArray:
    """Value of one stored kWh per slot: η · the cheapest retail price of the next ``horizon`` slots.

    Parameters
    ----------
    retail : array-like
        λb per slot, ``(T,)`` currency/kWh.
    horizon : int
        Look-ahead H in slots (≥ 1), e.g. one day. The last slot looks at itself.
    efficiency : float
        Round-trip efficiency η ∈ (0, 1].

    Returns
    -------
    numpy.ndarray
        ``(T,)`` v_t = η · min(λb_{t+1}, …, λb_{t+H}), currency/kWh (not yet clipped to
        [λs_t, λb_t]; :func:`reservation_prices` does that).

    Examples
    --------
    >>> storage_value([0.40, 0.40, 0.20, 0.30], horizon=2, efficiency=1.0).tolist()
    [0.2, 0.2, 0.3, 0.3]
    """
    lb = np.asarray(retail, dtype=np.float64).ravel()
    if int(horizon) < 1:
        raise ConfigError(f"horizon must be >= 1 slot, got {horizon}")
    if not 0.0 < efficiency <= 1.0:
        raise ConfigError(f"efficiency must be in (0, 1], got {efficiency}")
    T = lb.size
    if T == 0:
        return lb.copy()
    H = int(horizon)
    padded = np.concatenate([lb[1:], np.full(H, np.inf)])  # slot t looks at t+1 … t+H
    win = np.lib.stride_tricks.sliding_window_view(padded, H)[:T].min(axis=1)
    win = np.where(np.isfinite(win), win, lb)  # the last slot: itself
    return efficiency * win


def reservation_prices(
    retail: ArrayLike, feed_in: ArrayLike, value: ArrayLike | None = None, soc: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Reservation prices of buyers and sellers from the tariff and the battery state.

    Parameters
    ----------
    retail, feed_in : array-like
        λb and λs, currency/kWh, broadcastable together (e.g. ``(T, 1)`` or per order).
    value : array-like, optional
        Value of a stored kWh v (:func:`storage_value`), same broadcasting; clipped to
        [λs, λb]. Ignored where ``soc`` is NaN.
    soc : array-like, optional
        State of charge s ∈ [0, 1] of the member's storage; NaN (or ``None``) = no storage.

    Returns
    -------
    buy, sell : numpy.ndarray
        r_b = λb − s (λb − v) and r_s = λs + (1 − s)(v − λs) with storage; λb and λs
        without. λs ≤ r_s ≤ v ≤ r_b ≤ λb.

    Examples
    --------
    >>> b, s = reservation_prices(0.30, 0.10, value=0.20, soc=[np.nan, 0.0, 0.5, 1.0])
    >>> b.round(3).tolist(), s.round(3).tolist()
    ([0.3, 0.3, 0.25, 0.2], [0.1, 0.2, 0.15, 0.1])
    """
    lb = np.asarray(retail, dtype=np.float64)
    ls = np.asarray(feed_in, dtype=np.float64)
    if soc is None or value is None:
        lb, ls = np.broadcast_arrays(lb, ls)
        return lb.astype(np.float64, copy=True), ls.astype(np.float64, copy=True)
    s = np.asarray(soc, dtype=np.float64)
    lb, ls, v, s = np.broadcast_arrays(lb, ls, np.asarray(value, dtype=np.float64), s)
    has = ~np.isnan(s)
    s = np.clip(np.where(has, s, 0.0), 0.0, 1.0)
    v = np.clip(v, ls, lb)
    buy = np.where(has, lb - s * (lb - v), lb)
    sell = np.where(has, ls + (1.0 - s) * (v - ls), ls)
    return buy, sell


def order_soc(book: OrderBook, owners: ArrayLike, energy: ArrayLike, capacity: ArrayLike) -> FloatArray:
    """Planned state of charge of each order's member at the start of its slot (NaN: no storage).

    Parameters
    ----------
    book : OrderBook
        Orders with ``slot`` = time step t and ``participant`` = member column.
    owners : array-like
        ``(M,)`` member column of each battery (a member may own several).
    energy : array-like
        ``(T, M)`` stored energy at the end of each step, kWh (the start of slot t is the
        end of t − 1; slot 0 uses its own end).
    capacity : array-like
        ``(M,)`` capacities, kWh.

    Returns
    -------
    numpy.ndarray
        One s ∈ [0, 1] per order: Σ stored / Σ capacity of the member's batteries.
    """
    owners = np.asarray(owners, dtype=np.int64).ravel()
    cap = np.asarray(capacity, dtype=np.float64).ravel()
    out = np.full(len(book), np.nan)
    if owners.size == 0 or len(book) == 0:
        return out
    E = np.asarray(energy, dtype=np.float64)
    uniq, inv = np.unique(owners, return_inverse=True)
    cap_u = np.bincount(inv, weights=cap, minlength=uniq.size)
    col = np.full(max(int(book.participant.max()), int(uniq.max())) + 1, -1, dtype=np.int64)
    col[uniq] = np.arange(uniq.size)
    c = col[book.participant]
    has = (c >= 0) & (cap_u[np.maximum(c, 0)] > 0)
    if not has.any():
        return out
    t = np.maximum(book.slot[has] - 1, 0)
    k = c[has]
    if uniq.size == owners.size:  # one battery per member: no aggregation
        order = np.argsort(inv)
        stored = E[t, order[k]]
    else:
        order = np.argsort(inv, kind="stable")
        starts = np.searchsorted(inv[order], np.arange(uniq.size))
        stored = np.add.reduceat(E[:, order], starts, axis=1)[t, k]
    out[has] = np.clip(stored / cap_u[k], 0.0, 1.0)
    return out


def order_reservations(
    book: OrderBook, retail: ArrayLike, feed_in: ArrayLike, batteries: BatteryPlan | None = None, horizon: int = 96
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Reservation price and price band of every order of a net-position book.

    Parameters
    ----------
    book : OrderBook
        Orders with ``slot`` = time step t and ``participant`` = member column
        (:func:`peergrid.market.orders_from_net`).
    retail, feed_in : array-like
        λb and λs per time step, ``(T,)`` currency/kWh, or one value.
    batteries : object, optional
        Planned battery schedule with ``owners`` (M,), ``energy`` (T, M) kWh and
        ``capacity`` (M,) kWh (a :class:`~peergrid.control.BatterySchedule`); ``None`` or
        no batteries: the tariff alone.
    horizon : int
        Look-ahead of :func:`storage_value`, slots.

    Returns
    -------
    limit, lo, hi : numpy.ndarray
        Per order: r_b (bids) or r_s (asks) of :func:`reservation_prices`, λs and λb of its slot.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from peergrid.market import orders_from_net
    >>> book = orders_from_net([[1.0, -1.0], [1.0, -1.0]], 0.30, 0.10)   # member 0 buys, 1 sells
    >>> full = SimpleNamespace(owners=[0, 1], energy=[[10.0, 0.0], [10.0, 0.0]], capacity=[10.0, 10.0])
    >>> limit, lo, hi = order_reservations(book, [0.30, 0.30], [0.10, 0.10], full, horizon=1)
    >>> sorted(zip(book.slot.tolist(), book.participant.tolist(), limit.round(3).tolist()))
    [(0, 0, 0.27), (0, 1, 0.27), (1, 0, 0.27), (1, 1, 0.27)]
    """
    T = int(book.slot.max()) + 1 if len(book) else 0
    lb = np.asarray(retail, dtype=np.float64).ravel()
    ls = np.asarray(feed_in, dtype=np.float64).ravel()
    lb, ls = (np.full(T, v[0]) if v.size == 1 else v for v in (lb, ls))
    step = book.slot
    lo, hi = ls[step], lb[step]
    buy = book.side > 0
    limit = np.where(buy, hi, lo)  # no storage: the tariff
    if batteries is not None and np.size(batteries.owners):
        soc = order_soc(book, batteries.owners, batteries.energy, batteries.capacity)
        k = np.flatnonzero(~np.isnan(soc))  # only the orders of storage owners
        value = storage_value(lb, horizon)[step[k]]
        r_buy, r_sell = reservation_prices(hi[k], lo[k], value, soc[k])
        limit[k] = np.where(buy[k], r_buy, r_sell)
    return limit, lo, hi


def _check_bounds(book: OrderBook, limit: FloatArray, lo: FloatArray, hi: FloatArray) -> None:
    if not (limit.shape == lo.shape == hi.shape == (len(book),)):
        raise DataError("limit, lo and hi must hold one value per order")
    if np.any(lo > limit + 1e-12) or np.any(limit > hi + 1e-12):
        raise DataError("reservation prices must lie within [lo, hi] (λs ≤ r ≤ λb)")


def band_price(buy: BoolArray, margin: FloatArray, limit: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Price of a margin: buyer r − μ (r − lo), seller r + μ (hi − r), currency/kWh."""
    return np.where(buy, limit - margin * (limit - lo), limit + margin * (hi - limit))


def band_margin(
    buy: BoolArray, price: FloatArray, limit: FloatArray, lo: FloatArray, hi: FloatArray, old: FloatArray
) -> FloatArray:
    """Inverse of :func:`band_price`, clipped to [0, 1]; ``old`` where the band is empty."""
    width = np.where(buy, limit - lo, hi - limit)
    gap = np.where(buy, limit - price, price - limit)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(width > 0, gap / np.where(width > 0, width, 1.0), old)
    return np.clip(m, 0.0, 1.0)


def zic_prices(
    book: OrderBook, limit: ArrayLike, lo: ArrayLike, hi: ArrayLike, seed: int | np.random.Generator | None = 0
) -> FloatArray:
    """Zero-intelligence-constrained limit prices (Gode & Sunder 1993).

    Parameters
    ----------
    book : OrderBook
    limit : array-like
        Reservation price per order, currency/kWh.
    lo, hi : array-like
        Price band per order (λs and λb of its slot), lo ≤ limit ≤ hi.
    seed : int, Generator or None

    Returns
    -------
    numpy.ndarray
        A buyer's price uniform in [lo, limit], a seller's uniform in [limit, hi].
    """
    n = len(book)
    r, a, b = (np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in (limit, lo, hi))
    _check_bounds(book, r, a, b)
    u = np.random.default_rng(seed).random(n)
    buy = book.side > 0
    return np.where(buy, a + u * (r - a), r + u * (b - r))


def zip_step(
    price: ArrayLike, target: ArrayLike, change: ArrayLike, learning_rate: float, momentum: float
) -> tuple[FloatArray, FloatArray]:
    """One Widrow–Hoff update with momentum of ZIP prices (Cliff 1997).

    Parameters
    ----------
    price : array-like
        Current prices p, currency/kWh.
    target : array-like
        Target prices τ.
    change : array-like
        Previous momentum-smoothed change Γ.
    learning_rate, momentum : float
        β and γ.

    Returns
    -------
    new_price, new_change : numpy.ndarray
        p + Γ' and Γ' = γ Γ + (1 − γ) β (τ − p).

    Examples
    --------
    >>> p, g = zip_step(0.20, 0.25, 0.0, learning_rate=0.5, momentum=0.0)
    >>> round(float(p), 6), round(float(g), 6)
    (0.225, 0.025)
    """
    p = np.asarray(price, dtype=np.float64)
    g = momentum * np.asarray(change, dtype=np.float64) + (1.0 - momentum) * learning_rate * (
        np.asarray(target, dtype=np.float64) - p
    )
    return p + g, g


def zip_target(
    q: ArrayLike, up: ArrayLike, u_r: ArrayLike, u_a: ArrayLike, band: ArrayLike, c_r: float = 0.05, c_a: float = 0.05
) -> FloatArray:
    """ZIP target price τ = R·q + A just above (``up``) or just below q.

    ``u_r`` and ``u_a`` are uniform draws in [0, 1): R = 1 ± c_r·u_r, A = ±c_a·u_a·band.
    """
    up = np.asarray(up, dtype=bool)
    sign = np.where(up, 1.0, -1.0)
    out: FloatArray = (1.0 + sign * c_r * np.asarray(u_r)) * np.asarray(q)
    out = out + sign * c_a * np.asarray(u_a) * np.asarray(band)
    return out


def _concat_results(book: OrderBook, parts: list[tuple[int, MarketResult]]) -> MarketResult:
    """One MarketResult from per-round results of consecutive sub-books of ``book``."""
    if not parts:
        raise DataError("no rounds to combine")
    trades = []
    for start, r in parts:
        t = r.trades
        trades.append(Trades(t.buy + start, t.sell + start, t.buyer, t.seller, t.quantity, t.price_buy,
                             t.price_sell, t.slot))  # fmt: skip
    first = parts[0][1]

    def cat(name: str) -> FloatArray | None:
        vals = [getattr(r, name) for _, r in parts]
        return None if any(v is None for v in vals) else np.concatenate(vals)

    return MarketResult(
        first.mechanism, book, Trades.concat(trades), np.concatenate([r.slots for _, r in parts]),
        np.concatenate([r.clearing_price for _, r in parts]), cat("retail"), cat("feed_in"), cat("curtailed"),
    )  # fmt: skip


def _slot_prices(r: MarketResult, n: int, first_slot: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per slot of a round (index slot − first_slot): traded kWh, mean price paid, mean price received."""
    t = r.trades
    k = t.slot - first_slot
    q = cast(FloatArray, np.bincount(k, weights=t.quantity, minlength=n))  # weighted: float64
    paid = np.bincount(k, weights=t.quantity * t.price_buy, minlength=n)
    got = np.bincount(k, weights=t.quantity * t.price_sell, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return q, paid / np.where(q > 0, q, 1.0), got / np.where(q > 0, q, 1.0)


@overload
def learn(
    book: OrderBook,
    limit: ArrayLike,
    lo: ArrayLike,
    hi: ArrayLike,
    clear: Callable[[OrderBook], MarketResult],
    strategy: str = "zip",
    *,
    round_slots: int = 96,
    params: ZIPParams | None = None,
    seed: int | np.random.Generator | None = 0,
    history: Literal[False] = False,
) -> MarketResult: ...


@overload
def learn(
    book: OrderBook,
    limit: ArrayLike,
    lo: ArrayLike,
    hi: ArrayLike,
    clear: Callable[[OrderBook], MarketResult],
    strategy: str = "zip",
    *,
    round_slots: int = 96,
    params: ZIPParams | None = None,
    seed: int | np.random.Generator | None = 0,
    history: Literal[True],
) -> tuple[MarketResult, dict[str, AnyArray]]: ...


@overload
def learn(
    book: OrderBook,
    limit: ArrayLike,
    lo: ArrayLike,
    hi: ArrayLike,
    clear: Callable[[OrderBook], MarketResult],
    strategy: str = "zip",
    *,
    round_slots: int = 96,
    params: ZIPParams | None = None,
    seed: int | np.random.Generator | None = 0,
    history: bool,
) -> MarketResult | tuple[MarketResult, dict[str, AnyArray]]: ...


def learn(
    book: OrderBook,
    limit: ArrayLike,
    lo: ArrayLike,
    hi: ArrayLike,
    clear: Callable[[OrderBook], MarketResult],
    strategy: str = "zip",
    *,
    round_slots: int = 96,
    params: ZIPParams | None = None,
    seed: int | np.random.Generator | None = 0,
    history: bool = False,
) -> MarketResult | tuple[MarketResult, dict[str, AnyArray]]:
    """Price and clear a book with bidding agents, round by round.

    Parameters
    ----------
    book : OrderBook
        Orders with integer slots (each slot one auction); their prices are replaced.
        Time priority within a slot is the book order (kept).
    limit : array-like
        Reservation price per order (a buyer's most, a seller's least), currency/kWh.
    lo, hi : array-like
        Price band per order (λs and λb of its slot), lo ≤ limit ≤ hi.
    clear : callable
        ``clear(sub_book) -> MarketResult``: the mechanism (with its tariffs and options).
    strategy : {"truthful", "zic", "zip"}
        Module docstring.
    round_slots : int
        Slots per round (≥ 1): priced with the margins of the round's start, cleared in
        one call, then learnt from slot by slot. Only ZIP learns; the other strategies
        are cleared round by round too when the book is in slot order (the same result
        as one call, with smaller sorts).
    params : ZIPParams, optional
        ZIP parameters (default :class:`ZIPParams`).
    seed : int, Generator or None
        Seeds initial margins, target perturbations and ZI-C prices.
    history : bool
        Also return ``{"slot", "price_buy", "price_sell", "traded"}`` per slot with trades.

    Returns
    -------
    MarketResult
        With the prices the agents submitted; for ZIP over the book sorted by slot
        (stable: the order within a slot is kept), for the others over the book as given.
    """
    strategy = str(strategy).strip().lower()
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown agent strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if int(round_slots) < 1:
        raise ConfigError(f"round_slots must be >= 1, got {round_slots}")
    params = params or ZIPParams()
    n = len(book)
    r, a, b = (np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in (limit, lo, hi))  # no copies
    _check_bounds(book, r, a, b)
    rng = np.random.default_rng(seed)
    learning = strategy == "zip"
    in_order = not np.any(np.diff(book.slot) < 0)
    fixed = None
    if not learning:
        fixed = r.copy() if strategy == "truthful" else zic_prices(book, r, a, b, rng)
        if not in_order or n == 0:  # one clearing of the whole book (a sorted book is cleared by rounds: faster)
            result = clear(book.with_prices(fixed))
            return (result, _history(result)) if history else result
    elif n == 0:
        result = clear(book)
        return (result, _history(result)) if history else result
    elif not in_order:  # rounds need the slots in time order (a book sorted already is kept)
        order = slot_order(book.slot)
        book = book.select(order)
        r, a, b = r[order], a[order], b[order]

    P = book.n_participants
    margin = rng.uniform(params.margin_low, params.margin_high, (2, P))  # row 0 buy, row 1 sell
    change = np.zeros((2, P))
    buy = book.side > 0
    row = np.where(buy, 0, 1)
    who = book.participant
    slots = book.slot
    bounds = np.flatnonzero(np.diff(slots)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [n]])
    slot_of = slots[starts]
    beta, gamma = params.learning_rate, params.momentum
    call = params.rule == "call"
    parts: list[tuple[int, MarketResult]] = []
    prices = np.empty(n)
    R = int(round_slots)
    first = 0
    while first < len(starts):
        s0 = slot_of[first]
        last = int(np.searchsorted(slot_of, s0 + R, side="left"))  # slots [s0, s0 + R)
        lo_pos, hi_pos = starts[first], ends[last - 1]
        sl = slice(lo_pos, hi_pos)
        if fixed is not None:
            prices[sl] = fixed[sl]
        else:
            prices[sl] = band_price(buy[sl], margin[row[sl], who[sl]], r[sl], a[sl], b[sl])
        sub = _view(book, sl, prices[sl])
        res = clear(sub)
        parts.append((int(lo_pos), res))
        if not learning:
            first = last
            continue
        span = int(slot_of[last - 1] - s0) + 1
        traded, q_b, q_s = _slot_prices(res, span, int(s0))
        u = rng.random((2, hi_pos - lo_pos))  # target perturbations, one pair per order of the round
        for k in range(first, last):
            i0, i1 = starts[k], ends[k]
            bb, rr, ww = buy[i0:i1], row[i0:i1], who[i0:i1]
            j = int(slot_of[k] - s0)
            if traded[j] > 0:
                q = 0.5 * (q_b[j] + q_s[j])  # the slot's trade price (buyers and sellers see the same)
            else:
                if bb.all() or not bb.any():
                    continue  # one side only: nothing to learn
                sub_p = prices[i0:i1]
                q = np.where(bb, sub_p[~bb].min(), sub_p[bb].max())
            L, lo_k, hi_k = r[i0:i1], a[i0:i1], b[i0:i1]
            mu = margin[rr, ww]
            p = band_price(bb, mu, L, lo_k, hi_k)
            if traded[j] > 0:
                raise_ = np.where(bb, p >= q, p <= q)
            else:
                raise_ = np.zeros(bb.shape, dtype=bool)
            # cliff: buyers lowering / sellers raising their margin aim above q; call: buyers always aim
            # just above q and sellers just below it (raising a margin stays on the trading side)
            up = bb if call else bb != raise_
            tau = zip_target(q, up, u[0, i0 - lo_pos : i1 - lo_pos], u[1, i0 - lo_pos : i1 - lo_pos], hi_k - lo_k,
                             params.c_r, params.c_a)  # fmt: skip
            p_new, g = zip_step(p, tau, change[rr, ww], beta, gamma)
            change[rr, ww] = g
            margin[rr, ww] = band_margin(bb, p_new, L, lo_k, hi_k, mu)
        first = last
    result = _concat_results(book.with_prices(prices), parts)
    return (result, _history(result)) if history else result


def _view(book: OrderBook, sl: slice, price: FloatArray) -> OrderBook:
    """Orders ``sl`` of ``book`` (views, no copies) at new prices."""
    rep = None if book.reputation is None else book.reputation[sl]
    return OrderBook(book.id[sl], book.participant[sl], book.side[sl], book.quantity[sl], price, book.slot[sl], rep,
                     book.labels)  # fmt: skip


def slot_order(slot: IntArray) -> IndexArray:
    """Indices that sort orders by slot, stably (ties keep their order).

    A linear-time radix sort when the slots fit 16 bits (a year of 15-min slots is 35,040).
    """
    if slot.size and slot.min() >= 0 and slot.max() < 1 << 16:
        return np.argsort(slot.astype(np.uint16), kind="stable")
    return np.argsort(slot, kind="stable")


def _history(result: MarketResult) -> dict[str, AnyArray]:
    t = result.trades
    slots, k = np.unique(t.slot, return_inverse=True)
    q = np.bincount(k, weights=t.quantity, minlength=slots.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        pb = np.bincount(k, weights=t.quantity * t.price_buy, minlength=slots.size) / q
        ps = np.bincount(k, weights=t.quantity * t.price_sell, minlength=slots.size) / q
    return {"slot": slots, "price_buy": pb, "price_sell": ps, "traded": q}


def allocative_efficiency(result: MarketResult, limit: ArrayLike) -> float:
    """Realised gains from trade over the maximum, both valued at the reservation prices.

    Parameters
    ----------
    result : MarketResult
        A clearing of ``result.book`` (any prices).
    limit : array-like
        Reservation price per order of ``result.book``, currency/kWh.

    Returns
    -------
    float
        Σ_trades q (r_buyer − r_seller) / (gains of the efficient allocation, the uniform
        auction of the truthful book); NaN when no gains are possible.
    """
    from peergrid.market.auction import uniform_price

    r = np.asarray(limit, dtype=np.float64)
    t = result.trades
    realised = float(np.sum(t.quantity * (r[t.buy] - r[t.sell])))
    best = float(uniform_price(result.book.with_prices(r)).welfare.sum())
    return realised / best if best > 0 else float("nan")


def net_efficiency(
    peer: ArrayLike,
    net: ArrayLike,
    retail: ArrayLike,
    feed_in: ArrayLike,
    batteries: BatteryPlan | None = None,
    horizon: int = 96,
) -> float:
    """Allocative efficiency of a net-position clearing, valued at the members' reservation prices.

    The gains from trade are Σ bought·r_b − Σ sold·r_s (payments between members are
    transfers and cancel); the maximum is that of the efficient allocation (the uniform
    auction of the book priced at the reservation prices). Without storage every kWh
    traded gains λb − λs, and the efficiency is the traded share of min(demand, supply).

    Parameters
    ----------
    peer : array-like
        ``(T, N)`` energy traded with peers, kWh (+ bought, − sold), e.g.
        :attr:`peergrid.market.OrderClearing.peer`.
    net : array-like
        ``(T, N)`` net positions the orders were built from, kWh.
    retail, feed_in : array-like
        λb and λs per slot, currency/kWh.
    batteries : object, optional
        Planned battery schedule (see :func:`order_reservations`).
    horizon : int
        Look-ahead of :func:`storage_value`, slots.

    Returns
    -------
    float
        In [0, 1]; NaN when no gains are possible.

    Examples
    --------
    >>> import numpy as np
    >>> net = np.array([[2.0, -1.0]])
    >>> round(net_efficiency(np.array([[0.5, -0.5]]), net, 0.30, 0.10), 3)   # half of the 1 kWh that could trade
    0.5
    """
    from peergrid.market.auction import uniform_price
    from peergrid.market.bidding import orders_from_net

    x = np.asarray(net, dtype=np.float64)
    T = x.shape[0]
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64).ravel(), (T,)) if np.size(retail) in (1, T) else None
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64).ravel(), (T,)) if np.size(feed_in) in (1, T) else None
    if lb is None or ls is None:
        raise DataError(f"retail and feed_in must be one value or {T} values")
    book = orders_from_net(x, lb, ls)
    limit, _, _ = order_reservations(book, lb, ls, batteries, horizon)
    filled = np.abs(np.asarray(peer, dtype=np.float64)[book.slot, book.participant])
    realised = float(np.sum(filled * np.where(book.side > 0, limit, -limit)))
    best = float(uniform_price(book.with_prices(limit)).welfare.sum())
    return realised / best if best > 0 else float("nan")
