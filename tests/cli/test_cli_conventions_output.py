"""Issue 18, finding 5: tables fit the terminal; clear prints JSON only with --json and its --out
is a directory; zoom --json writes nothing into the current folder (each failed before the fix)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.measure import Measurement
from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.cli.study import METRIC_COLUMNS
from peergrid.cli.ui import fit_table

runner = CliRunner()
SCENARIO = """
name = "eight markets"
[time]
start = "2022-08-01"
days = 1
freq = "1h"
[community]
source = "synthetic"
households = 6
pv_share = 0.5
seed = 1
[tariff]
retail = 0.3
feed_in = 0.05
[simulation]
markets = ["baseline", "bs", "mmr", "sdr", "uniform", "pay-as-bid", "mcafee", "bilateral"]
"""
ORDERS = "id,participant,side,quantity_kwh,price\n1,alice,buy,2,0.30\n2,bob,buy,1,0.20\n3,carol,sell,1.5,0.10\n"


def invoke(args, columns=None):
    env = {"COLUMNS": str(columns)} if columns else None
    r = runner.invoke(app, [str(a) for a in args], env=env)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    p = tmp_path_factory.mktemp("sc") / "eight.toml"
    p.write_text(SCENARIO)
    return p


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_results_table_never_exceeds_the_terminal(scenario, columns):
    # was: a 122-column table, cut at 80
    code, stdout, stderr = invoke(["compare", scenario], columns)
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    text = "\n".join(lines)
    for market in ("baseline", "bs", "mmr", "sdr", "uniform", "pay-as-bid", "mcafee", "bilateral"):
        assert re.search(rf"[│┃] +{re.escape(market)} +[│┃]", text), market  # every market, uncut
    for label, _ in METRIC_COLUMNS:
        assert label.format(currency="USD") in text  # every metric, as a row of the transposed table


def test_results_table_is_wide_when_the_terminal_is(scenario):
    code, stdout, _ = invoke(["compare", scenario], 200)
    assert code == 0
    header = next(line for line in stdout.splitlines() if "market" in line)
    assert "Self-sufficiency" in header and "Jain fairness" in header  # one row per market, metrics as columns
    assert max(len(line) for line in stdout.splitlines()) <= 200
    values = json.loads(invoke(["compare", scenario, "--json"])[1])["markets"]
    assert f"{100 * values['sdr']['self_sufficiency']:.1f} %" in stdout


def test_fit_table_layouts():
    fields = [f"field number {j}" for j in range(6)]
    records = [(f"m{i}", [f"{i}.{j}" for j in range(6)]) for i in range(6)]
    console = Console(width=500)
    assert len(fit_table("t", "market", fields, records, 200, console)) == 1  # wide fits
    transposed = fit_table("t", "market", fields, records, 70, console)
    assert len(transposed) == 1 and [c.header for c in transposed[0].columns] == ["", *(f"m{i}" for i in range(6))]
    narrow = fit_table("t", "market", fields, records, 35, console)
    assert len(narrow) >= 2  # transposed and split
    names = [c.header for t in narrow for c in t.columns[1:]]
    assert names == [f"m{i}" for i in range(6)]  # every record once, in order
    for t in narrow:
        assert Measurement.get(console, console.options, t).maximum <= 35


def test_clear_prints_a_readable_summary_and_json_only_with_json(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    code, stdout, _ = invoke(["clear", orders], 80)
    assert code == 0
    assert "{" not in stdout and '"' not in stdout  # was: a JSON document without --json
    assert re.search(r"traded +1\.500 kWh", stdout) and re.search(r"clearing price +0\.2000 /kWh", stdout)
    assert max(len(line) for line in stdout.splitlines()) <= 80
    code, stdout, _ = invoke(["clear", orders, "--json"])
    assert code == 0 and json.loads(stdout)["traded_kwh"] == pytest.approx(1.5)


def test_clear_out_is_a_directory(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    code, stdout, stderr = invoke(["clear", orders, "--out", tmp_path / "cleared"])
    assert code == 0, stderr
    files = sorted(p.name for p in (tmp_path / "cleared").iterdir())
    assert files == [".peergrid-output", "summary.json", "trades.csv"]
    assert json.loads((tmp_path / "cleared" / "summary.json").read_text())["n_trades"] == 1
    # the former file form: one line with the new usage, nothing written
    code, stdout, stderr = invoke(["clear", orders, "--out", tmp_path / "trades.csv"])
    assert code == 2 and stdout == "" and len(stderr.strip().splitlines()) == 1
    assert "--out is now a directory" in stderr and not (tmp_path / "trades.csv").exists()


def test_zoom_and_federation_json_write_nothing_into_the_current_folder(tmp_path, monkeypatch):
    # was: `zoom experiment --quick --json` created out/zoom/ in the current folder
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = invoke(["zoom", "experiment", "island", "--quick", "--json"])
    assert code == 0, stderr
    assert json.loads(stdout)["experiment"] == "island" and json.loads(stdout)["files"] == {}
    code, stdout, stderr = invoke(
        ["federation", "experiment", "1", "--seeds", 1, "--nodes", 30, "--cycles", 2, "--json"]
    )
    assert code == 0, stderr
    assert json.loads(stdout)["files"] == {}
    assert list(tmp_path.iterdir()) == []
    # with --out they write where told; without --json, to the default out/zoom/NAME
    code, _, _ = invoke(["zoom", "experiment", "island", "--quick"])
    assert code == 0 and (Path("out/zoom/island") / "summary.json").is_file()


@pytest.mark.parametrize(
    "argv",
    [["control", "milford-haven"], ["zoom", "experiment", "island", "--quick", "--out", "{tmp}/z"]],
    ids=["control", "zoom"],
)
def test_other_tables_fit_80_columns(argv, tmp_path):
    code, stdout, stderr = invoke([a.format(tmp=tmp_path) for a in argv], 80)
    assert code == 0, stderr
    assert max(len(line) for line in stdout.splitlines()) <= 80
