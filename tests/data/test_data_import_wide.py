"""Wide meter files, gap policies, steps — hand-built files with hand-computed results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peergrid.core.errors import ConfigError, DataError
from peergrid.data.meters import read_meters


def write(tmp_path, text, name="w.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


WIDE = """time,A,B
2023-01-02 00:00,1,10
2023-01-02 01:00,,20
2023-01-02 02:00,3,
2023-01-02 04:00,5,50
"""  # A misses 01:00, B misses 02:00, nobody has 03:00


def test_wide_auto_detected(tmp_path):
    text = "time,A,B\n2023-01-02 00:00,1,2\n2023-01-02 01:00,3,4\n"
    md = read_meters(write(tmp_path, text))
    assert md.report.format == "wide" and md.report.meters == ("A", "B")
    np.testing.assert_allclose(md.load.to_numpy(), [[1, 2], [3, 4]])


def test_gap_policy_error_names_first_gap(tmp_path):
    with pytest.raises(DataError, match=r"4 missing value\(s\).*2023-01-02T01:00:00\+00:00, meter 'A'.*interpolate"):
        read_meters(write(tmp_path, WIDE))
    r = read_meters(write(tmp_path, WIDE), strict=False).report
    assert (r.missing_values, r.missing_timestamps, r.filled) == (4, 1, 0) and not r.ok


def test_gap_policy_zero(tmp_path):
    md = read_meters(write(tmp_path, WIDE), gaps="zero")
    assert md.load["A"].tolist() == [1, 0, 3, 0, 5] and md.load["B"].tolist() == [10, 20, 0, 0, 50]
    assert md.report.filled == 4 and md.report.ok


def test_gap_policy_interpolate(tmp_path):
    md = read_meters(write(tmp_path, WIDE), gaps="interpolate")
    # linear in time: A 1,_,3,_,5 -> 2 and 4; B 10,20,_,_,50 -> 30, 40
    assert md.load["A"].tolist() == [1, 2, 3, 4, 5] and md.load["B"].tolist() == [10, 20, 30, 40, 50]
    assert md.report.filled == 4 and "interpolated 4" in md.report.actions[0]


def test_interpolate_fills_edges_with_nearest(tmp_path):
    text = "time,A,B\n2023-01-02 00:00,,1\n2023-01-02 01:00,2,1\n2023-01-02 02:00,4,\n"
    md = read_meters(write(tmp_path, text), gaps="interpolate")
    assert md.load["A"].tolist() == [2, 2, 4] and md.load["B"].tolist() == [1, 1, 1]


def test_a_meter_without_values_is_an_error(tmp_path):
    text = "time,A,B\n2023-01-02 00:00,1,\n2023-01-02 01:00,2,\n"
    with pytest.raises(DataError, match="meter 'B' has no values"):
        read_meters(write(tmp_path, text), gaps="zero")


def test_bad_gap_policy(tmp_path):
    with pytest.raises(ConfigError, match="gaps"):
        read_meters(write(tmp_path, WIDE), gaps="ignore")  # type: ignore[arg-type]


def test_irregular_step_is_an_error(tmp_path):
    text = "time,A\n2023-01-02 00:00,1\n2023-01-02 00:15,1\n2023-01-02 00:30,1\n2023-01-02 00:40,1\n"
    with pytest.raises(DataError, match=r"irregular step: timestamps are mostly 15min apart but 2023-01-02 00:40"):
        read_meters(write(tmp_path, text))


def test_mixed_resolution_is_not_read_as_gaps(tmp_path):
    quarter = pd.date_range("2023-01-02 00:00", periods=8, freq="15min")
    hourly = pd.date_range("2023-01-02 02:00", periods=5, freq="1h")
    text = "time,A\n" + "".join(f"{t:%Y-%m-%d %H:%M},1\n" for t in quarter.append(hourly))
    with pytest.raises(DataError, match=r"mostly 15min apart but 1h apart from 2023-01-02 02:00.*mixes resolutions"):
        read_meters(write(tmp_path, text), gaps="interpolate")


def test_step_longer_than_a_day(tmp_path):
    text = "time,A\n2023-01-01,1\n2023-01-08,1\n2023-01-15,1\n"
    with pytest.raises(DataError, match="longer than a day"):
        read_meters(write(tmp_path, text))


def test_long_file_forced_wide_says_so(tmp_path):
    text = "timestamp,meter,kwh\n2023-06-05 00:00,H1,0.1\n2023-06-05 00:15,H1,0.2\n"
    with pytest.raises(DataError, match=r"column 'meter' is not numeric \(value 'H1'\).*format = 'long'"):
        read_meters(write(tmp_path, text), format="wide")


def test_wide_duplicates(tmp_path):
    text = "time,A\n2023-01-02 00:00,1\n2023-01-02 01:00,2\n2023-01-02 01:00,2\n2023-01-02 02:00,3\n"
    md = read_meters(write(tmp_path, text))
    assert md.load["A"].tolist() == [1, 2, 3] and md.report.duplicates == 1
    with pytest.raises(DataError, match="duplicate timestamp"):
        read_meters(write(tmp_path, text.replace("01:00,2\n2023-01-02 02", "01:00,9\n2023-01-02 02")))


def test_wide_parquet_with_index(tmp_path):
    idx = pd.date_range("2023-01-02", periods=3, freq="1h", tz="UTC", name="timestamp")
    frame = pd.DataFrame({"A": [1.0, 2, 3], "B": [0.5, 0.5, 0.5]}, index=idx)
    p = tmp_path / "w.parquet"
    frame.to_parquet(p)
    md = read_meters(p)
    pd.testing.assert_frame_equal(md.load, frame.rename_axis(None), check_freq=False)
    assert md.load.index.freq == pd.Timedelta("1h")
