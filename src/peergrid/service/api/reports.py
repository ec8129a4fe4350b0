"""Community and member reports (tag ``reports``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter

from peergrid.service import directory, rbac
from peergrid.service import reports as reportmod
from peergrid.service.api.deps import DB, ERRORS, Me, PId, time_range
from peergrid.service.errors import NotFound

router = APIRouter(tags=["reports"], responses=ERRORS)


@router.get("/communities/{community_id}/report")
def community_report(
    community_id: PId, user: Me, db: DB, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict[str, Any]:
    """Community report: traded energy, grid exchange, savings and net-bill reduction vs grid-only (admin, operator).

    ``net_bill_reduction`` (label "Net-bill reduction"): 1 − net bill / grid-only bill; the window is echoed
    in UTC and in the community's local time (``start_local``, ``end_local``, ``tz``).
    """
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    return reportmod.community_report(db, community_id, *time_range(start, end))


@router.get("/communities/{community_id}/users/{user_id}/report")
def user_report(
    community_id: PId, user_id: PId, user: Me, db: DB, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict[str, Any]:
    """A member's report (the member, operators, admins)."""
    rbac.community_for(db, user, community_id)
    rbac.check_owner(user, user_id, "report")
    if not directory.is_member(db, community_id, user_id):
        raise NotFound(f"user {user_id} is not a member of community {community_id}")
    return reportmod.user_report(db, community_id, user_id, *time_range(start, end))
