"""``peergrid meters``: tokens and the simulator's argument errors (exit code 2, one line, no traceback)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.service.mqtt import meter_token

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
    tokens = json.loads(res.stdout)
    assert tokens == site.tokens and list(tokens) == ["M0000", "M0001", "M0002"]
    from peergrid.service.db import make_engine, session_factory
    from peergrid.service.mqtt import meter_secret

    with session_factory(make_engine(url))() as s:
        secret = meter_secret(s, create=False)
    assert tokens["M0001"] == meter_token(secret, site.community.id, "M0001")


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
    bad = tmp_path / "tokens.json"
    bad.write_text("[1, 2]")
    res = runner.invoke(app, ["meters", "simulate", "--tokens", str(bad), "--community", "1"])
    assert res.exit_code == 2 and "expected a JSON object" in res.output


def test_simulate_broker_down(db):
    url, site = db
    from mqtt_support import free_port

    res = runner.invoke(app, ["meters", "simulate", "--db", url, "--community", str(site.community.id), "--meters",
                              "1", "--rounds", "1", "--mqtt", f"mqtt://127.0.0.1:{free_port()}"])
    assert res.exit_code == 2 and "cannot connect to MQTT broker" in res.output
