"""MQTT reading payloads, topics, signatures, meter passwords and rates: validation without a broker."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError
from peergrid.data.meter_profiles import MeterProfiles
from peergrid.service.mqtt.credentials import (
    canonical_reading,
    decode_key,
    encode_key,
    ingestor_client_id,
    meter_signing_key,
    meter_token,
    reading_payload,
    sign_reading,
    verify_reading,
)
from peergrid.service.mqtt.payload import MAX_ITEMS, PayloadError, parse_message, parse_payload, parse_topic, topic_for
from peergrid.service.mqtt.simulator import parse_rate
from peergrid.service.mqtt.url import BrokerURL

TOPIC = "peergrid/7/M-01/reading"
GOOD = {"ts": "2026-06-01T12:00:00Z", "import_wh": 120, "export_wh": 0, "pv_wh": 35, "seq": 5, "sig": "s" * 43}


def msg(**over):
    d = dict(GOOD)
    d.update(over)
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def test_parse_one_reading():
    [r] = parse_message(TOPIC, msg())
    assert (r.community_id, r.serial) == (7, "M-01")
    assert r.ts == dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    assert (r.import_wh, r.export_wh, r.pv_wh, r.seq, r.sig) == (120, 0, 35, 5, "s" * 43)
    assert r.epoch == 1780315200


def test_parse_backlog_array_and_offsets():
    items = [dict(GOOD, ts="2026-06-01T14:00:00+02:00"), dict(GOOD, ts="2026-06-01T12:15:00Z", pv_wh=None, seq=6)]
    rs = parse_message(TOPIC, json.dumps(items))
    assert [r.ts.isoformat() for r in rs] == ["2026-06-01T12:00:00+00:00", "2026-06-01T12:15:00+00:00"]
    assert rs[1].pv_wh is None
    assert parse_message(TOPIC, msg(import_wh=5.0))[0].import_wh == 5  # whole floats are integers


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"not json", "not UTF-8 JSON"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[]", "1..1000 readings"),
        (json.dumps([GOOD] * (MAX_ITEMS + 1)).encode(), "1..1000 readings"),
        (b"42", "must be a JSON object"),
        (msg(token="abc"), "token field is refused"),
        (msg(seq=...), "seq must be an integer"),
        (msg(seq=True), "seq must be an integer"),
        (msg(seq="5"), "seq must be an integer"),
        (msg(seq=0), "seq must be in 1.."),
        (msg(seq=2**63), "seq must be in 1.."),
        (json.dumps([GOOD, GOOD]).encode(), "seq must increase"),
        (msg(ts="2026-06-01T12:00:00.5Z"), "whole second"),
        (msg(ts="0001-01-01T00:00:00+05:00"), "out of range"),
        (msg(ts="9999-12-31T23:59:59-05:00"), "out of range"),
        (b"[" * 200_000, "nested too deeply"),
        (b'{"ts": 1' + b"0" * 5000 + b"}", "not UTF-8 JSON"),
        (msg(import_wh=1e400), "import_wh must be an integer"),
        (msg(import_wh=...), "import_wh is missing"),
        (msg(import_wh=-1), "import_wh must be in 0.."),
        (msg(export_wh=1.5), "export_wh must be an integer"),
        (msg(export_wh=True), "export_wh must be an integer"),
        (msg(pv_wh="3"), "pv_wh must be an integer"),
        (msg(import_wh=10**10), "import_wh must be in 0.."),
        (msg(ts="2026-06-01T12:00:00"), "has no timezone"),
        (msg(ts="yesterday"), "not an ISO 8601 time"),
        (msg(ts=1700000000), "ts must be an ISO 8601"),
        (msg(extra=1), "unknown field"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(payload, needle):
    with pytest.raises(PayloadError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        parse_message(TOPIC, payload)


@pytest.mark.parametrize("payload", [msg(sig=...), msg(sig=""), msg(sig=17)])
def test_a_missing_signature_is_a_bad_signature(payload):
    with pytest.raises(PayloadError, match="sig is missing") as exc:
        parse_message(TOPIC, payload)
    assert exc.value.reason == "bad_signature"


@given(st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                 max_leaves=30).map(lambda o: json.dumps(o).encode()),
    st.fixed_dictionaries({}, optional={k: st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none())
                                        for k in ("ts", "import_wh", "export_wh", "pv_wh", "seq", "sig", "token")})
    .map(lambda o: json.dumps(o).encode()),
    st.integers(1, 100_000).map(lambda n: b"[" * n),
))
def test_any_payload_is_a_reading_or_a_payload_error(payload):
    """Whatever the bytes, parsing returns readings or raises PayloadError (never anything else)."""
    try:
        rs = parse_payload(7, "M-01", payload)
    except PayloadError as exc:
        assert exc.reason in ("bad_payload", "bad_signature")
    else:
        assert rs and all(r.community_id == 7 for r in rs)


@pytest.mark.parametrize(
    "topic",
    ["peergrid/x/M1/reading", "peergrid/1/M1/readings", "other/1/M1/reading", "peergrid/1/M 1/reading",
     "peergrid/1//reading", "peergrid/1/a/b/reading"],
)
def test_bad_topics(topic):
    with pytest.raises(PayloadError, match="topic"):
        parse_message(topic, msg())


def test_topic_roundtrip():
    assert parse_topic(topic_for(12, "SN-9.a:b_c")) == (12, "SN-9.a:b_c")


@given(
    cid=st.integers(1, 10**9),
    serial=st.from_regex(r"[A-Za-z0-9_.:\-]{1,100}", fullmatch=True),
    imp=st.integers(0, 10**9),
    exp=st.integers(0, 10**9),
    pv=st.one_of(st.none(), st.integers(0, 10**9)),
    minutes=st.integers(0, 10**7),
)
def test_any_valid_reading_roundtrips(cid, serial, imp, exp, pv, minutes):
    ts = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    key = meter_signing_key("secret", cid, serial)
    payload = reading_payload(key, cid, serial, ts, imp, exp, pv, minutes + 1)
    [r] = parse_message(topic_for(cid, serial), json.dumps(payload))
    assert (r.community_id, r.serial, r.ts, r.import_wh, r.export_wh, r.pv_wh) == (cid, serial, ts, imp, exp, pv)
    assert verify_reading(key, r)
    assert not verify_reading(meter_signing_key("secret", cid, serial + "x"), r)  # another meter's key


def test_signature_covers_every_field():
    key = meter_signing_key("secret", 7, "M-01")
    ts = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    good = reading_payload(key, 7, "M-01", ts, 120, 0, 35, 9)
    [r] = parse_message(TOPIC, json.dumps(good))
    assert verify_reading(key, r)
    for change in ({"import_wh": 121}, {"export_wh": 1}, {"pv_wh": 36}, {"seq": 10}, {"ts": "2026-06-01T12:15:00Z"},
                   {"pv_wh": None}):
        forged = {k: v for k, v in dict(good, **change).items() if v is not None}
        [f] = parse_message(TOPIC, json.dumps(forged))
        assert not verify_reading(key, f), change
    [other] = parse_message("peergrid/8/M-01/reading", json.dumps(good))  # same reading on another community
    assert not verify_reading(key, other)
    for bad_sig in ("", "x" * 43, good["sig"][:42], good["sig"] + "A", "é" * 43, "\ud800" * 43):
        [f] = parse_message(TOPIC, json.dumps(dict(good, sig=bad_sig or "-")))
        assert not verify_reading(key, f)


def test_worked_example_of_the_documentation():
    """The example of the module docstring and docs/dashboard.md: key, canonical text and signature."""
    from pathlib import Path

    import peergrid.service.mqtt as mqtt

    key = meter_signing_key("example-secret", 7, "M-01")
    ts = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    canonical = canonical_reading(7, "M-01", 1780315200, 120, 0, 35, 1780315200000)
    sig = sign_reading(key, 7, "M-01", ts, 120, 0, 35, 1780315200000)
    assert canonical == b"v1|7|M-01|1780315200|120|0|35|1780315200000"
    assert encode_key(key) == "KvKAwEHcGmPKSUoMJcbpqctxabRzk76Ww3j_WA7Uh-Q"
    assert sig == "3vjgsHa4f3Pz5DGigmYMB-GK9RtMg_zRabiGj6tspKY"
    # what a vendor computes with nothing but HMAC-SHA256 and base64
    import base64
    import hashlib
    import hmac

    raw = hmac.new(decode_key(encode_key(key)), canonical, hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(raw).decode().rstrip("=") == sig
    assert canonical_reading(7, "M-01", 1780315200, 120, 0, None, 3) == b"v1|7|M-01|1780315200|120|0|-|3"
    docs = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"
    for text in (mqtt.__doc__, docs.read_text()):
        assert encode_key(key) in text and sig in text and canonical.decode() in text


def test_keys_decode_and_the_ingestor_client_id_is_not_derivable_from_the_database():
    key = meter_signing_key("s", 1, "M1")
    assert len(key) == 32 and decode_key(encode_key(key)) == key
    with pytest.raises(ConfigError, match="32 bytes"):
        decode_key("abc")
    a = ingestor_client_id("secret-a", "postgresql://peergrid@db/peergrid")
    assert a == ingestor_client_id("secret-a", "postgresql://peergrid@db/peergrid")  # stable: the session resumes
    assert a != ingestor_client_id("secret-b", "postgresql://peergrid@db/peergrid")  # needs the secret
    assert a.startswith("peergrid-ingest-") and len(a) == len("peergrid-ingest-") + 24


def test_meter_passwords_are_per_meter_and_per_secret():
    t = meter_token("s", 1, "M1")
    assert len(t) == 32 and t == meter_token("s", 1, "M1")
    assert len({t, meter_token("s", 1, "M2"), meter_token("s", 2, "M1"), meter_token("s2", 1, "M1")}) == 4
    # known value: HMAC-SHA256(key="s", msg="1/M1"), URL-safe base64, first 32 characters
    import base64
    import hashlib
    import hmac

    assert t == base64.urlsafe_b64encode(hmac.new(b"s", b"1/M1", hashlib.sha256).digest()).decode()[:32]


@pytest.mark.parametrize(("text", "rate"), [("10/s", 10.0), ("600/min", 10.0), ("36000/h", 10.0), ("2.5", 2.5)])
def test_parse_rate(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["", "fast", "0/s", "-1/s", "10/day"])
def test_parse_rate_errors(text):
    with pytest.raises(ConfigError, match="rate"):
        parse_rate(text)


def test_broker_url():
    assert BrokerURL.parse("mqtt://127.0.0.1:1884") == BrokerURL("127.0.0.1", 1884)
    assert BrokerURL.parse("localhost") == BrokerURL("localhost", 1883)
    assert BrokerURL.parse("mqtt://u:p@h") == BrokerURL("h", 1883, "u", "p")
    for bad in ("http://h", "mqtt://:1883", "mqtt://h:99999", "mqtt://h?ca=/etc/hosts"):  # TLS: test_sec_broker
        with pytest.raises(ConfigError, match="MQTT URL"):
            BrokerURL.parse(bad)


def test_profiles_follow_the_citylearn_data():
    """Meter energy = CityLearn hourly energy × period; import/export split by the sign of load − PV."""
    import numpy as np

    from peergrid.data import load_citylearn

    d = load_citylearn()
    p = MeterProfiles(34, from_data=True, seed=1)
    noon_local = dt.datetime(2022, 8, 2, 20, 0, tzinfo=dt.UTC)  # 12:00 in Fontana (UTC−8)
    imp, exp, pv = p.energy_wh(noon_local, 900)
    assert imp.dtype == np.int64 and imp.shape == (34,)
    assert np.all((imp == 0) | (exp == 0))  # a period is either net import or net export
    h = int((noon_local - d.index[0].to_pydatetime()).total_seconds() // 3600)
    home0_load = d.load.iloc[h, 0] * 0.25 * 1000
    # meter 0 and meter 17 are both home_01, scaled by factors in [0.8, 1.2]
    net0 = imp[0] - exp[0] + pv[0]
    assert 0.8 * home0_load - 1 <= net0 <= 1.2 * home0_load + 1
    assert exp.sum() > 0 and pv.sum() > 0  # sunny August noon: PV, some homes export
    night = p.energy_wh(dt.datetime(2022, 8, 2, 10, 0, tzinfo=dt.UTC), 900)  # 02:00 local
    assert night[2].sum() == 0 and night[1].sum() == 0
    # the year wraps: the same time of year one year later gives the same energy
    again = p.energy_wh(noon_local + dt.timedelta(hours=8760), 900)
    assert np.array_equal(again[0], imp)
