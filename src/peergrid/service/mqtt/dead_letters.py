"""Dead letters: the rejected MQTT messages the ingestor kept, for operators (list, purge)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session


def list_dead_letters(session: Session, community_ids: list[int] | None = None, *, limit: int = 100,
                      offset: int = 0) -> dict[str, Any]:
    """Dead letters, newest first: ``{"items": [...], "total", "limit", "offset"}``.

    Parameters
    ----------
    session : Session
    community_ids : list of int, optional
        Only those of these communities (``None``: all, also those without a community).
    limit, offset : int
        Page.

    Each item has ``id``, ``received_at`` (ISO 8601 UTC), ``topic``, ``reason``, ``detail``,
    ``community_id``, ``payload_text`` (UTF-8 with undecodable bytes escaped as ``\\xNN``),
    ``payload_base64`` and ``payload_bytes`` (length kept).
    """
    from peergrid.service.models import MqttDeadLetter as D

    q = sa.select(D)
    if community_ids is not None:
        q = q.where(D.community_id.in_(community_ids))
    total = session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    items = [{
        "id": d.id, "received_at": d.received_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "topic": d.topic, "reason": d.reason, "detail": d.detail, "community_id": d.community_id,
        "payload_text": bytes(d.payload).decode("utf-8", "backslashreplace"),
        "payload_base64": base64.b64encode(bytes(d.payload)).decode(), "payload_bytes": len(d.payload),
    } for d in session.execute(q.order_by(D.id.desc()).limit(limit).offset(offset)).scalars()]
    return {"items": items, "total": int(total or 0), "limit": limit, "offset": offset}


def purge_dead_letters(session: Session, before: dt.datetime) -> int:
    """Delete the dead letters received before ``before`` (aware); returns how many."""
    from peergrid.service.models import MqttDeadLetter as D

    res = session.execute(sa.delete(D).where(D.received_at < before))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]
