"""Settlement core: trades, positions and balanced postings in integer minor units (pure, no I/O).

The service loads orders, readings, tariffs and wallets, calls the functions of this module and
stores what they return; the simulator-side calls (:func:`settle_orders_interval`,
:func:`settle_pool`) are the same functions. Nothing here reads a database or a clock, so every
rule is tested on hand-computed cases and with hypothesis (``tests/market/test_settle*.py``).

Units and signs (docs/DESIGN.md): energy in integer **Wh** per member and interval (net + =
import, − = feed-in), prices λb (retail, import) and λs (feed-in, export) in currency/kWh,
money in integer **minor units** (cents, 1/100 of the currency). Member codes are ``0 … n−1``;
the community's system accounts are named (:data:`SYSTEM_ACCOUNTS`).

**The rounding rule** (the only one; every amount of money in peergrid's settlements is
rounded by it, through :mod:`peergrid.market.money`):

* money is rounded **once per party and interval**, to the **nearest** minor unit, **half to
  even** (:func:`~peergrid.market.to_minor`), never per trade: every buyer pays its exact total
  Σ q·p_buy rounded, every seller receives its exact total Σ q·min(p_sell, p_buy) rounded
  (:func:`~peergrid.market.settle_trades`), each party's total is spread over its trades by
  **largest remainder** (no trade more than one minor unit from its exact amount), and the
  difference Σ payments − Σ receipts (spreads plus a rounding residual of at most ½ minor unit
  per party, either sign) goes to the community's ``fees`` account;
* a member's pool bill, imbalance charge (import and export credit separately), eq. 12 line
  fee and loss charge are each one amount per member and interval, rounded the same way;
* the one exception rounds **up**: a bid of q Wh at limit p commits ⌈q·max(p, 0)/10⌉ minor
  units (:func:`~peergrid.market.bid_commitment_minor`), the most it can cost.

Why per party: rounding each trade on its own lets n trades round up n times — a buyer matched
against 50 tiny offers (0.525 → 1 cent each) would owe 50 cents for an exact 26.25 and overdraw
a wallet that exactly covered its commitment. A party's rounded total is within ½ minor unit
of its exact amount, hence never above ⌈exact⌉: a buyer that pays at most its limit price on
at most its bid quantity never pays more than the commitment the wallet check admitted.

What is settled
---------------
* :func:`settle_market` — the order-book phase (uniform, pay-as-bid, McAfee, bilateral): the
  admitted orders are cleared by a caller-supplied clearing function; buyers pay into
  ``clearing``, sellers are paid out of it, the residual goes to ``fees``, eq. 12 line fees
  (with a feeder) to ``network``. A buyer whose total would exceed its funds has all its bids
  rejected and the interval is cleared again without them (**all or nothing** per member: one
  member cannot block an interval, and no member is half-settled).
* :func:`settle_orders_metered` — after metering, an order-book member's **imbalance** (metered
  net − traded position) with the grid, by :func:`settle_imbalance` per member at λb / λs.
* :func:`settle_pool` — a pool interval (``bs``, ``mmr``, ``sdr``, ``baseline``):
  :func:`~peergrid.market.clear` on the metered net positions, each member's bill against
  ``grid``; optional network charges (eq. 12 line fees, losses) to ``network``.
* :func:`settle_imbalance` — the one imbalance rule, in its two named variants: per member at
  λb / λs (``at="member"``: the service, the simulator's forecast settlement) and at the
  community's connection point (``at="connection"``: the simulator's meter faults).

Every result carries :class:`Postings`: double entries (debit, credit, amount > 0), so each
transaction balances (Σ debits = Σ credits) and the money of an interval is conserved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import AnyArray, ArrayLike, BoolArray, FloatArray, IntArray
from peergrid.market.money import settle_trades, to_minor
from peergrid.market.orders import MarketResult, OrderBook

#: The community's system accounts a settlement posts to (coded −1, −2, … in :class:`Postings`).
SYSTEM_ACCOUNTS: tuple[str, ...] = ("clearing", "fees", "grid", "network")

#: The variants of :func:`settle_imbalance`.
IMBALANCE_AT: tuple[str, ...] = ("member", "connection")

_INT = np.int64


def system_code(name: str) -> int:
    """Account code of a system account in :class:`Postings` (``"clearing"`` → −1, ``"fees"`` → −2, …)."""
    try:
        return -1 - SYSTEM_ACCOUNTS.index(name)
    except ValueError:
        raise DataError(f"unknown system account {name!r}; choose from {', '.join(SYSTEM_ACCOUNTS)}") from None


# ------------------------------------------------------------------ postings
@dataclass(frozen=True)
class Postings:
    """Double-entry postings of one settlement transaction, one row per transfer, in posting order.

    Accounts are codes: a member's wallet is its member code (≥ 0), a system account
    −1 − its index in :data:`SYSTEM_ACCOUNTS` (:func:`system_code`).

    Attributes
    ----------
    debit, credit : numpy.ndarray
        int64 account codes (money leaves ``debit``, enters ``credit``).
    amount : numpy.ndarray
        int64 minor units, > 0.
    kind : numpy.ndarray
        Posting kind per row (``p2p_buy``, ``p2p_sell``, ``p2p_fee``, ``line_fee``,
        ``pool_buy``, ``pool_sell``, ``grid_import``, ``grid_export``, ``loss_charge``,
        ``loss_purchase``).
    """

    debit: IntArray
    credit: IntArray
    amount: IntArray
    kind: AnyArray

    @classmethod
    def empty(cls) -> Postings:
        """No postings."""
        z = np.zeros(0, dtype=_INT)
        return cls(z, z.copy(), z.copy(), np.zeros(0, dtype=object))

    @classmethod
    def concat(cls, parts: list[Postings]) -> Postings:
        """Postings of ``parts`` one after the other."""
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("debit", "credit", "amount", "kind")))

    @classmethod
    def members(cls, amount: ArrayLike, account: str, kind: str, *, pay: bool) -> Postings:
        """One posting per member with a positive ``amount``: member → ``account`` (``pay``) or back."""
        a = np.asarray(amount, dtype=_INT)
        who = np.flatnonzero(a > 0).astype(_INT)
        sys = np.full(len(who), system_code(account), dtype=_INT)
        debit, credit = (who, sys) if pay else (sys, who)
        return cls(debit, credit, a[who], np.full(len(who), kind, dtype=object))

    @classmethod
    def single(cls, debit: str, credit: str, amount: int, kind: str) -> Postings:
        """One posting between two system accounts (none when ``amount`` is 0; a negative one is reversed)."""
        if amount == 0:
            return cls.empty()
        d, c = (debit, credit) if amount > 0 else (credit, debit)
        return cls(np.array([system_code(d)], dtype=_INT), np.array([system_code(c)], dtype=_INT),
                   np.array([abs(int(amount))], dtype=_INT), np.array([kind], dtype=object))  # fmt: skip

    def __len__(self) -> int:
        return int(self.amount.shape[0])

    def deltas(self, n_members: int) -> tuple[IntArray, dict[str, int]]:
        """Balance change of every member wallet ``(n_members,)`` and of every system account, minor units.

        Σ of all of them is 0 (every posting is a double entry).
        """
        codes = np.concatenate([self.debit, self.credit])
        signed = np.concatenate([-self.amount, self.amount])
        mem = codes >= 0
        members = np.bincount(codes[mem], weights=signed[mem], minlength=n_members).astype(_INT)
        system = {name: int(signed[codes == system_code(name)].sum()) for name in SYSTEM_ACCOUNTS}
        return members, system

    def resolve(self, member_accounts: ArrayLike, system: Mapping[str, int]) -> list[tuple[int, int, int, str]]:
        """The postings as ``(debit account id, credit account id, amount, kind)`` rows for a ledger.

        Parameters
        ----------
        member_accounts : array-like of int
            Wallet account id of every member code.
        system : mapping
            Account id of each system account name used.
        """
        ids = np.asarray(member_accounts, dtype=_INT)
        sys_ids = np.array([system.get(name, -1) for name in SYSTEM_ACCOUNTS], dtype=_INT)

        def acc(code: IntArray) -> IntArray:
            out = np.empty_like(code)
            mem = code >= 0
            out[mem] = ids[code[mem]]
            out[~mem] = sys_ids[-1 - code[~mem]]
            return out

        return list(zip(acc(self.debit).tolist(), acc(self.credit).tolist(), self.amount.tolist(),
                        self.kind.tolist(), strict=True))  # fmt: skip


# ------------------------------------------------------------------ imbalance
@dataclass(frozen=True)
class Imbalance:
    """Imbalance settled with the grid (:func:`settle_imbalance`).

    Attributes
    ----------
    at : {"member", "connection"}
    import_energy, export_energy : numpy.ndarray
        Extra import / extra export, in the unit of the inputs (≥ 0). ``at="connection"``:
        the changes of the connection's import and export (either sign).
    paid_export : numpy.ndarray
        Extra export that is paid (at most the export limit; ``at="member"``).
    import_charge, export_credit : numpy.ndarray
        Currency: λb·import and λs·paid export (``at="connection"``: the connection's bill with
        the actual exchange and with the settled one, see :func:`settle_imbalance`).
    """

    at: str
    import_energy: FloatArray | IntArray
    export_energy: FloatArray | IntArray
    paid_export: FloatArray | IntArray
    import_charge: FloatArray
    export_credit: FloatArray

    @property
    def charge(self) -> FloatArray:
        """Net imbalance charge, currency (+ = the party pays)."""
        return self.import_charge - self.export_credit

    def minor(self) -> tuple[IntArray, IntArray]:
        """(import charge, export credit) in integer minor units, each rounded once per party and interval."""
        return to_minor(self.import_charge), to_minor(self.export_credit)


def _exchange(x: ArrayLike | tuple[ArrayLike, ArrayLike]) -> tuple[FloatArray, FloatArray]:
    """(import, export) of a net series or of an ``(import, export)`` pair."""
    if isinstance(x, tuple):
        if len(x) != 2:
            raise DataError("an exchange must be a net array or an (import, export) pair")
        return np.asarray(x[0], dtype=np.float64), np.asarray(x[1], dtype=np.float64)
    n = np.asarray(x, dtype=np.float64)
    return np.maximum(n, 0.0), np.maximum(-n, 0.0)


def settle_imbalance(
    actual: ArrayLike | tuple[ArrayLike, ArrayLike],
    settled: ArrayLike | tuple[ArrayLike, ArrayLike],
    retail: ArrayLike,
    feed_in: ArrayLike,
    *,
    at: Literal["member", "connection"] = "member",
    export_limit: ArrayLike | None = None,
    unit: Literal["kWh", "Wh"] = "kWh",
) -> Imbalance:
    """Settle the difference between actual and settled energy with the grid: the one imbalance rule.

    ``at="member"`` — **per member at λb / λs** (the service's metered phase of order-book
    communities, the simulator's forecast settlement): each member's imbalance
    δ = actual − settled net energy is bought from the grid at λb when positive and sold at λs
    when negative (only up to ``export_limit``; export above it is spilled, unpaid)::

        charge = λb·max(δ, 0) − λs·min(max(−δ, 0), limit)

    ``at="connection"`` — **at the community's connection point** (the simulator's meter
    faults, where members are billed on settled readings and the supplier on what the
    connection really exchanged): ``actual`` and ``settled`` are the connection's exchange with
    the grid per interval, each a net array (+ import) or an ``(import, export)`` pair, and::

        charge = (λb·import_actual − λs·export_actual) − (λb·import_settled − λs·export_settled)

    Parameters
    ----------
    actual, settled : array-like (or ``(import, export)`` pair with ``at="connection"``)
        Energy, kWh (``unit="Wh"``: integer Wh, subtracted exactly before conversion). Shapes
        broadcast (e.g. ``(T, N)`` members or ``(N,)`` for one interval; ``settled=0`` when
        ``actual`` is already the imbalance).
    retail, feed_in : float or array-like
        λb and λs, currency/kWh, broadcast against the energy (``(T, 1)`` for ``(T, N)``).
    at : {"member", "connection"}
        Where the imbalance is settled (see above).
    export_limit : float or array-like, optional
        ``at="member"``: most export paid per member and interval, in the energy's unit
        (None: no limit).
    unit : {"kWh", "Wh"}
        Unit of ``actual``, ``settled`` and ``export_limit``.

    Returns
    -------
    Imbalance
        Energy in the inputs' unit, money in currency (:meth:`Imbalance.minor` rounds it).

    Examples
    --------
    A member planned to import 1 kWh and imported 1.5; another planned 0 and exported 2 with a
    1 kWh export limit (λb = 0.30, λs = 0.10):

    >>> imb = settle_imbalance([1.5, -2.0], [1.0, 0.0], 0.30, 0.10, export_limit=1.0)
    >>> imb.charge.round(4).tolist()
    [0.15, -0.1]
    """
    if at not in IMBALANCE_AT:
        raise ConfigError(f"unknown imbalance settlement {at!r}; choose from {', '.join(IMBALANCE_AT)}")
    if unit not in ("kWh", "Wh"):
        raise ConfigError(f"unit must be 'kWh' or 'Wh', got {unit!r}")
    lb = np.asarray(retail, dtype=np.float64)
    ls = np.asarray(feed_in, dtype=np.float64)
    if at == "connection":
        ia, ea = _exchange(actual)
        is_, es = _exchange(settled)
        if unit == "Wh":
            ia, ea, is_, es = ia / 1000.0, ea / 1000.0, is_ / 1000.0, es / 1000.0
        return Imbalance(at, ia - is_, ea - es, ea - es, ia * lb - is_ * lb, ea * ls - es * ls)
    if unit == "Wh":
        d = np.asarray(actual, dtype=_INT) - np.asarray(settled, dtype=_INT)
        imp, exp = np.maximum(d, 0), np.maximum(-d, 0)
        paid = exp if export_limit is None else np.minimum(exp, np.asarray(export_limit, dtype=_INT))
        return Imbalance(at, imp, exp, paid, imp / 1000.0 * lb, paid / 1000.0 * ls)
    x = np.asarray(actual, dtype=np.float64) - np.asarray(settled, dtype=np.float64)
    x_imp, x_exp = np.maximum(x, 0.0), np.maximum(-x, 0.0)
    x_paid = x_exp if export_limit is None else np.minimum(x_exp, np.asarray(export_limit, dtype=np.float64))
    return Imbalance(at, x_imp, x_exp, x_paid, x_imp * lb, x_paid * ls)


def export_limit_wh(limit_kw: float | None, interval_minutes: float) -> int | None:
    """Most export paid per member and interval, Wh: ⌊limit · interval · 1000⌋ (None without a limit).

    Parameters
    ----------
    limit_kw : float or None
        The tariff's export limit, kW (export above it is spilled, unpaid; the rule of
        :func:`peergrid.market.tariff.bill_components`).
    interval_minutes : float
        Interval length, minutes.

    Examples
    --------
    >>> export_limit_wh(4.0, 15)
    1000
    """
    if limit_kw is None:
        return None
    return int(np.floor(float(limit_kw) * interval_minutes / 60.0 * 1000.0))


# ------------------------------------------------------------------ the market phase
@dataclass(frozen=True)
class Cleared:
    """What a clearing function of :func:`settle_market` returns (a bare MarketResult is accepted too).

    Attributes
    ----------
    result : MarketResult
        Trades at **energy** prices on the book it was given.
    line_fee_per_kwh : numpy.ndarray, optional
        Eq. 12 line fee per trade, currency/kWh (network-aware clearing), paid by the buyer
        to the ``network`` account on top of the energy price.
    network : dict
        Network figures of the clearing (summary entries), JSON-ready.
    """

    result: MarketResult
    line_fee_per_kwh: FloatArray | None = None
    network: dict[str, Any] = field(default_factory=dict)


ClearFn = Callable[[OrderBook], "MarketResult | Cleared"]


def order_clearer(
    mechanism: str,
    retail: float,
    feed_in: float,
    *,
    k: float = 0.5,
    scores: ArrayLike | None = None,
) -> ClearFn:
    """The clearing function of an order-book community (without a feeder), for :func:`settle_market`.

    The community's mechanism (:func:`~peergrid.market.get_order_mechanism`) at the interval's
    λb / λs, ``k`` for the mechanisms that take it, wrapped in reputation pricing
    (:func:`~peergrid.market.clear_with_reputation`; ``scores`` per member code; None: no
    reputation pricing, which scores of 1 equal).

    Parameters
    ----------
    mechanism : str
        ``uniform``, ``pay-as-bid``, ``mcafee`` or ``bilateral``.
    retail, feed_in : float
        λb, λs of the interval, currency/kWh.
    k : float
        Price parameter of ``uniform`` and ``bilateral``.
    scores : array-like, optional
        Reputation score per member code.
    """
    from peergrid.market.mechanisms import get_order_mechanism, takes_option
    from peergrid.market.reputation import clear_with_reputation

    fn = get_order_mechanism(mechanism)
    kwargs: dict[str, Any] = {"retail": retail, "feed_in": feed_in}
    if takes_option(mechanism, "k"):
        kwargs["k"] = k

    def clear_book(book: OrderBook) -> MarketResult:
        if scores is None:
            return fn(book, **kwargs)
        return clear_with_reputation(book, fn, scores=scores, **kwargs)

    return clear_book


@dataclass(frozen=True)
class Admission:
    """Orders admitted by the members' wallets (:func:`admit_orders`).

    Attributes
    ----------
    admitted : numpy.ndarray
        Per order: the wallet covers it.
    reason : numpy.ndarray
        Per order: why it was rejected (``""`` if admitted).
    funds_minor : numpy.ndarray
        Per member code: what the interval's bids may cost, minor units (balance − other open
        commitments + credit limit).
    """

    admitted: BoolArray
    reason: AnyArray
    funds_minor: IntArray


def admit_orders(
    book: OrderBook,
    balance_minor: ArrayLike,
    committed_minor: ArrayLike,
    credit_minor: ArrayLike,
    has_wallet: ArrayLike | None = None,
) -> Admission:
    """Re-check an interval's orders against the members' wallets at gate closure (minor units in, out).

    :func:`~peergrid.market.check_wallets` in currency units (a bid commits q·max(p, 0); a member's
    bids are admitted in arrival order while its funds cover them; asks commit nothing; a member
    without a wallet has all its orders rejected), plus each member's funds for
    :func:`settle_market`.

    Parameters
    ----------
    book : OrderBook
        The interval's orders; ``participant`` is the member code.
    balance_minor, committed_minor, credit_minor : array-like of int
        Per member code: wallet balance, money committed by its open orders of *other* intervals,
        credit limit (minor units).
    has_wallet : array-like of bool, optional
        Per member code (default: everybody has one).
    """
    from peergrid.market.wallet import check_wallets

    bal = np.asarray(balance_minor, dtype=_INT)
    com = np.asarray(committed_minor, dtype=_INT)
    cre = np.asarray(credit_minor, dtype=_INT)
    has = np.ones(len(bal), dtype=bool) if has_wallet is None else np.asarray(has_wallet, dtype=bool)
    balance = np.where(has, bal / 100.0, np.nan)  # no wallet → the order is rejected
    elig = check_wallets(book, balance=balance, committed=com / 100.0, credit=cre / 100.0)
    admitted = np.asarray(elig.admitted, dtype=bool).copy()
    reason = np.where(admitted, "", elig.reason.astype(str)).astype(object)
    return Admission(admitted, reason, bal - com + cre)


@dataclass(frozen=True)
class _Match:
    cleared: Cleared
    q_wh: IntArray
    b_pos: IntArray
    s_pos: IntArray
    pb: FloatArray
    ps: FloatArray
    fee_per_kwh: FloatArray
    payment: IntArray
    receipt: IntArray
    payment_exact: FloatArray
    receipt_exact: FloatArray
    line_fee: IntArray


def _match(book: OrderBook, admitted: BoolArray, clear: ClearFn) -> _Match:
    """Clear the admitted orders and round the trades' money (once per party, :func:`settle_trades`)."""
    pos = np.flatnonzero(admitted)
    out = clear(book.select(admitted))
    cleared = out if isinstance(out, Cleared) else Cleared(out)
    tr = cleared.result.trades
    q_wh = np.rint(tr.quantity * 1000.0).astype(_INT)  # whole Wh, as stored
    keep = q_wh > 0
    q_wh = q_wh[keep]
    b_pos, s_pos = pos[tr.buy[keep]], pos[tr.sell[keep]]
    pb, ps = tr.price_buy[keep], tr.price_sell[keep]
    code = book.participant
    b_code, s_code = code[b_pos], code[s_pos]
    money = settle_trades(b_code, s_code, q_wh, pb, ps)
    line_fee: IntArray
    if cleared.line_fee_per_kwh is None:
        h = np.zeros(len(q_wh))
        line_fee = np.zeros(len(q_wh), dtype=_INT)
    else:
        h = np.asarray(cleared.line_fee_per_kwh, dtype=np.float64)[keep]
        # the buyer's line fee to the minor unit: Σ q·H of its trades rounded once, split by largest remainder
        line_fee = settle_trades(b_code, s_code, q_wh, h, np.zeros(len(q_wh))).payment
    return _Match(cleared, q_wh, b_pos, s_pos, pb, ps, h, money.payment, money.receipt,
                  money.payment_exact, money.receipt_exact, line_fee)  # fmt: skip


@dataclass(frozen=True)
class MarketSettlement:
    """The settled order-book phase of one interval (:func:`settle_market`).

    Per trade (index r): ``buy_order``, ``sell_order`` (positions in the book), ``buyer``,
    ``seller`` (member codes), ``quantity_wh``, ``price_buy`` (energy price plus line fee) and
    ``price_sell`` (currency/kWh), ``payment_minor`` (energy plus line fee), ``receipt_minor``,
    ``line_fee_minor``.

    Per order (book position): ``admitted``, ``filled_wh``, ``status`` (``rejected``,
    ``filled``, ``partial``, ``unfilled``), ``reason`` (why it was rejected, ``""`` otherwise).

    Per member code: ``bought_wh``, ``sold_wh``, ``paid_minor`` (energy plus line fees),
    ``received_minor``, ``fee_minor`` (the member's rounded share of the spread plus its line
    fees; informational), ``line_fee_minor``.

    ``residual_minor`` — Σ energy payments − Σ receipts (spread plus rounding, to ``fees``; may
    be negative by rounding); ``postings`` — the ledger transaction; ``result`` — the last
    clearing (on the admitted orders); ``network`` — the clearing's network figures.
    """

    result: MarketResult
    buy_order: IntArray
    sell_order: IntArray
    buyer: IntArray
    seller: IntArray
    quantity_wh: IntArray
    price_buy: FloatArray
    price_sell: FloatArray
    payment_minor: IntArray
    receipt_minor: IntArray
    line_fee_minor: IntArray
    admitted: BoolArray
    filled_wh: IntArray
    status: AnyArray
    reason: AnyArray
    bought_wh: IntArray
    sold_wh: IntArray
    paid_minor: IntArray
    received_minor: IntArray
    fee_minor: IntArray
    member_line_fee_minor: IntArray
    residual_minor: int
    postings: Postings
    network: dict[str, Any] = field(default_factory=dict)

    @property
    def n_trades(self) -> int:
        return int(self.quantity_wh.shape[0])

    @property
    def active(self) -> BoolArray:
        """Members that bought or sold (whose orders did not all stay unfilled)."""
        return (self.bought_wh > 0) | (self.sold_wh > 0)

    def summary(self, retail: float, feed_in: float, network: bool | None = None) -> dict[str, Any]:
        """The clearing run's summary (JSON-ready; NaN becomes None), grid prices of the interval included.

        ``network`` (default: whether the clearing reported network figures) adds ``network``,
        ``line_fees_minor`` and the clearing's network figures (None where it has none).
        """
        s = self.result.summary()
        s.update({
            "n_orders": len(self.admitted),
            "n_rejected": int((~self.admitted).sum()),
            "n_participants": len(self.paid_minor),
            "n_trades": self.n_trades,
            "traded_wh": int(self.quantity_wh.sum()),
            "paid_minor": int(self.paid_minor.sum()),
            "received_minor": int(self.received_minor.sum()),
            "fees_minor": self.residual_minor,
            "grid_price_buy": retail,
            "grid_price_sell": feed_in,
        })  # fmt: skip
        if network or (network is None and self.network):
            keys = ("line_fees", "curtailed_kwh", "rematched_kwh", "losses_kwh", "max_line_loading_pct",
                    "min_voltage_pu", "max_vim_pct", "feasible")  # fmt: skip
            s.update({"network": True, "line_fees_minor": int(self.member_line_fee_minor.sum()),
                      **{k: self.network.get(k) for k in keys}})  # fmt: skip
        return _json_ready(s)


def settle_market(
    book: OrderBook,
    clear: ClearFn,
    *,
    funds: ArrayLike | None = None,
    admitted: ArrayLike | None = None,
    reason: ArrayLike | None = None,
    n_members: int | None = None,
) -> MarketSettlement:
    """Clear and settle one interval's orders: trades, order statuses, member positions, postings.

    Parameters
    ----------
    book : OrderBook
        The interval's open orders in arrival order (time priority); ``participant`` is the
        member code (0 … n−1), ``quantity`` kWh in whole Wh.
    clear : callable
        ``clear(book) -> MarketResult | Cleared`` on the admitted sub-book (e.g.
        :func:`order_clearer`, or a network-aware clearing returning :class:`Cleared`).
    funds : array-like, optional
        What each member's bids of this interval may cost, minor units (balance − other open
        commitments + credit); default unlimited.
    admitted : array-like of bool, optional
        Orders admitted by the wallet check (:func:`~peergrid.market.check_wallets`) and
        the caller's own checks; default all.
    reason : array-like of str, optional
        Why each non-admitted order was rejected (kept; default ``""``).
    n_members : int, optional
        Number of member codes (default: the largest code + 1).

    Returns
    -------
    MarketSettlement
        The rounding rule of the module docstring; a buyer whose rounded total would exceed
        its funds has **all** its bids rejected (reason given) and the rest is cleared again,
        so every remaining buyer pays at most its funds.

    Examples
    --------
    A buyer of 2 kWh at 0.30 and a seller of 1 kWh at 0.10, uniform price with k = 0.5:

    >>> from peergrid.market import OrderBook
    >>> book = OrderBook.from_arrays(participant=[0, 1], side=[1, -1], quantity=[2.0, 1.0], price=[0.30, 0.10])
    >>> s = settle_market(book, order_clearer("uniform", 0.30, 0.10))
    >>> s.paid_minor.tolist(), s.received_minor.tolist(), s.status.tolist()
    ([20, 0], [0, 20], ['partial', 'filled'])
    """
    n = len(book)
    code = np.asarray(book.participant, dtype=_INT)
    side = np.asarray(book.side)
    n_members = int(n_members if n_members is not None else (code.max() + 1 if n else 0))
    ok = np.ones(n, dtype=bool) if admitted is None else np.asarray(admitted, dtype=bool).copy()
    why = np.full(n, "", dtype=object) if reason is None else np.asarray(reason, dtype=object).copy()
    why[ok] = ""
    limit = np.full(n_members, np.iinfo(_INT).max, dtype=_INT) if funds is None else np.asarray(funds, dtype=_INT)
    qwh = np.rint(np.asarray(book.quantity, dtype=np.float64) * 1000.0).astype(_INT)
    for _ in range(n_members + 1):
        m = _match(book, ok, clear)
        b_code = code[m.b_pos]
        paid = np.bincount(b_code, weights=m.payment + m.line_fee, minlength=n_members).astype(_INT)
        over = np.flatnonzero((paid > limit) & (paid > 0))
        if not len(over):
            break
        bad = np.isin(code, over) & (side > 0) & ok
        ok[bad] = False
        for i in np.flatnonzero(bad).tolist():
            c = int(code[i])
            why[i] = (f"settlement would exceed the wallet: the interval's trades cost {int(paid[c])}, "
                      f"funds {int(limit[c])} minor units")  # fmt: skip
    b_code, s_code = code[m.b_pos], code[m.s_pos]
    line_by = np.bincount(b_code, weights=m.line_fee, minlength=n_members).astype(_INT)
    received = np.bincount(s_code, weights=m.receipt, minlength=n_members).astype(_INT)
    residual = int(m.payment.sum() - m.receipt.sum())
    # a buyer's market fees: its share of the spread, rounded (0 at a uniform price), plus its line fees
    spread = np.bincount(b_code, weights=m.payment_exact - m.receipt_exact, minlength=n_members)
    fees_by = np.clip(np.rint(spread).astype(_INT), 0, paid - line_by) + line_by
    bought = np.bincount(b_code, weights=m.q_wh, minlength=n_members).astype(_INT)
    sold = np.bincount(s_code, weights=m.q_wh, minlength=n_members).astype(_INT)
    filled = (np.bincount(m.b_pos, weights=m.q_wh, minlength=n)
              + np.bincount(m.s_pos, weights=m.q_wh, minlength=n)).astype(_INT)  # fmt: skip
    filled = np.minimum(filled, qwh)
    status = np.where(~ok, "rejected", np.where(filled >= qwh, "filled", np.where(filled > 0, "partial", "unfilled")))
    postings = Postings.concat([
        Postings.members(paid - line_by, "clearing", "p2p_buy", pay=True),  # buyers → clearing
        Postings.members(line_by, "network", "line_fee", pay=True),  # eq. 12 line fees → network operator
        Postings.members(received, "clearing", "p2p_sell", pay=False),  # clearing → sellers
        Postings.single("clearing", "fees", residual, "p2p_fee"),  # spread + rounding (either sign)
    ])  # fmt: skip
    network = dict(m.cleared.network)
    return MarketSettlement(
        result=m.cleared.result, buy_order=m.b_pos, sell_order=m.s_pos, buyer=b_code, seller=s_code,
        quantity_wh=m.q_wh, price_buy=m.pb + m.fee_per_kwh, price_sell=m.ps,
        payment_minor=m.payment + m.line_fee, receipt_minor=m.receipt, line_fee_minor=m.line_fee,
        admitted=ok, filled_wh=filled, status=status.astype(object), reason=why, bought_wh=bought, sold_wh=sold,
        paid_minor=paid, received_minor=received, fee_minor=fees_by, member_line_fee_minor=line_by,
        residual_minor=residual, postings=postings, network=network,
    )  # fmt: skip


# ------------------------------------------------------------------ the metered phase
@dataclass(frozen=True)
class MeteredSettlement:
    """The settled metered phase of one interval, one entry per member code (a position row each).

    Attributes
    ----------
    bought_wh, sold_wh : numpy.ndarray
        Energy shared with peers (pool) — 0 for order-book members (their trades were settled
        in the market phase).
    grid_import_wh, grid_export_wh : numpy.ndarray
        Pool: the member's residual with the grid; order book: its imbalance.
    metered_net_wh : numpy.ndarray
    paid_minor, received_minor : numpy.ndarray
        Pool: the member's bill (+ network charges); order book: 0.
    fee_minor : numpy.ndarray
        Network charges (line fee + loss charge).
    grid_paid_minor, grid_received_minor : numpy.ndarray
        Order book: the imbalance charge / credit; pool: 0.
    line_fee_minor, loss_charge_minor : numpy.ndarray
    postings : Postings
    summary : dict
        The clearing run's summary (without the network entries, which the caller adds).
    """

    bought_wh: IntArray
    sold_wh: IntArray
    grid_import_wh: IntArray
    grid_export_wh: IntArray
    metered_net_wh: IntArray
    paid_minor: IntArray
    received_minor: IntArray
    fee_minor: IntArray
    grid_paid_minor: IntArray
    grid_received_minor: IntArray
    line_fee_minor: IntArray
    loss_charge_minor: IntArray
    postings: Postings
    summary: dict[str, Any]

    @property
    def bill_minor(self) -> IntArray:
        """Each member's net bill of the phase, minor units (+ pays)."""
        return self.paid_minor - self.received_minor + self.grid_paid_minor - self.grid_received_minor


def _network_charges(
    n: int, network: tuple[ArrayLike, ArrayLike] | None, price_buy: float
) -> tuple[IntArray, IntArray]:
    """(line fee, loss charge) per member, minor units: each rounded once, never negative."""
    if network is None:
        z = np.zeros(n, dtype=_INT)
        return z, z.copy()
    fee, loss_kwh = (np.asarray(a, dtype=np.float64) for a in network)
    return np.maximum(to_minor(fee), 0), np.maximum(to_minor(loss_kwh * price_buy), 0)


def _metered(
    bought: IntArray, sold: IntArray, g_imp: IntArray, g_exp: IntArray, net_wh: IntArray,
    paid: IntArray, received: IntArray, g_paid: IntArray, g_recv: IntArray, kinds: tuple[str, str],
    network: tuple[ArrayLike, ArrayLike] | None, price_buy: float, summary: dict[str, Any],
) -> MeteredSettlement:  # fmt: skip
    n = len(net_wh)
    line, loss = _network_charges(n, network, price_buy)
    pay, recv = (paid, received) if kinds[0] == "pool_buy" else (g_paid, g_recv)
    parts = [Postings.members(pay, "grid", kinds[0], pay=True), Postings.members(recv, "grid", kinds[1], pay=False)]
    fee = np.zeros(n, dtype=_INT)
    if network is not None:  # members → network operator; the operator buys the losses from the supplier
        parts += [
            Postings.members(line, "network", "line_fee", pay=True),
            Postings.members(loss, "network", "loss_charge", pay=True),
            Postings.single("network", "grid", int(loss.sum()), "loss_purchase"),
        ]
        fee = line + loss
        paid = paid + fee  # the invoice's "Market fees" line: paid_minor and fee_minor include them
    summary = dict(summary)
    summary["paid_minor"] = int(pay.sum() + fee.sum())
    summary["received_minor"] = int(recv.sum())
    return MeteredSettlement(bought, sold, g_imp, g_exp, net_wh, paid, received, fee, g_paid, g_recv, line, loss,
                             Postings.concat(parts), _json_ready(summary))  # fmt: skip


def pool_p2p_price(demand_kwh: float, traded_kwh: float, price_buy: float, retail: float) -> float | None:
    """The price of the energy a pool shares between members, currency/kWh (``None`` without P2P volume).

    A pool charges every buyer ``price_buy`` per kWh of deficit; of the community's demand D,
    ``traded`` kWh come from peers and D − traded from the grid at ``retail``. What buyers pay for
    the peers' energy, per kWh of it, is (price_buy·D − retail·(D − traded)) / traded; money
    conservation (Σ bills = the grid bill) makes it equal to what sellers receive per kWh sold to peers.

    Examples
    --------
    Mid-market rate, 1.5 kWh demand all met by peers at (0.30 + 0.08) / 2:

    >>> round(pool_p2p_price(1.5, 1.5, 0.19, 0.30), 4)
    0.19
    """
    if not traded_kwh > 0:
        return None
    return (price_buy * demand_kwh - retail * (demand_kwh - traded_kwh)) / traded_kwh


def settle_pool(
    net_wh: ArrayLike,
    retail: float,
    feed_in: float,
    mechanism: str,
    *,
    export_limit_wh: int | None = None,
    network: tuple[ArrayLike, ArrayLike] | None = None,
) -> MeteredSettlement:
    """Settle one pool interval (``bs``, ``mmr``, ``sdr``, ``baseline``) on metered net positions.

    The positions are cleared with :func:`~peergrid.market.clear`; every member's bill
    (its :meth:`~peergrid.market.Clearing.allocate` bill, minus the feed-in of export spilled
    above ``export_limit_wh``) is rounded once and posted against the ``grid`` account
    (``pool_buy`` member → grid, ``pool_sell`` grid → member).

    Parameters
    ----------
    net_wh : array-like of int
        ``(N,)`` metered net energy per member code, Wh (+ import).
    retail, feed_in : float
        λb, λs of the interval, currency/kWh.
    mechanism : str
        Pool rule.
    export_limit_wh : int, optional
        Most grid export paid per member and interval, Wh (:func:`export_limit_wh`).
    network : (array-like, array-like), optional
        ``(line fee currency, loss kWh)`` per member (eq. 12 fees and the pro-rata losses of the
        feeder flow): rounded once each — the loss charge at λb — and posted to ``network``,
        which buys the losses from ``grid``.

    Returns
    -------
    MeteredSettlement

    Examples
    --------
    SDR with a seller of 1 kWh and a buyer of 2 kWh (λb = 0.30, λs = 0.10):

    >>> s = settle_pool([2000, -1000], 0.30, 0.10, "sdr")
    >>> s.bill_minor.tolist(), s.postings.deltas(2)[1]["grid"]
    ([45, -15], 30)
    """
    from peergrid.market.sharing import clear

    net_wh = np.asarray(net_wh, dtype=_INT)
    net = (net_wh / 1000.0)[None, :]
    c = clear(net, retail, feed_in, mechanism)
    alloc = c.allocate(net)
    bought = np.rint(alloc.bought[0] * 1000).astype(_INT)
    sold = np.rint(alloc.sold[0] * 1000).astype(_INT)
    g_imp = np.maximum(net_wh, 0) - bought
    g_exp = np.maximum(-net_wh, 0) - sold
    # export above the tariff's limit leaves the member unpaid, as in the simulator's bills
    paid_exp = g_exp if export_limit_wh is None else np.minimum(g_exp, int(export_limit_wh))
    spilled = g_exp - paid_exp
    bill = to_minor(alloc.bill[0] + spilled / 1000.0 * feed_in)
    paid, received = np.maximum(bill, 0), np.maximum(-bill, 0)
    zero = np.zeros(len(net_wh), dtype=_INT)
    summary = {
        "n_participants": len(net_wh),
        "demand_kwh": float(c.demand[0]),
        "supply_kwh": float(c.supply[0]),
        "traded_kwh": float(c.traded[0]),
        "price_buy": float(c.price_buy[0]),
        "price_sell": float(c.price_sell[0]),
        "p2p_price": pool_p2p_price(
            float(c.demand[0]), float(c.traded[0]), float(c.price_buy[0]), float(c.retail[0])
        ),
        "grid_bill": float(c.grid_bill[0]) + float(spilled.sum()) / 1000.0 * feed_in,
        "spilled_wh": int(spilled.sum()),
        "grid_price_buy": retail,
        "grid_price_sell": feed_in,
    }
    return _metered(bought, sold, g_imp, g_exp, net_wh, paid, received, zero, zero.copy(), ("pool_buy", "pool_sell"),
                    network, retail, summary)  # fmt: skip


def settle_orders_metered(
    net_wh: ArrayLike,
    contracted_wh: ArrayLike,
    retail: float,
    feed_in: float,
    *,
    export_limit_wh: int | None = None,
) -> MeteredSettlement:
    """Settle the metered phase of an order-book interval: each member's imbalance with the grid.

    The imbalance δ = metered net − traded position (bought − sold) is settled per member at
    λb / λs (:func:`settle_imbalance`, ``at="member"``; export paid up to ``export_limit_wh``):
    ``grid_import`` member → grid, ``grid_export`` grid → member, each rounded once.

    Parameters
    ----------
    net_wh, contracted_wh : array-like of int
        ``(N,)`` metered net energy and traded position per member code, Wh (+ import / bought).
    retail, feed_in : float
        λb, λs of the interval, currency/kWh.
    export_limit_wh : int, optional
        Most export paid per member and interval, Wh.

    Returns
    -------
    MeteredSettlement

    Examples
    --------
    A buyer of 1 kWh that used 1.2 kWh and a seller of 1 kWh that fed in 0.9 kWh:

    >>> s = settle_orders_metered([1200, -900], [1000, -1000], 0.30, 0.10)
    >>> s.grid_paid_minor.tolist(), s.grid_import_wh.tolist(), s.grid_export_wh.tolist()
    ([6, 3], [200, 100], [0, 0])
    """
    net_wh = np.asarray(net_wh, dtype=_INT)
    con = np.asarray(contracted_wh, dtype=_INT)
    imb = settle_imbalance(net_wh, con, retail, feed_in, unit="Wh", export_limit=export_limit_wh)
    g_paid, g_recv = imb.minor()
    zero = np.zeros(len(net_wh), dtype=_INT)
    summary = {
        "n_participants": len(net_wh),
        "metered_net_wh": int(net_wh.sum()),
        "contracted_net_wh": int(con.sum()),
        "grid_import_wh": int(imb.import_energy.sum()),
        "grid_export_wh": int(imb.export_energy.sum()),
        "grid_paid_minor": int(g_paid.sum()),
        "grid_received_minor": int(g_recv.sum()),
        "grid_price_buy": retail,
        "grid_price_sell": feed_in,
    }
    g_imp, g_exp = np.asarray(imb.import_energy, dtype=_INT), np.asarray(imb.export_energy, dtype=_INT)
    return _metered(zero, zero.copy(), g_imp, g_exp, net_wh, zero.copy(), zero.copy(), g_paid, g_recv,
                    ("grid_import", "grid_export"), None, retail, summary)  # fmt: skip


def delivery_reputation(scores: ArrayLike, contracted_wh: ArrayLike, net_wh: ArrayLike) -> FloatArray:
    """Reputation scores after one interval's delivery (:func:`~peergrid.market.update_reputation`).

    Promised: the member's traded position |bought − sold|; delivered: the metered energy in
    that direction (a seller's feed-in, a buyer's import), kWh. Members without a position keep
    their score.

    Parameters
    ----------
    scores : array-like
        ``(N,)`` current scores in [0, 1].
    contracted_wh, net_wh : array-like of int
        ``(N,)`` traded position and metered net energy, Wh.
    """
    from peergrid.market.reputation import update_reputation

    con = np.asarray(contracted_wh, dtype=_INT)
    net = np.asarray(net_wh, dtype=_INT)
    promised = np.abs(con) / 1000.0
    delivered = np.maximum(np.sign(con) * net, 0) / 1000.0
    return update_reputation(np.asarray(scores, dtype=np.float64), promised, delivered)


# ------------------------------------------------------------------ simulator-side calls
@dataclass(frozen=True)
class IntervalBills:
    """Every member's settled money of one interval, minor units (both phases; :func:`settle_orders_interval`).

    Attributes
    ----------
    paid, received : numpy.ndarray
        Peer / pool money paid and received (market phase for order books, pool bill otherwise).
    grid_paid, grid_received : numpy.ndarray
        Imbalance charges and credits with the grid (order books).
    market : MarketSettlement or None
    metered : MeteredSettlement
    """

    paid: IntArray
    received: IntArray
    grid_paid: IntArray
    grid_received: IntArray
    market: MarketSettlement | None
    metered: MeteredSettlement

    @property
    def bill(self) -> IntArray:
        """Net bill per member, minor units (+ pays): paid − received + grid paid − grid received."""
        return self.paid - self.received + self.grid_paid - self.grid_received


def settle_orders_interval(
    book: OrderBook,
    net_wh: ArrayLike,
    retail: float,
    feed_in: float,
    mechanism: str,
    *,
    k: float = 0.5,
    funds: ArrayLike | None = None,
    scores: ArrayLike | None = None,
    export_limit_wh: int | None = None,
) -> IntervalBills:
    """Settle one order-book interval end to end, as the service does: market phase, then metered phase.

    Parameters
    ----------
    book : OrderBook
        The interval's orders in arrival order; member codes as ``participant``.
    net_wh : array-like of int
        ``(N,)`` metered net energy per member code, Wh.
    retail, feed_in : float
        λb, λs, currency/kWh.
    mechanism : str
        Order-book mechanism.
    k : float
        Price parameter of ``uniform`` and ``bilateral``.
    funds : array-like, optional
        Minor units each member's bids may cost (default unlimited).
    scores : array-like, optional
        Reputation score per member code (default: 1 for everybody, as new service members).
    export_limit_wh : int, optional

    Returns
    -------
    IntervalBills
    """
    net_wh = np.asarray(net_wh, dtype=_INT)
    n = len(net_wh)
    scores = np.ones(n) if scores is None else np.asarray(scores, dtype=np.float64)
    m = settle_market(book, order_clearer(mechanism, retail, feed_in, k=k, scores=scores), funds=funds, n_members=n)
    met = settle_orders_metered(net_wh, m.bought_wh - m.sold_wh, retail, feed_in, export_limit_wh=export_limit_wh)
    return IntervalBills(m.paid_minor, m.received_minor, met.grid_paid_minor, met.grid_received_minor, m, met)


def settle_pool_interval(
    net_wh: ArrayLike, retail: float, feed_in: float, mechanism: str, *, export_limit_wh: int | None = None
) -> IntervalBills:
    """:func:`settle_pool` as :class:`IntervalBills` (the pool counterpart of :func:`settle_orders_interval`)."""
    met = settle_pool(net_wh, retail, feed_in, mechanism, export_limit_wh=export_limit_wh)
    return IntervalBills(met.paid_minor, met.received_minor, met.grid_paid_minor, met.grid_received_minor, None, met)


def order_bills(result: MarketResult) -> FloatArray:
    """Exact money per order of a cleared book, currency: peer payments − peer receipts + grid residual.

    The unrounded counterpart of :func:`settle_market` plus :func:`settle_orders_metered` when the
    metered energy equals the orders: a bid pays q·p_buy per trade and its unmatched rest at
    λb, an ask receives q·p_sell per trade and its unmatched rest at λs (no export limit). The
    simulator's order-book bills (:class:`~peergrid.market.OrderClearing`) are these.

    Parameters
    ----------
    result : MarketResult
        Cleared with ``retail`` and ``feed_in`` (without them: peer money only).

    Returns
    -------
    numpy.ndarray
        ``(len(book),)`` currency (+ pays).
    """
    t = result.trades
    n = len(result.book)
    peer: FloatArray = np.asarray(
        np.bincount(t.buy, weights=t.payment, minlength=n) - np.bincount(t.sell, weights=t.receipt, minlength=n),
        dtype=np.float64,
    )
    if result.retail is None or result.feed_in is None:
        return peer
    return np.asarray(peer + result.grid_bill, dtype=np.float64)


def _json_ready(summary: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinite floats → None."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in summary.items()}
