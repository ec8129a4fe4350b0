"""Reports per community and per member from settled positions and meter readings.

Figures reuse :mod:`peergrid.metrics`: self-sufficiency (Lange eq. 6) = 1 − grid import /
demand, self-consumption (Lange eq. 5) = 1 − grid export / generation, and the cost
reduction against a grid-only baseline (Lange eq. 7), where the baseline bills every
member's metered net energy of each interval at the retail price λb (import) or the
feed-in tariff λs (export) — what they would have paid without P2P trading.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.metrics import cost_reduction, self_consumption, self_sufficiency
from peergrid.service.directory import get_community
from peergrid.service.models import Community, Meter, Position, Reading

_POS_COLS = (
    "bought_wh",
    "sold_wh",
    "grid_import_wh",
    "grid_export_wh",
    "paid_minor",
    "received_minor",
    "fee_minor",
    "grid_paid_minor",
    "grid_received_minor",
)


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def _window(stmt: sa.Select, col: Any, start: dt.datetime | None, end: dt.datetime | None) -> sa.Select:
    if start is not None:
        stmt = stmt.where(col >= start)
    if end is not None:
        stmt = stmt.where(col < end)
    return stmt


def position_totals(
    session: Session, community_id: int, user_id: int | None, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, int]:
    """Σ of every position column in [start, end) (one member or the whole community)."""
    stmt = sa.select(*[sa.func.coalesce(sa.func.sum(getattr(Position, c)), 0) for c in _POS_COLS]).where(
        Position.community_id == community_id
    )
    if user_id is not None:
        stmt = stmt.where(Position.user_id == user_id)
    row = session.execute(_window(stmt, Position.interval_start, start, end)).one()
    return {c: int(v) for c, v in zip(_POS_COLS, row, strict=True)}


def _metered(
    session: Session, community_id: int, user_id: int | None, start: dt.datetime | None, end: dt.datetime | None
) -> np.ndarray:
    """Net Wh per (member, interval) with readings in the window."""
    stmt = (
        sa.select(sa.func.sum(Reading.import_wh) - sa.func.sum(Reading.export_wh))
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.community_id == community_id)
        .group_by(Meter.user_id, Reading.interval_start)
    )
    if user_id is not None:
        stmt = stmt.where(Meter.user_id == user_id)
    return np.array(
        [int(v or 0) for v in session.execute(_window(stmt, Reading.interval_start, start, end)).scalars()],
        dtype=np.int64,
    )


def report_from_totals(
    c: Community,
    p: dict[str, int],
    start: dt.datetime | None,
    end: dt.datetime | None,
    intervals_metered: int,
    demand_wh: int,
    supply_wh: int,
) -> dict[str, Any]:
    """A report from settled position totals and metered demand/supply.

    Parameters
    ----------
    c : Community
        Its prices (per kWh) make the grid-only baseline.
    p : dict
        :func:`position_totals` of the window (Wh, minor units).
    start, end : datetime.datetime or None
        The window [start, end), echoed.
    intervals_metered : int
        (Member, interval) pairs with readings.
    demand_wh, supply_wh : int
        Σ over (member, interval) of max(net, 0) and max(−net, 0) (Wh).

    Returns
    -------
    dict
        Energy in kWh, money in minor units, metrics (Lange eq. 7 cost reduction,
        self-sufficiency, self-consumption) as fractions or ``None`` where undefined.
    """
    demand_kwh = float(demand_wh) / 1000.0
    supply_kwh = float(supply_wh) / 1000.0
    baseline = float(demand_wh * c.retail_price - supply_wh * c.feed_in_price) / 1000
    cost_minor = p["paid_minor"] - p["received_minor"] + p["grid_paid_minor"] - p["grid_received_minor"]
    grid_import = p["grid_import_wh"] / 1000.0
    grid_export = p["grid_export_wh"] / 1000.0
    return {
        "community_id": c.id,
        "currency": c.currency,
        "start": start,
        "end": end,
        "intervals_metered": intervals_metered,
        "demand_kwh": demand_kwh,
        "supply_kwh": supply_kwh,
        "bought_p2p_kwh": p["bought_wh"] / 1000.0,
        "sold_p2p_kwh": p["sold_wh"] / 1000.0,
        "grid_import_kwh": grid_import,
        "grid_export_kwh": grid_export,
        "cost_minor": cost_minor,
        "fees_minor": p["fee_minor"],
        "grid_only_cost_minor": round(baseline * 100),
        "savings_minor": round(baseline * 100) - cost_minor,
        "cost_reduction": _num(cost_reduction(cost_minor / 100.0, baseline)),
        "self_sufficiency": _num(self_sufficiency(demand_kwh, min(grid_import, demand_kwh))),
        "self_consumption": _num(self_consumption(supply_kwh, min(grid_export, supply_kwh))),
    }


def _report(
    session: Session, community_id: int, user_id: int | None, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Any]:
    c = get_community(session, community_id)
    p = position_totals(session, community_id, user_id, start, end)
    net = _metered(session, community_id, user_id, start, end)
    return report_from_totals(c, p, start, end, len(net), int(np.maximum(net, 0).sum()),
                              int(np.maximum(-net, 0).sum()))


def community_report(
    session: Session, community_id: int, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict[str, Any]:
    """Community totals in [start, end): energy (kWh), money (minor units), metrics (fractions)."""
    out = _report(session, community_id, None, start, end)
    out["traded_kwh"] = out["bought_p2p_kwh"]
    return out


def user_report(
    session: Session, community_id: int, user_id: int, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict[str, Any]:
    """One member's totals in [start, end) (same keys as :func:`community_report` plus ``user_id``)."""
    out = _report(session, community_id, user_id, start, end)
    out["user_id"] = user_id
    return out
