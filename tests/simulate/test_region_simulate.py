"""Regions of communities (peergrid.simulate.region): seeds, sums, the inter-community market, local = Dask."""

import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError
from peergrid.simulate import compare
from peergrid.simulate.region import (
    RegionSpec,
    community_scenario,
    community_seed,
    inter_clearing,
    settle_inter,
    simulate_region,
    tree_sum,
)
from peergrid.simulate.scenario import build, scenario_from_dict


def region(communities=4, homes=10, days=2, inter="sdr", markets=("sdr",), **extra):
    data = {
        "name": "r",
        "time": {"start": "2022-08-01", "days": days},
        "community": {"source": "synthetic", "households": homes, "seed": 5},
        "simulation": {"markets": list(markets)},
        "region": {"communities": communities, "pv_share": [0.0, 1.0], "battery_share": [0.0, 0.5],
                   "inter_market": inter, **extra},
    }  # fmt: skip
    return scenario_from_dict(data, "region.toml")


# ---- seeds and community scenarios ----------------------------------------------------------------


def test_community_seed_is_the_spawned_child():
    children = np.random.SeedSequence(42).spawn(5)
    for i, child in enumerate(children):
        assert np.array_equal(community_seed(42, i).generate_state(4), child.generate_state(4))


def test_community_scenarios_differ_and_repeat():
    sc = region(communities=3)
    a = [community_scenario(sc, i) for i in range(3)]
    b = [community_scenario(sc, i) for i in range(3)]
    assert [x[1] for x in a] == [x[1] for x in b]  # deterministic
    assert len({x[1]["seed"] for x in a}) == 3  # independent members per community
    for one, info in a:
        assert one.region is None and one.community.households == 10
        assert 0.0 <= info["pv_share"] <= 1.0 and 0.0 <= info["battery_share"] <= 0.5
        assert one.community.seed == info["seed"] < 2**63


def test_region_community_equals_the_engine_on_that_community():
    """A community's row is what peergrid.compare gives for the community built from its scenario."""
    sc = region(communities=2)
    res = simulate_region(sc)
    one, _ = community_scenario(sc, 1)
    direct = compare(build(one), markets=["baseline", "sdr"], series="none")  # the streamed path, as regions run
    row = res.communities[(res.communities["community"] == 1) & (res.communities["market"] == "sdr")].iloc[0]
    for key, value in direct["sdr"].metrics.items():
        assert row[key] == value or (math.isnan(row[key]) and math.isnan(value)), key
    assert row["grid_import_kwh"] == pytest.approx(float(direct["sdr"].clearing.grid_import.sum()))


# ---- sums in a fixed tree -------------------------------------------------------------------------


def test_tree_sum_order_is_fixed():
    assert tree_sum(list("abcde"), lambda x, y: f"({x}{y})") == "(((ab)(cd))e)"
    assert tree_sum(["a"], lambda x, y: x + y) == "a"
    with pytest.raises(Exception, match="nothing"):
        tree_sum([], lambda x, y: x + y)


# ---- the inter-community market: energy and money conserved -------------------------------------

matrix = st.integers(1, 6).flatmap(
    lambda c: st.integers(1, 8).flatmap(
        lambda t: st.tuples(
            st.lists(st.floats(0, 50), min_size=c * t, max_size=c * t),
            st.lists(st.floats(0, 50), min_size=c * t, max_size=c * t),
            st.lists(st.floats(0.2, 0.6), min_size=t, max_size=t),
            st.lists(st.floats(0.0, 0.2), min_size=t, max_size=t),
            st.just((c, t)),
        )
    )
)


@settings(max_examples=200, deadline=None)
@given(matrix, st.sampled_from(["none", "bs", "mmr", "sdr"]))
def test_inter_market_conserves_energy_and_money(data, rule):
    imp, exp, retail, feed_in, (c, t) = data
    imports = np.array(imp).reshape(c, t)
    exports = np.array(exp).reshape(c, t)
    retail, feed_in = np.array(retail), np.array(feed_in)
    clearing = inter_clearing(imports.sum(0), exports.sum(0), retail, feed_in, rule)
    shares = {k: getattr(clearing, k) for k in ("peer_share_buy", "peer_share_sell", "price_buy", "price_sell")}
    s = settle_inter(imports, exports, shares)
    scale = 1.0 + imports.sum() + exports.sum()
    # energy: what communities buy from each other is what they sell to each other
    assert s["inter_bought_kwh"].sum() == pytest.approx(s["inter_sold_kwh"].sum(), abs=1e-9 * scale)
    assert s["inter_bought_kwh"].sum() == pytest.approx(clearing.traded.sum(), abs=1e-9 * scale)
    # money: the communities' inter bills add up to the region's grid bill
    region_bill = (retail * clearing.grid_import - feed_in * clearing.grid_export).sum()
    assert s["inter_bill"].sum() == pytest.approx(region_bill, abs=1e-9 * scale)
    grid_bill = imports @ retail - exports @ feed_in
    if rule == "none":
        np.testing.assert_array_equal(s["inter_bill"], grid_bill)
        assert s["inter_bought_kwh"].sum() == 0.0
    if rule in ("mmr", "sdr"):  # prices between λs and λb: no community pays more than without the market
        assert np.all(s["inter_bill"] <= grid_bill + 1e-9 * scale)


def test_inter_market_by_hand():
    """Two communities, one slot: A imports 3 kWh, B exports 1 kWh; MMR at λb 0.30, λs 0.10."""
    c = inter_clearing(np.array([3.0]), np.array([1.0]), np.array([0.30]), np.array([0.10]), "mmr")
    s = settle_inter(np.array([[3.0], [0.0]]), np.array([[0.0], [1.0]]), {
        k: getattr(c, k) for k in ("peer_share_buy", "peer_share_sell", "price_buy", "price_sell")})
    # A: 1 kWh from B at the mid price 0.20 + 2 kWh from the grid at 0.30 = 0.80; B: 1 kWh at 0.20
    np.testing.assert_allclose(s["inter_bill"], [0.80, -0.20])
    np.testing.assert_allclose(s["inter_bought_kwh"], [1.0, 0.0])
    np.testing.assert_allclose(s["inter_sold_kwh"], [0.0, 1.0])
    with pytest.raises(ConfigError, match="inter_market"):
        inter_clearing(np.array([1.0]), np.array([1.0]), np.array([0.3]), np.array([0.1]), "uniform")


# ---- region totals ------------------------------------------------------------------------------


def test_region_totals_add_up():
    res = simulate_region(region(communities=3, homes=6))
    assert list(res.totals["market"]) == ["baseline", "sdr"]
    assert len(res.communities) == 6 and len(res.steps) == 2 * 48
    for _, tot in res.totals.iterrows():
        rows = res.communities[res.communities["market"] == tot["market"]]
        steps = res.steps[res.steps["market"] == tot["market"]]
        assert tot["load_kwh"] == pytest.approx(rows["load_kwh"].sum())
        assert tot["grid_import_kwh"] == pytest.approx(steps["demand_kwh"].sum())
        assert tot["grid_export_kwh"] == pytest.approx(steps["supply_kwh"].sum())
        # after the inter-community market: what was traded no longer crosses the region's boundary
        assert tot["region_grid_import_kwh"] == pytest.approx(tot["grid_import_kwh"] - tot["inter_traded_kwh"])
        assert tot["region_grid_export_kwh"] == pytest.approx(tot["grid_export_kwh"] - tot["inter_traded_kwh"])
        assert tot["region_cost"] == pytest.approx(rows["region_cost"].sum())
        # the region's cost is its grid bill plus what stays inside the communities (member bills − grid bills)
        region_bill = (steps["retail"] * steps["grid_import_kwh"] - steps["feed_in"] * steps["grid_export_kwh"]).sum()
        inside = (rows["community_cost"] - rows["grid_bill"]).sum()
        assert tot["region_cost"] == pytest.approx(region_bill + inside)
        assert tot["region_cost"] <= tot["community_cost"] + 1e-9
    base = res.totals.iloc[0]
    assert base["inter_market"] == "none" and base["inter_traded_kwh"] == 0.0  # the baseline: no P2P anywhere
    assert base["region_cost"] == pytest.approx(base["baseline_cost"])
    summary = res.summary()
    assert summary["region"]["homes"] == 18 and summary["markets"]["sdr"]["inter_market"] == "sdr"


def test_no_inter_market_changes_nothing():
    res = simulate_region(region(communities=3, homes=6, inter="none"))
    for _, tot in res.totals.iterrows():
        assert tot["inter_traded_kwh"] == 0.0
        assert tot["region_grid_import_kwh"] == pytest.approx(tot["grid_import_kwh"])
        assert tot["region_cost"] == pytest.approx(tot["community_cost"])


# ---- local = Dask (LocalCluster of worker processes) ---------------------------------------------


def test_dask_process_workers_identical_to_local():
    sc = region(communities=4, homes=10, days=2)
    local = simulate_region(sc)
    dask = simulate_region(sc, backend="dask", workers=2)
    assert dask.backend == "dask" and dask.workers == 2
    pd.testing.assert_frame_equal(local.communities, dask.communities, check_exact=True)
    pd.testing.assert_frame_equal(local.totals, dask.totals, check_exact=True)
    pd.testing.assert_frame_equal(local.steps, dask.steps, check_exact=True)
    a, b = local.summary(), dask.summary()
    for s in (a, b):
        for key in ("backend", "workers", "seconds"):
            s["region"].pop(key)
    assert a == b


def test_community_errors_reach_the_caller_on_dask():
    sc = region(communities=2, homes=4, days=1)
    bad = RegionSpec(sc, ("baseline", "sdr"), base_dir="/nonexistent")
    spec = RegionSpec(sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"control": "nope"})}))
    with pytest.raises(Exception, match="nope"):
        simulate_region(spec, backend="dask", workers=1, processes=False)
    assert simulate_region(bad).totals.shape[0] == 2  # base_dir only matters for files


# ---- options and validation -----------------------------------------------------------------------


def test_backend_options_are_checked():
    sc = region(communities=1, homes=2, days=1)
    with pytest.raises(ConfigError, match="choose from local, dask"):
        simulate_region(sc, backend="ray")
    with pytest.raises(ConfigError, match="apply to --backend dask"):
        simulate_region(sc, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="its own"):
        simulate_region(sc, backend="dask", scheduler="tcp://127.0.0.1:8786", workers=2)
    with pytest.raises(ConfigError, match="not a Dask scheduler address"):
        simulate_region(sc, backend="dask", scheduler="garbage")
    with pytest.raises(ConfigError, match="unknown scheme"):
        simulate_region(sc, backend="dask", scheduler="foo://x:1")
    with pytest.raises(ConfigError, match="4 per core"):
        simulate_region(sc, backend="dask", workers=4 * (os.cpu_count() or 1) + 1)


def test_unreachable_scheduler_is_one_config_error():
    sc = region(communities=1, homes=2, days=1)
    with pytest.raises(ConfigError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:1: ") as exc:
        simulate_region(sc, backend="dask", scheduler="tcp://127.0.0.1:1", timeout="1s")
    assert "\n" not in str(exc.value)


BASE = {
    "time": {"start": "2022-08-01", "days": 1},
    "community": {"source": "synthetic", "households": 10},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"region": {}}, r"\[region\]\.communities: Field required"),
        ({"region": {"communities": 0}}, r"\[region\]\.communities: Input should be greater than 0"),
        ({"region": {"communities": 100_001}}, r"\[region\]\.communities"),
        ({"region": {"communities": 2, "homes": 0}}, r"\[region\]\.homes"),
        ({"region": {"communities": 2, "pv_share": [0.5, 0.2]}}, r"pv_share: .*low <= high"),
        ({"region": {"communities": 2, "battery_share": [0.0, 1.5]}}, r"battery_share: .*<= 1"),
        ({"region": {"communities": 2, "pv_share": "x"}}, r"\[region\]\.pv_share"),
        ({"region": {"communities": 2, "inter_market": "uniform"}}, r"inter_market: Input should be"),
        ({"region": {"communities": 2, "bogus": 1}}, r"\[region\]\.bogus: unknown key"),
        ({"region": {"communities": 100_000, "homes": 1000}}, r"exceeds 10,000,000 homes"),
        ({"region": {"communities": 2}, "community": {"source": "citylearn"}}, r"synthetic' only"),
        ({"region": {"communities": 2, "pv_share": [0, 1]},
          "community": {"source": "synthetic", "households": 10, "prosumers": 3}},
         r"replaces \[community\]\.prosumers"),
        ({"region": {"communities": 2, "homes": 2},
          "community": {"source": "synthetic", "households": 10, "prosumers": 3}}, r"exceeds \[region\]\.homes"),
        ({"region": {"communities": 2}, "wind": {"members": {"a": 3.0}}}, r"use \[wind\]\.share"),
        ({"region": {"communities": 2, "battery_share": [0, 1]},
          "community": {"source": "synthetic", "households": 10, "batteries": False}}, r"batteries = true"),
        ({"region": {"communities": 2}, "grid": {"feeder": "mine.json"}}, r"feeder = \"default\""),
    ],
)
def test_region_table_errors_are_one_line(change, message):
    data = {**BASE, **change}
    with pytest.raises(ConfigError, match=message) as exc:
        scenario_from_dict(data, "r.toml")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("r.toml: ")


def test_spec_needs_a_region_and_checks_markets():
    sc = scenario_from_dict(BASE, "r.toml")
    with pytest.raises(ConfigError, match="no \\[region\\]"):
        RegionSpec(sc)
    rs = region(communities=1, homes=2, days=1)
    assert RegionSpec(rs).markets == ("baseline", "sdr")
    with pytest.raises(ConfigError, match="unknown market"):
        RegionSpec(rs, ("baseline", "nope"))


def test_long_horizons_identical_despite_threaded_blas():
    """Regression: a dot product over 35,040 slots split over 2 BLAS threads in the client but 1 in
    the Dask workers, and emissions_kg differed in the last bit; region tasks run single-threaded."""
    sc = region(communities=2, homes=2, days=1460)  # 35,040 hourly slots
    local = simulate_region(sc)
    dask = simulate_region(sc, backend="dask", workers=1)
    pd.testing.assert_frame_equal(local.communities, dask.communities, check_exact=True)
    pd.testing.assert_frame_equal(local.totals, dask.totals, check_exact=True)


def test_external_scheduler_address():
    """--scheduler ADDR: the client connects to a running scheduler and reports its workers."""
    import logging

    from distributed import LocalCluster

    sc = region(communities=3, homes=4, days=1)
    local = simulate_region(sc)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                      protocol="tcp://", silence_logs=logging.ERROR) as cluster:  # fmt: skip
        res = simulate_region(sc, backend="dask", scheduler=cluster.scheduler_address)
    assert res.workers == 2 and res.summary()["region"]["workers"] == 2
    pd.testing.assert_frame_equal(local.totals, res.totals, check_exact=True)


def test_order_book_region_seeds_each_community():
    """Order-book markets run inside every community with a bidding seed of its own (and the same on Dask)."""
    sc = region(communities=2, homes=6, days=1, markets=("uniform",))
    sc = sc.model_copy(update={"market": sc.market.model_copy(update={"bidding": "zero-intelligence"})})
    seeds = {community_scenario(sc, i)[0].market.seed for i in range(2)}
    assert len(seeds) == 2 and sc.market.seed not in seeds
    local = simulate_region(sc)
    assert list(local.totals["market"]) == ["baseline", "uniform"]
    dask = simulate_region(sc, backend="dask", workers=2, processes=False)
    pd.testing.assert_frame_equal(local.communities, dask.communities, check_exact=True)
    tot = local.totals.iloc[1]
    assert tot["region_grid_import_kwh"] == pytest.approx(tot["grid_import_kwh"] - tot["inter_traded_kwh"])
