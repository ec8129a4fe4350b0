"""Gateway agents and the central coordinator as plain Python policies (no RL framework).

Anoh et al. (2026, abstract): "a central controller AI to coordinate multiple
local AI agents. Each AI agent resides in the network server and monitors energy
trading traffic for each LoRaWAN gateway ... to zoom the clusters (VMGs)";
learning is federated. peergrid's agents:

:class:`GatewayAgent` (one per gateway, in the network server)
    * keeps its VMG's history per SF ring (buying and selling energy per member);
    * trains the shared day-ahead forecaster locally (FedAvg client);
    * forecasts tomorrow's ring demand/supply and **chooses the zoom level**:
      the smallest SF cap z whose forecast local match Σ_t min(D_z, G_z)
      reaches ``target`` × the match of its whole coverage (z = 12) — zoom in as
      far as the local energy balance allows (rule-based on a forecast);
    * the local market is cleared for it by :func:`peergrid.zoom.vmg.trade`.

:class:`Coordinator` (central controller)
    * runs FedAvg over the agents' weight vectors (no meter data leaves a gateway);
    * sets the zoom policy (target, bounds) and re-zooms gateways whose realised
      balance was poor (:func:`peergrid.zoom.vmg.rezoom`);
    * balances between VMGs (inter-VMG trades, stage 3 of :func:`~peergrid.zoom.vmg.trade`).

:func:`run_agents` plays this day by day over a community.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.forecast import ClientData, LinearModel, fedavg, lag_features, mae
from peergrid.forecast.ridge import LAGS_DAYS
from peergrid.zoom.lora import Deployment, LinkBudget, RadioParams, RadioState, link_budget
from peergrid.zoom.uplinks import (
    RadioConfig,
    UplinkLog,
    ZoomRadioParams,
    coverage_rings,
    flat_config,
    join_config,
    simulate_uplinks,
    vmg_plan,
    zoom_step,
)
from peergrid.zoom.vmg import (
    TradeResult,
    VMGPlan,
    flat_plan,
    form_vmgs,
    local_match,
    rezoom,
    ring_sums,
    trade,
    trade_delivered,
)

__all__ = ["AgentRun", "Coordinator", "GatewayAgent", "RadioAgentRun", "ZoomPolicy", "run_agents", "run_radio_agents"]


@dataclass(frozen=True)
class ZoomPolicy:
    """Zoom policy the coordinator hands to every gateway agent.

    Attributes
    ----------
    target : float
        Share of the whole coverage's locally matchable energy the zoomed VMG
        must keep (forecast), 0..1.
    min_zoom, max_zoom : int
        Bounds of the zoom level (SF cap).
    rezoom_threshold : float
        Realised balance below which the coordinator zooms a gateway out one step.
    pdr_target : float
        Measured packet delivery ratio a gateway agent defends (radio agents,
        :func:`run_radio_agents`): below it the agent zooms in when collisions caused most
        losses (shorter airtime) and out when weak links did (more margin).
    """

    target: float = 0.8
    min_zoom: int = 7
    max_zoom: int = 12
    rezoom_threshold: float = 0.7
    pdr_target: float = 0.95

    def __post_init__(self) -> None:
        if not (0.0 <= self.target <= 1.0 and 0.0 <= self.rezoom_threshold <= 1.0):
            raise ConfigError("zoom policy target and rezoom_threshold must lie in [0, 1]")
        if not 0.0 <= self.pdr_target <= 1.0:
            raise ConfigError("zoom policy pdr_target must lie in [0, 1]")
        if not 7 <= self.min_zoom <= self.max_zoom <= 12:
            raise ConfigError("zoom policy needs 7 <= min_zoom <= max_zoom <= 12")


@dataclass
class GatewayAgent:
    """Local agent of one gateway (see the module docstring).

    Attributes
    ----------
    gateway : int
    members : numpy.ndarray
        ``(6,)`` devices of the gateway per SF ring.
    model : LinearModel
        Current forecaster (the global FedAvg model after each round).
    zoom : int
        Current zoom level.
    """

    gateway: int
    members: np.ndarray
    model: LinearModel = field(default_factory=LinearModel.zeros)
    zoom: int = 12

    def series(self, ring_demand: np.ndarray, ring_supply: np.ndarray) -> np.ndarray:
        """``(T, 12)`` per-member ring demand and supply series of this gateway, kWh per member."""
        m = np.maximum(self.members, 1)
        return np.hstack([ring_demand[:, self.gateway, :] / m, ring_supply[:, self.gateway, :] / m])

    def client(self, ring_demand: np.ndarray, ring_supply: np.ndarray, steps_per_day: int) -> ClientData:
        """All history as FedAvg training data (rings without members are left out)."""
        x = self.series(ring_demand, ring_supply)
        active = np.tile(self.members > 0, 2)
        if not active.any():
            empty = np.zeros((0, self.model.weights.shape[0]))
            return ClientData(empty, np.zeros(0), empty, np.zeros(0), f"gw{self.gateway}")
        X, y = lag_features(x[:, active], steps_per_day)
        return ClientData(X, y, X[:0], y[:0], f"gw{self.gateway}")

    def forecast(self, ring_demand: np.ndarray, ring_supply: np.ndarray, steps_per_day: int) -> np.ndarray:
        """Forecast the next day: ``(steps_per_day, 2, 6)`` ring demand/supply, kWh (totals, not per member)."""
        x = self.series(ring_demand, ring_supply)
        T = x.shape[0]
        pad = np.vstack([x, np.zeros((steps_per_day, x.shape[1]))])
        X, _ = lag_features(pad, steps_per_day, start=T)
        pred = np.maximum(self.model.predict(X), 0.0).reshape(steps_per_day, 2, 6)
        return pred * self.members[None, None, :]

    def energy_zoom(self, forecast: np.ndarray, policy: ZoomPolicy) -> int:
        """Smallest zoom level whose forecast local match reaches ``policy.target`` of the full coverage's."""
        m = local_match(forecast[:, 0, :][:, None, :], forecast[:, 1, :][:, None, :])[0]  # (6,)
        full = m[5]
        levels = np.arange(7, 13)
        ok = (m >= policy.target * full - 1e-12) & (levels >= policy.min_zoom) & (levels <= policy.max_zoom)
        return int(levels[np.argmax(ok)]) if ok.any() else policy.max_zoom

    def choose_zoom(self, forecast: np.ndarray, policy: ZoomPolicy) -> int:
        """Zoom straight to :meth:`energy_zoom` (the regrouping-only agents of :func:`run_agents`)."""
        self.zoom = self.energy_zoom(forecast, policy)
        return self.zoom

    def choose_zoom_measured(self, forecast: np.ndarray, policy: ZoomPolicy, pdr: float, collision_share: float) -> int:
        """One zoom step from the measured radio and the forecast energy balance.

        * measured PDR below ``policy.pdr_target``: zoom **in** one step when collisions caused
          at least half of the losses (a lower SF cap shortens every squeezed device's airtime),
          **out** one step otherwise (weak links need the margin of a higher SF);
        * otherwise one step towards :meth:`energy_zoom` (zoom in as far as the forecast local
          energy balance allows, one SF per decision so the radio can follow).

        Parameters
        ----------
        forecast : numpy.ndarray
            ``(steps, 2, 6)`` forecast ring demand / supply, kWh.
        policy : ZoomPolicy
        pdr : float
            Measured PDR of the gateway's devices over the last period (NaN: no traffic).
        collision_share : float
            Share of those losses caused by collisions, 0..1.
        """
        z = self.zoom
        if math.isfinite(pdr) and pdr < policy.pdr_target:
            z = z - 1 if collision_share >= 0.5 else z + 1
        else:
            target = self.energy_zoom(forecast, policy)
            z = z + int(np.sign(target - z))
        self.zoom = int(np.clip(z, policy.min_zoom, policy.max_zoom))
        return self.zoom


@dataclass
class Coordinator:
    """Central controller: FedAvg, zoom policy, re-zooming; inter-VMG balancing runs in :func:`trade`."""

    agents: list[GatewayAgent]
    policy: ZoomPolicy = field(default_factory=ZoomPolicy)
    rounds: int = 30
    local_steps: int = 1
    server_momentum: float = 0.9
    global_model: LinearModel = field(default_factory=LinearModel.zeros)

    def federated_round(self, ring_demand: np.ndarray, ring_supply: np.ndarray, steps_per_day: int) -> LinearModel:
        """FedAvg over the agents' local data (warm-started from the current global model)."""
        clients = [a.client(ring_demand, ring_supply, steps_per_day) for a in self.agents]
        clients = [c for c in clients if c.n > 0]
        if clients:
            self.global_model, _ = fedavg(
                clients,
                self.rounds,
                self.local_steps,
                alpha=self.global_model.alpha,
                init=self.global_model.weights,
                server_momentum=self.server_momentum,
            )
        for a in self.agents:
            a.model = LinearModel(self.global_model.weights.copy(), self.global_model.alpha)
        return self.global_model

    def zoom_levels(self) -> np.ndarray:
        """Current zoom level of every gateway, ``(G,)``."""
        return np.array([a.zoom for a in self.agents], dtype=np.int64)

    def apply_rezoom(self, plan: VMGPlan, ring_demand: np.ndarray, ring_supply: np.ndarray) -> np.ndarray:
        """Zoom out the gateways whose realised VMG balance fell below the policy threshold."""
        new = rezoom(plan, ring_demand, ring_supply, self.policy.rezoom_threshold)
        new = np.clip(new, self.policy.min_zoom, self.policy.max_zoom)
        for a, z in zip(self.agents, new, strict=True):
            a.zoom = int(z)
        return new


@dataclass
class AgentRun:
    """Day-by-day agent run over the evaluation days.

    Attributes
    ----------
    zoom : numpy.ndarray
        ``(days, G)`` zoom level chosen each day (after re-zooming).
    results : list of TradeResult
        One per evaluated day.
    plans : list of VMGPlan
    forecast_mae : list of float
        Per-day MAE of the ring demand/supply forecasts, kWh per ring and step.
    """

    zoom: np.ndarray
    results: list[TradeResult]
    plans: list[VMGPlan]
    forecast_mae: list[float]

    def stack(self, attr: str) -> np.ndarray:
        """Concatenate a ``(T, N)`` attribute of all days along time."""
        return np.vstack([getattr(r, attr) for r in self.results])


def run_agents(
    net: np.ndarray,
    radio: RadioState,
    retail: Any,
    feed_in: Any,
    steps_per_day: int = 96,
    warmup_days: int = 8,
    policy: ZoomPolicy | None = None,
    mechanism: str = "sdr",
    mode: str = "grid",
    rounds: int = 30,
    seed: int | None = 0,
) -> AgentRun:
    """Run the agents: warm-up at zoom 12, then each day forecast → zoom → trade → re-zoom.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy, kWh; T a whole number of days, step 0 at midnight.
    radio : RadioState
    retail, feed_in : float or array-like
        Tariffs, currency/kWh (scalar or one per step).
    steps_per_day : int
    warmup_days : int
        Days observed before the first forecast (> the longest lag, 7 days).
    policy : ZoomPolicy, optional
    mechanism, mode : str
        See :func:`peergrid.zoom.vmg.trade`.
    rounds : int
        FedAvg rounds per day.

    Returns
    -------
    AgentRun
    """
    net = np.asarray(net, dtype=np.float64)
    T = net.shape[0]
    spd = int(steps_per_day)
    if spd < 1 or T % spd:
        raise DataError(f"net must cover whole days of {spd} steps, got {T} steps")
    days = T // spd
    if warmup_days <= max(LAGS_DAYS) or warmup_days >= days:
        raise ConfigError(
            f"warmup_days must be in [{max(LAGS_DAYS) + 1}, {days - 1}] for {days} days, got {warmup_days}"
        )
    pol = policy or ZoomPolicy()
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64), (T,))
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64), (T,))
    G = radio.n_gateways
    base = form_vmgs(radio, 12)
    rd = ring_sums(np.maximum(net, 0.0), base)
    rs = ring_sums(np.maximum(-net, 0.0), base)
    members = np.zeros((G, 6))
    cov = radio.sf > 0
    np.add.at(members, (radio.home[cov], radio.sf[cov] - 7), 1.0)
    agents = [GatewayAgent(g, members[g]) for g in range(G)]
    coord = Coordinator(agents, pol, rounds=rounds)
    zooms, results, plans, errs = [], [], [], []
    dt = 24.0 / spd
    for day in range(warmup_days, days):
        t0, t1 = day * spd, (day + 1) * spd
        coord.federated_round(rd[:t0], rs[:t0], spd)
        fc_err = []
        for a in agents:
            if a.members.sum() == 0:
                continue
            fc = a.forecast(rd[:t0], rs[:t0], spd)
            a.choose_zoom(fc, pol)
            real = np.stack([rd[t0:t1, a.gateway, :], rs[t0:t1, a.gateway, :]], axis=1)
            fc_err.append(mae(fc, real))
        plan = form_vmgs(radio, coord.zoom_levels())
        res = trade(net[t0:t1], plan, lb[t0:t1], ls[t0:t1], mechanism, mode, coordinator=True, dt=dt, seed=seed)
        zooms.append(plan.zoom.copy())
        results.append(res)
        plans.append(plan)
        errs.append(float(np.mean(fc_err)) if fc_err else math.nan)
        coord.apply_rezoom(plan, rd[t0:t1], rs[t0:t1])
    return AgentRun(np.array(zooms), results, plans, errs)


@dataclass
class RadioAgentRun(AgentRun):
    """Day-by-day run of the radio-zooming agents (:func:`run_radio_agents`).

    Attributes
    ----------
    zoom : numpy.ndarray
        ``(days, G)`` zoom level applied each evaluated day.
    results : list of TradeResult
        One per evaluated day (members whose reading was lost sit the step out).
    plans : list of VMGPlan
        VMG membership each day (follows the radio: serving gateway, in zoom or wide).
    forecast_mae : list of float
    configs : list of RadioConfig
        SF, TX power and serving gateway each day.
    logs : list of UplinkLog
        What the network server measured each day.
    budget : LinkBudget
    """

    configs: list[RadioConfig]
    logs: list[UplinkLog]
    budget: LinkBudget

    def sf_days(self) -> np.ndarray:
        """``(days, N)`` SF of every device each evaluated day."""
        return np.array([c.sf for c in self.configs])


def run_radio_agents(
    net: np.ndarray,
    deployment: Deployment | LinkBudget,
    retail: Any,
    feed_in: Any,
    steps_per_day: int = 96,
    warmup_days: int = 8,
    policy: ZoomPolicy | None = None,
    mechanism: str = "sdr",
    mode: str = "grid",
    rounds: int = 30,
    seed: int | None = 0,
    params: RadioParams | None = None,
    zoom_params: ZoomRadioParams | None = None,
    strategy: str = "agents",
) -> RadioAgentRun:
    """Agents that zoom the radio, deciding from measured uplinks, day by day.

    Radio warm-up: devices join at SF12 / full power; two days of measured uplinks with ADR
    at zoom 12 (as :func:`peergrid.zoom.lora.plan_radio`'s two ADR rounds). Each device's
    **coverage ring** (smallest zoom at which its best gateway covers it, from the measured
    mean SNR) indexes the agents' energy history. Then every evaluated day:

    1. FedAvg round over the gateway agents; each agent forecasts its rings' demand/supply;
    2. each agent takes one zoom step from **yesterday's measured** PDR and loss causes of its
       devices and the forecast balance (:meth:`GatewayAgent.choose_zoom_measured`);
    3. the network server applies the zoom levels: coverage, hand-over, zoom-bounded ADR on the
       measured SNR (:func:`peergrid.zoom.uplinks.zoom_step`);
    4. the day's uplinks are simulated at the new SF / power (:func:`~peergrid.zoom.uplinks.simulate_uplinks`);
       VMGs follow the radio (:func:`~peergrid.zoom.uplinks.vmg_plan`) and trade; a member whose
       reading was lost settles that step with the grid (:func:`peergrid.zoom.vmg.trade_delivered`);
    5. the coordinator zooms out gateways whose realised balance was poor.

    Parameters
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy, kWh; whole days, step 0 at midnight.
    deployment : Deployment or LinkBudget
    retail, feed_in : float or array-like
        Tariffs, currency/kWh.
    steps_per_day, warmup_days, policy, mechanism, mode, rounds, seed
        As :func:`run_agents`.
    params : RadioParams, optional
    zoom_params : ZoomRadioParams, optional
    strategy : str
        ``"agents"`` (default); ``"adr"``: ADR only, every gateway at zoom 12 and one flat market
        (no zooming); ``"flat"``: no ADR, every device on SF12 at full power, one flat market.

    Returns
    -------
    RadioAgentRun
    """
    net = np.asarray(net, dtype=np.float64)
    T = net.shape[0]
    spd = int(steps_per_day)
    if spd < 1 or T % spd:
        raise DataError(f"net must cover whole days of {spd} steps, got {T} steps")
    if strategy not in ("agents", "adr", "flat"):
        raise ConfigError(f"strategy must be 'agents', 'adr' or 'flat', got {strategy!r}")
    days = T // spd
    if warmup_days <= max(LAGS_DAYS) or warmup_days >= days:
        raise ConfigError(
            f"warmup_days must be in [{max(LAGS_DAYS) + 1}, {days - 1}] for {days} days, got {warmup_days}"
        )
    pol = policy or ZoomPolicy()
    zp = zoom_params or ZoomRadioParams()
    budget = deployment if isinstance(deployment, LinkBudget) else link_budget(deployment, params, seed)
    if budget.rssi.shape[0] != net.shape[1]:
        raise DataError(f"net has {net.shape[1]} members but the deployment {budget.rssi.shape[0]} devices")
    step_s = 86400.0 / spd
    lb = np.broadcast_to(np.asarray(retail, dtype=np.float64), (T,))
    ls = np.broadcast_to(np.asarray(feed_in, dtype=np.float64), (T,))
    G = budget.n_gateways
    base_seed = 0 if seed is None else int(seed)

    def sim(cfg: RadioConfig, period: int) -> UplinkLog:
        # one seed per simulated day: the radio warm-up periods are -3, -2, -1, evaluated days their index
        return simulate_uplinks(budget, cfg, spd, step_s, zp, seed=[base_seed, 7919, period + 3])

    cfg = flat_config(budget) if strategy == "flat" else join_config(budget)
    log = sim(cfg, -3)
    if strategy != "flat":
        for r in range(2):
            cfg = zoom_step(budget, log, cfg, 12, zp)
            log = sim(cfg, r - 2)
    ring_home, ring = coverage_rings(budget, log, cfg, zp)
    cov = ring > 0
    ring_plan = VMGPlan(np.where(cov, ring_home, G + 1), np.full(G, 12), ring, ring_home, G)
    rd = ring_sums(np.maximum(net, 0.0), ring_plan)
    rs = ring_sums(np.maximum(-net, 0.0), ring_plan)
    members = np.zeros((G, 6))
    np.add.at(members, (ring_home[cov], ring[cov] - 7), 1.0)
    agents = [GatewayAgent(g, members[g]) for g in range(G)]
    coord = Coordinator(agents, pol, rounds=rounds)
    zooms, results, plans, cfgs, logs, errs = [], [], [], [], [], []
    dt = 24.0 / spd
    for day in range(warmup_days, days):
        t0, t1 = day * spd, (day + 1) * spd
        fc_err = []
        if strategy == "agents":
            coord.federated_round(rd[:t0], rs[:t0], spd)
            pdr = log.gw_pdr
            cshare = log.gw_collision_share
            for a in agents:
                if a.members.sum() == 0:
                    continue
                fc = a.forecast(rd[:t0], rs[:t0], spd)
                a.choose_zoom_measured(fc, pol, float(pdr[a.gateway]), float(cshare[a.gateway]))
                real = np.stack([rd[t0:t1, a.gateway, :], rs[t0:t1, a.gateway, :]], axis=1)
                fc_err.append(mae(fc, real))
            cfg = zoom_step(budget, log, cfg, coord.zoom_levels(), zp)
        elif strategy == "adr":
            cfg = zoom_step(budget, log, cfg, 12, zp)
        log = sim(cfg, day)
        if strategy == "agents":
            plan = vmg_plan(budget, cfg)
        else:
            plan = flat_plan(_sf_only(budget, cfg))
        res = trade_delivered(
            net[t0:t1],
            plan,
            log.delivered,
            lb[t0:t1],
            ls[t0:t1],
            mechanism,
            mode,
            coordinator=(strategy == "agents"),
            dt=dt,
            seed=seed,
        )
        zooms.append(np.asarray(cfg.zoom).copy())
        results.append(res)
        plans.append(plan)
        cfgs.append(cfg)
        logs.append(log)
        errs.append(float(np.mean(fc_err)) if fc_err else math.nan)
        if strategy == "agents":
            coord.apply_rezoom(replace_zoom(ring_plan, cfg.zoom), rd[t0:t1], rs[t0:t1])
    return RadioAgentRun(np.array(zooms), results, plans, errs, configs=cfgs, logs=logs, budget=budget)


def replace_zoom(plan: VMGPlan, zoom: np.ndarray) -> VMGPlan:
    """``plan`` with other zoom levels (same members and rings)."""
    return VMGPlan(plan.vmg, np.asarray(zoom, dtype=np.int64).copy(), plan.sf, plan.home, plan.n_gateways)


class _sf_only:
    """Minimal stand-in with the attributes :func:`flat_plan` reads (sf, home, n_gateways)."""

    def __init__(self, budget: LinkBudget, cfg: RadioConfig) -> None:
        self.sf = cfg.sf
        self.home = cfg.home(budget)
        self.n_gateways = budget.n_gateways
