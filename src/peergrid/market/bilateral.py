"""Bilateral peer-to-peer trading with line-utilisation fees (Tooki et al. eqs. 10–12).

Each trade is a bilateral contract between one seller a and one buyer b. It uses
the distribution lines on the path between them and pays the network a
*line-utilisation fee* per kWh (Tooki et al. eq. 12)

    H_ab = Σ_{L ∈ path(a, b)} τ_L · P_L / P_max,L          (currency/kWh)

with τ_L the utilisation fee of line L (currency/kWh at full loading), P_L its
flow and P_max,L its capacity (any power unit, the same for both). The supplier's
profit and the buyer's cost are (eqs. 10 and 11)

    D_a = Σ_b (R_ab·γ_ab − R_ab·H_ab) + (P_a^K − P_a^MK)·H_V + C
    E_b = Σ_a R_ab·(γ_ab + H_ab) + P_b^V·H_V + C

with R_ab the energy traded (kWh), γ_ab the contract price, H_V the utility price
and P_b^V the energy bought from the utility. As printed, both sides pay H; the
shares are parameters here (``seller_fee_share``, ``buyer_fee_share``, both 1 by
default as in eqs. 10–11) and the operator collects (share_b + share_s)·H·R.

Which lines a trade uses comes from the grid model, and so does the fee: eq. 12 is
implemented once, in :mod:`peergrid.grid.charges` (the grid layer of docs/DESIGN.md):
:func:`~peergrid.grid.charges.fee_matrix` takes a trade-pair → lines mapping and
:func:`~peergrid.grid.charges.radial_fee_matrix` the participant → feeder-head incidence
of a radial feeder, where path(a, b) is the symmetric difference of the two head paths;
their ``(N, N)`` result is ``bilateral(book, fees=H)``.

Network-aware mode: ``bilateral(..., network=check)`` hands the matched trades to
``check(trades, book)``, which returns the energy each trade may deliver; trades are
scaled down to it. :class:`peergrid.grid.FeederLimits` is such a check (power flow
on a pandapower feeder, curtailing trades that overload a line or push a voltage out
of its band). The market layer defines only the hook — it does not import the grid.

References
----------
.. [Tooki2025] O. O. Tooki, O. M. Popoola, J. D. Pam, "Towards sustainable energy: implementation framework
   for a decentralized peer-to-peer transactive energy system", AIMS Press, 2025,
   eqs. 10–12.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeAlias, cast

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import ArrayLike, FloatArray, IntArray
from peergrid.market._common import check_k, slot_tariffs
from peergrid.market.auction import slot_codes
from peergrid.market.orders import MarketResult, OrderBook, Trades

#: A network check: ``check(trades, book) -> kWh each trade may deliver`` (≤ its quantity).
NetworkCheck = Callable[[Trades, OrderBook], ArrayLike]
#: Pair fees ``H[seller, buyer]``: an (N, N) array over participant codes, a ``{(seller, buyer): H}``
#: mapping of participant labels, one value for every pair, or None (no fees).
PairFees: TypeAlias = ArrayLike | Mapping[tuple[Any, Any], float] | None


def _fees_for(book: OrderBook, fees: PairFees) -> FloatArray:
    """``H[seller, buyer]`` as an (N, N) array over participant codes."""
    N = book.n_participants
    if fees is None:
        return np.zeros((N, N))
    if isinstance(fees, Mapping):
        codes = {
            (lab.item() if hasattr(lab, "item") else lab): i
            for i, lab in enumerate(book.participant_label(np.arange(N)))
        }
        H = np.zeros((N, N))
        for (a, b), h in fees.items():
            if a in codes and b in codes:
                H[codes[a], codes[b]] = float(h)
        fees = H
    H = np.asarray(fees, dtype=np.float64)
    if H.ndim == 0:
        H = np.full((N, N), float(H))
    if H.ndim != 2 or H.shape[0] < N or H.shape[1] < N:
        raise DataError(f"fees must be an (N, N) seller x buyer matrix with N >= {N}, got shape {H.shape}")
    if np.any(np.isnan(H)) or np.any(H < 0):
        raise DataError("fees must be >= 0 (use inf to forbid a pair)")
    return H


def bilateral(
    book: OrderBook,
    fees: PairFees = None,
    k: float = 0.5,
    buyer_fee_share: float = 1.0,
    seller_fee_share: float = 1.0,
    retail: ArrayLike | None = None,
    feed_in: ArrayLike | None = None,
    max_pairs: int = 20_000_000,
    network: NetworkCheck | None = None,
) -> MarketResult:
    """Bilateral matching that prefers trades with lower network fees (Tooki et al.).

    Every bid i and ask j of the same slot from different participants form a
    candidate contract with fee H = ``fees[seller, buyer]`` per kWh. The buyer
    pays γ + s_b·H and the seller receives γ − s_s·H (eqs. 11 and 10 with shares
    s_b, s_s), so the contract is individually rational iff
    b_i − s_b·H ≥ a_j + s_s·H. Feasible contracts are taken greedily in order of
    **fee ascending**, then net surplus b_i − a_j − (s_b + s_s)·H descending, then
    book order; each takes min(remaining bid, remaining ask). With equal fees this
    is price-priority matching (the same allocation as the uniform auction, minus
    unprofitable pairs). The contract price splits the pair's net surplus with
    parameter k:

        γ_ij = k·(b_i − s_b·H) + (1 − k)·(a_j + s_s·H)

    so the buyer pays at most b_i and the seller receives at least a_j; the
    operator keeps (s_b + s_s)·H per kWh (fees, for budget balance).

    Candidate pairs are built with numpy (all bid × ask pairs of each slot) and the
    greedy pass is sequential over feasible pairs: O(P log P) for P pairs. Meant
    for community-sized books (Tooki et al.: 246 consumers, 14 prosumers); more
    than ``max_pairs`` pairs is an error.

    **Network-aware mode** (``network`` given): the matched trades go to
    ``network(trades, book)``, which returns the kWh each trade may deliver
    without overloading a line or violating a voltage limit (e.g.
    :class:`peergrid.grid.FeederLimits`). Trades are scaled down to it at their
    contract prices (a trade cut to zero disappears); the energy removed is
    reported per slot in :attr:`MarketResult.curtailed` and stays in the orders'
    residuals. The freed orders are not matched again.

    Parameters
    ----------
    book : OrderBook
        Bids and asks; each ``slot`` is matched separately.
    fees : array-like, Mapping, float or None
        Line-utilisation fee per kWh H[seller, buyer] (currency/kWh): an (N, N)
        array over participant codes (:func:`fee_matrix`, :func:`radial_fee_matrix`),
        a mapping ``{(seller, buyer): fee}`` by participant label (missing pairs
        0), one fee for all pairs, or None (no fees). ``inf`` forbids a pair.
    k : float
        Share of the net surplus that goes to the seller, in [0, 1].
    buyer_fee_share, seller_fee_share : float
        s_b, s_s ≥ 0: multiples of H paid by buyer / seller (1 and 1 as printed in
        eqs. 10–11; 1 and 0 charges the buyer only).
    retail, feed_in : float or array-like, optional
        λb and λs for the residuals (see :func:`~peergrid.market.auction.uniform_price`).
    max_pairs : int
        Upper bound on candidate pairs.
    network : callable, optional
        Network check ``network(trades, book) -> array`` of deliverable kWh per trade
        (network-aware mode, see above).

    Returns
    -------
    MarketResult
        Mechanism ``"bilateral"``; ``trades.fee`` holds the network fees;
        ``curtailed`` is set in network-aware mode.
    """
    if not isinstance(book, OrderBook):
        raise DataError(f"expected an OrderBook, got {type(book).__name__}")
    k = check_k(k)
    sb_, ss_ = float(buyer_fee_share), float(seller_fee_share)
    if not (sb_ >= 0 and ss_ >= 0 and np.isfinite(sb_) and np.isfinite(ss_)):
        raise ConfigError("fee shares must be finite and >= 0")
    slots, codes = slot_codes(book.slot)
    lb, ls = slot_tariffs(slots, retail, feed_in)
    H = _fees_for(book, fees)
    none_curtailed = None if network is None else np.zeros(len(slots))
    empty = MarketResult(
        "bilateral", book, Trades.empty(), slots, np.full(len(slots), np.nan), lb, ls, none_curtailed
    )
    buy = np.flatnonzero(book.side > 0)
    sell = np.flatnonzero(book.side < 0)
    if not len(buy) or not len(sell):
        return empty
    # all (bid, ask) pairs within a slot: orders grouped by slot, then a ragged cross product
    buy = buy[np.argsort(codes[buy], kind="stable")]
    sell = sell[np.argsort(codes[sell], kind="stable")]
    S = len(slots)
    nbs = np.bincount(codes[buy], minlength=S)
    nss = np.bincount(codes[sell], minlength=S)
    per = nbs * nss
    total = int(per.sum())
    if total > max_pairs:
        raise ConfigError(f"bilateral matching would build {total:,} candidate pairs (max_pairs={max_pairs:,})")
    if total == 0:
        return empty
    b_first = np.concatenate(([0], np.cumsum(nbs)[:-1]))
    s_first = np.concatenate(([0], np.cumsum(nss)[:-1]))
    pair_slot = np.repeat(np.arange(S), per)
    r = np.arange(total) - np.repeat(np.concatenate(([0], np.cumsum(per)[:-1])), per)  # rank within slot
    ns = nss[pair_slot]
    bi = buy[b_first[pair_slot] + r // ns]
    ai = sell[s_first[pair_slot] + r % ns]
    h = H[book.participant[ai], book.participant[bi]]
    net_b = book.price[bi] - sb_ * h  # buyer's limit net of its fee share
    net_a = book.price[ai] + ss_ * h  # seller's limit gross of its fee share
    ok = np.isfinite(h) & (net_b >= net_a) & (book.participant[bi] != book.participant[ai])
    bi, ai, h, net_b, net_a, pair_slot = bi[ok], ai[ok], h[ok], net_b[ok], net_a[ok], pair_slot[ok]
    if not len(bi):
        return empty
    order = np.lexsort((ai, bi, -(net_b - net_a), h, pair_slot))
    bi, ai = bi[order], ai[order]
    q, take = _greedy(bi, ai, book.quantity, len(book))
    bi, ai, h, net_b, net_a = bi[take], ai[take], h[order][take], net_b[order][take], net_a[order][take]
    gamma = k * net_b + (1.0 - k) * net_a
    trades = Trades(
        buy=bi,
        sell=ai,
        buyer=book.participant[bi],
        seller=book.participant[ai],
        quantity=q,
        price_buy=gamma + sb_ * h,
        price_sell=gamma - ss_ * h,
        slot=book.slot[bi],
    )
    # back to slot / book order for readability
    o = np.lexsort((ai, bi, trades.slot))
    trades = trades.take(o)
    curtailed = None
    if network is not None:
        trades, curtailed = _apply_network(trades, book, network, slots)
    return MarketResult("bilateral", book, trades, slots, np.full(S, np.nan), lb, ls, curtailed)


def _apply_network(
    trades: Trades, book: OrderBook, network: NetworkCheck, slots: IntArray
) -> tuple[Trades, FloatArray]:
    """Scale trades down to what ``network`` lets them deliver; returns the trades and the kWh removed per slot."""
    q = trades.quantity
    accepted = np.asarray(network(trades, book), dtype=np.float64)
    if accepted.shape != q.shape or not np.all(np.isfinite(accepted)):
        raise DataError(
            f"the network check must return one finite kWh value per trade ({len(q)}), got shape {accepted.shape}"
        )
    tol = 1e-9 * np.maximum(q, 1.0)
    if np.any(accepted < -tol) or np.any(accepted > q + tol):
        raise DataError("the network check returned deliverable energy outside [0, trade quantity]")
    accepted = np.clip(accepted, 0.0, q)
    at = np.searchsorted(slots, trades.slot)
    removed = cast(FloatArray, np.bincount(at, weights=q - accepted, minlength=len(slots)))  # weighted: float64
    keep = accepted > 1e-12 * np.maximum(q, 1.0)
    return replace(trades.take(keep), quantity=accepted[keep]), removed


def _greedy(bi: IntArray, ai: IntArray, quantity: FloatArray, n: int) -> tuple[FloatArray, IntArray]:
    """Sequential greedy allocation over pairs in priority order.

    Returns the traded quantity of each executed pair and the pair indices.
    """
    rem = quantity.tolist()
    tol = 1e-12 * max(1.0, float(quantity.max()))
    qs: list[float] = []
    take: list[int] = []
    for p, (i, j) in enumerate(zip(bi.tolist(), ai.tolist(), strict=True)):
        x = rem[i]
        if x <= 0.0:
            continue
        y = rem[j]
        if y <= 0.0:
            continue
        if x <= y:
            rem[i] = 0.0
            rem[j] = 0.0 if y - x <= tol else y - x
            qs.append(x)
        else:
            rem[j] = 0.0
            rem[i] = 0.0 if x - y <= tol else x - y
            qs.append(y)
        take.append(p)
    return np.asarray(qs, dtype=np.float64), np.asarray(take, dtype=np.int64)


def supplier_profit(
    result: MarketResult,
    utility_price: ArrayLike = 0.0,
    demand_generating: ArrayLike = 0.0,
    demand_non_generating: ArrayLike = 0.0,
    other: ArrayLike = 0.0,
) -> FloatArray:
    """Supplier profit per participant (Tooki et al. eq. 10).

    D_a = Σ_b R_ab·(γ_ab − s_s·H_ab) + (P_a^K − P_a^MK)·H_V + C; the first sum is the
    money the seller receives for its trades (``trades.receipt``).

    Parameters
    ----------
    result : MarketResult
        A cleared market (any mechanism; for non-bilateral ones H = 0).
    utility_price : float or array-like
        H_V, currency/kWh.
    demand_generating, demand_non_generating : float or array-like
        P_a^K and P_a^MK per participant code, kWh.
    other : float or array-like
        C, other market terms, currency.

    Returns
    -------
    numpy.ndarray
        currency, one value per participant code.
    """
    t = result.trades
    N = result.book.n_participants
    income = np.bincount(t.seller, weights=t.receipt, minlength=N)
    utility = (np.asarray(demand_generating) - np.asarray(demand_non_generating)) * np.asarray(utility_price)
    profit: FloatArray = income + utility + np.asarray(other)
    return profit


def buyer_cost(
    result: MarketResult,
    utility_price: ArrayLike | None = None,
    utility_energy: ArrayLike | None = None,
    other: ArrayLike = 0.0,
) -> FloatArray:
    """Buyer cost per participant (Tooki et al. eq. 11).

    E_b = Σ_a R_ab·(γ_ab + s_b·H_ab) + P_b^V·H_V + C; the first sum is the money
    the buyer pays for its trades (``trades.payment``).

    Parameters
    ----------
    result : MarketResult
        A cleared market.
    utility_price : float or array-like, optional
        H_V, currency/kWh; default: the result's retail price per slot applied to
        each residual bid (which then is P^V).
    utility_energy : float or array-like, optional
        P_b^V per participant code, kWh (with an explicit ``utility_price``);
        default: the participant's residual bid energy.
    other : float or array-like
        C, currency.

    Returns
    -------
    numpy.ndarray
        currency, one value per participant code.
    """
    t = result.trades
    book = result.book
    N = book.n_participants
    paid = cast(FloatArray, np.bincount(t.buyer, weights=t.payment, minlength=N))  # weighted: float64
    res = np.where(book.side > 0, result.residual, 0.0)
    grid: FloatArray
    if utility_price is None:
        if result.retail is None:
            grid = np.zeros(N)
        else:
            lam = result.retail[np.searchsorted(result.slots, book.slot)]
            grid = cast(FloatArray, np.bincount(book.participant, weights=res * lam, minlength=N))
    else:
        energy = np.bincount(book.participant, weights=res, minlength=N) if utility_energy is None else utility_energy
        grid = np.asarray(energy, dtype=np.float64) * np.asarray(utility_price)
    cost: FloatArray = paid + grid + np.asarray(other)
    return cost
