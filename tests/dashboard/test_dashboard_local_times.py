"""Issue 18, finding 2 on the dashboard: times are the community's local times, server-rendered and live.

A community in Asia/Kolkata (UTC+5:30, no clock changes, so the expected text never depends on the
date): the member's latest reading, its order table and the footer read in local time, and the live
view's updates (formatted in the browser) print the same text as the server did.
"""

from __future__ import annotations

import datetime as dt

from dashboard_support import World, login, now_utc

from peergrid.service.metering import store_readings
from peergrid.service.models import Community
from peergrid.service.timeutil import floor_interval

TZ = "Asia/Kolkata"


def _local(t: dt.datetime) -> str:
    return (t + dt.timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M") + " GMT+5:30"


def test_member_page_times_are_local(browser, world: World, artifacts):
    f = world.app.state.sessions
    with f() as s, s.begin():
        s.get(Community, world.cid).tz = TZ
    now = now_utc()
    ts = floor_interval(now, 15) - dt.timedelta(minutes=30)
    with f() as s, s.begin():
        res = store_readings(s, world.cid, [(world.meters["buyer"], ts, 500, 0, None)], now=now)
        assert res.accepted == 1, res.rejected
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    login(page, world, "buyer")
    server_text = page.inner_text("#live-ts")
    assert server_text == _local(ts)
    assert page.inner_text("footer").endswith(f"times in {TZ}")
    # the live view's first update is formatted by the browser (dashboard.js): it must print the same text
    page.wait_for_function("() => Number(document.body.dataset.liveUpdates || 0) >= 1", timeout=5000)
    assert page.inner_text("#live-ts") == server_text
    page.screenshot(path=str(artifacts / "member-local-times.png"), full_page=True)
    ctx.close()
