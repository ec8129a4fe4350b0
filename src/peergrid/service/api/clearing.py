"""Clearing runs and trades (tag ``clearing``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from peergrid.service import clearing, directory, rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, only_own, paginate, service_now
from peergrid.service.models import ClearingRun, Trade

router = APIRouter(tags=["clearing"], responses=ERRORS)


@router.post("/communities/{community_id}/clearing", response_model=S.ClearingOut)
def run_clearing(community_id: PId, body: S.ClearIn, request: Request, user: Me, db: DB) -> dict[str, Any]:
    """Clear and settle one phase of an interval now (operator). Exactly once: a repeat is a no-op.

    ``market``: order book at gate closure; ``metered``: imbalance (order-book mechanisms)
    or pool clearing (bs/mmr/sdr) after the interval ended.
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    db.close()
    out = clearing.settle(
        request.app.state.sessions, community_id, body.interval_start, body.phase, service_now(request)
    )
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


@router.get("/communities/{community_id}/clearing", response_model=S.Page[S.ClearingOut])
def list_clearing(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Settled clearing runs with their market summaries, newest first (members)."""
    rbac.community_for(db, user, community_id)
    stmt = (
        sa.select(ClearingRun)
        .where(ClearingRun.community_id == community_id)
        .order_by(ClearingRun.interval_start.desc(), ClearingRun.id.desc())
    )
    return paginate(
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


@router.get("/communities/{community_id}/trades", response_model=S.Page[S.TradeOut])
def list_trades(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Trades (yours as buyer or seller; admins and operators: all), newest first."""
    rbac.community_for(db, user, community_id)
    stmt = sa.select(Trade).where(Trade.community_id == community_id).order_by(Trade.id.desc())
    stmt = only_own(stmt, user, Trade.buyer_id, Trade.seller_id)
    return paginate(db, stmt, limit, offset, lambda t: t)
