"""docs/service.md "Tariffs, currency and time zone": its curl block runs as written (after the "With curl" one).

Both blocks run in one bash session with the real curl (every call ``--fail-with-body`` under
``set -euo pipefail``: any 4xx/5xx fails) against ``peergrid serve --demo`` served in a thread, and
the 422 answers the section quotes are what the API says.
"""

from __future__ import annotations

import json
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


def _block(heading: str) -> str:
    text = DOC.read_text()
    return re.search(r"```bash\n(.*?)```", text[text.index(heading):], flags=re.S).group(1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with testing.demo_server(tmp_path_factory.mktemp("svc")) as url:
        yield url


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs bash and curl")
def test_tariff_section_runs_as_written(demo, tmp_path):
    block = (_block("## With curl") + "echo '=== tariffs ==='\n" + _block("## Tariffs, currency and time zone"))
    block = block.replace("http://127.0.0.1:8000/api", f"{demo}/api")
    script = "set -euo pipefail\ncurl() { command curl --fail-with-body --silent --show-error \"$@\"; echo; }\n" + block
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if shutil.which("python", path=env["PATH"]) is None:
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "python").symlink_to(sys.executable)
        env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    out = proc.stdout.split("=== tariffs ===", 1)[1]
    docs = [json.loads(line) for line in out.splitlines() if line.startswith('{"')]
    kiez = [d for d in docs if d.get("name") == "Kiez Energie"]
    assert kiez[0]["tz"] == "Europe/Berlin" and kiez[0]["tariff"]["energy"]["periods"][0]["price"] == 0.22
    assert kiez[0]["retail_price"] is None and kiez[0]["feed_in_price"] == 0.081
    assert kiez[1]["tariff"]["standing_per_day"] == 0.45 and kiez[2]["tz"] == "Europe/Vienna"
    demo_c = next(d for d in docs if d.get("id") == 1 and "tariff" in d)
    assert demo_c["tz"] == "America/Los_Angeles" and demo_c["tariff"]["name"] == "citylearn"
    assert demo_c["currency"] == "USD"
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:00 P[SD]T \(-0[78]:00\) to", out)  # invoice period in Fontana time
    assert "'rounding':" in out and "'energy':" in out  # the components
    report = next(d for d in docs if "net_bill_reduction" in d)
    assert report["tz"] == "America/Los_Angeles" and "cost_reduction" not in report


def test_quoted_422_answers(client, world):
    text = DOC.read_text()
    section = text[text.index("## Tariffs, currency and time zone"):text.index("## Operating it")]
    h = world.headers["admin"]
    r = client.post("/api/communities", headers=h, json={"name": "doc-tz", "tz": "Berlin"})
    assert r.status_code == 422 and r.json()["detail"] in " ".join(section.split())
    r = client.post("/api/communities", headers=h, json={"name": "doc-t", "tariff": {"energy": 0.2, "feed_in": 0.5}})
    assert r.status_code == 422
    assert r.json()["detail"].split(" at ")[0] in " ".join(section.split())
