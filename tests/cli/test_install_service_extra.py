"""Without the 'service' extra, the service commands say how to install it (one line, exit 2), never a traceback.

Each command runs in a fresh interpreter whose import system refuses the extra's modules (a
``sys.meta_path`` finder that raises ``ModuleNotFoundError``), as if they were not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peergrid.cli.extras import SERVICE_EXTRA_MESSAGE, SERVICE_MODULES

SRC = Path(__file__).resolve().parents[2] / "src"

BLOCKER = """
import sys

class _NotInstalled:
    blocked = set(sys.argv.pop(1).split(","))

    def find_spec(self, name, path=None, target=None):
        if name in self.blocked or name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
sys.argv[0] = "peergrid"
from peergrid.cli.main import run
run()
"""


def _peergrid(blocked: set[str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("PEERGRID_DEBUG", None)
    return subprocess.run([sys.executable, "-c", BLOCKER, ",".join(sorted(blocked)), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ("serve", "--demo", "--db", "x.db"),
    ("ledger", "verify", "--db", "x.db"),
    ("meters", "tokens", "--db", "x.db", "--community", "1"),
    ("meters", "dead-letters", "--db", "x.db"),
])
def test_service_commands_without_the_extra_print_the_install_line(tmp_path, args):
    r = _peergrid(set(SERVICE_MODULES), *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {SERVICE_EXTRA_MESSAGE}"], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not (tmp_path / "x.db").exists()  # nothing written


def test_only_uvicorn_missing_is_named_too(tmp_path):
    """The issue's case: everything but uvicorn installed (``serve`` used to fail with 'internal error', exit 1)."""
    r = _peergrid({"uvicorn"}, "serve", "--db", str(tmp_path / "y.db"), "--port", "1", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"error: {SERVICE_EXTRA_MESSAGE}"


def test_other_missing_modules_stay_internal_errors(tmp_path):
    """A missing module that belongs to no extra (here one of peergrid's own) is a bug, not the extra: exit 1."""
    r = _peergrid({"peergrid.service.clearing"}, "serve", "--db", str(tmp_path / "z.db"), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "internal error (ModuleNotFoundError: No module named 'peergrid.service.clearing')" in r.stderr
    assert SERVICE_EXTRA_MESSAGE not in r.stderr


def test_help_needs_no_service_module(tmp_path):
    r = _peergrid(set(SERVICE_MODULES), "serve", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "--demo" in r.stdout
