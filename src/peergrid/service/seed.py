"""``peergrid serve --demo``: seed a demo community from the real CityLearn 2022 data.

Creates an admin, an operator and the 17 CityLearn homes (prosumers with PV, consumers
without), their wallets (topped up), one meter each, a week of hourly readings (the
data's first week re-timed to end at the last full hour) and, for every hour, orders
derived from each home's net energy (bids between feed-in and retail, asks likewise),
then settles every hour (market + metered phase) so reports, invoices and the
dashboard have history on first start. The community is in America/Los_Angeles with the
shipped CityLearn time-of-use tariff (USD). The demo logins are fixed and printed by the CLI
(:data:`DEMO_PASSWORD`): change them before real use.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from peergrid.service import clearing, directory
from peergrid.service.auth import AuthSettings, hash_password
from peergrid.service.models import Order, User, utcnow
from peergrid.service.timeutil import floor_interval

DEMO_PASSWORD = "peergrid-demo"
DEMO_ADMIN = "admin@demo.peergrid"
DEMO_OPERATOR = "operator@demo.peergrid"
DEMO_COMMUNITY = "CityLearn demo (Fontana, CA)"


def seed_demo(
    factory: sessionmaker[Session],
    now: dt.datetime | None = None,
    days: int = 7,
    auth: AuthSettings | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """Seed the demo data unless the database already has users.

    Returns
    -------
    dict
        ``{"seeded": bool, "community_id", "users", "admin", "operator", "password", "intervals"}``.
    """
    from peergrid.data import citylearn_community
    from peergrid.market.tariff import shipped_tariff

    now = now or utcnow()
    with factory() as s, s.begin():
        if s.execute(sa.select(User.id).limit(1)).first() is not None:
            return {"seeded": False}
    hours = 24 * days
    data = citylearn_community(periods=hours, freq="1h", with_batteries=False)
    net_kwh = np.asarray(data.load - data.generation, dtype=np.float64)  # (T, N), + import
    n = net_kwh.shape[1]
    retail = float(np.mean(data.retail))
    feed_in = float(np.mean(data.feed_in))
    end = floor_interval(now, 60)
    start = end - dt.timedelta(hours=hours)
    pw = hash_password(auth or AuthSettings(), DEMO_PASSWORD)
    rng = np.random.default_rng(seed)
    with factory() as s, s.begin():
        admin = directory.create_user(s, DEMO_ADMIN, "Demo admin", pw, "admin")
        op = directory.create_user(s, DEMO_OPERATOR, "Demo operator", pw, "operator")
        c = directory.create_community(
            s,
            DEMO_COMMUNITY,
            currency="USD",
            interval_minutes=60,
            gate_closure_minutes=5,
            metering_grace_minutes=15,
            mechanism="uniform",
            tz="America/Los_Angeles",
            tariff=shipped_tariff("citylearn").to_dict(),
            k=0.5,
        )
        kwp = data.participants["pv_kwp"].to_numpy() if "pv_kwp" in data.participants else np.ones(n)
        homes = []
        for i in range(n):
            role = "prosumer" if kwp[i] > 0 else "consumer"
            homes.append(directory.create_user(s, f"home{i + 1:02d}@demo.peergrid", f"Home {i + 1:02d}", pw, role))
        directory.add_members(s, c.id, [op.id] + [h.id for h in homes])
        for i, h in enumerate(homes):  # prosumers' meters have generation behind them, consumers' not
            directory.add_meter(s, c.id, h.id, f"CL-{i + 1:02d}", f"CityLearn home_{i + 1:02d}",
                                has_generation=h.role == "prosumer")
            directory.topup(s, c.id, h.id, 50_000, "demo opening balance")
        directory.audit(s, admin, "demo.seed", c.id, f"community:{c.id}")
        cid = c.id
        home_ids = [h.id for h in homes]
    # readings (bulk) and orders derived from net positions
    from peergrid.service.metering import ingest_readings

    times = [start + dt.timedelta(hours=t) for t in range(hours)]
    wh = np.rint(net_kwh * 1000).astype(np.int64)
    with factory() as s, s.begin():
        readings = [
            {
                "meter": f"CL-{i + 1:02d}",
                "ts": times[t],
                "import_wh": int(max(wh[t, i], 0)),
                "export_wh": int(max(-wh[t, i], 0)),
            }
            for t in range(hours)
            for i in range(n)
        ]
        stored = ingest_readings(s, cid, readings, now=now)
        if stored.rejected:  # the demo data must satisfy the reading rules (capacity, generation, …)
            raise RuntimeError(f"demo reading rejected: {stored.rejected[0]}")
        rows = []
        for t in range(hours):
            for i in range(n):
                q = int(abs(wh[t, i]))
                if q == 0:
                    continue
                buy = wh[t, i] > 0
                price = (
                    retail - rng.uniform(0, 0.6) * (retail - feed_in)
                    if buy
                    else feed_in + rng.uniform(0, 0.6) * (retail - feed_in)
                )
                rows.append(
                    {
                        "community_id": cid,
                        "user_id": home_ids[i],
                        "interval_start": times[t],
                        "side": "buy" if buy else "sell",
                        "quantity_wh": q,
                        "price": round(float(price), 4),
                        "status": "open",
                        "filled_wh": 0,
                        "committed_minor": int(np.ceil(q * price / 10)) if buy else 0,
                        "idempotency_key": None,
                        "reason": "",
                        "created_at": times[t] - dt.timedelta(hours=1),
                    }
                )
        s.execute(sa.insert(Order.__table__), rows)
    for t in times:
        clearing.settle(factory, cid, t, "market", now)
        clearing.settle(factory, cid, t, "metered", now)
    with factory() as s, s.begin():
        if s.bind is not None and s.bind.dialect.name == "postgresql":
            # planner statistics for the freshly bulk-loaded tables: without them the dashboard's
            # aggregates pick nested loops (1.5 s instead of 30 ms) until autovacuum analyses
            s.execute(sa.text("ANALYZE"))
    return {
        "seeded": True,
        "community_id": cid,
        "users": len(home_ids) + 2,
        "admin": DEMO_ADMIN,
        "operator": DEMO_OPERATOR,
        "password": DEMO_PASSWORD,
        "intervals": hours,
    }
