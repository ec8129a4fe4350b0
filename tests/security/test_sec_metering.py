"""Issue 15, metering: a member minted money with meter readings over HTTP.

The finding: a consumer without PV uploaded, for one interval, three readings of 1,000,000,000 Wh
export one second apart; the scheduler settled them and paid about 240,000 out of the grid account.
Readings with future timestamps were accepted, and the real reading arriving later was then dropped
as a duplicate. Now every reading must be physically plausible for its meter (connection capacity
per trading interval, generation behind the meter, the service clock, one value per timestamp);
a stored reading changes only by an audited operator correction before settlement.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peergrid.service import directory
from peergrid.service.metering import MAX_CLOCK_SKEW, PLAUSIBILITY_RULES, RULES, store_readings
from peergrid.service.models import ClearingRun, Meter, Reading
from peergrid.service.testing import make_community, make_user
from peergrid.service.timeutil import floor_interval


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def site(client, clock, world):
    """The world's community with a meter for the consumer (no PV) and one for the prosumer, registered
    over HTTP with the defaults; ``iv`` is a 15-minute interval that ended an hour before the clock."""
    saved = clock.now
    cid, op = world.community_id, world.headers["operator"]
    meters = {}
    for name in ("consumer", "prosumer"):
        r = client.post(f"/api/communities/{cid}/meters", headers=op,
                        json={"user_id": world.uid(name), "serial": f"SEC-{cid}-{name}"})
        assert r.status_code == 201, r.text
        meters[name] = r.json()
    assert meters["consumer"]["has_generation"] is False and meters["prosumer"]["has_generation"] is True
    assert meters["consumer"]["export_capacity_kw"] is None  # the community's default: 30 kW
    yield {"cid": cid, "meters": meters, "iv": floor_interval(clock.now, 15) - dt.timedelta(hours=1)}
    clock.now = saved


def _upload(client, world, who, readings):
    return client.post(f"/api/communities/{world.community_id}/readings", headers=world.headers[who],
                       json={"readings": readings})


def _stored(factory, meter_id):
    with factory() as s:
        return s.execute(sa.select(Reading.ts, Reading.import_wh, Reading.export_wh, Reading.pv_wh)
                         .where(Reading.meter_id == meter_id).order_by(Reading.ts)).all()


def _accounts(client, world):
    return {a["kind"]: a["balance_minor"] for a in
            client.get(f"/api/communities/{world.community_id}/accounts", headers=world.headers["operator"]).json()}


# ----------------------------------------------------------------------------------- the attack
def test_consumer_without_pv_cannot_mint_money_with_export_readings(client, factory, world, site):
    iv, serial = site["iv"], site["meters"]["consumer"]["serial"]
    attack = [{"meter": serial, "ts": _iso(iv + dt.timedelta(seconds=k)), "import_wh": 0, "export_wh": 10**9}
              for k in range(3)]
    r = _upload(client, world, "consumer", attack)
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["error"], body["rule"], body["index"]) == ("invalid", "no_generation", 0)
    assert body["detail"].startswith(f"reading 0 (meter {serial!r}, ts {iv.isoformat()}): meter {serial!r} has no "
                                     "generation")
    assert [x["index"] for x in body["rejected"]] == [0, 1, 2]
    assert _stored(factory, site["meters"]["consumer"]["id"]) == []
    # the same attack from a prosumer's meter (it has PV) breaks the connection capacity instead
    pserial = site["meters"]["prosumer"]["serial"]
    r = _upload(client, world, "prosumer", [{**x, "meter": pserial} for x in attack])
    assert r.status_code == 422 and r.json()["rule"] == "capacity"
    assert "7500 Wh per 15-minute interval" in r.json()["detail"]
    assert _stored(factory, site["meters"]["prosumer"]["id"]) == []
    # settling the interval pays nobody anything
    r = client.post(f"/api/communities/{world.community_id}/clearing", headers=world.headers["operator"],
                    json={"interval_start": _iso(iv), "phase": "metered"})
    assert r.status_code == 200, r.text
    assert _accounts(client, world)["grid"] == 0
    for who in ("consumer", "prosumer"):
        wallet = client.get(f"/api/communities/{world.community_id}/wallets/{world.uid(who)}",
                            headers=world.headers["operator"]).json()
        assert wallet["balance_minor"] == 0


def test_a_good_reading_in_a_bad_batch_is_not_stored_either(client, factory, world, site):
    iv, m = site["iv"], site["meters"]["consumer"]
    good = {"meter": m["serial"], "ts": _iso(iv), "import_wh": 300, "export_wh": 0}
    bad = {"meter": m["serial"], "ts": _iso(iv + dt.timedelta(minutes=5)), "import_wh": 0, "export_wh": 1}
    r = _upload(client, world, "consumer", [good, bad])
    assert r.status_code == 422 and (r.json()["index"], r.json()["rule"]) == (1, "no_generation")
    assert _stored(factory, m["id"]) == []
    assert _upload(client, world, "consumer", [good]).json() == {"accepted": 1, "duplicates": 0, "rejected": []}


# ----------------------------------------------------------------------------------- clock
def test_future_reading_rejected_and_the_real_one_accepted_later(client, clock, factory, world, site):
    m = site["meters"]["prosumer"]
    ts = floor_interval(clock.now, 15) + dt.timedelta(hours=1)
    r = _upload(client, world, "prosumer", [{"meter": m["serial"], "ts": _iso(ts), "import_wh": 0, "export_wh": 1}])
    assert r.status_code == 422 and r.json()["rule"] == "future", r.text
    assert "ahead of the service clock" in r.json()["detail"]
    # within the allowed clock skew is fine
    near = clock.now + MAX_CLOCK_SKEW
    r = _upload(client, world, "prosumer", [{"meter": m["serial"], "ts": _iso(near), "import_wh": 5, "export_wh": 0}])
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    clock.now = ts + dt.timedelta(minutes=15)
    r = _upload(client, world, "prosumer", [{"meter": m["serial"], "ts": _iso(ts), "import_wh": 0, "export_wh": 420}])
    assert r.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert [tuple(x)[1:] for x in _stored(factory, m["id"])] == [(5, 0, None), (0, 420, None)]


# ----------------------------------------------------------------------------------- capacity
def test_capacity_applies_to_the_sum_of_sub_interval_readings(client, factory, world, site):
    iv, m = site["iv"], site["meters"]["prosumer"]

    def at(minute, imp=0, exp=0):
        return {"meter": m["serial"], "ts": _iso(iv + dt.timedelta(minutes=minute)), "import_wh": imp,
                "export_wh": exp}

    # 30 kW × 15 min = 7,500 Wh of export per interval, reported every 5 minutes
    r = _upload(client, world, "prosumer", [at(0, exp=2500), at(5, exp=2500), at(10, exp=2500)])
    assert r.json()["accepted"] == 3, r.text
    r = _upload(client, world, "prosumer", [at(14, exp=1)])
    assert r.status_code == 422 and r.json()["rule"] == "capacity"
    assert "export of 7501 Wh" in r.json()["detail"]
    # 43 kW × 15 min = 10,750 Wh of import; one batch over the limit stores none of it
    nxt = [at(15, imp=5000), at(20, imp=5000), at(25, imp=751)]
    r = _upload(client, world, "prosumer", nxt)
    assert r.status_code == 422 and (r.json()["rule"], r.json()["index"]) == ("capacity", 2)
    assert len(_stored(factory, m["id"])) == 3
    assert _upload(client, world, "prosumer", [*nxt[:2], at(25, imp=750)]).json()["accepted"] == 3
    # a meter's own capacity overrides the community's default
    r = client.patch(f"/api/communities/{world.community_id}/meters/{m['id']}", headers=world.headers["operator"],
                     json={"export_capacity_kw": 4})
    assert r.status_code == 200 and r.json()["export_capacity_kw"] == 4.0
    assert _upload(client, world, "prosumer", [at(30, exp=1001)]).json()["rule"] == "capacity"
    assert _upload(client, world, "prosumer", [at(30, exp=1000)]).json()["accepted"] == 1


def test_community_default_capacity(client, world, site):
    cid, op = world.community_id, world.headers["operator"]
    r = client.patch(f"/api/communities/{cid}", headers=op, json={"meter_export_kw": 2.0})
    assert r.status_code == 200 and r.json()["meter_export_kw"] == 2.0 and r.json()["meter_import_kw"] == 43.0
    m, iv = site["meters"]["prosumer"], site["iv"]
    r = _upload(client, world, "prosumer", [{"meter": m["serial"], "ts": _iso(iv), "import_wh": 0, "export_wh": 501}])
    assert r.status_code == 422 and r.json()["rule"] == "capacity"
    for bad in (0, -1, 10_001, "NaN", "Infinity", None):
        r = client.patch(f"/api/communities/{cid}", headers=op, json={"meter_export_kw": bad})
        assert (r.status_code == 422) if bad is not None else (r.status_code == 200), (bad, r.text)
    # creating a community: admin only, defaults in kW
    r = client.post("/api/communities", headers=world.headers["admin"],
                    json={"name": f"cap-{uuid.uuid4().hex[:8]}", "meter_import_kw": 11.5})
    assert r.status_code == 201 and (r.json()["meter_import_kw"], r.json()["meter_export_kw"]) == (11.5, 30.0)
    assert client.patch(f"/api/communities/{cid}", headers=world.headers["prosumer"],
                        json={"meter_export_kw": 100}).status_code == 403


# ----------------------------------------------------------------------------------- duplicates
def test_identical_repeat_is_a_duplicate_a_different_one_a_conflict(client, factory, world, site):
    iv, m = site["iv"], site["meters"]["prosumer"]
    one = {"meter": m["serial"], "ts": _iso(iv), "import_wh": 10, "export_wh": 0, "pv_wh": 3}
    assert _upload(client, world, "prosumer", [one]).json()["accepted"] == 1
    assert _upload(client, world, "prosumer", [one, one]).json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    r = _upload(client, world, "prosumer", [{**one, "import_wh": 11}])
    assert r.status_code == 422 and r.json()["rule"] == "conflict" and "stored" in r.json()["detail"]
    later = {**one, "ts": _iso(iv + dt.timedelta(minutes=1))}
    r = _upload(client, world, "prosumer", [later, {**later, "pv_wh": None}])
    assert r.status_code == 422 and (r.json()["rule"], r.json()["index"]) == ("conflict", 1)
    assert "earlier in this batch" in r.json()["detail"]
    assert [tuple(x)[1:] for x in _stored(factory, m["id"])] == [(10, 0, 3)]


# ----------------------------------------------------------------------------------- corrections
def test_operator_correction_is_audited_members_may_not_and_settlement_is_final(client, app, clock, world, site):
    cid, iv, m = world.community_id, site["iv"], site["meters"]["prosumer"]
    url = f"/api/communities/{cid}/meters/{m['id']}/readings"
    assert _upload(client, world, "prosumer", [{"meter": m["serial"], "ts": _iso(iv), "import_wh": 100,
                                                "export_wh": 0}]).json()["accepted"] == 1
    fix = {"ts": _iso(iv), "import_wh": 0, "export_wh": 250, "reason": "meter swapped import and export (ticket 7)"}
    for who in ("prosumer", "consumer"):
        assert client.put(url, headers=world.headers[who], json=fix).status_code == 403
    assert client.put(url, headers=world.headers["other_operator"], json=fix).status_code == 404
    assert client.put(url, headers=world.headers["operator"], json={**fix, "reason": ""}).status_code == 422
    r = client.put(url, headers=world.headers["operator"], json=fix)
    assert r.status_code == 200, r.text
    assert (r.json()["export_wh"], r.json()["replaced"]) == (250, {"import_wh": 100, "export_wh": 0, "pv_wh": None})
    audit = client.get(f"/api/communities/{cid}/audit", headers=world.headers["operator"]).json()["items"][0]
    assert audit["action"] == "reading.correct" and audit["actor_id"] == world.uid("operator")
    assert audit["detail"] == {"ts": iv.isoformat(), "old": {"import_wh": 100, "export_wh": 0, "pv_wh": None},
                               "new": {"import_wh": 0, "export_wh": 250, "pv_wh": None}, "reason": fix["reason"]}
    # corrections obey the rules
    r = client.put(url, headers=world.headers["operator"], json={**fix, "export_wh": 7501})
    assert r.status_code == 422 and r.json()["rule"] == "capacity"
    curl = f"/api/communities/{cid}/meters/{site['meters']['consumer']['id']}/readings"
    r = client.put(curl, headers=world.headers["operator"], json=fix)
    assert r.status_code == 422 and r.json()["rule"] == "no_generation"
    r = client.put(url, headers=world.headers["operator"],
                   json={**fix, "ts": _iso(clock.now + dt.timedelta(hours=1))})
    assert r.status_code == 422 and r.json()["rule"] == "future"
    # after the metered settlement: 409, the stored reading stays
    r = client.post(f"/api/communities/{cid}/clearing", headers=world.headers["operator"],
                    json={"interval_start": _iso(iv), "phase": "metered"})
    assert r.json()["status"] == "settled"
    r = client.put(url, headers=world.headers["operator"], json={**fix, "export_wh": 1})
    assert r.status_code == 409 and "settlement is final" in r.json()["detail"]
    assert [tuple(x)[1:] for x in _stored(app.state.sessions, m["id"])] == [(0, 250, None)]


# ----------------------------------------------------------------------------------- meter settings
def test_meter_patch_is_for_admins_and_operators_and_audited(client, world, site):
    cid, m = world.community_id, site["meters"]["consumer"]
    url = f"/api/communities/{cid}/meters/{m['id']}"
    change = {"has_generation": True, "import_capacity_kw": 11}
    for who, status in (("prosumer", 403), ("consumer", 403), ("outsider", 404), ("other_operator", 404)):
        assert client.patch(url, headers=world.headers[who], json=change).status_code == status, who
    r = client.patch(url, headers=world.headers["operator"], json=change)
    assert r.status_code == 200, r.text
    assert (r.json()["has_generation"], r.json()["import_capacity_kw"]) == (True, 11.0)
    r = client.patch(url, headers=world.headers["admin"], json={"import_capacity_kw": None})
    assert r.status_code == 200 and r.json()["import_capacity_kw"] is None
    for bad in ({"import_capacity_kw": 0}, {"export_capacity_kw": 10_001}, {"export_capacity_kw": "NaN"},
                {"has_generation": "maybe"}, {"serial": "X"}):
        assert client.patch(url, headers=world.headers["operator"], json=bad).status_code == 422, bad
    audit = [a for a in client.get(f"/api/communities/{cid}/audit", headers=world.headers["operator"]).json()["items"]
             if a["action"] == "meter.update"]
    assert [a["detail"]["new"] for a in audit] == [{"import_capacity_w": None},
                                                   {"has_generation": True, "import_capacity_w": 11000}]
    assert audit[1]["detail"]["old"] == {"has_generation": False, "import_capacity_w": None}
    # explicit settings at registration
    r = client.post(f"/api/communities/{cid}/meters", headers=world.headers["operator"],
                    json={"user_id": world.uid("consumer"), "serial": f"SEC-{cid}-pv", "has_generation": True,
                          "export_capacity_kw": 7.5})
    assert r.status_code == 201 and (r.json()["has_generation"], r.json()["export_capacity_kw"]) == (True, 7.5)


# ----------------------------------------------------------------------------------- store_readings
T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


def _plant(factory, interval_minutes=15, **community):
    """A community with meters G (generation), N (none), S (own capacity: 4 kW both ways)."""
    c = make_community(factory, interval_minutes=interval_minutes, **community)
    u = make_user(factory, "prosumer", communities=[c.id])
    tag = uuid.uuid4().hex[:8]
    serials = {k: f"{k}-{tag}" for k in "GNS"}
    with factory() as s, s.begin():
        directory.add_meter(s, c.id, u.id, serials["G"])
        directory.add_meter(s, c.id, u.id, serials["N"], has_generation=False)
        directory.add_meter(s, c.id, u.id, serials["S"], import_capacity_w=4000, export_capacity_w=4000)
    return c.id, serials


def test_store_readings_rule_codes_for_every_transport(factory):
    """The MQTT ingestor counts rejections by these codes; ``now`` is the caller's clock."""
    cid, m = _plant(factory)
    g, n, sm = m["G"], m["N"], m["S"]
    now = T0 + dt.timedelta(hours=1)
    with factory() as s, s.begin():
        s.add(ClearingRun(community_id=cid, interval_start=T0 - dt.timedelta(minutes=15), phase="metered",
                          mechanism="uniform"))
        assert store_readings(s, cid, [(g, T0, 7, 0, None)], now=now).accepted == 1
        batch = [
            ("ghost", T0, 1, 0, None),  # 0 unknown_meter
            (g, now + MAX_CLOCK_SKEW + dt.timedelta(microseconds=1), 1, 0, None),  # 1 future
            (g, now + MAX_CLOCK_SKEW, 1, 0, None),  # 2 ok: exactly the allowed skew
            (n, T0, 0, 1, None),  # 3 no_generation (export)
            (n, T0 + dt.timedelta(minutes=1), 1, 0, 5),  # 4 no_generation (pv)
            (n, T0 + dt.timedelta(minutes=2), 1, 0, 0),  # 5 ok: pv 0 on a meter without generation
            (g, T0 - dt.timedelta(minutes=1), 1, 0, None),  # 6 settled
            (g, T0, 8, 0, None),  # 7 conflict with the stored reading
            (g, T0, 7, 0, None),  # 8 duplicate of the stored reading
            (sm, T0, 1000, 0, None),  # 9 ok (4 kW × 15 min = 1000 Wh)
            (sm, T0 + dt.timedelta(minutes=3), 1, 0, None),  # 10 capacity (the interval's sum)
            (sm, T0 + dt.timedelta(minutes=15), 0, 600, None),  # 11 ok
            (sm, T0 + dt.timedelta(minutes=15), 0, 601, None),  # 12 conflict in the batch
            (sm, T0 + dt.timedelta(minutes=15), 0, 600, None),  # 13 duplicate in the batch
        ]
        res = store_readings(s, cid, batch, now=now)
        rules = {r["index"]: r["rule"] for r in res.rejected}
        assert rules == {0: "unknown_meter", 1: "future", 3: "no_generation", 4: "no_generation", 6: "settled",
                         7: "conflict", 10: "capacity", 12: "conflict"}
        assert (res.accepted, res.duplicates) == (4, 2)
        assert set(rules.values()) <= set(RULES) and PLAUSIBILITY_RULES < set(RULES)
        assert all(set(r) == {"index", "reason", "rule"} and "\n" not in r["reason"] for r in res.rejected)
        # atomic: one implausible reading and nothing is stored
        res = store_readings(s, cid, [(g, T0 + dt.timedelta(minutes=30), 1, 0, None), (n, T0, 0, 1, None)],
                             now=now, atomic=True)
        assert res.accepted == 0 and [r["rule"] for r in res.rejected] == ["no_generation"]
        assert s.execute(sa.select(sa.func.count()).select_from(Reading).join(Meter)
                         .where(Meter.community_id == cid)).scalar() == 5


def test_two_concurrent_batches_cannot_exceed_the_capacity_together(factory, backend):
    """PostgreSQL: the second transaction waits for the first (advisory lock per community) and then sees
    its readings; SQLite serialises writers (BEGIN IMMEDIATE)."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises write transactions")
    cid, m = _plant(factory)
    g = m["G"]
    results = {}
    with factory() as s1:
        s1.begin()
        results[1] = store_readings(s1, cid, [(g, T0, 0, 7500, None)], now=T0 + dt.timedelta(hours=1))

        def second():
            with factory() as s2, s2.begin():
                results[2] = store_readings(s2, cid, [(g, T0 + dt.timedelta(minutes=1), 0, 7500, None)],
                                            now=T0 + dt.timedelta(hours=1))

        t = threading.Thread(target=second)
        t.start()
        t.join(1.0)
        assert t.is_alive()  # waiting for the first transaction
        s1.commit()
    t.join(30)
    assert results[1].accepted == 1 and [r["rule"] for r in results[2].rejected] == ["capacity"]


# ----------------------------------------------------------------------------------- property
@pytest.fixture(scope="module")
def prop_plant(app):
    return _plant(app.state.sessions)


_any_reading = st.tuples(
    st.sampled_from("GNSX"),  # X: not a meter of the community
    st.integers(-30, 120),  # minutes after T0 (the clock is T0 + 60 min)
    st.sampled_from([0, 1, 999, 1000, 3000, 7500, 10**6, 10**9]),
    st.sampled_from([0, 1, 999, 1000, 3000, 7500, 10**6, 10**9]),
    st.none() | st.sampled_from([0, 1, 10**9]),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_any_reading, max_size=25), min_size=1, max_size=4))
def test_stored_readings_are_always_plausible(factory, prop_plant, batches):
    cid, m = prop_plant
    now = T0 + dt.timedelta(hours=1)
    limit = {m["G"]: (10_750, 7_500), m["N"]: (10_750, 0), m["S"]: (1_000, 1_000)}
    with factory() as s, s.begin():
        for batch in batches:
            items = [(m.get(k, "X-unknown"), T0 + dt.timedelta(minutes=t), imp, exp, pv)
                     for k, t, imp, exp, pv in batch]
            res = store_readings(s, cid, items, now=now)
            assert res.accepted + res.duplicates + len(res.rejected) == len(items)
        rows = s.execute(sa.select(Meter.serial, Reading.interval_start, sa.func.sum(Reading.import_wh),
                                   sa.func.sum(Reading.export_wh), sa.func.max(sa.func.coalesce(Reading.pv_wh, 0)),
                                   sa.func.max(Reading.ts))
                         .join(Meter, Meter.id == Reading.meter_id).where(Meter.community_id == cid)
                         .group_by(Meter.serial, Reading.interval_start)).all()
        for serial, _start, imp, exp, pv, last in rows:
            assert int(imp) <= limit[serial][0] and int(exp) <= limit[serial][1], (serial, imp, exp)
            if serial == m["N"]:
                assert exp == 0 and pv == 0
            assert last <= now + MAX_CLOCK_SKEW
        s.rollback()

