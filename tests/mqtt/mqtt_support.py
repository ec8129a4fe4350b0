"""Helpers of the MQTT and dashboard tests: brokers, a service site with meters, polling."""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"
LOCAL_BROKER = ("127.0.0.1", 1883)


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_urls() -> tuple[str, str] | str:
    """``(ingest URL, gateway URL)`` of the local Mosquitto of scripts/services.sh, or why there is none.

    Credentials come from ``$PEERGRID_MQTT_DIR`` (default /etc/peergrid/mosquitto)/service-credentials.json.
    """
    import os

    from peergrid.service import broker

    if not port_open(*LOCAL_BROKER):
        return "no MQTT broker on 127.0.0.1:1883 (scripts/services.sh starts Mosquitto)"
    path = Path(os.environ.get("PEERGRID_MQTT_DIR", str(broker.LOCAL_DIR))) / broker.CREDENTIALS_FILE
    try:
        creds = broker.load_service_credentials(path)
    except Exception as exc:  # missing or unreadable: the tests skip, saying why
        return f"local broker credentials: {exc}"
    host, port = LOCAL_BROKER
    return (broker.broker_url(broker.INGEST_USER, creds[broker.INGEST_USER], host=host, port=port),
            broker.broker_url(broker.GATEWAY_USER, creds[broker.GATEWAY_USER], host=host, port=port))


def local_ca() -> Path:
    """CA certificate of the local broker's TLS listener (127.0.0.1:8883)."""
    import os

    from peergrid.service import broker

    return Path(os.environ.get("PEERGRID_MQTT_DIR", str(broker.LOCAL_DIR))) / "ca.crt"


class Broker:
    """A private Mosquitto on a free port with persistence, restartable by tests.

    ``secure=True``: nobody anonymous; password file and ACL of :mod:`peergrid.service.broker`
    for ``meters`` ``{(community id, serial): password}`` and the service users
    (:attr:`ingest_url`, :attr:`gateway_url`); ``tls=True`` adds a TLS listener on
    :attr:`tls_port` with a fresh CA (:attr:`ca_file`) and ``use_username_as_clientid``.
    """

    def __init__(self, directory: Path, *, secure: bool = False, tls: bool = False,
                 meters: dict[tuple[int, str], str] | None = None) -> None:
        from peergrid.service import broker

        self.dir = directory
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = directory / "mosquitto.conf"
        self.secure = secure
        self.tls_port = free_port() if tls else None
        self.ca_file: Path | None = None
        self.pid_file = directory / "mosquitto.pid"
        extra = (
            f"user {getpass.getuser()}\n"  # do not drop to user mosquitto: it could not write the temp dir
            "persistence true\n"
            f"persistence_location {directory}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 0\n"
            f"log_dest file {directory}/mosquitto.log\n"
        )
        if not secure:
            self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n" + extra)
        else:
            auth = directory / "auth"
            self.provisioned = broker.provision(auth, meters or {})
            self.credentials = self.provisioned.service_credentials
            files = broker.generate_certificates(directory / "tls") if tls else None
            self.ca_file = files.cafile if files else None
            self.conf.write_text(broker.mosquitto_conf(auth, port=self.port, tls=files, tls_port=self.tls_port or 8883,
                                                       pid_file=self.pid_file, extra=extra))
            self.ingest_url = self.url_for(broker.INGEST_USER)
            self.gateway_url = self.url_for(broker.GATEWAY_USER)
        self.proc: subprocess.Popen | None = None

    def url_for(self, user: str, password: str | None = None, tls: bool = False) -> str:
        """URL of ``user`` (a service user's password is looked up), plain or over TLS with the CA."""
        from peergrid.service import broker

        pw = password if password is not None else self.credentials[user]
        if tls:
            assert self.tls_port is not None and self.ca_file is not None
            return broker.broker_url(user, pw, port=self.tls_port, ca_file=self.ca_file)
        return broker.broker_url(user, pw, port=self.port)

    def provision(self, meters: dict[tuple[int, str], str]) -> None:
        """Rewrite password file and ACL for ``meters`` (same service passwords) and reload the broker."""
        from peergrid.service import broker

        broker.provision(self.dir / "auth", meters, service_credentials=self.credentials)
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)  # Mosquitto reloads in its next loop iteration

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        end = time.time() + 10
        while not (port_open("127.0.0.1", self.port) and (self.tls_port is None or port_open("127.0.0.1",
                                                                                            self.tls_port))):
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto did not start: {(self.dir / 'mosquitto.log').read_text()[-500:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its persistence file (queued QoS 1 messages) and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


class Site:
    """A service app with one community, a prosumer and ``n`` meters M0000.., their MQTT passwords and signing keys."""

    def __init__(self, url: str, n: int = 20, extensions: tuple[str, ...] = ()) -> None:
        from peergrid.service import directory
        from peergrid.service.app import create_app
        from peergrid.service.auth import FAST_AUTH
        from peergrid.service.mqtt.credentials import meter_secret, meter_signing_key, meter_tokens
        from peergrid.service.testing import Clock, make_community, make_user

        self.clock = Clock(NOW)
        self.app = create_app(url, auth=FAST_AUTH, clock=self.clock, extensions=extensions)
        self.factory = self.app.state.sessions
        self.community = make_community(self.factory, mechanism="uniform", interval_minutes=15)
        self.user = make_user(self.factory, "prosumer", communities=[self.community.id])
        with self.factory() as s, s.begin():
            for i in range(n):
                directory.add_meter(s, self.community.id, self.user.id, f"M{i:04d}")
            self.tokens = meter_tokens(s, self.community.id)  # MQTT passwords
            self.secret = meter_secret(s)
        self.keys = {serial: meter_signing_key(self.secret, self.community.id, serial) for serial in self.tokens}

    def count(self) -> int:
        import sqlalchemy as sa

        from peergrid.service.models import Reading

        with self.factory() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(Reading))

    def rows(self) -> list[tuple[str, dt.datetime, int, int]]:
        import sqlalchemy as sa

        from peergrid.service.models import Meter, Reading

        with self.factory() as s:
            q = sa.select(Meter.serial, Reading.ts, Reading.import_wh, Reading.export_wh).join(Meter)
            return sorted(tuple(r) for r in s.execute(q))


def wait_for(pred, timeout: float = 10.0, step: float = 0.02) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def end_session(broker_url: str, client_id: str) -> None:
    """Delete a persistent MQTT session from the broker (connect clean with expiry 0, disconnect)."""
    from peergrid.service.mqtt.url import BrokerURL
    from peergrid.service.mqtt.wire import Client

    b = BrokerURL.parse(broker_url)
    Client(b.host, b.port, client_id, **b.client_kwargs(), clean_start=True, session_expiry_s=0).connect().stop()
