"""docs/reports.md: the Plotting and metric-name examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


def _blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_docs_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks()[index], f"{DOC.name}[{index}]", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert out.strip()
    if "save_figure" in _blocks()[index]:
        assert (tmp_path / "energy_flows.pdf").read_bytes().startswith(b"%PDF")
        assert (tmp_path / "panel.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
        assert "mean community power (kW)" in out and "hour of day" in out


def test_plotting_table_lists_every_plot_function():
    from peergrid.report import PLOTS

    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Plotting") : text.index("## Metric names")]
    for func in PLOTS.values():
        assert f"`{func.__name__}(" in section, func.__name__
