"""The API docs pages, offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, scripts and styles served locally.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN, so they stay blank without
internet access. Here both come from the service itself, under :data:`STATIC_URL`: the files
are those shipped by the ``fastapi-offline`` package (a dependency of the ``service`` extra;
MIT licence; it bundles swagger-ui-dist, Apache-2.0, and ReDoc, MIT). Nothing is fetched from
another origin: the favicon is local too, Swagger UI's online validator badge is off, and the
ReDoc bundle is served with its one remote image (the Redocly logo in the menu footer, from
cdn.redoc.ly) replaced by an empty inline SVG (:func:`redoc_bundle`).

The pages get a Content-Security-Policy of their own (:func:`docs_csp`): scripts from this
origin plus the one inline start-up script of Swagger UI, allowed by its SHA-256 hash (not
``'unsafe-inline'``); inline styles are allowed (ReDoc injects its styles at run time).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

#: Where the Swagger UI and ReDoc files are served.
STATIC_URL = "/docs/static"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
#: Swagger UI options: no call to the online validator (swagger.io) from the page.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
#: The remote image in the ReDoc bundle and what it is replaced with (an empty SVG: img-src allows data:).
REDOC_REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def static_dir() -> Path:
    """The folder of ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js`` and ``favicon.png``."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


@functools.cache
def redoc_bundle() -> bytes:
    """``redoc.standalone.js`` with its remote logo image replaced by :data:`EMPTY_SVG` (read once)."""
    return (static_dir() / "redoc.standalone.js").read_bytes().replace(REDOC_REMOTE_LOGO.encode(), EMPTY_SVG.encode())


def script_hashes(html: str) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of the inline ``<script>`` elements of ``html``.

    Examples
    --------
    >>> script_hashes("<script>alert(1)</script><script src='/x.js'></script>")
    ["'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"]
    """
    out = []
    for body in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return out


def docs_csp(hashes: list[str]) -> str:
    """The Content-Security-Policy of a docs page whose inline scripts have these hashes."""
    from peergrid.service.web import DOCS_CSP

    return DOCS_CSP.replace("script-src 'self'", " ".join(["script-src 'self'", *hashes]), 1)


def _page(resp: HTMLResponse) -> HTMLResponse:
    html = bytes(resp.body).decode()
    resp.headers["content-security-policy"] = docs_csp(script_hashes(html))
    return resp


def mount(app: FastAPI) -> None:
    """Serve the docs pages and their assets on ``app`` (create it with ``docs_url=None, redoc_url=None``)."""
    @app.get(f"{STATIC_URL}/redoc.standalone.js", include_in_schema=False)
    def redoc_js() -> Response:  # before the mount: this route wins over the file of the same name
        return Response(redoc_bundle(), media_type="text/javascript")

    app.mount(STATIC_URL, StaticFiles(directory=str(static_dir())), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} – API docs",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        ))

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} – API reference",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        ))
