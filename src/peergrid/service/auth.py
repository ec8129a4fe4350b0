"""Authentication: argon2 password hashes, JWT access tokens with expiry and revocation.

* Passwords are hashed with argon2id (argon2-cffi); parameters are configurable so
  tests can use cheap ones.
* A successful login issues an HS256 JWT (``sub`` = user id, ``jti``, ``exp``). Clients
  send it as ``Authorization: Bearer <token>`` or in the HTTP-only, SameSite=Strict
  cookie ``peergrid_session`` that the login endpoint also sets (for server-rendered
  pages with a login form). Logout stores the ``jti`` in ``revoked_tokens``; every
  request checks it, and deactivating a user invalidates all of their tokens.
* The signing key lives in ``service_config`` (created on first start, shared by every
  server process on the same database) unless given explicitly; it is never logged.
* Login is rate limited per client address and per email (failures in a sliding
  window, :class:`LoginLimiter`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from peergrid.service.errors import Invalid, RateLimited, Unauthorized
from peergrid.service.models import RevokedToken, ServiceConfig, User, utcnow

COOKIE_NAME = "peergrid_session"
ALGORITHM = "HS256"
MIN_PASSWORD = 8


@dataclass(frozen=True)
class AuthSettings:
    """Authentication parameters.

    Attributes
    ----------
    token_ttl_s : int
        Lifetime of an access token, seconds.
    argon2_time_cost, argon2_memory_kib : int
        argon2id cost parameters (defaults: argon2-cffi's RFC 9106 low-memory profile).
    login_max_failures : int
        Failed logins allowed per client address (and per email) in ``login_window_s``.
    login_window_s : int
        Sliding window of the login rate limit, seconds.
    cookie_secure : bool
        Set the ``Secure`` flag on the session cookie (behind HTTPS).
    secret : str or None
        Token signing key; ``None`` uses the key stored in the database.
    """

    token_ttl_s: int = 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    login_max_failures: int = 5
    login_window_s: int = 60
    cookie_secure: bool = False
    secret: str | None = None

    def hasher(self) -> PasswordHasher:
        """An argon2id hasher with these costs."""
        return PasswordHasher(time_cost=self.argon2_time_cost, memory_cost=self.argon2_memory_kib, parallelism=1)


FAST_AUTH = AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024)
"""Cheap hashing for tests and benchmarks (never for production)."""


def hash_password(settings: AuthSettings, password: str) -> str:
    """argon2id hash of ``password`` (at least 8 characters)."""
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password must have at least {MIN_PASSWORD} characters")
    return settings.hasher().hash(password)


def check_password(settings: AuthSettings, password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash``."""
    try:
        return settings.hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def signing_key(session: Session, settings: AuthSettings) -> str:
    """The token signing key: explicit, or stored in ``service_config`` (created once)."""
    if settings.secret:
        return settings.secret
    row = session.get(ServiceConfig, "jwt_secret")
    if row is not None:
        return row.value
    key = secrets.token_urlsafe(48)
    try:
        with session.begin_nested():
            session.add(ServiceConfig(key="jwt_secret", value=key))
    except IntegrityError:  # another process created it first
        row = session.get(ServiceConfig, "jwt_secret")
        assert row is not None
        return row.value
    return key


class LoginLimiter:
    """Sliding-window counter of failed logins per key (client address, email); thread-safe."""

    def __init__(self, max_failures: int, window_s: int) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._fails[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        """Raise :class:`RateLimited` if any key has used up its failures."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                q = self._trim(key, now)
                if len(q) >= self.max_failures:
                    retry = int(q[0] + self.window_s - now) + 1
                    raise RateLimited(f"too many failed logins; retry in {retry} s", retry_after=retry)

    def fail(self, *keys: str) -> None:
        """Count one failure for every key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._trim(key, now).append(now)

    def reset(self, *keys: str) -> None:
        """Forget the failures of ``keys`` (after a successful login)."""
        with self._lock:
            for key in keys:
                self._fails.pop(key, None)


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued access token."""

    token: str
    jti: str
    expires_at: dt.datetime
    user: User


def issue_token(session: Session, settings: AuthSettings, user: User) -> IssuedToken:
    """Sign an access token for ``user``."""
    now = utcnow()
    exp = now + dt.timedelta(seconds=settings.token_ttl_s)
    jti = uuid.uuid4().hex
    payload = {
        "sub": str(user.id),
        "jti": jti,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
        "role": user.role,
    }
    token = jwt.encode(payload, signing_key(session, settings), algorithm=ALGORITHM)
    return IssuedToken(token, jti, exp.replace(microsecond=0), user)


def login(
    session: Session, settings: AuthSettings, limiter: LoginLimiter, email: str, password: str, client: str
) -> IssuedToken:
    """Check credentials (rate limited) and issue a token.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    settings : AuthSettings
    limiter : LoginLimiter
    email, password : str
    client : str
        Client address (rate-limit key).

    Raises
    ------
    RateLimited
        Too many failures for this client or email.
    Unauthorized
        Wrong email or password, or the account is disabled (same message).
    """
    email = (email or "").strip().lower()
    keys = (f"ip:{client}", f"email:{email}")
    limiter.check(*keys)
    user = session.execute(sa.select(User).where(User.email == email)).scalar_one_or_none()
    ok = user is not None and user.is_active and check_password(settings, user.password_hash, password or "")
    if not ok:
        limiter.fail(*keys)
        raise Unauthorized("wrong email or password")
    limiter.reset(f"email:{email}")
    assert user is not None
    return issue_token(session, settings, user)


@dataclass(frozen=True)
class TokenInfo:
    """A verified token: its user and identifiers."""

    user: User
    jti: str
    expires_at: dt.datetime


def authenticate(session: Session, settings: AuthSettings, token: str | None) -> TokenInfo:
    """Verify a token (signature, expiry, revocation, active user).

    Raises
    ------
    Unauthorized
        Missing, malformed, expired or revoked token, or unknown/disabled user.
    """
    if not token:
        raise Unauthorized("not authenticated: log in at POST /api/auth/login")
    try:
        payload = jwt.decode(
            token, signing_key(session, settings), algorithms=[ALGORITHM], options={"require": ["exp", "sub", "jti"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired: log in again") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    jti = str(payload["jti"])
    try:
        uid = int(payload["sub"])
    except (TypeError, ValueError):
        raise Unauthorized("invalid token") from None
    revoked = sa.exists().where(RevokedToken.jti == jti)
    row = session.execute(sa.select(User, revoked).where(User.id == uid)).first()
    if row is not None and row[1]:
        raise Unauthorized("token revoked: log in again")
    user = row[0] if row is not None else None
    if user is None or not user.is_active:
        raise Unauthorized("account disabled or removed")
    return TokenInfo(user, jti, dt.datetime.fromtimestamp(int(payload["exp"]), dt.UTC))


def revoke(session: Session, jti: str, expires_at: dt.datetime) -> None:
    """Revoke a token id (idempotent); expired revocations are purged on the way."""
    session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
