"""Long-format meter exports (timestamp, meter, value[, kind]) — hand-built files, hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peergrid.core.errors import ConfigError, DataError
from peergrid.data.meters import parse_meters, read_meters


def write(tmp_path, text, name="m.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


LONG = """timestamp,meter,kwh
2023-06-05 00:00,H1,0.10
2023-06-05 00:00,H2,0.20
2023-06-05 00:15,H1,0.30
2023-06-05 00:15,H2,0.40
2023-06-05 00:30,H1,0.50
2023-06-05 00:30,H2,0.60
"""


def test_long_export_is_pivoted(tmp_path):
    # issue 18 finding 1: this file failed with "non-numeric value (Unable to parse string "H1")"
    md = read_meters(write(tmp_path, LONG))
    r = md.report
    assert r.format == "long" and r.meters == ("H1", "H2") and r.kinds == ("load",)
    assert r.columns == {"time": "timestamp", "meter": "meter", "value": "kwh"}
    assert r.step == pd.Timedelta("15min") and r.steps == 3
    assert list(md.load.columns) == ["H1", "H2"]
    np.testing.assert_allclose(md.load.to_numpy(), [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    assert str(md.load.index.tz) == "UTC" and md.load.index.freq == pd.Timedelta("15min")
    assert md.generation is None
    assert r.energy_kwh == pytest.approx({"load": 2.1})
    assert r.units == "kWh" and r.units_source == "column name"


def test_rows_in_any_order(tmp_path):
    lines = LONG.strip().splitlines()
    shuffled = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    a = read_meters(write(tmp_path, LONG, "a.csv")).load
    b = read_meters(write(tmp_path, shuffled, "b.csv")).load
    pd.testing.assert_frame_equal(a, b[a.columns])


@pytest.mark.parametrize(
    ("header", "units"),
    [
        ("time,meter_id,energy", "kWh"),
        ("datetime,id,value", "kWh"),
        ("Timestamp,Meter ID,Energy (Wh)", "Wh"),
        ("Time Stamp,Member,Energy [kWh]", "kWh"),
    ],
)
def test_column_names_are_detected(tmp_path, header, units):
    body = LONG.split("\n", 1)[1]
    r = read_meters(write(tmp_path, header + "\n" + body)).report
    assert r.format == "long" and len(r.meters) == 2 and r.units == units


def test_columns_can_be_named(tmp_path):
    text = "when,who,amount,note\n2023-06-05 00:00,A,1,x\n2023-06-05 01:00,A,2,y\n"
    with pytest.raises(DataError, match="meter"):
        read_meters(write(tmp_path, text), format="long")
    md = read_meters(write(tmp_path, text), format="long", columns={"time": "when", "meter": "who", "value": "amount"})
    assert md.load["A"].tolist() == [1.0, 2.0] and md.report.step == pd.Timedelta("1h")
    with pytest.raises(ConfigError, match="not found"):
        read_meters(write(tmp_path, text), columns={"meter": "nobody"})


def test_units_wh_kw_and_kwh(tmp_path):
    text = "timestamp,meter,value\n2023-06-05 00:00,A,1000\n2023-06-05 00:15,A,2000\n"
    p = write(tmp_path, text)
    assert read_meters(p, units="Wh").load["A"].tolist() == [1.0, 2.0]
    assert read_meters(p, units="kWh").load["A"].tolist() == [1000.0, 2000.0]
    # mean power over 15 min: 1000 kW x 0.25 h = 250 kWh
    assert read_meters(p, units="kW").load["A"].tolist() == [250.0, 500.0]
    assert read_meters(p, units="W").load["A"].tolist() == [0.25, 0.5]
    r = read_meters(p).report
    assert r.units == "kWh" and r.units_source == "default"
    with pytest.raises(ConfigError, match="units"):
        read_meters(p, units="MWh")  # type: ignore[arg-type]


def test_unit_mismatch_with_column_name_is_noted(tmp_path):
    r = read_meters(write(tmp_path, LONG), units="Wh").report
    assert any("suggests kWh" in n for n in r.notes)


def test_kind_column_splits_load_and_generation(tmp_path):
    text = """timestamp,meter,direction,wh
2023-06-05 12:00,H1,import,100
2023-06-05 12:00,H1,export,0
2023-06-05 12:00,H2,import,0
2023-06-05 12:00,H2,export,300
2023-06-05 12:15,H1,import,120
2023-06-05 12:15,H1,export,0
2023-06-05 12:15,H2,import,10
2023-06-05 12:15,H2,export,250
2023-06-05 12:00,H3,import,50
2023-06-05 12:15,H3,import,60
"""
    md = read_meters(write(tmp_path, text))
    assert md.report.kinds == ("load", "generation") and md.report.columns["kind"] == "direction"
    np.testing.assert_allclose(md.load.to_numpy(), [[0.1, 0.0, 0.05], [0.12, 0.01, 0.06]])
    # H3 has no export rows: zero generation, not gaps
    np.testing.assert_allclose(md.generation.to_numpy(), [[0.0, 0.3, 0.0], [0.0, 0.25, 0.0]])
    assert md.report.missing_values == 0
    assert any("H3 (generation)" in n for n in md.report.notes)


def test_unknown_kind_is_named(tmp_path):
    text = "timestamp,meter,kind,kwh\n2023-06-05 00:00,A,import,1\n2023-06-05 00:15,A,reactive,1\n"
    with pytest.raises(DataError, match="reactive"):
        read_meters(write(tmp_path, text))


def test_duplicates_identical_dropped_conflicting_rejected(tmp_path):
    dup = LONG + "2023-06-05 00:15,H1,0.30\n"
    md = read_meters(write(tmp_path, dup))
    assert md.report.duplicates == 1 and md.load["H1"].tolist() == [0.1, 0.3, 0.5]
    assert any("duplicate" in a for a in md.report.actions)
    bad = LONG + "2023-06-05 00:15,H1,0.35\n"
    with pytest.raises(DataError, match=r"duplicate rows with different values for meter 'H1'.*0\.3 and 0\.35"):
        read_meters(write(tmp_path, bad))


def test_negative_values_are_a_problem(tmp_path):
    text = LONG.replace("0.40", "-0.40")
    with pytest.raises(DataError, match="negative"):
        read_meters(write(tmp_path, text))
    r = read_meters(write(tmp_path, text), strict=False).report
    assert r.negative == 1 and not r.ok


def test_semicolon_and_decimal_comma(tmp_path):
    text = "Zeitstempel;Zähler;kWh\n05.06.2023 00:00;A;0,25\n05.06.2023 00:15;A;1,5\n"
    md = read_meters(write(tmp_path, text), dayfirst=True, tz="Europe/Berlin")
    assert md.load["A"].tolist() == [0.25, 1.5]
    assert md.load.index[0] == pd.Timestamp("2023-06-04 22:00", tz="UTC")


def test_parquet_long_with_aware_timestamps(tmp_path):
    idx = pd.date_range("2023-06-05", periods=4, freq="30min", tz="Europe/Berlin")
    frame = pd.DataFrame({"timestamp": np.repeat(idx, 2), "meter": ["a", "b"] * 4, "kwh": np.arange(8.0)})
    p = tmp_path / "m.parquet"
    frame.to_parquet(p)
    md = read_meters(p, tz="America/New_York")  # aware: converted whatever tz
    assert md.report.timestamps == "aware"
    assert md.load.index[0] == pd.Timestamp("2023-06-04 22:00", tz="UTC")
    assert md.load["b"].tolist() == [1.0, 3.0, 5.0, 7.0]


def test_parse_meters_takes_a_frame():
    frame = pd.DataFrame({"time": ["2023-01-01 00:00", "2023-01-01 01:00"], "meter": ["x", "x"], "kwh": [1.0, 2.0]})
    md = parse_meters(frame)
    assert md.load["x"].sum() == 3.0 and md.report.origin == "<frame>"


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_meters(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="no data rows"):
        read_meters(write(tmp_path, "timestamp,meter,kwh\n"))
    with pytest.raises(DataError, match="timestamps"):
        read_meters(write(tmp_path, "timestamp,meter,kwh\nyesterday,A,1\ntoday,A,2\n"))
