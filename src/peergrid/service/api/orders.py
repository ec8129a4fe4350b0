"""Orders: place one or a batch (the hot path), list, read, cancel (tag ``orders``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session

from peergrid.service import auth as authmod
from peergrid.service import directory, orders, rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import (
    DB,
    ERRORS,
    Limit,
    Me,
    Offset,
    PId,
    aware,
    bearer_scheme,
    cookie_scheme,
    only_own,
    owned,
    paginate,
    service_now,
    token_of,
)
from peergrid.service.models import Order, User

#: The hot path, matched before every other route of ``/api`` (no other route matches its methods and
#: paths, so trying it first changes no match): placing one order and a batch.
hot_router = APIRouter(tags=["orders"], responses=ERRORS)
router = APIRouter(tags=["orders"], responses=ERRORS)


@hot_router.post("/communities/{community_id}/orders", status_code=201, response_model=S.OrderOut)
async def place_order(
    community_id: PId,
    body: S.OrderIn,
    request: Request,
    response: Response,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
    idempotency_key: Annotated[S.Key | None, Header(max_length=100)] = None,
) -> Order:
    """Place a bid (buy) or offer (sell) for a trading interval (prosumers; consumers buy only).

    Bids need wallet funds (balance − open commitments + credit ≥ quantity × price). An
    ``Idempotency-Key`` header (or ``idempotency_key`` field) makes retries safe: the same key
    returns the original order with status 200.
    """
    # the hot path: authentication, access check, placement and commit in one worker-thread hop
    order, created = await anyio.to_thread.run_sync(
        _place_order, request.app, token_of(creds, cookie), community_id, body,
        body.idempotency_key or idempotency_key, service_now(request),
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


@hot_router.post(
    "/communities/{community_id}/orders/batch",
    status_code=201,
    response_model=S.OrderBatchOut,
    responses={413: {"model": S.ErrorOut}},
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
        [x.price for x in o], service_now(request), [x.idempotency_key for x in o],
    )
    db.commit()
    created = sum(out.created)
    if created == 0:
        response.status_code = 200
    return {"created": created, "replayed": len(o) - created, "committed_minor": out.committed_minor, "ids": out.ids}


@router.get("/communities/{community_id}/orders", response_model=S.Page[S.OrderOut])
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
    stmt = only_own(stmt, user, Order.user_id)
    if status:
        stmt = stmt.where(Order.status == status)
    if interval_start is not None:
        stmt = stmt.where(Order.interval_start == aware(interval_start, "interval_start"))
    return paginate(db, stmt, limit, offset, lambda o: o)


def _order(db: Session, user: User, community_id: PId, order_id: int) -> Order:
    return owned(db, user, community_id, Order, order_id, "order")


@router.get("/communities/{community_id}/orders/{order_id}", response_model=S.OrderOut)
def get_order(community_id: PId, order_id: PId, user: Me, db: DB) -> Order:
    """One order (owner, operator, admin)."""
    return _order(db, user, community_id, order_id)


@router.delete("/communities/{community_id}/orders/{order_id}", response_model=S.OrderOut)
def cancel_order(community_id: PId, order_id: PId, request: Request, user: Me, db: DB) -> Order:
    """Cancel an open order before gate closure (owner or operator); releases its commitment."""
    c = rbac.community_for(db, user, community_id, rbac.OPERATOR, rbac.PROSUMER, rbac.CONSUMER)
    o = orders.cancel_order(db, c, user, order_id, service_now(request))
    if user.id != o.user_id:
        directory.audit(db, user, "order.cancel", community_id, f"order:{order_id}")
    db.commit()
    return o
