"""Compiled federation kernels (peergrid.federation._kernels): bit-identical to the numpy versions.

Every numba kernel is compared with the numpy version it replaces on small graphs (hypothesis
draws the graphs), including providers met by many requests in one rank (the clash path with
numpy's cumulative-sum and pairwise-sum rounding), and checked for the model's invariants:
energy conserved, no capacity oversold, degrees within bounds, no self-loops or duplicate links.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.federation import Overlay, _kernels, config_from_dict, fill_jointly, simulate
from peergrid.federation.overlay import add_triadic_links, sample_views

pytestmark = pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")


def _both(start, length, source, req_node, req_type, need, cap, mask, *args, **kw):
    """Run fill_jointly with both kernels on copies; return (numba, numpy) outputs and states."""
    out = []
    for kernel in ("numba", "numpy"):
        nd, cp = need.copy(), cap.copy()
        res = fill_jointly(start, length, source, req_node, req_type, nd, cp, mask, *args, kernel=kernel, **kw)
        out.append((*res, nd, cp))
    return out


def _assert_identical(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)  # bit for bit, not approximately


def _random_case(rng, crowd: bool):
    n = int(rng.integers(2, 8 if crowd else 30))
    r = int(rng.integers(1, 120 if crowd else 50))
    s = int(rng.integers(1, 4))
    deg = rng.integers(0, 7, r)
    start = np.concatenate([[0], np.cumsum(deg)[:-1]]).astype(np.int64)
    source = rng.integers(0, n, int(deg.sum())).astype(np.int32)
    typ = rng.integers(0, s, r)
    need = rng.uniform(0.1, 5, r) * (rng.random(r) < 0.95)
    cap = rng.uniform(0, 40 if crowd else 6, n) * (rng.random(n) < 0.85)
    ptype = rng.integers(0, s, n)
    return n, r, s, deg.astype(np.int64), start, source, typ, need, cap, ptype


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.booleans(), st.booleans())
def test_fill_numba_equals_numpy_mask_layout(seed, crowd, price, exclude):
    rng = np.random.default_rng(seed)
    n, r, _s, deg, start, source, typ, need, cap, ptype = _random_case(rng, crowd)
    mask = (1 << ptype).astype(np.uint8) | (rng.random(n) < 0.3).astype(np.uint8)  # some make two types
    factor = rng.uniform(0.8, 1.2, n)
    req_node = rng.integers(0, n, r)
    a, b = _both(
        start, deg, source, req_node, typ, need, cap, mask, factor if price else None, 1.05 if price else None, exclude
    )
    _assert_identical(a, b)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_fill_numba_equals_numpy_typed_layout(seed, crowd):
    rng = np.random.default_rng(seed)
    n, r, s, deg, start, source, typ, need, cap, ptype = _random_case(rng, crowd)
    typed = np.zeros(s * n)
    typed[ptype * n + np.arange(n)] = cap
    a, b = _both(start, deg, source, np.zeros(r, np.int64), typ, need, typed, None, typed_stride=n)
    _assert_identical(a, b)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_fill_numba_mask_layout_rounds_as_numpy_typed_layout(seed, crowd):
    # the engine's numba path keeps the 1-byte mask layout; order_stride makes it round as the
    # numpy kernel's typed layout (clashing providers summed in (type, provider) order)
    rng = np.random.default_rng(seed)
    n, r, s, deg, start, source, typ, need, cap, ptype = _random_case(rng, crowd)
    typed = np.zeros(s * n)
    typed[ptype * n + np.arange(n)] = cap
    mask = (1 << ptype).astype(np.uint8)
    nd_a, cp_a = need.copy(), cap.copy()
    a = fill_jointly(start, deg, source, np.zeros(r, np.int64), typ, nd_a, cp_a, mask, kernel="numba", order_stride=n)
    nd_b, cp_b = need.copy(), typed.copy()
    b = fill_jointly(start, deg, source, np.zeros(r, np.int64), typ, nd_b, cp_b, None, typed_stride=n, kernel="numpy")
    _assert_identical((*a, nd_a, cp_a), (*b, nd_b, cp_b[ptype * n + np.arange(n)]))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fill_conserves_energy_and_never_oversells(seed):
    rng = np.random.default_rng(seed)
    n, r, _s, deg, start, source, typ, need, cap, ptype = _random_case(rng, True)
    mask = (1 << ptype).astype(np.uint8)
    nd, cp = need.copy(), cap.copy()
    q, p, f = fill_jointly(start, deg, source, np.zeros(r, np.int64), typ, nd, cp, mask, kernel="numba")
    assert np.all(f > 0) and np.all(cp >= 0) and np.all(nd >= -1e-9)
    got = np.bincount(q, weights=f, minlength=r)
    np.testing.assert_allclose(got, need - nd, atol=1e-9)  # what a request lost it received
    sold = np.bincount(p, weights=f, minlength=n)
    assert np.all(sold <= cap + 1e-9)  # no provider delivers more than it had
    np.testing.assert_allclose(sold, cap - cp, atol=1e-9)
    assert np.all(typ[q] == ptype[p])  # only the requested type
    for k in range(q.size):  # every provider is one of the request's candidates
        assert p[k] in source[start[q[k]] : start[q[k]] + deg[q[k]]]


def test_fill_large_clash_groups_match_numpy_rounding():
    # 300 requests meet the same provider at rank 0 (groups > 8 and > 128 entries exercise
    # numpy's pairwise summation); a second provider at rank 1
    rng = np.random.default_rng(11)
    for r in (3, 9, 20, 140, 300):
        start = np.arange(r, dtype=np.int64) * 2
        source = np.tile(np.array([0, 1], np.int32), r)
        need = rng.uniform(0.1, 1.0, r)
        cap = np.array([0.37 * r, 0.21 * r])
        a, b = _both(start, np.full(r, 2, np.int64), source, np.zeros(r, np.int64), np.zeros(r, np.int64),
                     need, cap, np.ones(2, np.uint8))  # fmt: skip
        _assert_identical(a, b)
        assert a[4][0] == 0.0 or a[4][0] > 1e-9


def test_fill_hand_checked_and_negative_capacity_counts_as_none():
    mask = np.ones(3, np.uint8)
    cap = np.array([-2.0, 0.0, 5.0])  # node 0: a negative capacity is no capacity (both kernels)
    need = np.array([3.0, 3.0, 1.0])
    start, length = np.array([0, 2, 4], np.int64), np.array([2, 2, 1], np.int64)
    source = np.array([0, 2, 0, 2, 0], np.int32)
    for kernel in ("numba", "numpy"):
        nd, cp = need.copy(), cap.copy()
        req, prov, qty = fill_jointly(start, length, source, np.zeros(3, np.int64), np.zeros(3, np.int64), nd, cp,
                                      mask, kernel=kernel)  # fmt: skip
        assert req.tolist() == [0, 1] and prov.tolist() == [2, 2] and qty.tolist() == [3.0, 2.0]
        assert nd.tolist() == [0.0, 1.0, 1.0] and cp.tolist() == [-2.0, 0.0, 0.0]


def test_fill_rejects_an_unknown_kernel():
    with pytest.raises(ValueError, match="kernel"):
        fill_jointly(np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int32), np.zeros(1, np.int64),
                     np.zeros(1, np.int64), np.ones(1), np.ones(1), np.ones(1, np.uint8), kernel="fortran")  # fmt: skip


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 130, 255, 256, 257, 1000, 4099])
def test_pairwise_sum_is_numpys(n):
    a = np.random.default_rng(n).uniform(-1e3, 1e6, n) ** 3
    assert _kernels.pairwise_sum(a) == np.add.reduce(a)


def test_capacity_renewal_in_place_equals_generator_uniform():
    # the numba engine path renews capacity as low + (high - low) × Generator.random, in place
    n = 10_000
    want = np.random.default_rng(5).uniform(1.0, 10.0, n)
    c = np.random.default_rng(5).random(n, out=np.empty(n))
    np.multiply(c, 10.0 - 1.0, out=c)
    np.add(c, 1.0, out=c)
    np.testing.assert_array_equal(c, want)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_triadic_numba_equals_numpy(seed, stamped, some_dead):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    k = int(rng.integers(1, 6))
    ov = Overlay.from_padded(sample_views(np.arange(n), k, np.arange(n), rng))
    if stamped:
        ov = Overlay(ov.indptr, ov.indices, rng.integers(0, 9, ov.nnz).astype(np.int32))
    alive = (rng.random(n) < 0.8) if some_dead else np.ones(n, bool)
    seed2 = int(rng.integers(2**31))
    a = add_triadic_links(ov, alive, 7, np.random.default_rng(seed2), kernel="numba")
    b = add_triadic_links(ov, alive, 7, np.random.default_rng(seed2), kernel="numpy")
    for x, y in ((a.indptr, b.indptr), (a.indices, b.indices)):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert (a.stamp is None) == (b.stamp is None) == (not stamped)
    if stamped:
        np.testing.assert_array_equal(a.stamp, b.stamp)
    # invariants: degree grows by at most one, old views kept as a prefix, no self-loop, no duplicate
    d0, d1 = ov.degree(), a.degree()
    assert np.all((d1 - d0 >= 0) & (d1 - d0 <= 1))
    for i in range(n):
        row = a.row(i)
        assert row[: d0[i]].tolist() == ov.row(i).tolist()
        assert i not in row[d0[i] :] and len(set(row.tolist())) == row.size


def _workload(nodes, cycles, seed, **extra):
    d = {
        "nodes": nodes,
        "cycles": cycles,
        "seed": seed,
        "overlay": {"view": 10, "rewiring": "triadic", "period": 5},
        "energy": {"types": 3, "capacity": [1.0, 10.0], "payoff": 1.0},
        "demand": {"request_probability": 0.25, "arrivals": "bernoulli", "quantity": [1.0, 5.0]},
    }
    for key, v in extra.items():
        d[key] = {**d.get(key, {}), **v}
    return config_from_dict(d, "<test>")


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"energy": {"types_per_node": 2}},
        {"demand": {"price_tolerance": 0.05}, "energy": {"price_spread": 0.2}},
        {"energy": {"producer_share": 0.6}},
        {"overlay": {"rewiring": "newscast", "period": 4}, "clusters": {"count": 5, "scope": "cluster"}},
    ],
)
def test_simulate_numba_equals_numpy_bit_for_bit(extra):
    cfg = _workload(700, 25, 3, **extra)
    a = simulate(cfg, record=True, kernel="numba")
    b = simulate(cfg, record=True, kernel="numpy")
    for key in a.per_cycle:
        np.testing.assert_array_equal(a.per_cycle[key], b.per_cycle[key], err_msg=key)
    for key in a.exchanges:
        np.testing.assert_array_equal(a.exchanges[key], b.exchanges[key], err_msg=key)
    assert a.extra == b.extra


def test_simulate_conserves_energy_per_cycle():
    res = simulate(_workload(1500, 20, 9), record=True)
    ex = res.exchanges
    per = np.bincount(ex["cycle"].astype(np.int64), weights=ex["kwh"], minlength=20)
    np.testing.assert_allclose(per, res.per_cycle["consumption_kwh"], rtol=1e-12)
    assert np.all(res.per_cycle["consumption_kwh"] <= res.per_cycle["offered_kwh"] + 1e-9)
    assert np.all(res.per_cycle["consumption_kwh"] <= res.per_cycle["requested_kwh"] + 1e-9)
    assert np.all(ex["provider"] != ex["requester"])  # no self-trade through the views (no self-loops)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_bad_entries_equals_the_numpy_row_duplicates(seed):
    from peergrid.federation.overlay import _row_duplicates

    rng = np.random.default_rng(seed)
    m, k = int(rng.integers(1, 40)), int(rng.integers(1, 8))
    cand = rng.integers(-1, int(rng.integers(1, 12)), (m, k)).astype(np.int32)
    owner = rng.integers(0, 12, m)
    want = np.nonzero((cand == owner[:, None]) | _row_duplicates(cand))
    r, c = _kernels.bad_entries(cand, owner, np.arange(m, dtype=np.int64))
    np.testing.assert_array_equal(r, want[0])
    np.testing.assert_array_equal(c, want[1])
    rows = np.unique(rng.integers(0, m, 5)).astype(np.int64)  # a subset of rows: the same entries of those rows
    r, c = _kernels.bad_entries(cand, owner, rows)
    keep = np.isin(want[0], rows)
    np.testing.assert_array_equal(r, want[0][keep])
    np.testing.assert_array_equal(c, want[1][keep])


def test_fill_odd_inputs_behave_as_with_numpy():
    # compiled code has no bounds checks: inputs the numba kernel could read out of bounds go to the
    # numpy kernel, so they give numpy's result or numpy's IndexError, never a crash
    mask, cap = np.ones(3, np.uint8), np.array([1.0, 2.0, 3.0])
    one, zero = np.array([1], np.int64), np.zeros(1, np.int64)
    refused = [
        (zero, one, np.array([7], np.int32), zero),  # provider id beyond the node arrays
        (np.array([2], np.int64), one, np.array([1], np.int32), zero),  # list runs past source
    ]
    for start, length, source, typ in refused:
        for kernel in ("numba", "numpy", "auto"):
            with pytest.raises(IndexError):
                fill_jointly(start, length, source, zero, typ, np.ones(1), cap.copy(), mask, kernel=kernel)
    accepted = [
        (zero, one, np.array([-1], np.int64), zero),  # negative id: numpy wraps to the last node
        (zero, one, np.array([1], np.int32), np.array([9], np.int64)),  # type without a mask bit: nothing
    ]
    for start, length, source, typ in accepted:
        a, b = _both(start, length, source, zero, typ, np.ones(1), cap, mask)
        _assert_identical(a, b)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_view_requests_equals_the_numpy_preamble(seed):
    rng = np.random.default_rng(seed)
    n, r = int(rng.integers(1, 30)), int(rng.integers(0, 40))
    deg = rng.integers(0, 4, n)
    indptr = np.concatenate([[0], np.cumsum(deg)]).astype(np.int64)
    req = rng.integers(0, n, r)
    typ = rng.integers(0, 3, r)
    need = rng.uniform(0, 2, r) * (rng.random(r) < 0.8)
    start = indptr[req]
    length = indptr[req + 1] - start
    act = np.flatnonzero((length > 0) & (need > 0))
    got = _kernels.view_requests(indptr, req, typ, need)
    for x, y in zip(got, (act, start[act], length[act], typ[act]), strict=True):
        np.testing.assert_array_equal(x, y)
