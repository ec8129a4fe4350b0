"""Members' wallets (balance, credit, top-ups) and the system accounts (tag ``wallets``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.orm import Session

from peergrid.service import directory, orders, rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, paginate
from peergrid.service.models import Account, Community

router = APIRouter(tags=["wallets"], responses=ERRORS)


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


@router.get("/communities/{community_id}/wallets", response_model=S.Page[S.WalletOut])
def list_wallets(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """All members' wallets (admin, operator)."""
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    stmt = (
        sa.select(Account)
        .where(Account.community_id == community_id, Account.kind == "wallet")
        .order_by(Account.user_id)
    )
    return paginate(db, stmt, limit, offset, lambda a: _wallet_out(db, c, a))


@router.get("/communities/{community_id}/wallets/{user_id}", response_model=S.WalletOut)
def get_wallet(community_id: PId, user_id: PId, user: Me, db: DB) -> dict[str, Any]:
    """A wallet: balance, credit limit, open commitments and available funds (owner, operator, admin)."""
    c = rbac.community_for(db, user, community_id)
    rbac.check_owner(user, user_id, "wallet")
    return _wallet_out(db, c, directory.wallet(db, community_id, user_id))


@router.post("/communities/{community_id}/wallets/{user_id}/topup", response_model=S.WalletOut)
def topup(community_id: PId, user_id: PId, body: S.TopupIn, user: Me, db: DB) -> dict[str, Any]:
    """Top up a member's wallet (operator); recorded in the ledger and the audit log."""
    c = rbac.community_for(db, user, community_id, rbac.OPERATOR)
    tx = directory.topup(db, community_id, user_id, body.amount_minor, body.memo)
    directory.audit(db, user, "wallet.topup", community_id, f"user:{user_id}", amount_minor=body.amount_minor, tx_id=tx)
    db.commit()
    acc = directory.wallet(db, community_id, user_id)
    db.refresh(acc)
    return _wallet_out(db, c, acc)


@router.put("/communities/{community_id}/wallets/{user_id}/credit", response_model=S.WalletOut)
def set_credit(community_id: PId, user_id: PId, body: S.CreditIn, user: Me, db: DB) -> dict[str, Any]:
    """Set a member's credit limit (operator): the wallet may go this far below zero."""
    c = rbac.community_for(db, user, community_id, rbac.OPERATOR)
    acc = directory.wallet(db, community_id, user_id)
    old = acc.credit_limit_minor
    acc.credit_limit_minor = body.credit_limit_minor
    directory.audit(db, user, "wallet.credit", community_id, f"user:{user_id}", old=old, new=body.credit_limit_minor)
    db.commit()
    return _wallet_out(db, c, acc)


@router.get("/communities/{community_id}/accounts")
def list_accounts(community_id: PId, user: Me, db: DB) -> list[dict[str, Any]]:
    """The community's system accounts (grid, fees, clearing, external) with balances (admin, operator)."""
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    rows = db.execute(
        sa.select(Account).where(Account.community_id == community_id, Account.user_id.is_(None)).order_by(Account.id)
    ).scalars()
    return [{"id": a.id, "kind": a.kind, "balance_minor": a.balance_minor} for a in rows]
