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


# ---- network-aware bilateral market (FeederLimits) ------------------------------------------


@pytest.fixture(scope="module")
def chain_market():
    """Busbar 0 -- 1 -- 2 -- 3 of 50 m NAYY 4x50 SE (~98 kVA per line); houses a..c on nodes 1..3."""
    net = build_feeder(n_buses=4, n_feeders=1, length_km=0.05, line_type="NAYY 4x50 SE")
    return feeder_from_net(net, {"a": 1, "b": 2, "c": 3})


def _book(rows):
    from peergrid.market import OrderBook

    part, side, qty, price, slot = zip(*rows, strict=True)
    return OrderBook.from_arrays(participant=part, side=side, quantity=qty, price=price, slot=slot)


def test_network_aware_bilateral_curtails_the_overloading_trade(chain_market):
    from peergrid.grid import FeederLimits, power_flow
    from peergrid.market import bilateral

    # slot 0: a sells 150 kWh to b within one hour (150 kW on line 1-2, ~150 % loading); slot 1: 20 kWh, harmless
    book = _book([("a", "sell", 150, 0.10, 0), ("b", "buy", 150, 0.30, 0), ("a", "sell", 20, 0.10, 1),
                  ("b", "buy", 20, 0.30, 1)])  # fmt: skip
    plain = bilateral(book, retail=0.35, feed_in=0.05)
    assert plain.curtailed is None and plain.summary()["curtailed_kwh"] is None
    check = FeederLimits(chain_market, dt=1.0, numba=False)
    r = bilateral(book, retail=0.35, feed_in=0.05, network=check)
    q0, q1 = r.trades.quantity
    assert 90.0 < q0 < 100.0 and q1 == 20.0  # cut to the line rating, the harmless slot untouched
    np.testing.assert_allclose(r.curtailed, [150.0 - q0, 0.0])
    assert r.summary()["curtailed_kwh"] == pytest.approx(150.0 - q0)
    # the curtailed energy stays with the orders: residuals settle with the grid, money still balances
    np.testing.assert_allclose(r.residual, [150.0 - q0, 150.0 - q0, 0.0, 0.0])
    np.testing.assert_allclose(r.trades.price_buy, plain.trades.price_buy)  # contract prices unchanged
    assert r.bill.sum() == pytest.approx(r.grid_bill.sum() + r.trades.fee.sum())
    # the accepted trade keeps line 1-2 within its rating
    flow = power_flow(chain_market, [[-q0, q0, 0.0]], numba=False)
    assert flow.loading_pct[0, 1] <= 100.0 and flow.loading_pct[0, 1] > 90.0
    accepted, outcomes = check.curtail(plain.trades, book)
    assert sorted(outcomes) == [0, 1] and outcomes[0].violations_before.any and outcomes[0].feasible
    np.testing.assert_allclose(accepted, [q0, 20.0])


def test_network_aware_background_and_slots(chain_market):
    from peergrid.grid import FeederLimits
    from peergrid.market import bilateral

    book = _book([("b", "sell", 40, 0.10, 0), ("c", "buy", 40, 0.30, 0), ("b", "sell", 40, 0.10, 1),
                  ("c", "buy", 40, 0.30, 1)])  # fmt: skip
    # 70 kW of background load at c in slot 1 only: the same 40 kWh trade must shrink there
    base = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 70.0]])
    r = bilateral(book, network=FeederLimits(chain_market, base_p_kw=base, numba=False))
    assert r.trades.quantity[0] == 40.0 and r.trades.quantity[1] < 40.0
    assert r.curtailed[0] == 0.0 and r.curtailed[1] > 0.0
    with pytest.raises(DataError, match="base_p_kw has 1 rows"):
        bilateral(book, network=FeederLimits(chain_market, base_p_kw=base[:1], numba=False))


def test_network_check_errors(chain_market, chain_50):
    from peergrid.grid import FeederLimits
    from peergrid.market import bilateral

    book = _book([("a", "sell", 1, 0.1, 0), ("zed", "buy", 1, 0.3, 0)])
    with pytest.raises(DataError, match="participant 'zed' is not on the feeder"):
        bilateral(book, network=FeederLimits(chain_market, numba=False))
    with pytest.raises(DataError, match="no participants"):
        FeederLimits(chain_50)
    with pytest.raises(DataError, match="dt must be > 0"):
        FeederLimits(chain_market, dt=0.0)
