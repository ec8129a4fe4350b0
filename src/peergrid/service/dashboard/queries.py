"""Read-only queries behind the dashboard pages (aggregated in SQL: no query per member).

Units follow the service: energy integer Wh in the database, shown as kWh; power kW
(energy of a metering period / its length); money integer minor units.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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
    return [_point(t, int(imp or 0), int(exp or 0), int(n), h) for t, imp, exp, n in session.execute(stmt)]


def _point(t: dt.datetime, imp: int, exp: int, n: int, h: float) -> dict[str, Any]:
    """One point of a series: energy (kWh) and mean power (kW) of ``imp``/``exp`` Wh over ``h`` hours."""
    return {"t": t.isoformat(), "import_kwh": imp / 1000, "export_kwh": exp / 1000,
            "net_kwh": (imp - exp) / 1000, "kw": (imp - exp) / 1000 / h, "readings": n}


@dataclass(frozen=True)
class IntervalTotals:
    """Metered energy of a community in one trading interval (integer Wh).

    ``demand_wh`` is Σ over members of max(net, 0), where a member's net is Σ import − Σ
    export of all their meters in the interval; ``members`` counts the members with readings
    in it. Supply Σ max(−net, 0) follows as ``demand_wh − (import_wh − export_wh)``.
    """

    t: dt.datetime
    import_wh: int
    export_wh: int
    readings: int
    demand_wh: int
    members: int

    @property
    def supply_wh(self) -> int:
        """Σ over members of max(−net, 0) (Wh)."""
        return self.demand_wh - (self.import_wh - self.export_wh)


#: Beyond this many intervals with readings off the interval boundary, the search for the meters that
#: sent them scans from the first such interval on instead of listing the intervals (bounded parameter lists).
_MAX_LISTED_INTERVALS = 500


def _positive(x: Any) -> Any:
    return sa.case((x > 0, x), else_=0)


def metered_intervals(session: Session, c: Community, since: dt.datetime) -> list[IntervalTotals]:
    """Per trading interval from ``since`` on: metered import/export, readings, member demand (set-based).

    Gives what :func:`net_series` (community) and the metered part of
    :func:`peergrid.service.reports.community_report` compute for any window inside
    [``since``, ∞), in one pass over the window's readings instead of one per figure, and
    without returning one row per (member, interval) to Python.

    The pass sums each reading's own max(import − export, 0): that is the member's demand
    wherever a (member, interval) has a single reading, which holds for members with one meter
    in intervals where every reading starts on the interval boundary (``ts`` unique per meter).
    Only the members for whom that may not hold — several meters, or a meter with readings off
    the boundary (shorter metering periods) — are regrouped exactly per (member, interval) by a
    second query restricted to their meters; their groups replace their readings' own figures.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session (SQLite or PostgreSQL).
    c : Community
        The community; its meters' readings with ``interval_start >= since`` count.
    since : datetime.datetime
        Aware UTC start of the window.

    Returns
    -------
    list of IntervalTotals
        One per interval with readings, in time order (energy in Wh).
    """
    h_pos = _positive(Reading.import_wh - Reading.export_wh)
    first_id, last_id = session.execute(
        sa.select(sa.func.min(Meter.id), sa.func.max(Meter.id)).where(Meter.community_id == c.id)
    ).one()
    if first_id is None:
        return []
    stmt = (
        sa.select(
            Reading.interval_start,
            sa.func.sum(Reading.import_wh),
            sa.func.sum(Reading.export_wh),
            sa.func.count(),
            sa.func.sum(h_pos),
            sa.func.min(Reading.ts),
            sa.func.max(Reading.ts),
        )
        .where(Reading.interval_start >= since)
        .group_by(Reading.interval_start)
        .order_by(Reading.interval_start)
    )
    # The readings of the window drive the query. On SQLite "meter_id + 0" keeps the planner from
    # walking every reading of every meter through the (meter_id, ts) index instead of the
    # interval_start one; PostgreSQL estimates the plain column better (hash aggregate, no sort).
    sqlite = session.get_bind().dialect.name == "sqlite"
    meter_id = Reading.meter_id + 0 if sqlite else Reading.meter_id
    foreign = session.execute(
        sa.select(Meter.id).where(Meter.id.between(first_id, last_id), Meter.community_id != c.id).limit(1)
    ).first()
    if foreign is None:  # no other community's meter has an id in that range: a range test replaces the join
        stmt = stmt.where(meter_id.between(first_id, last_id))
    else:
        stmt = stmt.join(Meter, Meter.id == meter_id).where(Meter.community_id == c.id)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    off_grid = [t for t, _, _, _, _, ts_min, ts_max in rows if ts_min != t or ts_max != t]
    # Members to regroup: those with several meters, or whose meter has readings off the boundary.
    members_of = sa.select(Meter.user_id).where(Meter.community_id == c.id)
    regroup = [Meter.user_id.in_(members_of.group_by(Meter.user_id).having(sa.func.count() > 1))]
    if off_grid:
        in_window = (Reading.interval_start.in_(off_grid) if len(off_grid) <= _MAX_LISTED_INTERVALS
                     else Reading.interval_start >= off_grid[0])
        off_meters = sa.select(Reading.meter_id).where(in_window, Reading.ts != Reading.interval_start).distinct()
        regroup.append(Meter.user_id.in_(members_of.where(Meter.id.in_(off_meters))))
    regrouped = members_of.where(sa.or_(*regroup))
    fix: dict[dt.datetime, tuple[int, int, int, int]] = {}
    if session.execute(regrouped.limit(1)).first() is not None:
        where = [Meter.community_id == c.id, Meter.user_id.in_(regrouped), Reading.interval_start >= since]
        if all(ts_min >= t for t, _, _, _, _, ts_min, _ in rows):  # ts >= interval_start: use the (meter_id, ts)
            where.append(Reading.ts >= since)  # index with a bound that drops no reading of the window
            where.append(Reading.ts >= since)
        g = (
            sa.select(
                Reading.interval_start.label("t"),
                (sa.func.sum(Reading.import_wh) - sa.func.sum(Reading.export_wh)).label("net"),
                sa.func.sum(h_pos).label("row_pos"),
                sa.func.count().label("n"),
            )
            .select_from(Meter)
            .join(Reading, Reading.meter_id == Meter.id)
            .where(*where)
            .group_by(Reading.interval_start, Meter.user_id)
            .subquery()
        )
        for t, pos, row_pos, n, groups in session.execute(
            sa.select(g.c.t, sa.func.sum(_positive(g.c.net)), sa.func.sum(g.c.row_pos), sa.func.sum(g.c.n),
                      sa.func.count()).group_by(g.c.t)
        ):
            fix[t] = (int(pos or 0), int(row_pos or 0), int(n), int(groups))
    out = []
    for t, imp, exp, n, pos, _, _ in rows:
        pos, n = int(pos or 0), int(n)
        members_n = n
        if t in fix:  # regrouped (member, interval) groups replace their readings' own figures
            g_pos, g_row_pos, g_n, g_groups = fix[t]
            pos += g_pos - g_row_pos
            members_n += g_groups - g_n
        out.append(IntervalTotals(t, int(imp or 0), int(exp or 0), n, pos, members_n))
    return out


def series_of(totals: list[IntervalTotals], c: Community, since: dt.datetime) -> list[dict[str, Any]]:
    """:func:`net_series` of the community since ``since`` from :func:`metered_intervals` (covering it)."""
    h = _period_h(c)
    return [_point(x.t, x.import_wh, x.export_wh, x.readings, h) for x in totals if x.t >= since]


def community_summary(
    session: Session, c: Community, totals: list[IntervalTotals], start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """:func:`peergrid.service.reports.community_report` for [start, end) from :func:`metered_intervals`.

    Same keys and values (energy kWh, money minor units, metrics as fractions): settled
    positions from :func:`peergrid.service.reports.position_totals`, metered demand and
    supply from ``totals``, which must cover the window. ``tests/dashboard`` checks both agree.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    c : Community
        The community of ``totals``.
    totals : list of IntervalTotals
        :func:`metered_intervals` from ``start`` or earlier.
    start, end : datetime.datetime
        Aware UTC window [start, end).
    """
    from peergrid.service.reports import grid_only_cost, position_totals, report_from_totals

    p = position_totals(session, c.id, None, start, end)
    window = [x for x in totals if start <= x.t < end]
    demand = np.array([x.demand_wh for x in window], dtype=np.int64)
    supply = np.array([x.supply_wh for x in window], dtype=np.int64)
    out = report_from_totals(c, p, start, end, sum(x.members for x in window), int(demand.sum()),
                             int(supply.sum()), grid_only_cost(c, [x.t for x in window], demand, supply))
    out["traded_kwh"] = out["bought_p2p_kwh"]
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
    """Meters whose latest reading is older than ``intervals`` trading intervals (or that never reported).

    Each meter's latest reading is one probe of the (meter_id, ts) index, not a scan of all readings.
    """
    cutoff = now - dt.timedelta(minutes=c.interval_minutes * intervals)
    last = sa.select(sa.func.max(Reading.ts)).where(Reading.meter_id == Meter.id).scalar_subquery()
    per_meter = (
        sa.select(Meter.serial, Meter.user_id, last.label("last")).where(Meter.community_id == c.id).subquery()
    )
    rows = session.execute(
        sa.select(per_meter.c.serial, User.name, User.email, per_meter.c.last)
        .join(User, User.id == per_meter.c.user_id)
        .where(sa.or_(per_meter.c.last.is_(None), per_meter.c.last < cutoff))
        .order_by(per_meter.c.last.is_(None).desc(), per_meter.c.last, per_meter.c.serial)
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
    """Latest market clearing results: interval, phase, price, volume, trades.

    ``price`` (currency/kWh) is the run's uniform clearing price; for a pool (bill sharing,
    mid-market rate, supply-demand ratio: P2P volume settled in the metered phase) the price
    of the energy shared between members (:func:`peergrid.market.settle.pool_p2p_price`;
    runs settled before it was recorded get it from their summary and the community's current
    retail price), with ``price_kind = "pool"``. Order books without a single price (pay-as-bid,
    bilateral, McAfee) give ``price_paid`` / ``price_received``, the volume-weighted mean prices
    paid by buyers and received by sellers, with ``price_kind = "book"``. So every run with P2P
    volume shows a price; runs without it show none.
    """
    from peergrid.market.settle import pool_p2p_price

    rows = session.execute(
        sa.select(ClearingRun).where(ClearingRun.community_id == c.id)
        .order_by(ClearingRun.interval_start.desc(), ClearingRun.id.desc()).limit(limit)
    ).scalars()
    out = []
    for r in rows:
        s = r.summary or {}
        traded = s.get("traded_wh")
        traded_kwh = (traded / 1000) if traded is not None else s.get("traded_kwh")
        price, paid, received, kind = s.get("clearing_price"), None, None, None
        if price is None and traded_kwh is not None and traded_kwh > 0:
            if r.phase == "metered" and s.get("price_buy") is not None and s.get("demand_kwh") is not None:
                price, kind = s.get("p2p_price"), "pool"
                if price is None:
                    price = pool_p2p_price(s["demand_kwh"], traded_kwh, s["price_buy"], c.retail_price)
            else:
                paid, received, kind = s.get("price_buy"), s.get("price_sell"), "book"
        out.append({
            "interval": r.interval_start.isoformat(), "phase": r.phase, "mechanism": r.mechanism,
            "price": price, "price_paid": paid, "price_received": received, "price_kind": kind,
            "traded_kwh": traded_kwh, "trades": s.get("n_trades"), "orders": s.get("n_orders"),
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
