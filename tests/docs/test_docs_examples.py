"""Every script of the examples gallery (examples/*.py) runs as written, fast, offline."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT_S = 60  # each runs in a few seconds on an idle machine (brief: < 15 s); the margin is for load


def test_docs_examples_gallery_has_examples():
    assert 5 <= len(EXAMPLES) <= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_docs_example_runs(path, tmp_path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.splitlines()[0]) <= 100, "an example starts with a one-line title docstring"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "an example prints what it found"
    assert "Traceback" not in proc.stderr
    # whatever it writes stays in its working directory
    assert not (ROOT / "out").exists() or all(p.stat().st_mtime < time.time() - elapsed - 1
                                              for p in (ROOT / "out").rglob("*") if p.is_file())


def test_docs_examples_are_lint_clean():
    """The Makefile's ruff line covers src, tests, benchmarks and scripts; the gallery is checked here."""
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "examples"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
