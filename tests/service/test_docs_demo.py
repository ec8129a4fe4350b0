"""``peergrid serve --demo`` starts, seeds the CityLearn demo, and the Python guide in docs/service.md runs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "service.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_server_and_guide(db_url, capsys):
    port = _free_port()
    cmd = [sys.executable, "-c", "from peergrid.cli.main import run; run()", "serve", "--demo", "--db", db_url,
           "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read()[-2000:])
            time.sleep(0.1)
        assert httpx.get(f"{base}/docs").status_code == 200
        assert "/api/communities/{community_id}/orders" in httpx.get(f"{base}/openapi.json").json()["paths"]
        blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
        assert blocks
        os.environ["PEERGRID_URL"] = base
        try:
            for block in blocks:
                exec(compile(block, str(DOC), "exec"), {})
        finally:
            del os.environ["PEERGRID_URL"]
        out = capsys.readouterr().out
        assert "ledger ok: True" in out and "order" in out and "cancelled" in out
        assert re.search(r"'traded_kwh': [1-9]", out)  # a week of settled demo trading
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
    assert "Traceback" not in proc.stderr.read()
