"""The meter routes' 422 answers keep their exact JSON bodies (keys in order, values) now that they are
raised as service errors with extra keys (``ServiceError.extra``) instead of being built by hand."""

from __future__ import annotations

import datetime as dt

from peergrid.service.timeutil import floor_interval


def _consumer_meter(client, world) -> dict:
    r = client.post(f"/api/communities/{world.community_id}/meters", headers=world.headers["operator"],
                    json={"user_id": world.uid("consumer"), "serial": f"ERR-{world.community_id}"})
    assert r.status_code == 201, r.text
    return r.json()


def test_implausible_upload_is_422_with_rule_index_and_every_rejected_reading(client, clock, world):
    m = _consumer_meter(client, world)
    ts = floor_interval(clock.now, 15) - dt.timedelta(hours=1)
    readings = [{"meter": m["serial"], "ts": (ts + dt.timedelta(seconds=k)).isoformat(), "import_wh": 0,
                 "export_wh": 500} for k in range(2)]
    r = client.post(f"/api/communities/{world.community_id}/readings", headers=world.headers["consumer"],
                    json={"readings": readings})
    assert r.status_code == 422 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["error", "detail", "rule", "index", "rejected"]
    assert (body["error"], body["rule"], body["index"]) == ("invalid", "no_generation", 0)
    assert body["detail"].startswith(f"reading 0 (meter {m['serial']!r}, ts {ts.isoformat()}): ")
    assert body["detail"] == f"reading 0 (meter {m['serial']!r}, ts {ts.isoformat()}): {body['rejected'][0]['reason']}"
    assert [(x["index"], x["rule"]) for x in body["rejected"]] == [(0, "no_generation"), (1, "no_generation")]
    listed = client.get(f"/api/communities/{world.community_id}/meters/{m['id']}/readings",
                        headers=world.headers["operator"]).json()
    assert listed["total"] == 0  # all or nothing


def test_implausible_correction_is_422_with_its_rule(client, clock, world):
    m = _consumer_meter(client, world)
    ts = floor_interval(clock.now, 15) - dt.timedelta(hours=1)
    r = client.put(f"/api/communities/{world.community_id}/meters/{m['id']}/readings",
                   headers=world.headers["operator"],
                   json={"ts": ts.isoformat(), "import_wh": 0, "export_wh": 250, "reason": "test"})
    assert r.status_code == 422
    body = r.json()
    assert list(body) == ["error", "detail", "rule"]
    assert (body["error"], body["rule"]) == ("invalid", "no_generation")
    assert body["detail"] and "\n" not in body["detail"]
