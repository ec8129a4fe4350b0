"""Reports per community and per member from settled positions and meter readings.

Figures reuse :mod:`peergrid.metrics`: self-sufficiency (Lange (2025), eq. 6) = 1 − grid import /
demand, self-consumption (Lange (2025), eq. 5) = 1 − grid export / generation, and the
**net-bill reduction** (``net_bill_reduction``, label "Net-bill reduction") against a
grid-only baseline, the form of Lange (2025), eq. 7 applied to the members' net energy bill
(payments − receipts): the baseline (:func:`peergrid.market.no_p2p`) bills every member's
metered net energy of each interval at that interval's grid prices λb (import) or λs (export)
of the community's tariff (time of use in local time) — what they would have paid without
P2P trading. It is
not the simulator's ``cost_reduction`` (members' purchase cost only). Periodic charges
(standing, demand) are the same with and without P2P and are left out of both.

The window is echoed in UTC (``start``/``end``) and in the community's local time
(``start_local``/``end_local``, ISO 8601 with offset; ``tz``).

**Emissions** (``emissions_kg``, label "Emissions", as in the simulator's metric): the settled
grid import × a flat carbon intensity (``carbon_intensity``, kgCO2/kWh), the service setting
``carbon_intensity`` (:func:`set_carbon_intensity`; default
:data:`peergrid.data.carbon.DEFAULT_CARBON_INTENSITY`). Export earns no credit.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from peergrid.market import no_p2p, to_minor
from peergrid.metrics import cost_reduction, self_consumption, self_sufficiency
from peergrid.service import tariffs
from peergrid.service.directory import get_community
from peergrid.service.models import Community, Meter, Position, Reading, ServiceConfig

#: ``service_config`` key of the flat carbon intensity of the reports, kgCO2/kWh.
CARBON_KEY = "carbon_intensity"

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


def carbon_intensity(session: Session | None) -> float:
    """The service's flat carbon intensity of grid electricity, kgCO2/kWh (setting or default)."""
    from peergrid.data.carbon import DEFAULT_CARBON_INTENSITY

    row = session.get(ServiceConfig, CARBON_KEY) if session is not None else None
    try:
        value = float(row.value) if row is not None else DEFAULT_CARBON_INTENSITY
    except ValueError:
        return DEFAULT_CARBON_INTENSITY
    return value if math.isfinite(value) and value >= 0 else DEFAULT_CARBON_INTENSITY


def set_carbon_intensity(session: Session, kg_per_kwh: float) -> None:
    """Set the flat carbon intensity of the reports, kgCO2/kWh (≥ 0, finite; the caller commits).

    Raises
    ------
    ValueError
        Negative or non-finite value.
    """
    v = float(kg_per_kwh)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"carbon intensity must be >= 0 kgCO2/kWh, got {kg_per_kwh!r}")
    row = session.get(ServiceConfig, CARBON_KEY)
    if row is None:
        session.add(ServiceConfig(key=CARBON_KEY, value=repr(v)))
    else:
        row.value = repr(v)


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
) -> tuple[list[dt.datetime], np.ndarray]:
    """Interval start and net Wh per (member, interval) with readings in the window."""
    stmt = (
        sa.select(Reading.interval_start, sa.func.sum(Reading.import_wh) - sa.func.sum(Reading.export_wh))
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.community_id == community_id)
        .group_by(Meter.user_id, Reading.interval_start)
    )
    if user_id is not None:
        stmt = stmt.where(Meter.user_id == user_id)
    rows = session.execute(_window(stmt, Reading.interval_start, start, end)).all()
    return [t for t, _ in rows], np.array([int(v or 0) for _, v in rows], dtype=np.int64)


def grid_only_cost(c: Community, starts: list[dt.datetime], demand_wh: np.ndarray, supply_wh: np.ndarray) -> float:
    """The grid-only baseline: Σ demand·λb(t) − supply·λs(t) over intervals (currency units).

    The members' bills of :func:`peergrid.market.no_p2p` (every member trades with the grid alone),
    one "slot" per (member, interval) entry.

    Parameters
    ----------
    c : Community
        Its tariff gives λb/λs per interval (time of use in its local time).
    starts : list of datetime.datetime
        Interval starts (aware UTC), one per entry of ``demand_wh``/``supply_wh`` (repeats allowed).
    demand_wh, supply_wh : numpy.ndarray
        Energy imported / exported without P2P in each entry (Wh ≥ 0).
    """
    if not len(starts):
        return 0.0
    buy, sell = tariffs.grid_prices(c, starts)
    # in Wh: Wh × currency/kWh is 1/1000 currency, exact for integer Wh (then one division)
    return float(no_p2p(demand_wh, supply_wh, buy, sell).member_bill.sum()) / 1000.0


def report_from_totals(
    c: Community,
    p: dict[str, int],
    start: dt.datetime | None,
    end: dt.datetime | None,
    intervals_metered: int,
    demand_wh: int,
    supply_wh: int,
    baseline: float,
) -> dict[str, Any]:
    """A report from settled position totals and metered demand/supply.

    Parameters
    ----------
    c : Community
        Its currency and time zone.
    p : dict
        :func:`position_totals` of the window (Wh, minor units).
    start, end : datetime.datetime or None
        The window [start, end), echoed in UTC and local time.
    intervals_metered : int
        (Member, interval) pairs with readings.
    demand_wh, supply_wh : int
        Σ over (member, interval) of max(net, 0) and max(−net, 0) (Wh).
    baseline : float
        The grid-only cost (:func:`grid_only_cost`, currency units).

    Returns
    -------
    dict
        Energy in kWh, money in minor units, metrics (``net_bill_reduction``, self-sufficiency,
        self-consumption) as fractions or ``None`` where undefined; ``emissions_kg`` (kgCO2) of
        the grid import at the service's ``carbon_intensity`` (kgCO2/kWh, read through the
        session ``c`` belongs to).
    """
    demand_kwh = float(demand_wh) / 1000.0
    supply_kwh = float(supply_wh) / 1000.0
    cost_minor = p["paid_minor"] - p["received_minor"] + p["grid_paid_minor"] - p["grid_received_minor"]
    grid_import = p["grid_import_wh"] / 1000.0
    grid_export = p["grid_export_wh"] / 1000.0
    baseline_minor = int(to_minor(baseline))
    return {
        "community_id": c.id,
        "currency": c.currency,
        "tz": c.tz,
        "start": start,
        "end": end,
        "start_local": tariffs.local_iso(start, c.tz),
        "end_local": tariffs.local_iso(end, c.tz),
        "intervals_metered": intervals_metered,
        "demand_kwh": demand_kwh,
        "supply_kwh": supply_kwh,
        "bought_p2p_kwh": p["bought_wh"] / 1000.0,
        "sold_p2p_kwh": p["sold_wh"] / 1000.0,
        "grid_import_kwh": grid_import,
        "grid_export_kwh": grid_export,
        "cost_minor": cost_minor,
        "fees_minor": p["fee_minor"],
        "grid_only_cost_minor": baseline_minor,
        "savings_minor": baseline_minor - cost_minor,
        "net_bill_reduction": _num(cost_reduction(cost_minor / 100.0, baseline)),
        "self_sufficiency": _num(self_sufficiency(demand_kwh, min(grid_import, demand_kwh))),
        "self_consumption": _num(self_consumption(supply_kwh, min(grid_export, supply_kwh))),
        "carbon_intensity": (ci := carbon_intensity(object_session(c))),
        "emissions_kg": _num(grid_import * ci),
    }


def _report(
    session: Session, community_id: int, user_id: int | None, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Any]:
    c = get_community(session, community_id)
    p = position_totals(session, community_id, user_id, start, end)
    starts, net = _metered(session, community_id, user_id, start, end)
    demand, supply = np.maximum(net, 0), np.maximum(-net, 0)
    return report_from_totals(c, p, start, end, len(net), int(demand.sum()), int(supply.sum()),
                              grid_only_cost(c, starts, demand, supply))


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
