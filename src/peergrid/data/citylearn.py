"""Measured data of 17 homes from the CityLearn 2022 challenge, shipped with peergrid.

Source
------
The CityLearn Challenge 2022 (NeurIPS 2022 competition track) uses one year of
operational electricity demand and PV generation data from 17 single-family homes
of the Sierra Crest home development in Fontana, California, a community studied
for the grid integration of zero-net-energy communities. The data ship inside the
``CityLearn==2.1.2`` wheel on PyPI (``citylearn/data/citylearn_challenge_2022_phase_all``)
and were extracted once by ``scripts/extract_citylearn.py`` into the small file
``citylearn_2022.parquet`` next to this module: nothing is downloaded at run time.

Licence: MIT (CityLearn), see ``CITYLEARN_LICENSE.txt`` in this directory.

Time axis: 8,760 hourly steps, UTC period starts from 2022-08-01T07:00Z to
2023-08-01T06:00Z (local standard time UTC−8, no daylight saving in the data).

Data quality: the PV of homes 14 and 15 is faulty (about 490 and 30 kWh/kWp/yr
instead of 1,200–1,800); :func:`detect_faulty_pv` finds them with a yield rule
instead of a hard-coded list.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from peergrid.core.community import Community
from peergrid.core.errors import DataError
from peergrid.core.timeindex import make_index
from peergrid.data._common import hold_steps, mean_steps, split_steps, sum_steps
from peergrid.data.resample import to_step

__all__ = [
    "CITATION",
    "DATA_START",
    "HOMES",
    "LICENCE",
    "SOURCE",
    "CityLearnData",
    "citylearn_community",
    "detect_faulty_pv",
    "load_citylearn",
    "map_hourly",
]

#: First period start of the data (2022-07-31 23:00 local UTC−8).
DATA_START = pd.Timestamp("2022-08-01T07:00:00", tz="UTC")
#: Number of hourly rows (one non-leap year).
N_HOURS = 8760
#: Home ids, in CityLearn building order (Building_1 -> home_01).
HOMES: tuple[str, ...] = tuple(f"home_{i:02d}" for i in range(1, 18))
#: A home's PV is faulty if its annual yield is below this fraction of the median.
FAULTY_PV_REL_THRESHOLD = 0.5
#: Key of the JSON metadata in the Parquet schema.
METADATA_KEY = "peergrid.citylearn"
PARQUET_NAME = "citylearn_2022.parquet"

SOURCE = (
    "CityLearn 2022 challenge data (CityLearn 2.1.2 wheel, "
    "citylearn_challenge_2022_phase_all): one year of measured operational electricity "
    "demand and PV generation of 17 single-family homes in the Sierra Crest development, "
    "Fontana, California (a zero-net-energy community), with weather, a time-of-use tariff "
    "and grid carbon intensity; https://www.aicrowd.com/challenges/neurips-2022-citylearn-challenge"
)
LICENCE = "MIT (CityLearn); see peergrid/data/CITYLEARN_LICENSE.txt"
CITATION = (
    "J. R. Vazquez-Canteli, J. Kaempf, G. Henze, Z. Nagy. CityLearn v1.0: An OpenAI Gym "
    "Environment for Demand Response with Deep Reinforcement Learning. BuildSys '19, "
    "ACM, 2019, pp. 356-357, doi:10.1145/3360322.3360998. Data: The CityLearn Challenge "
    "2022, https://www.aicrowd.com/challenges/neurips-2022-citylearn-challenge"
)

_H_NS = 3_600_000_000_000  # one hour in ns


@dataclass(frozen=True)
class CityLearnData:
    """The CityLearn 2022 data set as tidy pandas objects (see :func:`load_citylearn`).

    The object is cached and shared: treat its frames as read-only (copy first).

    Attributes
    ----------
    index : pandas.DatetimeIndex
        8,760 hourly UTC period starts from 2022-08-01T07:00Z, ``freq="h"``.
    load : pandas.DataFrame
        ``(T, 17)`` measured non-shiftable load (``Equipment Electric Power``),
        kWh per hour, columns ``"home_01"`` .. ``"home_17"``.
    pv_per_kwp : pandas.DataFrame
        ``(T, 17)`` measured PV generation per installed kWp, kWh/kWp per hour
        (the CSV's W/kW divided by 1000). Faulty homes are **not** zeroed here.
    pv_kwp : pandas.Series
        Installed PV per home from the CityLearn schema, kWp.
    pv_yield : pandas.Series
        Annual PV yield per home, kWh/kWp/yr.
    battery : pandas.DataFrame
        Home battery per home from the schema: ``capacity_kwh`` (kWh), ``power_kw``
        (kW, nominal), ``efficiency`` (round-trip, 1).
    weather : pandas.DataFrame
        ``temp_air_c`` (outdoor dry-bulb, °C), ``relative_humidity`` (%),
        ``dhi_wm2`` (diffuse, W/m²), ``dni_wm2`` (direct, W/m²); hourly values.
    retail_price : pandas.Series
        Time-of-use electricity price, USD/kWh (0.21–0.54).
    carbon_intensity : pandas.Series
        Grid carbon intensity, kgCO2/kWh.
    faulty_pv : tuple of str
        Homes whose PV fails the yield rule of :func:`detect_faulty_pv`.
    source, licence, citation : str
        Provenance, licence and how to cite.
    """

    index: pd.DatetimeIndex
    load: pd.DataFrame
    pv_per_kwp: pd.DataFrame
    pv_kwp: pd.Series
    pv_yield: pd.Series
    battery: pd.DataFrame
    weather: pd.DataFrame
    retail_price: pd.Series
    carbon_intensity: pd.Series
    faulty_pv: tuple[str, ...]
    source: str
    licence: str
    citation: str


def detect_faulty_pv(
    pv_per_kwp: pd.DataFrame, *, rel_threshold: float = FAULTY_PV_REL_THRESHOLD
) -> tuple[str, ...]:
    """Flag PV systems whose yield is implausibly low compared with their neighbours.

    Rule: a column is faulty if its annualised yield (kWh/kWp/yr) is below
    ``rel_threshold`` times the median yield of all columns. Homes of one community
    share the same sky, so a yield far below the median means a broken inverter,
    shading or a metering fault rather than weather.

    Parameters
    ----------
    pv_per_kwp : pandas.DataFrame
        PV generation per installed kWp, kWh/kWp per step, one column per home,
        with a fixed-step DatetimeIndex (``freq`` set) or hourly rows.
    rel_threshold : float
        Fraction of the median yield below which a system is flagged (0–1).

    Returns
    -------
    tuple of str
        Column names of the faulty systems, in column order.
    """
    if not 0.0 <= rel_threshold <= 1.0:
        raise DataError(f"rel_threshold must be in [0, 1], got {rel_threshold}")
    freq = getattr(pv_per_kwp.index, "freq", None)
    dt_h = pd.Timedelta(freq).total_seconds() / 3600.0 if freq is not None else 1.0
    years = len(pv_per_kwp) * dt_h / N_HOURS
    annual = pv_per_kwp.sum(axis=0) / years
    bad = annual < rel_threshold * float(np.median(annual.to_numpy()))
    return tuple(str(c) for c in pv_per_kwp.columns[bad.to_numpy()])


def _data_file() -> Traversable:
    return resources.files("peergrid.data").joinpath(PARQUET_NAME)


@functools.cache
def load_citylearn() -> CityLearnData:
    """Load the CityLearn 2022 data shipped with peergrid (offline, cached).

    Source: one year (2022-08-01 to 2023-07-31, hourly) of measured operational
    data of 17 single-family homes of a zero-net-energy community in Fontana,
    California — the CityLearn Challenge 2022 data set, extracted from the
    ``CityLearn==2.1.2`` wheel. Licence: MIT. Cite: Vazquez-Canteli et al.,
    *CityLearn v1.0*, BuildSys '19, doi:10.1145/3360322.3360998 (full text in
    :data:`CITATION`).

    Returns
    -------
    CityLearnData
        Load (kWh/h), PV per kWp (kWh/kWp/h), PV sizes (kWp), batteries (kWh, kW,
        round-trip efficiency), weather (°C, %, W/m²), TOU price (USD/kWh), carbon
        intensity (kgCO2/kWh) and the faulty-PV flags, on an hourly UTC index.

    Raises
    ------
    DataError
        If the shipped Parquet file is missing or inconsistent.
    """
    ref = _data_file()
    if not ref.is_file():
        raise DataError(
            f"CityLearn data file {PARQUET_NAME} is missing from peergrid.data; "
            "regenerate it with scripts/extract_citylearn.py"
        )
    with ref.open("rb") as fh:
        table = pq.read_table(fh)
    raw_meta = (table.schema.metadata or {}).get(METADATA_KEY.encode())
    if raw_meta is None:
        raise DataError(f"{PARQUET_NAME}: metadata key {METADATA_KEY!r} is missing")
    meta = json.loads(raw_meta)
    frame = table.to_pandas()
    index = make_index(DATA_START, N_HOURS, "1h")
    stamps = pd.DatetimeIndex(frame["timestamp"]).as_unit("ns")
    if len(stamps) != N_HOURS or not np.array_equal(stamps.asi8, index.as_unit("ns").asi8):
        raise DataError(f"{PARQUET_NAME}: timestamps are not hourly from {DATA_START}")
    homes = list(HOMES)

    def block(prefix: str) -> pd.DataFrame:
        cols = [f"{prefix}{h}" for h in homes]
        return pd.DataFrame(frame[cols].to_numpy(np.float64), index=index, columns=homes)

    def series(col: str, name: str) -> pd.Series:
        return pd.Series(frame[col].to_numpy(np.float64), index=index, name=name)

    load = block("load_")
    pv_per_kwp = block("pv_")
    pv_kwp = pd.Series([meta["pv_kwp"][h] for h in homes], index=homes, name="pv_kwp", dtype=float)
    battery = pd.DataFrame(
        {
            col: [meta["battery"][h][col] for h in homes]
            for col in ("capacity_kwh", "power_kw", "efficiency")
        },
        index=homes,
        dtype=float,
    )
    weather = pd.DataFrame(
        {c: frame[c].to_numpy(np.float64) for c in ("temp_air_c", "relative_humidity",
                                                       "dhi_wm2", "dni_wm2")},
        index=index,
    )
    pv_yield = (pv_per_kwp.sum(axis=0)).rename("pv_yield_kwh_per_kwp")
    return CityLearnData(
        index=index,
        load=load,
        pv_per_kwp=pv_per_kwp,
        pv_kwp=pv_kwp,
        pv_yield=pv_yield,
        battery=battery,
        weather=weather,
        retail_price=series("retail_price", "retail_price"),
        carbon_intensity=series("carbon_intensity", "carbon_intensity"),
        faulty_pv=detect_faulty_pv(pv_per_kwp),
        source=SOURCE,
        licence=LICENCE,
        citation=CITATION,
    )


def map_hourly(
    hourly: np.ndarray, target: pd.DatetimeIndex, *, periodic: bool, intensive: bool
) -> np.ndarray:
    """Map hourly data-year rows onto an arbitrary fixed-step UTC index.

    Row ``k`` of ``hourly`` covers ``[DATA_START + k h, DATA_START + (k+1) h)``. The
    target window is cut on the grid of ``gcd(1 h, step, start offset)``: energy is
    split evenly within an hour and summed per target step (conserving energy);
    intensive values are held and time-averaged. With ``periodic=True`` the data
    year repeats (row = hour position modulo 8,760); otherwise the window must lie
    inside the data year.

    Parameters
    ----------
    hourly : numpy.ndarray
        ``(8760, K)`` hourly values (kWh per hour, or an intensive unit).
    target : pandas.DatetimeIndex
        Fixed-step UTC index (``freq`` set).
    periodic : bool
        Wrap around the data year.
    intensive : bool
        Hold/average instead of split/sum.

    Returns
    -------
    numpy.ndarray
        ``(len(target), K)`` float64 values per target step.
    """
    step = int(to_step(target.freq).value)
    n = len(target)
    off = int(target[0].value - DATA_START.value)
    h0, frac = divmod(off, _H_NS)  # floor division: frac in [0, 1 h)
    g = math.gcd(_H_NS, step, frac)
    n_h = -(-(frac + n * step) // _H_NS)
    pos = h0 + np.arange(n_h)
    if periodic:
        pos %= N_HOURS
    elif pos[0] < 0 or pos[-1] >= N_HOURS:
        end = DATA_START + pd.Timedelta(hours=N_HOURS)
        raise DataError(
            f"window {target[0].isoformat()} .. {(target[-1] + pd.Timedelta(step)).isoformat()} "
            f"is outside the CityLearn data year {DATA_START.isoformat()} .. {end.isoformat()}"
        )
    sub = hourly[pos]
    u, d, a = _H_NS // g, step // g, frac // g
    if u == 1:  # step is whole hours and the start is on the hour: no split needed
        fine = sub
    else:
        fine = (hold_steps if intensive else split_steps)(sub, u)[a : a + n * d]
    if d == 1:
        return np.ascontiguousarray(fine, dtype=np.float64)
    return (mean_steps if intensive else sum_steps)(fine, d)


def _resolve_homes(homes: Sequence[int | str] | None) -> list[str]:
    if homes is None:
        return list(HOMES)
    if isinstance(homes, (str, int)):
        homes = [homes]
    out: list[str] = []
    for h in homes:
        if isinstance(h, (int, np.integer)) and not isinstance(h, bool):
            hid = f"home_{int(h):02d}"
        else:
            hid = str(h)
        if hid not in HOMES:
            raise DataError(
                f"unknown CityLearn home {h!r}: use 1..17 or 'home_01'..'home_17'"
            )
        out.append(hid)
    if len(set(out)) != len(out):
        raise DataError(f"homes contains duplicates: {out}")
    if not out:
        raise DataError("homes is empty")
    return out


def _window(
    start: str | pd.Timestamp | None, periods: int | None, freq: str
) -> pd.DatetimeIndex:
    step = to_step(freq)
    end = DATA_START + pd.Timedelta(hours=N_HOURS)
    if start is None:
        t0 = DATA_START
    else:
        try:
            t0 = pd.Timestamp(start)
        except (ValueError, TypeError):
            raise DataError(f"start {start!r} is not a timestamp") from None
        t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    if not DATA_START <= t0 < end:
        raise DataError(
            f"start {t0.isoformat()} is outside the CityLearn data year "
            f"{DATA_START.isoformat()} .. {end.isoformat()}"
        )
    if periods is None:
        periods = int((end - t0) // step)
        if periods == 0:
            raise DataError(f"no whole {step} step fits between {t0.isoformat()} and the data end")
    if periods <= 0:
        raise DataError(f"periods must be > 0, got {periods}")
    if t0 + periods * step > end:
        raise DataError(
            f"{periods} steps of {step} from {t0.isoformat()} run past the data end "
            f"{end.isoformat()}"
        )
    return make_index(t0, periods, freq)


def citylearn_community(
    homes: Sequence[int | str] | None = None,
    *,
    start: str | pd.Timestamp | None = None,
    periods: int | None = None,
    freq: str = "1h",
    feed_in: float | np.ndarray = 0.07,
    with_batteries: bool = True,
    exclude_faulty_pv: bool = True,
) -> Community:
    """The real CityLearn 2022 community: 17 measured homes in Fontana, California.

    Load is the measured ``Equipment Electric Power``; generation is the measured
    PV per kWp times the installed kWp of the CityLearn schema (4–5 kWp). Batteries
    are the schema's home batteries: 6.4 kWh, 5 kW, round-trip efficiency 0.9,
    entered as charge and discharge efficiency ``sqrt(0.9) ≈ 0.949`` each. Phases
    cycle a/b/c and ``node = i // 10`` (no feeder topology ships with the data).

    Parameters
    ----------
    homes : sequence of int or str, optional
        Homes to include, as numbers 1..17 or ids ``"home_01"``..``"home_17"``;
        all 17 by default.
    start : str or pandas.Timestamp, optional
        First period start (naive = UTC); must lie inside the data year
        2022-08-01T07:00Z .. 2023-08-01T07:00Z. Default: the data start.
    periods : int, optional
        Number of steps. Default: as many whole steps as fit until the data end.
    freq : str
        Step length. Other steps than ``"1h"`` resample energy exactly (split
        evenly within an hour / summed, see :func:`~peergrid.data.resample.resample_energy`);
        prices are held or time-averaged.
    feed_in : float or array-like
        Feed-in tariff, USD/kWh (scalar or one value per step). Default 0.07 is an
        **assumption**: no feed-in tariff ships with the data.
    with_batteries : bool
        Give every home its schema battery; ``False`` gives none.
    exclude_faulty_pv : bool
        Homes flagged by :func:`detect_faulty_pv` (home_14, home_15) keep their
        load but get ``pv_kwp = 0`` and zero generation, i.e. they become
        consumers. ``False`` keeps their measured (faulty) generation.

    Returns
    -------
    Community
        ``name="citylearn-2022"``; retail is the dataset's time-of-use price
        (USD/kWh); ``carbon_intensity`` the dataset's hourly grid carbon intensity
        (kgCO2/kWh, held or time-averaged for ``freq``); load and generation in kWh per
        step; ``meta`` records the faulty-PV homes and the assumptions.

    Raises
    ------
    DataError
        On unknown homes, a window outside the data year or a non-fixed ``freq``.
    """
    data = load_citylearn()
    ids = _resolve_homes(homes)
    index = _window(start, periods, freq)
    load = map_hourly(data.load[ids].to_numpy(), index, periodic=False, intensive=False)
    pv = map_hourly(data.pv_per_kwp[ids].to_numpy(), index, periodic=False, intensive=False)
    kwp = data.pv_kwp[ids].to_numpy(dtype=np.float64).copy()
    faulty = [h for h in ids if h in data.faulty_pv]
    if exclude_faulty_pv and faulty:
        kwp[np.isin(ids, faulty)] = 0.0
    generation = pv * kwp  # (T, N) kWh per step; zero where kwp == 0
    retail = map_hourly(
        data.retail_price.to_numpy()[:, None], index, periodic=False, intensive=True
    )[:, 0]
    carbon = map_hourly(
        data.carbon_intensity.to_numpy()[:, None], index, periodic=False, intensive=True
    )[:, 0]
    n = len(ids)
    batt = data.battery.loc[ids]
    on = 1.0 if with_batteries else 0.0
    eff = np.sqrt(batt["efficiency"].to_numpy()) if with_batteries else np.full(n, 0.95)
    participants = pd.DataFrame(
        {
            "id": ids,
            "pv_kwp": kwp,
            "battery_kwh": batt["capacity_kwh"].to_numpy() * on,
            "battery_kw": batt["power_kw"].to_numpy() * on,
            "battery_eff_charge": eff,
            "battery_eff_discharge": eff,
            "phase": np.array(["a", "b", "c"])[np.arange(n) % 3],
            "node": np.arange(n) // 10,
        }
    )
    excluded = faulty if exclude_faulty_pv else []
    return Community(
        index=index,
        participants=participants,
        load=load,
        generation=generation,
        retail=retail,
        feed_in=feed_in,
        name="citylearn-2022",
        source=(
            "measured: " + SOURCE + f". Licence {LICENCE}. Feed-in tariff assumed "
            "(not in the data). "
            + (f"Faulty PV set to zero: {', '.join(excluded)}." if excluded else "")
        ).strip(),
        currency="USD",
        tz="Etc/GMT+8",  # the site keeps UTC-8 all year (no DST in the data)
        carbon_intensity=carbon,
        meta={
            "dataset": "citylearn_2022",
            "faulty_pv": tuple(faulty),
            "faulty_pv_excluded": bool(exclude_faulty_pv and faulty),
            "feed_in_assumed": True,
            "licence": LICENCE,
            "citation": CITATION,
        },
    )
