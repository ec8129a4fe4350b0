"""Issue 15: ``--out`` never loses a file peergrid did not write.

Every command with a directory ``--out`` (``clear --out DIR`` included, and ``report DIR``) is
run through the real CLI (typer's CliRunner, small inputs): user files in the target
survive and the command exits 2 with one line; ``--out .`` is clean; a re-run into our
own output works; an interrupted run leaves no temporary directory and the previous
output intact; symbolic links and planted markers do not lead to deletions.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from peergrid.cli.main import app

runner = CliRunner()
REFUSAL = "directory exists and holds files peergrid did not write; choose a new or empty directory"
MARKER = ".peergrid-output"

SMALL = """
name = "small"
[time]
start = "2022-08-01"
days = 1
freq = "1h"
[community]
source = "synthetic"
households = 4
pv_share = 0.5
battery_share = 0.5
seed = 3
[tariff]
retail = "citylearn"
feed_in = 0.07
"""
ORDERS = "id,participant,side,quantity_kwh,price\n1,alice,buy,2,0.30\n2,carol,sell,1.5,0.10\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    (d / "small.toml").write_text(SMALL)
    (d / "fed.toml").write_text('name = "t"\nnodes = 40\ncycles = 2\n')
    (d / "sweep.toml").write_text('name = "t"\nseeds = 1\nnodes = 30\ncycles = 2\n[grid]\n"overlay.view" = [3]\n')
    (d / "orders.csv").write_text(ORDERS)
    return d


# every command that writes an output directory: argv without --out
COMMANDS: dict[str, Callable[[Path], list]] = {
    "demo": lambda i: ["demo", "--days", 1],
    "simulate": lambda i: ["simulate", i / "small.toml"],
    "compare": lambda i: ["compare", i / "small.toml", "--markets", "sdr"],
    "control": lambda i: ["control", "milford-haven", "--scenario", i / "small.toml"],
    "federation-run": lambda i: ["federation", "run", i / "fed.toml"],
    "federation-experiment": lambda i: ["federation", "experiment", "1", "--seeds", 1, "--nodes", 30, "--cycles", 2],
    "sweep": lambda i: ["sweep", i / "sweep.toml"],
    "zoom": lambda i: ["zoom", "experiment", "island", "--quick"],
    "reproduce": lambda i: ["reproduce", "tooki", "--quick"],
    "clear": lambda i: ["clear", i / "orders.csv"],
}
CMDS = sorted(COMMANDS)
#: The JSON record each command writes (summary.json unless named here).
RECORD = {"reproduce": "claims.json"}


def run(*args) -> tuple[int, str, str]:
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def run_out(name: str, inputs: Path, out: Path | str) -> tuple[int, str, str]:
    return run(*COMMANDS[name](inputs), "--out", out, "--json")


def snapshot(d: Path) -> dict[str, str]:
    """Relative path -> sha256 (files) or 'dir' / 'link' of everything under ``d``."""
    snap = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = Path(root) / n
            rel = str(p.relative_to(d))
            if p.is_symlink():
                snap[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                snap[rel] = "dir"
            else:
                snap[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return snap


def user_dir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "my.toml").write_text(SMALL)
    (d / "data.csv").write_text("a,b\n1,2\n")
    (d / "notes").mkdir()
    (d / "notes" / "n.txt").write_text("keep me")
    return d


def hidden(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith(".") and p.name != MARKER)


def assert_refused(code: int, stdout: str, stderr: str) -> None:
    assert code == 2, (code, stdout, stderr)
    assert REFUSAL in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert stdout == ""


@pytest.mark.parametrize("name", CMDS)
def test_user_files_in_out_dir_survive(name, inputs, tmp_path):
    out = user_dir(tmp_path / "myfolder")
    before = snapshot(out)
    assert_refused(*run_out(name, inputs, out))
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["myfolder"]  # no temporary sibling left


@pytest.mark.parametrize("name", CMDS)
def test_out_dot_in_a_user_cwd_is_refused_cleanly(name, inputs, tmp_path, monkeypatch):
    work = user_dir(tmp_path / "work")
    before = snapshot(work)
    monkeypatch.chdir(work)
    assert_refused(*run_out(name, inputs, "."))
    assert snapshot(work) == before
    assert [p.name for p in tmp_path.iterdir()] == ["work"]


@pytest.mark.parametrize("name", CMDS)
def test_rerun_into_own_output_and_user_file_added_later(name, inputs, tmp_path):
    out = tmp_path / "o"
    code, _, err = run_out(name, inputs, out)
    assert code == 0, err
    marker = json.loads((out / MARKER).read_text())
    assert marker["command"].startswith("peergrid ") and marker["files"]
    first = snapshot(out)
    code, _, err = run_out(name, inputs, out)  # idempotent: our own output is replaced
    assert code == 0, err
    assert set(snapshot(out)) == set(first)
    assert [p.name for p in tmp_path.iterdir()] == ["o"] and hidden(out) == []
    (out / "my-notes.txt").write_text("mine")  # a user file appears in our output: refuse
    before = snapshot(out)
    assert_refused(*run_out(name, inputs, out))
    assert snapshot(out) == before


@pytest.mark.parametrize("name", CMDS)
def test_interrupted_run_keeps_previous_output(name, inputs, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, err = run_out(name, inputs, ".")  # an empty cwd is fine
    assert code == 0, err
    record = RECORD.get(name, "summary.json")
    assert (work / MARKER).is_file() and (work / record).is_file() and hidden(work) == []
    before = snapshot(work)
    real = Path.write_text

    def interrupted(self, *a, **k):
        if self.name == record:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", interrupted)
    code, _, err = run_out(name, inputs, ".")
    assert code == 130 and "interrupted" in err
    assert snapshot(work) == before and hidden(work) == []
    assert [p.name for p in tmp_path.iterdir()] == ["work"]


def test_out_dot_empty_cwd_then_rerun(inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, stdout, err = run("simulate", inputs / "small.toml", "--out", ".", "--json")
        assert code == 0, err
        assert json.loads(stdout)["out"] == "."
    assert (tmp_path / "results" / "bs" / "result.json").is_file() and (tmp_path / "report.html").is_file()
    assert hidden(tmp_path) == []


def test_symlinked_out_or_a_file_is_refused(inputs, tmp_path):
    victim = user_dir(tmp_path / "victim")
    before = snapshot(victim)
    (tmp_path / "link").symlink_to(victim, target_is_directory=True)
    code, _, err = run("simulate", inputs / "small.toml", "--out", tmp_path / "link", "--json")
    assert code == 2 and "symbolic link" in err and len(err.strip().splitlines()) == 1
    assert snapshot(victim) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "victim"]
    assert (tmp_path / "link").is_symlink()
    f = tmp_path / "results.txt"
    f.write_text("mine")
    code, _, err = run("simulate", inputs / "small.toml", "--out", f, "--json")
    assert code == 2 and "not a directory" in err and len(err.strip().splitlines()) == 1
    assert f.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["link", "results.txt", "victim"]


def test_planted_marker_does_not_delete_user_files(inputs, tmp_path):
    out = user_dir(tmp_path / "planted")
    (tmp_path / "victim.txt").write_text("outside")
    digest = hashlib.sha256(b"wrong").hexdigest()
    (out / MARKER).write_text(
        json.dumps({"files": {"my.toml": digest, "data.csv": digest, "notes/n.txt": digest}, "dirs": ["notes"]})
    )
    before = snapshot(out)
    assert_refused(*run("simulate", inputs / "small.toml", "--out", out, "--json"))
    assert snapshot(out) == before
    # a marker listing paths outside the directory is never followed
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / MARKER).write_text(
        json.dumps({"files": {"../victim.txt": "x", "/etc/passwd": "y"}, "dirs": ["..", "/"]})
    )
    code, _, err = run("simulate", inputs / "small.toml", "--out", lone, "--json")
    assert code == 0, err
    assert (tmp_path / "victim.txt").read_text() == "outside"
    marker = json.loads((lone / MARKER).read_text())
    assert all(not k.startswith(("/", "..")) for k in marker["files"])
    marker["files"]["../victim.txt"] = hashlib.sha256(b"outside").hexdigest()
    (lone / MARKER).write_text(json.dumps(marker))
    code, _, err = run("report", lone, "--json")  # updates the marker in place: foreign keys are dropped
    assert code == 0, err
    assert "../victim.txt" not in json.loads((lone / MARKER).read_text())["files"]
    assert (tmp_path / "victim.txt").read_text() == "outside"


# ---- peergrid report DIR -------------------------------------------------------------------------------------


def test_report_does_not_overwrite_user_files(inputs, tmp_path):
    out = tmp_path / "o"
    assert run("simulate", inputs / "small.toml", "--out", out, "--json")[0] == 0
    (out / MARKER).unlink()  # now a directory the user assembled: results plus their own report
    (out / "report.html").write_text("<p>my own report</p>")
    before = snapshot(out)
    code, stdout, err = run("report", out, "--json")
    assert code == 2 and "exists and was not written by peergrid" in err
    assert len(err.strip().splitlines()) == 1 and stdout == ""
    assert snapshot(out) == before


def test_report_updates_our_output_and_marker(inputs, tmp_path, monkeypatch):
    out = tmp_path / "o"
    assert run("simulate", inputs / "small.toml", "--out", out, "--json")[0] == 0
    (out / "report.html").unlink()
    code, _, err = run("report", out, "--json")
    assert code == 0, err
    assert (out / "report.html").is_file() and hidden(out) == []
    marker = json.loads((out / MARKER).read_text())
    assert marker["files"]["report.html"] == hashlib.sha256((out / "report.html").read_bytes()).hexdigest()
    before = snapshot(out)
    real = Path.write_text

    def interrupted(self, *a, **k):
        if self.name == "report.html":
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", interrupted)
    code, _, _ = run("report", out, "--json")
    assert code == 130 and snapshot(out) == before and hidden(out) == []
    monkeypatch.setattr(Path, "write_text", real)
    # the marker stays true: a re-run of simulate into the same directory works
    code, _, err = run("simulate", inputs / "small.toml", "--out", out, "--json")
    assert code == 0, err


# ---- peergrid clear --out: a directory; the former file form is refused -------------------------------------------


def test_clear_out_file_form_refused_with_the_new_usage(inputs, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    for target in (orders, tmp_path / "trades.csv"):  # an existing file (the orders!) or a new *.csv name
        code, stdout, err = run("clear", orders, "--out", target, "--json")
        assert code == 2 and "--out is now a directory" in err, err
        assert len(err.strip().splitlines()) == 1 and stdout == ""
    assert orders.read_text() == ORDERS
    d = user_dir(tmp_path / "dir")
    before = snapshot(d)
    assert_refused(*run("clear", orders, "--out", d, "--json"))
    assert snapshot(d) == before
    (tmp_path / "link").symlink_to(d)
    code, _, err = run("clear", orders, "--out", tmp_path / "link", "--json")
    assert code == 2 and "symbolic link" in err and snapshot(d) == before
    assert hidden(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "link", "orders.csv"]


def test_help_documents_the_policy():
    code, stdout, _ = run("simulate", "--help")
    # help is a rich panel wrapped at the terminal width: drop the panel's borders before joining the words
    assert code == 0 and "peergrid did not write" in " ".join(stdout.replace("│", " ").split())


# ---- property: whatever is in the target, only files recorded byte for byte in the marker can go -------------

_names = st.sampled_from(["a.csv", "b.toml", "report.html", "summary.json", "results", "x", ".hidden"])
_tree = st.dictionaries(
    st.tuples(_names, st.one_of(st.none(), _names)).map(lambda t: t[0] if t[1] is None else f"{t[0]}.d/{t[1]}"),
    st.binary(max_size=8),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_tree, listed=st.sets(st.integers(0, 5)), honest=st.sets(st.integers(0, 5)), marker=st.booleans())
def test_property_output_dir_deletes_only_recorded_files(tree, listed, honest, marker):
    import tempfile

    from peergrid.core.output import OutputError, output_dir

    with tempfile.TemporaryDirectory() as base:
        target = Path(base) / "out"
        target.mkdir()
        for rel, data in tree.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
        paths = sorted(tree)
        recorded = {}
        for i, rel in enumerate(paths):
            if i in listed:
                sha = hashlib.sha256(tree[rel]).hexdigest()
                recorded[rel] = sha if i in honest else hashlib.sha256(b"other" + tree[rel]).hexdigest()
        if marker:
            dirs = sorted({str(Path(r).parent) for r in paths if "/" in r})
            (target / MARKER).write_text(json.dumps({"files": recorded, "dirs": dirs}))
        before = snapshot(target)
        try:
            with output_dir(target, command="test") as tmp:
                (tmp / "summary.json").write_text("{}")
        except OutputError:
            assert snapshot(target) == before
        else:
            # success: every file that was there was recorded with its exact content
            for rel, data in tree.items():
                assert marker and recorded.get(rel) == hashlib.sha256(data).hexdigest()
            assert (target / "summary.json").read_text() == "{}"
        assert sorted(p.name for p in Path(base).iterdir()) == ["out"]
        assert not [p for p in target.iterdir() if p.name.startswith((".peergrid-tmp", ".peergrid-old"))]
