"""Network-aware simulation (part netsim): grid= / [grid], curtailment, eq. 12 fees, losses, balances."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peergrid
from peergrid.core.errors import ConfigError
from peergrid.grid import FeederTopology
from peergrid.simulate import Comparison, Result
from peergrid.simulate.network import (
    GridOptions,
    allocate_losses,
    check_grid,
    line_fee_money,
    run_flow,
)

pytest.importorskip("pandapower")
sys.path.insert(0, str(Path(__file__).parent))
from netsim_helpers import feeder_community

GRID = {"fee_per_kwh": 0.02, "max_line_loading_pct": 60.0, "v_max_pu": 1.03}


@pytest.fixture(scope="module")
def stressed() -> Comparison:
    com = feeder_community(phases="abc")
    return peergrid.compare(com, markets=["baseline", "sdr", "uniform"], grid=GRID)


# ---- options ---------------------------------------------------------------------------------


def test_no_grid_is_todays_behaviour_bit_for_bit():
    com = feeder_community(n=8, periods=12)
    plain = peergrid.compare(com, markets=["baseline", "sdr", "uniform"])
    none = peergrid.compare(com, markets=["baseline", "sdr", "uniform"], grid=None)
    for name in plain:
        a, b = plain[name], none[name]
        assert b.network is None
        assert np.array_equal(a.net, b.net)
        assert a.metrics.keys() == b.metrics.keys()
        for k, v in a.metrics.items():
            assert v == b.metrics[k] or (np.isnan(v) and np.isnan(b.metrics[k])), k
        pd.testing.assert_frame_equal(a.bills(), b.bills())
        pd.testing.assert_frame_equal(a.steps, b.steps)
        assert "grid" not in b.summary()
        assert "line_fees" not in b.metrics


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"feeder": "default", "colour": 1}, "unknown key(s) colour"),
        ({"max_line_loading_pct": -5}, "max_line_loading_pct must be > 0"),
        ({"v_min_pu": 1.05, "v_max_pu": 0.95}, "v_min_pu < v_max_pu"),
        ({"v_min_pu": 1.0, "v_max_pu": 1.0}, "v_min_pu < v_max_pu"),
        ({"max_vim_pct": 0}, "max_vim_pct must be > 0"),
        ({"fee_per_kwh": -0.01}, "fee_per_kwh must be >= 0"),
        ({"fee_per_kwh": "cheap"}, "fee_per_kwh must be a number"),
        ({"v_max_pu": float("nan")}, "must be finite"),
        ({"feeder": ""}, "feeder must be"),
    ],
)
def test_bad_grid_options_are_one_line_config_errors(grid, message):
    with pytest.raises(ConfigError, match="^" + r"\[grid\]") as err:
        check_grid(grid)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_feeder_file_missing_is_a_config_error(tmp_path):
    com = feeder_community(n=4, periods=4)
    with pytest.raises(ConfigError, match="feeder"):
        peergrid.compare(com, markets=["sdr"], grid={"feeder": str(tmp_path / "nope.json")})


def test_faults_and_forecasts_are_refused():
    from peergrid.simulate.faults import Fault

    com = feeder_community(n=4, periods=48)
    with pytest.raises(ConfigError, match="faults"):
        peergrid.compare(com, markets=["sdr"], grid={}, faults=[Fault(0, 1, 3, kind="meter")])
    with pytest.raises(ConfigError, match="forecaster"):
        peergrid.compare(com, markets=["sdr"], grid={}, forecaster="persistence")


def test_scenario_grid_table(tmp_path):
    from peergrid.simulate.scenario import load_scenario, scenario_from_dict

    base = {"time": {"periods": 6, "freq": "1h"}, "community": {"source": "synthetic", "households": 5}}
    sc = scenario_from_dict({**base, "grid": {"fee_per_kwh": 0.01, "max_vim_pct": 2.0}})
    opts = sc.grid_options(tmp_path)["grid"]
    assert isinstance(opts, GridOptions) and opts.fee_per_kwh == 0.01 and opts.max_vim_pct == 2.0
    assert scenario_from_dict(base).grid_options() == {}
    for bad, text in (
        ({"feeder": "default", "typo": 1}, "typo"),
        ({"max_line_loading_pct": -1}, "max_line_loading_pct"),
        ({"v_min_pu": 1.1, "v_max_pu": 1.0}, "v_min_pu < v_max_pu"),
    ):
        path = tmp_path / "s.toml"
        body = "[time]\nperiods = 6\n[community]\nsource = \"synthetic\"\nhouseholds = 5\n[grid]\n"
        body += "".join(f"{k} = {json.dumps(v)}\n" for k, v in bad.items())
        path.write_text(body)
        with pytest.raises(ConfigError, match=text) as err:
            load_scenario(path)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="forecaster"):
        scenario_from_dict({**base, "simulation": {"forecaster": "persistence"}, "grid": {}})


# ---- fees --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_feeder():
    from peergrid.grid import build_feeder

    com = feeder_community(n=7, periods=2)
    parts = com.participants.copy()
    parts["node"] = [1, 2, 3, 2, 5, 6, 4]
    import dataclasses

    com = dataclasses.replace(com, participants=parts)
    net = build_feeder(com, parents=[-1, 0, 1, 2, 0, 4, 5])  # two branches
    return net, FeederTopology.of(net)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pool_fee_equals_the_sum_over_pro_rata_pairs(small_feeder, data):
    """Σ over enumerated pairs of q_s q_b / V · H_sb (eq. 12 via utilisation_fee) = the tree formula."""
    from peergrid.grid import line_paths
    from peergrid.grid.charges import utilisation_fee

    net, topo = small_feeder
    N, L = topo.below.shape
    vol = st.floats(0, 5, allow_nan=False)
    sold = np.array(data.draw(st.lists(vol, min_size=N, max_size=N)))
    sellers = np.array(data.draw(st.lists(st.booleans(), min_size=N, max_size=N)))
    sold = np.where(sellers, sold, 0.0)
    raw = np.array(data.draw(st.lists(vol, min_size=N, max_size=N)))
    bought = np.where(sellers, 0.0, raw)
    if bought.sum() > 0:
        bought = bought / bought.sum() * sold.sum()
    else:
        sold = sold * 0.0
    flows = np.array(data.draw(st.lists(st.floats(-300, 300, allow_nan=False), min_size=L, max_size=L)))
    tau = 0.03
    fee = line_fee_money(bought[None], sold[None], flows[None], topo, tau)[0]
    buses = topo.bus[topo.member_bus]
    expected = np.zeros(N)
    V = sold.sum()
    for s in range(N):
        for b in range(N):
            if sold[s] > 0 and bought[b] > 0:
                h = utilisation_fee(line_paths(net, buses[s], buses[b]), flows, topo.p_max_kw, tau)[0]
                expected[b] += sold[s] * bought[b] / V * h
    np.testing.assert_allclose(fee, expected, rtol=1e-9, atol=1e-12)
    assert np.all(fee[bought == 0] == 0)


def test_pool_fee_with_a_subnormal_volume_is_finite(small_feeder):
    """A seller of 5e-324 kWh and its buyer: 1/V overflows, the fee stays finite (regression, hypothesis)."""
    _, topo = small_feeder
    N, L = topo.below.shape
    sold = np.zeros(N)
    sold[6] = 5e-324
    bought = np.zeros(N)
    bought[4] = 5e-324
    fee = line_fee_money(bought[None], sold[None], np.full((1, L), 100.0), topo, 0.03)[0]  # warnings are errors
    assert np.all(np.isfinite(fee)) and np.all(fee >= 0) and np.all(fee[bought == 0] == 0)


def test_fee_by_hand_two_members():
    """Seller below line 0, buyer at the busbar: H = τ |P_0| / P_max,0 per kWh."""
    from peergrid.grid import build_feeder

    com = feeder_community(n=2, periods=2)
    parts = com.participants.copy()
    parts["node"] = [1, 0]
    import dataclasses

    net = build_feeder(dataclasses.replace(com, participants=parts), n_buses=2)
    topo = FeederTopology.of(net)
    p_max = topo.p_max_kw[0]
    fee = line_fee_money(np.array([[0.0, 2.0]]), np.array([[2.0, 0.0]]), np.array([[-50.0]]), topo, 0.1)
    assert fee[0, 1] == pytest.approx(2.0 * 0.1 * 50.0 / p_max)
    assert fee[0, 0] == 0.0


@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=12, max_size=12), st.floats(0, 3))
def test_losses_are_allocated_in_full(values, loss):
    x = np.array(values).reshape(3, 4)
    alloc = allocate_losses(x, np.full(3, loss))
    np.testing.assert_allclose(alloc.sum(axis=1), loss, rtol=1e-12, atol=1e-12)
    assert np.all(alloc >= 0)


# ---- curtailment, balances ----------------------------------------------------------------------------


def test_curtailment_spills_only_exports_and_ends_within_limits(stressed):
    res = stressed["sdr"]
    info = res.summary()["grid"]
    assert info["violating_slots_before"] > 0
    assert info["violating_slots_after"] == 0
    assert res.metrics["curtailed_kwh"] > 0
    assert res.metrics["max_line_loading_pct"] <= GRID["max_line_loading_pct"]
    raw = res.community.net  # no batteries: the members' net before curtailment
    spilled = res.net - raw
    assert np.all(spilled >= -1e-12)  # only moved towards zero ...
    assert np.all(res.net <= np.maximum(raw, 0.0) + 1e-12)  # ... and never beyond: imports unchanged
    np.testing.assert_allclose(res.net[raw > 0], raw[raw > 0])
    np.testing.assert_allclose(res.participants["curtailed_kwh"].sum(), spilled.sum())
    # the market was cleared again on the curtailed positions: less supply where spilled
    assert res.clearing.supply.sum() == pytest.approx(np.maximum(-res.net, 0).sum())
    for name in ("baseline", "uniform"):
        assert stressed[name].metrics["curtailed_kwh"] == pytest.approx(res.metrics["curtailed_kwh"])


def test_energy_balance_every_slot(stressed):
    res = stressed["sdr"]
    s = res.steps
    np.testing.assert_allclose(
        res.net.sum(axis=1) + s["grid_losses_kwh"], s["transformer_import_kwh"], atol=1e-3, rtol=1e-6
    )
    np.testing.assert_allclose(res.participants["grid_losses_kwh"].sum(), res.metrics["losses_kwh"], rtol=1e-9)


@pytest.mark.parametrize("market", ["baseline", "sdr", "uniform"])
def test_money_balance_every_slot(stressed, market):
    """Members' payments = supplier's bill + market operator fees + line fees + loss charges."""
    res = stressed[market]
    c, s = res.clearing, res.steps
    supplier = c.retail * c.grid_import - c.feed_in * c.grid_export
    paid = res.allocation().bill.sum(axis=1) + s["line_fees"] + s["loss_charge"]
    np.testing.assert_allclose(paid, supplier + c.fees + s["line_fees"] + s["loss_charge"], atol=1e-9)
    total = res.participants["bill"].sum()
    expected = supplier.sum() + c.fees.sum() + res.metrics["line_fees"] + res.network.loss_charge
    assert total == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert res.metrics["community_cost"] == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert res.bills()["line_fees"].sum() == pytest.approx(res.metrics["line_fees"])
    assert res.bills()["losses"].sum() == pytest.approx(res.network.loss_charge)
    if market == "baseline":
        assert res.metrics["line_fees"] == 0.0
    else:
        assert res.metrics["line_fees"] > 0


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_energy_balance_of_the_flow_on_random_positions(seed):
    """Σ members' net + losses = transformer import, on random positions (pandapower's AC flow)."""
    from peergrid.grid import build_feeder

    rng = np.random.default_rng(seed)
    com = feeder_community(n=6, periods=2)
    net = build_feeder(com)
    p = rng.uniform(-20, 20, size=(3, 6))
    flow = run_flow(net, p, 0.5, False)
    np.testing.assert_allclose(p.sum(axis=1) + flow.losses_kw, flow.grid_kw, atol=1e-3)


def test_import_driven_violations_are_reported_not_fixed():
    com = feeder_community(n=12, periods=24, pv_share=0.0)
    res = peergrid.simulate(com, market="sdr", grid={"v_min_pu": 0.999, "v_max_pu": 1.05})
    info = res.summary()["grid"]
    assert info["violating_slots_before"] > 0
    assert info["violating_slots_after"] == info["violating_slots_before"]
    assert res.metrics["curtailed_kwh"] == 0.0
    assert res.metrics["min_voltage_pu"] < 0.999
    assert res.steps["violation_after"].sum() == info["violating_slots_after"]


def test_unbalanced_flow_with_vim_limit():
    com = feeder_community(n=9, periods=24, phases="cycle")
    res = peergrid.simulate(com, market="sdr", grid={**GRID, "max_vim_pct": 1.0})
    info = res.summary()["grid"]
    assert info["unbalanced"] is True
    assert info["violating_slots_after"] == 0
    assert 0 < res.metrics["max_vim_pct"] <= 1.0
    assert res.network.bus_phase_kw is not None
    np.testing.assert_allclose(res.network.bus_phase_kw.sum(axis=2), res.network.bus_kw, atol=1e-9)


def test_balanced_run_reports_no_vim():
    com = feeder_community(n=4, periods=6)
    res = peergrid.simulate(com, market="sdr", grid={})
    assert np.isnan(res.metrics["max_vim_pct"])
    assert res.summary()["max_vim_pct"] is None


def test_price_response_and_bidding_agents_combine():
    com = feeder_community(n=6, periods=48, battery_share=0.5, phases="abc")
    coord = peergrid.compare(com, markets=["sdr"], grid=GRID, coordination="price-response", max_iterations=2)
    assert coord["sdr"].coordination is not None and coord["sdr"].network is not None
    agents = peergrid.compare(com, markets=["uniform"], grid=GRID, bidding="zic", seed=2)
    assert agents["uniform"].network is not None
    assert agents["uniform"].summary()["grid"]["violating_slots_after"] == 0


# ---- results you can check --------------------------------------------------------------------------


def test_parquet_round_trip_and_pandapower_rerun(stressed, tmp_path):
    """The written feeder + bus injections give pandapower's loadings; no settled slot breaks a limit."""
    import pandapower as pp

    stressed.to_parquet(tmp_path)
    back = Comparison.from_parquet(tmp_path)
    for name, res in stressed.items():
        again = back[name]
        assert again.network is not None
        for k in ("line_fees", "curtailed_kwh", "losses_kwh", "max_line_loading_pct", "min_voltage_pu"):
            assert again.metrics[k] == pytest.approx(res.metrics[k])
        pd.testing.assert_frame_equal(again.bills(), res.bills(), check_dtype=False)
        np.testing.assert_allclose(again.participants["bill"], res.participants["bill"])
    single = Result.from_parquet(tmp_path / "sdr")
    assert single.network is not None and single.network.feeder is not None

    d = tmp_path / "sdr"
    net = pp.from_json(str(d / "feeder.json"))
    inj = pd.read_parquet(d / "bus_injections.parquet")
    loading = pd.read_parquet(d / "line_loading.parquet")
    steps = pd.read_parquet(d / "steps.parquet")
    assert inj.shape == (len(steps), len(net.bus))
    net.load["p_mw"] = 0.0
    extra = pp.create_loads(net, [int(b) for b in inj.columns], 0.0)
    rng = np.random.default_rng(0)
    worst = int(np.argmax(steps["max_line_loading_pct"].to_numpy()))
    sample = np.unique(np.concatenate([rng.choice(len(steps), 6, replace=False), [worst]]))
    for t in sample:
        net.load.loc[extra, "p_mw"] = inj.iloc[t].to_numpy() / 1000.0
        pp.runpp(net)
        np.testing.assert_allclose(
            net.res_line.loading_percent.to_numpy(), loading.iloc[t].to_numpy(), atol=0.05
        )
        if not steps["violation_after"].iloc[t]:
            assert net.res_line.loading_percent.max() <= GRID["max_line_loading_pct"]
            assert net.res_trafo.loading_percent.max() <= GRID["max_line_loading_pct"]
            assert net.res_bus.vm_pu.max() <= GRID["v_max_pu"]
            assert net.res_bus.vm_pu.min() >= 0.95


def test_cli_simulate_json_has_the_grid_metrics(tmp_path):
    from typer.testing import CliRunner

    from peergrid.cli.main import app

    path = tmp_path / "g.toml"
    path.write_text(
        'name = "g"\n[time]\nstart = "2022-06-01"\nperiods = 12\nfreq = "1h"\n'
        '[community]\nsource = "synthetic"\nhouseholds = 12\npv_share = 0.6\nseed = 3\n'
        '[simulation]\nmarkets = ["baseline", "sdr"]\n[grid]\nfee_per_kwh = 0.01\n'
    )
    out = CliRunner().invoke(app, ["simulate", str(path), "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    for market in ("baseline", "sdr"):
        m = payload["markets"][market]
        for key in ("line_fees", "curtailed_kwh", "losses_kwh", "max_line_loading_pct", "min_voltage_pu"):
            assert key in m
        assert m["grid"]["feeder"] == "default"
    path.write_text(path.read_text() + "v_min_pu = 2.0\n")
    bad = CliRunner().invoke(app, ["simulate", str(path), "--json"])
    assert bad.exit_code == 2
    assert "v_min_pu" in bad.output and "Traceback" not in bad.output


def test_unbalanced_result_rerun_in_pandapower_3ph(tmp_path):
    """Three-phase run: per-phase bus injections rerun in runpp_3ph give the stored loadings and stay
    within the loading, voltage and VIM limits on sampled settled slots."""
    import pandapower as pp

    from peergrid.grid import vim

    limits = {**GRID, "max_vim_pct": 1.0}
    com = feeder_community(n=9, periods=24, phases="cycle")
    res = peergrid.simulate(com, market="sdr", grid=limits)
    assert res.summary()["grid"]["violating_slots_before"] > 0
    res.to_parquet(tmp_path)
    net = pp.from_json(str(tmp_path / "feeder.json"))
    inj = pd.read_parquet(tmp_path / "bus_injections.parquet")
    stored = pd.read_parquet(tmp_path / "line_loading.parquet")
    steps = pd.read_parquet(tmp_path / "steps.parquet")
    buses = [c for c in inj.columns if "/" not in c]
    net.load["p_mw"] = 0.0
    asym = [pp.create_asymmetric_load(net, int(b)) for b in buses]
    worst = int(np.argmax(steps["max_line_loading_pct"].to_numpy()))
    for t in sorted({worst, 3, 11, 12, 13, 20}):
        for ph in "abc":
            net.asymmetric_load.loc[asym, f"p_{ph}_mw"] = inj.iloc[t][[f"{b}/{ph}" for b in buses]].to_numpy() / 1000
        pp.runpp_3ph(net, init="auto")
        rl, rb = net.res_line_3ph, net.res_bus_3ph
        np.testing.assert_allclose(rl["loading_percent"].to_numpy(), stored.iloc[t].to_numpy(), atol=0.05)
        if steps["violation_after"].iloc[t]:
            continue
        phasors = np.stack(
            [rb[f"vm_{ph}_pu"].to_numpy() * np.exp(1j * np.deg2rad(rb[f"va_{ph}_degree"].to_numpy())) for ph in "abc"],
            axis=1,
        )
        assert rl["loading_percent"].max() <= limits["max_line_loading_pct"]
        assert np.nanmax(vim(phasors, kind="line")) <= limits["max_vim_pct"]
        lv = rb.index != net.trafo.hv_bus.iloc[0]
        assert np.nanmax(phasors[lv].__abs__()) <= limits["v_max_pu"]
        assert np.nanmin(phasors[lv].__abs__()) >= 0.95


def test_vim_limit_curtails_single_phase_exports():
    """VIM authorises exports (Tooki et al. (2025), eq. 13): all PV on phase a, a tight VIM limit."""
    com = feeder_community(n=9, periods=24, phases="cycle", pv_kwp=(8.0, 12.0))
    parts = com.participants.copy()
    parts.loc[parts["pv_kwp"] > 0, "phase"] = "a"
    import dataclasses

    com = dataclasses.replace(com, participants=parts)
    free = peergrid.simulate(com, market="sdr", grid={"max_vim_pct": 50.0})
    assert free.metrics["curtailed_kwh"] == 0.0
    limit = 0.5 * free.metrics["max_vim_pct"]
    res = peergrid.simulate(com, market="sdr", grid={"max_vim_pct": limit})
    info = res.summary()["grid"]
    assert info["violating_slots_before"] > info["violating_slots_after"]
    assert res.metrics["curtailed_kwh"] > 0
    s = res.steps
    settled = s["violation_after"].to_numpy() == 0
    assert s["max_vim_pct"].to_numpy()[settled].max() <= limit
    left = ~settled  # the imbalance imports cause: no export there, or cutting it did not help (kept)
    np.testing.assert_allclose(res.net[left], com.net[left])
    spilled = res.participants["curtailed_kwh"].to_numpy()
    assert np.all(spilled[parts["phase"].to_numpy() != "a"] == 0)  # only the phase-a exporters


def test_members_all_on_the_busbar():
    """No cables (all members on node 0): no line fees, flows and losses of the transformer only."""
    com = feeder_community(n=6, periods=12)
    parts = com.participants.copy()
    parts["node"] = 0
    import dataclasses

    res = peergrid.simulate(dataclasses.replace(com, participants=parts), market="sdr", grid={"fee_per_kwh": 0.1})
    assert res.metrics["line_fees"] == 0.0
    assert res.metrics["losses_kwh"] > 0
    assert res.metrics["max_line_loading_pct"] == 0.0


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1000), loading=st.floats(30.0, 100.0), fee=st.floats(0.0, 0.1))
def test_balances_hold_for_random_communities(seed, loading, fee):
    com = feeder_community(n=8, periods=12, seed=seed, phases="abc")
    cmp = peergrid.compare(com, markets=["sdr", "pay-as-bid"], grid={"max_line_loading_pct": loading,
                                                                      "fee_per_kwh": fee})  # fmt: skip
    for res in cmp.values():
        c, s = res.clearing, res.steps
        np.testing.assert_allclose(
            res.net.sum(axis=1) + s["grid_losses_kwh"], s["transformer_import_kwh"], atol=1e-3, rtol=1e-6
        )
        supplier = c.retail * c.grid_import - c.feed_in * c.grid_export
        expected = supplier.sum() + c.fees.sum() + s["line_fees"].sum() + s["loss_charge"].sum()
        assert res.participants["bill"].sum() == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert res.summary()["grid"]["violating_slots_after"] <= res.summary()["grid"]["violating_slots_before"]


def test_shipped_grid_scenario_runs(tmp_path):
    from typer.testing import CliRunner

    from peergrid.cli.main import app

    root = Path(__file__).resolve().parents[2] / "scenarios"
    out = CliRunner().invoke(app, ["simulate", str(root / "lange-urban-grid.toml"), "--quick", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert set(payload["markets"]) == {"baseline", "bs", "mmr", "sdr"}
    sdr = payload["markets"]["sdr"]
    assert sdr["grid"]["violating_slots_after"] == 0
    assert sdr["line_fees"] > 0 and sdr["losses_kwh"] > 0


def test_feeder_file_in_a_scenario(tmp_path):
    """[grid] feeder = a pandapower JSON file next to the scenario, read by peergrid.grid.read_feeder."""
    import pandapower as pp

    from peergrid.grid import build_feeder
    from peergrid.simulate.scenario import build, load_scenario

    body = (
        '[time]\nstart = "2022-06-01"\nperiods = 12\nfreq = "1h"\n'
        '[community]\nsource = "synthetic"\nhouseholds = 12\npv_share = 0.5\nseed = 3\n'
        '[simulation]\nmarkets = ["baseline", "sdr"]\n[grid]\nfeeder = "feeders/lv.json"\nfee_per_kwh = 0.01\n'
    )
    path = tmp_path / "s.toml"
    path.write_text(body)
    sc = load_scenario(path)
    com = build(sc, str(path))
    net = build_feeder(com, n_buses=4)  # the members' nodes 0, 1 are buses of this net
    net.pop("peergrid_participants")
    net.load = net.load.iloc[0:0]
    (tmp_path / "feeders").mkdir()
    (tmp_path / "feeders" / "lv.json").write_text(pp.to_json(net))
    from_file = peergrid.compare(com, markets=["sdr"], **sc.grid_options(tmp_path))["sdr"]
    default = peergrid.compare(com, markets=["sdr"], grid={"fee_per_kwh": 0.01})["sdr"]
    assert from_file.network.info["buses"] == default.network.info["buses"] + 2  # two extra buses, no members
    assert from_file.metrics["line_fees"] > 0
    np.testing.assert_allclose(from_file.metrics["losses_kwh"], default.metrics["losses_kwh"], rtol=0.05)


def test_curtailment_in_blocks_equals_one_block(monkeypatch):
    from peergrid.simulate import network

    com = feeder_community(phases="abc")
    one = peergrid.simulate(com, market="sdr", grid=GRID)
    monkeypatch.setattr(network, "_BLOCK", 3)
    blocks = peergrid.simulate(com, market="sdr", grid=GRID)
    np.testing.assert_array_equal(one.net, blocks.net)
    assert one.metrics["curtailed_kwh"] == blocks.metrics["curtailed_kwh"] > 0
