"""Price views: the price signal the coordinator hands to controllers.

A controller ``f(community, progress=None) -> BatterySchedule`` reads its prices from
``community.retail`` (what one more kWh imported costs, λb) and ``community.feed_in``
(what one more kWh exported earns, λs). Under price-responsive coordination
(:mod:`peergrid.simulate.coordination`) the coordinator replaces them with the
community's *internal* buy and sell prices (:func:`peergrid.market.internal_prices`):
:func:`price_view` returns the same community — the same load, generation,
participants, tariff and time zone — with only those two series replaced. A controller
is price-responsive exactly when its schedule depends on them.
"""

from __future__ import annotations

import copy

import numpy as np

from peergrid.core.community import Community
from peergrid.core.errors import DataError

__all__ = ["price_view"]


def _series(value: object, T: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(T, float(arr))
    if arr.shape != (T,):
        raise DataError(f"price view: {what} must have shape ({T},) (one price per step), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        t = int(np.argmax(~np.isfinite(arr)))
        raise DataError(f"price view: {what} is not finite at step {t}")
    return arr.copy()


def price_view(community: Community, buy: object, sell: object) -> Community:
    """The community with its marginal prices replaced by ``buy`` and ``sell``.

    Parameters
    ----------
    community : Community
        The community (load, generation, participants, tariff, time zone are kept and
        shared, not copied).
    buy : array-like or float
        Price of one more kWh imported per step, currency/kWh, shape ``(T,)`` (or one
        value); becomes ``retail``.
    sell : array-like or float
        Price of one more kWh exported per step, currency/kWh, shape ``(T,)`` (or one
        value); becomes ``feed_in``.

    Returns
    -------
    Community
        A shallow copy with ``retail = buy`` and ``feed_in = sell``. ``tariff`` is kept
        for bills; markets and metrics use the original community's prices, never a view's.

    Raises
    ------
    DataError
        Wrong shape, NaN or infinite prices, ``sell < 0``, or ``sell > buy`` in some step
        (a price-taking controller would then buy to sell without limit).

    Examples
    --------
    >>> from peergrid.data import synthetic_community
    >>> com = synthetic_community(3, periods=4, freq="1h", seed=1)
    >>> view = price_view(com, [0.3, 0.1, 0.1, 0.3], 0.05)
    >>> view.retail.tolist(), view.load is com.load
    ([0.3, 0.1, 0.1, 0.3], True)
    """
    T = community.T
    b = _series(buy, T, "buy")
    s = _series(sell, T, "sell")
    if np.any(s < 0):
        t = int(np.argmax(s < 0))
        raise DataError(f"price view: sell price {s[t]} < 0 at step {t}")
    if np.any(s > b):
        t = int(np.argmax(s > b))
        raise DataError(f"price view: sell price {s[t]} exceeds buy price {b[t]} at step {t}")
    view = copy.copy(community)  # no re-validation of the (T, N) arrays: only the prices change
    view.retail = b
    view.feed_in = s
    return view
