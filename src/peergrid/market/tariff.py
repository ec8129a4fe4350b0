"""Grid tariffs: energy, network, local exchange, fixed charges, taxes and feed-in.

One tariff model shared by the simulator and the service. A :class:`Tariff` is a frozen
description of what a member's supply contract charges; two pure, vectorised functions turn
it into numbers:

* :func:`energy_prices` — the **marginal** prices per step that the markets clear on,
  currency/kWh::

      λb_t = (energy_t + network_t + tax_per_kwh) · (1 + vat)      (retail, gross)
      λs_t = feed_in_t                                              (feed-in, no VAT)

  Fixed charges (standing, demand) are not marginal per kWh and stay out of λb. A tariff
  whose λs exceeds λb in some step is refused (:class:`~peergrid.DataError`), so every
  market keeps its price band ``[λs, λb]``.
* :func:`bill_components` — a member's grid bill over a period from its grid import,
  grid export and locally exchanged energy, split into ``energy``, ``network``,
  ``local_network``, ``standing``, ``demand``, ``tax``, ``vat``, ``feed_in_credit`` and
  ``total`` (currency), plus the kWh it was computed from.

Conventions
-----------
* Every price in a tariff is **net of VAT**; VAT (``vat``, a fraction such as 0.19) is
  added on the bill's charges (energy, network, local network, electricity tax, standing,
  demand) and into λb. The feed-in credit carries no VAT (small private producers).
* ``network`` is charged per kWh of **grid import**. ``local_network`` is charged per kWh
  of energy a member buys **from peers inside the community**; it defaults to
  ``network`` (no reduction). Several European energy-community schemes charge reduced
  or no network fees for energy shared locally — Austria's renewable energy communities
  pay reduced grid-usage fees on locally shared energy, and Portugal and Italy have their
  own local-sharing rules —, so set it to the rate of your scheme. Any per-kWh levy that
  applies to local exchange in your scheme belongs in ``local_network`` too;
  ``tax_per_kwh`` applies to grid import only.
* ``standing_per_day`` is charged per member per **local calendar day** of the period,
  pro rata: each step counts dt / (hours of its local day), so a month is its number of
  days even when it holds a 23- or 25-hour clock-change day.
* ``demand_per_kw_month`` is charged per kW of each member's peak grid import (energy per
  step / dt) in each **calendar month in the community's local time**; a month the
  period only touches is charged in full (its peak over the steps it has).
* ``export_limit_kw``: per member connection. Grid export above ``export_limit_kw · dt``
  kWh in a step is **spilled**: it leaves the member but is not paid. The spilled kWh are
  reported (``spilled_kwh``).
* Time-of-use periods are matched on the **local** clock (``local_index``: the
  community's :attr:`~peergrid.core.community.Community.tz`), so a 17–20 h peak stays at
  17–20 h local time on both sides of a daylight-saving change. Dynamic prices are a
  series of absolute (UTC) timestamps: the price in force at each step's start applies.

Shapes: per-member energy arrays are ``(T, N)`` kWh per step; per-step prices length T.

Examples
--------
A flat household tariff, 2 steps of 1 h, two members (worked by hand below):

>>> import numpy as np, pandas as pd
>>> from peergrid.market.tariff import Tariff, bill_components, energy_prices
>>> t = Tariff(currency="EUR", energy=0.20, network=0.10, vat=0.10,
...            standing_per_day=0.24, feed_in=0.08)
>>> idx = pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")
>>> retail, feed_in = energy_prices(t, idx)
>>> [round(float(x), 4) for x in retail], [float(x) for x in feed_in]
([0.33, 0.33], [0.08, 0.08])
>>> imp = np.array([[1.0, 0.0], [2.0, 0.0]])      # member a imports 3 kWh
>>> exp = np.array([[0.0, 1.0], [0.0, 0.0]])      # member b exports 1 kWh
>>> bill = bill_components(t, idx, "UTC", imp, exp, ids=["a", "b"])
>>> bill.loc["a", ["energy", "network", "standing", "vat", "total"]].round(4).tolist()
[0.6, 0.3, 0.02, 0.092, 1.012]

By hand for member ``a``: energy 3 kWh · 0.20 = 0.60; network 3 · 0.10 = 0.30; standing
0.24 /day · 2 h / 24 h = 0.02; VAT 10 % of (0.60 + 0.30 + 0.02) = 0.092; total 1.012 EUR.
Member ``b``: standing 0.02 + VAT 0.002 − feed-in 1 kWh · 0.08 = −0.058 EUR.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError
from peergrid.core.tomlconfig import read_toml
from peergrid.core.types import ArrayLike, BoolArray, FloatArray

__all__ = [
    "BILL_COLUMNS",
    "ENERGY_COLUMNS",
    "SHIPPED_TARIFFS",
    "BillAccumulator",
    "Period",
    "Rate",
    "Tariff",
    "apply_tariff",
    "bill_components",
    "bill_total",
    "community_tariff",
    "energy_prices",
    "read_price_csv",
    "read_tariff",
    "shipped_tariff",
    "tariff_from_dict",
    "tariff_from_mapping",
    "update_tariff",
]

#: Money columns of :func:`bill_components`, currency (``feed_in_credit`` is subtracted in ``total``).
BILL_COLUMNS: tuple[str, ...] = (
    "energy",
    "network",
    "local_network",
    "standing",
    "demand",
    "tax",
    "vat",
    "feed_in_credit",
    "total",
)
#: Energy/power columns of :func:`bill_components`: kWh, and ``billed_peak_kw`` = Σ over months of the peak, kW.
ENERGY_COLUMNS: tuple[str, ...] = ("import_kwh", "export_kwh", "local_kwh", "spilled_kwh", "billed_peak_kw")

_DAYS = ("all", "weekday", "weekend")


# ---- rates ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """One time-of-use period: a price on some local clock hours, days and months.

    Parameters
    ----------
    price : float
        currency/kWh (net of VAT).
    start, end : float
        Local clock hours, ``0 <= start, end <= 24``; the period holds for
        ``start <= hour < end``, or, when ``end < start``, wraps midnight
        (``hour >= start or hour < end``). ``start == end`` is refused.
    days : {"all", "weekday", "weekend"}
        Monday–Friday, Saturday–Sunday or every day (local calendar; public holidays are
        not modelled).
    months : tuple of int
        Local calendar months 1–12 the period applies in; empty = every month.
    name : str
        Label (``"peak"``, ``"off-peak"``, ...).
    """

    price: float
    start: float = 0.0
    end: float = 24.0
    days: Literal["all", "weekday", "weekend"] = "all"
    months: tuple[int, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.price) and self.price >= 0):
            raise ConfigError(f"period {self.name or ''}: price must be a number >= 0, got {self.price!r}")
        if not (0 <= self.start <= 24 and 0 <= self.end <= 24) or self.start == self.end:
            raise ConfigError(
                f"period {self.name or ''}: start/end must be clock hours in [0, 24] and differ, "
                f"got {self.start}-{self.end}"
            )
        if self.days not in _DAYS:
            raise ConfigError(f"period {self.name or ''}: days must be one of {', '.join(_DAYS)}, got {self.days!r}")
        object.__setattr__(self, "months", tuple(int(m) for m in self.months))
        if any(not 1 <= m <= 12 for m in self.months):
            raise ConfigError(f"period {self.name or ''}: months must be 1..12, got {list(self.months)}")

    def mask(self, local_index: pd.DatetimeIndex) -> BoolArray:
        """Steps (by their local start time) inside the period, bool of length T."""
        hour = local_index.hour.to_numpy() + local_index.minute.to_numpy() / 60.0
        if self.start < self.end:
            m = (hour >= self.start) & (hour < self.end)
        else:
            m = (hour >= self.start) | (hour < self.end)
        if self.days != "all":
            weekend = local_index.weekday.to_numpy() >= 5
            m &= weekend if self.days == "weekend" else ~weekend
        if self.months:
            m &= np.isin(local_index.month.to_numpy(), self.months)
        return m

    def to_dict(self) -> dict[str, object]:
        """TOML/JSON form."""
        out: dict[str, object] = {"price": self.price, "start": self.start, "end": self.end, "days": self.days}
        if self.months:
            out["months"] = list(self.months)
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class Rate:
    """A price per kWh that may vary in time: flat, time-of-use or dynamic.

    Build with :meth:`flat`, :meth:`tou` or :meth:`dynamic`; a plain number passed to
    :class:`Tariff` becomes a flat rate.

    Attributes
    ----------
    kind : {"flat", "tou", "dynamic"}
    price : float
        Flat price; for ``"tou"`` the price of steps no period matches (``default``);
        currency/kWh.
    periods : tuple of Period
        ``"tou"`` only; the **first** matching period sets a step's price.
    series : pandas.Series, optional
        ``"dynamic"`` only: currency/kWh at tz-aware (UTC) timestamps, sorted.
    source : str
        Where a dynamic series came from (file name), for provenance.
    """

    kind: Literal["flat", "tou", "dynamic"] = "flat"
    price: float = 0.0
    periods: tuple[Period, ...] = ()
    series: pd.Series | None = field(default=None, compare=False, repr=False)
    source: str = ""

    @classmethod
    def flat(cls, price: float) -> Rate:
        """A constant price, currency/kWh."""
        price = float(price)
        if not (math.isfinite(price) and price >= 0):
            raise ConfigError(f"price must be a number >= 0, got {price!r}")
        return cls("flat", price)

    @classmethod
    def tou(cls, periods: Iterable[Period | Mapping[str, Any]], default: float | None = None) -> Rate:
        """Time-of-use prices on the local clock.

        Parameters
        ----------
        periods : iterable of Period or mappings
            Checked in order; the first period matching a step sets its price.
        default : float, optional
            Price of steps no period matches, currency/kWh. Without it a step no period
            matches is an error when prices are evaluated.
        """
        ps = tuple(p if isinstance(p, Period) else _period(p) for p in periods)
        if not ps:
            raise ConfigError("a time-of-use rate needs at least one period")
        d = math.nan if default is None else float(default)
        if default is not None and not (math.isfinite(d) and d >= 0):
            raise ConfigError(f"default must be a number >= 0, got {default!r}")
        return cls("tou", d, ps)

    @classmethod
    def dynamic(cls, series: pd.Series, source: str = "") -> Rate:
        """Prices from a per-step series (day-ahead prices, a dataset's tariff).

        Parameters
        ----------
        series : pandas.Series
            currency/kWh at tz-aware timestamps (the price in force from that instant).
        source : str
            Provenance (file name).
        """
        s = pd.Series(series, dtype=np.float64).sort_index()
        if not isinstance(s.index, pd.DatetimeIndex) or s.index.tz is None:
            raise DataError(f"{source or 'dynamic prices'}: timestamps must be timezone-aware")
        if len(s) == 0:
            raise DataError(f"{source or 'dynamic prices'}: no prices")
        if s.index.has_duplicates:
            raise DataError(f"{source or 'dynamic prices'}: duplicate timestamp {s.index[s.index.duplicated()][0]}")
        v = s.to_numpy()
        if not np.all(np.isfinite(v)):
            raise DataError(f"{source or 'dynamic prices'}: missing or non-numeric price")
        s.index = s.index.tz_convert("UTC")
        return cls("dynamic", float(np.mean(v)), (), s, source)

    def values(self, local_index: pd.DatetimeIndex) -> FloatArray:
        """Price per step, currency/kWh (length T).

        Parameters
        ----------
        local_index : pandas.DatetimeIndex
            Step starts, tz-aware, in the community's local time zone.
        """
        T = len(local_index)
        if self.kind == "flat":
            return np.full(T, self.price)
        if self.kind == "tou":
            out = np.full(T, np.nan)
            for p in reversed(self.periods):  # the first matching period wins
                out[p.mask(local_index)] = p.price
            unset = np.isnan(out)
            if unset.any():
                if math.isnan(self.price):
                    t = local_index[int(np.argmax(unset))]
                    raise ConfigError(
                        f"time-of-use rate: no period covers {t.isoformat()} (local time); "
                        "add a period or a default price"
                    )
                out[unset] = self.price
            return out
        return self._dynamic_values(local_index)

    def _dynamic_values(self, local_index: pd.DatetimeIndex) -> FloatArray:
        s = self.series
        assert s is not None
        what = self.source or "dynamic prices"
        if local_index.tz is None:
            raise DataError("dynamic prices: the step index must be timezone-aware")
        idx = local_index.tz_convert("UTC")
        if len(idx) == 0:
            return np.zeros(0)
        first, last = s.index[0], s.index[-1]
        step = s.index.to_series().diff().median() if len(s) > 1 else pd.Timedelta(0)
        if idx[0] < first or idx[-1] >= last + (step if len(s) > 1 else pd.Timedelta(1, "ns")):
            raise DataError(
                f"{what}: prices cover {first.isoformat()} .. {(last + step).isoformat()}, "
                f"the steps {idx[0].isoformat()} .. {idx[-1].isoformat()}"
            )
        pos = s.index.searchsorted(idx, side="right") - 1
        return s.to_numpy()[pos]

    def to_dict(self, full: bool = False) -> float | dict[str, object]:
        """TOML/JSON form: a number (flat) or a table.

        Parameters
        ----------
        full : bool
            Dynamic rates: include every price (``series``: ``{"time": [...], "price": [...]}``)
            so that :func:`tariff_from_dict` can rebuild the rate; otherwise a summary.
        """
        if self.kind == "flat":
            return self.price
        if self.kind == "tou":
            out: dict[str, object] = {"type": "tou", "periods": [p.to_dict() for p in self.periods]}
            if not math.isnan(self.price):
                out["default"] = self.price
            return out
        s = self.series
        assert s is not None
        return {
            "type": "dynamic",
            "source": self.source,
            "start": s.index[0].isoformat(),
            "prices": len(s),
            "mean": float(s.mean()),
            "min": float(s.min()),
            "max": float(s.max()),
            **({"series": {"time": [t.isoformat() for t in s.index], "price": s.tolist()}} if full else {}),
        }


def _period(p: Mapping[str, Any]) -> Period:
    unknown = set(p) - {"price", "start", "end", "days", "months", "name"}
    if unknown:
        raise ConfigError(f"period: unknown key {sorted(unknown)[0]!r}")
    if "price" not in p:
        raise ConfigError("period: missing key 'price'")
    return Period(
        price=float(p["price"]),
        start=float(p.get("start", 0.0)),
        end=float(p.get("end", 24.0)),
        days=p.get("days", "all"),
        months=tuple(p.get("months", ())),
        name=str(p.get("name", "")),
    )


def _as_rate(value: Rate | float | int, what: str) -> Rate:
    if isinstance(value, Rate):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what}: expected a price (number) or a Rate, got {value!r}")
    try:
        return Rate.flat(float(value))
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


# ---- the tariff ------------------------------------------------------------------------
@dataclass(frozen=True)
class Tariff:
    """A member's supply contract (all prices net of VAT; see the module docstring).

    Parameters
    ----------
    currency : str
        Currency code, e.g. ``"EUR"``; every amount below is in it.
    energy : Rate or float
        Energy price of grid import, currency/kWh.
    feed_in : Rate or float
        Price paid per kWh exported to the grid (within ``export_limit_kw``), currency/kWh.
    network : Rate or float
        Network (grid-use) charge per kWh of grid import, currency/kWh.
    local_network : Rate or float, optional
        Network charge per kWh bought from peers inside the community, currency/kWh;
        default ``network`` (no local reduction).
    tax_per_kwh : float
        Electricity tax per kWh of grid import, currency/kWh.
    vat : float
        VAT rate on the charges, fraction (0.19 = 19 %), in [0, 1).
    standing_per_day : float
        Fixed charge per member and day, currency/day.
    demand_per_kw_month : float
        Charge per kW of a member's peak grid import in each local calendar month,
        currency/(kW·month).
    export_limit_kw : float, optional
        Per-member export limit, kW; export above it is spilled (not paid). None: no limit.
    name : str
        Short name shown in outputs (``"de-household"``, ``"citylearn"``).
    description : str
        One line on where the numbers come from.
    """

    currency: str
    energy: Rate | float
    feed_in: Rate | float = 0.0
    network: Rate | float = 0.0
    local_network: Rate | float | None = None
    tax_per_kwh: float = 0.0
    vat: float = 0.0
    standing_per_day: float = 0.0
    demand_per_kw_month: float = 0.0
    export_limit_kw: float | None = None
    name: str = "custom"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Za-z]{3}", self.currency.strip()):
            raise ConfigError(f"tariff: currency must be a three-letter code such as 'EUR', got {self.currency!r}")
        object.__setattr__(self, "currency", self.currency.strip().upper())  # "eur" is EUR
        for key in ("energy", "feed_in", "network"):
            object.__setattr__(self, key, _as_rate(getattr(self, key), f"tariff {key}"))
        if self.local_network is not None:
            object.__setattr__(self, "local_network", _as_rate(self.local_network, "tariff local_network"))
        for key in ("tax_per_kwh", "standing_per_day", "demand_per_kw_month"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"tariff {key}: expected a number >= 0, got {v!r}")
            object.__setattr__(self, key, float(v))
        if isinstance(self.vat, bool) or not isinstance(self.vat, (int, float)) or not 0 <= self.vat < 1:
            raise ConfigError(f"tariff vat: expected a fraction in [0, 1) such as 0.19, got {self.vat!r}")
        object.__setattr__(self, "vat", float(self.vat))
        if self.export_limit_kw is not None:
            v = self.export_limit_kw
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"tariff export_limit_kw: expected a number >= 0 (kW), got {v!r}")
            object.__setattr__(self, "export_limit_kw", float(v))

    # typed views (the fields hold Rates after __post_init__)
    @property
    def energy_rate(self) -> Rate:
        """:attr:`energy` as a :class:`Rate`."""
        return self.energy  # type: ignore[return-value]

    @property
    def feed_in_rate(self) -> Rate:
        """:attr:`feed_in` as a :class:`Rate`."""
        return self.feed_in  # type: ignore[return-value]

    @property
    def network_rate(self) -> Rate:
        """:attr:`network` as a :class:`Rate`."""
        return self.network  # type: ignore[return-value]

    @property
    def local_network_rate(self) -> Rate:
        """:attr:`local_network` as a :class:`Rate` (``network`` when unset)."""
        return self.network_rate if self.local_network is None else self.local_network  # type: ignore[return-value]

    @classmethod
    def flat(cls, retail: float, feed_in: float = 0.0, *, currency: str, name: str = "flat") -> Tariff:
        """An all-in flat tariff: λb = ``retail`` (gross), λs = ``feed_in``; no other charges.

        This is what a bare ``retail = 0.30`` in a scenario means.

        Parameters
        ----------
        retail : float
            Gross retail price, currency/kWh.
        feed_in : float
            Feed-in price, currency/kWh.
        currency : str
            Currency code (required: peergrid does not guess it).
        name : str
            Name shown in outputs.
        """
        return cls(currency=currency, energy=retail, feed_in=feed_in, name=name)

    def with_(self, **changes: Any) -> Tariff:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def to_dict(self, full: bool = False) -> dict[str, object]:
        """JSON-ready description with stable keys.

        Parameters
        ----------
        full : bool
            Include every price of dynamic rates (for :func:`tariff_from_dict`, e.g. in a
            result directory); otherwise dynamic rates are summarised (start, count, mean,
            min, max), which is what summaries and reports show.
        """
        return {
            "name": self.name,
            "description": self.description,
            "currency": self.currency,
            "energy": self.energy_rate.to_dict(full),
            "network": self.network_rate.to_dict(full),
            "local_network": self.local_network_rate.to_dict(full),
            "tax_per_kwh": self.tax_per_kwh,
            "vat": self.vat,
            "standing_per_day": self.standing_per_day,
            "demand_per_kw_month": self.demand_per_kw_month,
            "feed_in": self.feed_in_rate.to_dict(full),
            "export_limit_kw": self.export_limit_kw,
        }


# ---- prices and bills ------------------------------------------------------------------
def _check_local(index: pd.DatetimeIndex, what: str = "index") -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError(f"{what}: expected a timezone-aware DatetimeIndex (the community's local_index)")
    return index


def energy_prices(tariff: Tariff, local_index: pd.DatetimeIndex) -> tuple[FloatArray, FloatArray]:
    """Marginal grid prices per step that the markets clear on.

    Parameters
    ----------
    tariff : Tariff
    local_index : pandas.DatetimeIndex
        Step starts in the community's local time (``Community.local_index``); TOU periods
        are matched on its clock, dynamic prices on its absolute instants.

    Returns
    -------
    retail, feed_in : numpy.ndarray
        Length T, currency/kWh: λb = (energy + network + tax_per_kwh)·(1 + vat) and
        λs = feed_in. Standing and demand charges are not marginal and not included.

    Raises
    ------
    DataError
        If λs > λb in some step (the markets' price band would be empty).

    Examples
    --------
    >>> import pandas as pd
    >>> from peergrid.market.tariff import Tariff, energy_prices
    >>> t = Tariff(currency="EUR", energy=0.10, network=0.08, tax_per_kwh=0.02, vat=0.19, feed_in=0.08)
    >>> idx = pd.date_range("2024-06-01", periods=1, freq="1h", tz="Europe/Berlin")
    >>> [round(float(p[0]), 4) for p in energy_prices(t, idx)]   # (0.10 + 0.08 + 0.02)·1.19
    [0.238, 0.08]
    """
    idx = _check_local(local_index, "energy_prices")
    base = tariff.energy_rate.values(idx) + tariff.network_rate.values(idx) + tariff.tax_per_kwh
    retail = base * (1.0 + tariff.vat)
    feed_in = tariff.feed_in_rate.values(idx)
    if np.any(feed_in > retail + 1e-12):
        t = int(np.argmax(feed_in > retail + 1e-12))
        raise DataError(
            f"tariff {tariff.name!r}: feed-in {feed_in[t]:g} exceeds the retail price {retail[t]:g} "
            f"{tariff.currency}/kWh at {idx[t].isoformat()}; markets need feed-in <= retail"
        )
    return retail, np.minimum(feed_in, retail)


def apply_tariff(community: Community, tariff: Tariff) -> Community:
    """The community with ``tariff``: ``retail``/``feed_in`` from :func:`energy_prices` on its local clock.

    Parameters
    ----------
    community : Community
    tariff : Tariff

    Returns
    -------
    Community
        A copy with ``tariff``, ``retail`` λb and ``feed_in`` λs (currency/kWh per step) and
        ``currency`` set from the tariff; markets and controllers read ``retail``/``feed_in``
        as before.
    """
    retail, feed_in = energy_prices(tariff, community.local_index)
    return replace(community, retail=retail, feed_in=feed_in, currency=tariff.currency, tariff=tariff)


def community_tariff(community: Community) -> Tariff:
    """The tariff of ``community``: its :attr:`~Community.tariff`, or one made of its price arrays.

    A community built without a tariff (``retail``/``feed_in`` arrays only) gets a tariff
    whose energy and feed-in are those arrays as dynamic rates and nothing else (no network,
    fixed charges or VAT), named ``"retail/feed-in prices"``; its bills equal the market bills.

    Parameters
    ----------
    community : Community

    Returns
    -------
    Tariff
    """
    if community.tariff is not None:
        return community.tariff
    src = "the community's retail and feed-in arrays"
    return Tariff(
        currency=community.currency,
        energy=Rate.dynamic(pd.Series(community.retail, index=community.index), source=src),
        feed_in=Rate.dynamic(pd.Series(community.feed_in, index=community.index), source=src),
        name="retail/feed-in prices",
        description="per-step prices given with the community; no network, fixed charges or VAT",
    )


def _as_2d(a: ArrayLike, T: int, what: str, N: int | None = None) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != T or (N is not None and arr.shape[1] != N):
        want = f"(T={T}, N{'' if N is None else '=' + str(N)})"
        raise DataError(f"{what}: expected shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise DataError(f"{what}: must be finite and >= 0 (kWh per step)")
    return arr


def local_days(local_index: pd.DatetimeIndex, dt: float) -> float:
    """Number of local calendar days the steps cover, pro rata.

    Each step counts ``dt`` divided by the length of its local calendar day, so the
    31 days of March count 31 in Europe/Berlin although one of them has 23 hours.

    Parameters
    ----------
    local_index : pandas.DatetimeIndex
        Step starts in the community's local time zone (tz-aware).
    dt : float
        Step length, h.

    Returns
    -------
    float
        Days, d (T·dt/24 in a zone without clock changes).

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2024-03-31", periods=23, freq="1h", tz="Europe/Berlin")
    >>> round(local_days(idx, 1.0), 12)
    1.0
    """
    if len(local_index) == 0:
        return 0.0
    midnight = local_index.normalize()
    hours = (midnight + pd.DateOffset(days=1) - midnight) / pd.Timedelta(hours=1)
    return float(np.sum(dt / np.asarray(hours, dtype=np.float64)))


class BillAccumulator:
    """Bill components accumulated over time blocks (for (T, N) arrays too big to hold at once).

    What :func:`bill_components` uses, shared with the simulator's block reductions
    (:mod:`peergrid.simulate.result`, :mod:`peergrid.simulate.stream`) and the appraisal:
    :meth:`add` one block of import / export / local kWh at a time (or :meth:`add_pool_sums`),
    then :meth:`frame` gives the members' bill table.

    Parameters
    ----------
    tariff : Tariff
    N : int
        Members.
    dt : float
        Step length, h.
    """

    def __init__(self, tariff: Tariff, N: int, dt: float) -> None:
        self.t, self.N, self.dt = tariff, N, dt
        z = np.zeros
        self.sums = {k: z(N) for k in ("energy", "network", "local_network", "tax", "feed_in_credit")}
        self.kwh = {k: z(N) for k in ("import_kwh", "export_kwh", "local_kwh", "spilled_kwh")}
        self.peaks: dict[int, FloatArray] = {}  # local month key -> (N,) peak import kW
        self.days = 0.0

    def add(self, local_index: pd.DatetimeIndex, imp: FloatArray, exp: FloatArray, loc: FloatArray | None) -> None:
        t = self.t
        e = t.energy_rate.values(local_index)
        n = t.network_rate.values(local_index)
        f = t.feed_in_rate.values(local_index)
        self.sums["energy"] += imp.T @ e
        self.sums["network"] += imp.T @ n
        imp_tot = imp.sum(axis=0)
        self.sums["tax"] += t.tax_per_kwh * imp_tot
        self.kwh["import_kwh"] += imp_tot
        if loc is not None:
            self.sums["local_network"] += loc.T @ t.local_network_rate.values(local_index)
            self.kwh["local_kwh"] += loc.sum(axis=0)
        if t.export_limit_kw is not None:
            spilled = np.maximum(exp - t.export_limit_kw * self.dt, 0.0)
            paid = exp - spilled
            self.kwh["spilled_kwh"] += spilled.sum(axis=0)
        else:
            paid = exp
        self.sums["feed_in_credit"] += paid.T @ f
        self.kwh["export_kwh"] += exp.sum(axis=0)
        if t.demand_per_kw_month > 0 and len(local_index):
            key = (local_index.year.to_numpy() * 12 + local_index.month.to_numpy() - 1).astype(np.int64)
            starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            peaks = np.maximum.reduceat(imp, starts, axis=0) / self.dt
            for k, row in zip(key[starts], peaks, strict=True):
                prev = self.peaks.get(int(k))
                self.peaks[int(k)] = row if prev is None else np.maximum(prev, row)
        self.days += local_days(local_index, self.dt)

    @property
    def pool_ready(self) -> bool:
        """Whether pool-rule blocks can be added as weighted sums (:meth:`pool_weights`): no export
        limit and no demand charge, which need each member's per-step energy."""
        return self.t.export_limit_kw is None and self.t.demand_per_kw_month == 0

    def pool_weights(
        self, local_index: pd.DatetimeIndex, share_buy: FloatArray, share_sell: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Per-step weights of a pool rule's bill components, ``(T, 5)`` on deficits and ``(T, 2)`` on surpluses.

        Under a pool rule member i imports d_it·(1 − share_buy_t), buys d_it·share_buy_t from
        peers and exports s_it·(1 − share_sell_t) (d = max(net, 0), s = max(−net, 0)), so
        ``d.T @ wb`` and ``s.T @ ws`` give its energy, network, import kWh, local network, local
        kWh and feed-in credit, export kWh (:meth:`add_pool_sums`) without per-member arrays.
        """
        assert self.pool_ready
        t = self.t
        fb, fs = 1.0 - share_buy, 1.0 - share_sell
        wb = np.stack([fb * t.energy_rate.values(local_index), fb * t.network_rate.values(local_index), fb,
                       share_buy * t.local_network_rate.values(local_index), share_buy], axis=1)  # fmt: skip
        ws = np.stack([fs * t.feed_in_rate.values(local_index), fs], axis=1)
        return wb, ws

    def add_pool_sums(self, b: FloatArray, x: FloatArray, local_index: pd.DatetimeIndex) -> None:
        """Add ``d.T @ wb`` ``(N, 5)`` and ``s.T @ ws`` ``(N, 2)`` (:meth:`pool_weights`) over ``local_index``."""
        self.sums["energy"] += b[:, 0]
        self.sums["network"] += b[:, 1]
        self.sums["tax"] += self.t.tax_per_kwh * b[:, 2]
        self.kwh["import_kwh"] += b[:, 2]
        self.sums["local_network"] += b[:, 3]
        self.kwh["local_kwh"] += b[:, 4]
        self.sums["feed_in_credit"] += x[:, 0]
        self.kwh["export_kwh"] += x[:, 1]
        self.days += local_days(local_index, self.dt)

    def frame(self, ids: Sequence[object] | None) -> pd.DataFrame:
        t, N = self.t, self.N
        s = self.sums
        standing = np.full(N, t.standing_per_day * self.days)
        billed_peak = np.sum(list(self.peaks.values()), axis=0) if self.peaks else np.zeros(N)
        demand = t.demand_per_kw_month * billed_peak
        charges = s["energy"] + s["network"] + s["local_network"] + s["tax"] + standing + demand
        vat = t.vat * charges
        out = {
            "energy": s["energy"],
            "network": s["network"],
            "local_network": s["local_network"],
            "standing": standing,
            "demand": demand,
            "tax": s["tax"],
            "vat": vat,
            "feed_in_credit": s["feed_in_credit"],
            "total": charges + vat - s["feed_in_credit"],
            **self.kwh,
            "billed_peak_kw": billed_peak,
        }
        index = pd.Index(list(ids) if ids is not None else [f"p{i:05d}" for i in range(N)], name="member")
        return pd.DataFrame(out, index=index)


def bill_components(
    tariff: Tariff,
    index: pd.DatetimeIndex,
    tz: str,
    grid_import: ArrayLike,
    grid_export: ArrayLike,
    local_exchange: ArrayLike | None = None,
    *,
    ids: Sequence[object] | None = None,
) -> pd.DataFrame:
    """Each member's grid bill over a period, split into its components.

    Parameters
    ----------
    tariff : Tariff
    index : pandas.DatetimeIndex
        Fixed-step, tz-aware step starts (UTC storage), length T.
    tz : str
        The community's IANA time zone: TOU periods and demand-charge months use its
        local clock and calendar.
    grid_import, grid_export : array-like
        ``(T, N)`` (or length-T for one member) energy bought from / sold to the grid,
        kWh per step (≥ 0).
    local_exchange : array-like, optional
        ``(T, N)`` energy each member bought from peers inside the community, kWh per step;
        charged ``local_network``. None: no local exchange.
    ids : sequence, optional
        Member ids for the index (default ``p00000``, ``p00001``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per member. Money, currency: ``energy`` = Σ energy_t·imp, ``network`` =
        Σ network_t·imp, ``local_network`` = Σ local_network_t·local, ``standing`` =
        standing_per_day·(local calendar days, :func:`local_days`), ``demand`` =
        demand_per_kw_month·Σ_months max_t(imp/dt),
        ``tax`` = tax_per_kwh·Σ imp, ``vat`` = vat·(energy + network + local_network +
        tax + standing + demand), ``feed_in_credit`` = Σ feed_in_t·paid export, ``total`` =
        the charges + vat − feed_in_credit. Energy: ``import_kwh``, ``export_kwh``,
        ``local_kwh``, ``spilled_kwh`` (export above ``export_limit_kw``·dt, not paid) and
        ``billed_peak_kw`` (Σ over months of the monthly peak import, kW).

    Examples
    --------
    Two members, 4 hourly steps from 2024-03-31 00:00 UTC in Europe/Berlin (the clocks go
    from 02:00 to 03:00 that night, so the steps start at 01, 03, 04, 05 h local time);
    energy 0.40 from 03:00 local time, else 0.20 (no VAT); feed-in 0.05; export limit 1 kW:

    >>> import numpy as np, pandas as pd
    >>> from peergrid.market.tariff import Period, Rate, Tariff, bill_components
    >>> tou = Rate.tou([Period(0.40, start=3, end=24, name="day")], default=0.20)
    >>> t = Tariff(currency="EUR", energy=tou, feed_in=0.05, export_limit_kw=1.0)
    >>> idx = pd.date_range("2024-03-31 00:00", periods=4, freq="1h", tz="UTC")
    >>> imp = np.array([[1.0, 0], [1.0, 0], [0, 0], [0, 0]])
    >>> exp = np.array([[0, 0], [0, 0], [0, 3.0], [0, 0.5]])
    >>> b = bill_components(t, idx, "Europe/Berlin", imp, exp, ids=["a", "b"])
    >>> round(float(b.loc["a", "energy"]), 4)       # 1 kWh at 01 h (0.20) + 1 kWh at 03 h (0.40)
    0.6
    >>> float(b.loc["b", "spilled_kwh"]), round(float(b.loc["b", "feed_in_credit"]), 4)   # (1 + 0.5)·0.05
    (2.0, 0.075)
    """
    idx = _check_local(index, "bill_components").tz_convert(tz)
    from peergrid.core.timeindex import step_hours

    T = len(idx)
    imp = _as_2d(grid_import, T, "grid_import")
    N = imp.shape[1]
    exp = _as_2d(grid_export, T, "grid_export", N)
    loc = None if local_exchange is None else _as_2d(local_exchange, T, "local_exchange", N)
    acc = BillAccumulator(tariff, N, step_hours(index))
    acc.add(idx, imp, exp, loc)
    if ids is not None and len(ids) != N:
        raise DataError(f"ids: expected {N} member ids, got {len(ids)}")
    return acc.frame(ids)


def bill_total(bills: pd.DataFrame) -> dict[str, float]:
    """The community's totals of :func:`bill_components` (or ``Result.bills()``): sums of every column.

    Parameters
    ----------
    bills : pandas.DataFrame
        One row per member.

    Returns
    -------
    dict
        Column → Σ over members (currency or kWh/kW as the column).
    """
    return {str(k): float(v) for k, v in bills.sum(axis=0, numeric_only=True).items()}


# ---- edge: files -----------------------------------------------------------------------
_TARIFF_KEYS = {
    "name", "description", "currency", "energy", "feed_in", "network", "local_network", "tax_per_kwh", "vat",
    "standing_per_day", "demand_per_kw_month", "export_limit_kw", "dynamic", "retail",
}  # fmt: skip
_RATE_KEYS = {
    "flat": {"type", "price"},
    "tou": {"type", "default", "periods"},
    "dynamic": {"type", "file", "column", "unit", "tz"},
}


def _rate_from(value: Any, key: str, base_dir: Path | None, tz: str) -> Rate:
    if isinstance(value, Mapping) and value.get("type") == "dynamic" and "series" in value:
        ser = value["series"]
        idx = pd.DatetimeIndex(pd.to_datetime(ser["time"], utc=True, format="ISO8601"))
        return Rate.dynamic(pd.Series(ser["price"], index=idx, dtype=np.float64), source=str(value.get("source", "")))
    if isinstance(value, Mapping):
        kind = value.get("type", "tou" if "periods" in value else "flat")
        if kind not in _RATE_KEYS:
            raise ConfigError(f"{key}.type: expected flat, tou or dynamic, got {kind!r}")
        unknown = set(value) - _RATE_KEYS[kind]
        if unknown:
            raise ConfigError(f"{key}: unknown key {sorted(unknown)[0]!r} for type = {kind!r}")
        try:
            if kind == "flat":
                return Rate.flat(value["price"])
            if kind == "tou":
                return Rate.tou(value.get("periods", ()), value.get("default"))
        except KeyError as exc:
            raise ConfigError(f"{key}: missing key {exc.args[0]!r}") from None
        except (ConfigError, TypeError, ValueError) as exc:
            raise ConfigError(f"{key}: {exc}") from None
        if "file" not in value:
            raise ConfigError(f"{key}: type = 'dynamic' needs file = 'prices.csv'")
        path = Path(value["file"])
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        series = read_price_csv(path, column=value.get("column"), unit=value.get("unit", "kWh"),
                                tz=value.get("tz", tz))  # fmt: skip
        return Rate.dynamic(series, source=str(value["file"]))
    if isinstance(value, bool) or not isinstance(value, (int, float, Rate)):
        raise ConfigError(f"{key}: expected a price (number) or a table with type = 'tou' | 'dynamic', got {value!r}")
    return _as_rate(value, key)  # a number: its own error names what is wrong with it (e.g. negative)


def tariff_from_mapping(
    data: Mapping[str, Any], *, base_dir: str | Path | None = None, tz: str = "UTC", what: str = "tariff"
) -> Tariff:
    """Build a :class:`Tariff` from its TOML form (a tariff file or a scenario's ``[tariff]``).

    Parameters
    ----------
    data : mapping
        Keys of :class:`Tariff`; per-kWh rates are numbers or tables
        (``{type = "tou", default = ..., periods = [...]}``,
        ``{type = "dynamic", file = "prices.csv", column = ..., unit = "kWh" | "MWh"}``).
        ``dynamic = "prices.csv"`` is short for a dynamic ``energy``; ``retail = x`` (the old
        key) for an all-in ``energy = x``.
    base_dir : str or pathlib.Path, optional
        Directory relative CSV paths are resolved against.
    tz : str
        Zone that naive timestamps of a dynamic price CSV are read in.
    what : str
        Prefix of error messages (the file or table name).

    Returns
    -------
    Tariff

    Raises
    ------
    ConfigError
        Unknown or missing keys, wrong types, out-of-range values (the key is named).
    """
    base = Path(base_dir) if base_dir is not None else None
    unknown = set(data) - _TARIFF_KEYS
    if unknown:
        raise ConfigError(f"{what}: unknown key {sorted(unknown)[0]!r}")
    if "currency" not in data:
        raise ConfigError(f"{what}: missing key 'currency' (e.g. currency = \"EUR\")")
    given = [k for k in ("energy", "dynamic", "retail") if k in data]
    if len(given) != 1:
        raise ConfigError(
            f"{what}: give exactly one of energy = <price or table>, dynamic = 'prices.csv' or retail = <price>"
            + (f" (got {', '.join(given)})" if given else "")
        )
    kwargs: dict[str, Any] = {}
    if "dynamic" in data:
        kwargs["energy"] = _rate_from({"type": "dynamic", "file": data["dynamic"]}, f"{what}.dynamic", base, tz)
    else:
        key = given[0]
        kwargs["energy"] = _rate_from(data[key], f"{what}.{key}", base, tz)
    for key in ("feed_in", "network", "local_network"):
        if key in data:
            kwargs[key] = _rate_from(data[key], f"{what}.{key}", base, tz)
    for key in ("tax_per_kwh", "vat", "standing_per_day", "demand_per_kw_month", "export_limit_kw"):
        if key in data:
            kwargs[key] = data[key]
    for key in ("name", "description", "currency"):
        if key in data:
            if not isinstance(data[key], str):
                raise ConfigError(f"{what}.{key}: expected a string")
            kwargs[key] = data[key]
    try:
        return Tariff(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def update_tariff(
    tariff: Tariff, changes: Mapping[str, Any], *, base_dir: str | Path | None = None, tz: str = "UTC",
    what: str = "tariff",
) -> Tariff:
    """A copy of ``tariff`` with some keys of its TOML form changed (e.g. a shipped tariff with a local
    ``export_limit_kw``).

    Parameters
    ----------
    tariff : Tariff
    changes : mapping
        Keys as in :func:`tariff_from_mapping` (``energy``/``dynamic``/``retail`` replace the
        energy rate; ``currency`` must match the tariff's).
    base_dir, tz, what
        As in :func:`tariff_from_mapping`.

    Returns
    -------
    Tariff
    """
    base = Path(base_dir) if base_dir is not None else None
    unknown = set(changes) - _TARIFF_KEYS
    if unknown:
        raise ConfigError(f"{what}: unknown key {sorted(unknown)[0]!r}")
    if "currency" in changes and changes["currency"] != tariff.currency:
        raise ConfigError(
            f"{what}.currency = {changes['currency']!r} does not match the {tariff.name} tariff's "
            f"{tariff.currency!r}; give your own prices instead"
        )
    given = [k for k in ("energy", "dynamic", "retail") if k in changes]
    if len(given) > 1:
        raise ConfigError(f"{what}: give only one of energy, dynamic, retail (got {', '.join(given)})")
    kwargs: dict[str, Any] = {}
    if "dynamic" in changes:
        kwargs["energy"] = _rate_from({"type": "dynamic", "file": changes["dynamic"]}, f"{what}.dynamic", base, tz)
    elif given:
        kwargs["energy"] = _rate_from(changes[given[0]], f"{what}.{given[0]}", base, tz)
    for key in ("feed_in", "network", "local_network"):
        if key in changes:
            kwargs[key] = _rate_from(changes[key], f"{what}.{key}", base, tz)
    for key in ("tax_per_kwh", "vat", "standing_per_day", "demand_per_kw_month", "export_limit_kw", "name",
                "description"):  # fmt: skip
        if key in changes:
            kwargs[key] = changes[key]
    try:
        return replace(tariff, **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def tariff_from_dict(data: Mapping[str, Any]) -> Tariff:
    """Rebuild a tariff from :meth:`Tariff.to_dict` (``full=True`` for dynamic rates).

    Parameters
    ----------
    data : mapping

    Returns
    -------
    Tariff
    """
    d = {k: v for k, v in data.items() if v is not None}
    if d.get("local_network") == d.get("network"):
        d.pop("local_network", None)
    return tariff_from_mapping(d, what=f"tariff {d.get('name', '')}".strip())


def read_price_csv(path: str | Path, *, column: str | None = None, unit: str = "kWh", tz: str = "UTC") -> pd.Series:
    """Read dynamic prices: a CSV with a timestamp column and a price column.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV; the first column holds timestamps (ISO 8601; naive ones are read in ``tz``),
        the price is ``column`` or the second column.
    column : str, optional
        Price column name.
    unit : {"kWh", "MWh"}
        The prices are currency per kWh or per MWh (day-ahead markets quote EUR/MWh).
    tz : str
        IANA zone of naive timestamps.

    Returns
    -------
    pandas.Series
        currency/kWh at UTC timestamps, sorted.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: price file not found")
    if unit not in ("kWh", "MWh"):
        raise ConfigError(f"{p}: unit must be 'kWh' or 'MWh', got {unit!r}")
    try:
        df = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot parse CSV: {str(exc).splitlines()[0]}") from None
    if df.shape[1] < 2 or len(df) == 0:
        raise DataError(f"{p}: needs a timestamp column and a price column")
    col = column if column is not None else df.columns[1]
    if col not in df:
        raise DataError(f"{p}: no column {col!r} (columns: {', '.join(map(str, df.columns))})")
    try:
        ts = pd.to_datetime(df.iloc[:, 0], format="ISO8601")
    except (ValueError, TypeError):
        raise DataError(f"{p}: first column must hold ISO 8601 timestamps") from None
    try:
        if ts.dt.tz is None:
            ts = ts.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    except Exception as exc:  # pytz/zoneinfo errors on DST gaps and repeats
        raise DataError(f"{p}: naive timestamp not valid in {tz} ({exc}); write UTC offsets") from None
    values = pd.to_numeric(df[col], errors="coerce")
    if values.isna().any():
        raise DataError(f"{p}: non-numeric or missing price in row {int(values.isna().to_numpy().argmax()) + 2}")
    scale = 1e-3 if unit == "MWh" else 1.0
    s = pd.Series(values.to_numpy(np.float64) * scale, index=pd.DatetimeIndex(ts).tz_convert("UTC"), name="price")
    return s.sort_index()


#: Tariffs shipped with peergrid (``src/peergrid/data/tariffs/<name>.toml``).
SHIPPED_TARIFFS: tuple[str, ...] = ("citylearn", "de-household", "milford-haven")


def _shipped_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "tariffs"


def read_tariff(path: str | Path, *, tz: str = "UTC") -> Tariff:
    """Read a tariff TOML file (see :func:`tariff_from_mapping` for the keys).

    Parameters
    ----------
    path : str or pathlib.Path
    tz : str
        Zone naive timestamps of a dynamic price CSV are read in.
    """
    p = Path(path)
    if not p.is_file():  # read_toml's own "not found" line, with the names a user can give instead
        raise ConfigError(f"{p}: tariff file not found (shipped tariffs: {', '.join(SHIPPED_TARIFFS)})")
    data = read_toml(p, "tariff file")
    data.setdefault("name", p.stem)
    return tariff_from_mapping(data, base_dir=p.parent, tz=tz, what=str(p))


def shipped_tariff(name: str) -> Tariff:
    """A tariff shipped with peergrid, by name (:data:`SHIPPED_TARIFFS`).

    Examples
    --------
    >>> from peergrid.market.tariff import shipped_tariff
    >>> t = shipped_tariff("de-household")
    >>> t.currency, t.vat
    ('EUR', 0.19)
    """
    if name not in SHIPPED_TARIFFS:
        raise ConfigError(f"unknown tariff {name!r}; shipped tariffs: {', '.join(SHIPPED_TARIFFS)}")
    return read_tariff(_shipped_dir() / f"{name}.toml")
