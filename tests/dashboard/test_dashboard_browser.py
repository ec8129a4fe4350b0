"""The dashboard in headless Chromium (Playwright): logins, own data only, orders, trades, live MQTT readings."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from dashboard_support import PASSWORD, World, login, now_utc

from peergrid.service.mqtt.credentials import reading_payload
from peergrid.service.mqtt.payload import topic_for
from peergrid.service.mqtt.publisher import Publisher
from peergrid.service.timeutil import floor_interval


def test_login_page_is_accessible_and_rejects_bad_passwords(browser, world: World, artifacts):
    page = browser.new_page()
    page.goto(world.url + "/dashboard")
    assert "/login" in page.url  # not logged in: redirected
    # every form control has a label
    unlabeled = page.evaluate(
        "() => [...document.querySelectorAll('input:not([type=hidden]), select')]"
        ".filter(e => !(e.labels && e.labels.length)).map(e => e.name)"
    )
    assert unlabeled == []
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Email").fill(world.users["buyer"].email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "wrong email or password"
    page.screenshot(path=str(artifacts / "login-error.png"))
    page.close()


def test_consumer_sees_only_own_data(browser, world: World, artifacts):
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, world, "buyer")
    assert page.url.endswith(f"/dashboard/c/{world.cid}/me")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link").all_inner_texts() == ["My energy"]  # no operator pages for members
    body = page.inner_text("body")
    assert "Bea Buyer" in body and "50.00" in body  # own name and wallet
    for other in ("Sam Solar", "Otto Other", world.meters["other"], world.meters["seller"]):
        assert other not in body
    # the operator page redirects a member back to their own view
    page.goto(world.url + f"/dashboard/c/{world.cid}/community")
    assert page.url.endswith("/me")
    # a community the member does not belong to is not shown
    page.goto(world.url + f"/dashboard/c/{world.cid + 1000}/me")
    assert page.url.endswith(f"/dashboard/c/{world.cid}/me")
    page.screenshot(path=str(artifacts / "member.png"), full_page=True)
    ctx.close()


def test_place_order_and_see_the_trade_after_clearing(browser, world: World, artifacts):
    from peergrid.service import clearing

    seller_ctx, buyer_ctx = browser.new_context(), browser.new_context()
    seller, buyer = seller_ctx.new_page(), buyer_ctx.new_page()
    login(seller, world, "seller")
    login(buyer, world, "buyer")
    interval = buyer.locator("#interval option").first.get_attribute("value")
    # the seller offers 2 kWh at 0.10, the buyer bids 1.5 kWh at 0.20, through the forms
    seller.get_by_label("Side", exact=True).select_option("sell")
    seller.get_by_label("Interval", exact=True).select_option(interval)
    seller.get_by_label("Energy (kWh)").fill("2")
    seller.get_by_label(re.compile(r"^Price")).fill("0.10")
    seller.get_by_role("button", name="Place order").click()
    assert "placed" in seller.get_by_role("status").inner_text()
    buyer.get_by_label("Side", exact=True).select_option("buy")
    buyer.get_by_label("Interval", exact=True).select_option(interval)
    buyer.get_by_label("Energy (kWh)").fill("1.5")
    buyer.get_by_label(re.compile(r"^Price")).fill("0.20")
    buyer.get_by_role("button", name="Place order").click()
    rows = buyer.locator("#orders-table tbody tr")
    assert rows.count() == 1 and "buy" in rows.first.inner_text() and "1.500" in rows.first.inner_text()
    assert "0.30 " in buyer.inner_text("body")  # 1.5 kWh × 0.20 committed
    # a bid the wallet cannot cover (1000 kWh × 0.20 > 50.00): a clear message, no order
    buyer.get_by_label("Energy (kWh)").fill("1000")
    buyer.get_by_label(re.compile(r"^Price")).fill("0.20")
    buyer.get_by_role("button", name="Place order").click()
    assert buyer.get_by_role("alert").count() == 1
    assert "insufficient funds" in buyer.get_by_role("alert").inner_text()
    assert rows.count() == 1
    # gate closure: the market is cleared and settled (uniform price, peergrid.market)
    t = dt.datetime.fromisoformat(interval)
    out = clearing.settle(world.app.state.sessions, world.cid, t, "market", now=t)
    assert out.status == "settled" and out.summary["n_trades"] >= 1
    buyer.reload()
    trades = buyer.locator("#trades-table tbody tr")
    assert trades.count() == 1
    text = trades.first.inner_text()
    assert "bought" in text and "1.500" in text
    assert buyer.locator("#orders-table tbody tr").first.inner_text() == "No open orders."
    buyer.screenshot(path=str(artifacts / "member-trade.png"), full_page=True)
    seller.reload()
    assert "sold" in seller.locator("#trades-table tbody tr").first.inner_text()
    seller_ctx.close()
    buyer_ctx.close()


def test_mqtt_reading_shows_on_the_live_view_within_2s(browser, world: World, artifacts):
    if world.mqtt is None:
        pytest.skip("no MQTT broker on 127.0.0.1:1883 (scripts/services.sh starts Mosquitto)")
    page = browser.new_page()
    login(page, world, "buyer")
    page.wait_for_function("() => document.querySelector('#live-status').classList.contains('on')", timeout=5000)
    before = page.inner_text("#live-kw")
    serial = world.meters["buyer"]
    ts = floor_interval(now_utc(), 15) - dt.timedelta(minutes=15)
    pub = Publisher(world.gateway).connect()
    # 1234 Wh imported in a 15-min period = 4.936 kW
    pub.publish(topic_for(world.cid, serial),
                json.dumps(reading_payload(world.keys[serial], world.cid, serial, ts, 1234, 0, None,
                                           time.time_ns() // 10**6)))
    t0 = time.monotonic()
    page.wait_for_function("() => document.querySelector('#live-kw').textContent === '4.936'", timeout=2000)
    elapsed = time.monotonic() - t0
    pub.close()
    assert before != "4.936" and elapsed < 2.0
    assert page.inner_text("#live-ts") == ts.strftime("%Y-%m-%d %H:%M UTC")
    page.screenshot(path=str(artifacts / "member-live.png"))
    # the operator's live community view updates too
    ctx = browser.new_context()
    op = ctx.new_page()
    login(op, world, "operator")
    op.wait_for_function("() => document.querySelector('#live-status').classList.contains('on')", timeout=5000)
    pub = Publisher(world.gateway).connect()
    serial = world.meters["seller"]
    pub.publish(topic_for(world.cid, serial),
                json.dumps(reading_payload(world.keys[serial], world.cid, serial, ts, 0, 2000, None,
                                           time.time_ns() // 10**6)))
    # community: (1234 − 2000) Wh in 15 min = −3.064 kW
    op.wait_for_function("() => document.querySelector('#live-kw').textContent === '−3.064'", timeout=2000)
    pub.close()
    ctx.close()
    page.close()


def test_operator_sees_the_community_view(browser, world: World, artifacts):
    from peergrid.service import directory

    with world.app.state.sessions() as s, s.begin():
        directory.add_meter(s, world.cid, world.users["seller"].id, f"SILENT-{world.cid}")
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, world, "operator")
    assert page.url.endswith(f"/dashboard/c/{world.cid}/community")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link").all_inner_texts() == ["Community", "Reports"]
    members = page.locator("#members-table tbody tr").all_inner_texts()
    assert len(members) == 4
    assert any("Sam Solar" in m and "prosumer" in m and "1.000" in m for m in members)  # reputation
    assert any("Bea Buyer" in m and "50.00" in m for m in members)
    silent = page.locator("#silent-table").inner_text()
    assert f"SILENT-{world.cid}" in silent
    assert page.locator("#clearing-table").count() == 1 and page.locator("#report-table").count() == 1
    assert page.locator(".chart svg").count() == 2  # charts drawn by the vendored script
    page.screenshot(path=str(artifacts / "operator.png"), full_page=True)
    # phone width: no horizontal scrolling of the page itself
    phone = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    p2 = phone.new_page()
    login(p2, world, "operator")
    assert p2.evaluate("document.documentElement.scrollWidth") <= 375
    p2.screenshot(path=str(artifacts / "operator-phone.png"), full_page=True)
    p3 = phone.new_page()
    login(p3, world, "buyer")
    assert p3.evaluate("document.documentElement.scrollWidth") <= 375
    p3.screenshot(path=str(artifacts / "member-phone.png"), full_page=True)
    phone.close()
    # logging out revokes the session: the pages ask for a login again
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto(world.url + f"/dashboard/c/{world.cid}/community")
    assert "/login" in page.url
    ctx.close()


def test_pages_have_no_external_resources(browser, world: World):
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    login(page, world, "operator")
    page.wait_for_load_state("networkidle")
    assert requested and all(re.match(re.escape(world.url), u) for u in requested), requested
    assert PASSWORD not in " ".join(requested)
    page.close()


CONTRAST_JS = """
() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
  const out = [];
  for (const e of document.querySelectorAll('h1, h2, p, td, th, a, button, label, span, li, legend, figcaption')) {
    if (!e.textContent.trim() || !e.offsetParent) continue;
    const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(bg(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push([e.tagName + '.' + e.className, ratio]);
  }
  return out;
}
"""


def test_text_contrast_meets_wcag_aa(browser, world: World):
    """Every visible text element has a contrast ratio ≥ 4.5:1 against its background (WCAG 2.1 AA)."""
    ctx = browser.new_context()
    page = ctx.new_page()
    for key in ("buyer", "operator"):
        login(page, world, key)
        ratios = page.evaluate(CONTRAST_JS)
        assert len(ratios) > 30
        low = [(el, round(r, 2)) for el, r in ratios if r < 4.5]
        assert not low, low
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/login")
    ctx.close()


def test_open_event_streams_do_not_block_the_api(world: World):
    """More open dashboards (event streams) than the service admits concurrent requests: the API still answers.

    Event streams are dispatched before the service's ConcurrencyLimit (``EventStreams``), so
    long-lived streams never occupy its slots, whatever the ASGI stack does with streaming bodies.
    """
    import threading

    import httpx

    limit = max(m.kwargs["limit"] for m in world.app.user_middleware if "limit" in m.kwargs)
    with httpx.Client(base_url=world.url) as c:
        r = c.post("/api/auth/login", json={"email": world.users["buyer"].email, "password": PASSWORD})
        cookies = dict(r.cookies)
    stop = threading.Event()
    opened = []

    def hold() -> None:
        with httpx.Client(base_url=world.url, cookies=cookies, timeout=30) as c, \
                c.stream("GET", f"/dashboard/c/{world.cid}/events") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if line.startswith("event: live"):
                    opened.append(1)
                    break
            stop.wait(20)

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(limit + 3)]
    for t in threads:
        t.start()
    try:
        end = time.time() + 20
        while len(opened) < len(threads) and time.time() < end:
            time.sleep(0.05)
        assert len(opened) == len(threads)
        t0 = time.monotonic()
        with httpx.Client(base_url=world.url, cookies=cookies, timeout=5) as c:
            assert c.get("/api/health").status_code == 200
            assert c.get(f"/dashboard/c/{world.cid}/me").status_code == 200
        assert time.monotonic() - t0 < 3
    finally:
        stop.set()
        for t in threads:
            t.join(5)


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/"])
def test_login_never_redirects_off_site(world: World, target):
    import httpx

    with httpx.Client(base_url=world.url) as c:
        r = c.post("/login", data={"email": world.users["buyer"].email, "password": PASSWORD, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        r = c.post("/login", data={"email": world.users["buyer"].email, "password": PASSWORD,
                                   "next": f"/dashboard/c/{world.cid}/me"})
        assert r.headers["location"] == f"/dashboard/c/{world.cid}/me"
