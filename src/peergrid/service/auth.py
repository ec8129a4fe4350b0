"""Authentication: argon2 password hashes, password policy, JWT access tokens, login throttling.

* Passwords are hashed with argon2id (argon2-cffi); parameters are configurable so
  tests can use cheap ones. Every password that is set passes :func:`check_password_policy`
  (length 10–128, no control characters, not only whitespace, not repetitive or sequential,
  not the email, not a common password).
* A login costs one argon2 verification whether or not the email exists or the account is
  active (unknown and disabled accounts are checked against a dummy hash made with the same
  parameters), and both fail with the same message: no account enumeration by timing.
* A successful login issues an HS256 JWT (``sub`` = user id, ``jti``, ``exp``, ``ver`` =
  the user's ``token_version``). Clients send it as ``Authorization: Bearer <token>`` or in
  the HTTP-only, SameSite=Strict cookie ``peergrid_session`` that the login endpoint also
  sets. Logout stores the ``jti`` in ``revoked_tokens``; every request checks it, the user's
  active flag and ``ver``. Changing a password or deactivating a user bumps
  ``token_version``, which invalidates all of the user's tokens.
* The signing key lives in ``service_config`` (created on first start, shared by every
  server process on the same database) unless given explicitly; it is never logged.
* Failed logins are throttled per (client address, account), per client address and per
  account with capped exponential back-off (:class:`LoginLimiter`); the rule cannot lock the
  owner of an account out: see :class:`LoginLimiter`. The service keeps the counters in the
  database (:class:`DatabaseLoginStore`), so every server process of one database applies the
  same throttle and a restart forgets nothing.
* The client address is the socket peer; ``X-Forwarded-For`` is honoured only when the peer
  is one of the configured ``trusted_proxies`` (:func:`client_address`).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import hashlib
import ipaddress
import itertools
import math
import re
import secrets
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from peergrid.core.errors import ConfigError
from peergrid.service.db import is_postgres
from peergrid.service.errors import Invalid, RateLimited, Unauthorized
from peergrid.service.models import LoginFailure, RevokedToken, ServiceConfig, User, utcnow

COOKIE_NAME = "peergrid_session"
ALGORITHM = "HS256"
MIN_PASSWORD = 10
MAX_PASSWORD = 128
MIN_DISTINCT = 5

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=64)
def parse_proxies(items: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """IP networks of trusted proxies from addresses or CIDR blocks (``"10.0.0.1"``, ``"10.0.0.0/8"``, ``"::1"``).

    Raises
    ------
    ConfigError
        An entry is neither an IP address nor a network.
    """
    out = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"trusted proxy {item!r} is not an IP address or CIDR network") from None
    return tuple(out)


@dataclass(frozen=True)
class AuthSettings:
    """Authentication parameters.

    Attributes
    ----------
    token_ttl_s : int
        Lifetime of an access token, seconds.
    argon2_time_cost, argon2_memory_kib : int
        argon2id cost parameters (defaults: argon2-cffi's RFC 9106 low-memory profile).
    login_free_failures : int
        Failed logins per (client address, account) before back-off starts.
    login_address_free_failures : int
        Failed logins per client address (any accounts) before back-off starts.
    login_account_free_failures : int
        Failed logins per account (any addresses) before the account's back-off applies to
        the addresses that have failed on it.
    login_backoff_base_s : float
        First back-off delay, seconds; it doubles with every further failure.
    login_backoff_max_s : float
        Cap of the back-off delay, seconds.
    login_forget_s : float
        Failure counters idle this long are forgotten, seconds.
    cookie_secure : bool
        Set the ``Secure`` flag on the session cookie (behind HTTPS).
    secret : str or None
        Token signing key; ``None`` uses the key stored in the database.
    trusted_proxies : tuple of str
        Reverse proxies (IP addresses or CIDR networks) whose ``X-Forwarded-For`` is believed;
        empty (default): the socket peer is the client.
    """

    token_ttl_s: int = 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    login_free_failures: int = 5
    login_address_free_failures: int = 20
    login_account_free_failures: int = 10
    login_backoff_base_s: float = 1.0
    login_backoff_max_s: float = 900.0
    login_forget_s: float = 86400.0
    cookie_secure: bool = False
    secret: str | None = None
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        parse_proxies(self.trusted_proxies)  # fail early on a bad entry

    def hasher(self) -> PasswordHasher:
        """An argon2id hasher with these costs."""
        return PasswordHasher(time_cost=self.argon2_time_cost, memory_cost=self.argon2_memory_kib, parallelism=1)

    def proxies(self) -> tuple[IPNetwork, ...]:
        """:attr:`trusted_proxies` as IP networks."""
        return parse_proxies(self.trusted_proxies)


FAST_AUTH = AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024)
"""Cheap hashing for tests and benchmarks (never for production)."""


# ------------------------------------------------------------------------------ password policy
_SEQUENCES = (
    "01234567890123456789",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "!@#$%^&*()_+",
    "`1234567890-=",
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_AFFIX = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_SEPARATORS = re.compile(r"[\s._\-+]+")


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case, ``common_passwords.txt``)."""
    text = resources.files("peergrid.service").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _candidates(lower: str) -> set[str]:
    """Forms of a lower-case password to look up: as is, without separators, leading/trailing digits and
    symbols, and with leetspeak undone."""
    out = {lower}
    for _ in range(2):
        for c in list(out):
            out |= {_AFFIX.sub("", c), _SEPARATORS.sub("", c), c.translate(_LEET)}
    return {c for c in out if len(c) >= 3}


def password_problem(password: object, email: str | None = None) -> str | None:
    """Why ``password`` is not acceptable (one line), or ``None`` if it is.

    The rules (NIST SP 800-63B style, no composition rules):
    10 to 128 characters; no control characters (NUL, tab, newline, …) or unpaired surrogates;
    not only whitespace; at least 5 different characters; not a run of a keyboard row or of the
    alphabet or digits; not the email address or its local part; not a common password, also
    after removing leading/trailing digits and symbols, separators and leetspeak
    (``P@ssw0rd-2024!`` is ``password``).

    Parameters
    ----------
    password : str
        The candidate password.
    email : str, optional
        The account's email address.
    """
    if not isinstance(password, str):
        return "password must be text"
    if len(password) < MIN_PASSWORD:
        return f"password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"password must have at most {MAX_PASSWORD} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in password):
        return "password must not contain control characters (NUL, tab, newline, ...)"
    if not password.strip():
        return "password must not be only whitespace"
    if len(set(password)) < MIN_DISTINCT:
        return f"password must have at least {MIN_DISTINCT} different characters"
    lower = password.lower()
    if any(lower in seq or lower in seq[::-1] for seq in _SEQUENCES):
        return "password must not be a sequence of keyboard or alphabet characters"
    candidates = _candidates(lower)
    if email:
        mail = email.strip().lower()
        if candidates & {mail, mail.split("@", 1)[0]}:
            return "password must not be the email address"
    if candidates & common_passwords():
        return "password is too common (it appears in lists of leaked passwords)"
    return None


def check_password_policy(password: str, email: str | None = None) -> None:
    """Raise :class:`Invalid` (HTTP 422) if ``password`` breaks :func:`password_problem`'s rules."""
    problem = password_problem(password, email)
    if problem:
        raise Invalid(problem)


def hash_password(settings: AuthSettings, password: str, email: str | None = None) -> str:
    """argon2id hash of ``password`` after checking the password policy (``email``: the account's)."""
    check_password_policy(password, email)
    return settings.hasher().hash(password)


def set_password(settings: AuthSettings, user: User, password: str) -> None:
    """Give ``user`` a new password (policy checked) and invalidate all of their tokens."""
    user.password_hash = hash_password(settings, password, user.email)
    invalidate_tokens(user)


def invalidate_tokens(user: User) -> None:
    """Bump ``user.token_version``: every token issued before is refused from now on."""
    user.token_version = (user.token_version or 0) + 1


def _secret_bytes(password: str) -> bytes:
    return password.encode("utf-8", "surrogatepass")


@functools.lru_cache(maxsize=16)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
    return hasher.hash(secrets.token_urlsafe(24))


def dummy_hash(settings: AuthSettings) -> str:
    """A hash of a random secret with ``settings``' costs (made once): verified for unknown accounts."""
    return _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib)


def check_password(settings: AuthSettings, password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash`` (one argon2 verification)."""
    try:
        return settings.hasher().verify(password_hash, _secret_bytes(password))
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


# ------------------------------------------------------------------------------ client address
def _parse_hop(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None, proxies: Sequence[IPNetwork]) -> bool:
    if addr is None:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == net.version and addr in net for net in proxies)


def is_trusted_proxy(peer: str | None, proxies: Sequence[IPNetwork]) -> bool:
    """Whether the socket peer ``peer`` (an IP address text) is one of the trusted ``proxies``.

    An IPv4-mapped IPv6 address counts as its IPv4 address; anything that is not an IP address is not trusted.
    """
    return bool(peer) and _trusted(_parse_hop(str(peer)), proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[IPNetwork]) -> str:
    """The client's address: the socket peer, or — only if the peer is a trusted proxy — from ``X-Forwarded-For``.

    The ``X-Forwarded-For`` hops are read from the right (the hop the trusted peer added) and
    every trusted proxy is skipped; the first untrusted hop is the client. A malformed hop ends
    the walk at the last good one. Without trusted proxies the header is ignored.

    Parameters
    ----------
    peer : str or None
        The socket peer's host (``request.client.host``).
    forwarded_for : iterable of str
        The values of every ``X-Forwarded-For`` header, in order.
    proxies : sequence of ipaddress networks
        Trusted proxies (:meth:`AuthSettings.proxies`).

    Returns
    -------
    str
        The address in canonical text form (or the peer string as is if it is not an IP address).
    """
    if not peer:
        return "unknown"
    current = _parse_hop(peer)
    if current is None:
        return peer
    if proxies and _trusted(current, proxies):
        hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            addr = _parse_hop(hop)
            if addr is None:
                break
            current = addr
            if not _trusted(addr, proxies):
                break
    if isinstance(current, ipaddress.IPv6Address) and current.ipv4_mapped is not None:
        current = current.ipv4_mapped
    return str(current)


def address_key(address: str) -> str:
    """Rate-limit key of an address: IPv6 addresses count per /64 network (one subscriber's block)."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(addr, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


# ------------------------------------------------------------------------------ login throttling
LOGIN_KINDS = ("pair", "address", "account")
"""The three kinds of failed-login counters (``login_failures.kind``)."""


@dataclass(frozen=True)
class LoginKeys:
    """The storage keys of one attempt's three counters (≤ 400 characters each).

    ``pair`` and ``account`` are SHA-256 hex digests (no email address is stored); ``address``
    is :func:`address_key` of the client address (hashed if it is not short printable text).
    """

    pair: str
    address: str
    account: str

    def items(self) -> tuple[tuple[str, str], tuple[str, str], tuple[str, str]]:
        """``(kind, key)`` of the three counters, in the order of :data:`LOGIN_KINDS`."""
        return (("pair", self.pair), ("address", self.address), ("account", self.account))


def _digest(*parts: str) -> str:
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def login_keys(address: str, account: str) -> LoginKeys:
    """The counter keys of an attempt for ``account`` (normalised email) from ``address``."""
    x = address_key(address)
    if len(x) > 100 or not x.isprintable():
        x = "sha256:" + _digest(x)
    return LoginKeys(pair=_digest(x, account), address=x, account=_digest(account))


@dataclass
class _Counter:
    failures: int = 0
    last: float = 0.0


class LoginStore(Protocol):
    """Where :class:`LoginLimiter` keeps its counters (:class:`MemoryLoginStore`, :class:`DatabaseLoginStore`).

    ``session`` is the caller's database session (the request's), or ``None``; times are seconds
    of the limiter's clock.
    """

    def load(self, keys: LoginKeys, since: float, session: Session | None) -> dict[str, tuple[int, float]]:
        """``kind -> (failures, last failure time)`` of the counters whose last failure is after ``since``."""

    def add(self, keys: LoginKeys, now: float, forget_s: float, session: Session | None) -> None:
        """Count one failure at ``now`` on the three counters (a counter idle ≥ ``forget_s`` starts at 1)."""

    def forget(self, keys: LoginKeys, session: Session | None) -> None:
        """Delete the pair and account counters."""

    def clear(self) -> None:
        """Delete every counter."""


class MemoryLoginStore:
    """Counters in the memory of this process (thread-safe): for tests and single-process tools.

    At most ``max_keys`` counters of each kind are kept (the least recently failed go first).
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._tables: dict[str, collections.OrderedDict[str, _Counter]] = {
            kind: collections.OrderedDict() for kind in LOGIN_KINDS
        }
        self._lock = threading.Lock()

    def load(self, keys: LoginKeys, since: float, session: Session | None = None) -> dict[str, tuple[int, float]]:
        """See :meth:`LoginStore.load`."""
        out = {}
        with self._lock:
            for kind, key in keys.items():
                c = self._tables[kind].get(key)
                if c is not None and c.last > since:
                    out[kind] = (c.failures, c.last)
        return out

    def add(self, keys: LoginKeys, now: float, forget_s: float, session: Session | None = None) -> None:
        """See :meth:`LoginStore.add`."""
        with self._lock:
            for kind, key in keys.items():
                table = self._tables[kind]
                c = table.get(key)
                if c is None or now - c.last >= forget_s:
                    c = _Counter()
                c.failures += 1
                c.last = now
                table[key] = c
                table.move_to_end(key)
                while table and (len(table) > self.max_keys or now - next(iter(table.values())).last >= forget_s):
                    table.popitem(last=False)

    def forget(self, keys: LoginKeys, session: Session | None = None) -> None:
        """See :meth:`LoginStore.forget`."""
        with self._lock:
            self._tables["pair"].pop(keys.pair, None)
            self._tables["account"].pop(keys.account, None)

    def clear(self) -> None:
        """See :meth:`LoginStore.clear`."""
        with self._lock:
            for table in self._tables.values():
                table.clear()


class DatabaseLoginStore:
    """Counters in the ``login_failures`` table: every server process of the database shares them.

    Per attempt one ``SELECT`` of at most 3 rows; per failure one ``INSERT … ON CONFLICT DO UPDATE``
    of the 3 counters that increments in SQL (``failures = failures + 1``: concurrent processes lose
    no counts); per success one delete of 2 rows. Every ``prune_every`` failures (per process) rows
    idle for ``forget_s`` are deleted and at most ``max_rows`` rows are kept (the least recently
    failed go first). With a ``session`` the statements run in it (the caller commits); without one
    in a transaction of their own.

    Parameters
    ----------
    sessions : sqlalchemy.orm.sessionmaker
        The app's session factory.
    max_rows : int
        Cap of the table's rows.
    prune_every : int
        Failures between two prunes.
    """

    def __init__(self, sessions: sessionmaker[Session], max_rows: int = 300_000, prune_every: int = 100) -> None:
        self.sessions = sessions
        self.max_rows = max_rows
        self.prune_every = prune_every
        self._adds = itertools.count(1)

    @contextlib.contextmanager
    def _session(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self.sessions() as own, own.begin():
            yield own

    @staticmethod
    def _where(pairs: Iterable[tuple[str, str]]) -> sa.ColumnElement[bool]:
        return sa.or_(*(sa.and_(LoginFailure.kind == kind, LoginFailure.key == key) for kind, key in pairs))

    def load(self, keys: LoginKeys, since: float, session: Session | None = None) -> dict[str, tuple[int, float]]:
        """See :meth:`LoginStore.load`."""
        q = sa.select(LoginFailure.kind, LoginFailure.failures, LoginFailure.last_at).where(
            self._where(keys.items()), LoginFailure.last_at > since
        )
        with self._session(session) as s:
            return {kind: (int(n), float(last)) for kind, n, last in s.execute(q)}

    def add(self, keys: LoginKeys, now: float, forget_s: float, session: Session | None = None) -> None:
        """See :meth:`LoginStore.add`."""
        with self._session(session) as s:
            insert = pg_insert if is_postgres(s) else sqlite_insert
            stmt = insert(LoginFailure).values(
                [{"kind": kind, "key": key, "failures": 1, "last_at": now} for kind, key in keys.items()]
            )
            table = LoginFailure.__table__
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.kind, table.c.key],
                set_={
                    "failures": sa.case(
                        (stmt.excluded.last_at - table.c.last_at >= forget_s, 1), else_=table.c.failures + 1
                    ),
                    "last_at": stmt.excluded.last_at,
                },
            )
            s.execute(stmt)
            if next(self._adds) % self.prune_every == 0:
                self.prune(now - forget_s, s)

    def prune(self, before: float, session: Session | None = None) -> int:
        """Delete the rows whose last failure is at or before ``before`` and the oldest beyond ``max_rows``.

        Returns
        -------
        int
            Rows deleted.
        """
        with self._session(session) as s:
            n = s.execute(sa.delete(LoginFailure).where(LoginFailure.last_at <= before)).rowcount or 0
            cut = s.execute(
                sa.select(LoginFailure.last_at).order_by(LoginFailure.last_at.desc()).offset(self.max_rows).limit(1)
            ).scalar_one_or_none()
            if cut is not None:
                n += s.execute(sa.delete(LoginFailure).where(LoginFailure.last_at <= cut)).rowcount or 0
            return n

    def forget(self, keys: LoginKeys, session: Session | None = None) -> None:
        """See :meth:`LoginStore.forget` (pair row first, then account row: one lock order everywhere)."""
        with self._session(session) as s:
            for kind, key in (("pair", keys.pair), ("account", keys.account)):
                s.execute(sa.delete(LoginFailure).where(self._where([(kind, key)])))

    def clear(self) -> None:
        """See :meth:`LoginStore.clear`."""
        with self._session(None) as s:
            s.execute(sa.delete(LoginFailure))


class LoginLimiter:
    """Throttling of failed logins; the counters live in a :class:`LoginStore`.

    Three counters of failed logins, each with the time of its last failure: per
    (address, account), per address (all accounts) and per account (all addresses). A counter
    with ``n`` failures and ``free`` free failures demands a wait of
    ``delay(n) = min(max_s, base_s · 2^(n − free))`` seconds after its last failure once
    ``n ≥ free`` (0 before). An attempt for account ``a`` from address ``x`` must wait for

    * the (x, a) counter (``free_pair``, default 5),
    * the x counter (``free_address``, default 20: password spraying from one address), and
    * the a counter (``free_account``, default 10) — but only if ``x`` has failed on ``a``
      before, and counted from (x, a)'s last failure.

    So an address that has not failed on an account (and is not itself spraying) is never
    slowed down by anyone else's failures: an attacker cannot lock the owner out, and an
    owner who mistyped waits at most ``max_s`` after their own last failure. An attacker gets,
    per address and account, the free failures and then one guess per back-off step (at most
    one per ``max_s``); under an attack on an account (``free_account`` failures) each further
    address gets one guess and then one per back-off step of the account counter. A success
    forgets the (x, a) and a counters; the x counter is kept (an attacker who owns one account
    must not be able to wipe its address's counter). Counters idle for ``forget_s`` are forgotten.

    The service uses a :class:`DatabaseLoginStore` (shared by every server process of the
    database) and the wall clock (``clock``: seconds since the Unix epoch; the same in every
    process, unlike ``time.monotonic``); the default store is a :class:`MemoryLoginStore` holding
    at most ``max_keys`` counters of each kind. A last failure later than ``now`` (clocks of two
    hosts apart) counts as ``now``: no wait is ever longer than ``max_s``.
    """

    def __init__(
        self,
        free_pair: int = 5,
        free_address: int = 20,
        free_account: int = 10,
        base_s: float = 1.0,
        max_s: float = 900.0,
        forget_s: float = 86400.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.time,
        store: LoginStore | None = None,
    ) -> None:
        if min(free_pair, free_address, free_account) < 1 or not 0 < base_s <= max_s or forget_s < max_s:
            raise ConfigError("login throttle: free failures ≥ 1, 0 < base ≤ max back-off ≤ forget time")
        self.free_pair, self.free_address, self.free_account = free_pair, free_address, free_account
        self.base_s, self.max_s, self.forget_s = base_s, max_s, forget_s
        self.max_keys = max_keys
        self.clock = clock
        self.store: LoginStore = store if store is not None else MemoryLoginStore(max_keys)

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, clock: Callable[[], float] = time.time, store: LoginStore | None = None
    ) -> LoginLimiter:
        """A limiter with the ``login_*`` parameters of ``settings`` (``clock``: seconds; ``store``: see class)."""
        return cls(
            settings.login_free_failures,
            settings.login_address_free_failures,
            settings.login_account_free_failures,
            settings.login_backoff_base_s,
            settings.login_backoff_max_s,
            settings.login_forget_s,
            clock=clock,
            store=store,
        )

    def delay(self, failures: int, free: int) -> float:
        """Back-off after ``failures`` failures of a counter with ``free`` free failures, seconds."""
        if failures < free:
            return 0.0
        return min(self.max_s, self.base_s * 2.0 ** min(failures - free, 64))

    def wait(self, address: str, account: str, session: Session | None = None) -> float:
        """Seconds before an attempt for ``account`` from ``address`` is allowed (0: now).

        ``session``: the caller's database session for a :class:`DatabaseLoginStore` (optional).
        """
        now = self.clock()
        counters = self.store.load(login_keys(address, account), now - self.forget_s, session)
        ready = 0.0
        pair = counters.get("pair")
        if pair is not None:
            pair_last = min(pair[1], now)
            ready = max(ready, pair_last + self.delay(pair[0], self.free_pair))
            acct = counters.get("account")
            if acct is not None:
                ready = max(ready, pair_last + self.delay(acct[0], self.free_account))
        addr = counters.get("address")
        if addr is not None:
            ready = max(ready, min(addr[1], now) + self.delay(addr[0], self.free_address))
        return max(0.0, ready - now)

    def check(self, address: str, account: str, session: Session | None = None) -> None:
        """Raise :class:`RateLimited` (HTTP 429 with Retry-After) if the attempt must wait."""
        wait = self.wait(address, account, session)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise RateLimited(f"too many failed logins; retry in {retry} s", retry_after=retry)

    def failure(self, address: str, account: str, session: Session | None = None) -> None:
        """Count a failed login for ``account`` from ``address`` (with a ``session``: the caller commits)."""
        self.store.add(login_keys(address, account), self.clock(), self.forget_s, session)

    def success(self, address: str, account: str, session: Session | None = None) -> None:
        """Forget the (address, account) and account counters after a successful login."""
        self.store.forget(login_keys(address, account), session)

    def clear(self) -> None:
        """Forget every counter (of every process, with a :class:`DatabaseLoginStore`)."""
        self.store.clear()


# ------------------------------------------------------------------------------ tokens
@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued access token."""

    token: str
    jti: str
    expires_at: dt.datetime
    user: User


def issue_token(session: Session, settings: AuthSettings, user: User) -> IssuedToken:
    """Sign an access token for ``user`` (carrying its ``token_version`` as ``ver``)."""
    now = utcnow()
    exp = now + dt.timedelta(seconds=settings.token_ttl_s)
    jti = uuid.uuid4().hex
    payload = {
        "sub": str(user.id),
        "jti": jti,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
        "role": user.role,
        "ver": int(user.token_version or 0),
    }
    token = jwt.encode(payload, signing_key(session, settings), algorithm=ALGORITHM)
    return IssuedToken(token, jti, exp.replace(microsecond=0), user)


def login(
    session: Session, settings: AuthSettings, limiter: LoginLimiter, email: str, password: str, client: str
) -> IssuedToken:
    """Check credentials (throttled) and issue a token.

    Exactly one argon2 verification happens for every attempt that is not throttled: unknown
    emails and disabled accounts are verified against :func:`dummy_hash`. A hash made with
    other costs than ``settings`` is re-hashed on a successful login. The limiter's counters are
    read and written in ``session`` (a :class:`DatabaseLoginStore`); a failed attempt commits
    ``session`` before raising, a successful one leaves the commit to the caller.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    settings : AuthSettings
    limiter : LoginLimiter
    email, password : str
    client : str
        Client address (:func:`client_address`).

    Raises
    ------
    RateLimited
        The attempt must wait (see :class:`LoginLimiter`).
    Unauthorized
        Wrong email or password, or the account is disabled (same message).
    """
    email = (email or "").strip().lower()
    password = password or ""
    limiter.check(client, email, session)
    user = session.execute(sa.select(User).where(User.email == email)).scalar_one_or_none()
    if user is not None and user.is_active:
        ok = check_password(settings, user.password_hash, password)
    else:
        check_password(settings, dummy_hash(settings), password)
        ok = False
    if not ok:
        limiter.failure(client, email, session)
        session.commit()  # the count must persist although the request fails
        raise Unauthorized("wrong email or password")
    limiter.success(client, email, session)
    assert user is not None
    try:
        if settings.hasher().check_needs_rehash(user.password_hash):
            user.password_hash = settings.hasher().hash(_secret_bytes(password))
    except InvalidHashError:  # pragma: no cover - a hash that verified is valid
        pass
    return issue_token(session, settings, user)


@dataclass(frozen=True)
class TokenInfo:
    """A verified token: its user and identifiers."""

    user: User
    jti: str
    expires_at: dt.datetime


@functools.lru_cache(maxsize=4096)
def _verified_claims(token: str, key: str) -> dict[str, object]:
    """The claims of ``token`` once its signature (HS256 under ``key``) and claims have been verified.

    Cached per (token, key): a token's signature check never changes its result, so a process
    verifies each token once, not on every request (only tokens that verify are cached: errors
    are raised, never stored). Expiry is re-checked by :func:`authenticate` on every use, and
    revocation, the user's active flag and token version are read from the database every time.
    Callers must not mutate the returned mapping.
    """
    return jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "jti"]})


def token_claims(key: str, token: str | None) -> tuple[int, str, object, int]:
    """The verified claims of a token: user id, token id, ``ver`` claim (as sent) and expiry (Unix s).

    Checks the signature (under the signing ``key``) and expiry only; the database checks are
    :func:`authenticate`'s.

    Raises
    ------
    Unauthorized
        Missing, malformed, badly signed or expired token.
    """
    if not token:
        raise Unauthorized("not authenticated: log in at POST /api/auth/login")
    try:
        payload = _verified_claims(token, key)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired: log in again") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    exp = int(payload["exp"])  # type: ignore[call-overload]
    if exp <= time.time():  # the cached claims of a token that expired since it was first seen
        raise Unauthorized("token expired: log in again")
    try:
        uid = int(payload["sub"])  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise Unauthorized("invalid token") from None
    return uid, str(payload["jti"]), payload.get("ver"), exp


def authenticate(session: Session, settings: AuthSettings, token: str | None) -> TokenInfo:
    """Verify a token (signature, expiry, revocation, active user, token version).

    Raises
    ------
    Unauthorized
        Missing, malformed, expired or revoked token, unknown/disabled user, or a token from
        before the user's last password change or deactivation.
    """
    if not token:
        raise Unauthorized("not authenticated: log in at POST /api/auth/login")
    uid, jti, ver, exp = token_claims(signing_key(session, settings), token)
    revoked = sa.exists().where(RevokedToken.jti == jti)
    row = session.execute(sa.select(User, revoked).where(User.id == uid)).first()
    if row is not None and row[1]:
        raise Unauthorized("token revoked: log in again")
    user = row[0] if row is not None else None
    if user is None or not user.is_active:
        raise Unauthorized("account disabled or removed")
    if type(ver) is not int or ver != (user.token_version or 0):
        raise Unauthorized("token no longer valid (password changed): log in again")
    return TokenInfo(user, jti, dt.datetime.fromtimestamp(exp, dt.UTC))


def revoke(session: Session, jti: str, expires_at: dt.datetime) -> None:
    """Revoke a token id (idempotent); expired revocations are purged on the way."""
    session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
