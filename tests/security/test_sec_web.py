"""Issue 15, the web surface: CSRF, security headers, the request body limit, dashboard form validation, text.

Findings (each test failed on the code before its fix):

7.  CSRF: a page on another port of the same host (same-site, so the SameSite=Strict cookie is
    sent) placed an order for a logged-in member through the dashboard form.
8.  Request bodies had no size limit: a 100 MB unauthenticated body was read in full.
9a. A NUL byte in a top-up memo (and other invalid text) reached the database.
9b. The dashboard order form bypassed the API's limits (price 1e300, 10^9 Wh).
9c. No CSP, frame-ancestors / X-Frame-Options, nosniff, Referrer-Policy or no-store.
"""

from __future__ import annotations

import dataclasses
import json
import re
import select
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, TypeAdapter, ValidationError

from peergrid.service import directory
from peergrid.service import schemas as S
from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH
from peergrid.service.models import Order
from peergrid.service.testing import TEST_PASSWORD, make_community, make_user
from peergrid.service.web import WebSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
from dashboard_support import LiveServer
from mqtt_support import free_port

DASHBOARD = "peergrid.service.dashboard"
BASE = "http://127.0.0.1:8000"  # the TestClient's origin
EVIL = "http://127.0.0.1:8001"  # another port on the same host: same-site, but another origin
MiB = 1 << 20


# ------------------------------------------------------------------------------ fixtures and helpers
@pytest.fixture(scope="module")
def dash_app(db_url, clock):
    """The service with the dashboard mounted (the clock is fixed at 2026-06-01 08:00 UTC)."""
    application = create_app(db_url, auth=FAST_AUTH, clock=clock, extensions=(DASHBOARD,))
    yield application
    application.state.engine.dispose()


def _community(app):
    return make_community(app.state.sessions, interval_minutes=15, gate_closure_minutes=5, mechanism="uniform",
                          retail_price=0.30, feed_in_price=0.10)


def member_session(app, role: str = "prosumer", community=None):
    """A fresh community (unless given) and member with 100.00 in the wallet, logged in through the login form."""
    f = app.state.sessions
    c = community or _community(app)
    u = make_user(f, role, communities=[c.id])
    with f() as s, s.begin():
        directory.topup(s, c.id, u.id, 100_00, memo="welcome")
    cl = TestClient(app, base_url=BASE)
    r = cl.post("/login", data={"email": u.email, "password": TEST_PASSWORD}, headers={"Origin": BASE},
                follow_redirects=False)
    assert r.status_code == 303, r.text
    return cl, c, u


def form_state(cl: TestClient, cid: int) -> tuple[str | None, str]:
    """The CSRF token and the first open interval of the member page's order form."""
    page = cl.get(f"/dashboard/c/{cid}/me")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    interval = re.search(r'name="interval_start">\s*<option value="([^"]+)"', page.text)
    assert interval is not None
    return (token.group(1) if token else None), interval.group(1)


def n_orders(app, user_id: int, status: str | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(Order).where(Order.user_id == user_id)
    if status:
        stmt = stmt.where(Order.status == status)
    with app.state.sessions() as s:
        return int(s.execute(stmt).scalar_one())


def order_form(token: str | None, interval: str, side: str = "buy", qty: str = "1", price: str = "0.20") -> dict:
    form = {"side": side, "interval_start": interval, "quantity_kwh": qty, "price": price}
    if token is not None:
        form["csrf_token"] = token
    return form


# ------------------------------------------------------------------------------ 7. CSRF
def test_cross_origin_post_with_the_victims_cookie_is_refused(dash_app):
    cl, c, u = member_session(dash_app)
    token, interval = form_state(cl, c.id)
    url = f"/dashboard/c/{c.id}/orders"
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Referer": EVIL + "/attack.html"},
                    {"Origin": "http://evil.example"}):
        r = cl.post(url, data=order_form(token, interval), headers=headers, follow_redirects=False)
        assert r.status_code == 403, (headers, r.status_code, r.text[:200])
    assert n_orders(dash_app, u.id) == 0
    # the JSON API called with the session cookie is checked too
    body = {"side": "buy", "interval_start": interval, "quantity_wh": 1000, "price": 0.2}
    r = cl.post(f"/api/communities/{c.id}/orders", json=body, headers={"Origin": EVIL})
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    r = cl.delete(f"/api/communities/{c.id}/orders/1", headers={"Origin": EVIL})
    assert r.status_code == 403
    assert n_orders(dash_app, u.id) == 0
    # ... and so is logging in from another origin (login CSRF)
    r = cl.post("/api/auth/login", json={"email": u.email, "password": TEST_PASSWORD}, headers={"Origin": EVIL})
    assert r.status_code == 403
    # same origin with the cookie works; a bearer token needs no CSRF defence (browsers never attach it)
    r = cl.post(f"/api/communities/{c.id}/orders", json=body, headers={"Origin": BASE})
    assert r.status_code == 201, r.text
    api = TestClient(dash_app, base_url=BASE)
    bearer = api.post("/api/auth/login", json={"email": u.email, "password": TEST_PASSWORD}).json()["access_token"]
    api.cookies.clear()
    r = api.post(f"/api/communities/{c.id}/orders", json={**body, "quantity_wh": 500},
                 headers={"Origin": EVIL, "Authorization": f"Bearer {bearer}"})
    assert r.status_code == 201, r.text
    assert n_orders(dash_app, u.id) == 2


def test_behind_a_trusted_proxy_the_forwarded_origin_is_the_own_origin(db_url, clock):
    """Behind a TLS proxy the browser's origin is the public one; only a trusted proxy's forwarded headers count."""
    auth = dataclasses.replace(FAST_AUTH, trusted_proxies=("10.0.0.1",))
    application = create_app(db_url, auth=auth, clock=clock, extensions=(DASHBOARD,),
                             web=WebSettings(trusted_origins=("https://alias.example.org",), hsts_max_age_s=3600))
    u = make_user(application.state.sessions, "consumer")
    creds = {"email": u.email, "password": TEST_PASSWORD}
    public, fwd = "https://energy.example.org", {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "energy.example.org"}
    via_proxy = TestClient(application, base_url="http://backend:8000", client=("10.0.0.1", 40000))
    direct = TestClient(application, base_url="http://backend:8000", client=("192.0.2.7", 40000))
    try:
        assert via_proxy.post("/api/auth/login", json=creds, headers={"Origin": public, **fwd}).status_code == 200
        assert via_proxy.post("/api/auth/login", json=creds, headers={"Origin": public}).status_code == 403
        assert via_proxy.post("/api/auth/login", json=creds,
                              headers={"Origin": "http://energy.example.org", **fwd}).status_code == 403
        assert direct.post("/api/auth/login", json=creds, headers={"Origin": public, **fwd}).status_code == 403
        alias = {"Origin": "https://alias.example.org"}  # listed in trusted_origins
        assert direct.post("/api/auth/login", json=creds, headers=alias).status_code == 200
        assert direct.post("/api/auth/login", json=creds, headers={"Origin": "http://backend:8000"}).status_code == 200
        # HSTS on responses the browser got over HTTPS only
        assert via_proxy.get("/api/health", headers=fwd).headers["strict-transport-security"].startswith("max-age=3600")
        assert "strict-transport-security" not in direct.get("/api/health", headers=fwd).headers
    finally:
        application.state.engine.dispose()


def test_dashboard_forms_need_the_sessions_csrf_token(dash_app):
    cl, c, u = member_session(dash_app)
    other, _, _ = member_session(dash_app, community=c)
    token, interval = form_state(cl, c.id)
    other_token, _ = form_state(other, c.id)
    assert token and other_token and token != other_token
    page = cl.get(f"/dashboard/c/{c.id}/me").text
    assert page.count('method="post"') == page.count('name="csrf_token"') >= 2  # order form and logout
    url = f"/dashboard/c/{c.id}/orders"
    same = {"Origin": BASE}
    for bad in (None, "", "0" * len(token), other_token, token + "x"):
        r = cl.post(url, data=order_form(bad, interval), headers=same, follow_redirects=False)
        assert r.status_code == 403, (bad, r.status_code)
        assert "text/html" in r.headers["content-type"]
    assert n_orders(dash_app, u.id) == 0
    r = cl.post(url, data=order_form(token, interval), headers=same, follow_redirects=False)
    assert r.status_code == 303 and "placed" in r.headers["location"], r.text
    r = cl.post(url, data=order_form(token, interval, qty="2"), follow_redirects=False)  # no Origin: a non-browser
    assert r.status_code == 303
    assert n_orders(dash_app, u.id, "open") == 2
    with dash_app.state.sessions() as s:
        oid = s.execute(sa.select(Order.id).where(Order.user_id == u.id)).scalars().first()
    cancel = f"/dashboard/c/{c.id}/orders/{oid}/cancel"
    assert cl.post(cancel, data={}, headers=same, follow_redirects=False).status_code == 403
    assert cl.post(cancel, data={"csrf_token": other_token}, headers=same, follow_redirects=False).status_code == 403
    assert n_orders(dash_app, u.id, "open") == 2
    r = cl.post(cancel, data={"csrf_token": token}, headers=same, follow_redirects=False)
    assert r.status_code == 303 and "cancelled" in r.headers["location"]
    assert n_orders(dash_app, u.id, "open") == 1
    # logging out needs the token too (no forced logout); with it the session ends
    assert cl.post("/logout", data={}, headers=same, follow_redirects=False).status_code == 403
    assert cl.get(f"/dashboard/c/{c.id}/me", follow_redirects=False).status_code == 200
    r = cl.post("/logout", data={"csrf_token": token}, headers=same, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    cl.cookies.clear()
    assert cl.get(f"/dashboard/c/{c.id}/me", follow_redirects=False).status_code == 303


# ------------------------------------------------------------------------------ 8. request body limit
def test_an_oversized_body_is_refused_with_413(client):
    big = b'{"email": "' + b"a" * (2 * MiB) + b'", "password": "x"}'
    r = client.post("/api/auth/login", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:200]
    assert r.json()["error"] == "too_large" and "detail" in r.json()
    assert client.get("/api/health").status_code == 200


def test_a_full_readings_batch_fits_its_own_limit(client, world):
    """The readings endpoint admits the largest valid batch (50,000 readings); other routes refuse that size."""
    one = {"meter": "M" * 100, "ts": "2026-06-01T08:00:00+00:00", "import_wh": 10**9, "export_wh": 10**9,
           "pv_wh": 10**9}
    body = json.dumps({"readings": [one] * 50_000, "unexpected": 1}).encode()
    assert 4 * MiB < len(body) < 16 * MiB
    op = {**world.headers["operator"], "Content-Type": "application/json"}
    r = client.post(f"/api/communities/{world.community_id}/readings", content=body, headers=op)
    assert r.status_code == 422, r.text[:200]  # parsed and validated (the extra field), not refused for its size
    r = client.post(f"/api/communities/{world.community_id}/orders", content=body, headers=op)
    assert r.status_code == 413


@pytest.fixture(scope="module")
def live(db_url, clock):
    """The service with the dashboard served by uvicorn on a free port of 127.0.0.1."""
    application = create_app(db_url, auth=FAST_AUTH, clock=clock, extensions=(DASHBOARD,))
    with LiveServer(application) as srv:
        yield application, srv
    application.state.engine.dispose()


def _send_huge_body(port: int, path: str, *, chunked: bool, total: int = 100 * MiB) -> tuple[int, int]:
    """POST ``total`` bytes to the live server; return (status, bytes sent before the response came)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 f"{framing}\r\n\r\n".encode())
    piece = b"a" * 65536
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    sock.settimeout(2)
    try:
        while sent < total:
            sock.sendall(frame)
            sent += len(piece)
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered early
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading
    sock.settimeout(10)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    assert data.startswith(b"HTTP/1.1 "), (data[:100], sent)
    return int(data.split()[1]), sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_100_mb_login_body_is_not_read(live, chunked):
    _, srv = live
    status, sent = _send_huge_body(srv.port, "/api/auth/login", chunked=chunked)
    assert status == 413
    assert sent < 32 * MiB  # refused after about the limit (1 MiB) plus socket buffers, not after 100 MB
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5):
        pass
    import httpx

    assert httpx.get(srv.url + "/api/health").status_code == 200


def test_an_oversized_dashboard_form_is_refused(dash_app):
    cl = TestClient(dash_app, base_url=BASE)
    r = cl.post("/login", data={"email": "x@example.org", "password": "p" * (2 * MiB)}, follow_redirects=False)
    assert r.status_code == 413


# ------------------------------------------------------------------------------ 9a. invalid text
BAD_TEXT = ["\x00", "\ud800", "\udfff", "\x1b[2J", "\x7f", "\x85", "\ufffe"]


@pytest.mark.parametrize("bad", BAD_TEXT, ids=repr)
def test_invalid_text_in_a_topup_memo_is_refused_and_the_app_keeps_working(client, world, bad):
    url = f"/api/communities/{world.community_id}/wallets/{world.uid('prosumer')}/topup"
    op = {**world.headers["operator"], "Content-Type": "application/json"}
    r = client.post(url, content=json.dumps({"amount_minor": 100, "memo": f"a{bad}b"}), headers=op)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and "memo" in r.json()["detail"]
    # the same app (and its database connections) still work, and a memo may span lines
    r = client.post(url, content=json.dumps({"amount_minor": 100, "memo": "line 1\nline 2\ttab"}), headers=op)
    assert r.status_code == 200, r.text
    assert client.get("/api/auth/me", headers=world.headers["prosumer"]).status_code == 200


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\n", "\u202e"], ids=repr)
def test_invalid_text_in_every_free_text_input_is_refused(client, world, bad):
    cid, op, admin = world.community_id, world.headers["operator"], world.headers["admin"]
    cases = [
        ("POST", "/api/auth/login", None, {"email": f"x{bad}@example.org", "password": "whatever-password"}),
        ("POST", "/api/auth/login", None, {"email": "x@example.org", "password": f"pass{bad}word"}),
        ("POST", "/api/users", admin, {"email": f"a{bad}b@example.org", "name": "N", "password": "long-enough-pw",
                                       "role": "consumer"}),
        ("POST", "/api/users", admin, {"email": "ab@example.org", "name": f"N{bad}x", "password": "long-enough-pw",
                                       "role": "consumer"}),
        ("PATCH", f"/api/users/{world.uid('consumer')}", admin, {"name": f"N{bad}x"}),
        ("POST", "/api/communities", admin, {"name": f"C{bad}x"}),
        ("POST", f"/api/communities/{cid}/meters", op, {"user_id": world.uid("prosumer"), "serial": f"S{bad}1"}),
        ("POST", f"/api/communities/{cid}/meters", op, {"user_id": world.uid("prosumer"), "serial": "S-ok",
                                                        "label": f"L{bad}x"}),
        ("POST", f"/api/communities/{cid}/readings", op, {"readings": [{"meter": f"M{bad}x", "import_wh": 1,
                                                                         "ts": "2026-06-01T07:00:00Z"}]}),
        ("POST", f"/api/communities/{cid}/orders", world.headers["prosumer"],
         {"side": "sell", "interval_start": "2026-06-01T09:00:00Z", "quantity_wh": 1, "price": 0.1,
          "idempotency_key": f"k{bad}x"}),
    ]
    if bad in ("\n", "\u202e"):  # any character but NUL and unpaired surrogates is fine in a password
        cases.pop(1)
    for method, url, headers, body in cases:
        r = client.request(method, url, content=json.dumps(body),
                           headers={**(headers or {}), "Content-Type": "application/json"})
        assert r.status_code == 422, (url, body, r.status_code, r.text[:300])
    assert client.get("/api/health").status_code == 200


def test_invalid_text_in_the_idempotency_key_header_is_refused(client, world):
    body = {"side": "sell", "interval_start": "2026-06-01T09:00:00Z", "quantity_wh": 1, "price": 0.1}
    r = client.post(f"/api/communities/{world.community_id}/orders", json=body,
                    headers={**world.headers["prosumer"], "Idempotency-Key": "key\x01one"})
    assert r.status_code == 422, r.text


def _refused_in_line(ch: str) -> bool:
    import unicodedata

    cp = ord(ch)
    return (unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or (cp & 0xFFFE) == 0xFFFE
            or 0xFDD0 <= cp <= 0xFDEF or ch in S.BIDI_CONTROLS)


_ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),  # surrogates included
    st.sampled_from([*sorted(S.BIDI_CONTROLS), "\ufffe", "\U0010ffff", "\ufdd0", "\u2028", "\x85", "\t", "\n", "\r"]),
)


@settings(max_examples=400, deadline=None)
@given(st.text(_ANY_CHAR, max_size=30))
def test_text_types_accept_exactly_the_printable_strings(text):
    """Property: single-line text is accepted iff it has no control, surrogate, non-character, separator or bidi
    control; multi-line text also takes tab, LF and CR; a password refuses only NUL and unpaired surrogates."""
    line, multi = TypeAdapter(S.Line), TypeAdapter(S.Text)
    for adapter, refused in ((line, _refused_in_line),
                             (multi, lambda ch: ch not in "\t\n\r" and _refused_in_line(ch)),
                             (TypeAdapter(Annotated[str, AfterValidator(S.check_password)]),
                              lambda ch: ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF)):
        if any(refused(ch) for ch in text):
            with pytest.raises(ValidationError):
                adapter.validate_python(text)
        else:
            assert adapter.validate_python(text) == text


# ------------------------------------------------------------------------------ 9b. the dashboard order form
@pytest.fixture(scope="module")
def seller(dash_app):
    return member_session(dash_app, "prosumer")


@pytest.mark.parametrize(("side", "qty", "price", "interval"), [
    ("sell", "1", "1e300", None),  # price beyond the API's 10/kWh
    ("sell", "1000000", "0.10", None),  # 10^9 Wh, beyond the API's 10^8
    ("sell", "nan", "0.10", None),
    ("sell", "1", "inf", None),
    ("sell", "1", "-0.5", None),
    ("sell", "0.0001", "0.10", None),  # 0.1 Wh rounds to nothing
    ("sell", "abc", "0.10", None),
    ("sell", "1", "", None),
    ("sell", "1e400", "0.1", None),
    ("hold", "1", "0.10", None),
    ("sell", "1", "0.10", "yesterday"),
    ("sell", "1", "0.10", "2026-06-01T09:07:00+00:00"),  # not an interval boundary
    ("buy", "1000", "9", None),  # insufficient funds
    ("sell", "1", "0.1\x00", None),
])
def test_dashboard_order_form_has_the_api_limits(dash_app, seller, side, qty, price, interval):
    cl, c, u = seller
    token, first = form_state(cl, c.id)
    before = n_orders(dash_app, u.id)
    r = cl.post(f"/dashboard/c/{c.id}/orders", data=order_form(token, interval or first, side, qty, price),
                headers={"Origin": BASE}, follow_redirects=False)
    assert 400 <= r.status_code < 500 and r.status_code != 403, (r.status_code, r.text[:300])
    assert "text/html" in r.headers["content-type"]
    assert re.search(r'<p class="error" role="alert">[^<]+</p>', r.text), r.text[:500]  # the form, with the message
    assert 'id="orders-table"' in r.text
    assert n_orders(dash_app, u.id) == before


def test_dashboard_order_form_places_what_the_api_would(dash_app, seller):
    cl, c, u = seller
    token, first = form_state(cl, c.id)
    r = cl.post(f"/dashboard/c/{c.id}/orders", data=order_form(token, first, "sell", "2.5", "0.1234"),
                headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    with dash_app.state.sessions() as s:
        o = s.execute(sa.select(Order).where(Order.user_id == u.id).order_by(Order.id.desc())).scalars().first()
        assert (o.side, o.quantity_wh, o.price, o.status) == ("sell", 2500, 0.1234, "open")


_FORM_TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["1", "0.1", "1e300", "-0", "nan", "1e-3", "100000",
                                                               "buy", "sell", "2026-06-01T08:15:00+00:00"]))


@settings(max_examples=60, deadline=None)
@given(side=_FORM_TEXT, interval=_FORM_TEXT, qty=_FORM_TEXT, price=_FORM_TEXT)
def test_any_order_form_is_placed_or_shown_again_never_a_5xx(dash_app, seller, side, interval, qty, price):
    """Property: whatever the form holds, the answer is 303 with one more order, or a 4xx page with none."""
    cl, c, u = seller
    token = cl.get(f"/dashboard/c/{c.id}/me").text.split('name="csrf_token" value="')[1].split('"')[0]
    before = n_orders(dash_app, u.id)
    r = cl.post(f"/dashboard/c/{c.id}/orders", data=order_form(token, interval, side, qty, price),
                follow_redirects=False)
    if r.status_code == 303:
        assert n_orders(dash_app, u.id) == before + 1
    else:
        assert 400 <= r.status_code < 500 and r.status_code != 403, (r.status_code, r.text[:300])
        assert 'role="alert"' in r.text and n_orders(dash_app, u.id) == before


def test_dashboard_login_form_refuses_invalid_text(dash_app):
    cl = TestClient(dash_app, base_url=BASE)
    for email, password in (("a\x00b@example.org", "whatever-pass"), ("a\u202e@example.org", "whatever-pass"),
                            ("a@example.org", "pass\x00word")):
        r = cl.post("/login", data={"email": email, "password": password}, follow_redirects=False)
        assert 400 <= r.status_code < 500, r.text[:200]
        assert 'role="alert"' in r.text
    assert cl.get("/login").status_code == 200


def test_dashboard_ids_out_of_range_are_4xx(dash_app):
    """Ids beyond 32 bits never reach the database (SQLite: OverflowError, PostgreSQL: out of range)."""
    cl, c, _ = member_session(dash_app)
    token, _ = form_state(cl, c.id)
    huge = 10**20
    for method, path in (("GET", f"/dashboard/c/{huge}/events"), ("GET", f"/dashboard/c/{huge}/me"),
                         ("GET", f"/dashboard/c/{huge}/community"), ("POST", f"/dashboard/c/{huge}/orders"),
                         ("POST", f"/dashboard/c/{c.id}/orders/{huge}/cancel")):
        r = cl.request(method, path, data={"csrf_token": token} if method == "POST" else None, follow_redirects=False)
        assert 400 <= r.status_code < 500, (path, r.status_code)


# ------------------------------------------------------------------------------ 9c. security headers
def _csp(value: str) -> dict[str, list[str]]:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def test_security_headers_on_api_and_dashboard_responses(dash_app):
    cl, c, u = member_session(dash_app)
    bearer = {"Authorization": "Bearer " + TestClient(dash_app).post(
        "/api/auth/login", json={"email": u.email, "password": TEST_PASSWORD}).json()["access_token"]}
    responses = {
        "health": cl.get("/api/health"),
        "login page": cl.get("/login"),
        "member page": cl.get(f"/dashboard/c/{c.id}/me"),
        "api (cookie)": cl.get("/api/auth/me"),
        "api (bearer)": TestClient(dash_app).get(f"/api/communities/{c.id}/orders", headers=bearer),
        "static": cl.get("/dashboard/static/dashboard.js"),
        "404": cl.get("/api/nothing-here"),
        "401": TestClient(dash_app).get("/api/auth/me"),
        "422": cl.post(f"/api/communities/{c.id}/orders", json={}),
    }
    for name, r in responses.items():
        h = r.headers
        assert h.get("x-content-type-options") == "nosniff", name
        assert h.get("x-frame-options") == "DENY", name
        assert h.get("referrer-policy") == "same-origin", name
        csp = _csp(h.get("content-security-policy", ""))
        assert csp.get("default-src") == ["'self'"], name
        assert csp.get("script-src") == ["'self'"], name
        assert csp.get("object-src") == ["'none'"] and csp.get("frame-ancestors") == ["'none'"], name
        assert csp.get("base-uri") == ["'none'"] and csp.get("form-action") == ["'self'"], name
        assert "unsafe-inline" not in h["content-security-policy"], name
    for name in ("member page", "api (cookie)", "api (bearer)", "login page", "401"):
        assert responses[name].headers.get("cache-control") == "no-store", name
    assert responses["member page"].status_code == 200 and responses["api (bearer)"].status_code == 200


def test_the_docs_keep_working_under_their_own_policy(dash_app):
    r = TestClient(dash_app).get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    csp = _csp(r.headers["content-security-policy"])
    assert csp["script-src"][0] == "'self'" and csp["frame-ancestors"] == ["'none'"]
    assert all(src.startswith("'sha256-") for src in csp["script-src"][1:])  # the inline start-up script only
    assert "https:" not in r.headers["content-security-policy"]  # assets served locally, no CDN
    assert r.headers["x-frame-options"] == "DENY"


def test_pages_have_no_inline_script_handlers_or_styles(dash_app):
    """The CSP forbids inline script and style: the rendered pages carry none (JSON data blocks are not scripts)."""
    f = dash_app.state.sessions
    c1, c2 = _community(dash_app), _community(dash_app)
    op = make_user(f, "operator", communities=[c1.id, c2.id])  # two communities: the switcher is shown
    cl = TestClient(dash_app, base_url=BASE)
    cl.post("/login", data={"email": op.email, "password": TEST_PASSWORD})
    member, _, _ = member_session(dash_app, community=c1)
    pages = [cl.get(f"/dashboard/c/{c1.id}/community").text, member.get(f"/dashboard/c/{c1.id}/me").text,
             TestClient(dash_app).get("/login").text]
    assert 'id="community-switch"' in pages[0]
    for html in pages:
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert all('src="/dashboard/static/' in s or 'type="application/json"' in s for s in scripts), scripts
        assert not re.search(r"\son[a-z]+\s*=", html, re.I)
        assert not re.search(r"\sstyle\s*=|<style\b", html, re.I)
        assert "javascript:" not in html.lower()


# ------------------------------------------------------------------------------ the real browser
class _AttackSite:
    """Another web server on the same host (another port) serving a page that submits the dashboard's order form."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.url = f"http://127.0.0.1:{self.port}/attack.html"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _AttackSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


CSP_WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
             "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")


def _browser_login(page, url: str, email: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/c/**")


def test_in_chromium_a_page_on_another_port_cannot_place_an_order(browser, live):
    app, srv = live
    f = app.state.sessions
    c = _community(app)
    u = make_user(f, "prosumer", communities=[c.id])
    with f() as s, s.begin():
        directory.topup(s, c.id, u.id, 100_00, memo="welcome")
    ctx = browser.new_context()
    page = ctx.new_page()
    _browser_login(page, srv.url, u.email)
    interval = page.locator("#interval option").first.get_attribute("value")
    token = page.locator("form.order input[name=csrf_token]")
    stolen = token.get_attribute("value") if token.count() else ""
    attack = f"""<!doctype html><html><body>
<form id="f" method="post" action="{srv.url}/dashboard/c/{c.id}/orders">
<input name="side" value="buy"><input name="interval_start" value="{interval}">
<input name="quantity_kwh" value="3"><input name="price" value="0.25"><input name="csrf_token" value="{stolen}">
</form><script>document.getElementById("f").submit();</script></body></html>"""
    with _AttackSite(attack) as evil:
        page.goto(evil.url)
        page.wait_for_url(f"{srv.url}/dashboard/c/{c.id}/**")
        page.wait_for_load_state()
        assert "forbidden" in page.inner_text("body").lower() or page.url.endswith("/orders")
    assert n_orders(app, u.id) == 0  # even with a token the attacker somehow knew, the foreign origin is refused
    # the genuine form works in the same browser
    page.goto(f"{srv.url}/dashboard/c/{c.id}/me")
    page.get_by_label("Energy (kWh)").fill("1")
    page.get_by_role("button", name="Place order").click()
    assert "placed" in page.get_by_role("status").inner_text()
    assert n_orders(app, u.id) == 1
    ctx.close()


def test_in_chromium_the_dashboard_works_under_the_csp(browser, live):
    app, srv = live
    f = app.state.sessions
    c1, c2 = _community(app), _community(app)
    op = make_user(f, "operator", communities=[c1.id, c2.id])
    member = make_user(f, "consumer", communities=[c1.id])
    ctx = browser.new_context()
    ctx.add_init_script(CSP_WATCH)
    console: list[str] = []
    page = ctx.new_page()
    page.on("console", lambda m: console.append(m.text))
    _browser_login(page, srv.url, op.email)
    assert page.url.endswith(f"/dashboard/c/{c1.id}/community")
    assert page.locator(".chart svg").count() == 2  # the charts are drawn by the external script
    page.wait_for_function("() => document.querySelector('#live-status').classList.contains('on')", timeout=5000)
    page.select_option("#community-switch", str(c2.id))  # the switcher (was an inline onchange handler)
    page.wait_for_url(f"**/dashboard/c/{c2.id}/community")
    assert page.evaluate("window.__csp") == []
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    _browser_login(page, srv.url, member.email)
    page.wait_for_function("() => document.querySelector('#live-status').classList.contains('on')", timeout=5000)
    assert page.locator(".chart svg").count() == 1
    assert page.evaluate("window.__csp") == []
    assert not [m for m in console if "Content Security Policy" in m], console
    ctx.close()
