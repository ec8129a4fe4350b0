"""docs/tariffs.md runs as written: its Python blocks (one namespace), file blocks and ``peergrid`` lines."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "tariffs.md"


def blocks(kind: str) -> list[tuple[str, str]]:
    """(info after the language, body) of every fenced block of one language (indented ones too)."""
    return re.findall(rf"^ *```{kind}([^\n]*)\n(.*?)^ *```", DOC.read_text(), flags=re.S | re.M)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for kind in ("toml", "csv"):
        for info, body in blocks(kind):
            if info.strip():
                (tmp_path / info.strip()).write_text(body)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_python_blocks_run_and_print_what_the_doc_says(workdir, capsys) -> None:
    namespace: dict = {}
    for _, body in blocks("python"):
        exec(compile(body, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    text = DOC.read_text()
    assert "0.3457 0.0803" in out and "`0.3457 0.0803`" in text
    assert "[16, 18, 20, 22] [0.25, 0.4, 0.25, 0.12]" in out
    table = blocks("text")[0][1]
    assert table.strip() in out  # the bill table is the one printed
    assert "baseline de-household" in out and "sdr de-household" in out


def test_every_tariff_key_is_documented() -> None:
    from peergrid.market.tariff import _TARIFF_KEYS

    text = DOC.read_text()
    for key in _TARIFF_KEYS - {"name", "description", "dynamic", "retail"}:
        assert f"`{key}`" in text, key


def test_cli_lines_run(workdir) -> None:
    from peergrid.cli.main import app

    lines = [ln for _, body in blocks("sh") for ln in body.splitlines() if ln.startswith("peergrid ")]
    assert lines
    for line in lines:
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
    payload = json.loads(result.stdout)
    assert payload["community"]["tariff"]["name"] == "my-coop"
    bill = payload["markets"]["sdr"]["bill"]
    assert bill["tariff"] == "my-coop" and bill["currency"] == "EUR"
    assert bill["spilled_kwh"] > 0  # ben's export above 3 kW


def test_scenario_snippets_are_valid(tmp_path) -> None:
    import tomllib

    import numpy as np
    import pandas as pd

    from peergrid.core.community import Community
    from peergrid.simulate.scenario import scenario_from_dict

    snippets = [body for info, body in blocks("toml") if not info.strip()]
    assert len(snippets) == 2
    com = Community.from_frames(
        pd.DataFrame({"a": [1.0] * 24}, index=pd.date_range("2024-06-03", periods=24, freq="1h", tz="UTC")),
        tz="Europe/Berlin", retail=0.0, feed_in=0.0,
    )  # fmt: skip
    for body in snippets:
        data = tomllib.loads(body)
        sc = scenario_from_dict({**data, "community": {"source": "csv", "load": "x.csv"}}, "doc")
        tariff = sc.resolve_tariff(com)
        assert tariff.currency == "EUR"
    # the inline TOU: weekday peak 17-20 h local time
    retail = np.round(tariff.energy_rate.values(com.local_index), 2)
    assert retail[com.local_index.hour == 18][0] == 0.34 and retail[com.local_index.hour == 12][0] == 0.22
