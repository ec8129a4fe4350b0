"""Experiments behind the claims of Anoh et al. (2026, abstract only), each with an explicit verdict.

Common set-up (peergrid assumptions where the abstract is silent):

* households: :func:`peergrid.data.synthetic_community` (transformed measured
  CityLearn 2022 homes), August 2022, 15-min steps, 50 % PV owners, 30 %
  batteries, feed-in 0.07 USD/kWh, CityLearn time-of-use retail price; step 0 at
  local midnight (08:00 UTC);
* radio: gateways on a grid 400 m apart, devices uniform, LoRaSim path loss,
  ADR (:func:`peergrid.zoom.lora.plan_radio`), 20-byte uplink per step;
* market: SDR in every VMG, inter-VMG balancing by the coordinator;
* **flat baseline** ("no zooming"): no ADR — every covered device on SF12 at
  14 dBm, the setting that maximises coverage — and one flat SDR market over
  all covered participants; the gateway multicasts the settlement at SF12.

Claims checked (``CLAIMS``): share of P2P energy traded at lower SFs (SF7–SF9),
energy cost vs network size and prosumer count, OPEX and base-station power of
zooming vs the flat baseline, grid-connected vs islanded VMG cost; plus the
forecasting comparison (FedAvg vs local vs centralised).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peergrid.core.errors import ConfigError
from peergrid.metrics import cost_reduction
from peergrid.zoom.agents import ZoomPolicy, run_radio_agents
from peergrid.zoom.costs import CostParams, measured_network_cost
from peergrid.zoom.lora import SF, Deployment, RadioParams, link_budget, plan_radio
from peergrid.zoom.vmg import LOWER_SF, VMGPlan, form_vmgs, trade

__all__ = ["EXPERIMENTS", "VERDICTS", "ZoomExperiment", "run_experiment", "write_experiment"]

#: Verdicts of a claim (the vocabulary of :mod:`peergrid.reproduce`).
VERDICTS = ("agrees", "disagrees", "not comparable")

#: Islanded VMGs leaving more than this share of consumption unserved do not deliver the same
#: service as grid-connected ones: their charges are then not comparable.
UNSERVED_COMPARABLE = 0.05


def _claim(cid: str, verdict: str, reason: str, **fields: Any) -> dict[str, Any]:
    """A claim record: ``verdict`` decides ``agrees`` (they cannot disagree)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} not in {VERDICTS}")
    return {"id": cid, **fields, "verdict": verdict, "reason": reason, "agrees": verdict == "agrees"}


START = "2022-08-01 08:00"  # local midnight at the CityLearn site (UTC−8)
SPD = 96


@dataclass
class ZoomExperiment:
    """Result of one experiment.

    Attributes
    ----------
    name : str
    table : pandas.DataFrame
        The figures (written as CSV).
    claims : list of dict
        ``{"id", "claim", "paper", "measured", "verdict", "reason", "agrees", "baseline", "criterion"}``
        per claim; ``verdict`` is one of :data:`VERDICTS` and ``agrees`` is ``verdict == "agrees"``
        (the prose of docs/zoom.md and ``peergrid reproduce anoh`` state the same verdicts).
    plot : callable
        Builds the PNG figure.
    seconds : float
    params : dict
        Sizes and settings used.
    """

    name: str
    table: pd.DataFrame
    claims: list[dict[str, Any]]
    plot: Callable[[], Figure]
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """JSON-able summary (stable keys)."""
        return {
            "experiment": self.name,
            "seconds": round(self.seconds, 3),
            "params": self.params,
            "claims": self.claims,
            "rows": json.loads(self.table.to_json(orient="records", double_precision=6)),
        }


def _community(n: int, days: int, seed: int, pv_share: float = 0.5):
    from peergrid.data import synthetic_community

    return synthetic_community(n, start=START, periods=SPD * days, freq="15min", seed=seed, pv_share=pv_share)


def _net(c) -> np.ndarray:
    return c.load - c.generation


def _fig(ncols: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.4 * ncols, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


# ---------------------------------------------------------------------------- 1. SF share
def _traded_by_sf(run) -> np.ndarray:
    """``(6,)`` P2P energy (both ends, local + inter-VMG) traded by devices on SF7..SF12, each day at its SF."""
    out = np.zeros(6)
    for r, cfg in zip(run.results, run.configs, strict=True):
        traded = (r.bought + r.sold + r.inter_import + r.inter_export).sum(axis=0)
        out += np.bincount(cfg.sf, weights=traded, minlength=13)[7:13]
    return out


def exp_sf_share(quick: bool = False, seed: int = 0) -> ZoomExperiment:
    """Share of P2P energy traded by devices on SF7–SF9 when the agents zoom the radio; vs gateway spacing."""
    n = 600 if quick else 4000
    g = 4 if quick else 20
    days = 10 if quick else 14
    c = _community(n, days, seed)
    net = _net(c)
    rows = []
    by_sf = None
    by_sf_adr = None
    for spacing in (200.0, 300.0, 400.0, 600.0):
        budget = link_budget(Deployment.grid(n, g, spacing, seed=seed), seed=seed)
        run = run_radio_agents(
            net, budget, c.retail, c.feed_in, SPD, 8, ZoomPolicy(), rounds=10 if quick else 30, seed=seed
        )
        per_sf = _traded_by_sf(run)
        total = per_sf.sum()
        share = float(per_sf[: len(LOWER_SF)].sum() / total) if total > 0 else float("nan")
        sfd = run.sf_days()
        row = {
            "spacing_m": spacing,
            "lower_sf_energy_share": share,
            "lower_sf_device_share": float(np.isin(sfd, LOWER_SF).mean()),
            "mean_zoom": float(run.zoom.mean()),
            "in_zoom_share": float(np.mean([cf.in_zoom[cf.sf > 0].mean() for cf in run.configs])),
            "measured_pdr": float(np.mean([lg.summary()["pdr"] for lg in run.logs])),
            **{f"sf{s}_kwh": float(v) for s, v in zip(SF, per_sf, strict=True)},
        }
        if spacing == 400.0:
            by_sf = per_sf
            adr = run_radio_agents(net, budget, c.retail, c.feed_in, SPD, 8, strategy="adr", seed=seed)
            by_sf_adr = _traded_by_sf(adr)
            row["lower_sf_energy_share_adr_only"] = float(by_sf_adr[:3].sum() / max(by_sf_adr.sum(), 1e-12))
        rows.append(row)
    table = pd.DataFrame(rows)
    ref = table[table["spacing_m"] == 400.0].iloc[0]
    best = table["lower_sf_energy_share"].max()
    ok = bool(ref["lower_sf_energy_share"] > 0.7)
    claims = [
        _claim(
            "lower_sf_share",
            "agrees" if ok else "disagrees",
            "zooming moves devices to lower SFs (ADR alone: "
            f"{ref['lower_sf_energy_share_adr_only']:.1%} at SF7–9), but "
            f"the agents stop at zoom {ref['mean_zoom']:.1f} on average, where the forecast energy balance and the "
            f"measured PDR (target {ZoomPolicy().pdr_target:.0%}) hold; the share "
            f"{'also ' if ok else 'only '}exceeds 70 % with denser gateways ({best:.1%} at "
            f"{table.loc[table['lower_sf_energy_share'].idxmax(), 'spacing_m']:.0f} m)",
            claim="energy traded at lower SF",
            paper="> 70 % of the energy is traded at lower SF",
            measured=f"{ref['lower_sf_energy_share']:.1%} at 400 m gateway spacing with radio-zooming agents "
            f"({ref['lower_sf_device_share']:.1%} of device-days on SF7–9; ADR alone "
            f"{ref['lower_sf_energy_share_adr_only']:.1%}); {best:.1%} at the densest spacing tried",
            baseline="lower SF = SF7–SF9, each device at the SF the network server gave it that day; ADR alone = "
            "zoom 12 everywhere; flat baseline trades everything on SF12 (0 %)",
            criterion="share of P2P-traded energy (both ends, local + inter-VMG) of SF7–9 devices > 70 % "
            "at the default 400 m spacing",
        )
    ]

    def plot() -> Figure:
        fig, (a, b) = _fig(2)
        x = np.arange(6)
        a.bar(x - 0.2, by_sf_adr if by_sf_adr is not None else np.zeros(6), 0.4, label="ADR alone (zoom 12)")
        a.bar(x + 0.2, by_sf if by_sf is not None else np.zeros(6), 0.4, label="radio-zooming agents")
        a.set_xticks(x, [f"SF{s}" for s in SF])
        a.set_ylabel("P2P energy traded, kWh")
        a.set_title("Traded energy by SF (400 m spacing)")
        a.legend()
        b.plot(table["spacing_m"], 100 * table["lower_sf_energy_share"], "o-", label="energy at SF7–9")
        b.plot(table["spacing_m"], 100 * table["lower_sf_device_share"], "s--", label="device-days on SF7–9")
        b.axhline(70, color="grey", ls=":", label="paper: 70 %")
        b.set_xlabel("gateway spacing, m")
        b.set_ylabel("%")
        b.legend()
        return fig

    return ZoomExperiment("sf-share", table, claims, plot, params={"devices": n, "gateways": g, "days": days})


# ---------------------------------------------------------------------------- 2. network size
def exp_network_size(quick: bool = False, seed: int = 0) -> ZoomExperiment:
    """Energy cost per kWh consumed vs number of devices and prosumer share (zooming + coordinator, SDR)."""
    sizes = (50, 200, 800) if quick else (50, 100, 250, 500, 1000, 2500, 5000)
    shares = (0.2, 0.5) if quick else (0.2, 0.35, 0.5, 0.65)
    days = 2 if quick else 7
    rows = []
    for share in shares:
        for n in sizes:
            c = _community(n, days, seed, pv_share=share)
            net = _net(c)
            g = max(1, round(n / 200))
            radio = plan_radio(Deployment.grid(n, g, 400.0, seed=seed), seed=seed)
            plan = form_vmgs(radio, 12)
            res = trade(net, plan, c.retail, c.feed_in, "sdr", "grid", coordinator=True)
            base = trade(net, plan, c.retail, c.feed_in, "baseline", "grid", coordinator=False)
            consumed = float(c.load.sum())
            rows.append(
                {
                    "devices": n,
                    "gateways": g,
                    "prosumer_share": share,
                    "prosumers": int((c.participants["pv_kwp"] > 0).sum()),
                    "cost_per_kwh": float(res.bill.sum()) / consumed,
                    "no_p2p_cost_per_kwh": float(base.bill.sum()) / consumed,
                    "saving_vs_no_p2p": cost_reduction(float(res.bill.sum()), float(base.bill.sum())),
                }
            )
    table = pd.DataFrame(rows)
    # fall with network size at the default prosumer share, and across prosumer shares at the largest size
    mid = table[table["prosumer_share"] == 0.5].sort_values("devices")
    size_fall = cost_reduction(mid["cost_per_kwh"].iloc[-1], mid["cost_per_kwh"].iloc[0])
    big = table[table["devices"] == max(sizes)].sort_values("prosumer_share")
    pros_fall = cost_reduction(big["cost_per_kwh"].iloc[-1], big["cost_per_kwh"].iloc[0])
    base_text = (
        "same households, smallest network (size) / fewest prosumers (prosumers); cost = members' bills incl. grid "
        "residual, per kWh consumed"
    )
    size_ok, pros_ok = bool(0.3 <= size_fall <= 0.5), bool(0.3 <= pros_fall <= 0.5)
    claims = [
        _claim(
            "cost_vs_size",
            "agrees" if size_ok else "disagrees",
            "pooling gains saturate at a few dozen households: a larger network adds no saving per kWh"
            if not size_ok
            else "the fall lies within 40 ± 10 %",
            claim="energy cost vs network size",
            paper="energy costs decrease by ~40 % in proportion to the network size",
            measured=f"cost/kWh changes {-size_fall:+.1%} from {min(sizes)} to {max(sizes)} devices (50 % prosumers)",
            baseline=base_text,
            criterion="cost per kWh falls by 30–50 % from the smallest to the largest network",
        ),
        _claim(
            "cost_vs_prosumers",
            "agrees" if pros_ok else "disagrees",
            f"more prosumers share more PV; saving against no P2P "
            f"{big['saving_vs_no_p2p'].iloc[0]:.1%} → {big['saving_vs_no_p2p'].iloc[-1]:.1%}",
            claim="energy cost vs number of prosumers",
            paper="energy costs decrease by ~40 % in proportion to the number of prosumers",
            measured=f"cost/kWh changes {-pros_fall:+.1%} from {min(shares):.0%} to {max(shares):.0%} prosumers at "
            f"{max(sizes)} devices ({big['cost_per_kwh'].iloc[0]:.3f} → {big['cost_per_kwh'].iloc[-1]:.3f} USD/kWh)",
            baseline=base_text,
            criterion="cost per kWh falls by 30–50 % from the fewest to the most prosumers",
        ),
    ]

    def plot() -> Figure:
        fig, (a, b) = _fig(2)
        for share, grp in table.groupby("prosumer_share"):
            grp = grp.sort_values("devices")
            a.plot(grp["devices"], grp["cost_per_kwh"], "o-", label=f"{share:.0%} prosumers")
            b.plot(grp["devices"], 100 * grp["saving_vs_no_p2p"], "o-", label=f"{share:.0%} prosumers")
        for ax in (a, b):
            ax.set_xscale("log")
            ax.set_xlabel("devices (prosumers + consumers)")
            ax.legend()
        a.set_ylabel("energy cost, USD per kWh consumed")
        b.set_ylabel("saving vs no P2P, %")
        return fig

    return ZoomExperiment("network-size", table, claims, plot, params={"sizes": list(sizes), "days": days})


# ---------------------------------------------------------------------------- 3. OPEX / BS power
def _run_costs(run, cp: CostParams) -> dict[str, float]:
    """Measured OPEX, messages and gateway power of a radio-agent run (per-day plans and logs)."""
    daily = [measured_network_cost(lg, pl, cp).summary() for lg, pl in zip(run.logs, run.plans, strict=True)]
    out = {k: float(np.sum([d[k] for d in daily])) for k in ("opex", "messages", "gateways_over_duty")}
    for k in ("gateway_power_w", "gateway_dynamic_power_w"):
        out[k] = float(np.mean([d[k] for d in daily]))
    tx = sum(float(lg.transmissions.sum()) for lg in run.logs)
    out["pdr"] = sum(float(lg.received.sum()) for lg in run.logs) / tx
    out["reading_delivery"] = float(np.mean([lg.delivery_ratio for lg in run.logs]))
    delivered = sum(float(lg.delivered.sum()) for lg in run.logs)
    out["device_mj_per_reading"] = 1e3 * sum(float(lg.energy_j.sum()) for lg in run.logs) / max(delivered, 1.0)
    out["energy_cost"] = float(sum(r.bill.sum() for r in run.results))
    return out


def exp_opex(quick: bool = False, seed: int = 0, cost: CostParams | None = None) -> ZoomExperiment:
    """OPEX and gateway power of radio zooming (agents) vs ADR alone vs the flat SF12 single market, measured."""
    sizes = ((1000, 5), (3000, 15)) if quick else ((2000, 10), (5000, 25), (10000, 50))
    days = 10 if quick else 14
    cp = cost or CostParams()
    rows = []
    for n, g in sizes:
        c = _community(n, days, seed)
        net = _net(c)
        budget = link_budget(Deployment.grid(n, g, 400.0, seed=seed), seed=seed)
        res = {}
        zoom_mean = float("nan")
        for strategy in ("agents", "adr", "flat"):
            run = run_radio_agents(
                net,
                budget,
                c.retail,
                c.feed_in,
                SPD,
                8,
                ZoomPolicy(),
                rounds=10 if quick else 20,
                seed=seed,
                strategy=strategy,
            )
            res[strategy] = _run_costs(run, cp)
            if strategy == "agents":
                zoom_mean = float(run.zoom.mean())
        zs, ad, fs = res["agents"], res["adr"], res["flat"]
        rows.append(
            {
                "devices": n,
                "gateways": g,
                "opex_zoom": zs["opex"],
                "opex_adr_only": ad["opex"],
                "opex_flat": fs["opex"],
                "opex_change": zs["opex"] / fs["opex"] - 1.0,
                "opex_adr_only_change": ad["opex"] / fs["opex"] - 1.0,
                "messages_zoom": zs["messages"],
                "messages_flat": fs["messages"],
                "gw_power_zoom_w": zs["gateway_power_w"],
                "gw_power_adr_only_w": ad["gateway_power_w"],
                "gw_power_flat_w": fs["gateway_power_w"],
                "gw_power_change": zs["gateway_power_w"] / fs["gateway_power_w"] - 1.0,
                "gw_dynamic_power_change": zs["gateway_dynamic_power_w"] / fs["gateway_dynamic_power_w"] - 1.0,
                "gw_power_adr_only_change": ad["gateway_power_w"] / fs["gateway_power_w"] - 1.0,
                "gw_dynamic_power_adr_only_change": ad["gateway_dynamic_power_w"] / fs["gateway_dynamic_power_w"] - 1.0,
                "gateways_over_duty_zoom": zs["gateways_over_duty"],
                "gateways_over_duty_flat": fs["gateways_over_duty"],
                "mean_pdr_zoom": zs["pdr"],
                "mean_pdr_adr_only": ad["pdr"],
                "mean_pdr_flat": fs["pdr"],
                "reading_delivery_zoom": zs["reading_delivery"],
                "device_mj_per_reading_zoom": zs["device_mj_per_reading"],
                "device_mj_per_reading_adr_only": ad["device_mj_per_reading"],
                "device_mj_per_reading_flat": fs["device_mj_per_reading"],
                "energy_cost_zoom": zs["energy_cost"],
                "energy_cost_flat": fs["energy_cost"],
                "mean_zoom": zoom_mean,
            }
        )
    table = pd.DataFrame(rows)
    r = table.iloc[-1]
    flat = (
        "flat: no ADR (SF12, 14 dBm for every device), one SDR market over all participants, SF12 settlement "
        "multicast per gateway; all three configurations measured with the same simulated uplinks"
    )
    size_ok = bool(-0.31 <= r["opex_change"] <= -0.11)
    cause_ok = bool(r["opex_change"] < r["opex_adr_only_change"])
    power_ok = bool(-0.48 <= r["gw_power_change"] <= -0.28)
    claims = [
        _claim(
            "opex",
            "agrees" if size_ok else "disagrees",
            "the size of the saving against the flat SF12 baseline"
            + (" matches" if size_ok else " differs")
            + "; see opex_cause for where it comes from",
            claim="OPEX",
            paper="OPEX reduces by 21 %",
            measured=f"{r['opex_change']:+.1%} at {int(r['devices'])} devices / {int(r['gateways'])} gateways "
            f"(range {table['opex_change'].min():+.1%} … {table['opex_change'].max():+.1%}); measured PDR "
            f"{r['mean_pdr_zoom']:.3f} zooming vs {r['mean_pdr_flat']:.3f} flat",
            baseline=flat,
            criterion="change within 21 ± 10 percentage points of −21 %",
        ),
        _claim(
            "opex_cause",
            "agrees" if cause_ok else "disagrees",
            (
                "ADR alone already removes the retransmissions of the flat SF12 network (measured PDR "
                f"{r['mean_pdr_adr_only']:.3f} vs {r['mean_pdr_flat']:.3f}); zooming squeezes devices to lower SFs "
                f"(device energy {r['device_mj_per_reading_zoom']:.0f} vs {r['device_mj_per_reading_adr_only']:.0f} mJ "
                "per reading) but adds settlement multicasts and thinner links, so its OPEX is not below ADR alone"
            )
            if not cause_ok
            else (
                "zooming saves beyond ADR alone: squeezed devices transmit shorter "
                f"({r['device_mj_per_reading_zoom']:.0f} vs {r['device_mj_per_reading_adr_only']:.0f} mJ per reading)"
            ),
            claim="OPEX saving due to cluster zooming",
            paper="the zooming approach reduces OPEX (by 21 %)",
            measured=f"zooming {r['opex_change']:+.1%} vs ADR alone without zooming {r['opex_adr_only_change']:+.1%} "
            "against the flat baseline",
            baseline="ADR alone: the same devices with ADR at zoom 12 and one flat market",
            criterion="zooming (ADR + zoom-capped SFs + VMGs) has a lower OPEX than ADR alone",
        ),
        _claim(
            "bs_power",
            "agrees" if power_ok else "disagrees",
            "the gateway's idle draw dominates its power; only the airtime-driven part falls by "
            f"{-r['gw_dynamic_power_change']:.0%} (ADR alone {-r['gw_dynamic_power_adr_only_change']:.0%})"
            if not power_ok
            else "within 38 ± 10 %",
            claim="base-station power",
            paper="base-station power consumption reduces by 38 %",
            measured=f"total {r['gw_power_change']:+.1%}, airtime-driven part {r['gw_dynamic_power_change']:+.1%} "
            f"(P_idle {cp.p_idle_w} W, P_rx {cp.p_rx_w} W, P_tx {cp.p_tx_w} W; airtime heard by each gateway, "
            f"measured); ADR alone {r['gw_power_adr_only_change']:+.1%} total",
            baseline="same flat baseline",
            criterion="total gateway power change within 38 ± 10 percentage points of −38 %",
        ),
    ]

    def plot() -> Figure:
        fig, (a, b) = _fig(2)
        x = np.arange(len(table))
        labels = [f"{int(d)}/{int(g)}" for d, g in zip(table["devices"], table["gateways"], strict=True)]
        panels = (
            (a, ("opex_flat", "opex_adr_only", "opex_zoom"), "OPEX over the run, USD"),
            (b, ("gw_power_flat_w", "gw_power_adr_only_w", "gw_power_zoom_w"), "total gateway power, W"),
        )
        names = ("flat (SF12, one market)", "ADR alone", "radio zooming (agents)")
        for ax, cols, ylabel in panels:
            for j, (col, name) in enumerate(zip(cols, names, strict=True)):
                ax.bar(x + (j - 1) * 0.27, table[col], 0.27, label=name)
            ax.set_xticks(x, labels)
            ax.set_xlabel("devices / gateways")
            ax.set_ylabel(ylabel)
            ax.legend()
        return fig

    params = {"sizes": [list(s) for s in sizes], "days": days, "cost": cp.__dict__}
    return ZoomExperiment("opex", table, claims, plot, params=params)


# ---------------------------------------------------------------------------- 4. grid vs island
def exp_island(quick: bool = False, seed: int = 0, voll: float = 3.0) -> ZoomExperiment:
    """Grid-connected vs islanded VMGs (pooled member batteries as VMG storage)."""
    n, g = (600, 3) if quick else (3000, 15)
    days = 3 if quick else 14
    c = _community(n, days, seed)
    net = _net(c)
    radio = plan_radio(Deployment.grid(n, g, 400.0, seed=seed), seed=seed)
    cap = c.participants["battery_kwh"].to_numpy()
    consumed = float(c.load.sum())
    rows = []
    for zoom in (9, 12):
        plan = form_vmgs(radio, zoom)
        for mode, storage in (("grid", None), ("grid", cap), ("island", cap)):
            res = trade(net, plan, c.retail, c.feed_in, "sdr", mode, coordinator=(mode == "grid"), storage_kwh=storage)
            cost = float(res.bill.sum())
            uns = float(res.unserved.sum())
            deficit = float(np.maximum(net, 0.0).sum())
            charges = float(np.maximum(res.bill, 0.0).sum())
            rows.append(
                {
                    "zoom": zoom,
                    "mode": mode,
                    "storage": storage is not None,
                    "charge_per_kwh_received": charges / max(deficit - uns, 1e-12),
                    "cost_per_kwh": cost / consumed,
                    "unserved_share": uns / consumed,
                    "unserved_kwh": uns,
                    "curtailed_kwh": float(res.curtailed.sum()),
                    "cost_with_voll_per_kwh": (cost + voll * uns) / consumed,
                }
            )
    table = pd.DataFrame(rows)
    gs = table[(table["zoom"] == 12) & (table["mode"] == "grid") & table["storage"]].iloc[0]
    isl = table[(table["zoom"] == 12) & (table["mode"] == "island")].iloc[0]
    cheaper = bool(gs["charge_per_kwh_received"] > isl["charge_per_kwh_received"])
    served = bool(isl["unserved_share"] <= UNSERVED_COMPARABLE)
    if cheaper and served:
        verdict, why = "agrees", "islanded members pay less per kWh received and are served"
    elif not cheaper:
        verdict, why = "disagrees", "islanded members do not pay less per kWh received"
    else:
        verdict = "not comparable"
        why = (
            f"islanded members pay less per kWh received, but islanded VMGs leave {isl['unserved_share']:.1%} of "
            f"consumption ({isl['unserved_kwh']:,.0f} kWh) unserved (> {UNSERVED_COMPARABLE:.0%}): they buy a "
            f"different service; priced at a value of lost load of {voll} USD/kWh islanded costs "
            f"{isl['cost_with_voll_per_kwh']:.3f} vs {gs['cost_with_voll_per_kwh']:.3f} USD/kWh grid-connected"
        )
    claims = [
        {
            "id": "grid_vs_island",
            "claim": "grid-connected vs islanded",
            "paper": "grid-connected prosumers pay higher charges than their off-grid counterparts",
            "measured": f"members pay {gs['charge_per_kwh_received']:.4f} USD per kWh received grid-connected vs "
            f"{isl['charge_per_kwh_received']:.4f} islanded; community cost {gs['cost_per_kwh']:.4f} vs "
            f"{isl['cost_per_kwh']:.4f} USD/kWh consumed (islanded money only circulates between peers), but "
            f"islanded leaves {isl['unserved_share']:.1%} of consumption unserved "
            f"({isl['cost_with_voll_per_kwh']:.4f} USD/kWh with VoLL {voll} USD/kWh)",
            "verdict": verdict,
            "reason": why,
            "agrees": verdict == "agrees",
            "unserved_share": float(isl["unserved_share"]),
            "unserved_kwh": float(isl["unserved_kwh"]),
            "baseline": "same VMGs (zoom 12) and pooled member batteries as VMG storage; islanded pays peers only, "
            "unserved energy unpriced",
            "criterion": "grid-connected charge per kWh received (Σ positive bills / energy received from peers, "
            f"storage or grid) > islanded, with islanded unserved demand ≤ {UNSERVED_COMPARABLE:.0%} of consumption",
        }
    ]

    def plot() -> Figure:
        fig, (a, b) = _fig(2)
        lab = [
            f"z{int(z)} {m}{' +st' if s else ''}"
            for z, m, s in zip(table["zoom"], table["mode"], table["storage"], strict=True)
        ]
        x = np.arange(len(table))
        a.bar(x, table["charge_per_kwh_received"], color="tab:blue", label="charges per kWh received")
        a.plot(x, table["cost_with_voll_per_kwh"], "kx", label=f"community cost per kWh consumed, VoLL {voll}")
        a.set_xticks(x, lab, rotation=30)
        a.set_ylabel("USD per kWh")
        a.legend()
        b.bar(x, 100 * table["unserved_share"], color="tab:red")
        b.set_xticks(x, lab, rotation=30)
        b.set_ylabel("unserved, % of consumption")
        return fig

    return ZoomExperiment(
        "island", table, claims, plot, params={"devices": n, "gateways": g, "days": days, "voll": voll}
    )


# ---------------------------------------------------------------------------- 5. forecasting
def exp_forecast(quick: bool = False, seed: int = 0) -> ZoomExperiment:
    """Day-ahead VMG net-load forecasts: local-only vs FedAvg vs centralised ridge (MAE)."""
    from peergrid.forecast import client_from_series, compare_training
    from peergrid.zoom.vmg import group_sums

    n, g = (600, 6) if quick else (3000, 20)
    days = 12 if quick else 28
    c = _community(n, days, seed)
    net = _net(c)
    radio = plan_radio(Deployment.grid(n, g, 400.0, seed=seed), seed=seed)
    plan = form_vmgs(radio, 12)
    sizes = plan.sizes()[:g]
    vm = group_sums(net, plan.vmg, plan.n_vmg)[:, :g]
    keep = sizes > 0
    series = vm[:, keep] / sizes[keep]  # net kWh per member and step
    clients = [
        client_from_series(series[:, k], SPD, test_days=2 if not quick else 1, name=f"gw{k}")
        for k in range(series.shape[1])
    ]
    comp, _ = compare_training(clients, rounds=300, local_steps=1, server_momentum=0.9)
    table = pd.DataFrame(
        {
            "client": [cl.name for cl in clients],
            "members": sizes[keep],
            "train_samples": [cl.n for cl in clients],
            **{f"mae_{k}": v for k, v in comp.per_client.items()},
        }
    )
    close = bool(comp.mae_federated <= 1.05 * comp.mae_centralised)
    claims = [
        _claim(
            "federated_learning",
            "not comparable",
            "the abstract reports no figure for its federated learning; peergrid's FedAvg is "
            + ("within" if close else "not within")
            + " 5 % of centralised training without moving meter data",
            claim="federated learning",
            paper="learning is federated (no figure reported)",
            measured=f"MAE kWh/member/step: local {comp.mae_local:.4f}, FedAvg {comp.mae_federated:.4f}, "
            f"centralised {comp.mae_centralised:.4f}, seasonal persistence {comp.mae_persistence:.4f}",
            baseline="centralised ridge on pooled raw data; local-only ridge per gateway",
            criterion="FedAvg within 5 % of centralised MAE without moving meter data",
        )
    ]

    def plot() -> Figure:
        fig, a = _fig(1)
        x = np.arange(len(table))
        for j, k in enumerate(("local", "federated", "centralised", "persistence")):
            a.bar(x + (j - 1.5) * 0.2, table[f"mae_{k}"], 0.2, label=k)
        a.set_xticks(x, table["client"], rotation=90)
        a.set_ylabel("test MAE, kWh per member and step")
        a.legend()
        return fig

    return ZoomExperiment(
        "forecast", table, claims, plot, params={"devices": n, "gateways": g, "days": days, **comp.as_dict()}
    )


# ---------------------------------------------------------------------------- 6. distances
def exp_distance(quick: bool = False, seed: int = 0) -> ZoomExperiment:
    """Electrical vs radio distance, and what pricing/matching trades by them changes."""
    from peergrid.zoom.distance import MATCH_RULES, costed_trade, distance_pairs, neighbourhood, radio_terms

    n, g = (800, 4) if quick else (3000, 15)
    days = 10 if quick else 12
    c = _community(n, days, seed)
    net = _net(c)
    nb = neighbourhood(n, g, 400.0, seed=seed)
    budget = link_budget(nb.deployment, seed=seed)
    run = run_radio_agents(
        net, budget, c.retail, c.feed_in, SPD, 8, ZoomPolicy(), rounds=10 if quick else 20, seed=seed
    )
    t0 = SPD * 8
    S = int(nb.substations.shape[0])
    terms = [radio_terms(budget, cf, lg) for cf, lg in zip(run.configs, run.logs, strict=True)]
    pairs = distance_pairs(nb, run.plans[-1], terms[-1][1], seed=seed)
    rows = []
    for grouping in ("radio", "electrical"):
        for rule in MATCH_RULES:
            tot: dict[str, float] = {}
            for d, (plan, lg, (ntx, air)) in enumerate(zip(run.plans, run.logs, terms, strict=True)):
                if grouping == "electrical":  # one VMG per substation, same members online
                    online = plan.vmg != plan.offline
                    plan = VMGPlan(
                        np.where(online, nb.substation, S + 1).astype(np.int64),
                        np.full(S, 12, dtype=np.int64),
                        plan.sf,
                        nb.substation.astype(np.int64),
                        S,
                    )
                a, b = t0 + d * SPD, t0 + (d + 1) * SPD
                res = costed_trade(
                    net[a:b], plan, nb, ntx, air, c.retail[a:b], c.feed_in[a:b], rule=rule, delivered=lg.delivered
                )
                for k, v in res.summary().items():
                    if isinstance(v, float):
                        tot[k] = tot.get(k, 0.0) + v
            traded = tot["local_kwh"] + tot["inter_kwh"]
            rows.append(
                {
                    "vmgs": "gateway (radio)" if grouping == "radio" else "substation (electrical)",
                    "rule": rule,
                    "local_kwh": tot["local_kwh"],
                    "inter_kwh": tot["inter_kwh"],
                    "loss_kwh": tot["loss_kwh"],
                    "loss_per_mwh_traded": 1e3 * tot["loss_kwh"] / max(traded, 1e-12),
                    "electrical_cost": tot["electrical_cost"],
                    "radio_cost": tot["radio_cost"],
                    "cost_per_mwh_traded": 1e3 * (tot["electrical_cost"] + tot["radio_cost"]) / max(traded, 1e-12),
                    "inter_cost_per_mwh": 1e3 * tot["inter_cost"] / max(tot["inter_kwh"], 1e-12),
                    "members_cost": tot["members_cost"],
                }
            )
    table = pd.DataFrame(rows)
    rv = table[(table["vmgs"] == "gateway (radio)")].set_index("rule")
    el = table[(table["vmgs"] == "substation (electrical)")].set_index("rule")
    inter_share = rv.loc["combined", "inter_kwh"] / (rv.loc["combined", "local_kwh"] + rv.loc["combined", "inter_kwh"])
    claims = [
        _claim(
            "distances",
            "not comparable",
            "the abstract states the model but gives no figure for it. In peergrid's model radio distance barely "
            f"predicts electrical distance (Spearman ρ = {pairs['spearman']:.2f}): a gateway's VMG spans many "
            "substations. Grouping by substation instead changes losses by "
            f"{el.loc['combined', 'loss_per_mwh_traded'] / rv.loc['combined', 'loss_per_mwh_traded'] - 1.0:+.0%}; "
            "the coordinator's matching rule changes little because inter-VMG trades are only "
            f"{inter_share:.1%} "
            "of the traded energy (VMG residuals are one-sided: all VMGs export at noon, import at night)",
            claim="electrical vs telecom distance",
            paper="an energy trading model connecting the physical (electrical) and virtual (telecom) distances",
            measured=f"ρ(electrical, radio) = {pairs['spearman']:.2f} over {pairs['pairs']} house pairs; "
            f"{pairs['same_vmg_other_substation']:.0%} of same-VMG pairs sit on different substations (median "
            f"{pairs['median_r_same_vmg_ohm']:.3f} Ω vs {pairs['median_r_cross_vmg_ohm']:.3f} Ω across VMGs); "
            f"losses {rv.loc['combined', 'loss_per_mwh_traded']:.2f} kWh/MWh traded in gateway VMGs vs "
            f"{el.loc['combined', 'loss_per_mwh_traded']:.2f} in substation VMGs; coordinator merit order by "
            f"combined cost vs cost-blind pool: inter-VMG cost {rv.loc['combined', 'inter_cost_per_mwh']:.2f} vs "
            f"{rv.loc['pool', 'inter_cost_per_mwh']:.2f} USD/MWh",
            baseline="same households, radio (agents' zoom) and delivered readings; gateway VMGs vs one VMG per "
            "MV/LV substation; coordinator pooling pro rata vs merit order by electrical, radio or combined cost",
            criterion="no figure in the abstract: reported, not judged",
        )
    ]
    table.attrs["pairs"] = pairs

    def plot() -> Figure:
        fig, (a, b) = _fig(2)
        x = np.arange(len(MATCH_RULES))
        for j, (name, grp) in enumerate(((("gateway (radio)"), rv), ("substation (electrical)", el))):
            a.bar(x + (j - 0.5) * 0.4, grp.loc[list(MATCH_RULES), "loss_per_mwh_traded"], 0.4, label=name + " VMGs")
            b.bar(x + (j - 0.5) * 0.4, grp.loc[list(MATCH_RULES), "cost_per_mwh_traded"], 0.4, label=name + " VMGs")
        for ax, lab in ((a, "losses, kWh per MWh traded"), (b, "electrical + radio cost, USD per MWh traded")):
            ax.set_xticks(x, [f"coordinator: {r}" for r in MATCH_RULES], rotation=15)
            ax.set_ylabel(lab)
            ax.legend()
        return fig

    params = {"devices": n, "gateways": g, "days": days, "substations": S, **pairs}
    return ZoomExperiment("distance", table, claims, plot, params=params)


EXPERIMENTS: dict[str, Callable[..., ZoomExperiment]] = {
    "sf-share": exp_sf_share,
    "network-size": exp_network_size,
    "opex": exp_opex,
    "island": exp_island,
    "forecast": exp_forecast,
    "distance": exp_distance,
}


def run_experiment(name: str, quick: bool = False, seed: int = 0) -> ZoomExperiment:
    """Run one experiment by name (see :data:`EXPERIMENTS`)."""
    key = str(name).strip().lower()
    if key not in EXPERIMENTS:
        raise ConfigError(f"unknown zoom experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    t = time.perf_counter()
    exp = EXPERIMENTS[key](quick=quick, seed=seed)
    exp.seconds = time.perf_counter() - t
    exp.params["quick"] = quick
    exp.params["seed"] = seed
    return exp


def write_experiment(exp: ZoomExperiment, directory: Path) -> dict[str, str]:
    """Write ``<name>.csv``, ``<name>.png`` and ``summary.json`` into ``directory``."""
    directory = Path(directory)
    files = {
        "csv": directory / f"{exp.name}.csv",
        "png": directory / f"{exp.name}.png",
        "json": directory / "summary.json",
    }
    exp.table.to_csv(files["csv"], index=False)
    exp.plot().savefig(files["png"], dpi=110)
    files["json"].write_text(json.dumps(exp.payload(), indent=2, allow_nan=False, default=_jsonable))
    return {k: str(v) for k, v in files.items()}


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


# keep RadioParams importable from here for users tuning the radio in experiments
_ = RadioParams
