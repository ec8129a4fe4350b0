"""Database engine, sessions and schema migrations for the trading service.

SQLite (a file, the embedded default) runs in WAL mode with foreign keys on and every
write transaction started with ``BEGIN IMMEDIATE`` so that two server processes on the
same file serialise instead of deadlocking; PostgreSQL is used with
``postgresql+psycopg://user:password@host/db``. The schema is owned by Alembic
(:mod:`peergrid.service.migrations`); :func:`migrate` upgrades any database to head.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from peergrid.core.errors import ConfigError

DEFAULT_DB_FILE = "peergrid.db"
_MIGRATE_LOCK = threading.Lock()


def normalise_url(url: str | Path | None) -> str:
    """A SQLAlchemy URL from a user's ``--db`` value.

    ``None`` is ``sqlite:///peergrid.db`` in the working directory; a bare path is a
    SQLite file; ``postgresql://`` and ``postgres://`` use the psycopg 3 driver.

    Raises
    ------
    ConfigError
        For URLs of other databases or that do not parse.
    """
    if url is None:
        url = f"sqlite:///{DEFAULT_DB_FILE}"
    url = str(url)
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser()}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(f"cannot parse database URL {url!r}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}: use a SQLite file or postgresql://")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ConfigError("PostgreSQL URLs must use the psycopg 3 driver: postgresql+psycopg://user:pw@host/db")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | Path | None, **kwargs: Any) -> Engine:
    """Create an engine with peergrid's connection settings.

    Parameters
    ----------
    url : str or pathlib.Path or None
        See :func:`normalise_url`.
    **kwargs
        Passed to :func:`sqlalchemy.create_engine`.
    """
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        db = make_url(url).database
        if db and db != ":memory:":
            parent = Path(db).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(f"database directory {parent} does not exist")
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", 30)
        kwargs["connect_args"].setdefault("check_same_thread", False)
        if db != ":memory:":
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 10)
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        # connections are kept (a new PostgreSQL connection costs a process fork): the app admits at most
        # pool_size - 2 requests at once (peergrid.service.app.ConcurrencyLimit), so overflow is rare
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        engine = sa.create_engine(url, **kwargs)
    return engine


def pool_size(engine: Engine) -> int:
    """How many connections the engine's pool keeps open (without overflow)."""
    return max(1, int(getattr(engine.pool, "size", lambda: 5)()))


def pool_capacity(engine: Engine) -> int:
    """How many connections the engine's pool hands out at most (pool size + overflow)."""
    pool = engine.pool
    size = getattr(pool, "size", lambda: 5)()
    overflow = getattr(pool, "_max_overflow", 10)
    return max(1, int(size) + max(int(overflow), 0))


def is_postgres(bind: Engine | Session | sa.Connection) -> bool:
    """True when ``bind`` talks to PostgreSQL."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory that does not expire objects on commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str | None = None) -> Any:
    """The Alembic configuration of the shipped migrations (``peergrid.service:migrations``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema of ``engine``'s database to ``revision`` (idempotent).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    revision : str
        Alembic revision id, or ``"head"``.
    """
    from alembic import command

    cfg = alembic_config()
    with _MIGRATE_LOCK, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # two processes starting at once: the second waits for the first's migration
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7243101)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (``None``: not migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
