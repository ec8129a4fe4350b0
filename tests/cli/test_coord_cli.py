"""CLI simulate/compare with price-responsive coordination: table, --json, summary.json, report (coordination part)."""

import json

from typer.testing import CliRunner

from peergrid.cli.main import app

runner = CliRunner()
SCENARIO = """
name = "coord"
[time]
start = "2022-08-01"
days = 1
freq = "1h"
[community]
source = "synthetic"
households = 6
pv_share = 0.5
battery_share = 0.5
seed = 3
[tariff]
retail = "citylearn"
feed_in = 0.05
[simulation]
control = "lp"
coordination = "price-response"
max_iterations = 2
markets = ["bs", "sdr", "uniform"]
"""


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_json_carries_coordination(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    code, stdout, _ = run("compare", path, "--json")
    assert code == 0
    payload = json.loads(stdout)
    assert payload["coordination"] == "price-response"
    info = payload["markets"]["sdr"]["coordination"]
    assert {"iterations", "converged", "cost", "price_change", "kept"} <= set(info)
    assert len(info["cost"]) == info["iterations"] + 1 <= 3
    assert payload["markets"]["baseline"]["coordination"]["iterations"] == 0


def test_table_summary_report_and_rebuild(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    out = tmp_path / "out"
    code, stdout, _ = run("simulate", path, "--out", out)
    assert code == 0
    assert "price response sdr:" in stdout and "iteration" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"]["simulation"]["coordination"] == "price-response"
    assert summary["markets"]["bs"]["coordination"]["market"] == "bs"
    html = (out / "report.html").read_text()
    assert 'id="coordination"' in html and 'id="fig-coordination"' in html
    (out / "report.html").unlink()
    code, _, _ = run("report", out)
    assert code == 0 and 'id="coordination"' in (out / "report.html").read_text()


def test_price_blind_runs_have_no_coordination_section(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.replace('coordination = "price-response"\n', ""))
    out = tmp_path / "out"
    code, stdout, _ = run("simulate", path, "--out", out, "--json")
    assert code == 0
    payload = json.loads(stdout)
    assert payload["coordination"] == "none" and "coordination" not in payload["markets"]["sdr"]
    assert "coordination" not in json.loads((out / "summary.json").read_text())["scenario"]["simulation"]
    assert 'id="coordination"' not in (out / "report.html").read_text()
