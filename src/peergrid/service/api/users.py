"""User accounts (``/api/users``, tag ``users``; admin)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from peergrid.service import auth as authmod
from peergrid.service import directory, orders, rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, paginate, service_now
from peergrid.service.errors import Forbidden, Invalid, NotFound
from peergrid.service.models import User

router = APIRouter(tags=["users"], responses=ERRORS)


@router.post("/users", status_code=201, response_model=S.UserOut)
def create_user(body: S.UserIn, request: Request, user: Me, db: DB) -> User:
    """Create a user (admin). The password must pass the password policy (422 with the reason)."""
    rbac.require_role(user, rbac.ADMIN)
    new = directory.create_user(
        db, body.email, body.name, authmod.hash_password(request.app.state.auth, body.password, body.email), body.role
    )
    directory.audit(db, user, "user.create", target=f"user:{new.id}", role=body.role, email=new.email)
    db.commit()
    return new


@router.get("/users", response_model=S.Page[S.UserOut])
def list_users(user: Me, db: DB, limit: Limit = 100, offset: Offset = 0, role: S.Role | None = None) -> dict[str, Any]:
    """All users (admin)."""
    rbac.require_role(user, rbac.ADMIN)
    stmt = sa.select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    return paginate(db, stmt, limit, offset, lambda u: u)


@router.get("/users/{user_id}", response_model=S.UserOut)
def get_user(user_id: PId, user: Me, db: DB) -> User:
    """A user (admin, or yourself)."""
    if user.role != rbac.ADMIN and user.id != user_id:
        raise Forbidden("only admins may read other users")
    found = db.get(User, user_id)
    if found is None:
        raise NotFound(f"user {user_id} not found")
    return found


@router.patch("/users/{user_id}", response_model=S.UserOut)
def update_user(user_id: PId, body: S.UserPatch, request: Request, user: Me, db: DB) -> User:
    """Change a user's name, password, role or active flag (admin).

    A new password (checked by the password policy) or deactivation invalidates all of the
    user's tokens, the caller's own included when they change their own password. Deactivation
    also cancels the user's open orders whose gate has not closed (audited as ``cancelled_orders``).
    """
    rbac.require_role(user, rbac.ADMIN)
    target = db.get(User, user_id)
    if target is None:
        raise NotFound(f"user {user_id} not found")
    changes = body.model_dump(exclude_none=True)
    if target.id == user.id and (changes.get("role", "admin") != "admin" or changes.get("is_active") is False):
        raise Invalid("admins cannot demote or deactivate themselves")
    if "password" in changes:
        authmod.set_password(request.app.state.auth, target, changes.pop("password"))
        changes["password"] = "changed"
    if changes.get("is_active") is False and target.is_active:
        authmod.invalidate_tokens(target)
        # a deactivated member trades no more: open orders before their gate are withdrawn
        changes["cancelled_orders"] = orders.cancel_orders_of_user(
            db, target.id, service_now(request), "user deactivated"
        )
    for key in ("name", "role", "is_active"):
        if key in changes:
            setattr(target, key, changes[key])
    directory.audit(db, user, "user.update", target=f"user:{user_id}", **changes)
    db.commit()
    return target
