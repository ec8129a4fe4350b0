"""Log in and out, and who am I (``/api/auth``, tag ``auth``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from peergrid.service import auth as authmod
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Me, client_address, current_token
from peergrid.service.models import User

router = APIRouter(tags=["auth"], responses=ERRORS)


@router.post("/auth/login", response_model=S.TokenOut)
def login(body: S.LoginIn, request: Request, response: Response, db: DB) -> S.TokenOut:
    """Log in with email and password: returns a bearer token and sets the HTTP-only session cookie.

    Failed logins are throttled per client address and account with capped exponential
    back-off (429 with Retry-After); unknown and known emails fail alike.
    """
    issued = authmod.login(
        db, request.app.state.auth, request.app.state.limiter, body.email, body.password, client_address(request)
    )
    db.commit()
    set_session_cookie(request, response, issued)
    return S.TokenOut(
        access_token=issued.token, expires_at=issued.expires_at, user_id=issued.user.id, role=issued.user.role
    )  # type: ignore[arg-type]


def set_session_cookie(request: Request, response: Response, issued: authmod.IssuedToken) -> None:
    """Set the HTTP-only session cookie for ``issued`` (for server-rendered pages that log in with a form)."""
    response.set_cookie(
        authmod.COOKIE_NAME,
        issued.token,
        max_age=request.app.state.auth.token_ttl_s,
        httponly=True,
        samesite="strict",
        secure=request.app.state.auth.cookie_secure,
        path="/",
    )


@router.post("/auth/logout", status_code=204)
def logout(info: Annotated[authmod.TokenInfo, Depends(current_token)], response: Response, db: DB) -> Response:
    """Revoke the current token and clear the session cookie."""
    authmod.revoke(db, info.jti, info.expires_at)
    db.commit()
    response.status_code = 204
    response.delete_cookie(authmod.COOKIE_NAME, path="/")
    return response


@router.get("/auth/me", response_model=S.UserOut)
def me(user: Me) -> User:
    """The logged-in user."""
    return user
