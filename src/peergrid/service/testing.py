"""Helpers for tests of the service and of code built on it (dashboard, MQTT ingestion).

* :func:`temp_database` — a throw-away database: a SQLite file, or a fresh PostgreSQL
  database on the server given by ``PEERGRID_TEST_PG_ADMIN`` (default
  ``postgresql+psycopg://peergrid:peergrid@127.0.0.1:5432/postgres``) that is dropped afterwards.
* :class:`Clock` — a controllable clock for ``create_app(clock=...)``.
* :func:`make_user` / :func:`make_community` — create records directly (cheap argon2 costs).
* :func:`demo_server` — ``peergrid serve --demo`` on SQLite in a thread, on a free 127.0.0.1 port.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session, sessionmaker

from peergrid.service import directory
from peergrid.service.auth import FAST_AUTH, hash_password
from peergrid.service.models import Community, User


class TestDatabaseSettings(BaseSettings):
    """Where the tests' throw-away PostgreSQL databases are made: ``$PEERGRID_TEST_PG_ADMIN``."""

    model_config = SettingsConfigDict(env_prefix="PEERGRID_TEST_", env_ignore_empty=True, frozen=True)
    __test__ = False  # not a pytest test class

    pg_admin: str = "postgresql+psycopg://peergrid:peergrid@127.0.0.1:5432/postgres"


PG_ADMIN_URL = TestDatabaseSettings().pg_admin
TEST_PASSWORD = "correct-horse-battery"


def postgres_unavailable() -> str | None:
    """``None`` if the test PostgreSQL server answers, else the reason (for ``pytest.skip``)."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL not reachable at {PG_ADMIN_URL.split('@')[-1]}: {type(exc).__name__}"


@contextlib.contextmanager
def temp_database(backend: str, directory_: str | Path | None = None) -> Iterator[str]:
    """Yield the URL of a new, empty database of ``backend`` (``"sqlite"`` or ``"postgresql"``); drop it after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(dir=directory_) as d:
            yield f"sqlite:///{Path(d) / 'peergrid-test.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    name = f"peergrid_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class Clock:
    """A settable clock: ``clock()`` returns :attr:`now`; :meth:`advance` moves it."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now = self.now + dt.timedelta(**delta)
        return self.now


def make_user(factory: sessionmaker[Session], role: str, email: str | None = None,
              password: str = TEST_PASSWORD, communities: Sequence[int] = ()) -> User:
    """Create a user (cheap argon2) and add them to ``communities``."""
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@test.peergrid"
    with factory() as s, s.begin():
        u = directory.create_user(s, email, email.split("@")[0], hash_password(FAST_AUTH, password), role)
        for cid in communities:
            directory.add_members(s, cid, [u.id])
    return u


def make_community(factory: sessionmaker[Session], **settings: object) -> Community:
    """Create a community with a unique name (settings as in :class:`~peergrid.service.models.Community`)."""
    settings.setdefault("name", f"community-{uuid.uuid4().hex[:10]}")
    with factory() as s, s.begin():
        return directory.create_community(s, **settings)


@contextlib.contextmanager
def demo_server(directory_: str | Path) -> Iterator[str]:
    """Run the demo service (SQLite file in ``directory_``) with uvicorn in a thread.

    Parameters
    ----------
    directory_ : str or pathlib.Path
        Folder for the SQLite database file.

    Yields
    ------
    str
        Base URL ``http://127.0.0.1:PORT`` (port chosen free, loopback only).
    """
    import socket
    import threading
    import time

    import uvicorn

    from peergrid.service.app import create_app

    app = create_app(f"sqlite:///{Path(directory_) / 'peergrid.db'}", demo=True, extensions=())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.05)
        if not server.started:
            raise RuntimeError("the demo service did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        app.state.engine.dispose()
