"""Interval starts in any year a reading may carry map to local pandas times with the same clock and weekday.

Schemathesis found ``GET /api/communities/1/report`` answering 500 for a report window in 2262–2299:
``_in_pandas_range`` left the years 1900–2299 unshifted, but pandas' nanosecond range ends on
2262-04-11.
"""

from __future__ import annotations

import datetime as dt

import pytest

from peergrid.service import tariffs


@pytest.mark.parametrize("year", [1, 1677, 1799, 1800, 2026, 2199, 2262, 2263, 2299, 2300, 9999])
def test_local_index_keeps_clock_weekday_and_date_in_any_year(year):
    t = dt.datetime(year, 3, 1, 13, 45, tzinfo=dt.UTC)
    idx = tariffs.local_index([t], "Europe/Berlin")
    got = idx[0]
    assert 1677 < got.year < 2262
    assert (got.month, got.day, got.weekday()) == (3, 1, t.weekday())
    utc = got.tz_convert("UTC")
    assert (utc.hour, utc.minute) == (13, 45)
