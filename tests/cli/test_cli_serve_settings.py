"""``peergrid serve``: settings validated at start (one line, exit 2) and handed to the app and workers explicitly."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydantic_settings")

from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.service.settings import SETTINGS_ENV

runner = CliRunner()


@pytest.fixture
def no_server(monkeypatch):
    """Replace uvicorn.run: record what the server would have run, and the settings variable while it ran."""
    import uvicorn

    calls: list[dict] = []

    def run(target, **kw):
        calls.append({"target": target, "kw": kw, "settings_json": os.environ.get(SETTINGS_ENV)})

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    return calls


@pytest.mark.parametrize(("env", "args", "message"), [
    ({"PEERGRID_SCHEDULER_TICK": "0.1"}, [], "setting PEERGRID_SCHEDULER_TICK: must be 0 (off) or 0.5..86400 s"),
    ({"PEERGRID_MAX_BODY": "lots"}, [], "setting PEERGRID_MAX_BODY: Input should be a valid integer"),
    ({"PEERGRID_TRUSTED_PROXIES": "proxy.lan"}, [], "setting PEERGRID_TRUSTED_PROXIES: trusted proxy 'proxy.lan'"),
    ({}, ["--trusted-proxy", "10.0.0.1,nope"], "setting --trusted-proxy (PEERGRID_TRUSTED_PROXIES): trusted proxy"),
    ({}, ["--mqtt", "http://ingest:hunter2@broker"], "setting --mqtt (PEERGRID_MQTT_URL): MQTT URL 'http://broker'"),
    ({"PEERGRID_MQTT_URL": "mqtts://ingest@broker", "PEERGRID_MQTT_CA": "/nonexistent/ca.pem"}, [],
     "CA file /nonexistent/ca.pem does not exist"),
    ({}, ["--db", "mysql://root:hunter2@db/x"], "setting --db (PEERGRID_DB): unsupported database 'mysql'"),
])
def test_a_bad_setting_stops_serve_with_one_line(tmp_path, monkeypatch, no_server, env, args, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = runner.invoke(app, ["serve", "--db", str(tmp_path / "s.db"), *args] if "--db" not in args else ["serve", *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "hunter2" not in r.output, r.output
    assert not no_server and not (tmp_path / "s.db").exists()  # nothing started, nothing written


def test_one_worker_gets_the_settings_object(tmp_path, monkeypatch, no_server):
    monkeypatch.setenv("PEERGRID_TOKEN_TTL_S", "900")
    monkeypatch.setenv("PEERGRID_TRUSTED_PROXIES", "10.0.0.0/8")
    r = runner.invoke(app, ["serve", "--db", str(tmp_path / "one.db"), "--tick", "2", "--trusted-proxy", "127.0.0.1"])
    assert r.exit_code == 0, r.output
    [call] = no_server
    served = call["target"]
    s = served.state.settings
    assert (s.scheduler_tick, s.token_ttl_s, s.trusted_proxies) == (2.0, 900, ("127.0.0.1",))  # option wins
    assert served.state.auth.token_ttl_s == 900 and served.state.auth.trusted_proxies == ("127.0.0.1",)
    assert call["settings_json"] is None  # one process: nothing goes through the environment


def test_workers_get_the_validated_settings_as_one_variable(tmp_path, monkeypatch, no_server):
    monkeypatch.setenv("PEERGRID_MQTT_PASSWORD", "pw")
    before = dict(os.environ)
    db = tmp_path / "many.db"
    r = runner.invoke(app, ["serve", "--db", str(db), "--workers", "3", "--tick", "5",
                            "--mqtt", "mqtt://ingest@127.0.0.1:1883", "--trusted-proxy", "::1"])
    assert r.exit_code == 0, r.output
    [call] = no_server
    assert call["target"] == "peergrid.service.app:app_from_env" and call["kw"]["factory"] is True
    assert call["kw"]["workers"] == 3
    sent = json.loads(call["settings_json"])
    assert sent["db"] == f"sqlite:///{db}" and sent["scheduler_tick"] == 5.0
    assert sent["mqtt_url"] == "mqtt://ingest@127.0.0.1:1883" and sent["mqtt_password"] == "pw"
    assert sent["trusted_proxies"] == ["::1"]
    assert dict(os.environ) == before  # the variable is gone afterwards; no PEERGRID_DB etc. were set
    assert db.exists()  # migrated once by the parent


def test_a_worker_builds_its_app_from_that_variable(tmp_path, monkeypatch):
    from peergrid.service.app import app_from_env
    from peergrid.service.settings import load_settings

    s = load_settings(environ={}, db=str(tmp_path / "w.db"), scheduler_tick=0, fast_auth=True, hsts_s=60)
    monkeypatch.setenv(SETTINGS_ENV, s.to_json())
    monkeypatch.setenv("PEERGRID_DB", str(tmp_path / "other.db"))  # ignored: the JSON is the whole truth
    worker = app_from_env()
    assert worker.state.settings == s and worker.state.web.hsts_max_age_s == 60
    assert str(worker.state.engine.url) == f"sqlite:///{tmp_path / 'w.db'}"
    assert not (tmp_path / "other.db").exists()
