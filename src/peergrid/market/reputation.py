"""Reputation (credit-rating) scores from delivery history, and reputation pricing.

Tooki et al. credit-rate participants "to incentivize credible participants
through savings on their electricity bills" and penalise bad behaviour "by
increasing the energy price for participants with a low reputation"; they give no
formula. peergrid uses the following documented rule.

Score update (exponential smoothing)
------------------------------------
In every slot where participant i promised energy (π_i > 0, kWh: sold or bought
in the market) and then delivered δ_i (metered, kWh), its *delivery performance*
is

    x_i = 1 − min(1, |δ_i − π_i| / π_i)  ∈ [0, 1]

(1 = delivered exactly what was promised, 0 = missed by 100 % or more; over- and
under-delivery both count, since both leave an imbalance for the grid to settle),
and the score moves towards it:

    r_i ← (1 − α)·r_i + α·x_i,    α ∈ (0, 1]

Slots without a promise leave r_i unchanged. Parameters: ``alpha`` (default 0.2:
the latest slot weighs 20 %, a slot 10 updates ago ≈ 2.7 %; memory ≈ 1/α slots)
and the newcomers' score ``initial`` (default 1.0: trusted until shown
otherwise; use e.g. 0.5 where new identities are cheap, to stop whitewashing).

Pricing
-------
A buyer with score r pays p + σ·(1 − r)·|p| per kWh (surcharge, σ = ``surcharge``,
default 0.10 = +10 % at r = 0) and a seller receives p − ρ·(1 − r)·|p| (discount
on sales, ρ = ``discount``, default 0.10). At r = 1 nothing changes. The
difference stays with the operator and is reported as fees, so budget balance
holds. :func:`reputation_limits` lowers a low-score buyer's limit (raises a
seller's) before clearing so that the adjusted price still respects its limit
(individual rationality); :func:`clear_with_reputation` does the three steps.

References
----------
.. [Tooki2025] O. O. Tooki, O. M. Popoola, J. D. Pam, "Towards sustainable energy: implementation framework
   for a decentralized peer-to-peer transactive energy system", AIMS Press, 2025,
   discussion of credit rating / reputation pricing; V. Anil, S. L. Arun, "Credit rating-based transactive
   energy system with uncertainties in energy behavior", IEEE Access 11, 2023.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import ArrayLike, FloatArray
from peergrid.market.orders import MarketResult, OrderBook, ParticipantValues

DEFAULT_ALPHA = 0.2
DEFAULT_INITIAL = 1.0
DEFAULT_SURCHARGE = 0.10
DEFAULT_DISCOUNT = 0.10


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0.0 < a <= 1.0:
        raise ConfigError(f"alpha (smoothing weight) must be in (0, 1], got {alpha}")
    return a


def _check_rates(surcharge: float, discount: float) -> tuple[float, float]:
    s, d = float(surcharge), float(discount)
    if not 0.0 <= s < 1.0:
        raise ConfigError(f"surcharge must be in [0, 1), got {surcharge}")
    if not 0.0 <= d < 1.0:
        raise ConfigError(f"discount must be in [0, 1), got {discount}")
    return s, d


def _scores(x: ArrayLike, name: str = "score") -> FloatArray:
    r = np.asarray(x, dtype=np.float64)
    if np.any(~(r >= 0)) or np.any(~(r <= 1)):
        raise DataError(f"{name} must be in [0, 1]")
    return r


def delivery_performance(promised: ArrayLike, delivered: ArrayLike) -> FloatArray:
    """x = 1 − min(1, |δ − π| / π) where π > 0, NaN where nothing was promised.

    Parameters
    ----------
    promised, delivered : array-like
        π and δ, kWh, ≥ 0, same shape.

    Returns
    -------
    numpy.ndarray
        Performance in [0, 1] (NaN: no observation).
    """
    p = np.asarray(promised, dtype=np.float64)
    d = np.asarray(delivered, dtype=np.float64)
    if p.shape != d.shape:
        raise DataError(f"promised {p.shape} and delivered {d.shape} must have the same shape")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(d))):
        raise DataError("promised and delivered energy must be finite")
    if np.any(p < 0) or np.any(d < 0):
        raise DataError("promised and delivered energy must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        x = 1.0 - np.minimum(1.0, np.abs(d - p) / np.where(p > 0, p, 1.0))
    out: FloatArray = np.where(p > 0, x, np.nan)
    return out


def update_reputation(
    score: ArrayLike, promised: ArrayLike, delivered: ArrayLike, alpha: float = DEFAULT_ALPHA
) -> FloatArray:
    """One smoothing step r ← (1 − α)·r + α·x for every participant with a promise.

    Parameters
    ----------
    score : array-like
        Current scores r in [0, 1], shape (N,).
    promised, delivered : array-like
        π and δ of this slot, kWh, shape (N,).
    alpha : float
        Smoothing weight α in (0, 1].

    Returns
    -------
    numpy.ndarray
        New scores in [0, 1].
    """
    a = _check_alpha(alpha)
    r = _scores(score)
    x = delivery_performance(promised, delivered)
    if x.shape != r.shape:
        raise DataError(f"score {r.shape} and promised {x.shape} must have the same shape")
    out: FloatArray = np.where(np.isnan(x), r, (1.0 - a) * r + a * np.nan_to_num(x))
    return out


def reputation_history(
    promised: ArrayLike, delivered: ArrayLike, alpha: float = DEFAULT_ALPHA, initial: ArrayLike = DEFAULT_INITIAL
) -> FloatArray:
    """Scores after every slot of a (T, N) delivery history (vectorised over N).

    Parameters
    ----------
    promised, delivered : array-like
        ``(T, N)`` kWh.
    alpha : float
        Smoothing weight α.
    initial : float or array-like
        Scores before the first slot.

    Returns
    -------
    numpy.ndarray
        ``(T, N)``: row t is the score after slot t (use row t − 1 to price slot t).
    """
    a = _check_alpha(alpha)
    x = delivery_performance(promised, delivered)
    if x.ndim != 2:
        raise DataError(f"promised must be a (T, N) array, got shape {x.shape}")
    r = np.broadcast_to(_scores(initial, "initial score"), x.shape[1:]).astype(np.float64)
    out = np.empty_like(x)
    seen = ~np.isnan(x)
    xv = np.nan_to_num(x)
    for t in range(x.shape[0]):
        r = np.where(seen[t], (1.0 - a) * r + a * xv[t], r)
        out[t] = r
    return out


def price_factors(
    score: ArrayLike, surcharge: float = DEFAULT_SURCHARGE, discount: float = DEFAULT_DISCOUNT
) -> tuple[FloatArray, FloatArray]:
    """Surcharge and discount rates σ·(1 − r) and ρ·(1 − r) for scores r.

    Returns
    -------
    buy_rate, sell_rate : numpy.ndarray
        A buyer pays p + buy_rate·|p|, a seller receives p − sell_rate·|p|.
    """
    s, d = _check_rates(surcharge, discount)
    r = _scores(score)
    return s * (1.0 - r), d * (1.0 - r)


def _order_scores(book: OrderBook, scores: ParticipantValues | None) -> FloatArray:
    if scores is None:
        if book.reputation is None:
            raise DataError("no reputation scores: give scores= or a book with a reputation column")
        return book.reputation
    return _scores(book.participant_values(scores, "reputation score"), "reputation score")


def reputation_limits(
    book: OrderBook,
    scores: ParticipantValues | None = None,
    surcharge: float = DEFAULT_SURCHARGE,
    discount: float = DEFAULT_DISCOUNT,
) -> OrderBook:
    """Limit prices net of reputation adjustments, so adjusted trades stay individually rational.

    A bid b of a buyer with surcharge rate u becomes b' with b' + u·|b'| = b, an
    ask a of a seller with discount rate v becomes a' with a' − v·|a'| = a.

    Parameters
    ----------
    book : OrderBook
        Orders.
    scores : array-like, Mapping or None
        Per participant (code-indexed array or label mapping); None uses
        ``book.reputation`` (per order).
    surcharge, discount : float
        σ and ρ in [0, 1).

    Returns
    -------
    OrderBook
        Same orders with adjusted limit prices.
    """
    r = _order_scores(book, scores)
    u, v = price_factors(r, surcharge, discount)
    p = book.price
    buy = book.side > 0
    bid = np.where(p >= 0, p / (1.0 + u), p / (1.0 - u))
    ask = np.where(p >= 0, p / (1.0 - v), p / (1.0 + v))
    return book.with_prices(np.where(buy, bid, ask))


def apply_reputation(
    result: MarketResult,
    scores: ParticipantValues | None = None,
    surcharge: float = DEFAULT_SURCHARGE,
    discount: float = DEFAULT_DISCOUNT,
    book: OrderBook | None = None,
) -> MarketResult:
    """Reprice cleared trades: buyers pay p + σ(1 − r)|p|, sellers receive p − ρ(1 − r)|p|.

    Parameters
    ----------
    result : MarketResult
        Any cleared batch market.
    scores : array-like, Mapping or None
        Per participant; None uses the book's reputation column.
    surcharge, discount : float
        σ and ρ in [0, 1).
    book : OrderBook, optional
        Replace the result's book (the original limits after :func:`reputation_limits`).

    Returns
    -------
    MarketResult
        Same trades and quantities; the added spread is counted in ``fees``; the
        clearing price per slot is kept as the reference price.
    """
    src = result.book if book is None else book
    if len(src) != len(result.book):
        raise DataError("book must be the one the result was cleared from")
    r = _order_scores(src, scores)
    u, v = price_factors(r, surcharge, discount)
    t = result.trades
    pb = t.price_buy + u[t.buy] * np.abs(t.price_buy)
    ps = t.price_sell - v[t.sell] * np.abs(t.price_sell)
    trades = replace(t, price_buy=pb, price_sell=ps)
    cp = result.clearing_price
    if np.any(u[t.buy] > 0) or np.any(v[t.sell] > 0):
        cp = np.full_like(cp, np.nan)  # prices now differ per participant
    return replace(result, book=src, trades=trades, clearing_price=cp)


def clear_with_reputation(
    book: OrderBook,
    mechanism: Callable[..., MarketResult],
    scores: ParticipantValues | None = None,
    surcharge: float = DEFAULT_SURCHARGE,
    discount: float = DEFAULT_DISCOUNT,
    **kwargs: Any,
) -> MarketResult:
    """Clear ``book`` with reputation pricing: adjust limits, clear, reprice.

    Parameters
    ----------
    book : OrderBook
        Orders with their true limits.
    mechanism : callable
        ``f(book, **kwargs) -> MarketResult`` (e.g. ``uniform_price``).
    scores, surcharge, discount
        See :func:`reputation_limits`.
    **kwargs
        Passed to ``mechanism`` (``k``, ``retail``, ``feed_in``, ``fees``, ...).

    Returns
    -------
    MarketResult
        On the original book; every buyer pays at most its limit and every seller
        receives at least its limit.
    """
    adjusted = reputation_limits(book, scores, surcharge, discount)
    result = mechanism(adjusted, **kwargs)
    return apply_reputation(result, scores, surcharge, discount, book=book)


@dataclass(frozen=True)
class ReputationRule:
    """The parameters of reputation scoring and pricing in one place.

    Attributes
    ----------
    alpha : float
        Smoothing weight α in (0, 1].
    initial : float
        Score of newcomers, in [0, 1].
    surcharge : float
        σ: relative price surcharge for buyers at score 0, in [0, 1).
    discount : float
        ρ: relative discount on sales at score 0, in [0, 1).
    """

    alpha: float = DEFAULT_ALPHA
    initial: float = DEFAULT_INITIAL
    surcharge: float = DEFAULT_SURCHARGE
    discount: float = DEFAULT_DISCOUNT

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)
        _check_rates(self.surcharge, self.discount)
        if not 0.0 <= self.initial <= 1.0:
            raise ConfigError(f"initial score must be in [0, 1], got {self.initial}")

    def update(self, score: ArrayLike, promised: ArrayLike, delivered: ArrayLike) -> FloatArray:
        """:func:`update_reputation` with this rule's α."""
        return update_reputation(score, promised, delivered, self.alpha)

    def history(self, promised: ArrayLike, delivered: ArrayLike) -> FloatArray:
        """:func:`reputation_history` with this rule's α and initial score."""
        return reputation_history(promised, delivered, self.alpha, self.initial)

    def clear(
        self,
        book: OrderBook,
        mechanism: Callable[..., MarketResult],
        scores: ParticipantValues | None = None,
        **kwargs: Any,
    ) -> MarketResult:
        """:func:`clear_with_reputation` with this rule's σ and ρ."""
        return clear_with_reputation(book, mechanism, scores, self.surcharge, self.discount, **kwargs)
