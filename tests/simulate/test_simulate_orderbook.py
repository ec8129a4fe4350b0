"""Order-book markets in the simulator: Result metrics side by side, invariants, persistence, scenarios, CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import peergrid
from peergrid import ConfigError, Result
from peergrid.core import make_index
from peergrid.market import OrderClearing
from peergrid.simulate import HEADLINE_METRICS
from peergrid.simulate.scenario import load_scenario, scenario_from_dict

ORDER_MARKETS = ["uniform", "pay-as-bid", "mcafee", "bilateral"]
SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "order-book.toml"


def community(load, gen, batteries=None, retail=0.30, feed_in=0.10):
    load, gen = np.asarray(load, float), np.asarray(gen, float)
    T, N = load.shape
    parts = pd.DataFrame({"id": [f"m{i}" for i in range(N)]})
    for key, values in (batteries or {}).items():
        parts[key] = values
    return peergrid.Community(make_index("2022-08-01", T, "1h"), parts, load, gen, retail, feed_in)


def random_community(seed=5, T=48, N=12):
    rng = np.random.default_rng(seed)
    load = rng.uniform(0, 2, (T, N))
    gen = np.zeros((T, N))
    gen[:, : N // 2] = rng.uniform(0, 4, (T, N // 2))
    cap = [5.0] * (N // 3) + [0.0] * (N - N // 3)
    return community(load, gen, {"battery_kwh": cap, "battery_kw": [c / 2 for c in cap]})


def test_hand_computed_two_members():
    com = community([[2.0, 0.0]], [[0.0, 1.0]])
    res = peergrid.simulate(com, market="uniform", control="none")  # truthful, k = 0.5
    p = res.participants.set_index("id")
    # 1 kWh at 0.20; m0 imports its second kWh at 0.30
    assert p.loc["m0", "bill"] == pytest.approx(0.20 + 0.30) and p.loc["m1", "bill"] == pytest.approx(-0.20)
    assert p.loc["m0", "bought_kwh"] == pytest.approx(1.0) and p.loc["m1", "sold_kwh"] == pytest.approx(1.0)
    assert p.loc["m0", "grid_import_kwh"] == pytest.approx(1.0)
    assert p.loc["m0", "savings"] == pytest.approx(0.60 - 0.50) and p.loc["m1", "savings"] == pytest.approx(0.10)
    m = res.metrics
    assert m["traded_kwh"] == pytest.approx(1.0) and m["self_sufficiency"] == pytest.approx(0.5)
    assert m["operator_fees"] == 0.0 and m["community_cost"] == pytest.approx(0.30)
    pab = peergrid.simulate(com, market="pay-as-bid", control="none")
    assert pab.metrics["operator_fees"] == pytest.approx(0.20)  # bid 0.30 − ask 0.10 on 1 kWh
    assert pab.metrics["community_cost"] == pytest.approx(0.30 + 0.20)


def test_side_by_side_with_pool_rules():
    com = random_community()
    cmp = peergrid.compare(com, markets=["baseline", "sdr", *ORDER_MARKETS], bidding="zero-intelligence", seed=3)
    assert list(cmp) == ["baseline", "sdr", *ORDER_MARKETS]
    summary = cmp.summary()
    assert set(summary["uniform"]) == set(summary["sdr"]) >= set(HEADLINE_METRICS)
    table = cmp.metrics()
    assert table.loc[ORDER_MARKETS, "traded_kwh"].max() <= table.loc["sdr", "traded_kwh"] + 1e-9
    for name in ORDER_MARKETS:
        r = cmp[name]
        assert isinstance(r.clearing, OrderClearing) and r.net is cmp["sdr"].net
        assert r.metrics["share_better_off"] == 1.0  # every price within [λs, λb]
        # per-participant, per-step and community totals agree
        assert r.participants["bill"].sum() == pytest.approx(r.steps["bill"].sum())
        assert r.participants["bill"].sum() == pytest.approx(r.metrics["community_cost"])
        assert r.participants["bought_kwh"].sum() == pytest.approx(r.participants["sold_kwh"].sum())
        assert r.steps["fees"].sum() == pytest.approx(r.metrics["operator_fees"])
        tidy = r.table()
        assert tidy["bill"].sum() == pytest.approx(r.metrics["community_cost"])
        assert tidy["bought"].sum() == pytest.approx(r.metrics["traded_kwh"])


def test_truthful_uniform_equals_mmr_totals():
    com = random_community(seed=9)
    cmp = peergrid.compare(com, markets=["mmr", "uniform"], bidding="truthful", k=0.5)
    for key in ("community_cost", "traded_kwh", "self_sufficiency", "seller_revenue", "purchase_cost", "pm"):
        assert cmp["uniform"].metrics[key] == pytest.approx(cmp["mmr"].metrics[key]), key


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 6),
    t=st.integers(1, 12),
    market=st.sampled_from(ORDER_MARKETS),
    bidding=st.sampled_from(["truthful", "zero-intelligence"]),
)
def test_result_invariants(seed, n, t, market, bidding):
    rng = np.random.default_rng(seed)
    load = rng.uniform(0, 3, (t, n))
    gen = rng.uniform(0, 3, (t, n)) * (rng.random(n) < 0.6)
    com = community(load, gen, retail=rng.uniform(0.2, 0.5, t), feed_in=0.05)
    res = peergrid.simulate(com, market=market, bidding=bidding, seed=seed, fee=0.01)
    c, a = res.clearing, res.allocation()
    d, s = np.maximum(res.net, 0), np.maximum(-res.net, 0)
    np.testing.assert_allclose(a.bought.sum(1), a.sold.sum(1), atol=1e-9)
    np.testing.assert_allclose(a.bought + a.grid_import, d, atol=1e-9)
    np.testing.assert_allclose(a.sold + a.grid_export, s, atol=1e-9)
    np.testing.assert_allclose(c.grid_import - c.grid_export, res.net.sum(1), atol=1e-9)
    np.testing.assert_allclose(a.bill.sum(1), c.grid_bill + c.fees, atol=1e-9)
    assert np.all((c.price_buy >= c.feed_in - 1e-12) & (c.price_buy <= c.retail + 1e-12))
    assert np.all((c.price_sell >= c.feed_in - 1e-12) & (c.price_sell <= c.retail + 1e-12))
    assert np.all(res.participants["savings"] >= -1e-9)


def test_parquet_round_trip_keeps_individual_outcomes(tmp_path):
    com = random_community(seed=2, T=24, N=6)
    res = peergrid.simulate(com, market="pay-as-bid", bidding="zero-intelligence", seed=4)
    res.to_parquet(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "result.json").read_text())
    assert meta["bidding"] == "zero-intelligence" and meta["market_options"] == {"seed": 4}
    back = Result.from_parquet(tmp_path / "r")
    assert isinstance(back.clearing, OrderClearing) and back.clearing.bidding == "zero-intelligence"
    np.testing.assert_allclose(back.clearing.bill, res.clearing.bill)
    np.testing.assert_allclose(back.clearing.peer, res.clearing.peer)
    for k, v in res.metrics.items():
        assert back.metrics[k] == pytest.approx(v, nan_ok=True), k
    pd.testing.assert_frame_equal(back.participants, res.participants)


def test_faults_with_order_market():
    from peergrid.simulate.faults import Fault, fault_study

    com = random_community(seed=4, T=24, N=6)
    study = fault_study(com, [Fault("m1", 3, 9, "meter"), Fault("m0", 0, 5, "controller")], market="pay-as-bid")
    assert study["money_balance_error"].max() < 1e-9 and study["energy_balance_error_kwh"].max() < 1e-9
    res = peergrid.simulate(com, market="uniform", faults=[Fault("m1", 3, 9, "meter")])
    assert isinstance(res.faults.true_clearing, OrderClearing)
    assert "imbalance_kwh" in res.metrics


def test_bad_options():
    com = community([[1.0, 0.0]], [[0.0, 1.0]])
    with pytest.raises(ConfigError, match="unknown market 'auction9'"):
        peergrid.simulate(com, market="auction9")
    with pytest.raises(ConfigError, match="unknown bidding strategy"):
        peergrid.simulate(com, market="uniform", bidding="greedy")
    with pytest.raises(ConfigError, match="k must be"):
        peergrid.compare(com, markets=["sdr", "uniform"], k=-0.1)


# ---- scenarios and CLI ------------------------------------------------------------------


def test_order_book_scenario_file():
    sc = load_scenario(SCENARIO)
    assert sc.markets == ["baseline", "bs", "mmr", "sdr", *ORDER_MARKETS]
    assert sc.market.options() == {"bidding": "zero-intelligence", "k": 0.5, "seed": 1, "fee": 0.0}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"simulation": {"markets": ["uniform"]}, "market": {"colour": 1}}, "[market].colour: unknown key"),
        ({"simulation": {"markets": ["uniform"]}, "market": {"bidding": "smart"}}, "[market].bidding"),
        ({"simulation": {"markets": ["uniform"]}, "market": {"k": 1.5}}, "[market].k"),
        ({"simulation": {"markets": ["bilateral"]}, "market": {"fee": -1}}, "[market].fee"),
        ({"simulation": {"market": "uniform"}, "market": {"seed": 0.5}}, "[market].seed"),
        ({"simulation": {"markets": ["sdr"]}, "market": {"k": 0.3}}, "[market] applies to the order-book markets"),
        ({"simulation": {"markets": ["sdr", "dutch"]}}, "unknown market 'dutch'"),
    ],
)
def test_bad_market_config(data, needle):
    with pytest.raises(ConfigError, match=None) as err:
        scenario_from_dict(data, "s.toml")
    assert needle in str(err.value) and str(err.value).startswith("s.toml: ")


def test_scenario_names_are_canonical():
    sc = scenario_from_dict({"simulation": {"markets": ["SDR", "Pay_As_Bid"], "market": "McAfee"}})
    assert sc.markets == ["sdr", "pay-as-bid"]


def test_cli_simulates_the_order_book_scenario(tmp_path):
    from peergrid.cli.main import app

    runner = CliRunner()
    out = tmp_path / "ob"
    r = runner.invoke(app, ["simulate", str(SCENARIO), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.stderr
    payload = json.loads(r.stdout)
    assert list(payload["markets"]) == ["baseline", "bs", "mmr", "sdr", *ORDER_MARKETS]
    assert (out / "results" / "mcafee" / "series.parquet").is_file() and (out / "report.html").is_file()
    assert "UNIFORM – Uniform-price double auction" in (out / "report.html").read_text()
    # the report rebuilt from the saved results shows the same figures
    r = runner.invoke(app, ["report", str(out), "--json"])
    assert r.exit_code == 0, r.stderr
    rebuilt = json.loads(r.stdout)["markets"]
    for name in ORDER_MARKETS:
        for key, value in payload["markets"][name].items():
            assert rebuilt[name][key] == pytest.approx(value, nan_ok=True), (name, key)
    # compare with order-book markets on the command line; options from the scenario's [market]
    r = runner.invoke(app, ["compare", str(SCENARIO), "--markets", "uniform,mcafee", "--json"])
    assert r.exit_code == 0, r.stderr
    assert list(json.loads(r.stdout)["markets"]) == ["baseline", "uniform", "mcafee"]
    r = runner.invoke(app, ["compare", str(SCENARIO), "--markets", "sdr,vickrey"])
    assert r.exit_code == 2 and "unknown market 'vickrey'" in r.stderr
