"""The batch order endpoint (POST /api/communities/{id}/orders/batch) on SQLite and PostgreSQL.

All or nothing, the checks of the single-order path applied in batch order, and hostile input
(oversized batches, foreign fields, other members' communities, prices out of bounds, repeated
idempotency keys, a batch that overdraws the wallet only in total). A hypothesis property checks
that a batch stores exactly the orders the one-by-one path stores — or none, naming the first entry
that path refuses.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peergrid.service import directory, ledger, orders
from peergrid.service.errors import ServiceError
from peergrid.service.models import Community, Order, User
from peergrid.service.testing import make_community, make_user

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
IV = dt.datetime(2026, 6, 1, 8, 15, tzinfo=dt.UTC)  # gate closes 08:10


def _topup(client, w, name, amount):
    r = client.post(f"/api/communities/{w.community_id}/wallets/{w.uid(name)}/topup",
                    headers=w.headers["operator"], json={"amount_minor": amount})
    assert r.status_code == 200, r.text


def _batch(client, w, name, entries, cid=None, **kw):
    return client.post(f"/api/communities/{cid or w.community_id}/orders/batch", headers=w.headers[name],
                       json={"orders": entries}, **kw)


def _o(side="buy", q=1000, p=0.2, iv=IV, **extra):
    return {"side": side, "interval_start": iv.isoformat(), "quantity_wh": q, "price": p, **extra}


def _stored(factory, uid):
    with factory() as s:
        return s.execute(sa.select(Order.side, Order.interval_start, Order.quantity_wh, Order.price,
                                   Order.committed_minor, Order.idempotency_key, Order.status)
                         .where(Order.user_id == uid).order_by(Order.id)).all()


def _wallet(client, w, name):
    r = client.get(f"/api/communities/{w.community_id}/wallets/{w.uid(name)}", headers=w.headers[name])
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------- behaviour
def test_batch_stores_all_in_order_with_commitments(client, world, factory):
    _topup(client, world, "prosumer", 10_000)
    entries = [_o("buy", 1500, 0.25), _o("sell", 800, 0.1, iv=IV + dt.timedelta(minutes=15)),
               _o("buy", 333, 0.3333, idempotency_key="k-1")]
    r = _batch(client, world, "prosumer", entries)
    assert r.status_code == 201, r.text
    out = r.json()
    # commitments ⌈q·p/10⌉ cents: 1.5 kWh × 0.25 = 37.5 → 38; 0.333 kWh × 0.3333 = 11.099 → 12
    assert out["created"] == 3 and out["replayed"] == 0 and out["committed_minor"] == 38 + 12
    assert out["ids"] == sorted(out["ids"]) and len(set(out["ids"])) == 3
    rows = _stored(factory, world.uid("prosumer"))
    assert [(x.side, x.quantity_wh, x.price, x.committed_minor, x.idempotency_key, x.status) for x in rows] == [
        ("buy", 1500, 0.25, 38, None, "open"), ("sell", 800, 0.1, 0, None, "open"),
        ("buy", 333, 0.3333, 12, "k-1", "open")]
    assert rows[1].interval_start == IV + dt.timedelta(minutes=15)
    assert _wallet(client, world, "prosumer")["committed_minor"] == 50
    one = client.get(f"/api/communities/{world.community_id}/orders/{out['ids'][2]}",
                     headers=world.headers["prosumer"]).json()
    assert one["idempotency_key"] == "k-1" and one["quantity_wh"] == 333
    # a retry with the same key is a replay: nothing new, the earlier id, 200
    again = _batch(client, world, "prosumer", [entries[2]])
    assert again.status_code == 200 and again.json() == {"created": 0, "replayed": 1, "committed_minor": 0,
                                                         "ids": [out["ids"][2]]}
    # the same key for another order is a conflict naming the entry
    r = _batch(client, world, "prosumer", [_o("buy", 10, 0.1), _o("buy", 334, 0.3333, idempotency_key="k-1")])
    assert r.status_code == 409 and r.json()["index"] == 1 and r.json()["field"] == "idempotency_key"
    assert len(_stored(factory, world.uid("prosumer"))) == 3


def test_batch_same_as_single_path_for_the_same_orders(client, world, factory):
    _topup(client, world, "prosumer", 500)
    _topup(client, world, "prosumer2", 500)
    entries = [_o("buy", 700, 0.21), _o("sell", 100, 0.05), _o("buy", 1234, 0.1999), _o("buy", 1, 0.0)]
    for e in entries:
        r = client.post(f"/api/communities/{world.community_id}/orders", headers=world.headers["prosumer2"], json=e)
        assert r.status_code == 201, r.text
    assert _batch(client, world, "prosumer", entries).status_code == 201
    single, batch = _stored(factory, world.uid("prosumer2")), _stored(factory, world.uid("prosumer"))
    assert single == batch
    assert _wallet(client, world, "prosumer")["committed_minor"] == _wallet(client, world, "prosumer2")[
        "committed_minor"] == 15 + 25 + 0


# --------------------------------------------------------------------------- attacks
def test_batch_exceeding_funds_only_in_total_stores_nothing(client, world, factory):
    _topup(client, world, "consumer", 100)  # 1.00
    each = _o("buy", 1000, 0.3)  # 0.30 each: three fit, the fourth does not
    r = _batch(client, world, "consumer", [each] * 3)
    assert r.status_code == 201
    r = _batch(client, world, "consumer", [_o("buy", 100, 0.01), each])  # 0.01 + 0.30 > 0.10 left
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "insufficient_funds" and body["index"] == 1 and body["field"] == "quantity_wh"
    assert "needs 0.30, available 0.09" in body["detail"]
    assert len(_stored(factory, world.uid("consumer"))) == 3


def test_batch_rounds_commitments_like_the_single_path(client, world, factory):
    # funds 1.00: a bid of 0.501 commits 0.51 (rounded up), so a second of 0.495 no longer fits, as one by one
    _topup(client, world, "prosumer2", 100)
    r = _batch(client, world, "prosumer2", [_o("buy", 1000, 0.501), _o("buy", 1000, 0.495)])
    assert r.status_code == 409 and r.json()["index"] == 1
    assert _stored(factory, world.uid("prosumer2")) == []


def test_batch_count_and_bytes_limits(client, world):
    r = _batch(client, world, "prosumer", [_o("sell")] * (orders.MAX_BATCH + 1))
    assert r.status_code == 422 and "orders" in r.json()["detail"]
    assert _batch(client, world, "prosumer", []).status_code == 422
    big = json.dumps({"orders": [_o("sell", idempotency_key="x" * 100)] * 9000, "pad": "y" * (4 << 20)})
    r = client.post(f"/api/communities/{world.community_id}/orders/batch", headers={
        **world.headers["prosumer"], "content-type": "application/json"}, content=big)
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_batch_rejects_foreign_fields_and_other_communities(client, world, app, factory):
    other = make_community(factory, interval_minutes=15, gate_closure_minutes=5, mechanism="uniform")
    # an order naming a community or a user (mixed communities, another member's account): not accepted
    for extra in ({"community_id": other.id}, {"user_id": world.uid("prosumer2")}):
        r = _batch(client, world, "prosumer", [_o("sell"), _o("sell", **extra)])
        assert r.status_code == 422, r.text
        assert r.json()["index"] == 1 and r.json()["field"] == next(iter(extra))
    # a community the caller is not a member of is not found; operators and admins place no orders
    assert _batch(client, world, "prosumer", [_o("sell")], cid=other.id).status_code == 404
    assert _batch(client, world, "outsider", [_o("sell")]).status_code == 404
    assert _batch(client, world, "operator", [_o("sell")]).status_code == 403
    assert _batch(client, world, "admin", [_o("sell")]).status_code == 403
    assert client.post(f"/api/communities/{world.community_id}/orders/batch", json={"orders": [_o()]}).status_code \
        == 401
    # consumers buy only: the first sell is named
    r = _batch(client, world, "consumer", [_o("buy", 1, 0.0), _o("sell")])
    assert r.status_code == 403 and r.json()["index"] == 1 and r.json()["field"] == "side"


_SCHEMA, _RULES = _o(q=0), _o("sell", iv=T0)  # a later bad entry of the same layer


@pytest.mark.parametrize(("entry", "field", "status", "later"), [
    (_o(p=10.5), "price", 422, _SCHEMA), (_o(p=-0.01), "price", 422, _SCHEMA), (_o(q=0), "quantity_wh", 422, _SCHEMA),
    (_o(q=10**8 + 1), "quantity_wh", 422, _SCHEMA), (_o(side="hold"), "side", 422, _SCHEMA),
    ({**_o(), "interval_start": "2026-06-01T08:15:00"}, "interval_start", 422, _SCHEMA),  # no time zone
    ({**_o(), "price": "NaN"}, "price", 422, _SCHEMA),
    (_o(iv=IV + dt.timedelta(minutes=7)), "interval_start", 422, _RULES),  # not on an interval boundary
    (_o(iv=T0), "interval_start", 409, _RULES),  # gate closed
    (_o(iv=IV + dt.timedelta(days=8)), "interval_start", 422, _RULES),  # beyond the horizon
])
def test_batch_names_the_first_bad_entry(client, world, factory, entry, field, status, later):
    # the schema (types, bounds) is checked before the rules (alignment, gate, horizon, funds)
    r = _batch(client, world, "prosumer", [_o("sell"), _o("sell"), entry, later])
    assert r.status_code == status, r.text
    assert r.json()["index"] == 2 and r.json()["field"] == field
    assert _stored(factory, world.uid("prosumer")) == []


def test_batch_repeated_key_is_refused(client, world, factory):
    r = _batch(client, world, "prosumer", [_o("sell", idempotency_key="a"), _o("sell", idempotency_key="b"),
                                           _o("sell", idempotency_key="a")])
    assert r.status_code == 422 and r.json()["index"] == 2 and r.json()["field"] == "idempotency_key"
    assert _stored(factory, world.uid("prosumer")) == []
    r = _batch(client, world, "prosumer", [_o("sell", idempotency_key="bad\x00key")])
    assert r.status_code == 422 and r.json()["index"] == 0 and r.json()["field"] == "idempotency_key"


def test_batch_pool_community_takes_no_orders(client, app, factory):
    c = make_community(factory, interval_minutes=15, gate_closure_minutes=5, mechanism="sdr")
    u = make_user(factory, "prosumer", communities=[c.id])
    from svc_helpers import login

    r = client.post(f"/api/communities/{c.id}/orders/batch", headers=login(client, u.email),
                    json={"orders": [_o("sell")]})
    assert r.status_code == 422 and "takes no orders" in r.json()["detail"]


# --------------------------------------------------------------------------- property: batch == one by one
_TIMES = [T0, IV, IV + dt.timedelta(minutes=7), IV + dt.timedelta(minutes=15), IV + dt.timedelta(days=8)]
_entry = st.fixed_dictionaries({
    "side": st.sampled_from(["buy", "buy", "sell"]),
    "interval_start": st.sampled_from(_TIMES),
    "quantity_wh": st.integers(1, 3000),
    "price": st.sampled_from([0.0, 0.05, 0.1, 0.2501, 0.3, 0.333]),
    "idempotency_key": st.sampled_from([None, None, None, "p1", "p2", "n1", "n2"]),
})


@pytest.fixture
def trader(factory):
    """A prosumer with 3.00 in the wallet, 0.50 credit, and two earlier orders with keys p1 and p2."""
    c = make_community(factory, interval_minutes=15, gate_closure_minutes=5, mechanism="uniform")
    u = make_user(factory, "prosumer", communities=[c.id])
    with factory() as s, s.begin():
        ext = directory.system_accounts(s, c.id)["external"]
        acc = directory.wallet(s, c.id, u.id)
        ledger.post(s, c.id, [ledger.Transfer(ext, acc.id, 300, "topup")])
        acc.credit_limit_minor = 50
        comm, user = s.get(Community, c.id), s.get(User, u.id)
        orders.place_order(s, comm, user, "buy", IV, 1000, 0.3, T0, "p1")
        orders.place_order(s, comm, user, "sell", IV, 500, 0.1, T0, "p2")
    return c.id, u.id


def _one_by_one(factory, cid, uid, batch):
    """Orders stored and the first error (index, class) placing ``batch`` one by one; rolled back."""
    with factory() as s:
        comm, user = s.get(Community, cid), s.get(User, uid)
        first = None
        for i, e in enumerate(batch):
            try:
                orders.place_order(s, comm, user, e["side"], e["interval_start"], e["quantity_wh"], e["price"], T0,
                                   e["idempotency_key"])
            except ServiceError as exc:
                if first is None:
                    first = (i, type(exc))
        rows = _rows(s, uid)
        s.rollback()
    return rows, first


def _rows(s, uid):
    return s.execute(sa.select(Order.side, Order.interval_start, Order.quantity_wh, Order.price,
                               Order.committed_minor, Order.idempotency_key)
                     .where(Order.user_id == uid).order_by(Order.id)).all()


def _as_batch(factory, cid, uid, batch):
    with factory() as s:
        comm, user = s.get(Community, cid), s.get(User, uid)
        try:
            out = orders.place_orders(s, comm, user, [e["side"] for e in batch],
                                      [e["interval_start"] for e in batch], [e["quantity_wh"] for e in batch],
                                      [e["price"] for e in batch], T0, [e["idempotency_key"] for e in batch])
        except ServiceError as exc:
            s.rollback()
            return _rows(s, uid), (exc.extra["index"], type(exc)), None
        rows = _rows(s, uid)
        s.rollback()
    return rows, None, out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(_entry, min_size=1, max_size=8))
def test_batch_is_the_one_by_one_path_or_nothing(factory, trader, batch):
    cid, uid = trader
    single_rows, single_err = _one_by_one(factory, cid, uid, batch)
    batch_rows, batch_err, out = _as_batch(factory, cid, uid, batch)
    keys = [e["idempotency_key"] for e in batch if e["idempotency_key"]]
    dup = next((i for i, e in enumerate(batch) if e["idempotency_key"]
                and e["idempotency_key"] in [x["idempotency_key"] for x in batch[:i]]), None)
    if batch_err is None:
        assert single_err is None and dup is None and len(keys) == len(set(keys))
        assert batch_rows == single_rows  # the same orders with the same commitments, in the same order
        assert out.created.count(True) == len(batch_rows) - 2
    else:
        assert len(batch_rows) == 2  # nothing stored (the two earlier orders only)
        if dup is not None and (single_err is None or dup <= single_err[0]):
            assert batch_err[0] == dup
        else:
            assert batch_err == single_err


def test_batch_keys_with_array_syntax_round_trip(client, world, factory):
    keys = ['a"b', "c\\d", "{e,f}", "NULL", " g ", "h,i", "ü€😀"]
    r = _batch(client, world, "prosumer", [_o("sell", idempotency_key=k) for k in keys])
    assert r.status_code == 201, r.text
    assert [x.idempotency_key for x in _stored(factory, world.uid("prosumer"))] == keys


def test_batch_local_times_are_stored_in_utc(client, world, factory):
    r = _batch(client, world, "prosumer", [{**_o("sell"), "interval_start": "2026-06-01T10:30:00+02:00"},
                                           {**_o("sell"), "interval_start": "2026-06-01T03:45:00-04:45"}])
    assert r.status_code == 201, r.text
    assert [x.interval_start for x in _stored(factory, world.uid("prosumer"))] == [
        IV + dt.timedelta(minutes=15), dt.datetime(2026, 6, 1, 8, 30, tzinfo=dt.UTC)]
