"""The curl session of docs/service.md ("With curl") runs as written against ``peergrid serve --demo``.

Its clearing call used to answer 409: it cleared the interval two hours ahead, whose gate had
not closed. The block is run by bash with the real curl, every call made with
``--fail-with-body`` under ``set -e -o pipefail``, so any 4xx/5xx answer fails the test; the
server is the service app with the demo community, served in a thread on a free port.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peergrid.service import testing

pytest.importorskip("uvicorn")
DOC = Path(__file__).resolve().parents[2] / "docs" / "service.md"


def _curl_block() -> str:
    text = DOC.read_text()
    section = text[text.index("## With curl"):]
    return re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    with testing.demo_server(tmp_path_factory.mktemp("svc")) as url:
        yield url


def test_docs_service_curl_block_targets_the_default_server():
    block = _curl_block()
    assert block.startswith("BASE=http://127.0.0.1:8000/api\n")
    assert "ORDER_ID" not in block  # no placeholder left for the reader to fill in


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs bash and curl")
def test_docs_service_curl_session_runs(demo_server, tmp_path):
    block = _curl_block().replace("http://127.0.0.1:8000/api", f"{demo_server}/api")
    script = "set -euo pipefail\ncurl() { command curl --fail-with-body --silent --show-error \"$@\"; echo; }\n" + block
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if shutil.which("python", path=env["PATH"]) is None:  # the doc says `python`; give it the test's interpreter
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "python").symlink_to(sys.executable)
        env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    out = proc.stdout
    assert '"status":"cancelled"' in out.replace(" ", "")  # the bid was placed and cancelled
    assert re.search(r'"status":\s*"(settled|already_settled)"', out)  # the clearing call settled a phase
    assert '"accepted":1,"duplicates":0,"rejected":[]' in out.replace(" ", "")  # the reading was stored
    assert (tmp_path / "invoice.pdf").read_bytes().startswith(b"%PDF")
    assert '"ok":true' in out.replace(" ", "")  # ledger verifies
