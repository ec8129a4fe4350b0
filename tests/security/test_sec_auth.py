"""Issue 15, login and tokens: account enumeration by timing (6), owner lockout (8a), spoofed
X-Forwarded-For (8b), tokens valid after a password change (9a), weak passwords (9b).

Every test here failed on the code before the fix. Service tests run on SQLite and PostgreSQL
(``backend``); the ``peergrid serve`` test starts the real CLI server on SQLite.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sec_helpers import FakeClock, run_backoff_sequence
from svc_helpers import login

from peergrid.service import auth as authmod
from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH, AuthSettings, LoginLimiter, password_problem
from peergrid.service.seed import DEMO_PASSWORD
from peergrid.service.testing import TEST_PASSWORD, make_user

WRONG = "not-the-password-1"


def _client(app, address: str) -> TestClient:
    """A client whose socket peer is ``address`` (what the server sees without proxies)."""
    return TestClient(app, client=(address, 40000))


def _login(c: TestClient, email: str, password: str, **headers: str) -> httpx.Response:
    r = c.post("/api/auth/login", json={"email": email, "password": password}, headers=headers)
    c.cookies.clear()
    return r


@pytest.fixture
def fresh_limiter(app):
    app.state.limiter.clear()
    yield app.state.limiter
    app.state.limiter.clear()


# ------------------------------------------------------------------------------ 6: enumeration by timing
VERIFIED: list[str] = []


class CountingHasher(PasswordHasher):
    """A real argon2 hasher that records every verification (the hash it was checked against)."""

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        VERIFIED.append(str(hash))
        return super().verify(hash, password)


@dataclasses.dataclass(frozen=True)
class CountingAuth(AuthSettings):
    def hasher(self) -> PasswordHasher:
        return CountingHasher(time_cost=self.argon2_time_cost, memory_cost=self.argon2_memory_kib, parallelism=1)


@pytest.fixture(scope="module")
def counting_app(db_url, clock):
    application = create_app(db_url, auth=CountingAuth(argon2_time_cost=1, argon2_memory_kib=1024), clock=clock,
                             extensions=())
    yield application
    application.state.engine.dispose()


def test_login_verifies_one_hash_whether_or_not_the_account_exists(counting_app, world):
    c = _client(counting_app, "192.0.2.10")
    known = world.users["prosumer"].email
    disabled = make_user(counting_app.state.sessions, "consumer")
    assert client_patch(counting_app, world, disabled.id, {"is_active": False}).status_code == 200
    bodies = {}
    for label, email in (("known", known), ("unknown", f"nobody-{uuid.uuid4().hex[:8]}@test.peergrid"),
                         ("disabled", disabled.email)):
        VERIFIED.clear()
        r = _login(c, email, WRONG)
        assert r.status_code == 401
        bodies[label] = r.json()
        assert len(VERIFIED) == 1, f"{label} email: {len(VERIFIED)} argon2 verifications"
    assert bodies["known"] == bodies["unknown"] == bodies["disabled"] == {
        "error": "unauthorized", "detail": "wrong email or password"}
    counting_app.state.limiter.clear()


def client_patch(app, world, user_id: int, body: dict) -> httpx.Response:
    with TestClient(app) as c:
        return c.patch(f"/api/users/{user_id}", headers=world.headers["admin"], json=body)


def test_login_takes_as_long_for_an_unknown_email(db_url, clock, backend):
    """With real (if moderate) argon2 costs an unknown email is not measurably faster."""
    cost = AuthSettings(argon2_time_cost=2, argon2_memory_kib=16384)
    application = create_app(db_url, auth=cost, clock=clock, extensions=())
    try:
        u = make_user(application.state.sessions, "consumer")
        with application.state.sessions() as s, s.begin():  # a hash with the app's own costs
            s.get(type(u), u.id).password_hash = cost.hasher().hash(TEST_PASSWORD)
        c = _client(application, "192.0.2.11")
        _login(c, u.email, WRONG)  # warm up (dummy hash made once)
        times: dict[str, list[float]] = {"known": [], "unknown": []}
        for _ in range(4):
            for label, email in (("known", u.email), ("unknown", f"x{uuid.uuid4().hex[:8]}@test.peergrid")):
                application.state.limiter.clear()
                t0 = time.perf_counter()
                assert _login(c, email, WRONG).status_code == 401
                times[label].append(time.perf_counter() - t0)
        known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
        assert unknown >= 0.5 * known, f"unknown {unknown * 1e3:.1f} ms vs known {known * 1e3:.1f} ms"
    finally:
        application.state.engine.dispose()


# ------------------------------------------------------------------------------ 8a: throttling without lockout
def test_failures_from_other_addresses_do_not_lock_the_owner_out(app, world, fresh_limiter):
    owner = world.users["consumer"].email
    for k in range(4):  # four attacker addresses, each until it is throttled
        attacker = _client(app, f"203.0.113.{k + 1}")
        codes = [_login(attacker, owner, f"guess-number-{i}").status_code for i in range(8)]
        assert codes[-1] == 429
    r = _login(_client(app, "198.51.100.7"), owner, TEST_PASSWORD)
    assert r.status_code == 200, r.text


def test_throttled_login_is_429_with_retry_after(app, world, fresh_limiter):
    c = _client(app, "203.0.113.50")
    email = world.users["prosumer2"].email
    assert [_login(c, email, WRONG).status_code for _ in range(5)] == [401] * 5
    r = _login(c, email, TEST_PASSWORD)  # even the right password waits: no oracle while throttled
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 900


def test_password_spraying_from_one_address_is_throttled(app, world, fresh_limiter):
    c = _client(app, "203.0.113.60")
    codes = [_login(c, f"spray{i}-{uuid.uuid4().hex[:6]}@test.peergrid", WRONG).status_code for i in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429
    # the owner of an account, logging in from elsewhere, is not affected
    assert _login(_client(app, "198.51.100.8"), world.users["prosumer"].email, TEST_PASSWORD).status_code == 200


def test_backoff_doubles_is_capped_and_resets_on_success():
    clock = FakeClock()
    lim = LoginLimiter(free_pair=5, free_address=1000, free_account=1000, base_s=1, max_s=900, clock=clock)
    run_backoff_sequence(lim, clock)


def test_many_addresses_get_one_guess_each_once_an_account_is_attacked():
    clock = FakeClock()
    lim = LoginLimiter(free_pair=5, free_address=20, free_account=10, clock=clock)
    for k in range(10):  # the account is under attack
        lim.failure(f"203.0.113.{k}", "victim@x.org")
    assert lim.wait("203.0.113.200", "victim@x.org") == 0  # a new address (or the owner) may try
    lim.failure("203.0.113.200", "victim@x.org")
    assert lim.wait("203.0.113.200", "victim@x.org") > 0  # ... and then waits for the account's back-off
    assert lim.wait("198.51.100.1", "victim@x.org") == 0  # the owner at home still gets in


events = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 3), st.floats(0, 2000, allow_nan=False)), max_size=120
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_property_no_lockout_and_bounded_wait(history):
    """Whatever others did: an address that has not failed may try at once (unless it sprayed itself),
    and no wait is ever longer than the cap."""
    clock = FakeClock()
    lim = LoginLimiter(free_pair=3, free_address=8, free_account=4, base_s=1, max_s=60, forget_s=3600, clock=clock)
    for addr, acct, dt_s in history:
        clock.t += dt_s
        assert lim.wait(f"203.0.113.{addr}", f"u{acct}@x.org") <= 60
        lim.failure(f"203.0.113.{addr}", f"u{acct}@x.org")
        for acct2 in range(4):
            assert lim.wait("198.51.100.1", f"u{acct2}@x.org") == 0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.floats(1, 20000))
def test_property_an_attacker_gets_bounded_guesses(addresses, duration):
    """Guessing as fast as allowed for ``duration`` s from ``addresses`` addresses on one account: at most
    (1 + duration / cap) guesses per address once the account counter is past its free failures, plus the
    free ones and one per back-off step on the way up."""
    clock = FakeClock()
    lim = LoginLimiter(free_pair=5, free_address=20, free_account=10, base_s=1, max_s=900, clock=clock)
    start, guesses = clock.t, 0
    while True:
        waits = [(lim.wait(f"203.0.113.{a}", "v@x.org"), a) for a in range(addresses)]
        w, a = min(waits)
        if clock.t + w > start + duration:
            break
        clock.t += w
        lim.failure(f"203.0.113.{a}", "v@x.org")
        guesses += 1
    steps = 11  # 1, 2, …, 512 s, then the cap (900 s)
    assert guesses <= 10 + addresses * (1 + steps + duration / 900)


# ------------------------------------------------------------------------------ 8b: X-Forwarded-For
@pytest.mark.parametrize(("peer", "xff", "proxies", "expected"), [
    ("127.0.0.1", ["6.6.6.6"], (), "127.0.0.1"),  # no trusted proxy: header ignored
    ("10.0.0.5", ["6.6.6.6"], ("10.0.0.0/8",), "6.6.6.6"),
    ("10.0.0.5", ["6.6.6.6, 1.2.3.4"], ("10.0.0.0/8",), "1.2.3.4"),  # the hop the proxy added wins
    ("10.0.0.5", ["6.6.6.6, 1.2.3.4, 10.0.0.9"], ("10.0.0.0/8",), "1.2.3.4"),  # chained trusted proxies
    ("10.0.0.5", ["1.2.3.4", "10.0.0.9"], ("10.0.0.0/8",), "1.2.3.4"),  # several headers
    ("10.0.0.5", ["garbage, 10.0.0.9"], ("10.0.0.0/8",), "10.0.0.9"),  # malformed: stop at the last good hop
    ("10.0.0.5", ["1.2.3.4:5678"], ("10.0.0.0/8",), "1.2.3.4"),
    ("10.0.0.5", [], ("10.0.0.0/8",), "10.0.0.5"),
    ("192.0.2.1", ["6.6.6.6"], ("10.0.0.0/8",), "192.0.2.1"),  # untrusted peer
    ("::ffff:10.0.0.5", ["6.6.6.6"], ("10.0.0.0/8",), "6.6.6.6"),
    ("testclient", ["6.6.6.6"], ("10.0.0.0/8",), "testclient"),
])
def test_client_address(peer, xff, proxies, expected):
    assert authmod.client_address(peer, xff, authmod.parse_proxies(proxies)) == expected


def test_ipv6_addresses_share_a_bucket_per_64():
    assert authmod.address_key("2001:db8:1:2::1") == authmod.address_key("2001:db8:1:2:ffff::9")
    assert authmod.address_key("2001:db8:1:2::1") != authmod.address_key("2001:db8:1:3::1")


def test_spoofed_forwarded_for_gets_no_fresh_bucket_in_the_app(app, fresh_limiter):
    c = _client(app, "127.0.0.1")
    codes = [_login(c, f"s{i}-{uuid.uuid4().hex[:6]}@test.peergrid", WRONG,
                    **{"X-Forwarded-For": f"198.18.0.{i}"}).status_code for i in range(21)]
    assert codes[20] == 429


def test_forwarded_for_from_a_trusted_proxy_names_the_client(db_url, clock, world):
    proxied = create_app(db_url, auth=dataclasses.replace(FAST_AUTH, trusted_proxies=("10.0.0.0/8",)), clock=clock,
                         extensions=())
    try:
        c = _client(proxied, "10.1.2.3")
        email = world.users["operator"].email
        for i in range(2):  # 2 × 5 failures from two clients behind the proxy: neither throttles the other
            assert [_login(c, email, WRONG, **{"X-Forwarded-For": f"198.18.1.{i}"}).status_code
                    for _ in range(5)] == [401] * 5
        assert _login(c, email, TEST_PASSWORD, **{"X-Forwarded-For": "198.18.1.99"}).status_code == 200
        assert _login(c, email, WRONG, **{"X-Forwarded-For": "198.18.1.0"}).status_code == 429
    finally:
        proxied.state.engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db: str, port: int, *extra: str) -> subprocess.Popen:
    exe = shutil.which("peergrid", path=str(Path(sys.executable).parent)) or "peergrid"
    env = {**os.environ, "PEERGRID_TRUSTED_PROXIES": ""}
    proc = subprocess.Popen([exe, "serve", "--db", db, "--port", str(port), "--tick", "3600", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("peergrid serve did not start: " + proc.stderr.read().decode()[-2000:])


def test_peergrid_serve_ignores_forwarded_for_from_untrusted_local_clients(tmp_path):
    """uvicorn used to believe X-Forwarded-For from 127.0.0.1: every spoofed address was a fresh bucket."""
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    create_app(db, auth=FAST_AUTH, extensions=()).state.engine.dispose()
    port = _free_port()
    proc = _serve(db, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            codes = []
            for i in range(21):
                r = c.post("/api/auth/login", json={"email": f"s{i}@test.peergrid", "password": WRONG},
                           headers={"X-Forwarded-For": f"198.18.2.{i}"})
                codes.append(r.status_code)
        assert codes[:20] == [401] * 20 and codes[20] == 429, codes
    finally:
        proc.terminate()
        proc.wait(30)


def test_peergrid_serve_rejects_a_bad_trusted_proxy(tmp_path):
    exe = shutil.which("peergrid", path=str(Path(sys.executable).parent)) or "peergrid"
    r = subprocess.run([exe, "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--trusted-proxy", "not-an-ip"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not-an-ip" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ 9a: tokens after a password change
def test_password_change_ends_every_session(client, world):
    uid = world.uid("prosumer")
    old = world.headers["prosumer"]
    assert client.get("/api/auth/me", headers=old).status_code == 200
    r = client.patch(f"/api/users/{uid}", headers=world.headers["admin"], json={"password": "a-new-secret-42"})
    assert r.status_code == 200
    r = client.get("/api/auth/me", headers=old)
    assert r.status_code == 401 and "log in again" in r.json()["detail"]
    assert client.post("/api/auth/login", json={"email": world.users["prosumer"].email,
                                                "password": TEST_PASSWORD}).status_code == 401
    new = login(client, world.users["prosumer"].email, "a-new-secret-42")
    assert client.get("/api/auth/me", headers=new).status_code == 200


def test_own_password_change_ends_own_token_too(client, world):
    uid = world.uid("admin")
    h = world.headers["admin"]
    assert client.patch(f"/api/users/{uid}", headers=h, json={"password": "admin-new-secret-7"}).status_code == 200
    assert client.get("/api/auth/me", headers=h).status_code == 401


def test_reactivation_does_not_revive_old_tokens(client, world):
    uid = world.uid("consumer")
    old = world.headers["consumer"]
    admin = world.headers["admin"]
    assert client.patch(f"/api/users/{uid}", headers=admin, json={"is_active": False}).status_code == 200
    assert client.patch(f"/api/users/{uid}", headers=admin, json={"is_active": True}).status_code == 200
    assert client.get("/api/auth/me", headers=old).status_code == 401
    assert client.get("/api/auth/me", headers=login(client, world.users["consumer"].email)).status_code == 200


# ------------------------------------------------------------------------------ 9b: password policy
@pytest.mark.parametrize("password", [
    "password", " " * 8, "\x00" * 8, " " * 12, "\x00" * 12, "password12", "Password123!", "P@ssw0rd-2024",
    "qwertyuiop", "1234567890", "aaaaaaaaaaaa", "abababababab", "line\nbreak-pass", "tab\tseparated",
    "x" * 129, "iloveyou2024", "correcthorsebatterystaple",
])
def test_weak_passwords_are_refused(client, world, password):
    r = client.post("/api/users", headers=world.headers["admin"],
                    json={"email": f"weak-{uuid.uuid4().hex[:8]}@example.org", "name": "W", "password": password,
                          "role": "consumer"})
    assert r.status_code == 422 and r.json()["error"] == "invalid", r.text
    assert "password" in r.json()["detail"] and "\n" not in r.json()["detail"]
    r = client.patch(f"/api/users/{world.uid('consumer')}", headers=world.headers["admin"], json={"password": password})
    assert r.status_code == 422


def test_password_equal_to_the_email_is_refused(client, world):
    email = f"mallory-{uuid.uuid4().hex[:6]}@example.org"
    for pw in (email, email.upper(), email.split("@")[0]):
        r = client.post("/api/users", headers=world.headers["admin"],
                        json={"email": email, "name": "M", "password": pw, "role": "consumer"})
        assert r.status_code == 422 and "email" in r.json()["detail"], pw
    target = world.users["prosumer2"].email
    r = client.patch(f"/api/users/{world.uid('prosumer2')}", headers=world.headers["admin"], json={"password": target})
    assert r.status_code == 422


def test_demo_and_test_passwords_pass_the_policy():
    for pw in (DEMO_PASSWORD, TEST_PASSWORD, "bench-password-1", "bench-password", "Tr0ub4dor&3-horse"):
        assert password_problem(pw) is None, pw
    with pytest.raises(authmod.Invalid):
        authmod.hash_password(FAST_AUTH, "password")


def test_common_password_list_is_shipped():
    words = authmod.common_passwords()
    assert len(words) >= 2000 and {"password", "123456", "qwerty", "iloveyou"} <= words
    assert DEMO_PASSWORD not in words and TEST_PASSWORD not in words


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=140), st.none() | st.emails())
def test_property_accepted_passwords_obey_the_rules(pw, email):
    if password_problem(pw, email) is None:
        assert 10 <= len(pw) <= 128 and pw.strip() and len(set(pw)) >= 5
        assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 or 0xD800 <= ord(ch) < 0xE000 for ch in pw)
        assert email is None or pw.lower() != email.lower()
        assert pw.lower() not in authmod.common_passwords()
