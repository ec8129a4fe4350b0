"""Net-energy forecasters for model predictive control (:mod:`peergrid.control.mpc`).

A forecaster predicts every participant's net energy (``load − generation``, kWh per
step, + = import) over the next planning horizon from what has been observed so far.
Any object with a :meth:`Forecaster.forecast` method, or a plain callable with the
same signature, can be used:

``forecast(history, index, horizon) -> (horizon, N) array``

* ``history`` — ``(t, N)`` realised net energy of the steps before now (read-only);
* ``index`` — the ``horizon`` timestamps (UTC period starts) to forecast;
* ``horizon`` — number of steps.

Two forecasters are built in:

:class:`PerfectForecaster`
    An oracle that returns the realised future (perfect foresight). MPC with it and
    a horizon covering the whole run reproduces the LP optimum.
:class:`PersistenceForecaster`
    Seasonal persistence: every step is forecast by the value observed one season
    (default one day) earlier — "tomorrow looks like today", the usual naive
    benchmark for household load and PV forecasts. Steps further ahead than one
    season reuse the most recent observed season. Before one season of history
    exists the most recent observation is repeated, and zeros are used before any
    observation (a controller that knows nothing plans nothing).

References
----------
.. [1] Hyndman, R. J. and Athanasopoulos, G., *Forecasting: Principles and Practice*,
   3rd ed., 2021, Section 5.2 (naive and seasonal naive methods).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError

__all__ = [
    "FORECASTERS",
    "Forecaster",
    "PerfectForecaster",
    "PersistenceForecaster",
    "get_forecaster",
]


@runtime_checkable
class Forecaster(Protocol):
    """Anything that forecasts net energy over a horizon."""

    def forecast(self, history: np.ndarray, index: pd.DatetimeIndex, horizon: int) -> np.ndarray:
        """Forecast the net energy of the next ``horizon`` steps.

        Parameters
        ----------
        history : numpy.ndarray
            ``(t, N)`` realised net energy of steps ``0 … t−1``, kWh (read-only).
        index : pandas.DatetimeIndex
            UTC start of each forecast step ``t … t+horizon−1``.
        horizon : int
            Number of steps to forecast.

        Returns
        -------
        numpy.ndarray
            ``(horizon, N)`` forecast net energy, kWh (+ import).
        """
        ...


class PerfectForecaster:
    """Perfect foresight: the realised net energy of the forecast steps.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` realised net energy of the whole run, kWh.
    """

    name = "perfect"

    def __init__(self, net: np.ndarray) -> None:
        self.net = np.asarray(net, dtype=np.float64)

    def forecast(self, history: np.ndarray, index: pd.DatetimeIndex, horizon: int) -> np.ndarray:
        """The realised net energy of steps ``t … t+horizon−1`` (``t = len(history)``)."""
        t = history.shape[0]
        return self.net[t : t + horizon]


class PersistenceForecaster:
    """Seasonal persistence forecast ("same time one season ago").

    Parameters
    ----------
    season_steps : int, optional
        Season length in steps; default one day at the index's step length.

    Notes
    -----
    Step ``t + k`` is forecast by the observation at ``t + k − L·(⌊k/L⌋ + 1)`` with
    ``L`` the season: the same time of day in the most recent observed day. With
    less than one season of history the last observation is repeated; with no
    history the forecast is zero.
    """

    name = "persistence"

    def __init__(self, season_steps: int | None = None) -> None:
        if season_steps is not None and int(season_steps) < 1:
            raise ConfigError(f"persistence season must be >= 1 step, got {season_steps}")
        self.season_steps = None if season_steps is None else int(season_steps)
        self._cache: tuple[object, int] | None = None

    def _season(self, index: pd.DatetimeIndex) -> int:
        if self.season_steps is not None:
            return self.season_steps
        if self._cache is not None and self._cache[0] == index.freq and index.freq is not None:
            return self._cache[1]
        L = self._season_of(index)
        self._cache = (index.freq, L)
        return L

    @staticmethod
    def _season_of(index: pd.DatetimeIndex) -> int:
        freq = index.freq
        if freq is None and len(index) > 1:
            freq = index[1] - index[0]
        if freq is None:
            return 1
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
        return max(round(pd.Timedelta(days=1) / step), 1)

    def forecast(self, history: np.ndarray, index: pd.DatetimeIndex, horizon: int) -> np.ndarray:
        """Seasonal-naive forecast of the next ``horizon`` steps, ``(horizon, N)`` kWh."""
        t, n = history.shape
        if t == 0:
            return np.zeros((horizon, n))
        L = self._season(index)
        k = np.arange(horizon)
        src = t + k - L * (k // L + 1)
        src = np.where(src >= 0, src, t - 1)
        return history[src]


#: Built-in forecasters by name.
FORECASTERS: dict[str, type] = {"perfect": PerfectForecaster, "persistence": PersistenceForecaster}

ForecastFn = Callable[[np.ndarray, pd.DatetimeIndex, int], np.ndarray]


def get_forecaster(
    spec: str | Forecaster | ForecastFn, community: Community, net: np.ndarray | None = None
) -> ForecastFn:
    """Resolve a forecaster name or object into a forecast function.

    Parameters
    ----------
    spec : str, Forecaster or callable
        ``"perfect"``, ``"persistence"``, an object with a ``forecast`` method or a
        callable ``f(history, index, horizon)``.
    community : Community
        The community to be controlled (for the perfect forecast).
    net : numpy.ndarray, optional
        Its ``(T, N)`` net energy, if already computed.

    Returns
    -------
    callable
        ``f(history, index, horizon) -> (horizon, N)``.
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key == "perfect":
            return PerfectForecaster(community.net if net is None else net).forecast
        if key == "persistence":
            return PersistenceForecaster().forecast
        raise ConfigError(f"unknown forecaster {spec!r}; choose from {', '.join(FORECASTERS)} or pass an object")
    if isinstance(spec, Forecaster):
        return spec.forecast
    if callable(spec):
        return spec
    raise ConfigError(
        "forecaster must be a name, an object with .forecast(history, index, horizon) or a callable, "
        f"got {type(spec).__name__}"
    )


def forecaster_name(spec: object) -> str:
    """Short name of a forecaster spec (for reports)."""
    if isinstance(spec, str):
        return spec.strip().lower()
    return str(getattr(spec, "name", None) or getattr(spec, "__name__", None) or type(spec).__name__)
