"""What a simulation returns: :class:`Result` (one market) and :class:`Comparison` (several markets).

A :class:`Result` holds the community, the battery schedule, the clearing and the per-member
reductions of one market run by :mod:`peergrid.simulate.engine`, and derives from them the
metrics, bills, tables and series (per-member totals reduced in time blocks, so a year of
1,000 households at 15-min resolution stays well inside 2 GiB). Both round-trip through a
directory of Parquet files and ``result.json`` (:meth:`Result.to_parquet`,
:meth:`Comparison.from_parquet`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from peergrid import metrics as M
from peergrid.control import BatterySchedule
from peergrid.core.community import PARTICIPANT_DEFAULTS, Community
from peergrid.core.errors import DataError
from peergrid.market.bidding import OrderClearing
from peergrid.market.sharing import Allocation, Clearing, no_p2p

if TYPE_CHECKING:
    from peergrid.simulate.coordination import CoordinationInfo
    from peergrid.simulate.faults import FaultOutcome
    from peergrid.simulate.forecasting import ForecastOutcome
    from peergrid.simulate.network import NetworkOutcome
    from peergrid.simulate.stream import Reductions

_BLOCK = 4096  # time steps per reduction block

#: The metric keys every market carries in JSON output (stable, snake_case).
HEADLINE_METRICS = (
    "self_sufficiency",
    "self_consumption",
    "community_cost",
    "cost_reduction",
    "pm",
    "peak_import_kw",
)


def _time_blocks(T: int, block: int = _BLOCK) -> Iterator[slice]:
    for start in range(0, T, block):
        yield slice(start, min(start + block, T))


@dataclass
class Result:
    """Outcome of one simulation (one market, one controller) of a community.

    Heavy ``(T, N)`` arrays are kept once (``net``) and everything per participant is
    derived from it and the per-slot :class:`~peergrid.market.Clearing`.

    Attributes
    ----------
    community : Community
        The simulated community (load, generation, tariffs).
    market : str
        Mechanism name (a pool rule or an order-book mechanism).
    control : str
        Controller name.
    battery : BatterySchedule
        Battery operation (shared between the results of one comparison).
    net : numpy.ndarray
        ``(T, N)`` net energy after control, kWh (+ import).
    clearing : Clearing
        Per-slot prices and peer shares of the market; for order-book markets an
        :class:`~peergrid.market.OrderClearing`, which also holds every participant's
        own trades and bill.
    faults : FaultOutcome, optional
        Set when the run had injected faults (:mod:`peergrid.simulate.faults`); ``net``
        and ``clearing`` are then what the market *settled*, and the fault outcome
        holds the true clearing and the imbalance.
    coordination : CoordinationInfo, optional
        Set under ``coordination="price-response"``
        (:mod:`peergrid.simulate.coordination`): iterations, convergence, cost per
        iterate; ``battery`` and ``net`` are then this market's own schedule.
    forecast : ForecastOutcome, optional
        Set when the run planned on day-ahead forecasts (``forecaster`` other than
        ``"perfect"``, :mod:`peergrid.simulate.forecasting`): ``net`` and ``clearing`` are
        then the *planned* positions the market cleared, and the forecast outcome holds
        each member's imbalance (realised − planned net) settled at λb / λs, which the
        member bills (:attr:`participants`, :meth:`bills`) and ``community_cost`` include.
    network : NetworkOutcome, optional
        Set by a network-aware run (``grid=``, :mod:`peergrid.simulate.network`): ``net`` and
        ``clearing`` are then the curtailed positions and their re-matched clearing; the
        members' line-utilisation fees and loss charges are in the bills and ``community_cost``.
    reduced : Reductions, optional
        Set by a streamed run (:mod:`peergrid.simulate.stream`): the per-member and per-step
        sums computed block by block. With ``series="none"`` ``net`` is None and the battery
        arrays have no rows: :attr:`metrics`, :attr:`participants`, :attr:`steps`, :meth:`bills`
        and :meth:`summary` work from the sums, while :meth:`table`, :meth:`allocation`,
        :meth:`soc` and :meth:`to_parquet` need the series and raise
        :class:`~peergrid.core.errors.DataError`.

    Notes
    -----
    Consumption totals (``load_kwh`` in :attr:`participants`, :attr:`steps`,
    :attr:`metrics` and the ``load`` column of :meth:`table`) include the
    controller's ``battery.load_delta`` (shifted flexible load, EV charging): they are
    the consumption after control, so ``net = load − generation + battery`` holds.
    """

    community: Community
    market: str
    control: str
    battery: BatterySchedule
    net: np.ndarray
    clearing: Clearing
    baseline: Clearing = field(repr=False, default=None)  # type: ignore[assignment]
    faults: FaultOutcome | None = field(repr=False, default=None)
    coordination: CoordinationInfo | None = field(repr=False, default=None)
    forecast: ForecastOutcome | None = field(repr=False, default=None)
    network: NetworkOutcome | None = field(repr=False, default=None)
    reduced: Reductions | None = field(repr=False, default=None)

    def __post_init__(self) -> None:
        if self.baseline is None:
            self.baseline = no_p2p(
                self.clearing.demand, self.clearing.supply, self.clearing.retail, self.clearing.feed_in
            )

    # ---- per-participant arrays --------------------------------------------------------
    def allocation(self) -> Allocation:
        """Per-participant bought/sold/grid energy and bills, ``(T, N)`` (computed on demand)."""
        return self.clearing.allocate(self._series("allocation()"))

    @property
    def series(self) -> str:
        """``"full"`` when the ``(T, N)`` series (``net``, battery) are kept, ``"none"`` when only sums are."""
        return self.reduced.series if self.reduced is not None else "full"

    def _series(self, what: str) -> np.ndarray:
        """``net``, or a DataError naming ``what`` when the run kept no series."""
        if self.net is None:
            raise DataError(
                f"Result.{what} needs the (T, N) series, but this run kept only sums (series='none'); "
                "simulate again with series='full'"
            )
        return self.net

    def _member_total(self, what: str) -> np.ndarray:
        """Σ over steps of ``load`` or ``generation`` per member, kWh."""
        if self.reduced is not None:
            return getattr(self.reduced, f"{what}_member")
        return getattr(self.community, what).sum(axis=0)

    def _slot_total(self, what: str) -> np.ndarray:
        """Σ over members of ``load`` or ``generation`` per step, kWh."""
        if self.reduced is not None:
            return getattr(self.reduced, f"{what}_slot")
        return getattr(self.community, what).sum(axis=1)

    @property
    def index(self) -> pd.DatetimeIndex:
        """Time index (UTC)."""
        return self.community.index

    def _load_delta(self, rows: slice | None = None) -> np.ndarray | None:
        delta = self.battery.load_delta
        if delta is None:
            return None
        return delta if rows is None else delta[rows]

    @cached_property
    def _participant_sums(self) -> dict[str, np.ndarray]:
        if self.reduced is not None:
            return self.reduced.sums[self.market]
        c, b = self.clearing, self.baseline
        own = c.participant_totals()  # None for pool rules: their allocation is deficit × per-slot share
        one_b, one_s = np.ones_like(c.demand), np.ones_like(c.supply)
        bill = self._pool_bill_weights() if own is None else None
        if own is None:
            wb = np.stack([one_b, b.price_buy, c.peer_share_buy, c.price_buy], axis=1)
            ws = np.stack([one_s, b.price_sell, c.peer_share_sell, c.price_sell], axis=1)
            if bill is not None:  # the bill components ride along in the same pass over net
                wb, ws = np.hstack([wb, bill[1]]), np.hstack([ws, bill[2]])
        else:
            wb = np.stack([one_b, b.price_buy], axis=1)
            ws = np.stack([one_s, b.price_sell], axis=1)
        N = self.community.N
        acc_b = np.zeros((N, wb.shape[1]))
        acc_s = np.zeros((N, ws.shape[1]))
        for blk in _time_blocks(self.community.T):
            x = self.net[blk]
            acc_b += np.maximum(x, 0.0).T @ wb[blk]
            acc_s += np.maximum(-x, 0.0).T @ ws[blk]
        sums = {
            "deficit": acc_b[:, 0],
            "baseline_purchase_cost": acc_b[:, 1],
            "surplus": acc_s[:, 0],
            "baseline_revenue": acc_s[:, 1],
        }
        if own is None:
            own = {"bought": acc_b[:, 2], "purchase_cost": acc_b[:, 3], "sold": acc_s[:, 2], "revenue": acc_s[:, 3]}
            if bill is not None:
                own |= {"_bill_buy": acc_b[:, 4:], "_bill_sell": acc_s[:, 4:]}
        return sums | own

    def _pool_bill_weights(self) -> tuple[object, np.ndarray, np.ndarray] | None:
        """(accumulator, deficit weights, surplus weights) of the bill components of a pool rule, or None.

        The last column of each is the market price beyond the grid price on the member's own grid
        energy (its net payment to peers). None when the tariff needs per-member series (export
        limit, demand charge) or the clearing is an order book.
        """
        from peergrid.market.tariff import BillAccumulator, community_tariff

        com, c = self.community, self.clearing
        if isinstance(c, OrderClearing):
            return None
        acc = BillAccumulator(community_tariff(com), com.N, com.dt)
        if not acc.pool_ready:
            return None
        fb, fs = c.peer_share_buy, c.peer_share_sell
        wb, ws = acc.pool_weights(com.local_index, fb, fs)
        p2p_b = c.price_buy - (1.0 - fb) * com.retail
        p2p_s = -(c.price_sell - (1.0 - fs) * com.feed_in)
        return acc, np.column_stack([wb, p2p_b]), np.column_stack([ws, p2p_s])

    @cached_property
    def _member_emissions(self) -> np.ndarray:
        """Each member's emissions from its own grid import, kgCO2 (NaN without a carbon intensity).

        Σ over steps of the member's grid import (kWh, after peer trades) × the step's carbon
        intensity (kgCO2/kWh); export earns no credit. Sums to the community's ``emissions_kg``.
        """
        com, c = self.community, self.clearing
        ci = com.carbon_intensity
        if ci is None:
            return np.full(com.N, math.nan)
        if self.reduced is not None:
            return self.reduced.emissions[self.market]
        if isinstance(c, OrderClearing):  # every member's own trades
            out = np.zeros(com.N)
            for blk in _time_blocks(com.T, max(_BLOCK // max(com.N // 64, 1), 1)):
                out += c.allocate(self.net[blk], blk).grid_import.T @ ci[blk]
            return out
        # a pool rule: member grid import = deficit × (1 − peer share of the slot's purchases)
        w = (1.0 - c.peer_share_buy) * ci
        out = np.zeros(com.N)
        for blk in _time_blocks(com.T):
            out += np.maximum(self.net[blk], 0.0).T @ w[blk]
        return out

    @cached_property
    def participants(self) -> pd.DataFrame:
        """One row per participant: energy totals (kWh), bills and savings (currency)."""
        s = self._participant_sums
        com = self.community
        charge = np.zeros(com.N)
        discharge = np.zeros(com.N)
        if self.battery.owners.size:
            red = self.reduced
            charge[self.battery.owners] = self.battery.charge.sum(axis=0) if red is None else red.charge_owner
            discharge[self.battery.owners] = self.battery.discharge.sum(axis=0) if red is None else red.discharge_owner
        bill = s["purchase_cost"] - s["revenue"]
        baseline_bill = s["baseline_purchase_cost"] - s["baseline_revenue"]
        fc = self.forecast
        if fc is not None:  # the imbalance charge is the same with and without P2P trading
            imb = fc.member_charge
            bill, baseline_bill = bill + imb, baseline_bill + imb
        nw = self.network
        if nw is not None:  # line fees on P2P purchases; losses are physical, the same without P2P
            bill = bill + nw.member["line_fees"] + nw.member["loss_charge"]
            baseline_bill = baseline_bill + nw.member["loss_charge"]
        delta = self._load_delta()
        df = pd.DataFrame(
            {
                "id": com.ids,
                "role": com.participants["role"].to_numpy(),
                "load_kwh": self._member_total("load") + (0.0 if delta is None else delta.sum(axis=0)),
                "generation_kwh": self._member_total("generation"),
                "battery_charge_kwh": charge,
                "battery_discharge_kwh": discharge,
                "bought_kwh": s["bought"],
                "sold_kwh": s["sold"],
                "grid_import_kwh": s["deficit"] - s["bought"],
                "grid_export_kwh": s["surplus"] - s["sold"],
                "bill": bill,
                "baseline_bill": baseline_bill,
                "savings": baseline_bill - bill,
            }
        )
        df["scr"] = M.sharing_contribution_rate(s["sold"])
        df["emissions_kg"] = self._member_emissions
        if fc is not None:
            df["forecast_mae_kwh"] = fc.member_mae
            df["imbalance_kwh"] = fc.member_imbalance_kwh
            df["imbalance_charge"] = fc.member_charge
        if nw is not None:
            for key, values in nw.member.items():
                df[key] = values
        return df

    # ---- per-step community table -------------------------------------------------------
    @cached_property
    def steps(self) -> pd.DataFrame:
        """One row per step: community totals (kWh), prices (currency/kWh), bill (currency)."""
        c = self.clearing
        com = self.community
        delta = self._load_delta()
        red = self.reduced
        df = pd.DataFrame(
            {
                "load_kwh": self._slot_total("load") + (0.0 if delta is None else delta.sum(axis=1)),
                "generation_kwh": self._slot_total("generation"),
                "battery_charge_kwh": self.battery.charge.sum(axis=1) if red is None else red.charge_slot,
                "battery_discharge_kwh": self.battery.discharge.sum(axis=1) if red is None else red.discharge_slot,
                "battery_energy_kwh": self.battery.energy.sum(axis=1) if red is None else red.energy_slot,
                "demand_kwh": c.demand,
                "supply_kwh": c.supply,
                "traded_kwh": c.traded,
                "grid_import_kwh": c.grid_import,
                "grid_export_kwh": c.grid_export,
                "retail": c.retail,
                "feed_in": c.feed_in,
                "price_buy": c.price_buy,
                "price_sell": c.price_sell,
                "peer_share_buy": c.peer_share_buy,
                "peer_share_sell": c.peer_share_sell,
                "bill": c.member_bill,
                "fees": c.fees,
            },
            index=pd.Index(com.index, name="time"),
        )
        if self.forecast is not None:  # realised − planned net of the community, and its charges
            df["imbalance_kwh"] = self.forecast.slot_imbalance
            df["imbalance_charge"] = self.forecast.slot_charge
        if self.network is not None:
            for key, values in self.network.slot.items():
                df[key] = values
        if com.carbon_intensity is not None:  # kgCO2/kWh, and the community's emissions of the slot, kgCO2
            df["carbon_intensity"] = com.carbon_intensity
            df["emissions_kg"] = c.grid_import * com.carbon_intensity
        return df

    # ---- bills --------------------------------------------------------------------------
    @cached_property
    def _bills(self) -> pd.DataFrame:
        from peergrid.market.tariff import BillAccumulator, community_tariff

        com, c = self.community, self.clearing
        sums = self._participant_sums
        if "_bill_buy" in sums:  # a pool rule: summed with the participant totals (one pass over net)
            acc = self._pool_bill_weights()[0]  # type: ignore[index]
            bb, bs = sums["_bill_buy"], sums["_bill_sell"]
            acc.add_pool_sums(bb[:, :5], bs[:, :2], com.local_index)  # type: ignore[attr-defined]
            p2p = bb[:, 5] + bs[:, 2]
        elif self.reduced is not None:  # streamed: summed block by block during the run
            return self.reduced.bills[self.market].copy()
        else:
            acc = BillAccumulator(community_tariff(com), com.N, com.dt)
            local = com.local_index
            p2p = np.zeros(com.N)
            for blk in _time_blocks(com.T, max(_BLOCK // max(com.N // 64, 1), 1)):
                a = c.allocate(self.net[blk], blk)
                acc.add(local[blk], a.grid_import, a.grid_export, a.bought)
                p2p += a.bill.sum(axis=0) - (a.grid_import.T @ com.retail[blk] - a.grid_export.T @ com.feed_in[blk])
        df = acc.frame(com.ids)  # type: ignore[attr-defined]
        # what the market charged beyond the grid's marginal prices on each member's own grid energy:
        # net payments to peers (Σ over members = operator fees; 0 for the pool rules)
        df.insert(df.columns.get_loc("total"), "p2p", p2p)
        df["total"] += df["p2p"]
        if self.forecast is not None:  # metered deviations from the plan at λb / λs
            df.insert(df.columns.get_loc("total"), "imbalance", self.forecast.member_charge)
            df["total"] += df["imbalance"]
        if self.network is not None:  # paid to the network operator (peergrid.simulate.network)
            df.insert(df.columns.get_loc("total"), "line_fees", self.network.member["line_fees"])
            df.insert(df.columns.get_loc("total"), "losses", self.network.member["loss_charge"])
            df["total"] += df["line_fees"] + df["losses"]
        return df

    def bills(self) -> pd.DataFrame:
        """Each member's bill under this market and the community's tariff, by component.

        A member pays its supplier for its own grid energy and fixed charges, and its peers
        for what the market allocated to it (:attr:`Community.tariff`; see
        :func:`peergrid.market.tariff.bill_components` for the components)::

            total = energy + network + local_network + standing + demand + tax + vat
                    − feed_in_credit + p2p

        ``energy``, ``network``, ``tax`` and ``vat`` on them are the grid-import part of the
        market bill at the marginal retail price λb; ``local_network`` is charged on the
        energy bought from peers (``local_kwh``), ``standing`` and ``demand`` (monthly peak
        grid import in local time) per member; ``feed_in_credit`` pays grid export up to the
        export limit (``spilled_kwh`` is not paid); ``p2p`` is the member's net payment to
        peers at the market's internal prices (gross, like λb; its sum over members is the
        operator's fees, 0 for the pool rules). Σ members' ``total`` = the community's grid
        bill (λb·import − λs·paid export) + operator fees + local network, standing and
        demand charges and their VAT. With an imperfect forecaster (:attr:`forecast`) the
        grid and market columns are those of the planned positions, and an ``imbalance``
        column (before ``total``) charges each member's metered deviation from its plan:
        extra import at λb, extra export at λs.

        Returns
        -------
        pandas.DataFrame
            One row per member (index ``member``); money columns in the community currency,
            ``*_kwh`` in kWh, ``billed_peak_kw`` in kW (Σ of monthly peaks).
        """
        return self._bills.copy()

    def bill_summary(self) -> dict[str, object]:
        """The community's bill: tariff name, currency and every column of :meth:`bills` summed."""
        from peergrid.market.tariff import community_tariff

        tariff = community_tariff(self.community)
        totals = {str(k): _json_number(float(v)) for k, v in self._bills.sum(axis=0).items()}
        return {"tariff": tariff.name, "currency": tariff.currency, **totals}

    def soc(self) -> pd.DataFrame:
        """State of charge of each battery (fraction of capacity), time × owner id."""
        self._series("soc()")
        cap = np.where(self.battery.capacity > 0, self.battery.capacity, 1.0)
        return pd.DataFrame(
            self.battery.energy / cap, index=self.index, columns=self.community.ids[self.battery.owners]
        )

    def table(self) -> pd.DataFrame:
        """Tidy long table, one row per step × participant (T·N rows; mind the size).

        Columns: time, participant, load, generation, battery, soc, net, bought, sold,
        grid_import, grid_export (kWh), price_buy, price_sell (currency/kWh: the slot's
        average prices, the same for every participant), bill (currency: the
        participant's own bill; under order-book markets it differs between buyers of
        a slot); with an imperfect forecaster also imbalance (kWh, realised − planned net;
        ``net`` is the planned net the market cleared).
        """
        return pd.concat(list(self._table_blocks()), ignore_index=True)

    def _table_blocks(self, block: int = _BLOCK) -> Iterator[pd.DataFrame]:
        self._series("table()")
        com = self.community
        N = com.N
        ids = pd.Categorical(com.ids)
        for blk in _time_blocks(com.T, max(block // max(N // 64, 1), 1)):
            t = com.index[blk]
            nb = len(t)
            battery = np.zeros((nb, N))
            soc = np.full((nb, N), np.nan)
            if self.battery.owners.size:
                battery[:, self.battery.owners] = self.battery.power[blk]
                cap = np.where(self.battery.capacity > 0, self.battery.capacity, 1.0)
                soc[:, self.battery.owners] = self.battery.energy[blk] / cap
            x = self.net[blk]
            c = self.clearing
            a = c.allocate(x, blk)
            load = com.load_block(blk)
            delta = self._load_delta(blk)
            if delta is not None:
                load = load + delta
            yield pd.DataFrame(
                {
                    "time": np.repeat(t, N),
                    "participant": np.tile(ids, nb),
                    "load": load.ravel(),
                    "generation": com.generation_block(blk).ravel(),
                    "battery": battery.ravel(),
                    "soc": soc.ravel(),
                    "net": np.asarray(x, dtype=np.float64).ravel(),
                    "bought": a.bought.ravel(),
                    "sold": a.sold.ravel(),
                    "grid_import": a.grid_import.ravel(),
                    "grid_export": a.grid_export.ravel(),
                    "price_buy": np.repeat(c.price_buy[blk], N),
                    "price_sell": np.repeat(c.price_sell[blk], N),
                    "bill": a.bill.ravel(),
                    **({"imbalance": self.forecast.imbalance[blk].ravel()} if self.forecast is not None else {}),
                }
            )

    # ---- metrics ----------------------------------------------------------------------
    @cached_property
    def metrics(self) -> dict[str, float]:
        """Community metrics (see :mod:`peergrid.metrics`); NaN where undefined."""
        com, c, s = self.community, self.clearing, self._participant_sums
        delta = self._load_delta()
        red = self.reduced
        if red is None:
            load = float(com.load.sum()) + (0.0 if delta is None else float(delta.sum()))
            gen = float(com.generation.sum())
        else:
            load = float(red.load_member.sum()) + (0.0 if delta is None else float(delta.sum()))
            gen = float(red.generation_member.sum())
        imp = float(c.grid_import.sum())
        exp = float(c.grid_export.sum())
        purchase = float(s["purchase_cost"].sum())
        base_purchase = float(s["baseline_purchase_cost"].sum())
        revenue = float(s["revenue"].sum())
        base_revenue = float(s["baseline_revenue"].sum())
        v_max = float((c.supply * c.retail).sum())
        cost = float(c.member_bill.sum())
        baseline_cost = float(self.baseline.member_bill.sum())
        import_kw = c.grid_import / com.dt
        savings = self.participants["savings"].to_numpy()
        out: dict[str, float] = {
            "self_sufficiency": M.self_sufficiency(load, imp),
            "self_consumption": M.self_consumption(gen, exp),
            "individual_self_consumption": M.self_consumption(gen, float(c.supply.sum())),
            "community_cost": cost,
            "baseline_cost": baseline_cost,
            "community_cost_reduction": M.cost_reduction(cost, baseline_cost),
            "purchase_cost": purchase,
            "cost_reduction": M.cost_reduction(purchase, base_purchase),
            "seller_revenue": revenue,
            "pm": M.performance_measure(revenue, base_revenue, v_max),
            "peak_import_kw": float(import_kw.max()),
            "mean_import_kw": float(import_kw.mean()),
            "peak_to_average": M.peak_to_average(import_kw),
            "load_kwh": load,
            "generation_kwh": gen,
            "traded_kwh": float(c.traded.sum()),
            "operator_fees": float(c.fees.sum()),
            "grid_import_kwh": imp,
            "grid_export_kwh": exp,
            "mean_price_buy": float((c.price_buy * c.demand).sum() / c.demand.sum())
            if c.demand.sum() > 0
            else math.nan,
            "mean_price_sell": float((c.price_sell * c.supply).sum() / c.supply.sum())
            if c.supply.sum() > 0
            else math.nan,
            "savings_total": float(savings.sum()),
            "savings_min": float(savings.min()),
            "savings_max": float(savings.max()),
            "share_better_off": float(np.mean(savings >= -1e-9)),
            "jain_fairness": M.jain_index(savings),
        }
        out.update(
            M.ess_utilisation(
                float(self.battery.charge.sum() if red is None else red.charge_owner.sum()),
                float(self.battery.discharge.sum() if red is None else red.discharge_owner.sum()),
                float(self.battery.capacity.sum()),
                com.T * com.dt,
            )
        )
        out["emissions_kg"] = (
            math.nan if com.carbon_intensity is None else float(c.grid_import @ com.carbon_intensity)
        )
        total_bill = float(self._bills["total"].sum())
        out["total_bill"] = total_bill
        out["total_bill_reduction"] = M.cost_reduction(total_bill, self._baseline_total_bill)
        if self.faults is not None:
            out.update(self.faults.metrics(c, load))
        if self.forecast is not None:
            fm = self.forecast.metrics()
            out.update(fm)
            for key in ("community_cost", "baseline_cost"):  # members pay the imbalance in either case
                out[key] += fm["imbalance_cost"]
            out["community_cost_reduction"] = M.cost_reduction(out["community_cost"], out["baseline_cost"])
        if self.network is not None:
            nw = self.network
            out["community_cost"] += nw.line_fees + nw.loss_charge
            out["baseline_cost"] += nw.loss_charge
            out["community_cost_reduction"] = M.cost_reduction(out["community_cost"], out["baseline_cost"])
            out.update(nw.metrics())
        return out

    @cached_property
    def _baseline_total_bill(self) -> float:
        """Σ members' whole bills (:meth:`bills` ``total``) of the same net positions without P2P trading."""
        from peergrid.market.tariff import BillAccumulator, community_tariff

        com = self.community
        tariff = community_tariff(com)
        acc = BillAccumulator(tariff, com.N, com.dt)
        local = com.local_index
        if acc.pool_ready:
            # no export limit, no demand charge: the baseline sums hold the energy part, λb·deficit − λs·surplus
            # (λb = (energy + network + tax)·(1 + VAT), energy_prices); the accumulator adds the standing charge
            s = self._participant_sums
            acc.add_pool_sums(np.zeros((com.N, 5)), np.zeros((com.N, 2)), local)
            fixed = float(acc.frame(com.ids)["total"].sum())
            return float(s["baseline_purchase_cost"].sum() - s["baseline_revenue"].sum()) + fixed + self._loss_total
        if self.reduced is not None and self.reduced.baseline_total_bill is not None:
            return self.reduced.baseline_total_bill + self._loss_total
        for blk in _time_blocks(com.T, max(_BLOCK // max(com.N // 64, 1), 1)):
            x = self.net[blk]
            acc.add(local[blk], np.maximum(x, 0.0), np.maximum(-x, 0.0), None)
        return float(acc.frame(com.ids)["total"].sum()) + self._loss_total

    @property
    def _loss_total(self) -> float:
        """Σ members' loss charges of a network-aware run (0 otherwise): paid with or without P2P."""
        return self.network.loss_charge if self.network is not None else 0.0

    def summary(self) -> dict[str, object]:
        """JSON-ready metrics (NaN → None) and the community's bill by component (``"bill"``,
        :meth:`bill_summary`), ``"coordination"`` (:meth:`CoordinationInfo.to_dict`) when set, and
        ``"forecast"`` with an imperfect forecaster."""
        out = {**{k: _json_number(v) for k, v in self.metrics.items()}, "bill": self.bill_summary()}
        if self.coordination is not None:
            out["coordination"] = self.coordination.to_dict()
        if self.forecast is not None:
            out["forecast"] = _json_tree(self.forecast.summary(self.clearing, self.net))
        if self.network is not None:
            out["grid"] = _json_tree(self.network.summary())
        return out

    # ---- persistence ----------------------------------------------------------------
    def to_parquet(self, directory: str | Path) -> Path:
        """Write the result as tidy Parquet tables plus ``metrics.json``.

        Files: ``series.parquet`` (step × participant long table), ``steps.parquet``
        (per-step community table), ``participants.parquet`` (participant table with
        parameters and totals), ``result.json`` (market, control, community meta,
        metrics).

        Parameters
        ----------
        directory : str or pathlib.Path
            Created if missing.

        Returns
        -------
        pathlib.Path
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._series("to_parquet()")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        writer = None
        try:
            for frame in self._table_blocks():
                frame = frame.assign(participant=frame["participant"].astype(str))
                tbl = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(d / "series.parquet", tbl.schema, compression="zstd")
                writer.write_table(tbl)
        finally:
            if writer is not None:
                writer.close()
        self.steps.to_parquet(d / "steps.parquet", compression="zstd")
        self._bills.to_parquet(d / "bills.parquet", compression="zstd")
        parts = self.community.participants.merge(self.participants.drop(columns=["role"]), on="id", how="left")
        parts.to_parquet(d / "participants.parquet", compression="zstd")
        meta = {
            "market": self.market,
            "control": self.control,
            **_market_options(self.clearing),
            **({"coordination": self.coordination.to_dict()} if self.coordination is not None else {}),
            "community": {
                "name": self.community.name,
                "source": self.community.source,
                "currency": self.community.currency,
                "tz": self.community.tz,
                **({"display_tz": str(dtz)} if (dtz := (self.community.meta or {}).get("display_tz")) else {}),
                "freq": pd.tseries.frequencies.to_offset(self.community.index.freq).freqstr,
                "tariff": self.community.tariff.to_dict(full=True) if self.community.tariff is not None else None,
            },
            "metrics": self.summary(),
        }
        if self.forecast is not None:
            meta["forecast"] = meta["metrics"]["forecast"]
        if self.network is not None:  # the feeder and per-slot bus injections: rerun pandapower on any slot
            meta["grid"] = _json_tree(self.network.meta())
            self.network.write(d)
        (d / "result.json").write_text(json.dumps(meta, indent=2))
        return d

    @classmethod
    def from_parquet(cls, directory: str | Path) -> Result:
        """Read a result written by :meth:`to_parquet`.

        Parameters
        ----------
        directory : str or pathlib.Path

        Returns
        -------
        Result
        """
        d = Path(directory)
        meta, steps, parts = _read_result_tables(d)
        T, N = len(steps), len(parts)
        order_book = "bidding" in meta
        cols = [*_SHARED_SERIES, *(_ORDER_SERIES if order_book else ()), *_forecast_series(meta)]
        wide = _read_series(d, cols, T, N)
        community, schedule = _community_and_schedule(meta, steps, parts, wide)
        return cls._restore(meta, steps, community, schedule, wide["net"], wide, _read_bills(d), parts, d)

    @classmethod
    def _restore(
        cls,
        meta: dict,
        steps: pd.DataFrame,
        community: Community,
        schedule: BatterySchedule,
        net: np.ndarray,
        wide: Mapping[str, np.ndarray],
        bills: pd.DataFrame | None = None,
        parts: pd.DataFrame | None = None,
        directory: Path | None = None,
    ) -> Result:
        per_slot = (
            meta["market"],
            steps["demand_kwh"].to_numpy(),
            steps["supply_kwh"].to_numpy(),
            steps["retail"].to_numpy(),
            steps["feed_in"].to_numpy(),
            steps["price_buy"].to_numpy(),
            steps["price_sell"].to_numpy(),
            steps["peer_share_buy"].to_numpy(),
            steps["peer_share_sell"].to_numpy(),
        )
        if "bidding" in meta:  # an order-book market: every participant's own outcome is in the series
            clearing: Clearing = OrderClearing(
                *per_slot,
                peer=wide["bought"] - wide["sold"],
                bill=wide["bill"],
                operator_fees=steps["fees"].to_numpy(),
                bidding=meta["bidding"],
                options=meta.get("market_options", {}),
            )
        else:
            clearing = Clearing(*per_slot)
        forecast = None
        if isinstance(meta.get("forecast"), dict):
            from peergrid.simulate.forecasting import ForecastOutcome

            forecast = ForecastOutcome.restore(meta["forecast"], wide["imbalance"], community.retail, community.feed_in)
        res = cls(community, meta["market"], meta["control"], schedule, net, clearing, forecast=forecast)
        if isinstance(meta.get("coordination"), dict):
            from peergrid.simulate.coordination import CoordinationInfo

            res.coordination = CoordinationInfo.from_dict(meta["coordination"])
        if isinstance(meta.get("grid"), dict):
            from peergrid.simulate.network import NetworkOutcome

            res.network = NetworkOutcome.restore(meta["grid"], steps, bills, parts, directory)
        # what the run computed, exactly as written (a rebuilt report shows the same numbers)
        res.__dict__["steps"] = steps
        stored = meta.get("metrics")
        if isinstance(stored, dict):
            res.__dict__["metrics"] = {
                k: math.nan if v is None else v for k, v in stored.items() if not isinstance(v, dict)
            }  # "bill" (a table of its own) is recomputed from bills.parquet below
        if bills is not None:
            res.__dict__["_bills"] = bills
        return res


#: Long-table columns shared by every result of a comparison / of order-book markets only.
_SHARED_SERIES = ("load", "generation", "battery", "soc", "net")
_ORDER_SERIES = ("bought", "sold", "bill")


def _forecast_series(meta: dict) -> tuple[str, ...]:
    """The long-table column of a run on forecasts (realised − planned net), if any."""
    return ("imbalance",) if isinstance(meta.get("forecast"), dict) else ()


def _json_tree(value: object) -> object:
    """``value`` with non-finite floats replaced by None (nested dicts)."""
    if isinstance(value, dict):
        return {k: _json_tree(v) for k, v in value.items()}
    return _json_number(value)


def _read_result_tables(d: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """``result.json``, ``steps.parquet`` and ``participants.parquet`` of a result directory."""
    for name in ("series.parquet", "steps.parquet", "participants.parquet", "result.json"):
        if not (d / name).is_file():
            raise DataError(f"{d}: not a peergrid result directory (missing {name})")
    meta = json.loads((d / "result.json").read_text())
    steps = pd.read_parquet(d / "steps.parquet")
    parts = pd.read_parquet(d / "participants.parquet")
    return meta, steps, parts


def _read_bills(d: Path) -> pd.DataFrame | None:
    """``bills.parquet`` of a result directory (None for results written before bills existed)."""
    return pd.read_parquet(d / "bills.parquet") if (d / "bills.parquet").is_file() else None


def _read_series(d: Path, columns: Iterable[str], T: int, N: int) -> dict[str, np.ndarray]:
    """Columns of ``series.parquet`` as ``(T, N)`` float arrays (only those columns are read)."""
    import pyarrow.parquet as pq

    cols = list(columns)
    path = d / "series.parquet"
    pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)  # stream: one column chunk at a time
    rows = pf.metadata.num_rows
    if rows != T * N:
        raise DataError(f"{d}: series.parquet has {rows} rows, expected {T}x{N}")
    out = {c: np.empty(T * N, dtype=np.float64) for c in cols}
    pos = 0
    for i in range(pf.num_row_groups):
        n = pf.metadata.row_group(i).num_rows
        for c in cols:
            chunk = pf.read_row_group(i, columns=[c], use_threads=False).column(0)
            out[c][pos : pos + n] = chunk.to_numpy()
        pos += n
    return {c: a.reshape(T, N) for c, a in out.items()}


def _community_and_schedule(
    meta: dict, steps: pd.DataFrame, parts: pd.DataFrame, wide: Mapping[str, np.ndarray]
) -> tuple[Community, BatterySchedule]:
    T = len(steps)
    index = pd.DatetimeIndex(steps.index, freq=meta["community"]["freq"])
    pcols = ["id", *PARTICIPANT_DEFAULTS, *(["source_home"] if "source_home" in parts else [])]
    community = Community(
        index=index,
        participants=parts[pcols],
        load=wide["load"],
        generation=wide["generation"],
        retail=steps["retail"].to_numpy(),
        feed_in=steps["feed_in"].to_numpy(),
        name=meta["community"]["name"],
        source=meta["community"]["source"],
        currency=meta["community"]["currency"],
        tz=meta["community"].get("tz", "UTC"),
        tariff=_tariff_from_meta(meta["community"].get("tariff")),
        meta={"display_tz": meta["community"]["display_tz"]} if meta["community"].get("display_tz") else {},
        carbon_intensity=steps["carbon_intensity"].to_numpy() if "carbon_intensity" in steps else None,
    )
    soc_all = wide["soc"]
    owners = np.flatnonzero(~np.isnan(soc_all[0])) if T else np.zeros(0, dtype=np.int64)
    cap = parts["battery_kwh"].to_numpy(np.float64)[owners]
    power = wide["battery"][:, owners]
    schedule = BatterySchedule(
        owners=owners,
        charge=np.maximum(power, 0.0),
        discharge=np.maximum(-power, 0.0),
        energy=soc_all[:, owners] * cap,
        capacity=cap,
    )
    return community, schedule


def result_dirs(directory: Path) -> list[Path]:
    """Result directories under ``directory`` (itself, ``results/*`` or ``*``), in market order."""
    from peergrid.market.mechanisms import MARKETS

    if (directory / "result.json").is_file():
        return [directory]
    base = directory / "results" if (directory / "results").is_dir() else directory
    subdirs = [p for p in base.iterdir() if (p / "result.json").is_file()] if base.is_dir() else []
    order = {m: i for i, m in enumerate(MARKETS)}
    return sorted(subdirs, key=lambda p: (order.get(p.name, len(order)), p.name))


class Comparison(Mapping[str, Result]):
    """Results of several markets on the same community and battery schedule.

    A read-only mapping ``market name -> Result``; the battery schedule and the
    ``(T, N)`` net array are shared, not copied (under price-response coordination
    each market has its own).
    """

    def __init__(self, results: dict[str, Result]) -> None:
        self._results = dict(results)

    def __getitem__(self, key: str) -> Result:
        return self._results[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    @property
    def community(self) -> Community:
        """The community all results share."""
        return next(iter(self._results.values())).community

    def metrics(self) -> pd.DataFrame:
        """Metrics table, one row per market."""
        return pd.DataFrame({k: r.metrics for k, r in self._results.items()}).T

    def summary(self) -> dict[str, dict[str, object]]:
        """JSON-ready ``{market: {metric: value}}``."""
        return {k: r.summary() for k, r in self._results.items()}

    def savings(self) -> pd.DataFrame:
        """Per-participant savings vs the no-P2P baseline (currency), participant × market."""
        return pd.DataFrame(
            {k: r.participants["savings"].to_numpy() for k, r in self._results.items()}, index=self.community.ids
        )

    @classmethod
    def from_parquet(cls, directory: str | Path, *, on_stage: Callable[[str], None] | None = None) -> Comparison:
        """Read results written by :meth:`to_parquet` (or by ``peergrid simulate --out``).

        The results of one comparison share the community, the battery schedule and
        the ``(T, N)`` net array, so these are read once, from the first market's
        ``series.parquet``, and only the columns needed (no long table in memory);
        the other markets contribute their per-step table, metrics and, for
        order-book markets, their own trades and bills. A market whose per-step
        demand and supply differ from the first one's (results of another run) is
        read in full.

        Parameters
        ----------
        directory : str or pathlib.Path
            A directory holding ``<market>/result.json`` directories, or its parent
            with a ``results/`` folder, or one result directory.
        on_stage : callable, optional
            Called with a short description before each market is read (progress).

        Returns
        -------
        Comparison
            Markets in :data:`peergrid.market.MARKETS` order.

        Raises
        ------
        DataError
            No result directories, or an incomplete one.
        """
        d = Path(directory)
        dirs = result_dirs(d) if d.is_dir() else []
        if not dirs:
            raise DataError(f"{d}: no peergrid results found (expected */result.json)")
        results: dict[str, Result] = {}
        shared: tuple | None = None
        for sub in dirs:
            if on_stage is not None:
                on_stage(f"reading results: {sub.name}")
            meta, steps, parts = _read_result_tables(sub)
            T, N = len(steps), len(parts)
            order_cols = (*(_ORDER_SERIES if "bidding" in meta else ()), *_forecast_series(meta))
            same = (
                shared is not None
                and "coordination" not in meta  # price response: each market has its own schedule
                and (T, N) == shared[0].load.shape
                and np.array_equal(steps["demand_kwh"].to_numpy(), shared[3])
                and np.array_equal(steps["supply_kwh"].to_numpy(), shared[4])
            )
            if same:
                community, schedule, net = shared[:3]  # type: ignore[index]
                wide = _read_series(sub, order_cols, T, N) if order_cols else {}
            else:
                wide = _read_series(sub, [*_SHARED_SERIES, *order_cols], T, N)
                community, schedule = _community_and_schedule(meta, steps, parts, wide)
                net = wide["net"]
                if shared is None:
                    shared = (community, schedule, net, steps["demand_kwh"].to_numpy(), steps["supply_kwh"].to_numpy())
            res = Result._restore(meta, steps, community, schedule, net, wide, _read_bills(sub), parts, sub)
            results[res.market] = res
        return cls(results)

    def to_parquet(self, directory: str | Path) -> Path:
        """Write each result under ``directory/<market>/`` (see :meth:`Result.to_parquet`)."""
        d = Path(directory)
        for name, res in self._results.items():
            res.to_parquet(d / name)
        return d


def _market_options(clearing: Clearing) -> dict[str, object]:
    """``bidding`` and ``market_options`` of an order-book clearing, for ``result.json`` (empty for pool rules)."""
    if not isinstance(clearing, OrderClearing):
        return {}
    return {"bidding": clearing.bidding, "market_options": dict(clearing.options)}


def _tariff_from_meta(data: dict | None) -> object:
    if not data:
        return None
    from peergrid.market.tariff import tariff_from_dict

    return tariff_from_dict(data)


def _json_number(v: object) -> object:
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    return v
