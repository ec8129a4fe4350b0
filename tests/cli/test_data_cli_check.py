"""`peergrid data check FILE`: what it reports, --json, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from peergrid.cli.main import app

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def berlin_export(tmp_path, gap=False):
    local = pd.date_range("2023-10-28 00:00", "2023-10-30 00:00", freq="15min", inclusive="left", tz="Europe/Berlin")
    lines = ["Timestamp;Meter ID;Energy (Wh)"]
    for t in local:
        for m in ("H1", "H2"):
            lines.append(f"{t:%d.%m.%Y %H:%M};{m};{125 if m == 'H1' else 250}")
    if gap:
        del lines[10]
    p = tmp_path / "export.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_check_reports_what_it_found_and_would_do(tmp_path):
    code, out, err = run("data", "check", berlin_export(tmp_path), "--tz", "Europe/Berlin", "--dayfirst")
    assert code == 0, err
    assert "meters      2: H1, H2" in out
    assert "2023-10-28 00:00 CEST to 2023-10-30 00:00 CET (2 days 1 h, 196 steps of 15 min)" in out
    assert "repeated local hour on 2023-10-29" in out
    assert "converted Wh to kWh per step (x 0.001)" in out
    assert "read naive timestamps as Europe/Berlin local time" in out
    assert 'tz = "Europe/Berlin"' in out and "dayfirst = true" in out and 'units = "Wh"' in out


def test_check_json(tmp_path):
    code, out, _ = run("data", "check", berlin_export(tmp_path), "--tz", "Europe/Berlin", "--dayfirst", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["meters"] == 2 and d["meter_ids"] == ["H1", "H2"] and d["steps"] == 196 and d["step_minutes"] == 15
    assert d["start"] == "2023-10-27T22:00:00+00:00" and d["start_local"] == "2023-10-28T00:00:00+02:00"
    assert d["gaps"] == {"policy": "error", "missing_values": 0, "missing_timestamps": 0, "filled": 0, "first": ""}
    assert d["energy_kwh"] == {"load": 196 * (0.125 + 0.25)}
    assert d["ok"] is True and d["problems"] == [] and len(d["dst"]) == 1


def test_gaps_exit_1_with_advice_and_policy_fixes_it(tmp_path):
    p = berlin_export(tmp_path, gap=True)
    code, out, _ = run("data", "check", p, "--tz", "Europe/Berlin", "--dayfirst")
    assert code == 1
    assert "problems:" in out and "1 missing value(s)" in out and 'gaps = "interpolate"' in out
    code, out, _ = run("data", "check", p, "--tz", "Europe/Berlin", "--dayfirst", "--gaps", "interpolate", "--json")
    d = json.loads(out)
    assert code == 0 and d["gaps"]["filled"] == 1 and d["energy_kwh"]["load"] == 196 * 0.375


def test_unambiguous_day_first_dates_need_no_flag(tmp_path):
    # 28.10.2023 can only be day first
    code, out, _ = run("data", "check", berlin_export(tmp_path), "--tz", "Europe/Berlin", "--json")
    assert code == 0 and json.loads(out)["steps"] == 196


def test_dayfirst_hint_one_line_exit_2(tmp_path):
    p = tmp_path / "june.csv"
    stamps = pd.date_range("2023-06-01", "2023-06-03", freq="15min")
    p.write_text("timestamp;meter;kwh\n" + "".join(f"{t:%d.%m.%Y %H:%M};A;1\n" for t in stamps))
    code, out, err = run("data", "check", p, "--tz", "Europe/Berlin")
    assert code == 2 and out == ""
    assert "dates look day-first" in err and "set dayfirst = true" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unusable_files_one_line_exit_2(tmp_path):
    cases = {
        "missing.csv": (None, "not found"),
        "words.csv": ("timestamp,meter,kwh\nmonday,A,1\ntuesday,A,1\n", "must hold timestamps"),
        "irregular.csv": ("t,A\n2023-01-01 00:00,1\n2023-01-01 00:15,1\n2023-01-01 00:20,1\n2023-01-01 00:35,1\n",
                          "irregular step"),
        "conflict.csv": ("t,meter,kwh\n2023-01-01 00:00,A,1\n2023-01-01 00:00,A,2\n2023-01-01 01:00,A,1\n",
                         "different values"),
        "spring.csv": ("t,A\n2023-03-26 01:00,1\n2023-03-26 02:00,1\n2023-03-26 03:00,1\n", "do not exist"),
    }
    for name, (text, needle) in cases.items():
        p = tmp_path / name
        if text is not None:
            p.write_text(text)
        code, out, err = run("data", "check", p, "--tz", "Europe/Berlin")
        assert code == 2, (name, err)
        assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert out == ""


def test_bad_options_exit_2(tmp_path):
    p = berlin_export(tmp_path)
    for args, needle in ((["--tz", "Mars/Olympus"], "unknown time zone"), (["--gaps", "ignore"], "gaps"),
                         (["--units", "MWh"], "units"), (["--format", "tall"], "format")):
        code, _, err = run("data", "check", p, "--dayfirst", *args)
        assert code == 2 and needle in err, (args, err)


def test_label_end(tmp_path):
    p = tmp_path / "ends.csv"
    p.write_text("time,A\n2023-01-02 00:15,1\n2023-01-02 00:30,1\n")
    code, out, _ = run("data", "check", p, "--label", "end", "--json")
    d = json.loads(out)
    assert code == 0 and d["start"] == "2023-01-02T00:00:00+00:00" and d["label"] == "end"
    code, out, _ = run("data", "check", p, "--label", "end")
    assert 'label = "end"' in out
    code, _, err = run("data", "check", p, "--label", "middle")
    assert code == 2 and "label" in err
