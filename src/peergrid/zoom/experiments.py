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
from peergrid.zoom.agents import ZoomPolicy, run_agents
from peergrid.zoom.costs import CostParams, network_cost
from peergrid.zoom.lora import SF, Deployment, RadioParams, plan_radio
from peergrid.zoom.vmg import LOWER_SF, flat_plan, form_vmgs, trade

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
def exp_sf_share(quick: bool = False, seed: int = 0) -> ZoomExperiment:
    """Share of P2P energy (local + inter-VMG) traded by devices on SF7–SF9, with agents; vs gateway spacing."""
    n = 600 if quick else 4000
    g = 4 if quick else 20
    days = 10 if quick else 14
    c = _community(n, days, seed)
    net = _net(c)
    rows = []
    by_sf = None
    for spacing in (200.0, 300.0, 400.0, 600.0):
        radio = plan_radio(Deployment.grid(n, g, spacing, seed=seed), seed=seed)
        run = run_agents(net, radio, c.retail, c.feed_in, SPD, 8, ZoomPolicy(), rounds=10 if quick else 30)
        traded = sum((r.bought + r.sold + r.inter_import + r.inter_export).sum(axis=0) for r in run.results)
        sf = run.plans[-1].sf
        per_sf = np.bincount(sf, weights=traded, minlength=13)[7:13]
        total = per_sf.sum()
        share = float(per_sf[: len(LOWER_SF)].sum() / total) if total > 0 else float("nan")
        devices_low = float(np.isin(sf, LOWER_SF).mean())
        rows.append(
            {
                "spacing_m": spacing,
                "lower_sf_energy_share": share,
                "lower_sf_device_share": devices_low,
                "mean_zoom": float(run.zoom.mean()),
                **{f"sf{s}_kwh": float(v) for s, v in zip(SF, per_sf, strict=True)},
            }
        )
        if spacing == 400.0:
            by_sf = per_sf
    table = pd.DataFrame(rows)
    ref = table[table["spacing_m"] == 400.0].iloc[0]
    best = table["lower_sf_energy_share"].max()
    ok = bool(ref["lower_sf_energy_share"] > 0.7)
    claims = [
        _claim(
            "lower_sf_share",
            "agrees" if ok else "disagrees",
            f"the share follows the share of devices on SF7–9 ({ref['lower_sf_device_share']:.1%} at 400 m); it "
            f"{'also ' if ok else 'only '}exceeds 70 % with denser gateways ({best:.1%} at "
            f"{table.loc[table['lower_sf_energy_share'].idxmax(), 'spacing_m']:.0f} m)",
            claim="energy traded at lower SF",
            paper="> 70 % of the energy is traded at lower SF",
            measured=f"{ref['lower_sf_energy_share']:.1%} at 400 m gateway spacing "
            f"({ref['lower_sf_device_share']:.1%} of devices on SF7–9); {best:.1%} at the densest spacing tried",
            baseline="lower SF = SF7–SF9; flat baseline trades everything on SF12 (0 %)",
            criterion="share of P2P-traded energy (both ends, local + inter-VMG) of SF7–9 devices > 70 % "
            "at the default 400 m spacing",
        )
    ]

    def plot() -> Figure:
        fig, (a, b) = _fig(2)
        a.bar([f"SF{s}" for s in SF], by_sf if by_sf is not None else np.zeros(6), color="tab:blue")
        a.set_ylabel("P2P energy traded, kWh")
        a.set_title("Traded energy by SF (400 m spacing, agents)")
        b.plot(table["spacing_m"], 100 * table["lower_sf_energy_share"], "o-", label="energy at SF7–9")
        b.plot(table["spacing_m"], 100 * table["lower_sf_device_share"], "s--", label="devices on SF7–9")
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
                    "saving_vs_no_p2p": 1.0 - float(res.bill.sum()) / float(base.bill.sum()),
                }
            )
    table = pd.DataFrame(rows)
    # fall with network size at the default prosumer share, and across prosumer shares at the largest size
    mid = table[table["prosumer_share"] == 0.5].sort_values("devices")
    size_fall = 1.0 - mid["cost_per_kwh"].iloc[-1] / mid["cost_per_kwh"].iloc[0]
    big = table[table["devices"] == max(sizes)].sort_values("prosumer_share")
    pros_fall = 1.0 - big["cost_per_kwh"].iloc[-1] / big["cost_per_kwh"].iloc[0]
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
def exp_opex(quick: bool = False, seed: int = 0, cost: CostParams | None = None) -> ZoomExperiment:
    """OPEX and gateway power of zooming (ADR + agent zoom levels) vs the flat SF12 single market."""
    sizes = ((1000, 5), (3000, 15)) if quick else ((2000, 10), (5000, 25), (10000, 50))
    days = 10 if quick else 14
    cp = cost or CostParams()
    rows = []
    for n, g in sizes:
        c = _community(n, days, seed)
        net = _net(c)
        radio = plan_radio(Deployment.grid(n, g, 400.0, seed=seed), seed=seed)
        run = run_agents(net, radio, c.retail, c.feed_in, SPD, 8, ZoomPolicy(), rounds=10 if quick else 20)
        steps = SPD * len(run.results)
        # each evaluated day with that day's zoom levels, summed
        daily = [network_cost(radio, plan, SPD, cp).summary() for plan in run.plans]
        zs = {k: float(np.sum([d[k] for d in daily])) for k in ("opex", "messages", "gateways_over_duty")}
        for k in ("gateway_power_w", "gateway_dynamic_power_w"):
            zs[k] = float(np.mean([d[k] for d in daily]))
        flat_radio = radio.with_fixed_sf(12)
        fplan = flat_plan(flat_radio)
        fs = network_cost(flat_radio, fplan, steps, cp).summary()
        # ADR alone (flat market, no zooming) isolates what the zoom levels add
        adr_only = network_cost(radio, flat_plan(radio), steps, cp).summary()
        t0 = SPD * 8
        flat_trade = trade(net[t0:], fplan, c.retail[t0:], c.feed_in[t0:], "sdr", coordinator=False)
        z_energy = float(sum(r.bill.sum() for r in run.results))
        rows.append(
            {
                "devices": n,
                "gateways": g,
                "opex_zoom": zs["opex"],
                "opex_flat": fs["opex"],
                "opex_change": zs["opex"] / fs["opex"] - 1.0,
                "opex_adr_only_change": adr_only["opex"] / fs["opex"] - 1.0,
                "messages_zoom": zs["messages"],
                "messages_flat": fs["messages"],
                "gw_power_zoom_w": zs["gateway_power_w"],
                "gw_power_flat_w": fs["gateway_power_w"],
                "gw_power_change": zs["gateway_power_w"] / fs["gateway_power_w"] - 1.0,
                "gw_dynamic_power_change": zs["gateway_dynamic_power_w"] / fs["gateway_dynamic_power_w"] - 1.0,
                "gw_power_adr_only_change": adr_only["gateway_power_w"] / fs["gateway_power_w"] - 1.0,
                "gateways_over_duty_zoom": zs["gateways_over_duty"],
                "gateways_over_duty_flat": fs["gateways_over_duty"],
                "mean_pdr_zoom": float(radio.pdr[radio.covered].mean()),
                "mean_pdr_flat": float(flat_radio.pdr[flat_radio.covered].mean()),
                "energy_cost_zoom": z_energy,
                "energy_cost_flat": float(flat_trade.bill.sum()),
                "mean_zoom": float(run.zoom.mean()),
            }
        )
    table = pd.DataFrame(rows)
    r = table.iloc[-1]
    flat = (
        "flat: no ADR (SF12, 14 dBm for every device), one SDR market over all participants, SF12 settlement "
        "multicast per gateway"
    )
    size_ok = bool(-0.31 <= r["opex_change"] <= -0.11)
    cause_ok = bool(r["opex_change"] < r["opex_adr_only_change"])
    power_ok = bool(-0.48 <= r["gw_power_change"] <= -0.28)
    claims = [
        _claim(
            "opex",
            "agrees" if size_ok else "disagrees",
            "the size of the saving against the flat SF12 baseline" + (" matches" if size_ok else " differs")
            + "; see opex_cause for where it comes from",
            claim="OPEX",
            paper="OPEX reduces by 21 %",
            measured=f"{r['opex_change']:+.1%} at {int(r['devices'])} devices / {int(r['gateways'])} gateways "
            f"(range {table['opex_change'].min():+.1%} … {table['opex_change'].max():+.1%})",
            baseline=flat,
            criterion="change within 21 ± 10 percentage points of −21 %",
        ),
        _claim(
            "opex_cause",
            "agrees" if cause_ok else "disagrees",
            "the saving is fewer retransmissions thanks to ADR (PDR "
            f"{r['mean_pdr_zoom']:.2f} vs {r['mean_pdr_flat']:.2f} on SF12), not the zooming, which adds "
            "settlement multicasts" if not cause_ok else "zooming saves beyond ADR alone",
            claim="OPEX saving due to cluster zooming",
            paper="the zooming approach reduces OPEX (by 21 %)",
            measured=f"zooming {r['opex_change']:+.1%} vs ADR alone without zooming {r['opex_adr_only_change']:+.1%} "
            "against the flat baseline",
            baseline="ADR alone: the same radio plan with one flat market",
            criterion="zooming (ADR + VMGs) has a lower OPEX than ADR alone",
        ),
        _claim(
            "bs_power",
            "agrees" if power_ok else "disagrees",
            "the gateway's idle draw dominates its power; only the airtime-driven part falls by "
            f"{-r['gw_dynamic_power_change']:.0%}" if not power_ok else "within 38 ± 10 %",
            claim="base-station power",
            paper="base-station power consumption reduces by 38 %",
            measured=f"total {r['gw_power_change']:+.1%}, airtime-driven part {r['gw_dynamic_power_change']:+.1%} "
            f"(P_idle {cp.p_idle_w} W, P_rx {cp.p_rx_w} W, P_tx {cp.p_tx_w} W); ADR alone "
            f"{r['gw_power_adr_only_change']:+.1%} total",
            baseline="same flat baseline",
            criterion="total gateway power change within 38 ± 10 percentage points of −38 %",
        ),
    ]

    def plot() -> Figure:
        fig, (a, b) = _fig(2)
        x = np.arange(len(table))
        labels = [f"{int(d)}/{int(g)}" for d, g in zip(table["devices"], table["gateways"], strict=True)]
        panels = (
            (a, "opex_flat", "opex_zoom", "OPEX over the run, USD", "flat (SF12, one market)", "zooming (ADR + VMGs)"),
            (b, "gw_power_flat_w", "gw_power_zoom_w", "total gateway power, W", "flat", "zooming"),
        )
        for ax, flat, zoom, ylabel, flat_label, zoom_label in panels:  # flat vs zooming per network size
            ax.bar(x - 0.2, table[flat], 0.4, label=flat_label)
            ax.bar(x + 0.2, table[zoom], 0.4, label=zoom_label)
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


EXPERIMENTS: dict[str, Callable[..., ZoomExperiment]] = {
    "sf-share": exp_sf_share,
    "network-size": exp_network_size,
    "opex": exp_opex,
    "island": exp_island,
    "forecast": exp_forecast,
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
