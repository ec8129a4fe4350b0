"""Issue 18, finding 5: one flag vocabulary, default --out, compare honours the scenario,
--version, shell completion, one-line usage errors (each test failed before the fix)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import peergrid
from peergrid.cli.main import app

runner = CliRunner()
SMALL = """
name = "small community"
[time]
start = "2022-08-01"
days = 3
freq = "1h"
[community]
source = "synthetic"
households = 8
pv_share = 0.5
battery_share = 0.25
seed = 3
[tariff]
retail = "citylearn"
feed_in = 0.07
[simulation]
markets = ["baseline", "sdr", "uniform"]
[market]
bidding = "zero-intelligence"
k = 0.3
seed = 5
"""


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def scenario(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    return p


def test_simulate_without_out_writes_default_dir_and_says_where(scenario, tmp_path, monkeypatch):
    # was: "Missing option '--out'" for `peergrid simulate scenarios/order-book.toml` as printed in the README
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run("simulate", "small.toml")
    assert code == 0, stderr
    out = Path("out/small-community")  # out/<scenario name>, made safe as a directory name
    assert (out / "report.html").is_file() and (out / "results" / "uniform" / "result.json").is_file()
    assert json.loads((out / "summary.json").read_text())["scenario"]["name"] == "small community"
    assert "out/small-community/results" in stdout.splitlines()[-1]


def test_json_writes_nothing_unless_out(scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (("simulate", "small.toml", "--json"), ("demo", "--quick", "--json")):
        code, stdout, stderr = run(*argv)
        assert code == 0, stderr
        payload = json.loads(stdout)
        assert "out" not in payload and stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]


def test_compare_honours_the_scenario_markets_and_market_options(scenario):
    # was: compare ran bs,mmr,sdr whatever the scenario said
    code, stdout, stderr = run("compare", scenario, "--json")
    assert code == 0, stderr
    markets = json.loads(stdout)["markets"]
    assert list(markets) == ["baseline", "sdr", "uniform"]
    # the [market] options (zero-intelligence bidding, k, seed) were used: same figures as the library with them
    from peergrid.simulate import compare
    from peergrid.simulate.scenario import build, load_scenario

    sc = load_scenario(scenario)
    ref = compare(build(sc, str(scenario)), markets=["baseline", "sdr", "uniform"], bidding="zero-intelligence",
                  k=0.3, seed=5).summary()
    truthful = compare(build(sc, str(scenario)), markets=["uniform"]).summary()
    assert markets["uniform"]["cost_reduction"] == pytest.approx(ref["uniform"]["cost_reduction"])
    assert markets["uniform"]["pm"] != pytest.approx(truthful["uniform"]["pm"])
    # --markets overrides, the baseline is always added
    code, stdout, _ = run("compare", scenario, "--markets", "mmr,bs", "--json")
    assert code == 0 and list(json.loads(stdout)["markets"]) == ["baseline", "mmr", "bs"]


def test_markets_is_the_one_spelling_market_still_works(scenario, tmp_path):
    code, stdout, stderr = run("simulate", scenario, "--markets", "bs", "--out", tmp_path / "a", "--json")
    assert code == 0, stderr
    assert list(json.loads(stdout)["markets"]) == ["baseline", "bs"]
    code, stdout, stderr = run("simulate", scenario, "--market", "bs", "--out", tmp_path / "b")  # deprecated alias
    assert code == 0 and "--market is deprecated; use --markets" in stderr
    code, _, stderr = run("simulate", scenario, "--market", "bs", "--markets", "sdr", "--json")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "give only --markets" in stderr
    code, stdout, _ = run("simulate", "--help")
    assert "--markets" in stdout and "--market " not in stdout  # the alias is hidden


def test_quick_and_seed(scenario):
    code, stdout, _ = run("compare", scenario, "--quick", "--json")
    assert code == 0
    community = json.loads(stdout)["community"]
    assert community["steps"] == 48  # 2 of the 3 days at 1 h
    a = json.loads(run("compare", scenario, "--seed", 1, "--json")[1])["markets"]["sdr"]
    b = json.loads(run("compare", scenario, "--seed", 1, "--json")[1])["markets"]["sdr"]
    c = json.loads(run("compare", scenario, "--seed", 2, "--json")[1])["markets"]["sdr"]
    assert a == b and a["community_cost"] != c["community_cost"]


def test_version_and_completion():
    code, stdout, _ = run("--version")
    assert code == 0 and stdout == f"peergrid {peergrid.__version__}\n"
    code, stdout, _ = run("--help")
    assert code == 0 and "--install-completion" in stdout and "--show-completion" in stdout
    exe = Path(sys.executable).parent / "peergrid"
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"peergrid {peergrid.__version__}"
    # the completion script works: bash asks for completions of `peergrid sim` and `compare x --mar`
    proc = subprocess.run([exe, "--show-completion", "bash"], capture_output=True, text=True)
    assert proc.returncode == 0 and "_PEERGRID_COMPLETE=complete_bash" in proc.stdout
    for words, cword, expect in (("peergrid sim", 1, "simulate"), ("peergrid compare x.toml --mar", 3, "--markets")):
        env = {**os.environ, "_PEERGRID_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        proc = subprocess.run([exe], capture_output=True, text=True, env=env)
        assert proc.returncode == 0 and proc.stdout.split() == [expect]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["simulate"], "Missing argument 'SCENARIO'"),
        (["compare", "x.toml", "--bogus"], "No such option: --bogus"),
        (["demo", "--days", "0"], "--days"),
        (["federation", "experiment", "1", "--seeds", "x"], "--seeds"),
        (["nonsense"], "No such command"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv, needle):
    exe = Path(sys.executable).parent / "peergrid"
    proc = subprocess.run([exe, *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert needle in proc.stderr and proc.stderr.startswith("error:")
