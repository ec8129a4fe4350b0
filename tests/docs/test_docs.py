"""The Python examples in docs/*.md run as written (each file's blocks share one namespace)."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
# docs whose examples are executed by their own area's tests
OWN_TESTS = {"DESIGN.md", "markets.md", "zoom.md", "service.md", "dashboard.md", "reports.md"}
FILES = sorted(p for p in DOCS.glob("*.md") if p.name not in OWN_TESTS)


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_doc_examples_run(path, capsys):
    blocks = python_blocks(path)
    assert blocks, f"{path.name} has no python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(path), "exec"), namespace)
    assert capsys.readouterr().out.strip(), f"{path.name} examples print nothing"


def test_control_doc_ranks_the_controllers(capsys):
    exec(compile(python_blocks(DOCS / "control.md")[0], "control.md", "exec"), {})
    out = capsys.readouterr().out
    pooled = {line.split()[0]: float(line.split()[-1]) for line in out.splitlines() if "SDR" in line}
    assert pooled["lp-community"] == min(pooled.values())
