"""``peergrid simulate`` on a [region] scenario: --backend local|dask, --scheduler, --workers, --json, --out."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app

runner = CliRunner()
REGION = """
name = "tiny-region"
[time]
start = "2022-08-01"
days = 2
[community]
source = "synthetic"
households = 10
seed = 2
[simulation]
markets = ["sdr"]
[region]
communities = 4
pv_share = [0.0, 1.0]
inter_market = "sdr"
"""
PLAIN = """
[time]
start = "2022-08-01"
days = 1
[community]
source = "synthetic"
households = 4
"""


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "region.toml"
    path.write_text(REGION)
    return path


def _strip(payload):
    for key in ("backend", "workers", "seconds"):
        payload["region"].pop(key)
    return payload


def test_json_local_and_dask_identical(scenario):
    code, out, err = run("simulate", scenario, "--json")
    assert code == 0, err
    local = json.loads(out)
    assert local["region"]["communities"] == 4 and local["region"]["homes"] == 40
    assert set(local["markets"]) == {"baseline", "sdr"}
    sdr = local["markets"]["sdr"]
    assert {"self_sufficiency", "region_self_sufficiency", "inter_traded_kwh", "region_cost"} <= set(sdr)
    code, out, err = run("simulate", scenario, "--json", "--backend", "dask", "--workers", "2")
    assert code == 0, err
    dask = json.loads(out)
    assert dask["region"]["backend"] == "dask" and dask["region"]["workers"] == 2
    assert _strip(dask) == _strip(local)


def test_out_writes_tidy_tables(scenario, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run("simulate", scenario, "--out", out, "--quick", "--seed", 9)
    assert code == 0, err
    assert "Region" in stdout and f"results: {out}" in stdout
    names = {p.name for p in out.iterdir()}
    assert {"communities.parquet", "region.parquet", "steps.parquet", "summary.json", ".peergrid-output"} == names
    com = pd.read_parquet(out / "communities.parquet")
    assert len(com) == 8 and {"community", "seed", "market", "inter_bill", "region_cost"} <= set(com.columns)
    tot = pd.read_parquet(out / "region.parquet")
    assert list(tot["market"]) == ["baseline", "sdr"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["definition"]["community"]["seed"] == 9 and summary["definition"]["region"]["communities"] == 4
    # --seed changes every community
    code, stdout, _ = run("simulate", scenario, "--json", "--seed", 10)
    assert json.loads(stdout)["markets"]["sdr"]["load_kwh"] != summary["markets"]["sdr"]["load_kwh"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "dask", "--scheduler", "garbage"], "not a Dask scheduler address"),
        (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:99999"], "port 99999 out of range"),
        (["--backend", "dask", "--scheduler", "foo://x:1"], "unknown scheme"),
        (["--backend", "ray"], "--backend 'ray': choose from local, dask"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "apply to --backend dask"),
        (["--workers", "2"], "apply to --backend dask"),
        (["--backend", "dask", "--workers", "0"], "--workers"),
        (["--markets", "sdr,nope"], "unknown market"),
    ],
)
def test_bad_options_one_line_exit_2(scenario, tmp_path, args, message):
    out = tmp_path / "never"
    code, _, err = run("simulate", scenario, "--out", out, *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_backend_needs_a_region(tmp_path, scenario):
    plain = tmp_path / "plain.toml"
    plain.write_text(PLAIN)
    code, _, err = run("simulate", plain, "--backend", "dask", "--json")
    assert code == 2 and "[region]" in err
    code, _, err = run("compare", scenario, "--json")
    assert code == 2 and "runs with peergrid simulate" in err


def test_relative_files_resolve_against_the_scenario(tmp_path, monkeypatch):
    """A tariff file next to the scenario is found from any working directory (and by remote workers:
    the spec carries the scenario's absolute directory); a missing one is one line naming the community."""
    (tmp_path / "flat.toml").write_text('currency = "EUR"\nenergy = 0.30\nfeed_in = 0.08\n')
    path = tmp_path / "region.toml"
    path.write_text('tariff = "flat.toml"\n' + REGION)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run("simulate", "../region.toml", "--json")
    assert code == 0, err
    assert json.loads(out)["currency"] == "EUR"
    (tmp_path / "flat.toml").unlink()
    code, _, err = run("simulate", "../region.toml", "--json")
    assert code == 2 and "../region.toml: community 0: " in err and len(err.strip().splitlines()) == 1
