"""The MQTT ingestor against a real Mosquitto and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
import time

from mqtt_support import NOW, Site, wait_for

from peergrid.service.mqtt.credentials import meter_signing_key, reading_payload
from peergrid.service.mqtt.ingest import Ingestor
from peergrid.service.mqtt.payload import topic_for
from peergrid.service.mqtt.publisher import Publisher

Q = dt.timedelta(minutes=15)
_SEQ = itertools.count(1000)  # one sequence for all meters: increasing per meter in the order messages are built


def reading(site: Site, serial: str, ts: dt.datetime, imp: int, exp: int = 0, *, key: bytes | None = None,
            cid: int | None = None, pv: int | None = None, seq: int | None = None) -> bytes:
    """A signed reading of ``serial`` (with the meter's own key unless ``key`` is given)."""
    cid = site.community.id if cid is None else cid
    key = key if key is not None else site.keys.get(serial) or meter_signing_key(site.secret, cid, serial)
    return json.dumps(reading_payload(key, cid, serial, ts, imp, exp, pv, next(_SEQ) if seq is None else seq)).encode()


def publish_all(url: str, msgs: list[tuple[str, bytes]]) -> None:
    pub = Publisher(url).connect()
    for topic, payload in msgs:
        pub.publish(topic, payload)
    assert pub.flush(20)
    pub.close()


def test_ingest_validates_counts_and_deduplicates(site: Site, local_broker: str, local_gateway: str):
    cid = site.community.id
    good = [(topic_for(cid, f"M{i:04d}"), reading(site, f"M{i:04d}", NOW - k * Q, 100 * k + i))
            for k in range(1, 6) for i in range(20)]
    with Ingestor(site.factory, local_broker, clock=site.clock, client_id=f"t-{cid}-{id(site)}",
                  session_expiry_s=30) as ing:
        assert ing.wait_connected(10)
        bad = [
            (topic_for(cid, "M0000"), b"{not json"),                                            # bad payload
            (topic_for(cid, "M0001"), reading(site, "M0001", NOW, 1, key=b"forged" * 6)),      # bad signature
            (topic_for(cid, "M0002"), reading(site, "M0003", NOW, 1)),                         # M0003's reading
            # a well-signed reading of a meter that is not registered: unknown meter
            (topic_for(cid, "GHOST"), reading(site, "GHOST", NOW, 1)),
            (topic_for(cid + 999, "M0000"), reading(site, "M0000", NOW, 1, cid=cid + 999,     # no such community
                                                    key=meter_signing_key(site.secret, cid + 999, "M0000"))),
            (topic_for(cid, "M0004"), reading(site, "M0004", NOW + dt.timedelta(hours=1), 1)),  # from the future
            ("peergrid/abc/M0000/reading", reading(site, "M0000", NOW, 1)),                    # bad topic
        ]
        replays = good[:10]  # the same signed messages again (a replay, or a redelivery of committed ones)
        resent = [(topic_for(cid, f"M{i:04d}"), reading(site, f"M{i:04d}", NOW - Q, 100 + i))  # a meter resending,
                  for i in range(5)]                                                             # new seq: duplicates
        publish_all(local_gateway, good + bad + replays + resent)
        assert wait_for(lambda: ing.stats.accepted + ing.stats.duplicates + sum(ing.stats.rejected.values())
                        >= len(good) + len(bad) + len(replays) + len(resent), 20)
        assert wait_for(lambda: ing.stats.dead_letters == 14, 10), ing.stats.as_dict()
        st = ing.stats.as_dict()
    assert st["accepted"] == 100 and site.count() == 100
    assert st["duplicates"] == 5
    assert st["rejected"] == {"bad_topic": 1, "bad_payload": 1, "bad_signature": 2, "replay": 10, "unknown_meter": 2,
                              "too_old": 0, "future": 1, "settled": 0, "invalid": 0}
    from peergrid.service.mqtt.dead_letters import list_dead_letters

    with site.factory() as s:
        dead = list_dead_letters(s)
    assert dead["total"] == 14
    assert sorted(d["reason"] for d in dead["items"]) == sorted(["bad_topic", "bad_payload"] + ["bad_signature"] * 2
                                                                + ["replay"] * 10)
    rows = site.rows()
    assert ("M0007", NOW - 3 * Q, 307, 0) in rows
    assert all(r[2] < 1000 for r in rows)  # nothing of the rejected messages was stored
    assert st["batches"] < 20  # batched: 110 stored/duplicate readings in a handful of transactions


def test_out_of_order_window_and_settled_intervals(site: Site, local_broker: str, local_gateway: str):
    cid = site.community.id
    topic = topic_for(cid, "M0000")
    ing = Ingestor(site.factory, local_broker, clock=site.clock, client_id=f"w-{cid}-{id(site)}", session_expiry_s=30,
                   out_of_order_s=3600, flush_s=0.05)
    with ing:
        assert ing.wait_connected(10)
        publish_all(local_gateway, [(topic, reading(site, "M0000", NOW - Q, 10))])
        assert wait_for(lambda: ing.stats.accepted == 1)
        publish_all(local_gateway, [
            (topic, reading(site, "M0000", NOW - 3 * Q, 11)),                      # 30 min late: inside the window
            (topic, reading(site, "M0000", NOW - Q - dt.timedelta(hours=2), 12)),   # 2 h older: outside
        ])
        assert wait_for(lambda: ing.stats.accepted == 2 and ing.stats.rejected["too_old"] == 1)
        # settle the interval two hours ago (metered phase), then a reading for it is rejected as settled
        from peergrid.service.models import ClearingRun

        with site.factory() as s, s.begin():
            s.add(ClearingRun(community_id=cid, interval_start=NOW - 4 * Q, phase="metered", mechanism="uniform",
                              summary={}))
        publish_all(local_gateway, [(topic, reading(site, "M0000", NOW - 4 * Q, 13))])
        assert wait_for(lambda: ing.stats.rejected["settled"] == 1)
    assert [r[2] for r in site.rows()] == [11, 10]


def test_broker_restart_keeps_qos1_messages_and_reconnects(site: Site, private_broker):
    """Messages the broker holds for the ingestor's session survive a broker restart; the client reconnects."""
    cid = site.community.id
    url = private_broker.url
    batch = lambda k, n: [(topic_for(cid, f"M{i:04d}"), reading(site, f"M{i:04d}", NOW - k * Q, k * 100 + i))  # noqa: E731
                          for i in range(n)]
    client_id = f"restart-{cid}-{id(site)}"
    with Ingestor(site.factory, url, clock=site.clock, client_id=client_id) as ing:
        assert ing.wait_connected(10)
        publish_all(url, batch(1, 20))
        assert wait_for(lambda: site.count() == 20)
    # the service is down: the broker queues QoS 1 messages for the persistent session ...
    publish_all(url, batch(2, 20) + batch(3, 20))
    # ... and keeps them across its own restart (persistence)
    private_broker.restart()
    with Ingestor(site.factory, url, clock=site.clock, client_id=client_id, reconnect_max_s=1) as ing:
        assert ing.wait_connected(10)
        assert wait_for(lambda: site.count() == 60, 15), site.count()
        # a running ingestor survives a broker restart: it reconnects and receives new messages
        private_broker.restart()
        assert wait_for(lambda: ing.stats.connects >= 2 and ing.connected.is_set(), 15)
        publish_all(url, batch(4, 20))
        assert wait_for(lambda: site.count() == 80, 15), site.count()
        # messages committed but whose PUBACK the broker had not yet saved come again: refused as replays
        assert ing.stats.accepted == 60 and ing.stats.duplicates + ing.stats.rejected["replay"] <= 40
    rows = site.rows()
    assert len({(r[0], r[1]) for r in rows}) == 80
    assert sorted(r[2] for r in rows) == sorted(k * 100 + i for k in range(1, 5) for i in range(20))


def test_unacknowledged_messages_are_redelivered_after_a_crash(site: Site, private_broker, tmp_path):
    """A reading received but not yet committed when the service dies is delivered again (ack after commit)."""
    cid = site.community.id
    url = private_broker.url
    client_id = f"crash-{cid}-{id(site)}"
    # a process that subscribes, receives but never commits (flush after 1 h), then is killed
    script = tmp_path / "victim.py"
    script.write_text(
        "import sys, time\n"
        "from peergrid.service.db import make_engine, session_factory\n"
        "from peergrid.service.mqtt.ingest import Ingestor\n"
        "f = session_factory(make_engine(sys.argv[1]))\n"
        "ing = Ingestor(f, sys.argv[2], client_id=sys.argv[3], flush_s=3600, batch_size=10**6).start()\n"
        "ing.wait_connected(10)\n"
        "print('ready', flush=True)\n"
        "while ing.stats.received < 30: time.sleep(0.01)\n"
        "print('received', flush=True)\n"
        "time.sleep(60)\n"
    )
    db_url = str(site.app.state.engine.url.render_as_string(hide_password=False))
    proc = subprocess.Popen([sys.executable, str(script), db_url, url, client_id], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        publish_all(url, [(topic_for(cid, f"M{i:04d}"), reading(site, f"M{i:04d}", NOW - Q, i)) for i in range(20)]
                    + [(topic_for(cid, f"M{i:04d}"), reading(site, f"M{i:04d}", NOW - 2 * Q, i)) for i in range(10)])
        assert proc.stdout.readline().strip() == "received"
    finally:
        proc.kill()
        proc.wait()
    assert site.count() == 0
    with Ingestor(site.factory, url, clock=site.clock, client_id=client_id) as ing:
        assert ing.wait_connected(10)
        assert wait_for(lambda: site.count() == 30, 15), site.count()


def test_service_mount_starts_the_ingestor(backend: str, local_broker: str, local_gateway: str):
    from fastapi.testclient import TestClient

    from peergrid.service.testing import TEST_PASSWORD, make_user, temp_database

    with temp_database(backend) as dburl:
        site = Site(dburl, n=3, extensions=("peergrid.service.mqtt",))
        try:
            site.app.state.mqtt_url = local_broker
            site.app.state.mqtt_options = {"session_expiry_s": 30}
            op = make_user(site.factory, "operator", communities=[site.community.id])
            with TestClient(site.app) as client:
                ing = site.app.state.mqtt
                assert ing is not None and ing.wait_connected(10)
                publish_all(local_gateway, [(topic_for(site.community.id, "M0001"),
                                            reading(site, "M0001", NOW - Q, 42))])
                assert wait_for(lambda: site.count() == 1)
                # counters for operators, not for members
                client.post("/api/auth/login", json={"email": site.user.email, "password": TEST_PASSWORD})
                assert client.get("/mqtt/stats").status_code == 403
                client.post("/api/auth/login", json={"email": op.email, "password": TEST_PASSWORD})
                body = client.get("/mqtt/stats").json()
                assert body["enabled"] and body["connected"] and body["accepted"] == 1
            assert site.app.state.mqtt is None  # stopped with the app
        finally:
            site.app.state.engine.dispose()


def test_one_ingestor_per_database_with_several_workers(tmp_path, local_broker: str, local_gateway: str):
    """Two server processes of one database: one ingests, the other takes over when it stops; PV is stored."""
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from peergrid.service.app import create_app
    from peergrid.service.auth import FAST_AUTH
    from peergrid.service.models import Reading

    url = f"sqlite:///{tmp_path / 'two.db'}"
    site = Site(url, n=2, extensions=("peergrid.service.mqtt",))
    other = create_app(url, auth=FAST_AUTH, clock=site.clock, extensions=("peergrid.service.mqtt",))
    for app in (site.app, other):
        app.state.mqtt_url = local_broker
        app.state.mqtt_options = {"session_expiry_s": 30}
    try:
        with TestClient(site.app):
            with TestClient(other):
                assert site.app.state.mqtt is not None and other.state.mqtt is None  # the second one stands by
                assert site.app.state.mqtt.wait_connected(10)
            with TestClient(other):
                pass
        with TestClient(other):
            assert wait_for(lambda: other.state.mqtt is not None, 10)  # the lock is free now
            assert other.state.mqtt.wait_connected(10)
            payload = reading(site, "M0001", NOW - Q, 5, pv=7)
            publish_all(local_gateway, [(topic_for(site.community.id, "M0001"), payload)])
            assert wait_for(lambda: site.count() == 1)
        with site.factory() as s:
            assert s.execute(sa.select(Reading.import_wh, Reading.pv_wh)).one() == (5, 7)
    finally:
        site.app.state.engine.dispose()
        other.state.engine.dispose()


def test_backpressure_blocks_instead_of_dropping(site: Site, private_broker):
    """With a tiny pending limit and small batches the network thread waits for the database; nothing is lost."""
    cid = site.community.id
    url = private_broker.url
    msgs = [(topic_for(cid, f"M{i:04d}"), reading(site, f"M{i:04d}", NOW - k * Q, k * 100 + i))
            for k in range(1, 16) for i in range(20)]
    with Ingestor(site.factory, url, clock=site.clock, client_id=f"bp-{cid}-{id(site)}", max_pending=20,
                  batch_size=10, flush_s=0.01) as ing:
        assert ing.wait_connected(10)
        publish_all(url, msgs)
        assert wait_for(lambda: site.count() == len(msgs), 30), site.count()
        assert ing.stats.batches >= len(msgs) // 20  # many small transactions, pending never above the limit
        assert ing._n_pending == 0
    assert len(site.rows()) == 300


def test_shared_subscription_spreads_readings_over_ingestors(site: Site, local_broker: str, local_gateway: str):
    """Two ingestors of a shared subscription; each meter sends its backlog of 10 readings as one message.

    (A meter's messages must not overtake each other: two in flight at once may be committed by the two
    ingestors in the wrong order, and the earlier one is then refused as a replay.)
    """
    cid = site.community.id

    def backlog(i: int) -> bytes:
        return b"[" + b",".join(reading(site, f"M{i:04d}", NOW - k * Q, k * 100 + i) for k in range(10, 0, -1)) + b"]"

    msgs = [(topic_for(cid, f"M{i:04d}"), backlog(i)) for i in range(20)]
    group = f"g{cid}{id(site)}"
    with Ingestor(site.factory, local_broker, clock=site.clock, client_id=f"s1-{group}", shared_group=group,
                  session_expiry_s=30) as a, \
            Ingestor(site.factory, local_broker, clock=site.clock, client_id=f"s2-{group}", shared_group=group,
                     session_expiry_s=30) as b:
        assert a.wait_connected(10) and b.wait_connected(10)
        time.sleep(0.2)  # both subscriptions registered
        publish_all(local_gateway, msgs)
        assert wait_for(lambda: site.count() == 200, 20), site.count()
        assert a.stats.accepted + b.stats.accepted == 200
        assert a.stats.accepted > 0 and b.stats.accepted > 0
    assert a.stats.duplicates == b.stats.duplicates == 0


def test_simulator_reports_each_completed_period_once(site: Site, local_broker: str, local_gateway: str):
    """Live mode: after the backfill the simulator waits for each period to end, then reports it once per meter."""
    from peergrid.service.mqtt.simulator import simulate_meters

    with Ingestor(site.factory, local_broker, client_id=f"sim-{site.community.id}-{id(site)}", flush_s=0.02,
                  session_expiry_s=30) as ing:
        assert ing.wait_connected(10)
        keys = {s: site.keys[s] for s in ("M0000", "M0001", "M0002")}
        t0 = time.monotonic()
        res = simulate_meters(local_gateway, site.community.id, keys, rate=1000, period_s=1, rounds=3, backfill=1,
                              from_data=False)
        assert res.messages == 9 and res.rounds == 3
        assert time.monotonic() - t0 >= 1.0  # rounds 2 and 3 waited for their periods to end
        assert wait_for(lambda: ing.stats.accepted == 9, 10), ing.stats.as_dict()
    stamps = sorted({r[1] for r in site.rows()})
    assert len(stamps) == 3 and all((b - a).total_seconds() == 1 for a, b in itertools.pairwise(stamps))
    assert stamps[0].isoformat().replace("+00:00", "Z") == res.first_ts


def test_peergrid_serve_mqtt_connects_the_ingestor(tmp_path, local_broker: str, local_gateway: str):
    """`peergrid serve --mqtt URL`: readings published on the broker land in the database; Ctrl-C stops cleanly."""
    import signal
    from pathlib import Path

    from mqtt_support import free_port

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    site = Site(url, n=2)
    site.app.state.engine.dispose()
    port = free_port()
    exe = str(Path(sys.executable).parent / "peergrid")
    proc = subprocess.Popen([exe, "serve", "--db", url, "--port", str(port), "--mqtt", local_broker],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ts = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=15)
        # the ingestor subscribes once the server started; publish until the reading is stored
        end = time.time() + 30
        while site.count() == 0 and time.time() < end:
            payload = reading(site, "M0001", ts, 321)
            publish_all(local_gateway, [(topic_for(site.community.id, "M0001"), payload)])
            wait_for(lambda: site.count() > 0, 1.0)
        assert site.count() == 1, proc.stdout.read() if proc.poll() is not None else "not stored"
        assert site.rows()[0][2] == 321
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out[-2000:]
    assert "Traceback" not in out
    from mqtt_support import end_session

    from peergrid.service.db import make_engine, session_factory

    engine = make_engine(url)
    end_session(local_broker, Ingestor(session_factory(engine), local_broker).client_id)  # no stale session
    engine.dispose()
