"""Users' own smart-meter exports: read, check and convert to kWh per step (docs/data.md).

Two layouts are read, from CSV or Parquet:

* **long** — one row per meter and step: ``timestamp,meter,kwh`` (column names are
  detected: ``timestamp``/``time``/``datetime``/…, ``meter``/``meter_id``/``id``/…,
  ``kwh``/``energy``/``value``/…), optionally with a ``kind``/``direction`` column
  whose values name the series: ``import``/``load``/``consumption`` (read as load)
  or ``export``/``generation``/``pv``/``feed-in`` (read as generation);
* **wide** — a timestamp column and one column per meter.

Rules (all reported in :class:`MeterReport`):

* **Time zone.** Naive timestamps are local times in ``tz`` (the community's zone);
  timestamps with a UTC offset or ``Z`` are converted. The result is always UTC.
* **Daylight saving.** A naive local time that occurs twice (the autumn change, e.g.
  02:00–02:59 in Europe/Berlin) is read, per meter and series and in file order, as
  summer time at its first occurrence and standard time at its second. A repeated
  hour written once is read as summer time and the standard-time hour counts as a
  gap. A naive local time that does not exist (the spring change) is an error: the
  file was not written in ``tz``.
* **Units.** ``Wh`` or ``kWh`` per step, ``W`` or ``kW`` mean power over the step
  (multiplied by the step length in hours). Default: from the value column's name
  (``wh``, ``kwh``, ``w``, ``kw``), else kWh.
* **Step.** The most common spacing of the timestamps; a timestamp off that grid is
  an error (irregular step). Timestamps label the *start* of their period.
* **Gaps** (a missing row or an empty value): ``gaps = "error"`` (default) stops,
  ``"interpolate"`` fills linearly in time (edges with the nearest value),
  ``"zero"`` fills with 0 kWh. A meter that has no series of one kind at all (a
  consumer without an export channel) is zero there, not a gap.
* **Duplicates** (same meter, series and time): identical repeats are dropped,
  conflicting ones are an error.
* **Dates.** ``dayfirst`` reads ``05.06.2023`` as 5 June. When the other reading of
  the dates fits the data much better, the error says to set ``dayfirst``.

:func:`read_meters` is the I/O edge (it reads the file); :func:`parse_meters` is pure
(a pandas DataFrame or pyarrow Table in, :class:`MeterData` out) and vectorised: no
Python loop runs over rows or meters.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from peergrid.core._common import localize_codes, occurrence_counts
from peergrid.core.errors import ConfigError, DataError
from peergrid.core.timeindex import check_timezone, localize_naive

__all__ = [
    "GAP_POLICIES",
    "UNITS",
    "MeterData",
    "MeterReport",
    "format_span",
    "localize_naive",
    "parse_meters",
    "read_meter_table",
    "read_meters",
]

Format = Literal["long", "wide", "auto"]
GapPolicy = Literal["error", "interpolate", "zero"]
Units = Literal["Wh", "kWh", "W", "kW"]

#: Accepted gap policies.
GAP_POLICIES: tuple[str, ...] = ("error", "interpolate", "zero")
#: Accepted units and their factor to kWh (energy) or kW (power, times the step in h).
UNITS: dict[str, tuple[float, bool]] = {"Wh": (1e-3, False), "kWh": (1.0, False), "W": (1e-3, True), "kW": (1.0, True)}

#: Column names recognised (lower case, spaces/dashes as underscores), in priority order.
TIME_NAMES = ("timestamp", "time", "datetime", "date_time", "time_stamp", "ts", "interval_start",
              "period_start", "start", "date", "zeitstempel", "zeit", "datum")
METER_NAMES = ("meter", "meter_id", "id", "meter_number", "meterid", "participant", "member", "member_id",
               "household", "home", "customer", "zaehler", "zähler", "serial")
VALUE_NAMES = ("kwh", "energy", "value", "energy_kwh", "wh", "energy_wh", "kw", "power", "power_kw", "w",
               "consumption", "reading", "wert", "energie", "verbrauch")
KIND_NAMES = ("kind", "direction", "flow", "type", "channel", "register", "richtung")
LOAD_KINDS = frozenset({"load", "import", "consumption", "demand", "in", "delivered", "bezug", "verbrauch", "+a",
                        "1.8.0"})
GEN_KINDS = frozenset({"generation", "export", "production", "pv", "feed-in", "feedin", "feed_in", "out",
                       "received", "injection", "einspeisung", "erzeugung", "-a", "2.8.0"})
_UNIT_FROM_NAME = {"kwh": "kWh", "energy_kwh": "kWh", "wh": "Wh", "energy_wh": "Wh", "kw": "kW", "power_kw": "kW",
                   "w": "W"}
#: Hint when gaps or conflicting duplicates form exactly one clock hour (naive data read in the wrong zone).
CLOCK_HINT = ("looks like a clock change: are the timestamps local time in another zone? check --tz "
              "([time] tz in a scenario)")
_HOUR_NS = 3_600_000_000_000
_AMBIGUOUS_DATE = re.compile(r"^\s*(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})")


@dataclass(frozen=True)
class MeterReport:
    """What :func:`parse_meters` found in a file and what it did.

    Attributes
    ----------
    origin : str
        File name (or ``"<frame>"``).
    format : str
        ``"long"`` or ``"wide"`` (as detected or given).
    columns : dict
        Columns used: ``time``, and for long files ``meter``, ``value``, ``kind``.
    meters : tuple of str
        Meter ids, in first-seen order.
    kinds : tuple of str
        Series found: ``("load",)`` or ``("load", "generation")``.
    start, end : pandas.Timestamp
        First period start and end of the last period, UTC.
    step : pandas.Timedelta
        Step length.
    steps : int
        Number of steps T.
    tz : str
        Zone naive timestamps were read in.
    timestamps : str
        ``"naive"`` (read in ``tz``) or ``"aware"`` (converted from their offsets).
    units : str
        Units of the values read (``Wh``, ``kWh``, ``W``, ``kW``).
    units_source : str
        Where the units came from: ``"given"``, ``"column name"`` or ``"default"``.
    dayfirst : bool
        Whether dates were read day first.
    label : str
        ``"start"`` or ``"end"``: what the file's timestamps labelled (the result
        always labels period starts).
    gaps : str
        Gap policy applied.
    missing_values : int
        Missing meter-steps found (absent rows and empty values).
    missing_timestamps : int
        Steps of the grid with no row at all.
    filled : int
        Missing meter-steps filled by the policy (0 under ``"error"``).
    first_gap : str
        Where the first gap is (``""`` when none).
    duplicates : int
        Identical duplicate rows dropped.
    negative : int
        Negative values (an error when > 0).
    dst : tuple of str
        Daylight-saving notes.
    notes : tuple of str
        Other observations (ambiguous dates, unit name mismatch, zero-filled series).
    actions : tuple of str
        Conversions applied, in order.
    problems : tuple of str
        Why the data cannot be used with these options (empty when usable).
    energy_kwh : dict
        Total energy per series after conversion and filling, kWh.
    """

    origin: str
    format: str
    columns: dict[str, str]
    meters: tuple[str, ...]
    kinds: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    step: pd.Timedelta
    steps: int
    tz: str
    timestamps: str
    units: str
    units_source: str
    dayfirst: bool
    gaps: str
    label: str = "start"
    missing_values: int = 0
    missing_timestamps: int = 0
    filled: int = 0
    first_gap: str = ""
    duplicates: int = 0
    negative: int = 0
    dst: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    energy_kwh: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the data can be used with these options."""
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (ISO times, step in minutes)."""
        local_start = self.start.tz_convert(self.tz)
        local_end = self.end.tz_convert(self.tz)
        return {
            "file": self.origin,
            "format": self.format,
            "columns": dict(self.columns),
            "meters": len(self.meters),
            "meter_ids": list(self.meters),
            "kinds": list(self.kinds),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "start_local": local_start.isoformat(),
            "end_local": local_end.isoformat(),
            "step_minutes": self.step.total_seconds() / 60,
            "steps": self.steps,
            "tz": self.tz,
            "timestamps": self.timestamps,
            "units": self.units,
            "units_source": self.units_source,
            "dayfirst": self.dayfirst,
            "label": self.label,
            "gaps": {
                "policy": self.gaps,
                "missing_values": self.missing_values,
                "missing_timestamps": self.missing_timestamps,
                "filled": self.filled,
                "first": self.first_gap,
            },
            "duplicates_dropped": self.duplicates,
            "negative_values": self.negative,
            "dst": list(self.dst),
            "notes": list(self.notes),
            "actions": list(self.actions),
            "problems": list(self.problems),
            "energy_kwh": {k: round(v, 6) for k, v in self.energy_kwh.items()},
            "ok": self.ok,
        }


@dataclass(frozen=True)
class MeterData:
    """Meter data as wide frames of kWh per step plus the report.

    Attributes
    ----------
    load : pandas.DataFrame
        ``(T, N)`` consumption (or grid import) energy per step, kWh; fixed-step UTC
        index (``freq`` set), one column per meter id.
    generation : pandas.DataFrame or None
        Generation (or grid export) energy per step, kWh, same index and columns;
        ``None`` when the file has no generation series.
    report : MeterReport
        What was found and done.
    """

    load: pd.DataFrame
    generation: pd.DataFrame | None
    report: MeterReport


# ---- I/O edge ------------------------------------------------------------------------------


def _sniff(path: Path) -> tuple[str, str]:
    """Delimiter and decimal point of a CSV file from its first lines."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        head = [fh.readline() for _ in range(50)]
    header = head[0]
    delim = max([",", ";", "\t"], key=header.count)
    if header.count(delim) == 0:
        delim = ","
    decimal = "."
    if delim != ",":
        rows = list(csv.reader(io.StringIO("".join(head[1:])), delimiter=delim))
        if any(re.fullmatch(r"-?\d+,\d+", cell.strip()) for row in rows for cell in row):
            decimal = ","
    return delim, decimal


def _is_empty(path: Path) -> bool:
    """True for a file of 0 bytes or only blank lines (reads up to the first non-blank byte)."""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            if chunk.strip(b" \t\r\n\x00\xef\xbb\xbf"):
                return False
    return True


def format_span(span: pd.Timedelta) -> str:
    """A duration in days, hours and minutes: ``"34 days 23 h"``, ``"1 day"``, ``"45 min"``.

    Parameters
    ----------
    span : pandas.Timedelta
        The duration (whole minutes; seconds are dropped).

    Returns
    -------
    str
    """
    minutes = int(pd.Timedelta(span).total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = ([f"{days} day" + ("s" if days != 1 else "")] if days else []) + ([f"{hours} h"] if hours else []) + (
        [f"{mins} min"] if mins else [])
    return " ".join(parts) or "0 min"


def read_meter_table(path: str | Path) -> pa.Table:
    """Read a CSV or Parquet meter file into a pyarrow Table (the I/O edge).

    CSV: the delimiter (``,`` ``;`` or tab) and a decimal comma (with ``;`` or tab)
    are detected; the first column and any column named like a timestamp or meter
    are kept as text. Parquet (``.parquet``/``.pq``) is read as stored.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    ConfigError
        If the file does not exist.
    DataError
        If it cannot be parsed.
    """
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: data file not found")
    if _is_empty(path):
        raise DataError(f"{path}: is empty (no header and no data rows)")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path}: cannot read Parquet: {str(exc).splitlines()[0]}") from None
    try:
        delim, decimal = _sniff(path)
        with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
            names = next(csv.reader([fh.readline()], delimiter=delim))
    except (OSError, StopIteration):
        raise DataError(f"{path}: cannot parse CSV: empty file") from None
    names = [n.strip() for n in names]
    text_cols = {names[0]} | {n for n in names if _norm(n) in TIME_NAMES + METER_NAMES + KIND_NAMES}
    try:
        return pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, encoding="utf8"),
            parse_options=pcsv.ParseOptions(delimiter=delim),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in text_cols}, decimal_point=decimal
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse CSV: {str(exc).splitlines()[0]}") from None


def read_meters(
    path: str | Path,
    *,
    format: Format = "auto",
    tz: str = "UTC",
    units: Units | None = None,
    dayfirst: bool = False,
    gaps: GapPolicy = "error",
    label: Literal["start", "end"] = "start",
    columns: dict[str, str] | None = None,
    strict: bool = True,
) -> MeterData:
    """Read a smart-meter export (long or wide, CSV or Parquet) as kWh per step.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV or Parquet file.
    format : {"auto", "long", "wide"}
        Layout; ``"auto"`` detects a meter and a value column (long) or not (wide).
    tz : str
        IANA zone of naive timestamps (the community's zone). Aware timestamps are
        converted to UTC whatever ``tz``.
    units : {"Wh", "kWh", "W", "kW"}, optional
        Units of the values: energy per step (Wh, kWh) or mean power over the step
        (W, kW). Default: from the value column's name, else kWh.
    dayfirst : bool
        Read dates like ``05.06.2023`` as day first (5 June).
    gaps : {"error", "interpolate", "zero"}
        What to do with missing meter-steps.
    label : {"start", "end"}
        Whether the timestamps label the start (default) or the end of their period
        (``00:15`` for 00:00–00:15; ``24:00`` is read as the next day's 00:00).
    columns : dict, optional
        Column names to use instead of detection: keys ``time``, ``meter``,
        ``value``, ``kind``.
    strict : bool
        ``True``: raise :class:`DataError` when the report has problems (gaps under
        ``"error"``, negative values). ``False``: return them in ``report.problems``
        (as ``peergrid data check`` does).

    Returns
    -------
    MeterData

    Raises
    ------
    ConfigError
        Missing file or bad option.
    DataError
        Unusable data (see the module docstring for the rules).
    """
    path = Path(path)
    table = read_meter_table(path)
    return parse_meters(table, format=format, tz=tz, units=units, dayfirst=dayfirst, gaps=gaps, label=label,
                        columns=columns, strict=strict, origin=str(path))


# ---- pure parsing ----------------------------------------------------------------------------


def _one_clock_hour(positions: np.ndarray, t0: int, step_ns: int, tz: str) -> bool:
    """Whether grid ``positions`` (sorted, unique) are exactly one hour starting on a local full hour."""
    n = len(positions)
    if n == 0 or n * step_ns != _HOUR_NS or positions[-1] - positions[0] + 1 != n:
        return False
    return pd.Timestamp(int(t0 + positions[0] * step_ns), tz="UTC").tz_convert(tz).minute == 0


def _forward_changes(times: np.ndarray, tz: str) -> list[str]:
    """Notes on the clock changes to summer time within ``times`` (sorted UTC ns) in ``tz``.

    The offset is computed for the distinct times at once; each change found (at most
    a few per year) is then located to the minute by bisection.
    """
    idx = pd.DatetimeIndex(times.view("datetime64[ns]")).tz_localize("UTC")
    off = idx.tz_convert(tz).tz_localize(None).asi8 - idx.asi8
    notes = []
    minute = 60_000_000_000

    def offset(ns: int) -> int:
        return int(pd.Timestamp(ns, tz="UTC").tz_convert(tz).utcoffset().total_seconds() * 1e9)

    for k in np.flatnonzero(np.diff(off) > 0)[:20]:
        lo, hi, before, after = int(times[k]), int(times[k + 1]), int(off[k]), int(off[k + 1])
        while hi - lo > minute:
            mid = lo + (hi - lo) // 2
            mid -= mid % minute
            if mid <= lo:
                break
            if offset(mid) == before:
                lo = mid
            else:
                hi = mid
        a, b = pd.Timestamp(hi + before), pd.Timestamp(hi + after)
        what = "that hour" if after - before == _HOUR_NS else f"those {format_span(pd.Timedelta(after - before))}"
        notes.append(f"clocks go forward on {a:%Y-%m-%d %H:%M} → {b:%H:%M} ({tz}): no rows expected for {what}")
    return notes


def _norm(name: str) -> str:
    """``"Energy (Wh)"`` -> ``"energy_wh"``, ``"Meter ID"`` -> ``"meter_id"``."""
    return re.sub(r"[\s\-()\[\]]+", "_", str(name).strip().lower()).strip("_")


def _find(names: list[str], candidates: tuple[str, ...]) -> str | None:
    normed = {_norm(n): n for n in reversed(names)}
    for c in candidates:
        if c in normed:
            return normed[c]
    return None


def _as_table(data: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    frame = data.reset_index() if not isinstance(data.index, pd.RangeIndex) else data
    frame.columns = [str(c) for c in frame.columns]
    return pa.Table.from_pandas(frame, preserve_index=False)


def _factorize(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (first-seen order) and the unique values of a column (one hash pass)."""
    enc = pc.dictionary_encode(col)
    chunks = enc.chunks if isinstance(enc, pa.ChunkedArray) else [enc]
    if not chunks:
        return np.zeros(0, np.int64), pa.array([], col.type)
    dictionary = chunks[-1].dictionary
    # the hash memo is shared across chunks: every chunk's dictionary is a prefix of the last one's
    if all(ch.dictionary.equals(dictionary.slice(0, len(ch.dictionary))) for ch in chunks):
        codes = np.concatenate([ch.indices.to_numpy(zero_copy_only=False) for ch in chunks]).astype(np.int64)
        return codes, dictionary
    uniques = pc.unique(col)  # pragma: no cover - fallback for another pyarrow behaviour
    return pc.index_in(col, value_set=uniques).to_numpy(zero_copy_only=False).astype(np.int64), uniques


def _numeric(col: pa.ChunkedArray, name: str, origin: str, hint: str = "") -> np.ndarray:
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
        arr = pc.cast(col, pa.float64())
    elif pa.types.is_null(col.type):
        arr = pa.chunked_array([pa.nulls(len(col), pa.float64())])
    else:
        text = pc.cast(col, pa.string())
        stripped = pc.utf8_trim_whitespace(text)
        try:
            arr = pc.cast(pc.if_else(pc.equal(stripped, ""), None, stripped), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = pc.unique(stripped).to_pylist()
            bad = next((v for v in values if v and not _is_number(v)), values[0] if values else "")
            raise DataError(f"{origin}: column {name!r} is not numeric (value {bad!r}){hint}") from None
    if arr.null_count:
        arr = arr.fill_null(np.nan)
    return arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


_H24 = re.compile(r"([ T])24:00(?=(:00(\.0+)?)?\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)?$)", re.IGNORECASE)
_OFFSET = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)


def _parse_strings(strings: list[str], dayfirst: bool) -> pd.DatetimeIndex:
    """Parse unique timestamp strings; raises ValueError/TypeError when they do not parse.

    All with a UTC offset (or ``Z``): converted to UTC. None: naive. A mix: error.
    ``dayfirst`` applies to d/m/y-style dates only (ISO dates are year-month-day).
    """
    import warnings

    aware = np.fromiter((bool(_OFFSET.search(s)) for s in strings), bool, len(strings))
    if aware.any() and not aware.all():
        raise ValueError("timestamps mix local times and times with a UTC offset")
    dayfirst = dayfirst and bool(_AMBIGUOUS_DATE.match(strings[0]))
    midnight = np.fromiter((bool(_H24.search(s)) for s in strings), bool, len(strings))
    if midnight.any():  # "24:00" (end of day, in interval-end exports) is the next day's 00:00
        strings = [_H24.sub(r"\g<1>00:00", s) if m else s for s, m in zip(strings, midnight, strict=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pd.to_datetime(pd.Index(strings), dayfirst=dayfirst, utc=bool(aware.all()))
    if midnight.any():
        out = out + pd.to_timedelta(midnight.astype(np.int64), unit="D")
    if not isinstance(out, pd.DatetimeIndex):  # pragma: no cover - defensive
        raise ValueError("timestamps do not parse to one time axis")
    return out


def _span(idx: pd.DatetimeIndex) -> pd.Timedelta:
    return idx.max() - idx.min()


def _parse_times(uniques: pa.Array, dayfirst: bool, origin: str, name: str) -> tuple[pd.DatetimeIndex, list[str]]:
    """Parse the unique timestamps of the time column (naive or UTC) with the day-first check."""
    notes: list[str] = []
    if pa.types.is_timestamp(uniques.type) or pa.types.is_date(uniques.type):
        idx = pd.DatetimeIndex(uniques.to_pandas())
        return idx, notes
    strings = [str(s).strip() for s in uniques.to_pylist() if s is not None]
    if len(strings) != len(uniques):
        raise DataError(f"{origin}: column {name!r} has empty timestamps")
    ambiguous = bool(strings) and all(_AMBIGUOUS_DATE.match(s) for s in strings[:100])
    try:
        idx = _parse_strings(strings, dayfirst)
        err = None
    except (ValueError, TypeError, OverflowError) as exc:
        idx, err = None, exc
    if ambiguous:
        try:
            other = _parse_strings(strings, not dayfirst)
        except (ValueError, TypeError, OverflowError):
            other = None
        flag = "true" if not dayfirst else "false"
        looks = "day-first" if not dayfirst else "month-first"
        advice = (f"{origin}: dates look {looks} (e.g. {strings[0]!r}); set dayfirst = {flag} "
                  f"(peergrid data check --{'no-' if dayfirst else ''}dayfirst)")
        if idx is None and other is not None:
            raise DataError(advice)
        if idx is not None and other is not None:
            if _span(other) * 2 < _span(idx):
                raise DataError(advice)
            if idx.equals(other):
                pass
            elif _span(other) == _span(idx):
                reading = "day first" if dayfirst else "month first"
                notes.append(f"dates like {strings[0]!r} are ambiguous; read {reading} "
                             f"(set dayfirst = {flag} if they are {looks})")
    if idx is None:
        raise DataError(f"{origin}: column {name!r} must hold timestamps "
                        f"(value {strings[0] if strings else ''!r}: {str(err).splitlines()[0]})")
    return idx, notes


def _fmt_step(td: pd.Timedelta) -> str:
    sec = td.total_seconds()
    if sec % 3600 == 0:
        return f"{int(sec // 3600)}h"
    if sec % 60 == 0:
        return f"{int(sec // 60)}min"
    return f"{sec:g}s"


def parse_meters(
    data: pd.DataFrame | pa.Table,
    *,
    format: Format = "auto",
    tz: str = "UTC",
    units: Units | None = None,
    dayfirst: bool = False,
    gaps: GapPolicy = "error",
    label: Literal["start", "end"] = "start",
    columns: dict[str, str] | None = None,
    strict: bool = True,
    origin: str = "<frame>",
) -> MeterData:
    """Check and convert a meter table already in memory (pure; see :func:`read_meters`).

    Parameters
    ----------
    data : pandas.DataFrame or pyarrow.Table
        The raw table (a DataFrame's non-range index is used as a column).
    format : {"auto", "long", "wide"}
        Layout (see :func:`read_meters`).
    tz : str
        IANA zone of naive timestamps.
    units : {"Wh", "kWh", "W", "kW"}, optional
        Units of the values; default from the value column's name, else kWh.
    dayfirst : bool
        Read dates like ``05.06.2023`` as day first.
    gaps : {"error", "interpolate", "zero"}
        What to do with missing meter-steps.
    label : {"start", "end"}
        Whether the timestamps label the start or the end of their period.
    columns : dict, optional
        Column names ``time``, ``meter``, ``value``, ``kind`` instead of detection.
    strict : bool
        Raise on problems (``True``) or return them in the report.
    origin : str
        Name used in messages.

    Returns
    -------
    MeterData
    """
    if format not in ("auto", "long", "wide"):
        raise ConfigError(f"format = {format!r}: use 'long', 'wide' or 'auto'")
    if label not in ("start", "end"):
        raise ConfigError(f"label = {label!r}: use 'start' or 'end' (what the timestamps label)")
    if gaps not in GAP_POLICIES:
        raise ConfigError(f"gaps = {gaps!r}: use one of {', '.join(GAP_POLICIES)}")
    if units is not None and units not in UNITS:
        raise ConfigError(f"units = {units!r}: use one of {', '.join(UNITS)}")
    try:
        tz = check_timezone(tz, "tz")
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    columns = dict(columns or {})
    unknown = set(columns) - {"time", "meter", "value", "kind"}
    if unknown:
        raise ConfigError(f"columns: unknown keys {sorted(unknown)} (use time, meter, value, kind)")
    table = _as_table(data)
    names = list(table.column_names)
    if not names or table.num_rows == 0:
        raise DataError(f"{origin}: no data rows")
    for role, col in columns.items():
        if col not in names:
            raise ConfigError(f"{origin}: column {col!r} ({role}) not found; columns are {names[:10]}")
    time_col = columns.get("time") or _find(names, TIME_NAMES) or names[0]
    meter_col = columns.get("meter") or _find([n for n in names if n != time_col], METER_NAMES)
    value_col = columns.get("value") or _find([n for n in names if n not in (time_col, meter_col)], VALUE_NAMES)
    kind_col = columns.get("kind") or _find([n for n in names if n not in (time_col, meter_col, value_col)],
                                            KIND_NAMES)
    if format == "auto":
        format = "long" if meter_col and value_col else "wide"
    if format == "long":
        if not meter_col or not value_col:
            raise DataError(
                f"{origin}: a long file needs a meter and a value column (found {names[:6]}); "
                "name them e.g. 'meter' and 'kwh', or set columns (scenario key columns, or data check "
                "--columns time=COL,meter=COL,value=COL)"
            )
        extra = [n for n in names if n not in (time_col, meter_col, value_col, kind_col)]
        if extra and not kind_col:
            kind_col = None
        used = {"time": time_col, "meter": meter_col, "value": value_col, **({"kind": kind_col} if kind_col else {})}
        value_name = value_col
    else:
        used = {"time": time_col}
        value_name = ""
        kind_col = None
    # units
    if units is not None:
        unit, unit_source = units, "given"
    elif value_name and _norm(value_name) in _UNIT_FROM_NAME:
        unit, unit_source = _UNIT_FROM_NAME[_norm(value_name)], "column name"
    else:
        unit, unit_source = "kWh", "default"
    notes: list[str] = []
    if units is not None and value_name and _norm(value_name) in _UNIT_FROM_NAME and \
            _UNIT_FROM_NAME[_norm(value_name)] != units:
        notes.append(f"column {value_name!r} suggests {_UNIT_FROM_NAME[_norm(value_name)]} but units = {units!r}")

    # ---- time column: parse the unique values only ------------------------------------------
    tcol = table.column(time_col)
    if tcol.null_count:
        raise DataError(f"{origin}: column {time_col!r} has {tcol.null_count} empty timestamps")
    t_code, t_uniq = _factorize(tcol)
    parsed, date_notes = _parse_times(t_uniq, dayfirst, origin, time_col)
    notes += date_notes
    n = table.num_rows

    # ---- series identity: meter and kind codes -----------------------------------------------
    if format == "long":
        mcol = table.column(meter_col)
        if mcol.null_count:
            raise DataError(f"{origin}: column {meter_col!r} has {mcol.null_count} empty meter ids")
        m_code, m_uniq = _factorize(pc.cast(mcol, pa.string()))
        meters = [str(m) for m in m_uniq.to_pylist()]
        values = _numeric(table.column(value_col), value_col, origin)
        if kind_col:
            k_raw, k_uniq = _factorize(pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(table.column(kind_col),
                                                                                     pa.string()))))
            labels = [str(k) for k in k_uniq.to_pylist()]
            bad = [k for k in labels if k not in LOAD_KINDS | GEN_KINDS]
            if bad:
                raise DataError(
                    f"{origin}: column {kind_col!r} has unknown value(s) {bad[:3]}; use import/load/consumption "
                    "or export/generation/pv/feed-in"
                )
            k_map = np.array([0 if k in LOAD_KINDS else 1 for k in labels], np.int64)
            k_code = k_map[k_raw]
        else:
            k_code = np.broadcast_to(np.int64(0), (n,))  # no memory
    else:
        value_cols = [c for c in names if c != time_col]
        if not value_cols:
            raise DataError(f"{origin}: no meter columns besides {time_col!r}")
        meters = [str(c) for c in value_cols]
        if len(set(meters)) != len(meters):
            raise DataError(f"{origin}: duplicate meter column names")
        hint = "; this looks like a long file (timestamp, meter, value): use format = 'long'"
        wide_vals = np.column_stack([_numeric(table.column(c), c, origin, hint if len(value_cols) <= 3 else "")
                                     for c in value_cols])
        k_code = np.broadcast_to(np.int64(0), (n,))

    # ---- to UTC (aware: convert; naive: localise in tz with the DST rule) ---------------------
    dst: list[str] = []
    if parsed.tz is not None:
        utc_u = parsed.tz_convert("UTC").as_unit("ns").asi8
        row_utc = utc_u[t_code]
        utc_used = utc_u
        stamp_kind = "aware"
    else:
        stamp_kind = "naive"
        local_u = pd.DatetimeIndex(parsed).as_unit("ns")
        occ = None
        if tz != "UTC":
            # occurrence of each local time within its series, only where it matters (ambiguous times)
            amb_u = local_u.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").isna()
            if amb_u.any():
                amb_rows = amb_u[t_code]
                occ = np.zeros(n, np.int64)
                sub = np.flatnonzero(amb_rows)
                series = k_code[sub] * len(meters) + m_code[sub] if format == "long" else np.zeros(len(sub), np.int64)
                occ[sub] = occurrence_counts(series * (len(t_uniq) + 1) + t_code[sub])
        row_utc, dst, utc_used = localize_codes(local_u, t_code, occ, tz, origin)

    # ---- step and grid ------------------------------------------------------------------------
    times = np.unique(utc_used)  # distinct UTC times, from the unique timestamps (not the rows)
    if len(times) < 2:
        raise DataError(f"{origin}: needs at least two distinct timestamps to find the step")
    diffs = np.diff(times)
    vals, counts = np.unique(diffs, return_counts=True)
    step_ns = int(vals[np.argmax(counts)])
    step = pd.Timedelta(step_ns, "ns")
    t0 = int(times[0])
    off = (times - t0) % step_ns
    if off.any():
        bad_t = pd.Timestamp(int(times[np.argmax(off != 0)]), tz="UTC")
        raise DataError(
            f"{origin}: irregular step: timestamps are mostly {_fmt_step(step)} apart but "
            f"{bad_t.tz_convert(tz):%Y-%m-%d %H:%M} ({tz}) is off that grid"
        )
    nm = diffs != step_ns
    same = (diffs[1:] == diffs[:-1]) & nm[1:] & nm[:-1]
    if len(same) >= 3 and (np.convolve(same.astype(np.int8), np.ones(3, np.int8), "valid") == 3).any():
        j = int(np.argmax(np.convolve(same.astype(np.int8), np.ones(3, np.int8), "valid") == 3))
        when = pd.Timestamp(int(times[j]), tz="UTC").tz_convert(tz)
        raise DataError(
            f"{origin}: irregular step: timestamps are mostly {_fmt_step(step)} apart but "
            f"{_fmt_step(pd.Timedelta(int(diffs[j]), 'ns'))} apart from {when:%Y-%m-%d %H:%M} ({tz}): "
            "the file mixes resolutions; resample it to one step first"
        )
    if step > pd.Timedelta("1D"):
        raise DataError(f"{origin}: step {step} is longer than a day; peergrid needs steps of at most 1 day")
    T = int((times[-1] - t0) // step_ns) + 1
    pos = (row_utc - t0) // step_ns
    first = t0 - step_ns if label == "end" else t0  # period starts
    index = pd.date_range(pd.Timestamp(first, tz="UTC"), periods=T, freq=pd.tseries.frequencies.to_offset(step))
    missing_ts = T - len(times)
    clock_hint = False
    if stamp_kind == "naive" and missing_ts and missing_ts * step_ns == _HOUR_NS:
        have = np.zeros(T, bool)
        have[(times - t0) // step_ns] = True
        clock_hint = _one_clock_hour(np.flatnonzero(~have), t0, step_ns, tz)
    if stamp_kind == "naive" and tz != "UTC":
        dst = _forward_changes(times, tz) + dst

    # ---- pivot to (K, T, N), duplicates ----------------------------------------------------------
    N = len(meters)
    dup_dropped = 0
    if format == "long":
        K = int(k_code.max()) + 1 if kind_col else 1
        cell = pos * N + m_code
        if kind_col:
            cell += k_code * (T * N)
        counts_c = np.bincount(cell, minlength=K * T * N)
        if counts_c.max() > 1:
            rows = np.flatnonzero(counts_c[cell] > 1)
            order = rows[np.lexsort((values[rows], cell[rows]))]
            c_sorted, v_sorted = cell[order], values[order]
            same_cell = c_sorted[1:] == c_sorted[:-1]
            v_a, v_b = v_sorted[1:], v_sorted[:-1]
            conflict = same_cell & ~((v_a == v_b) | (np.isnan(v_a) & np.isnan(v_b)))
            if conflict.any():
                j = int(np.argmax(conflict))
                r = order[j]
                dpos = np.unique(pos[rows])
                hint = stamp_kind == "naive" and _one_clock_hour(dpos, t0, step_ns, tz)
                raise DataError(
                    f"{origin}: duplicate rows with different values for meter {meters[m_code[r]]!r} at "
                    f"{pd.Timestamp(int(row_utc[r]), tz='UTC').tz_convert(tz).isoformat()} "
                    f"({v_b[j]:g} and {v_a[j]:g})" + (f"; {CLOCK_HINT}" if hint else "")
                )
            dup_dropped = int(same_cell.sum())
        arr = np.full((K, T, N), np.nan)
        arr.reshape(-1)[cell] = values
        present = np.zeros((K, N), bool)
        if kind_col:
            present[k_code, m_code] = True
        else:
            present[:] = True  # every meter id comes from a row
    else:
        K = 1
        counts_t = np.bincount(pos, minlength=T)
        if counts_t.max() > 1:
            dup_pos = np.flatnonzero(counts_t > 1)
            rows = np.flatnonzero(counts_t[pos] > 1)
            order = rows[np.argsort(pos[rows], kind="stable")]
            p_sorted = pos[order]
            same = p_sorted[1:] == p_sorted[:-1]
            a, b = wide_vals[order[1:]], wide_vals[order[:-1]]
            differ = same & ~np.all((a == b) | (np.isnan(a) & np.isnan(b)), axis=1)
            if differ.any():
                when = pd.Timestamp(int(t0 + dup_pos[0] * step_ns), tz="UTC").tz_convert(tz)
                hint = stamp_kind == "naive" and _one_clock_hour(dup_pos, t0, step_ns, tz)
                raise DataError(f"{origin}: duplicate timestamp {when.isoformat()} with different values"
                                + (f"; {CLOCK_HINT}" if hint else ""))
            dup_dropped = int(same.sum())
        arr = np.full((1, T, N), np.nan)
        arr[0, pos, :] = wide_vals
        present = np.ones((1, N), bool)

    # ---- gaps --------------------------------------------------------------------------------------
    for k in range(K):
        arr[k][:, ~present[k]] = 0.0  # a meter without this series: zero, not gaps
    isnan = np.isnan(arr)
    n_missing = int(isnan.sum())
    first_gap = ""
    problems: list[str] = []
    actions: list[str] = []
    kinds = ("load", "generation")[:K]
    if n_missing:
        k, t, i = np.argwhere(isnan)[0]
        when = index[t].tz_convert(tz)
        first_gap = f"{when.isoformat()}, meter {meters[i]!r}" + (f" ({kinds[k]})" if K > 1 else "")
        full_missing = isnan.all(axis=1) & present
        if full_missing.any():
            k, i = np.argwhere(full_missing)[0]
            raise DataError(f"{origin}: meter {meters[i]!r} has no values at all")
        if gaps == "error":
            problems.append(
                f"{n_missing} missing value(s) (gaps: absent rows, empty cells or NaN), first at {first_gap}; "
                "set gaps = 'interpolate' or 'zero'" + (f"; but it {CLOCK_HINT}" if clock_hint else "")
            )
        elif gaps == "zero":
            arr[isnan] = 0.0
            actions.append(f"filled {n_missing} missing value(s) with 0")
        else:
            for k in range(K):
                frame = pd.DataFrame(arr[k])
                arr[k] = frame.interpolate(method="linear", limit_direction="both", axis=0).to_numpy()
            actions.append(f"interpolated {n_missing} missing value(s) linearly in time")
    filled = n_missing if (n_missing and gaps != "error") else 0
    if dup_dropped:
        actions.insert(0, f"dropped {dup_dropped} identical duplicate row(s)")

    # ---- units ---------------------------------------------------------------------------------------
    factor, is_power = UNITS[unit]
    if is_power:
        factor *= step.total_seconds() / 3600.0
    if factor != 1.0:
        arr *= factor
        what = f"mean power ({unit}) x {step.total_seconds() / 3600:g} h" if is_power else unit
        actions.append(f"converted {what} to kWh per step (x {factor:g})")
    neg = arr < 0
    n_neg = int(neg.sum())
    if n_neg:
        k, t, i = np.argwhere(neg)[0]
        problems.append(
            f"{n_neg} negative value(s), first meter {meters[i]!r} at {index[t].tz_convert(tz).isoformat()}: "
            "give load and generation as separate non-negative series (a kind column import/export)"
        )
    if clock_hint:
        notes.append(CLOCK_HINT)
    if label == "end":
        actions.append(f"read the timestamps as period ends: each period starts {_fmt_step(step)} earlier")
    if stamp_kind == "naive" and tz != "UTC":
        actions.append(f"read naive timestamps as {tz} local time and converted them to UTC")
    elif stamp_kind == "aware":
        actions.append("converted timestamps with UTC offsets to UTC")
    if K == 2:
        absent = [f"{meters[i]} ({kinds[k]})" for k, i in np.argwhere(~present)[:5]]
        if absent:
            more = ", …" if int((~present).sum()) > len(absent) else ""
            notes.append(f"{int((~present).sum())} meter series absent, read as zero: {', '.join(absent)}{more}")

    report = MeterReport(
        origin=origin, format=format, columns=used, meters=tuple(meters), kinds=kinds,
        start=index[0], end=index[-1] + step, step=step, steps=T, tz=tz, timestamps=stamp_kind,
        units=unit, units_source=unit_source, dayfirst=dayfirst, gaps=gaps, label=label, missing_values=n_missing,
        missing_timestamps=missing_ts, filled=filled, first_gap=first_gap, duplicates=dup_dropped,
        negative=n_neg, dst=tuple(dst), notes=tuple(notes), actions=tuple(actions), problems=tuple(problems),
        energy_kwh={kinds[k]: float(np.nansum(arr[k]) if n_missing and not filled else arr[k].sum())
                    for k in range(K)},
    )
    if strict and problems:
        raise DataError(f"{origin}: {problems[0]}")
    load = pd.DataFrame(arr[0], index=index, columns=meters)
    gen = pd.DataFrame(arr[1], index=index, columns=meters) if K == 2 else None
    return MeterData(load=load, generation=gen, report=report)
