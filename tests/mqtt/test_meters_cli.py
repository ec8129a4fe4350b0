"""``peergrid meters``: credentials, dead letters and the simulator's argument errors (exit 2, one line)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.service.mqtt.credentials import decode_key, meter_signing_key, meter_token

runner = CliRunner()


@pytest.fixture
def db(tmp_path):
    from mqtt_support import Site

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    site = Site(url, n=3)
    site.app.state.engine.dispose()
    return url, site


def test_tokens_prints_every_meter(db):
    url, site = db
    res = runner.invoke(app, ["meters", "tokens", "--db", url, "--community", str(site.community.id)])
    assert res.exit_code == 0, res.output
    creds = json.loads(res.stdout)
    assert list(creds) == ["M0000", "M0001", "M0002"]
    assert {s: c["password"] for s, c in creds.items()} == site.tokens
    assert {s: decode_key(c["signing_key"]) for s, c in creds.items()} == site.keys
    from peergrid.service.db import make_engine, session_factory
    from peergrid.service.mqtt.credentials import meter_secret

    with session_factory(make_engine(url))() as s:
        secret = meter_secret(s, create=False)
    assert creds["M0001"]["password"] == meter_token(secret, site.community.id, "M0001")
    assert decode_key(creds["M0001"]["signing_key"]) == meter_signing_key(secret, site.community.id, "M0001")
    assert creds["M0001"]["password"] != creds["M0001"]["signing_key"]


def test_dead_letters_list_and_purge(db):
    import datetime as dt

    import sqlalchemy as sa

    from peergrid.service.db import make_engine, session_factory
    from peergrid.service.models import MqttDeadLetter

    url, site = db
    engine = make_engine(url)
    with session_factory(engine)() as s, s.begin():
        s.execute(sa.insert(MqttDeadLetter), [
            {"topic": "t", "payload": b"old", "reason": "bad_payload", "detail": "", "community_id": site.community.id,
             "received_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
            {"topic": "t", "payload": b"new", "reason": "replay", "detail": "", "community_id": None,
             "received_at": dt.datetime(2026, 6, 1, tzinfo=dt.UTC)}])
    engine.dispose()
    res = runner.invoke(app, ["meters", "dead-letters", "--db", url])
    assert res.exit_code == 0, res.output
    assert [d["payload_text"] for d in json.loads(res.stdout)["items"]] == ["new", "old"]
    res = runner.invoke(app, ["meters", "dead-letters", "--db", url, "--community", str(site.community.id)])
    assert [d["payload_text"] for d in json.loads(res.stdout)["items"]] == ["old"]
    res = runner.invoke(app, ["meters", "dead-letters", "--db", url, "--purge-before", "2026-03-01T00:00:00Z"])
    assert res.exit_code == 0 and json.loads(res.stdout)["deleted"] == 1
    res = runner.invoke(app, ["meters", "dead-letters", "--db", url, "--purge-before", "2026-03-01"])
    assert res.exit_code == 2 and "needs a time zone" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "fast"], "rate 'fast'"),
        (["--meters", "10"], "has 3 meters, asked to simulate 10"),
        (["--community", "999"], "community 999 not found"),
        (["--mqtt", "http://x"], "scheme must be mqtt://"),
    ],
)
def test_simulate_errors(db, args, message):
    url, site = db
    base = ["meters", "simulate", "--db", url, "--community", str(site.community.id), "--meters", "3", "--rounds", "1"]
    res = runner.invoke(app, base + args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_simulate_needs_a_database_or_tokens(tmp_path):
    res = runner.invoke(app, ["meters", "simulate", "--db", str(tmp_path / "none.db"), "--community", "1"])
    assert res.exit_code == 2 and "does not exist" in res.output
    bad = tmp_path / "keys.json"
    bad.write_text("[1, 2]")
    res = runner.invoke(app, ["meters", "simulate", "--keys", str(bad), "--community", "1"])
    assert res.exit_code == 2 and "expected a JSON object" in res.output
    bad.write_text('{"M1": {"password": "p", "signing_key": "c2hvcnQ"}}')
    res = runner.invoke(app, ["meters", "simulate", "--keys", str(bad), "--community", "1"])
    assert res.exit_code == 2 and "meter 'M1': signing key must be 32 bytes" in res.output


def test_simulate_broker_down(db):
    url, site = db
    from mqtt_support import free_port

    res = runner.invoke(app, ["meters", "simulate", "--db", url, "--community", str(site.community.id), "--meters",
                              "1", "--rounds", "1", "--mqtt", f"mqtt://127.0.0.1:{free_port()}"])
    assert res.exit_code == 2 and "cannot connect to MQTT broker" in res.output
