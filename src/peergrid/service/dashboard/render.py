"""The dashboard's Jinja2 templates and their filters (money, numbers, percentages, local times).

:data:`templates` renders ``templates/*.html``; the filters ``money``, ``num``, ``pct`` and ``time``
format minor units, numbers, fractions and times (in the page's ``tz``) as the pages show them, and
the global ``metric(key)`` gives a metric's heading from :data:`peergrid.metrics.METRICS` (one name
per metric, as in the CLI and the HTML report).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import jinja2
from fastapi.templating import Jinja2Templates

from peergrid.metrics import METRICS

HERE = Path(__file__).parent

templates = Jinja2Templates(directory=str(HERE / "templates"))


def _money(minor: int | None, currency: str = "") -> str:
    if minor is None:
        return "–"
    sign = "−" if minor < 0 else ""
    return f"{sign}{abs(minor) / 100:,.2f} {currency}".strip()


def _num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}".replace("-", "−")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


@jinja2.pass_context
def _time(ctx: jinja2.runtime.Context, s: str | dt.datetime | None) -> str:
    """A time as the community's local wall-clock time with its zone abbreviation (``tz`` of the page, else UTC)."""
    if s is None:
        return "–"
    t = dt.datetime.fromisoformat(s) if isinstance(s, str) else s
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)  # storage is UTC
    name = str(ctx.get("tz") or "UTC")
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone, name = dt.UTC, "UTC"
    local = t.astimezone(zone)
    if name == "UTC":
        return local.strftime("%Y-%m-%d %H:%M UTC")
    # the offset as the browser's Intl "shortOffset" writes it (GMT+1, GMT+5:30, GMT-8), so live updates match
    minutes = round((local.utcoffset() or dt.timedelta(0)).total_seconds() / 60)
    sign, (h, m) = ("+" if minutes >= 0 else "-"), divmod(abs(minutes), 60)
    offset = "GMT" if minutes == 0 else f"GMT{sign}{h}" + (f":{m:02d}" if m else "")
    return local.strftime("%Y-%m-%d %H:%M ") + offset


def _metric(key: str) -> str:
    """Heading of metric ``key`` with its unit, e.g. ``"Self-sufficiency"``, ``"Grid import (kWh)"``."""
    return METRICS[key].heading()


templates.env.filters.update(money=_money, num=_num, pct=_pct, time=_time)
templates.env.globals.update(metric=_metric)
