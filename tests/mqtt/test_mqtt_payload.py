"""MQTT reading payloads, topics, meter tokens and rates: validation without a broker."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peergrid.core.errors import ConfigError
from peergrid.service.mqtt import (
    MAX_ITEMS,
    BrokerURL,
    MeterProfiles,
    PayloadError,
    iso,
    meter_token,
    parse_message,
    parse_rate,
    parse_topic,
    topic_for,
)

TOPIC = "peergrid/7/M-01/reading"
GOOD = {"ts": "2026-06-01T12:00:00Z", "import_wh": 120, "export_wh": 0, "pv_wh": 35, "token": "t"}


def msg(**over):
    d = dict(GOOD)
    d.update(over)
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def test_parse_one_reading():
    [r] = parse_message(TOPIC, msg())
    assert (r.community_id, r.serial) == (7, "M-01")
    assert r.ts == dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    assert (r.import_wh, r.export_wh, r.pv_wh, r.token) == (120, 0, 35, "t")


def test_parse_backlog_array_and_offsets():
    items = [dict(GOOD, ts="2026-06-01T14:00:00+02:00"), dict(GOOD, ts="2026-06-01T12:15:00Z", pv_wh=None)]
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
        (msg(token=...), "token is missing"),
        (msg(token=""), "token is missing"),
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
    payload = {"ts": iso(ts), "import_wh": imp, "export_wh": exp, "token": "k"}
    if pv is not None:
        payload["pv_wh"] = pv
    [r] = parse_message(topic_for(cid, serial), json.dumps(payload))
    assert (r.community_id, r.serial, r.ts, r.import_wh, r.export_wh, r.pv_wh) == (cid, serial, ts, imp, exp, pv)


def test_meter_tokens_are_per_meter_and_per_secret():
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
    for bad in ("mqtts://h", "http://h", "mqtt://:1883", "mqtt://h:99999"):
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
