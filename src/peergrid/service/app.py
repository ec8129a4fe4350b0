"""The FastAPI application: :func:`create_app`.

``create_app(db_url)`` connects (SQLite file by default, PostgreSQL with
``postgresql+psycopg://…``), migrates the schema to head, and returns an app serving
the JSON API under ``/api`` (:data:`peergrid.service.api.router`: one router per resource) with
OpenAPI docs at ``/docs`` and ``/redoc`` (assets served locally, :mod:`peergrid.service.apidocs`).
Optional extensions (the live dashboard and MQTT ingestion) are mounted if their modules exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
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
from peergrid.service.clearing import Scheduler, set_fault_pause
from peergrid.service.db import make_engine, migrate, pool_capacity, pool_size, session_factory
from peergrid.service.errors import RateLimited, ServiceError
from peergrid.service.models import utcnow
from peergrid.service.settings import ServiceSettings, default_settings, settings_from_env
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
    scheduler: bool | None = None,
    scheduler_period_s: float | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    demo: bool = False,
    extensions: Sequence[str] | None = None,
    migrate_db: bool = True,
    web: WebSettings | None = None,
    settings: ServiceSettings | None = None,
) -> FastAPI:
    """Build the service app.

    Parameters
    ----------
    db_url : str or pathlib.Path, optional
        ``sqlite:///file.db`` / a file path (default: the settings' database, ``peergrid.db``) or
        ``postgresql+psycopg://user:pw@host/db``.
    engine : sqlalchemy.engine.Engine, optional
        Use this engine instead of ``db_url``.
    auth : AuthSettings, optional
        Token lifetime, argon2 costs, login rate limit, cookie flags (default: ``settings.auth()``).
    scheduler : bool, optional
        Run the clearing scheduler (gate closure timer) in a background thread (default: if ``settings``
        are given, when their ``scheduler_tick`` is above 0; else no scheduler).
    scheduler_period_s : float, optional
        Seconds between scheduler ticks (default: the settings' ``scheduler_tick``, else 10).
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
        Request body limits, trusted origins and HSTS of the web surface (default: ``settings.web()``).
    settings : ServiceSettings, optional
        The validated service settings (:mod:`peergrid.service.settings`): database, scheduler, security
        options, MQTT broker. Default: every setting at its default — the environment is read only by
        :func:`~peergrid.service.settings.load_settings` (``peergrid serve``) and :func:`app_from_env`.

    Returns
    -------
    fastapi.FastAPI
        ``app.state`` holds ``settings``, ``engine``, ``sessions`` (a sessionmaker), ``auth``,
        ``limiter``, ``clock``, ``scheduler`` and ``web``.
    """
    # imported here: the service's own modules (clearing, …) load first, so a missing one is named as such
    from peergrid.service.api import router as api_router

    if scheduler is None:  # no scheduler unless settings ask for one
        scheduler = settings is not None and settings.scheduler_enabled
    settings = settings if settings is not None else default_settings()
    period_s = scheduler_period_s if scheduler_period_s is not None else settings.scheduler_tick or 10.0
    engine = engine or make_engine(db_url if db_url is not None else settings.database_url)
    if migrate_db:
        migrate(engine)
    factory = session_factory(engine)
    set_fault_pause(settings.fault_pause_file, settings.fault_pause_s)  # crash tests only; off by default
    auth_settings = auth or settings.auth()
    if not auth_settings.secret:  # load (or create, once, committed) the shared signing key; never lazily per request
        with factory() as session, session.begin():
            auth_settings = dataclasses.replace(auth_settings, secret=signing_key(session, auth_settings))
    sched: Scheduler | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal sched
        # the objects of start-up (modules, the app, the ORM's mappers) live as long as the process: moved out
        # of the garbage collector's view, a full collection during a request (e.g. after the 10,000 objects of
        # an order batch) costs a few ms instead of ~70 ms
        gc.collect()
        gc.freeze()
        if scheduler:
            sched = Scheduler(factory, period_s, lambda: app.state.clock())
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
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = factory
    app.state.auth = auth_settings
    # counters in the database (shared by every server process), timed by the service clock (wall-clock seconds)
    app.state.limiter = LoginLimiter.from_settings(
        auth_settings, clock=lambda: app.state.clock().timestamp(), store=DatabaseLoginStore(factory)
    )
    app.state.clock = clock or utcnow
    app.state.scheduler = None
    #: PostgreSQL: orders without an idempotency key take the pipelined path (peergrid.service.orders.place_order_fast)
    app.state.fast_orders = True
    _install_error_handlers(app)
    # requests in flight hold pooled connections: at most the pool's kept connections minus two (the scheduler,
    # an extension), so connections are reused, never opened and closed per request (overflow stays spare)
    app.add_middleware(ConcurrencyLimit, limit=max(1, min(40, pool_size(engine) - 2, pool_capacity(engine) - 3)))
    app.include_router(api_router)  # every /api route, the order-placing ones matched first
    apidocs.mount(app)
    if demo:
        from peergrid.service.seed import seed_demo

        seed_demo(factory, now=app.state.clock())
    # ---- optional extensions (dashboard, MQTT) hook in here --------------------------------
    app.state.extensions = mount_extensions(app, OPTIONAL_EXTENSIONS if extensions is None else extensions)
    # -----------------------------------------------------------------------------------------
    # outermost: security headers, request body limit, same-origin check (peergrid.service.web)
    app.state.web = web or settings.web()
    install_web_defences(app, app.state.web)
    return app


def app_from_env() -> FastAPI:
    """App factory for multi-process servers (``uvicorn --factory``): the settings of :func:`settings_from_env`.

    ``peergrid serve --workers N`` hands every worker the validated settings in one variable
    (:data:`~peergrid.service.settings.SETTINGS_ENV`, :func:`~peergrid.service.settings.worker_environment`);
    run by hand, the factory reads the ``PEERGRID_*`` variables (docs/service.md, settings table), e.g.
    ``PEERGRID_DB``, ``PEERGRID_SCHEDULER_TICK`` (seconds, ``0`` = off), ``PEERGRID_TRUSTED_PROXIES``.
    The scheduler runs in every worker; settlement is exactly-once per phase, so they never settle twice.
    """
    return create_app(settings=settings_from_env())
