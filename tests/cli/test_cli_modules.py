"""Each command module of :mod:`peergrid.cli` has a module-level typer app: importable and runnable alone.

:mod:`peergrid.cli.main` only composes them; a command run through its own module's app gives the same
output and exit code as through ``peergrid``.
"""

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from peergrid.cli import clear, control, data, federation, invest, meters, reproduce, service, study, zoom
from peergrid.cli.main import app as peergrid_app

runner = CliRunner()

#: (module app, command names it contributes, group name or None for top-level commands)
MODULE_APPS = [
    (study.app, ["demo", "simulate", "compare", "report"], None),
    (clear.app, ["clear"], None),
    (federation.sweep_app, ["sweep"], None),
    (reproduce.app, ["reproduce"], None),
    (service.serve_app, ["serve"], None),
    (invest.app, ["invest"], None),
    (control.app, ["milford-haven"], "control"),
    (federation.app, ["run", "experiment"], "federation"),
    (zoom.app, ["experiment"], "zoom"),
    (service.ledger_app, ["verify"], "ledger"),
    (meters.app, ["tokens", "dead-letters", "simulate", "provision"], "meters"),
    (data.app, ["check"], "data"),
]

ORDERS = "id,participant,side,quantity_kwh,price\n1,alice,buy,2,0.30\n2,bob,buy,1,0.20\n3,carol,sell,1.5,0.10\n"


def _commands(app: typer.Typer) -> dict:
    """``{name: click command}`` of a typer app's group (typer vendors its own click)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_main_is_the_composition_of_the_module_apps_in_help_order():
    top = _commands(peergrid_app)
    expected = [name for _, names, group in MODULE_APPS if group is None for name in names]
    expected += [group for _, _, group in MODULE_APPS if group is not None]
    assert list(top) == expected
    for module_app, names, group in MODULE_APPS:
        if group is None:
            continue
        assert list(top[group].commands) == names
        assert [c.name for c in module_app.registered_commands] == names


@pytest.mark.parametrize("module", ["clear", "data", "study", "federation", "zoom", "meters", "service", "invest"])
def test_a_command_module_imports_without_the_main_app(module):
    code = f"import sys, peergrid.cli.{module}; assert 'peergrid.cli.main' not in sys.modules, 'imports main'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_clear_alone_equals_clear_through_peergrid(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    alone = runner.invoke(clear.app, [str(orders), "--json"])  # one command: invoked without its name
    via = runner.invoke(peergrid_app, ["clear", str(orders), "--json"])
    assert alone.exit_code == via.exit_code == 0, alone.stderr
    assert alone.stdout == via.stdout
    payload = json.loads(alone.stdout)
    assert payload["mechanism"] == "uniform" and payload["n_trades"] == 1  # alice buys all of carol's 1.5 kWh
    assert payload["traded_kwh"] == pytest.approx(1.5)


def test_clear_alone_errors_are_one_line_exit_2(tmp_path):
    r = runner.invoke(clear.app, [str(tmp_path / "missing.csv")])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [f"error: No such file or directory: {tmp_path / 'missing.csv'}"]


def test_data_check_alone_exit_codes(tmp_path):
    # a typer app of one command runs that command when invoked alone (no command name)
    good = tmp_path / "meters.csv"
    good.write_text("timestamp,meter,kwh\n2023-01-01 00:00,H1,1\n2023-01-01 01:00,H1,2\n2023-01-01 02:00,H1,3\n")
    r = runner.invoke(data.app, [str(good), "--json"])
    assert r.exit_code == 0, r.stderr
    via = runner.invoke(peergrid_app, ["data", "check", str(good), "--json"])
    assert via.exit_code == 0 and via.stdout == r.stdout
    assert json.loads(r.stdout)["meters"] == 1
    r = runner.invoke(data.app, [str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


def test_study_report_alone_refuses_a_missing_directory(tmp_path):
    r = runner.invoke(study.app, ["report", str(tmp_path / "none")])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'none'}: no such directory"


def test_zoom_alone_unknown_experiment_is_one_line():
    r = runner.invoke(zoom.app, ["nope"])  # its one command
    assert r.exit_code == 2
    assert r.stderr.strip().startswith("error: unknown zoom experiment 'nope'; choose from sf-share")


def test_sweep_alone_refuses_an_unknown_backend(tmp_path):
    r = runner.invoke(federation.sweep_app, [str(tmp_path / "spec.toml"), "--backend", "nowhere"])
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: unknown backend 'nowhere'; choose from local, dask, ray"
