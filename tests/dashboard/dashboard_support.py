"""Helpers of the browser tests: a live service (uvicorn thread), a seeded community, logins."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mqtt"))  # mqtt_support: brokers, free ports

from mqtt_support import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "dashboard"
PASSWORD = "correct-horse-battery"


@contextlib.contextmanager
def launch_chromium() -> Iterator:
    """Debian's Chromium, headless, driven by Playwright; skips the test if either is missing."""
    import pytest

    pytest.importorskip("playwright")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (scripts/services.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class LiveServer:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port in a background thread (lifespan included)."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        end = time.time() + 20
        while not self.server.started:
            if time.time() > end or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class World:
    """A community with an operator, a prosumer (seller), two consumers; meters, wallets, tokens."""

    app: object
    url: str
    cid: int
    users: dict[str, object] = field(default_factory=dict)
    meters: dict[str, str] = field(default_factory=dict)  # user key -> meter serial
    tokens: dict[str, str] = field(default_factory=dict)  # MQTT passwords
    keys: dict[str, bytes] = field(default_factory=dict)  # signing keys of the readings
    mqtt: str | None = None  # ingest URL of the broker (the app's ingestor)
    gateway: str | None = None  # gateway URL: publishes any meter's readings


def build_world(db_url: str, mqtt: str | None, interval_minutes: int = 15, gateway: str | None = None) -> World:
    from peergrid.service import directory
    from peergrid.service.app import create_app
    from peergrid.service.auth import FAST_AUTH
    from peergrid.service.mqtt.credentials import meter_secret, meter_signing_key, meter_tokens
    from peergrid.service.testing import make_community, make_user

    app = create_app(db_url, auth=FAST_AUTH, extensions=("peergrid.service.dashboard", "peergrid.service.mqtt"))
    app.state.mqtt_url = mqtt
    app.state.mqtt_options = {"flush_s": 0.05, "session_expiry_s": 30}  # no stale sessions on the shared broker
    f = app.state.sessions
    c = make_community(f, name="Harbour Lane", mechanism="uniform", interval_minutes=interval_minutes,
                       gate_closure_minutes=5, retail_price=0.30, feed_in_price=0.08)
    w = World(app=app, url="", cid=c.id, mqtt=mqtt, gateway=gateway)
    names = {"operator": ("operator", "Olga Operator"), "seller": ("prosumer", "Sam Solar"),
             "buyer": ("consumer", "Bea Buyer"), "other": ("consumer", "Otto Other")}
    for key, (role, name) in names.items():
        u = make_user(f, role, email=f"{key}-{c.id}@test.peergrid", communities=[c.id])
        with f() as s, s.begin():
            u.name = name
            s.merge(u)
            if role != "operator":
                directory.topup(s, c.id, u.id, 50_00, memo="welcome credit")
                directory.add_meter(s, c.id, u.id, f"MTR-{key.upper()}-{c.id}")
                w.meters[key] = f"MTR-{key.upper()}-{c.id}"
        w.users[key] = u
    with f() as s, s.begin():
        w.tokens = meter_tokens(s, c.id)
        secret = meter_secret(s)
        w.keys = {serial: meter_signing_key(secret, c.id, serial) for serial in w.tokens}
    return w


def login(page, w: World, key: str) -> None:
    page.goto(w.url + "/login")
    page.get_by_label("Email").fill(w.users[key].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/c/**")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
