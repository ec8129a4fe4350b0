"""Trading intervals: aligned to the Unix epoch in UTC, ``interval_minutes`` long."""

from __future__ import annotations

import datetime as dt

from peergrid.service.errors import Invalid

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_time(value: object, what: str = "time") -> dt.datetime:
    """An aware UTC datetime from a datetime or ISO 8601 string (naive is an error)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{what} {value!r} is not an ISO 8601 time") from None
    if not isinstance(value, dt.datetime):
        raise Invalid(f"{what} must be an ISO 8601 time, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid(f"{what} {value.isoformat()} has no timezone: give e.g. 2026-01-01T12:00:00Z")
    return value.astimezone(dt.UTC)


def floor_interval(t: dt.datetime, minutes: int) -> dt.datetime:
    """Start of the interval containing ``t``."""
    step = minutes * 60
    secs = int((t - EPOCH).total_seconds() // step) * step
    return EPOCH + dt.timedelta(seconds=secs)


def check_aligned(t: dt.datetime, minutes: int, what: str = "interval_start") -> dt.datetime:
    """``t`` if it is an interval boundary, else :class:`Invalid`."""
    t = parse_time(t, what)
    if floor_interval(t, minutes) != t:
        raise Invalid(f"{what} {t.isoformat()} is not on a {minutes}-minute interval boundary")
    return t
