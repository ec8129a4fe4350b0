"""Helpers shared by :mod:`peergrid.core` and the data loaders (public names, private module)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.core.types import IndexArray, IntArray

#: int64 nanoseconds since the epoch (what pandas' datetime64[ns] values are)
I64Array: TypeAlias = npt.NDArray[np.int64]


def localize_codes(
    local_u: pd.DatetimeIndex, codes: IndexArray, occ: IntArray | None, tz: str, what: str
) -> tuple[I64Array, list[str], I64Array]:
    """UTC ns of rows ``local_u[codes]``: naive local times in ``tz`` (:func:`peergrid.core.timeindex.localize_naive`).

    Returns the row times, DST notes and the UTC times used (one per distinct time,
    possibly repeated), computed from the unique local times, not the rows.
    """
    local_u = local_u.as_unit("ns")
    if tz == "UTC":
        return asi8(local_u)[codes], [], asi8(local_u)
    summer = local_u.tz_localize(tz, ambiguous=np.ones(len(local_u), bool), nonexistent="NaT")
    if np.any(summer.isna()):
        bad = local_u[summer.isna()].sort_values()
        raise DataError(
            f"{what}: {len(bad)} local time(s) do not exist in {tz} (the clocks skip them at the change to "
            f"summer time), first {bad[0]:%Y-%m-%d %H:%M}; the file is not in {tz} local time: set tz to the "
            "zone it was written in (e.g. 'UTC', or 'Etc/GMT-1' for UTC+1 all year)"
        )
    winter = local_u.tz_localize(tz, ambiguous=np.zeros(len(local_u), bool), nonexistent="NaT")
    s, w = asi8(summer), asi8(winter)
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


def occurrence_counts(keys: IntArray) -> IntArray:
    """For each row, how many earlier rows have the same key (vectorised cumcount)."""
    return np.asarray(pd.Series(keys).groupby(keys, sort=False).cumcount(), dtype=np.int64)


def asi8(index: pd.DatetimeIndex) -> I64Array:
    """The index as int64 nanoseconds since the epoch (``DatetimeIndex.asi8``, missing in pandas-stubs)."""
    out: I64Array = index.asi8  # type: ignore[attr-defined]
    return out
