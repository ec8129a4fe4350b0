"""Tariffs in settlement, invoices and reports (issue 18, findings 2, 3 and 6), on SQLite and PostgreSQL.

* time of use is evaluated on the community's local clock, across a daylight-saving change;
* invoices carry the tariff's components (standing, demand on the monthly peak, VAT …) in the
  community's currency, posted once, reconciled to the ledger, labelled in local time;
* the service's net-bill reduction is ``net_bill_reduction`` (the old ``cost_reduction`` key is gone).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from svc_helpers import make_world

from peergrid.service import ledger
from peergrid.service.models import Account

BERLIN_TOU = {
    "energy": {"type": "tou", "default": 0.20, "periods": [{"name": "evening", "price": 0.40, "start": 17, "end": 20}]},
    "feed_in": 0.05,
}


def _meter(client, w, name, serial):
    r = client.post(f"/api/communities/{w.community_id}/meters", headers=w.headers["operator"],
                    json={"user_id": w.uid(name), "serial": serial})
    assert r.status_code == 201, r.text


def _readings(client, w, rows):
    r = client.post(f"/api/communities/{w.community_id}/readings", headers=w.headers["operator"],
                    json={"readings": rows})
    assert r.status_code == 200 and r.json()["accepted"] == len(rows), r.text


def _settle(client, w, t, phase="metered"):
    r = client.post(f"/api/communities/{w.community_id}/clearing", headers=w.headers["operator"],
                    json={"interval_start": t, "phase": phase})
    assert r.status_code == 200, r.text
    return r.json()["summary"]


def _balance(client, w, name):
    return client.get(f"/api/communities/{w.community_id}/wallets/{w.uid(name)}",
                      headers=w.headers["operator"]).json()["balance_minor"]


def _accounts(app, cid):
    with app.state.sessions() as s:
        rows = s.execute(sa.select(Account.kind, Account.balance_minor).where(Account.community_id == cid)).all()
        assert ledger.verify(s).ok
    return rows


def test_tou_across_dst_in_berlin_is_cleared_at_local_hours(app, client, clock):
    """1 kWh imported at 15..19 h UTC on 28 and 29 March 2026: the 17-20 h local peak moves one UTC hour earlier."""
    w = make_world(app, client, interval_minutes=60, gate_closure_minutes=5, mechanism="uniform",
                   tz="Europe/Berlin", tariff=BERLIN_TOU)
    cid = w.community_id
    clock.now = dt.datetime(2026, 4, 2, 12, 0, tzinfo=dt.UTC)
    _meter(client, w, "consumer", f"DST-{cid}")
    hours = [dt.datetime(2026, 3, d, h, tzinfo=dt.UTC) for d in (28, 29) for h in range(15, 20)]
    _readings(client, w, [{"meter": f"DST-{cid}", "ts": t.isoformat(), "import_wh": 1000, "export_wh": 0}
                          for t in hours])
    paid = {t: _settle(client, w, t.isoformat())["grid_paid_minor"] for t in hours}
    prices = {t: _settle(client, w, t.isoformat())["grid_price_buy"] for t in hours}  # already settled: same
    # 28 March, CET (UTC+1): 15..19 UTC = 16..20 h local → peak at 16, 17, 18 UTC
    # 29 March, CEST (UTC+2): 15..19 UTC = 17..21 h local → peak at 15, 16, 17 UTC
    expect = [20, 40, 40, 40, 20, 40, 40, 40, 20, 20]
    assert [paid[t] for t in hours] == expect
    assert [prices[t] for t in hours] == [c / 100 for c in expect]
    assert _balance(client, w, "consumer") == -sum(expect)
    # the report labels its window in local time; its grid-only baseline uses the same local TOU prices
    rep = client.get(f"/api/communities/{cid}/users/{w.uid('consumer')}/report", headers=w.headers["consumer"],
                     params={"start": "2026-03-27T23:00:00Z", "end": "2026-03-29T22:00:00Z"}).json()
    assert rep["tz"] == "Europe/Berlin"
    assert rep["start_local"] == "2026-03-28T00:00:00+01:00" and rep["end_local"] == "2026-03-30T00:00:00+02:00"
    assert rep["grid_only_cost_minor"] == rep["cost_minor"] == 320 and rep["net_bill_reduction"] == 0.0
    # an invoice over the two local days: labelled in local time, energy component = what was settled
    inv = client.post(f"/api/communities/{cid}/invoices", headers=w.headers["operator"],
                      json={"period_start": "2026-03-28T00:00:00+01:00",
                            "period_end": "2026-03-30T00:00:00+02:00"}).json()[0]
    assert inv["data"]["period"]["label"] == "2026-03-28 00:00 CET (+01:00) to 2026-03-30 00:00 CEST (+02:00)"
    assert inv["total_minor"] == 320 and inv["data"]["components"]["energy"] == 320
    assert inv["data"]["components"]["rounding"] == 0


#: 20 % VAT; energy 0.20 + network 0.10 net → λb = 0.36 gross; standing 0.50/day, demand 10.00/kW-month
MONTHLY = {"name": "hand", "energy": 0.20, "network": 0.10, "vat": 0.20, "standing_per_day": 0.50,
           "demand_per_kw_month": 10.0, "feed_in": 0.05}


@pytest.fixture
def june(app, client, clock):
    """Two members metered in June 2026 (Berlin): A imports 2 kWh in one hour and 1 kWh in another; B exports
    4 kWh in one hour and imports 0.5 kWh in another. Every interval with readings settled."""
    w = make_world(app, client, interval_minutes=60, gate_closure_minutes=5, mechanism="uniform",
                   tz="Europe/Berlin", currency="EUR", tariff=MONTHLY)
    cid = w.community_id
    clock.now = dt.datetime(2026, 7, 2, 12, 0, tzinfo=dt.UTC)
    _meter(client, w, "consumer", f"JA-{cid}")
    _meter(client, w, "prosumer", f"JB-{cid}")
    rows = [
        {"meter": f"JA-{cid}", "ts": "2026-06-10T18:00:00+02:00", "import_wh": 2000, "export_wh": 0},
        {"meter": f"JA-{cid}", "ts": "2026-06-11T09:00:00+02:00", "import_wh": 1000, "export_wh": 0},
        {"meter": f"JB-{cid}", "ts": "2026-06-15T13:00:00+02:00", "import_wh": 0, "export_wh": 4000},
        {"meter": f"JB-{cid}", "ts": "2026-06-15T21:00:00+02:00", "import_wh": 500, "export_wh": 0},
    ]
    _readings(client, w, rows)
    for r in rows:
        _settle(client, w, r["ts"])
    return w


PERIOD = {"period_start": "2026-06-01T00:00:00+02:00", "period_end": "2026-07-01T00:00:00+02:00"}


def test_invoice_components_hand_computed(app, client, june):
    w, cid = june, june.community_id
    # settled per interval at λb = (0.20 + 0.10)·1.2 = 0.36 and λs = 0.05
    assert _balance(client, w, "consumer") == -(72 + 36)
    assert _balance(client, w, "prosumer") == -18 + 20
    r = client.post(f"/api/communities/{cid}/invoices", headers=w.headers["operator"], json=PERIOD)
    assert r.status_code == 201, r.text
    inv = {i["user_id"]: i for i in r.json()}
    a, b = inv[w.uid("consumer")], inv[w.uid("prosumer")]
    # A: import 3 kWh → 108; standing 30 d × 0.50 = 15.00; demand: peak 2 kW × 10.00 = 20.00;
    #    VAT on the charges 20 % × 35.00 = 7.00 → 43.08 EUR
    lines_a = {line["item"].split(" (")[0].split(" at ")[0]: line["amount_minor"] for line in a["data"]["lines"]}
    assert lines_a["Energy imported from the grid"] == 108
    assert lines_a["Standing charge"] == 1500 and lines_a["Demand charge"] == 2000
    assert lines_a["VAT on the charges above"] == 700
    assert a["total_minor"] == 4308 and a["data"]["ledger_total_minor"] == 4308
    # components by the tariff: energy 0.60, network 0.30, standing 15.00, demand 20.00,
    # VAT 20 % × (0.60 + 0.30 + 15.00 + 20.00) = 7.18
    assert a["data"]["components"] == {"energy": 60, "network": 30, "local_network": 0, "tax": 0, "standing": 1500,
                                       "demand": 2000, "vat": 718, "feed_in_credit": 0, "rounding": 0,
                                       "total": 4308}
    assert a["data"]["tariff"]["billed_peak_kw"] == 2.0
    # B: import 0.5 kWh → 18, export 4 kWh × 0.05 → −20; standing 15.00; demand 0.5 kW × 10.00 = 5.00;
    #    VAT 20 % × 20.00 = 4.00 → 23.98 EUR
    assert b["total_minor"] == 18 - 20 + 1500 + 500 + 400 == 2398
    assert b["data"]["components"] == {"energy": 10, "network": 5, "local_network": 0, "tax": 0, "standing": 1500,
                                       "demand": 500, "vat": 403, "feed_in_credit": 20, "rounding": 0,
                                       "total": 2398}
    assert b["data"]["period"]["label"] == "2026-06-01 00:00 CEST (+02:00) to 2026-07-01 00:00 CEST (+02:00)"
    # the periodic charges went from the wallets to the grid account; double entry holds; the chain verifies
    acc = dict(_accounts(app, cid))
    assert acc["grid"] == 4308 + 2398 and sum(b for _, b in _accounts(app, cid)) == 0
    assert _balance(client, w, "consumer") == -4308
    # issuing the same period again returns the same invoices and posts nothing
    again = client.post(f"/api/communities/{cid}/invoices", headers=w.headers["operator"], json=PERIOD).json()
    assert sorted(i["id"] for i in again) == sorted(i["id"] for i in inv.values())
    assert dict(_accounts(app, cid))["grid"] == 6706
    # an overlapping period would bill the standing and demand charges twice: refused
    r = client.post(f"/api/communities/{cid}/invoices", headers=w.headers["operator"],
                    json={"period_start": "2026-06-15T00:00:00+02:00", "period_end": "2026-07-15T00:00:00+02:00",
                          "user_id": w.uid("consumer")})
    assert r.status_code == 409 and "overlaps" in r.json()["detail"]
    # HTML and PDF show the components in the community currency and the local period
    iid = a["id"]
    html = client.get(f"/api/communities/{cid}/invoices/{iid}/html", headers=w.headers["consumer"]).text
    assert "2026-06-01 00:00 CEST (+02:00) to 2026-07-01 00:00 CEST (+02:00)" in html and "Europe/Berlin" in html
    for text in ("43.08 EUR", "Demand charge", "20.00 EUR", "Standing charge", "15.00 EUR", "VAT", "7.18 EUR"):
        assert text in html, text
    pdf = client.get(f"/api/communities/{cid}/invoices/{iid}/pdf", headers=w.headers["consumer"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_invoice_period_must_be_on_interval_boundaries(client, june):
    r = client.post(f"/api/communities/{june.community_id}/invoices", headers=june.headers["operator"],
                    json={"period_start": "2026-06-01T00:30:00+02:00", "period_end": "2026-07-01T00:00:00+02:00"})
    assert r.status_code == 422 and "period_start" in r.json()["detail"]


def _p2p_trade(app, client, clock, bid, ask, **community):
    """1 kWh traded P2P in the 08:15 UTC interval of 1 June 2026 (uniform price, k = 0.5), metered as promised."""
    w = make_world(app, client, interval_minutes=15, gate_closure_minutes=5, mechanism="uniform", **community)
    cid = w.community_id
    t = dt.datetime(2026, 6, 1, 8, 15, tzinfo=dt.UTC)
    clock.now = t - dt.timedelta(minutes=15)
    assert client.post(f"/api/communities/{cid}/wallets/{w.uid('consumer')}/topup", headers=w.headers["operator"],
                       json={"amount_minor": 1000}).status_code == 200
    for name, side, price in (("prosumer", "sell", ask), ("consumer", "buy", bid)):
        r = client.post(f"/api/communities/{cid}/orders", headers=w.headers[name],
                        json={"side": side, "interval_start": t.isoformat(), "quantity_wh": 1000, "price": price})
        assert r.status_code == 201, r.text
    clock.now = t - dt.timedelta(minutes=5)
    assert _settle(client, w, t.isoformat(), "market")["n_trades"] == 1
    _meter(client, w, "consumer", f"NB-{cid}-c")
    _meter(client, w, "prosumer", f"NB-{cid}-p")
    clock.now = t + dt.timedelta(minutes=15)
    _readings(client, w, [{"meter": f"NB-{cid}-c", "ts": t.isoformat(), "import_wh": 1000, "export_wh": 0},
                          {"meter": f"NB-{cid}-p", "ts": t.isoformat(), "import_wh": 0, "export_wh": 1000}])
    _settle(client, w, t.isoformat())
    return w


def test_local_network_charge_on_p2p_purchases(app, client, clock):
    """Bid 0.25, ask 0.15 → 1 kWh at 0.20. The buyer owes the reduced local network charge 0.05/kWh plus 20 % VAT
    on it (0.01) when the invoice is issued: 0.20 + 0.05 + 0.01 = 0.26; the seller gets 0.20."""
    tariff = {"energy": 0.20, "network": 0.10, "local_network": 0.05, "vat": 0.20, "feed_in": 0.05}
    w = _p2p_trade(app, client, clock, 0.25, 0.15, tz="Europe/Berlin", tariff=tariff)
    r = client.post(f"/api/communities/{w.community_id}/invoices", headers=w.headers["operator"],
                    json={"period_start": "2026-06-01T08:00:00Z", "period_end": "2026-06-01T09:00:00Z"})
    assert r.status_code == 201, r.text
    inv = {i["user_id"]: i for i in r.json()}
    buyer, seller = inv[w.uid("consumer")], inv[w.uid("prosumer")]
    assert buyer["total_minor"] == 26 and seller["total_minor"] == -20
    local = next(line for line in buyer["data"]["lines"] if line["item"].startswith("Local network"))
    assert local["energy_kwh"] == 1.0 and local["amount_minor"] == 5
    assert buyer["data"]["components"] == {"energy": 0, "network": 0, "local_network": 5, "tax": 0, "standing": 0,
                                           "demand": 0, "vat": 1, "feed_in_credit": 0, "rounding": 0, "total": 6}
    assert _balance(client, w, "consumer") == 1000 - 26
    assert sum(b for _, b in _accounts(app, w.community_id)) == 0


def test_net_bill_reduction_key(app, client, clock):
    """1 kWh traded P2P at 0.20 (uniform, k = 0.5 between bid 0.30 and ask 0.10), grid prices 0.30 / 0.10.

    Buyer: net bill 0.20 instead of 0.30 grid-only → 1/3; seller: receives 0.20 instead of 0.10 → 1.0 (revenue
    doubled, Lange (2025), eq. 7 on negative bills); community: 0.00 instead of 0.20 → 1.0.
    """
    w = _p2p_trade(app, client, clock, 0.30, 0.10, retail_price=0.30, feed_in_price=0.10)
    cid = w.community_id
    url = f"/api/communities/{cid}"
    buyer = client.get(f"{url}/users/{w.uid('consumer')}/report", headers=w.headers["consumer"]).json()
    seller = client.get(f"{url}/users/{w.uid('prosumer')}/report", headers=w.headers["prosumer"]).json()
    community = client.get(f"{url}/report", headers=w.headers["operator"]).json()
    assert (buyer["cost_minor"], buyer["grid_only_cost_minor"]) == (20, 30)
    assert buyer["net_bill_reduction"] == pytest.approx(1 / 3, abs=1e-6)
    assert (seller["cost_minor"], seller["grid_only_cost_minor"]) == (-20, -10)
    assert seller["net_bill_reduction"] == pytest.approx(1.0)
    assert community["net_bill_reduction"] == pytest.approx(1.0)
    for rep in (buyer, seller, community):
        assert "cost_reduction" not in rep  # one name per metric: cost_reduction is the simulator's purchase cost


@pytest.mark.parametrize("limit", [None, 1.0])
def test_pool_export_above_the_limit_is_not_paid(app, client, clock, limit):
    """SDR pool, 1 h, λb 0.30, λs 0.10. The prosumer exports 3 kWh, the consumer imports 1 kWh: SDR = 3 ≥ 1, so
    both trade at λs (Lange (2025), eq. 4). The consumer pays 0.10 for 1 kWh from the peer; 2 kWh go to the grid.
    With a 1 kW export limit only 1 kWh of those is paid (the other is spilled, as in the simulator's bills):
    the prosumer gets 0.20 instead of 0.30. Pools paid every exported kWh before."""
    tariff = {"energy": 0.30, "feed_in": 0.10, **({"export_limit_kw": limit} if limit else {})}
    w = make_world(app, client, interval_minutes=60, gate_closure_minutes=5, mechanism="sdr",
                   tz="Europe/Berlin", tariff=tariff)
    cid = w.community_id
    t = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
    clock.now = t + dt.timedelta(hours=1, minutes=5)
    _meter(client, w, "consumer", f"SP-{cid}-c")
    _meter(client, w, "prosumer", f"SP-{cid}-p")
    _readings(client, w, [{"meter": f"SP-{cid}-c", "ts": t.isoformat(), "import_wh": 1000, "export_wh": 0},
                          {"meter": f"SP-{cid}-p", "ts": t.isoformat(), "import_wh": 0, "export_wh": 3000}])
    summary = _settle(client, w, t.isoformat())
    assert summary["spilled_wh"] == (1000 if limit else 0)
    assert _balance(client, w, "consumer") == -10
    assert _balance(client, w, "prosumer") == (20 if limit else 30)
    assert sum(b for _, b in _accounts(app, cid)) == 0
