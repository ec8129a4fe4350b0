"""The lean single-order path (``peergrid.service.orders.place_order_fast``, PostgreSQL) answers as the general path.

Every case is sent twice — with the pipelined fast path on and off — from the same database state
(the order a case stores is deleted before the second run): status and body agree (except the new
order's id and time). Refusals (auth, access, role, market rules, funds) always come from the
general path; on SQLite only the general path runs, and the cases must hold there too.
"""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
import sqlalchemy as sa
from svc_helpers import login

from peergrid.service import auth as authmod
from peergrid.service import orders
from peergrid.service.models import Order, User
from peergrid.service.testing import make_community, make_user

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
IV = dt.datetime(2026, 6, 1, 8, 15, tzinfo=dt.UTC)


def _o(side="buy", q=1000, p=0.2, iv=IV):
    return {"side": side, "interval_start": iv.isoformat(), "quantity_wh": q, "price": p}


def _both(app, client, factory, path, headers, body):
    """(status, body) with the fast path on and off, from the same state."""
    out = []
    for fast in (True, False):
        app.state.fast_orders = fast
        try:
            r = client.post(path, headers=headers, json=body)
        finally:
            app.state.fast_orders = True
        got = r.json()
        if r.status_code in (200, 201):
            with factory() as s, s.begin():
                s.execute(sa.delete(Order).where(Order.id == got["id"]))
            got = {k: v for k, v in got.items() if k not in ("id", "created_at")}
        out.append((r.status_code, got))
    return out


@pytest.fixture
def topped(client, world):
    for name, amount in (("prosumer", 500), ("consumer", 100)):
        r = client.post(f"/api/communities/{world.community_id}/wallets/{world.uid(name)}/topup",
                        headers=world.headers["operator"], json={"amount_minor": amount})
        assert r.status_code == 200
    return world


CASES = {
    "buy": ("prosumer", _o("buy", 1500, 0.25)),
    "sell": ("prosumer", _o("sell", 800, 0.1)),
    "consumer buy": ("consumer", _o("buy", 1000, 0.1)),
    "free bid": ("prosumer", _o("buy", 5000, 0.0)),
    "all funds": ("prosumer", _o("buy", 10_000, 0.5)),  # needs exactly 5.00
    "insufficient funds": ("prosumer", _o("buy", 10_001, 0.5)),
    "consumer sells": ("consumer", _o("sell")),
    "operator": ("operator", _o()),
    "admin": ("admin", _o()),
    "outsider": ("outsider", _o()),
    "gate closed": ("prosumer", _o(iv=T0)),
    "misaligned": ("prosumer", _o(iv=IV + dt.timedelta(minutes=5))),
    "beyond horizon": ("prosumer", _o(iv=IV + dt.timedelta(days=8))),
    "local time": ("prosumer", {**_o(), "interval_start": "2026-06-01T10:15:00+02:00"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_and_general_path_agree(app, client, factory, topped, case):
    name, body = CASES[case]
    fast, general = _both(app, client, factory, f"/api/communities/{topped.community_id}/orders",
                          topped.headers[name], body)
    assert fast == general
    assert fast[0] == (201 if case in ("buy", "sell", "consumer buy", "free bid", "all funds", "local time")
                       else fast[0])


def test_fast_path_agrees_on_tokens_and_communities(app, client, factory, world):
    w = world
    path = f"/api/communities/{w.community_id}/orders"
    sell = _o("sell")
    # a revoked token
    headers = login(client, w.users["prosumer2"].email)
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert _both(app, client, factory, path, headers, sell) == [(401, {"error": "unauthorized",
                                                                      "detail": "token revoked: log in again"})] * 2
    # a token from before a password change (token_version bumped)
    u = make_user(factory, "prosumer", communities=[w.community_id])
    headers = login(client, u.email)
    with factory() as s, s.begin():
        authmod.invalidate_tokens(s.get(User, u.id))
    fast, general = _both(app, client, factory, path, headers, sell)
    assert fast == general and fast[0] == 401
    # a deactivated user, an expired and a forged token, no token
    v = make_user(factory, "prosumer", communities=[w.community_id])
    headers = login(client, v.email)
    with factory() as s, s.begin():
        s.get(User, v.id).is_active = False
    fast, general = _both(app, client, factory, path, headers, sell)
    assert fast == general and fast[1]["detail"] == "account disabled or removed"
    past = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).timestamp())
    expired = jwt.encode({"sub": str(w.uid("prosumer")), "jti": "e1", "exp": past, "ver": 0}, app.state.auth.secret,
                         algorithm="HS256")
    forged = jwt.encode({"sub": str(w.uid("prosumer")), "jti": "f1", "exp": past + 10**6, "ver": 0}, "x" * 40,
                        algorithm="HS256")
    for token in (expired, forged):
        fast, general = _both(app, client, factory, path, {"Authorization": f"Bearer {token}"}, sell)
        assert fast == general and fast[0] == 401
    fast, general = _both(app, client, factory, path, {}, sell)
    assert fast == general and fast[0] == 401
    # a community that does not exist, and a pool community (takes no orders)
    fast, general = _both(app, client, factory, "/api/communities/999999/orders", w.headers["prosumer"], sell)
    assert fast == general and fast[0] == 404
    pool = make_community(factory, interval_minutes=15, gate_closure_minutes=5, mechanism="sdr")
    p = make_user(factory, "prosumer", communities=[pool.id])
    fast, general = _both(app, client, factory, f"/api/communities/{pool.id}/orders", login(client, p.email), sell)
    assert fast == general and fast[0] == 422


def test_fast_path_stores_what_the_general_path_stores(app, backend, factory, world):
    if backend != "postgresql":
        pytest.skip("the pipelined path is PostgreSQL's")
    with factory() as s:
        token = authmod.issue_token(s, app.state.auth, s.get(User, world.uid("prosumer"))).token
    out = orders.place_order_fast(app.state.engine, app.state.auth.secret, token, world.community_id, "sell",
                                  IV, 700, 0.125, T0)
    assert out is not None and out["status"] == "open" and out["committed_minor"] == 0
    with factory() as s:
        row = s.get(Order, out["id"])
        assert (row.user_id, row.interval_start, row.side, row.quantity_wh, row.price, row.idempotency_key,
                row.reason, row.filled_wh) == (world.uid("prosumer"), IV, "sell", 700, 0.125, None, "", 0)
        assert row.created_at == out["created_at"]
    # refusals are never decided here: the general path gets them
    assert orders.place_order_fast(app.state.engine, app.state.auth.secret, token, world.community_id, "buy",
                                   IV, 10**8, 10.0, T0) is None
    assert orders.place_order_fast(app.state.engine, app.state.auth.secret, "not-a-token", world.community_id,
                                   "sell", IV, 1, 0.1, T0) is None


def test_parallel_orders_cannot_overdraw_the_wallet(app, client, factory, world):
    """30 orders at once, each needing just over a tenth of the funds: exactly 9 are placed (the wallet lock)."""
    import asyncio
    import concurrent.futures

    import httpx

    r = client.post(f"/api/communities/{world.community_id}/wallets/{world.uid('prosumer2')}/topup",
                    headers=world.headers["operator"], json={"amount_minor": 1000})
    assert r.status_code == 200
    body = _o("buy", 1001, 1.0)  # 1.001 each of 10.00

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            calls = [http.post(f"/api/communities/{world.community_id}/orders", headers=world.headers["prosumer2"],
                               json=body) for _ in range(30)]
            return [x.status_code for x in await asyncio.wait_for(asyncio.gather(*calls), timeout=120)]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        codes = pool.submit(asyncio.run, run()).result()
    assert sorted(codes) == [201] * 9 + [409] * 21
    wallet = client.get(f"/api/communities/{world.community_id}/wallets/{world.uid('prosumer2')}",
                        headers=world.headers["prosumer2"]).json()
    assert wallet["committed_minor"] == 9 * 101 and wallet["available_minor"] == 1000 - 909
