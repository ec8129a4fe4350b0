"""Order-book markets on net positions: bidding strategies and the per-slot :class:`OrderClearing`.

The simulator runs the batch order-book mechanisms (:func:`~peergrid.market.uniform_price`,
:func:`~peergrid.market.pay_as_bid`, :func:`~peergrid.market.mcafee`,
:func:`~peergrid.market.bilateral`) on a community's ``(T, N)`` net positions:

1. **Orders.** In every slot t each participant i with a deficit (``net > 0``) bids
   for ``net`` kWh and each participant with a surplus (``net < 0``) offers ``−net``
   kWh; participants at exactly zero send nothing. One :class:`~peergrid.market.OrderBook`
   holds every slot (its ``slot`` column is t, order id ``t·N + i``).
2. **Limit prices** come from a *bidding strategy* (λb_t = retail price, λs_t =
   feed-in tariff of the slot):

   * ``"truthful"`` — every order at its marginal value: a buyer's alternative to a
     peer is the grid at λb_t, so it bids λb_t; a seller's alternative is exporting
     at λs_t, so it asks λs_t. Every bid then crosses every ask and the auctions
     trade min(D_t, G_t), the same volume as the pool rules; the uniform price with
     k = 0.5 is the mid-market rate (λb + λs)/2.
   * ``"zero-intelligence"`` — budget-constrained zero-intelligence traders (ZI-C,
     Gode & Sunder 1993): every limit price is drawn independently and uniformly
     from [λs_t, λb_t] (seeded), so nobody bids above its value λb or asks below
     its cost λs, but the books only partly cross.
   * ``"zic"`` and ``"zip"`` — bidding agents (:mod:`peergrid.market.agents`): ZI-C
     prices within reservation prices that reflect each member's planned battery
     state (``batteries=``), and ZIP traders (Cliff 1997) that learn their profit
     margins round by round (a round = ``round_slots`` slots, one day in the
     simulator) from the trade prices of the mechanism itself.

   Orders of a slot arrive in a random order (a seeded permutation): that is the
   time priority that breaks ties between equal prices (everybody ties under
   truthful bidding).
3. **Clearing** — one call of the mechanism for the whole book (all slots at once; ``"zip"``: one per round);
   unmatched energy goes to the grid at λb (bids) / λs (asks).
4. **Mapping** onto the simulator's per-slot :class:`~peergrid.market.Clearing`:
   ``price_buy`` / ``price_sell`` are the *average* prices buyers pay per kWh of
   deficit and sellers receive per kWh of surplus (peer trades and grid residuals
   together), ``peer_share_*`` the traded share of community demand / supply, and
   the individual outcome of every participant — which, unlike under the pool
   rules, differs between buyers of the same slot — is kept as two ``(T, N)``
   arrays (:attr:`OrderClearing.peer`, :attr:`OrderClearing.bill`).

Invariants (tested): per slot bought = sold, demand = bought + grid import, supply
= sold + grid export; Σ member bills = grid bill + operator fees (pay-as-bid spread,
McAfee's trade-reduction surplus, bilateral network fees); every average price lies
in [λs_t, λb_t].

References
----------
.. [GodeSunder1993] D. K. Gode, S. Sunder, "Allocative efficiency of markets with
   zero-intelligence traders: market as a partial substitute for individual
   rationality", Journal of Political Economy 101(1), 119–137, 1993.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import ArrayLike, FloatArray, IntArray
from peergrid.market._common import pool_inputs
from peergrid.market.auction import pay_as_bid, uniform_price
from peergrid.market.mechanisms import FEE_OPTION, K_OPTION, ORDER_MECHANISMS, REGISTRY
from peergrid.market.orders import MarketResult, OrderBook
from peergrid.market.settle import order_bills
from peergrid.market.sharing import Allocation, Clearing, demand_supply

if TYPE_CHECKING:
    from peergrid.market.agents import BatteryPlan

#: Bidding strategies of :func:`clear_net` (``"zip"`` learns from clearings, so :func:`orders_from_net` has no ZIP).
BIDDING: tuple[str, ...] = ("truthful", "zero-intelligence", "zic", "zip")

#: Strategies priced by the bidding agents of :mod:`peergrid.market.agents` (reservation prices with storage).
AGENT_BIDDING: tuple[str, ...] = ("zic", "zip")

_BLOCK = 4096  # time steps per reduction block


def _key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


def check_bidding(bidding: str) -> str:
    """Canonical bidding strategy name (``"zero_intelligence"``, ``"ZI"`` are accepted)."""
    key = _key(bidding)
    key = "zero-intelligence" if key == "zi" else key
    if key not in BIDDING:
        raise ConfigError(f"unknown bidding strategy {bidding!r}; choose from {', '.join(BIDDING)}")
    return key


def check_order_options(
    bidding: str = "truthful",
    k: float = 0.5,
    seed: int = 0,
    fee: float = 0.0,
    learning_rate: float = 0.3,
    momentum: float = 0.05,
) -> dict[str, Any]:
    """Validate the options of the order-book markets (see :func:`clear_net`); returns them normalised.

    Raises
    ------
    ConfigError
        Unknown bidding strategy, k outside [0, 1], a non-integer seed, a negative or
        non-finite fee, a ZIP learning rate outside (0, 1] or momentum outside [0, 1).
    """
    from peergrid.market.agents import ZIPParams

    ZIPParams(learning_rate=float(learning_rate), momentum=float(momentum))  # raises ConfigError
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    k = K_OPTION.check(k)
    fee = FEE_OPTION.check(fee)
    return {
        "bidding": check_bidding(bidding), "k": k, "seed": int(seed), "fee": fee,
        "learning_rate": float(learning_rate), "momentum": float(momentum),
    }  # fmt: skip


def orders_from_net(
    net: ArrayLike,
    retail: ArrayLike,
    feed_in: ArrayLike,
    bidding: str = "truthful",
    seed: int | np.random.Generator | None = 0,
    *,
    groups: ArrayLike | None = None,
    n_groups: int | None = None,
) -> OrderBook:
    """One order per slot and participant with a deficit or surplus, priced by a bidding strategy.

    Parameters
    ----------
    net : array-like
        ``(T, N)`` net energy, kWh (+ deficit → bid, − surplus → ask; 0 → no order).
    retail, feed_in : float or array-like
        λb and λs per slot (length T) or one value, currency/kWh, 0 ≤ λs ≤ λb.
    bidding : {"truthful", "zero-intelligence", "zic"}
        Limit-price rule (module docstring); ``"zic"`` here uses the tariff-only
        reservation prices (λb, λs). ``"zip"`` needs the clearings: :func:`clear_net`.
    seed : int, numpy.random.Generator or None
        Seeds the zero-intelligence prices and the arrival order within slots
        (``None``: fresh entropy).
    groups : array-like, optional
        ``(N,)`` integer group code of every participant, in ``[0, n_groups)``: the
        participants of different groups trade in separate auctions, order slot
        ``t·n_groups + groups[i]`` instead of t (e.g. the virtual microgrids of
        :func:`peergrid.zoom.trade`). Default: one auction per time step.
    n_groups : int, optional
        Number of group codes G (default ``max(groups) + 1``); slot s belongs to time
        step s // G and group s % G.

    Returns
    -------
    OrderBook
        Order id ``t·N + i`` (time step t, participant i), ``slot`` t (or
        ``t·G + groups[i]``), participant code i; in a random arrival order
        (vectorised, no loop over slots). Limit prices are drawn in slot-major
        order before the arrival order is shuffled.

    Examples
    --------
    >>> import numpy as np
    >>> book = orders_from_net(np.array([[2.0, -1.0, 0.0]]), retail=0.30, feed_in=0.10)
    >>> sorted(zip(book.participant.tolist(), book.side.tolist(), book.price.tolist()))
    [(0, 1, 0.3), (1, -1, 0.1)]
    """
    bidding = check_bidding(bidding)
    x = np.asarray(net, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"net must be a (T, N) array, got shape {x.shape}")
    T = x.shape[0]
    _, _, lb, ls = pool_inputs(np.zeros(T), np.zeros(T), retail, feed_in)
    book = OrderBook.from_net(x, lb[:, None], ls[:, None])  # truthful: λb for bids, λs for asks
    step = book.slot  # time step t of every order
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != (x.shape[1],) or (g.size and not np.issubdtype(g.dtype, np.integer)):
            raise DataError(f"groups must be {x.shape[1]} integer codes (one per participant), got shape {g.shape}")
        G = int(n_groups) if n_groups is not None else (int(g.max()) + 1 if g.size else 1)
        if g.size and (g.min() < 0 or g.max() >= G):
            raise DataError(f"group codes must be in [0, {G}), got {int(g.min())}..{int(g.max())}")
        book = replace(book, slot=book.slot * G + g[book.participant].astype(np.int64))
    if bidding == "zip":
        raise ConfigError("zip agents learn from the clearings: use clear_net (or peergrid.market.agents.learn)")
    rng = np.random.default_rng(seed)
    if bidding == "zero-intelligence":
        lo, hi = ls[step], lb[step]
        book = book.with_prices(lo + rng.random(len(book)) * (hi - lo))
    elif bidding == "zic":  # reservation prices from the tariff alone (clear_net adds storage)
        from peergrid.market.agents import zic_prices

        book = book.with_prices(zic_prices(book, np.where(book.side > 0, lb[step], ls[step]), ls[step], lb[step], rng))
    return book.select(rng.permutation(len(book)))


@dataclass(frozen=True, eq=False)
class OrderClearing(Clearing):
    """A :class:`~peergrid.market.Clearing` of an order-book mechanism, with individual outcomes.

    The per-slot fields are community aggregates: ``price_buy`` (``price_sell``) is
    the average price buyers pay per kWh of deficit (sellers receive per kWh of
    surplus), peer trades and grid residuals together, and ``peer_share_buy``
    (``peer_share_sell``) the share of demand (supply) traded with peers. What
    each participant bought, sold and paid is in :attr:`peer` and :attr:`bill`.

    Attributes
    ----------
    peer : numpy.ndarray
        ``(T, N)`` energy traded with peers, kWh: + bought, − sold.
    bill : numpy.ndarray
        ``(T, N)`` money paid (+) or received (−) for peer trades and grid residuals, currency.
    operator_fees : numpy.ndarray
        ``(T,)`` money the operator keeps (:attr:`fees`), currency.
    bidding : str
        Bidding strategy the orders were priced with.
    options : dict
        Mechanism options used (``k``, ``seed``, ``fee``).
    """

    peer: FloatArray = field(default=None, repr=False)  # type: ignore[arg-type]
    bill: FloatArray = field(default=None, repr=False)  # type: ignore[arg-type]
    operator_fees: FloatArray = field(default=None, repr=False)  # type: ignore[arg-type]
    bidding: str = "truthful"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def fees(self) -> FloatArray:
        """Money kept by the market operator per slot, currency."""
        return self.operator_fees

    def allocate(self, net: ArrayLike, rows: slice | None = None) -> Allocation:
        """Each participant's own outcome (see :meth:`Clearing.allocate` for the parameters)."""
        from peergrid.market._netbook import allocate_rows

        net = np.asarray(net, dtype=np.float64)
        rows = slice(None) if rows is None else rows
        peer, bill = self.peer[rows], self.bill[rows]
        if net.ndim != 2 or net.shape != peer.shape or peer.shape != bill.shape:
            raise DataError(f"net must have the clearing's shape {peer.shape} for these rows, got {net.shape}")
        out = [np.empty(peer.shape) for _ in range(5)]  # bought, sold, grid_import, grid_export, bill
        allocate_rows(net, peer, bill, *out)  # one pass, the numpy expressions' operations elementwise
        return Allocation(bought=out[0], sold=out[1], grid_import=out[2], grid_export=out[3], bill=out[4])

    def participant_totals(self) -> dict[str, FloatArray]:
        """``bought``, ``sold`` (kWh), ``purchase_cost`` and ``revenue`` (currency) per participant.

        Buyers' bills are ≥ 0 and sellers' ≤ 0 (all prices are ≥ 0), so the sign of a
        bill tells purchase from revenue.
        """
        from peergrid.market._netbook import participant_sums

        N = self.peer.shape[1]
        sums = np.zeros((4, N))
        participant_sums(self.peer, self.bill, _BLOCK, sums)  # one pass over both series, row by row per block
        return {k: sums[r].copy() for r, k in enumerate(("bought", "sold", "purchase_cost", "revenue"))}

    @classmethod
    def from_result(
        cls,
        result: MarketResult,
        net: ArrayLike,
        retail: ArrayLike,
        feed_in: ArrayLike,
        bidding: str = "truthful",
        **options: Any,
    ) -> OrderClearing:
        """Map a :class:`~peergrid.market.MarketResult` of an :func:`orders_from_net` book onto slots.

        Parameters
        ----------
        result : MarketResult
            Cleared with ``retail`` and ``feed_in`` (the residuals need prices).
        net : array-like
            ``(T, N)`` net positions the book was built from.
        retail, feed_in : float or array-like
            λb and λs per slot, currency/kWh.
        bidding : str
            Recorded in the clearing.
        **options
            Recorded in :attr:`options`.

        Returns
        -------
        OrderClearing
        """
        x = np.asarray(net, dtype=np.float64)
        T, N = x.shape
        demand, supply = demand_supply(x)
        d, g, lb, ls = pool_inputs(demand, supply, retail, feed_in)
        book, trades = result.book, result.trades
        t, i = np.divmod(np.asarray(book.id, dtype=np.int64), N)  # order id t·N + i
        if len(book) and (t.min() < 0 or t.max() >= T or not np.array_equal(t, book.slot)):
            raise DataError("the result's book was not built from this net (order id must be slot·N + participant)")
        buy = book.side > 0
        filled = result.filled
        order_bill = order_bills(result)  # the settlement core's rule (peer money + residual at λb / λs)
        peer = np.zeros((T, N))
        peer[t, i] = np.where(buy, filled, -filled)
        bill = np.zeros((T, N))
        bill[t, i] = order_bill
        # weighted bincounts are float64 (numpy's stubs type them intp)
        traded = cast(FloatArray, np.bincount(trades.slot, weights=trades.quantity, minlength=T))
        fees = cast(FloatArray, np.bincount(trades.slot, weights=trades.fee, minlength=T))
        paid = cast(FloatArray, np.bincount(t[buy], weights=order_bill[buy], minlength=T))
        received = cast(FloatArray, -np.bincount(t[~buy], weights=order_bill[~buy], minlength=T))
        return _order_clearing(
            result.mechanism, d, g, lb, ls, traded, fees, paid, received, peer, bill, bidding, options
        )  # fmt: skip


#: Mechanisms (the functions it reproduces) and strategies the compiled block kernel clears
#: (``clear_net(engine="kernel")``).
_KERNEL_FUNCTIONS: dict[str, Any] = {"uniform": uniform_price, "pay-as-bid": pay_as_bid}
_KERNEL_MECHANISMS: tuple[str, ...] = tuple(_KERNEL_FUNCTIONS)
_KERNEL_BIDDING: tuple[str, ...] = ("truthful", "zero-intelligence", "zic")
ENGINES: tuple[str, ...] = ("auto", "kernel", "book")

_KERNEL_ORDERS = 1 << 22  # orders (net entries) per kernel block: ~32 MB of zero-intelligence draws


def _check_engine(engine: str) -> str:
    key = _key(engine)
    if key not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return key


def _kernel_applies(mech: str, strategy: str, mechanism_fn: Any) -> bool:
    """Whether the block kernel reproduces ``mechanism_fn`` (the genuine auction, not a replacement)."""
    return strategy in _KERNEL_BIDDING and mechanism_fn is _KERNEL_FUNCTIONS.get(mech)


@dataclass(frozen=True)
class _Storage:
    """The members' planned storage as the ZI-C agents see it (:func:`peergrid.market.agents.order_reservations`)."""

    members: IntArray  # (K,) member column of each storage owner
    energy: FloatArray  # (T, M) stored energy of every battery, kWh
    column: IntArray  # (K,) battery column of each owner (one battery per member), or None
    starts: IntArray | None  # reduceat starts over the batteries sorted by owner (several per member)
    order: IntArray  # battery columns sorted by owner
    capacity: FloatArray  # (K,) Σ capacity per owner, kWh
    value: FloatArray  # (T,) value of a stored kWh (storage_value), currency/kWh

    @classmethod
    def of(cls, batteries: BatteryPlan | None, retail: FloatArray, horizon: int, n_members: int) -> _Storage | None:
        """The storage of ``batteries`` (None without owners), as ``order_soc`` aggregates it."""
        from peergrid.market.agents import storage_value

        if batteries is None or not np.size(batteries.owners):
            return None
        owners = np.asarray(batteries.owners, dtype=np.int64).ravel()
        cap = np.asarray(batteries.capacity, dtype=np.float64).ravel()
        value = storage_value(retail, horizon)
        uniq, inv = np.unique(owners, return_inverse=True)
        cap_u = cast(FloatArray, np.bincount(inv, weights=cap, minlength=uniq.size))  # weighted: float64
        keep = (cap_u > 0) & (uniq < n_members)  # members without capacity price like members without storage
        energy = np.asarray(batteries.energy, dtype=np.float64)
        if uniq.size == owners.size:  # one battery per member
            order = np.argsort(inv)
            return cls(uniq[keep], energy, order[np.flatnonzero(keep)], None, order, cap_u[keep], value)
        order = np.argsort(inv, kind="stable")
        starts = np.searchsorted(inv[order], np.arange(uniq.size))
        return cls(uniq[keep], energy, np.flatnonzero(keep), starts, order, cap_u[keep], value)

    def limits(self, x: FloatArray, lb: FloatArray, ls: FloatArray, rows: slice) -> FloatArray:
        """``(Tb, N)`` reservation price of each member's order in slots ``rows`` (λb / λs without storage)."""
        from peergrid.market.agents import reservation_prices

        hi, lo = lb[rows, None], ls[rows, None]
        limit = np.where(x > 0, hi, lo)
        prev = np.maximum(np.arange(rows.start, rows.stop) - 1, 0)  # the start of slot t is the end of t − 1
        if self.starts is None:
            stored = self.energy[prev][:, self.column]
        else:
            stored = np.add.reduceat(self.energy[prev][:, self.order], self.starts, axis=1)[:, self.column]
        soc = np.clip(stored / self.capacity, 0.0, 1.0)
        r_buy, r_sell = reservation_prices(hi, lo, self.value[rows, None], soc)
        limit[:, self.members] = np.where(x[:, self.members] > 0, r_buy, r_sell)
        return limit


def _clear_net_blocks(
    x: FloatArray,
    lb: FloatArray,
    ls: FloatArray,
    mech: str,
    strategy: str,
    seed: int,
    k: float,
    used: dict[str, Any],
    storage: _Storage | None = None,
) -> OrderClearing:
    """:func:`clear_net` by the compiled kernel, in blocks of slots (see :mod:`peergrid.market._netbook`).

    The orders, limit prices and arrival order are those of :func:`orders_from_net` with the
    same seed: the zero-intelligence prices come from the first n uniforms of
    ``default_rng(seed)`` (n orders, slot-major) and the arrival order from the permutation
    drawn after them. ``"zic"`` as in the agents' path of :func:`clear_net`: the arrival order
    from ``default_rng(seed)``, the prices from ``default_rng([seed, 1997])`` in the order of the
    slot-sorted book, within each member's reservation price (``storage``: planned batteries).
    """
    from peergrid.market import _netbook as kern

    T, N = x.shape
    d, g = demand_supply(x)  # first: its block temporaries come before the books' arrays
    counts = np.empty(T, dtype=np.int64)
    kern.count_orders(x, counts)
    first = np.zeros(T, dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    n = int(counts.sum())
    zi = strategy == "zero-intelligence"
    rng = np.random.default_rng(seed)
    if zi:
        rng.bit_generator.advance(n)  # type: ignore[attr-defined]  # PCG64 (default_rng of an int seed) has advance
    arrival = kern.ArrivalRanks(n, rng)
    draws = np.random.default_rng(seed) if zi else None
    pricing = kern.TRUTHFUL
    if zi:
        pricing = kern.ZERO_INTELLIGENCE
    elif strategy == "zic":
        pricing = kern.ZIC
        draws = np.random.default_rng([seed, 1997])
    no_limit = np.zeros((0, 0))
    no_draws = np.zeros(0)
    peer = np.empty((T, N))  # pages are committed block by block, as the ranks of cleared blocks are released
    bill = np.empty((T, N))
    traded = np.empty(T)
    fees = np.empty(T)
    paid = np.empty(T)
    received = np.empty(T)
    mode = kern.PAY_AS_BID if mech == "pay-as-bid" else kern.UNIFORM
    step = max(1, _KERNEL_ORDERS // max(N, 1))
    for a in range(0, T, step):
        b = min(a + step, T)
        k0, k1 = int(first[a]), int(first[b - 1] + counts[b - 1])
        u = draws.random(k1 - k0) if draws is not None else no_draws
        limit = no_limit
        if pricing == kern.ZIC:
            limit = np.where(x[a:b] > 0, lb[a:b, None], ls[a:b, None])
            if storage is not None:
                limit = storage.limits(x[a:b], lb, ls, slice(a, b))
        kern.clear_block(
            x[a:b], lb[a:b], ls[a:b], first[a:b], arrival.rank[k0:k1], u, pricing, limit, mode, float(k),
            peer[a:b], bill[a:b], traded[a:b], fees[a:b], paid[a:b], received[a:b],
        )  # fmt: skip
        arrival.release(k1)
        del u, limit
    del arrival
    return _order_clearing(mech, d, g, lb, ls, traded, fees, paid, received, peer, bill, strategy, used)


def _order_clearing(
    mech: str,
    d: FloatArray,
    g: FloatArray,
    lb: FloatArray,
    ls: FloatArray,
    traded: FloatArray,
    fees: FloatArray,
    paid: FloatArray,
    received: FloatArray,
    peer: FloatArray,
    bill: FloatArray,
    bidding: str,
    options: dict[str, Any],
) -> OrderClearing:
    """The :class:`OrderClearing` of per-slot sums and per-member outcomes (shared by both engines)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # averages of prices in [λs, λb]: the clip only removes rounding noise (subnormal kWh)
        price_buy = np.where(d > 0, np.clip(paid / np.where(d > 0, d, 1.0), ls, lb), lb)
        price_sell = np.where(g > 0, np.clip(received / np.where(g > 0, g, 1.0), ls, lb), ls)
        share_buy = np.where(d > 0, np.clip(traded / np.where(d > 0, d, 1.0), 0.0, 1.0), 0.0)
        share_sell = np.where(g > 0, np.clip(traded / np.where(g > 0, g, 1.0), 0.0, 1.0), 0.0)
    return OrderClearing(
        mech, d, g, lb, ls, price_buy, price_sell, share_buy, share_sell,
        peer=peer, bill=bill, operator_fees=fees, bidding=bidding, options=dict(options),
    )  # fmt: skip


def clear_net(
    net: ArrayLike,
    retail: ArrayLike,
    feed_in: ArrayLike,
    mechanism: str = "uniform",
    *,
    bidding: str = "truthful",
    k: float = 0.5,
    seed: int = 0,
    fee: float = 0.0,
    learning_rate: float = 0.3,
    momentum: float = 0.05,
    batteries: BatteryPlan | None = None,
    round_slots: int = 96,
    horizon: int | None = None,
    engine: str = "auto",
) -> OrderClearing:
    """Clear a horizon of net positions with an order-book mechanism.

    Parameters
    ----------
    net : array-like
        ``(T, N)`` net energy per slot, kWh (+ deficit, − surplus).
    retail, feed_in : float or array-like
        λb and λs per slot, currency/kWh.
    mechanism : {"uniform", "pay-as-bid", "mcafee", "bilateral"}
        Batch mechanism.
    bidding : {"truthful", "zero-intelligence", "zic", "zip"}
        How orders are priced (module docstring; the agents ``"zic"`` and ``"zip"`` in
        :mod:`peergrid.market.agents`).
    k : float
        Price parameter in [0, 1] of ``uniform`` and ``bilateral`` (ignored by the others).
    seed : int
        Seeds the random prices, the agents' margins and the arrival order.
    fee : float
        Network fee per kWh charged on every pair of the ``bilateral`` market (Tooki
        et al. eqs. 10–11 with one H for all pairs), currency/kWh, ≥ 0 (ignored by the
        others).
    learning_rate, momentum : float
        ``"zip"``: β ∈ (0, 1] and γ ∈ [0, 1) of the Widrow–Hoff margin update.
    batteries : object, optional
        ``"zic"``/``"zip"``: the planned battery schedule (attributes ``owners`` (M,),
        ``energy`` (T, M) kWh, ``capacity`` (M,) kWh, e.g. a
        :class:`~peergrid.control.BatterySchedule`): reservation prices reflect each
        owner's state of charge (:func:`peergrid.market.agents.reservation_prices`).
        ``None``: reservation prices λb and λs.
    round_slots : int
        ``"zip"``: slots per learning round (default 96, one day of 15-min slots; the
        simulator passes one day of the community's resolution).
    horizon : int, optional
        Look-ahead of the value of stored energy, slots (default ``round_slots``).
    engine : {"auto", "kernel", "book"}
        How the books are cleared. ``"kernel"``: the compiled per-slot books of
        :mod:`peergrid.market._netbook`, in blocks of slots, without a per-order
        :class:`~peergrid.market.OrderBook` (uniform and pay-as-bid with truthful,
        zero-intelligence or ``"zic"`` bidding); ``"book"``: one :class:`~peergrid.market.OrderBook` of
        the whole horizon cleared by the mechanism function (every mechanism and
        strategy); ``"auto"`` (default): the kernel where it applies. Both clear the same
        orders with the same priorities; they differ only by floating-point rounding
        (≤ 1e-9 relative, see :mod:`peergrid.market._netbook`).

    Returns
    -------
    OrderClearing

    Examples
    --------
    >>> import numpy as np
    >>> net = np.array([[2.0, -1.0]])       # a buyer of 2 kWh, a seller of 1 kWh
    >>> c = clear_net(net, retail=0.30, feed_in=0.10, mechanism="uniform")   # truthful, k = 0.5
    >>> float(c.traded[0]), float(c.price_sell[0])   # 1 kWh at (0.30 + 0.10)/2
    (1.0, 0.2)
    >>> float(c.price_buy[0])   # (1 kWh · 0.20 + 1 kWh · 0.30 from the grid) / 2 kWh
    0.25
    """
    mech = _key(mechanism)
    if mech not in ORDER_MECHANISMS:
        raise ConfigError(f"unknown order-book mechanism {mechanism!r}; choose from {', '.join(ORDER_MECHANISMS)}")
    opts = check_order_options(bidding, k, seed, fee, learning_rate, momentum)
    x = np.asarray(net, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"net must be a (T, N) array, got shape {x.shape}")
    _, _, lb, ls = pool_inputs(np.zeros(x.shape[0]), np.zeros(x.shape[0]), retail, feed_in)
    strategy = opts["bidding"]
    kwargs: dict[str, Any] = {"retail": lb, "feed_in": ls}
    used: dict[str, Any] = {"seed": opts["seed"]}
    for option in ("k", "fee"):  # the options the registry gives the mechanism (uniform, bilateral: k; bilateral: fee)
        entry = REGISTRY[mech].option(option)
        if entry is not None:
            kwargs[entry.keyword] = used[option] = opts[option]
    mechanism_fn = ORDER_MECHANISMS[mech]
    engine = _check_engine(engine)
    kernel = _kernel_applies(mech, strategy, mechanism_fn)
    if engine == "kernel" and not kernel:
        raise ConfigError(
            f"engine='kernel' clears {', '.join(_KERNEL_MECHANISMS)} with {', '.join(_KERNEL_BIDDING)} bidding, "
            f"not {mech} with {strategy}"
        )
    if strategy in AGENT_BIDDING and (isinstance(round_slots, bool) or int(round_slots) < 1):
        raise ConfigError(f"round_slots must be an integer >= 1, got {round_slots!r}")
    if kernel and engine != "book":
        if not np.all(np.isfinite(x)):
            raise DataError("net contains NaN or infinite values")
        storage = None
        if strategy == "zic":
            storage = _Storage.of(batteries, lb, int(horizon or round_slots), x.shape[1])
        return _clear_net_blocks(
            np.ascontiguousarray(x), lb, ls, mech, strategy, opts["seed"], opts["k"], used, storage
        )  # fmt: skip
    if strategy not in AGENT_BIDDING:
        book = orders_from_net(x, lb, ls, strategy, opts["seed"])
        result = mechanism_fn(book, **kwargs)
        return OrderClearing.from_result(result, x, lb, ls, strategy, **used)
    from peergrid.market.agents import ZIPParams, learn, order_reservations, slot_order

    book = OrderBook.from_net(x, lb[:, None], ls[:, None])  # slot-major; prices set by the agents
    perm = np.random.default_rng(opts["seed"]).permutation(len(book))
    book = book.select(perm[slot_order(book.slot[perm])])  # random arrival order within each slot, slots in order
    del perm
    limit, lo, hi = order_reservations(book, lb, ls, batteries, int(horizon or round_slots))
    params = ZIPParams(learning_rate=opts["learning_rate"], momentum=opts["momentum"])  # rule "call"
    if strategy == "zip":
        used.update(learning_rate=opts["learning_rate"], momentum=opts["momentum"], round_slots=int(round_slots))
    result = learn(
        book, limit, lo, hi, lambda b: mechanism_fn(b, **kwargs), strategy,
        round_slots=int(round_slots), params=params, seed=np.random.default_rng([opts["seed"], 1997]),
    )  # fmt: skip
    return OrderClearing.from_result(result, x, lb, ls, strategy, **used)
