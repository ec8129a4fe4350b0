"""Read-only queries behind the dashboard pages (aggregated in SQL: no query per member).

Units follow the service: energy integer Wh in the database, shown as kWh; power kW
(energy of a metering period / its length); money integer minor units.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.service.models import (
    Account,
    ClearingRun,
    Community,
    Invoice,
    LedgerEntry,
    Membership,
    Meter,
    Order,
    Reading,
    Trade,
    User,
)

#: Thresholds of the p-MAS load classes (Lange; :func:`peergrid.control.peak.classify_load` defaults).
PEAK_THRESHOLDS = (0.5, 0.8, 1.2, 1.5)
PEAK_NAMES = ("underloaded", "lightly loaded", "normally loaded", "overloaded", "severely overloaded")


def communities_of(session: Session, user: User) -> list[Community]:
    """Communities the user may open (admins: all)."""
    stmt = sa.select(Community).order_by(Community.id)
    if user.role != "admin":
        stmt = stmt.join(Membership, Membership.community_id == Community.id).where(Membership.user_id == user.id)
    return list(session.execute(stmt).scalars())


def _period_h(c: Community) -> float:
    return c.interval_minutes / 60.0


def net_series(
    session: Session, c: Community, since: dt.datetime, user_id: int | None = None
) -> list[dict[str, Any]]:
    """Metered energy per trading interval since ``since``: import, export, net (kWh) and mean power (kW).

    ``user_id`` restricts to that member's meters; otherwise the whole community.
    """
    stmt = (
        sa.select(
            Reading.interval_start,
            sa.func.sum(Reading.import_wh),
            sa.func.sum(Reading.export_wh),
            sa.func.count(),
        )
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.community_id == c.id, Reading.interval_start >= since)
        .group_by(Reading.interval_start)
        .order_by(Reading.interval_start)
    )
    if user_id is not None:
        stmt = stmt.where(Meter.user_id == user_id)
    h = _period_h(c)
    out = []
    for t, imp, exp, n in session.execute(stmt):
        imp, exp = int(imp or 0), int(exp or 0)
        out.append({"t": t.isoformat(), "import_kwh": imp / 1000, "export_kwh": exp / 1000,
                    "net_kwh": (imp - exp) / 1000, "kw": (imp - exp) / 1000 / h, "readings": int(n)})
    return out


def live_member(session: Session, c: Community, user_id: int, now: dt.datetime) -> dict[str, Any]:
    """The member's latest readings: power now (kW, Σ over their meters of the latest period) and today's energy.

    "Today" is the UTC day of ``now``.

    Each meter's power is the energy of its latest reading divided by its period, the
    time between its two latest readings (the community interval if it has only one).
    """
    meters = session.execute(
        sa.select(Meter.id, Meter.serial).where(Meter.community_id == c.id, Meter.user_id == user_id)
    ).all()
    kw = 0.0
    latest: dt.datetime | None = None
    received: dt.datetime | None = None
    per_meter = []
    for mid, serial in meters:
        rows = session.execute(
            sa.select(Reading.ts, Reading.import_wh, Reading.export_wh, Reading.received_at)
            .where(Reading.meter_id == mid)
            .order_by(Reading.ts.desc())
            .limit(2)
        ).all()
        if not rows:
            per_meter.append({"serial": serial, "ts": None, "kw": None})
            continue
        ts, imp, exp, rec = rows[0]
        period_h = (rows[0][0] - rows[1][0]).total_seconds() / 3600 if len(rows) == 2 else _period_h(c)
        period_h = period_h if period_h > 0 else _period_h(c)
        p = (imp - exp) / 1000 / period_h
        kw += p
        per_meter.append({"serial": serial, "ts": ts.isoformat(), "kw": round(p, 3),
                          "import_wh": int(imp), "export_wh": int(exp)})
        latest = ts if latest is None or ts > latest else latest
        received = rec if received is None or (rec is not None and rec > received) else received
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    total = sa.func.coalesce
    today = session.execute(
        sa.select(total(sa.func.sum(Reading.import_wh), 0), total(sa.func.sum(Reading.export_wh), 0))
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.community_id == c.id, Meter.user_id == user_id, Reading.ts >= midnight)
    ).one()
    return {
        "kw": round(kw, 3) if latest is not None else None,
        "latest": latest.isoformat() if latest else None,
        "received": received.isoformat() if received else None,
        "meters": per_meter,
        "today_import_kwh": int(today[0]) / 1000,
        "today_export_kwh": int(today[1]) / 1000,
    }


def live_community(session: Session, c: Community, now: dt.datetime) -> dict[str, Any]:
    """Community net load now (kW): Σ over meters of the power of each meter's latest reading.

    Only readings that started at most two trading intervals before ``now`` count (older
    meters are "silent"). A meter's power is the energy of its latest reading divided by
    its period — the time between its two latest readings, else the community interval —
    so meters reporting every minute and every interval add up correctly. One query
    (a window function), no query per meter.
    """
    since = now - dt.timedelta(minutes=2 * c.interval_minutes)
    rn = sa.func.row_number().over(partition_by=Reading.meter_id, order_by=Reading.ts.desc()).label("rn")
    sub = (
        sa.select(Reading.meter_id, Reading.ts, Reading.import_wh, Reading.export_wh, Reading.received_at, rn)
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.community_id == c.id, Reading.ts >= since - dt.timedelta(minutes=c.interval_minutes))
        .subquery()
    )
    rows = session.execute(sa.select(sub).where(sub.c.rn <= 2).order_by(sub.c.meter_id, sub.c.rn)).all()
    default_h = _period_h(c)
    kw = 0.0
    n = 0
    latest = received = None
    prev: dict[int, dt.datetime] = {}
    firsts = []
    for mid, ts, imp, exp, rec, r in rows:
        if r == 1:
            firsts.append((mid, ts, imp, exp, rec))
        else:
            prev[mid] = ts
    for mid, ts, imp, exp, rec in firsts:
        if ts < since:
            continue
        period_h = (ts - prev[mid]).total_seconds() / 3600 if mid in prev else default_h
        kw += (imp - exp) / 1000 / (period_h if period_h > 0 else default_h)
        n += 1
        latest = ts if latest is None or ts > latest else latest
        received = rec if received is None or (rec is not None and rec > received) else received
    return {"kw": round(kw, 3) if n else None, "interval": latest.isoformat() if latest else None,
            "readings": n, "received": received.isoformat() if received else None}


def peak_class(series: list[dict[str, Any]]) -> dict[str, Any] | None:
    """p-MAS load class (Lange) of the latest interval: load / mean import load of the series.

    Uses :func:`peergrid.control.peak.classify_load` with the reference R = mean of
    the positive community load over the series (the "daily-mean" reference of the
    control module, over the window shown).
    """
    from peergrid.control.peak import classify_load

    if not series:
        return None
    kw = np.array([s["kw"] for s in series], dtype=np.float64)
    pos = kw[kw > 0]
    ref = float(pos.mean()) if pos.size else 0.0
    cls = classify_load(kw, ref, PEAK_THRESHOLDS)
    return {"state": int(cls[-1]), "name": PEAK_NAMES[int(cls[-1])], "load_kw": round(float(kw[-1]), 3),
            "reference_kw": round(ref, 3), "classes": [int(x) for x in cls]}


def silent_meters(session: Session, c: Community, now: dt.datetime, intervals: int) -> list[dict[str, Any]]:
    """Meters whose latest reading is older than ``intervals`` trading intervals (or that never reported)."""
    cutoff = now - dt.timedelta(minutes=c.interval_minutes * intervals)
    last = (
        sa.select(Reading.meter_id, sa.func.max(Reading.ts).label("last"))
        .group_by(Reading.meter_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(Meter.serial, User.name, User.email, last.c.last)
        .join(User, User.id == Meter.user_id)
        .outerjoin(last, last.c.meter_id == Meter.id)
        .where(Meter.community_id == c.id, sa.or_(last.c.last.is_(None), last.c.last < cutoff))
        .order_by(last.c.last.is_(None).desc(), last.c.last, Meter.serial)
        .limit(500)
    ).all()
    return [{"serial": s, "member": n or e, "last": t.isoformat() if t else None} for s, n, e, t in rows]


def members(session: Session, c: Community, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """A page of members with role, reputation, wallet balance and meter count."""
    total = session.scalar(sa.select(sa.func.count()).select_from(Membership).where(Membership.community_id == c.id))
    meters = (
        sa.select(Meter.user_id, sa.func.count().label("n")).where(Meter.community_id == c.id)
        .group_by(Meter.user_id).subquery()
    )
    rows = session.execute(
        sa.select(User.id, User.name, User.email, User.role, Membership.reputation, Account.balance_minor, meters.c.n)
        .join(Membership, Membership.user_id == User.id)
        .outerjoin(Account, sa.and_(Account.community_id == c.id, Account.user_id == User.id,
                                    Account.kind == "wallet"))
        .outerjoin(meters, meters.c.user_id == User.id)
        .where(Membership.community_id == c.id)
        .order_by(User.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total or 0), [
        {"id": i, "name": n, "email": e, "role": r, "reputation": float(rep), "balance_minor": int(b or 0),
         "meters": int(m or 0)}
        for i, n, e, r, rep, b, m in rows
    ]


def clearing_runs(session: Session, c: Community, limit: int = 24) -> list[dict[str, Any]]:
    """Latest market clearing results: interval, phase, price, volume, trades."""
    rows = session.execute(
        sa.select(ClearingRun).where(ClearingRun.community_id == c.id)
        .order_by(ClearingRun.interval_start.desc(), ClearingRun.id.desc()).limit(limit)
    ).scalars()
    out = []
    for r in rows:
        s = r.summary or {}
        traded = s.get("traded_wh")
        out.append({
            "interval": r.interval_start.isoformat(), "phase": r.phase, "mechanism": r.mechanism,
            "price": s.get("clearing_price"), "traded_kwh": (traded / 1000) if traded is not None
            else s.get("traded_kwh"), "trades": s.get("n_trades"), "orders": s.get("n_orders"),
        })
    return out


def orders_of(session: Session, c: Community, user_id: int, open_only: bool = True, limit: int = 50) -> list[Order]:
    """A member's orders, newest first."""
    stmt = sa.select(Order).where(Order.community_id == c.id, Order.user_id == user_id)
    if open_only:
        stmt = stmt.where(Order.status == "open")
    return list(session.execute(stmt.order_by(Order.id.desc()).limit(limit)).scalars())


def trades_of(session: Session, c: Community, user_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A member's trades (as buyer or seller), newest first."""
    rows = session.execute(
        sa.select(Trade).where(Trade.community_id == c.id, sa.or_(Trade.buyer_id == user_id,
                                                                   Trade.seller_id == user_id))
        .order_by(Trade.id.desc()).limit(limit)
    ).scalars()
    out = []
    for t in rows:
        buy = t.buyer_id == user_id
        out.append({"interval": t.interval_start.isoformat(), "side": "bought" if buy else "sold",
                    "kwh": t.quantity_wh / 1000, "price": t.price_buy if buy else t.price_sell,
                    "amount_minor": -t.payment_minor if buy else t.receipt_minor})
    return out


def ledger_of(session: Session, c: Community, user_id: int, limit: int = 30) -> tuple[int, list[dict[str, Any]]]:
    """A member's wallet balance and latest ledger entries (+ credit to the wallet, − debit)."""
    acc = session.execute(
        sa.select(Account).where(Account.community_id == c.id, Account.user_id == user_id, Account.kind == "wallet")
    ).scalar()
    if acc is None:
        return 0, []
    rows = session.execute(
        sa.select(LedgerEntry).where(sa.or_(LedgerEntry.debit_account_id == acc.id,
                                            LedgerEntry.credit_account_id == acc.id))
        .order_by(LedgerEntry.seq.desc()).limit(limit)
    ).scalars()
    return int(acc.balance_minor), [
        {"seq": e.seq, "time": e.created_at.isoformat(), "kind": e.kind, "memo": e.memo,
         "amount_minor": e.amount_minor if e.credit_account_id == acc.id else -e.amount_minor}
        for e in rows
    ]


def invoices_of(session: Session, c: Community, user_id: int, limit: int = 24) -> list[Invoice]:
    """A member's invoices, newest first."""
    return list(session.execute(
        sa.select(Invoice).where(Invoice.community_id == c.id, Invoice.user_id == user_id)
        .order_by(Invoice.id.desc()).limit(limit)
    ).scalars())
