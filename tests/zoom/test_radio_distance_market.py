"""Electrical vs radio distance and the coordinator's cost-ordered market (peergrid.zoom.distance)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from peergrid.core.errors import ConfigError
from peergrid.zoom.distance import DistanceCost, costed_trade, distance_pairs, neighbourhood
from peergrid.zoom.vmg import VMGPlan


@pytest.fixture(scope="module")
def nb():
    return neighbourhood(3, 3, seed=0)


def test_feeder_resistances_from_the_line_data(nb):
    # template: 4 radial feeders of 6 sections of 30 m NAYY 4x150 SE (0.208 Ohm/km) from the busbar (bus 0)
    r_sec = 0.208 * 0.030
    assert np.allclose(nb.root_r[[0, 1, 3, 6, 7]], [0.0, r_sec, 3 * r_sec, 6 * r_sec, r_sec])
    # 0.4 MVA 20/0.4 kV transformer: vkr 1.425 % -> 0.01425 * 0.4^2 / 0.4 Ohm
    assert np.isclose(nb.trafo_r, 0.01425 * 0.4**2 / 0.4)
    h = replace(nb, substation=np.array([0, 0, 1]), bus=np.array([3, 6, 3]), service_m=np.array([10.0, 0.0, 0.0]))
    svc = 0.641e-3 * 10.0
    # same feeder: 3 sections apart + the service cable of house 0
    assert np.isclose(h.resistance(0, 1), 3 * r_sec + svc)
    # other substation: up both feeders, through both transformers
    assert np.isclose(h.resistance(0, 2), 6 * r_sec + 2 * nb.trafo_r + svc)
    # other feeder of the same substation: via the busbar
    h2 = replace(h, bus=np.array([3, 9, 3]))  # bus 9 = third bus of feeder 1
    assert np.isclose(h2.resistance(0, 1), 6 * r_sec + svc)
    assert h.resistance(1, 1) == 0.0


def _case(nb, n_tx1: float):
    """Member 0 sells 1 kWh (VMG 0); member 1 (VMG 1) is on its bus, member 2 (VMG 2) on another substation."""
    h = replace(nb, substation=np.array([0, 0, 1]), bus=np.array([3, 3, 3]), service_m=np.zeros(3))
    plan = VMGPlan(np.array([0, 1, 2]), np.full(3, 12), np.full(3, 7), np.array([0, 1, 2]), 3)
    net = np.array([[-1.0, 1.0, 1.0]])
    cost = DistanceCost(air_cost_per_s=0.0, q_ref_kwh=1.0)
    return h, plan, net, cost, np.array([1.0, n_tx1, 1.0])


@pytest.mark.parametrize("rule,buyer", [("electrical", 1), ("radio", 2), ("combined", 2)])
def test_merit_order_by_each_cost(nb, rule, buyer):
    h, plan, net, cost, n_tx = _case(nb, n_tx1=6.0)
    res = costed_trade(net, plan, h, n_tx, np.zeros(3), 0.30, 0.07, rule=rule, cost=cost)
    # hand-computed costs per kWh (kappa = 5 kW / 400 V^2 = 0.03125 / Ohm, lambda_b = 0.30, 1e-4 per message):
    r02 = 2 * nb.root_r[3] + 2 * nb.trafo_r
    c01 = 0.0 + 1e-4 * (1 + 6) + 2e-4  # electrical 0 (same bus), 7 messages + 2 coordinator messages
    c02 = 0.30 * 0.03125 * r02 + 1e-4 * (1 + 1) + 2e-4
    assert c02 < c01 and r02 > 0  # radio makes the electrically far buyer the cheaper one
    flow = res.inter_flow[0]
    assert flow[0, buyer] == pytest.approx(1.0) and flow.sum() == pytest.approx(1.0)
    c = c01 if buyer == 1 else c02
    assert res.fees[0] == pytest.approx(c)
    mid = (0.30 + 0.07) / 2
    assert res.bill[0, 0] == pytest.approx(-(mid - c / 2))
    assert res.bill[0, buyer] == pytest.approx(mid + c / 2)
    assert res.bill[0, 3 - buyer] == pytest.approx(0.30)  # the other buyer imports from the grid
    assert np.allclose(res.bill.sum(axis=1), res.grid_bill + res.fees)  # money conserved
    assert res.inter_loss_kwh[0] == pytest.approx(0.0 if buyer == 1 else 0.03125 * r02)


def test_cheap_radio_everywhere_combined_follows_electrical(nb):
    h, plan, net, cost, n_tx = _case(nb, n_tx1=1.0)
    res = costed_trade(net, plan, h, n_tx, np.zeros(3), 0.30, 0.07, rule="combined", cost=cost)
    assert res.inter_flow[0, 0, 1] == pytest.approx(1.0)


def test_pool_is_pro_rata_and_cost_blind(nb):
    h, plan, net, cost, n_tx = _case(nb, n_tx1=6.0)
    res = costed_trade(net, plan, h, n_tx, np.zeros(3), 0.30, 0.07, rule="pool", cost=cost)
    assert res.inter_flow[0, 0, 1] == pytest.approx(0.5) and res.inter_flow[0, 0, 2] == pytest.approx(0.5)
    assert np.allclose(res.bill.sum(axis=1), res.grid_bill + res.fees)


def test_no_trade_when_the_cost_exceeds_the_spread(nb):
    h, plan, net, _, n_tx = _case(nb, n_tx1=1.0)
    dear = DistanceCost(cost_per_message=1.0, q_ref_kwh=1.0)  # 1 currency per message: above the 0.23 spread
    res = costed_trade(net, plan, h, n_tx, np.zeros(3), 0.30, 0.07, rule="combined", cost=dear)
    assert res.inter_kwh.sum() == 0.0 and res.fees.sum() == 0.0
    with pytest.raises(ConfigError):
        costed_trade(net, plan, h, n_tx, np.zeros(3), 0.30, 0.07, rule="nearest")


def test_local_costs_match_brute_force_pairs():
    """The pro-rata within-VMG cost from (VMG, substation, bus) aggregates equals the sum over member pairs."""
    nb = neighbourhood(60, 2, seed=1)
    rng = np.random.default_rng(0)
    net = rng.normal(0.0, 1.0, (3, 60))
    plan = VMGPlan(rng.integers(0, 2, 60), np.full(2, 12), np.full(60, 9), rng.integers(0, 2, 60), 2)
    cost = DistanceCost(cost_per_message=0.0, air_cost_per_s=0.0, hop_messages=0.0, q_ref_kwh=1.0)
    res = costed_trade(net, plan, nb, np.ones(60), np.zeros(60), 0.30, 0.07, rule="combined", cost=cost)
    from peergrid.zoom.vmg import trade

    local = trade(net, plan, 0.30, 0.07, "sdr", "grid", coordinator=False)
    i, j = np.meshgrid(np.arange(60), np.arange(60), indexing="ij")
    R = nb.resistance(i, j)
    for t in range(3):
        expected = 0.0
        for k in range(2):
            m = plan.vmg == k
            b, s = local.bought[t] * m, local.sold[t] * m
            if b.sum() > 0 and s.sum() > 0:
                expected += (b[:, None] * s[None, :] * R).sum() / (b.sum() * s.sum()) * b.sum()
        assert res.local_loss_kwh[t] == pytest.approx(0.03125 * expected, rel=1e-9, abs=1e-12)


def test_radio_and_electrical_distance_differ():
    nb = neighbourhood(400, 4, seed=0)
    plan = VMGPlan(
        np.argmin(((nb.deployment.devices[:, None, :] - nb.deployment.gateways[None]) ** 2).sum(-1), axis=1),
        np.full(4, 12),
        np.full(400, 9),
        np.zeros(400, dtype=np.int64),
        4,
    )
    air = np.random.default_rng(0).uniform(0.05, 1.3, 400)
    d = distance_pairs(nb, plan, air, pairs=5000)
    assert abs(d["spearman"]) < 0.5  # radio distance is a poor proxy of electrical distance
    assert d["same_vmg_other_substation"] > 0.5  # a gateway's VMG spans many substations
