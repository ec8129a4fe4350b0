"""CLI: federation run / experiment and sweep — JSON output, files, one-line errors with exit 2."""

import json

import pytest
import typer
from typer.testing import CliRunner

from peergrid.cli import federation as federation_cli

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    a = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    a.add_typer(federation_cli.app, name="federation")
    a.add_typer(federation_cli.sweep_app)
    return a


def run(app, *args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_run_json_and_out(app, tmp_path):
    cfg = tmp_path / "fed.toml"
    cfg.write_text('name = "t"\nnodes = 120\ncycles = 8\n[overlay]\nview = 4\nsample = 30\n')
    code, out, _ = run(app, "federation", "run", cfg, "--json", "--seed", 3, "--out", tmp_path / "o")
    assert code == 0
    payload = json.loads(out)
    assert payload["nodes"] == 120 and payload["cycles"] == 8 and payload["seed"] == 3
    assert {"exchanges", "consumption_kwh", "cost"} <= set(payload["totals"])
    assert payload["overlay"]["end"]["clustering"] >= 0
    assert (tmp_path / "o" / "per_cycle.csv").is_file() and (tmp_path / "o" / "summary.json").is_file()
    code, out, _ = run(app, "federation", "run", cfg, "--nodes", 60, "--cycles", 2)
    assert code == 0 and "exchanges" in out


def test_run_peersim_config(app, tmp_path):
    cfg = tmp_path / "petri.cfg"
    cfg.write_text("network.size 100\nsimulation.cycles 5\ninit.rnd WireKOut\ninit.rnd.k 4\n")
    code, out, _ = run(app, "federation", "run", cfg, "--json")
    assert code == 0 and json.loads(out)["nodes"] == 100


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("nodes = 10\n[overlay]\nview = 12\n", "must be smaller than nodes"),
        ("[demand]\nrequest_probability = 1.2\n", "request_probability"),
        ("[energy]\ntypes = 0\n", "energy.types"),
        ("bogus = 1\n", "unknown key"),
    ],
)
def test_bad_input_one_line_exit_2(app, tmp_path, text, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    code, out, err = run(app, "federation", "run", cfg, "--json")
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1


def test_experiment_small(app, tmp_path):
    out_dir = tmp_path / "exp1"
    code, out, _ = run(
        app, "federation", "experiment", "1", "--seeds", 2, "--nodes", 100, "--cycles", 10, "--out", out_dir, "--json"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["experiment"] == "1" and len(payload["points"]) == 4
    assert isinstance(payload["finding"]["agrees"], bool)
    for name in ("experiment_1.csv", "experiment_1.png", "runs.csv", "summary.json"):
        assert (out_dir / name).is_file()
    assert list(tmp_path.iterdir()) == [out_dir]


def test_experiment_bad_name_and_backend(app, tmp_path):
    code, _, err = run(app, "federation", "experiment", "9", "--out", tmp_path / "x")
    assert code == 2 and "unknown experiment" in err
    code, _, err = run(app, "federation", "experiment", "1", "--backend", "spark", "--out", tmp_path / "x")
    assert code == 2 and "unknown backend" in err
    assert not (tmp_path / "x").exists()


def test_sweep_command(app, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "t"\nseeds = 2\nnodes = 60\ncycles = 5\n[grid]\n"overlay.view" = [3, 6]\n')
    code, out, _ = run(app, "sweep", spec, "--json", "--out", tmp_path / "res")
    assert code == 0
    payload = json.loads(out)
    assert payload["tasks"] == 4 and payload["backend"] == "local" and len(payload["points"]) == 2
    assert (tmp_path / "res" / "runs.csv").is_file() and (tmp_path / "res" / "summary.csv").is_file()
    code, _, err = run(app, "sweep", tmp_path / "missing.toml")
    assert code == 2 and "not found" in err
