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
    control = "greedy"                # any name of peergrid.control.CONTROLLERS
    coordination = "none"            # or "price-response": re-plan on the internal prices
    max_iterations = 10              # price response: re-plans at most
    tolerance = 1e-4                 # price response: convergence tolerance, currency/kWh
    forecaster = "perfect"           # or "persistence", "ridge", "fedavg": plan and trade on forecasts
    markets = ["baseline", "bs", "mmr", "sdr"]

With ``forecaster`` other than ``"perfect"`` an optional ``[forecast]`` table sets the
forecaster's options (:class:`peergrid.simulate.forecasting.ForecastOptions`)::

    [forecast]
    train_days = 28        # ridge / fedavg: rolling training window, days (0: all past days)
    min_train_days = 7     # ridge / fedavg: persistence until this many training days exist
    season_days = 1        # persistence: same slot 1 day (or 7: a week) earlier
    seed = 0               # fedavg: client draws

Order-book markets (``"uniform"``, ``"pay-as-bid"``, ``"mcafee"``, ``"bilateral"``) may be
listed in ``markets`` too; an optional ``[market]`` table sets how their orders are
priced and cleared (:mod:`peergrid.market.bidding`)::

    [market]
    bidding = "zero-intelligence"   # or "truthful" (default), "zic", "zip" (peergrid.market.agents)
    k = 0.5                         # uniform / bilateral price k·bid + (1 − k)·ask
    seed = 1                        # random prices, agents' margins and arrival order
    fee = 0.0                       # bilateral: network fee per kWh, currency/kWh
    learning_rate = 0.3             # zip: Widrow–Hoff rate β ∈ (0, 1]
    momentum = 0.05                 # zip: momentum γ ∈ [0, 1)

An optional ``[grid]`` table makes the run network-aware (:mod:`peergrid.simulate.network`):
the members sit on a feeder, exports that break a limit are curtailed and re-matched, buyers
pay Tooki et al. (2025) eq. 12 line fees and everyone pays a share of the losses::

    [grid]
    feeder = "default"           # the radial LV feeder built from the members' node/phase, or a pandapower JSON file
    max_line_loading_pct = 100.0
    v_min_pu = 0.95
    v_max_pu = 1.05
    max_vim_pct = 2.0            # optional: unbalanced (three-phase) flow and a VIM limit (eq. 13)
    fee_per_kwh = 0.01           # tau_L of eq. 12 at full utilisation, currency/kWh

``source = "milford-haven"`` builds the five harbour buildings of Petri et al.
(:func:`peergrid.data.milford_haven.milford_haven_community`; ``[time].start`` is the
local date, ``days`` whole days; ``boats`` and ``clearness`` apply to it only; the
tariff defaults to its TOU tariff, ``retail = "milford-haven"``, in GBP).

``source = "csv"`` reads the users' own meter exports (docs/data.md): long or wide, CSV or
Parquet, with ``format``, ``units``, ``dayfirst``, ``gaps`` and ``columns``; naive timestamps
are local time in ``[time] tz`` (the community's zone, default ``"UTC"``, honoured for every
source); ``[time] start/days/periods`` select a window of the data and ``freq`` resamples it
(a multiple of the data step). Keys that would have no effect with a source are rejected by
name (``battery_share``, ``seed``, the ranges: synthetic only)::

    [time]
    tz = "Europe/Berlin"
    [community]
    source = "csv"
    load = "meters-long.csv"
    participants = "participants.csv"
    units = "Wh"
    gaps = "interpolate"

An optional ``[invest]`` table holds the cost assumptions of the cost–benefit analysis
(``peergrid invest``, and a section of the report;
:class:`peergrid.economics.CostAssumptions`, docs/economics.md), with the platform's
message traffic in ``[invest.platform]`` (:class:`peergrid.economics.PlatformTraffic`)::

    [invest]
    discount_rate = 0.05
    lifetime = 25
    pv_cost_per_kwp = 1200.0
    [invest.platform]
    reading_bytes = 250

Carbon and the controllers' objective (docs/carbon.md): ``[carbon] intensity`` is the grid's
carbon intensity — a flat factor in kgCO2/kWh, ``"citylearn"`` (the data set's hourly series,
the default of ``citylearn`` and ``synthetic``) or a CSV file; other sources default to
:data:`peergrid.data.carbon.DEFAULT_CARBON_INTENSITY`. ``[simulation] objective = "co2"`` or
``"cost+co2"`` (with ``co2_price``, currency/kgCO2) makes the controllers minimise emissions::

    [carbon]
    intensity = 0.35          # kgCO2/kWh; or "citylearn", or "grid-carbon.csv" (with column, unit)
    [simulation]
    control = "lp"
    objective = "cost+co2"
    co2_price = 0.10          # currency/kgCO2

Wind turbines (``[wind]``, :class:`WindConfig`): participants with ``wind_kw`` > 0 (the
participants file of csv data, ``members``, or a random ``share`` of the members with
``kw_range``) generate from a wind-speed series::

    [wind]
    speed = "tmy3"            # pvlib's shipped typical year (or "tmy3-sand-point", or a CSV file)
    model = "cubic"           # Tooki et al. (2025) eq. 3; or "turbine" (windpowerlib power curve)
    share = 0.05
    kw_range = [3.0, 10.0]

A ``[region]`` table makes the scenario a *region* of many synthetic communities, each
with its own members, market and battery control, optionally with an inter-community
market that clears the communities' residual grid import and export per slot
(:mod:`peergrid.simulate.region`, docs/region.md)::

    [region]
    communities = 100          # communities in the region (1 to 100,000)
    homes = 100                # members per community (default [community].households)
    pv_share = [0.2, 0.6]      # optional: each community's PV share, uniform in this range
    battery_share = [0.1, 0.3] # optional: each community's battery share, uniform in this range
    inter_market = "sdr"       # "none" (default) or a pool rule: "bs", "mmr", "sdr"

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
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError, PeergridError
from peergrid.core.timeindex import check_timezone
from peergrid.core.tomlconfig import read_toml, validate_model
from peergrid.data.meters import MeterReport, read_meters
from peergrid.economics.assumptions import CostAssumptions
from peergrid.market.bidding import BIDDING
from peergrid.market.mechanisms import FEE_OPTION, K_OPTION, MARKETS, check_market, is_order_market, mechanism_names
from peergrid.simulate._common import drop_none
from peergrid.simulate.coordination import COORDINATION
from peergrid.simulate.forecasting import FORECASTERS, ForecastOptions

if TYPE_CHECKING:
    from peergrid.market.tariff import Tariff


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeConfig(_Strict):
    """Time window: start, length (``days`` or ``periods``), step ``freq`` and zone ``tz``.

    ``tz`` is the community's IANA time zone (default ``"UTC"``), set as
    :attr:`Community.tz` for every source; a naive ``start`` and naive timestamps in
    user data files are local times in it.
    """

    start: str | None = None  # default: the data start (CityLearn, csv) or 2022-08-01 (synthetic)
    days: float | None = Field(default=None, gt=0, le=3660)
    periods: int | None = Field(default=None, gt=0)
    freq: str = "1h"  # csv: default the data's own step
    tz: str = "UTC"

    @model_validator(mode="after")
    def _check(self) -> TimeConfig:
        if self.days is not None and self.periods is not None:
            raise ValueError("give either days or periods, not both")
        try:
            check_timezone(self.tz, "tz")
        except DataError as exc:
            raise ValueError(str(exc)) from None
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

    def start_utc(self) -> pd.Timestamp | None:
        """``start`` as a UTC timestamp (a naive start is local time in :attr:`tz`)."""
        if self.start is None:
            return None
        ts = pd.Timestamp(self.start)
        if ts.tzinfo is None:
            try:
                ts = ts.tz_localize(self.tz, ambiguous="raise", nonexistent="raise")
            except (ValueError, TypeError) as exc:  # pytz/zoneinfo errors derive from ValueError
                raise ConfigError(
                    f"[time].start = {self.start!r} is not a valid local time in {self.tz}: {exc}"
                ) from None
        return ts.tz_convert("UTC")

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
    format: Literal["auto", "long", "wide"] = "auto"  # csv: layout of the data files
    units: Literal["Wh", "kWh", "W", "kW"] | None = None  # csv: default from the value column's name, else kWh
    dayfirst: bool = False  # csv: dates like 05.06.2023 are 5 June
    gaps: Literal["error", "interpolate", "zero"] = "error"  # csv: missing values
    label: Literal["start", "end"] = "start"  # csv: the timestamps label period starts or ends
    columns: dict[str, str] | None = None  # csv: column names {time, meter, value, kind}
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
            for key in ("load", "generation", "participants", "format", "units", "dayfirst", "gaps", "label",
                        "columns"):
                if key in self.model_fields_set:
                    raise ValueError(f"{key} applies to source = 'csv' only")
        if self.source != "synthetic":
            for key in ("battery_share", "seed", "pv_kwp_range", "battery_kwh_range"):
                if key in self.model_fields_set:
                    where = (
                        "give batteries and PV per participant in the participants file"
                        if self.source == "csv" else "the source's homes have their own PV and batteries"
                    )
                    raise ValueError(f"{key} applies to source = 'synthetic' only ({where})")
        if self.columns is not None:
            unknown = set(self.columns) - {"time", "meter", "value", "kind"}
            if unknown:
                raise ValueError(f"columns: unknown keys {sorted(unknown)} (use time, meter, value, kind)")
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
    """Controller, coordination and markets.

    ``control`` is any name of :data:`peergrid.control.CONTROLLERS`; ``coordination =
    "price-response"`` re-plans it on each market's internal prices
    (:mod:`peergrid.simulate.coordination`) with at most ``max_iterations`` re-plans and
    the price ``tolerance`` (currency/kWh) of the convergence rule.
    """

    control: str = "greedy"
    coordination: Literal[COORDINATION] = "none"  # type: ignore[valid-type]
    max_iterations: int = Field(default=10, ge=0)
    tolerance: float = Field(default=1e-4, ge=0, allow_inf_nan=False)
    forecaster: Literal[FORECASTERS] = "perfect"  # type: ignore[valid-type]
    markets: list[str] = Field(default_factory=lambda: ["baseline", "bs", "mmr", "sdr"])
    market: str | None = None
    objective: Literal["cost", "co2", "cost+co2"] = "cost"  # what the controllers minimise (docs/carbon.md)
    co2_price: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # currency/kgCO2, objective "cost+co2"

    @field_validator("control")
    @classmethod
    def _control(cls, value: str) -> str:
        from peergrid.control import CONTROLLERS

        key = value.strip().lower()
        if key not in CONTROLLERS:
            raise ValueError(f"unknown control {value!r}; choose from {', '.join(CONTROLLERS)}")
        return key

    @model_validator(mode="after")
    def _check(self) -> SimulationConfig:
        for m in self.all_markets:
            check_market(m)  # a ConfigError is a ValueError: pydantic reports it with the key
        if not self.markets:
            raise ValueError("markets must not be empty")
        if self.objective == "cost+co2" and self.co2_price <= 0:
            raise ValueError('objective = "cost+co2" needs co2_price > 0 (currency/kgCO2)')
        if "co2_price" in self.model_fields_set and self.objective != "cost+co2":
            raise ValueError('co2_price applies to objective = "cost+co2" only')
        return self

    @property
    def all_markets(self) -> list[str]:
        """``markets`` plus ``market``, as written."""
        return [*self.markets, *([self.market] if self.market else [])]


class MarketConfig(_Strict):
    """How the order-book markets price and clear the orders built from net positions."""

    bidding: Literal[BIDDING] = "truthful"  # type: ignore[valid-type]
    k: float = Field(default=K_OPTION.default, ge=K_OPTION.low, le=K_OPTION.high)
    seed: int = 0
    fee: float = Field(default=FEE_OPTION.default, ge=FEE_OPTION.low, allow_inf_nan=False)
    learning_rate: float = Field(default=0.3, gt=0, le=1)
    momentum: float = Field(default=0.05, ge=0, lt=1)

    @model_validator(mode="after")
    def _zip_only(self) -> MarketConfig:
        extra = sorted(set(_ZIP_KEYS) & self.model_fields_set)
        if extra and self.bidding != "zip":
            raise ValueError(f"{', '.join(extra)} applies to bidding = \"zip\" only")
        return self

    def options(self) -> dict[str, object]:
        """Keyword arguments of :func:`peergrid.simulate` / :func:`peergrid.compare` (ZIP's only for ``"zip"``)."""
        d = self.model_dump()
        if self.bidding != "zip":
            for key in _ZIP_KEYS:
                d.pop(key)
        return d


#: ``[market]`` keys of the ZIP agents (``bidding = "zip"`` only).
_ZIP_KEYS: tuple[str, ...] = ("learning_rate", "momentum")


_FC = ForecastOptions()


class ForecastConfig(_Strict):
    """Options of the day-ahead forecaster (:class:`peergrid.simulate.forecasting.ForecastOptions`)."""

    train_days: int = Field(default=_FC.train_days, ge=0)
    min_train_days: int = Field(default=_FC.min_train_days, ge=1)
    season_days: int = Field(default=_FC.season_days, ge=1)
    alpha: float = Field(default=_FC.alpha, gt=0, allow_inf_nan=False)
    rounds: int = Field(default=_FC.rounds, ge=1)
    local_steps: int = Field(default=_FC.local_steps, ge=1)
    client_fraction: float = Field(default=_FC.client_fraction, gt=0, le=1)
    server_momentum: float = Field(default=_FC.server_momentum, ge=0, lt=1)
    seed: int = Field(default=_FC.seed, ge=0)

    @model_validator(mode="after")
    def _check(self) -> ForecastConfig:
        ForecastOptions(**self.model_dump())  # cross-field checks (train_days ≥ min_train_days)
        return self


class GridConfig(_Strict):
    """``[grid]``: the feeder and its limits (:class:`peergrid.simulate.network.GridOptions`)."""

    feeder: str = "default"
    max_line_loading_pct: float = Field(default=100.0, gt=0, allow_inf_nan=False)
    v_min_pu: float = Field(default=0.95, gt=0, allow_inf_nan=False)
    v_max_pu: float = Field(default=1.05, gt=0, allow_inf_nan=False)
    max_vim_pct: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    fee_per_kwh: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> GridConfig:
        if not self.feeder.strip():
            raise ValueError('feeder must be "default" or a pandapower JSON file')
        if self.v_min_pu >= self.v_max_pu:
            raise ValueError(f"need v_min_pu < v_max_pu, got {self.v_min_pu} >= {self.v_max_pu}")
        return self


class CarbonConfig(_Strict):
    """Carbon intensity of grid electricity (``[carbon]``; docs/carbon.md).

    ``intensity``: a flat factor in kgCO2/kWh, ``"citylearn"`` (the CityLearn 2022 data set's
    hourly series; sources ``citylearn`` and ``synthetic`` only, their default) or a CSV file
    (a timestamp column and ``column``, in ``unit``; relative to the scenario file). Without
    ``[carbon]`` the other sources use :data:`peergrid.data.carbon.DEFAULT_CARBON_INTENSITY`.
    """

    intensity: float | str | None = None
    column: str | None = None  # csv: intensity column (default: the second)
    unit: Literal["kg/kWh", "g/kWh"] = "kg/kWh"  # csv: unit of the values

    @model_validator(mode="after")
    def _check(self) -> CarbonConfig:
        v = self.intensity
        if isinstance(v, float) and not (0 <= v < 10):
            raise ValueError(f"intensity must be a factor in [0, 10) kgCO2/kWh, got {v}")
        file = isinstance(v, str) and v != "citylearn"
        if not file and ({"column", "unit"} & self.model_fields_set):
            raise ValueError("column and unit apply to an intensity file only")
        return self


class WindConfig(_Strict):
    """Wind turbines as generation (``[wind]``; docs/data.md, *Wind*).

    Who has a turbine: the participants file's ``wind_kw`` column (csv data), ``members``
    (``{id = rated kW}``, any source) or a random ``share`` of the members (rated power
    uniform in ``kw_range``, drawn with ``seed``). The wind speed ``speed`` (m/s at
    ``measurement_height``; ``"tmy3"``/``"tmy3-sand-point"``: typical years shipped with pvlib,
    or a CSV file) is carried to ``hub_height`` (logarithmic profile, ``roughness_length``) and
    through the cubic curve of Tooki et al. (2025), eq. 3 (``model = "cubic"``: ``cut_in``,
    ``rated_speed``, ``cut_out``) or a windpowerlib ``turbine``'s power curve scaled to the
    rated power (``model = "turbine"``). See :mod:`peergrid.data.wind`.
    """

    speed: str = "tmy3"
    column: str | None = None  # csv: wind-speed column (default: the second)
    measurement_height: float = Field(default=10.0, gt=0, le=300)  # m; csv files only (TMY3: 10 m)
    model: Literal["cubic", "turbine"] = "cubic"
    hub_height: float = Field(default=30.0, gt=0, le=300)
    roughness_length: float = Field(default=0.15, gt=0, le=5)
    cut_in: float = Field(default=3.0, ge=0, le=50)
    rated_speed: float = Field(default=12.0, gt=0, le=50)
    cut_out: float = Field(default=25.0, gt=0, le=80)
    turbine: str = "E-53/800"
    members: dict[str, float] | None = None
    share: float | None = Field(default=None, ge=0, le=1)
    kw_range: tuple[float, float] = (3.0, 10.0)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> WindConfig:
        if not self.cut_in < self.rated_speed < self.cut_out:
            raise ValueError("need cut_in < rated_speed < cut_out (m/s)")
        lo, hi = self.kw_range
        if not 0 <= lo <= hi:
            raise ValueError("kw_range must be [low, high] with 0 <= low <= high (kW)")
        for mid, kw in (self.members or {}).items():
            if not (kw >= 0 and kw < float("inf")):
                raise ValueError(f"members: {mid!r} has rated power {kw}; give kW >= 0")
        if self.members is not None and self.share is not None:
            raise ValueError("give either members or share, not both")
        if self.model != "cubic" and {"cut_in", "rated_speed", "cut_out"} & self.model_fields_set:
            raise ValueError('cut_in, rated_speed and cut_out apply to model = "cubic" only')
        if self.model != "turbine" and "turbine" in self.model_fields_set:
            raise ValueError('turbine applies to model = "turbine" only')
        if self.speed in ("tmy3", "tmy3-sand-point") and {"column", "measurement_height"} & self.model_fields_set:
            raise ValueError("column and measurement_height apply to a wind-speed file only (TMY3: 10 m)")
        return self

    def options(self) -> dict[str, object]:
        """Keyword arguments of :func:`peergrid.data.wind.wind_per_kw` (model parameters)."""
        keys = ("model", "hub_height", "roughness_length", "cut_in", "rated_speed", "cut_out", "turbine")
        return {k: getattr(self, k) for k in keys}


#: Homes in a whole region at most (communities × homes per community).
MAX_REGION_HOMES = 10_000_000

#: Inter-community markets of ``[region] inter_market``: none, or a pool rule of :data:`peergrid.market.REGISTRY`
#: (the no-P2P baseline is ``"none"``).
INTER_MARKETS = ("none", *(m for m in mechanism_names("pool") if m != "baseline"))


class RegionConfig(_Strict):
    """A region of synthetic communities (``[region]``; :mod:`peergrid.simulate.region`, docs/region.md).

    Community ``i`` is the scenario's synthetic community with ``homes`` members, built from a
    seed spawned from ``[community].seed`` and ``i`` (:class:`numpy.random.SeedSequence`); its
    PV and battery shares are drawn uniformly from ``pv_share`` and ``battery_share`` when
    given as ``[low, high]`` (else ``[community]``'s). ``inter_market`` clears the communities'
    residual grid import and export per slot with a pool rule at the grid tariff.
    """

    communities: int = Field(gt=0, le=100_000)
    homes: int | None = Field(default=None, gt=0, le=100_000)
    pv_share: tuple[float, float] | None = None
    battery_share: tuple[float, float] | None = None
    inter_market: Literal[INTER_MARKETS] = "none"  # type: ignore[valid-type]

    @field_validator("pv_share", "battery_share")
    @classmethod
    def _share_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] <= value[1] <= 1:
            raise ValueError("must be [low, high] with 0 <= low <= high <= 1")
        return value


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
    forecast: ForecastConfig = ForecastConfig()
    grid: GridConfig | None = None
    carbon: CarbonConfig = CarbonConfig()
    wind: WindConfig = WindConfig()
    invest: CostAssumptions = CostAssumptions()  # [invest]: cost-benefit analysis (peergrid invest, report)
    region: RegionConfig | None = None  # [region]: many communities (peergrid.simulate.region)

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
        if "forecast" in self.model_fields_set and self.simulation.forecaster == "perfect":
            raise ValueError(
                "[forecast] applies to imperfect forecasters only; set [simulation].forecaster to one of "
                f"{', '.join(f for f in FORECASTERS if f != 'perfect')}"
            )
        if self.region is not None:
            self._check_region(self.region)
        if self.grid is not None and self.simulation.forecaster != "perfect":
            raise ValueError(
                "[grid] cannot be combined with an imperfect forecaster (the feeder carries the realised "
                'positions, the market the planned ones); set [simulation].forecaster = "perfect"'
            )
        return self

    def _check_region(self, region: RegionConfig) -> None:
        c = self.community
        if c.source != "synthetic":
            raise ValueError(f"[region] applies to source = 'synthetic' only (got source = {c.source!r})")
        homes = region.homes if region.homes is not None else c.households
        if region.communities * homes > MAX_REGION_HOMES:  # type: ignore[operator]
            raise ValueError(
                f"[region]: {region.communities:,} communities × {homes:,} homes exceeds {MAX_REGION_HOMES:,} homes"
            )
        if region.pv_share is not None and c.prosumers is not None:
            raise ValueError("[region].pv_share replaces [community].prosumers; give only one of them")
        if c.prosumers is not None and region.homes is not None and c.prosumers > region.homes:
            raise ValueError(f"[community].prosumers = {c.prosumers} exceeds [region].homes = {region.homes}")
        if region.battery_share is not None and not c.batteries:
            raise ValueError("[region].battery_share needs [community].batteries = true")
        if self.wind.members is not None:
            raise ValueError("[wind].members names members of one community; use [wind].share in a region")
        if self.grid is not None and self.grid.feeder != "default":
            raise ValueError('[grid].feeder: a feeder file describes one community; use feeder = "default" in a region')

    def grid_options(self, base_dir: str | Path = ".") -> dict[str, object]:
        """``grid`` keyword argument of :func:`peergrid.compare` (empty without ``[grid]``).

        Parameters
        ----------
        base_dir : str or pathlib.Path
            The scenario file's directory: a relative feeder file is resolved against it.
        """
        if self.grid is None:
            return {}
        from peergrid.simulate.network import GridOptions

        return {"grid": GridOptions(**self.grid.model_dump(), base_dir=str(base_dir))}

    def forecast_options(self) -> dict[str, object]:
        """``forecaster`` and ``forecast_options`` keyword arguments of :func:`peergrid.compare`."""
        if self.simulation.forecaster == "perfect":
            return {}
        return {"forecaster": self.simulation.forecaster, "forecast_options": self.forecast.model_dump()}

    def objective_options(self) -> dict[str, object]:
        """``objective`` and ``co2_price`` keyword arguments of :func:`peergrid.compare` (empty for cost)."""
        if self.simulation.objective == "cost":
            return {}
        return {"objective": self.simulation.objective, "co2_price": self.simulation.co2_price}

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
            ``feed_in`` are that tariff's marginal prices. :attr:`Community.tz` is
            ``[time] tz`` (when given, and always for csv data), set before the tariff
            is resolved so that time-of-use hours are local.
        """
        c = self.community
        if c.source == "milford-haven":
            com = self._milford_haven_community()
        elif c.source == "csv":
            com = self._csv_community(Path(base_dir))
        else:
            com = self._profile_community()
        if "tz" in self.time.model_fields_set or c.source == "csv":
            com.tz = self.time.tz
        com = self._with_wind(com, Path(base_dir))
        wind = getattr(com, "wind_generation", None)
        com = self._with_tariff(com, Path(base_dir))
        if wind is not None:  # (T, N) kWh: splits generation between PV and wind (peergrid.economics)
            com.wind_generation = wind  # type: ignore[attr-defined]
        return self._with_carbon(com, Path(base_dir))

    # ---- carbon and wind ------------------------------------------------------------
    def _with_carbon(self, com: Community, base: Path) -> Community:
        """``com`` with the scenario's carbon intensity (``[carbon]``, or the source's default)."""
        from peergrid.data.carbon import DEFAULT_CARBON_INTENSITY, carbon_series, read_carbon_csv

        v = self.carbon.intensity
        if v is None:
            if self.community.source in ("citylearn", "synthetic"):
                return com  # the data set's own hourly series (set by the loaders)
            v = DEFAULT_CARBON_INTENSITY
        if v == "citylearn":
            if self.community.source not in ("citylearn", "synthetic"):
                raise ConfigError("[carbon].intensity = 'citylearn' applies to sources citylearn and synthetic only")
            return com
        if isinstance(v, str):
            path = Path(v) if Path(v).is_absolute() else base / v
            if not path.is_file():
                raise ConfigError(f"[carbon].intensity: file {path} not found (or give a factor in kgCO2/kWh)")
            series = read_carbon_csv(path, column=self.carbon.column, unit=self.carbon.unit, tz=com.tz)
            com.carbon_intensity = carbon_series(series, com.index, path.name)
            return com
        com.carbon_intensity = np.full(com.T, float(v))
        return com

    def _with_wind(self, com: Community, base: Path) -> Community:
        """``com`` with wind generation added for participants with ``wind_kw`` > 0 (``[wind]``)."""
        w = self.wind
        parts = com.participants.copy()
        kw = parts["wind_kw"].to_numpy(np.float64).copy()
        if w.members is not None:
            ids = parts["id"].astype(str).tolist()
            unknown = [m for m in w.members if m not in ids]
            if unknown:
                raise ConfigError(
                    f"[wind].members: unknown participant(s) {unknown[:5]} (ids: {', '.join(ids[:5])}, …)"
                )
            for mid, value in w.members.items():
                kw[ids.index(mid)] = float(value)
        elif w.share is not None:
            rng = np.random.default_rng(w.seed)
            n = com.N
            count = int(np.floor(w.share * n + 0.5))
            chosen = rng.permutation(n)[:count]
            kw[:] = 0.0
            kw[chosen] = rng.uniform(w.kw_range[0], w.kw_range[1], count)
        if not np.any(kw > 0):
            if "wind" in self.model_fields_set and (w.members is not None or w.share is not None):
                raise ConfigError("[wind]: no participant has wind_kw > 0")
            return com
        from peergrid.data.wind import read_wind_speed, tmy3_wind_speed, wind_generation

        if w.speed in ("tmy3", "tmy3-sand-point"):
            speed = tmy3_wind_speed(w.speed)
        else:
            path = Path(w.speed) if Path(w.speed).is_absolute() else base / w.speed
            if not path.is_file():
                raise ConfigError(f"[wind].speed: file {path} not found (or use \"tmy3\", \"tmy3-sand-point\")")
            speed = read_wind_speed(path, column=w.column, tz=com.tz, height=w.measurement_height)
        wind = wind_generation(com.index, kw, speed, tz=com.tz, **w.options())
        parts["wind_kw"] = kw
        from dataclasses import replace

        out = replace(com, participants=parts.drop(columns=["role"]), generation=com.generation + wind)
        out.source = f"{com.source} Wind: {speed.source}, {w.model} model, hub height {w.hub_height:g} m."
        out.wind_generation = wind  # type: ignore[attr-defined]
        return out

    def _profile_community(self) -> Community:
        from peergrid.data import citylearn_community, synthetic_community

        c = self.community
        try:
            periods = self.time.n_periods()
        except ValueError as exc:
            raise ConfigError(f"[time]: {exc}") from None
        start = self.time.start_utc()
        if c.source == "citylearn":
            com = citylearn_community(
                homes=c.homes,
                start=start,
                periods=periods,
                freq=self.time.freq,
                with_batteries=c.batteries,
            )
        else:
            kwargs: dict[str, object] = {}
            if c.prosumers is not None:
                kwargs["n_prosumers"] = c.prosumers
            if start is None:
                start = pd.Timestamp("2022-08-01").tz_localize(self.time.tz).tz_convert("UTC")
            com = synthetic_community(
                c.households,  # type: ignore[arg-type]
                start=start,
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

    def read_data(self, base_dir: str | Path = ".") -> tuple[pd.DataFrame, pd.DataFrame | None, list[MeterReport]]:
        """Read the csv source's data files with the scenario's options (no window, no resampling).

        Parameters
        ----------
        base_dir : str or pathlib.Path
            Directory relative paths are resolved against.

        Returns
        -------
        (pandas.DataFrame, pandas.DataFrame or None, list of MeterReport)
            Load and generation, kWh per step (same UTC index and meter columns;
            a meter missing from one of them is zero there), and a report per file.
        """
        c = self.community
        base = Path(base_dir)
        opts: dict = dict(format=c.format, tz=self.time.tz, units=c.units, dayfirst=c.dayfirst, gaps=c.gaps,
                          label=c.label, columns=c.columns)
        first = read_meters(base / c.load, **opts)  # type: ignore[operator]
        load, gen, reports = first.load, first.generation, [first.report]
        if c.generation:
            if gen is not None:
                raise ConfigError(
                    f"{c.load} already holds generation rows (its {first.report.columns.get('kind')!r} column); "
                    "remove [community].generation or the export rows"
                )
            second = read_meters(base / c.generation, **opts)
            gen = second.generation if second.generation is not None else second.load
            reports.append(second.report)
            if not gen.index.equals(load.index):
                r1, r2 = first.report, second.report
                raise DataError(
                    f"{c.generation}: time span or step ({r2.start} to {r2.end}, {r2.step}) differs from "
                    f"{c.load} ({r1.start} to {r1.end}, {r1.step})"
                )
            unknown = [m for m in gen.columns if m not in load.columns]
            if unknown:
                raise DataError(f"{c.generation}: meter(s) {unknown[:5]} not in {c.load}")
            gen = gen.reindex(columns=load.columns, fill_value=0.0)
        return load, gen, reports

    def _window(self, load: pd.DataFrame, gen: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Apply ``[time] start/days/periods/freq`` to data read from files."""
        from peergrid.data.resample import resample_energy

        tm = self.time
        index = load.index
        step = pd.Timedelta(index.freq)
        end = index[-1] + step
        tz = tm.tz

        def local(ts: pd.Timestamp) -> str:
            return ts.tz_convert(tz).strftime("%Y-%m-%d %H:%M")

        span = f"the data cover {local(index[0])} to {local(end)} ({tz})"
        start = tm.start_utc() or index[0]
        if not index[0] <= start < end:
            raise ConfigError(f"[time].start = {tm.start!r} is outside the data: {span}")
        if (start - index[0]) % step:
            raise ConfigError(f"[time].start = {tm.start!r} is not on the data's {step} grid")
        target = tm.step if "freq" in tm.model_fields_set else step
        if target % step:
            raise ConfigError(
                f"[time].freq = {tm.freq!r} is not a multiple of the data step ({step}); use a multiple or omit freq"
            )
        if tm.days is not None or tm.periods is not None:
            if tm.periods is not None:
                n = tm.periods
            else:
                # whole days are local calendar days: 23 or 25 h across a clock change
                days = float(tm.days)  # type: ignore[arg-type]
                if days == int(days):
                    stop_local = start.tz_convert(tz) + pd.DateOffset(days=int(days))
                    length = stop_local.tz_convert("UTC") - start
                else:
                    length = pd.Timedelta(days=days)
                x = length / target
                if abs(x - round(x)) > 1e-9:
                    raise ConfigError(f"[time]: days = {tm.days} is not a whole number of {target} steps")
                n = round(x)
            stop = start + n * target
            if stop > end:
                raise ConfigError(f"[time]: the window {local(start)} + {tm.days or tm.periods} "
                                  f"{'days' if tm.days else 'steps'} ends after the data: {span}")
        else:
            stop = end
            if (stop - start) % target:
                raise ConfigError(
                    f"[time]: the data from {local(start)} are not a whole number of freq = {tm.freq!r} steps; "
                    "set [time] days"
                )
        frames = [f.loc[start: stop - step] if f is not None else None for f in (load, gen)]
        if target != step:
            frames = [resample_energy(f, target) if f is not None else None for f in frames]
        return frames[0], frames[1]

    def _participants(self, path: Path, ids: list[str]) -> pd.DataFrame:
        if not path.is_file():
            raise ConfigError(f"{path}: participants file not found")
        try:
            parts = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
            raise DataError(f"{path}: cannot read participants: {str(exc).splitlines()[0]}") from None
        if "id" not in parts:
            raise DataError(f"{path}: needs an 'id' column")
        parts["id"] = parts["id"].astype(str).str.strip()
        if parts["id"].duplicated().any():
            raise DataError(f"{path}: duplicate id {parts['id'][parts['id'].duplicated()].iloc[0]!r}")
        known = set(parts["id"])
        missing = [i for i in ids if i not in known]
        extra = parts["id"][~parts["id"].isin(ids)].tolist()  # in file order
        if missing or extra:

            def few(xs: list[str]) -> str:
                return ", ".join(repr(x) for x in xs[:5]) + (f" and {len(xs) - 5} more" if len(xs) > 5 else "")

            what = ([f"no row for meter(s) {few(missing)}"] if missing else []) + (
                [f"id(s) {few(extra)} have no meter data (unknown ids)"] if extra else [])
            raise DataError(f"{path}: the ids must match the meters of the data: {'; '.join(what)}")
        parts = parts.set_index("id").loc[ids].reset_index()
        if not self.community.batteries:
            for col in ("battery_kwh", "battery_kw"):
                if col in parts:
                    parts[col] = 0.0
        return parts

    def _csv_community(self, base: Path) -> Community:
        c = self.community
        load, gen, _ = self.read_data(base)
        load, gen = self._window(load, gen)
        parts = self._participants(base / c.participants, list(load.columns)) if c.participants else None
        try:
            # prices and currency come from the scenario's tariff (_with_tariff); none are assumed here
            return Community.from_frames(
                load, gen, parts, retail=0.0, feed_in=0.0, name=self.name,
                source=f"user data: {c.load}" + (f", {c.generation}" if c.generation else ""), tz=self.time.tz,
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


def read_energy_csv(path: Path, tz: str = "UTC") -> pd.DataFrame:
    """Read a wide energy CSV (timestamps, one column per participant, kWh per step).

    Kept for compatibility; :func:`peergrid.data.meters.read_meters` reads long and
    wide files with units, time zones and gap policies.

    Parameters
    ----------
    path : pathlib.Path
        CSV file. Naive timestamps are local times in ``tz``.
    tz : str
        Zone of naive timestamps.

    Returns
    -------
    pandas.DataFrame
        Validated: fixed-step UTC index without gaps or duplicates, no NaN, numeric.
    """
    return read_meters(path, format="wide", tz=tz, units="kWh").load


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


#: ``[community]`` keys per source they apply to (the others apply to every source).
_SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    "synthetic": ("households", "pv_share", "prosumers", "battery_share", "seed", "pv_kwp_range",
                  "battery_kwh_range"),
    "csv": ("load", "generation", "participants", "format", "units", "dayfirst", "gaps", "label", "columns"),
    "milford-haven": ("boats", "clearness"),
    "citylearn": ("homes",),
}  # fmt: skip


def _freq_text(step: pd.Timedelta) -> str:
    """A step as ``[time] freq`` text: ``"15min"``, ``"1h"``, ``"30s"``."""
    seconds = round(step.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"


def recorded_scenario(sc: Scenario, community: Community, markets: list[str] | None = None) -> dict[str, Any]:
    """The scenario as run, for ``summary.json``: re-running it gives the same results.

    Starts from the validated model and makes the defaults that the data decided
    explicit: ``[time] freq`` is the community's step (a csv file's own step when
    ``freq`` was not given), ``tz`` its zone, ``start`` its first local time when not
    given, and ``periods`` its length when neither ``days`` nor ``periods`` was given.
    ``[community]`` keys that do not apply to the source (the synthetic-only
    ``battery_share``, ``seed``, ranges …) are left out unless the user set them, and so
    is ``[market]`` when no order-book market ran and it was not set, and ``[forecast]`` (and
    the default ``forecaster = "perfect"``) with perfect forecasts, and the unwritten
    ``coordination``, ``max_iterations``, ``tolerance`` of a price-blind run (under
    ``coordination = "price-response"`` all three are kept); ``None`` values
    (not expressible in TOML) are dropped.

    Parameters
    ----------
    sc : Scenario
        The validated scenario.
    community : Community
        The community built from it (before any ``--quick`` shortening).
    markets : list of str, optional
        The markets run (``--markets`` may override the scenario's); default the scenario's.

    Returns
    -------
    dict
        JSON-safe nested mapping in the scenario TOML layout.
    """
    d = sc.model_dump(mode="json")
    source = sc.community.source
    given = sc.community.model_fields_set
    foreign = {k for src, keys in _SOURCE_KEYS.items() if src != source for k in keys}
    d["community"] = {k: v for k, v in d["community"].items() if k not in foreign or k in given}
    tm = d["time"]
    t_given = sc.time.model_fields_set
    tm["freq"] = _freq_text(pd.Timedelta(hours=community.dt)) if "freq" not in t_given else tm["freq"]
    tm["tz"] = community.tz
    if "start" not in t_given and community.T:
        first = community.local_index[0]
        tm["start"] = first.strftime("%Y-%m-%d") if first == first.normalize() else first.isoformat()
    if tm.get("days") is None and tm.get("periods") is None:
        tm["periods"] = int(community.T)
    if markets is not None:
        d["simulation"]["markets"] = list(markets)
        d["simulation"]["market"] = None
    run = d["simulation"]["markets"] + ([d["simulation"]["market"]] if d["simulation"].get("market") else [])
    if "market" not in sc.model_fields_set and not any(is_order_market(m) for m in run):
        d.pop("market")
    elif sc.market.bidding != "zip":
        for key in _ZIP_KEYS:
            d["market"].pop(key, None)
    if sc.simulation.coordination == "none":  # price-blind: the loop's keys only when the user wrote them
        for key in ("coordination", "max_iterations", "tolerance"):
            if key not in sc.simulation.model_fields_set:
                d["simulation"].pop(key)
    if sc.simulation.forecaster == "perfect":
        d.pop("forecast")
        if "forecaster" not in sc.simulation.model_fields_set:
            d["simulation"].pop("forecaster")
    if "invest" not in sc.model_fields_set:  # [invest] only when given (the report's investment section)
        d.pop("invest")
    for key in ("description", "reference"):
        if not d.get(key) and key not in sc.model_fields_set:
            d.pop(key, None)
    for key in ("carbon", "wind"):  # tables the user did not write (the source's defaults applied)
        if key not in sc.model_fields_set:
            d.pop(key, None)
    if "carbon" in d and not (isinstance(sc.carbon.intensity, str) and sc.carbon.intensity != "citylearn"):
        for key in ("column", "unit"):  # an intensity file's keys only
            d["carbon"].pop(key, None)
    if "wind" in d:  # the keys that apply to the model and the speed source (the others are rejected)
        w = d["wind"]
        drop = ["turbine"] if sc.wind.model != "turbine" else ["cut_in", "rated_speed", "cut_out"]
        if sc.wind.speed in ("tmy3", "tmy3-sand-point"):
            drop += ["column", "measurement_height"]
        if sc.wind.share is None:
            drop += ["kw_range", "seed"]
        for key in drop:
            w.pop(key, None)
    if sc.simulation.objective == "cost":
        for key in ("objective", "co2_price"):
            if key not in sc.simulation.model_fields_set:
                d["simulation"].pop(key, None)
    elif "co2_price" not in sc.simulation.model_fields_set:
        d["simulation"].pop("co2_price", None)
    return drop_none(d)
