"""Clearing and settlement: conservation (hypothesis), exactly-once under concurrency, the scheduler."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peergrid.service import clearing, directory, invoices, ledger, orders
from peergrid.service.db import make_engine, session_factory
from peergrid.service.errors import ServiceError
from peergrid.service.metering import ingest_readings
from peergrid.service.models import Account, ClearingRun, LedgerEntry, Order, User
from peergrid.service.testing import make_community, make_user

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=15)


def _interval(k: int) -> dt.datetime:
    return T0 + STEP * (k + 1)


_OPS = {
    "topup": st.tuples(st.just("topup"), st.integers(0, 2), st.integers(1, 3000)),
    "buy": st.tuples(
        st.just("order"),
        st.integers(0, 2),
        st.just("buy"),
        st.integers(0, 2),
        st.integers(1, 4000),
        st.integers(12, 45),
    ),
    "sell": st.tuples(
        st.just("order"),
        st.integers(0, 2),
        st.just("sell"),
        st.integers(0, 2),
        st.integers(1, 4000),
        st.integers(0, 30),
    ),
    "cancel": st.tuples(st.just("cancel"), st.integers(0, 30)),
    "clear": st.tuples(st.just("clear"), st.integers(0, 2)),
    "meter": st.tuples(st.just("meter"), st.integers(0, 2), st.integers(0, 2), st.integers(-3000, 3000)),
    "settle_metered": st.tuples(st.just("settle_metered"), st.integers(0, 2)),
}
_KINDS = ["topup", "buy", "buy", "buy", "sell", "sell", "sell", "cancel", "clear", "meter", "settle_metered"]
ops = st.lists(st.sampled_from(_KINDS).flatmap(_OPS.__getitem__), min_size=10, max_size=40).map(
    lambda seq: [
        ("topup", 0, 2000),
        ("topup", 1, 500),
        ("topup", 2, 1500),
        *seq,
        ("clear", 0),
        ("clear", 1),
        ("clear", 2),
    ]
)


#: A tariff with every component: TOU energy on the Berlin clock (peak in the second interval, 10:30-10:45
#: local), network, reduced local network, tax, VAT, standing and demand charges, feed-in with an export limit
#: of 1 kWh per 15-minute interval (the "meter" ops export up to 3 kWh: spilled energy is exercised).
FULL_TARIFF = {
    "energy": {"type": "tou", "default": 0.20, "periods": [{"price": 0.35, "start": 10.5, "end": 10.75}]},
    "network": 0.08, "local_network": 0.02, "tax_per_kwh": 0.01, "vat": 0.19, "standing_per_day": 0.5,
    "demand_per_kw_month": 7.0, "feed_in": 0.06, "export_limit_kw": 4.0,
}  # fmt: skip


def _run(factory, mechanism, sequence, tariff=None):
    prices = {"tariff": tariff, "tz": "Europe/Berlin"} if tariff else {"retail_price": 0.30, "feed_in_price": 0.10}
    c = make_community(factory, mechanism=mechanism, interval_minutes=15, gate_closure_minutes=5, **prices)
    users = [make_user(factory, role, communities=[c.id]) for role in ("prosumer", "prosumer", "consumer")]
    with factory() as s, s.begin():
        for i, u in enumerate(users):
            directory.add_meter(s, c.id, u.id, f"prop-{c.id}-{i}")
    now = T0
    topups = 0
    placed: list[int] = []
    metered = False
    for op in sequence:
        try:
            if op[0] == "topup":
                with factory() as s, s.begin():
                    directory.topup(s, c.id, users[op[1]].id, op[2])
                topups += op[2]
            elif op[0] == "order":
                _, who, side, k, q, cents = op
                with factory() as s, s.begin():
                    comm = directory.get_community(s, c.id)
                    o, _ = orders.place_order(
                        s, comm, s.get(User, users[who].id), side, _interval(k), q, cents / 100, now
                    )
                    placed.append(o.id)
            elif op[0] == "cancel" and placed:
                with factory() as s, s.begin():
                    comm = directory.get_community(s, c.id)
                    o = s.get(Order, placed[op[1] % len(placed)])
                    orders.cancel_order(s, comm, s.get(User, o.user_id), o.id, now)
            elif op[0] == "clear":
                t = _interval(op[1])
                now = max(now, t - dt.timedelta(minutes=5))
                clearing.settle(factory, c.id, t, "market", now)
            elif op[0] == "meter":
                _, who, k, net = op
                with factory() as s, s.begin():
                    ingest_readings(s, c.id, [{"meter": f"prop-{c.id}-{who}", "ts": _interval(k), "net_wh": net}])
            elif op[0] == "settle_metered":
                t = _interval(op[1])
                if mechanism != "sdr":
                    now = max(now, t - dt.timedelta(minutes=5))
                    clearing.settle(factory, c.id, t, "market", now)
                now = max(now, t + STEP)
                clearing.settle(factory, c.id, t, "metered", now)
                metered = True
        except ServiceError:
            pass  # refused operations (funds, gate, cancelled twice, ...) must leave no trace
    return c, users, topups, metered


@pytest.mark.parametrize(
    ("mechanism", "tariff"),
    [("uniform", None), ("pay-as-bid", None), ("bilateral", None), ("sdr", None), ("uniform", FULL_TARIFF),
     ("sdr", FULL_TARIFF)],
    ids=["uniform", "pay-as-bid", "bilateral", "sdr", "uniform-full-tariff", "sdr-full-tariff"],
)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(sequence=ops)
def test_money_is_conserved_and_ledger_verifies(app, mechanism, tariff, sequence):
    """Σ wallets + grid + fees + clearing = Σ top-ups for any sequence; the ledger verifies; invoices reconcile.

    With a full tariff, issuing the invoices posts the periodic charges (standing, demand, local network,
    VAT): the invariant still holds after them and Σ invoice totals is the money that left the wallets.
    """
    factory = app.state.sessions
    c, users, topups, metered = _run(factory, mechanism, sequence, tariff)
    with factory() as s:
        acc = s.execute(
            sa.select(Account.kind, Account.user_id, Account.balance_minor, Account.credit_limit_minor).where(
                Account.community_id == c.id
            )
        ).all()
        wallets = {u: b for k, u, b, _ in acc if k == "wallet"}
        system = {k: b for k, u, b, _ in acc if k != "wallet"}
        assert sum(wallets.values()) + system["grid"] + system["fees"] + system["clearing"] == topups
        assert system["external"] == -topups
        assert system["clearing"] == 0
        if not metered:  # only mandatory metered settlement may overdraw; trading never does
            assert all(b >= 0 for b in wallets.values())
        # open commitments never exceed the funds
        for u in users:
            committed = orders.open_commitments(s, c.id, u.id)
            assert committed <= wallets[u.id] or metered
        bad = s.execute(sa.select(Order.id).where(Order.community_id == c.id, Order.filled_wh > Order.quantity_wh))
        assert bad.first() is None
        assert ledger.verify(s).ok
    # invoices for the whole period reconcile to the ledger: Σ totals = money that left the wallets
    with factory() as s, s.begin():
        invs = invoices.issue(s, c.id, T0, T0 + STEP * 5)
    with factory() as s:
        acc = s.execute(sa.select(Account.kind, Account.balance_minor).where(Account.community_id == c.id)).all()
        after = sum(b for k, b in acc if k == "wallet")
        assert sum(b for _, b in acc) == 0  # double entry, periodic charges included
        assert sum(i.total_minor for i in invs) == topups - after
        assert all(i.data["components"]["total"] == sum(line["amount_minor"] for line in i.data["lines"][3:])
                   for i in invs)
        if tariff is None:
            assert after == sum(wallets.values())  # a flat tariff has no periodic charges
        assert ledger.verify(s).ok


def _book(factory, n_pairs=3):
    c = make_community(factory, mechanism="uniform", interval_minutes=15, gate_closure_minutes=5)
    buyers = [make_user(factory, "consumer", communities=[c.id]) for _ in range(n_pairs)]
    sellers = [make_user(factory, "prosumer", communities=[c.id]) for _ in range(n_pairs)]
    with factory() as s, s.begin():
        comm = directory.get_community(s, c.id)
        for b, sl in zip(buyers, sellers, strict=True):
            directory.topup(s, c.id, b.id, 10_000)
            orders.place_order(s, comm, s.get(User, b.id), "buy", _interval(0), 1000, 0.3, T0)
            orders.place_order(s, comm, s.get(User, sl.id), "sell", _interval(0), 1000, 0.1, T0)
    return c


def test_exactly_once_with_two_processes(db_url, app):
    """Two independent engines (as two server processes) settle the same interval at once: one wins."""
    c = _book(app.state.sessions)
    engines = [make_engine(db_url) for _ in range(2)]
    factories = [session_factory(e) for e in engines]
    barrier = threading.Barrier(2)
    results: list = []

    def go(f):
        barrier.wait()
        results.append(clearing.settle(f, c.id, _interval(0), "market", T0 + dt.timedelta(minutes=10)))

    threads = [threading.Thread(target=go, args=(f,)) for f in factories]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert sorted(r.status for r in results) == ["already_settled", "settled"]
    with app.state.sessions() as s:
        runs = s.execute(sa.select(ClearingRun).where(ClearingRun.community_id == c.id)).scalars().all()
        assert len(runs) == 1
        n = s.execute(
            sa.select(sa.func.count()).select_from(LedgerEntry).where(LedgerEntry.ref == f"clearing:{runs[0].id}")
        ).scalar()
        assert n == 3 + 3  # one payment per buyer, one receipt per seller, no fees at a uniform price
        assert ledger.verify(s).ok


def test_scheduler_settles_due_phases(app):
    """run_due clears the book at gate closure and settles imbalances after the grace period, once."""
    factory = app.state.sessions
    c = _book(factory, n_pairs=2)
    assert clearing.run_due(factory, T0) == [] or all(o.community_id != c.id for o in clearing.run_due(factory, T0))
    done = [o for o in clearing.run_due(factory, T0 + dt.timedelta(minutes=10)) if o.community_id == c.id]
    assert [(o.phase, o.status) for o in done] == [("market", "settled")]
    assert done[0].summary["traded_wh"] == 2000
    late = T0 + STEP * 2 + dt.timedelta(minutes=31)  # interval end + grace (30 min)
    done = [o for o in clearing.run_due(factory, late) if o.community_id == c.id]
    assert [(o.phase, o.status) for o in done] == [("metered", "settled")]
    assert [o for o in clearing.run_due(factory, late) if o.community_id == c.id] == []


def test_background_scheduler_thread(db_url):
    from fastapi.testclient import TestClient

    from peergrid.service.app import create_app
    from peergrid.service.auth import FAST_AUTH

    now = {"t": T0}
    app = create_app(
        db_url, auth=FAST_AUTH, scheduler=True, scheduler_period_s=0.05, clock=lambda: now["t"], extensions=()
    )
    c = _book(app.state.sessions, n_pairs=1)
    with TestClient(app):
        now["t"] = T0 + dt.timedelta(minutes=10)
        for _ in range(200):
            with app.state.sessions() as s:
                if s.execute(sa.select(ClearingRun.id).where(ClearingRun.community_id == c.id)).first():
                    break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the scheduler did not clear the interval")
    app.state.engine.dispose()
