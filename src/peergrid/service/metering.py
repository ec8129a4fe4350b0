"""Meter readings: batch ingestion, idempotent on (meter, timestamp).

A reading is the energy that flowed through a meter in the period starting at ``ts``:
``import_wh`` from the grid side and ``export_wh`` to it (integers ≥ 0). Net energy
follows peergrid's sign convention, ``net = import − export`` (+ consumer, − producer).
Each reading is filed under the trading interval that contains ``ts``; readings of an
interval whose metered settlement already ran are rejected (settlement is final).

:func:`ingest_readings` is the one entry point for every transport (HTTP batch upload
here, MQTT in :mod:`peergrid.service.mqtt`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.service.db import is_postgres
from peergrid.service.directory import get_community
from peergrid.service.errors import Forbidden, Invalid, ServiceError
from peergrid.service.models import ClearingRun, Meter, Reading, utcnow
from peergrid.service.timeutil import floor_interval, parse_time

MAX_BATCH = 50_000
MAX_WH = 10**9  # 1 GWh per reading: anything larger is a unit error


@dataclass
class IngestResult:
    """Outcome of one batch.

    Attributes
    ----------
    accepted : int
        New readings stored.
    duplicates : int
        Readings whose (meter, ts) was already stored or repeated in the batch (ignored).
    rejected : list of dict
        ``{"index": i, "reason": "..."}`` for readings that were not stored.
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be an integer number of Wh")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{name} must be a whole number of Wh, got {value}")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of Wh")
    if not 0 <= value <= MAX_WH:
        raise ValueError(f"{name} must be in 0..{MAX_WH} Wh, got {value}")
    return value


def ingest_readings(
    session: Session,
    community_id: int,
    readings: Iterable[Mapping[str, Any]],
    owner_id: int | None = None,
) -> IngestResult:
    """Store a batch of readings (bulk insert; duplicates ignored).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Runs in the caller's transaction (commit afterwards).
    community_id : int
    readings : iterable of mapping
        Each ``{"meter": serial (str) | "meter_id": int, "ts": aware datetime or ISO
        string, "import_wh": int ≥ 0, "export_wh": int ≥ 0}``; ``"net_wh"`` (signed
        int) may replace import/export; optional ``"pv_wh"`` (int ≥ 0) is stored alongside.
    owner_id : int, optional
        Only meters of this user are allowed (a prosumer/consumer uploading their own
        readings); a reading of another user's meter is :class:`Forbidden`.

    Returns
    -------
    IngestResult
    """
    community = get_community(session, community_id)
    items = list(readings)
    if len(items) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} readings per batch, got {len(items)}")
    meters = session.execute(
        sa.select(Meter.id, Meter.serial, Meter.user_id).where(Meter.community_id == community_id)
    ).all()
    by_serial = {m.serial: m for m in meters}
    by_id = {m.id: m for m in meters}
    result = IngestResult()
    parsed: dict[tuple[int, dt.datetime], dict[str, Any]] = {}
    for i, r in enumerate(items):
        try:
            if not isinstance(r, Mapping):
                raise ValueError("a reading must be an object")
            if r.get("meter_id") is not None:
                m = by_id.get(r["meter_id"]) if isinstance(r["meter_id"], int) else None
                if m is None:
                    raise ValueError(f"unknown meter id {r['meter_id']!r} in this community")
            else:
                m = by_serial.get(str(r.get("meter", "")))
                if m is None:
                    raise ValueError(f"unknown meter {r.get('meter')!r} in this community")
            if owner_id is not None and m.user_id != owner_id:
                raise Forbidden(f"meter {m.serial!r} belongs to another user")
            try:
                ts = parse_time(r.get("ts"), "ts")
            except ServiceError as exc:
                raise ValueError(str(exc)) from None
            if "net_wh" in r and r["net_wh"] is not None:
                net = r["net_wh"]
                if isinstance(net, bool) or not isinstance(net, int | float) or not float(net).is_integer():
                    raise ValueError("net_wh must be an integer number of Wh")
                imp, exp = _int(max(int(net), 0), "net_wh"), _int(max(-int(net), 0), "net_wh")
            else:
                imp, exp = _int(r.get("import_wh"), "import_wh"), _int(r.get("export_wh"), "export_wh")
            pv = None if r.get("pv_wh") is None else _int(r.get("pv_wh"), "pv_wh")
        except ValueError as exc:
            result.rejected.append({"index": i, "reason": str(exc)})
            continue
        key = (m.id, ts)
        if key in parsed:
            result.duplicates += 1
            continue
        parsed[key] = {
            "meter_id": m.id,
            "ts": ts,
            "interval_start": floor_interval(ts, community.interval_minutes),
            "import_wh": imp,
            "export_wh": exp,
            "pv_wh": pv,
            "received_at": utcnow(),
            "_index": i,
        }
    if not parsed:
        return result
    # intervals whose metered settlement is final
    intervals = {p["interval_start"] for p in parsed.values()}
    lo, hi = min(intervals), max(intervals)
    settled = set(
        session.execute(
            sa.select(ClearingRun.interval_start).where(
                ClearingRun.community_id == community_id,
                ClearingRun.phase == "metered",
                ClearingRun.interval_start >= lo,
                ClearingRun.interval_start <= hi,
            )
        ).scalars()
    )
    rows = []
    for p in parsed.values():
        if p["interval_start"] in settled:
            result.rejected.append(
                {"index": p["_index"], "reason": f"interval {p['interval_start'].isoformat()} is already settled"}
            )
        else:
            rows.append({k: v for k, v in p.items() if k != "_index"})
    result.rejected.sort(key=lambda d: d["index"])
    if not rows:
        return result
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = Reading.__table__
    accepted = 0
    for i in range(0, len(rows), 5000):
        part = rows[i : i + 5000]
        stmt = insert(table).on_conflict_do_nothing(index_elements=["meter_id", "ts"]).returning(table.c.id)
        accepted += len(session.execute(stmt, part).all())
    result.accepted = accepted
    result.duplicates += len(rows) - accepted
    return result
