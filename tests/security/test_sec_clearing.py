"""Issue 15: one member cannot block an interval's clearing.

The attack: a buyer whose wallet holds exactly ⌈q·p⌉ of its bid is matched against 50 tiny
offers. When every trade was rounded to a whole cent on its own (0.525 → 1 cent, 50 times), the
buyer owed 50 cents for an exact 26.25, the ledger's overdraft check failed, the whole interval
was rolled back — on every scheduler tick — and the honest trades of that interval never settled.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from peergrid.service import clearing, directory, ledger, orders
from peergrid.service.models import Account, AuditLog, ClearingRun, Order, Trade, User
from peergrid.service.testing import make_community, make_user

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
IV = T0 + dt.timedelta(minutes=15)  # the interval under attack
GATE = T0 + dt.timedelta(minutes=10)  # gate closed (5 min before IV)

N_TINY = 50
TINY_WH = 15  # 15 Wh × 0.35/kWh = 0.525 cent per trade
BID_WH = N_TINY * TINY_WH  # 750 Wh × 0.35 = 26.25 cents → commits 27
BID_PRICE = 0.35


def _place(factory, cid: int, uid: int, side: str, wh: int, price: float, t: dt.datetime = IV) -> int:
    with factory() as s, s.begin():
        comm = directory.get_community(s, cid)
        o, _ = orders.place_order(s, comm, s.get(User, uid), side, t, wh, price, T0)
        return o.id


def _attacked_community(factory, mechanism: str = "pay-as-bid"):
    """The attacker (buyer + a seller account with 50 tiny offers) and an honest pair in one interval."""
    c = make_community(factory, mechanism=mechanism, interval_minutes=15, gate_closure_minutes=5,
                       retail_price=0.40, feed_in_price=0.05)
    attacker = make_user(factory, "consumer", communities=[c.id])
    tiny_seller = make_user(factory, "prosumer", communities=[c.id])
    honest_buyer = make_user(factory, "consumer", communities=[c.id])
    honest_seller = make_user(factory, "prosumer", communities=[c.id])
    commit = orders.commitment_minor("buy", BID_WH, BID_PRICE)
    assert commit == 27
    with factory() as s, s.begin():
        directory.topup(s, c.id, attacker.id, commit)  # funds exactly cover ⌈q·p⌉
        directory.topup(s, c.id, honest_buyer.id, 10_000)
    ids = {"attack_bid": _place(factory, c.id, attacker.id, "buy", BID_WH, BID_PRICE)}
    ids["tiny"] = [_place(factory, c.id, tiny_seller.id, "sell", TINY_WH, 0.10) for _ in range(N_TINY)]
    ids["honest_bid"] = _place(factory, c.id, honest_buyer.id, "buy", 2000, 0.30)
    ids["honest_ask"] = _place(factory, c.id, honest_seller.id, "sell", 2000, 0.20)
    users = {"attacker": attacker.id, "tiny_seller": tiny_seller.id, "honest_buyer": honest_buyer.id,
             "honest_seller": honest_seller.id}
    return c, users, ids


def _status(factory, oid: int) -> tuple[str, int, str]:
    with factory() as s:
        o = s.get(Order, oid)
        return o.status, o.filled_wh, o.reason


@pytest.mark.parametrize("mechanism", ["pay-as-bid", "uniform"])
def test_tiny_offers_attack_does_not_block_the_interval(factory, mechanism):
    """After the attack the interval clears: honest trades settle, wallets stay in their limits, ledger verifies."""
    c, users, ids = _attacked_community(factory, mechanism)
    outcomes = [o for o in clearing.run_due(factory, GATE) if o.community_id == c.id]
    assert [(o.phase, o.status) for o in outcomes] == [("market", "settled")]
    assert _status(factory, ids["honest_bid"])[:2] == ("filled", 2000)
    assert _status(factory, ids["honest_ask"])[:2] == ("filled", 2000)
    assert _status(factory, ids["attack_bid"])[0] in ("filled", "rejected")
    with factory() as s:
        accounts = s.execute(sa.select(Account).where(Account.community_id == c.id)).scalars().all()
        for a in accounts:
            if a.kind == "wallet":
                assert a.balance_minor >= -a.credit_limit_minor, (a.user_id, a.balance_minor)
        wallet = {a.user_id: a.balance_minor for a in accounts if a.kind == "wallet"}
        system = {a.kind: a.balance_minor for a in accounts if a.kind != "wallet"}
        assert system["clearing"] == 0
        assert sum(wallet.values()) + system["fees"] + system["grid"] == -system["external"]
        # every buyer pays at most what the wallet check admitted: ⌈q·p⌉ of the bid
        assert 27 - wallet[users["attacker"]] <= 27
        trades = s.execute(sa.select(Trade).where(Trade.community_id == c.id)).scalars().all()
        paid = sum(t.payment_minor for t in trades if t.buyer_id == users["attacker"])
        assert paid == 27 - wallet[users["attacker"]]
        if mechanism == "pay-as-bid":  # 26.25 cents exactly, rounded once for the buyer's total
            assert paid == 26
            assert all(abs(t.payment_minor - t.quantity_wh * t.price_buy / 10) < 1 for t in trades)
        assert ledger.verify(s).ok


def test_an_order_the_wallet_cannot_settle_is_rejected_alone(factory, monkeypatch):
    """Should a buyer's settlement exceed its funds anyway, its bids are rejected with a reason; the rest clears."""
    c, _, ids = _attacked_community(factory)
    from peergrid.market import money
    from peergrid.market import settle as settle_core

    real = money.settle_trades

    def greedy(*args, **kwargs):  # every trade rounded up on its own: the worst case of any rounding rule
        out = real(*args, **kwargs)
        return dataclasses.replace(out, payment=np.ceil(out.payment_exact - 1e-9).astype(np.int64))

    monkeypatch.setattr(settle_core, "settle_trades", greedy)  # the settlement core's rounding
    out = clearing.settle(factory, c.id, IV, "market", GATE)
    assert out.status == "settled"
    status, filled, reason = _status(factory, ids["attack_bid"])
    assert (status, filled) == ("rejected", 0)
    assert "exceed" in reason and "27" in reason
    assert _status(factory, ids["honest_bid"])[:2] == ("filled", 2000)  # now buys the tiny offers too
    assert all(_status(factory, o)[:2] == ("filled", TINY_WH) for o in ids["tiny"])
    assert out.summary["n_rejected"] == 1
    with factory() as s:
        assert ledger.verify(s).ok


def test_a_failing_interval_backs_off_and_is_recorded(factory, monkeypatch, caplog):
    """A phase that keeps failing is retried with exponential back-off, logged and audited — not every tick."""
    c, _, _ = _attacked_community(factory)
    calls = []
    real_settle = clearing.settle

    def broken(f, cid, t, phase="market", now=None):
        if cid == c.id:
            calls.append(t)
            raise clearing.Conflict("simulated persistent failure")
        return real_settle(f, cid, t, phase, now)

    monkeypatch.setattr(clearing, "settle", broken)
    tick = {"t": 0.0}
    backoff = clearing.Backoff(base_s=10.0, max_s=80.0, clock=lambda: tick["t"])
    caplog.set_level(logging.WARNING, logger="peergrid.service.clearing")
    for _ in range(600):  # ten minutes of 1-second ticks
        clearing.run_due(factory, GATE, backoff=backoff)
        tick["t"] += 1.0
    # attempts at t = 0, 10, 30, 70, 150, 230, …, 550 s (delays 10, 20, 40, 80, 80, … s): 10, not 600
    assert 6 <= len(calls) <= 10, len(calls)
    failing = [f for f in backoff.failures() if f["community_id"] == c.id]
    assert len(failing) == 1 and failing[0]["attempts"] == len(calls)
    assert "simulated persistent failure" in failing[0]["error"]
    assert any("simulated persistent failure" in r.getMessage() for r in caplog.records)
    with factory() as s:
        audits = s.execute(
            sa.select(AuditLog).where(AuditLog.community_id == c.id, AuditLog.action == "clearing.failed")
        ).scalars().all()
    assert len(audits) == len(calls)
    assert audits[0].detail["phase"] == "market" and audits[0].detail["attempt"] == 1
    # once the cause is gone the phase settles on its next retry and the failure is forgotten
    monkeypatch.setattr(clearing, "settle", real_settle)
    tick["t"] += 100.0
    done = [o for o in clearing.run_due(factory, GATE, backoff=backoff) if o.community_id == c.id]
    assert [(o.phase, o.status) for o in done] == [("market", "settled")]
    assert [f for f in backoff.failures() if f["community_id"] == c.id] == []
    with factory() as s:
        assert s.execute(sa.select(ClearingRun.id).where(ClearingRun.community_id == c.id)).first() is not None


_bids = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 600), st.integers(1, 60)), min_size=1, max_size=4)
_asks = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 40), st.integers(0, 20)), min_size=20, max_size=50)


@pytest.mark.parametrize("mechanism", ["pay-as-bid", "uniform", "bilateral", "mcafee"])
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(bids=_bids, asks=_asks)
@example(bids=[(0, BID_WH, 35)], asks=[(i % 3, TINY_WH, 10) for i in range(N_TINY)])  # the attack
def test_wallets_funded_to_the_cent_always_settle(app, mechanism, bids, asks):
    """Buyers funded with exactly ⌈q·p⌉ of their bids, any tiny asks: the interval settles, nobody overdraws."""
    factory = app.state.sessions
    c = make_community(factory, mechanism=mechanism, interval_minutes=15, gate_closure_minutes=5,
                       retail_price=0.60, feed_in_price=0.0)
    buyers = [make_user(factory, "consumer", communities=[c.id]) for _ in range(3)]
    sellers = [make_user(factory, "prosumer", communities=[c.id]) for _ in range(3)]
    need = [sum(orders.commitment_minor("buy", wh, cents / 100) for who, wh, cents in bids if who == i)
            for i in range(3)]
    with factory() as s, s.begin():
        for b, n in zip(buyers, need, strict=True):
            if n:
                directory.topup(s, c.id, b.id, n)
    for who, wh, cents in bids:
        _place(factory, c.id, buyers[who].id, "buy", wh, cents / 100)
    for who, wh, cents in asks:
        _place(factory, c.id, sellers[who].id, "sell", wh, cents / 100)
    out = clearing.settle(factory, c.id, IV, "market", GATE)
    assert out.status == "settled"
    with factory() as s:
        acc = s.execute(sa.select(Account).where(Account.community_id == c.id)).scalars().all()
        wallet = {a.user_id: a.balance_minor for a in acc if a.kind == "wallet"}
        system = {a.kind: a.balance_minor for a in acc if a.kind != "wallet"}
        assert all(v >= 0 for v in wallet.values())  # market trades never overdraw (credit 0)
        assert system["clearing"] == 0 and sum(wallet.values()) + system["fees"] == sum(need)
        trades = s.execute(sa.select(Trade).where(Trade.community_id == c.id)).scalars().all()
        for t in trades:
            assert abs(t.payment_minor - t.quantity_wh * t.price_buy / 10) < 1 + 1e-9
            assert abs(t.receipt_minor - t.quantity_wh * min(t.price_sell, t.price_buy) / 10) < 1 + 1e-9
        assert not s.execute(sa.select(Order.id).where(Order.community_id == c.id, Order.status == "open")).first()
        assert out.summary["n_rejected"] == 0  # funded to the cent: nothing had to be turned away
        assert ledger.verify(s).ok
