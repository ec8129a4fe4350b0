"""Fixed-step, timezone-aware UTC time indexes (DESIGN.md, *Time*)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.core.types import AnyArray, IndexArray, IntArray

#: int64 nanoseconds since the epoch (what pandas' datetime64[ns] values are)
I64Array: TypeAlias = npt.NDArray[np.int64]


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
    steps = np.diff(_asi8(index))
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
    uniq, inv = np.unique(_asi8(idx), return_inverse=True)
    if occurrence is None:
        occurrence = _occurrence(_asi8(idx))
    out, notes, _ = _localize_codes(pd.DatetimeIndex(uniq.view("datetime64[ns]")), inv, occurrence, tz, what)
    return out, notes


def _localize_codes(
    local_u: pd.DatetimeIndex, codes: IndexArray, occ: IntArray | None, tz: str, what: str
) -> tuple[I64Array, list[str], I64Array]:
    """UTC ns of rows ``local_u[codes]`` (naive local times in ``tz``; see :func:`localize_naive`).

    Returns the row times, DST notes and the UTC times used (one per distinct time,
    possibly repeated), computed from the unique local times, not the rows.
    """
    local_u = local_u.as_unit("ns")
    if tz == "UTC":
        return _asi8(local_u)[codes], [], _asi8(local_u)
    summer = local_u.tz_localize(tz, ambiguous=np.ones(len(local_u), bool), nonexistent="NaT")
    if np.any(summer.isna()):
        bad = local_u[summer.isna()].sort_values()
        raise DataError(
            f"{what}: {len(bad)} local time(s) do not exist in {tz} (the clocks skip them at the change to "
            f"summer time), first {bad[0]:%Y-%m-%d %H:%M}; the file is not in {tz} local time: set tz to the "
            "zone it was written in (e.g. 'UTC', or 'Etc/GMT-1' for UTC+1 all year)"
        )
    winter = local_u.tz_localize(tz, ambiguous=np.zeros(len(local_u), bool), nonexistent="NaT")
    s, w = _asi8(summer), _asi8(winter)
    amb = s != w
    out = s[codes]
    if not amb.any():
        return out, [], s
    second = amb[codes] & (np.asarray(occ) >= 1) if occ is not None else np.zeros(len(codes), bool)
    out[second] = w[codes[second]]
    used_w = np.bincount(codes[second], minlength=len(s)) > 0
    used_s = (np.bincount(codes, minlength=len(s)) - np.bincount(codes[second], minlength=len(s))) > 0
    used = np.concatenate([s[used_s], w[used_w]])
    days = ", ".join(sorted({f"{t:%Y-%m-%d}" for t in local_u[amb]}))
    if not second.any():
        note = (f"repeated local hour on {days} ({tz}) appears once: read as summer time; "
                "the standard-time repeat is missing (counted as gaps)")
    else:
        note = (f"repeated local hour on {days} ({tz}): first occurrence read as summer time, "
                f"second as standard time ({int(amb[codes].sum())} values)")
    return out, [note], used


def _occurrence(keys: IntArray) -> IntArray:
    """For each row, how many earlier rows have the same key (vectorised cumcount)."""
    return np.asarray(pd.Series(keys).groupby(keys, sort=False).cumcount(), dtype=np.int64)


def _asi8(index: pd.DatetimeIndex) -> I64Array:
    """The index as int64 nanoseconds since the epoch (``DatetimeIndex.asi8``, missing in pandas-stubs)."""
    out: I64Array = index.asi8  # type: ignore[attr-defined]
    return out
