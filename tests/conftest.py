"""Fixtures shared across test folders.

``browser``: one headless Chromium (Debian's, driven by Playwright) for the whole session. Playwright's
sync API allows one driver per thread at a time, so the dashboard tests and the security tests must
share it rather than each start their own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def browser():
    dashboard = str(Path(__file__).resolve().parent / "dashboard")
    if dashboard not in sys.path:
        sys.path.insert(0, dashboard)
    from dashboard_support import launch_chromium

    with launch_chromium() as b:
        yield b
