"""End to end: meter simulator (CLI) → Mosquitto → service ingestor → clearing → invoice → dashboard (Chromium)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dashboard_support import PASSWORD, LiveServer, build_world, login, now_utc
from mqtt_support import local_urls

from peergrid.data.meter_profiles import MeterProfiles
from peergrid.service.timeutil import floor_interval


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    from peergrid.service.testing import postgres_unavailable, temp_database

    if request.param == "postgresql" and (reason := postgres_unavailable()):
        pytest.skip(reason)
    with temp_database(request.param, tmp_path) as url:
        yield url


def test_simulator_to_invoice_on_the_dashboard(browser, db_url, artifacts):
    from peergrid.service import clearing

    urls = local_urls()
    if isinstance(urls, str):
        pytest.skip(urls)
    w = build_world(db_url, urls[0], gateway=urls[1])
    f = w.app.state.sessions
    try:
        with LiveServer(w.app) as srv:
            w.url = srv.url
            end = time.time() + 10
            while (w.app.state.mqtt is None or not w.app.state.mqtt.connected.is_set()) and time.time() < end:
                time.sleep(0.05)
            # 1. the meter simulator publishes the last two completed 15-min periods of 3 meters (CityLearn data)
            proc = subprocess.run(
                [str(Path(sys.executable).parent / "peergrid"), "meters", "simulate", "--db", db_url, "--community",
                 str(w.cid), "--meters", "3", "--rate", "500/s", "--backfill", "2", "--rounds", "2", "--period", "900",
                 "--from-data", "--json", "--mqtt", urls[1]],
                capture_output=True, text=True, timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
            sim = json.loads(proc.stdout)
            assert sim["messages"] == 6 and sim["rounds"] == 2
            p2 = dt.datetime.fromisoformat(sim["last_ts"])
            p1 = p2 - dt.timedelta(minutes=15)
            ing = w.app.state.mqtt
            end = time.time() + 10
            while ing.stats.accepted < 6 and time.time() < end:
                time.sleep(0.05)
            assert ing.stats.accepted == 6, ing.stats.as_dict()
            # 2. orders through the dashboard, market clearing at gate closure
            seller_ctx, buyer_ctx = browser.new_context(), browser.new_context()
            seller, buyer = seller_ctx.new_page(), buyer_ctx.new_page()
            login(seller, w, "seller")
            login(buyer, w, "buyer")
            interval = buyer.locator("#interval option").first.get_attribute("value")
            for page, side, qty, price in ((seller, "sell", "3", "0.12"), (buyer, "buy", "2", "0.25")):
                page.get_by_label("Side", exact=True).select_option(side)
                page.get_by_label("Interval", exact=True).select_option(interval)
                page.get_by_label("Energy (kWh)").fill(qty)
                page.locator("#price").fill(price)
                page.get_by_role("button", name="Place order").click()
                assert "placed" in page.get_by_role("status").inner_text()
            t = dt.datetime.fromisoformat(interval)
            market = clearing.settle(f, w.cid, t, "market", now=t)
            assert market.status == "settled" and market.summary["n_trades"] == 1
            # 3. metered settlement of the simulated periods (imbalance at grid prices)
            for p in (p1, p2):
                out = clearing.settle(f, w.cid, p, "metered", now=p + dt.timedelta(hours=1))
                assert out.status == "settled"
            # 4. the operator issues invoices over the API (same session cookie as the dashboard)
            op_ctx = browser.new_context()
            op = op_ctx.new_page()
            login(op, w, "operator")
            start = floor_interval(min(p1, t), 60)
            resp = op.request.post(f"{w.url}/api/communities/{w.cid}/invoices",
                                   data={"period_start": start.isoformat(),
                                         "period_end": (start + dt.timedelta(hours=3)).isoformat()})
            assert resp.status == 201, resp.text()
            invoices = {i["user_id"]: i for i in resp.json()}
            assert w.users["buyer"].id in invoices
            # 5. the buyer's dashboard: live power from the simulator, the trade, the invoice as PDF
            buyer.reload()
            prof = MeterProfiles(3, from_data=True, seed=0)
            imp, exp, pv = prof.energy_wh(p2, 900)
            # meter 1 is the buyer's (meters in id order); a consumer's meter has no generation behind it, so the
            # simulator reports its whole load (net + PV) as import
            kw = (int(imp[1]) - int(exp[1]) + int(pv[1])) / 1000 / 0.25
            assert buyer.inner_text("#live-kw") == f"{kw:,.3f}".replace("-", "−")
            assert "bought" in buyer.locator("#trades-table tbody tr").first.inner_text()
            links = buyer.locator("#invoices a", has_text="PDF")
            assert links.count() == 1
            pdf = buyer.request.get(w.url + links.first.get_attribute("href"))
            assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
            total = invoices[w.users["buyer"].id]["total_minor"]
            assert f"{abs(total) / 100:,.2f}" in buyer.locator("#invoices").inner_text()
            buyer.screenshot(path=str(artifacts / f"e2e-member-{w.app.state.engine.dialect.name}.png"),
                             full_page=True)
            # another member's invoice is not reachable
            other = invoices.get(w.users["seller"].id)
            if other is not None:
                r = buyer.request.get(f"{w.url}/api/communities/{w.cid}/invoices/{other['id']}/pdf")
                assert r.status in (403, 404)
            # 6. the operator sees the clearing result and the readings on the community view
            op.goto(f"{w.url}/dashboard/c/{w.cid}/community")
            rows = op.locator("#clearing-table tbody tr").all_inner_texts()
            assert any("market" in r and "2.000" in r for r in rows)
            assert op.inner_text("#live-kw") != "–"
            op.screenshot(path=str(artifacts / f"e2e-operator-{w.app.state.engine.dialect.name}.png"),
                          full_page=True)
            for ctx in (seller_ctx, buyer_ctx, op_ctx):
                ctx.close()
            assert PASSWORD  # logins used the test password
    finally:
        w.app.state.engine.dispose()
    _ = now_utc
