"""The service test fixtures, shared by tests/service and tests/security (imported into their conftests).

Every module runs once on SQLite and once on a real PostgreSQL: each (module, backend) gets a
fresh database (a SQLite file / a new PostgreSQL database that is dropped afterwards), migrated
by ``create_app``; tests isolate themselves by creating their own community and users
(:func:`world`).
"""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")

from fastapi.testclient import TestClient  # noqa: E402
from svc_helpers import make_world  # noqa: E402

from peergrid.service.app import create_app  # noqa: E402
from peergrid.service.auth import FAST_AUTH  # noqa: E402
from peergrid.service.testing import Clock, postgres_unavailable, temp_database  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    if request.param == "postgresql":
        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)
    return request.param


@pytest.fixture(scope="module")
def db_url(backend, tmp_path_factory):
    with temp_database(backend, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def app(db_url, clock):
    application = create_app(db_url, auth=FAST_AUTH, clock=clock, extensions=())
    yield application
    application.state.engine.dispose()


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def factory(app):
    return app.state.sessions


@pytest.fixture
def world(app, client):
    return make_world(app, client, interval_minutes=15, gate_closure_minutes=5, mechanism="uniform",
                      retail_price=0.30, feed_in_price=0.10)
