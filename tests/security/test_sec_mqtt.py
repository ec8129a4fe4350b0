"""Issue 15, MQTT ingestion: signed readings, replays, poison messages, the ingestor's client id.

Findings (all against a real Mosquitto with authentication, SQLite and PostgreSQL):

2. The per-meter token travelled in every message: anyone subscribed to ``peergrid/#`` learnt it
   and could publish any reading for that meter. Now each reading carries an HMAC signature with a
   key that never travels, and a sequence number; forged and replayed messages are refused.
3. One anonymous message (non-ASCII token, ``"[" * 200000``, ``"ts": "0001-01-01T00:00:00+05:00"``)
   killed the ingestor thread, and the broker redelivered it after every restart. Now every such
   message is counted, kept as a dead letter, acknowledged, and ingestion goes on.
4. The ingestor's client id was derived from the database URL (anyone could take its session over).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mqtt_support import MOSQUITTO, NOW, Broker, Site, wait_for

from peergrid.service.mqtt.credentials import meter_signing_key, meter_token, reading_payload
from peergrid.service.mqtt.dead_letters import list_dead_letters
from peergrid.service.mqtt.ingest import Ingestor
from peergrid.service.mqtt.payload import topic_for
from peergrid.service.mqtt.publisher import Publisher

Q = dt.timedelta(minutes=15)
_SEQ = itertools.count(10_000)


@pytest.fixture
def site(backend: str) -> Iterator[Site]:
    from peergrid.service.testing import temp_database

    with temp_database(backend) as url:
        s = Site(url, n=5)
        try:
            yield s
        finally:
            s.app.state.engine.dispose()


@pytest.fixture
def broker(tmp_path: Path, site: Site) -> Iterator[Broker]:
    """A private Mosquitto with authentication: meters, the ingestor and a gateway have passwords."""
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip(f"{MOSQUITTO} not installed (scripts/services.sh installs it)")
    b = Broker(tmp_path, secure=True, meters={(site.community.id, s): p for s, p in site.tokens.items()})
    b.start()
    try:
        yield b
    finally:
        b.stop()


def signed(site: Site, serial: str, ts: dt.datetime, imp: int, *, key: bytes | None = None, seq: int | None = None,
           **over: object) -> bytes:
    d = reading_payload(key or site.keys[serial], site.community.id, serial, ts, imp, 0, None,
                        next(_SEQ) if seq is None else seq)
    d.update(over)
    return json.dumps(d).encode()


def publish(url: str, msgs: list[tuple[str, bytes]]) -> None:
    pub = Publisher(url).connect()
    pub.publish_many(msgs)
    assert pub.flush(20)
    pub.close()


def ingestor(site: Site, broker: Broker, **kw: object) -> Ingestor:
    kw.setdefault("client_id", f"sec-{site.community.id}-{id(site)}")
    return Ingestor(site.factory, broker.ingest_url, clock=site.clock, flush_s=0.02, **kw)  # type: ignore[arg-type]


def dead(site: Site) -> list[dict]:
    with site.factory() as s:
        return list_dead_letters(s, limit=1000)["items"]


def alive(ing: Ingestor) -> bool:
    return (ing.client._thread is not None and ing.client._thread.is_alive() and ing._writer is not None
            and ing._writer.is_alive() and ing.connected.is_set())


# ------------------------------------------------------------------ finding 2: signatures and replays


def test_no_secret_travels_and_a_forged_or_altered_reading_is_refused(site: Site, broker: Broker):
    cid = site.community.id
    topic = topic_for(cid, "M0001")
    good = signed(site, "M0001", NOW - Q, 120)
    # what a subscriber of peergrid/# sees carries neither the MQTT password nor the signing key
    for secret in (site.tokens["M0001"], meter_token(site.secret, cid, "M0001"),
                   site.keys["M0001"].hex()):
        assert secret not in good.decode()
    with ingestor(site, broker) as ing:
        assert ing.wait_connected(10)
        publish(broker.gateway_url, [(topic, good)])
        assert wait_for(lambda: site.count() == 1)
        altered = json.loads(good)
        altered.update(ts="2026-06-01T11:30:00Z", import_wh=10**9, seq=altered["seq"] + 1)  # a huge import
        forged = [
            (topic, json.dumps(altered).encode()),
            # signed with the MQTT password (what the old format exposed) instead of the signing key
            (topic, signed(site, "M0001", NOW - 2 * Q, 10**9, key=site.tokens["M0001"].encode())),
            # another meter's valid reading republished on this meter's topic
            (topic, signed(site, "M0002", NOW - 2 * Q, 10**9)),
            # the old format with the token
            (topic, json.dumps({"ts": "2026-06-01T11:30:00Z", "import_wh": 10**9, "export_wh": 0,
                                "token": site.tokens["M0001"]}).encode()),
        ]
        publish(broker.gateway_url, forged)
        assert wait_for(lambda: ing.stats.dead_letters == 4, 10), ing.stats.as_dict()
        assert ing.stats.rejected["bad_signature"] == 3 and ing.stats.rejected["bad_payload"] == 1
    assert [r[2] for r in site.rows()] == [120]
    reasons = sorted(d["reason"] for d in dead(site))
    assert reasons == ["bad_payload", "bad_signature", "bad_signature", "bad_signature"]


def test_a_replayed_message_is_refused(site: Site, broker: Broker):
    cid = site.community.id
    topic = topic_for(cid, "M0000")
    first = signed(site, "M0000", NOW - 2 * Q, 50)
    second = signed(site, "M0000", NOW - Q, 60)
    with ingestor(site, broker) as ing:
        assert ing.wait_connected(10)
        publish(broker.gateway_url, [(topic, first), (topic, second)])
        assert wait_for(lambda: site.count() == 2)
        # the reading of NOW - 2Q is deleted (say, an operator's correction); a replay must not bring it back
        import sqlalchemy as sa

        from peergrid.service.models import Reading

        with site.factory() as s, s.begin():
            s.execute(sa.delete(Reading).where(Reading.import_wh == 50))
        publish(broker.gateway_url, [(topic, first), (topic, second)])
        assert wait_for(lambda: ing.stats.rejected["replay"] == 2, 10), ing.stats.as_dict()
        assert wait_for(lambda: ing.stats.dead_letters == 2, 10)
    assert [r[2] for r in site.rows()] == [60]
    assert {d["reason"] for d in dead(site)} == {"replay"}
    with site.factory() as s:
        from peergrid.service.models import Meter

        seq = s.execute(sa.select(Meter.mqtt_seq).where(Meter.serial == "M0000",
                                                         Meter.community_id == cid)).scalar_one()
    assert seq == json.loads(second)["seq"]  # persisted: a restarted ingestor refuses the replay too


def test_replay_protection_survives_a_restart(site: Site, broker: Broker):
    topic = topic_for(site.community.id, "M0003")
    msg = signed(site, "M0003", NOW - Q, 70)
    with ingestor(site, broker, client_id="sec-a") as ing:
        assert ing.wait_connected(10)
        publish(broker.gateway_url, [(topic, msg)])
        assert wait_for(lambda: site.count() == 1)
    with ingestor(site, broker, client_id="sec-b") as ing:  # fresh process memory
        assert ing.wait_connected(10)
        publish(broker.gateway_url, [(topic, msg)])
        assert wait_for(lambda: ing.stats.rejected["replay"] == 1, 10), ing.stats.as_dict()


# ------------------------------------------------------------------ finding 3: poison messages

POISON = {
    "non_ascii_token": b'{"ts": "2026-06-01T11:45:00Z", "import_wh": 1, "export_wh": 0, "token": "\xc3\xbc"}',
    "non_ascii_sig": json.dumps({"ts": "2026-06-01T11:45:00Z", "import_wh": 1, "export_wh": 0, "seq": 5,
                                 "sig": "\u00fc" * 43}).encode(),
    "deep_json": b"[" * 200_000,
    "year_one": json.dumps({"ts": "0001-01-01T00:00:00+05:00", "import_wh": 1, "export_wh": 0, "seq": 5,
                            "sig": "A" * 43}).encode(),
}


@pytest.mark.parametrize("name", list(POISON))
def test_a_poison_message_is_dead_lettered_acked_and_ingestion_goes_on(site: Site, broker: Broker, name: str):
    cid = site.community.id
    topic = topic_for(cid, "M0002")
    with ingestor(site, broker, client_id="sec-poison") as ing:
        assert ing.wait_connected(10)
        publish(broker.gateway_url, [(topic, POISON[name])])
        assert wait_for(lambda: ing.stats.dead_letters == 1, 10), ing.stats.as_dict()
        assert ing.stats.rejected["bad_payload"] + ing.stats.rejected["bad_signature"] == 1
        publish(broker.gateway_url, [(topic, signed(site, "M0002", NOW - Q, 77))])
        assert wait_for(lambda: site.count() == 1, 10)
        assert alive(ing)
    [d] = dead(site)
    assert d["topic"] == topic and d["community_id"] == cid and d["payload_bytes"] == min(len(POISON[name]), 4096)
    # acknowledged: the same session gets nothing again after a restart
    with ingestor(site, broker, client_id="sec-poison") as ing:
        assert ing.wait_connected(10)
        assert not wait_for(lambda: ing.stats.messages > 0, 1.0)


def _payloads() -> st.SearchStrategy[bytes]:
    text = st.text(max_size=30)
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), text)
    dates = st.one_of(
        st.datetimes(timezones=st.integers(-1439, 1439).map(lambda m: dt.timezone(dt.timedelta(minutes=m))))
        .map(lambda t: t.isoformat()),
        st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-02-30T00:00:00Z", "",
                         "2026-06-01T11:45:00.5Z", "\u0662\u0660\u0662\u0666-06-01T00:00:00Z"]),
    )
    reading = st.fixed_dictionaries({}, optional={
        "ts": st.one_of(dates, scalar), "import_wh": scalar, "export_wh": scalar, "pv_wh": scalar,
        "seq": st.one_of(st.integers(-2, 2**64), scalar), "sig": st.one_of(text, scalar), "token": text, "x": scalar})
    return st.one_of(
        st.binary(max_size=500),
        st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.integers(1, 200_000).map(lambda n: b"[" * n),
        st.integers(1, 50_000).map(lambda n: b'{"a":' * n),
        reading.map(lambda o: json.dumps(o).encode()),
        st.lists(reading, min_size=0, max_size=5).map(lambda o: json.dumps(o).encode()),
        st.sampled_from([b"1" * 5000, b'{"seq": 1e999}', b"[" + b"{}," * 1000 + b"{}]", b"\xff" * 300_000,
                         b'{"ts": "2026-06-01T11:45:00Z", "import_wh": NaN}']),
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_property_no_payload_stops_ingestion(site: Site, broker: Broker):
    """Hypothesis: any payload on any meter topic, then a valid reading, which is stored; the ingestor lives."""
    cid = site.community.id
    topics = st.sampled_from([topic_for(cid, "M0004"), topic_for(cid, "GHOST"), topic_for(cid + 1, "M0004"),
                              "peergrid/x/M0004/reading", "peergrid/1/\u00fc/reading", "other"])
    period = itertools.count(1)
    examples = []
    pub = Publisher(broker.gateway_url).connect()
    try:
        with ingestor(site, broker, client_id="sec-prop", dead_letters_per_min=10_000,
                      out_of_order_s=365 * 86400) as ing:
            assert ing.wait_connected(10)

            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
            @given(payload=_payloads(), topic=topics)
            def run(payload: bytes, topic: str) -> None:
                before = site.count()
                pub.publish(topic, payload)
                pub.publish(topic_for(cid, "M0004"), signed(site, "M0004", NOW - next(period) * Q, 5))
                assert wait_for(lambda: site.count() == before + 1, 10), ing.stats.as_dict()
                assert alive(ing)
                examples.append(topic)

            run()
            assert len(examples) >= 30 and sum(ing.stats.rejected.values()) >= 20
    finally:
        pub.close()


# ------------------------------------------------------------------ robustness of the writer and dead letters


class _FaultyIngestor(Ingestor):
    """Fault injection: storing any batch that holds the reading of 13 Wh raises (as a bug would)."""

    def _store(self, batch):  # type: ignore[no-untyped-def]
        if any(r.import_wh == 13 for p in batch for r in p.readings):
            raise RuntimeError("boom")
        return super()._store(batch)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_batch_that_raises_is_split_and_only_the_culprit_is_dead_lettered(site: Site, broker: Broker):
    cid = site.community.id
    msgs = [(topic_for(cid, f"M{i:04d}"), signed(site, f"M{i:04d}", NOW - k * Q, 13 if (i, k) == (2, 3) else 100 + k))
            for k in range(1, 5) for i in range(5)]
    ing = _FaultyIngestor(site.factory, broker.ingest_url, clock=site.clock, client_id="sec-split", flush_s=0.3)
    with ing:
        assert ing.wait_connected(10)
        publish(broker.gateway_url, msgs)
        assert wait_for(lambda: site.count() == 19, 15), (site.count(), ing.stats.as_dict())
        assert wait_for(lambda: ing.stats.dead_letters == 1, 10)
        assert ing.stats.rejected["invalid"] == 1 and alive(ing)
    [d] = dead(site)
    assert d["reason"] == "invalid" and "RuntimeError: boom" in d["detail"] and d["topic"] == topic_for(cid, "M0002")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_dead_letters_are_rate_limited_and_bounded(site: Site, broker: Broker):
    topic = topic_for(site.community.id, "M0000")
    with ingestor(site, broker, client_id="sec-flood", dead_letters_per_min=10, max_dead_letters=5) as ing:
        assert ing.wait_connected(10)
        publish(broker.gateway_url, [(topic, b"garbage %d" % i + b"x" * 10_000) for i in range(50)])
        assert wait_for(lambda: ing.stats.rejected["bad_payload"] == 50 and ing.stats.dead_letters == 10, 10)
        assert ing.stats.dead_letters_dropped == 40
    rows = dead(site)
    assert len(rows) == 5  # trimmed to max_dead_letters, newest kept
    assert all(r["payload_bytes"] == 4096 and "cut" in r["detail"] for r in rows)


# ------------------------------------------------------------------ finding 4: client id


def test_the_ingestor_client_id_is_not_derivable_from_the_database_url(site: Site, broker: Broker):
    url = str(site.app.state.engine.url)
    old = "peergrid-ingest-" + hashlib.sha256(url.encode()).hexdigest()[:12]  # the former derivation
    a = Ingestor(site.factory, broker.ingest_url)
    assert a.client_id != old and hashlib.sha256(url.encode()).hexdigest()[:12] not in a.client_id
    assert a.client_id == Ingestor(site.factory, broker.ingest_url).client_id  # stable: the session resumes
    # it depends on the service secret: the same URL with another secret gives another id
    import sqlalchemy as sa

    from peergrid.service.models import ServiceConfig
    from peergrid.service.mqtt.credentials import SECRET_KEY

    with site.factory() as s, s.begin():
        s.execute(sa.update(ServiceConfig).where(ServiceConfig.key == SECRET_KEY).values(value="another secret"))
    assert Ingestor(site.factory, broker.ingest_url).client_id != a.client_id
    assert meter_signing_key("another secret", 1, "M") != meter_signing_key(site.secret, 1, "M")


# ------------------------------------------------------------------ operator access to dead letters


def test_dead_letters_endpoint_is_for_operators_of_the_community(tmp_path: Path):
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from peergrid.service.models import MqttDeadLetter
    from peergrid.service.testing import TEST_PASSWORD, make_community, make_user

    site = Site(f"sqlite:///{tmp_path / 'dl.db'}", n=1, extensions=("peergrid.service.mqtt",))
    try:
        cid = site.community.id
        other = make_community(site.factory, mechanism="uniform", interval_minutes=15)
        op = make_user(site.factory, "operator", communities=[cid])
        admin = make_user(site.factory, "admin")
        with site.factory() as s, s.begin():
            s.execute(sa.insert(MqttDeadLetter), [
                {"topic": topic_for(cid, "M0000"), "payload": b"\xff<script>", "reason": "bad_payload",
                 "detail": "payload is not UTF-8 JSON", "community_id": cid},
                {"topic": topic_for(other.id, "X"), "payload": b"{}", "reason": "bad_signature", "detail": "",
                 "community_id": other.id},
                {"topic": "peergrid/x", "payload": b"", "reason": "bad_topic", "detail": "", "community_id": None},
            ])
        with TestClient(site.app) as client:
            def login(email: str) -> None:
                assert client.post("/api/auth/login", json={"email": email, "password": TEST_PASSWORD}).status_code \
                    == 200

            login(site.user.email)
            r = client.get("/mqtt/dead-letters")
            assert r.status_code == 403 and r.json()["error"]
            login(op.email)
            body = client.get("/mqtt/dead-letters").json()
            assert [d["community_id"] for d in body["items"]] == [cid]
            assert body["items"][0]["payload_text"] == "\\xff<script>"
            assert client.get(f"/mqtt/dead-letters?community_id={other.id}").status_code in (403, 404)
            login(admin.email)
            assert client.get("/mqtt/dead-letters").json()["total"] == 3
    finally:
        site.app.state.engine.dispose()
