"""``peergrid invest`` and the report's Investment section."""

import json

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app

runner = CliRunner()
SCENARIO = """
name = "inv"
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
[simulation]
markets = ["baseline", "mmr"]
"""
INVEST = """
[invest]
discount_rate = 0.04
lifetime = 20
[invest.platform]
reading_bytes = 300
"""


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def scenario(tmp_path, extra=INVEST):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO + extra)
    return path


def test_json_is_one_object_with_the_assumptions(tmp_path):
    code, stdout, _ = run("invest", scenario(tmp_path), "--json")
    assert code == 0
    payload = json.loads(stdout)
    assert payload["market"] == "mmr"  # the scenario's first market other than the baseline
    assert payload["assumptions"]["discount_rate"] == 0.04
    assert payload["assumptions"]["platform"]["reading_bytes"] == 300
    assert payload["annual_factor"] == pytest.approx(365.0) and payload["window_days"] == pytest.approx(1.0)
    assert set(payload["technologies"]) == {"pv", "battery", "wind", "platform", "total"}
    assert len(payload["members"]) == 6 and len(payload["cash_flow"]["net"]) == 21
    assert {"npv", "payback", "discounted_payback", "lcoe", "ib"} <= set(payload["community"])
    assert payload["communication"]["messages"] > 0
    assert not (tmp_path / "out").exists()


def test_table_market_option_and_out(tmp_path):
    out = tmp_path / "res"
    code, stdout, _ = run("invest", scenario(tmp_path), "--market", "baseline", "--out", out)
    assert code == 0, stdout
    assert "Community investment" in stdout and "Members" in stdout and "market baseline" in stdout
    assert "platform traffic (eqs. 6–8)" in stdout
    for name in ("invest.json", "members.csv", "technologies.csv", "cash_flow.csv", "cash_flow.png"):
        assert (out / name).is_file()
    payload = json.loads((out / "invest.json").read_text())
    assert payload["technologies"]["platform"]["capex"] == 0  # the baseline has no platform


def test_defaults_without_an_invest_table(tmp_path):
    code, stdout, _ = run("invest", scenario(tmp_path, extra=""), "--json")
    assert code == 0
    assert json.loads(stdout)["assumptions"]["discount_rate"] == 0.05


@pytest.mark.parametrize(
    ("extra", "args", "needle"),
    [
        ("[invest]\nfoo = 1\n", [], "[invest].foo: unknown key"),
        ("[invest.platform]\nbar = 1\n", [], "[invest.platform].bar: unknown key"),
        ("[invest]\ndiscount_rate = -2\n", [], "[invest].discount_rate"),
        ('[invest]\ncurrency = "EUR"\n', [], "exchange_rate"),
        ("", ["--market", "nope"], "nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, extra, args, needle):
    code, stdout, stderr = run("invest", scenario(tmp_path, extra), *args, "--json")
    assert code == 2
    assert stdout == ""
    assert needle in stderr and len(stderr.strip().splitlines()) == 1


def test_missing_scenario_exit_2(tmp_path):
    code, _, stderr = run("invest", tmp_path / "missing.toml")
    assert code == 2 and "missing.toml" in stderr


def test_report_has_the_investment_section_only_with_invest(tmp_path):
    out = tmp_path / "with"
    code, _, _ = run("simulate", scenario(tmp_path), "--out", out)
    assert code == 0
    html = (out / "report.html").read_text()
    assert 'id="invest"' in html and 'id="fig-invest"' in html and "investment boundary" in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"]["invest"]["discount_rate"] == 0.04
    # a rebuilt report keeps the section (its [invest] is in summary.json)
    code, _, _ = run("report", out)
    assert code == 0 and 'id="invest"' in (out / "report.html").read_text()
    other = tmp_path / "without"
    path = tmp_path / "plain" / "s.toml"
    path.parent.mkdir()
    path.write_text(SCENARIO)
    code, _, _ = run("simulate", path, "--out", other)
    assert code == 0 and 'id="invest"' not in (other / "report.html").read_text()
    assert "invest" not in json.loads((other / "summary.json").read_text())["scenario"]


def test_simulate_with_invest_in_another_currency_fails_before_the_work(tmp_path):
    path = scenario(tmp_path, '[invest]\ncurrency = "EUR"\n')
    out = tmp_path / "o"
    code, _, stderr = run("simulate", path, "--out", out)
    assert code == 2 and "exchange_rate" in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_quick_keeps_the_wind_series_for_an_exact_pv_wind_split(tmp_path):
    from peergrid.simulate.scenario import build, load_scenario

    path = tmp_path / "w.toml"
    path.write_text(SCENARIO.replace("days = 1", "days = 4") + '[wind]\nmembers = {h00000 = 4.0, h00001 = 3.0}\n')
    code, stdout, stderr = run("invest", path, "--quick", "--json")
    assert code == 0, stderr
    payload = json.loads(stdout)
    com = build(load_scenario(path), str(path))
    wind = com.wind_generation[:48].sum() * payload["annual_factor"]  # the first 2 days, scaled to a year
    assert payload["technologies"]["wind"]["energy_kwh"] == pytest.approx(wind, rel=1e-9)
    assert payload["annual_factor"] == pytest.approx(182.5)
