"""HTTP routes of the service (``/api``); every route enforces :mod:`peergrid.service.rbac`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from peergrid.service import auth as authmod
from peergrid.service import clearing, directory, ledger, metering, orders, rbac, tariffs
from peergrid.service import feeders as feedermod
from peergrid.service import invoices as invoicemod
from peergrid.service import reports as reportmod
from peergrid.service import schemas as S
from peergrid.service.errors import Conflict, Forbidden, Invalid, NotFound
from peergrid.service.models import (
    Account,
    AuditLog,
    ClearingRun,
    Community,
    Invoice,
    LedgerEntry,
    Membership,
    Meter,
    Order,
    Reading,
    Trade,
    User,
)

T = TypeVar("T")

router = APIRouter(prefix="/api")
_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login")
_cookie = APIKeyCookie(name=authmod.COOKIE_NAME, auto_error=False, description="Session cookie set by login")

ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": S.ErrorOut} for c in (400, 401, 403, 404, 409, 422, 429)}


def get_db(request: Request) -> Iterator[Session]:
    """A session per request; write routes commit explicitly, anything else is rolled back."""
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


DB = Annotated[Session, Depends(get_db, scope="function")]


def _token(creds: HTTPAuthorizationCredentials | None, cookie: str | None) -> str | None:
    if creds is not None and creds.scheme.lower() == "bearer":
        return creds.credentials
    return cookie


def current_token(
    request: Request,
    db: DB,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> authmod.TokenInfo:
    """The verified token of the request (bearer header first, then the session cookie)."""
    return authmod.authenticate(db, request.app.state.auth, _token(creds, cookie))


def current_user(info: Annotated[authmod.TokenInfo, Depends(current_token)]) -> User:
    """The authenticated user."""
    return info.user


Me = Annotated[User, Depends(current_user)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="items to skip")]
PId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _now(request: Request) -> dt.datetime:
    return request.app.state.clock()


def _page(db: Session, stmt: sa.Select, limit: int, offset: int, convert: Any) -> dict[str, Any]:
    total = db.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    items = [convert(x) for x in db.execute(stmt.limit(limit).offset(offset)).scalars()]
    return {"items": items, "total": int(total), "limit": limit, "offset": offset}


def client_address(request: Request) -> str:
    """The client's address: the socket peer, or from ``X-Forwarded-For`` if the peer is a trusted proxy.

    Trusted proxies are ``AuthSettings.trusted_proxies`` (``peergrid serve --trusted-proxy``);
    see :func:`peergrid.service.auth.client_address`.
    """
    peer = request.client.host if request.client else None
    return authmod.client_address(
        peer, request.headers.getlist("x-forwarded-for"), request.app.state.auth.proxies()
    )


# ------------------------------------------------------------------------------ auth
@router.get("/health", tags=["service"])
def health(request: Request) -> dict[str, str]:
    """Liveness: ``{"status": "ok", "db": "sqlite" | "postgresql"}``."""
    return {"status": "ok", "db": request.app.state.engine.dialect.name}


@router.post("/auth/login", response_model=S.TokenOut, tags=["auth"], responses=ERRORS)
def login(body: S.LoginIn, request: Request, response: Response, db: DB) -> S.TokenOut:
    """Log in with email and password: returns a bearer token and sets the HTTP-only session cookie.

    Failed logins are throttled per client address and account with capped exponential
    back-off (429 with Retry-After); unknown and known emails fail alike.
    """
    issued = authmod.login(
        db, request.app.state.auth, request.app.state.limiter, body.email, body.password, client_address(request)
    )
    db.commit()
    set_session_cookie(request, response, issued)
    return S.TokenOut(
        access_token=issued.token, expires_at=issued.expires_at, user_id=issued.user.id, role=issued.user.role
    )  # type: ignore[arg-type]


def set_session_cookie(request: Request, response: Response, issued: authmod.IssuedToken) -> None:
    """Set the HTTP-only session cookie for ``issued`` (for server-rendered pages that log in with a form)."""
    response.set_cookie(
        authmod.COOKIE_NAME,
        issued.token,
        max_age=request.app.state.auth.token_ttl_s,
        httponly=True,
        samesite="strict",
        secure=request.app.state.auth.cookie_secure,
        path="/",
    )


@router.post("/auth/logout", status_code=204, tags=["auth"], responses=ERRORS)
def logout(info: Annotated[authmod.TokenInfo, Depends(current_token)], response: Response, db: DB) -> Response:
    """Revoke the current token and clear the session cookie."""
    authmod.revoke(db, info.jti, info.expires_at)
    db.commit()
    response.status_code = 204
    response.delete_cookie(authmod.COOKIE_NAME, path="/")
    return response


@router.get("/auth/me", response_model=S.UserOut, tags=["auth"], responses=ERRORS)
def me(user: Me) -> User:
    """The logged-in user."""
    return user


# ------------------------------------------------------------------------------ users
@router.post("/users", status_code=201, response_model=S.UserOut, tags=["users"], responses=ERRORS)
def create_user(body: S.UserIn, request: Request, user: Me, db: DB) -> User:
    """Create a user (admin). The password must pass the password policy (422 with the reason)."""
    rbac.require_role(user, rbac.ADMIN)
    new = directory.create_user(
        db, body.email, body.name, authmod.hash_password(request.app.state.auth, body.password, body.email), body.role
    )
    directory.audit(db, user, "user.create", target=f"user:{new.id}", role=body.role, email=new.email)
    db.commit()
    return new


@router.get("/users", response_model=S.Page[S.UserOut], tags=["users"], responses=ERRORS)
def list_users(user: Me, db: DB, limit: Limit = 100, offset: Offset = 0, role: S.Role | None = None) -> dict[str, Any]:
    """All users (admin)."""
    rbac.require_role(user, rbac.ADMIN)
    stmt = sa.select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    return _page(db, stmt, limit, offset, lambda u: u)


@router.get("/users/{user_id}", response_model=S.UserOut, tags=["users"], responses=ERRORS)
def get_user(user_id: PId, user: Me, db: DB) -> User:
    """A user (admin, or yourself)."""
    if user.role != rbac.ADMIN and user.id != user_id:
        raise Forbidden("only admins may read other users")
    found = db.get(User, user_id)
    if found is None:
        raise NotFound(f"user {user_id} not found")
    return found


@router.patch("/users/{user_id}", response_model=S.UserOut, tags=["users"], responses=ERRORS)
def update_user(user_id: PId, body: S.UserPatch, request: Request, user: Me, db: DB) -> User:
    """Change a user's name, password, role or active flag (admin).

    A new password (checked by the password policy) or deactivation invalidates all of the
    user's tokens, the caller's own included when they change their own password. Deactivation
    also cancels the user's open orders whose gate has not closed (audited as ``cancelled_orders``).
    """
    rbac.require_role(user, rbac.ADMIN)
    target = db.get(User, user_id)
    if target is None:
        raise NotFound(f"user {user_id} not found")
    changes = body.model_dump(exclude_none=True)
    if target.id == user.id and (changes.get("role", "admin") != "admin" or changes.get("is_active") is False):
        raise Invalid("admins cannot demote or deactivate themselves")
    if "password" in changes:
        authmod.set_password(request.app.state.auth, target, changes.pop("password"))
        changes["password"] = "changed"
    if changes.get("is_active") is False and target.is_active:
        authmod.invalidate_tokens(target)
        # a deactivated member trades no more: open orders before their gate are withdrawn
        changes["cancelled_orders"] = orders.cancel_orders_of_user(db, target.id, _now(request), "user deactivated")
    for key in ("name", "role", "is_active"):
        if key in changes:
            setattr(target, key, changes[key])
    directory.audit(db, user, "user.update", target=f"user:{user_id}", **changes)
    db.commit()
    return target


# ------------------------------------------------------------------------------ communities
@router.post("/communities", status_code=201, response_model=S.CommunityOut, tags=["communities"], responses=ERRORS)
def create_community(body: S.CommunityIn, user: Me, db: DB) -> Community:
    """Create a community with its grid, fees, clearing and external accounts (admin).

    The tariff is ``tariff`` (in ``currency``; TOU periods in local time of ``tz``) or the flat
    shorthand ``retail_price``/``feed_in_price``; a bad zone, currency or tariff is a 422 naming it.
    """
    rbac.require_role(user, rbac.ADMIN)
    c = directory.create_community(db, **_capacities_w(body.model_dump()))
    directory.audit(db, user, "community.create", c.id, f"community:{c.id}",
                    **dict(body.model_dump(exclude_none=True), tariff=c.tariff))
    db.commit()
    return c


@router.get("/communities", response_model=S.Page[S.CommunityOut], tags=["communities"], responses=ERRORS)
def list_communities(user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Communities you can see (admin: all; others: those you belong to)."""
    stmt = sa.select(Community).order_by(Community.id)
    if user.role != rbac.ADMIN:
        stmt = stmt.join(Membership, Membership.community_id == Community.id).where(Membership.user_id == user.id)
    return _page(db, stmt, limit, offset, lambda c: c)


@router.get("/communities/{community_id}", response_model=S.CommunityOut, tags=["communities"], responses=ERRORS)
def get_community(community_id: PId, user: Me, db: DB) -> Community:
    """One community (members and admins)."""
    return rbac.community_for(db, user, community_id)


@router.patch("/communities/{community_id}", response_model=S.CommunityOut, tags=["communities"], responses=ERRORS)
def update_community(community_id: PId, body: S.CommunityPatch, user: Me, db: DB) -> Community:
    """Change tariff, time zone, currency, mechanism, gate closure or grace (admin, or an operator of the community).

    ``tariff`` replaces the whole tariff; ``retail_price``/``feed_in_price`` change only its flat energy
    and feed-in price. The currency cannot change once money has moved in the community (409); a new
    time zone applies to intervals settled from then on. Audited with the new values.
    """
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    changes = body.model_dump(exclude_none=True)
    if "tariff" in changes and ("retail_price" in changes or "feed_in_price" in changes):
        raise Invalid("give either tariff or the flat retail_price/feed_in_price, not both")
    currency = changes.get("currency", c.currency)
    if currency != c.currency and db.execute(
        sa.select(LedgerEntry.seq).where(LedgerEntry.community_id == c.id).limit(1)
    ).first() is not None:
        raise Conflict(f"community {c.id} has ledger entries in {c.currency}: its currency cannot change")
    tariff = changes.pop("tariff", None)
    retail, feed_in = changes.pop("retail_price", None), changes.pop("feed_in_price", None)
    if tariff is None:  # the stored tariff, in the (new) currency, with the flat shorthand applied
        tariff = tariffs.with_flat_prices(dict(c.tariff, currency=currency), retail, feed_in)
    tz = changes.get("tz", c.tz)
    if tariff is not None or currency != c.currency or tz != c.tz:
        c.tariff = tariffs.normalise(tariff if tariff is not None else dict(c.tariff, currency=currency), currency, tz)
        changes["tariff"] = c.tariff
    for key, value in _capacities_w(changes).items():
        if key != "tariff":
            setattr(c, key, value)
    directory.validate_community(c.mechanism, c.interval_minutes, c.k)
    directory.audit(db, user, "community.update", c.id, f"community:{c.id}", **changes)
    db.commit()
    return c


def _kw_to_w(kw: float) -> int:
    return max(1, round(kw * 1000))


def _capacities_w(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with every capacity ``*_kw`` (kW, as the API takes it) as the stored ``*_w`` (W); ``None`` stays.

    E.g. a community's ``meter_import_kw`` → ``meter_import_w``, a meter's ``export_capacity_kw`` →
    ``export_capacity_w``.
    """
    return {
        (key.removesuffix("_kw") + "_w" if key.endswith("_kw") else key):
            (_kw_to_w(value) if key.endswith("_kw") and value is not None else value)
        for key, value in settings.items()
    }


# ------------------------------------------------------------------------------ feeder
FeederLimit = Annotated[float | None, Query(gt=0, le=1e6)]


@router.put(
    "/communities/{community_id}/feeder",
    response_model=S.FeederOut,
    tags=["feeder"],
    responses=ERRORS | {413: {"model": S.ErrorOut}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def put_feeder(
    community_id: PId,
    request: Request,
    user: Me,
    db: DB,
    max_loading_pct: FeederLimit = None,
    v_min_pu: FeederLimit = None,
    v_max_pu: FeederLimit = None,
    max_vim_pct: FeederLimit = None,
    fee_per_kwh: Annotated[float | None, Query(ge=0, le=1e6)] = None,
) -> dict[str, Any]:
    """Upload the community's feeder: a pandapower JSON net as the request body (admin, or an operator of it).

    The body (at most 20 MiB) is hostile input: :func:`peergrid.grid.read_feeder` vets it before
    pandapower reads it (only plain pandapower tables; no classes or modules named in the file), and
    it must be a radial feeder with an ``ext_grid``; anything else is a 422 naming the problem. Query
    parameters set the limits (line loading %, voltage band pu, VIM %) and τ_L of Tooki et al. eq. 12
    (``fee_per_kwh``, currency/kWh at full utilisation); omitted ones keep their values (defaults
    100, 0.95, 1.05, 2.0, 0.01). Replaces an earlier feeder; members mapped to buses the new one
    lacks make it a 422. The market phase of an order-book community then clears on the feeder; a
    pool community (BS/MMR/SDR) pays eq. 12 line fees and loss charges at metered settlement.
    """
    from starlette.concurrency import run_in_threadpool

    body = await request.body()
    limits = {"max_loading_pct": max_loading_pct, "v_min_pu": v_min_pu, "v_max_pu": v_max_pu,
              "max_vim_pct": max_vim_pct, "fee_per_kwh": fee_per_kwh}  # fmt: skip

    def work() -> dict[str, Any]:
        c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
        row = feedermod.put_feeder(db, c, user, body, limits)
        db.commit()
        return feedermod.feeder_out(db, row)

    return await run_in_threadpool(work)


@router.get("/communities/{community_id}/feeder", response_model=S.FeederOut, tags=["feeder"], responses=ERRORS)
def get_feeder(community_id: PId, user: Me, db: DB) -> dict[str, Any]:
    """The community's feeder: size, limits, eq. 12 fee and the members' buses and phases (members)."""
    rbac.community_for(db, user, community_id)
    return feedermod.feeder_out(db, feedermod.get_feeder(db, community_id))


@router.put(
    "/communities/{community_id}/feeder/members",
    response_model=S.FeederOut,
    tags=["feeder"],
    responses=ERRORS,
)
def put_feeder_members(community_id: PId, body: S.FeederMembersIn, user: Me, db: DB) -> dict[str, Any]:
    """Map members to buses and phases of the feeder, replacing the mapping (admin, or an operator of it).

    Every user must be a member and every bus on the feeder (422 otherwise). Members without a bus
    cannot trade while an order-book community has a feeder: their orders are rejected at gate closure
    (in a pool community they are settled off the feeder, without network charges).
    """
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    feedermod.put_members(db, c, user, [m.model_dump() for m in body.members])
    db.commit()
    return feedermod.feeder_out(db, feedermod.get_feeder(db, community_id))


@router.delete("/communities/{community_id}/feeder", status_code=204, tags=["feeder"], responses=ERRORS)
def delete_feeder(community_id: PId, user: Me, db: DB) -> Response:
    """Remove the feeder and the mapping (admin, or an operator of it); idempotent. Clearing is plain again."""
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    try:
        feedermod.delete_feeder(db, c, user)
    except NotFound:
        pass
    db.commit()
    return Response(status_code=204)


def _member_out(row: Any) -> dict[str, Any]:
    u, rep = row
    return {"user_id": u.id, "email": u.email, "name": u.name, "role": u.role, "reputation": rep}


@router.post(
    "/communities/{community_id}/members",
    status_code=201,
    response_model=list[S.MemberOut],
    tags=["communities"],
    responses=ERRORS,
)
def add_members(community_id: PId, body: S.MembersIn, user: Me, db: DB) -> list[dict[str, Any]]:
    """Add users to a community and open their wallets (admin)."""
    rbac.require_role(user, rbac.ADMIN)
    directory.get_community(db, community_id)
    directory.add_members(db, community_id, body.user_ids)
    directory.audit(
        db, user, "community.members.add", community_id, f"community:{community_id}", user_ids=body.user_ids
    )
    db.commit()
    rows = db.execute(
        sa.select(User, Membership.reputation)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community_id, User.id.in_(body.user_ids))
        .order_by(User.id)
    ).all()
    return [_member_out(r) for r in rows]


@router.get(
    "/communities/{community_id}/members", response_model=S.Page[S.MemberOut], tags=["communities"], responses=ERRORS
)
def list_members(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Members with their reputation scores (admin, operator)."""
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    stmt = (
        sa.select(User, Membership.reputation)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community_id)
        .order_by(User.id)
    )
    total = db.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = db.execute(stmt.limit(limit).offset(offset)).all()
    return {"items": [_member_out(r) for r in rows], "total": total, "limit": limit, "offset": offset}


# ------------------------------------------------------------------------------ meters and readings
@router.post(
    "/communities/{community_id}/meters", status_code=201, response_model=S.MeterOut, tags=["meters"], responses=ERRORS
)
def create_meter(community_id: PId, body: S.MeterIn, user: Me, db: DB) -> Meter:
    """Register a meter for a member (operator).

    ``has_generation`` defaults to whether the owner is a prosumer; capacities left out follow the
    community's defaults (``meter_import_kw`` / ``meter_export_kw``).
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    m = directory.add_meter(
        db,
        community_id,
        body.user_id,
        body.serial,
        body.label,
        has_generation=body.has_generation,
        **_capacities_w({"import_capacity_kw": body.import_capacity_kw, "export_capacity_kw": body.export_capacity_kw}),
    )
    directory.audit(
        db,
        user,
        "meter.create",
        community_id,
        f"meter:{m.id}",
        serial=m.serial,
        user_id=body.user_id,
        has_generation=m.has_generation,
        import_capacity_w=m.import_capacity_w,
        export_capacity_w=m.export_capacity_w,
    )
    db.commit()
    return m


@router.get("/communities/{community_id}/meters", response_model=S.Page[S.MeterOut], tags=["meters"], responses=ERRORS)
def list_meters(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Meters (yours; admins and operators: all of the community)."""
    rbac.community_for(db, user, community_id)
    stmt = sa.select(Meter).where(Meter.community_id == community_id).order_by(Meter.id)
    if not rbac.sees_everyone(user):
        stmt = stmt.where(Meter.user_id == user.id)
    return _page(db, stmt, limit, offset, lambda m: m)


def _owned(db: Session, user: User, community_id: PId, model: type[T], row_id: int, what: str) -> T:
    """Row ``row_id`` of ``model`` in the community, visible to ``user`` (owner, operators, admins); else 403/404."""
    rbac.community_for(db, user, community_id)
    row = db.get(model, row_id)
    if row is None or row.community_id != community_id:  # type: ignore[attr-defined]
        raise NotFound(f"{what} {row_id} not found")
    rbac.check_owner(user, row.user_id, what)  # type: ignore[attr-defined]
    return row


def _meter(db: Session, user: User, community_id: PId, meter_id: int) -> Meter:
    return _owned(db, user, community_id, Meter, meter_id, "meter")


@router.get(
    "/communities/{community_id}/meters/{meter_id}", response_model=S.MeterOut, tags=["meters"], responses=ERRORS
)
def get_meter(community_id: PId, meter_id: PId, user: Me, db: DB) -> Meter:
    """One meter (its owner, operators, admins)."""
    return _meter(db, user, community_id, meter_id)


@router.patch(
    "/communities/{community_id}/meters/{meter_id}", response_model=S.MeterOut, tags=["meters"], responses=ERRORS
)
def update_meter(community_id: PId, meter_id: PId, body: S.MeterPatch, user: Me, db: DB) -> Meter:
    """Change a meter's label, connection capacity or generation flag (admin, or an operator of the community).

    A capacity set to ``null`` falls back to the community's default. Audited with old and new values;
    readings already stored are not judged again.
    """
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    m = _meter(db, user, community_id, meter_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("label") is None:
        changes.pop("label", None)
    if changes.get("has_generation") is None:
        changes.pop("has_generation", None)
    new = _capacities_w(changes)
    old = {attr: getattr(m, attr) for attr in new}
    for attr, value in new.items():
        setattr(m, attr, value)
    directory.audit(db, user, "meter.update", community_id, f"meter:{m.id}", serial=m.serial, old=old, new=new)
    db.commit()
    return m


@router.get(
    "/communities/{community_id}/meters/{meter_id}/readings",
    response_model=S.Page[S.ReadingOut],
    tags=["meters"],
    responses=ERRORS,
)
def list_readings(
    community_id: PId,
    meter_id: PId,
    user: Me,
    db: DB,
    limit: Limit = 100,
    offset: Offset = 0,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> dict[str, Any]:
    """Readings of a meter, oldest first, optionally in [start, end)."""
    m = _meter(db, user, community_id, meter_id)
    stmt = sa.select(Reading).where(Reading.meter_id == m.id).order_by(Reading.ts)
    if start is not None:
        stmt = stmt.where(Reading.ts >= _aware(start, "start"))
    if end is not None:
        stmt = stmt.where(Reading.ts < _aware(end, "end"))
    return _page(db, stmt, limit, offset, lambda r: r)


def _aware(t: dt.datetime, name: str) -> dt.datetime:
    if t.tzinfo is None:
        raise Invalid(f"{name} needs a timezone, e.g. 2026-01-01T00:00:00Z")
    return t.astimezone(dt.UTC)


@router.post("/communities/{community_id}/readings", response_model=S.IngestOut, tags=["meters"], responses=ERRORS)
def upload_readings(community_id: PId, body: S.ReadingsIn, request: Request, user: Me, db: DB) -> Any:
    """Upload a batch of readings; idempotent on (meter, ts).

    Prosumers and consumers may upload their own meters' readings (unless the community's
    ``member_readings`` is off: then 403), operators any meter of the community.
    If any reading is implausible (rule ``future``, ``no_generation``, ``conflict`` or ``capacity``) nothing
    is stored: 422 with ``rule``, ``index`` and every such reading in ``rejected``. Readings of unknown
    meters or settled intervals are listed in ``rejected`` of a 200 answer, the others stored.
    """
    community = rbac.community_for(db, user, community_id, rbac.OPERATOR, rbac.PROSUMER, rbac.CONSUMER)
    owner = None if user.role == rbac.OPERATOR else user.id
    if owner is not None and not community.member_readings:
        raise Forbidden(f"community {community_id} settles only signed meter data and operators' uploads: "
                        "members may not upload readings")
    result = metering.ingest_readings(
        db, community_id, [r.model_dump() for r in body.readings], owner_id=owner, now=_now(request), atomic=True
    )
    bad = [r for r in result.rejected if r["rule"] in metering.PLAUSIBILITY_RULES]
    if bad:  # all or nothing: store_readings stored none of the batch
        db.rollback()
        first = bad[0]
        r = body.readings[first["index"]]
        meter = repr(r.meter) if r.meter is not None else f"id {r.meter_id}"
        return JSONResponse(
            {
                "error": "invalid",
                "detail": f"reading {first['index']} (meter {meter}, ts {r.ts.isoformat()}): {first['reason']}",
                "rule": first["rule"],
                "index": first["index"],
                "rejected": bad,
            },
            status_code=422,
        )
    db.commit()
    return result.as_dict()


@router.put(
    "/communities/{community_id}/meters/{meter_id}/readings",
    response_model=S.ReadingCorrectionOut,
    tags=["meters"],
    responses=ERRORS,
)
def correct_reading(
    community_id: PId, meter_id: PId, body: S.ReadingCorrectionIn, request: Request, user: Me, db: DB
) -> Any:
    """Correct (replace, or add) a meter's reading before its interval's metered settlement (operator).

    The new values obey the reading rules (422 with ``rule``); after settlement 409 (settlement is
    final). Audited with the old and new values and the reason.
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    try:
        reading, old = metering.correct_reading(
            db, community_id, meter_id, body.ts, body.import_wh, body.export_wh, body.pv_wh, now=_now(request)
        )
    except metering.ReadingRejected as exc:
        db.rollback()
        return JSONResponse({"error": exc.kind, "detail": str(exc), "rule": exc.rule}, status_code=422)
    new = {"import_wh": reading.import_wh, "export_wh": reading.export_wh, "pv_wh": reading.pv_wh}
    directory.audit(
        db,
        user,
        "reading.correct",
        community_id,
        f"meter:{meter_id}",
        ts=reading.ts.isoformat(),
        old=old,
        new=new,
        reason=body.reason,
    )
    db.commit()
    return {**S.ReadingOut.model_validate(reading).model_dump(), "replaced": old}


# ------------------------------------------------------------------------------ wallets and ledger
def _wallet_out(db: Session, community: Community, acc: Account) -> dict[str, Any]:
    committed = orders.open_commitments(db, community.id, acc.user_id) if acc.user_id else 0
    return {
        "user_id": acc.user_id,
        "account_id": acc.id,
        "balance_minor": acc.balance_minor,
        "credit_limit_minor": acc.credit_limit_minor,
        "committed_minor": committed,
        "available_minor": acc.balance_minor + acc.credit_limit_minor - committed,
        "currency": community.currency,
    }


@router.get(
    "/communities/{community_id}/wallets", response_model=S.Page[S.WalletOut], tags=["wallets"], responses=ERRORS
)
def list_wallets(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """All members' wallets (admin, operator)."""
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    stmt = (
        sa.select(Account)
        .where(Account.community_id == community_id, Account.kind == "wallet")
        .order_by(Account.user_id)
    )
    return _page(db, stmt, limit, offset, lambda a: _wallet_out(db, c, a))


@router.get(
    "/communities/{community_id}/wallets/{user_id}", response_model=S.WalletOut, tags=["wallets"], responses=ERRORS
)
def get_wallet(community_id: PId, user_id: PId, user: Me, db: DB) -> dict[str, Any]:
    """A wallet: balance, credit limit, open commitments and available funds (owner, operator, admin)."""
    c = rbac.community_for(db, user, community_id)
    rbac.check_owner(user, user_id, "wallet")
    return _wallet_out(db, c, directory.wallet(db, community_id, user_id))


@router.post(
    "/communities/{community_id}/wallets/{user_id}/topup",
    response_model=S.WalletOut,
    tags=["wallets"],
    responses=ERRORS,
)
def topup(community_id: PId, user_id: PId, body: S.TopupIn, user: Me, db: DB) -> dict[str, Any]:
    """Top up a member's wallet (operator); recorded in the ledger and the audit log."""
    c = rbac.community_for(db, user, community_id, rbac.OPERATOR)
    tx = directory.topup(db, community_id, user_id, body.amount_minor, body.memo)
    directory.audit(db, user, "wallet.topup", community_id, f"user:{user_id}", amount_minor=body.amount_minor, tx_id=tx)
    db.commit()
    acc = directory.wallet(db, community_id, user_id)
    db.refresh(acc)
    return _wallet_out(db, c, acc)


@router.put(
    "/communities/{community_id}/wallets/{user_id}/credit",
    response_model=S.WalletOut,
    tags=["wallets"],
    responses=ERRORS,
)
def set_credit(community_id: PId, user_id: PId, body: S.CreditIn, user: Me, db: DB) -> dict[str, Any]:
    """Set a member's credit limit (operator): the wallet may go this far below zero."""
    c = rbac.community_for(db, user, community_id, rbac.OPERATOR)
    acc = directory.wallet(db, community_id, user_id)
    old = acc.credit_limit_minor
    acc.credit_limit_minor = body.credit_limit_minor
    directory.audit(db, user, "wallet.credit", community_id, f"user:{user_id}", old=old, new=body.credit_limit_minor)
    db.commit()
    return _wallet_out(db, c, acc)


@router.get("/communities/{community_id}/accounts", tags=["wallets"], responses=ERRORS)
def list_accounts(community_id: PId, user: Me, db: DB) -> list[dict[str, Any]]:
    """The community's system accounts (grid, fees, clearing, external) with balances (admin, operator)."""
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    rows = db.execute(
        sa.select(Account).where(Account.community_id == community_id, Account.user_id.is_(None)).order_by(Account.id)
    ).scalars()
    return [{"id": a.id, "kind": a.kind, "balance_minor": a.balance_minor} for a in rows]


@router.get(
    "/communities/{community_id}/ledger", response_model=S.Page[S.LedgerEntryOut], tags=["ledger"], responses=ERRORS
)
def list_ledger(
    community_id: PId,
    user: Me,
    db: DB,
    limit: Limit = 100,
    offset: Offset = 0,
    account_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    """Ledger entries of the community, newest first (admin, operator)."""
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    stmt = sa.select(LedgerEntry).where(LedgerEntry.community_id == community_id).order_by(LedgerEntry.seq.desc())
    if account_id is not None:
        stmt = stmt.where(
            sa.or_(LedgerEntry.debit_account_id == account_id, LedgerEntry.credit_account_id == account_id)
        )
    return _page(db, stmt, limit, offset, lambda e: e)


@router.get("/ledger/verify", response_model=S.VerifyOut, tags=["ledger"], responses=ERRORS)
def verify_ledger(user: Me, db: DB) -> dict[str, Any]:
    """Recompute the hash chain and balances (admin, operator)."""
    rbac.require_role(user, rbac.ADMIN, rbac.OPERATOR)
    return ledger.verify(db).as_dict()


# ------------------------------------------------------------------------------ orders
@router.post(
    "/communities/{community_id}/orders", status_code=201, response_model=S.OrderOut, tags=["orders"], responses=ERRORS
)
async def place_order(
    community_id: PId,
    body: S.OrderIn,
    request: Request,
    response: Response,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
    idempotency_key: Annotated[S.Key | None, Header(max_length=100)] = None,
) -> Order:
    """Place a bid (buy) or offer (sell) for a trading interval (prosumers; consumers buy only).

    Bids need wallet funds (balance − open commitments + credit ≥ quantity × price). An
    ``Idempotency-Key`` header (or ``idempotency_key`` field) makes retries safe: the same key
    returns the original order with status 200.
    """
    # the hot path: authentication, access check, placement and commit in one worker-thread hop
    order, created = await anyio.to_thread.run_sync(
        _place_order, request.app, _token(creds, cookie), community_id, body,
        body.idempotency_key or idempotency_key, _now(request),
    )
    if not created:
        response.status_code = 200
    return order  # type: ignore[return-value]


def _place_order(
    app: Any, token: str | None, community_id: int, body: S.OrderIn, key: str | None, now: dt.datetime
) -> tuple[Order | dict[str, Any], bool]:
    if key is None and app.state.fast_orders and app.state.engine.dialect.name == "postgresql":
        stored = orders.place_order_fast(app.state.engine, app.state.auth.secret, token, community_id, body.side,
                                         body.interval_start, body.quantity_wh, body.price, now)
        if stored is not None:
            return stored, True
    with app.state.sessions() as db:
        user = authmod.authenticate(db, app.state.auth, token).user
        c = rbac.community_for(db, user, community_id, rbac.PROSUMER, rbac.CONSUMER)
        order, created = orders.place_order(
            db, c, user, body.side, body.interval_start, body.quantity_wh, body.price, now, key
        )
        db.commit()
        return order, created


@router.post(
    "/communities/{community_id}/orders/batch",
    status_code=201,
    response_model=S.OrderBatchOut,
    tags=["orders"],
    responses=ERRORS | {413: {"model": S.ErrorOut}},
)
def place_orders(
    community_id: PId, body: S.OrderBatchIn, request: Request, response: Response, user: Me, db: DB
) -> dict[str, Any]:
    """Place up to 10,000 orders at once, all or nothing (prosumers; consumers buy only).

    Each order gets the checks of ``POST /orders``, applied as if the orders arrived one by one in
    batch order (wallet funds are spent in that order); if any order fails, nothing is stored and the
    error (that single order's status: 422, 403, 404 or 409) names it: ``{"error", "detail",
    "index", "field"}``. Per-order ``idempotency_key``s make retries safe: an order whose key was used
    before for the same order is not stored again (its earlier id is returned; 200 if no order was new);
    a key may appear only once per batch. The body is at most 4 MiB.
    """
    c = rbac.community_for(db, user, community_id, rbac.PROSUMER, rbac.CONSUMER)
    o = body.orders
    out = orders.place_orders(
        db, c, user, [x.side for x in o], [x.interval_start for x in o], [x.quantity_wh for x in o],
        [x.price for x in o], _now(request), [x.idempotency_key for x in o],
    )
    db.commit()
    created = sum(out.created)
    if created == 0:
        response.status_code = 200
    return {"created": created, "replayed": len(o) - created, "committed_minor": out.committed_minor, "ids": out.ids}


@router.get("/communities/{community_id}/orders", response_model=S.Page[S.OrderOut], tags=["orders"], responses=ERRORS)
def list_orders(
    community_id: PId,
    user: Me,
    db: DB,
    limit: Limit = 100,
    offset: Offset = 0,
    status: Annotated[str | None, Query(pattern="^(open|cancelled|filled|partial|unfilled|rejected)$")] = None,
    interval_start: dt.datetime | None = None,
) -> dict[str, Any]:
    """Orders (yours; admins and operators: all), newest first."""
    rbac.community_for(db, user, community_id)
    stmt = sa.select(Order).where(Order.community_id == community_id).order_by(Order.id.desc())
    if not rbac.sees_everyone(user):
        stmt = stmt.where(Order.user_id == user.id)
    if status:
        stmt = stmt.where(Order.status == status)
    if interval_start is not None:
        stmt = stmt.where(Order.interval_start == _aware(interval_start, "interval_start"))
    return _page(db, stmt, limit, offset, lambda o: o)


def _order(db: Session, user: User, community_id: PId, order_id: int) -> Order:
    return _owned(db, user, community_id, Order, order_id, "order")


@router.get(
    "/communities/{community_id}/orders/{order_id}", response_model=S.OrderOut, tags=["orders"], responses=ERRORS
)
def get_order(community_id: PId, order_id: PId, user: Me, db: DB) -> Order:
    """One order (owner, operator, admin)."""
    return _order(db, user, community_id, order_id)


@router.delete(
    "/communities/{community_id}/orders/{order_id}", response_model=S.OrderOut, tags=["orders"], responses=ERRORS
)
def cancel_order(community_id: PId, order_id: PId, request: Request, user: Me, db: DB) -> Order:
    """Cancel an open order before gate closure (owner or operator); releases its commitment."""
    c = rbac.community_for(db, user, community_id, rbac.OPERATOR, rbac.PROSUMER, rbac.CONSUMER)
    o = orders.cancel_order(db, c, user, order_id, _now(request))
    if user.id != o.user_id:
        directory.audit(db, user, "order.cancel", community_id, f"order:{order_id}")
    db.commit()
    return o


# ------------------------------------------------------------------------------ clearing and trades
@router.post("/communities/{community_id}/clearing", response_model=S.ClearingOut, tags=["clearing"], responses=ERRORS)
def run_clearing(community_id: PId, body: S.ClearIn, request: Request, user: Me, db: DB) -> dict[str, Any]:
    """Clear and settle one phase of an interval now (operator). Exactly once: a repeat is a no-op.

    ``market``: order book at gate closure; ``metered``: imbalance (order-book mechanisms)
    or pool clearing (bs/mmr/sdr) after the interval ended.
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    db.close()
    out = clearing.settle(request.app.state.sessions, community_id, body.interval_start, body.phase, _now(request))
    if out.status == "settled":
        with request.app.state.sessions() as s, s.begin():
            directory.audit(
                s,
                s.merge(user),
                "clearing.run",
                community_id,
                f"clearing:{out.run_id}",
                phase=out.phase,
                interval_start=out.interval_start.isoformat(),
            )
    return out.as_dict()


@router.get(
    "/communities/{community_id}/clearing", response_model=S.Page[S.ClearingOut], tags=["clearing"], responses=ERRORS
)
def list_clearing(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Settled clearing runs with their market summaries, newest first (members)."""
    rbac.community_for(db, user, community_id)
    stmt = (
        sa.select(ClearingRun)
        .where(ClearingRun.community_id == community_id)
        .order_by(ClearingRun.interval_start.desc(), ClearingRun.id.desc())
    )
    return _page(
        db,
        stmt,
        limit,
        offset,
        lambda r: {
            "id": r.id,
            "community_id": r.community_id,
            "interval_start": r.interval_start,
            "phase": r.phase,
            "mechanism": r.mechanism,
            "status": "settled",
            "summary": r.summary,
        },
    )


@router.get(
    "/communities/{community_id}/trades", response_model=S.Page[S.TradeOut], tags=["clearing"], responses=ERRORS
)
def list_trades(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Trades (yours as buyer or seller; admins and operators: all), newest first."""
    rbac.community_for(db, user, community_id)
    stmt = sa.select(Trade).where(Trade.community_id == community_id).order_by(Trade.id.desc())
    if not rbac.sees_everyone(user):
        stmt = stmt.where(sa.or_(Trade.buyer_id == user.id, Trade.seller_id == user.id))
    return _page(db, stmt, limit, offset, lambda t: t)


# ------------------------------------------------------------------------------ invoices and reports
def _invoice_out(inv: Invoice) -> dict[str, Any]:
    return {
        "id": inv.id,
        "number": inv.number,
        "community_id": inv.community_id,
        "user_id": inv.user_id,
        "period_start": inv.period_start,
        "period_end": inv.period_end,
        "total_minor": inv.total_minor,
        "data": inv.data,
    }


@router.post(
    "/communities/{community_id}/invoices",
    status_code=201,
    response_model=list[S.InvoiceOut],
    tags=["invoices"],
    responses=ERRORS,
)
def issue_invoices(community_id: PId, body: S.InvoiceIn, user: Me, db: DB) -> list[dict[str, Any]]:
    """Issue invoices for a billing period (operator): one member, or every member with activity.

    Re-issuing the same period returns the existing invoices.
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    invs = invoicemod.issue(db, community_id, body.period_start, body.period_end, body.user_id)
    directory.audit(
        db,
        user,
        "invoice.issue",
        community_id,
        f"invoices:{len(invs)}",
        period_start=body.period_start.isoformat(),
        period_end=body.period_end.isoformat(),
    )
    db.commit()
    return [_invoice_out(i) for i in invs]


@router.get(
    "/communities/{community_id}/invoices", response_model=S.Page[S.InvoiceOut], tags=["invoices"], responses=ERRORS
)
def list_invoices(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Invoices (yours; admins and operators: all), newest first."""
    rbac.community_for(db, user, community_id)
    stmt = sa.select(Invoice).where(Invoice.community_id == community_id).order_by(Invoice.id.desc())
    if not rbac.sees_everyone(user):
        stmt = stmt.where(Invoice.user_id == user.id)
    return _page(db, stmt, limit, offset, _invoice_out)


def _invoice(db: Session, user: User, community_id: PId, invoice_id: int) -> Invoice:
    return _owned(db, user, community_id, Invoice, invoice_id, "invoice")


@router.get(
    "/communities/{community_id}/invoices/{invoice_id}",
    response_model=S.InvoiceOut,
    tags=["invoices"],
    responses=ERRORS,
)
def get_invoice(community_id: PId, invoice_id: PId, user: Me, db: DB) -> dict[str, Any]:
    """An invoice as JSON (owner, operator, admin)."""
    return _invoice_out(_invoice(db, user, community_id, invoice_id))


@router.get(
    "/communities/{community_id}/invoices/{invoice_id}/html",
    response_class=HTMLResponse,
    tags=["invoices"],
    responses=ERRORS,
)
def invoice_html(community_id: PId, invoice_id: PId, user: Me, db: DB) -> HTMLResponse:
    """An invoice as an HTML page (its own CSP: no script at all, the page's inline stylesheet)."""
    return HTMLResponse(
        invoicemod.render_html(_invoice(db, user, community_id, invoice_id)),
        headers={"Content-Security-Policy": INVOICE_CSP},
    )


#: The invoice page has one inline <style> and nothing else: no script, no requests, no forms, no framing.
INVOICE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@router.get(
    "/communities/{community_id}/invoices/{invoice_id}/pdf",
    tags=["invoices"],
    responses={200: {"content": {"application/pdf": {}}}, **ERRORS},
)
def invoice_pdf(community_id: PId, invoice_id: PId, user: Me, db: DB) -> Response:
    """An invoice as a PDF document."""
    inv = _invoice(db, user, community_id, invoice_id)
    return Response(
        invoicemod.render_pdf(inv),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{inv.number}.pdf"'},
    )


@router.get("/communities/{community_id}/report", tags=["reports"], responses=ERRORS)
def community_report(
    community_id: PId, user: Me, db: DB, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict[str, Any]:
    """Community report: traded energy, grid exchange, savings and net-bill reduction vs grid-only (admin, operator).

    ``net_bill_reduction`` (label "Net-bill reduction"): 1 − net bill / grid-only bill; the window is echoed
    in UTC and in the community's local time (``start_local``, ``end_local``, ``tz``).
    """
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    return reportmod.community_report(db, community_id, *_range(start, end))


@router.get("/communities/{community_id}/users/{user_id}/report", tags=["reports"], responses=ERRORS)
def user_report(
    community_id: PId, user_id: PId, user: Me, db: DB, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict[str, Any]:
    """A member's report (the member, operators, admins)."""
    rbac.community_for(db, user, community_id)
    rbac.check_owner(user, user_id, "report")
    if not directory.is_member(db, community_id, user_id):
        raise NotFound(f"user {user_id} is not a member of community {community_id}")
    return reportmod.user_report(db, community_id, user_id, *_range(start, end))


def _range(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    s = _aware(start, "start") if start is not None else None
    e = _aware(end, "end") if end is not None else None
    if s is not None and e is not None and e <= s:
        raise Invalid("end must be after start")
    return s, e


# ------------------------------------------------------------------------------ audit
@router.get("/communities/{community_id}/audit", response_model=S.Page[S.AuditOut], tags=["audit"], responses=ERRORS)
def community_audit(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Privileged actions in a community, newest first (admin, operator)."""
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    stmt = sa.select(AuditLog).where(AuditLog.community_id == community_id).order_by(AuditLog.id.desc())
    return _page(db, stmt, limit, offset, lambda a: a)


@router.get("/audit", response_model=S.Page[S.AuditOut], tags=["audit"], responses=ERRORS)
def audit_log(user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Every privileged action, newest first (admin)."""
    rbac.require_role(user, rbac.ADMIN)
    return _page(db, sa.select(AuditLog).order_by(AuditLog.id.desc()), limit, offset, lambda a: a)


def _hot_routes_first(paths: set[tuple[str, str]]) -> None:
    """Move the routes of ``paths`` ((method, path) pairs) to the front of the router.

    Requests are matched against the routes in order; the order endpoints are the hot path, and no
    other route matches their method and path, so trying them first changes no match.
    """
    hot = [r for r in router.routes if any(getattr(r, "path", None) == p and m in getattr(r, "methods", ())
                                           for m, p in paths)]
    router.routes[:] = hot + [r for r in router.routes if r not in hot]


_hot_routes_first({("POST", "/api/communities/{community_id}/orders"),
                   ("POST", "/api/communities/{community_id}/orders/batch")})
