"""HTTP routes of the service (``/api``): one router module per resource.

Every route enforces :mod:`peergrid.service.rbac`. The modules, each a ``router`` whose routes carry
the resource's OpenAPI tag:

=====================  ====================================================================
module                 routes
=====================  ====================================================================
``health``             ``GET /api/health`` (tag ``service``)
``auth``               ``/api/auth/login``, ``/logout``, ``/me``
``users``              ``/api/users`` (admin)
``communities``        ``/api/communities`` and ``/{id}``: settings, tariff
``feeders``            ``/api/communities/{id}/feeder`` and ``/feeder/members`` (tag ``feeder``)
``members``            ``/api/communities/{id}/members`` (tag ``communities``)
``meters``             meters, ``/readings`` upload and correction
``wallets``            ``/wallets``, top-ups, credit limits, system ``/accounts``
``ledger``             ``/ledger`` and ``/api/ledger/verify``
``orders``             ``/orders`` (``hot_router``: placing one order and a batch)
``clearing``           ``/clearing`` runs and ``/trades``
``invoices``           ``/invoices`` as JSON, HTML, PDF
``reports``            community and member reports
``audit``              the audit log
=====================  ====================================================================

:mod:`peergrid.service.api.deps` holds what they share (the database session, the current user,
paging, the error answers). :data:`router` (prefix ``/api``) includes them in :data:`ROUTERS` order,
the order requests are matched in and the OpenAPI document lists them:
:func:`peergrid.service.app.create_app` mounts it.
"""

from __future__ import annotations

from fastapi import APIRouter

from peergrid.service.api import (
    audit,
    auth,
    clearing,
    communities,
    feeders,
    health,
    invoices,
    ledger,
    members,
    meters,
    orders,
    reports,
    users,
    wallets,
)
from peergrid.service.api.auth import set_session_cookie
from peergrid.service.api.deps import client_address, current_user, get_db

__all__ = ["ROUTERS", "client_address", "current_user", "get_db", "router", "set_session_cookie"]

#: The resource routers in matching order: the order endpoints are the hot path and are tried first
#: (no other route matches their methods and paths, so this changes no match).
ROUTERS: tuple[APIRouter, ...] = (
    orders.hot_router,
    health.router,
    auth.router,
    users.router,
    communities.router,
    feeders.router,
    members.router,
    meters.router,
    wallets.router,
    ledger.router,
    orders.router,
    clearing.router,
    invoices.router,
    reports.router,
    audit.router,
)

#: Every route of the JSON API, under ``/api``.
router = APIRouter(prefix="/api")
for _r in ROUTERS:
    router.include_router(_r)
