"""SlotFlows: the sweep behind curtailment and network-aware clearing, pandapower as option and fallback."""

import numpy as np
import pandas as pd
import pytest

from peergrid.core.errors import ConfigError
from peergrid.grid import (
    FeederLimits,
    build_feeder,
    check_limits,
    clear_on_feeder,
    curtail_to_limits,
    feeder_from_net,
    power_flow,
    power_flow_3ph,
)
from peergrid.grid import sweep as sweep_module
from peergrid.grid.slotflow import SWEEP_GUARD, SlotFlows
from peergrid.market.orders import OrderBook


@pytest.fixture(scope="module")
def mixed_net():
    net = build_feeder(n_buses=8, n_feeders=2, line_type="NAYY 4x50 SE", length_km=0.05)
    ids = [f"m{i}" for i in range(7)]
    table = pd.DataFrame({"id": ids, "bus": np.arange(1, 8), "phase": ["a", "b", "c", "abc", "a", "b", "abc"]})
    return feeder_from_net(net, table)


def test_sweep_flows_match_pandapower_with_bus_injections_and_phases(mixed_net):
    p = np.array([-12.0, 5.0, 3.0, 8.0, -4.0, 2.0, 1.0])
    bus_kw = np.zeros(len(mixed_net.bus))
    bus_kw[[2, 6]] = [-20.0, 20.0]  # a 20 kW trade from bus 2 to bus 6
    sweep, pp = SlotFlows(mixed_net), SlotFlows(mixed_net, "pandapower")
    assert sweep.uses_sweep() and not pp.uses_sweep()
    # balanced: the bus-level trade is the same flow as moving the members' power
    ours, ref = sweep(p, bus_kw=bus_kw), pp(p, bus_kw=bus_kw)
    np.testing.assert_allclose(ours.loading_pct, ref.loading_pct, atol=1e-4)
    np.testing.assert_allclose(ours.vm_pu, ref.vm_pu, atol=1e-7)
    moved = p.copy()
    moved[[1, 5]] += [-20.0, 20.0]  # m1 on bus 2, m5 on bus 6 (three-phase in the balanced flow)
    np.testing.assert_allclose(power_flow(mixed_net, moved[None, :]).vm_pu, ref.vm_pu, atol=1e-9)
    # unbalanced: each member on its phase, as runpp_3ph
    ours3, ref3 = sweep(p, unbalanced=True), power_flow_3ph(mixed_net, p[None, :])
    np.testing.assert_allclose(ours3.vim_pct, ref3.vim_pct, atol=1e-3)
    np.testing.assert_allclose(ours3.loading_pct, ref3.loading_pct, atol=1e-3)
    assert sweep.method == "sweep" and pp.method == "pandapower"


def test_the_clearing_looks_the_feeder_model_up_once_per_kind(mixed_net, monkeypatch):
    """Regression: one content fingerprint per clear_on_feeder call and flow kind, not one per flow."""
    calls = []
    real = sweep_module._fingerprint
    monkeypatch.setattr(sweep_module, "_fingerprint", lambda net: calls.append(1) or real(net))
    rng = np.random.default_rng(4)
    n = 40
    book = OrderBook.from_arrays(
        participant=rng.choice([f"m{i}" for i in range(7)], n), side=rng.choice(["buy", "sell"], n),
        quantity=rng.uniform(5, 60, n), price=rng.uniform(0.05, 0.3, n), slot=rng.integers(0, 3, n),
    )  # fmt: skip
    c = clear_on_feeder(book, FeederLimits(mixed_net, max_vim_pct=2.0), "bilateral")
    assert c.flow == "sweep" and c.slot_curtailed_kwh.sum() > 0  # many flows were solved
    assert len(calls) <= 2
    calls.clear()
    FeederLimits(mixed_net, max_vim_pct=2.0).curtail(c.result.trades, book)
    assert len(calls) <= 2


def test_sweep_and_pandapower_clear_alike_and_both_settle_within_pandapowers_limits(mixed_net):
    rng = np.random.default_rng(11)
    n = 30
    book = OrderBook.from_arrays(
        participant=rng.choice([f"m{i}" for i in range(7)], n), side=rng.choice(["buy", "sell"], n),
        quantity=rng.uniform(5, 60, n), price=rng.uniform(0.05, 0.3, n), slot=rng.integers(0, 2, n),
    )  # fmt: skip
    out = {}
    for flow in ("sweep", "pandapower"):
        c = clear_on_feeder(book, FeederLimits(mixed_net, max_vim_pct=2.0, flow=flow), "uniform", tau=0.02)
        assert c.flow == flow and c.summary()["feasible"]
        t = c.result.trades
        ids = list(mixed_net["peergrid_participants"]["id"])
        labels = [str(x) for x in book.participant_label(np.arange(book.n_participants))]
        for slot in np.unique(t.slot).tolist():  # pandapower's own three-phase flow of the settled trades
            m = t.slot == slot
            pw = np.zeros(len(ids))
            np.add.at(pw, [ids.index(labels[b]) for b in t.buyer[m]], t.quantity[m])
            np.add.at(pw, [ids.index(labels[x]) for x in t.seller[m]], -t.quantity[m])
            assert not check_limits(power_flow_3ph(mixed_net, pw[None, :]), max_vim_pct=2.0).any
        out[flow] = c
    a, b = out["sweep"], out["pandapower"]
    assert a.result.trades.quantity.sum() == pytest.approx(b.result.trades.quantity.sum(), rel=0.02)
    assert a.slot_line_fees.sum() == pytest.approx(b.slot_line_fees.sum(), rel=0.02)


def test_curtailment_reports_against_the_given_limits_and_the_solver():
    chain = build_feeder(n_buses=3, n_feeders=1, length_km=0.05, line_type="NAYY 4x50 SE")
    res = curtail_to_limits(chain, [1], [2], [150.0])
    assert res.flow_method == "sweep" and res.feasible
    assert res.flow.loading_pct[0, 1] <= 100.0 - SWEEP_GUARD["loading_pct"]  # the guard band
    pp = curtail_to_limits(chain, [1], [2], [150.0], flow="pandapower", numba=False)
    assert pp.flow_method == "pandapower"
    assert res.accepted_kw[0] == pytest.approx(pp.accepted_kw[0], rel=2e-3)
    assert res.violations.limits["max_loading_pct"] == 100.0


def test_nets_the_sweep_refuses_fall_back_to_pandapower():
    net = build_feeder(n_buses=4, n_feeders=1, length_km=0.05, line_type="NAYY 4x50 SE")
    import pandapower as pp

    pp.create_gen(net, 3, p_mw=0.005, vm_pu=1.0)  # a PV bus: the sweep refuses it
    net = feeder_from_net(net, pd.DataFrame({"id": ["a", "b"], "bus": [1, 2], "phase": "abc"}))
    flows = SlotFlows(net)
    flow = flows(np.array([10.0, -5.0]))
    assert flows.method == "pandapower" and "gen" in flows.fallback
    np.testing.assert_allclose(flow.vm_pu, power_flow(net, [[10.0, -5.0]]).vm_pu)
    book = OrderBook.from_arrays(participant=["a", "b"], side=["buy", "sell"], quantity=[3.0, 3.0], price=[0.3, 0.1])
    c = clear_on_feeder(book, FeederLimits(net))
    assert c.flow == "pandapower" and c.result.trades.quantity.sum() == pytest.approx(3.0)


def test_unknown_flow_is_a_config_error(mixed_net):
    with pytest.raises(ConfigError, match="flow must be one of sweep, pandapower"):
        FeederLimits(mixed_net, flow="newton")
    with pytest.raises(ConfigError, match="flow must be one of"):
        curtail_to_limits(mixed_net, [1], [2], [1.0], flow="dc")
    assert FeederLimits(mixed_net, flow=" PandaPower ").flow == "pandapower"
