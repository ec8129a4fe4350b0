"""End-to-end API behaviour on SQLite and PostgreSQL, with hand-computed settlements."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
import sqlalchemy as sa
from svc_helpers import login, make_world

from peergrid.service import auth as authmod
from peergrid.service.models import Membership
from peergrid.service.testing import TEST_PASSWORD, make_user

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
IV = "2026-06-01T08:15:00Z"  # the traded interval (gate closes 08:10)


def _topup(client, w, name, amount):
    r = client.post(f"/api/communities/{w.community_id}/wallets/{w.uid(name)}/topup",
                    headers=w.headers["operator"], json={"amount_minor": amount})
    assert r.status_code == 200, r.text
    return r.json()


def _order(client, w, name, side, qwh, price, interval=IV, **extra):
    return client.post(f"/api/communities/{w.community_id}/orders", headers=w.headers[name],
                       json={"side": side, "interval_start": interval, "quantity_wh": qwh, "price": price, **extra})


def _balance(client, w, name):
    r = client.get(f"/api/communities/{w.community_id}/wallets/{w.uid(name)}", headers=w.headers["operator"])
    assert r.status_code == 200, r.text
    return r.json()["balance_minor"]


# --------------------------------------------------------------------------- auth
def test_login_bearer_cookie_logout(client, world):
    u = world.users["prosumer"]
    r = client.post("/api/auth/login", json={"email": u.email.upper(), "password": TEST_PASSWORD})
    assert r.status_code == 200
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    token = r.json()["access_token"]
    # the cookie alone authenticates
    assert client.get("/api/auth/me").json()["email"] == u.email
    client.cookies.clear()
    assert client.get("/api/auth/me").status_code == 401
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/auth/me", headers=h).json()["role"] == "prosumer"
    assert client.post("/api/auth/logout", headers=h).status_code == 204
    r = client.get("/api/auth/me", headers=h)
    assert r.status_code == 401 and r.json() == {"error": "unauthorized", "detail": "token revoked: log in again"}


def test_wrong_password_and_rate_limit(app, client, world):
    email = world.users["consumer"].email
    try:
        for _ in range(5):
            r = client.post("/api/auth/login", json={"email": email, "password": "wrong-password"})
            assert r.status_code == 401 and r.json()["detail"] == "wrong email or password"
        r = client.post("/api/auth/login", json={"email": email, "password": TEST_PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        app.state.limiter.clear()
    assert client.post("/api/auth/login", json={"email": email, "password": TEST_PASSWORD}).status_code == 200
    client.cookies.clear()


def test_expired_and_forged_tokens(app, client, world):
    with app.state.sessions() as s:
        key = authmod.signing_key(s, app.state.auth)
    past = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).timestamp())
    uid = str(world.uid("prosumer"))
    expired = jwt.encode({"sub": uid, "jti": "x1", "exp": past}, key, algorithm="HS256")
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    wrong_key = "not-the-signing-key-of-this-service-0123456789"
    forged = jwt.encode({"sub": uid, "jti": "x2", "exp": past + 10**6}, wrong_key, algorithm="HS256")
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_deactivated_user_loses_access(client, world):
    h = world.headers["prosumer2"]
    assert client.get("/api/auth/me", headers=h).status_code == 200
    r = client.patch(f"/api/users/{world.uid('prosumer2')}", headers=world.headers["admin"], json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert client.get("/api/auth/me", headers=h).status_code == 401
    r = client.post("/api/auth/login", json={"email": world.users["prosumer2"].email, "password": TEST_PASSWORD})
    assert r.status_code == 401
    audit = client.get("/api/audit", headers=world.headers["admin"]).json()["items"]
    assert any(a["action"] == "user.update" and a["detail"].get("is_active") is False for a in audit)
    assert all("password" not in str(a["detail"]).lower() or a["detail"].get("password") == "changed" for a in audit)


def test_admin_creates_users_and_communities(client, world):
    h = world.headers["admin"]
    r = client.post("/api/users", headers=h, json={"email": "New.User@Example.org", "name": "New",
                                                   "password": "x-pass-word-1", "role": "consumer"})
    assert r.status_code == 201 and r.json()["email"] == "new.user@example.org"
    assert client.post("/api/users", headers=h, json={"email": "new.user@example.org", "name": "Again",
                                                      "password": "y-passwd-22", "role": "consumer"}).status_code == 409
    r = client.post("/api/users", headers=h, json={"email": "short@example.org", "name": "S", "password": "short",
                                                   "role": "consumer"})
    assert r.status_code == 422 and r.json()["error"] == "invalid" and "password" in r.json()["detail"]
    r = client.post("/api/communities", headers=h, json={"name": f"c-{world.community_id}-x", "retail_price": 0.1,
                                                         "feed_in_price": 0.2})
    assert r.status_code == 422 and "feed_in_price" in r.json()["detail"]


# --------------------------------------------------------------------------- market: hand-computed example
def test_uniform_market_settlement_and_imbalance(app, client, clock, world):
    clock.now = T0
    w = world
    cid = w.community_id
    w.users["buyer2"] = make_user(app.state.sessions, "consumer", communities=[cid])
    w.headers["buyer2"] = login(client, w.users["buyer2"].email)
    _topup(client, w, "consumer", 1000)
    _topup(client, w, "buyer2", 100)
    # eligibility: 10 kWh at 0.20 needs 2.00 > 1.00
    r = _order(client, w, "buyer2", "buy", 10_000, 0.20)
    assert r.status_code == 409 and r.json()["error"] == "insufficient_funds"
    assert "needs 2.00, available 1.00" in r.json()["detail"]
    # consumers cannot sell
    assert _order(client, w, "consumer", "sell", 1000, 0.1).status_code == 403
    # the book of the uniform_price docstring: bids 2 kWh @0.30, 1 kWh @0.20; asks 1.5 kWh @0.10, 3 kWh @0.25
    a = _order(client, w, "consumer", "buy", 2000, 0.30, idempotency_key="a-1")
    assert a.status_code == 201 and a.json()["committed_minor"] == 60
    again = _order(client, w, "consumer", "buy", 2000, 0.30, idempotency_key="a-1")
    assert again.status_code == 200 and again.json()["id"] == a.json()["id"]
    assert _order(client, w, "consumer", "buy", 2001, 0.30, idempotency_key="a-1").status_code == 409
    b = _order(client, w, "buyer2", "buy", 1000, 0.20)
    c = _order(client, w, "prosumer", "sell", 1500, 0.10)
    d = _order(client, w, "prosumer2", "sell", 3000, 0.25)
    assert all(x.status_code == 201 for x in (b, c, d))
    # a cancelled order releases its commitment
    x = _order(client, w, "consumer", "buy", 500, 0.3)
    wallet = client.get(f"/api/communities/{cid}/wallets/{w.uid('consumer')}", headers=w.headers["consumer"]).json()
    assert wallet["committed_minor"] == 60 + 15 and wallet["available_minor"] == 1000 - 75
    r = client.delete(f"/api/communities/{cid}/orders/{x.json()['id']}", headers=w.headers["consumer"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.delete(f"/api/communities/{cid}/orders/{x.json()['id']}",
                         headers=w.headers["consumer"]).status_code == 409
    # clearing before gate closure is refused
    r = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"], json={"interval_start": IV})
    assert r.status_code == 409
    clock.now = T0 + dt.timedelta(minutes=10)  # gate closed
    assert _order(client, w, "consumer", "buy", 100, 0.3).status_code == 409
    assert client.delete(f"/api/communities/{cid}/orders/{b.json()['id']}",
                         headers=w.headers["buyer2"]).status_code == 409
    r = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"], json={"interval_start": IV})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["status"] == "settled" and s["summary"]["traded_wh"] == 2000
    assert s["summary"]["clearing_price"] == pytest.approx(0.275)
    assert s["summary"]["paid_minor"] == 55 and s["summary"]["received_minor"] == 55 and s["summary"]["fees_minor"] == 0
    # exactly once
    r2 = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"], json={"interval_start": IV})
    assert r2.json()["status"] == "already_settled" and r2.json()["id"] == s["id"]
    # 1.5 kWh × 0.275 = 41.25 → 41; 0.5 kWh × 0.275 = 13.75 → 14 (round half to even)
    assert _balance(client, w, "consumer") == 1000 - 55
    assert _balance(client, w, "prosumer") == 41
    assert _balance(client, w, "prosumer2") == 14
    assert _balance(client, w, "buyer2") == 100
    status = {o["id"]: (o["status"], o["filled_wh"]) for o in
              client.get(f"/api/communities/{cid}/orders", headers=w.headers["operator"]).json()["items"]}
    assert status[a.json()["id"]] == ("filled", 2000)
    assert status[b.json()["id"]] == ("unfilled", 0)
    assert status[c.json()["id"]] == ("filled", 1500)
    assert status[d.json()["id"]] == ("partial", 500)
    trades = client.get(f"/api/communities/{cid}/trades", headers=w.headers["prosumer"]).json()["items"]
    assert [(t["quantity_wh"], t["payment_minor"], t["receipt_minor"]) for t in trades] == [(1500, 41, 41)]
    # metering: the buyer consumed 2.5 kWh, the second seller exported only 0.25 of 0.5 kWh
    meters = {}
    for name in ("consumer", "prosumer", "prosumer2"):
        r = client.post(f"/api/communities/{cid}/meters", headers=w.headers["operator"],
                        json={"user_id": w.uid(name), "serial": f"M-{cid}-{name}"})
        assert r.status_code == 201
        meters[name] = r.json()["serial"]
    ups = {"consumer": (2500, 0), "prosumer": (0, 1500), "prosumer2": (0, 250)}
    for name, (imp, exp) in ups.items():
        body = {"readings": [{"meter": meters[name], "ts": "2026-06-01T08:15:00Z", "import_wh": imp,
                              "export_wh": exp}]}
        r = client.post(f"/api/communities/{cid}/readings", headers=w.headers[name], json=body)
        assert r.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    clock.now = T0 + dt.timedelta(minutes=20)
    r = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"],
                    json={"interval_start": IV, "phase": "metered"})
    assert r.status_code == 409  # interval not over
    clock.now = T0 + dt.timedelta(minutes=31)
    r = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"],
                    json={"interval_start": IV, "phase": "metered"})
    assert r.status_code == 200 and r.json()["status"] == "settled"
    # imbalance: buyer +0.5 kWh × 0.30 = 15; seller 2 under-delivered 0.25 kWh → import 0.25 × 0.30 = 7.5 → 8
    assert _balance(client, w, "consumer") == 1000 - 55 - 15
    assert _balance(client, w, "prosumer") == 41
    assert _balance(client, w, "prosumer2") == 14 - 8
    # readings of a settled interval are final
    body = {"readings": [{"meter": meters["consumer"], "ts": "2026-06-01T08:20:00Z", "import_wh": 1, "export_wh": 0}]}
    r = client.post(f"/api/communities/{cid}/readings", headers=w.headers["consumer"], json=body)
    assert r.json()["accepted"] == 0 and "already settled" in r.json()["rejected"][0]["reason"]
    # reputation: seller 2 delivered half of its promise → x = 0.5, r = 0.8·1 + 0.2·0.5 = 0.9
    with app.state.sessions() as sess:
        rep = dict(sess.execute(sa.select(Membership.user_id, Membership.reputation)
                                .where(Membership.community_id == cid)).all())
    assert rep[w.uid("prosumer2")] == pytest.approx(0.9)
    assert rep[w.uid("prosumer")] == pytest.approx(1.0)
    # accounts: clearing is empty, grid got 15 + 8, external mirrors the top-ups
    acc = {a["kind"]: a["balance_minor"] for a in
           client.get(f"/api/communities/{cid}/accounts", headers=w.headers["operator"]).json()}
    assert acc == {"grid": 23, "fees": 0, "clearing": 0, "external": -1100, "network": 0}
    # invoices reconcile to the ledger to the cent
    r = client.post(f"/api/communities/{cid}/invoices", headers=w.headers["operator"],
                    json={"period_start": "2026-06-01T08:00:00Z", "period_end": "2026-06-01T09:00:00Z"})
    assert r.status_code == 201, r.text
    inv = {i["user_id"]: i for i in r.json()}
    assert inv[w.uid("consumer")]["total_minor"] == 70
    assert inv[w.uid("prosumer")]["total_minor"] == -41
    assert inv[w.uid("prosumer2")]["total_minor"] == -6
    assert w.uid("buyer2") not in inv  # unfilled orders only: nothing to bill
    lines = inv[w.uid("consumer")]["data"]["lines"]
    assert lines[0]["energy_kwh"] == 2.0 and lines[0]["amount_minor"] == 55
    assert lines[3]["energy_kwh"] == 0.5 and lines[3]["amount_minor"] == 15
    assert all(i["data"]["reconciled"] and i["data"]["ledger_total_minor"] == i["total_minor"] for i in inv.values())
    again = client.post(f"/api/communities/{cid}/invoices", headers=w.headers["operator"],
                        json={"period_start": "2026-06-01T08:00:00Z", "period_end": "2026-06-01T09:00:00Z"})
    assert sorted(i["id"] for i in again.json()) == sorted(i["id"] for i in inv.values())
    iid = inv[w.uid("consumer")]["id"]
    html = client.get(f"/api/communities/{cid}/invoices/{iid}/html", headers=w.headers["consumer"])
    assert html.status_code == 200 and "text/html" in html.headers["content-type"] and "0.70 EUR" in html.text
    pdf = client.get(f"/api/communities/{cid}/invoices/{iid}/pdf", headers=w.headers["consumer"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert f"Invoice {inv[w.uid('consumer')]['number']}".encode() in pdf.content  # document title
    assert client.get(f"/api/communities/{cid}/invoices/{iid}", headers=w.headers["prosumer"]).status_code == 403
    # reports
    rep = client.get(f"/api/communities/{cid}/report", headers=w.headers["operator"]).json()
    assert rep["traded_kwh"] == 2.0 and rep["grid_import_kwh"] == 0.75 and rep["demand_kwh"] == 2.5
    assert rep["self_sufficiency"] == pytest.approx(1 - 0.75 / 2.5)
    mine = client.get(f"/api/communities/{cid}/users/{w.uid('consumer')}/report", headers=w.headers["consumer"]).json()
    # grid-only: 2.5 kWh × 0.30 = 75; paid 70 → saved 5
    assert mine["grid_only_cost_minor"] == 75 and mine["cost_minor"] == 70 and mine["savings_minor"] == 5
    # the ledger verifies
    v = client.get("/api/ledger/verify", headers=w.headers["operator"]).json()
    assert v["ok"] is True and v["problem"] is None


def test_pool_mechanism_mmr(app, client, clock):
    """MMR with one buyer of 2 kWh and one seller of 1 kWh: buyer pays 0.25/kWh, seller gets 0.20 (sharing.clear)."""
    w = make_world(app, client, interval_minutes=15, mechanism="mmr", retail_price=0.30, feed_in_price=0.10)
    cid = w.community_id
    clock.now = T0
    assert _order(client, w, "consumer", "buy", 100, 0.3).status_code == 422  # pool communities take no orders
    for name in ("consumer", "prosumer"):
        assert client.post(f"/api/communities/{cid}/meters", headers=w.headers["operator"],
                           json={"user_id": w.uid(name), "serial": f"P-{cid}-{name}"}).status_code == 201
    clock.now = T0 + dt.timedelta(minutes=15)  # readings come after the fact (the 08:07:30 one was "future" at 08:00)
    body = {"readings": [{"meter": f"P-{cid}-consumer", "ts": "2026-06-01T08:00:00Z", "import_wh": 1200,
                          "export_wh": 0},
                         {"meter": f"P-{cid}-consumer", "ts": "2026-06-01T08:07:30Z", "net_wh": 800},
                         {"meter": f"P-{cid}-prosumer", "ts": "2026-06-01T08:00:00Z", "import_wh": 0,
                          "export_wh": 1000}]}
    r = client.post(f"/api/communities/{cid}/readings", headers=w.headers["operator"], json=body)
    assert r.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert client.post(f"/api/communities/{cid}/readings", headers=w.headers["operator"],
                       json=body).json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    clock.now = T0 + dt.timedelta(minutes=15)
    r = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"],
                    json={"interval_start": "2026-06-01T08:00:00Z", "phase": "market"})
    assert r.status_code == 422
    r = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"],
                    json={"interval_start": "2026-06-01T08:00:00Z", "phase": "metered"})
    assert r.status_code == 200, r.text
    s = r.json()["summary"]
    assert s["price_buy"] == pytest.approx(0.25) and s["price_sell"] == pytest.approx(0.20)
    assert _balance(client, w, "consumer") == -50  # metered settlement is mandatory (debt)
    assert _balance(client, w, "prosumer") == 20
    acc = {a["kind"]: a["balance_minor"] for a in
           client.get(f"/api/communities/{cid}/accounts", headers=w.headers["operator"]).json()}
    assert acc["grid"] == 30  # the grid bill: 1 kWh imported at 0.30
    inv = client.post(f"/api/communities/{cid}/invoices", headers=w.headers["operator"],
                      json={"period_start": "2026-06-01T00:00:00Z", "period_end": "2026-06-02T00:00:00Z",
                            "user_id": w.uid("consumer")}).json()[0]
    assert inv["total_minor"] == 50 and inv["data"]["lines"][0]["energy_kwh"] == 1.0
    assert inv["data"]["lines"][3]["energy_kwh"] == 1.0


def test_readings_validation_and_ownership(client, clock, world):
    cid = world.community_id
    h = world.headers
    for name in ("prosumer", "consumer"):
        client.post(f"/api/communities/{cid}/meters", headers=h["operator"],
                    json={"user_id": world.uid(name), "serial": f"V-{cid}-{name}"})
    dup = client.post(f"/api/communities/{cid}/meters", headers=h["operator"],
                      json={"user_id": world.uid("consumer"), "serial": f"V-{cid}-consumer"})
    assert dup.status_code == 409
    ok = {"meter": f"V-{cid}-prosumer", "ts": "2026-06-01T07:00:00Z", "import_wh": 1, "export_wh": 0, "pv_wh": 7}
    other = {"meter": f"V-{cid}-consumer", "ts": "2026-06-01T07:00:00Z", "import_wh": 1, "export_wh": 0}
    r = client.post(f"/api/communities/{cid}/readings", headers=h["prosumer"], json={"readings": [ok, other]})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    unknown = {"meter": "nope", "ts": "2026-06-01T07:00:00Z", "import_wh": 1, "export_wh": 0}
    r = client.post(f"/api/communities/{cid}/readings", headers=h["operator"], json={"readings": [ok, unknown]})
    assert r.json()["accepted"] == 1 and r.json()["rejected"] == [
        {"index": 1, "reason": "unknown meter 'nope' in this community", "rule": "unknown_meter"}]
    bad = dict(ok, import_wh=-5)
    r = client.post(f"/api/communities/{cid}/readings", headers=h["prosumer"], json={"readings": [bad]})
    assert r.status_code == 422 and r.json()["error"] == "invalid" and "import_wh" in r.json()["detail"]
    naive = dict(ok, ts="2026-06-01T07:00:00")
    assert client.post(f"/api/communities/{cid}/readings", headers=h["prosumer"],
                       json={"readings": [naive]}).status_code == 422
    mid = client.get(f"/api/communities/{cid}/meters", headers=h["prosumer"]).json()["items"][0]["id"]
    page = client.get(f"/api/communities/{cid}/meters/{mid}/readings?limit=1", headers=h["prosumer"]).json()
    assert page["total"] == 1 and page["items"][0]["import_wh"] == 1 and page["items"][0]["pv_wh"] == 7
    assert client.get(f"/api/communities/{cid}/meters/{mid}/readings",
                      headers=h["consumer"]).status_code == 403


def test_bad_input_is_4xx_json(client, world):
    h = world.headers["operator"]
    cid = world.community_id
    for method, path, body in [
        ("post", f"/api/communities/{cid}/wallets/{world.uid('consumer')}/topup", {"amount_minor": 0}),
        ("post", f"/api/communities/{cid}/wallets/{world.uid('consumer')}/topup", {"amount_minor": "x"}),
        ("post", f"/api/communities/{cid}/clearing", {"interval_start": "2026-06-01T08:07:00Z"}),
        ("get", f"/api/communities/{cid}/wallets/999999", None),
        ("get", "/api/communities/99999999999", None),
        ("get", "/api/nope", None),
        ("post", f"/api/communities/{cid}/invoices", {"period_start": "2026-06-02T00:00:00Z",
                                                     "period_end": "2026-06-01T00:00:00Z"}),
        ("get", f"/api/communities/{cid}/report?start=0001-01-01T00:00:00%2B14:00", None),
        ("post", f"/api/communities/{cid}/clearing", {"interval_start": "9999-12-31T23:45:00-14:00"}),
        ("post", f"/api/communities/{cid}/readings", {"readings": [{"meter": "m", "ts": "2026-01-01T00:00:00Z",
                                                                   "import_wh": 1, "export_wh": 0, "extra": 1}]}),
    ]:
        r = getattr(client, method)(path, headers=h, **({"json": body} if body is not None else {}))
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert set(r.json()) >= {"error", "detail"} and "\n" not in r.json()["detail"]
    r = client.post(f"/api/communities/{cid}/orders", headers=world.headers["consumer"], content=b"{not json",
                    )
    assert r.status_code == 422


def test_pagination(client, world):
    h = world.headers["admin"]
    first = client.get("/api/users?limit=2&offset=0", headers=h).json()
    second = client.get("/api/users?limit=2&offset=2", headers=h).json()
    assert first["total"] == second["total"] >= 7 and len(first["items"]) == 2
    assert {u["id"] for u in first["items"]}.isdisjoint({u["id"] for u in second["items"]})
    assert client.get("/api/users?limit=0", headers=h).status_code == 422
    assert client.get("/api/users?limit=5000", headers=h).status_code == 422


def test_credit_limit_allows_bids_beyond_balance(client, clock, world):
    clock.now = T0
    cid, h = world.community_id, world.headers
    _topup(client, world, "consumer", 100)
    assert _order(client, world, "consumer", "buy", 10_000, 0.15).status_code == 409  # needs 1.50, has 1.00
    r = client.put(f"/api/communities/{cid}/wallets/{world.uid('consumer')}/credit", headers=h["operator"],
                   json={"credit_limit_minor": 50})
    assert r.status_code == 200 and r.json()["available_minor"] == 150
    assert _order(client, world, "consumer", "buy", 10_000, 0.15).status_code == 201
    assert _order(client, world, "consumer", "buy", 10, 0.15).status_code == 409  # funds used up
    audit = client.get(f"/api/communities/{cid}/audit", headers=h["operator"]).json()["items"]
    assert [a["action"] for a in audit][:2] == ["wallet.credit", "wallet.topup"]
    assert client.put(f"/api/communities/{cid}/wallets/{world.uid('consumer')}/credit", headers=h["admin"],
                      json={"credit_limit_minor": 10**6}).status_code == 403
