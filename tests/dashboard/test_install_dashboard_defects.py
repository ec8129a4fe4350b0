"""Issue 18, finding 8: the dashboard defects, each in headless Chromium.

* the operator's clearing results show a price on every run with trades, also where the
  mechanism has no single clearing price (pay-as-bid order book; a pool settled on meter data);
* at 1280 px (and other widths) each order-form label sits directly above its own control;
* the 7-day chart's axis shows days ("Mon 3 Dec") in the community's time zone, not hours.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from dashboard_support import World, login, now_utc

from peergrid.service import clearing, orders
from peergrid.service.metering import store_readings
from peergrid.service.models import Community, User
from peergrid.service.timeutil import floor_interval


def _set_community(world: World, **values: object) -> Community:
    with world.app.state.sessions() as s, s.begin():
        c = s.get(Community, world.cid)
        for k, v in values.items():
            setattr(c, k, v)
    with world.app.state.sessions() as s:
        return s.get(Community, world.cid)


def _clearing_row(browser, world: World, interval: dt.datetime, phase: str) -> list[str]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    login(page, world, "operator")
    shown = interval.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [r for r in page.locator("#clearing-table tbody tr").all()
            if r.locator("td").count() == 5 and r.locator("td").nth(0).inner_text() == shown
            and r.locator("td").nth(1).inner_text() == phase]
    assert len(rows) == 1, page.locator("#clearing-table").inner_text()
    cells = rows[0].locator("td").all_inner_texts()
    note = page.locator("#clearing-note").all_inner_texts()
    ctx.close()
    return cells + note


def test_pay_as_bid_run_shows_the_prices_paid_and_received(browser, world: World):
    """Pay-as-bid has no single clearing price: 1.5 kWh bought at the bid 0.20, sold at the ask 0.10."""
    c = _set_community(world, mechanism="pay-as-bid")
    f = world.app.state.sessions
    now = now_utc()
    t = floor_interval(now, c.interval_minutes) + dt.timedelta(minutes=2 * c.interval_minutes)
    with f() as s, s.begin():
        c = s.get(Community, world.cid)
        orders.place_order(s, c, s.get(User, world.users["seller"].id), "sell", t, 2000, 0.10, now)
        orders.place_order(s, c, s.get(User, world.users["buyer"].id), "buy", t, 1500, 0.20, now)
    out = clearing.settle(f, world.cid, t, "market", now=t)
    assert out.summary["n_trades"] == 1 and out.summary["clearing_price"] is None  # the case that showed "–"
    cells = _clearing_row(browser, world, t, "market")
    assert cells[2] == "0.2000 / 0.1000*", cells
    assert cells[3] == "1.500" and cells[4] == "1"
    assert "No single clearing price in a pay-as-bid market" in cells[5] and "paid by buyers" in cells[5]


def test_pool_run_shows_its_price(browser, world: World):
    """Mid-market rate pool: 1.5 kWh shared at (0.30 + 0.08) / 2 = 0.19, settled from the meters (metered phase)."""
    c = _set_community(world, mechanism="mmr")
    f = world.app.state.sessions
    now = now_utc()
    t = floor_interval(now, c.interval_minutes) - dt.timedelta(minutes=2 * c.interval_minutes)
    with f() as s, s.begin():
        res = store_readings(s, world.cid, [(world.meters["seller"], t, 0, 2000, None),
                                            (world.meters["buyer"], t, 1500, 0, None)], now=now)
        assert res.accepted == 2, res.rejected
    out = clearing.settle(f, world.cid, t, "metered", now=now)
    assert out.summary["traded_kwh"] == pytest.approx(1.5)
    cells = _clearing_row(browser, world, t, "metered")
    assert cells[2] == "0.1900*" and cells[3] == "1.500", cells  # was "–"
    assert out.summary["p2p_price"] == pytest.approx(0.19)
    assert "the price of the energy shared between members" in cells[5]


@pytest.mark.parametrize("width", [1280, 900, 375])
def test_order_form_labels_sit_above_their_own_controls(browser, world: World, artifacts, width: int):
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    login(page, world, "seller")
    boxes = {}
    for cid in ("side", "interval", "qty", "price"):
        label = page.locator(f"label[for={cid}]").bounding_box()
        control = page.locator(f"#{cid}").bounding_box()
        boxes[cid] = (label, control)
        # left-aligned with its control, directly above it (no more than a small gap, never beside it)
        assert abs(label["x"] - control["x"]) <= 2, (width, cid, label, control)
        gap = control["y"] - (label["y"] + label["height"])
        assert 0 <= gap <= 12, (width, cid, label, control)
    # and no other control sits between a label and its own: the nearest control below each label is its own
    for cid, (label, _) in boxes.items():
        below = [(c["y"] - label["y"], k) for k, (_, c) in boxes.items()
                 if c["y"] > label["y"] and abs(c["x"] - label["x"]) <= 2]
        assert min(below)[1] == cid, (width, cid, below)
    page.screenshot(path=str(artifacts / f"order-form-{width}.png"))
    ctx.close()


def _day_label(d: dt.date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def test_week_chart_axis_shows_local_days(browser, world: World, artifacts):
    tz = "Pacific/Auckland"  # UTC+12/+13: local days differ from UTC days
    _set_community(world, tz=tz)
    zone = zoneinfo.ZoneInfo(tz)
    f = world.app.state.sessions
    now = now_utc()
    start = floor_interval(now, 60) - dt.timedelta(hours=6 * 24 + 12)
    hours = [start + dt.timedelta(hours=h) for h in range(6 * 24 + 12)]
    with f() as s, s.begin():
        res = store_readings(s, world.cid, [(world.meters["buyer"], t, 200 + 10 * (t.hour % 12), 0, None)
                                            for t in hours], now=now)
        assert res.accepted == len(hours), res.rejected[:3]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    login(page, world, "operator")
    chart = page.locator("[data-source=week-data]")
    chart.locator("svg").wait_for()
    labels = chart.locator("svg text.day").all_text_contents()
    caption = page.locator("figure", has=chart).locator("figcaption").inner_text()
    axis = [t for t in chart.locator("svg text").all_text_contents() if re.fullmatch(r"\d\d:\d\d", t)]
    page.screenshot(path=str(artifacts / "operator-week-days.png"), full_page=True)
    ctx.close()
    assert axis == []  # no hour labels on the week's axis
    assert f"days in {tz}" in caption
    local_days = sorted({t.astimezone(zone).date() for t in hours})
    expected_full = [_day_label(d) for d in local_days[1:-1]]  # the days the data covers from midnight to midnight
    assert labels, "no day labels"
    assert set(expected_full) <= set(labels) <= {_day_label(d) for d in local_days}, (labels, expected_full)
    assert labels == sorted(labels, key=lambda x: [_day_label(d) for d in local_days].index(x))
