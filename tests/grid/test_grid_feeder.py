"""Feeder construction: default radial LV feeder, community placement, user nets, zero-sequence data."""

import numpy as np
import pandas as pd
import pytest

from peergrid import DataError, ModelError
from peergrid.grid import (
    DEFAULT_LINE_TYPE,
    ZERO_SEQUENCE,
    add_zero_sequence,
    build_feeder,
    feeder_from_net,
    line_capacity_kw,
    participant_table,
)


def test_default_feeder_layout():
    net = build_feeder(n_buses=51)
    assert len(net.bus) == 52 and net.bus.at[51, "vn_kv"] == 20.0  # MV slack bus after the LV nodes
    assert (net.bus.loc[:50, "vn_kv"] == 0.4).all()
    assert net.ext_grid["bus"].tolist() == [51]
    assert net.trafo[["hv_bus", "lv_bus"]].values.tolist() == [[51, 0]]
    assert len(net.line) == 50 and (net.line["std_type"] == DEFAULT_LINE_TYPE).all()
    # two radial feeders of 25 buses each leave the busbar (node 0)
    assert (net.line["from_bus"] == 0).sum() == 2
    assert len(participant_table(net)) == 0
    # 3-phase ready: zero-sequence data and a vector group without clock number
    assert net.trafo.at[0, "vector_group"] == "Dyn"
    np.testing.assert_allclose(net.line["r0_ohm_per_km"], ZERO_SEQUENCE["r0_r1"] * net.line["r_ohm_per_km"])


def test_feeder_from_community_uses_node_and_phase(community_factory):
    community = community_factory([1, 3, 3, 0], ["a", "B", "c", "abc"])
    net = build_feeder(community)
    table = participant_table(net)
    assert len(net.bus) == 5  # nodes 0..3 + MV
    assert table["id"].tolist() == ["p0", "p1", "p2", "p3"]
    assert table["phase"].tolist() == ["a", "b", "c", "abc"]
    assert net.load.loc[table["load"], "bus"].tolist() == [1, 3, 3, 0]


def test_spread_placement_rotates_buses_and_phases(community_factory):
    net = build_feeder(community_factory([0] * 7), placement="spread")
    table = participant_table(net)
    assert len(net.bus) == 9
    assert table["bus"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert table["phase"].tolist() == ["a", "b", "c", "a", "b", "c", "a"]


def test_explicit_tree_and_lengths():
    net = build_feeder(parents=[-1, 0, 1, 1, 0], length_km=[0.1, 0.2, 0.3, 0.4], line_type="NAYY 4x50 SE")
    assert net.line[["from_bus", "to_bus"]].values.tolist() == [[0, 1], [1, 2], [1, 3], [0, 4]]
    np.testing.assert_allclose(net.line["length_km"], [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize(
    "kwargs",
    [{"parents": [-1, 2, 1]}, {"parents": [-1, 0, 7]}, {"parents": [-1, 0]}],
    ids=["cycle", "outside", "wrong-length"],
)
def test_bad_tree_raises(kwargs):
    with pytest.raises(DataError):
        build_feeder(n_buses=3, **kwargs)


def test_unknown_node_and_phase_raise(community_factory):
    with pytest.raises(DataError, match="node 9"):
        build_feeder(community_factory([1, 9]), n_buses=5)
    with pytest.raises(DataError, match="phase"):
        build_feeder(community_factory([1, 2], ["a", "d"]))


def test_bad_types_raise():
    with pytest.raises(ModelError, match="line standard type"):
        build_feeder(n_buses=3, line_type="NAYY 4x999")
    with pytest.raises(ModelError, match="transformer"):
        build_feeder(n_buses=3, trafo_type="nope")
    with pytest.raises(ModelError):
        build_feeder(n_buses=3, length_km=0.0)
    with pytest.raises(DataError, match="one per line"):
        build_feeder(n_buses=3, length_km=[0.1, 0.2, 0.3])


def test_feeder_from_user_net_is_a_copy():
    base = build_feeder(n_buses=4)
    net = feeder_from_net(base, {"x": 2, "y": 3})
    assert len(base.load) == 0 and len(net.load) == 2
    assert participant_table(net)["bus"].tolist() == [2, 3]
    assert participant_table(net)["phase"].tolist() == ["a", "a"]
    # re-mapping replaces the previous participants' loads
    again = feeder_from_net(net, pd.DataFrame({"id": ["z"], "node": [1], "phase": ["c"]}))
    assert len(again.load) == 1 and participant_table(again)["phase"].tolist() == ["c"]


def test_feeder_from_net_rejects_unknown_bus():
    with pytest.raises(DataError, match="bus 42"):
        feeder_from_net(build_feeder(n_buses=3), {"x": 1, "y": 42})
    with pytest.raises(DataError, match="duplicate"):
        feeder_from_net(build_feeder(n_buses=3), pd.DataFrame({"id": ["x", "x"], "bus": [1, 2]}))


def test_participant_table_needs_peergrid_net():
    import pandapower as pp

    with pytest.raises(DataError, match="build_feeder"):
        participant_table(pp.create_empty_network())


def test_line_capacity_is_sqrt3_v_i():
    net = build_feeder(n_buses=2)
    # NAYY 4x150 SE: 270 A at 0.4 kV -> sqrt(3) * 0.4 kV * 0.27 kA = 187.06 kVA
    np.testing.assert_allclose(line_capacity_kw(net), [np.sqrt(3) * 0.4 * 0.27 * 1000])


def test_add_zero_sequence_fills_only_missing():
    net = build_feeder(n_buses=3)
    net.line.loc[0, "r0_ohm_per_km"] = 1.234
    net.line.loc[1, "r0_ohm_per_km"] = np.nan
    add_zero_sequence(net)
    assert net.line.at[0, "r0_ohm_per_km"] == 1.234
    assert net.line.at[1, "r0_ohm_per_km"] == pytest.approx(4 * net.line.at[1, "r_ohm_per_km"])
    add_zero_sequence(net, overwrite=True)
    assert net.line.at[0, "r0_ohm_per_km"] == pytest.approx(4 * net.line.at[0, "r_ohm_per_km"])
