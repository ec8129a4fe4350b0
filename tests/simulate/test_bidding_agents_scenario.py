"""Bidding agents in scenarios, the simulator and the CLI: [market] bidding "zic" | "zip", ZIP options, --bidding."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import peergrid
from peergrid import ConfigError
from peergrid.data import synthetic_community
from peergrid.market import BIDDING
from peergrid.simulate.scenario import scenario_from_dict

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "order-book.toml"


def test_scenario_reads_the_strategies_and_zip_options():
    sc = scenario_from_dict({"simulation": {"markets": ["uniform"]},
                             "market": {"bidding": "zip", "learning_rate": 0.2, "momentum": 0.1}})  # fmt: skip
    assert sc.market.options() == {"bidding": "zip", "k": 0.5, "seed": 0, "fee": 0.0, "learning_rate": 0.2,
                                   "momentum": 0.1}  # fmt: skip
    for name in BIDDING:
        assert scenario_from_dict({"simulation": {"markets": ["uniform"]}, "market": {"bidding": name}})
    # ZIP's options apply to ZIP only; out-of-range values name the key
    with pytest.raises(ConfigError, match="learning_rate applies to bidding"):
        scenario_from_dict({"simulation": {"markets": ["uniform"]}, "market": {"bidding": "zic", "learning_rate": 0.2}})
    with pytest.raises(ConfigError, match=r"\[market\]\.momentum"):
        scenario_from_dict({"simulation": {"markets": ["uniform"]}, "market": {"bidding": "zip", "momentum": 1.0}})
    assert "learning_rate" not in scenario_from_dict({"simulation": {"markets": ["uniform"]}}).market.options()


def test_simulate_with_agents_uses_the_battery_state_and_learns():
    com = synthetic_community(12, periods=96 * 3, freq="15min", pv_share=0.5, battery_share=0.5, seed=3)
    cmp = peergrid.compare(com, markets=["uniform", "pay-as-bid"], bidding="zip", seed=2, learning_rate=0.4)
    res = cmp["uniform"]
    assert res.clearing.bidding == "zip"
    assert res.clearing.options == {"seed": 2, "k": 0.5, "learning_rate": 0.4, "momentum": 0.05, "round_slots": 96}
    again = peergrid.simulate(com, market="uniform", bidding="zip", seed=2, learning_rate=0.4)
    np.testing.assert_array_equal(again.clearing.bill, res.clearing.bill)
    zic = peergrid.simulate(com, market="uniform", bidding="zic", seed=2)
    assert zic.clearing.bidding == "zic" and zic.metrics["traded_kwh"] > 0
    with pytest.raises(ConfigError, match="learning_rate"):
        peergrid.simulate(com, market="uniform", bidding="zip", learning_rate=2.0)


def test_cli_bidding_option(tmp_path):
    from peergrid.cli.main import app

    runner = CliRunner()
    out = tmp_path / "zip"
    r = runner.invoke(app, ["compare", str(SCENARIO), "--quick", "--markets", "uniform,pay-as-bid", "--bidding",
                            "zip", "--out", str(out), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert list(json.loads(r.stdout)["markets"]) == ["baseline", "uniform", "pay-as-bid"]
    recorded = json.loads((out / "summary.json").read_text())["scenario"]["market"]
    assert recorded["bidding"] == "zip" and recorded["learning_rate"] == 0.3
    r = runner.invoke(app, ["compare", str(SCENARIO), "--quick", "--bidding", "smart"])
    assert r.exit_code == 2 and "unknown bidding strategy 'smart'" in r.stderr
    r = runner.invoke(app, ["compare", str(SCENARIO), "--quick", "--markets", "sdr", "--bidding", "zic"])
    assert r.exit_code == 2 and "--bidding applies to the order-book markets" in r.stderr
    assert "zic" in runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "200"}).stdout


def test_zip_result_round_trips_through_parquet(tmp_path):
    com = synthetic_community(6, periods=48, freq="1h", pv_share=0.5, battery_share=0.5, seed=1)
    res = peergrid.simulate(com, market="pay-as-bid", bidding="zip", seed=4, momentum=0.2)
    res.to_parquet(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "result.json").read_text())
    assert meta["bidding"] == "zip"
    assert meta["market_options"] == {"seed": 4, "learning_rate": 0.3, "momentum": 0.2, "round_slots": 24}
    back = peergrid.Result.from_parquet(tmp_path / "r")
    assert back.clearing.bidding == "zip"
    np.testing.assert_allclose(back.clearing.bill, res.clearing.bill)
    assert back.metrics["community_cost"] == pytest.approx(res.metrics["community_cost"])
