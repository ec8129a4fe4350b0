"""The :class:`Community` — one obvious entry object with tidy tables behind it.

A community is a fixed-step UTC time index, a participants table and ``(T, N)``
arrays of load and generation energy per step, plus the grid tariffs. Markets and
controllers are functions applied to it (DESIGN.md, *Layers*).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.core.timeindex import check_timezone, localize_naive, step_hours, validate_index
from peergrid.core.types import AnyArray, ArrayLike, FloatArray, IndexArray

if TYPE_CHECKING:
    from peergrid.market.tariff import Tariff

#: Participant table columns and their defaults (units in the column names' docs below).
PARTICIPANT_DEFAULTS: dict[str, float | str | int] = {
    "pv_kwp": 0.0,  # installed PV, kWp
    "wind_kw": 0.0,  # rated wind power, kW
    "battery_kwh": 0.0,  # usable battery capacity, kWh
    "battery_kw": 0.0,  # battery charge/discharge power limit, kW
    "battery_eff_charge": 0.95,  # charge efficiency, 1
    "battery_eff_discharge": 0.95,  # discharge efficiency, 1
    "soc_min": 0.1,  # lower SOC bound, fraction of capacity
    "soc_max": 1.0,  # upper SOC bound, fraction of capacity
    "soc_init": 0.5,  # initial SOC, fraction of capacity
    "phase": "a",  # LV phase a/b/c
    "node": 0,  # feeder node (bus index)
}


def _as_time_array(value: ArrayLike, n: int, what: str) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise DataError(f"{what}: expected {n} values (one per step), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{what}: contains NaN or infinite values")
    return arr


@dataclass
class Community:
    """A local energy community.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Fixed-step UTC index of length T (period starts).
    participants : pandas.DataFrame
        One row per participant (N rows) with an ``id`` column and the columns of
        :data:`PARTICIPANT_DEFAULTS` (missing ones are filled with the defaults).
        ``role`` is derived: ``"prosumer"`` when the participant generates energy,
        ``"consumer"`` otherwise.
    load : numpy.ndarray or BlockSource
        ``(T, N)`` consumption energy per step, kWh (≥ 0). A :class:`BlockSource` makes the
        community *lazy* (:attr:`lazy`): it is read block by block by the streaming simulator
        and materialised (once, cached) only if a caller reads ``community.load`` as a whole.
    generation : numpy.ndarray or BlockSource
        ``(T, N)`` local generation energy per step (PV + wind), kWh (≥ 0); lazy like ``load``.
    retail : float or array-like
        Grid retail price λb per step, currency/kWh (scalar or length T, time-of-use).
    feed_in : float or array-like
        Feed-in tariff λs per step, currency/kWh; must satisfy λs ≤ λb.
    name : str
        Human-readable name.
    source : str
        Provenance of the profiles (dataset, licence, synthetic method).
    currency : str
        Currency code of the tariffs.
    tz : str
        IANA time zone of the community (e.g. ``"Europe/Berlin"``). Storage and the
        ``index`` stay UTC; reports, daily profiles and time-of-use tariffs use local
        time (:attr:`local_index`), across daylight-saving changes.
    tariff : peergrid.market.tariff.Tariff, optional
        The full tariff (network, standing, demand, VAT, export limit) that ``retail`` and
        ``feed_in`` were derived from; used for bills (``Result.bills()``). Build with
        :func:`peergrid.market.tariff.apply_tariff`, which sets ``retail``, ``feed_in`` and
        ``currency`` from it. None: ``retail``/``feed_in`` are the whole tariff.
    carbon_intensity : float or array-like, optional
        Carbon intensity of grid electricity per step, kgCO2/kWh (a scalar is a flat
        factor; or length T, time-varying; ≥ 0). The metric ``emissions_kg`` charges it on
        grid import and the ``"co2"`` objectives of the controllers read it
        (:func:`peergrid.control.objective_view`). None (the default): unknown, emissions
        are not computed (NaN). The shipped CityLearn data (and the synthetic members built
        from them) carry the data set's hourly series; scenarios give every other source a
        flat factor (``[carbon] intensity``, docs/carbon.md). Slicing (:meth:`select`) and
        views keep it aligned with the time index.
    """

    index: pd.DatetimeIndex
    participants: pd.DataFrame
    load: FloatArray
    generation: FloatArray
    retail: FloatArray | float = 0.30  # a (T,) array after construction
    feed_in: FloatArray | float = 0.08  # a (T,) array after construction
    name: str = "community"
    source: str = "user data"
    currency: str = "USD"
    meta: dict[str, object] = field(default_factory=dict)
    tz: str = "UTC"
    tariff: Tariff | None = None
    carbon_intensity: FloatArray | float | None = None  # a (T,) array or None after construction

    def __post_init__(self) -> None:
        self.tz = check_timezone(self.tz, f"{self.name}: time zone")
        if self.tariff is not None and self.tariff.currency != self.currency:
            raise DataError(
                f"{self.name}: currency {self.currency!r} differs from the tariff's {self.tariff.currency!r}"
            )
        self.index = validate_index(self.index, f"{self.name}: time index")
        T = len(self.index)
        lazy = isinstance(self.load, BlockSource) or isinstance(self.generation, BlockSource)
        if lazy:
            self._init_sources(T)
        else:
            self.load = np.ascontiguousarray(self.load, dtype=np.float64)
            self.generation = np.ascontiguousarray(self.generation, dtype=np.float64)
        for what, arr in () if lazy else (("load", self.load), ("generation", self.generation)):
            if arr.ndim != 2 or arr.shape[0] != T:
                raise DataError(f"{self.name}: {what} must have shape (T={T}, N), got {arr.shape}")
            # min/max propagate NaN and need no temporary: cheap on (35,040 x 10,000) arrays
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
            if not (np.isfinite(lo) and np.isfinite(hi)):
                t, i = np.argwhere(~np.isfinite(arr))[0]
                raise DataError(f"{self.name}: {what} has NaN/inf at step {t}, participant {i}")
            if lo < 0:
                t, i = np.argwhere(arr < 0)[0]
                raise DataError(f"{self.name}: {what} is negative at step {t}, participant {i}")
        shapes = (self.load_shape, self.generation_shape) if lazy else (self.load.shape, self.generation.shape)
        if shapes[0] != shapes[1]:
            raise DataError(f"{self.name}: load {shapes[0]} and generation {shapes[1]} differ in shape")
        N = shapes[0][1]
        gen_sums = self.__dict__["_sources"]["generation"].column_sums() if lazy else self.generation.sum(axis=0)
        self.participants = _normalise_participants(self.participants, N, gen_sums, self.name)
        self.retail = _as_time_array(self.retail, T, f"{self.name}: retail tariff")
        self.feed_in = _as_time_array(self.feed_in, T, f"{self.name}: feed-in tariff")
        if np.any(self.feed_in > self.retail):
            t = int(np.argmax(self.feed_in > self.retail))
            raise DataError(
                f"{self.name}: feed-in tariff {self.feed_in[t]} exceeds retail {self.retail[t]} at step {t}"
            )
        if np.any(self.feed_in < 0):
            raise DataError(f"{self.name}: feed-in tariff must be >= 0")
        if self.carbon_intensity is not None:
            ci = _as_time_array(self.carbon_intensity, T, f"{self.name}: carbon intensity")
            if np.any(ci < 0):
                t = int(np.argmax(ci < 0))
                raise DataError(f"{self.name}: carbon intensity {ci[t]} kgCO2/kWh is negative at step {t}")
            self.carbon_intensity = ci

    # ---- lazy (blocked) series --------------------------------------------------------
    def _init_sources(self, T: int) -> None:
        """Keep block sources for ``load``/``generation`` instead of arrays (see :class:`BlockSource`)."""
        sources: dict[str, BlockSource] = {}
        for what in ("load", "generation"):
            src = self.__dict__.pop(what)
            if not isinstance(src, BlockSource):
                src = ArraySource(src)
            if len(src.shape) != 2 or src.shape[0] != T:
                raise DataError(f"{self.name}: {what} must have shape (T={T}, N), got {src.shape}")
            sources[what] = src
        self.__dict__["_sources"] = sources

    def __getattr__(self, name: str) -> object:
        # only reached when normal lookup fails: ``load``/``generation`` of a lazy community are
        # materialised on first access (once, then cached) for code that needs whole arrays
        sources = self.__dict__.get("_sources")
        if sources is not None and name in sources:
            arr = sources[name].materialise()
            self.__dict__[name] = arr
            return arr
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def lazy(self) -> bool:
        """True when ``load``/``generation`` come from block sources and are read per time block.

        A lazy community never holds a ``(T, N)`` array unless a caller reads :attr:`load`,
        :attr:`generation` or :attr:`net` as a whole (they are then materialised once and
        cached); the streaming simulator (``peergrid.simulate(..., series=...)``) reads blocks
        only (:meth:`load_block`, :meth:`generation_block`, :meth:`net_block`).
        """
        return "_sources" in self.__dict__

    @property
    def load_shape(self) -> tuple[int, int]:
        """``(T, N)`` of the load, without materialising a lazy source."""
        src = self.__dict__.get("_sources")
        return tuple(src["load"].shape) if src is not None else self.load.shape

    @property
    def generation_shape(self) -> tuple[int, int]:
        """``(T, N)`` of the generation, without materialising a lazy source."""
        src = self.__dict__.get("_sources")
        return tuple(src["generation"].shape) if src is not None else self.generation.shape

    def _block(self, what: str, rows: slice) -> FloatArray:
        out: FloatArray
        if what in self.__dict__:  # an array (given, or a lazy source already materialised)
            out = self.__dict__[what][rows]
        else:
            out = self.__dict__["_sources"][what].block(rows)
        return out

    def gather_spec(self, what: str, rows: slice) -> tuple[FloatArray, IndexArray, FloatArray]:
        """``(table, column, factor)`` with ``table[t, column[i]] * factor[i]`` = ``what`` at step ``rows.start + t``.

        For the fused kernels of the streaming simulator: a lazy profile source gives its
        ``(B, K)`` profile rows, each member's profile and scale; anything else its block with
        identity columns and factors 1 (exact).
        """
        if what not in self.__dict__:
            src = self.__dict__["_sources"][what]
            spec = getattr(src, "gather_spec", None)
            if spec is not None:
                out: tuple[FloatArray, IndexArray, FloatArray] = spec(rows)
                return out
        block = np.ascontiguousarray(self._block(what, rows), dtype=np.float64)
        n = self.N
        if what not in self.__dict__ and not isinstance(self.__dict__["_sources"][what], ArraySource):
            _check_block(block, (len(range(*rows.indices(self.T))), n), f"{self.name}: {what}", rows)
        return block, np.arange(n, dtype=np.intp), np.ones(n)

    def load_block(self, rows: slice) -> FloatArray:
        """Load of the steps ``rows``, ``(len(rows), N)`` kWh per step (a view for array communities)."""
        return self._block("load", rows)

    def generation_block(self, rows: slice) -> FloatArray:
        """Generation of the steps ``rows``, ``(len(rows), N)`` kWh per step (a view for array communities)."""
        return self._block("generation", rows)

    def net_block(self, rows: slice) -> FloatArray:
        """Net energy before control of the steps ``rows``, a new ``(len(rows), N)`` array, kWh (+ import)."""
        out = np.array(self.load_block(rows), dtype=np.float64, copy=True)
        out -= self.generation_block(rows)
        return out

    # ---- shape ---------------------------------------------------------------------
    @property
    def T(self) -> int:
        """Number of time steps."""
        return len(self.index)

    @property
    def N(self) -> int:
        """Number of participants."""
        return self.load_shape[1]

    @property
    def dt(self) -> float:
        """Step length in hours."""
        return step_hours(self.index)

    @property
    def local_index(self) -> pd.DatetimeIndex:
        """The time index in the community's local time zone (:attr:`tz`)."""
        return self.index.tz_convert(self.tz)

    @property
    def ids(self) -> AnyArray:
        """Participant ids, length N."""
        return self.participants["id"].to_numpy()

    @property
    def net(self) -> FloatArray:
        """``(T, N)`` net energy before control, kWh: consumption − generation (+ = import).

        A new array on every access (callers modify it in place); code that only needs some
        steps reads :meth:`net_block`, which never allocates the whole horizon.
        """
        return self.load - self.generation

    # ---- constructors / views --------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        load: pd.DataFrame,
        generation: pd.DataFrame | None = None,
        participants: pd.DataFrame | None = None,
        **kwargs: object,
    ) -> Community:
        """Build a community from wide DataFrames (time x participant, kWh per step).

        Timestamps are treated as in scenario data files: a **naive** index holds
        local times in the community zone ``tz`` (default ``"UTC"``) and is converted
        to UTC (a repeated autumn hour: first occurrence summer time, second standard
        time; a local time that does not exist raises :class:`DataError`); an
        **aware** index is converted to UTC. The constructor itself stays strict: it
        takes a UTC (aware) index only.

        Parameters
        ----------
        load : pandas.DataFrame
            Consumption energy per step, kWh; index is the time index (naive local
            time in ``tz``, or aware), columns are participant ids.
        generation : pandas.DataFrame, optional
            Generation energy per step, kWh, same index and columns; zeros if omitted.
        participants : pandas.DataFrame, optional
            Participants table; built from the column names if omitted.
        **kwargs
            Passed to :class:`Community` (``retail``, ``feed_in``, ``name``, ``tz``, ...).

        Returns
        -------
        Community
        """
        tz = check_timezone(str(kwargs.get("tz", "UTC")), "from_frames: tz")
        load = load.set_axis(_to_utc(load.index, tz, "load"), axis=0)
        if generation is not None:
            generation = generation.set_axis(_to_utc(generation.index, tz, "generation"), axis=0)
        if generation is None:
            generation = pd.DataFrame(0.0, index=load.index, columns=load.columns)
        if not generation.index.equals(load.index):
            raise DataError("generation and load have different time indexes")
        if list(generation.columns) != list(load.columns):
            raise DataError("generation and load have different participant columns")
        if participants is None:
            participants = pd.DataFrame({"id": [str(c) for c in load.columns]})
        return cls(
            index=pd.DatetimeIndex(load.index),
            participants=participants,
            load=load.to_numpy(dtype=np.float64),
            generation=generation.to_numpy(dtype=np.float64),
            **kwargs,  # type: ignore[arg-type]
        )

    def select(
        self, participants: slice | AnyArray | list[object] | None = None, steps: slice | None = None
    ) -> Community:
        """Return a sub-community (some participants and/or a time slice).

        Parameters
        ----------
        participants : slice, array of int/bool, or list of ids, optional
            Participants to keep.
        steps : slice, optional
            Time steps to keep (contiguous).

        Returns
        -------
        Community
        """
        cols: slice | AnyArray = slice(None)
        if participants is not None:
            if (
                isinstance(participants, list)
                and participants
                and not isinstance(participants[0], (int, np.integer, bool))
            ):
                pos = {p: k for k, p in enumerate(self.ids)}
                missing = [p for p in participants if p not in pos]
                if missing:
                    raise DataError(f"unknown participant ids: {missing[:5]}")
                cols = np.array([pos[p] for p in participants])
            else:
                cols = participants if isinstance(participants, slice) else np.asarray(participants)
        rows = steps if steps is not None else slice(None)
        parts = self.participants.iloc[cols].reset_index(drop=True)
        return Community(
            index=self.index[rows],
            participants=parts,
            load=self.load[rows][:, cols],
            generation=self.generation[rows][:, cols],
            retail=np.asarray(self.retail)[rows],
            feed_in=np.asarray(self.feed_in)[rows],
            name=self.name,
            source=self.source,
            currency=self.currency,
            meta=dict(self.meta),
            tz=self.tz,
            tariff=self.tariff,
            carbon_intensity=None if self.carbon_intensity is None else np.asarray(self.carbon_intensity)[rows],
        )

    def load_frame(self) -> pd.DataFrame:
        """Load as a wide DataFrame (time x participant id), kWh per step."""
        return pd.DataFrame(self.load, index=self.index, columns=self.ids)

    def generation_frame(self) -> pd.DataFrame:
        """Generation as a wide DataFrame (time x participant id), kWh per step."""
        return pd.DataFrame(self.generation, index=self.index, columns=self.ids)

    def _total(self, what: str) -> float:
        """Σ of ``load`` or ``generation`` over steps and members, kWh (blocked for a lazy source)."""
        if what in self.__dict__:
            return float(self.__dict__[what].sum())
        return float(self.__dict__["_sources"][what].column_sums().sum())

    def summary(self) -> dict[str, object]:
        """Headline figures: size, span, energy totals (kWh), counts by role, mean carbon intensity (kgCO2/kWh)."""
        roles = self.participants["role"].value_counts().to_dict()
        return {
            "name": self.name,
            "participants": self.N,
            "prosumers": int(roles.get("prosumer", 0)),
            "consumers": int(roles.get("consumer", 0)),
            "batteries": int((self.participants["battery_kwh"] > 0).sum()),
            "steps": self.T,
            "step_hours": self.dt,
            "tz": self.tz,
            "tariff": self.tariff.to_dict() if self.tariff is not None else None,
            "currency": self.currency,
            "start": self.index[0].isoformat(),
            "end": (self.index[-1] + self.index.freq).isoformat(),  # type: ignore[operator]  # freq: a Tick, set
            "load_kwh": self._total("load"),
            "generation_kwh": self._total("generation"),
            "carbon_intensity": (
                None if self.carbon_intensity is None else float(np.mean(self.carbon_intensity))
            ),  # kgCO2/kWh, time average (None: unknown)
            "source": self.source,
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Community({s['name']!r}, N={s['participants']} ({s['prosumers']} prosumers, "
            f"{s['batteries']} batteries), T={s['steps']} x {s['step_hours']} h from {s['start']})"
        )


def _to_utc(index: pd.Index, tz: str, what: str) -> pd.DatetimeIndex:
    """A naive index as local time in ``tz``, an aware one as is, both converted to UTC."""
    if not isinstance(index, pd.DatetimeIndex):
        try:
            index = pd.DatetimeIndex(index)
        except (ValueError, TypeError):
            raise DataError(f"{what}: index must hold timestamps, got {type(index).__name__}") from None
    if index.tz is not None:
        return index.tz_convert("UTC")
    utc, _ = localize_naive(index, tz, what=f"{what} index ({tz})")
    return pd.DatetimeIndex(pd.to_datetime(utc, unit="ns", utc=True))


class BlockSource:
    """A ``(T, N)`` series of energy per step (kWh, finite, ≥ 0) read in blocks of time steps.

    Subclasses implement :meth:`block` (and may override :meth:`column_sums`); a
    :class:`Community` built with a block source for ``load`` or ``generation`` is *lazy*
    (:attr:`Community.lazy`): the streaming simulator reads it block by block and no
    ``(T, N)`` array is ever allocated. A source guarantees what the constructor would
    check on an array: finite, non-negative values.

    Attributes
    ----------
    shape : tuple of int
        ``(T, N)``.
    """

    shape: tuple[int, int]

    def block(self, rows: slice) -> FloatArray:
        """Values of the steps ``rows`` (a slice with step 1), a ``(len(rows), N)`` float64 array, kWh."""
        raise NotImplementedError

    def materialise(self, block: int = 4096) -> FloatArray:
        """The whole ``(T, N)`` float64 array, kWh (filled block by block)."""
        T, N = self.shape
        out = np.empty((T, N), dtype=np.float64)
        for start in range(0, T, block):
            rows = slice(start, min(start + block, T))
            out[rows] = self.block(rows)
        return out

    def column_sums(self, block: int = 4096) -> FloatArray:
        """Σ over steps per column, length N, kWh."""
        T, N = self.shape
        out = np.zeros(N)
        for start in range(0, T, block):
            out += self.block(slice(start, min(start + block, T))).sum(axis=0)
        return out


def _check_block(block: FloatArray, shape: tuple[int, int], what: str, rows: slice) -> None:
    """A block read from a user's :class:`BlockSource`: its shape, finite and ≥ 0 (DataError otherwise)."""
    if block.shape != shape:
        raise DataError(f"{what}: block source returned shape {block.shape} for steps {rows.start}.., expected {shape}")
    if block.size and not (np.isfinite(block.min()) and np.isfinite(block.max())):
        raise DataError(f"{what}: block source returned NaN/inf values at steps {rows.start}..")
    if block.size and block.min() < 0:
        raise DataError(f"{what}: block source returned negative values at steps {rows.start}..")


class ArraySource(BlockSource):
    """A :class:`BlockSource` over an in-memory array (checked like the constructor checks arrays)."""

    def __init__(self, values: ArrayLike) -> None:
        arr = np.ascontiguousarray(values, dtype=np.float64)
        if arr.ndim != 2:
            raise DataError(f"expected a (T, N) array, got shape {arr.shape}")
        if arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            raise DataError("series has NaN/inf values")
        if arr.size and arr.min() < 0:
            raise DataError("series has negative values")
        self.values = arr
        self.shape = arr.shape

    def block(self, rows: slice) -> FloatArray:
        return self.values[rows]

    def materialise(self, block: int = 4096) -> FloatArray:
        return self.values


def _normalise_participants(table: pd.DataFrame | None, n: int, generation: FloatArray, name: str) -> pd.DataFrame:
    if table is None:
        table = pd.DataFrame({"id": [f"p{i:05d}" for i in range(n)]})
    table = pd.DataFrame(table).reset_index(drop=True).copy()
    if len(table) != n:
        raise DataError(f"{name}: participants table has {len(table)} rows but data has {n} columns")
    if "id" not in table:
        table.insert(0, "id", [f"p{i:05d}" for i in range(n)])
    table["id"] = table["id"].astype(str)
    if table["id"].duplicated().any():
        raise DataError(f"{name}: duplicate participant id {table['id'][table['id'].duplicated()].iloc[0]!r}")
    unknown = set(table.columns) - set(PARTICIPANT_DEFAULTS) - {"id", "role", "source_home"}
    if unknown:
        raise DataError(f"{name}: unknown participant columns {sorted(unknown)}")
    for col, default in PARTICIPANT_DEFAULTS.items():
        if col not in table:
            table[col] = default
    numeric = [c for c, d in PARTICIPANT_DEFAULTS.items() if isinstance(d, float)]
    for col in numeric:
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise DataError(f"{name}: participant column {col!r} has missing or non-numeric values")
        if np.any(values < 0):
            i = int(np.argmax(values < 0))
            raise DataError(f"{name}: participant {table['id'][i]!r} has negative {col} = {values[i]}")
        table[col] = values
    for col in ("battery_eff_charge", "battery_eff_discharge", "soc_min", "soc_max", "soc_init"):
        if np.any(table[col] > 1):
            i = int(np.argmax(table[col] > 1))
            raise DataError(f"{name}: participant {table['id'][i]!r} has {col} = {table[col][i]} > 1")
    has_batt = table["battery_kwh"] > 0
    bad = has_batt & (
        (table["soc_min"] > table["soc_max"])
        | (table["battery_eff_charge"] <= 0)
        | (table["battery_eff_discharge"] <= 0)
    )
    if bad.any():
        raise DataError(f"{name}: participant {table['id'][bad].iloc[0]!r} has inconsistent battery parameters")
    generates = (table["pv_kwp"] > 0) | (table["wind_kw"] > 0) | (np.asarray(generation) > 0)
    table["role"] = np.where(generates, "prosumer", "consumer")
    table["phase"] = table["phase"].astype(str)
    table["node"] = table["node"].astype(np.int64)
    cols = ["id", "role", *PARTICIPANT_DEFAULTS, *(["source_home"] if "source_home" in table else [])]
    return table[cols]
