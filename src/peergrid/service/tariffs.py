"""A community's tariff and time zone in the service: validation, grid prices per interval, local labels.

The tariff itself — its fields, the time-of-use evaluation and every bill formula — is
:mod:`peergrid.market.tariff` (shared with the simulator); this module only stores it as JSON
on the community (``communities.tariff``, in the community's ``currency``), asks it for the
grid prices λb/λs of trading intervals (evaluated in the community's local time ``tz``) and
labels periods in local time. Storage and trading intervals stay UTC.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peergrid.service.errors import Invalid

if TYPE_CHECKING:
    from peergrid.service.models import Community

#: ISO 4217 codes of currencies with two decimals (100 minor units: what the ledger's integer
#: minor units and :mod:`peergrid.market.money` assume). Zero- and three-decimal currencies
#: (JPY, KRW, BHD, KWD …) are refused rather than mis-billed by a factor of 100 or 10.
CURRENCIES: frozenset[str] = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
    CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR
    ILS INR IRR JMD KES KGS KHR KYD KZT LAK LBP LKR LRD LSL MAD MDL MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG""".split()
)
#: Known currencies whose minor unit is not 1/100 (refused with this explanation).
_NOT_CENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}


def check_currency(code: str) -> str:
    """``code`` if it is an ISO 4217 currency with 100 minor units, else ``ValueError``.

    Parameters
    ----------
    code : str
        Three capital letters, e.g. ``"EUR"``.
    """
    if code in CURRENCIES:
        return code
    if code in _NOT_CENTS:
        raise ValueError(
            f"currency {code!r} has {_NOT_CENTS[code]} decimals; peergrid's ledger keeps money in "
            "hundredths (minor units), so only two-decimal currencies are supported"
        )
    raise ValueError(f"unknown currency {code!r}: give an ISO 4217 code such as 'EUR', 'USD', 'CHF' or 'GBP'")


def checked_currency(code: str) -> str:
    """:func:`check_currency`, raising :class:`~peergrid.service.errors.Invalid` (422 naming ``currency``)."""
    try:
        return check_currency(code)
    except ValueError as exc:
        raise Invalid(f"currency: {exc}") from None


def checked_zone(tz: str) -> str:
    """``tz`` if it is an IANA zone (:func:`peergrid.core.timeindex.check_timezone`), else ``Invalid`` naming ``tz``."""
    from peergrid.core.errors import PeergridError
    from peergrid.core.timeindex import check_timezone

    try:
        return check_timezone(tz, "tz")
    except PeergridError as exc:
        raise Invalid(str(exc)) from None


# ---------------------------------------------------------------- local time
def local(t: dt.datetime, tz: str) -> dt.datetime:
    """The aware UTC time ``t`` in the zone ``tz``."""
    return t.astimezone(zoneinfo.ZoneInfo(tz))


def local_label(t: dt.datetime, tz: str) -> str:
    """``t`` as local time with its abbreviation and offset, e.g. ``2026-03-29 03:00 CEST (+02:00)``."""
    lt = local(t, tz)
    off = lt.strftime("%z")
    return f"{lt:%Y-%m-%d %H:%M} {lt.tzname()} ({off[:3]}:{off[3:]})"


def local_iso(t: dt.datetime | None, tz: str) -> str | None:
    """``t`` as an ISO 8601 local time with its UTC offset (``None`` stays ``None``)."""
    return None if t is None else local(t, tz).isoformat()


def _in_pandas_range(t: dt.datetime) -> dt.datetime:
    """``t``, moved by whole 400-year Gregorian cycles into pandas' range if it is outside (same weekday and date).

    pandas timestamps span 1677-09-21 to 2262-04-11; a reading dated in year 1 or 9999 (accepted,
    if absurd) must not break a report. Time-of-use periods depend only on the local clock,
    weekday and month, which a 400-year shift keeps. Years are moved into 1900–2261, where zones
    keep their modern rules; 2262–2299 can only go to 1862–1899, where some zones still kept
    local mean time.
    """
    if 1900 <= t.year <= 2261:
        return t
    year = 1900 + (t.year - 1900) % 400
    return t.replace(year=year if year <= 2261 else year - 400)


def local_index(starts: Sequence[dt.datetime], tz: str) -> pd.DatetimeIndex:
    """Aware UTC interval starts as a pandas index in the zone ``tz``."""
    idx = pd.DatetimeIndex(pd.to_datetime([_in_pandas_range(t.astimezone(dt.UTC)) for t in starts], utc=True))
    return idx.tz_convert(tz)


# ---------------------------------------------------------------- the tariff
def _sample_year(tz: str) -> pd.DatetimeIndex:
    """Every 15-minute step of a leap year with DST changes, in local time of ``tz`` (validation grid)."""
    return pd.date_range("2024-01-01", "2025-01-01", freq="15min", inclusive="left", tz="UTC").tz_convert(tz)


def flat(retail: float, feed_in: float, currency: str) -> dict[str, Any]:
    """A flat tariff's JSON: λb = ``retail``, λs = ``feed_in`` (currency/kWh), nothing else.

    Raises
    ------
    Invalid
        Unless 0 <= ``feed_in`` <= ``retail`` (naming ``feed_in_price`` and ``retail_price``).
    """
    from peergrid.market.tariff import Tariff

    if not 0 <= feed_in <= retail:
        raise Invalid(f"tariffs must satisfy 0 <= feed_in_price <= retail_price, got {feed_in} and {retail}")

    return Tariff.flat(retail, feed_in, currency=currency).to_dict()


def normalise(data: dict[str, Any], currency: str, tz: str = "UTC") -> dict[str, Any]:
    """Check a tariff definition and return its canonical JSON (:meth:`Tariff.to_dict`).

    Parameters
    ----------
    data : dict
        The keys of :func:`peergrid.market.tariff.tariff_from_mapping` (``energy`` flat or
        ``{"type": "tou", "default": …, "periods": [...]}``, ``network``, ``local_network``,
        ``tax_per_kwh``, ``vat``, ``standing_per_day``, ``demand_per_kw_month``, ``feed_in``,
        ``export_limit_kw``, ``name``, ``description``); ``currency`` may be left out and must
        otherwise be the community's. Dynamic (file) prices are not accepted by the service.
    currency : str
        The community's currency.
    tz : str
        The community's zone (TOU coverage and λs ≤ λb are checked on every 15-minute step of
        a year in it).

    Raises
    ------
    Invalid
        422 with a message starting ``tariff``.
    """
    from peergrid.core.errors import PeergridError
    from peergrid.market.tariff import energy_prices, tariff_from_mapping

    if not isinstance(data, dict):
        raise Invalid("tariff: expected a JSON object")
    _check_text(data, "tariff")
    given = data.get("currency", currency)
    if given != currency:
        raise Invalid(f"tariff.currency: {given!r} differs from the community's currency {currency!r}")
    if "dynamic" in data or any(isinstance(v, dict) and v.get("type") == "dynamic" for v in data.values()):
        raise Invalid("tariff: dynamic (file) prices are not supported by the service; use flat or tou rates")
    try:
        tariff = tariff_from_mapping(
            {k: v for k, v in {**data, "currency": currency}.items() if v is not None or k != "export_limit_kw"}
        )
        energy_prices(tariff, _sample_year(tz))
    except PeergridError as exc:
        msg = str(exc)
        raise Invalid(msg if msg.startswith("tariff") else f"tariff: {msg}") from None
    except (TypeError, ValueError) as exc:
        raise Invalid(f"tariff: {exc}") from None
    return tariff.to_dict()


#: Most time-of-use periods a rate may have, and longest text in a tariff (name, description, period names).
MAX_PERIODS = 200
MAX_TEXT = 500


def _check_text(value: Any, where: str, depth: int = 0) -> None:
    """Every string in the tariff JSON is printable single-line text (the service's text rule), not too long."""
    from peergrid.service.schemas import check_line

    if depth > 6:
        raise Invalid(f"{where}: nested too deeply")
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise Invalid(f"{where}: at most {MAX_TEXT} characters")
        try:
            check_line(value)
        except ValueError as exc:
            raise Invalid(f"{where}: {exc}") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, where, depth + 1)
            _check_text(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_PERIODS:
            raise Invalid(f"{where}: at most {MAX_PERIODS} entries")
        for i, v in enumerate(value):
            _check_text(v, f"{where}[{i}]", depth + 1)


def tariff_of(c: Community) -> Any:
    """The community's :class:`peergrid.market.tariff.Tariff` (from its stored JSON)."""
    from peergrid.market.tariff import tariff_from_dict

    return tariff_from_dict(c.tariff)


def with_flat_prices(data: dict[str, Any], retail: float | None, feed_in: float | None) -> dict[str, Any] | None:
    """``data`` with a flat energy price ``retail`` and/or feed-in ``feed_in``; ``None`` if neither is given."""
    if retail is None and feed_in is None:
        return None
    out = dict(data)
    if retail is not None:
        out["energy"] = retail
    if feed_in is not None:
        out["feed_in"] = feed_in
    return out


def grid_prices(c: Community, starts: Sequence[dt.datetime]) -> tuple[np.ndarray, np.ndarray]:
    """Grid import and export prices λb, λs of trading intervals (currency/kWh).

    Parameters
    ----------
    c : Community
        Its tariff and time zone: time-of-use periods match each interval's **local** start time.
    starts : sequence of datetime.datetime
        Aware interval starts.

    Returns
    -------
    buy, sell : numpy.ndarray
        :func:`peergrid.market.tariff.energy_prices` of the intervals, one per start.
    """
    from peergrid.market.tariff import energy_prices

    if not len(starts):
        return np.zeros(0), np.zeros(0)
    return energy_prices(tariff_of(c), local_index(starts, c.tz))


def flat_prices(c: Community) -> tuple[float | None, float | None]:
    """λb and λs if each is the same at every hour (flat rates), else ``None`` for that price."""
    t = tariff_of(c)
    buy, sell = grid_prices(c, [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)])
    flat_buy = t.energy_rate.kind == "flat" and t.network_rate.kind == "flat"
    return (round(float(buy[0]), 10) if flat_buy else None,
            round(float(sell[0]), 10) if t.feed_in_rate.kind == "flat" else None)
