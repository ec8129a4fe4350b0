"""[simulation] forecaster and [forecast] in scenarios, the CLI (--json, --out, report) and recorded_scenario."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.simulate.scenario import recorded_scenario, scenario_from_dict

runner = CliRunner()
BASE = """
name = "fc"
[time]
start = "2022-08-01"
days = 9
freq = "1h"
[community]
source = "synthetic"
households = 6
pv_share = 0.5
battery_share = 0.5
seed = 3
[tariff]
retail = "citylearn"
feed_in = 0.07
"""


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def _write(tmp_path, extra: str):
    p = tmp_path / "fc.toml"
    p.write_text(BASE + extra)
    return p


def test_cli_runs_on_forecasts_and_reports_them(tmp_path):
    sc = _write(
        tmp_path, '[simulation]\nforecaster = "fedavg"\nmarkets = ["sdr", "uniform"]\n[forecast]\nmin_train_days = 1\n'
    )
    out = tmp_path / "out"
    code, stdout, err = run("simulate", sc, "--json", "--out", out, "--dpi", 40)
    assert code == 0, err
    payload = json.loads(stdout)
    assert payload["forecaster"] == "fedavg"
    for m in ("baseline", "sdr", "uniform"):
        f = payload["markets"][m]["forecast"]
        assert f["forecaster"] == "fedavg" and f["options"]["min_train_days"] == 1
        assert payload["markets"][m]["imbalance_cost"] == pytest.approx(f["imbalance_cost"])
        assert f["imbalance_kwh"] > 0 and f["forecast_mae_kwh"] > 0
        assert f["supplier_margin"] >= -1e-9
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"]["simulation"]["forecaster"] == "fedavg"
    assert summary["scenario"]["forecast"]["min_train_days"] == 1
    assert summary["markets"]["sdr"]["forecast"] == payload["markets"]["sdr"]["forecast"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="forecasts"' in html and 'id="fig-forecast"' in html and 'data-bill="imbalance"' in html
    # rebuilt from the saved results: the same forecast section
    (out / "report.html").unlink()
    code, stdout, err = run("report", out, "--json")
    assert code == 0, err
    assert 'id="forecasts"' in (out / "report.html").read_text(encoding="utf-8")
    assert json.loads(stdout)["markets"]["sdr"]["forecast"] == payload["markets"]["sdr"]["forecast"]


def test_cli_table_prints_the_forecast_line(tmp_path):
    sc = _write(tmp_path, '[simulation]\nforecaster = "persistence"\nmarkets = ["sdr"]\n')
    code, stdout, err = run("compare", sc)
    assert code == 0, err
    assert "forecaster persistence: net forecast error (MAE)" in " ".join(stdout.split())


def test_perfect_scenario_records_no_forecast_keys(tmp_path):
    sc = scenario_from_dict({"simulation": {"markets": ["sdr"]}})
    from peergrid.data import synthetic_community

    com = synthetic_community(3, periods=24, freq="1h", seed=1)
    rec = recorded_scenario(sc, com)
    assert "forecast" not in rec and "forecaster" not in rec["simulation"]
    assert sc.forecast_options() == {}
    sc2 = scenario_from_dict({"simulation": {"forecaster": "ridge"}, "forecast": {"train_days": 14}})
    rec2 = recorded_scenario(sc2, com)
    assert rec2["simulation"]["forecaster"] == "ridge" and rec2["forecast"]["train_days"] == 14
    assert sc2.forecast_options()["forecast_options"]["train_days"] == 14


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('[simulation]\nforecaster = "oracle"\n', "forecaster"),
        ("[forecast]\ntrain_days = 7\n", "[forecast] applies to imperfect forecasters only"),
        ('[simulation]\nforecaster = "ridge"\n[forecast]\nwindow = 7\n', "window"),
        ('[simulation]\nforecaster = "ridge"\n[forecast]\ntrain_days = 3\n', "train_days"),
    ],
)
def test_bad_forecast_settings_are_one_line_exit_2(tmp_path, extra, needle):
    code, stdout, err = run("compare", _write(tmp_path, extra), "--json")
    assert code == 2 and stdout == ""
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_seed_replaces_the_fedavg_seed(tmp_path):
    sc = _write(tmp_path, '[simulation]\nforecaster = "fedavg"\nmarkets = ["sdr"]\n[forecast]\nseed = 4\n')
    code, stdout, err = run("compare", sc, "--json", "--seed", 9)
    assert code == 0, err
    assert json.loads(stdout)["markets"]["sdr"]["forecast"]["options"]["seed"] == 9
