"""A meter serial is its MQTT user name and a topic level: wildcard, separator and odd characters are refused.

Before: any single-line text was accepted (``a/b``, ``+``, ``#``, ``x:y``), giving meters that could never
report over MQTT (the broker's ACL and the topic pattern exclude them) — or, with ``+``/``#`` as a broker
user name, a pattern-ACL bypass if such a meter were ever provisioned.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("serial", ["a/b", "+", "#", "M#1", "x:y", "M 1", "ü-1", "../m", "a\tb"])
def test_meter_serial_outside_the_topic_alphabet_is_refused(client, world, serial):
    cid = world.community_id
    r = client.post(f"/api/communities/{cid}/meters", headers=world.headers["operator"],
                    json={"user_id": world.uid("prosumer"), "serial": serial})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and "serial" in r.json()["detail"]


def test_meter_serial_in_the_topic_alphabet_is_accepted(client, world):
    cid = world.community_id
    r = client.post(f"/api/communities/{cid}/meters", headers=world.headers["operator"],
                    json={"user_id": world.uid("prosumer"), "serial": f"Meter_{cid}.A-1"})
    assert r.status_code == 201, r.text
