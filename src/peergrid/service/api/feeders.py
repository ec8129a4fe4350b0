"""A community's feeder and its members' buses (``/api/communities/{id}/feeder``, tag ``feeder``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from peergrid.service import feeders as feedermod
from peergrid.service import rbac
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Me, PId
from peergrid.service.errors import NotFound

router = APIRouter(tags=["feeder"], responses=ERRORS)


FeederLimit = Annotated[float | None, Query(gt=0, le=1e6)]


@router.put(
    "/communities/{community_id}/feeder",
    response_model=S.FeederOut,
    responses={413: {"model": S.ErrorOut}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def put_feeder(
    community_id: PId,
    request: Request,
    user: Me,
    db: DB,
    max_loading_pct: FeederLimit = None,
    v_min_pu: FeederLimit = None,
    v_max_pu: FeederLimit = None,
    max_vim_pct: FeederLimit = None,
    fee_per_kwh: Annotated[float | None, Query(ge=0, le=1e6)] = None,
) -> dict[str, Any]:
    """Upload the community's feeder: a pandapower JSON net as the request body (admin, or an operator of it).

    The body (at most 20 MiB) is hostile input: :func:`peergrid.grid.read_feeder` vets it before
    pandapower reads it (only plain pandapower tables; no classes or modules named in the file), and
    it must be a radial feeder with an ``ext_grid``; anything else is a 422 naming the problem. Query
    parameters set the limits (line loading %, voltage band pu, VIM %) and τ_L of Tooki et al. eq. 12
    (``fee_per_kwh``, currency/kWh at full utilisation); omitted ones keep their values (defaults
    100, 0.95, 1.05, 2.0, 0.01). Replaces an earlier feeder; members mapped to buses the new one
    lacks make it a 422. The market phase of an order-book community then clears on the feeder; a
    pool community (BS/MMR/SDR) pays eq. 12 line fees and loss charges at metered settlement.
    """
    body = await request.body()
    limits = {"max_loading_pct": max_loading_pct, "v_min_pu": v_min_pu, "v_max_pu": v_max_pu,
              "max_vim_pct": max_vim_pct, "fee_per_kwh": fee_per_kwh}  # fmt: skip

    def work() -> dict[str, Any]:
        c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
        row = feedermod.put_feeder(db, c, user, body, limits)
        db.commit()
        return feedermod.feeder_out(db, row)

    return await run_in_threadpool(work)


@router.get("/communities/{community_id}/feeder", response_model=S.FeederOut)
def get_feeder(community_id: PId, user: Me, db: DB) -> dict[str, Any]:
    """The community's feeder: size, limits, eq. 12 fee and the members' buses and phases (members)."""
    rbac.community_for(db, user, community_id)
    return feedermod.feeder_out(db, feedermod.get_feeder(db, community_id))


@router.put("/communities/{community_id}/feeder/members", response_model=S.FeederOut)
def put_feeder_members(community_id: PId, body: S.FeederMembersIn, user: Me, db: DB) -> dict[str, Any]:
    """Map members to buses and phases of the feeder, replacing the mapping (admin, or an operator of it).

    Every user must be a member and every bus on the feeder (422 otherwise). Members without a bus
    cannot trade while an order-book community has a feeder: their orders are rejected at gate closure
    (in a pool community they are settled off the feeder, without network charges).
    """
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    feedermod.put_members(db, c, user, [m.model_dump() for m in body.members])
    db.commit()
    return feedermod.feeder_out(db, feedermod.get_feeder(db, community_id))


@router.delete("/communities/{community_id}/feeder", status_code=204)
def delete_feeder(community_id: PId, user: Me, db: DB) -> Response:
    """Remove the feeder and the mapping (admin, or an operator of it); idempotent. Clearing is plain again."""
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    try:
        feedermod.delete_feeder(db, c, user)
    except NotFound:
        pass
    db.commit()
    return Response(status_code=204)
