"""Price views: the price signal the coordinator hands to controllers.

A controller ``f(community, progress=None) -> BatterySchedule`` reads its prices from
``community.retail`` (what one more kWh imported costs, λb) and ``community.feed_in``
(what one more kWh exported earns, λs). Under price-responsive coordination
(:mod:`peergrid.simulate.coordination`) the coordinator replaces them with the
community's *internal* buy and sell prices (:func:`peergrid.market.internal_prices`):
:func:`price_view` returns the same community — the same load, generation,
participants, tariff and time zone — with only those two series replaced. A controller
is price-responsive exactly when its schedule depends on them.

The same views carry the **objective** of the controllers (:func:`objective_view`): under a
CO2 objective the controllers plan on prices that add the cost of the carbon emitted by grid
import, so every price-aware controller (``lp``, ``lp-community``, ``mpc``,
``mpc-community``, ``rule``, ...) follows it without code of its own.
"""

from __future__ import annotations

import copy

import numpy as np

from peergrid.core.community import Community
from peergrid.core.errors import DataError

__all__ = ["CO2_TIE_BREAK", "OBJECTIVES", "check_objective", "objective_view", "price_view"]

#: Objectives of the controllers (:func:`objective_view`).
OBJECTIVES: tuple[str, ...] = ("cost", "co2", "cost+co2")

#: Weight of money against emissions under ``objective="co2"``, kgCO2 per currency unit: the
#: controllers minimise emissions + CO2_TIE_BREAK × cost, i.e. emissions first and cost only
#: among (near-)equal emissions (one currency unit saved is worth 0.001 kgCO2).
CO2_TIE_BREAK = 1e-3


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


def check_objective(objective: str, co2_price: float = 0.0) -> str:
    """Validate an objective and its CO2 price; return the canonical objective name.

    Parameters
    ----------
    objective : str
        ``"cost"``, ``"co2"`` or ``"cost+co2"`` (case and spaces ignored).
    co2_price : float
        Price of emissions, currency/kgCO2 (≥ 0, finite); ``"cost+co2"`` only (must be 0 otherwise).

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        Unknown objective, negative or non-finite price, or a price with another objective.
    """
    from peergrid.core.errors import ConfigError

    key = str(objective).strip().lower().replace(" ", "")
    if key not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    try:
        price = float(co2_price)
    except (TypeError, ValueError):
        raise ConfigError(f"co2_price must be a number (currency/kgCO2), got {co2_price!r}") from None
    if not (np.isfinite(price) and price >= 0):
        raise ConfigError(f"co2_price must be >= 0 (currency/kgCO2), got {co2_price!r}")
    if price > 0 and key != "cost+co2":
        raise ConfigError(f'co2_price applies to objective = "cost+co2" only (objective is {key!r})')
    return key


def objective_view(community: Community, objective: str = "cost", co2_price: float = 0.0) -> Community:
    r"""The community as a controller with ``objective`` sees it: prices that include the CO2 cost.

    Petri et al. (2020) state CO2 emissions reduction as one objective of the Milford Haven
    cluster (Section III) and optimise the net cost of electricity, eq. 4,
    :math:`C = \sum_t El^{buy}_t \lambda^b_t - El^{sell}_t \lambda^s_t`. The CO2 objective
    replaces the prices of eq. 4 by carbon-weighted ones, with :math:`c_t` the grid's carbon
    intensity (kgCO2/kWh, :attr:`Community.carbon_intensity`) and :math:`p` the CO2 price
    (currency/kgCO2):

    * ``"cost"`` — eq. 4 as it is: ``community`` itself is returned (bit-identical plans);
    * ``"cost+co2"`` — buy :math:`\lambda^b_t + p\,c_t`, sell :math:`\lambda^s_t`: the
      controllers minimise cost + p · emissions;
    * ``"co2"`` — buy :math:`c_t + \varepsilon\lambda^b_t`, sell :math:`\varepsilon\lambda^s_t`
      (:math:`\varepsilon` = :data:`CO2_TIE_BREAK`): minimise the emissions of grid import,
      ties broken by cost.

    Export earns no CO2 credit, as in the ``emissions_kg`` metric (emissions of grid import).
    ``community.retail``/``feed_in`` may themselves be a price view (the internal prices under
    price-response coordination): the CO2 terms are added to them.

    Parameters
    ----------
    community : Community
        With ``carbon_intensity`` unless ``objective="cost"``.
    objective : {"cost", "co2", "cost+co2"}
    co2_price : float
        Currency/kgCO2, ``"cost+co2"`` only.

    Returns
    -------
    Community
        A :func:`price_view` (``community`` itself for ``"cost"``). Markets, bills and metrics
        always use the original community's prices, never a view's.

    Raises
    ------
    ConfigError
        Bad objective or price (:func:`check_objective`), or no carbon intensity.

    Examples
    --------
    >>> from peergrid.data import synthetic_community
    >>> com = synthetic_community(3, periods=2, freq="1h", seed=1, retail=0.30, feed_in=0.05)
    >>> com.carbon_intensity = np.array([0.2, 0.4])
    >>> objective_view(com, "cost+co2", co2_price=0.1).retail.round(3).tolist()
    [0.32, 0.34]
    >>> objective_view(com, "co2").feed_in.round(6).tolist()
    [5e-05, 5e-05]
    """
    from peergrid.core.errors import ConfigError

    key = check_objective(objective, co2_price)
    if key == "cost":
        return community
    ci = community.carbon_intensity
    if ci is None:
        raise ConfigError(
            f"objective {key!r} needs the grid's carbon intensity: set Community.carbon_intensity "
            "(kgCO2/kWh) or the scenario's [carbon] intensity"
        )
    ci = np.asarray(ci, dtype=np.float64)
    if key == "cost+co2":
        return price_view(community, community.retail + float(co2_price) * ci, community.feed_in)
    return price_view(community, ci + CO2_TIE_BREAK * community.retail, CO2_TIE_BREAK * community.feed_in)
