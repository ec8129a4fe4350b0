"""docs/markets.md runs as written: its Python blocks (one namespace) and its ``peergrid`` command lines."""

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "markets.md"


def blocks(kind: str) -> list[tuple[str, str]]:
    """(info after the language, body) of every fenced block of one language."""
    return re.findall(rf"```{kind}([^\n]*)\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A directory with the doc's CSV files (```csv NAME blocks) and the shipped scenarios."""
    pytest.importorskip("pandapower")  # the grid examples need peergrid[grid]
    for info, body in blocks("csv"):
        (tmp_path / info.strip()).write_text(body)
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_doc_has_examples_for_every_mechanism():
    text = DOC.read_text()
    names = ("uniform_price", "pay_as_bid", "mcafee", "bilateral", "ContinuousDoubleAuction", "ReputationRule",
             "check_wallets", "FeederLimits", "vim", "peergrid.compare", "--network-aware", "[market]",
             "## Bidding agents", "benchmarks/bidding_agents.py", "--bidding zip", "settle_market",
             "settle_imbalance")  # fmt: skip
    for name in names:
        assert name in text, name
    assert {info.strip() for info, _ in blocks("csv")} == {"orders.csv", "fees.csv", "big.csv", "feeder.csv"}


def test_python_blocks_run(workdir, capsys):
    namespace: dict = {}
    for _, body in blocks("python"):
        exec(compile(body, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert "[0.275, 0.2]" in out and "[3.0] [0.22]" in out and "[1.0, 0.9]" in out
    assert "[30, 0] [0, 10] 20" in out and "[36, 6] [0, 0]" in out and "[45, -15]" in out  # settlement
    assert namespace["r"] is not None and "operator_fees" in out
    # bidding agents: ZIP learns the stationary market's equilibrium; reservation prices with a battery
    assert "zip 1.0 0.25" in out and "[0.3, 0.3, 0.25, 0.2] [0.1, 0.2, 0.15, 0.1]" in out


def test_cli_lines_run(workdir):
    from peergrid.cli.main import app

    runner = CliRunner()
    for _, body in blocks("sh"):  # helper lines that write input files (the feeder JSON)
        for ln in body.splitlines():
            if ln.startswith("python -c "):
                exec(shlex.split(ln)[2], {})
    lines = [ln for _, body in blocks("sh") for ln in body.splitlines() if ln.startswith("peergrid ")]
    assert len(lines) >= 5
    for line in lines:
        result = runner.invoke(app, shlex.split(line, comments=True)[1:])
        assert result.exit_code == 0, f"{line}\n{result.stderr}"
    assert (workdir / "out" / "order-book" / "report.html").is_file()
