"""Issue 15, "a broker nobody anonymous can use": authentication, per-meter ACL, TLS, provisioning.

Findings fixed here:

* "Meter tokens can be read off the broker": the broker accepted anonymous clients, so anyone
  could subscribe to ``peergrid/#``, read every meter's token and publish forged readings.
  Now every client authenticates (meters: user = serial, password = the meter's MQTT
  password), a meter may publish on its own topic only and read nothing.
* "Ingestor session hijack": an anonymous client connected with the ingestor's client id and
  took over its persistent session. Anonymous clients are refused now, and on the TLS
  listener (the one meters reach) a client's id is its user name.

Everything runs against real Mosquitto 2 processes (private brokers on free ports) and the
local broker of scripts/services.sh.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")

from mqtt_support import LOCAL_BROKER, MOSQUITTO, Broker, local_ca, local_urls, port_open, wait_for

from peergrid.core.errors import ConfigError
from peergrid.service import broker
from peergrid.service.mqtt.publisher import Publisher
from peergrid.service.mqtt.url import BrokerURL
from peergrid.service.mqtt.wire import Client, MQTTError
from peergrid.service.settings import load_mqtt_settings

REPO = Path(__file__).resolve().parents[2]
M1, M2, M3 = (1, "M1"), (1, "M2"), (2, "M3")
PASSWORDS = {M1: "m1-password", M2: "m2-password", M3: "m3-password"}

@pytest.fixture
def secure(tmp_path: Path) -> Iterator[Broker]:
    """A private broker with authentication, ACL and a TLS listener; meters M1, M2 (community 1), M3 (community 2)."""
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip(f"{MOSQUITTO} not installed (scripts/services.sh installs it)")
    b = Broker(tmp_path, secure=True, tls=True, meters=dict(PASSWORDS))
    b.start()
    try:
        yield b
    finally:
        b.stop()


class Sub:
    """A subscriber that records what reaches it (and acknowledges QoS 1)."""

    def __init__(self, b: BrokerURL, client_id: str, flt: str = "#", **kw: object) -> None:
        self.got: list[tuple[bytes, bytes]] = []
        self.client = Client(b.host, b.port, client_id, **b.client_kwargs(), subscriptions=[(flt, 1)],
                             on_messages=self._on, **kw)

    def _on(self, msgs, gen) -> None:
        self.got.extend((t, p) for t, p, _, _ in msgs)
        self.client.ack([m for _, _, m, q in msgs if q], gen)

    def __enter__(self) -> Sub:
        self.client.connect(5)
        assert self.client.connected.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop()

    def payloads(self) -> set[bytes]:
        return {p for _, p in self.got}


def meter_url(b: Broker, key: tuple[int, str], tls: bool = False, password: str | None = None) -> str:
    return b.url_for(key[1], PASSWORDS[key] if password is None else password, tls=tls)


def topic(key: tuple[int, str]) -> str:
    return f"peergrid/{key[0]}/{key[1]}/reading"


def connect(url: str, client_id: str = "probe", **kw: object) -> Client:
    b = BrokerURL.parse(url)
    return Client(b.host, b.port, client_id, **b.client_kwargs(), **kw).connect(5)


# --------------------------------------------------------------------------- authentication


def test_anonymous_clients_are_refused(secure: Broker):
    for url in (f"mqtt://127.0.0.1:{secure.port}", f"mqtts://127.0.0.1:{secure.tls_port}?ca={secure.ca_file}"):
        with pytest.raises(MQTTError, match="not authorized"):
            connect(url)


def test_wrong_or_unknown_credentials_are_refused(secure: Broker):
    for url in (meter_url(secure, M1, password="guess"),                       # wrong password
                secure.url_for("M1", PASSWORDS[M2]),                           # another meter's password
                secure.url_for(broker.INGEST_USER, PASSWORDS[M1]),             # a meter's password for a service
                secure.url_for("GHOST", "whatever")):                          # no such user
        with pytest.raises(MQTTError, match=r"not authorized|bad user name or password"):
            connect(url)
    connect(meter_url(secure, M1)).stop()  # the right one works


def test_local_broker_refuses_anonymous_clients():
    """The broker of scripts/services.sh (was: allow_anonymous true) on 1883 and 8883."""
    if not port_open(*LOCAL_BROKER):
        pytest.skip("no MQTT broker on 127.0.0.1:1883 (scripts/services.sh starts Mosquitto)")
    with pytest.raises(MQTTError, match="not authorized"):
        connect("mqtt://127.0.0.1:1883")
    if local_ca().exists():
        with pytest.raises(MQTTError, match="not authorized"):
            connect(f"mqtts://127.0.0.1:8883?ca={local_ca()}")


# --------------------------------------------------------------------------- ACL


def test_meters_and_eavesdroppers_receive_nothing(secure: Broker):
    """Subscribing to peergrid/# or # as a meter or the gateway: nothing is delivered (it used to reveal tokens)."""
    with Sub(BrokerURL.parse(secure.ingest_url), "ingest", "peergrid/+/+/reading") as ing, \
            Sub(BrokerURL.parse(meter_url(secure, M1)), "spy-m1", "peergrid/#") as spy1, \
            Sub(BrokerURL.parse(meter_url(secure, M2)), "spy-m2", "#") as spy2, \
            Sub(BrokerURL.parse(secure.gateway_url), "spy-gw", "peergrid/+/+/reading") as spy3:
        pub = Publisher(meter_url(secure, M1)).connect()
        pub.publish(topic(M1), b"m1 reading")
        assert pub.flush(5)
        pub.close()
        gw = Publisher(secure.gateway_url).connect()
        gw.publish(topic(M2), b"gateway reading")
        assert gw.flush(5)
        gw.close()
        assert wait_for(lambda: ing.payloads() == {b"m1 reading", b"gateway reading"}, 5), ing.got
        time.sleep(0.3)
        assert spy1.got == spy2.got == spy3.got == []


def test_a_meter_publishes_only_on_its_own_topic(secure: Broker):
    """M1 on M2's topic, on its own serial in another community, elsewhere: dropped by the broker (PUBACK 0x87)."""
    with Sub(BrokerURL.parse(secure.ingest_url), "ingest", "peergrid/+/+/reading") as ing:
        pub = Publisher(meter_url(secure, M1)).connect()
        pub.publish(topic(M2), b"forged for M2")
        pub.publish(topic(M3), b"forged for M3")
        pub.publish("peergrid/2/M1/reading", b"M1 in community 2")
        pub.publish("peergrid/1/M1/other", b"other topic")
        pub.publish(topic(M1), b"own")
        assert pub.flush(5)
        assert pub.client.refused == 4 and pub.client.last_refusal == 0x87
        pub.close()
        assert wait_for(lambda: ing.payloads() == {b"own"}, 5)
        time.sleep(0.3)
        assert ing.got == [(topic(M1).encode(), b"own")]


def test_the_ingest_user_cannot_publish_readings(secure: Broker):
    with Sub(BrokerURL.parse(secure.ingest_url), "ingest", "peergrid/+/+/reading") as ing:
        pub = Publisher(secure.ingest_url).connect()
        pub.publish(topic(M1), b"from the ingest user")
        assert pub.flush(5)
        assert pub.client.refused == 1
        pub.close()
        time.sleep(0.3)
        assert ing.got == []


def test_shared_subscriptions_of_the_ingest_user_are_allowed(secure: Broker):
    """$share/<group>/peergrid/+/+/reading (several ingestors) is covered by the ingest user's read ACL."""
    with Sub(BrokerURL.parse(secure.ingest_url), "ingest-a", "$share/g/peergrid/+/+/reading") as a, \
            Sub(BrokerURL.parse(secure.ingest_url), "ingest-b", "$share/g/peergrid/+/+/reading") as b:
        gw = Publisher(secure.gateway_url).connect()
        gw.publish_many([(topic(M1), f"r{i}") for i in range(20)])
        assert gw.flush(5) and gw.client.refused == 0
        gw.close()
        assert wait_for(lambda: len(a.got) + len(b.got) == 20, 5)


# --------------------------------------------------------------------------- session takeover


def test_nobody_without_the_ingest_credentials_takes_the_ingestor_session(secure: Broker):
    """Anonymous: refused. A meter on the TLS listener: its client id is replaced by its user name, so the
    ingestor's persistent session and its queued readings stay untouched."""
    ingest_id = "peergrid-ingest-0123456789abcdef01234567"
    ing = Sub(BrokerURL.parse(secure.ingest_url), ingest_id, "peergrid/+/+/reading", clean_start=False,
              session_expiry_s=300)
    with ing:
        pass  # subscribed; the session stays while the ingestor is away
    gw = Publisher(secure.gateway_url).connect()
    gw.publish_many([(topic(M1), f"queued {i}") for i in range(5)])
    assert gw.flush(5)
    gw.close()
    with pytest.raises(MQTTError, match="not authorized"):  # the hijack of the finding
        connect(f"mqtt://127.0.0.1:{secure.port}", ingest_id, clean_start=False, session_expiry_s=300)
    thief = connect(meter_url(secure, M2, tls=True), ingest_id, clean_start=False, session_expiry_s=300)
    assert thief.session is not None and not thief.session.session_present  # a session of its own ("M2")
    thief.stop()
    again = Sub(BrokerURL.parse(secure.ingest_url), ingest_id, "peergrid/+/+/reading", clean_start=False,
                session_expiry_s=300)
    with again:
        assert again.client.session is not None and again.client.session.session_present
        assert wait_for(lambda: len(again.got) == 5, 5), again.got  # nothing was lost


# --------------------------------------------------------------------------- TLS


def test_tls_end_to_end_meter_to_database(secure: Broker, tmp_path: Path):
    """A meter publishes a signed reading over mqtts:// with its own credentials; the ingestor (mqtts://) stores it."""
    from mqtt_support import NOW, Site

    from peergrid.service.mqtt.credentials import reading_payload
    from peergrid.service.mqtt.ingest import Ingestor

    site = Site(f"sqlite:///{tmp_path / 'tls.db'}", n=2)
    try:
        cid = site.community.id
        secure.provision({(cid, s): pw for s, pw in site.tokens.items()})
        ing_url = secure.url_for(broker.INGEST_USER, tls=True)
        assert ing_url.startswith("mqtts://") and "ca=" in ing_url
        with Ingestor(site.factory, ing_url, clock=site.clock, session_expiry_s=30) as ing:
            assert ing.wait_connected(10)
            pub = Publisher(secure.url_for("M0001", site.tokens["M0001"], tls=True)).connect()
            ts = NOW - dt.timedelta(minutes=15)
            payload = reading_payload(site.keys["M0001"], cid, "M0001", ts, 321, 0, None, 1)
            pub.publish(f"peergrid/{cid}/M0001/reading", json.dumps(payload))
            assert pub.flush(5) and pub.client.refused == 0
            pub.close()
            assert wait_for(lambda: site.count() == 1, 10), ing.stats.as_dict()
        assert site.rows()[0][2] == 321
    finally:
        site.app.state.engine.dispose()


def test_tls_batches_arrive_whole(secure: Broker):
    """Thousands of QoS 1 messages over TLS: partial TLS records, drained reads, acknowledgements in batches."""
    n = 5000
    with Sub(BrokerURL.parse(secure.url_for(broker.INGEST_USER, tls=True)), "ingest", "peergrid/+/+/reading",
             receive_maximum=1000) as ing:
        gw = Publisher(secure.url_for(broker.GATEWAY_USER, tls=True)).connect()
        gw.publish_many([(topic(M1 if i % 2 else M2), f"{i:05d}" + "x" * (i % 700)) for i in range(n)])
        assert gw.flush(20)
        gw.close()
        assert wait_for(lambda: len(ing.got) == n, 20), len(ing.got)
    assert sorted(p[:5] for _, p in ing.got) == [f"{i:05d}".encode() for i in range(n)]


def test_tls_with_the_wrong_ca_fails_with_a_clear_error(secure: Broker, tmp_path: Path):
    other = broker.generate_certificates(tmp_path / "other", hosts=["127.0.0.1"])
    url = f"mqtts://{broker.GATEWAY_USER}:{secure.credentials[broker.GATEWAY_USER]}@127.0.0.1:{secure.tls_port}"
    with pytest.raises(ConfigError, match=r"certificate of 127\.0\.0\.1:[0-9]+ is not trusted.*ca=") as exc:
        Publisher(f"{url}?ca={other.cafile}").connect(5)
    assert secure.credentials[broker.GATEWAY_USER] not in str(exc.value)
    with pytest.raises(ConfigError, match=r"TLS handshake .* failed"):  # mqtts:// to the plain listener
        Publisher(f"mqtts://u:p@127.0.0.1:{secure.port}?ca={secure.ca_file}").connect(5)
    # the certificate names 127.0.0.1 and localhost: both verify
    Publisher(f"mqtts://{broker.GATEWAY_USER}:{secure.credentials[broker.GATEWAY_USER]}@localhost:{secure.tls_port}"
              f"?ca={secure.ca_file}").connect(5).close()


def test_local_broker_tls_round_trip():
    """scripts/services.sh: 127.0.0.1:8883 with the certificate of its local CA."""
    urls = local_urls()
    if isinstance(urls, str) or not local_ca().exists():
        pytest.skip(urls if isinstance(urls, str) else f"{local_ca()} missing")
    gw_tls = urls[1].replace("mqtt://", "mqtts://").replace(":1883", f":8883?ca={local_ca()}")
    pub = Publisher(gw_tls).connect(5)
    pub.publish("peergrid/999999999/TLS-PROBE/reading", b"{}")
    assert pub.flush(5) and pub.client.refused == 0
    pub.close()


# --------------------------------------------------------------------------- URLs


def test_broker_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    b = BrokerURL.parse(f"mqtts://gw:p%40ss%3Aw@example.org?ca={ca}")
    assert (b.host, b.port, b.username, b.password, b.tls, b.ca_file) == ("example.org", 8883, "gw", "p@ss:w", True,
                                                                          str(ca))
    assert BrokerURL.parse("mqtt://h").port == 1883 and not BrokerURL.parse("mqtt://h").tls
    assert "p@ss" not in repr(b)
    monkeypatch.setenv("PEERGRID_MQTT_CA", str(ca))
    monkeypatch.setenv("PEERGRID_MQTT_PASSWORD", "from-env")
    assert BrokerURL.parse("mqtts://peergrid-ingest@h:1234").password is None  # the parser reads no environment
    b = load_mqtt_settings().broker("mqtts://peergrid-ingest@h:1234")  # the settings do
    assert (b.port, b.ca_file, b.password) == (1234, str(ca), "from-env")
    assert load_mqtt_settings().broker("mqtt://h").ca_file is None  # the CA variable is for mqtts:// only
    assert BrokerURL.parse("mqtt://u:in-url@h", password="other").password == "in-url"
    for bad, msg in [(f"mqtt://h?ca={ca}", "ca= needs mqtts://"),
                     ("mqtts://h?ca=/nonexistent/ca.crt", "does not exist"),
                     ("mqtts://h?cert=x", "only query parameter"), ("http://u:secret@h", "scheme must be")]:
        with pytest.raises(ConfigError, match=msg) as exc:
            BrokerURL.parse(bad)
        assert "secret" not in str(exc.value)
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        BrokerURL.parse(f"mqtts://h?ca={ca}").client_kwargs()
    ctx = BrokerURL.parse("mqtts://h").ssl_context()  # the system's CAs; certificate and host name checked
    assert ctx is not None and ctx.verify_mode.name == "CERT_REQUIRED" and ctx.check_hostname


# --------------------------------------------------------------------------- files


def test_password_hashes_match_mosquitto_passwd(tmp_path: Path):
    tool = "/usr/bin/mosquitto_passwd"
    if not os.access(tool, os.X_OK):
        pytest.skip("mosquitto_passwd not installed")
    f = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(f), "alice", "s3cret:with$signs"], check=True, capture_output=True)
    user, hashed = f.read_text().strip().split(":", 1)
    assert user == "alice" and hashed.startswith(f"$7${broker.PBKDF2_ITERATIONS}$")
    assert broker.check_password(hashed, "s3cret:with$signs") and not broker.check_password(hashed, "s3cret")
    ours = broker.hash_password("s3cret:with$signs")
    assert [len(x) for x in ours.split("$")] == [len(x) for x in hashed.split("$")]  # same salt and hash sizes


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_password_hash_round_trip(password: str, other: str):
    h = broker.hash_password(password, iterations=2)
    assert broker.check_password(h, password)
    assert broker.check_password(h, other) == (other == password)


@given(st.text(min_size=1, max_size=30))
def test_user_names_never_carry_wildcards_or_separators(name: str):
    """Whatever a serial is, a name that passes can't widen an ACL topic or break a passwd/ACL line."""
    try:
        broker.check_username(name)
    except ConfigError:
        return
    assert not set(name) & set("+#/: \t\r\n\0$")


def test_acl_file_pins_each_meter_to_its_topic():
    text = broker.acl_file([M1, M3])
    lines = [x for x in text.splitlines() if x and not x.startswith("#")]
    assert lines == ["user peergrid-ingest", "topic read peergrid/+/+/reading",
                     "user peergrid-gateway", "topic write peergrid/+/+/reading",
                     "user M1", "topic write peergrid/1/M1/reading", "user M3", "topic write peergrid/2/M3/reading"]
    for bad in ("a+b", "#", "x/y", "a:b", "a b", ""):
        with pytest.raises(ConfigError, match="cannot be an MQTT user name"):
            broker.acl_file([(1, bad)])


def test_mosquitto_accepts_the_files_we_write(secure: Broker):
    """The private broker runs on passwd and acl of peergrid.service.broker: every user logs in with its password."""
    for key in PASSWORDS:
        connect(meter_url(secure, key)).stop()
    connect(secure.ingest_url).stop()
    connect(secure.gateway_url).stop()
    conf = secure.conf.read_text()
    assert "allow_anonymous false" in conf and "per_listener_settings false" in conf
    assert "use_username_as_clientid true" in conf.split(f"listener {secure.tls_port}")[1]


def test_write_private_is_0600_and_atomic(tmp_path: Path):
    p = tmp_path / "f"
    p.write_text("old")
    p.chmod(0o644)
    broker.write_private(p, "new")
    assert p.read_text() == "new" and stat.S_IMODE(p.stat().st_mode) == 0o600
    assert [x.name for x in tmp_path.iterdir()] == ["f"]  # no temporary file left


# --------------------------------------------------------------------------- provisioning CLI


def _db_with_meters(tmp_path: Path, serials: list[str]) -> tuple[str, int]:
    from mqtt_support import Site

    from peergrid.service import directory

    url = f"sqlite:///{tmp_path / 'prov.db'}"
    site = Site(url, n=0)
    with site.factory() as s, s.begin():
        for serial in serials:
            directory.add_meter(s, site.community.id, site.user.id, serial)
    site.app.state.engine.dispose()
    return url, site.community.id


def test_provision_cli_writes_0600_files_and_keeps_service_passwords(tmp_path: Path):
    from typer.testing import CliRunner

    from peergrid.cli.main import app
    from peergrid.service.db import make_engine, session_factory
    from peergrid.service.mqtt.credentials import meter_secret, meter_token

    url, cid = _db_with_meters(tmp_path, ["M-01", "M-02", "peergrid-gateway", "bad+serial"])
    out = tmp_path / "broker"
    runner = CliRunner()
    res = runner.invoke(app, ["meters", "provision", "--db", url, "--dir", str(out), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["meters"] == 2 and sorted(body["skipped"]) == ["bad+serial", "peergrid-gateway"]
    for name in ("passwd", "acl", "service-credentials.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    engine = make_engine(url)
    with session_factory(engine)() as s:
        secret = meter_secret(s, create=False)
    engine.dispose()
    hashes = dict(line.split(":", 1) for line in (out / "passwd").read_text().splitlines())
    assert sorted(hashes) == ["M-01", "M-02", "peergrid-gateway", "peergrid-ingest"]
    assert broker.check_password(hashes["M-02"], meter_token(secret, cid, "M-02"))
    creds = json.loads((out / "service-credentials.json").read_text())
    assert broker.check_password(hashes["peergrid-gateway"], creds["peergrid-gateway"])
    assert f"topic write peergrid/{cid}/M-01/reading" in (out / "acl").read_text()
    assert "peergrid-gateway\ntopic write peergrid/1/" not in (out / "acl").read_text()  # the meter was skipped
    # a second run keeps the service passwords (the ingestor's configuration stays valid)
    tls = broker.generate_certificates(tmp_path / "tls")
    res = runner.invoke(app, ["meters", "provision", "--db", url, "--dir", str(out), "--community", str(cid),
                              "--tls", str(tmp_path / "tls"), "--listen", "0.0.0.0"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "service-credentials.json").read_text()) == creds
    assert "mosquitto -c" in res.stdout
    conf = (out / "mosquitto.conf").read_text()  # passwords cross the plain listener in clear: loopback only
    assert "listener 1883 127.0.0.1\n" in conf and f"listener 8883 0.0.0.0\ncafile {tls.cafile}\n" in conf
    # errors: one line, exit 2
    for args, msg in [(["--community", "999"], "community 999 not found"), (["--reload"], "--reload needs --pid-file"),
                      (["--pid-file", str(tmp_path / "none.pid"), "--reload"], "does not exist"),
                      (["--tls", str(tmp_path)], "ca.crt is missing")]:
        res = runner.invoke(app, ["meters", "provision", "--db", url, "--dir", str(out), *args])
        assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output, res.output


def test_provision_reload_lets_a_new_meter_in(secure: Broker, tmp_path: Path):
    """Meters registered after the broker started connect once `provision --reload` has SIGHUPped it."""
    from typer.testing import CliRunner

    from peergrid.cli.main import app
    from peergrid.service.db import make_engine, session_factory
    from peergrid.service.mqtt.credentials import meter_secret, meter_token

    url, cid = _db_with_meters(tmp_path, ["NEW-1"])
    engine = make_engine(url)
    with session_factory(engine)() as s, s.begin():
        password = meter_token(meter_secret(s), cid, "NEW-1")
    engine.dispose()
    new = secure.url_for("NEW-1", password)
    with pytest.raises(MQTTError, match="not authorized"):
        connect(new)
    auth = secure.dir / "auth"
    res = CliRunner().invoke(app, ["meters", "provision", "--db", url, "--dir", str(auth), "--pid-file",
                                   str(secure.pid_file), "--reload"])
    assert res.exit_code == 0 and "reloaded" in res.stdout, res.output

    def works() -> bool:
        try:
            connect(new).stop()
        except MQTTError:
            return False
        return True

    assert wait_for(works, 5)
    connect(secure.gateway_url).stop()  # service passwords unchanged


# --------------------------------------------------------------------------- scripts/services.sh


def test_services_sh_is_idempotent():
    """A second run changes no file, keeps the credentials and the running broker."""
    if os.geteuid() != 0:
        pytest.skip("scripts/services.sh configures the system broker as root")
    d = broker.LOCAL_DIR
    if not (d / broker.CREDENTIALS_FILE).exists() or not port_open(*LOCAL_BROKER):
        pytest.skip("scripts/services.sh has not run")

    def snapshot() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}

    pid = Path("/run/peergrid-mosquitto/mosquitto.pid").read_text()
    before = snapshot()
    proc = subprocess.run(["sh", str(REPO / "scripts" / "services.sh")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert snapshot() == before
    assert Path("/run/peergrid-mosquitto/mosquitto.pid").read_text() == pid
    assert stat.S_IMODE((d / broker.CREDENTIALS_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "ca.crt").stat().st_mode) == 0o644


def test_services_sh_replaces_an_anonymous_broker_idempotently():
    """scripts/services.sh where an anonymous broker listens (as the script used to start it): the broker is
    replaced by a secured one (password, ACL, TLS); a second run changes nothing. On free ports and a
    directory of its own (PEERGRID_MQTT_*), so the local broker of the other tests is not touched."""
    import shutil
    import tempfile

    from mqtt_support import free_port

    if os.geteuid() != 0:
        pytest.skip("scripts/services.sh configures the broker as root")
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip(f"{MOSQUITTO} not installed")
    base = Path(tempfile.mkdtemp(prefix="pg-services-"))
    base.chmod(0o755)  # Mosquitto reads its files as user mosquitto
    (base / "old").mkdir()
    old = Broker(base / "old")
    old.start()
    env = {**os.environ, "PEERGRID_MQTT_DIR": str(base / "mq"), "PEERGRID_MQTT_RUN": str(base / "run"),
           "PEERGRID_MQTT_PORT": str(old.port), "PEERGRID_MQTT_TLS_PORT": str(free_port())}
    mq = base / "mq"

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(REPO / "scripts" / "services.sh")], env=env, capture_output=True, text=True,
                              timeout=300)

    def snapshot() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(mq.iterdir()) if p.is_file()}

    try:
        connect(old.url).stop()  # anonymous: welcome (the finding)
        proc = run()
        assert proc.returncode == 0, proc.stderr
        assert "lets anonymous clients in: replacing it" in proc.stderr
        assert old.proc is not None and old.proc.wait(5) is not None  # the anonymous broker is gone
        with pytest.raises(MQTTError, match="not authorized"):
            connect(old.url)
        creds = broker.load_service_credentials(mq / broker.CREDENTIALS_FILE)
        gw = broker.broker_url(broker.GATEWAY_USER, creds[broker.GATEWAY_USER], port=old.port)
        connect(gw).stop()
        tls = gw.replace("mqtt://", "mqtts://").replace(f":{old.port}", f":{env['PEERGRID_MQTT_TLS_PORT']}"
                                                       f"?ca={mq / 'ca.crt'}")
        connect(tls).stop()
        assert stat.S_IMODE((mq / broker.CREDENTIALS_FILE).stat().st_mode) == 0o600
        assert stat.S_IMODE((mq / "ca.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((mq / "server.key").stat().st_mode) == 0o600
        pid, before = (base / "run" / "mosquitto.pid").read_text(), snapshot()
        proc = run()  # idempotent: same files, same credentials, same broker process
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        assert snapshot() == before and (base / "run" / "mosquitto.pid").read_text() == pid
    finally:
        old.stop()
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((base / "run" / "mosquitto.pid").read_text()), 15)
        shutil.rmtree(base, ignore_errors=True)
