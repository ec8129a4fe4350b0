"""The API's surface is pinned: OpenAPI paths, methods, operation ids, tags, status codes and models.

``api_openapi_snapshot.json`` (next to this file) was written from the service before its routes were
split into one module per resource (``peergrid.service.api``); the split, and any later tidy-up, must
leave every entry equal. To change the API on purpose, regenerate it::

    PYTHONPATH=src python tests/service/test_api_openapi_snapshot.py > tests/service/api_openapi_snapshot.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

SNAPSHOT = Path(__file__).with_name("api_openapi_snapshot.json")


def _ref(content: dict[str, Any] | None) -> dict[str, str]:
    """Media type -> schema as ``$ref`` name (or the schema's type) of a request or response body."""
    out = {}
    for media, spec in (content or {}).items():
        schema = spec.get("schema", {})
        items = schema.get("items", {})
        out[media] = schema.get("$ref") or (f"array[{items.get('$ref') or items.get('type')}]" if items
                                            else schema.get("type", "any"))
    return out


def surface(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of an OpenAPI document as a small, order-preserving record."""
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            ops.append({
                "method": method.upper(),
                "path": path,
                "operationId": op.get("operationId"),
                "tags": op.get("tags", []),
                "parameters": [[p["name"], p["in"], bool(p.get("required"))] for p in op.get("parameters", [])],
                "requestBody": _ref(op.get("requestBody", {}).get("content")),
                "responses": {code: _ref(r.get("content")) for code, r in op.get("responses", {}).items()},
            })
    return ops


def build_spec() -> dict[str, Any]:
    from peergrid.service.app import create_app
    from peergrid.service.auth import FAST_AUTH

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(f"sqlite:///{tmp}/openapi.db", auth=FAST_AUTH)
        try:
            return app.openapi()
        finally:
            app.state.engine.dispose()


def test_openapi_surface_matches_snapshot() -> None:
    expected = json.loads(SNAPSHOT.read_text())
    got = surface(build_spec())
    assert [(o["method"], o["path"]) for o in got] == [(o["method"], o["path"]) for o in expected]
    for g, e in zip(got, expected, strict=True):
        assert g == e, f"{e['method']} {e['path']} changed"


def test_every_operation_id_is_unique() -> None:
    ids = [o["operationId"] for o in surface(build_spec())]
    assert len(ids) == len(set(ids))


#: OpenAPI tag -> the router modules of peergrid.service.api that serve it
TAG_MODULES = {
    "service": {"health"}, "auth": {"auth"}, "users": {"users"}, "communities": {"communities", "members"},
    "feeder": {"feeders"}, "meters": {"meters"}, "wallets": {"wallets"}, "ledger": {"ledger"},
    "orders": {"orders"}, "clearing": {"clearing"}, "invoices": {"invoices"}, "reports": {"reports"},
    "audit": {"audit"},
}


def test_each_router_module_serves_one_resource() -> None:
    from fastapi.routing import APIRoute

    from peergrid.service.api import ROUTERS, router

    seen = set()
    for r in ROUTERS:
        modules = {x.endpoint.__module__.removeprefix("peergrid.service.api.") for x in r.routes}
        tags = {t for x in r.routes if isinstance(x, APIRoute) for t in x.tags}
        assert len(modules) == 1 and len(tags) == 1, (modules, tags)
        assert modules <= TAG_MODULES[tags.pop()]
        seen |= modules
    assert seen == set().union(*TAG_MODULES.values())
    assert router.prefix == "/api"


def test_order_placing_routes_are_matched_first() -> None:
    from peergrid.service.api import ROUTERS

    first = [(min(x.methods), x.path) for x in ROUTERS[0].routes]
    orders = "/communities/{community_id}/orders"
    assert first == [("POST", orders), ("POST", f"{orders}/batch")]


if __name__ == "__main__":  # regenerate the snapshot
    sys.stdout.write("[\n" + ",\n".join(json.dumps(o, ensure_ascii=False) for o in surface(build_spec())) + "\n]\n")
