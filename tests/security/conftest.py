"""Fixtures of the security regression suite (issue 15: "trust no input").

Every finding of the attack review has a test here that failed on the code before its fix.
Service tests run on SQLite and on a real PostgreSQL (``backend``); MQTT tests on a real
Mosquitto. The helpers of the service and MQTT suites are imported as plain modules
(tests/ has no packages), so their folders go on ``sys.path`` here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for sub in ("service", "mqtt"):
    if str(_TESTS / sub) not in sys.path:
        sys.path.insert(0, str(_TESTS / sub))

pytest.importorskip("fastapi")

from svc_fixtures import BACKENDS, app, backend, client, clock, db_url, factory, world  # noqa: E402, F401
