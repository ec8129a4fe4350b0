"""The FastAPI application: :func:`create_app`.

``create_app(db_url)`` connects (SQLite file by default, PostgreSQL with
``postgresql+psycopg://…``), migrates the schema to head, and returns an app serving
the JSON API under ``/api`` with OpenAPI docs at ``/docs`` and ``/redoc`` (assets served locally,
:mod:`peergrid.service.apidocs`). Optional extensions
(the live dashboard and MQTT ingestion) are mounted if their modules exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from peergrid.core.errors import PeergridError
from peergrid.service import apidocs
from peergrid.service.auth import AuthSettings, DatabaseLoginStore, LoginLimiter, signing_key
from peergrid.service.clearing import Scheduler
from peergrid.service.db import make_engine, migrate, pool_capacity, pool_size, session_factory
from peergrid.service.errors import RateLimited, ServiceError
from peergrid.service.models import utcnow
from peergrid.service.web import WebSettings
from peergrid.service.web import install as install_web_defences

log = logging.getLogger("peergrid.service")

#: Optional extension modules; each, if importable, exposes ``mount(app: FastAPI) -> None``.
#: (``peergrid.service.dashboard``: server-rendered live dashboard; ``peergrid.service.mqtt``: MQTT ingestion.)
OPTIONAL_EXTENSIONS: tuple[str, ...] = ("peergrid.service.dashboard", "peergrid.service.mqtt")


def _error(status: int, kind: str, detail: str, headers: dict[str, str] | None = None, **extra: object) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail, **extra}, status_code=status, headers=headers)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def batch_entry(loc: Sequence[object]) -> dict[str, object]:
    """``{"index": i, "field": name}`` when a validation error's ``loc`` is in a batch's ``orders``, else ``{}``.

    >>> batch_entry(("body", "orders", 3, "price"))
    {'index': 3, 'field': 'price'}
    """
    loc = tuple(loc)
    if len(loc) >= 3 and loc[:2] == ("body", "orders") and type(loc[2]) is int:
        return {"index": loc[2], "field": str(loc[3]) if len(loc) > 3 else None}
    return {}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if exc.status_code == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return _error(exc.status_code, exc.kind, _first_line(str(exc)), headers, **(exc.extra or {}))

    @app.exception_handler(PeergridError)
    async def _peergrid_error(_: Request, exc: PeergridError) -> JSONResponse:
        return _error(422, "invalid", _first_line(str(exc)) or type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        msg = f"{loc}: {first.get('msg', 'invalid input')}" if loc else str(first.get("msg", "invalid input"))
        slim = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors[:20]]
        where = batch_entry(first.get("loc", ()))
        return _error(422, "invalid", msg, errors=slim, **where)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", _first_line(str(exc.orig)))
        return _error(409, "conflict", "the request conflicts with existing data (duplicate or referenced record)")

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # e.g. a NUL byte in a string (PostgreSQL text) or a number out of the column's range
        log.info("database rejected a value: %s", _first_line(str(exc.orig)))
        return _error(422, "invalid", "a value is not storable (NUL byte in text, or a number out of range)")

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> JSONResponse:  # pragma: no cover - DB down/busy
        log.warning("database error: %s", _first_line(str(exc.orig)))
        return _error(503, "unavailable", "database busy or unavailable; retry", {"Retry-After": "1"})

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        return _error(422, "invalid", "a date or number is out of range")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "error"
        )
        return _error(exc.status_code, kind, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - bugs
        log.exception("unhandled error")
        return _error(500, "internal", "internal server error")


class ConcurrencyLimit:
    """ASGI middleware: at most ``limit`` HTTP requests in progress at once.

    Sync route handlers and their dependencies run on a thread pool (40 threads); a request holds
    its database connection across several hops on that pool. With more requests in flight than
    pooled connections, every thread could be waiting for a connection while the requests that
    hold them wait for a thread — a deadlock until the pool times out. Admitting at most as many
    requests as there are connections (minus the scheduler's) rules that out; the rest queue in
    the event loop at no cost.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._sem: anyio.Semaphore | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._sem is None:
            self._sem = anyio.Semaphore(self.limit)
        async with self._sem:
            await self.app(scope, receive, send)


def mount_extensions(app: FastAPI, modules: Sequence[str]) -> list[str]:
    """Import each module and call its ``mount(app)``; modules that do not exist are skipped.

    Returns
    -------
    list of str
        The modules that were mounted.
    """
    mounted = []
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # the extension is not installed / not written yet
            raise
        mod.mount(app)
        mounted.append(name)
    return mounted


def create_app(
    db_url: str | Path | None = None,
    *,
    engine: Engine | None = None,
    auth: AuthSettings | None = None,
    scheduler: bool = False,
    scheduler_period_s: float = 10.0,
    clock: Callable[[], dt.datetime] | None = None,
    demo: bool = False,
    extensions: Sequence[str] | None = None,
    migrate_db: bool = True,
    web: WebSettings | None = None,
) -> FastAPI:
    """Build the service app.

    Parameters
    ----------
    db_url : str or pathlib.Path, optional
        ``sqlite:///file.db`` / a file path (default ``peergrid.db``) or
        ``postgresql+psycopg://user:pw@host/db``.
    engine : sqlalchemy.engine.Engine, optional
        Use this engine instead of ``db_url``.
    auth : AuthSettings, optional
        Token lifetime, argon2 costs, login rate limit, cookie flags.
    scheduler : bool
        Run the clearing scheduler (gate closure timer) in a background thread.
    scheduler_period_s : float
        Seconds between scheduler ticks.
    clock : callable, optional
        Returns the current aware UTC time (tests pass a controllable clock); also
        stored as ``app.state.clock``.
    demo : bool
        Seed a demo community (:func:`peergrid.service.seed.seed_demo`) if the database is empty.
    extensions : sequence of str, optional
        Extension modules to mount (default :data:`OPTIONAL_EXTENSIONS`; ``()`` for none).
    migrate_db : bool
        Upgrade the schema to head on creation.
    web : WebSettings, optional
        Request body limits, trusted origins and HSTS of the web surface (default
        :meth:`WebSettings.from_env <peergrid.service.web.WebSettings.from_env>`).

    Returns
    -------
    fastapi.FastAPI
        ``app.state`` holds ``engine``, ``sessions`` (a sessionmaker), ``auth``,
        ``limiter``, ``clock``, ``scheduler`` and ``web``.
    """
    from peergrid.service.api import router

    engine = engine or make_engine(db_url)
    if migrate_db:
        migrate(engine)
    factory = session_factory(engine)
    settings = auth or AuthSettings()
    if not settings.secret:  # load (or create, once, committed) the shared signing key; never lazily per request
        with factory() as session, session.begin():
            settings = dataclasses.replace(settings, secret=signing_key(session, settings))
    sched: Scheduler | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal sched
        if scheduler:
            sched = Scheduler(factory, scheduler_period_s, lambda: app.state.clock())
            sched.start()
            app.state.scheduler = sched
        try:
            yield
        finally:
            if sched is not None:
                sched.stop()

    app = FastAPI(
        title="peergrid trading platform",
        version="1",
        description=(
            "P2P energy trading for a local energy community (Tooki et al.'s platform): accounts and roles, "
            "wallets with a hash-chained double-entry ledger, orders, scheduled clearing with peergrid.market, "
            "meter readings, invoices and reports. Money in integer minor units, energy in integer Wh, "
            "prices in currency/kWh. Authenticate with POST /api/auth/login, then send "
            "`Authorization: Bearer <token>` (or use the session cookie it sets)."
        ),
        lifespan=lifespan,
        docs_url=None,  # the docs pages are served with local assets (peergrid.service.apidocs)
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.sessions = factory
    app.state.auth = settings
    # counters in the database (shared by every server process), timed by the service clock (wall-clock seconds)
    app.state.limiter = LoginLimiter.from_settings(
        settings, clock=lambda: app.state.clock().timestamp(), store=DatabaseLoginStore(factory)
    )
    app.state.clock = clock or utcnow
    app.state.scheduler = None
    #: PostgreSQL: orders without an idempotency key take the pipelined path (peergrid.service.orders.place_order_fast)
    app.state.fast_orders = True
    _install_error_handlers(app)
    # requests in flight hold pooled connections: at most the pool's kept connections minus two (the scheduler,
    # an extension), so connections are reused, never opened and closed per request (overflow stays spare)
    app.add_middleware(ConcurrencyLimit, limit=max(1, min(40, pool_size(engine) - 2, pool_capacity(engine) - 3)))
    app.include_router(router)
    apidocs.mount(app)
    if demo:
        from peergrid.service.seed import seed_demo

        seed_demo(factory, now=app.state.clock())
    # ---- optional extensions (dashboard, MQTT) hook in here --------------------------------
    app.state.extensions = mount_extensions(app, OPTIONAL_EXTENSIONS if extensions is None else extensions)
    # -----------------------------------------------------------------------------------------
    # outermost: security headers, request body limit, same-origin check (peergrid.service.web)
    app.state.web = web or WebSettings.from_env()
    install_web_defences(app, app.state.web)
    return app


#: Environment of :func:`app_from_env` (used by ``peergrid serve --workers N``: every worker process builds its app).
ENV_DB = "PEERGRID_DB"
ENV_TICK = "PEERGRID_SCHEDULER_TICK"
ENV_FAST_AUTH = "PEERGRID_FAST_AUTH"
#: Comma-separated trusted reverse proxies (IP addresses or CIDR networks) whose X-Forwarded-For is believed.
ENV_TRUSTED_PROXIES = "PEERGRID_TRUSTED_PROXIES"


def app_from_env() -> FastAPI:
    """App factory for multi-process servers (``uvicorn --factory``): database from ``$PEERGRID_DB``.

    The scheduler runs in every worker; settlement is exactly-once per phase, so they never
    settle twice. ``$PEERGRID_SCHEDULER_TICK`` (seconds, ``0`` = off) sets its period;
    ``$PEERGRID_FAST_AUTH=1`` selects cheap argon2 parameters (benchmarks only);
    ``$PEERGRID_TRUSTED_PROXIES`` (comma-separated addresses or CIDR networks) names the reverse
    proxies whose ``X-Forwarded-For`` is believed (default: none).
    """
    import os

    from peergrid.service.auth import FAST_AUTH

    tick = float(os.environ.get(ENV_TICK, "10"))
    auth = FAST_AUTH if os.environ.get(ENV_FAST_AUTH) == "1" else AuthSettings()
    proxies = tuple(x.strip() for x in os.environ.get(ENV_TRUSTED_PROXIES, "").split(",") if x.strip())
    auth = dataclasses.replace(auth, trusted_proxies=proxies)
    return create_app(os.environ.get(ENV_DB), auth=auth, scheduler=tick > 0, scheduler_period_s=max(tick, 0.5))
