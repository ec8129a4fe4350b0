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
from peergrid.zoom.lora import RadioState
from peergrid.zoom.vmg import TradeResult, VMGPlan, form_vmgs, local_match, rezoom, ring_sums, trade

__all__ = ["AgentRun", "Coordinator", "GatewayAgent", "ZoomPolicy", "run_agents"]


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
    """

    target: float = 0.8
    min_zoom: int = 7
    max_zoom: int = 12
    rezoom_threshold: float = 0.7

    def __post_init__(self) -> None:
        if not (0.0 <= self.target <= 1.0 and 0.0 <= self.rezoom_threshold <= 1.0):
            raise ConfigError("zoom policy target and rezoom_threshold must lie in [0, 1]")
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

    def choose_zoom(self, forecast: np.ndarray, policy: ZoomPolicy) -> int:
        """Smallest zoom level whose forecast local match reaches ``policy.target`` of the full coverage's."""
        m = local_match(forecast[:, 0, :][:, None, :], forecast[:, 1, :][:, None, :])[0]  # (6,)
        full = m[5]
        levels = np.arange(7, 13)
        ok = (m >= policy.target * full - 1e-12) & (levels >= policy.min_zoom) & (levels <= policy.max_zoom)
        self.zoom = int(levels[np.argmax(ok)]) if ok.any() else policy.max_zoom
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
