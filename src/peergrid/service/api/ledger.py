"""The double-entry ledger: entries and hash-chain verification (tag ``ledger``)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from peergrid.service import ledger, rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, paginate
from peergrid.service.models import LedgerEntry

router = APIRouter(tags=["ledger"], responses=ERRORS)


@router.get("/communities/{community_id}/ledger", response_model=S.Page[S.LedgerEntryOut])
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
    return paginate(db, stmt, limit, offset, lambda e: e)


@router.get("/ledger/verify", response_model=S.VerifyOut)
def verify_ledger(user: Me, db: DB) -> dict[str, Any]:
    """Recompute the hash chain and balances (admin, operator)."""
    rbac.require_role(user, rbac.ADMIN, rbac.OPERATOR)
    return ledger.verify(db).as_dict()
