"""Fixtures: the local Mosquitto (127.0.0.1:1883), private brokers, and service databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from mqtt_support import LOCAL_BROKER, MOSQUITTO, Broker, Site, port_open


@pytest.fixture(scope="session")
def local_broker() -> str:
    """URL of the Mosquitto that `make test` starts on 127.0.0.1:1883."""
    if not port_open(*LOCAL_BROKER):
        pytest.skip("no MQTT broker on 127.0.0.1:1883 (scripts/services.sh starts Mosquitto)")
    return "mqtt://127.0.0.1:1883"


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip(f"{MOSQUITTO} not installed (scripts/services.sh installs it)")
    b = Broker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        from peergrid.service.testing import postgres_unavailable

        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)
    return request.param


@pytest.fixture
def site(backend: str) -> Iterator[Site]:
    from peergrid.service.testing import temp_database

    with temp_database(backend) as url:
        s = Site(url)
        try:
            yield s
        finally:
            s.app.state.engine.dispose()
