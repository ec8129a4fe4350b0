"""One name per metric: key, label, unit, definition, reference and function of every community metric.

:data:`METRICS` is the single source of the names the CLI table, the HTML report
(column headings and glossary), the trading service's reports and dashboard, and the
README metric table (:func:`metrics_markdown_table`) use, so a metric is called the
same everywhere; :attr:`MetricInfo.function` is the function of
:mod:`peergrid.metrics` that computes it, where one exists. Keys are the keys of
:attr:`peergrid.simulate.Result.metrics`, plus ``net_bill_reduction`` of the trading
service's reports (a member's or community's net-bill reduction over a period).

>>> from peergrid.metrics import METRICS
>>> METRICS["cost_reduction"].label
'Purchase-cost reduction'
>>> METRICS["community_cost_reduction"].label
'Community net-bill reduction'
>>> METRICS["cost_reduction"].format(0.1234, "EUR")
'12.3 %'
>>> METRICS["self_sufficiency"].function(120.0, 30.0)   # load, grid import (kWh)
0.75
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from peergrid.core.numfmt import unsigned_zero
from peergrid.metrics.core import (
    cost_reduction,
    efficiency_pct,
    jain_index,
    peak_to_average,
    performance_measure,
    pm_increase,
    self_consumption,
    self_sufficiency,
    storage_throughput,
    storage_utilisation,
)

__all__ = ["METRICS", "NETWORK_METRICS", "TABLE_METRICS", "MetricInfo", "metric_label", "metrics_markdown_table"]

Kind = Literal["pct", "money", "price", "kw", "kwh", "mwh", "num", "count", "kg"]


@dataclass(frozen=True)
class MetricInfo:
    """Name, unit and meaning of one metric.

    Attributes
    ----------
    key : str
        Key in :attr:`~peergrid.simulate.Result.metrics` and in JSON output.
    label : str
        The one human-readable name (CLI, report, README, docs).
    unit : str
        Unit of the displayed value: ``"%"`` (the value is a fraction, shown in
        percent), ``"currency"``, ``"currency/kWh"``, ``"kW"``, ``"kWh"``, ``"MWh"``,
        ``"1"`` (dimensionless), ``"steps"``, ``"kgCO2"``, ``"pu"`` (per unit), ``"% of rating"`` (line
        loading, in percent) or ``"pp"`` (percentage points).
    definition : str
        What is computed, in one or two sentences.
    reference : str
        Where the definition comes from ("Author et al. (year), eq. N"), or ``""``.
    kind : str
        Formatting kind (``pct``, ``money``, ``price``, ``kw``, ``kwh``, ``mwh``, ``num``, ``count``, ``kg``).
    core : bool
        Listed in the README metric table (the headline metrics of a study).
    function : callable or None
        The function of :mod:`peergrid.metrics` that computes the value (e.g.
        :func:`~peergrid.metrics.self_sufficiency`), ``None`` for plain sums, maxima and
        means of a run's series.
    """

    key: str
    label: str
    unit: str
    definition: str
    reference: str = ""
    kind: Kind = "num"
    core: bool = False
    function: Callable[..., Any] | None = None

    def heading(self, currency: str = "") -> str:
        """Column heading with unit, e.g. ``"Community cost (EUR)"`` or ``"Peak import (kW)"``."""
        unit = self.unit.replace("currency", currency or "currency")
        return self.label if unit in ("1", "%", "") else f"{self.label} ({unit})"

    def format(self, value: object, currency: str = "", *, unit: bool = True) -> str:
        """Plain-text value (``"–"`` when undefined), e.g. ``"12.3 %"`` or ``"1,234.50 EUR"``.

        Parameters
        ----------
        value : float or None
            The metric value (fractions for ``%`` metrics).
        currency : str
            Currency code for money metrics.
        unit : bool
            Append the unit (``%`` is always shown); ``False`` for table cells whose
            heading (:meth:`heading`) names it.
        """
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "–"
        if not math.isfinite(v):
            return "–"
        if self.kind == "pct":
            return unsigned_zero(f"{100 * v:.1f} %")
        text = {
            "money": f"{v:,.2f}",
            "price": f"{v:.4f}",
            "kw": f"{v:,.1f}",
            "kwh": f"{v:,.1f}",
            "mwh": f"{v:,.3f}",
            "count": f"{v:,.0f}",
            "kg": f"{v:,.1f}",
        }.get(self.kind, f"{v:.3f}")
        text = unsigned_zero(text)
        if not unit or self.unit in ("1", "steps"):
            return text
        return f"{text} {self.unit.replace('currency', currency or 'currency')}"


_LANGE = "Lange (2025)"


def _m(*args: Any, **kw: Any) -> MetricInfo:
    return MetricInfo(*args, **kw)


#: Every community metric by key, in display order.
METRICS: dict[str, MetricInfo] = {
    m.key: m
    for m in (
        _m(
            "self_sufficiency",
            "Self-sufficiency",
            "%",
            "Share of the community's load supplied locally (own generation, storage or peers): "
            "1 − grid import / load.",
            f"{_LANGE}, eq. 6",
            "pct",
            True,
            function=self_sufficiency,
        ),
        _m(
            "self_consumption",
            "Self-consumption",
            "%",
            "Share of local generation consumed inside the community (by its owner, a battery or a "
            "peer): 1 − grid export / generation.",
            f"{_LANGE}, eq. 5 (community form)",
            "pct",
            True,
            function=self_consumption,
        ),
        _m(
            "individual_self_consumption",
            "Individual self-consumption",
            "%",
            "Share of generation consumed by its owner (incl. the owner's battery): 1 − members' surplus / generation.",
            f"{_LANGE}, eq. 5",
            "pct",
            function=self_consumption,
        ),
        _m(
            "community_cost",
            "Community cost",
            "currency",
            "Sum of all member bills for energy at the market's prices over the horizon; equals the "
            "community's grid bill λb · import − λs · export (negative = net income). Tariff charges "
            "outside the market (local network, standing and demand charges) are in the total bill. "
            "Trading on forecasts, it adds the members' imbalance charges (imbalance_cost).",
            "",
            "money",
            True,
        ),
        _m(
            "baseline_cost",
            "Baseline community cost",
            "currency",
            "Community cost of the same members without P2P trading.",
            "",
            "money",
        ),
        _m(
            "cost_reduction",
            "Purchase-cost reduction",
            "%",
            "Reduction of the members' energy purchase cost (peers and grid) due to sharing: "
            "(purchase cost without P2P − purchase cost with P2P) / purchase cost without P2P.",
            f"{_LANGE}, eq. 7",
            "pct",
            True,
            function=cost_reduction,
        ),
        _m(
            "community_cost_reduction",
            "Community net-bill reduction",
            "%",
            "Reduction of the community's net bill (purchases − sales revenue) vs the no-P2P baseline: "
            "(baseline cost − community cost) / abs(baseline cost).",
            f"{_LANGE}, eq. 7 applied to the net bill",
            "pct",
            True,
            function=cost_reduction,
        ),
        _m(
            "total_bill",
            "Total bill",
            "currency",
            "Sum of the members' whole bills under the community's tariff (Result.bills()): energy at "
            "the market's prices plus local network, standing and demand charges, their VAT, and no "
            "pay for spilled export.",
            "",
            "money",
            True,
        ),
        _m(
            "total_bill_reduction",
            "Total-bill reduction",
            "%",
            "Reduction of the total bill vs the same members without P2P trading: (baseline total bill − "
            "total bill) / abs(baseline total bill). Unlike the net-bill reduction it counts the local "
            "network charge on energy shared between members.",
            f"{_LANGE}, eq. 7 applied to the whole bill",
            "pct",
            True,
            function=cost_reduction,
        ),
        _m(
            "purchase_cost",
            "Purchase cost",
            "currency",
            "What the members pay for energy bought from peers and the grid.",
            "",
            "money",
        ),
        _m(
            "seller_revenue",
            "Seller revenue",
            "currency",
            "What the members receive for surplus sold to peers and the grid.",
            "",
            "money",
        ),
        _m(
            "pm",
            "Performance measure (PM)",
            "1",
            "(iESR − v_min) / (v_max − v_min): sellers' realised income for their surplus between its "
            "value at the feed-in tariff (0, the no-P2P baseline) and at the retail price (1); negative "
            "when a mechanism pays less than the feed-in tariff.",
            f"{_LANGE}, eq. 8",
            "num",
            True,
            function=performance_measure,
        ),
        _m(
            "peak_import_kw",
            "Peak import",
            "kW",
            "Largest community grid import power over the horizon (energy per step / step length).",
            "",
            "kw",
            True,
        ),
        _m("mean_import_kw", "Mean import", "kW", "Mean community grid import power.", "", "kw"),
        _m(
            "peak_to_average",
            "Peak-to-average ratio",
            "1",
            "Peak / mean community grid import power.",
            "",
            "num",
            True,
            function=peak_to_average,
        ),
        _m("load_kwh", "Load", "kWh", "Total consumption after control.", "", "kwh"),
        _m("generation_kwh", "Generation", "kWh", "Total local generation.", "", "kwh"),
        _m(
            "traded_kwh",
            "P2P traded",
            "kWh",
            "Energy exchanged between members (pool or order book) over the horizon.",
            "",
            "kwh",
            True,
        ),
        _m(
            "operator_fees",
            "Operator fees",
            "currency",
            "Spread and network fees kept by the market operator (order-book markets).",
            "",
            "money",
        ),
        _m("grid_import_kwh", "Grid import", "kWh", "Energy imported from the grid.", "", "kwh"),
        _m("grid_export_kwh", "Grid export", "kWh", "Energy exported to the grid.", "", "kwh"),
        _m(
            "emissions_kg",
            "Emissions",
            "kgCO2",
            "CO2 emitted for the community's grid import: Σ over steps of grid import (kWh) × the grid's "
            "carbon intensity of the step (kgCO2/kWh; Community.carbon_intensity: the CityLearn data's hourly "
            "series, or a flat factor). Export earns no credit. Per member (Result.participants): its own grid "
            "import × intensity, summing to the community figure. Undefined without a carbon intensity.",
            "Petri et al. (2020), Section III (CO2 emissions reduction)",
            "kg",
            True,
        ),
        _m(
            "mean_price_buy",
            "Mean buy price",
            "currency/kWh",
            "Internal buy price weighted by the community's deficit.",
            "",
            "price",
        ),
        _m(
            "mean_price_sell",
            "Mean sell price",
            "currency/kWh",
            "Internal sell price weighted by the community's surplus.",
            "",
            "price",
        ),
        _m("savings_total", "Total savings", "currency", "Σ (baseline bill − bill) over members.", "", "money"),
        _m("savings_min", "Smallest saving", "currency", "Smallest per-member saving.", "", "money"),
        _m("savings_max", "Largest saving", "currency", "Largest per-member saving.", "", "money"),
        _m(
            "share_better_off",
            "Better off",
            "%",
            "Share of members whose bill is not higher than without P2P trading.",
            "",
            "pct",
            True,
        ),
        _m(
            "jain_fairness",
            "Jain fairness",
            "1",
            "Jain's index (Σx)² / (n · Σx²) of the per-member savings x (negative savings count as 0); "
            "1 when everyone saves the same.",
            "Jain et al. (1984)",
            "num",
            True,
            function=jain_index,
        ),
        _m("ess_charged_mwh", "Storage charged", "MWh", "Bus-side energy charged into batteries.", "", "mwh"),
        _m("ess_discharged_mwh", "Storage discharged", "MWh", "Bus-side energy discharged.", "", "mwh"),
        _m(
            "ess_equivalent_cycles",
            "Equivalent full cycles",
            "1",
            "Energy discharged / installed storage capacity.",
            "",
            "num",
        ),
        _m(
            "storage_throughput_kwh",
            "Storage throughput",
            "kWh",
            "Total amount of charging and discharging of all batteries (bus-side charge + discharge) over "
            "the horizon.",
            f"{_LANGE}, ESS utilisation",
            "kwh",
            True,
            function=storage_throughput,
        ),
        _m(
            "storage_utilisation",
            "Storage utilisation",
            "cycles/day",
            "Storage throughput per installed capacity: (charge + discharge) / (2 · capacity · days), full "
            "cycles per day.",
            f"{_LANGE}, ESS utilisation (per capacity)",
            "num",
            True,
            function=storage_utilisation,
        ),
        _m(
            "ess_efficiency_pct",
            "Storage efficiency",
            "1",
            "Useful output / input energy of the batteries × 100, in percent points.",
            "Tooki et al. (2025), eq. 17",
            "num",
            function=efficiency_pct,
        ),
        # between two runs (peergrid.metrics.pm_increase; peergrid reproduce lange)
        _m(
            "pm_increase",
            "Performance increase",
            "%",
            "Relative increase of the performance measure of a model over a comparator on the same "
            "community: (PM − PM_comparator) / abs(PM_comparator). Computed between two runs "
            "(peergrid.metrics.pm_increase), not per run.",
            f"{_LANGE}, eq. 8 and the ≈ 5 % performance increase",
            "pct",
            True,
            function=pm_increase,
        ),
        # the trading service's reports (:mod:`peergrid.service.reports`, dashboard)
        _m(
            "net_bill_reduction",
            "Net-bill reduction",
            "%",
            "Trading service: reduction of the net bill (purchases − sales revenue) of a member or a "
            "community over a report period vs settling every reading with the grid alone.",
            f"{_LANGE}, eq. 7 applied to the net bill",
            "pct",
            function=cost_reduction,
        ),
        # forecasts (:mod:`peergrid.simulate.forecasting`) and faults (:mod:`peergrid.simulate.faults`)
        _m(
            "forecast_mae_kwh",
            "Forecast error (MAE)",
            "kWh",
            "Trading on forecasts: mean over members and steps of abs(day-ahead forecast − actual net energy), "
            "net = load − generation, kWh per member and step.",
            "",
            "price",
            True,
        ),
        _m(
            "imbalance_kwh",
            "Imbalance",
            "kWh",
            "Energy settled outside the market. Trading on forecasts: Σ over members and steps of "
            "abs(realised − planned net energy). Meter faults: Σ over steps of abs(true − settled community net).",
            "",
            "kwh",
            True,
        ),
        _m("imbalance_net_kwh", "Net imbalance", "kWh", "Σ (true − settled community net energy).", "", "kwh"),
        _m(
            "imbalance_cost",
            "Imbalance cost",
            "currency",
            "Trading on forecasts: Σ of the members' imbalance charges, each member's extra import at λb and "
            "extra export at λs per step (in the bills and the community cost). Meter faults: true grid "
            "bill − settled grid bill.",
            "",
            "money",
            True,
        ),
        _m("true_community_cost", "True community cost", "currency", "Grid bill on true readings.", "", "money"),
        _m("settled_community_cost", "Settled community cost", "currency", "Grid bill as settled.", "", "money"),
        _m("served_demand_kwh", "Served demand", "kWh", "Load served (the grid backs the community up).", "", "kwh"),
        _m("locally_served_kwh", "Locally served", "kWh", "Load − true grid import.", "", "kwh"),
        _m(
            "true_self_sufficiency",
            "True self-sufficiency",
            "%",
            "Self-sufficiency on the true readings.",
            f"{_LANGE}, eq. 6",
            "pct",
            function=self_sufficiency,
        ),
        _m(
            "controller_fault_steps",
            "Controller fault steps",
            "steps",
            "Participant-steps with a controller fault.",
            "",
            "count",
        ),
        _m("meter_fault_steps", "Meter fault steps", "steps", "Participant-steps with a meter fault.", "", "count"),
        # network-aware runs (grid=, scenario [grid]: peergrid.simulate.network)
        _m(
            "line_fees",
            "Line-utilisation fees",
            "currency",
            "Network-aware runs: Σ over slots of the fees buyers pay for the lines their peer purchases use, "
            "τ · abs(P_L) / P_max,L per kWh on every line of the seller-buyer path, sellers and buyers paired "
            "pro rata.",
            "Tooki et al. (2025), eqs. 11-12",
            "money",
            True,
        ),
        _m(
            "curtailed_kwh",
            "Curtailed export",
            "kWh",
            "Network-aware runs: export spilled so that no slot breaks a line-loading, voltage or VIM limit "
            "that exports cause.",
            "",
            "kwh",
            True,
        ),
        _m(
            "losses_kwh",
            "Feeder losses",
            "kWh",
            "Network-aware runs: active losses of the feeder's lines and transformer from the power flow of "
            "every slot (allocated to members pro rata to abs(net energy), charged at λb).",
            "",
            "kwh",
            True,
        ),
        _m(
            "max_line_loading_pct",
            "Highest line loading",
            "% of rating",
            "Network-aware runs: highest line loading over slots and lines after curtailment, in percent of "
            "the rated current (the value is in percent, not a fraction).",
            "",
            "kw",
            True,
        ),
        _m(
            "min_voltage_pu",
            "Lowest voltage",
            "pu",
            "Network-aware runs: lowest bus voltage (every phase) over slots after curtailment, per unit.",
            "",
            "price",
            True,
        ),
        _m(
            "max_vim_pct",
            "Highest VIM",
            "pp",
            "Network-aware runs with a VIM limit: highest voltage imbalance (line-voltage unbalance rate) over "
            "slots and buses after curtailment, in percent points; undefined for balanced flows.",
            "Tooki et al. (2025), eq. 13",
            "num",
            True,
        ),
    )
}

#: Metrics of the results table of the CLI and the HTML report, in column order.
TABLE_METRICS: tuple[str, ...] = (
    "self_sufficiency",
    "self_consumption",
    "community_cost",
    "cost_reduction",
    "community_cost_reduction",
    "total_bill_reduction",
    "pm",
    "peak_import_kw",
    "jain_fairness",
    "share_better_off",
    "traded_kwh",
    "emissions_kg",
)

#: Metrics of network-aware runs (:meth:`peergrid.simulate.network.NetworkOutcome.metrics`), in the column
#: order of the CLI's network table and the report's grid section.
NETWORK_METRICS: tuple[str, ...] = (
    "line_fees",
    "curtailed_kwh",
    "losses_kwh",
    "max_line_loading_pct",
    "min_voltage_pu",
    "max_vim_pct",
)


def metric_label(key: str) -> str:
    """The label of metric ``key`` (the key itself when it is not registered)."""
    info = METRICS.get(key)
    return info.label if info else key


def metrics_markdown_table() -> str:
    """The README metric table (core metrics, registry order) as Markdown.

    Returns
    -------
    str
        Header, separator and one row ``| `key` | label | unit | definition | reference | function |``
        per core metric (function: ``peergrid.metrics.<name>`` or ``–``), newline-terminated.
    """
    lines = ["| key | label | unit | definition | reference | function |", "|---|---|---|---|---|---|"]
    for m in METRICS.values():
        if m.core:
            fn = f"`peergrid.metrics.{m.function.__name__}`" if m.function else "–"
            lines.append(f"| `{m.key}` | {m.label} | {m.unit} | {m.definition} | {m.reference or '–'} | {fn} |")
    return "\n".join(lines) + "\n"
