"""Radio-zooming agents: decisions from measured PDR, seeds, lost readings sit the step out."""

from __future__ import annotations

import numpy as np
import pytest

from peergrid.core.errors import ConfigError
from peergrid.data import synthetic_community
from peergrid.zoom.agents import GatewayAgent, ZoomPolicy, run_radio_agents
from peergrid.zoom.costs import measured_network_cost
from peergrid.zoom.lora import Deployment
from peergrid.zoom.vmg import flat_plan, form_vmgs, trade, trade_delivered


@pytest.fixture(scope="module")
def case():
    c = synthetic_community(150, start="2022-08-01 08:00", periods=96 * 10, freq="15min", seed=0)
    return c, c.load - c.generation, Deployment.grid(150, 2, 400.0, seed=0)


def test_measured_decision_rule():
    a = GatewayAgent(0, np.ones(6), zoom=10)
    fc = np.zeros((4, 2, 6))
    fc[:, 0, 0] = 1.0
    fc[:, 1, 0] = 1.0  # all balance in ring SF7: energy zoom 7
    pol = ZoomPolicy(pdr_target=0.9)
    assert a.choose_zoom_measured(fc, pol, pdr=0.8, collision_share=0.7) == 9  # collisions: zoom in
    assert a.choose_zoom_measured(fc, pol, pdr=0.8, collision_share=0.2) == 10  # weak links: zoom out
    assert a.choose_zoom_measured(fc, pol, pdr=0.99, collision_share=0.0) == 9  # one step towards zoom 7
    a.zoom = 12
    assert a.choose_zoom_measured(fc, pol, pdr=float("nan"), collision_share=0.0) == 11
    with pytest.raises(ConfigError):
        ZoomPolicy(pdr_target=1.5)


def test_run_is_reproducible_and_radio_follows_zoom(case):
    c, net, dep = case
    runs = [run_radio_agents(net, dep, c.retail, c.feed_in, rounds=2, seed=3) for _ in range(2)]
    a, b = runs
    assert np.array_equal(a.zoom, b.zoom)
    assert all(np.array_equal(x.sf, y.sf) for x, y in zip(a.configs, b.configs, strict=True))
    assert np.array_equal(a.stack("bill"), b.stack("bill"))
    for cfg, plan in zip(a.configs, a.plans, strict=True):
        home = cfg.home(a.budget)
        cap = cfg.zoom[home]
        assert np.all(cfg.sf[cfg.in_zoom] <= cap[cfg.in_zoom])  # ADR respects the serving gateway's zoom
        assert np.array_equal(plan.vmg[cfg.in_zoom], home[cfg.in_zoom])
        assert np.all(plan.vmg[~cfg.in_zoom & (cfg.sf > 0)] == plan.wide)
    flat = run_radio_agents(net, dep, c.retail, c.feed_in, rounds=2, seed=3, strategy="flat")
    assert np.all(flat.configs[0].sf[flat.configs[0].sf > 0] == 12)
    # SF12 everywhere: more airtime, more device energy and gateway airtime than the zoomed radio
    z_cost = measured_network_cost(a.logs[0], a.plans[0])
    f_cost = measured_network_cost(flat.logs[0], flat.plans[0])
    assert f_cost.rx_airtime_s.sum() > z_cost.rx_airtime_s.sum()
    assert flat.logs[0].energy_j.sum() > a.logs[0].energy_j.sum()
    with pytest.raises(ConfigError):
        run_radio_agents(net, dep, c.retail, c.feed_in, strategy="zoom")


def test_lost_readings_settle_with_the_grid(case):
    c, net, dep = case
    from peergrid.zoom.lora import plan_radio

    radio = plan_radio(dep, seed=0)
    plan = form_vmgs(radio, 12)
    day = net[:96]
    ok = np.ones(day.shape, dtype=bool)
    ok[:, :50] = False  # the first 50 members' readings never arrive
    res = trade_delivered(day, plan, ok, c.retail[:96], c.feed_in[:96])
    assert np.allclose(res.bill.sum(axis=1), res.grid_bill + res.market_fees)
    assert np.all(res.bought[:, :50] == 0) and np.all(res.sold[:, :50] == 0)
    lb, ls = c.retail[:96], c.feed_in[:96]
    grid_only = lb[:, None] * np.maximum(day[:, :50], 0) - ls[:, None] * np.maximum(-day[:, :50], 0)
    assert np.allclose(res.bill[:, :50], grid_only)
    full = trade_delivered(day, plan, np.ones(day.shape, dtype=bool), lb, ls)
    assert np.array_equal(full.bill, trade(day, plan, lb, ls).bill)
    _ = flat_plan
