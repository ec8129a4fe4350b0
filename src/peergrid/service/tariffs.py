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


def local_months(start: dt.datetime, end: dt.datetime, tz: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """The local calendar months overlapping [start, end), each as its aware UTC [first instant, next month).

    Parameters
    ----------
    start, end : datetime.datetime
        Aware times.
    tz : str
        IANA zone of the calendar.
    """
    z = zoneinfo.ZoneInfo(tz)
    ls = start.astimezone(z)
    m = dt.datetime(ls.year, ls.month, 1, tzinfo=z)
    out = []
    while m.astimezone(dt.UTC) < end:
        nxt = dt.datetime(m.year + (m.month == 12), m.month % 12 + 1, 1, tzinfo=z)
        out.append((m.astimezone(dt.UTC), nxt.astimezone(dt.UTC)))
        m = nxt
    return out


def local_index(starts: Sequence[dt.datetime], tz: str) -> pd.DatetimeIndex:
    """Aware UTC interval starts as a pandas index in the zone ``tz``."""
    idx = pd.DatetimeIndex(pd.to_datetime(list(starts), utc=True))
    return idx.tz_convert(tz)
