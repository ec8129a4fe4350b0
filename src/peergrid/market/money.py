"""Money in integer minor units: the primitives of the one rounding rule.

The rule itself — once per party and interval, to the nearest minor unit, half to even; bid
commitments rounded up — is stated once, in :mod:`peergrid.market.settle` (the settlement core
that uses these functions). The market mechanisms price energy in floating-point currency per
kWh; a ledger moves integer **minor units** (cents: 1/100 of the currency):

* :func:`bid_commitment_minor` (:func:`bid_commitments_minor` for arrays) — a bid of q Wh at
  limit p (currency/kWh) commits ⌈q·max(p, 0)/10⌉ minor units;
* :func:`to_minor` — one amount per party (a pool bill, an imbalance charge);
* :func:`settle_trades` — the trades of one interval, per party, each party's total spread over
  its trades by largest remainder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from peergrid.core.errors import DataError
from peergrid.core.types import ArrayLike, FloatArray, IntArray

#: Minor units per currency unit (cents).
MINOR_PER_UNIT = 100
#: Float noise below this many minor units is ignored when rounding a commitment up.
_EPS = 1e-9


def bid_commitment_minor(quantity_wh: int, price: float) -> int:
    """Money a bid commits: ⌈quantity_kWh · max(price, 0) · 100⌉ minor units.

    Parameters
    ----------
    quantity_wh : int
        Bid quantity, Wh (≥ 0).
    price : float
        Limit price, currency/kWh.

    Returns
    -------
    int
        Minor units (cents), rounded up (float noise below 10⁻⁹ minor units ignored).
    """
    return max(0, math.ceil(quantity_wh * max(price, 0.0) / 10.0 - _EPS))


def bid_commitments_minor(quantity_wh: ArrayLike, price: ArrayLike) -> IntArray:
    """:func:`bid_commitment_minor` of many bids at once: ⌈q·max(p, 0)/10⌉ minor units each.

    Parameters
    ----------
    quantity_wh : array-like
        Bid quantities, Wh (≥ 0).
    price : array-like
        Limit prices, currency/kWh.

    Returns
    -------
    numpy.ndarray
        int64 minor units, rounded up (float noise below 10⁻⁹ minor units ignored).
    """
    q = np.asarray(quantity_wh, dtype=np.float64)
    p = np.maximum(np.asarray(price, dtype=np.float64), 0.0)
    return np.maximum(0, np.ceil(q * p / 10.0 - _EPS)).astype(np.int64)


def to_minor(amount: ArrayLike) -> IntArray:
    """Currency → integer minor units, rounded to the nearest (half to even).

    Parameters
    ----------
    amount : array-like
        Amounts in currency units (one per party and interval).

    Returns
    -------
    numpy.ndarray
        int64 minor units, same shape.
    """
    return np.rint(np.asarray(amount, dtype=np.float64) * MINOR_PER_UNIT).astype(np.int64)


@dataclass(frozen=True)
class TradeMoney:
    """Money of one interval's trades (:func:`settle_trades`), one entry per trade.

    Attributes
    ----------
    payment, receipt : numpy.ndarray
        int64 minor units the buyer pays / the seller receives for the trade.
    payment_exact, receipt_exact : numpy.ndarray
        The unrounded amounts, float minor units (q·p/10).
    """

    payment: IntArray
    receipt: IntArray
    payment_exact: FloatArray
    receipt_exact: FloatArray

    @property
    def residual(self) -> int:
        """Σ payments − Σ receipts, minor units: spread + rounding residual, to the community account."""
        return int(self.payment.sum() - self.receipt.sum())

    @property
    def fee(self) -> IntArray:
        """payment − receipt per trade, int64 minor units (may be −1 where rounding favoured the seller)."""
        fee: IntArray = self.payment - self.receipt
        return fee


def settle_trades(
    buyer: ArrayLike, seller: ArrayLike, quantity_wh: ArrayLike, price_buy: ArrayLike, price_sell: ArrayLike
) -> TradeMoney:
    """Round an interval's trades to minor units, once per buyer and once per seller.

    Exact amounts, minor units: a_t = q_t · p_buy,t / 10 (what buyer of t pays) and
    r_t = q_t · min(p_sell,t, p_buy,t) / 10 (what seller of t receives; never more than the
    buyer pays). For every buyer b, P_b = round_half_even(Σ_{t of b} a_t); for every seller
    s, R_s = round_half_even(Σ_{t of s} r_t). P_b is split over b's trades by largest
    remainder: each trade gets ⌊a_t⌋, and the P_b − Σ⌊a_t⌋ leftover minor units go one each
    to the trades with the largest fractional parts (ties: lower trade index). Receipts
    likewise. Σ payments − Σ receipts (:attr:`TradeMoney.residual`) is kept by the community.

    Parameters
    ----------
    buyer, seller : array-like of int
        Party codes of each trade's buyer and seller (any integers; a party may be both).
    quantity_wh : array-like
        Traded energy per trade, Wh (≥ 0).
    price_buy, price_sell : array-like
        Prices per trade, currency/kWh (finite, ≥ 0).

    Returns
    -------
    TradeMoney
        Guarantees, in integer minor units: Σ over a buyer's trades of ``payment`` =
        P_b (so |P_b − Σ a_t| ≤ ½ and P_b ≤ ⌈Σ a_t⌉), Σ over a seller's trades of
        ``receipt`` = R_s, |payment_t − a_t| < 1 and |receipt_t − r_t| < 1 for every trade,
        and Σ payments = Σ receipts + residual exactly.

    Raises
    ------
    DataError
        On mismatched lengths, negative or non-finite quantities or prices.
    """
    b = np.asarray(buyer, dtype=np.int64).ravel()
    s = np.asarray(seller, dtype=np.int64).ravel()
    q = np.asarray(quantity_wh, dtype=np.float64).ravel()
    pb = np.asarray(price_buy, dtype=np.float64).ravel()
    ps = np.asarray(price_sell, dtype=np.float64).ravel()
    n = len(q)
    if not (len(b) == len(s) == len(pb) == len(ps) == n):
        raise DataError("buyer, seller, quantity_wh, price_buy and price_sell must have one entry per trade")
    for name, x in (("quantity_wh", q), ("price_buy", pb), ("price_sell", ps)):
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise DataError(f"{name} must be finite and >= 0")
    a = q * pb / 10.0
    r = q * np.minimum(ps, pb) / 10.0
    return TradeMoney(_apportion(b, a), _apportion(s, r), a, r)


def _apportion(group: IntArray, exact: FloatArray) -> IntArray:
    """Round each group's Σ ``exact`` to the nearest integer (half to even), split it by largest remainder."""
    n = len(exact)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    codes, g = np.unique(group, return_inverse=True)
    total = np.rint(np.bincount(g, weights=exact, minlength=len(codes))).astype(np.int64)
    base = np.floor(exact)
    frac = exact - base
    base = base.astype(np.int64)
    extra = total - np.bincount(g, weights=base, minlength=len(codes)).astype(np.int64)
    # rank of each trade within its group: fractional part descending, then trade index
    order = np.lexsort((np.arange(n), -frac, g))
    gs = g[order]
    start = np.searchsorted(gs, np.arange(len(codes)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - start[gs]
    out: IntArray = base + (rank < extra[g]).astype(np.int64)
    return out
