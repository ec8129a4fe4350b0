"""A community can settle only signed meter data: members' own HTTP uploads are then refused.

Within the physical limits a member can still declare readings of their own meter over HTTP (a
prosumer claiming export up to the connection capacity). A community whose meters report signed
readings over MQTT turns member uploads off (``member_readings: false``); operators keep uploading
(e.g. corrections from the grid operator's data). Before: there was no such setting, members could
always upload.
"""

from __future__ import annotations

import datetime as dt


def _meter(client, world, name: str) -> str:
    cid = world.community_id
    serial = f"MR-{cid}-{name}"
    r = client.post(f"/api/communities/{cid}/meters", headers=world.headers["operator"],
                    json={"user_id": world.uid(name), "serial": serial})
    assert r.status_code == 201, r.text
    return serial


def test_members_cannot_upload_when_the_community_settles_only_signed_data(client, world, clock):
    cid, op = world.community_id, world.headers["operator"]
    serial = _meter(client, world, "prosumer")
    ts = (clock.now - dt.timedelta(minutes=15)).isoformat()
    reading = {"readings": [{"meter": serial, "ts": ts, "import_wh": 0, "export_wh": 500}]}

    r = client.patch(f"/api/communities/{cid}", headers=op, json={"member_readings": False})
    assert r.status_code == 200 and r.json()["member_readings"] is False, r.text
    r = client.post(f"/api/communities/{cid}/readings", headers=world.headers["prosumer"], json=reading)
    assert r.status_code == 403, r.text
    assert "members may not upload readings" in r.json()["detail"]
    stored = client.post(f"/api/communities/{cid}/readings", headers=op, json=reading)  # the operator may
    assert stored.status_code == 200 and stored.json()["accepted"] == 1, stored.text

    r = client.patch(f"/api/communities/{cid}", headers=op, json={"member_readings": True})
    assert r.status_code == 200 and r.json()["member_readings"] is True
    again = {"readings": [{"meter": serial, "ts": clock.now.isoformat(), "import_wh": 0, "export_wh": 100}]}
    r = client.post(f"/api/communities/{cid}/readings", headers=world.headers["prosumer"], json=again)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_only_operators_and_admins_change_the_setting(client, world):
    cid = world.community_id
    for who in ("prosumer", "consumer"):
        r = client.patch(f"/api/communities/{cid}", headers=world.headers[who], json={"member_readings": False})
        assert r.status_code in (403, 404), r.text
    assert client.get(f"/api/communities/{cid}", headers=world.headers["prosumer"]).json()["member_readings"] is True
