"""Scenario files: TOML studies validated by pydantic (DESIGN.md, *Configs*).

A scenario names a community (real CityLearn homes or synthetic members built from
them), a time window, tariffs, a controller and the markets to compare::

    name = "lange-urban"
    [time]
    start = "2022-08-01"
    days = 7
    freq = "15min"
    [community]
    source = "synthetic"
    households = 100
    pv_share = 0.4
    battery_share = 0.2
    seed = 7
    [tariff]
    retail = "citylearn"   # the data set's time-of-use tariff (USD), or a number (currency/kWh)
    feed_in = 0.07         # or: tariff = "de-household" / "my-tariff.toml", or the full model
    [simulation]
    control = "greedy"
    markets = ["baseline", "bs", "mmr", "sdr"]

Order-book markets (``"uniform"``, ``"pay-as-bid"``, ``"mcafee"``, ``"bilateral"``) may be
listed in ``markets`` too; an optional ``[market]`` table sets how their orders are
priced and cleared (:mod:`peergrid.market.bidding`)::

    [market]
    bidding = "zero-intelligence"   # or "truthful" (default)
    k = 0.5                         # uniform / bilateral price k·bid + (1 − k)·ask
    seed = 1                        # zero-intelligence prices and arrival order
    fee = 0.0                       # bilateral: network fee per kWh, currency/kWh

``source = "milford-haven"`` builds the five harbour buildings of Petri et al.
(:func:`peergrid.data.milford_haven.milford_haven_community`; ``[time].start`` is the
local date, ``days`` whole days; ``boats`` and ``clearness`` apply to it only; the
tariff defaults to its TOU tariff, ``retail = "milford-haven"``, in GBP).

``[tariff]`` is described in :class:`TariffConfig` and docs/tariffs.md: data from
``source = "csv"`` needs one (with a currency); the shipped data sets default to their own,
named in every output.

Unknown keys and out-of-range values raise :class:`~peergrid.ConfigError` naming
the key and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError, PeergridError
from peergrid.core.timeindex import validate_index
from peergrid.core.tomlconfig import read_toml, validate_model
from peergrid.market.bidding import BIDDING, MARKETS, check_market, is_order_market

if TYPE_CHECKING:
    from peergrid.market.tariff import Tariff


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeConfig(_Strict):
    """Time window: start (UTC), length (``days`` or ``periods``) and step ``freq``."""

    start: str | None = None  # default: the data start (CityLearn) or 2022-08-01 (synthetic)
    days: float | None = Field(default=None, gt=0, le=3660)
    periods: int | None = Field(default=None, gt=0)
    freq: str = "1h"

    @model_validator(mode="after")
    def _check(self) -> TimeConfig:
        if self.days is not None and self.periods is not None:
            raise ValueError("give either days or periods, not both")
        try:
            if self.start is not None:
                pd.Timestamp(self.start)
        except (ValueError, TypeError):
            raise ValueError(f"start {self.start!r} is not a date/time") from None
        try:
            step = pd.Timedelta(pd.tseries.frequencies.to_offset(self.freq))
        except (ValueError, TypeError):
            raise ValueError(f"freq {self.freq!r} is not a step length like '15min' or '1h'") from None
        if step <= pd.Timedelta(0) or step > pd.Timedelta("1D"):
            raise ValueError(f"freq {self.freq!r} must be between 1 second and 1 day")
        return self

    @property
    def step(self) -> pd.Timedelta:
        """Step length."""
        return pd.Timedelta(pd.tseries.frequencies.to_offset(self.freq))

    def n_periods(self, default_days: float = 365) -> int:
        """Number of steps of the window."""
        if self.periods is not None:
            return self.periods
        days = self.days if self.days is not None else default_days
        n = pd.Timedelta(days=days) / self.step
        if abs(n - round(n)) > 1e-9:
            raise ValueError(f"days = {days} is not a whole number of {self.freq} steps")
        return round(n)


class CommunityConfig(_Strict):
    """Who is in the community."""

    source: Literal["citylearn", "synthetic", "csv", "milford-haven"] = "synthetic"
    load: str | None = None
    generation: str | None = None
    participants: str | None = None
    households: int | None = Field(default=None, gt=0, le=1_000_000)
    pv_share: float | None = Field(default=None, ge=0, le=1)
    prosumers: int | None = Field(default=None, ge=0)
    battery_share: float = Field(default=0.3, ge=0, le=1)
    batteries: bool = True
    homes: list[str] | None = None
    seed: int = 0
    pv_kwp_range: tuple[float, float] = (3.0, 8.0)
    battery_kwh_range: tuple[float, float] = (5.0, 13.5)
    boats: bool | None = None  # milford-haven: electric boats (default false)
    clearness: float | None = Field(default=None, gt=0, le=1)  # milford-haven: factor on clear sky (default 1)

    @model_validator(mode="after")
    def _check(self) -> CommunityConfig:
        if self.source != "milford-haven":
            for key in ("boats", "clearness"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} applies to source = 'milford-haven' only")
        elif self.homes is not None:
            raise ValueError("homes applies to source = 'citylearn' only")
        if self.source == "synthetic":
            if self.households is None:
                raise ValueError("synthetic communities need households")
            if self.pv_share is not None and self.prosumers is not None:
                raise ValueError("give either pv_share or prosumers, not both")
            if self.prosumers is not None and self.prosumers > self.households:
                raise ValueError(f"prosumers = {self.prosumers} exceeds households = {self.households}")
            if self.homes is not None:
                raise ValueError("homes applies to source = 'citylearn' only")
        else:
            for key in ("households", "pv_share", "prosumers"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} applies to source = 'synthetic' only")
        if self.source == "csv" and self.load is None:
            raise ValueError("source = 'csv' needs a load file")
        if self.source != "csv":
            for key in ("load", "generation", "participants"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} applies to source = 'csv' only")
        for key in ("pv_kwp_range", "battery_kwh_range"):
            lo, hi = getattr(self, key)
            if not 0 <= lo <= hi:
                raise ValueError(f"{key} must be [low, high] with 0 <= low <= high")
        return self


class TariffConfig(_Strict):
    """Grid tariff (``[tariff]``; see :mod:`peergrid.market.tariff` and docs/tariffs.md).

    Either a tariff file or shipped tariff name (``tariff = "de-household"`` at the top
    level, or ``file = ...`` here, with any of the keys below overriding it), the old keys
    (``retail`` = a price or ``"citylearn"`` / ``"milford-haven"``, ``feed_in``,
    ``currency``), or the full model: ``energy`` (a price or a ``[tariff.energy]`` table
    with ``type = "tou"`` / ``"dynamic"``), ``dynamic = "prices.csv"``, ``network``,
    ``local_network``, ``tax_per_kwh``, ``vat``, ``standing_per_day``,
    ``demand_per_kw_month``, ``feed_in``, ``export_limit_kw``. Prices in currency/kWh,
    net of VAT.
    """

    file: str | None = None
    retail: float | Literal["citylearn", "milford-haven"] | None = None
    energy: float | dict[str, Any] | None = None
    dynamic: str | None = None
    feed_in: float | dict[str, Any] | None = None
    network: float | dict[str, Any] | None = None
    local_network: float | dict[str, Any] | None = None
    tax_per_kwh: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    vat: float | None = Field(default=None, ge=0, lt=1, allow_inf_nan=False)
    standing_per_day: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    demand_per_kw_month: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    export_limit_kw: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = None
    name: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TariffConfig:
        for key in ("feed_in", "retail", "energy", "network", "local_network"):
            v = getattr(self, key)
            if isinstance(v, float) and not (v >= 0 and v < float("inf")):
                raise ValueError(f"{key} must be a price >= 0 (currency/kWh), got {v}")
        if isinstance(self.retail, float) and isinstance(self.feed_in, float) and self.retail < self.feed_in:
            raise ValueError(f"retail = {self.retail} must not be below feed_in = {self.feed_in}")
        given = [k for k in ("retail", "energy", "dynamic") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of retail, energy, dynamic (got {', '.join(given)})")
        return self

    def changes(self) -> dict[str, Any]:
        """The keys given, in :func:`peergrid.market.tariff.tariff_from_mapping` form."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if k != "file"}


class SimulationConfig(_Strict):
    """Controller and markets."""

    control: Literal[
        "none", "greedy", "rule", "peak", "lp", "lp-community", "mpc", "ev-smart", "ev-immediate"
    ] = "greedy"
    markets: list[str] = Field(default_factory=lambda: ["baseline", "bs", "mmr", "sdr"])
    market: str | None = None

    @model_validator(mode="after")
    def _check(self) -> SimulationConfig:
        for m in self.all_markets:
            check_market(m)  # a ConfigError is a ValueError: pydantic reports it with the key
        if not self.markets:
            raise ValueError("markets must not be empty")
        return self

    @property
    def all_markets(self) -> list[str]:
        """``markets`` plus ``market``, as written."""
        return [*self.markets, *([self.market] if self.market else [])]


class MarketConfig(_Strict):
    """How the order-book markets price and clear the orders built from net positions."""

    bidding: Literal[BIDDING] = "truthful"  # type: ignore[valid-type]
    k: float = Field(default=0.5, ge=0, le=1)
    seed: int = 0
    fee: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    def options(self) -> dict[str, object]:
        """Keyword arguments of :func:`peergrid.simulate` / :func:`peergrid.compare`."""
        return self.model_dump()


class Scenario(_Strict):
    """A complete study definition (see the module docstring for the TOML layout)."""

    name: str = "scenario"
    description: str = ""
    reference: str = ""
    time: TimeConfig = TimeConfig()
    community: CommunityConfig = CommunityConfig(source="citylearn")
    tariff: TariffConfig = TariffConfig()
    simulation: SimulationConfig = SimulationConfig()
    market: MarketConfig = MarketConfig()

    @model_validator(mode="before")
    @classmethod
    def _tariff_file(cls, data: Any) -> Any:
        # tariff = "de-household" or "tariffs/mine.toml": a tariff file or shipped name
        if isinstance(data, dict) and isinstance(data.get("tariff"), str):
            data = {**data, "tariff": {"file": data["tariff"]}}
        return data

    @model_validator(mode="after")
    def _check_market(self) -> Scenario:
        if "market" in self.model_fields_set and not any(is_order_market(m) for m in self.simulation.all_markets):
            raise ValueError(
                f"[market] applies to the order-book markets only; add one of "
                f"{', '.join(m for m in MARKETS if is_order_market(m))} to [simulation].markets"
            )
        return self

    def build_community(self, base_dir: str | Path = ".") -> Community:
        """Create the community the scenario describes.

        Parameters
        ----------
        base_dir : str or pathlib.Path
            Directory that relative data-file paths are resolved against (the
            scenario file's directory).

        Returns
        -------
        Community
            With its :attr:`~Community.tariff` (:meth:`resolve_tariff`); ``retail`` and
            ``feed_in`` are that tariff's marginal prices.
        """
        c = self.community
        if c.source == "milford-haven":
            com = self._milford_haven_community()
        elif c.source == "csv":
            com = self._csv_community(Path(base_dir))
        else:
            com = self._profile_community()
        return self._with_tariff(com, Path(base_dir))

    def _profile_community(self) -> Community:
        from peergrid.data import citylearn_community, synthetic_community

        c = self.community
        try:
            periods = self.time.n_periods()
        except ValueError as exc:
            raise ConfigError(f"[time]: {exc}") from None
        if c.source == "citylearn":
            com = citylearn_community(
                homes=c.homes,
                start=self.time.start,
                periods=periods,
                freq=self.time.freq,
                with_batteries=c.batteries,
            )
        else:
            kwargs: dict[str, object] = {}
            if c.prosumers is not None:
                kwargs["n_prosumers"] = c.prosumers
            com = synthetic_community(
                c.households,  # type: ignore[arg-type]
                start=self.time.start or "2022-08-01",
                periods=periods,
                freq=self.time.freq,
                pv_share=c.pv_share if c.pv_share is not None else 0.5,
                battery_share=c.battery_share if c.batteries else 0.0,
                seed=c.seed,
                pv_kwp_range=c.pv_kwp_range,
                battery_kwh_range=c.battery_kwh_range,
                **kwargs,
            )
        return com

    def _milford_haven_community(self) -> Community:
        from peergrid.data.milford_haven import milford_haven_community

        c = self.community
        try:
            n = self.time.n_periods(default_days=1)
        except ValueError as exc:
            raise ConfigError(f"[time]: {exc}") from None
        days = n * self.time.step / pd.Timedelta("1D")
        if abs(days - round(days)) > 1e-9:
            raise ConfigError(f"[time]: source = 'milford-haven' needs whole days, got {days:g}")
        return milford_haven_community(
            self.time.start or "2019-04-16",
            round(days),
            self.time.freq,
            batteries=c.batteries,
            boats=bool(c.boats),
            clearness=1.0 if c.clearness is None else c.clearness,
        )

    # ---- tariff ---------------------------------------------------------------------
    def _with_tariff(self, com: Community, base: Path) -> Community:
        from peergrid.market.tariff import apply_tariff

        com = apply_tariff(com, self.resolve_tariff(com, base))
        com.name = self.name
        return com

    def resolve_tariff(self, community: Community, base_dir: str | Path = ".") -> Tariff:
        """The scenario's tariff for ``community`` (built from this scenario's data).

        No silent defaults: data from ``source = "csv"`` needs a ``[tariff]`` (or
        ``tariff = "..."``) with a currency; the shipped data sets default to their own
        tariff, named in the outputs (``"citylearn"``: the CityLearn 2022 data set's
        hourly time-of-use price in USD with an assumed feed-in of 0.07 USD/kWh, for
        ``citylearn`` and ``synthetic``; ``"milford-haven"``: its GBP TOU tariff).

        Parameters
        ----------
        community : Community
            The community the data sources built (its ``tz`` is the TOU clock).
        base_dir : str or pathlib.Path
            Directory relative tariff and price files are resolved against.

        Returns
        -------
        Tariff
        """
        from peergrid.market.tariff import tariff_from_mapping, update_tariff

        base = Path(base_dir)
        src, t = self.community.source, self.tariff
        if "tariff" not in self.model_fields_set:
            if src == "csv":
                raise ConfigError(
                    "[tariff] is required for source = 'csv' (peergrid does not guess your prices or currency): "
                    'add tariff = "de-household" (a shipped tariff), tariff = "my-tariff.toml", or a [tariff] '
                    'table such as currency = "EUR", energy = 0.30, feed_in = 0.08 (see docs/tariffs.md)'
                )
            return self._dataset_tariff(community)
        changes = t.changes()
        name = t.file
        if isinstance(t.retail, str):
            del changes["retail"]
            if (src == "milford-haven") != (t.retail == "milford-haven"):
                if t.retail == "milford-haven":
                    raise ConfigError("[tariff].retail = 'milford-haven' applies to source = 'milford-haven' only")
                raise ConfigError("[tariff].retail = 'citylearn' does not apply to source = 'milford-haven'")
            name = t.retail
        has_price = any(k in changes for k in ("retail", "energy", "dynamic"))
        if name is not None:
            tariff = self._named_tariff(name, community, base)
        elif not has_price and src != "csv":
            tariff = self._dataset_tariff(community)  # the data set's prices with some keys changed
        else:
            if src == "csv" and "currency" not in changes:
                raise ConfigError(
                    "[tariff].currency is required for source = 'csv' (e.g. currency = \"EUR\"); "
                    "peergrid does not guess it"
                )
            if src != "csv":
                dataset = self._dataset_tariff(community)
                changes.setdefault("currency", dataset.currency)
                changes.setdefault("feed_in", dataset.feed_in_rate.to_dict())
            changes.setdefault("name", "flat" if set(changes) <= {"retail", "feed_in", "currency"} else "custom")
            return tariff_from_mapping(changes, base_dir=base, tz=community.tz, what="[tariff]")
        return update_tariff(tariff, changes, base_dir=base, tz=community.tz, what="[tariff]")

    def _dataset_tariff(self, com: Community) -> Tariff:
        """The shipped data set's own tariff (the documented default of its sources)."""
        from peergrid.market.tariff import Rate, Tariff, shipped_tariff

        if self.community.source == "milford-haven":
            return shipped_tariff("milford-haven")
        if self.community.source == "csv":
            raise ConfigError("source = 'csv' has no tariff of its own")
        # citylearn and synthetic (members built from the CityLearn homes): the data set's hourly price
        return Tariff(
            currency="USD",
            energy=Rate.dynamic(pd.Series(com.retail, index=com.index), source="CityLearn 2022 data set"),
            feed_in=float(np.max(com.feed_in)),
            name="citylearn",
            description="the CityLearn 2022 data set's hourly time-of-use price (USD/kWh); feed-in 0.07 USD/kWh "
            "assumed (none ships with the data)",
        )

    def _named_tariff(self, name: str, com: Community, base: Path) -> Tariff:
        from peergrid.market.tariff import SHIPPED_TARIFFS, read_tariff, shipped_tariff

        path = Path(name) if Path(name).is_absolute() else base / name
        if path.is_file():
            return read_tariff(path, tz=com.tz)
        if name == "citylearn" and self.community.source in ("citylearn", "synthetic"):
            return self._dataset_tariff(com)
        if name in SHIPPED_TARIFFS:
            return shipped_tariff(name)
        raise ConfigError(
            f"[tariff]: tariff file {path} not found; shipped tariffs are {', '.join(SHIPPED_TARIFFS)}"
        )

    def _csv_community(self, base: Path) -> Community:
        c = self.community
        load = read_energy_csv(base / c.load)  # type: ignore[operator]
        gen = read_energy_csv(base / c.generation) if c.generation else None
        if gen is not None:
            if gen.shape != load.shape:
                raise DataError(f"{c.generation}: shape {gen.shape} does not match {c.load} {load.shape}")
            if not gen.index.equals(load.index) or list(gen.columns) != list(load.columns):
                raise DataError(f"{c.generation}: timestamps or participant columns differ from {c.load}")
        parts = None
        if c.participants:
            path = base / c.participants
            if not path.is_file():
                raise ConfigError(f"{path}: participants file not found")
            parts = pd.read_csv(path)
            if "id" not in parts:
                raise DataError(f"{path}: needs an 'id' column")
            parts["id"] = parts["id"].astype(str)
            missing = set(load.columns) - set(parts["id"])
            if missing:
                raise DataError(f"{path}: no row for participants {sorted(missing)[:5]}")
            parts = parts.set_index("id").loc[list(load.columns)].reset_index()
        try:
            # prices and currency come from the scenario's tariff (_with_tariff); none are assumed here
            return Community.from_frames(
                load, gen, parts, retail=0.0, feed_in=0.0, name=self.name,
                source=f"user data: {c.load}" + (f", {c.generation}" if c.generation else ""),
            )
        except DataError as exc:
            raise DataError(f"{c.load}: {exc}") from None

    @property
    def markets(self) -> list[str]:
        """Markets to compare (canonical names, in the file's order)."""
        return [check_market(m) for m in self.simulation.markets]


def scenario_from_dict(data: dict, origin: str = "<dict>") -> Scenario:
    """Validate a scenario mapping.

    Parameters
    ----------
    data : dict
        Parsed TOML.
    origin : str
        File name for error messages.

    Returns
    -------
    Scenario
    """
    return validate_model(Scenario, data, origin, tables=True)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    Scenario

    Raises
    ------
    ConfigError
        Missing file, malformed TOML, unknown key or out-of-range value.
    """
    return scenario_from_dict(read_toml(path, "scenario file"), str(path))


def read_energy_csv(path: Path) -> pd.DataFrame:
    """Read a wide energy CSV: first column timestamps, one column per participant, kWh per step.

    Parameters
    ----------
    path : pathlib.Path
        CSV file. Naive timestamps are read as UTC.

    Returns
    -------
    pandas.DataFrame
        Validated: fixed-step UTC index without gaps or duplicates, no NaN, numeric.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: data file not found")
    try:
        df = pd.read_csv(path, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse CSV: {str(exc).splitlines()[0]}") from None
    if df.shape[1] == 0 or len(df) == 0:
        raise DataError(f"{path}: no data columns or rows")
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(df.index, utc=True))
    except (ValueError, TypeError):
        raise DataError(f"{path}: first column must hold timestamps") from None
    df.index = idx
    try:
        df = df.apply(pd.to_numeric, errors="raise")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: non-numeric value ({exc})") from None
    if df.isna().any().any():
        row, col = np.argwhere(df.isna().to_numpy())[0]
        raise DataError(f"{path}: missing value (NaN) at {df.index[row].isoformat()}, column {df.columns[col]!r}")
    df.index = validate_index(df.index, f"{path}: time index")
    df.columns = [str(c) for c in df.columns]
    return df


def build(scenario: Scenario, origin: str = "scenario") -> Community:
    """Build a scenario's community, prefixing data errors with the scenario origin.

    Parameters
    ----------
    scenario : Scenario
    origin : str
        File name for error messages.

    Returns
    -------
    Community
    """
    try:
        return scenario.build_community(Path(origin).parent if origin != "scenario" else ".")
    except PeergridError as exc:
        raise type(exc)(f"{origin}: {exc}") from None
