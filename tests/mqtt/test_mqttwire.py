"""The lean MQTT 5 client: packet encoding against the spec's examples, framing of partial reads, a real broker."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peergrid.service.mqtt.wire import (
    Client,
    MQTTError,
    parse_publish,
    puback_packets,
    publish_packet,
    read_varint,
    split_packets,
    varint,
)


@pytest.mark.parametrize(("n", "encoded"), [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                            (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
                                            (268_435_455, b"\xff\xff\xff\x7f")])
def test_varint_matches_the_spec_table(n, encoded):
    # MQTT 5 §1.5.5, table 1-1: boundaries of 1..4-byte variable byte integers
    assert varint(n) == encoded
    assert read_varint(encoded, 0) == (n, len(encoded))


def test_varint_out_of_range():
    with pytest.raises(ValueError, match="does not fit"):
        varint(268_435_456)
    with pytest.raises(MQTTError, match="malformed"):
        read_varint(b"\xff\xff\xff\xff\x01", 0)


def test_puback_is_four_bytes_per_message():
    assert puback_packets([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"


@given(st.lists(st.tuples(st.text(min_size=1, max_size=60).map(str.encode), st.binary(max_size=300),
                          st.integers(1, 65535), st.sampled_from([0, 1])), min_size=1, max_size=20),
       st.data())
def test_publish_packets_survive_any_split_of_the_stream(messages, data):
    stream = b"".join(publish_packet(t, p, q, mid) for t, p, mid, q in messages)
    cut = data.draw(st.integers(0, len(stream)))
    buf = bytearray(stream[:cut])
    got = []
    packets, used = split_packets(buf)
    got += [parse_publish(buf, f, s, e) for f, s, e in packets]
    del buf[:used]
    buf += stream[cut:]
    packets, used = split_packets(buf)
    got += [parse_publish(buf, f, s, e) for f, s, e in packets]
    assert used == len(buf)
    assert got == [(t, p, mid if q else 0, q) for t, p, mid, q in messages]


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_round_trip_through_mosquitto_with_acks(local_broker, local_gateway, tls):
    """Ingest user subscribes, gateway user publishes 300 QoS 1 messages (also over TLS: 8883, local CA)."""
    import random

    from mqtt_support import local_ca

    from peergrid.service.mqtt.url import BrokerURL

    def url(u: str) -> BrokerURL:
        if tls:
            u = u.replace("mqtt://", "mqtts://").replace(":1883", f":8883?ca={local_ca()}")
        return BrokerURL.parse(u)

    ing, gw = url(local_broker), url(local_gateway)
    cid = random.randrange(10**9, 10**10)  # a community of our own on the shared broker
    got: list[tuple[bytes, bytes]] = []
    done = threading.Event()
    sub: Client

    def on_messages(msgs, gen):
        got.extend((t, p) for t, p, _, _ in msgs)
        sub.ack([m for _, _, m, q in msgs if q], gen)
        if len(got) >= 300:
            done.set()

    sub = Client(ing.host, ing.port, f"wire-test-sub-{cid}", **ing.client_kwargs(),
                 subscriptions=[(f"peergrid/{cid}/+/reading", 1)], on_messages=on_messages)
    sub.start()
    assert sub.connected.wait(5)
    pub = Client(gw.host, gw.port, f"wire-test-pub-{cid}", **gw.client_kwargs()).connect()
    try:
        pub.publish_many([(f"peergrid/{cid}/M{i % 7}/reading", f"m{i}") for i in range(300)])
        assert pub.wait_acked(10) and pub.inflight == 0 and pub.refused == 0
        assert done.wait(10)
        assert sorted(p for _, p in got) == sorted(f"m{i}".encode() for i in range(300))
        assert {t for t, _ in got} == {f"peergrid/{cid}/M{i}/reading".encode() for i in range(7)}
    finally:
        pub.stop()
        sub.stop()


def test_too_long_strings_are_named(local_broker):
    from peergrid.service.mqtt.url import BrokerURL

    b = BrokerURL.parse(local_broker)
    with pytest.raises(ValueError, match="longer than 65,535 bytes"):
        Client(b.host, b.port, "x" * 70000, **b.client_kwargs()).connect(2)


def test_broker_down_is_an_oserror():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        Client("127.0.0.1", port, "nobody").connect(2)


@given(first=st.integers(0x30, 0x3F), body=st.binary(max_size=40))
def test_a_malformed_publish_is_an_mqtt_error_never_a_crash(first, body):
    """Any PUBLISH body parses within its bounds or raises MQTTError (the reader then reconnects)."""
    buf = bytearray(body + b"\xff" * 8)  # bytes of a next packet after the body must never be read
    try:
        topic, payload, mid, qos = parse_publish(buf, first, 0, len(body))
    except MQTTError:
        return
    assert len(topic) + len(payload) <= len(body) and qos == (first >> 1) & 3 and 0 <= mid <= 0xFFFF


def test_a_publish_whose_topic_overruns_the_packet_is_refused():
    body = b"\x00\x10abc"  # topic length 16, 3 bytes follow
    with pytest.raises(MQTTError, match="malformed PUBLISH"):
        parse_publish(bytearray(body + b"\x00" * 40), 0x32, 0, len(body))
