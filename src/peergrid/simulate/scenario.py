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
    retail = "citylearn"   # the shipped time-of-use tariff, or a number (currency/kWh)
    feed_in = 0.07
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

Unknown keys and out-of-range values raise :class:`~peergrid.ConfigError` naming
the key and the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError, PeergridError
from peergrid.core.timeindex import validate_index
from peergrid.core.tomlconfig import read_toml, validate_model
from peergrid.market.bidding import BIDDING, MARKETS, check_market, is_order_market


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
    """Grid tariffs: retail λb and feed-in λs (currency/kWh)."""

    retail: float | Literal["citylearn", "milford-haven"] = "citylearn"
    feed_in: float = Field(default=0.07, ge=0)
    currency: str = "USD"

    @model_validator(mode="after")
    def _check(self) -> TariffConfig:
        if isinstance(self.retail, float) and self.retail < self.feed_in:
            raise ValueError(f"retail = {self.retail} must not be below feed_in = {self.feed_in}")
        return self


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
        """
        from peergrid.data import citylearn_community, synthetic_community

        c, t = self.community, self.tariff
        if c.source == "milford-haven":
            return self._milford_haven_community()
        if t.retail == "milford-haven":
            raise ConfigError("[tariff].retail = 'milford-haven' applies to source = 'milford-haven' only")
        if c.source == "csv":
            return self._csv_community(Path(base_dir))
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
                feed_in=t.feed_in,
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
                feed_in=t.feed_in,
                pv_kwp_range=c.pv_kwp_range,
                battery_kwh_range=c.battery_kwh_range,
                **kwargs,
            )
        if isinstance(t.retail, float):
            if t.retail < com.feed_in.max():
                raise ConfigError(f"[tariff].retail = {t.retail} is below the feed-in tariff")
            com = dataclasses.replace(com, retail=t.retail, currency=t.currency)
        com.name = self.name
        com.currency = t.currency
        return com

    def _milford_haven_community(self) -> Community:
        from peergrid.data.milford_haven import FEED_IN, milford_haven_community

        c, t = self.community, self.tariff
        if t.retail == "citylearn" and "retail" in t.model_fields_set:
            raise ConfigError("[tariff].retail = 'citylearn' does not apply to source = 'milford-haven'")
        try:
            n = self.time.n_periods(default_days=1)
        except ValueError as exc:
            raise ConfigError(f"[time]: {exc}") from None
        days = n * self.time.step / pd.Timedelta("1D")
        if abs(days - round(days)) > 1e-9:
            raise ConfigError(f"[time]: source = 'milford-haven' needs whole days, got {days:g}")
        com = milford_haven_community(
            self.time.start or "2019-04-16",
            round(days),
            self.time.freq,
            retail=t.retail if isinstance(t.retail, float) else None,
            feed_in=t.feed_in if "feed_in" in t.model_fields_set else FEED_IN,
            batteries=c.batteries,
            boats=bool(c.boats),
            clearness=1.0 if c.clearness is None else c.clearness,
        )
        if isinstance(t.retail, float) and t.retail < com.feed_in.max():
            raise ConfigError(f"[tariff].retail = {t.retail} is below the feed-in tariff")
        com.name = self.name
        com.currency = t.currency if "currency" in t.model_fields_set else "GBP"
        return com

    def _csv_community(self, base: Path) -> Community:
        c, t = self.community, self.tariff
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
        if t.retail == "citylearn":
            from peergrid.data import load_citylearn

            price = load_citylearn().retail_price
            hours = ((load.index - price.index[0]) // pd.Timedelta("1h")) % len(price)
            retail: object = price.to_numpy()[np.asarray(hours)]
        else:
            retail = t.retail
        try:
            return Community.from_frames(
                load, gen, parts, retail=retail, feed_in=t.feed_in, name=self.name,
                source=f"user data: {c.load}" + (f", {c.generation}" if c.generation else ""), currency=t.currency,
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
