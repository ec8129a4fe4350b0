"""The settlement core (peergrid.market.settle) without a database: hand-computed cases and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError, DataError
from peergrid.market import OrderBook, clear_net, orders_from_net, uniform_price
from peergrid.market.settle import (
    SYSTEM_ACCOUNTS,
    Cleared,
    Postings,
    admit_orders,
    delivery_reputation,
    export_limit_wh,
    order_bills,
    order_clearer,
    pool_p2p_price,
    settle_imbalance,
    settle_market,
    settle_orders_interval,
    settle_orders_metered,
    settle_pool,
    settle_pool_interval,
    system_code,
)

ORDER_MECHS = ("uniform", "pay-as-bid", "mcafee", "bilateral")
POOL_MECHS = ("bs", "mmr", "sdr", "baseline")


def _book(participant, side, wh, price):
    return OrderBook.from_arrays(participant=participant, side=side, quantity=np.asarray(wh) / 1000.0, price=price)


# ------------------------------------------------------------------ hand-computed: market phase
def test_uniform_price_hand_computed():
    """Buyer 2 kWh at 0.30, seller 1 kWh at 0.10, k = 0.5: 1 kWh at 0.20 → 20 cents each way, no fee."""
    s = settle_market(_book([0, 1], [1, -1], [2000, 1000], [0.30, 0.10]), order_clearer("uniform", 0.30, 0.10))
    assert s.quantity_wh.tolist() == [1000]
    assert (s.paid_minor.tolist(), s.received_minor.tolist(), s.residual_minor) == ([20, 0], [0, 20], 0)
    assert s.status.tolist() == ["partial", "filled"] and s.filled_wh.tolist() == [1000, 1000]
    assert (s.bought_wh.tolist(), s.sold_wh.tolist()) == ([1000, 0], [0, 1000])
    assert list(zip(s.postings.kind, s.postings.debit, s.postings.credit, s.postings.amount, strict=True)) == [
        ("p2p_buy", 0, system_code("clearing"), 20),
        ("p2p_sell", system_code("clearing"), 1, 20),
    ]


def test_pay_as_bid_spread_goes_to_fees():
    """Pay-as-bid: the buyer pays its 0.30, the seller gets its 0.10; the 20-cent spread is the buyer's fee."""
    s = settle_market(_book([0, 1], [1, -1], [2000, 1000], [0.30, 0.10]), order_clearer("pay-as-bid", 0.30, 0.10))
    assert (s.paid_minor.tolist(), s.received_minor.tolist(), s.residual_minor) == ([30, 0], [0, 10], 20)
    assert s.fee_minor.tolist() == [20, 0]
    members, system = s.postings.deltas(2)
    assert members.tolist() == [-30, 10] and system == {"clearing": 0, "fees": 20, "grid": 0, "network": 0}


def test_rounding_is_per_party_not_per_trade():
    """50 sellers of 35 Wh at 0.15 (0.525 cents each): the buyer pays round(26.25) = 26, not 50.

    Each seller receives round(0.525) = 1 cent, so the community's fees account pays the 24-cent
    rounding residual into the clearing account (a reversed p2p_fee posting).
    """
    n = 50
    book = _book([0, *range(1, n + 1)], [1] + [-1] * n, [35 * n] + [35] * n, [0.15] * (n + 1))
    s = settle_market(book, order_clearer("uniform", 0.30, 0.10))
    assert s.paid_minor[0] == 26 and s.payment_minor.sum() == 26
    assert s.received_minor[1:].tolist() == [1] * n
    assert s.residual_minor == 26 - 50
    fee = s.postings.kind == "p2p_fee"
    assert s.postings.debit[fee].tolist() == [system_code("fees")] and s.postings.amount[fee].tolist() == [24]
    assert s.postings.deltas(n + 1)[1]["clearing"] == 0


def test_buyer_over_funds_is_rejected_whole_and_the_rest_clears():
    """A buyer whose trades would cost more than its funds loses all its bids; the next buyer trades instead."""
    book = _book([0, 0, 1, 2], [1, 1, 1, -1], [500, 500, 1000, 1000], [0.30, 0.30, 0.30, 0.10])
    s = settle_market(book, order_clearer("uniform", 0.30, 0.10), funds=[10, 1000, 0])
    assert s.status.tolist() == ["rejected", "rejected", "filled", "filled"]
    assert s.reason[0].startswith("settlement would exceed the wallet: the interval's trades cost 20, funds 10")
    assert not s.admitted[:2].any() and s.paid_minor.tolist() == [0, 20, 0]
    assert set(s.buyer.tolist()) == {1}


def test_admit_orders_in_minor_units():
    """Funds 50 cents (balance 60 − 20 committed elsewhere + 10 credit): the first 30-cent bid fits, the second
    does not; asks need no funds; a member without a wallet has every order rejected."""
    book = _book([0, 0, 1, 2], [1, 1, -1, 1], [1000, 1000, 500, 100], [0.30, 0.30, 0.10, 0.30])
    a = admit_orders(book, [60, 0, 999], [20, 0, 0], [10, 0, 0], has_wallet=[True, True, False])
    assert a.admitted.tolist() == [True, False, True, False]
    assert a.reason[1].startswith("insufficient funds") and a.reason[3] == "no wallet" and a.reason[0] == ""
    assert a.funds_minor.tolist() == [50, 0, 999]
    s = settle_market(book, order_clearer("uniform", 0.30, 0.10), funds=a.funds_minor, admitted=a.admitted,
                      reason=a.reason)  # fmt: skip
    assert s.status.tolist() == ["partial", "rejected", "filled", "rejected"] and s.reason[3] == "no wallet"


def test_admitted_and_reasons_pass_through():
    book = _book([0, 1], [1, -1], [1000, 1000], [0.30, 0.10])
    s = settle_market(book, order_clearer("uniform", 0.30, 0.10), admitted=[False, True], reason=["no wallet", ""])
    assert s.status.tolist() == ["rejected", "unfilled"] and s.reason.tolist() == ["no wallet", ""]
    assert len(s.postings) == 0 and s.n_trades == 0


def test_line_fees_go_to_the_network_account():
    """A clearing that reports an eq. 12 fee of 0.05/kWh: the buyer pays 20 + 5 cents, 5 to ``network``."""

    def clear(b):
        r = uniform_price(b, k=0.5, retail=0.30, feed_in=0.10)
        return Cleared(r, np.full(len(r.trades), 0.05), {"line_fees": 0.05, "feasible": True})

    s = settle_market(_book([0, 1], [1, -1], [1000, 1000], [0.30, 0.10]), clear)
    assert s.paid_minor.tolist() == [25, 0] and s.member_line_fee_minor.tolist() == [5, 0]
    assert s.payment_minor.tolist() == [25] and s.line_fee_minor.tolist() == [5]
    assert s.price_buy.tolist() == pytest.approx([0.25]) and s.fee_minor.tolist() == [5, 0]
    members, system = s.postings.deltas(2)
    assert members.tolist() == [-25, 20] and system["network"] == 5 and system["clearing"] == 0
    summary = s.summary(0.30, 0.10)
    assert summary["network"] is True and summary["line_fees_minor"] == 5 and summary["feasible"] is True


def test_summary_keys():
    s = settle_market(_book([0, 1], [1, -1], [2000, 1000], [0.30, 0.10]), order_clearer("uniform", 0.30, 0.10))
    summary = s.summary(0.30, 0.10)
    assert summary["traded_wh"] == 1000 and summary["n_trades"] == 1 and summary["fees_minor"] == 0
    assert summary["grid_price_buy"] == 0.30 and "network" not in summary
    assert s.summary(0.30, 0.10, network=True)["line_fees_minor"] == 0


# ------------------------------------------------------------------ hand-computed: metered phase
def test_order_book_imbalance_hand_computed():
    """Bought 1 kWh, used 1.2 → 0.2 kWh at 0.30 = 6 cents; sold 1 kWh, fed in 3 kWh, limit 1 kWh → 10 cents."""
    s = settle_orders_metered([1200, -3000], [1000, -1000], 0.30, 0.10, export_limit_wh=1000)
    assert s.grid_import_wh.tolist() == [200, 0] and s.grid_export_wh.tolist() == [0, 2000]
    assert s.grid_paid_minor.tolist() == [6, 0] and s.grid_received_minor.tolist() == [0, 10]
    assert s.bill_minor.tolist() == [6, -10]
    members, system = s.postings.deltas(2)
    assert members.tolist() == [-6, 10] and system["grid"] == -4
    assert s.postings.kind.tolist() == ["grid_import", "grid_export"]
    assert s.summary["grid_paid_minor"] == 6 and s.summary["paid_minor"] == 6 and s.summary["received_minor"] == 10


def test_pool_sdr_hand_computed():
    """SDR, buyer 2 kWh, seller 1 kWh, λb 0.30, λs 0.10: SDR 0.5, p_sell = 0.03/0.2 = 0.15, p_buy = 0.225."""
    s = settle_pool([2000, -1000], 0.30, 0.10, "sdr")
    assert s.bill_minor.tolist() == [45, -15]
    assert (s.bought_wh.tolist(), s.sold_wh.tolist()) == ([1000, 0], [0, 1000])
    assert (s.grid_import_wh.tolist(), s.grid_export_wh.tolist()) == ([1000, 0], [0, 0])
    assert s.summary["price_sell"] == pytest.approx(0.15) and s.summary["p2p_price"] == pytest.approx(0.15)
    assert s.postings.deltas(2)[1]["grid"] == 30  # = λb · 1 kWh the community imports


def test_pool_baseline_and_spilled_export():
    """Baseline: λb/λs each; a 1 kWh export limit leaves 2 of the 3 kWh fed in unpaid."""
    s = settle_pool([1000, -3000], 0.30, 0.10, "baseline", export_limit_wh=1000)
    assert s.bill_minor.tolist() == [30, -10] and s.summary["spilled_wh"] == 2000
    assert s.summary["grid_bill"] == pytest.approx(0.30 - 0.10)


def test_pool_network_charges():
    """Line fee 0.014 → 1 cent, losses 0.1 kWh at λb 0.30 → 3 cents; the operator buys the losses from the grid."""
    s = settle_pool([1000, -1000], 0.30, 0.10, "sdr", network=([0.014, 0.0], [0.1, 0.05]))
    assert s.line_fee_minor.tolist() == [1, 0] and s.loss_charge_minor.tolist() == [3, 2]
    assert s.fee_minor.tolist() == [4, 2]
    members, system = s.postings.deltas(2)
    assert system["network"] == 1 and system["grid"] == int(s.bill_minor.sum() - 6 + 5)
    assert members.sum() + sum(system.values()) == 0
    assert s.postings.kind.tolist()[-1] == "loss_purchase"


def test_pool_p2p_price():
    assert pool_p2p_price(1.5, 0.0, 0.30, 0.30) is None
    assert pool_p2p_price(2.0, 1.0, 0.225, 0.30) == pytest.approx(0.15)


def test_delivery_reputation():
    """A seller that delivered half its promise moves toward 0.5; a member without a position keeps its score."""
    r = delivery_reputation([1.0, 1.0, 0.7], [-1000, 1000, 0], [-500, 1000, 300])
    assert r[0] < 1.0 and r[1] == 1.0 and r[2] == 0.7


def test_export_limit_wh():
    assert export_limit_wh(None, 15) is None
    assert export_limit_wh(4.0, 15) == 1000 and export_limit_wh(0.7, 10) == 116


# ------------------------------------------------------------------ settle_imbalance
def test_settle_imbalance_member_hand_computed():
    imb = settle_imbalance([1.5, -2.0, 0.0], [1.0, 0.0, 0.0], 0.30, 0.10, export_limit=1.0)
    assert imb.import_energy.tolist() == [0.5, 0.0, 0.0] and imb.export_energy.tolist() == [0.0, 2.0, 0.0]
    assert imb.paid_export.tolist() == [0.0, 1.0, 0.0]
    assert imb.charge.tolist() == pytest.approx([0.15, -0.10, 0.0])


def test_settle_imbalance_wh_is_exact():
    """Integer Wh are subtracted before conversion: 50 Wh at 0.30 is exactly the 1.5-cent tie (rounds to 2)."""
    imb = settle_imbalance([1050], [1000], 0.30, 0.10, unit="Wh")
    assert imb.import_energy.tolist() == [50]
    assert imb.minor()[0].tolist() == [int(np.rint(50 / 1000.0 * 0.30 * 100))]


def test_settle_imbalance_connection():
    """At the connection: the bill of what it exchanged minus the bill of what was settled."""
    imb = settle_imbalance(np.array([2.0, -1.0]), np.array([1.0, 1.0]), np.array([0.30, 0.20]), 0.10, at="connection")
    # slot 0: 0.60 − 0.30; slot 1: −0.10 − 0.20
    assert imb.charge.tolist() == pytest.approx([0.30, -0.30])
    pair = settle_imbalance((np.array([3.0]), np.array([1.0])), (np.array([2.0]), np.array([0.0])), 0.30, 0.10,
                            at="connection")  # fmt: skip
    assert pair.charge.tolist() == pytest.approx([0.30 - 0.10])
    same = settle_imbalance((np.array([3.0]), np.array([1.0])), (np.array([3.0]), np.array([1.0])), 0.3, 0.1,
                            at="connection")  # fmt: skip
    assert same.charge.tolist() == [0.0]


def test_settle_imbalance_rejects_unknown_variant():
    with pytest.raises(ConfigError, match="connection"):
        settle_imbalance([1.0], [0.0], 0.3, 0.1, at="pcc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        settle_imbalance([1.0], [0.0], 0.3, 0.1, unit="MWh")  # type: ignore[arg-type]


def test_forecast_imbalance_charge_is_the_member_rule():
    from peergrid.simulate.forecasting import imbalance_charge

    d = np.array([[0.5, -0.2], [0.0, 0.3]])
    lb, ls = np.array([0.3, 0.25]), np.array([0.1, 0.05])
    rule = settle_imbalance(d, 0.0, lb[:, None], ls[:, None]).charge
    np.testing.assert_array_equal(imbalance_charge(d, lb, ls), rule)


# ------------------------------------------------------------------ postings
def test_postings_resolve_and_system_codes():
    p = Postings.concat([Postings.members([5, 0, 7], "grid", "pool_buy", pay=True),
                         Postings.single("network", "grid", 3, "loss_purchase")])  # fmt: skip
    rows = p.resolve([100, 101, 102], {"clearing": 1, "fees": 2, "grid": 3, "network": 4})
    assert rows == [(100, 3, 5, "pool_buy"), (102, 3, 7, "pool_buy"), (4, 3, 3, "loss_purchase")]
    assert [system_code(a) for a in SYSTEM_ACCOUNTS] == [-1, -2, -3, -4]
    with pytest.raises(DataError):
        system_code("bank")
    assert len(Postings.single("fees", "clearing", 0, "p2p_fee")) == 0


# ------------------------------------------------------------------ the simulator's rule
def test_order_bills_is_the_simulators_bill():
    """clear_net's per-member bills (book engine) come from order_bills; the cents of the same book are within 1."""
    rng = np.random.default_rng(3)
    net = np.round(rng.uniform(-2, 2, size=(1, 6)), 3)
    for mech in ORDER_MECHS:
        c = clear_net(net, 0.30, 0.10, mech, engine="book")
        book = orders_from_net(net, 0.30, 0.10)
        result = order_clearer(mech, 0.30, 0.10)(book)
        exact = np.bincount(book.participant, weights=order_bills(result), minlength=6)
        np.testing.assert_allclose(c.bill[0], exact, atol=1e-12)
        cents = settle_orders_interval(book, np.rint(net[0] * 1000).astype(np.int64), 0.30, 0.10, mech).bill
        assert np.all(np.abs(cents - exact * 100) <= 1.0 + 1e-9), mech


def test_pool_interval_equals_pool_settlement():
    b = settle_pool_interval([1500, -700, 0], 0.3, 0.1, "mmr")
    assert b.bill.tolist() == settle_pool([1500, -700, 0], 0.3, 0.1, "mmr").bill_minor.tolist() and b.market is None


# ------------------------------------------------------------------ invariants (hypothesis)
@st.composite
def books(draw):
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 14))
    participant = draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))
    side = draw(st.lists(st.sampled_from([1, -1]), min_size=k, max_size=k))
    wh = draw(st.lists(st.integers(1, 5000), min_size=k, max_size=k))
    cents = draw(st.lists(st.integers(0, 45), min_size=k, max_size=k))
    funds = draw(st.lists(st.integers(0, 3000), min_size=n, max_size=n))
    mech = draw(st.sampled_from(ORDER_MECHS))
    return n, _book(participant, side, wh, np.array(cents) / 100.0), funds, mech


@settings(max_examples=150, deadline=None)
@given(books())
def test_market_postings_balance_money_is_conserved_all_or_nothing(case):
    n, book, funds, mech = case
    s = settle_market(book, order_clearer(mech, 0.45, 0.0), funds=funds, n_members=n)
    members, system = s.postings.deltas(n)
    # every posting is a double entry, positive, between two accounts: the transaction balances
    assert np.all(s.postings.amount > 0) and np.all(s.postings.debit != s.postings.credit)
    assert members.sum() + sum(system.values()) == 0
    # the clearing account passes money through; fees keep the residual; nobody else is touched
    assert system["clearing"] == 0 and system["fees"] == s.residual_minor and system["grid"] == system["network"] == 0
    assert np.array_equal(members, s.received_minor - s.paid_minor)
    assert s.paid_minor.sum() == s.received_minor.sum() + s.residual_minor
    # trades add up to the members' positions and no order is overfilled
    assert s.bought_wh.sum() == s.sold_wh.sum() == s.quantity_wh.sum()
    qwh = np.rint(book.quantity * 1000).astype(np.int64)
    assert np.all(s.filled_wh <= qwh)
    # rounding once per party: every buyer within ½ minor unit of its exact total, never above its funds
    exact = np.bincount(s.buyer, weights=s.quantity_wh * s.price_buy / 10.0, minlength=n)
    assert np.all(np.abs(s.paid_minor - exact) <= 0.5 + 1e-9)
    assert np.all(s.paid_minor <= np.asarray(funds))
    # all or nothing: a member rejected at settlement has none of its bids admitted and buys nothing
    rejected_at_settlement = np.unique(book.participant[s.reason.astype(str) != ""])
    for m in rejected_at_settlement.tolist():
        bids = (book.participant == m) & (book.side > 0)
        assert not s.admitted[bids].any() and s.bought_wh[m] == 0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(-5000, 5000), min_size=1, max_size=8),
    st.sampled_from(POOL_MECHS),
    st.integers(10, 45),
    st.integers(0, 10),
    st.one_of(st.none(), st.integers(0, 3000)),
)
def test_pool_postings_balance_and_bills_match_the_grid(net_wh, mech, buy_cents, sell_cents, limit):
    n = len(net_wh)
    s = settle_pool(net_wh, buy_cents / 100, sell_cents / 100, mech, export_limit_wh=limit)
    members, system = s.postings.deltas(n)
    assert members.sum() + sum(system.values()) == 0 and system["clearing"] == system["fees"] == 0
    assert np.array_equal(members, -s.bill_minor)
    # energy: a member's import = shared + grid, its export = shared + grid; Σ shared bought = Σ shared sold
    net = np.asarray(net_wh)
    assert np.array_equal(np.maximum(net, 0), s.bought_wh + s.grid_import_wh)
    assert np.array_equal(np.maximum(-net, 0), s.sold_wh + s.grid_export_wh)
    assert abs(int(s.bought_wh.sum()) - int(s.sold_wh.sum())) <= n
    # money: Σ bills is the community's grid bill to within ½ minor unit per member
    assert abs(system["grid"] - 100 * s.summary["grid_bill"]) <= 0.5 * n + 1e-6


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-5000, 5000), st.integers(-5000, 5000)), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(0, 3000)),
)
def test_imbalance_postings_balance(pairs, limit):
    net, con = (np.array(x) for x in zip(*pairs, strict=True))
    s = settle_orders_metered(net, con, 0.30, 0.10, export_limit_wh=limit)
    members, system = s.postings.deltas(len(net))
    assert members.sum() + system["grid"] == 0
    assert np.array_equal(s.grid_import_wh - s.grid_export_wh, net - con)
    kwh_limit = None if limit is None else limit / 1000
    exact = settle_imbalance(net / 1000.0, con / 1000.0, 0.30, 0.10, export_limit=kwh_limit)
    assert np.all(np.abs(s.bill_minor - 100 * exact.charge) <= 1.0 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-4000, 4000).filter(lambda x: x != 0), min_size=2, max_size=7),
    st.sampled_from(ORDER_MECHS),
    st.sampled_from(["truthful", "zero-intelligence"]),
    st.integers(0, 1000),
)
def test_cents_are_the_simulators_bills_rounded_once(net_wh, mech, bidding, seed):
    """Metered = planned: each member's cents are within 1 of the simulator's float bill (clear_net, book engine).

    A member is a buyer or a seller of the interval: its trades are rounded once (≤ ½ minor unit) and its
    grid exchange once (≤ ½), against the simulator's exact q·p per trade and residual at λb / λs.
    """
    net = np.array([net_wh]) / 1000.0
    c = clear_net(net, 0.30, 0.10, mech, bidding=bidding, seed=seed, engine="book")
    book = orders_from_net(net, 0.30, 0.10, bidding, seed)
    cents = settle_orders_interval(book, net_wh, 0.30, 0.10, mech).bill
    assert np.all(np.abs(cents - 100 * c.bill[0]) <= 1.0 + 1e-6)
    assert abs(int(cents.sum()) - 100 * float(c.member_bill[0])) <= len(net_wh) + 1e-6
