"""docs/data.md runs as written: every `$ peergrid ...` command, its shown output, and the example files."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "data.md"
runner = CliRunner()


def console_commands() -> list[tuple[str, list[str]]]:
    """(command, shown output lines) for each `$ ` line of the console blocks."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.S):
        current = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = (line[2:], [])
                out.append(current)
            elif current is not None and line.strip():
                current[1].append(line)
    return out


def test_doc_has_the_worked_example():
    cmds = [c for c, _ in console_commands()]
    assert any(c.startswith("peergrid data check") for c in cmds)
    assert any(c.startswith("peergrid simulate examples/data/my-community.toml") for c in cmds)


def test_doc_commands_run_and_print_what_is_shown(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for command, shown in console_commands():
        argv = shlex.split(command)
        assert argv[0] == "peergrid", command
        result = runner.invoke(app, argv[1:])
        expected = 1 if any(line.startswith("problems:") for line in shown) else 0
        assert result.exit_code == expected, (command, result.stderr)
        if argv[1] == "data":
            actual = result.stdout.splitlines()
            for line in shown:
                assert line in actual, (command, line)
    summary = json.loads((tmp_path / "out" / "my-community" / "summary.json").read_text())
    assert summary["community"]["tz"] == "Europe/Berlin"
    assert summary["community"]["participants"] == 10 and summary["community"]["steps"] == 1348
    assert (tmp_path / "out" / "my-community" / "report.html").is_file()


def test_doc_toml_is_the_example_file():
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S).group(1)
    assert tomllib.loads(block) == tomllib.loads((ROOT / "examples/data/my-community.toml").read_text())


def test_example_export_is_reproducible_and_small():
    path = ROOT / "examples" / "data" / "meters-long.csv"
    assert path.stat().st_size < 1_500_000
    spec = importlib.util.spec_from_file_location("make_example_meters", ROOT / "scripts" / "make_example_meters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build().to_csv(index=False, lineterminator="\n") == path.read_text()


@pytest.mark.parametrize("name", ["participants.csv", "meters-long.csv"])
def test_example_files_are_referenced_by_the_doc(name):
    assert f"examples/data/{name}" in DOC.read_text()
