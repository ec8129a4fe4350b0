"""Review 2 of `peergrid data check`: empty files, the spring clock change, a wrong --tz, --columns, spans."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app

runner = CliRunner()
HINT = "looks like a clock change: are the timestamps local time in another zone? check --tz"


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def vienna(tmp_path, start="2024-03-30", end="2024-04-01", name="vienna.csv"):
    """Naive Vienna-local 15-min kWh export of two meters (as written: the skipped hour has no rows)."""
    local = pd.date_range(start, end, freq="15min", inclusive="left", tz="Europe/Vienna")
    lines = ["timestamp,meter,kwh"] + [f"{t:%Y-%m-%d %H:%M},{m},{v}" for t in local for m, v in (("A", 1), ("B", 2))]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("text", ["", "\n\n   \n"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_empty_file_is_one_line_exit_2(tmp_path, text, json_flag):
    p = tmp_path / "empty.csv"
    p.write_text(text)
    code, out, err = run("data", "check", p, *json_flag)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "empty.csv" in err and "is empty" in err
    assert "internal error" not in err


def test_empty_file_in_a_scenario_is_one_line_exit_2(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    s = tmp_path / "s.toml"
    s.write_text('[community]\nsource = "csv"\nload = "empty.csv"\n\n[tariff]\nretail = 0.3\ncurrency = "EUR"\n')
    code, _, err = run("simulate", s, "--json")
    assert code == 2 and "is empty" in err and "internal error" not in err


def test_spring_change_is_reported(tmp_path):
    p = vienna(tmp_path)
    code, out, _ = run("data", "check", p, "--tz", "Europe/Vienna")
    assert code == 0, out
    assert ("DST         clocks go forward on 2024-03-31 02:00 → 03:00 (Europe/Vienna): no rows expected for "
            "that hour") in out
    assert "no daylight-saving change" not in out
    code, out, _ = run("data", "check", p, "--tz", "Europe/Vienna", "--json")
    d = json.loads(out)
    assert code == 0 and d["steps"] == 188 and d["gaps"]["missing_timestamps"] == 0
    assert d["dst"] == ["clocks go forward on 2024-03-31 02:00 → 03:00 (Europe/Vienna): no rows expected for "
                        "that hour"]


def test_both_changes_reported_in_order(tmp_path):
    p = vienna(tmp_path, "2024-03-30", "2024-10-28")
    code, out, _ = run("data", "check", p, "--tz", "Europe/Vienna", "--json")
    d = json.loads(out)
    assert code == 0 and len(d["dst"]) == 2
    assert d["dst"][0].startswith("clocks go forward on 2024-03-31") and "2024-10-27" in d["dst"][1]


@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_wrong_zone_spring_hint(tmp_path, tz):
    p = vienna(tmp_path)
    args = ["--tz", tz] if tz else []
    code, out, _ = run("data", "check", p, *args)
    assert code == 1  # gaps under the default policy, as documented
    assert "4 step(s) without any row" in out and f"note        {HINT}" in out
    code, out, _ = run("data", "check", p, *args, "--json")
    d = json.loads(out)
    assert code == 1 and any(HINT in x for x in d["notes"]) and any(HINT in x for x in d["problems"])
    # with a fill policy the data are usable (exit 0) but the hint stays
    code, out, _ = run("data", "check", p, *args, "--gaps", "zero", "--json")
    assert code == 0 and any(HINT in x for x in json.loads(out)["notes"])


def test_right_zone_or_an_ordinary_gap_gives_no_hint(tmp_path):
    p = vienna(tmp_path)
    code, out, _ = run("data", "check", p, "--tz", "Europe/Vienna", "--json")
    assert HINT not in out
    # two missing steps (30 min) for every meter in UTC data: an ordinary gap, not a clock hour
    local = pd.date_range("2024-05-01", "2024-05-02", freq="15min", inclusive="left")
    lines = ["timestamp,meter,kwh"] + [f"{t:%Y-%m-%d %H:%M},{m},1" for i, t in enumerate(local)
                                        if i not in (10, 11) for m in "AB"]
    q = tmp_path / "gap.csv"
    q.write_text("\n".join(lines) + "\n")
    code, out, _ = run("data", "check", q, "--json")
    assert code == 1 and HINT not in out


def test_wrong_zone_autumn_hint(tmp_path):
    p = vienna(tmp_path, "2024-10-26", "2024-10-28")
    lines = p.read_text().splitlines()
    # make the repeated hour differ between its two occurrences (as real meter data do)
    seen: set[str] = set()
    out_lines = [lines[0]]
    for line in lines[1:]:
        key = line.rsplit(",", 1)[0]
        out_lines.append(line + ("5" if key in seen else ""))
        seen.add(key)
    p.write_text("\n".join(out_lines) + "\n")
    code, out, err = run("data", "check", p, "--tz", "UTC")
    assert code == 2 and out == "" and "duplicate rows with different values" in err and HINT in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run("data", "check", p, "--tz", "Europe/Vienna")
    assert code == 0, err


def test_columns_option(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text("when,who,amount\n" + "".join(f"2024-05-01 {h:02d}:00,{m},1\n" for h in range(24) for m in "AB"))
    code, _, err = run("data", "check", p, "--format", "long")
    assert code == 2 and "set columns" in err and "--columns" in err
    code, out, err = run("data", "check", p, "--columns", "time=when, meter=who,value=amount")
    assert code == 0, err
    assert "meters      2: A, B" in out
    assert 'columns = { time = "when", meter = "who", value = "amount" }' in out
    code, out, _ = run("data", "check", p, "--columns", "time=when,meter=who,value=amount", "--json")
    assert json.loads(out)["columns"] == {"time": "when", "meter": "who", "value": "amount"}
    for bad in ("when", "time=when,colour=x", "time=nope,meter=who,value=amount"):
        code, out, err = run("data", "check", p, "--columns", bad)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "internal error" not in err
    code, out, _ = run("data", "check", "--help")
    assert "--columns" in out


def test_span_is_days_and_hours(tmp_path):
    p = vienna(tmp_path)
    code, out, _ = run("data", "check", p, "--tz", "Europe/Vienna")
    assert code == 0 and "(1 day 23 h, 188 steps of 15 min)" in out
