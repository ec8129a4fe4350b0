"""Continuous double auction (CDA): a limit order book with price–time priority.

For streaming use (the trading service): orders arrive one at a time and trade
immediately against the best opposite orders.

Rules
-----
* **Price–time priority.** A bid executes against the lowest ask first; among
  asks at the same price, the oldest first (and symmetrically for asks).
* **Trade price** is the resting order's limit price (the order that was in the
  book first sets the price; the incoming order gets any price improvement).
* **Limit orders** trade while the best opposite price is at or better than their
  limit (bid ≥ ask); the remainder rests in the book.
* **Market orders** (``price=None``) trade at any price until filled or the
  opposite side is empty; the remainder is cancelled (immediate-or-cancel), never
  rested.
* **Partial fills**: an order may trade with several resting orders, and a resting
  order may be filled by several incoming ones.
* **Cancel** removes the rest of an order at once.

Invariants after every call: best bid < best ask (crossing orders trade on
arrival), every resting quantity is > 0, and a cancelled or filled order is no
longer in the book (:meth:`ContinuousDoubleAuction.check`).

Implementation: one dict of FIFO queues (``collections.deque``) per price level
and side, plus a binary heap of price levels per side with lazy deletion;
submit is O(log L) for L price levels plus O(1) per fill, cancel is O(1).
Plain Python; see ``benchmarks/clearing.py`` for submissions per second.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Any

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.market.orders import BUY, SELL, Trades

# order record layout (a list, mutated in place): id, participant, side, remaining kWh, price, level entry
_ID, _PART, _SIDE, _REM, _PRICE = 0, 1, 2, 3, 4


def _side(side: int | str) -> int:
    if side == BUY or side == SELL:
        return int(side)
    if isinstance(side, str):
        s = side.strip().lower()
        if s in ("buy", "bid"):
            return BUY
        if s in ("sell", "ask", "offer"):
            return SELL
    raise DataError(f"side must be 'buy'/'sell' or +1/-1, got {side!r}")


class ContinuousDoubleAuction:
    """A continuous double auction for one delivery slot.

    Parameters
    ----------
    slot : int
        Delivery slot the book trades (copied into :meth:`trades`).

    Examples
    --------
    >>> book = ContinuousDoubleAuction()
    >>> book.submit(participant=1, side="sell", quantity=2.0, price=0.20)
    0
    >>> book.submit(participant=2, side="buy", quantity=3.0, price=0.25)   # fills 2 kWh at 0.20
    1
    >>> book.best_bid, book.best_ask, book.last_filled
    (0.25, None, 2.0)
    """

    def __init__(self, slot: int = 0) -> None:
        self.slot = int(slot)
        # (bids, asks): price -> [deque, live]
        self._levels: tuple[dict[float, list[Any]], dict[float, list[Any]]] = ({}, {})
        self._heaps: tuple[list[float], list[float]] = ([], [])  # bids keyed by −price, asks by price
        self._orders: dict[int, list[Any]] = {}
        self._next_id = 0
        self._fills: list[tuple[int, int, int, int, float, float]] = []  # buy id, sell id, buyer, seller, q, p
        self.last_filled = 0.0
        """kWh filled by the last :meth:`submit` call."""

    # ------------------------------------------------------------------ orders
    def submit(
        self,
        participant: int,
        side: int | str,
        quantity: float,
        price: float | None = None,
        order_id: int | None = None,
    ) -> int:
        """Submit a limit order (``price`` given) or a market order (``price=None``).

        Parameters
        ----------
        participant : int
            Participant code.
        side : {"buy", "sell", +1, −1}
            Buy (bid) or sell (ask).
        quantity : float
            kWh, > 0.
        price : float, optional
            Limit price, currency/kWh; ``None`` for a market order.
        order_id : int, optional
            Unique id; default: the next integer.

        Returns
        -------
        int
            The order id. Fills are in :meth:`trades`; ``last_filled`` holds the
            quantity filled by this call.
        """
        s = side if (side == 1 or side == -1) else _side(side)
        q = float(quantity)
        if not q > 0.0 or q == math.inf:
            raise DataError(f"order quantity must be a finite number > 0, got {quantity!r}")
        if price is not None:
            price = float(price)
            if not math.isfinite(price):
                raise DataError(f"limit price must be finite, got {price!r}")
        if order_id is None:
            oid = self._next_id
            self._next_id += 1
        else:
            oid = int(order_id)
            if oid in self._orders:
                raise DataError(f"order id {oid} is already in the book")
            if oid >= self._next_id:
                self._next_id = oid + 1
        rem = q
        fills = self._fills
        # a buy walks the asks upwards, a sell the bids downwards; heap keys are sign·price
        # (asks by price, bids by −price), so both walk their heap from the smallest key
        book_side = 1 if s == 1 else 0
        levels, heap = self._levels[book_side], self._heaps[book_side]
        sign = 1.0 if s == 1 else -1.0
        limit = math.inf if price is None else sign * price
        buy = s == 1
        while heap:
            key = heap[0]
            best = sign * key
            level = levels.get(best)
            if level is None:
                heapq.heappop(heap)  # stale
                continue
            if key > limit:
                break
            rem = self._take(level, rem, oid, participant, best, buy, fills)
            if level[1] == 0:
                del levels[best]
                heapq.heappop(heap)
            if rem <= 0.0:
                break
        self.last_filled = q - rem if rem > 0.0 else q
        if rem > 0.0 and price is not None:  # rest the remainder
            own = self._levels[0 if s == 1 else 1]
            level = own.get(price)
            if level is None:
                level = own[price] = [deque(), 0]
                heapq.heappush(self._heaps[0 if s == 1 else 1], -price if s == 1 else price)
            rec = [oid, participant, s, rem, price]
            level[0].append(rec)
            level[1] += 1
            self._orders[oid] = rec
        return oid

    def _take(
        self, level: list[Any], rem: float, oid: int, part: int, price: float, buying: bool, fills: list[Any]
    ) -> float:
        """Fill ``rem`` against one price level in time priority; returns what is left."""
        queue = level[0]
        orders = self._orders
        eps = 1e-12 * rem
        while queue and rem > 0.0:
            rec = queue[0]
            r = rec[_REM]
            if r <= 0.0:  # cancelled earlier, already uncounted
                queue.popleft()
                continue
            if r <= rem + eps:
                q = r
                rem = rem - r
                if rem <= eps:
                    rem = 0.0
                rec[_REM] = 0.0
                queue.popleft()
                level[1] -= 1
                del orders[rec[_ID]]
            else:
                q = rem
                rec[_REM] = r - rem
                rem = 0.0
            if buying:
                fills.append((oid, rec[_ID], part, rec[_PART], q, price))
            else:
                fills.append((rec[_ID], oid, rec[_PART], part, q, price))
        return rem

    def cancel(self, order_id: int) -> float:
        """Cancel the rest of a resting order.

        Parameters
        ----------
        order_id : int
            Id returned by :meth:`submit`.

        Returns
        -------
        float
            The quantity removed from the book, kWh.

        Raises
        ------
        DataError
            If the order is not in the book (unknown, filled or already cancelled).
        """
        rec = self._orders.pop(order_id, None)
        if rec is None:
            raise DataError(f"order {order_id} is not in the book (unknown, filled or cancelled)")
        r: float = rec[_REM]
        rec[_REM] = 0.0  # the queue drops it lazily
        side = 0 if rec[_SIDE] == 1 else 1
        level = self._levels[side][rec[_PRICE]]
        level[1] -= 1
        if level[1] == 0:
            del self._levels[side][rec[_PRICE]]  # the heap entry goes stale
        return r

    # ------------------------------------------------------------------- state
    def _best(self, side: int) -> float | None:
        heap, levels = self._heaps[side], self._levels[side]
        while heap:
            p = -heap[0] if side == 0 else heap[0]
            if p in levels:
                return p
            heapq.heappop(heap)
        return None

    @property
    def best_bid(self) -> float | None:
        """Highest resting bid price, or None."""
        return self._best(0)

    @property
    def best_ask(self) -> float | None:
        """Lowest resting ask price, or None."""
        return self._best(1)

    def __len__(self) -> int:
        """Number of resting orders."""
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def remaining(self, order_id: int) -> float:
        """Resting quantity of an order, kWh (0 if filled, cancelled or unknown)."""
        rec = self._orders.get(order_id)
        return 0.0 if rec is None else rec[_REM]

    def depth(self, side: int | str) -> pd.DataFrame:
        """Aggregated resting quantity per price level, best first.

        Parameters
        ----------
        side : {"buy", "sell"}

        Returns
        -------
        pandas.DataFrame
            Columns ``price, quantity_kwh, orders``.
        """
        s = 0 if _side(side) == BUY else 1
        rows = []
        for p, (queue, _) in self._levels[s].items():
            live = [rec[_REM] for rec in queue if rec[_REM] > 0.0]
            rows.append((p, float(sum(live)), len(live)))
        rows.sort(key=lambda r: -r[0] if s == 0 else r[0])
        return pd.DataFrame(rows, columns=["price", "quantity_kwh", "orders"])

    def snapshot(self) -> pd.DataFrame:
        """Resting orders in priority order (bids best first, then asks best first).

        Returns
        -------
        pandas.DataFrame
            Columns ``id, participant, side, quantity_kwh, price``.
        """
        rows: list[tuple[Any, ...]] = []
        for s, sign in ((0, -1.0), (1, 1.0)):
            for p in sorted(self._levels[s], key=lambda x: sign * x):
                rows.extend(
                    (r[_ID], r[_PART], "buy" if s == 0 else "sell", r[_REM], r[_PRICE])
                    for r in self._levels[s][p][0]
                    if r[_REM] > 0.0
                )
        return pd.DataFrame(rows, columns=["id", "participant", "side", "quantity_kwh", "price"])

    def trades(self, start: int = 0) -> Trades:
        """Fills so far (from fill number ``start``) as :class:`~peergrid.market.orders.Trades`.

        ``buy`` / ``sell`` hold *order ids* (not book positions); both prices are
        the trade price.
        """
        rows = self._fills[start:]
        if not rows:
            return Trades.empty()
        b, a, buyer, seller, q, p = (np.asarray(c) for c in zip(*rows, strict=True))
        p = p.astype(np.float64)
        return Trades(
            buy=b.astype(np.int64),
            sell=a.astype(np.int64),
            buyer=buyer.astype(np.int64),
            seller=seller.astype(np.int64),
            quantity=q.astype(np.float64),
            price_buy=p,
            price_sell=p.copy(),
            slot=np.full(len(rows), self.slot, dtype=np.int64),
        )

    @property
    def n_fills(self) -> int:
        """Number of fills so far (use as ``start`` for :meth:`trades`)."""
        return len(self._fills)

    def check(self) -> None:
        """Assert the book invariants (for tests and debugging); raises AssertionError."""
        bb, ba = self.best_bid, self.best_ask
        assert bb is None or ba is None or bb < ba, f"crossed book: best bid {bb} >= best ask {ba}"
        live = 0
        for s in (0, 1):
            heap_prices = {(-h if s == 0 else h) for h in self._heaps[s]}
            for p, (queue, count) in self._levels[s].items():
                recs = [r for r in queue if r[_REM] > 0.0]
                assert count == len(recs) > 0, f"level {p}: count {count} != live {len(recs)}"
                assert p in heap_prices, f"level {p} missing from the heap"
                for r in recs:
                    assert r[_PRICE] == p and r[_SIDE] == (BUY if s == 0 else SELL)
                    assert self._orders.get(r[_ID]) is r, f"order {r[_ID]} not indexed"
                live += len(recs)
        assert live == len(self._orders), f"{live} live orders, {len(self._orders)} indexed"
