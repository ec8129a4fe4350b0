"""Issue 15, login throttle shared by every server process of one database.

The counters used to live in the memory of each server process: with ``peergrid serve --workers N``
an attacker got N times the guesses, and a restart forgot every counter. Two ``create_app`` on the
same database are two server processes here. Runs on SQLite and PostgreSQL (``backend``).
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH
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
