"""VMG formation (zooming) and trading invariants (peergrid.zoom.vmg)."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError, DataError
from peergrid.market import clear
from peergrid.zoom import Deployment, VMGPlan, flat_plan, form_vmgs, plan_radio, rezoom, trade
from peergrid.zoom.vmg import group_sums, local_match, ring_sums

RADIO = plan_radio(Deployment.grid(400, 4, 400.0, seed=5), seed=5)


def _plan(n: int, g: int, rng: np.random.Generator) -> VMGPlan:
    """A random plan without radio: random home gateways, SFs (some uncovered) and zoom levels."""
    sf = rng.choice([0, 7, 8, 9, 10, 11, 12], n)
    home = rng.integers(0, g, n)
    zoom = rng.integers(7, 13, g)
    inside = (sf > 0) & (sf <= zoom[home])
    vmg = np.where(inside, home, np.where(sf > 0, g, g + 1))
    return VMGPlan(vmg, zoom, sf, home, g)


# ---------------------------------------------------------------------------- formation
@settings(max_examples=60, deadline=None)
@given(zoom=st.lists(st.integers(7, 12), min_size=4, max_size=4))
def test_every_device_in_exactly_one_vmg(zoom):
    plan = form_vmgs(RADIO, np.array(zoom))
    K = plan.n_vmg
    assert plan.vmg.shape == (RADIO.sf.shape[0],)
    assert plan.vmg.min() >= 0 and plan.vmg.max() < K
    assert plan.sizes().sum() == RADIO.sf.shape[0]
    one_hot = np.zeros((plan.vmg.shape[0], K), dtype=int)
    one_hot[np.arange(plan.vmg.shape[0]), plan.vmg] = 1
    assert np.all(one_hot.sum(axis=1) == 1)
    z = np.array(zoom)
    local = plan.vmg < plan.n_gateways
    # gateway VMG members are served by that gateway on SF <= its zoom level; the wide VMG holds the rest
    assert np.all(plan.vmg[local] == RADIO.home[local])
    assert np.all(RADIO.sf[local] <= z[RADIO.home[local]])
    wide = plan.vmg == plan.wide
    assert np.all(RADIO.sf[wide] > z[RADIO.home[wide]])
    assert np.all((plan.vmg == plan.offline) == (RADIO.sf == 0))


def test_zooming_in_shrinks_vmgs_monotonically():
    sizes = [form_vmgs(RADIO, z).sizes()[:4] for z in range(7, 13)]
    for small, big in itertools.pairwise(sizes):
        assert np.all(small <= big)
    assert form_vmgs(RADIO, 12).sizes()[4] == 0  # no wide VMG when fully zoomed out
    with pytest.raises(ConfigError):
        form_vmgs(RADIO, 6)


def test_multicast_sf_is_largest_addressed_sf():
    plan = form_vmgs(RADIO, 9)
    msf = plan.multicast_sf()
    for g in range(4):
        inner = RADIO.sf[(plan.vmg == g)]
        outer = RADIO.sf[(plan.vmg == plan.wide) & (RADIO.home == g)]
        assert msf[g, 0] == (inner.max() if inner.size else 0)
        assert msf[g, 1] == (outer.max() if outer.size else 0)
        assert msf[g, 0] <= 9


def test_rezoom_zooms_out_poorly_balanced_gateways():
    # gateway 0: SF7 ring only buyers, SF8 ring only sellers -> at zoom 7 nothing matches: zoom out
    # gateway 1: SF7 ring balanced on its own -> keeps zoom 7
    T = 2
    rd = np.zeros((T, 2, 6))
    rs = np.zeros((T, 2, 6))
    rd[:, 0, 0] = 1.0
    rs[:, 0, 1] = 1.0
    rd[:, 1, 0] = 1.0
    rs[:, 1, 0] = 1.0
    plan = VMGPlan(np.zeros(1, dtype=np.int64), np.array([7, 7]), np.array([7]), np.array([0]), 2)
    assert local_match(rd, rs)[0].tolist() == [0.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert rezoom(plan, rd, rs, 0.5).tolist() == [8, 7]


def test_group_and_ring_sums():
    x = np.arange(12, dtype=float).reshape(3, 4)
    np.testing.assert_allclose(group_sums(x, np.array([1, 0, 1, 2]), 3), [[1, 2, 3], [5, 10, 7], [9, 18, 11]])
    net = np.random.default_rng(0).normal(size=(5, RADIO.sf.shape[0]))
    r = ring_sums(net, form_vmgs(RADIO, 12))
    np.testing.assert_allclose(r.sum(axis=(1, 2)), net[:, RADIO.sf > 0].sum(axis=1))


# ---------------------------------------------------------------------------- trading
def _check_invariants(res, net, retail, feed_in, plan, money_tol=1e-9):
    d = np.maximum(net, 0.0)
    s = np.maximum(-net, 0.0)
    K = plan.n_vmg
    # per-VMG, per-step energy: bought = sold inside each VMG
    np.testing.assert_allclose(group_sums(res.bought, plan.vmg, K), group_sums(res.sold, plan.vmg, K), atol=1e-9)
    # inter-VMG trades balance across VMGs
    np.testing.assert_allclose(res.inter_import.sum(axis=1), res.inter_export.sum(axis=1), atol=1e-9)
    # every member's deficit / surplus is fully accounted for, no member trades more than it has
    np.testing.assert_allclose(
        res.bought + res.storage_out + res.inter_import + res.grid_import + res.unserved, d, atol=1e-9
    )
    np.testing.assert_allclose(
        res.sold + res.storage_in + res.inter_export + res.grid_export + res.curtailed, s, atol=1e-9
    )
    for arr in (res.bought, res.sold, res.inter_import, res.inter_export, res.grid_import, res.grid_export):
        assert arr.min() >= -1e-12
    # money: Σ member bills = grid bill + operator fees in every step (islanded: no grid)
    np.testing.assert_allclose(res.bill.sum(axis=1), res.grid_bill + res.market_fees, atol=money_tol)
    assert res.market_fees.min() >= -1e-12
    if res.mode == "island" and not res.market_fees.any():
        np.testing.assert_allclose(group_sums(res.bill, plan.vmg, K), 0.0, atol=money_tol)
        assert res.grid_import.sum() == 0 and res.grid_export.sum() == 0
    else:
        np.testing.assert_allclose(
            res.grid_bill, retail * res.grid_import.sum(axis=1) - feed_in * res.grid_export.sum(axis=1), atol=1e-9
        )
    # storage: energy stored changes by what goes in and out (with efficiencies), per VMG
    if res.storage_energy.any():
        cin = group_sums(res.storage_in, plan.vmg, K)
        cout = group_sums(res.storage_out, plan.vmg, K)
        e = res.storage_energy
        de = np.diff(e, axis=0)
        np.testing.assert_allclose(de, 0.95 * cin[1:] - cout[1:] / 0.95, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    mechanism=st.sampled_from(["sdr", "mmr", "bs", "baseline", "uniform", "pay-as-bid", "mcafee"]),
    mode=st.sampled_from(["grid", "island"]),
    coordinator=st.booleans(),
    storage=st.booleans(),
)
def test_energy_and_money_conserved(seed, mechanism, mode, coordinator, storage):
    rng = np.random.default_rng(seed)
    T, N, G = 6, 25, 3
    plan = _plan(N, G, rng)
    net = rng.normal(0.0, 1.0, (T, N)) * (rng.random((T, N)) > 0.2)
    retail = rng.uniform(0.2, 0.4, T)
    feed_in = retail * rng.uniform(0.0, 1.0, T)
    cap = rng.uniform(0.0, 5.0, N) if storage else None
    res = trade(net, plan, retail, feed_in, mechanism, mode, coordinator, storage_kwh=cap, seed=seed)
    _check_invariants(res, net, retail, feed_in, plan)
    # the offline group never trades with peers
    off = plan.vmg == plan.offline
    assert np.all(res.bought[:, off] == 0) and np.all(res.inter_import[:, off] == 0)
    if mode == "grid" and mechanism in ("sdr", "mmr") and not storage:
        # every member's average price stays within [λs, λb]
        d = np.maximum(net, 0.0)
        s = np.maximum(-net, 0.0)
        buy = res.bill > 0
        assert np.all(res.bill[buy] <= (retail[:, None] * d)[buy] + 1e-9)
        only_sell = (s > 0) & (d == 0)
        assert np.all(-res.bill[only_sell] >= (feed_in[:, None] * s)[only_sell] - 1e-9)


def test_flat_plan_without_coordinator_is_the_flat_market():
    rng = np.random.default_rng(1)
    net = rng.normal(0.0, 1.0, (8, RADIO.sf.shape[0]))
    fp = flat_plan(RADIO)
    res = trade(net, fp, 0.3, 0.1, "sdr", coordinator=False)
    cov = RADIO.sf > 0
    ref = clear(net[:, cov], 0.3, 0.1, "sdr").allocate(net[:, cov])
    np.testing.assert_allclose(res.bill[:, cov], ref.bill, atol=1e-12)
    np.testing.assert_allclose(res.bought[:, cov], ref.bought, atol=1e-12)
    # uncovered devices settle with the grid alone
    np.testing.assert_allclose(res.bill[:, ~cov], np.where(net[:, ~cov] > 0, 0.3, 0.1) * net[:, ~cov])


def test_coordinator_moves_surplus_between_vmgs_hand_case():
    # VMG 0: a buyer of 2 kWh; VMG 1: a seller of 1 kWh; SDR between VMGs: SDR = 0.5
    plan = VMGPlan(np.array([0, 1]), np.array([12, 12]), np.array([7, 7]), np.array([0, 1]), 2)
    net = np.array([[2.0, -1.0]])
    alone = trade(net, plan, 0.30, 0.10, "sdr", coordinator=False)
    assert alone.bill.tolist() == [[0.6, pytest.approx(-0.1)]]
    res = trade(net, plan, 0.30, 0.10, "sdr", coordinator=True)
    assert res.inter_import[0, 0] == pytest.approx(1.0) and res.inter_export[0, 1] == pytest.approx(1.0)
    assert res.grid_import[0, 0] == pytest.approx(1.0)
    # Liu et al.: P_sell = λb·λs / ((λb − λs)·0.5 + λs) = 0.03 / 0.2 = 0.15; P_buy = 0.15·0.5 + 0.3·0.5 = 0.225
    assert res.bill[0, 1] == pytest.approx(-0.15)
    assert res.bill[0, 0] == pytest.approx(0.45)
    assert res.grid_bill[0] == pytest.approx(0.30)


def test_island_storage_serves_evening_deficit():
    plan = VMGPlan(np.array([0, 0]), np.array([12]), np.array([7, 7]), np.array([0, 0]), 1)
    # step 0: 3 kWh surplus; step 1: 2 kWh deficit; 10 kWh pooled storage
    net = np.array([[-3.0, 0.0], [0.0, 2.0]])
    res = trade(net, plan, 0.3, 0.1, "sdr", "island", coordinator=False, storage_kwh=np.array([5.0, 5.0]), dt=1.0)
    assert res.storage_in[0, 0] == pytest.approx(3.0)
    assert res.storage_out[1, 1] == pytest.approx(2.0)
    assert res.unserved.sum() == pytest.approx(0.0)
    assert res.bill.sum() == pytest.approx(0.0)
    no_st = trade(net, plan, 0.3, 0.1, "sdr", "island", coordinator=False)
    assert no_st.unserved.sum() == pytest.approx(2.0) and no_st.curtailed.sum() == pytest.approx(3.0)


def test_trade_rejects_bad_input():
    plan = flat_plan(RADIO)
    net = np.zeros((2, RADIO.sf.shape[0]))
    with pytest.raises(ConfigError):
        trade(net, plan, 0.3, 0.1, "nope")
    with pytest.raises(ConfigError):
        trade(net, plan, 0.3, 0.1, mode="offgrid")
    with pytest.raises(DataError):
        trade(net[:, :3], plan, 0.3, 0.1)
    with pytest.raises(DataError):
        trade(net, plan, 0.1, 0.3)
    bad = net.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError):
        trade(bad, plan, 0.3, 0.1)
