"""Network-aware curtailment of bilateral trades."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid import DataError
from peergrid.grid import build_feeder, curtail_to_limits, feeder_from_net


@pytest.fixture(scope="module")
def chain_50():
    """Busbar 0 -- 50 m -- 1 -- 50 m -- 2 of NAYY 4x50 SE (142 A, ~98 kVA)."""
    return build_feeder(n_buses=3, n_feeders=1, length_km=0.05, line_type="NAYY 4x50 SE")


def test_overloading_trade_is_scaled_to_the_limit(chain_50):
    # trade 0: 150 kW from node 1 to node 2 overloads line 1; trade 1: 20 kW busbar -> node 1 is harmless
    res = curtail_to_limits(chain_50, [1, 0], [2, 1], [150.0, 20.0], numba=False)
    assert res.violations_before.overloaded[0, 1] and not res.violations_before.overloaded[0, 0]
    assert res.feasible and not res.violations.any
    assert res.scale[1] == 1.0 and res.accepted_kw[1] == 20.0
    assert 0.0 < res.accepted_kw[0] < 150.0
    assert 90.0 < res.flow.loading_pct[0, 1] <= 100.0  # close to the limit, not far below
    np.testing.assert_allclose(res.curtailed_kw, res.trade_kw - res.accepted_kw)
    assert res.iterations >= 1


def test_overvoltage_from_far_seller_is_curtailed():
    net = build_feeder(n_buses=3, n_feeders=1, length_km=0.2, line_type="NAYY 4x50 SE")
    res = curtail_to_limits(net, [2], [0], [60.0], numba=False)
    assert res.violations_before.overvoltage[0].any()
    assert res.feasible
    assert res.flow.v_max_pu <= 1.05
    assert res.flow.v_max_pu > 1.04  # the linearised step lands near the band, not at zero trade
    assert 0.0 < res.accepted_kw[0] < 60.0


def test_background_overload_is_reported_not_fixed():
    # node 2 hangs on lines 0 and 1; node 3 on its own line 2
    net = build_feeder(parents=[-1, 0, 1, 0], length_km=0.05, line_type="NAYY 4x50 SE")
    net = feeder_from_net(net, {"heavy": 2})
    # 160 kW at node 2 (~230 A on the 142 A cable) overloads lines 0 and 1 without any trade.
    # Trade 0 (busbar -> node 3) uses line 2 only; trade 1 (node 2 -> busbar) runs against the overload.
    res = curtail_to_limits(net, [0, 2], [3, 0], [10.0, 10.0], base_p_kw=np.array([160.0]), v_min=0.9, numba=False)
    assert not res.feasible
    assert res.violations.lines.tolist() == [0, 1]
    assert res.scale.tolist() == [1.0, 1.0]


def test_max_iter_zero_only_checks(chain_50):
    res = curtail_to_limits(chain_50, [1], [2], [150.0], max_iter=0, numba=False)
    assert res.iterations == 0 and res.accepted_kw.tolist() == [150.0]
    assert res.violations.any and res.violations_before.any


def test_trade_within_one_bus_is_never_curtailed(chain_50):
    res = curtail_to_limits(chain_50, [2], [2], [500.0], numba=False)
    assert res.feasible and res.accepted_kw.tolist() == [500.0]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1], [9], [1.0]), {}, "unknown bus 9"),
        (([1], [2], [-1.0]), {}, ">= 0"),
        (([1, 2], [2], [1.0]), {}, "one entry per trade"),
        (([1], [2], [1.0]), {"base_p_kw": np.ones(3)}, "participants table"),
    ],
)
def test_bad_inputs_raise(chain_50, args, kwargs, match):
    with pytest.raises(DataError, match=match):
        curtail_to_limits(chain_50, *args, numba=False, **kwargs)


def test_base_shape_must_match_participants(chain_50):
    net = feeder_from_net(chain_50, {"x": 1})
    with pytest.raises(DataError, match="one value per participant"):
        curtail_to_limits(net, [1], [2], [1.0], base_p_kw=np.ones(2), numba=False)


@settings(max_examples=8, deadline=None)
@given(
    trades=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.floats(0.0, 200.0)),
        min_size=1,
        max_size=5,
    )
)
def test_curtailment_always_ends_within_limits(trades):
    """With no background load every violation is caused by trades, so curtailment can always fix it."""
    net = _tree()
    sellers, buyers, kw = (np.array(x) for x in zip(*trades, strict=True))
    res = curtail_to_limits(net, sellers, buyers, kw, numba=False)
    assert res.feasible
    assert np.all(res.accepted_kw <= res.trade_kw + 1e-12) and np.all(res.accepted_kw >= 0)
    assert np.all((res.scale >= 0) & (res.scale <= 1))


_NET = {}


def _tree():
    if "tree" not in _NET:
        _NET["tree"] = build_feeder(parents=[-1, 0, 1, 1, 0], length_km=0.1, line_type="NAYY 4x50 SE")
    return _NET["tree"]
