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


class Broker:
    """A private Mosquitto on a free port with persistence, restartable by tests."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"  # do not drop to user mosquitto: it could not write the temp dir
            "persistence true\n"
            f"persistence_location {directory}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 0\n"
            f"log_dest file {directory}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        end = time.time() + 10
        while not port_open("127.0.0.1", self.port):
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
    """A service app with one community, one prosumer and ``n`` meters M0000.., with tokens."""

    def __init__(self, url: str, n: int = 20, extensions: tuple[str, ...] = ()) -> None:
        from peergrid.service import directory
        from peergrid.service.app import create_app
        from peergrid.service.auth import FAST_AUTH
        from peergrid.service.mqtt import meter_tokens
        from peergrid.service.testing import Clock, make_community, make_user

        self.clock = Clock(NOW)
        self.app = create_app(url, auth=FAST_AUTH, clock=self.clock, extensions=extensions)
        self.factory = self.app.state.sessions
        self.community = make_community(self.factory, mechanism="uniform", interval_minutes=15)
        self.user = make_user(self.factory, "prosumer", communities=[self.community.id])
        with self.factory() as s, s.begin():
            for i in range(n):
                directory.add_meter(s, self.community.id, self.user.id, f"M{i:04d}")
            self.tokens = meter_tokens(s, self.community.id)

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
    from peergrid.service.mqtt import BrokerURL
    from peergrid.service.mqttwire import Client

    b = BrokerURL.parse(broker_url)
    Client(b.host, b.port, client_id, clean_start=True, session_expiry_s=0).connect().stop()
