"""Fixed-step, timezone-aware UTC time indexes (DESIGN.md, *Time*)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from peergrid.core._common import I64Array, asi8, localize_codes, occurrence_counts
from peergrid.core.errors import DataError
from peergrid.core.types import AnyArray, IntArray


def make_index(start: str | pd.Timestamp, periods: int, freq: str) -> pd.DatetimeIndex:
    """Build a fixed-step UTC index.

    Parameters
    ----------
    start : str or pandas.Timestamp
        First period start. Naive values are read as UTC.
    periods : int
        Number of steps, > 0.
    freq : str
        Step length as a pandas offset alias, e.g. ``"15min"``, ``"1h"``, ``"150min"``.

    Returns
    -------
    pandas.DatetimeIndex
        UTC index with ``freq`` set.
    """
    if periods <= 0:
        raise DataError(f"periods must be > 0, got {periods}")
    try:
        ts = pd.Timestamp(start)
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise DataError(f"bad time specification start={start!r} freq={freq!r}: {exc}") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return pd.date_range(ts, periods=periods, freq=offset)


def validate_index(index: pd.Index, what: str = "time index") -> pd.DatetimeIndex:
    """Check that ``index`` is a gap-free, duplicate-free, fixed-step UTC index.

    Parameters
    ----------
    index : pandas.Index
        Candidate index.
    what : str
        Name used in error messages.

    Returns
    -------
    pandas.DatetimeIndex
        The index converted to UTC with ``freq`` set.

    Raises
    ------
    DataError
        If the index is not datetime, has duplicates, is unsorted, has gaps or
        irregular steps, or is timezone-naive.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"{what}: expected a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise DataError(
            f"{what}: timestamps must be timezone-aware (UTC); Community.from_frames(..., tz=ZONE) reads "
            "naive timestamps as local time in ZONE"
        )
    if len(index) == 0:
        raise DataError(f"{what}: is empty")
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise DataError(f"{what}: duplicate timestamp {dup.isoformat()}")
    if not index.is_monotonic_increasing:
        raise DataError(f"{what}: timestamps are not sorted")
    index = index.tz_convert("UTC")
    if len(index) == 1:
        if index.freq is None:
            raise DataError(f"{what}: a single timestamp needs an explicit freq")
        return index
    index = index.as_unit("ns")  # pandas >= 3 may infer s/ms/us resolution
    steps = np.diff(asi8(index))
    if steps[0] <= 0:
        raise DataError(f"{what}: timestamps are not increasing")
    if not np.all(steps == steps[0]):
        bad = int(np.argmax(steps != steps[0]))
        raise DataError(
            f"{what}: gap or irregular step after {index[bad].isoformat()} "
            f"(step {pd.Timedelta(int(steps[bad]), 'ns')} instead of {pd.Timedelta(int(steps[0]), 'ns')})"
        )
    if index.freq is None:
        # pandas accepts a Timedelta here; pandas-stubs lists str and BaseOffset only
        step = pd.tseries.frequencies.to_offset(pd.Timedelta(int(steps[0]), "ns"))  # type: ignore[call-overload]
        index = pd.DatetimeIndex(index, freq=step)
    return index


def check_timezone(tz: str, what: str = "time zone") -> str:
    """Validate an IANA time-zone name.

    Parameters
    ----------
    tz : str
        Zone name such as ``"UTC"``, ``"Europe/Berlin"`` or ``"America/Los_Angeles"``.
    what : str
        Name used in error messages.

    Returns
    -------
    str
        The zone name as given.

    Raises
    ------
    DataError
        If the name is not a known IANA zone.
    """
    import zoneinfo

    if not isinstance(tz, str) or not tz:
        raise DataError(f"{what}: expected an IANA zone name like 'Europe/Berlin', got {tz!r}")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DataError(f"{what}: unknown time zone {tz!r} (use an IANA name like 'Europe/Berlin')") from None
    return tz


def step_hours(index: pd.DatetimeIndex) -> float:
    """Step length of a fixed-step index in hours.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Fixed-step index with ``freq`` set (see :func:`validate_index`).

    Returns
    -------
    float
        Step length ``dt`` in h.
    """
    if index.freq is None:
        index = validate_index(index)
    # a fixed step is a Tick offset (pandas-stubs does not take BaseOffset)
    return pd.Timedelta(index.freq).total_seconds() / 3600.0  # type: ignore[arg-type]


def localize_naive(
    naive: pd.DatetimeIndex | AnyArray, tz: str, occurrence: IntArray | None = None, what: str = "timestamps"
) -> tuple[I64Array, list[str]]:
    """Convert naive local times in ``tz`` to UTC nanoseconds with peergrid's DST rule.

    Parameters
    ----------
    naive : pandas.DatetimeIndex or numpy.ndarray of datetime64
        Local wall-clock times (may repeat).
    tz : str
        IANA zone.
    occurrence : numpy.ndarray of int, optional
        For each time, how many times the same local time was seen before it in
        the same series (0 for the first). A repeated (ambiguous) local time is
        summer time at occurrence 0 and standard time otherwise. Default: the
        order of appearance in ``naive``.
    what : str
        Name used in messages.

    Returns
    -------
    (numpy.ndarray of int64, list of str)
        UTC times in ns since the epoch and DST notes.

    Raises
    ------
    DataError
        If a local time does not exist in ``tz`` (spring-forward gap).
    """
    idx = pd.DatetimeIndex(naive).as_unit("ns")
    uniq, inv = np.unique(asi8(idx), return_inverse=True)
    if occurrence is None:
        occurrence = occurrence_counts(asi8(idx))
    out, notes, _ = localize_codes(pd.DatetimeIndex(uniq.view("datetime64[ns]")), inv, occurrence, tz, what)
    return out, notes
