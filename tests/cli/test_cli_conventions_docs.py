"""Every ``peergrid ...`` example in README.md and docs/**/*.md names real commands and options,
and the cheap ones run as written (issue 18, finding 5: the README's own command failed).

Commands are taken from fenced code blocks and from inline code spans. Each is checked
against the command tree of the CLI (subcommands exist, every ``--option`` belongs to the
command). Commands without placeholders whose inputs ship with the repository are then
run in a scratch directory: ``simulate``/``compare``/``demo``/``invest`` with ``--quick`` added
(simulate of the small order-book scenario also verbatim), ``report`` after them,
``zoom experiment`` only when the example says ``--quick``, ``--version``/``--help``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from peergrid.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
runner = CliRunner()
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"`(peergrid [^`]+)`")


def _logical_lines(block: list[str]) -> list[str]:
    out, cur = [], ""
    for line in block:
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        out.append(cur + line)
        cur = ""
    if cur:
        out.append(cur)
    return out


def _argv(line: str) -> list[str] | None:
    """The arguments after ``peergrid`` of a shell line, or None if it does not run peergrid."""
    line = line.strip()
    if line.startswith("$ "):
        line = line[2:]
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        words = line.split()
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):  # VAR=value peergrid ...
        words.pop(0)
    if not words or words[0] != "peergrid":
        return None
    return words[1:]


def examples() -> list[tuple[str, list[str]]]:
    """``(where, argv)`` of every example command (``where`` ends in ``code`` for code blocks)."""
    found: list[tuple[str, list[str]]] = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        in_code, block, start = False, [], 0
        for n, line in enumerate(lines, 1):
            if FENCE.match(line):
                if in_code:
                    for cmd in _logical_lines(block):
                        argv = _argv(cmd)
                        if argv is not None:
                            found.append((f"{path.relative_to(ROOT)}:{start} code", argv))
                    block = []
                else:
                    start = n + 1
                in_code = not in_code
                continue
            if in_code:
                block.append(line)
            else:
                for m in INLINE.finditer(line):
                    argv = _argv(m.group(1).replace("\\|", "|"))
                    if argv is not None:
                        found.append((f"{path.relative_to(ROOT)}:{n}", argv))
    return found


EXAMPLES = examples()
QUICK = {"simulate", "compare", "demo", "invest"}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_.]*$|\.\.\.|…|<|>")


def _resolve(argv: list[str]) -> tuple[object, list[str], list[str]]:
    """(click command, command path, remaining words) for ``peergrid argv``."""
    import click

    cmd = typer.main.get_command(app)
    path: list[str] = []
    rest = list(argv)
    ctx = click.Context(cmd)
    while hasattr(cmd, "get_command") and rest and not rest[0].startswith("-"):
        name = rest[0]
        sub = cmd.get_command(ctx, name)
        if sub is None:
            return None, [*path, name], rest
        path.append(name)
        rest.pop(0)
        cmd = sub
    return cmd, path, rest


def _problems(argv: list[str]) -> list[str]:
    words = [w for w in argv if w not in ("[", "]", "...", "…")]
    if any("|" in w or "/" in w for w in words[:2] if not w.startswith("-")) and not words[0].endswith(".toml"):
        # prose shorthand such as `peergrid federation run/experiment`: check each alternative
        first = next(i for i, w in enumerate(words) if "|" in w or "/" in w)
        alternatives = re.split(r"[|/]", words[first])
        return [p for alt in alternatives for p in _problems([*words[:first], alt, *words[first + 1:]])]
    cmd, path, rest = _resolve(words)
    if cmd is None:
        return [f"unknown command: peergrid {' '.join(path)}"]
    names = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    problems = []
    for w in rest:
        w = w.strip("[]")
        if w.startswith("--"):
            opt = w.split("=", 1)[0]
            if opt not in names:
                problems.append(f"peergrid {' '.join(path)}: no option {opt}")
    return problems


def _drop_optional(argv: list[str]) -> list[str]:
    """``argv`` without the ``[...]`` parts of a synopsis."""
    out, depth = [], 0
    for w in argv:
        depth += w.count("[")
        if depth == 0:
            out.append(w)
        depth -= w.count("]")
    return out


def _parse_problem(argv: list[str]) -> str | None:
    """Why click cannot parse a complete example (missing required option, bad value …), or None."""
    words = _drop_optional(argv)
    if any(PLACEHOLDER.search(w) for w in words) or any("|" in w for w in words):
        return None
    cmd, path, rest = _resolve(words)
    if cmd is None:
        return f"unknown command {path}"
    try:
        cmd.make_context(" ".join(["peergrid", *path]), rest)
    except Exception as exc:
        if getattr(exc, "exit_code", None) == 0:  # --version, --help: print and exit 0
            return None
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return f"{type(exc).__name__}: {message}"
    return None


def test_examples_found():
    commands = {" ".join(a[:2]) for _, a in EXAMPLES}
    assert len(EXAMPLES) > 40
    assert {"simulate scenarios/order-book.toml", "clear ORDERS.csv"} <= commands
    assert _problems(["simulate", "x.toml", "--bogus"]) == ["peergrid simulate: no option --bogus"]
    assert _problems(["nope"]) == ["unknown command: peergrid nope"]
    assert _parse_problem(["meters", "tokens"]) is not None  # --community is required


@pytest.mark.parametrize(("where", "argv"), EXAMPLES, ids=[f"{w} {' '.join(a)[:60]}" for w, a in EXAMPLES])
def test_example_names_real_commands_and_options(where, argv):
    assert _problems(argv) == [], where
    if where.endswith("code"):  # complete commands in code blocks must also parse (required options, values)
        assert _parse_problem(argv) is None, where


# ---- run the cheap ones ----------------------------------------------------------------------------------------



def _runnable(argv: list[str]) -> list[str] | None:
    """``argv`` made cheap (optional [..] parts dropped, --quick added), or None if it is not run."""
    words = _drop_optional(argv)
    if not words or any(PLACEHOLDER.search(w) for w in words) or any("|" in w for w in words):
        return None
    if "--scheduler" in words:  # names a running Dask cluster (tcp://host:8786): not there in a test
        return None
    if words[0] in ("--version", "--help") or words[-1] == "--help":
        return words
    if words[0] in QUICK:
        if words[0] != "demo" and (len(words) < 2 or not (ROOT / words[1]).is_file()):
            return None
        return [*words, "--quick"] if "--quick" not in words else words
    if words[0] == "report":
        return words
    if words[:2] == ["zoom", "experiment"] and "--quick" in words:
        return words
    return None


RUNNABLE = [(w, r) for w, a in EXAMPLES if (r := _runnable(a)) is not None]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    d = tmp_path_factory.mktemp("examples")
    for name in ("scenarios", "examples"):  # the examples' relative paths, as from the repository root
        if (ROOT / name).is_dir():
            (d / name).symlink_to(ROOT / name)
    return d


def test_cheap_examples_run_as_written(scratch, monkeypatch):
    assert len(RUNNABLE) >= 5, RUNNABLE
    monkeypatch.chdir(scratch)
    # reports need an earlier output: run the producing commands first
    ordered = sorted(RUNNABLE, key=lambda wr: wr[1][0] == "report")
    failures = []
    for where, argv in ordered:
        r = runner.invoke(app, argv)
        if r.exit_code != 0:
            failures.append(f"{where}: peergrid {' '.join(argv)} -> {r.exit_code}: {r.stderr.strip()[:200]}")
    assert failures == []


def test_readme_simulate_order_book_verbatim(scratch, monkeypatch):
    """`peergrid simulate scenarios/order-book.toml` exactly as the README prints it (it failed: Missing --out)."""
    assert any(a == ["simulate", "scenarios/order-book.toml"] for _, a in EXAMPLES)
    monkeypatch.chdir(scratch)
    r = runner.invoke(app, ["simulate", "scenarios/order-book.toml"])
    assert r.exit_code == 0, r.stderr
    out = scratch / "out" / "order-book"
    assert (out / "report.html").is_file() and (out / "summary.json").is_file()
    assert "out/order-book" in r.stdout  # the default output directory is printed at the end
