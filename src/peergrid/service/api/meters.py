"""Meters and their readings: register, change, upload, correct (tag ``meters``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from peergrid.service import directory, metering, rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import (
    DB,
    ERRORS,
    Limit,
    Me,
    Offset,
    PId,
    aware,
    capacities_w,
    only_own,
    owned,
    paginate,
    service_now,
)
from peergrid.service.errors import Forbidden, Invalid
from peergrid.service.models import Meter, Reading, User

router = APIRouter(tags=["meters"], responses=ERRORS)


@router.post("/communities/{community_id}/meters", status_code=201, response_model=S.MeterOut)
def create_meter(community_id: PId, body: S.MeterIn, user: Me, db: DB) -> Meter:
    """Register a meter for a member (operator).

    ``has_generation`` defaults to whether the owner is a prosumer; capacities left out follow the
    community's defaults (``meter_import_kw`` / ``meter_export_kw``).
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    m = directory.add_meter(
        db,
        community_id,
        body.user_id,
        body.serial,
        body.label,
        has_generation=body.has_generation,
        **capacities_w({"import_capacity_kw": body.import_capacity_kw, "export_capacity_kw": body.export_capacity_kw}),
    )
    directory.audit(
        db,
        user,
        "meter.create",
        community_id,
        f"meter:{m.id}",
        serial=m.serial,
        user_id=body.user_id,
        has_generation=m.has_generation,
        import_capacity_w=m.import_capacity_w,
        export_capacity_w=m.export_capacity_w,
    )
    db.commit()
    return m


@router.get("/communities/{community_id}/meters", response_model=S.Page[S.MeterOut])
def list_meters(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Meters (yours; admins and operators: all of the community)."""
    rbac.community_for(db, user, community_id)
    stmt = sa.select(Meter).where(Meter.community_id == community_id).order_by(Meter.id)
    stmt = only_own(stmt, user, Meter.user_id)
    return paginate(db, stmt, limit, offset, lambda m: m)


def _meter(db: Session, user: User, community_id: PId, meter_id: int) -> Meter:
    return owned(db, user, community_id, Meter, meter_id, "meter")


@router.get("/communities/{community_id}/meters/{meter_id}", response_model=S.MeterOut)
def get_meter(community_id: PId, meter_id: PId, user: Me, db: DB) -> Meter:
    """One meter (its owner, operators, admins)."""
    return _meter(db, user, community_id, meter_id)


@router.patch("/communities/{community_id}/meters/{meter_id}", response_model=S.MeterOut)
def update_meter(community_id: PId, meter_id: PId, body: S.MeterPatch, user: Me, db: DB) -> Meter:
    """Change a meter's label, connection capacity or generation flag (admin, or an operator of the community).

    A capacity set to ``null`` falls back to the community's default. Audited with old and new values;
    readings already stored are not judged again.
    """
    rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    m = _meter(db, user, community_id, meter_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("label") is None:
        changes.pop("label", None)
    if changes.get("has_generation") is None:
        changes.pop("has_generation", None)
    new = capacities_w(changes)
    old = {attr: getattr(m, attr) for attr in new}
    for attr, value in new.items():
        setattr(m, attr, value)
    directory.audit(db, user, "meter.update", community_id, f"meter:{m.id}", serial=m.serial, old=old, new=new)
    db.commit()
    return m


@router.get("/communities/{community_id}/meters/{meter_id}/readings", response_model=S.Page[S.ReadingOut])
def list_readings(
    community_id: PId,
    meter_id: PId,
    user: Me,
    db: DB,
    limit: Limit = 100,
    offset: Offset = 0,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> dict[str, Any]:
    """Readings of a meter, oldest first, optionally in [start, end)."""
    m = _meter(db, user, community_id, meter_id)
    stmt = sa.select(Reading).where(Reading.meter_id == m.id).order_by(Reading.ts)
    if start is not None:
        stmt = stmt.where(Reading.ts >= aware(start, "start"))
    if end is not None:
        stmt = stmt.where(Reading.ts < aware(end, "end"))
    return paginate(db, stmt, limit, offset, lambda r: r)


@router.post("/communities/{community_id}/readings", response_model=S.IngestOut)
def upload_readings(community_id: PId, body: S.ReadingsIn, request: Request, user: Me, db: DB) -> dict[str, Any]:
    """Upload a batch of readings; idempotent on (meter, ts).

    Prosumers and consumers may upload their own meters' readings (unless the community's
    ``member_readings`` is off: then 403), operators any meter of the community.
    If any reading is implausible (rule ``future``, ``no_generation``, ``conflict`` or ``capacity``) nothing
    is stored: 422 with ``rule``, ``index`` and every such reading in ``rejected``. Readings of unknown
    meters or settled intervals are listed in ``rejected`` of a 200 answer, the others stored.
    """
    community = rbac.community_for(db, user, community_id, rbac.OPERATOR, rbac.PROSUMER, rbac.CONSUMER)
    owner = None if user.role == rbac.OPERATOR else user.id
    if owner is not None and not community.member_readings:
        raise Forbidden(f"community {community_id} settles only signed meter data and operators' uploads: "
                        "members may not upload readings")
    result = metering.ingest_readings(
        db, community_id, [r.model_dump() for r in body.readings], owner_id=owner, now=service_now(request), atomic=True
    )
    bad = [r for r in result.rejected if r["rule"] in metering.PLAUSIBILITY_RULES]
    if bad:  # all or nothing: store_readings stored none of the batch
        db.rollback()
        first = bad[0]
        r = body.readings[first["index"]]
        meter = repr(r.meter) if r.meter is not None else f"id {r.meter_id}"
        err = Invalid(f"reading {first['index']} (meter {meter}, ts {r.ts.isoformat()}): {first['reason']}")
        err.extra = {"rule": first["rule"], "index": first["index"], "rejected": bad}
        raise err
    db.commit()
    return result.as_dict()


@router.put("/communities/{community_id}/meters/{meter_id}/readings", response_model=S.ReadingCorrectionOut)
def correct_reading(
    community_id: PId, meter_id: PId, body: S.ReadingCorrectionIn, request: Request, user: Me, db: DB
) -> dict[str, Any]:
    """Correct (replace, or add) a meter's reading before its interval's metered settlement (operator).

    The new values obey the reading rules (422 with ``rule``); after settlement 409 (settlement is
    final). Audited with the old and new values and the reason.
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    try:
        reading, old = metering.correct_reading(
            db, community_id, meter_id, body.ts, body.import_wh, body.export_wh, body.pv_wh, now=service_now(request)
        )
    except metering.ReadingRejected as exc:
        db.rollback()
        exc.extra = {"rule": exc.rule}
        raise
    new = {"import_wh": reading.import_wh, "export_wh": reading.export_wh, "pv_wh": reading.pv_wh}
    directory.audit(
        db,
        user,
        "reading.correct",
        community_id,
        f"meter:{meter_id}",
        ts=reading.ts.isoformat(),
        old=old,
        new=new,
        reason=body.reason,
    )
    db.commit()
    return {**S.ReadingOut.model_validate(reading).model_dump(), "replaced": old}
