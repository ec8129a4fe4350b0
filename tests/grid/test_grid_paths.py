"""Line paths on radial feeders and the line-utilisation fee (Tooki et al. eq. 12)."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from peergrid import DataError, ModelError
from peergrid.grid import (
    build_feeder,
    feeder_from_net,
    line_capacity_kw,
    line_paths,
    line_utilisation_fee,
    participant_root_paths,
    power_flow,
    radial_tree,
    transfer_flows_kw,
)

# node:    0 ── line 0 ── 1 ── line 1 ── 2
#          │              └─── line 2 ── 3
#          └── line 3 ── 4
PARENTS = [-1, 0, 1, 1, 0]


@pytest.fixture(scope="module")
def tree_net():
    return build_feeder(parents=PARENTS, length_km=0.05)


def test_paths_on_small_tree(tree_net):
    inc = line_paths(tree_net, [2, 2, 3, 1, 4], [3, 4, 3, 2, 0])
    assert sparse.issparse(inc) and inc.shape == (5, 4)
    dense = inc.toarray()
    np.testing.assert_array_equal(dense[0], [0, -1, 1, 0])  # 2 -> 1 (against line 1), 1 -> 3 (along line 2)
    np.testing.assert_array_equal(dense[1], [-1, -1, 0, 1])  # 2 -> 1 -> 0 -> 4
    np.testing.assert_array_equal(dense[2], [0, 0, 0, 0])  # no transfer path to itself
    np.testing.assert_array_equal(dense[3], [0, 1, 0, 0])
    np.testing.assert_array_equal(dense[4], [0, 0, 0, -1])  # 4 -> busbar
    assert inc[2].nnz == 0  # cancelled shared lines are not stored


def test_participant_root_paths_give_pair_incidence(tree_net):
    net = feeder_from_net(tree_net, {"x": 2, "y": 3, "z": 4})
    rows = participant_root_paths(net)
    np.testing.assert_array_equal(rows.toarray(), [[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal((rows[1] - rows[0]).toarray(), line_paths(net, 2, 3).toarray())


def test_tree_parent_pointers(tree_net):
    tree = radial_tree(tree_net)
    pos = {b: i for i, b in enumerate(tree.bus)}
    assert tree.bus[tree.root] == 5  # the MV slack bus
    assert tree.bus[tree.parent[pos[2]]] == 1 and tree.bus[tree.parent[pos[0]]] == 5
    assert tree.parent_line[pos[3]] == 2 and tree.parent_line[pos[0]] == -1  # node 0 hangs on the trafo
    assert tree.depth[pos[2]] == 3
    np.testing.assert_allclose(tree.line_r_ohm, 0.208 * 0.05)


def test_line_orientation_sets_the_sign(tree_net):
    flipped = copy.deepcopy(tree_net)
    flipped.line.loc[1, ["from_bus", "to_bus"]] = [2, 1]
    np.testing.assert_array_equal(line_paths(flipped, 2, 3).toarray(), [[0, 1, 1, 0]])


def test_incidence_predicts_flow_change(tree_net):
    """incidenceᵀ q is the (lossless) change in line flows caused by a transfer."""
    net = feeder_from_net(tree_net, {"s": 2, "b": 4})
    base = power_flow(net, [[0.0, 0.0]], numba=False)
    trade = power_flow(net, [[-20.0, 20.0]], numba=False)
    predicted = transfer_flows_kw(line_paths(net, [2], [4]), np.array([20.0]))
    np.testing.assert_allclose(trade.line_p_kw[0] - base.line_p_kw[0], predicted, atol=0.5)


def test_meshed_net_and_unknown_bus_raise(tree_net):
    import pandapower as pp

    meshed = copy.deepcopy(tree_net)
    pp.create_line(meshed, 2, 4, 0.05, "NAYY 4x150 SE")
    with pytest.raises(ModelError, match="not radial"):
        line_paths(meshed, 2, 3)
    with pytest.raises(DataError, match="unknown bus 17"):
        line_paths(tree_net, [1, 17], [2, 3])
    with pytest.raises(DataError, match="broadcast"):
        line_paths(tree_net, [1, 2, 3], [2, 3])


def test_open_switch_disconnects(tree_net):
    import pandapower as pp

    net = copy.deepcopy(tree_net)
    pp.create_switch(net, 0, 3, et="l", closed=False)  # open line 3 (0 -> 4) at node 0
    with pytest.raises(DataError, match="not connected"):
        line_paths(net, 1, 4)


def test_fee_eq12_hand_computed():
    # pair 0 uses lines 0, 1, 3; pair 1 uses line 2 only
    inc = sparse.csr_matrix(np.array([[-1, -1, 0, 1], [0, 0, 1, 0]], dtype=float))
    flows = np.array([10.0, -20.0, 5.0, 40.0])  # kW, sign ignored
    p_max = np.array([100.0, 100.0, 50.0, 200.0])
    tau = np.array([0.01, 0.02, 0.03, 0.04])
    # H0 = 0.01*10/100 + 0.02*20/100 + 0.04*40/200 = 0.001 + 0.004 + 0.008
    # H1 = 0.03*5/50 = 0.003
    np.testing.assert_allclose(line_utilisation_fee(inc, flows, p_max, tau), [0.013, 0.003])
    np.testing.assert_allclose(line_utilisation_fee(inc.toarray(), flows, p_max, tau), [0.013, 0.003])
    # per slot: (T, L) flows -> (T, P) fees; scalar fee and capacity broadcast
    two = line_utilisation_fee(inc, np.vstack([flows, 2 * flows]), 100.0, 0.01)
    assert two.shape == (2, 2)
    np.testing.assert_allclose(two[1], 2 * two[0])
    np.testing.assert_allclose(two[0], [0.01 * 70 / 100, 0.01 * 5 / 100])


def test_fee_on_real_feeder(tree_net):
    net = feeder_from_net(tree_net, {"s": 2, "b": 4})
    flow = power_flow(net, [[-20.0, 20.0]], numba=False)
    inc = line_paths(net, [2], [4])
    fee = line_utilisation_fee(inc, flow.line_p_kw[0], line_capacity_kw(net), 0.05)
    used = np.abs(inc.toarray()[0]) > 0
    expected = 0.05 * np.sum(np.abs(flow.line_p_kw[0, used]) / line_capacity_kw(net)[used])
    assert fee[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("flows", "p_max", "tau", "match"),
    [
        (np.ones(3), 1.0, 1.0, "flows_kw"),
        (np.ones(2), np.ones(3), 1.0, "p_max_kw"),
        (np.ones(2), 0.0, 1.0, "> 0"),
        (np.ones(2), 1.0, -1.0, ">= 0"),
        (np.array([1.0, np.nan]), 1.0, 1.0, "NaN"),
        (np.ones(2), 1.0, np.ones(3), "tau"),
    ],
)
def test_fee_bad_inputs(flows, p_max, tau, match):
    with pytest.raises(DataError, match=match):
        line_utilisation_fee(np.eye(2), flows, p_max, tau)


@st.composite
def trees(draw):
    n = draw(st.integers(2, 12))
    parents = [-1] + [draw(st.integers(0, k - 1)) for k in range(1, n)]
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1))
    return parents, np.array(pairs)


@settings(max_examples=10, deadline=None)
@given(trees())
def test_paths_properties(case):
    parents, pairs = case
    tree = radial_tree(build_feeder(parents=parents))
    a, b, c = pairs.T
    ab, ba = line_paths(tree, a, b), line_paths(tree, b, a)
    bc, ac = line_paths(tree, b, c), line_paths(tree, a, c)
    assert (ab + ba).nnz == 0 or np.abs((ab + ba).toarray()).max() == 0  # reverse transfer = opposite flow
    np.testing.assert_array_equal((ab + bc).toarray(), ac.toarray())  # flows superpose along a -> b -> c
    # the path length is depth(a) + depth(b) - 2 depth(lowest common ancestor)
    depth = {k: 0 for k in range(len(parents))}
    for k in range(1, len(parents)):
        depth[k] = depth[parents[k]] + 1

    def ancestors(k):
        out = [k]
        while k > 0:
            k = parents[k]
            out.append(k)
        return out

    for row, (x, y) in enumerate(zip(a, b, strict=True)):
        lca = next(k for k in ancestors(x) if k in ancestors(y))
        assert ab[row].nnz == depth[x] + depth[y] - 2 * depth[lca]
    fee = line_utilisation_fee(ab, np.ones(ab.shape[1]), 1.0, 1.0)
    np.testing.assert_allclose(fee, np.asarray(abs(ab).sum(axis=1)).ravel())


def test_one_implementation_of_eq12():
    """grid.line_utilisation_fee is an adapter over market.utilisation_fee (same numbers, one formula)."""
    from peergrid.market import utilisation_fee

    rng = np.random.default_rng(0)
    inc = sparse.random(7, 5, density=0.5, random_state=1, format="csr")
    inc.data = np.sign(inc.data - 0.5)
    flows, p_max, tau = rng.normal(0, 50, (3, 5)), rng.uniform(50, 100, 5), rng.uniform(0, 0.1, 5)
    for f in (flows, flows[0]):
        np.testing.assert_array_equal(line_utilisation_fee(inc, f, p_max, tau), utilisation_fee(inc, f, p_max, tau))
