"""Internal prices of a clearing: the buy/sell price signal of price-responsive control.

:func:`internal_prices` turns a :class:`~peergrid.market.Clearing` into one buy price
(what one more kWh imported costs a member) and one sell price (what one more kWh
exported earns) per slot, currency/kWh. The coordinator
(:mod:`peergrid.simulate.coordination`) hands them to controllers through
:func:`peergrid.control.price_view`.

Rules
-----
* **Pool rules** (BS, MMR, SDR, baseline): the clearing's ``price_buy`` / ``price_sell``,
  the average price every buyer pays per kWh of deficit and every seller earns per kWh
  of surplus. In a slot *without buyers* the buy price is the price a new buyer would
  face there, and likewise for sellers:

  ===========  ================================  ================================
  rule         new buyer (no buyers, G > 0)      new seller (no sellers, D > 0)
  ===========  ================================  ================================
  baseline     λb                                λs
  BS           0 (the surplus is shared pro      0 (the deficit bill is shared
               rata: c_im = λb·(D − G)⁺/D → 0)   pro rata: c_ex = λs·(G − D)⁺/G → 0)
  MMR          P_mmr = (λb + λs)/2               P_mmr
  SDR          λs (SDR → ∞ > 1)                  λb (SDR → 0: P_sell = λb)
  ===========  ================================  ================================

  In an empty slot (no buyers and no sellers) a newcomer trades with the grid: λb / λs.
* **Order books** (:class:`~peergrid.market.OrderClearing`): the volume-weighted price
  buyers paid (sellers earned) per kWh of deficit (surplus), peer trades and the grid
  remainder together, i.e. the clearing's ``price_buy`` / ``price_sell``; λb / λs in
  slots without buyers / sellers.
* **Uncrossing.** A price-taking controller needs sell ≤ buy, else it would import to
  export without limit. Only bill sharing crosses (in a surplus slot buyers pay
  c_im = 0 while sellers earn c_ex = λs·(G − D)/G > 0); there the buy price is raised
  to the sell price: ``buy = max(buy, sell)`` — energy in that slot is worth what its
  sellers are paid.
"""

from __future__ import annotations

import numpy as np

from peergrid.core.types import FloatArray
from peergrid.market.bidding import OrderClearing
from peergrid.market.sharing import Clearing, mid_market_price

__all__ = ["internal_prices"]


def _newcomer_prices(clearing: Clearing) -> tuple[FloatArray, FloatArray]:
    """Price a new buyer / seller would face in slots without buyers / sellers (module docstring)."""
    lb, ls = clearing.retail, clearing.feed_in
    d, g = clearing.demand, clearing.supply
    if isinstance(clearing, OrderClearing):
        return lb, ls
    mech = clearing.mechanism
    if mech == "bs":
        return np.where(g > 0, 0.0, lb), np.where(d > 0, 0.0, ls)
    if mech == "mmr":
        p = mid_market_price(lb, ls)
        return np.where(g > 0, p, lb), np.where(d > 0, p, ls)
    if mech == "sdr":
        return np.where(g > 0, ls, lb), np.where(d > 0, lb, ls)
    return lb, ls


def internal_prices(clearing: Clearing) -> tuple[FloatArray, FloatArray]:
    """Internal buy and sell price per slot of a clearing (module docstring for the rules).

    Parameters
    ----------
    clearing : Clearing
        A pool-rule clearing (:func:`peergrid.market.clear`) or an order-book
        :class:`~peergrid.market.OrderClearing`.

    Returns
    -------
    buy, sell : numpy.ndarray
        Length T, currency/kWh, finite, ``0 ≤ sell ≤ buy``.

    Examples
    --------
    >>> import numpy as np
    >>> from peergrid.market import clear, internal_prices
    >>> net = np.array([[2.0, -1.0], [-1.0, 0.0]])   # a deficit slot, then a slot with a seller only
    >>> buy, sell = internal_prices(clear(net, retail=0.30, feed_in=0.10, mechanism="sdr"))
    >>> buy.round(4).tolist(), sell.round(4).tolist()   # SDR = 0.5: P_sell = 0.03/0.2 = 0.15
    ([0.225, 0.1], [0.15, 0.1])
    """
    d, g = clearing.demand, clearing.supply
    new_buy, new_sell = _newcomer_prices(clearing)
    empty = (d <= 0) & (g <= 0)
    buy = np.where(d > 0, clearing.price_buy, np.where(empty, clearing.retail, new_buy))
    sell = np.where(g > 0, clearing.price_sell, np.where(empty, clearing.feed_in, new_sell))
    buy = np.asarray(buy, dtype=np.float64)
    sell = np.maximum(np.asarray(sell, dtype=np.float64), 0.0)
    return np.maximum(buy, sell), sell
