"""Helpers shared by :mod:`peergrid.core` and the data loaders (public names, private module)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError


def localize_codes(
    local_u: pd.DatetimeIndex, codes: np.ndarray, occ: np.ndarray | None, tz: str, what: str
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """UTC ns of rows ``local_u[codes]``: naive local times in ``tz`` (:func:`peergrid.core.timeindex.localize_naive`).

    Returns the row times, DST notes and the UTC times used (one per distinct time,
    possibly repeated), computed from the unique local times, not the rows.
    """
    local_u = local_u.as_unit("ns")
    if tz == "UTC":
        return local_u.asi8[codes], [], local_u.asi8
    summer = local_u.tz_localize(tz, ambiguous=np.ones(len(local_u), bool), nonexistent="NaT")
    if summer.isna().any():
        bad = local_u[summer.isna()].sort_values()
        raise DataError(
            f"{what}: {len(bad)} local time(s) do not exist in {tz} (the clocks skip them at the change to "
            f"summer time), first {bad[0]:%Y-%m-%d %H:%M}; the file is not in {tz} local time: set tz to the "
            "zone it was written in (e.g. 'UTC', or 'Etc/GMT-1' for UTC+1 all year)"
        )
    winter = local_u.tz_localize(tz, ambiguous=np.zeros(len(local_u), bool), nonexistent="NaT")
    s, w = summer.asi8, winter.asi8
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


def occurrence(keys: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows have the same key (vectorised cumcount)."""
    return pd.Series(keys).groupby(keys, sort=False).cumcount().to_numpy()
