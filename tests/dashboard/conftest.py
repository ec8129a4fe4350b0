"""Fixtures of the browser tests: a live service with a seeded community, and Debian's Chromium."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")

from dashboard_support import ARTIFACTS, LiveServer, World, build_world
from mqtt_support import local_urls


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A live service on SQLite with MQTT ingestion from the local Mosquitto (if it runs)."""
    urls = local_urls()
    mqtt, gateway = (None, None) if isinstance(urls, str) else urls
    w = build_world(f"sqlite:///{tmp_path / 'dash.db'}", mqtt, gateway=gateway)
    with LiveServer(w.app) as srv:
        w.url = srv.url
        if mqtt:
            end = time.time() + 10
            while (w.app.state.mqtt is None or not w.app.state.mqtt.connected.is_set()) and time.time() < end:
                time.sleep(0.05)
        yield w
    w.app.state.engine.dispose()
