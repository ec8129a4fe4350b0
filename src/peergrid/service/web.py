"""Defences of the web surface: security headers, a same-origin check (CSRF), a request body limit, form tokens.

:func:`install` wraps the service app (the JSON API, the dashboard, the docs) in three ASGI
middlewares, outermost first:

* :class:`SecurityHeaders` — ``Content-Security-Policy`` without inline script (the API docs
  pages get a policy of their own, :data:`DOCS_CSP`: Swagger UI and ReDoc are served by the
  service itself, see :mod:`peergrid.service.apidocs`; Swagger UI's inline start-up script is
  allowed by its hash, and ReDoc injects styles), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``, ``Cache-Control: no-store`` (everything but static
  files) and, if configured, ``Strict-Transport-Security``.
* :class:`BodyLimit` — request bodies larger than the route's limit are refused with 413
  ``{"error": "too_large"}``: up front from ``Content-Length``, and for chunked bodies as
  soon as the bytes read exceed the limit, without reading the rest.
* :class:`SameOrigin` — a state-changing request (POST, PUT, PATCH, DELETE) without a
  bearer token that comes from a browser page of another origin (``Origin``, else
  ``Referer``) is refused with 403. This stops cross-site request forgery with the session
  cookie, including from another port of the same host, which is *same-site* (so the
  ``SameSite=Strict`` cookie is sent) but another origin. Bearer tokens need no check:
  browsers never attach them by themselves. Requests with neither header come from
  non-browser clients and pass.

The dashboard's forms carry a token as well (:func:`csrf_token`, an HMAC of the session's
token id under the service's signing key), checked on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders

from peergrid.service.auth import is_trusted_proxy

MiB = 1 << 20

#: The policy of every page but the API docs: scripts, styles, images and connections from this origin only;
#: no inline script or style, no plugins, no framing, no <base>, forms post to this origin only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
#: The policy of the API docs (Swagger UI, ReDoc; :mod:`peergrid.service.apidocs`): everything from this origin
#: (no CDN); the pages add the SHA-256 hash of their inline start-up script to ``script-src``; inline styles
#: (ReDoc injects them) and blob: workers (ReDoc's search) are allowed. These pages show no user data.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
#: Responses under these paths may be cached (static files); all others are ``no-store``.
CACHEABLE_PREFIXES: tuple[str, ...] = ("/dashboard/static/", "/docs/static/")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class WebSettings:
    """Limits and trust of the web surface.

    Attributes
    ----------
    max_body_bytes : int
        Largest request body of any route without its own limit, bytes (default 1 MiB).
    route_body_limits : tuple of (str, int)
        ``(path regex, bytes)`` pairs, first match wins. Default: the readings upload
        (up to 50,000 readings per batch) takes 16 MiB, a feeder upload (pandapower JSON) 20 MiB.
    trusted_origins : tuple of str
        Further origins (``https://host[:port]``) whose pages may send state-changing
        requests with the session cookie, e.g. the public origin when a reverse proxy
        rewrites ``Host`` or the scheme without forwarding them.
    hsts_max_age_s : int
        ``Strict-Transport-Security: max-age`` on HTTPS responses, seconds; 0 sends no header.

    The service builds them from its settings (:meth:`peergrid.service.settings.ServiceSettings.web`:
    ``$PEERGRID_MAX_BODY``, ``$PEERGRID_MAX_READINGS_BODY``, ``$PEERGRID_TRUSTED_ORIGINS``, ``$PEERGRID_HSTS_S``).
    """

    max_body_bytes: int = 1 * MiB
    route_body_limits: tuple[tuple[str, int], ...] = (
        (r"^/api/communities/[^/]+/readings/?$", 16 * MiB),
        (r"^/api/communities/[^/]+/feeder/?$", 20 * MiB),  # pandapower JSON: peergrid.grid.MAX_FEEDER_BYTES
        (r"^/api/communities/[^/]+/orders/batch/?$", 4 * MiB),  # 10,000 orders of at most ~300 bytes
    )
    trusted_origins: tuple[str, ...] = ()
    hsts_max_age_s: int = 0
    _patterns: tuple[tuple[re.Pattern[str], int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1 or any(n < 1 for _, n in self.route_body_limits):
            raise ValueError("body limits must be at least 1 byte")
        for origin in self.trusted_origins:
            if normalize_origin(origin) is None:
                raise ValueError(f"trusted origin {origin!r} is not scheme://host[:port]")
        object.__setattr__(self, "_patterns", tuple((re.compile(p), n) for p, n in self.route_body_limits))

    def body_limit(self, path: str) -> int:
        """The body limit of a request path, bytes."""
        for pattern, limit in self._patterns:
            if pattern.match(path):
                return limit
        return self.max_body_bytes


# ------------------------------------------------------------------------------ origins
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without the scheme's default port; ``None`` if not an origin.

    Examples
    --------
    >>> normalize_origin("HTTP://Example.org:80")
    'http://example.org'
    >>> normalize_origin("null") is None
    True
    """
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _from_proxy(scope: Mapping[str, Any], proxies: Sequence[Any]) -> bool:
    client = scope.get("client")
    return bool(proxies and client) and is_trusted_proxy(str(client[0]), proxies)


def request_origin(scope: Mapping[str, Any], headers: Headers, proxies: Sequence[Any] = ()) -> str | None:
    """The origin this request was sent to: ``scheme://Host``.

    If the socket peer is one of the trusted ``proxies`` (IP networks, ``AuthSettings.proxies()``),
    its ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (the last value of each: the one it added)
    name the scheme and host the browser used.
    """
    scheme, host = str(scope.get("scheme", "http")), headers.get("host")
    if _from_proxy(scope, proxies):
        proto, fhost = headers.get("x-forwarded-proto"), headers.get("x-forwarded-host")
        scheme = proto.split(",")[-1].strip().lower() if proto else scheme
        host = fhost.split(",")[-1].strip() if fhost else host
    if not host:
        server = scope.get("server")
        if not server:
            return None
        host = f"{server[0]}:{server[1]}" if server[1] is not None else str(server[0])
    return normalize_origin(f"{scheme}://{host}")


def _trusted_proxies(scope: Mapping[str, Any]) -> Sequence[Any]:
    """The trusted proxies of the app serving ``scope`` (``app.state.auth.proxies()``), if it has any."""
    auth = getattr(getattr(scope.get("app"), "state", None), "auth", None)
    return auth.proxies() if auth is not None and hasattr(auth, "proxies") else ()


async def _send_json(send: Any, status: int, kind: str, detail: str, close: bool = False) -> None:
    body = json.dumps({"error": kind, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SameOrigin:
    """ASGI middleware: refuse state-changing browser requests from another origin unless they carry a bearer token.

    The origin of the page that sent the request is ``Origin`` (browsers send it with every
    cross-origin request and every POST), else the origin of ``Referer``; it must equal the
    request's own origin (scheme, host and port; behind a trusted proxy as it forwards them,
    see :func:`request_origin`) or one of ``trusted``. ``Origin: null`` (sandboxed frames,
    some redirects) never matches.
    """

    def __init__(self, app: Any, trusted: Sequence[str] = ()) -> None:
        self.app = app
        self.trusted = frozenset(o for o in (normalize_origin(t) for t in trusted) if o)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("authorization", "")[:7].lower() == "bearer ":
            await self.app(scope, receive, send)  # a bearer token is never sent by a browser on its own
            return
        sender = headers.get("origin")
        if sender is None:
            referer = headers.get("referer")
            if referer is None:  # not a browser page: the form token still guards the dashboard
                await self.app(scope, receive, send)
                return
            sender = referer
        origin = normalize_origin(sender)
        own = request_origin(scope, headers, _trusted_proxies(scope))
        if origin is not None and (origin == own or origin in self.trusted):
            await self.app(scope, receive, send)
            return
        shown = sender if len(sender) <= 100 else sender[:100] + "…"
        await _send_json(send, 403, "forbidden",
                         f"cross-origin request refused: sent from {shown!r}, not from this site ({own})")


class _TooLarge(Exception):
    """Raised into the app when a streamed body passes the limit."""


class BodyLimit:
    """ASGI middleware: refuse request bodies over the route's limit (413) without reading the rest."""

    def __init__(self, app: Any, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.settings.body_limit(scope.get("path", ""))
        detail = f"request body larger than {limit:,} bytes (the limit of this route)"
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await _send_json(send, 413, "too_large", detail, close=True)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Any:
            nonlocal received, exceeded
            if exceeded:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app answers to the aborted body is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _send_json(send, 413, "too_large", detail, close=True)


class SecurityHeaders:
    """ASGI middleware: the security headers of every HTTP response (see the module docstring)."""

    def __init__(self, app: Any, hsts_max_age_s: int = 0) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age_s}; includeSubDomains" if hsts_max_age_s > 0 else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = DOCS_CSP if path in DOCS_PATHS else CSP
        cacheable = path.startswith(CACHEABLE_PREFIXES)
        hsts = None
        if self.hsts:  # on HTTPS responses only (as the browser sees them: behind a trusted proxy, its scheme)
            own = request_origin(scope, Headers(scope=scope), _trusted_proxies(scope)) or ""
            hsts = self.hsts if own.startswith("https://") else None

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("content-security-policy", csp)  # a route may set a stricter one of its own
                h["x-frame-options"] = "DENY"
                h["x-content-type-options"] = "nosniff"
                h["referrer-policy"] = "same-origin"
                h["cross-origin-opener-policy"] = "same-origin"
                if not cacheable:
                    h["cache-control"] = "no-store"
                if hsts:
                    h["strict-transport-security"] = hsts
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: Any, settings: WebSettings) -> None:
    """Wrap ``app`` (a FastAPI/Starlette app) in the defences; call after every other middleware is added."""
    app.add_middleware(SameOrigin, trusted=settings.trusted_origins)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(SecurityHeaders, hsts_max_age_s=settings.hsts_max_age_s)  # outermost: 403/413 get them too


# ------------------------------------------------------------------------------ form tokens
def csrf_token(secret: str, jti: str) -> str:
    """The form token of a session: HMAC-SHA256 of its token id ``jti`` under the signing key ``secret`` (hex)."""
    return hmac.new(secret.encode(), b"peergrid-csrf-v1:" + jti.encode(), hashlib.sha256).hexdigest()


def check_csrf_token(secret: str, jti: str, candidate: str | None) -> bool:
    """True if ``candidate`` is the form token of session ``jti`` (constant-time comparison)."""
    return bool(candidate) and hmac.compare_digest(csrf_token(secret, jti), str(candidate))
