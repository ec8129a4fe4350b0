"""Discounted cash flow: discount factors, NPV, annuities, LCOE and payback.

Pure functions on arrays. Cash flows are yearly, ``(..., Y + 1)`` arrays over years
``0 … Y`` (year 0 = the investment, at the start; years ``1 … Y`` at their ends), in the
community's currency; positive = money in. Every function broadcasts over the leading
axes (members, technologies).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from peergrid.core.errors import ConfigError

__all__ = [
    "annuity_factor",
    "capital_recovery_factor",
    "cumulative",
    "discount_factors",
    "lcoe",
    "npv",
    "payback",
]


def _check_rate(rate: float) -> float:
    r = float(rate)
    if not np.isfinite(r) or r <= -1.0:
        raise ConfigError(f"discount rate must be a finite number > -1 (per year), got {rate}")
    return r


def discount_factors(rate: float, years: int) -> np.ndarray:
    """Discount factors ``1 / (1 + r)^y`` for years ``0 … years``.

    Parameters
    ----------
    rate : float
        Discount rate r, 1/yr (0.05 = 5 %/yr); > -1.
    years : int
        Horizon Y, years (≥ 0).

    Returns
    -------
    numpy.ndarray
        ``(Y + 1,)`` factors, 1 in year 0.

    Examples
    --------
    >>> discount_factors(0.1, 2).round(4).tolist()
    [1.0, 0.9091, 0.8264]
    """
    r = _check_rate(rate)
    if years < 0:
        raise ConfigError(f"years must be >= 0, got {years}")
    return (1.0 + r) ** -np.arange(years + 1, dtype=np.float64)


def npv(cash_flows: ArrayLike, rate: float) -> np.ndarray | float:
    """Net present value Σ_y CF_y / (1 + r)^y.

    Parameters
    ----------
    cash_flows : array-like
        ``(..., Y + 1)`` yearly cash flows, currency (year 0 undiscounted).
    rate : float
        Discount rate, 1/yr.

    Returns
    -------
    float or numpy.ndarray
        NPV, currency, one per leading index.

    Examples
    --------
    An investment of 1000 returning 300 a year for 5 years at 8 %/yr:

    >>> round(float(npv([-1000, 300, 300, 300, 300, 300], 0.08)), 2)
    197.81
    """
    cf = np.asarray(cash_flows, dtype=np.float64)
    out = cf @ discount_factors(rate, cf.shape[-1] - 1)
    return float(out) if np.ndim(out) == 0 else out


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 a year for ``years`` years: (1 − (1 + r)^−n) / r (n when r = 0).

    Parameters
    ----------
    rate : float
        Discount rate r, 1/yr.
    years : int
        Number of yearly payments n (end of years 1 … n).

    Returns
    -------
    float
        Years-equivalent, yr.

    Examples
    --------
    >>> round(annuity_factor(0.05, 20), 4)
    12.4622
    """
    r = _check_rate(rate)
    if years < 0:
        raise ConfigError(f"years must be >= 0, got {years}")
    if abs(r) < 1e-12:
        return float(years)
    return float((1.0 - (1.0 + r) ** -years) / r)


def capital_recovery_factor(rate: float, years: int) -> float:
    """Capital recovery factor 1 / :func:`annuity_factor`: the yearly payment that repays 1 over ``years``.

    Parameters
    ----------
    rate : float
        Discount rate, 1/yr.
    years : int
        Repayment period, years (≥ 1).

    Returns
    -------
    float
        1/yr.

    Examples
    --------
    >>> round(capital_recovery_factor(0.05, 20), 5)
    0.08024
    """
    if years < 1:
        raise ConfigError(f"years must be >= 1, got {years}")
    return 1.0 / annuity_factor(rate, years)


def lcoe(costs: ArrayLike, energy: ArrayLike, rate: float) -> np.ndarray | float:
    """Levelised cost: discounted costs / discounted energy.

    LCOE = Σ_y C_y (1 + r)^−y / Σ_y E_y (1 + r)^−y, so that LCOE × discounted energy =
    discounted cost. NaN where the discounted energy is zero.

    Parameters
    ----------
    costs : array-like
        ``(..., Y + 1)`` yearly costs, currency (capital in year 0, O&M, replacements,
        minus salvage).
    energy : array-like
        ``(..., Y + 1)`` yearly energy, kWh (0 in year 0 usually).
    rate : float
        Discount rate, 1/yr.

    Returns
    -------
    float or numpy.ndarray
        currency/kWh.

    Examples
    --------
    1000 invested, 20 a year of O&M, 1000 kWh a year for 2 years, at 10 %/yr:

    >>> round(float(lcoe([1000, 20, 20], [0, 1000, 1000], 0.1)), 4)
    0.5962
    """
    c = np.asarray(costs, dtype=np.float64)
    e = np.asarray(energy, dtype=np.float64)
    c, e = np.broadcast_arrays(c, e)
    d = discount_factors(rate, c.shape[-1] - 1)
    num, den = c @ d, e @ d
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(out) if np.ndim(out) == 0 else out


def cumulative(cash_flows: ArrayLike, rate: float | None = None) -> np.ndarray:
    """Cumulative (discounted when ``rate`` is given) cash flow at the end of each year.

    Parameters
    ----------
    cash_flows : array-like
        ``(..., Y + 1)`` yearly cash flows, currency.
    rate : float, optional
        Discount rate, 1/yr; None: undiscounted.

    Returns
    -------
    numpy.ndarray
        ``(..., Y + 1)`` running sums, currency.

    Examples
    --------
    >>> cumulative([-100, 60, 60]).tolist()
    [-100.0, -40.0, 20.0]
    """
    cf = np.asarray(cash_flows, dtype=np.float64)
    if rate is not None:
        cf = cf * discount_factors(rate, cf.shape[-1] - 1)
    return np.cumsum(cf, axis=-1)


def payback(cash_flows: ArrayLike, rate: float | None = None) -> np.ndarray | float:
    """Payback period: when the cumulative (discounted) cash flow first turns non-negative.

    Cash flows of year y are spread evenly over that year, so the period is interpolated
    linearly inside the year of the sign change: with cumulative sums C_y, the first year
    y with C_{y−1} < 0 ≤ C_y gives ``y − 1 + (−C_{y−1}) / (C_y − C_{y−1})``. 0 when C_0 ≥ 0
    (nothing to pay back); ``inf`` when the cumulative flow never turns non-negative
    within the horizon (a later dip below zero, e.g. a battery replacement, does not
    undo the payback).

    Parameters
    ----------
    cash_flows : array-like
        ``(..., Y + 1)`` yearly cash flows, currency.
    rate : float, optional
        Discount rate, 1/yr: the discounted payback; None: the simple payback.

    Returns
    -------
    float or numpy.ndarray
        Years.

    Examples
    --------
    >>> float(payback([-1000, 300, 300, 300, 300]))
    3.3333333333333335
    >>> round(float(payback([-1000, 300, 300, 300, 300], rate=0.05)), 4)
    3.7416
    >>> float(payback([-1000, 100, 100]))
    inf
    """
    c = cumulative(cash_flows, rate)
    flat = c.reshape(-1, c.shape[-1])
    out = np.full(flat.shape[0], np.inf)
    ok = flat >= 0.0
    has = ok.any(axis=1)
    first = np.argmax(ok, axis=1)
    rows = np.flatnonzero(has)
    y = first[rows]
    out[rows] = 0.0
    later = rows[y > 0]
    yl = first[later]
    prev, cur = flat[later, yl - 1], flat[later, yl]
    out[later] = yl - 1 + (-prev) / (cur - prev)
    out = out.reshape(c.shape[:-1])
    return float(out) if out.ndim == 0 else out
