"""Fixtures: the local Mosquitto (127.0.0.1:1883, authenticated), private brokers, and service databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from mqtt_support import MOSQUITTO, Broker, Site, local_urls


@pytest.fixture(scope="session")
def local_urls_() -> tuple[str, str]:
    urls = local_urls()
    if isinstance(urls, str):
        pytest.skip(urls)
    return urls


@pytest.fixture(scope="session")
def local_broker(local_urls_: tuple[str, str]) -> str:
    """Ingestor URL (user peergrid-ingest: reads readings) of the Mosquitto of scripts/services.sh on 127.0.0.1:1883."""
    return local_urls_[0]


@pytest.fixture(scope="session")
def local_gateway(local_urls_: tuple[str, str]) -> str:
    """Gateway URL (user peergrid-gateway: publishes readings of any meter) of the same broker."""
    return local_urls_[1]


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
