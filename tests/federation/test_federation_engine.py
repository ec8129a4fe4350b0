"""Federation engine: hand-checked fills, reference equality, determinism, conservation, dynamics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.federation import config_from_dict, fill_jointly, simulate


def reference_fill(start, length, source, req_type, need, cap, mask, max_factor=None, factor=None):
    """Rank-synchronous joint filling, one request at a time (the specification of fill_jointly)."""
    need, cap, ex = need.astype(float).copy(), cap.astype(float).copy(), []
    for r in range(int(length.max(initial=0))):
        for q in range(need.size):
            if need[q] <= 0 or length[q] <= r:
                continue
            p = int(source[start[q] + r])
            if not (int(mask[p]) >> int(req_type[q])) & 1 or cap[p] <= 0:
                continue
            if max_factor is not None and factor[p] > max_factor:
                continue
            f = min(need[q], cap[p])
            need[q] -= f
            cap[p] -= f
            if cap[p] <= 1e-9:
                cap[p] = 0.0
            ex.append((q, p, f))
    return ex, need, cap


def test_three_nodes_one_request_hand_checked():
    # node 0 asks for 5 kWh of type 1; its view is [1, 2]; node 1 makes type 1 (3 kWh), node 2 type 1 (4 kWh)
    mask = np.array([1, 2, 2], np.uint8)
    cap = np.array([9.0, 3.0, 4.0])
    need = np.array([5.0])
    req, prov, qty = fill_jointly(
        np.array([0]), np.array([2]), np.array([1, 2]), np.array([0]), np.array([1]), need, cap, mask
    )
    assert req.tolist() == [0, 0] and prov.tolist() == [1, 2] and qty.tolist() == [3.0, 2.0]
    assert need.tolist() == [0.0] and cap.tolist() == [9.0, 0.0, 2.0]
    # wrong type: nothing; price range: the expensive provider is skipped
    need = np.array([5.0])
    assert (
        fill_jointly(
            np.array([0]),
            np.array([2]),
            np.array([1, 2]),
            np.array([0]),
            np.array([0]),
            need,
            np.array([9.0, 3.0, 4.0]),
            mask,
        )[0].size
        == 0
    )
    need = np.array([5.0])
    _, prov, qty = fill_jointly(
        np.array([0]),
        np.array([2]),
        np.array([1, 2]),
        np.array([0]),
        np.array([1]),
        need,
        np.array([9.0, 3.0, 4.0]),
        mask,
        np.array([1.0, 1.5, 1.0]),
        1.2,
    )
    assert prov.tolist() == [2] and qty.tolist() == [4.0] and need.tolist() == [1.0]


def test_two_requests_share_a_provider_in_request_order():
    mask = np.ones(3, np.uint8)
    cap = np.array([0.0, 0.0, 5.0])
    need = np.array([3.0, 3.0])
    req, prov, qty = fill_jointly(
        np.array([0, 1]), np.array([1, 1]), np.array([2, 2]), np.array([0, 1]), np.array([0, 0]), need, cap, mask
    )
    assert list(zip(req.tolist(), qty.tolist(), strict=True)) == [(0, 3.0), (1, 2.0)] and prov.tolist() == [2, 2]
    assert cap[2] == 0.0 and need.tolist() == [0.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fill_jointly_equals_the_sequential_reference(seed):
    rng = np.random.default_rng(seed)
    n, r, s = int(rng.integers(2, 25)), int(rng.integers(1, 40)), int(rng.integers(1, 4))
    deg = rng.integers(0, 6, r)
    start = np.concatenate([[0], np.cumsum(deg)[:-1]]).astype(np.int64)
    source = rng.integers(0, n, int(deg.sum()))
    typ = rng.integers(0, s, r)
    need = rng.uniform(1, 5, r)
    cap = rng.uniform(0, 6, n) * (rng.random(n) < 0.8)
    mask = (1 << rng.integers(0, s, n)).astype(np.uint8)
    factor = rng.uniform(0.8, 1.2, n)
    ex, need_ref, cap_ref = reference_fill(start, deg, source, typ, need, cap, mask, 1.1, factor)
    nd, c = need.copy(), cap.copy()
    q, p, f = fill_jointly(start, deg.astype(np.int64), source, np.zeros(r, np.int64), typ, nd, c, mask, factor, 1.1)
    got = sorted(zip(q.tolist(), p.tolist(), np.round(f, 9).tolist(), strict=True))
    assert got == sorted((a, b, round(x, 9)) for a, b, x in ex)
    np.testing.assert_allclose(nd, need_ref, atol=1e-9)
    np.testing.assert_allclose(c, cap_ref, atol=1e-9)


def test_three_node_federation_hand_checked():
    # every node sees both others, makes 2 kWh of the only type and asks for 3 kWh: 6 of the 9 kWh are met
    cfg = config_from_dict(
        {
            "nodes": 3,
            "cycles": 1,
            "overlay": {"view": 2, "rewiring": "none"},
            "energy": {"types": 1, "capacity": [2.0, 2.0], "payoff": 1.0, "prices": [0.5]},
            "demand": {"request_probability": 1.0, "quantity": [3.0, 3.0]},
        }
    )
    t = simulate(cfg, seed=0).totals()
    assert t["requests"] == 3 and t["requested_kwh"] == pytest.approx(9.0)
    assert t["consumption_kwh"] == pytest.approx(6.0) and t["unmet_kwh"] == pytest.approx(3.0)
    assert 3 <= t["exchanges"] <= 6
    assert t["cost"] == pytest.approx(6.0 * 0.5 + t["exchanges"] * 1.0)


SMALL = {
    "nodes": 400,
    "cycles": 25,
    "overlay": {"view": 6, "rewiring": "newscast", "period": 5},
    "clusters": {"count": 8},
    "energy": {"types": 3, "types_per_node": 2, "capacity": [4.0, 4.0], "price_spread": 0.2},
    "demand": {"request_probability": 0.4, "arrivals": "poisson", "price_tolerance": 0.1, "order": "shuffle"},
    "migration": {"strategy": "mixed", "probability": 0.3, "period": 5},
    "dynamics": [{"add": 10, "step": 3, "from": 2, "maxsize": 450}, {"add": -5, "step": 4, "from": 3}],
}


def test_same_seed_same_result_other_seed_differs():
    cfg = config_from_dict(SMALL)
    a, b, c = simulate(cfg, seed=7), simulate(cfg, seed=7), simulate(cfg, seed=8)
    for k in a.per_cycle:
        np.testing.assert_array_equal(a.per_cycle[k], b.per_cycle[k])
    assert not np.array_equal(a.per_cycle["exchanges"], c.per_cycle["exchanges"])


def test_conservation_every_kwh_delivered_once():
    cfg = config_from_dict({**SMALL, "overlay": {"view": 6, "rewiring": "none"}, "migration": {}, "dynamics": []})
    res = simulate(cfg, seed=3, record=True)
    ex, rq = res.exchanges, res.requests
    assert ex["kwh"].min() > 0
    # each request's deliveries add up to at most what it asked for; the totals match eq. 3
    delivered = np.bincount(ex["request"].astype(np.int64), weights=ex["kwh"], minlength=rq["kwh"].size)
    assert np.all(delivered <= rq["kwh"] + 1e-9)
    assert delivered.sum() == pytest.approx(res.totals()["consumption_kwh"])
    # a provider appears at most once per request and never serves itself
    pairs = ex["request"].astype(np.int64) * 10_000 + ex["provider"].astype(np.int64)
    assert np.unique(pairs).size == pairs.size
    assert np.all(ex["provider"] != ex["requester"])
    # no provider delivers more than its 4 kWh in a cycle
    key = ex["cycle"].astype(np.int64) * 10_000 + ex["provider"].astype(np.int64)
    _, inv = np.unique(key, return_inverse=True)
    assert np.bincount(inv, weights=ex["kwh"]).max() <= 4.0 + 1e-9
    # fulfilled requests got exactly their quantity
    full = np.isclose(delivered, rq["kwh"])
    assert full.sum() == res.totals()["fulfilled"]
    # each delivered type is requested type and the price is within the range
    assert np.all(ex["price"] <= np.array(cfg.energy.type_prices())[ex["type"].astype(int)] * 1.1 + 1e-12)


def test_dynamic_network_semantics():
    cfg = config_from_dict(
        {
            "nodes": 10,
            "cycles": 9,
            "overlay": {"view": 3},
            "dynamics": [{"add": 5, "step": 2, "from": 1, "until": 8, "maxsize": 22}],
        }
    )
    nodes = simulate(cfg, seed=1).per_cycle["nodes"].tolist()
    assert nodes == [10, 15, 15, 20, 20, 22, 22, 22, 22]
    cfg = config_from_dict(
        {
            "nodes": 20,
            "cycles": 3,
            "overlay": {"view": 3},
            "dynamics": [{"add": -0.5, "step": 1, "until": 2, "minsize": 3}],
        }
    )
    assert simulate(cfg, seed=1).per_cycle["nodes"].tolist() == [10, 5, 5]
    cfg = config_from_dict(
        {"nodes": 20, "cycles": 4, "overlay": {"view": 3}, "dynamics": [{"add": 4, "substitute": True}]}
    )
    res = simulate(cfg, seed=1)
    assert res.per_cycle["nodes"].tolist() == [20, 20, 20, 20]
    # injected nodes issue one request each on arrival
    cfg = config_from_dict(
        {
            "nodes": 10,
            "cycles": 3,
            "overlay": {"view": 3},
            "demand": {"request_probability": 0.0},
            "dynamics": [{"add": 4, "maxsize": 100}],
        }
    )
    assert simulate(cfg, seed=1).per_cycle["requests"].tolist() == [4, 4, 4]


def test_strategic_migration_moves_nodes_and_charges_fees():
    cfg = config_from_dict(
        {**SMALL, "dynamics": [], "migration": {"strategy": "strategic", "probability": 0.5, "period": 5, "fee": 2.0}}
    )
    t = simulate(cfg, seed=2).totals()
    assert t["migrations"] > 0 and t["fees"] == pytest.approx(2.0 * t["migrations"])
    assert t["cost"] == pytest.approx(t["energy_cost"] + t["payoffs"] + t["fees"])


def test_engagement_response_raises_consumption_with_payoff():
    base = {
        "nodes": 300,
        "cycles": 20,
        "overlay": {"view": 5},
        "energy": {"types": 2, "engagement_payoff": 1.0},
        "demand": {"request_probability": 0.5},
    }
    lo = simulate(config_from_dict({**base, "energy": {**base["energy"], "payoff": 1.0}}), seed=1).totals()
    hi = simulate(config_from_dict({**base, "energy": {**base["energy"], "payoff": 4.0}}), seed=1).totals()
    assert hi["consumption_kwh"] > lo["consumption_kwh"]


def test_cluster_scope_serves_only_the_own_cluster():
    cfg = config_from_dict(
        {
            "nodes": 200,
            "cycles": 5,
            "overlay": {"view": 4, "rewiring": "none"},
            "clusters": {"count": 5, "scope": "cluster"},
            "energy": {"types": 2},
        }
    )
    res = simulate(cfg, seed=4, record=True)
    assert res.totals()["exchanges"] > 0
    ex = res.exchanges
    assert np.all(ex["provider"] != ex["requester"])


def test_result_summary_is_jsonable():
    import json

    res = simulate(config_from_dict({"nodes": 50, "cycles": 3, "overlay": {"view": 4, "sample": 20}}), seed=1)
    s = json.loads(json.dumps(res.summary(), allow_nan=False))
    assert {"totals", "per_node_cycle", "overlay", "bytes_per_node"} <= set(s)
    assert res.to_frame().shape == (3, len(res.per_cycle))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_typed_capacity_layout_matches_the_mask_layout(seed):
    rng = np.random.default_rng(seed)
    n, r, s = int(rng.integers(2, 30)), int(rng.integers(1, 50)), int(rng.integers(1, 5))
    deg = rng.integers(0, 7, r)
    start = np.concatenate([[0], np.cumsum(deg)[:-1]]).astype(np.int64)
    source = rng.integers(0, n, int(deg.sum()))
    typ, need = rng.integers(0, s, r), rng.uniform(1, 5, r)
    ptype = rng.integers(0, s, n)
    cap = rng.uniform(0, 6, n)
    typed = np.zeros(s * n)
    typed[ptype * n + np.arange(n)] = cap
    a = fill_jointly(
        start,
        deg.astype(np.int64),
        source,
        np.zeros(r, np.int64),
        typ,
        need.copy(),
        cap.copy(),
        (1 << ptype).astype(np.uint8),
    )
    b = fill_jointly(
        start, deg.astype(np.int64), source, np.zeros(r, np.int64), typ, need.copy(), typed, None, typed_stride=n
    )
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[2], b[2], rtol=0, atol=1e-9)
