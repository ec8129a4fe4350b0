"""Issue 15, login throttle shared by every server process of one database.

The counters used to live in the memory of each server process: with ``peergrid serve --workers N``
an attacker got N times the guesses, and a restart forgot every counter. Two ``create_app`` on the
same database are two server processes here. Runs on SQLite and PostgreSQL (``backend``).
"""

from __future__ import annotations

import concurrent.futures as cf

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sec_helpers import FakeClock, run_backoff_sequence

from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH, DatabaseLoginStore, LoginLimiter, MemoryLoginStore, login_keys
from peergrid.service.models import LoginFailure
from peergrid.service.testing import TEST_PASSWORD

WRONG = "not-the-password-2"


def _client(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


def _login(app, address: str, email: str, password: str) -> httpx.Response:
    with _client(app, address) as c:
        return c.post("/api/auth/login", json={"email": email, "password": password})


@pytest.fixture(scope="module")
def other_app(db_url, clock):
    """A second server process on the same database."""
    application = create_app(db_url, auth=FAST_AUTH, clock=clock, extensions=())
    yield application
    application.state.engine.dispose()


@pytest.fixture
def fresh(app):
    app.state.limiter.clear()
    yield
    app.state.limiter.clear()


def test_two_server_processes_share_the_throttle(app, other_app, world, fresh):
    email = world.users["consumer"].email
    assert [_login(app, "203.0.113.70", email, WRONG).status_code for _ in range(5)] == [401] * 5
    r = _login(other_app, "203.0.113.70", email, TEST_PASSWORD)  # the 6th attempt, through the other process
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
    # the owner, from another address, still gets in through either process
    assert _login(other_app, "198.51.100.70", email, TEST_PASSWORD).status_code == 200


def test_spraying_across_processes_counts_once(app, other_app, fresh):
    codes = [_login((app, other_app)[i % 2], "203.0.113.71", f"spray{i}@test.peergrid", WRONG).status_code
             for i in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429, codes


def test_counters_survive_a_restart(db_url, clock, world, app, fresh):
    email = world.users["prosumer"].email
    first = create_app(db_url, auth=FAST_AUTH, clock=clock, extensions=())
    try:
        assert [_login(first, "203.0.113.72", email, WRONG).status_code for _ in range(5)] == [401] * 5
    finally:
        first.state.engine.dispose()
    restarted = create_app(db_url, auth=FAST_AUTH, clock=clock, extensions=())
    try:
        assert _login(restarted, "203.0.113.72", email, TEST_PASSWORD).status_code == 429
        assert _login(restarted, "198.51.100.72", email, TEST_PASSWORD).status_code == 200
    finally:
        restarted.state.engine.dispose()


def test_success_in_one_process_forgets_the_pair_in_the_other(app, other_app, world, fresh):
    email = world.users["prosumer2"].email
    assert [_login(app, "203.0.113.73", email, WRONG).status_code for _ in range(4)] == [401] * 4
    assert _login(other_app, "203.0.113.73", email, TEST_PASSWORD).status_code == 200
    # the (address, account) counter starts again: five more free failures through the first process
    assert [_login(app, "203.0.113.73", email, WRONG).status_code for _ in range(5)] == [401] * 5
    assert _login(other_app, "203.0.113.73", email, WRONG).status_code == 429


# ------------------------------------------------------------------------------ the store itself
def _db_limiter(app, clock: FakeClock, **kw) -> LoginLimiter:
    return LoginLimiter(clock=clock, store=DatabaseLoginStore(app.state.sessions), **kw)


def _rows(app) -> list[tuple[str, str, int, float]]:
    with app.state.sessions() as s:
        q = sa.select(LoginFailure.kind, LoginFailure.key, LoginFailure.failures, LoginFailure.last_at)
        return [tuple(r) for r in s.execute(q)]


def test_database_store_backoff_is_the_same_rule(app, fresh):
    clock = FakeClock()
    lim = _db_limiter(app, clock, free_pair=5, free_address=1000, free_account=1000, base_s=1, max_s=900)
    run_backoff_sequence(lim, clock)
    assert {r[0] for r in _rows(app)} == {"address"}  # a success keeps the address counter only


def test_database_store_forgets_after_a_day_and_keeps_no_email(app, fresh):
    clock = FakeClock()
    lim = _db_limiter(app, clock, free_address=1000, free_account=1000)
    for _ in range(8):
        lim.failure("2001:db8:1:2::1", "victim@x.org")
    assert lim.wait("2001:db8:1:2:ffff::9", "victim@x.org") > 0  # IPv6 per /64
    assert not any("@" in key or "victim" in key for _, key, _, _ in _rows(app))
    clock.t += 86400
    assert lim.wait("2001:db8:1:2::1", "victim@x.org") == 0
    lim.failure("2001:db8:1:2::1", "victim@x.org")  # an idle counter starts again at 1
    assert {n for _, _, n, _ in _rows(app)} == {1}


def test_database_store_prunes_idle_rows_and_caps_the_table(app, fresh):
    clock = FakeClock()
    store = DatabaseLoginStore(app.state.sessions, max_rows=30, prune_every=10)
    lim = LoginLimiter(clock=clock, store=store)
    for i in range(9):
        lim.failure(f"203.0.113.{i}", f"old{i}@x.org")
    clock.t += 86400 + 1
    lim.failure("198.51.100.1", "new@x.org")  # the 10th failure prunes: the 27 idle rows go
    assert len(_rows(app)) == 3
    for i in range(20):  # 3 + 60 rows; the prunes at the 20th and 30th failure keep the newest 30
        clock.t += 1
        lim.failure(f"192.0.2.{i}", f"n{i}@x.org")
    rows = _rows(app)
    assert len(rows) == 30 and min(r[3] for r in rows) == clock.t - 9


def test_concurrent_failures_in_two_processes_lose_no_count(app, other_app, fresh):
    clock = FakeClock()
    limiters = [_db_limiter(a, clock) for a in (app, other_app)]
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: limiters[i % 2].failure("203.0.113.90", "race@x.org"), range(40)))
    keys = login_keys("203.0.113.90", "race@x.org")
    assert limiters[0].store.load(keys, 0.0, None) == {kind: (40, clock.t) for kind in ("pair", "address", "account")}


def test_a_last_failure_in_the_future_waits_no_longer_than_the_cap(app, fresh):
    clock = FakeClock()
    lim = _db_limiter(app, clock, max_s=60, forget_s=3600)
    for _ in range(30):
        lim.failure("203.0.113.91", "skew@x.org")
    clock.t -= 600  # another host's clock was 10 minutes ahead
    assert 0 < lim.wait("203.0.113.91", "skew@x.org") <= 60


events = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 3), st.floats(0, 2000, allow_nan=False)), max_size=40
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(events)
def test_property_database_and_memory_stores_agree(app, history):
    """The database store gives exactly the waits of the in-memory one (whose rule the property tests of
    test_sec_auth.py check)."""
    clock = FakeClock()
    kw = dict(free_pair=3, free_address=8, free_account=4, base_s=1, max_s=60, forget_s=3600, clock=clock)
    app.state.limiter.clear()
    db, mem = LoginLimiter(store=DatabaseLoginStore(app.state.sessions), **kw), LoginLimiter(
        store=MemoryLoginStore(), **kw)
    for k, (addr, acct, dt_s) in enumerate(history):
        clock.t += dt_s
        x, a = f"203.0.113.{addr}", f"u{acct}@x.org"
        assert db.wait(x, a) == mem.wait(x, a)
        assert db.wait("198.51.100.1", a) == mem.wait("198.51.100.1", a) == 0
        if k % 7 == 6:
            db.success(x, a)
            mem.success(x, a)
        else:
            db.failure(x, a)
            mem.failure(x, a)
    app.state.limiter.clear()
