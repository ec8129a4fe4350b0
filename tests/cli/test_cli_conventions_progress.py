"""Issue 18, finding 5: progress for long steps (quiet under --json), and `meters simulate` says
what it does, prints status lines and a summary on finish and on Ctrl-C (it printed nothing)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import peergrid.cli.ui as ui
from peergrid.cli.main import app

runner = CliRunner()
SMALL = """
name = "small"
[time]
start = "2022-08-01"
days = 2
freq = "1h"
[community]
source = "synthetic"
households = 6
pv_share = 0.5
battery_share = 0.5
seed = 3
[tariff]
retail = 0.3
feed_in = 0.05
[simulation]
markets = ["baseline", "bs", "sdr"]
"""


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def terminal(monkeypatch):
    """Pretend stderr is a terminal (progress is drawn only there)."""
    monkeypatch.setattr(ui, "interactive", lambda: True)


def test_simulate_shows_every_step_with_elapsed_time(tmp_path, terminal):
    # was: a bar at 100 % after the control run, then silence while clearing, writing and building the report
    sc = tmp_path / "s.toml"
    sc.write_text(SMALL)
    code, _, stderr = run("simulate", sc, "--out", tmp_path / "o")
    assert code == 0, stderr
    steps = [line for line in stderr.splitlines() if line.startswith("✓")]
    names = [s[2:].rsplit("  ", 1)[0] for s in steps]
    assert names == [
        "building the community of s.toml",
        "control (greedy): 6 participants × 48 steps",
        "clearing baseline",
        "clearing bs",
        "clearing sdr",
        "computing metrics",
        "writing results",
        *REPORT_STAGES,
    ]
    assert all(s.endswith(" s") for s in steps)
    code, _, stderr = run("report", tmp_path / "o")  # was: 20 s and 1.3 GB without output
    assert code == 0
    names = [s[2:].rsplit("  ", 1)[0] for s in stderr.splitlines() if s.startswith("✓")]
    assert names == [f"reading results: {m}" for m in ("baseline", "bs", "sdr")] + REPORT_STAGES


REPORT_STAGES = [
    *(f"report: figure: {f}" for f in ("daily_profiles", "prices", "savings", "soc", "energy_flows")),
    "report: page",
]


def test_json_is_quiet_even_on_a_terminal(tmp_path, terminal):
    sc = tmp_path / "s.toml"
    sc.write_text(SMALL)
    code, stdout, stderr = run("simulate", sc, "--out", tmp_path / "o", "--json")
    assert code == 0 and stderr == "" and json.loads(stdout)["out"] == str(tmp_path / "o")
    code, stdout, stderr = run("zoom", "experiment", "island", "--quick", "--json")
    assert code == 0 and stderr == ""


def test_stages_record_time_silently():
    with ui.Stages(enabled=True) as st:  # stderr is not a terminal here: nothing drawn, times recorded
        st.start("a", total=3)
        st.advance(2)
        st.start("b")
    assert list(st.seconds) == ["a", "b"] and all(v >= 0 for v in st.seconds.values())


# ---- meters simulate -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker_urls():
    pytest.importorskip("fastapi")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mqtt"))
    from mqtt_support import local_urls

    urls = local_urls()
    if isinstance(urls, str):
        pytest.skip(urls)
    return urls  # (ingest: may not publish, gateway: may publish any meter's reading)


@pytest.fixture
def keys(tmp_path):
    p = tmp_path / "keys.json"
    keys = {f"CLI{i}": {"password": "x", "signing_key": base64.urlsafe_b64encode(os.urandom(32)).decode()}
            for i in range(2)}
    p.write_text(json.dumps(keys))
    return p


def test_meters_simulate_says_what_it_does_status_and_summary(broker_urls, keys, monkeypatch):
    import peergrid.cli.meters as meters

    monkeypatch.setattr(meters, "STATUS_EVERY_S", 0.0)
    _, gateway = broker_urls
    argv = ["meters", "simulate", "--keys", keys, "--community", 990, "--meters", 2, "--backfill", 3,
            "--rounds", 3, "--rate", "4/s"]
    code, stdout, stderr = run(*argv, "--mqtt", gateway)
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("meters simulate: 2 meters of community 990") and "4 msg/s" in lines[0]
    assert "peergrid-gateway:***@" in lines[0]  # the password is not echoed
    assert any("readings sent, 0 rejected" in line for line in lines[1:-1])  # status lines while running
    assert lines[-1].startswith("done: published 6 readings of 2 meters over 3 period(s)")
    assert lines[-1].endswith("0 rejected by the broker") and "/s" in lines[-1]
    assert stdout == ""
    # a user the broker does not let publish: every reading is counted as rejected
    ingest, _ = broker_urls
    code, stdout, stderr = run(*argv[:-4], "--rounds", 1, "--backfill", 1, "--mqtt", ingest, "--json")
    assert code == 0
    res = json.loads(stdout)
    assert res["messages"] == 2 and res["refused"] == 2 and res["interrupted"] is False and res["rate"] > 0


def test_meters_simulate_ctrl_c_prints_a_summary(broker_urls, keys):
    _, gateway = broker_urls
    exe = Path(sys.executable).parent / "peergrid"
    proc = subprocess.Popen(
        [exe, "meters", "simulate", "--keys", keys, "--community", "990", "--meters", "2", "--rate", "2/s",
         "--period", "3600", "--mqtt", gateway],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = proc.stderr.readline()
        assert first.startswith("meters simulate:"), first
        time.sleep(1.5)  # publishing the backfilled period, then waiting for the hour to end
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped (Ctrl-C): published 2 readings of 2 meters") and "rejected" in last
    assert "Traceback" not in err
