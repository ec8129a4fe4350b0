"""Orders: placement with wallet eligibility and idempotency keys, cancellation until gate closure.

A bid of q Wh at limit p currency/kWh commits ⌈q·p/1000⌉ minor units of the owner's
wallet until it is cleared or cancelled; eligibility is decided by
:func:`peergrid.market.check_wallets` (Tooki et al.: the wallet balance decides whether a
participant may trade), with funds = balance − open commitments + credit limit.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.market import BUY, SELL, OrderBook, bid_commitment_minor, check_wallets
from peergrid.service.errors import Conflict, Forbidden, InsufficientFunds, Invalid, NotFound
from peergrid.service.models import ORDER_MECHANISMS, Account, Community, Order, User
from peergrid.service.timeutil import check_aligned

MAX_HORIZON = dt.timedelta(days=7)


def commitment_minor(side: str, quantity_wh: int, price: float) -> int:
    """Money a bid commits, minor units: ⌈quantity_kWh · max(price, 0) · 100⌉ (0 for asks).

    The rule is :func:`peergrid.market.bid_commitment_minor` (see :mod:`peergrid.market.money`).
    """
    if side != "buy":
        return 0
    return bid_commitment_minor(quantity_wh, price)


def open_commitments(session: Session, community_id: int, user_id: int) -> int:
    """Σ commitments of the user's open orders in the community, minor units."""
    return int(
        session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(Order.committed_minor), 0)).where(
                Order.community_id == community_id, Order.user_id == user_id, Order.status == "open"
            )
        ).scalar_one()
    )


def gate_closure(community: Community, interval_start: dt.datetime) -> dt.datetime:
    """When the book of ``interval_start`` closes."""
    return interval_start - dt.timedelta(minutes=community.gate_closure_minutes)


def place_order(
    session: Session,
    community: Community,
    user: User,
    side: str,
    interval_start: dt.datetime,
    quantity_wh: int,
    price: float,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> tuple[Order, bool]:
    """Validate and store an order.

    Returns
    -------
    (Order, bool)
        The order and whether it was created now (``False``: the idempotency key was
        used before with the same order, which is returned unchanged).

    Raises
    ------
    Invalid, Conflict, InsufficientFunds, Forbidden
    """
    if community.mechanism not in ORDER_MECHANISMS:
        raise Invalid(
            f"community {community.id} clears metered positions with {community.mechanism!r}; it takes no orders"
        )
    if side not in ("buy", "sell"):
        raise Invalid("side must be 'buy' or 'sell'")
    if side == "sell" and user.role == "consumer":
        raise Forbidden("consumers may only buy (register as a prosumer to sell)")
    if not (isinstance(quantity_wh, int) and quantity_wh > 0):
        raise Invalid("quantity_wh must be a positive integer")
    if not (math.isfinite(price) and price >= 0):
        raise Invalid("price must be a finite number >= 0 (currency/kWh)")
    interval_start = check_aligned(interval_start, community.interval_minutes)
    if idempotency_key:
        prior = session.execute(
            sa.select(Order).where(Order.user_id == user.id, Order.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if prior is not None:
            same = (prior.community_id, prior.side, prior.interval_start, prior.quantity_wh, prior.price) == (
                community.id,
                side,
                interval_start,
                quantity_wh,
                float(price),
            )
            if not same:
                raise Conflict(f"idempotency key {idempotency_key!r} was already used for a different order")
            return prior, False
    if now >= gate_closure(community, interval_start):
        raise Conflict(
            f"gate closed for interval {interval_start.isoformat()} (closes "
            f"{community.gate_closure_minutes} min before the interval starts)"
        )
    if interval_start - now > MAX_HORIZON:
        raise Invalid(f"orders may be placed at most {MAX_HORIZON.days} days ahead")
    # the wallet, locked: serialises this user's order placements (PostgreSQL row lock; SQLite writes are serial)
    acc = session.execute(
        sa.select(Account).where(Account.community_id == community.id, Account.key == f"wallet:{user.id}")
        .with_for_update()
    ).scalar_one_or_none()
    if acc is None:
        raise NotFound(f"user {user.id} has no wallet in community {community.id}")
    committed = commitment_minor(side, quantity_wh, price)
    if side == "buy":
        book = OrderBook.from_arrays(
            participant=[0], side=[BUY if side == "buy" else SELL], quantity=[quantity_wh / 1000.0], price=[price]
        )
        elig = check_wallets(
            book,
            balance=np.array([acc.balance_minor / 100.0]),
            committed=np.array([open_commitments(session, community.id, user.id) / 100.0]),
            credit=np.array([acc.credit_limit_minor / 100.0]),
        )
        if not bool(elig.admitted[0]):
            raise InsufficientFunds(f"order rejected: {elig.reason[0]} {community.currency}")
    order = Order(
        community_id=community.id,
        user_id=user.id,
        interval_start=interval_start,
        side=side,
        quantity_wh=quantity_wh,
        price=float(price),
        status="open",
        filled_wh=0,
        committed_minor=committed,
        idempotency_key=idempotency_key,
        reason="",
    )
    session.add(order)
    session.flush()  # a concurrent request with the same idempotency key fails here (409 via IntegrityError)
    return order, True


def cancel_order(session: Session, community: Community, actor: User, order_id: int, now: dt.datetime) -> Order:
    """Cancel an open order before gate closure (owner, or an operator of the community)."""
    order = session.execute(
        sa.select(Order).where(Order.id == order_id, Order.community_id == community.id).with_for_update()
    ).scalar_one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    if order.user_id != actor.id and actor.role != "operator":
        raise Forbidden("this order belongs to another user")
    if order.status != "open":
        raise Conflict(f"order {order_id} is {order.status}, not open")
    if now >= gate_closure(community, order.interval_start):
        raise Conflict(
            f"gate closed for interval {order.interval_start.isoformat()}: the order can no longer be cancelled"
        )
    order.status = "cancelled"
    order.committed_minor = 0
    return order


def cancel_orders_of_user(session: Session, user_id: int, now: dt.datetime, reason: str) -> list[int]:
    """Cancel every open order of a user whose gate has not closed (e.g. when the user is deactivated).

    Orders of intervals whose gate already closed stay: they belong to a book being cleared,
    and their wallet commitment still covers them. The commitments of the cancelled orders
    are released.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Runs in the caller's transaction.
    user_id : int
    now : datetime
        Aware current time (the service clock).
    reason : str
        Stored in each cancelled order's ``reason``.

    Returns
    -------
    list of int
        Ids of the cancelled orders.
    """
    rows = session.execute(
        sa.select(Order, Community)
        .join(Community, Community.id == Order.community_id)
        .where(Order.user_id == user_id, Order.status == "open")
        .with_for_update(of=Order)
    ).all()
    cancelled = []
    for order, community in rows:
        if now < gate_closure(community, order.interval_start):
            order.status = "cancelled"
            order.committed_minor = 0
            order.reason = reason[:200]
            cancelled.append(order.id)
    return cancelled
