"""Orders as a structure of arrays: :class:`OrderBook`, :class:`Trades`, :class:`MarketResult`.

An order is (id, participant, side, quantity, limit price, slot[, reputation]):
a *bid* (``side = +1``, buy) offers to pay at most ``price`` per kWh for up to
``quantity`` kWh; an *ask* / offer (``side = −1``, sell) accepts at least
``price`` per kWh. The sign follows peergrid's convention ``net = consumption −
generation``: + buys / imports, − sells / exports. Orders with different ``slot``
values are cleared in separate auctions (one delivery interval each).

Every batch mechanism (:mod:`peergrid.market.auction`,
:mod:`peergrid.market.bilateral`) takes an :class:`OrderBook` and returns a
:class:`MarketResult`: the peer :class:`Trades` plus the unmatched residual of each
order, which goes to the grid at the retail price λb (buyers) or the feed-in tariff
λs (sellers).

Units: quantity kWh, prices currency/kWh, money currency. No I/O here: order files are
read at the edge, by :func:`peergrid.io.read_orders`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.core.types import AnyArray, ArrayLike, BoolArray, FloatArray, IndexArray, IntArray

#: A per-participant input: an array indexed by participant code, a mapping keyed by participant
#: label (or code), or one number for everybody (:meth:`OrderBook.participant_values`).
ParticipantValues: TypeAlias = ArrayLike | Mapping[Any, float]

BUY: int = 1
SELL: int = -1

#: Columns an order table (and a CSV order file, :func:`peergrid.io.read_orders`) must have
#: (``slot`` and ``reputation`` are optional).
CSV_COLUMNS: tuple[str, ...] = ("id", "participant", "side", "quantity_kwh", "price")
CSV_OPTIONAL: tuple[str, ...] = ("slot", "reputation")

_SIDE_WORDS = {"buy": BUY, "bid": BUY, "b": BUY, "sell": SELL, "ask": SELL, "offer": SELL, "s": SELL}


def _label(ids: AnyArray, i: int) -> str:
    return repr(ids[i].item() if hasattr(ids[i], "item") else ids[i])


def _side_array(side: ArrayLike, n: int) -> IntArray:
    arr = np.asarray(side)
    if arr.shape != (n,):
        raise DataError(f"side must have one entry per order ({n}), got shape {arr.shape}")
    if arr.dtype == bool:
        return np.where(arr, BUY, SELL).astype(np.int8)
    if arr.dtype.kind in "iuf":
        bad = ~np.isin(arr, (BUY, SELL))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"order {i}: side must be +1 (buy) or -1 (sell), got {arr[i]!r}")
        return arr.astype(np.int8)
    words = pd.Series(arr, dtype=object).astype(str).str.strip().str.lower()
    mapped = words.map(_SIDE_WORDS)
    if mapped.isna().any():
        i = int(np.argmax(mapped.isna().to_numpy()))
        raise DataError(f"order {i}: side must be 'buy' or 'sell', got {arr[i]!r}")
    return mapped.to_numpy(dtype=np.int8)


@dataclass(frozen=True, eq=False)
class OrderBook:
    """A batch of limit orders as numpy columns (structure of arrays).

    Build it with :meth:`from_arrays`, :meth:`from_frame` or :func:`read_orders`;
    the constructor does not validate.

    Attributes
    ----------
    id : numpy.ndarray
        Order ids (int64 or object), unique; carried through to the trades.
    participant : numpy.ndarray
        int64 participant codes ≥ 0 (small non-negative integer participants are
        their own codes; anything else is factorised, see :attr:`labels`).
        Per-participant inputs (wallet balances, reputation scores, network fees)
        are arrays indexed by this code, or mappings keyed by the participant label
        (see :meth:`participant_values`).
    side : numpy.ndarray
        int8, ``+1`` buy (bid) or ``−1`` sell (ask / offer).
    quantity : numpy.ndarray
        Energy, kWh, > 0.
    price : numpy.ndarray
        Limit price, currency/kWh, finite: the most a buyer pays, the least a
        seller accepts.
    slot : numpy.ndarray
        int64 delivery slot; each slot is a separate auction.
    reputation : numpy.ndarray or None
        Optional score in [0, 1] of the order's participant
        (:mod:`peergrid.market.reputation`).
    labels : numpy.ndarray or None
        Participant label of each code (``labels[participant]``), when the
        participants were given as strings; ``None`` means the code is the label.
    """

    id: AnyArray
    participant: IntArray
    side: IntArray
    quantity: FloatArray
    price: FloatArray
    slot: IntArray
    reputation: FloatArray | None = None
    labels: AnyArray | None = field(default=None, repr=False)

    # ----------------------------------------------------------------- building
    @classmethod
    def from_arrays(
        cls,
        participant: ArrayLike,
        side: ArrayLike,
        quantity: ArrayLike,
        price: ArrayLike,
        slot: ArrayLike | None = None,
        id: ArrayLike | None = None,
        reputation: ArrayLike | None = None,
    ) -> OrderBook:
        """Validate columns and build a book.

        Parameters
        ----------
        participant : array-like
            Participant of each order: non-negative integer codes, or any labels
            (strings), which are factorised into codes (kept in :attr:`labels`).
        side : array-like
            ``+1``/``−1``, booleans (True = buy) or the words ``"buy"``/``"sell"``.
        quantity : array-like
            kWh, finite and > 0.
        price : array-like
            Limit prices, currency/kWh, finite.
        slot : array-like or int, optional
            Integer delivery slot per order (default 0: one auction).
        id : array-like, optional
            Unique order ids (default ``0..n−1``).
        reputation : array-like, optional
            Scores in [0, 1].

        Returns
        -------
        OrderBook

        Raises
        ------
        DataError
            Naming the first offending order.
        """
        q = np.asarray(quantity, dtype=np.float64).ravel()
        n = q.shape[0]
        p = np.asarray(price, dtype=np.float64).ravel()
        if p.shape != (n,):
            raise DataError(f"price must have one entry per order ({n}), got {p.shape[0]}")
        ids = np.arange(n, dtype=np.int64) if id is None else np.asarray(id)
        if ids.shape != (n,):
            raise DataError(f"id must have one entry per order ({n}), got shape {ids.shape}")
        if n and pd.Index(ids).has_duplicates:
            dup = pd.Index(ids).duplicated()
            i = int(np.argmax(dup))
            raise DataError(f"order {i}: duplicate id {_label(ids, i)}")
        bad = ~np.isfinite(q) | (q <= 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"order {i} (id {_label(ids, i)}): quantity must be a finite number > 0, got {q[i]}")
        bad = ~np.isfinite(p)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"order {i} (id {_label(ids, i)}): price must be finite, got {p[i]}")
        s = _side_array(side, n)
        labels = None
        part = np.asarray(participant)
        if part.shape != (n,):
            raise DataError(f"participant must have one entry per order ({n}), got shape {part.shape}")
        if part.dtype.kind in "iu" and (n == 0 or (part.min() >= 0 and part.max() < 4 * n + 1024)):
            part = part.astype(np.int64)  # small non-negative integers are the codes themselves
        else:
            codes, uniques = pd.factorize(pd.Series(part, dtype=object), sort=False)
            part = codes.astype(np.int64)
            labels = np.asarray(uniques, dtype=object)
        if slot is None:
            sl = np.zeros(n, dtype=np.int64)
        else:
            sl_raw = np.broadcast_to(np.asarray(slot), (n,))
            if sl_raw.dtype.kind == "f":
                if not np.all(np.isfinite(sl_raw)) or np.any(sl_raw != np.round(sl_raw)):
                    i = int(np.argmax(~np.isfinite(sl_raw) | (sl_raw != np.round(sl_raw))))
                    raise DataError(f"order {i} (id {_label(ids, i)}): slot must be an integer, got {sl_raw[i]}")
            elif sl_raw.dtype.kind not in "iub":
                raise DataError(f"slot must be integers, got dtype {sl_raw.dtype}")
            sl = sl_raw.astype(np.int64)
        rep = None
        if reputation is not None:
            rep = np.broadcast_to(np.asarray(reputation, dtype=np.float64), (n,)).copy()
            bad = ~(rep >= 0) | ~(rep <= 1)
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(f"order {i} (id {_label(ids, i)}): reputation must be in [0, 1], got {rep[i]}")
        return cls(ids, part, s, q, p, sl, rep, labels)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> OrderBook:
        """Build a book from a DataFrame with the CSV columns (see :data:`CSV_COLUMNS`)."""
        missing = [c for c in CSV_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"orders table lacks column(s) {', '.join(missing)}")
        return cls.from_arrays(
            participant=frame["participant"].to_numpy(),
            side=frame["side"].to_numpy(),
            quantity=frame["quantity_kwh"].to_numpy(),
            price=frame["price"].to_numpy(),
            slot=frame["slot"].to_numpy() if "slot" in frame.columns else None,
            id=frame["id"].to_numpy(),
            reputation=frame["reputation"].to_numpy() if "reputation" in frame.columns else None,
        )

    @classmethod
    def from_net(cls, net: ArrayLike, bid_price: ArrayLike, ask_price: ArrayLike) -> OrderBook:
        """One order per slot and participant from net positions (vectorised).

        Parameters
        ----------
        net : array-like
            ``(T, N)`` net energy per slot, kWh (+ import / buyer, − export / seller).
        bid_price, ask_price : array-like or float
            Limit prices, currency/kWh, broadcastable to ``(T, N)`` (a scalar, ``(T, 1)``
            per slot, or ``(T, N)`` per participant — e.g. a bidding strategy's output).

        Returns
        -------
        OrderBook
            Participant i's net n_ti > 0 becomes a bid of n_ti kWh at ``bid_price[t, i]``,
            n_ti < 0 an ask of −n_ti kWh at ``ask_price[t, i]``; ``slot`` = t, order id
            t·N + i, zeros are skipped. Orders are in slot-major order.
        """
        x = np.asarray(net, dtype=np.float64)
        if x.ndim != 2:
            raise DataError(f"net must be a (T, N) array, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise DataError("net contains NaN or infinite values")
        try:
            bp = np.broadcast_to(np.asarray(bid_price, dtype=np.float64), x.shape)
            ap = np.broadcast_to(np.asarray(ask_price, dtype=np.float64), x.shape)
        except ValueError:
            raise DataError(f"bid_price and ask_price must broadcast to net's shape {x.shape}") from None
        t, i = np.nonzero(x)
        v = x[t, i]
        return cls.from_arrays(
            participant=i.astype(np.int64),
            side=np.where(v > 0, BUY, SELL).astype(np.int8),
            quantity=np.abs(v),
            price=np.where(v > 0, bp[t, i], ap[t, i]),
            slot=t.astype(np.int64),
            id=t.astype(np.int64) * x.shape[1] + i,
        )

    # ------------------------------------------------------------------- access
    def __len__(self) -> int:
        return int(self.quantity.shape[0])

    @property
    def is_buy(self) -> BoolArray:
        """Boolean mask of bids."""
        return self.side > 0

    @property
    def n_participants(self) -> int:
        """Number of participant codes (max code + 1)."""
        if self.labels is not None:
            return len(self.labels)
        return int(self.participant.max()) + 1 if len(self) else 0

    def participant_label(self, codes: IntArray) -> AnyArray:
        """Labels of participant codes (the codes themselves without :attr:`labels`)."""
        return self.labels[codes] if self.labels is not None else np.asarray(codes)

    def participant_values(self, values: ParticipantValues, name: str, default: float | None = None) -> FloatArray:
        """Per-order values from a per-participant input.

        Parameters
        ----------
        values : array-like, Mapping or float
            Indexed by participant code (array), keyed by participant label or code
            (mapping), or one value for everybody (scalar).
        name : str
            What the values are, for error messages.
        default : float, optional
            Used for participants a mapping or a short array does not cover;
            without it they are an error.

        Returns
        -------
        numpy.ndarray
            float64, one value per order.
        """
        if isinstance(values, Mapping):
            codes = np.arange(self.n_participants)
            labs = self.participant_label(codes)
            table = np.array(
                [values.get(lab.item() if hasattr(lab, "item") else lab, np.nan) for lab in labs], dtype=np.float64
            )
        else:
            arr = np.asarray(values, dtype=np.float64)
            if arr.ndim == 0:
                return np.full(len(self), float(arr))
            table = np.full(max(self.n_participants, arr.shape[0]), np.nan)
            table[: arr.shape[0]] = arr
        if default is not None:
            table = np.where(np.isnan(table), default, table)
        out = table[self.participant] if len(table) else np.full(len(self), np.nan)
        if np.isnan(out).any():
            i = int(np.argmax(np.isnan(out)))
            lab = self.participant_label(self.participant[i : i + 1])[0]
            raise DataError(f"no {name} for participant {lab!r} (order {_label(self.id, i)})")
        return out

    def select(self, mask: BoolArray | IndexArray) -> OrderBook:
        """The sub-book of orders where ``mask`` is true (labels kept)."""
        m = np.asarray(mask)
        rep = None if self.reputation is None else self.reputation[m]
        return OrderBook(
            self.id[m],
            self.participant[m],
            self.side[m],
            self.quantity[m],
            self.price[m],
            self.slot[m],
            rep,
            self.labels,
        )

    def with_prices(self, price: ArrayLike) -> OrderBook:
        """A copy with new limit prices (same orders)."""
        p = np.asarray(price, dtype=np.float64)
        if p.shape != self.price.shape or not np.all(np.isfinite(p)):
            raise DataError("new prices must be finite and one per order")
        return OrderBook(
            self.id, self.participant, self.side, self.quantity, p, self.slot, self.reputation, self.labels
        )

    def to_frame(self) -> pd.DataFrame:
        """The book as a DataFrame with the CSV columns."""
        df = pd.DataFrame(
            {
                "id": self.id,
                "participant": self.participant_label(self.participant),
                "side": np.where(self.side > 0, "buy", "sell"),
                "quantity_kwh": self.quantity,
                "price": self.price,
                "slot": self.slot,
            }
        )
        if self.reputation is not None:
            df["reputation"] = self.reputation
        return df


@dataclass(frozen=True, eq=False)
class Trades:
    """Peer trades as numpy columns; row r moves ``quantity[r]`` kWh from seller to buyer.

    Attributes
    ----------
    buy, sell : numpy.ndarray
        int64 positions of the bid and the ask in the :class:`OrderBook`.
    buyer, seller : numpy.ndarray
        int64 participant codes.
    quantity : numpy.ndarray
        kWh, > 0.
    price_buy : numpy.ndarray
        What the buyer pays per kWh, currency/kWh (trade price plus any fee).
    price_sell : numpy.ndarray
        What the seller receives per kWh, currency/kWh. ``price_buy −
        price_sell`` is the fee per kWh collected by the operator (0 for
        budget-balanced uniform prices).
    slot : numpy.ndarray
        int64 delivery slot.
    """

    buy: IntArray
    sell: IntArray
    buyer: IntArray
    seller: IntArray
    quantity: FloatArray
    price_buy: FloatArray
    price_sell: FloatArray
    slot: IntArray

    @classmethod
    def empty(cls) -> Trades:
        """No trades."""
        i = np.zeros(0, dtype=np.int64)
        f = np.zeros(0, dtype=np.float64)
        return cls(i, i.copy(), i.copy(), i.copy(), f, f.copy(), f.copy(), i.copy())

    @classmethod
    def concat(cls, parts: Iterable[Trades]) -> Trades:
        """Concatenate trade sets column by column."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.quantity.shape[0])

    @property
    def payment(self) -> FloatArray:
        """Money paid by the buyer of each trade, currency."""
        out: FloatArray = self.quantity * self.price_buy
        return out

    @property
    def receipt(self) -> FloatArray:
        """Money received by the seller of each trade, currency."""
        out: FloatArray = self.quantity * self.price_sell
        return out

    @property
    def fee(self) -> FloatArray:
        """Money kept by the operator on each trade, currency (payment − receipt)."""
        out: FloatArray = self.quantity * (self.price_buy - self.price_sell)
        return out

    def take(self, index: BoolArray | IndexArray | IntArray) -> Trades:
        """Rows ``index`` (an integer or boolean index)."""
        return Trades(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def to_frame(self, book: OrderBook | None = None) -> pd.DataFrame:
        """One row per trade.

        Parameters
        ----------
        book : OrderBook, optional
            The book the trades came from: adds order ids and participant labels.

        Returns
        -------
        pandas.DataFrame
            Columns ``slot, buy_id, sell_id, buyer, seller, quantity_kwh,
            price_buy, price_sell, fee`` (ids and labels are the book positions and
            codes when ``book`` is not given).
        """
        if book is not None:
            buy_id, sell_id = book.id[self.buy], book.id[self.sell]
            buyer, seller = book.participant_label(self.buyer), book.participant_label(self.seller)
        else:
            buy_id, sell_id, buyer, seller = self.buy, self.sell, self.buyer, self.seller
        return pd.DataFrame(
            {
                "slot": self.slot,
                "buy_id": buy_id,
                "sell_id": sell_id,
                "buyer": buyer,
                "seller": seller,
                "quantity_kwh": self.quantity,
                "price_buy": self.price_buy,
                "price_sell": self.price_sell,
                "fee": self.fee,
            }
        )


@dataclass(frozen=True, eq=False)
class MarketResult:
    """Outcome of clearing an :class:`OrderBook` with one batch mechanism.

    Attributes
    ----------
    mechanism : str
        ``"uniform"``, ``"pay-as-bid"``, ``"mcafee"`` or ``"bilateral"``.
    book : OrderBook
        The orders that were cleared.
    trades : Trades
        Peer trades.
    slots : numpy.ndarray
        Sorted distinct slots of the book.
    clearing_price : numpy.ndarray
        Per slot: the single price every trade of the slot settles at
        (currency/kWh), NaN where the slot has no trade or no single price
        (pay-as-bid, bilateral, McAfee's trade-reduction case).
    retail, feed_in : numpy.ndarray or None
        λb and λs per slot, currency/kWh, if given: residual bids import at λb,
        residual asks export at λs.
    curtailed : numpy.ndarray or None
        Per slot: matched energy a network check removed from the trades, kWh
        (network-aware bilateral mode, ``bilateral(..., network=...)``); it is part
        of the residuals. ``None`` when no network check ran.
    """

    mechanism: str
    book: OrderBook
    trades: Trades
    slots: IntArray
    clearing_price: FloatArray
    retail: FloatArray | None = None
    feed_in: FloatArray | None = None
    curtailed: FloatArray | None = None

    def _slot_index(self, slot_values: IntArray) -> IndexArray:
        return np.searchsorted(self.slots, slot_values)

    def _per_slot_sum(self, slot_values: IntArray, weights: FloatArray) -> FloatArray:
        # np.bincount with weights is float64 (numpy's stubs type it as intp)
        return cast(FloatArray, np.bincount(self._slot_index(slot_values), weights=weights, minlength=len(self.slots)))

    @property
    def filled(self) -> FloatArray:
        """Energy traded with peers per order, kWh."""
        t = self.trades
        n = len(self.book)
        bought = np.bincount(t.buy, weights=t.quantity, minlength=n)
        return cast(FloatArray, bought + np.bincount(t.sell, weights=t.quantity, minlength=n))

    @property
    def residual(self) -> FloatArray:
        """Unmatched energy per order, kWh (≥ 0): imported (bids) / exported (asks) via the grid."""
        return np.maximum(self.book.quantity - self.filled, 0.0)

    @property
    def traded(self) -> FloatArray:
        """Energy traded between peers per slot, kWh."""
        return self._per_slot_sum(self.trades.slot, self.trades.quantity)

    @property
    def welfare(self) -> FloatArray:
        """Gains from trade per slot, Σ q·(bid limit − ask limit), currency."""
        t = self.trades
        gain = t.quantity * (self.book.price[t.buy] - self.book.price[t.sell])
        return self._per_slot_sum(t.slot, gain)

    @property
    def fees(self) -> FloatArray:
        """Money kept by the operator per slot (Σ payments − Σ receipts), currency."""
        return self._per_slot_sum(self.trades.slot, self.trades.fee)

    @property
    def grid_import(self) -> FloatArray:
        """Residual bid energy per slot, bought from the grid at λb, kWh."""
        r = self.residual
        return self._per_slot_sum(self.book.slot, np.where(self.book.side > 0, r, 0.0))

    @property
    def grid_export(self) -> FloatArray:
        """Residual ask energy per slot, sold to the grid at λs, kWh."""
        r = self.residual
        return self._per_slot_sum(self.book.slot, np.where(self.book.side < 0, r, 0.0))

    @property
    def grid_bill(self) -> FloatArray:
        """Per order: money paid to (+) or received from (−) the grid for its residual, currency.

        Requires ``retail`` and ``feed_in``.
        """
        if self.retail is None or self.feed_in is None:
            raise DataError("grid prices unknown: clear with retail= and feed_in= to price residuals")
        k = self._slot_index(self.book.slot)
        r = self.residual
        return np.where(self.book.side > 0, r * self.retail[k], -r * self.feed_in[k])

    @property
    def bill(self) -> FloatArray:
        """Per order: peer payments − peer receipts (+ grid bill when tariffs are known), currency.

        The rule of :func:`peergrid.market.settle.order_bills` (the settlement core).
        """
        from peergrid.market.settle import order_bills

        return order_bills(self)

    def summary(self) -> dict[str, Any]:
        """Headline figures with stable keys (JSON-ready; NaN becomes None).

        ``clearing_price`` is the volume-weighted mean of the per-slot uniform
        prices, or ``None`` when no trade happened or some traded slot has no single
        price (pay-as-bid, bilateral, McAfee trade reduction). ``price_buy`` /
        ``price_sell`` are volume-weighted mean prices paid / received; ``grid_bill``
        is what the residuals cost at λb / λs (None without tariffs);
        ``curtailed_kwh`` the energy a network check removed (None without one).
        """
        t = self.trades
        q = float(t.quantity.sum())
        traded = self.traded
        cp = self.clearing_price
        has = traded > 0
        price = None
        if q > 0 and np.all(np.isfinite(cp[has])):
            price = float(np.sum(cp[has] * traded[has]) / traded[has].sum())

        def num(x: float) -> float | None:
            return None if not math.isfinite(x) else float(x)

        return {
            "mechanism": self.mechanism,
            "traded_kwh": q,
            "clearing_price": price,
            "welfare": float(self.welfare.sum()),
            "n_trades": len(t),
            "n_orders": len(self.book),
            "n_slots": len(self.slots),
            "fees": float(t.fee.sum()),
            "price_buy": num(float(t.payment.sum()) / q) if q > 0 else None,
            "price_sell": num(float(t.receipt.sum()) / q) if q > 0 else None,
            "grid_import_kwh": float(self.grid_import.sum()),
            "grid_export_kwh": float(self.grid_export.sum()),
            "grid_bill": float(self.grid_bill.sum()) if self.retail is not None else None,
            "curtailed_kwh": float(self.curtailed.sum()) if self.curtailed is not None else None,
        }
