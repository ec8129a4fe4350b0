"""Gateway agents, coordinator, costs (peergrid.zoom.agents, peergrid.zoom.costs)."""

import numpy as np
import pytest

from peergrid.core.errors import ConfigError, DataError
from peergrid.data import synthetic_community
from peergrid.zoom import (
    CostParams,
    Deployment,
    GatewayAgent,
    VMGPlan,
    ZoomPolicy,
    flat_plan,
    form_vmgs,
    network_cost,
    plan_radio,
    run_agents,
    time_on_air,
)


@pytest.fixture(scope="module")
def small():
    c = synthetic_community(300, start="2022-08-01 08:00", periods=96 * 10, freq="15min", seed=2)
    radio = plan_radio(Deployment.grid(300, 3, 400.0, seed=2), seed=2)
    return c, radio


def test_choose_zoom_smallest_level_reaching_target():
    a = GatewayAgent(0, np.ones(6))
    fc = np.zeros((4, 2, 6))
    fc[:, 0, 0] = 1.0  # SF7 ring buys 1 kWh per step
    fc[:, 1, 2] = 1.0  # SF9 ring sells 1 kWh per step
    assert a.choose_zoom(fc, ZoomPolicy(target=0.8)) == 9
    fc[:, 1, 0] = 1.0  # SF7 ring now balanced on its own
    assert a.choose_zoom(fc, ZoomPolicy(target=0.8)) == 7
    assert a.choose_zoom(fc, ZoomPolicy(target=0.8, min_zoom=10)) == 10
    with pytest.raises(ConfigError):
        ZoomPolicy(min_zoom=13)


def test_run_agents_conserves_and_zooms_within_bounds(small):
    c, radio = small
    net = c.load - c.generation
    pol = ZoomPolicy(target=0.6, min_zoom=8, max_zoom=12)
    run = run_agents(net, radio, c.retail, c.feed_in, 96, warmup_days=8, policy=pol, rounds=5)
    assert run.zoom.shape == (2, 3)
    assert run.zoom.min() >= 8 and run.zoom.max() <= 12
    assert len(run.results) == 2 and all(np.isfinite(run.forecast_mae))
    bills = run.stack("bill")
    assert bills.shape == (192, 300)
    grid = np.concatenate([r.grid_bill for r in run.results])
    np.testing.assert_allclose(bills.sum(axis=1), grid, atol=1e-9)
    # with the coordinator, network-wide grid exchange equals one flat pool
    flat = np.concatenate([r.grid_import.sum(axis=1) - r.grid_export.sum(axis=1) for r in run.results])
    np.testing.assert_allclose(flat, net[8 * 96 :].sum(axis=1), atol=1e-9)
    with pytest.raises(ConfigError):
        run_agents(net, radio, c.retail, c.feed_in, 96, warmup_days=7)
    with pytest.raises(DataError):
        run_agents(net[:-1], radio, c.retail[:-1], c.feed_in[:-1], 96)


def test_network_cost_hand_case():
    # one gateway, two devices on SF7 and SF9, 900 s steps, one zoomed VMG at 9
    radio = plan_radio(Deployment.from_coordinates(np.array([[10.0, 0.0], [30.0, 0.0]]), np.array([[0.0, 0.0]])))
    sf = radio.sf
    plan = VMGPlan(np.zeros(2, dtype=np.int64), np.array([12]), sf, radio.home, 1)
    cp = CostParams(p_idle_w=2.0, p_rx_w=0.5, p_tx_w=3.0, cost_per_message=0.01, electricity_price=0.3)
    nc = network_cost(radio, plan, steps=96, params=cp)
    rx = float((radio.toa_s * radio.transmissions).sum())
    dl = float(time_on_air(radio.params.downlink_bytes, sf.max()))
    power = 2.0 + 0.5 * rx / 900.0 + 3.0 * dl / 900.0
    assert nc.gateway_power_w[0] == pytest.approx(power)
    assert nc.gateway_energy_kwh == pytest.approx(power * 24.0 / 1000.0)
    assert nc.downlinks == 96
    assert nc.opex == pytest.approx(0.01 * (radio.transmissions.sum() * 96 + 96) + 0.3 * power * 24 / 1000)


def test_zooming_uses_less_airtime_than_flat(small):
    _, radio = small
    z = network_cost(radio, form_vmgs(radio, 12), 96)
    flat_radio = radio.with_fixed_sf(12)
    f = network_cost(flat_radio, flat_plan(flat_radio), 96)
    assert z.rx_airtime_s.sum() < f.rx_airtime_s.sum()
    assert z.opex < f.opex and z.gateway_power_w.sum() < f.gateway_power_w.sum()
    with pytest.raises(ConfigError):
        network_cost(radio, form_vmgs(radio, 12), 0)
    with pytest.raises(ConfigError):
        CostParams(p_idle_w=-1.0)
