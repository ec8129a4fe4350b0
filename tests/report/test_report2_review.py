"""Review fixes: the recorded scenario is the one run, `report --format` replaces old figures, no "-0.0"."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.core.output import MARKER
from peergrid.metrics import METRICS
from peergrid.report.page import _fmt, _fmt_energy

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def _toml(d: dict) -> str:
    """A minimal TOML writer (scalars, lists, tables, inline tables) for the test."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {val(x)}" for k, x in v.items()) + "}"
        assert v is not None, "None cannot be written to TOML"
        return repr(v)

    lines = [f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def my_community(tmp_path_factory):
    """examples/data/my-community.toml without its freq line, with its data files."""
    d = tmp_path_factory.mktemp("mine")
    for f in ("meters-long.csv", "participants.csv"):
        shutil.copy(EXAMPLES / f, d / f)
    text = "".join(
        line for line in (EXAMPLES / "my-community.toml").read_text().splitlines(True)
        if not line.strip().startswith("freq")
    )  # fmt: skip
    (d / "mine.toml").write_text(text)
    return d / "mine.toml"


def test_recorded_scenario_is_the_one_run_and_reruns_to_the_same_metrics(my_community, tmp_path):
    out = tmp_path / "run"
    code, _, err = run("simulate", my_community, "--out", out, "--dpi", 40)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    sc = s["scenario"]
    assert sc["time"]["freq"] == "15min"  # the data's step, not the model's "1h"
    assert sc["time"]["start"] == "2023-10-23" and sc["time"]["days"] == 14 and sc["time"]["tz"] == "Europe/Berlin"
    for key in ("battery_share", "pv_kwp_range", "battery_kwh_range", "seed", "households", "pv_share"):
        assert key not in sc["community"], key
    assert sc["community"]["units"] == "Wh" and sc["community"]["gaps"] == "interpolate"  # the user's keys
    assert "community.seed" not in s["seeds"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "battery_share" not in html and "pv_kwp_range" not in html
    # written back as TOML next to the data, it simulates to the same metrics
    again = my_community.parent / "again.toml"
    again.write_text(_toml(sc))
    tomllib.loads(again.read_text())
    code, stdout, err = run("simulate", again, "--json")
    assert code == 0, err
    assert json.loads(stdout)["markets"] == s["markets"]


def test_csv_scenario_without_window_records_start_and_length(tmp_path):
    for f in ("meters-long.csv", "participants.csv"):
        shutil.copy(EXAMPLES / f, tmp_path / f)
    lines = (EXAMPLES / "my-community.toml").read_text().splitlines(True)
    text = "".join(x for x in lines if not x.strip().startswith(("freq", "start", "days")))
    (tmp_path / "all.toml").write_text(text)
    code, _, err = run("simulate", tmp_path / "all.toml", "--json", "--out", tmp_path / "o", "--dpi", 40)
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    tm = s["scenario"]["time"]
    assert tm["freq"] == "15min" and tm["start"] and tm["periods"] == s["community"]["steps"]
    (tmp_path / "again.toml").write_text(_toml(s["scenario"]))
    code, stdout2, err = run("simulate", tmp_path / "again.toml", "--json")
    assert code == 0, err
    assert json.loads(stdout2)["markets"] == s["markets"]


def test_report_format_svg_replaces_the_png_figures_peergrid_wrote(my_community, tmp_path):
    out = tmp_path / "run"
    code, _, err = run("simulate", my_community, "--out", out, "--quick", "--dpi", 40)
    assert code == 0, err
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs
    (out / "mine.png").write_bytes(b"user file")  # not peergrid's: never touched
    edited = out / pngs[0]
    edited_bytes = edited.read_bytes() + b"edited"
    edited.write_bytes(edited_bytes)  # no longer peergrid's content: kept as the user left it
    code, _, err = run("report", out, "--format", "svg")
    assert code == 0, err
    assert (out / "mine.png").read_bytes() == b"user file"
    assert edited.read_bytes() == edited_bytes
    assert sorted(p.name for p in out.glob("*.png")) == sorted(["mine.png", pngs[0]])
    (out / "mine.png").unlink()
    edited.unlink()
    code, _, err = run("report", out, "--format", "svg")  # back to a clean run
    assert code == 0, err
    code, _, err = run("report", out, "--format", "png")
    assert code == 0, err
    assert not list(out.glob("*.svg"))
    code, _, err = run("report", out, "--format", "svg")
    assert code == 0, err
    assert not list(out.glob("*.png"))
    svgs = sorted(p.name for p in out.glob("*.svg"))
    assert [n.replace(".svg", ".png") for n in svgs] == pngs
    assert "image/svg+xml" in (out / "report.html").read_text(encoding="utf-8")
    marker = json.loads((out / MARKER).read_text())
    assert not [n for n in marker["files"] if n.endswith(".png")]
    assert set(svgs) <= set(marker["files"])
    assert json.loads((out / "summary.json").read_text())["figures"]["format"] == "svg"


@pytest.mark.parametrize("value", [-1e-17, -0.0, -0.00004])
def test_negative_zero_is_shown_without_a_minus(value):
    for key, m in METRICS.items():
        assert not m.format(value, "EUR").startswith("-"), key
        assert not m.format(value, "EUR", unit=False).startswith("-"), key
    for kind in ("pct", "money", "kw", "kwh", "other"):
        assert not _fmt(kind, value, "EUR").startswith("-"), kind
    assert not _fmt_energy(value).startswith("-")
    assert METRICS["cost_reduction"].format(-0.5) == "-50.0 %"  # real negatives keep their sign
    assert _fmt("money", -1.5, "EUR").startswith("-1.50")


def test_cli_table_has_no_negative_zero(capsys):
    from peergrid.cli.study import print_metrics

    print_metrics({"pay-as-bid": {"cost_reduction": -1e-17, "community_cost": -1e-17}}, "EUR")
    text = capsys.readouterr().out
    assert "-0" not in text and "0.0 %" in text


def test_quick_run_records_the_window_that_ran(my_community, tmp_path):
    """--quick used to add a "quick" key (not a scenario key) and keep days = 14: the recorded scenario
    did not rerun. Now it records the two days that ran, and reruns to the same metrics."""
    out = tmp_path / "q"
    code, _, err = run("simulate", my_community, "--quick", "--out", out, "--dpi", 40)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    sc = s["scenario"]
    assert "quick" not in sc and "days" not in sc["time"]
    assert sc["time"]["periods"] == s["community"]["steps"] == 2 * 96
    again = my_community.parent / "again-quick.toml"
    again.write_text(_toml(sc))
    code, stdout, err = run("simulate", again, "--json")
    assert code == 0, err
    assert json.loads(stdout)["markets"] == s["markets"]
