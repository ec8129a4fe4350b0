"""RBAC matrix: every /api endpoint × every role (and anonymous), on SQLite and PostgreSQL.

"member" roles act on *another* user's records (prosumer2's meter, order, wallet, invoice), so a
prosumer or consumer must be refused; outsiders (no membership) must not even see the community.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from svc_helpers import make_world

from peergrid.service.testing import make_user

ROLES = ("admin", "operator", "prosumer", "consumer", "outsider", "other_operator", "anon")
MEMBERS = {"admin", "operator", "prosumer", "consumer"}
STAFF = {"admin", "operator"}
OP = {"operator"}
ADMIN = {"admin"}
TRADERS = {"prosumer", "consumer"}
ALL = set(ROLES) - {"anon"}
_n = itertools.count()


def _feeder_doc() -> dict:
    """A 4-bus default feeder as pandapower JSON (the body of PUT /feeder)."""
    import json

    from peergrid.grid import build_feeder
    from peergrid.grid._pp import pandapower

    return json.loads(pandapower().to_json(build_feeder(n_buses=4)))

# (method, path template, body factory or None, roles allowed)
MATRIX = [
    ("GET", "/api/health", None, set(ROLES)),
    ("GET", "/api/auth/me", None, ALL),
    ("POST", "/api/users", lambda x: {"email": f"rbac{next(_n)}@x.org", "name": "n", "password": "rbac-pass-word",
                                      "role": "consumer"}, ADMIN),
    ("GET", "/api/users", None, ADMIN),
    ("GET", "/api/users/{p2}", None, ADMIN),
    ("PATCH", "/api/users/{p2}", lambda x: {"name": "renamed"}, ADMIN),
    ("POST", "/api/communities", lambda x: {"name": f"rbac-community-{next(_n)}-{x['cid']}"}, ADMIN),
    ("GET", "/api/communities", None, ALL),
    ("GET", "/api/communities/{cid}", None, MEMBERS),
    ("PATCH", "/api/communities/{cid}", lambda x: {"k": 0.5}, STAFF),
    ("POST", "/api/communities/{cid}/members", lambda x: {"user_ids": [x["spare"]]}, ADMIN),
    ("GET", "/api/communities/{cid}/members", None, STAFF),
    ("POST", "/api/communities/{cid}/meters", lambda x: {"user_id": x["p2"], "serial": f"rbac-{next(_n)}"}, OP),
    ("GET", "/api/communities/{cid}/meters", None, MEMBERS),
    ("GET", "/api/communities/{cid}/meters/{mid}", None, STAFF),
    ("PATCH", "/api/communities/{cid}/meters/{mid}", lambda x: {"label": "rbac"}, STAFF),
    ("PUT", "/api/communities/{cid}/meters/{mid}/readings", lambda x: {
        "ts": "2026-05-01T03:00:00Z", "import_wh": 1, "export_wh": 0, "reason": "rbac"}, OP),
    ("GET", "/api/communities/{cid}/meters/{mid}/readings", None, STAFF),
    ("POST", "/api/communities/{cid}/readings", lambda x: {"readings": [
        {"meter": x["serial"], "ts": f"2026-05-01T00:{next(_n) % 60:02d}:00Z", "import_wh": 1, "export_wh": 0}]}, OP),
    ("GET", "/api/communities/{cid}/wallets", None, STAFF),
    ("GET", "/api/communities/{cid}/wallets/{p2}", None, STAFF),
    ("POST", "/api/communities/{cid}/wallets/{p2}/topup", lambda x: {"amount_minor": 1}, OP),
    ("PUT", "/api/communities/{cid}/wallets/{p2}/credit", lambda x: {"credit_limit_minor": 0}, OP),
    ("GET", "/api/communities/{cid}/accounts", None, STAFF),
    ("GET", "/api/communities/{cid}/ledger", None, STAFF),
    ("GET", "/api/ledger/verify", None, {"admin", "operator", "other_operator"}),
    ("POST", "/api/communities/{cid}/orders", lambda x: {"side": "buy", "interval_start": x["future"],
                                                         "quantity_wh": 10, "price": 0.1}, TRADERS),
    ("POST", "/api/communities/{cid}/orders/batch", lambda x: {"orders": [
        {"side": "buy", "interval_start": x["future"], "quantity_wh": 10, "price": 0.1}]}, TRADERS),
    ("GET", "/api/communities/{cid}/orders", None, MEMBERS),
    ("GET", "/api/communities/{cid}/orders/{oid}", None, STAFF),
    ("DELETE", "/api/communities/{cid}/orders/{oid}", None, OP),
    ("POST", "/api/communities/{cid}/clearing", lambda x: {"interval_start": x["past"]}, OP),
    ("GET", "/api/communities/{cid}/clearing", None, MEMBERS),
    ("GET", "/api/communities/{cid}/trades", None, MEMBERS),
    ("POST", "/api/communities/{cid}/invoices", lambda x: {"period_start": "2026-05-01T00:00:00Z",
                                                           "period_end": "2026-05-02T00:00:00Z",
                                                           "user_id": x["p2"]}, OP),
    ("GET", "/api/communities/{cid}/invoices", None, MEMBERS),
    ("GET", "/api/communities/{cid}/invoices/{iid}", None, STAFF),
    ("GET", "/api/communities/{cid}/invoices/{iid}/html", None, STAFF),
    ("GET", "/api/communities/{cid}/invoices/{iid}/pdf", None, STAFF),
    ("GET", "/api/communities/{cid}/report", None, STAFF),
    ("GET", "/api/communities/{cid}/users/{p2}/report", None, STAFF),
    ("GET", "/api/communities/{cid}/audit", None, STAFF),
    ("GET", "/api/audit", None, ADMIN),
    # the feeder (last: DELETE removes it again)
    ("PUT", "/api/communities/{cid}/feeder", lambda x: _feeder_doc(), STAFF),
    ("PUT", "/api/communities/{cid}/feeder/members",
     lambda x: {"members": [{"user_id": x["p2"], "bus": 1, "phase": "a"}]}, STAFF),
    ("GET", "/api/communities/{cid}/feeder", None, MEMBERS),
    ("DELETE", "/api/communities/{cid}/feeder", None, STAFF),
]
#: Routes tested elsewhere (they change the caller's own session state).
EXEMPT = {("POST", "/api/auth/login"), ("POST", "/api/auth/logout")}


def _template(path: str) -> str:
    return (path.replace("{community_id}", "{cid}").replace("{user_id}", "{p2}").replace("{meter_id}", "{mid}")
            .replace("{order_id}", "{oid}").replace("{invoice_id}", "{iid}"))


def test_matrix_covers_every_api_route(app):
    routes = {(m.upper(), _template(path)) for path, ops in app.openapi()["paths"].items()
              if path.startswith("/api") for m in ops}
    covered = {(m, p) for m, p, _, _ in MATRIX} | EXEMPT
    assert routes == covered


@pytest.fixture(scope="module")
def setup(app, client, clock):
    clock.now = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
    w = make_world(app, client, interval_minutes=15, mechanism="uniform")
    cid = w.community_id
    op = w.headers["operator"]
    for name in ("prosumer", "consumer", "prosumer2"):
        client.post(f"/api/communities/{cid}/wallets/{w.uid(name)}/topup", headers=op, json={"amount_minor": 10_000})
    meter = client.post(f"/api/communities/{cid}/meters", headers=op,
                        json={"user_id": w.uid("prosumer2"), "serial": f"rbac-p2-{cid}"}).json()
    order = client.post(f"/api/communities/{cid}/orders", headers=w.headers["prosumer2"],
                        json={"side": "sell", "interval_start": "2026-06-01T09:00:00Z", "quantity_wh": 100,
                              "price": 0.1}).json()
    inv = client.post(f"/api/communities/{cid}/invoices", headers=op,
                      json={"period_start": "2026-04-01T00:00:00Z", "period_end": "2026-04-02T00:00:00Z",
                            "user_id": w.uid("prosumer2")}).json()[0]
    spare = make_user(app.state.sessions, "consumer")
    ctx = {"cid": cid, "p2": w.uid("prosumer2"), "mid": meter["id"], "serial": meter["serial"], "oid": order["id"],
           "iid": inv["id"], "spare": spare.id, "future": "2026-06-01T10:00:00Z", "past": "2026-06-01T07:00:00Z"}
    return w, ctx


@pytest.mark.parametrize("method,path,body,allowed", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_rbac(client, setup, method, path, body, allowed):
    w, ctx = setup
    url = path.format(**ctx)
    for role in ROLES:
        headers = {} if role == "anon" else w.headers[role]
        kwargs = {"json": body(ctx)} if body else {}
        r = client.request(method, url, headers=headers, **kwargs)
        if role in allowed:
            assert 200 <= r.status_code < 300, (role, method, url, r.status_code, r.text)
        elif role == "anon":
            assert r.status_code == 401, (role, method, url, r.status_code, r.text)
        else:
            assert r.status_code in (403, 404), (role, method, url, r.status_code, r.text)
            assert r.json()["error"] in ("forbidden", "not_found")


def test_own_records_are_readable(client, setup):
    """The other side of the matrix: prosumer2 reads its own meter, order, wallet, invoice and report."""
    w, ctx = setup
    h = w.headers["prosumer2"]
    for path in ("/api/communities/{cid}/meters/{mid}", "/api/communities/{cid}/orders/{oid}",
                 "/api/communities/{cid}/wallets/{p2}", "/api/communities/{cid}/invoices/{iid}",
                 "/api/communities/{cid}/users/{p2}/report", "/api/users/{p2}"):
        r = client.get(path.format(**ctx), headers=h)
        assert r.status_code == 200, (path, r.text)
    listed = client.get("/api/communities/{cid}/orders".format(**ctx), headers=w.headers["prosumer"]).json()
    assert all(o["user_id"] == w.uid("prosumer") for o in listed["items"])
