"""The built wheel installs with its service extra in a clean virtualenv and works there.

Builds the wheel from the sources (``pip wheel --no-deps``, on a copy of the files a wheel is
built from), checks its package data, creates a fresh venv (no system site-packages, no
PYTHONPATH), installs ``<wheel>[service]`` from the package index (the pip cache makes it
fast), then runs ``peergrid --help``, a one-day demo, imports the service and serves the
login page, the dashboard's CSS and the offline API docs. Takes about 1–2 min with a warm
pip cache; every step has a timeout.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.install

#: Files the wheel must carry (package data beside the modules), as paths inside the wheel.
REQUIRED = [
    "peergrid/data/citylearn_2022.parquet",
    "peergrid/data/CITYLEARN_LICENSE.txt",
    "peergrid/report/report.css",
    "peergrid/service/common_passwords.txt",
    "peergrid/service/migrations/script.py.mako",
    "peergrid/service/migrations/env.py",
    "peergrid/service/migrations/versions/0001_initial_schema.py",
    "peergrid/service/dashboard/templates/base.html",
    "peergrid/service/dashboard/templates/community.html",
    "peergrid/service/dashboard/templates/member.html",
    "peergrid/service/dashboard/static/dashboard.css",
    "peergrid/service/dashboard/static/dashboard.js",
]


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment of a user who just created the venv: no PYTHONPATH, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PEERGRID_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)], src, 300)
    (whl,) = dist.glob("peergrid-*.whl")
    return whl


def test_wheel_carries_the_package_data(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, missing
    # every file of the package's source tree is there: modules, and data through pyproject's package-data
    src = ROOT / "src"
    data = [p for p in (src / "peergrid").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}]
    not_shipped = [str(p.relative_to(src)) for p in data if str(p.relative_to(src)) not in names]
    assert not not_shipped, f"in src/ but not in the wheel (pyproject package-data): {not_shipped}"
    assert not any(n.startswith(("tests/", "peergrid/tests/")) for n in names)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read(), r.headers.get("content-type", "")


def test_wheel_with_service_extra_installs_and_runs_in_a_clean_venv(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 120)
    env = _clean_env(venv)
    py, peergrid = venv / "bin" / "python", venv / "bin" / "peergrid"
    t0 = time.monotonic()
    _run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[service]"], tmp_path, 900,
         env)
    install_s = time.monotonic() - t0
    print(f"pip install <wheel>[service] into a fresh venv: {install_s:.0f} s")
    assert "demo" in _run([str(peergrid), "--help"], tmp_path, 60, env)
    # the installed package, not the sources of this checkout
    where = _run([str(py), "-c", "import peergrid; print(peergrid.__file__)"], tmp_path, 60, env)
    assert str(venv) in where and str(ROOT) not in where
    _run([str(peergrid), "demo", "--days", "1", "--out", str(tmp_path / "demo")], tmp_path, 300, env)
    assert (tmp_path / "demo" / "report.html").is_file()
    # the service: migrations run from the wheel, templates and static files are found, docs are local
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([str(peergrid), "serve", "--db", str(tmp_path / "svc.db"), "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 120
        while True:
            try:
                if _get(base + "/api/health")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < end, "peergrid serve did not answer within 120 s"
            time.sleep(0.2)
        status, body, _ = _get(base + "/login")
        assert status == 200 and b"/dashboard/static/dashboard.css" in body
        status, body, ctype = _get(base + "/dashboard/static/dashboard.css")
        assert status == 200 and ctype.startswith("text/css") and len(body) > 1000
        status, body, _ = _get(base + "/docs")
        assert status == 200 and b"/docs/static/swagger-ui-bundle.js" in body and b"cdn." not in body
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            status, body, _ = _get(f"{base}/docs/static/{asset}")
            assert status == 200 and len(body) > 10_000, asset
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        log.close()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
