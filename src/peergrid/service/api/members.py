"""Members of a community (``/api/communities/{id}/members``, tag ``communities``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from peergrid.service import directory, rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, paginate
from peergrid.service.models import Membership, User

router = APIRouter(tags=["communities"], responses=ERRORS)


def _member_out(row: Any) -> dict[str, Any]:
    u, rep = row
    return {"user_id": u.id, "email": u.email, "name": u.name, "role": u.role, "reputation": rep}


@router.post("/communities/{community_id}/members", status_code=201, response_model=list[S.MemberOut])
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


@router.get("/communities/{community_id}/members", response_model=S.Page[S.MemberOut])
def list_members(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Members with their reputation scores (admin, operator)."""
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    stmt = (
        sa.select(User, Membership.reputation)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community_id)
        .order_by(User.id)
    )
    return paginate(db, stmt, limit, offset, _member_out, scalars=False)
