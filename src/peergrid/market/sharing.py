"""Pool-based community sharing rules: no-P2P baseline, BS, MMR and SDR.

Every rule here clears a whole horizon in one vectorised call. Inputs are per-slot
community totals: ``demand`` D_t = Σ_i max(net_it, 0) (total buying energy) and
``supply`` G_t = Σ_i max(−net_it, 0) (total selling energy), in kWh, with the
grid retail price λb_t and feed-in tariff λs_t (currency/kWh, λs ≤ λb).

Each rule returns a :class:`Clearing`: the average price every buyer pays per kWh
of its deficit and every seller receives per kWh of its surplus in the slot, and
the shares of deficit/surplus that are met by peers. A member's bill is then

    bill_it = price_buy_t · d_it − price_sell_t · s_it        (currency)

with d = max(net, 0), s = max(−net, 0); the same pair of prices applies to all
buyers (sellers) in a slot, which is what makes these rules *pool* rules. In all
of them money is conserved: Σ_i bill_it equals the community's grid bill
λb·(D − G)⁺ − λs·(G − D)⁺ in every slot.

References
----------
.. [Liu2017] N. Liu, X. Yu, C. Wang, C. Li, L. Ma, J. Lei, "Energy-sharing model
   with price-based demand response for microgrids of peer-to-peer prosumers",
   IEEE Trans. Power Syst. 32(5), 2017 — SDR pricing.
.. [Long2017] C. Long, J. Wu, C. Zhang, L. Thomas, M. Cheng, N. Jenkins,
   "Peer-to-peer energy trading in a community microgrid", IEEE PES GM 2017 — MMR.
.. [Zhou2018] Y. Zhou, J. Wu, C. Long, "Evaluation of peer-to-peer energy sharing
   mechanisms based on a multiagent simulation framework", Applied Energy 222,
   2018 — BS and the comparison framework.
.. [Lange2025] E. A. Lange, "Cloud-coordinated peer-to-peer energy sharing for urban
   community microgrids", 2025, eqs. 2–4 (SDR definition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import ArrayLike, FloatArray
from peergrid.market._common import pool_inputs


@dataclass(frozen=True)
class Allocation:
    """Per-participant outcome of a clearing, all ``(T, N)``.

    Attributes
    ----------
    bought, sold : numpy.ndarray
        Energy bought from / sold to peers, kWh.
    grid_import, grid_export : numpy.ndarray
        Energy bought from / sold to the grid, kWh.
    bill : numpy.ndarray
        Money paid (+) or received (−), currency.
    """

    bought: FloatArray
    sold: FloatArray
    grid_import: FloatArray
    grid_export: FloatArray
    bill: FloatArray


@dataclass(frozen=True)
class Clearing:
    """Result of a pool sharing rule over T slots (all arrays length T).

    Attributes
    ----------
    mechanism : str
        ``"baseline"``, ``"bs"``, ``"mmr"`` or ``"sdr"``.
    demand, supply : numpy.ndarray
        Community buying energy D and selling energy G, kWh.
    retail, feed_in : numpy.ndarray
        Grid prices λb and λs, currency/kWh.
    price_buy, price_sell : numpy.ndarray
        Average price per kWh of deficit paid by every buyer / per kWh of surplus
        received by every seller, currency/kWh.
    peer_share_buy, peer_share_sell : numpy.ndarray
        Fraction of each buyer's deficit supplied by peers, and of each seller's
        surplus sold to peers (0 for the no-P2P baseline), 1.
    """

    mechanism: str
    demand: FloatArray
    supply: FloatArray
    retail: FloatArray
    feed_in: FloatArray
    price_buy: FloatArray
    price_sell: FloatArray
    peer_share_buy: FloatArray
    peer_share_sell: FloatArray

    @property
    def traded(self) -> FloatArray:
        """Energy traded between peers per slot, kWh (= bought = sold)."""
        out: FloatArray = self.demand * self.peer_share_buy
        return out

    @property
    def grid_import(self) -> FloatArray:
        """Community import from the grid per slot, kWh."""
        out: FloatArray = self.demand * (1.0 - self.peer_share_buy)
        return out

    @property
    def grid_export(self) -> FloatArray:
        """Community export to the grid per slot, kWh."""
        out: FloatArray = self.supply * (1.0 - self.peer_share_sell)
        return out

    @property
    def grid_bill(self) -> FloatArray:
        """Community bill at the point of common coupling per slot, currency."""
        out: FloatArray = self.retail * self.grid_import - self.feed_in * self.grid_export
        return out

    @property
    def member_bill(self) -> FloatArray:
        """Sum of member bills per slot, currency (equals :attr:`grid_bill` + :attr:`fees`)."""
        out: FloatArray = self.price_buy * self.demand - self.price_sell * self.supply
        return out

    @property
    def fees(self) -> FloatArray:
        """Money kept by the market operator per slot, currency (0 for the pool rules)."""
        return np.zeros_like(self.demand)

    def allocate(self, net: ArrayLike, rows: slice | None = None) -> Allocation:
        """Split the clearing onto participants.

        Pool rules treat every buyer (seller) of a slot alike: each gets the same
        peer share of its deficit (surplus) at the same average price.

        Parameters
        ----------
        net : numpy.ndarray
            ``(T, N)`` net energy per step after control, kWh (+ import, − export);
            the same array the clearing was computed from, or its rows ``rows``.
        rows : slice, optional
            The time steps ``net`` holds (default: all).

        Returns
        -------
        Allocation
        """
        net = np.asarray(net, dtype=np.float64)
        rows = slice(None) if rows is None else rows
        d = np.maximum(net, 0.0)
        s = np.maximum(-net, 0.0)
        fb = self.peer_share_buy[rows, None]
        fs = self.peer_share_sell[rows, None]
        bought = d * fb
        sold = s * fs
        return Allocation(
            bought=bought,
            sold=sold,
            grid_import=d - bought,
            grid_export=s - sold,
            bill=self.price_buy[rows, None] * d - self.price_sell[rows, None] * s,
        )

    def participant_totals(self) -> dict[str, FloatArray] | None:
        """Per-participant totals of clearings that allocate individually; ``None`` for pool rules.

        A pool rule's allocation is ``deficit × per-slot share`` (see :meth:`allocate`),
        so the simulator reduces it with per-slot weights in one pass over ``net``;
        order-book clearings (:class:`peergrid.market.bidding.OrderClearing`) return
        ``bought``, ``sold``, ``purchase_cost`` and ``revenue`` (length N) instead.
        """
        return None


def demand_supply(net: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Community buying and selling energy per slot (Lange eqs. 3–4).

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy, kWh (+ import).

    Returns
    -------
    demand, supply : numpy.ndarray
        TBP_t = Σ_i max(net, 0) and TSP_t = Σ_i max(−net, 0), kWh, length T.
    """
    net = np.asarray(net, dtype=np.float64)
    if net.ndim != 2:
        raise DataError(f"net must be a (T, N) array, got shape {net.shape}")
    T = net.shape[0]
    total_abs = np.empty(T)
    total = np.empty(T)
    step = max(1, (1 << 22) // max(net.shape[1], 1))  # ~32 MB temporaries per block
    for start in range(0, T, step):
        blk = net[start : start + step]
        total_abs[start : start + step] = np.abs(blk).sum(axis=1)
        total[start : start + step] = blk.sum(axis=1)
    # D - G = total and D + G = total_abs, without materialising max(net, 0).
    if not np.all(np.isfinite(total_abs)):
        raise DataError("net contains NaN or infinite values")
    demand = 0.5 * (total_abs + total)
    supply = 0.5 * (total_abs - total)
    return np.maximum(demand, 0.0), np.maximum(supply, 0.0)


def _peer_shares(d: FloatArray, g: FloatArray) -> tuple[FloatArray, FloatArray]:
    traded = np.minimum(d, g)
    with np.errstate(invalid="ignore", divide="ignore"):
        fb = np.where(d > 0, traded / np.where(d > 0, d, 1.0), 0.0)
        fs = np.where(g > 0, traded / np.where(g > 0, g, 1.0), 0.0)
    return fb, fs


def no_p2p(demand: ArrayLike, supply: ArrayLike, retail: ArrayLike, feed_in: ArrayLike) -> Clearing:
    """Baseline without sharing: every member trades with the grid alone.

    Parameters
    ----------
    demand, supply : array-like
        Community buying / selling energy per slot, kWh.
    retail, feed_in : array-like or float
        λb and λs per slot, currency/kWh.

    Returns
    -------
    Clearing
        Buyers pay λb, sellers receive λs, nothing is traded between peers.
    """
    d, g, lb, ls = pool_inputs(demand, supply, retail, feed_in)
    zero = np.zeros_like(d)
    return Clearing("baseline", d, g, lb, ls, lb, ls, zero, zero.copy())


def bill_sharing(demand: ArrayLike, supply: ArrayLike, retail: ArrayLike, feed_in: ArrayLike) -> Clearing:
    """Bill sharing (BS): the community's grid bill is shared pro rata.

    The net bill at the point of common coupling, λb·(D − G)⁺ − λs·(G − D)⁺, is
    split in proportion to each member's own import and export:
    c_im = λb·(D − G)⁺ / D, c_ex = λs·(G − D)⁺ / G, bill_i = c_im·d_i − c_ex·s_i
    ([Zhou2018]_). Note that c_im and c_ex lie in [0, λb] and [0, λs]:
    unlike MMR and SDR, BS prices can fall below the feed-in tariff, so sellers
    can earn less than from the grid alone.

    Parameters
    ----------
    demand, supply : array-like
        Community buying / selling energy per slot, kWh.
    retail, feed_in : array-like or float
        λb and λs per slot, currency/kWh.

    Returns
    -------
    Clearing
        ``price_buy`` = c_im, ``price_sell`` = c_ex (λb / λs in slots without buyers / sellers).
    """
    d, g, lb, ls = pool_inputs(demand, supply, retail, feed_in)
    fb, fs = _peer_shares(d, g)
    c_im = lb * (1.0 - fb)  # = λb (D − G)⁺ / D
    c_ex = ls * (1.0 - fs)  # = λs (G − D)⁺ / G
    c_im = np.where(d > 0, c_im, lb)
    c_ex = np.where(g > 0, c_ex, ls)
    return Clearing("bs", d, g, lb, ls, c_im, c_ex, fb, fs)


def mid_market_price(retail: ArrayLike, feed_in: ArrayLike) -> FloatArray:
    """Mid-market rate P_mmr = (λb + λs) / 2 ([Long2017]_), currency/kWh."""
    return 0.5 * (np.asarray(retail, dtype=np.float64) + np.asarray(feed_in, dtype=np.float64))


def mid_market_rate(demand: ArrayLike, supply: ArrayLike, retail: ArrayLike, feed_in: ArrayLike) -> Clearing:
    """Mid-market rate (MMR) sharing ([Long2017]_).

    Balanced slots: everyone trades at P_mmr = (λb + λs)/2. Surplus (G > D): buyers
    pay P_mmr; sellers get (D·P_mmr + (G − D)·λs)/G. Deficit (G < D): sellers get
    P_mmr; buyers pay (G·P_mmr + (D − G)·λb)/D.

    Parameters
    ----------
    demand, supply : array-like
        Community buying / selling energy per slot, kWh.
    retail, feed_in : array-like or float
        λb and λs per slot, currency/kWh.

    Returns
    -------
    Clearing
    """
    d, g, lb, ls = pool_inputs(demand, supply, retail, feed_in)
    fb, fs = _peer_shares(d, g)
    p = mid_market_price(lb, ls)
    # fb = min(D, G)/D: the peer-supplied share at P_mmr, the rest at λb.
    price_buy = np.where(d > 0, fb * p + (1.0 - fb) * lb, lb)
    price_sell = np.where(g > 0, fs * p + (1.0 - fs) * ls, ls)
    both_empty = (d == 0) & (g == 0)
    price_buy = np.where(both_empty, p, price_buy)
    price_sell = np.where(both_empty, p, price_sell)
    return Clearing("mmr", d, g, lb, ls, price_buy, price_sell, fb, fs)


def sdr_ratio(demand: ArrayLike, supply: ArrayLike) -> FloatArray:
    """Supply–demand ratio SDR_h = TSP_h / TBP_h (Lange eq. 2).

    Parameters
    ----------
    demand, supply : array-like
        TBP and TSP per slot, kWh.

    Returns
    -------
    numpy.ndarray
        SDR, 1; ``inf`` where there is supply but no demand, 1 where both are zero.
    """
    d = np.asarray(demand, dtype=np.float64)
    g = np.asarray(supply, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(d > 0, g / np.where(d > 0, d, 1.0), np.where(g > 0, np.inf, 1.0))
    return ratio


def sdr_prices(ratio: ArrayLike, retail: ArrayLike, feed_in: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Internal selling and buying prices as functions of SDR ([Liu2017]_).

    For 0 ≤ SDR ≤ 1: P_sell = λb·λs / ((λb − λs)·SDR + λs) and
    P_buy = P_sell·SDR + λb·(1 − SDR). For SDR > 1: P_sell = P_buy = λs.
    Both are continuous at SDR = 1 (= λs) and lie in [λs, λb].

    Parameters
    ----------
    ratio : array-like
        SDR per slot, ≥ 0 (may be ``inf``).
    retail, feed_in : array-like or float
        λb and λs, currency/kWh, 0 < λs ≤ λb.

    Returns
    -------
    price_sell, price_buy : numpy.ndarray
        currency/kWh.
    """
    r = np.asarray(ratio, dtype=np.float64)
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64), r.shape)
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64), r.shape)
    rc = np.clip(r, 0.0, 1.0)
    denom = (lb - ls) * rc + ls
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p_sell = np.where(denom > 0, lb * ls / np.where(denom > 0, denom, 1.0), lb)
    # λs = 0 makes P_sell = 0 for SDR > 0 and undefined at SDR = 0; take the limit λb there.
    p_sell = np.where((ls == 0) & (rc == 0), lb, p_sell)
    # P_sell falls from λb (SDR = 0) to λs (SDR = 1); the clip removes rounding noise (subnormal λs)
    p_sell = np.clip(p_sell, ls, lb)
    p_buy = p_sell * rc + lb * (1.0 - rc)
    over = r > 1.0
    p_sell = np.where(over, ls, p_sell)
    p_buy = np.where(over, ls, p_buy)
    return p_sell, p_buy


def supply_demand_ratio(demand: ArrayLike, supply: ArrayLike, retail: ArrayLike, feed_in: ArrayLike) -> Clearing:
    """Supply–demand-ratio (SDR) sharing ([Liu2017]_; Lange eqs. 2–4).

    All buyers pay P_buy(SDR) per kWh of deficit and all sellers receive
    P_sell(SDR) per kWh of surplus (:func:`sdr_prices`); when SDR > 1 the surplus
    beyond the community's demand is exported at λs.

    Parameters
    ----------
    demand, supply : array-like
        Community buying / selling energy per slot, kWh.
    retail, feed_in : array-like or float
        λb and λs per slot, currency/kWh.

    Returns
    -------
    Clearing
    """
    d, g, lb, ls = pool_inputs(demand, supply, retail, feed_in)
    fb, fs = _peer_shares(d, g)
    p_sell, p_buy = sdr_prices(sdr_ratio(d, g), lb, ls)
    return Clearing("sdr", d, g, lb, ls, p_buy, p_sell, fb, fs)


def clear(
    net: ArrayLike, retail: ArrayLike, feed_in: ArrayLike, mechanism: str = "sdr", **options: object
) -> Clearing:
    """Clear a whole horizon of net positions with one mechanism.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy per slot, kWh (+ import / buyer, − export / seller).
    retail, feed_in : array-like or float
        λb and λs per slot, currency/kWh.
    mechanism : str
        A pool rule (``"baseline"``, ``"bs"``, ``"mmr"``, ``"sdr"``) or an order-book
        mechanism (``"uniform"``, ``"pay-as-bid"``, ``"mcafee"``, ``"bilateral"``; see
        :func:`peergrid.market.bidding.clear_net`).
    **options
        Order-book mechanisms only: ``bidding``, ``k``, ``seed``, ``fee``.

    Returns
    -------
    Clearing
        Use :meth:`Clearing.allocate` for per-participant energy and bills.

    Examples
    --------
    >>> import numpy as np
    >>> from peergrid.market import clear
    >>> net = np.array([[2.0, -1.0]])        # one slot: a buyer of 2 kWh, a seller of 1 kWh
    >>> c = clear(net, retail=0.30, feed_in=0.10, mechanism="mmr")
    >>> float(c.price_buy[0]), float(c.price_sell[0])   # (1·0.20 + 1·0.30)/2, 0.20
    (0.25, 0.2)
    """
    from peergrid.market.bidding import clear_net
    from peergrid.market.mechanisms import MECHANISMS, check_market, is_order_market

    name = check_market(mechanism)
    if is_order_market(name):
        return clear_net(net, retail, feed_in, name, **options)  # type: ignore[arg-type]
    if options:
        raise ConfigError(f"the {name} pool rule takes no options (got {', '.join(options)})")
    demand, supply = demand_supply(net)
    return MECHANISMS[name](demand, supply, retail, feed_in)
