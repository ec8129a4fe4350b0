"""peergrid.service.settings: one validated settings model, one-line errors, explicit hand-over to workers."""

from __future__ import annotations

import doctest
import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

import peergrid.service.settings as settings_module
from peergrid.core.errors import ConfigError
from peergrid.service.app import app_from_env, create_app
from peergrid.service.auth import FAST_AUTH, AuthSettings
from peergrid.service.settings import (
    SETTINGS_ENV,
    ServiceSettings,
    default_settings,
    load_mqtt_settings,
    load_settings,
    settings_from_env,
    settings_table,
    worker_environment,
)
from peergrid.service.web import WebSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "service.md"


# --------------------------------------------------------------------------- bad values: one line naming the variable

BAD = [
    ("PEERGRID_SCHEDULER_TICK", "fast", "valid number"),
    ("PEERGRID_SCHEDULER_TICK", "0.1", "0 (off) or 0.5..86400 s"),
    ("PEERGRID_SCHEDULER_TICK", "-5", "0 (off)"),
    ("PEERGRID_FAST_AUTH", "maybe", "valid boolean"),
    ("PEERGRID_TOKEN_TTL_S", "5", "60..2592000"),
    ("PEERGRID_TOKEN_TTL_S", "1h", "valid integer"),
    ("PEERGRID_COOKIE_SECURE", "sometimes", "valid boolean"),
    ("PEERGRID_TRUSTED_PROXIES", "10.0.0.1, proxy.example.org", "'proxy.example.org' is not an IP address"),
    ("PEERGRID_TRUSTED_ORIGINS", "https://ok.example.org,ftp://x", "'ftp://x' is not scheme://host"),
    ("PEERGRID_MAX_BODY", "0", "1..2147483648 bytes"),
    ("PEERGRID_MAX_BODY", "1MB", "valid integer"),
    ("PEERGRID_MAX_READINGS_BODY", "-1", "1..2147483648 bytes"),
    ("PEERGRID_HSTS_S", "-1", "0..63072000"),
    ("PEERGRID_FAULT_PAUSE_S", "1e9", "0..3600"),
    ("PEERGRID_DB", "mysql://root:hunter2@db/x", "unsupported database 'mysql'"),
    ("PEERGRID_MQTT_URL", "http://gw:hunter2@broker", "scheme must be mqtt:// or mqtts://"),
    ("PEERGRID_MQTT_URL", "mqtt://gw:hunter2@broker:99999", "bad port"),
]


@pytest.mark.parametrize(("var", "value", "problem"), BAD)
def test_a_bad_value_is_one_line_naming_the_variable(var, value, problem):
    with pytest.raises(ConfigError) as exc:
        load_settings(environ={var: value})
    msg = str(exc.value)
    assert msg.startswith(f"setting {var}: ") and problem in msg, msg
    assert "\n" not in msg and "hunter2" not in msg  # one line, never a password
    assert "pydantic" not in msg and "errors.pydantic.dev" not in msg


def test_a_bad_ca_file_names_the_broker_and_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^setting PEERGRID_MQTT_URL: .*CA file /nonexistent/ca.crt does not exist$"):
        load_settings(environ={"PEERGRID_MQTT_URL": "mqtts://ingest@broker", "PEERGRID_MQTT_CA": "/nonexistent/ca.crt"})


def test_command_line_names_and_unknown_settings():
    with pytest.raises(ConfigError, match=r"^setting --tick \(PEERGRID_SCHEDULER_TICK\): must be 0 \(off\)"):
        load_settings(environ={}, options={"scheduler_tick": "--tick"}, scheduler_tick=0.2)
    with pytest.raises(ConfigError, match=r"^unknown setting 'tick'$"):
        load_settings(environ={}, tick=5)


def test_module_examples():
    assert doctest.testmod(settings_module, raise_on_error=False).failed == 0


# --------------------------------------------------------------------------- the variables users set today


def test_the_variables_of_today_keep_working(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    env = {
        "PEERGRID_DB": str(tmp_path / "x.db"),
        "PEERGRID_SCHEDULER_TICK": "0",
        "PEERGRID_FAST_AUTH": "1",
        "PEERGRID_TRUSTED_PROXIES": " 10.0.0.0/8 ,127.0.0.1,",
        "PEERGRID_TRUSTED_ORIGINS": "https://public.example.org, http://localhost:8080",
        "PEERGRID_MAX_BODY": "2048",
        "PEERGRID_MAX_READINGS_BODY": "4096",
        "PEERGRID_HSTS_S": "31536000",
        "PEERGRID_MQTT_URL": "mqtts://peergrid-ingest@broker.example.org",
        "PEERGRID_MQTT_CA": str(ca),
        "PEERGRID_MQTT_PASSWORD": "from-env",
        "PEERGRID_FAULT_PAUSE_FILE": str(tmp_path / "paused"),
        "PEERGRID_FAULT_PAUSE_S": "120",
        "PEERGRID_UNRELATED": "ignored",
    }
    s = load_settings(environ=env)
    assert s.database_url == f"sqlite:///{tmp_path / 'x.db'}"
    assert not s.scheduler_enabled
    assert s.auth() == AuthSettings(argon2_time_cost=FAST_AUTH.argon2_time_cost,
                                    argon2_memory_kib=FAST_AUTH.argon2_memory_kib,
                                    trusted_proxies=("10.0.0.0/8", "127.0.0.1"))
    web = s.web()
    assert web == WebSettings(max_body_bytes=2048,
                              route_body_limits=((WebSettings.route_body_limits[0][0], 4096),
                                                 *WebSettings.route_body_limits[1:]),
                              trusted_origins=("https://public.example.org", "http://localhost:8080"),
                              hsts_max_age_s=31536000)
    assert web.body_limit("/api/communities/1/readings") == 4096 and web.body_limit("/api/x") == 2048
    b = s.broker()
    assert (b.host, b.port, b.username, b.password, b.tls, b.ca_file) == (
        "broker.example.org", 8883, "peergrid-ingest", "from-env", True, str(ca))
    assert (s.fault_pause_file, s.fault_pause_s) == (str(tmp_path / "paused"), 120.0)
    # the simulator's broker settings read the same three variables, nothing else
    m = load_mqtt_settings(environ={**env, "PEERGRID_MAX_BODY": "not checked here"})
    assert m.broker("mqtt://gw@h:1884").password == "from-env" and m.broker().ca_file == str(ca)
    assert "from-env" not in repr(s) and "from-env" not in repr(m)


def test_defaults_equal_the_parts_defaults_and_empty_variables_are_unset():
    s = load_settings(environ={"PEERGRID_TRUSTED_PROXIES": "", "PEERGRID_SCHEDULER_TICK": ""})
    assert s == default_settings()
    assert s.auth() == AuthSettings() and s.web() == WebSettings() and s.broker() is None
    assert s.database_url == "sqlite:///peergrid.db" and s.scheduler_tick == 10.0 and s.scheduler_enabled


def test_arguments_beat_the_environment_and_none_is_not_an_argument():
    env = {"PEERGRID_SCHEDULER_TICK": "30", "PEERGRID_DB": "a.db"}
    s = load_settings(environ=env, scheduler_tick=2, db=None, trusted_proxies=["::1", " 10.1.0.0/16"])
    assert (s.scheduler_tick, s.database_url, s.trusted_proxies) == (2.0, "sqlite:///a.db", ("::1", "10.1.0.0/16"))


def test_the_process_environment_is_read_unless_one_is_given(monkeypatch):
    monkeypatch.setenv("PEERGRID_HSTS_S", "60")
    assert load_settings().hsts_s == 60
    assert load_settings(environ={}).hsts_s == 0
    assert default_settings().hsts_s == 0


# --------------------------------------------------------------------------- hand-over to server workers


def test_workers_get_the_validated_settings_in_one_variable(monkeypatch):
    s = load_settings(environ={"PEERGRID_MQTT_URL": "mqtt://ingest@h", "PEERGRID_MQTT_PASSWORD": "pw",
                               "PEERGRID_SCHEDULER_TICK": "0.5", "PEERGRID_TRUSTED_PROXIES": "127.0.0.1"})
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    monkeypatch.setenv("PEERGRID_HSTS_S", "not a number")  # ignored: the JSON holds every setting
    with worker_environment(s):
        got = settings_from_env()
        assert json.loads(os.environ[SETTINGS_ENV])["mqtt_password"] == "pw"
    assert got == s and got.broker().password == "pw"
    assert SETTINGS_ENV not in os.environ  # removed when the server stops


def test_bad_worker_json_is_one_line():
    with pytest.raises(ConfigError, match=f"^{SETTINGS_ENV}: setting PEERGRID_MAX_BODY: ") as exc:
        settings_from_env({SETTINGS_ENV: json.dumps({"max_body": 0})})
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match=f"^{SETTINGS_ENV}: "):
        settings_from_env({SETTINGS_ENV: "{not json"})


@settings(max_examples=40, deadline=None)
@given(tick=st.one_of(st.just(0.0), st.floats(0.5, 86400)), ttl=st.integers(60, 30 * 86400),
       proxies=st.lists(st.sampled_from(["127.0.0.1", "10.0.0.0/8", "::1", "192.168.1.0/24"]), max_size=3),
       password=st.one_of(st.none(), st.text(min_size=1, max_size=20)), secure=st.booleans())
def test_json_round_trip_is_exact(tick, ttl, proxies, password, secure):
    s = load_settings(environ={}, scheduler_tick=tick, token_ttl_s=ttl, trusted_proxies=proxies,
                      mqtt_password=password, cookie_secure=secure)
    assert settings_from_env({SETTINGS_ENV: s.to_json()}) == s


# --------------------------------------------------------------------------- the app takes them explicitly


def test_create_app_takes_the_settings_and_reads_no_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERGRID_MAX_BODY", "10")  # create_app() without settings: defaults, not the environment
    monkeypatch.setenv("PEERGRID_TOKEN_TTL_S", "120")
    app = create_app(f"sqlite:///{tmp_path / 'a.db'}", auth=FAST_AUTH, extensions=())
    assert app.state.web == WebSettings() and app.state.auth.token_ttl_s == 3600
    assert app.state.settings == default_settings()
    with TestClient(app):
        assert app.state.scheduler is None  # without settings: no scheduler, as before
    s = load_settings(environ={}, db=str(tmp_path / "b.db"), token_ttl_s=600, cookie_secure=True, max_body=4096,
                      fast_auth=True, scheduler_tick=0)
    app = create_app(settings=s, extensions=())
    assert app.state.settings is s and app.state.auth.token_ttl_s == 600 and app.state.auth.cookie_secure
    assert app.state.auth.argon2_memory_kib == FAST_AUTH.argon2_memory_kib and app.state.web.max_body_bytes == 4096
    assert str(app.state.engine.url) == f"sqlite:///{tmp_path / 'b.db'}" and (tmp_path / "b.db").exists()
    with TestClient(app):
        assert app.state.scheduler is None  # scheduler_tick 0
    app = create_app(settings=load_settings(environ={}, db=str(tmp_path / "b.db"), scheduler_tick=30), extensions=())
    with TestClient(app):
        assert app.state.scheduler is not None and app.state.scheduler.period_s == 30


def test_app_from_env_reads_the_variables_of_today(tmp_path, monkeypatch):
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    for k, v in {"PEERGRID_DB": str(tmp_path / "w.db"), "PEERGRID_SCHEDULER_TICK": "0", "PEERGRID_FAST_AUTH": "1",
                 "PEERGRID_TRUSTED_PROXIES": "127.0.0.1"}.items():
        monkeypatch.setenv(k, v)
    app = app_from_env()
    assert str(app.state.engine.url) == f"sqlite:///{tmp_path / 'w.db'}"
    assert app.state.auth.trusted_proxies == ("127.0.0.1",) and app.state.auth.argon2_time_cost == 1
    monkeypatch.setenv("PEERGRID_SCHEDULER_TICK", "0.01")
    with pytest.raises(ConfigError, match=r"^setting PEERGRID_SCHEDULER_TICK: "):
        app_from_env()


# --------------------------------------------------------------------------- documentation


def test_docs_hold_the_settings_table():
    assert settings_table() in DOCS.read_text(), "docs/service.md: paste peergrid.service.settings.settings_table()"
    assert set(ServiceSettings.model_fields) == {line.split("`PEERGRID_")[1].split("`")[0].lower()
                                                 for line in settings_table().splitlines()[2:]}
