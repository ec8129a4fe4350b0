"""``peergrid zoom experiment`` CLI and the experiments' claim records."""

import json

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.zoom.experiments import EXPERIMENTS, run_experiment

runner = CliRunner()


def test_cli_island_quick_json(tmp_path):
    out = tmp_path / "island"
    r = runner.invoke(app, ["zoom", "experiment", "island", "--quick", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["experiment"] == "island"
    assert {"claim", "paper", "measured", "verdict", "reason", "agrees", "baseline", "criterion"} <= set(
        payload["claims"][0]
    )
    for name in ("island.csv", "island.png", "summary.json"):
        assert (out / name).stat().st_size > 0


def test_cli_unknown_experiment_exit_2(tmp_path):
    r = runner.invoke(app, ["zoom", "experiment", "nope", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "unknown zoom experiment" in r.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiments_quick(name):
    exp = run_experiment(name, quick=True)
    assert len(exp.table) > 0 and exp.claims
    for c in exp.claims:
        assert isinstance(c["agrees"], bool) and c["baseline"]
        assert c["verdict"] in ("agrees", "disagrees", "not comparable") and c["agrees"] == (c["verdict"] == "agrees")
    json.dumps(exp.payload(), allow_nan=False)
