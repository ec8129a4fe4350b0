"""The dashboard's pages, forms and event stream (see :mod:`peergrid.service.dashboard`), and :func:`mount`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from peergrid.service import auth as authmod
from peergrid.service import rbac, web
from peergrid.service import schemas as S
from peergrid.service.dashboard import queries as Q
from peergrid.service.dashboard.render import templates
from peergrid.service.errors import Invalid, ServiceError
from peergrid.service.models import Community, User

HERE = Path(__file__).parent
SSE_POLL_S = 0.5
SSE_HEARTBEAT_S = 15.0
#: A meter is "silent" after this many trading intervals without a reading.
SILENT_INTERVALS = 4
MEMBERS_PER_PAGE = 200
#: Ids in paths: positive 32-bit integers (as in the API); anything else is a 422 before the database is asked.
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
#: The form's energy field in kWh maps to the API's ``quantity_wh``; these are its limits in kWh for messages.
MIN_KWH, MAX_KWH = 0.001, 10**8 / 1000


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


class _FormRefused(Exception):
    """A state-changing form without the session's CSRF token (rendered as a 403 page)."""


def _user(request: Request, session: Any) -> User:
    """The logged-in user (else a redirect to the login page); sets ``request.state.csrf``, the form token."""
    token = request.cookies.get(authmod.COOKIE_NAME)
    try:
        info = authmod.authenticate(session, request.app.state.auth, token)
    except ServiceError:
        raise _Redirect("/login?next=" + quote(request.url.path)) from None
    request.state.jti = info.jti
    request.state.csrf = web.csrf_token(request.app.state.auth.secret, info.jti)
    return info.user


def _check_form(request: Request, token: str) -> None:
    """Refuse a POST whose form token is not the one of the session (after :func:`_user`)."""
    if not web.check_csrf_token(request.app.state.auth.secret, request.state.jti, token):
        raise _FormRefused


def _form_error(exc: ValidationError, names: dict[str, str]) -> str:
    """One line for the first error of a form validated by a pydantic model, in the form's own field names."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first.get("loc") else ""
    msg = str(first.get("msg", "invalid input")).removeprefix("Value error, ")
    return f"{names.get(field, field)}: {msg}" if field else msg


def order_from_form(side: str, interval_start: str, quantity_kwh: str, price: str) -> S.OrderIn:
    """The member form's order as the API's :class:`~peergrid.service.schemas.OrderIn` (same limits).

    Parameters
    ----------
    side : str
        ``buy`` or ``sell``.
    interval_start : str
        ISO 8601 start of the trading interval, with a timezone.
    quantity_kwh : str
        Energy, kWh (the API takes integer Wh: rounded to the nearest Wh).
    price : str
        Limit price, currency/kWh.

    Raises
    ------
    Invalid
        With a one-line message naming the field.
    """
    try:
        kwh = float(quantity_kwh)
    except ValueError:
        raise Invalid(f"energy: enter a number of kWh, not {quantity_kwh[:20]!r}") from None
    wh = kwh * 1000
    if not (math.isfinite(wh) and 1 <= round(wh) <= 10**8):
        raise Invalid(f"energy: must be between {MIN_KWH} and {MAX_KWH:,.0f} kWh")
    try:
        return S.OrderIn.model_validate(
            {"side": side, "interval_start": interval_start, "quantity_wh": round(wh), "price": price}
        )
    except ValidationError as exc:
        raise Invalid(_form_error(exc, {"interval_start": "interval", "quantity_wh": "energy"})) from None


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


def chart_tz(c: Community) -> str:
    """The time zone of the charts' time axes: the community's IANA zone (``Community.tz``) if it has one, else UTC."""
    return getattr(c, "tz", None) or "UTC"


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


def _mid_price(c: Community, t: dt.datetime) -> float:
    """The order form's default price: midway between the grid prices λs and λb of interval ``t`` (currency/kWh)."""
    from peergrid.service.tariffs import grid_prices

    buy, sell = grid_prices(c, [t])
    return float(buy[0] + sell[0]) / 2


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
    try:
        S.check_line(target)
        creds = S.LoginIn(email=email, password=password)
    except (ValueError, ValidationError) as exc:
        msg = _form_error(exc, {}) if isinstance(exc, ValidationError) else "invalid redirect target"
        return templates.TemplateResponse(
            request, "login.html", {"next": "/dashboard", "error": msg, "nav": None, "email": ""}, status_code=422
        )
    email, password = creds.email, creds.password
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
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    """Revoke the session token (the form must carry its CSRF token), delete the cookie and go to the login page."""
    with request.app.state.sessions() as s:
        try:
            info = authmod.authenticate(s, request.app.state.auth, request.cookies.get(authmod.COOKIE_NAME))
        except ServiceError:
            info = None  # no valid session: nothing to revoke
        if info is not None:
            if not web.check_csrf_token(request.app.state.auth.secret, info.jti, csrf_token):
                raise _FormRefused
            authmod.revoke(s, info.jti, info.expires_at)
            s.commit()
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


def _member_page(request: Request, s: Any, user: User, c: Community, *, msg: str = "", err: str = "",
                 form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    """Render the member page (``form``: the order form's values to show again after an error)."""
    from peergrid.service.orders import open_commitments
    from peergrid.service.reports import user_report

    now = _now(request)
    balance, ledger = Q.ledger_of(s, c, user.id)
    intervals = _next_intervals(c, now)
    ctx = {
        "user": user,
        "c": c,
        "nav": _nav(user, c, Q.communities_of(s, user), "me"),
        "live": Q.live_member(s, c, user.id, now),
        "series": Q.net_series(s, c, now - dt.timedelta(hours=24), user.id),
        "orders": Q.orders_of(s, c, user.id),
        "trades": Q.trades_of(s, c, user.id, 20),
        "balance": balance,
        "committed": open_commitments(s, c.id, user.id),
        "ledger": ledger,
        "invoices": Q.invoices_of(s, c, user.id),
        "report": user_report(s, c.id, user.id),
        "intervals": intervals,
        "mid_price": _mid_price(c, intervals[0]),
        "tz": chart_tz(c),
        "msg": msg,
        "err": err,
        "form": form or {},
    }
    return templates.TemplateResponse(request, "member.html", ctx, status_code=status_code)


@router.get("/dashboard/c/{cid}/me", response_class=HTMLResponse)
def member_view(request: Request, cid: Id, msg: str = "", err: str = "") -> Response:
    """The member page: live power, today's energy, orders, trades, wallet, ledger, invoices, savings."""
    with request.app.state.sessions() as s:
        user = _user(request, s)
        c = _community(s, user, cid)
        if user.role not in ("prosumer", "consumer"):
            return RedirectResponse(f"/dashboard/c/{cid}/community", status_code=303)
        return _member_page(request, s, user, c, msg=msg[:300], err=err[:300])


@router.post("/dashboard/c/{cid}/orders")
def place_order(
    request: Request,
    cid: Id,
    side: str = Form(""),
    interval_start: str = Form(""),
    quantity_kwh: str = Form(""),
    price: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """Place an order from the member form.

    The form is validated by the API's schema (:func:`order_from_form`) and placed by the
    same service function as ``POST /api/communities/{id}/orders``
    (:func:`peergrid.service.orders.place_order`). An error shows the page again with the
    message and the entered values (4xx); success redirects to the page (303).
    """
    from peergrid.service import orders

    with request.app.state.sessions() as s:
        user = _user(request, s)
        _check_form(request, csrf_token)
        c = _community(s, user, cid)
        if user.role not in ("prosumer", "consumer"):
            return RedirectResponse(f"/dashboard/c/{cid}/community", status_code=303)
        form = {"side": side, "interval_start": interval_start, "quantity_kwh": quantity_kwh, "price": price}
        try:
            body = order_from_form(side, interval_start, quantity_kwh, price)
            o, _ = orders.place_order(s, c, user, body.side, body.interval_start, body.quantity_wh, body.price,
                                      _now(request))
            s.commit()
        except ServiceError as exc:
            s.rollback()
            return _member_page(request, s, user, c, err=str(exc), form=form, status_code=exc.status_code)
    return RedirectResponse(f"/dashboard/c/{cid}/me?msg={quote(f'order {o.id} placed')}#orders", status_code=303)


@router.post("/dashboard/c/{cid}/orders/{oid}/cancel")
def cancel_order(request: Request, cid: Id, oid: Id, csrf_token: str = Form("")) -> Response:
    """Cancel one of the member's open orders before gate closure."""
    from peergrid.service import orders

    back = f"/dashboard/c/{cid}/me"
    with request.app.state.sessions() as s:
        user = _user(request, s)
        _check_form(request, csrf_token)
        c = _community(s, user, cid)
        try:
            orders.cancel_order(s, c, user, oid, _now(request))
            s.commit()
        except ServiceError as exc:
            s.rollback()
            return RedirectResponse(f"{back}?err={quote(str(exc))}#orders", status_code=303)
    return RedirectResponse(f"{back}?msg={quote(f'order {oid} cancelled')}#orders", status_code=303)


@router.get("/dashboard/c/{cid}/community", response_class=HTMLResponse)
def community_view(request: Request, cid: Id, page: int = 1, silent: int = SILENT_INTERVALS) -> Response:
    """The operator page: live load, P2P share, peak class, clearing, members, alerts, reports.

    The 24-hour and 7-day series and reports all come from one set-based pass over the last
    7 days of readings (:func:`queries.metered_intervals`).
    """
    now = _now(request)
    page = min(max(page, 1), 10**6)
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
            "tz": chart_tz(c),
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
                return {"scope": "community", "tz": c.tz, **Q.live_community(s, c, _now(request))}
            return {"scope": "member", "tz": c.tz, **Q.live_member(s, c, user.id, _now(request))}

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
            cid = int(request.path_params["cid"])
            if not 1 <= cid <= 2**31 - 1:  # as the Id of the pages: never ask the database for it
                return JSONResponse({"error": "not_found", "detail": f"community {cid} not found"}, status_code=404)
            return await events(request, cid)

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

    @app.exception_handler(_FormRefused)
    async def _refused(request: Request, _: _FormRefused) -> Response:
        return templates.TemplateResponse(request, "refused.html", {"nav": None}, status_code=403)

    app.include_router(router)
    app.add_middleware(EventStreams)  # outermost: added after the service's ConcurrencyLimit
    app.mount("/dashboard/static", StaticFiles(directory=str(HERE / "static")), name="dashboard-static")
    if not any(getattr(r, "path", None) == "/" for r in app.router.routes):

        @app.get("/", include_in_schema=False)
        def _root() -> Response:
            return RedirectResponse("/dashboard", status_code=303)
