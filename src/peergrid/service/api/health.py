"""``GET /api/health``: liveness (tag ``service``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(tags=["service"])


@router.get("/health")
def health(request: Request) -> dict[str, str]:
    """Liveness: ``{"status": "ok", "db": "sqlite" | "postgresql"}``."""
    return {"status": "ok", "db": request.app.state.engine.dialect.name}
