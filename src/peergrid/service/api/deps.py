"""What every router of :mod:`peergrid.service.api` shares: dependencies, parameter types, helpers.

* dependencies: :func:`get_db` (a session per request, as ``DB``), :func:`current_token`,
  :func:`current_user` (as ``Me``), :func:`client_address`;
* parameter types: ``PId`` (a positive 32-bit id in the path), ``Limit``/``Offset`` (paging);
* ``ERRORS``: the documented error answers (:class:`~peergrid.service.schemas.ErrorOut`) of a route;
* helpers: :func:`paginate`, :func:`owned`, :func:`aware`, :func:`time_range`, :func:`capacities_w`,
  :func:`service_now`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from peergrid.service import auth as authmod
from peergrid.service import rbac
from peergrid.service import schemas as S
from peergrid.service.errors import Invalid, NotFound
from peergrid.service.models import User

T = TypeVar("T")

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login")
cookie_scheme = APIKeyCookie(name=authmod.COOKIE_NAME, auto_error=False, description="Session cookie set by login")

#: The error answers every route documents (each a JSON :class:`~peergrid.service.schemas.ErrorOut`).
ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": S.ErrorOut} for c in (400, 401, 403, 404, 409, 422, 429)}


def get_db(request: Request) -> Iterator[Session]:
    """A session per request; write routes commit explicitly, anything else is rolled back."""
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


DB = Annotated[Session, Depends(get_db, scope="function")]


def token_of(creds: HTTPAuthorizationCredentials | None, cookie: str | None) -> str | None:
    """The request's token: the ``Authorization: Bearer`` credentials, else the session cookie (``None``: neither)."""
    if creds is not None and creds.scheme.lower() == "bearer":
        return creds.credentials
    return cookie


def current_token(
    request: Request,
    db: DB,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> authmod.TokenInfo:
    """The verified token of the request (bearer header first, then the session cookie)."""
    return authmod.authenticate(db, request.app.state.auth, token_of(creds, cookie))


def current_user(info: Annotated[authmod.TokenInfo, Depends(current_token)]) -> User:
    """The authenticated user."""
    return info.user


Me = Annotated[User, Depends(current_user)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="items to skip")]
PId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def service_now(request: Request) -> dt.datetime:
    """The service clock's current time (aware UTC; ``app.state.clock``, controllable in tests)."""
    return request.app.state.clock()


def paginate(
    db: Session, stmt: sa.Select, limit: int, offset: int, convert: Any, *, scalars: bool = True
) -> dict[str, Any]:
    """One page of ``stmt``'s results, each through ``convert``: ``{"items", "total", "limit", "offset"}``.

    ``scalars``: each result is the first column (an ORM object); ``False``: the whole row.
    """
    total = db.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    result = db.execute(stmt.limit(limit).offset(offset))
    items = [convert(x) for x in (result.scalars() if scalars else result.all())]
    return {"items": items, "total": int(total), "limit": limit, "offset": offset}


def only_own(stmt: sa.Select, user: User, *owners: Any) -> sa.Select:
    """``stmt`` limited to the rows where one of the ``owners`` columns is ``user``; admins and operators see all.

    E.g. ``only_own(select(Trade), user, Trade.buyer_id, Trade.seller_id)``: the user's trades as buyer or
    seller (:func:`peergrid.service.rbac.sees_everyone`).
    """
    if rbac.sees_everyone(user):
        return stmt
    return stmt.where(sa.or_(*(column == user.id for column in owners)))


def client_address(request: Request) -> str:
    """The client's address: the socket peer, or from ``X-Forwarded-For`` if the peer is a trusted proxy.

    Trusted proxies are ``AuthSettings.trusted_proxies`` (``peergrid serve --trusted-proxy``);
    see :func:`peergrid.service.auth.client_address`.
    """
    peer = request.client.host if request.client else None
    return authmod.client_address(
        peer, request.headers.getlist("x-forwarded-for"), request.app.state.auth.proxies()
    )


def _kw_to_w(kw: float) -> int:
    return max(1, round(kw * 1000))


def capacities_w(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with every capacity ``*_kw`` (kW, as the API takes it) as the stored ``*_w`` (W); ``None`` stays.

    E.g. a community's ``meter_import_kw`` → ``meter_import_w``, a meter's ``export_capacity_kw`` →
    ``export_capacity_w``.
    """
    return {
        (key.removesuffix("_kw") + "_w" if key.endswith("_kw") else key):
            (_kw_to_w(value) if key.endswith("_kw") and value is not None else value)
        for key, value in settings.items()
    }


def owned(db: Session, user: User, community_id: PId, model: type[T], row_id: int, what: str) -> T:
    """Row ``row_id`` of ``model`` in the community, visible to ``user`` (owner, operators, admins); else 403/404."""
    rbac.community_for(db, user, community_id)
    row = db.get(model, row_id)
    if row is None or row.community_id != community_id:  # type: ignore[attr-defined]
        raise NotFound(f"{what} {row_id} not found")
    rbac.check_owner(user, row.user_id, what)  # type: ignore[attr-defined]
    return row


def aware(t: dt.datetime, name: str) -> dt.datetime:
    """``t`` in UTC; a time without a timezone is a 422 naming the parameter ``name``."""
    if t.tzinfo is None:
        raise Invalid(f"{name} needs a timezone, e.g. 2026-01-01T00:00:00Z")
    return t.astimezone(dt.UTC)


def time_range(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A report window ``[start, end)`` in UTC (either may be open); 422 unless ``end`` is after ``start``."""
    s = aware(start, "start") if start is not None else None
    e = aware(end, "end") if end is not None else None
    if s is not None and e is not None and e <= s:
        raise Invalid("end must be after start")
    return s, e
