"""CLI side of the report: --format/--dpi, summary.json from a scenario run, `peergrid report` reproduces it."""

from __future__ import annotations

import hashlib
import json
import re
import struct

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import peergrid
from peergrid.cli.main import app

runner = CliRunner()
STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\dZ?( UTC)?")
STEMS = ("daily_profiles", "prices", "savings", "soc", "energy_flows")


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def csv_scenario(tmp_path_factory):
    """A user-data study in Berlin: two CSV files and a flat tariff."""
    d = tmp_path_factory.mktemp("csv")
    idx = pd.date_range("2024-06-01", periods=48, freq="1h", tz="UTC")
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.uniform(0, 1, (48, 4)), index=idx, columns=list("abcd")).to_csv(d / "load.csv")
    gen = rng.uniform(0, 2, (48, 4)) * [1, 1, 0, 0]
    pd.DataFrame(gen, index=idx, columns=list("abcd")).to_csv(d / "gen.csv")
    sc = d / "mine.toml"
    sc.write_text(
        'name = "mine"\ndescription = "my street"\n[tariff]\nretail = 0.32\nfeed_in = 0.08\ncurrency = "EUR"\n'
        '[community]\nsource = "csv"\nload = "load.csv"\ngeneration = "gen.csv"\n'
        '[simulation]\ncontrol = "none"\nmarkets = ["baseline", "mmr", "sdr"]\n'
    )
    return sc


@pytest.fixture(scope="module")
def simulated(csv_scenario, tmp_path_factory):
    out = tmp_path_factory.mktemp("o") / "run"
    code, _, stderr = run("simulate", csv_scenario, "--out", out, "--dpi", 72)
    assert code == 0, stderr
    return out


def test_summary_json_of_a_scenario_run(simulated, csv_scenario):
    s = json.loads((simulated / "summary.json").read_text())
    assert s["peergrid_version"] == peergrid.__version__
    assert s["command"] == "peergrid simulate"
    assert s["scenario"]["name"] == "mine" and s["scenario"]["simulation"]["control"] == "none"
    assert s["scenario"]["time"]["freq"]  # defaults included
    assert s["notes"] == ["my street"]
    assert s["figures"] == {"format": "png", "dpi": 72}
    assert s["tz"] == "UTC"
    files = {f["path"].rsplit("/", 1)[-1]: f for f in s["data"]["files"]}
    assert set(files) == {"load.csv", "gen.csv"}
    load = (csv_scenario.parent / "load.csv").read_bytes()
    assert files["load.csv"]["sha256"] == hashlib.sha256(load).hexdigest()
    assert s["scenario_file"]["sha256"] == hashlib.sha256(csv_scenario.read_bytes()).hexdigest()
    assert s["tariff"]["name"] and s["tariff"]["definition"]
    assert "community.seed" not in s["seeds"]  # no seed applies to meter files
    assert set(s["markets"]) == {"baseline", "mmr", "sdr"}


def test_png_dpi_from_the_cli(simulated):
    data = (simulated / "prices.png").read_bytes()
    w, h = struct.unpack(">II", data[16:24])
    assert (w, h) == (11 * 72, 8 * 72)


def test_report_command_rebuilds_the_same_report(simulated, tmp_path):
    original = (simulated / "report.html").read_text(encoding="utf-8")
    pngs = {s: (simulated / f"{s}.png").read_bytes() for s in STEMS}
    code, stdout, stderr = run("report", simulated)
    assert code == 0, stderr
    assert stdout.strip() == f"report: {simulated / 'report.html'}"
    rebuilt = (simulated / "report.html").read_text(encoding="utf-8")
    assert "my street" in rebuilt and "tariff.retail" in rebuilt  # notes and scenario parameters kept
    assert STAMP.sub("T", rebuilt) == STAMP.sub("T", original)
    assert {s: (simulated / f"{s}.png").read_bytes() for s in STEMS} == pngs


def test_report_command_other_format_and_json(simulated):
    code, stdout, stderr = run("report", simulated, "--format", "pdf", "--json")
    assert code == 0 and stderr == ""
    payload = json.loads(stdout)
    assert set(payload["markets"]) == {"baseline", "mmr", "sdr"}
    for stem in STEMS:
        assert (simulated / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    assert json.loads((simulated / "summary.json").read_text())["figures"] == {"format": "pdf", "dpi": 72}


@pytest.mark.parametrize("args", [["--format", "gif"], ["--dpi", "1"]])
def test_bad_figure_options_fail_in_one_line(csv_scenario, tmp_path, args):
    code, _, stderr = run("simulate", csv_scenario, "--out", tmp_path / "x", *args)
    assert code == 2 and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_compare_svg(csv_scenario, tmp_path):
    code, _, stderr = run("compare", csv_scenario, "--out", tmp_path / "c", "--format", "svg")
    assert code == 0, stderr
    for stem in STEMS:
        assert (tmp_path / "c" / f"{stem}.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
