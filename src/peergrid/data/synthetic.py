"""Synthetic communities of any size built from the 17 measured CityLearn homes.

Every synthetic member is a transformed copy of a measured home of the CityLearn
2022 data set (:mod:`peergrid.data.citylearn`):

* **load**: the measured load of a random base home (any of the 17), multiplied by
  a lognormal scaling factor with mean 1 (``sigma = scale_sigma``), and shifted
  in time by a random whole number of days in ``[-day_shift, +day_shift]``
  (circular over the data year), so weekly and seasonal structure stays
  plausible while members are no longer copies of each other;
* **PV** (for PV owners): the measured PV per kWp of a random home with a working
  PV system (the faulty homes flagged by :func:`~peergrid.data.citylearn.detect_faulty_pv`
  are never used), times a size drawn uniformly from ``pv_kwp_range``. PV is
  **not** day-shifted: all members of a local community share the same sky, so
  their PV stays consistent with the measured weather and with each other;
* **batteries**: ``battery_share`` of all households get one, PV owners first.

Resulting household consumption (default ``scale_sigma=0.35``, measured over
20,000 members, one year): mean ≈ 27 kWh/day (the CityLearn homes average
27.3 kWh/day, high by European standards where 8–12 kWh/day is typical), 5th
percentile ≈ 12.6, median ≈ 25.2, 95th percentile ≈ 49.8 kWh/day (see
:func:`daily_energy_stats`). PV yield 1,222–1,803 kWh/kWp/yr (southern California).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from peergrid.core.community import BlockSource, Community
from peergrid.core.errors import DataError
from peergrid.core.timeindex import make_index
from peergrid.data.citylearn import (
    HOMES,
    LICENCE,
    N_HOURS,
    SOURCE,
    load_citylearn,
    map_hourly,
)

__all__ = ["ProfileSource", "daily_energy_stats", "synthetic_community"]

SYNTHETIC_SOURCE = (
    "synthetic members built from the 17 measured CityLearn 2022 homes "
    "(scaling, day shifting); "
)


def _check_range(name: str, rng: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in rng)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a (low, high) pair of numbers, got {rng!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo:
        raise DataError(f"{name} must satisfy 0 < low <= high, got {rng!r}")
    return lo, hi


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def synthetic_community(
    n_households: int,
    start: str | pd.Timestamp = "2022-08-01",
    periods: int = 8760,
    freq: str = "1h",
    pv_share: float = 0.5,
    battery_share: float = 0.3,
    seed: int | np.random.Generator | None = 0,
    *,
    n_prosumers: int | None = None,
    feed_in: float | np.ndarray = 0.07,
    retail: float | np.ndarray | None = None,
    pv_kwp_range: tuple[float, float] = (3.0, 8.0),
    battery_kwh_range: tuple[float, float] = (5.0, 13.5),
    scale_sigma: float = 0.35,
    day_shift: int = 7,
    lazy: bool = False,
) -> Community:
    """Build a community of ``n_households`` synthetic members from measured homes.

    Each member draws a base home (load), a lognormal load scaling factor (mean 1,
    ``sigma = scale_sigma``), a whole-day time shift in ``[-day_shift, day_shift]``
    and, for PV owners, the PV per-kWp profile of a home with working PV and a size
    uniform in ``pv_kwp_range`` (see the module docstring for the method and the
    resulting daily-kWh distribution).

    Time mapping: the data year (8,760 h from 2022-08-01T07:00Z) is treated as
    periodic; each timestamp maps to its hour position modulo 8,760 h from the data
    start, so any ``start``/``periods`` works, including several years (which then
    repeat the same year) and starts that are not on the hour (energy within an
    hour is split evenly). Energy is resampled to ``freq`` conserving totals (same
    split/sum kernels as :func:`~peergrid.data.resample.resample_energy`).

    Parameters
    ----------
    n_households : int
        Number of members N (≥ 1).
    start : str or pandas.Timestamp
        First period start (naive = UTC).
    periods : int
        Number of steps T.
    freq : str
        Step length, e.g. ``"15min"``, ``"1h"``, ``"150min"``.
    pv_share : float
        Fraction of households with PV (0–1), rounded half up to a count.
    battery_share : float
        Fraction of *all* households with a battery (0–1). Batteries go to PV
        owners first (a random subset if fewer batteries than PV owners); the
        remainder go to random consumers.
    seed : int, numpy.random.Generator or None
        Randomness; the same seed gives an identical community.
    n_prosumers : int, optional
        Exact number of PV owners; overrides ``pv_share`` (Tooki et al.: 246
        consumers + 14 prosumers -> ``n_households=260, n_prosumers=14``).
    feed_in : float or array-like
        Feed-in tariff, USD/kWh (scalar or one per step); 0.07 is an assumption.
    retail : float or array-like, optional
        Retail tariff, USD/kWh; default is the CityLearn time-of-use price mapped
        onto the index like the profiles (held/time-averaged for ``freq``).
    pv_kwp_range : (float, float)
        Uniform range of installed PV, kWp.
    battery_kwh_range : (float, float)
        Uniform range of battery capacity, kWh; power = capacity / 2 kW, charge
        and discharge efficiency 0.95 each.
    scale_sigma : float
        Standard deviation of the log of the load scaling factor (≥ 0; 0 keeps
        the measured homes' levels).
    day_shift : int
        Largest time shift, whole days (0–182).
    lazy : bool
        Keep no ``(T, N)`` arrays: ``load`` and ``generation`` are block sources
        (:class:`~peergrid.core.community.BlockSource`) that gather each block of steps from
        the ``(T, K)`` distinct profiles (K ≤ 17 × (2·day_shift + 1) load profiles, ≤ 17 PV
        profiles) when it is read. The streaming simulator (``peergrid.simulate(...,
        series="none")``) reads them block by block; reading ``community.load`` as a whole
        materialises it once. Values are bit-identical to ``lazy=False``.

    Returns
    -------
    Community
        Load and generation in kWh per step, ``(T, N)``; participants ``"h00000"``..
        with ``pv_kwp`` (kWp), ``battery_kwh`` (kWh), ``battery_kw`` (kW),
        efficiencies, phases cycling a/b/c, ``node = i // 10`` and ``source_home``
        (the base home of the load). ``carbon_intensity`` is the CityLearn site's hourly
        grid carbon intensity (kgCO2/kWh) mapped onto the index like the retail price.
        ``meta`` holds the per-member draws as lists (``load_scale``, ``day_shift_days``,
        ``pv_source_home``; JSON-serialisable).

    Raises
    ------
    DataError
        If a count, share, range or time specification is invalid.
    """
    if isinstance(n_households, bool) or not isinstance(n_households, (int, np.integer)):
        raise DataError(f"n_households must be an int, got {n_households!r}")
    n = int(n_households)
    if n < 1:
        raise DataError(f"n_households must be >= 1, got {n}")
    for name, share in (("pv_share", pv_share), ("battery_share", battery_share)):
        if not 0.0 <= float(share) <= 1.0:
            raise DataError(f"{name} must be in [0, 1], got {share}")
    if n_prosumers is None:
        n_pv = _round_half_up(float(pv_share) * n)
    else:
        if isinstance(n_prosumers, bool) or not isinstance(n_prosumers, (int, np.integer)):
            raise DataError(f"n_prosumers must be an int, got {n_prosumers!r}")
        n_pv = int(n_prosumers)
        if not 0 <= n_pv <= n:
            raise DataError(f"n_prosumers must be in [0, n_households={n}], got {n_pv}")
    n_batt = _round_half_up(float(battery_share) * n)
    kwp_lo, kwp_hi = _check_range("pv_kwp_range", pv_kwp_range)
    cap_lo, cap_hi = _check_range("battery_kwh_range", battery_kwh_range)
    if not (math.isfinite(scale_sigma) and scale_sigma >= 0):
        raise DataError(f"scale_sigma must be >= 0, got {scale_sigma}")
    if isinstance(day_shift, bool) or not isinstance(day_shift, (int, np.integer)):
        raise DataError(f"day_shift must be an int, got {day_shift!r}")
    if not 0 <= day_shift <= 182:
        raise DataError(f"day_shift must be in [0, 182] days, got {day_shift}")
    if not isinstance(lazy, (bool, np.bool_)):
        raise DataError(f"lazy must be True or False, got {lazy!r}")
    index = make_index(start, periods, freq)

    data = load_citylearn()
    rng = np.random.default_rng(seed)
    # ---- per-member draws (fixed order: reproducible for a given seed) --------------
    base = rng.integers(0, len(HOMES), n)
    scale = rng.lognormal(mean=-0.5 * scale_sigma**2, sigma=scale_sigma, size=n)
    shift = rng.integers(-day_shift, day_shift + 1, n)
    order = rng.permutation(n)
    is_pv = np.zeros(n, dtype=bool)
    is_pv[order[:n_pv]] = True
    good = [h for h in HOMES if h not in data.faulty_pv]
    pv_src = rng.integers(0, len(good), n)
    kwp = np.where(is_pv, rng.uniform(kwp_lo, kwp_hi, n), 0.0)
    pv_idx, con_idx = np.flatnonzero(is_pv), np.flatnonzero(~is_pv)
    batt_order = np.concatenate([rng.permutation(pv_idx), rng.permutation(con_idx)])
    has_batt = np.zeros(n, dtype=bool)
    has_batt[batt_order[:n_batt]] = True
    cap = np.where(has_batt, rng.uniform(cap_lo, cap_hi, n), 0.0)

    # ---- load: unique (base home, shift) columns, then one gather + scale ------------
    width = 2 * day_shift + 1
    combos, inverse = np.unique(base * width + (shift + day_shift), return_inverse=True)
    c_home, c_shift = combos // width, combos % width - day_shift
    rows = (np.arange(N_HOURS)[:, None] + 24 * c_shift[None, :]) % N_HOURS
    hourly = data.load.to_numpy()[rows, c_home[None, :]]  # (8760, K), K <= 17 * width
    profiles = map_hourly(hourly, index, periodic=True, intensive=False)  # (T, K)
    load: np.ndarray | BlockSource
    generation: np.ndarray | BlockSource
    if lazy:
        load = ProfileSource(profiles, inverse.ravel(), scale)
    else:
        load = np.take(profiles, inverse.ravel(), axis=1)  # (T, N)
        load *= scale

    # ---- generation: PV per kWp of working homes, unshifted, times kWp --------------
    if n_pv:
        pv_hourly = data.pv_per_kwp[good].to_numpy()
        pv_profiles = map_hourly(pv_hourly, index, periodic=True, intensive=False)
        if lazy:
            generation = ProfileSource(pv_profiles, pv_src, kwp)
        else:
            generation = np.take(pv_profiles, pv_src, axis=1)
            generation *= kwp  # zero columns for members without PV
    elif lazy:
        generation = ProfileSource(np.zeros((len(index), 1)), np.zeros(n, dtype=np.int64), np.zeros(n))
    else:
        generation = np.zeros_like(load)

    if retail is None:
        retail = map_hourly(
            data.retail_price.to_numpy()[:, None], index, periodic=True, intensive=True
        )[:, 0]
    carbon = map_hourly(
        data.carbon_intensity.to_numpy()[:, None], index, periodic=True, intensive=True
    )[:, 0]  # the same site and data year as the profiles
    ids = np.char.add("h", np.char.zfill(np.arange(n).astype(str), 5))
    participants = pd.DataFrame(
        {
            "id": ids,
            "pv_kwp": kwp,
            "battery_kwh": cap,
            "battery_kw": cap / 2.0,
            "battery_eff_charge": 0.95,
            "battery_eff_discharge": 0.95,
            "phase": np.array(["a", "b", "c"])[np.arange(n) % 3],
            "node": np.arange(n) // 10,
            "source_home": np.asarray(HOMES)[base],
        }
    )
    return Community(
        index=index,
        participants=participants,
        load=load,
        generation=generation,
        retail=retail,
        feed_in=feed_in,
        name=f"synthetic-{n}",
        source=(
            SYNTHETIC_SOURCE
            + f"PV per kWp from {len(good)} homes with working PV. Base data: "
            + SOURCE
            + f". Licence {LICENCE}."
        ),
        currency="USD",
        tz="Etc/GMT+8",  # profiles keep the CityLearn site's local time of day
        carbon_intensity=carbon,
        meta={
            "generator": "peergrid.data.synthetic_community",
            "seed": seed if isinstance(seed, (int, np.integer)) else None,
            "load_scale": scale.tolist(),
            "day_shift_days": shift.tolist(),
            "pv_source_home": np.where(is_pv, np.asarray(good)[pv_src], "").tolist(),
            "scale_sigma": float(scale_sigma),
            "feed_in_assumed": True,
        },
    )


def _gather_scaled_py(table: np.ndarray, column: np.ndarray, factor: np.ndarray, out: np.ndarray) -> None:
    """``out[t, i] = table[t, column[i]] * factor[i]`` (one pass; = ``np.take(...) * factor`` bit for bit)."""
    for t in range(table.shape[0]):
        for i in range(column.size):
            out[t, i] = table[t, column[i]] * factor[i]


try:  # numba is a core dependency
    from numba import njit

    _gather_scaled = njit(cache=True, nogil=True)(_gather_scaled_py)
except ImportError:  # pragma: no cover
    _gather_scaled = _gather_scaled_py


class ProfileSource(BlockSource):
    """``(T, N)`` energy per step as scaled columns of a ``(T, K)`` profile table (lazy).

    Column i is ``profiles[:, column[i]] * factor[i]`` (kWh per step), gathered per block of
    steps; the values equal ``np.take(profiles, column, axis=1) * factor`` bit for bit.

    Parameters
    ----------
    profiles : numpy.ndarray
        ``(T, K)`` distinct profiles, kWh per step (finite, ≥ 0).
    column : numpy.ndarray of int
        Profile of each of the N members, length N.
    factor : numpy.ndarray
        Scale of each member (≥ 0), length N.
    """

    def __init__(self, profiles: np.ndarray, column: np.ndarray, factor: np.ndarray) -> None:
        self.profiles = np.ascontiguousarray(profiles, dtype=np.float64)
        self.column = np.ascontiguousarray(column, dtype=np.intp)
        self.factor = np.ascontiguousarray(factor, dtype=np.float64)
        # the compiled gather trusts these: check them once, here
        if self.profiles.ndim != 2 or self.column.ndim != 1 or self.factor.shape != self.column.shape:
            raise DataError("ProfileSource: profiles must be (T, K), column and factor of equal length N")
        k = self.profiles.shape[1]
        if self.column.size and (self.column.min() < 0 or self.column.max() >= k):
            raise DataError(f"ProfileSource: column indices must lie in 0..{k - 1}")
        for name, arr in (("profiles", self.profiles), ("factor", self.factor)):
            if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= 0):
                raise DataError(f"ProfileSource: {name} must be finite and >= 0")
        self.shape = (self.profiles.shape[0], self.column.size)
        self._sums: np.ndarray | None = None

    def block(self, rows: slice) -> np.ndarray:
        table = self.profiles[rows]
        out = np.empty((table.shape[0], self.column.size))
        _gather_scaled(table, self.column, self.factor, out)
        return out

    def gather_spec(self, rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(profile rows, column, factor)`` of the steps ``rows`` (no gather; see :meth:`Community.gather_spec`)."""
        return self.profiles[rows], self.column, self.factor

    def column_sums(self, block: int = 4096) -> np.ndarray:
        # Σ_t profile[t, k] · factor_i per member: one pass over the (T, K) table, not over (T, N)
        if self._sums is None:
            self._sums = self.profiles.sum(axis=0)[self.column] * self.factor
        return self._sums


def daily_energy_stats(community: Community) -> dict[str, float | int | None]:
    """Headline energy statistics of a community's households.

    Parameters
    ----------
    community : Community
        Any community (load and generation in kWh per step).

    Returns
    -------
    dict
        ``households`` (N), ``days`` (span, d), ``daily_kwh_mean`` /
        ``daily_kwh_p5`` / ``daily_kwh_p50`` / ``daily_kwh_p95``: statistics over
        households of each household's mean daily consumption, kWh/day;
        ``pv_owners`` (members with ``pv_kwp > 0``) and ``pv_yield_mean`` /
        ``pv_yield_min`` / ``pv_yield_max``: PV yield of the owners, kWh/kWp/yr
        (annualised from the span; ``None`` without PV owners). For spans shorter
        than a year the yield reflects the season covered.
    """
    hours = community.T * community.dt
    days = hours / 24.0
    daily = community.load.sum(axis=0) / days
    p5, p50, p95 = np.percentile(daily, [5, 50, 95])
    kwp = community.participants["pv_kwp"].to_numpy(dtype=np.float64)
    owners = kwp > 0
    out: dict[str, float | int | None] = {
        "households": community.N,
        "days": float(days),
        "daily_kwh_mean": float(daily.mean()),
        "daily_kwh_p5": float(p5),
        "daily_kwh_p50": float(p50),
        "daily_kwh_p95": float(p95),
        "pv_owners": int(owners.sum()),
        "pv_yield_mean": None,
        "pv_yield_min": None,
        "pv_yield_max": None,
    }
    if owners.any():
        gen = community.generation.sum(axis=0)[owners]
        yields = gen / kwp[owners] / (hours / N_HOURS)
        out["pv_yield_mean"] = float(yields.mean())
        out["pv_yield_min"] = float(yields.min())
        out["pv_yield_max"] = float(yields.max())
    return out
