"""/docs (Swagger UI) and /redoc render offline: every asset comes from the service, none from a CDN.

Chromium may reach only the service: any request to another origin is aborted and recorded, and
must not happen. The pages' own Content-Security-Policy must not block anything they need either.
"""

from __future__ import annotations

import re

import pytest
from dashboard_support import LiveServer
from fastapi.testclient import TestClient

from peergrid.service.apidocs import STATIC_URL, script_hashes, static_dir
from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH


@pytest.fixture
def docs_app(tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'docs.db'}", auth=FAST_AUTH, extensions=())
    yield app
    app.state.engine.dispose()


def _offline_page(browser, base: str):
    ctx = browser.new_context()
    page = ctx.new_page()
    blocked: list[str] = []
    csp_errors: list[str] = []

    def only_the_service(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    return ctx, page, blocked, csp_errors


def test_swagger_ui_lists_the_operations_offline(browser, docs_app):
    with LiveServer(docs_app) as srv:
        ctx, page, blocked, csp_errors = _offline_page(browser, srv.url)
        page.goto(srv.url + "/docs")
        page.wait_for_selector(".opblock", timeout=15000)
        ops = page.locator(".opblock-summary-path").all_inner_texts()
        assert len(ops) > 20
        assert any(re.sub(r"\s", "", o) == "/api/communities/{community_id}/orders" for o in ops), ops[:10]
        assert "peergrid trading platform" in page.locator(".info .title").inner_text()
        page.wait_for_load_state("networkidle")
        assert blocked == [] and csp_errors == []
        ctx.close()


def test_redoc_renders_offline(browser, docs_app):
    with LiveServer(docs_app) as srv:
        ctx, page, blocked, csp_errors = _offline_page(browser, srv.url)
        page.goto(srv.url + "/redoc")
        page.wait_for_selector("h1", timeout=20000)  # ReDoc renders the API title as the page's heading
        assert "peergrid trading platform" in page.locator("h1").first.inner_text()
        ops = page.locator("[data-section-id^='operation/']")  # one section per operation
        ops.first.wait_for(timeout=10000)
        assert ops.count() > 20
        page.wait_for_load_state("networkidle")
        assert blocked == [] and csp_errors == []
        ctx.close()


def test_docs_pages_allow_only_their_own_inline_script(docs_app):
    cl = TestClient(docs_app)
    for path in ("/docs", "/redoc"):
        r = cl.get(path)
        assert r.status_code == 200
        csp = dict((d.split()[0], d.split()[1:]) for d in r.headers["content-security-policy"].split("; "))
        assert "https:" not in r.headers["content-security-policy"]  # no CDN
        assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
        assert csp["script-src"] == ["'self'", *script_hashes(r.text)]
        assert "cdn." not in r.text and "googleapis" not in r.text
    assert len(script_hashes(cl.get("/docs").text)) == 1  # Swagger UI's start-up script, by hash
    assert b"cdn.redoc.ly" not in cl.get(f"{STATIC_URL}/redoc.standalone.js").content
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
        assert (static_dir() / name).is_file()
        r = cl.get(f"{STATIC_URL}/{name}")
        assert r.status_code == 200 and len(r.content) > 1000 and "no-store" not in r.headers.get("cache-control", "")
