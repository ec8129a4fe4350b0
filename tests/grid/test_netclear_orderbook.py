"""clear_on_feeder and the VIM stage of curtail_to_limits (issue 17, part netclear)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError, DataError
from peergrid.grid import (
    FeederLimits,
    build_feeder,
    check_limits,
    clear_on_feeder,
    curtail_to_limits,
    feeder_from_net,
    power_flow,
    power_flow_3ph,
)
from peergrid.market.orders import OrderBook


@pytest.fixture(scope="module")
def thin_net():
    net = build_feeder(n_buses=12, n_feeders=1, line_type="NAYY 4x50 SE", length_km=0.05)
    table = pd.DataFrame({"id": list("abcd"), "bus": [2, 11, 3, 10], "phase": ["a", "b", "abc", "abc"]})
    return feeder_from_net(net, table)


def test_vim_stage_brings_the_unbalanced_flow_within_limits(thin_net):
    plain = curtail_to_limits(thin_net, [2, 3], [11, 10], [30.0, 30.0])
    p = np.array([[-plain.accepted_kw[0], plain.accepted_kw[0], -plain.accepted_kw[1], plain.accepted_kw[1]]])
    assert check_limits(power_flow_3ph(thin_net, p), max_vim_pct=2.0).any  # balanced curtailment is not enough
    cur = curtail_to_limits(
        thin_net, [2, 3], [11, 10], [30.0, 30.0], max_vim_pct=2.0, seller_member=[0, 2], buyer_member=[1, 3]
    )
    assert cur.feasible and cur.accepted_kw[0] < plain.accepted_kw[0]
    assert cur.accepted_kw[1] == pytest.approx(plain.accepted_kw[1])  # the three-phase trade is not touched
    q = cur.accepted_kw
    flow = power_flow_3ph(thin_net, np.array([[-q[0], q[0], -q[1], q[1]]]))
    assert not check_limits(flow, max_vim_pct=2.0).any
    with pytest.raises(DataError, match="seller_member"):
        curtail_to_limits(thin_net, [2], [11], [1.0], max_vim_pct=2.0)


def test_money_and_energy_balance_in_every_slot(thin_net):
    rng = np.random.default_rng(7)
    n = 16
    book = OrderBook.from_arrays(
        participant=rng.choice(list("abcd"), n), side=rng.choice(["buy", "sell"], n),
        quantity=rng.uniform(1, 20, n), price=rng.uniform(0.05, 0.3, n), slot=rng.integers(0, 2, n),
    )  # fmt: skip
    for mech in ("bilateral", "uniform", "pay-as-bid", "mcafee"):
        c = clear_on_feeder(book, FeederLimits(thin_net, max_vim_pct=2.0), mech, tau=0.02)
        t = c.result.trades
        slot = np.searchsorted(c.result.slots, t.slot)
        assert np.allclose(np.bincount(slot, c.line_fees, len(c.result.slots)), c.slot_line_fees)
        assert np.allclose(np.bincount(slot, c.losses_kwh, len(c.result.slots)), c.slot_losses_kwh)
        # what buyers pay above the energy price is exactly the eq. 12 fee (bilateral, uniform: one energy price)
        if mech in ("bilateral", "uniform"):
            assert np.allclose(t.price_buy - t.price_sell, c.fee_per_kwh)
        filled = c.result.filled
        assert np.all(filled <= book.quantity + 1e-9)
        assert c.summary()["feasible"]


def test_errors(thin_net):
    book = OrderBook.from_arrays(participant=["a", "zed"], side=["sell", "buy"], quantity=[1, 1], price=[0.1, 0.2])
    with pytest.raises(DataError, match="'zed' has orders but is not on the feeder"):
        clear_on_feeder(book, FeederLimits(thin_net))
    ok = OrderBook.from_arrays(participant=["a", "b"], side=["sell", "buy"], quantity=[1, 1], price=[0.1, 0.2])
    with pytest.raises(ConfigError, match="max_rounds"):
        clear_on_feeder(ok, FeederLimits(thin_net), max_rounds=0)
    with pytest.raises(DataError, match="tau"):
        clear_on_feeder(ok, FeederLimits(thin_net), tau=-1.0)
    with pytest.raises(ConfigError, match="unknown order-book mechanism"):
        clear_on_feeder(ok, FeederLimits(thin_net), "dutch")


@pytest.fixture(scope="module")
def balanced_net():
    net = build_feeder(n_buses=6, n_feeders=1, line_type="NAYY 4x50 SE", length_km=0.05)
    return feeder_from_net(net, pd.DataFrame({"id": list("abcde"), "bus": [1, 2, 3, 4, 5], "phase": "abc"}))


_order = st.tuples(st.sampled_from("abcde"), st.booleans(), st.floats(0.5, 60.0), st.floats(0.05, 0.35),
                   st.integers(0, 1))  # fmt: skip


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(_order, min_size=2, max_size=10), mech=st.sampled_from(["bilateral", "uniform", "mcafee"]))
def test_property_balanced_books_settle_within_limits_and_balance(balanced_net, orders, mech):
    """Any book: fills within orders, fees and losses add up per slot, every settled slot within limits."""
    who, buy, q, p, s = zip(*orders, strict=True)
    book = OrderBook.from_arrays(participant=list(who), side=["buy" if b else "sell" for b in buy], quantity=q,
                                 price=p, slot=list(s))  # fmt: skip
    c = clear_on_feeder(book, FeederLimits(balanced_net), mech, tau=0.03)
    t = c.result.trades
    assert np.all(c.result.filled <= book.quantity + 1e-9)
    assert np.all(c.fee_per_kwh >= 0) and np.all(t.quantity > 0)
    idx = np.searchsorted(c.result.slots, t.slot)
    assert np.allclose(np.bincount(idx, c.line_fees, len(c.result.slots)), c.slot_line_fees)
    assert np.allclose(np.bincount(idx, c.losses_kwh, len(c.result.slots)), c.slot_losses_kwh)
    assert c.slot_feasible.all()
    ids = list(balanced_net["peergrid_participants"]["id"])
    labels = [str(x) for x in book.participant_label(np.arange(book.n_participants))]
    for slot in np.unique(t.slot).tolist():  # pandapower's own flow of the settled trades
        m = t.slot == slot
        pw = np.zeros(len(ids))
        np.add.at(pw, [ids.index(labels[b]) for b in t.buyer[m]], t.quantity[m])
        np.add.at(pw, [ids.index(labels[x]) for x in t.seller[m]], -t.quantity[m])
        assert not check_limits(power_flow(balanced_net, pw[None, :])).any
