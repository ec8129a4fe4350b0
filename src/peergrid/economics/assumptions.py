"""Cost and finance assumptions of the cost–benefit analysis (``[invest]`` in a scenario).

The defaults are round figures for small residential systems in 2023–2024, in US dollars,
real terms (no inflation), within the ranges reported by:

* PV: NREL Annual Technology Baseline 2024 (residential PV) and IRENA, *Renewable Power
  Generation Costs in 2023* — installed residential PV from about 1,000 USD/kWp (Europe,
  Australia) to about 2,800 USD/kWp (United States); peergrid uses 1,200 USD/kWp for modules,
  mounting and installation plus 250 USD/kW for the inverter, replaced every 12 years; O&M
  1 % of the investment a year; degradation 0.5 %/yr (Jordan and Kurtz 2013, the median of
  field data); life 25 years.
* Batteries: NREL ATB 2024 (residential battery storage) — installed home batteries about
  700–1,200 USD/kWh; peergrid uses 700 USD/kWh, replaced after 12 years at 500 USD/kWh
  (cheaper by then); O&M 1 %/yr; capacity fade 2 %/yr (savings shrink with it until the
  replacement).
* Wind: NREL *Distributed Wind Market Report* 2023 — small turbines cost several thousand
  USD per kW installed; peergrid uses 5,000 USD/kW, O&M 2 %/yr, life 20 years, output decline
  0.5 %/yr (Staffell and Green 2014 report about 1.6 %/yr for large UK farms).
* Platform: a smart meter / gateway per member (150 USD), a one-off set-up of 20,000 USD
  (software integration, commissioning) and hosting and support of 24 USD per member and
  year, life 15 years — peergrid's own assumptions, to be replaced by quotes.
* Finance: 25-year horizon, 5 %/yr real discount rate, no real change in electricity prices.

They are assumptions, not data: state your own in ``[invest]``. The figures are in
``currency``; a community billed in another currency needs ``exchange_rate`` (community
currency per unit of ``currency``), there is no silent conversion.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

from peergrid.economics.communication import PlatformTraffic

__all__ = ["CostAssumptions"]

_NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Share = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
_Life = Annotated[int, Field(ge=1, le=100)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class CostAssumptions:
    """Costs (in ``currency``), lifetimes and finance of the cost–benefit analysis.

    Attributes
    ----------
    currency : str
        Currency of the cost figures (default ``"USD"``).
    exchange_rate : float, optional
        Community currency per unit of ``currency``; required when they differ.
    lifetime : int
        Horizon of the analysis, years.
    discount_rate : float
        Real discount rate, 1/yr.
    price_escalation : float
        Real change of the savings (electricity prices) per year, 1/yr (may be negative).
    pv_cost_per_kwp : float
        PV modules, mounting and installation, currency/kWp.
    inverter_cost_per_kw : float
        PV inverter (sized 1 kW per kWp), currency/kW.
    inverter_lifetime : int
        Years between inverter replacements.
    pv_om : float
        PV O&M per year, fraction of the PV investment (modules + inverter).
    pv_degradation : float
        PV output decline, 1/yr.
    pv_lifetime : int
        PV module life, years (replaced at the same cost when shorter than the horizon).
    battery_cost_per_kwh : float
        Battery installed, currency/kWh of usable capacity.
    battery_replacement_cost_per_kwh : float
        Battery replacement, currency/kWh.
    battery_lifetime : int
        Years between battery replacements.
    battery_om : float
        Battery O&M per year, fraction of its investment.
    battery_degradation : float
        Capacity fade, 1/yr (the battery's savings shrink with it; reset at replacement).
    wind_cost_per_kw : float
        Wind turbine installed, currency/kW rated.
    wind_om : float
        Wind O&M per year, fraction of its investment.
    wind_degradation : float
        Wind output decline, 1/yr.
    wind_lifetime : int
        Turbine life, years.
    platform_fixed : float
        One-off platform set-up for the community, currency.
    platform_per_member : float
        Smart meter / gateway per member, currency.
    platform_opex_per_member : float
        Hosting and support per member and year, currency/yr (the communication cost of
        Tooki et al. (2025), eq. 6, comes on top).
    platform_lifetime : int
        Years between platform renewals (meters, set-up).
    platform : PlatformTraffic
        Message sizes and cloudlet of the communication model (``[invest.platform]``).
    """

    currency: str = "USD"
    exchange_rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    lifetime: _Life = 25
    discount_rate: Annotated[float, Field(gt=-1, le=1, allow_inf_nan=False)] = 0.05
    price_escalation: Annotated[float, Field(gt=-1, le=1, allow_inf_nan=False)] = 0.0
    pv_cost_per_kwp: _NonNeg = 1200.0
    inverter_cost_per_kw: _NonNeg = 250.0
    inverter_lifetime: _Life = 12
    pv_om: _Share = 0.01
    pv_degradation: _Share = 0.005
    pv_lifetime: _Life = 25
    battery_cost_per_kwh: _NonNeg = 700.0
    battery_replacement_cost_per_kwh: _NonNeg = 500.0
    battery_lifetime: _Life = 12
    battery_om: _Share = 0.01
    battery_degradation: _Share = 0.02
    wind_cost_per_kw: _NonNeg = 5000.0
    wind_om: _Share = 0.02
    wind_degradation: _Share = 0.005
    wind_lifetime: _Life = 20
    platform_fixed: _NonNeg = 20000.0
    platform_per_member: _NonNeg = 150.0
    platform_opex_per_member: _NonNeg = 24.0
    platform_lifetime: _Life = 15
    platform: PlatformTraffic = PlatformTraffic()

    @model_validator(mode="after")
    def _check(self) -> CostAssumptions:
        if not (isinstance(self.currency, str) and 1 <= len(self.currency.strip()) <= 8):
            raise ValueError(f"currency must be a short code like 'EUR', got {self.currency!r}")
        return self

    def factor(self, community_currency: str) -> float:
        """Multiplier from ``currency`` to the community's currency.

        Parameters
        ----------
        community_currency : str
            The community's (tariff's) currency code.

        Returns
        -------
        float
            1 when the currencies agree and no ``exchange_rate`` is given, else ``exchange_rate``.

        Raises
        ------
        ConfigError
            The currencies differ and no ``exchange_rate`` is given.
        """
        from peergrid.core.errors import ConfigError

        if self.exchange_rate is not None:
            return float(self.exchange_rate)
        if community_currency.strip().upper() != self.currency.strip().upper():
            raise ConfigError(
                f"[invest]: the cost assumptions are in {self.currency} but the community pays in "
                f"{community_currency}; set [invest] exchange_rate ({community_currency} per {self.currency}) "
                f'or currency = "{community_currency}" with costs in {community_currency}'
            )
        return 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the fields (``platform`` as a dict)."""
        return asdict(self)  # type: ignore[call-overload]
