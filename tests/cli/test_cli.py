"""CLI end to end: demo on a small slice, scenarios, JSON keys, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app

runner = CliRunner()
HEADLINE = {"self_sufficiency", "self_consumption", "community_cost", "cost_reduction", "pm", "peak_import_kw"}
SMALL = """
name = "small"
[time]
start = "2022-08-01"
days = 2
freq = "30min"
[community]
source = "synthetic"
households = 12
pv_share = 0.5
battery_share = 0.25
seed = 3
[tariff]
retail = "citylearn"
feed_in = 0.07
"""


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_demo_small_slice(tmp_path):
    out = tmp_path / "demo"
    code, stdout, _ = run("demo", "--out", out, "--days", 3, "--json")
    assert code == 0
    payload = json.loads(stdout)
    assert set(payload["markets"]) == {"baseline", "bs", "mmr", "sdr"}
    for m in payload["markets"].values():
        assert HEADLINE <= set(m)
    assert payload["community"]["participants"] == 17
    for name in ("report.html", "summary.json", "results/sdr/series.parquet", "results/baseline/result.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text())["markets"]["sdr"]["self_sufficiency"] > 0
    assert list(tmp_path.iterdir()) == [out]  # no temporary directories left behind
    # idempotent: a second run replaces the directory
    code, _, _ = run("demo", "--out", out, "--days", 2, "--json")
    assert code == 0 and list(tmp_path.iterdir()) == [out]
    # the report can be rebuilt from the saved results
    (out / "report.html").unlink()
    code, stdout, _ = run("report", out, "--json")
    assert code == 0 and (out / "report.html").is_file()
    assert set(json.loads(stdout)["markets"]) == {"baseline", "bs", "mmr", "sdr"}


def test_simulate_and_compare(tmp_path):
    sc = tmp_path / "small.toml"
    sc.write_text(SMALL)
    code, stdout, _ = run("compare", sc, "--markets", "sdr,mmr", "--json")
    assert code == 0
    payload = json.loads(stdout)
    assert payload["scenario"] == "small"
    assert list(payload["markets"]) == ["baseline", "sdr", "mmr"]
    code, stdout, _ = run("simulate", sc, "--out", tmp_path / "o", "--json")
    assert code == 0
    assert (tmp_path / "o" / "results" / "bs" / "steps.parquet").is_file()
    code, stdout, _ = run("compare", sc)
    assert code == 0 and "Community results" in stdout


def test_shipped_scenarios_validate():
    from peergrid.simulate.scenario import load_scenario

    root = Path(__file__).resolve().parents[2] / "scenarios"
    names = {p.stem for p in root.glob("*.toml")}
    assert {"tooki-260", "lange-urban"} <= names
    for p in root.glob("*.toml"):
        load_scenario(p)
    tooki = load_scenario(root / "tooki-260.toml")
    assert tooki.community.households == 260 and tooki.community.prosumers == 14
    assert tooki.time.freq == "150min"


def _write_csv(path, frame):
    frame.to_csv(path)
    return path


def csv_scenario(tmp_path, load, gen=None):
    _write_csv(tmp_path / "load.csv", load)
    extra = ""
    if gen is not None:
        _write_csv(tmp_path / "gen.csv", gen)
        extra = 'generation = "gen.csv"\n'
    sc = tmp_path / "csv.toml"
    sc.write_text(
        f'name = "csv"\n[community]\nsource = "csv"\nload = "load.csv"\n{extra}'
        '[tariff]\ncurrency = "EUR"\nretail = 0.3\nfeed_in = 0.1\n'
    )
    return sc


def good_frames():
    idx = pd.date_range("2022-08-01", periods=24, freq="1h", tz="UTC")
    rng = np.random.default_rng(0)
    load = pd.DataFrame(rng.uniform(0, 1, (24, 3)), index=idx, columns=["a", "b", "c"])
    gen = pd.DataFrame(rng.uniform(0, 2, (24, 3)) * [1, 0, 0], index=idx, columns=["a", "b", "c"])
    return load, gen


def test_csv_scenario_runs(tmp_path):
    load, gen = good_frames()
    code, stdout, _ = run("compare", csv_scenario(tmp_path, load, gen), "--json")
    assert code == 0
    assert json.loads(stdout)["community"]["prosumers"] == 1


BAD_TOML = {
    "malformed": ("name = 'x'\n[time\n", "malformed TOML"),
    "unknown key": ("name = 'x'\ncolour = 'red'\n", "colour: unknown key"),
    "unknown nested": (
        "[community]\nsource = 'synthetic'\nhouseholds = 3\nsize = 2\n",
        "[community].size: unknown key",
    ),
    "negative capacity": (
        "[community]\nsource = 'synthetic'\nhouseholds = 3\nbattery_kwh_range = [-5.0, 2.0]\n",
        "battery_kwh_range",
    ),
    "negative households": ("[community]\nsource = 'synthetic'\nhouseholds = -3\n", "[community].households"),
    "bad freq": ("[time]\nfreq = 'fortnightly-ish'\n", "freq"),
    "bad market": ("[simulation]\nmarkets = ['sdr', 'vickrey']\n", "unknown market 'vickrey'"),
}


@pytest.mark.parametrize("case", list(BAD_TOML))
def test_bad_scenarios_one_line_exit_2(tmp_path, case):
    text, needle = BAD_TOML[case]
    sc = tmp_path / "bad.toml"
    sc.write_text(text)
    out = tmp_path / "out"
    code, _stdout, stderr = run("simulate", sc, "--out", out)
    assert code == 2, stderr
    assert needle in stderr and "bad.toml" in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.toml"]


def test_bad_data_files(tmp_path):
    load, gen = good_frames()
    cases = {
        "gap": (load.drop(load.index[5]), None, "gap"),
        # identical repeated rows are dropped (reported by `peergrid data check`); conflicting ones stop
        "duplicate": (pd.concat([load.iloc[:3], load.iloc[2:] + 0.5]), None, "duplicate"),
        "nan": (load.mask(load > 0.9), None, "NaN"),
        "negative": (load - 2.0, None, "negative"),
        # a generation file may hold only the prosumers' columns, but no meter unknown to the load file
        "shape": (load, gen.rename(columns={"c": "z"}), "not in"),
    }
    for name, (ld, gn, needle) in cases.items():
        d = tmp_path / name
        d.mkdir()
        code, _, stderr = run("simulate", csv_scenario(d, ld, gn), "--out", d / "out")
        assert code == 2, (name, stderr)
        assert needle in stderr, (name, stderr)
        assert len(stderr.strip().splitlines()) == 1
        assert not (d / "out").exists()


def test_missing_file_and_bad_markets(tmp_path):
    code, _, stderr = run("simulate", tmp_path / "nope.toml", "--out", tmp_path / "o")
    assert code == 2 and "not found" in stderr
    sc = tmp_path / "s.toml"
    sc.write_text(SMALL)
    code, _, stderr = run("compare", sc, "--markets", "sdr,xyz")
    assert code == 2 and "unknown market 'xyz'" in stderr
    code, _, stderr = run("report", tmp_path)
    assert code == 2 and "no peergrid results" in stderr


def test_entry_point_has_no_traceback(tmp_path):
    exe = Path(sys.executable).parent / "peergrid"
    proc = subprocess.run(
        [exe, "simulate", tmp_path / "missing.toml", "--out", tmp_path / "o"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "missing.toml" in proc.stderr
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "demo" in proc.stdout
