"""The web dashboard: server-rendered pages (Jinja2) with live updates over Server-Sent Events.

Mounted by :func:`peergrid.service.app.create_app` through :func:`mount` (an optional
extension). Pages:

* ``/login`` — a form; logging in sets the service's HTTP-only session cookie, so the
  pages and ``/api`` share one session. ``/logout`` revokes it.
* ``/dashboard`` — picks the first community of the user and the view of their role.
* ``/dashboard/c/{cid}/me`` — member view: live power and today's energy, open orders
  (and a form to place one), trades, wallet balance and ledger history, invoices (PDF),
  savings vs grid-only (:func:`peergrid.service.reports.user_report`).
* ``/dashboard/c/{cid}/community`` — operator view: live community net load and P2P
  share, p-MAS peak-load class (Lange), clearing results per interval, members with
  reputation, silent-meter alerts, and reports with plots.
* ``/dashboard/c/{cid}/events`` — ``text/event-stream``: a ``live`` event whenever new
  readings change the numbers (polled every :data:`SSE_POLL_S` s), so a reading published
  over MQTT shows within about a second.

Everything (CSS, the SVG chart script) is served from ``/dashboard/static``: nothing is
loaded from a CDN. Members only ever see their own data: every query is filtered by
the logged-in user unless their role is operator or admin (:func:`peergrid.service.rbac.sees_everyone`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from peergrid.service import auth as authmod
from peergrid.service import rbac
from peergrid.service.dashboard import queries as Q
from peergrid.service.errors import ServiceError
from peergrid.service.models import Community, User

HERE = Path(__file__).parent
SSE_POLL_S = 0.5
SSE_HEARTBEAT_S = 15.0
#: A meter is "silent" after this many trading intervals without a reading.
SILENT_INTERVALS = 4
MEMBERS_PER_PAGE = 200

templates = Jinja2Templates(directory=str(HERE / "templates"))


def _money(minor: int | None, currency: str = "") -> str:
    if minor is None:
        return "–"
    sign = "−" if minor < 0 else ""
    return f"{sign}{abs(minor) / 100:,.2f} {currency}".strip()


def _num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}".replace("-", "−")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _time(s: str | dt.datetime | None) -> str:
    if s is None:
        return "–"
    t = dt.datetime.fromisoformat(s) if isinstance(s, str) else s
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters.update(money=_money, num=_num, pct=_pct, time=_time)


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _user(request: Request, session: Any) -> User:
    token = request.cookies.get(authmod.COOKIE_NAME)
    try:
        return authmod.authenticate(session, request.app.state.auth, token).user
    except ServiceError:
        raise _Redirect("/login?next=" + quote(request.url.path)) from None


def _community(session: Any, user: User, cid: int) -> Community:
    try:
        return rbac.community_for(session, user, cid)
    except ServiceError:
        raise _Redirect("/dashboard") from None


def _nav(user: User, c: Community | None, communities: list[Community], active: str) -> dict[str, Any]:
    items = []
    if c is not None:
        if user.role in ("prosumer", "consumer"):
            items.append(("me", f"/dashboard/c/{c.id}/me", "My energy"))
        if rbac.sees_everyone(user):
            items.append(("community", f"/dashboard/c/{c.id}/community", "Community"))
            items.append(("reports", f"/dashboard/c/{c.id}/community#reports", "Reports"))
    return {"items": items, "active": active, "communities": communities, "current": c}


def _now(request: Request) -> dt.datetime:
    return request.app.state.clock()


def _next_intervals(c: Community, now: dt.datetime, n: int = 8) -> list[dt.datetime]:
    from peergrid.service.timeutil import floor_interval

    step = dt.timedelta(minutes=c.interval_minutes)
    t = floor_interval(now, c.interval_minutes) + step
    gate = dt.timedelta(minutes=c.gate_closure_minutes)
    out = []
    while len(out) < n:
        if t - gate > now:
            out.append(t)
        t += step
    return out


router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/dashboard", error: str = "") -> Response:
    """The login form; ``next`` is where to go after logging in."""
    return templates.TemplateResponse(request, "login.html", {"next": next, "error": error, "nav": None})


@router.post("/login")
def login_submit(
    request: Request, email: str = Form(""), password: str = Form(""), next: str = Form("/dashboard")
) -> Response:
    """Check the credentials (rate limited), set the session cookie and redirect to ``next`` (same site only)."""
    from peergrid.service.api import client_address, set_session_cookie

    # only paths of this site (no "//host", "/\\host" or schemes: no open redirect)
    target = next if next.startswith("/") and not next.startswith(("//", "/\\")) and ":" not in next else "/dashboard"
    with request.app.state.sessions() as s:
        try:
            issued = authmod.login(s, request.app.state.auth, request.app.state.limiter, email, password,
                                   client_address(request))
            s.commit()
        except ServiceError as exc:
            return templates.TemplateResponse(
                request, "login.html", {"next": target, "error": str(exc), "nav": None, "email": email},
                status_code=exc.status_code,
            )
    resp = RedirectResponse(target, status_code=303)
    set_session_cookie(request, resp, issued)
    return resp


@router.post("/logout")
def logout(request: Request) -> Response:
    """Revoke the session token, delete the cookie and go to the login page."""
    with request.app.state.sessions() as s:
        try:
            info = authmod.authenticate(s, request.app.state.auth, request.cookies.get(authmod.COOKIE_NAME))
            authmod.revoke(s, info.jti, info.expires_at)
            s.commit()
        except ServiceError:
            pass
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(authmod.COOKIE_NAME, path="/")
    return resp


@router.get("/dashboard")
def home(request: Request) -> Response:
    """Redirect to the first community of the user: the operator view for operators/admins, else the member view."""
    with request.app.state.sessions() as s:
        user = _user(request, s)
        comms = Q.communities_of(s, user)
        if not comms:
            return templates.TemplateResponse(request, "empty.html", {"user": user, "nav": _nav(user, None, [], "")})
        view = "community" if rbac.sees_everyone(user) else "me"
        return RedirectResponse(f"/dashboard/c/{comms[0].id}/{view}", status_code=303)


@router.get("/dashboard/c/{cid}/me", response_class=HTMLResponse)
def member_view(request: Request, cid: int, msg: str = "", err: str = "") -> Response:
    """The member page: live power, today's energy, orders, trades, wallet, ledger, invoices, savings."""
    from peergrid.service.orders import open_commitments
    from peergrid.service.reports import user_report

    now = _now(request)
    with request.app.state.sessions() as s:
        user = _user(request, s)
        c = _community(s, user, cid)
        if user.role not in ("prosumer", "consumer"):
            return RedirectResponse(f"/dashboard/c/{cid}/community", status_code=303)
        balance, ledger = Q.ledger_of(s, c, user.id)
        ctx = {
            "user": user,
            "c": c,
            "nav": _nav(user, c, Q.communities_of(s, user), "me"),
            "live": Q.live_member(s, c, user.id, _now(request)),
            "series": Q.net_series(s, c, now - dt.timedelta(hours=24), user.id),
            "orders": Q.orders_of(s, c, user.id),
            "trades": Q.trades_of(s, c, user.id, 20),
            "balance": balance,
            "committed": open_commitments(s, c.id, user.id),
            "ledger": ledger,
            "invoices": Q.invoices_of(s, c, user.id),
            "report": user_report(s, c.id, user.id),
            "intervals": _next_intervals(c, now),
            "msg": msg,
            "err": err,
        }
    return templates.TemplateResponse(request, "member.html", ctx)


@router.post("/dashboard/c/{cid}/orders")
def place_order(
    request: Request,
    cid: int,
    side: str = Form(...),
    interval_start: str = Form(...),
    quantity_kwh: float = Form(...),
    price: float = Form(...),
) -> Response:
    """Place an order from the member form (:func:`peergrid.service.orders.place_order`); errors as a message."""
    from peergrid.service import orders
    from peergrid.service.timeutil import parse_time

    back = f"/dashboard/c/{cid}/me"
    with request.app.state.sessions() as s:
        user = _user(request, s)
        c = _community(s, user, cid)
        try:
            rbac.require_role(user, rbac.PROSUMER, rbac.CONSUMER)
            if side not in ("buy", "sell"):
                raise ServiceError(f"side must be buy or sell, got {side!r}")
            if not 0 < quantity_kwh <= 1e6:
                raise ServiceError("quantity must be > 0 kWh")
            o, _ = orders.place_order(s, c, user, side, parse_time(interval_start, "interval_start"),
                                      round(quantity_kwh * 1000), price, _now(request))
            s.commit()
        except ServiceError as exc:
            s.rollback()
            return RedirectResponse(f"{back}?err={quote(str(exc))}#orders", status_code=303)
    return RedirectResponse(f"{back}?msg={quote(f'order {o.id} placed')}#orders", status_code=303)


@router.post("/dashboard/c/{cid}/orders/{oid}/cancel")
def cancel_order(request: Request, cid: int, oid: int) -> Response:
    """Cancel one of the member's open orders before gate closure."""
    from peergrid.service import orders

    back = f"/dashboard/c/{cid}/me"
    with request.app.state.sessions() as s:
        user = _user(request, s)
        c = _community(s, user, cid)
        try:
            orders.cancel_order(s, c, user, oid, _now(request))
            s.commit()
        except ServiceError as exc:
            s.rollback()
            return RedirectResponse(f"{back}?err={quote(str(exc))}#orders", status_code=303)
    return RedirectResponse(f"{back}?msg={quote(f'order {oid} cancelled')}#orders", status_code=303)


@router.get("/dashboard/c/{cid}/community", response_class=HTMLResponse)
def community_view(request: Request, cid: int, page: int = 1, silent: int = SILENT_INTERVALS) -> Response:
    """The operator page: live load, P2P share, peak class, clearing, members, alerts, reports.

    The 24-hour and 7-day series and reports all come from one set-based pass over the last
    7 days of readings (:func:`queries.metered_intervals`).
    """
    now = _now(request)
    page = max(page, 1)
    silent = min(max(silent, 1), 10_000)
    with request.app.state.sessions() as s:
        user = _user(request, s)
        c = _community(s, user, cid)
        if not rbac.sees_everyone(user):
            return RedirectResponse(f"/dashboard/c/{cid}/me", status_code=303)
        day_since, week_since = now - dt.timedelta(hours=24), now - dt.timedelta(days=7)
        totals = Q.metered_intervals(s, c, week_since)
        series = Q.series_of(totals, c, day_since)
        total, members = Q.members(s, c, MEMBERS_PER_PAGE, (page - 1) * MEMBERS_PER_PAGE)
        day = Q.community_summary(s, c, totals, day_since, now)
        ctx = {
            "user": user,
            "c": c,
            "nav": _nav(user, c, Q.communities_of(s, user), "community"),
            "live": Q.live_community(s, c, _now(request)),
            "series": series,
            "week": Q.series_of(totals, c, week_since),
            "peak": Q.peak_class(series),
            "day": day,
            "week_report": Q.community_summary(s, c, totals, week_since, now),
            "p2p_share": (day["bought_p2p_kwh"] / day["demand_kwh"]) if day["demand_kwh"] else None,
            "runs": Q.clearing_runs(s, c),
            "members": members,
            "members_total": total,
            "page": page,
            "pages": max(1, -(-total // MEMBERS_PER_PAGE)),
            "silent": Q.silent_meters(s, c, now, silent),
            "silent_n": silent,
        }
    return templates.TemplateResponse(request, "community.html", ctx)


@router.get("/dashboard/c/{cid}/events")
async def events(request: Request, cid: int) -> Response:
    """Server-Sent Events: ``live`` with the member's (or, for operators, the community's) latest figures."""

    def snapshot() -> dict[str, Any]:
        with request.app.state.sessions() as s:
            user = _user(request, s)
            c = _community(s, user, cid)
            if rbac.sees_everyone(user):
                return {"scope": "community", **Q.live_community(s, c, _now(request))}
            return {"scope": "member", **Q.live_member(s, c, user.id, _now(request))}

    try:
        first = await run_in_threadpool(snapshot)
    except _Redirect:
        return Response(status_code=401)

    async def stream() -> Any:
        last = json.dumps(first, sort_keys=True)
        yield f"retry: 2000\nevent: live\ndata: {last}\n\n"
        quiet = 0.0
        while not await request.is_disconnected():
            await asyncio.sleep(SSE_POLL_S)
            try:
                snap = json.dumps(await run_in_threadpool(snapshot), sort_keys=True)
            except _Redirect:  # logged out or revoked
                yield "event: bye\ndata: {}\n\n"
                return
            if snap != last:
                last = snap
                quiet = 0.0
                yield f"event: live\ndata: {snap}\n\n"
            else:
                quiet += SSE_POLL_S
                if quiet >= SSE_HEARTBEAT_S:
                    quiet = 0.0
                    yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class EventStreams:
    """ASGI middleware: serve the event streams before the service's request limit.

    The service admits only as many HTTP requests at once as it has database connections
    (:class:`peergrid.service.app.ConcurrencyLimit`); an open event stream would hold one of
    those slots for as long as a dashboard tab is open, and a few dozen tabs would stall the
    API. Streams hold no connection while they wait (each poll borrows one for a moment),
    so they are dispatched here, outside that limit.
    """

    def __init__(self, app: Any) -> None:
        from starlette.routing import Route, Router

        self.app = app

        async def endpoint(request: Request) -> Response:
            return await events(request, int(request.path_params["cid"]))

        self.streams = Router(routes=[Route("/dashboard/c/{cid:int}/events", endpoint)])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/dashboard/c/") and path.endswith("/events"):
            await self.streams(scope, receive, send)
            return
        await self.app(scope, receive, send)


def mount(app: FastAPI) -> None:
    """Add the dashboard routes, the event-stream dispatcher and static files to the service app."""

    @app.exception_handler(_Redirect)
    async def _redirect(_: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=303)

    app.include_router(router)
    app.add_middleware(EventStreams)  # outermost: added after the service's ConcurrencyLimit
    app.mount("/dashboard/static", StaticFiles(directory=str(HERE / "static")), name="dashboard-static")
    if not any(getattr(r, "path", None) == "/" for r in app.router.routes):

        @app.get("/", include_in_schema=False)
        def _root() -> Response:
            return RedirectResponse("/dashboard", status_code=303)
