"""Communities' time zone, currency and tariff over the API (issue 18, finding 3), on SQLite and PostgreSQL.

Before: a community held one flat retail and feed-in price, no time zone, and any three letters as
currency. Now: ``tz`` (IANA), ``currency`` (ISO 4217, two decimals) and ``tariff`` (the
:mod:`peergrid.market.tariff` model as JSON) are created, shown, changed (admin/operator, audited)
and refused with a 422 naming the field.
"""

from __future__ import annotations

import pytest
from svc_helpers import make_world

TOU = {
    "name": "berlin-tou",
    "energy": {"type": "tou", "default": 0.20, "periods": [{"name": "peak", "price": 0.40, "start": 17, "end": 20}]},
    "network": 0.08,
    "local_network": 0.02,
    "vat": 0.19,
    "standing_per_day": 0.45,
    "demand_per_kw_month": 6.5,
    "feed_in": 0.07,
    "export_limit_kw": 5.0,
}


def _create(client, w, **body):
    body.setdefault("name", f"tariff-{w.community_id}-{len(body)}-{sorted(body)}")
    return client.post("/api/communities", headers=w.headers["admin"], json=body)


def test_create_with_tz_currency_tariff_and_get(client, world):
    r = _create(client, world, name=f"berlin-{world.community_id}", tz="Europe/Berlin", currency="EUR", tariff=TOU)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["tz"] == "Europe/Berlin" and c["currency"] == "EUR"
    t = c["tariff"]
    assert t["energy"]["type"] == "tou" and t["energy"]["default"] == 0.20
    assert t["energy"]["periods"][0]["price"] == 0.40 and t["energy"]["periods"][0]["start"] == 17
    assert (t["network"], t["local_network"], t["vat"]) == (0.08, 0.02, 0.19)
    assert (t["standing_per_day"], t["demand_per_kw_month"], t["export_limit_kw"]) == (0.45, 6.5, 5.0)
    assert t["currency"] == "EUR"  # the community's currency is the tariff's
    assert c["retail_price"] is None  # time of use: no single import price
    assert c["feed_in_price"] == 0.07  # flat feed-in
    got = client.get(f"/api/communities/{c['id']}", headers=world.headers["admin"]).json()
    assert got["tariff"] == t and got["tz"] == "Europe/Berlin"
    audit = client.get(f"/api/communities/{c['id']}/audit", headers=world.headers["admin"]).json()["items"]
    created = next(a for a in audit if a["action"] == "community.create")
    assert created["detail"]["tz"] == "Europe/Berlin" and created["detail"]["tariff"]["vat"] == 0.19


def test_flat_shorthand_and_defaults(client, world):
    r = _create(client, world, name=f"flat-{world.community_id}", currency="CHF", retail_price=0.27,
                feed_in_price=0.06)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["tz"] == "UTC" and c["currency"] == "CHF"
    assert c["retail_price"] == 0.27 and c["feed_in_price"] == 0.06
    assert c["tariff"]["energy"] == 0.27 and c["tariff"]["currency"] == "CHF" and c["tariff"]["vat"] == 0.0
    # the all-in import price λb of a flat tariff with VAT: (0.20 + 0.05)·1.2 = 0.30
    r = _create(client, world, name=f"vat-{world.community_id}", tariff={"energy": 0.20, "network": 0.05,
                                                                           "vat": 0.2, "feed_in": 0.1})
    assert r.status_code == 201 and r.json()["retail_price"] == pytest.approx(0.30)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"tz": "Mars/Olympus_Mons"}, "tz", "unknown time zone"),
        ({"tz": "+02:00"}, "tz", "unknown time zone"),
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"currency": "eur"}, "currency", "unknown currency"),
        ({"currency": "JPY"}, "currency", "0 decimals"),
        ({"currency": "KWD"}, "currency", "3 decimals"),
        ({"tariff": {"energy": 0.2, "standing": 1.0}}, "tariff", "unknown key 'standing'"),
        ({"tariff": {"energy": 0.1, "feed_in": 0.2}}, "tariff", "feed-in 0.2 exceeds"),
        ({"tariff": {"energy": -0.1}}, "tariff.energy", "price"),
        ({"tariff": {"energy": 0.2, "vat": 19}}, "tariff", "vat"),
        ({"tariff": {"feed_in": 0.05}}, "tariff", "energy"),
        ({"tariff": {"energy": 0.2, "currency": "USD"}}, "tariff.currency", "differs"),
        ({"tariff": {"energy": {"type": "tou", "periods": [{"price": 0.4, "start": 17, "end": 20}]}}}, "tariff",
         "no period covers"),
        ({"tariff": {"dynamic": "/etc/passwd"}}, "tariff", "dynamic"),
        ({"tariff": {"energy": {"type": "dynamic", "file": "prices.csv"}}}, "tariff", "dynamic"),
        ({"tariff": {"energy": 0.3}, "retail_price": 0.3}, "tariff", "not both"),
        ({"retail_price": 0.1, "feed_in_price": 0.2}, "feed_in_price", "retail_price"),
        ({"tariff": {"energy": 0.2, "name": "evil\u202e"}}, "tariff.name", "bidirectional control"),
        ({"tariff": {"energy": 0.2, "description": "a\x00b"}}, "tariff.description", "control character"),
        ({"tariff": {"energy": {"type": "tou", "default": 0.1,
                                "periods": [{"price": 0.2, "start": 1, "end": 2}] * 201}}}, "tariff.energy.periods",
         "at most 200"),
    ],
)
def test_bad_zone_currency_tariff_are_422_naming_the_field(client, world, body, field, words):
    r = _create(client, world, **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"
    detail = r.json()["detail"]
    assert detail.startswith(field) or f" {field}" in detail or f"{field}:" in detail, detail
    assert words in detail, detail


def test_operator_updates_tz_and_tariff_audited(app, client):
    w = make_world(app, client, interval_minutes=15, mechanism="uniform", retail_price=0.30, feed_in_price=0.10)
    cid = w.community_id
    url = f"/api/communities/{cid}"
    assert client.patch(url, headers=w.headers["consumer"], json={"tz": "Europe/Berlin"}).status_code == 403
    assert client.patch(url, headers=w.headers["other_operator"], json={"tz": "Europe/Berlin"}).status_code == 404
    r = client.patch(url, headers=w.headers["operator"], json={"tz": "Europe/Berlin", "tariff": TOU})
    assert r.status_code == 200, r.text
    assert r.json()["tz"] == "Europe/Berlin" and r.json()["tariff"]["name"] == "berlin-tou"
    bad = client.patch(url, headers=w.headers["operator"], json={"tz": "Europe/Berlinn"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("tz")
    bad = client.patch(url, headers=w.headers["operator"], json={"tariff": {"energy": 0.2, "feed_in": 0.3}})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("tariff")
    # the flat shorthand changes only the energy price, keeping the other components
    r = client.patch(url, headers=w.headers["operator"], json={"retail_price": 0.25})
    assert r.status_code == 200 and r.json()["tariff"]["energy"] == 0.25 and r.json()["tariff"]["vat"] == 0.19
    assert r.json()["retail_price"] == pytest.approx((0.25 + 0.08) * 1.19)
    audit = client.get(f"{url}/audit", headers=w.headers["operator"]).json()["items"]
    updates = [a["detail"] for a in audit if a["action"] == "community.update"]
    assert updates[0]["tariff"]["energy"] == 0.25 and updates[1]["tz"] == "Europe/Berlin"
    # the currency may change before money moved, not after
    r = client.patch(url, headers=w.headers["operator"], json={"currency": "CHF"})
    assert r.status_code == 200 and r.json()["currency"] == "CHF" and r.json()["tariff"]["currency"] == "CHF"
    assert client.post(f"{url}/wallets/{w.uid('consumer')}/topup", headers=w.headers["operator"],
                       json={"amount_minor": 100}).status_code == 200
    r = client.patch(url, headers=w.headers["operator"], json={"currency": "EUR"})
    assert r.status_code == 409 and "currency cannot change" in r.json()["detail"]
