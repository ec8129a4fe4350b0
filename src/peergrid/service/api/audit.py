"""The audit log of privileged actions (tag ``audit``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from peergrid.service import rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, paginate
from peergrid.service.models import AuditLog

router = APIRouter(tags=["audit"], responses=ERRORS)


@router.get("/communities/{community_id}/audit", response_model=S.Page[S.AuditOut])
def community_audit(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Privileged actions in a community, newest first (admin, operator)."""
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    stmt = sa.select(AuditLog).where(AuditLog.community_id == community_id).order_by(AuditLog.id.desc())
    return paginate(db, stmt, limit, offset, lambda a: a)


@router.get("/audit", response_model=S.Page[S.AuditOut])
def audit_log(user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Every privileged action, newest first (admin)."""
    rbac.require_role(user, rbac.ADMIN)
    return paginate(db, sa.select(AuditLog).order_by(AuditLog.id.desc()), limit, offset, lambda a: a)
