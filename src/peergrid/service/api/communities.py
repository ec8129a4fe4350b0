"""Communities: create, list, read, change settings and tariff (``/api/communities``, tag ``communities``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from peergrid.service import directory, rbac, tariffs
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, capacities_w, paginate
from peergrid.service.errors import Conflict, Invalid
from peergrid.service.models import Community, LedgerEntry, Membership

router = APIRouter(tags=["communities"], responses=ERRORS)


@router.post("/communities", status_code=201, response_model=S.CommunityOut)
def create_community(body: S.CommunityIn, user: Me, db: DB) -> Community:
    """Create a community with its grid, fees, clearing and external accounts (admin).

    The tariff is ``tariff`` (in ``currency``; TOU periods in local time of ``tz``) or the flat
    shorthand ``retail_price``/``feed_in_price``; a bad zone, currency or tariff is a 422 naming it.
    """
    rbac.require_role(user, rbac.ADMIN)
    c = directory.create_community(db, **capacities_w(body.model_dump()))
    directory.audit(db, user, "community.create", c.id, f"community:{c.id}",
                    **dict(body.model_dump(exclude_none=True), tariff=c.tariff))
    db.commit()
    return c


@router.get("/communities", response_model=S.Page[S.CommunityOut])
def list_communities(user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Communities you can see (admin: all; others: those you belong to)."""
    stmt = sa.select(Community).order_by(Community.id)
    if user.role != rbac.ADMIN:
        stmt = stmt.join(Membership, Membership.community_id == Community.id).where(Membership.user_id == user.id)
    return paginate(db, stmt, limit, offset, lambda c: c)


@router.get("/communities/{community_id}", response_model=S.CommunityOut)
def get_community(community_id: PId, user: Me, db: DB) -> Community:
    """One community (members and admins)."""
    return rbac.community_for(db, user, community_id)


@router.patch("/communities/{community_id}", response_model=S.CommunityOut)
def update_community(community_id: PId, body: S.CommunityPatch, user: Me, db: DB) -> Community:
    """Change tariff, time zone, currency, mechanism, gate closure or grace (admin, or an operator of the community).

    ``tariff`` replaces the whole tariff; ``retail_price``/``feed_in_price`` change only its flat energy
    and feed-in price. The currency cannot change once money has moved in the community (409); a new
    time zone applies to intervals settled from then on. Audited with the new values.
    """
    c = rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
    changes = body.model_dump(exclude_none=True)
    if "tariff" in changes and ("retail_price" in changes or "feed_in_price" in changes):
        raise Invalid("give either tariff or the flat retail_price/feed_in_price, not both")
    currency = changes.get("currency", c.currency)
    if currency != c.currency and db.execute(
        sa.select(LedgerEntry.seq).where(LedgerEntry.community_id == c.id).limit(1)
    ).first() is not None:
        raise Conflict(f"community {c.id} has ledger entries in {c.currency}: its currency cannot change")
    tariff = changes.pop("tariff", None)
    retail, feed_in = changes.pop("retail_price", None), changes.pop("feed_in_price", None)
    if tariff is None:  # the stored tariff, in the (new) currency, with the flat shorthand applied
        tariff = tariffs.with_flat_prices(dict(c.tariff, currency=currency), retail, feed_in)
    tz = changes.get("tz", c.tz)
    if tariff is not None or currency != c.currency or tz != c.tz:
        c.tariff = tariffs.normalise(tariff if tariff is not None else dict(c.tariff, currency=currency), currency, tz)
        changes["tariff"] = c.tariff
    for key, value in capacities_w(changes).items():
        if key != "tariff":
            setattr(c, key, value)
    directory.validate_community(c.mechanism, c.interval_minutes, c.k)
    directory.audit(db, user, "community.update", c.id, f"community:{c.id}", **changes)
    db.commit()
    return c
