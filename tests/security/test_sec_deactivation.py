"""A deactivated member trades no more: open orders before their gate are withdrawn at deactivation.

Before: deactivation only invalidated the member's tokens; their open bids and offers stayed in the
books and were cleared and settled as if they still took part (their wallet still paid for them).
"""

from __future__ import annotations

import datetime as dt

from peergrid.service.models import Order


def test_deactivation_cancels_open_orders_before_gate_closure(client, world, clock, factory):
    cid, op, admin = world.community_id, world.headers["operator"], world.headers["admin"]
    me, uid = world.headers["prosumer"], world.uid("prosumer")
    saved = clock.now
    try:
        clock.now = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
        assert client.post(f"/api/communities/{cid}/wallets/{uid}/topup", headers=op,
                           json={"amount_minor": 5000}).status_code == 200
        ids = {}
        for start in ("08:15", "09:00"):
            r = client.post(f"/api/communities/{cid}/orders", headers=me, json={
                "side": "buy", "interval_start": f"2026-06-01T{start}:00Z", "quantity_wh": 1000, "price": 0.25})
            assert r.status_code == 201, r.text
            ids[start] = r.json()["id"]
        clock.now = dt.datetime(2026, 6, 1, 8, 12, tzinfo=dt.UTC)  # the 08:15 book closed at 08:10
        r = client.patch(f"/api/users/{uid}", headers=admin, json={"is_active": False})
        assert r.status_code == 200, r.text
        with factory() as s:
            late, early = s.get(Order, ids["09:00"]), s.get(Order, ids["08:15"])
            assert (late.status, late.reason, late.committed_minor) == ("cancelled", "user deactivated", 0)
            assert early.status == "open" and early.committed_minor == 25  # in a closed book: it stays
        audit = client.get("/api/audit", headers=admin, params={"limit": 1000}).json()["items"]
        entry = [a for a in audit if a["action"] == "user.update" and a["target"] == f"user:{uid}"][-1]
        assert entry["detail"]["cancelled_orders"] == [ids["09:00"]]
    finally:
        clock.now = saved
