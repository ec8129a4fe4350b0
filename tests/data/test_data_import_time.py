"""Local time on input: time zones, daylight saving, day-first dates, and the Python API's naive indexes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peergrid.core.community import Community
from peergrid.core.errors import DataError
from peergrid.data.meters import read_meters


def write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_naive_timestamps_are_local_in_tz(tmp_path):
    text = "timestamp,meter,kwh\n2023-06-05 19:00,A,1\n2023-06-05 19:15,A,2\n"
    md = read_meters(write(tmp_path, text), tz="Europe/Berlin")
    assert md.load.index[0] == pd.Timestamp("2023-06-05 17:00", tz="UTC")  # CEST = UTC+2
    assert md.report.timestamps == "naive" and md.report.tz == "Europe/Berlin"
    assert md.report.to_dict()["start_local"] == "2023-06-05T19:00:00+02:00"
    utc = read_meters(write(tmp_path, text)).load.index[0]
    assert utc == pd.Timestamp("2023-06-05 19:00", tz="UTC")


def test_aware_timestamps_are_converted_whatever_tz(tmp_path):
    text = "timestamp,meter,kwh\n2023-03-26T01:45:00+01:00,A,1\n2023-03-26T03:00:00+02:00,A,2\n"
    md = read_meters(write(tmp_path, text), tz="Asia/Tokyo")
    assert md.report.timestamps == "aware" and md.report.step == pd.Timedelta("15min")
    expected = [pd.Timestamp("2023-03-26 00:45", tz="UTC"), pd.Timestamp("2023-03-26 01:00", tz="UTC")]
    assert list(md.load.index) == expected


def fall_back_rows(meters=("A", "B"), by_meter=False):
    """Berlin 2023-10-29 00:00..04:00 local, hourly, naive: 02:00 appears twice (CEST then CET)."""
    local = pd.date_range("2023-10-29 00:00", "2023-10-29 04:00", freq="1h", tz="Europe/Berlin")
    rows = []
    for k, t in enumerate(local):
        for m in meters:
            rows.append((m, k, f"{t:%Y-%m-%d %H:%M},{m},{k + 1}"))
    if by_meter:
        rows.sort(key=lambda r: (r[0], r[1]))
    return "timestamp,meter,kwh\n" + "\n".join(r[2] for r in rows) + "\n"


@pytest.mark.parametrize("by_meter", [False, True])
def test_fall_back_repeated_hour_first_summer_then_standard(tmp_path, by_meter):
    md = read_meters(write(tmp_path, fall_back_rows(by_meter=by_meter)), tz="Europe/Berlin")
    # 00:00 CEST = 22:00Z ... six hourly steps, no gaps, no duplicates
    assert md.load.index[0] == pd.Timestamp("2023-10-28 22:00", tz="UTC") and md.report.steps == 6
    assert md.load["A"].tolist() == [1, 2, 3, 4, 5, 6]
    assert md.report.missing_values == 0 and md.report.duplicates == 0
    assert "first occurrence read as summer time" in md.report.dst[0]


def test_fall_back_wide(tmp_path):
    local = pd.date_range("2023-10-29 01:00", "2023-10-29 03:30", freq="30min", tz="Europe/Berlin")
    text = "time,A\n" + "".join(f"{t:%Y-%m-%d %H:%M},{k}\n" for k, t in enumerate(local))
    md = read_meters(write(tmp_path, text), tz="Europe/Berlin")
    assert md.report.steps == len(local) and md.load["A"].tolist() == list(range(len(local)))


def test_repeated_hour_written_once_is_a_gap(tmp_path):
    local = pd.date_range("2023-10-29 00:00", "2023-10-29 04:00", freq="1h", tz="Europe/Berlin")
    stamps = list(dict.fromkeys(f"{t:%Y-%m-%d %H:%M}" for t in local))  # 02:00 once
    text = "time,A\n" + "".join(f"{s},1\n" for s in stamps)
    r = read_meters(write(tmp_path, text), tz="Europe/Berlin", strict=False).report
    assert "appears once" in r.dst[0] and r.missing_values == 1 and r.missing_timestamps == 1


def test_spring_forward_nonexistent_local_time_is_an_error(tmp_path):
    text = "time,A\n2023-03-26 01:00,1\n2023-03-26 02:00,1\n2023-03-26 03:00,1\n"
    with pytest.raises(DataError, match=r"do not exist in Europe/Berlin.*2023-03-26 02:00"):
        read_meters(write(tmp_path, text), tz="Europe/Berlin")
    # the same file read as UTC is fine
    assert read_meters(write(tmp_path, text)).report.steps == 3


def test_spring_forward_skipped_hour_is_fine(tmp_path):
    text = "time,A\n2023-03-26 01:00,1\n2023-03-26 01:30,1\n2023-03-26 03:00,1\n2023-03-26 03:30,1\n"
    md = read_meters(write(tmp_path, text), tz="Europe/Berlin")
    assert md.report.steps == 4 and md.report.missing_values == 0


def dayfirst_file(tmp_path, start="2023-06-01", days=3):
    idx = pd.date_range(start, periods=96 * days, freq="15min")
    text = "timestamp;meter;kwh\n" + "".join(f"{t:%d.%m.%Y %H:%M};A;1\n" for t in idx)
    return write(tmp_path, text)


def test_dayfirst_dates_get_a_clear_error(tmp_path):
    # issue 18 finding 2: 05.06.2023 etc. gave a misleading "step 30 days" error
    p = dayfirst_file(tmp_path)
    with pytest.raises(DataError, match=r"dates look day-first.*set dayfirst = true") as exc:
        read_meters(p)
    assert "30 days" not in str(exc.value)
    md = read_meters(p, dayfirst=True)
    assert md.report.steps == 288 and md.load.index[0] == pd.Timestamp("2023-06-01", tz="UTC")


def test_dayfirst_error_also_when_month_first_parse_fails(tmp_path):
    p = dayfirst_file(tmp_path, start="2023-06-11", days=4)  # 13.06.2023 is no month-first date
    with pytest.raises(DataError, match="dates look day-first"):
        read_meters(p)


def test_dayfirst_true_on_month_first_dates(tmp_path):
    idx = pd.date_range("2023-06-01", periods=96 * 3, freq="15min")
    text = "timestamp,meter,kwh\n" + "".join(f"{t:%m/%d/%Y %H:%M},A,1\n" for t in idx)
    with pytest.raises(DataError, match=r"dates look month-first.*set dayfirst = false"):
        read_meters(write(tmp_path, text), dayfirst=True)
    assert read_meters(write(tmp_path, text)).report.steps == 288


def test_single_ambiguous_day_is_noted(tmp_path):
    text = "timestamp,meter,kwh\n05.06.2023 00:00,A,1\n05.06.2023 00:15,A,1\n"
    r = read_meters(write(tmp_path, text)).report
    assert any("ambiguous" in n for n in r.notes)


def test_iso_dates_ignore_dayfirst(tmp_path):
    text = "timestamp,meter,kwh\n2023-06-05 00:00,A,1\n2023-06-05 00:15,A,1\n"
    assert read_meters(write(tmp_path, text), dayfirst=True).load.index[0] == pd.Timestamp("2023-06-05", tz="UTC")


# ---- the Python API: Community.from_frames --------------------------------------------------------


def frames(index):
    load = pd.DataFrame({"a": np.arange(len(index), dtype=float), "b": 1.0}, index=index)
    return load, load * 0.5


def test_from_frames_localises_naive_index_in_tz():
    # issue 18 finding 2: naive timestamps were UTC through CSV but rejected by the Python API
    naive = pd.date_range("2023-06-05 19:00", periods=4, freq="15min")
    load, gen = frames(naive)
    com = Community.from_frames(load, gen, tz="Europe/Berlin")
    assert com.tz == "Europe/Berlin"
    assert com.index[0] == pd.Timestamp("2023-06-05 17:00", tz="UTC")
    assert com.local_index[0].hour == 19
    utc = Community.from_frames(load, gen)  # default zone UTC, as in a scenario without [time] tz
    assert utc.index[0] == pd.Timestamp("2023-06-05 19:00", tz="UTC")


def test_from_frames_converts_aware_index():
    aware = pd.date_range("2023-06-05 19:00", periods=4, freq="15min", tz="Europe/Berlin")
    com = Community.from_frames(*frames(aware), tz="Asia/Tokyo")
    assert str(com.index.tz) == "UTC" and com.index[0] == pd.Timestamp("2023-06-05 17:00", tz="UTC")


def test_from_frames_dst_rule_and_nonexistent():
    local = pd.date_range("2023-10-29 00:00", periods=6, freq="1h", tz="Europe/Berlin").tz_localize(None)
    com = Community.from_frames(*frames(local), tz="Europe/Berlin")
    assert com.T == 6 and com.dt == 1.0
    bad = pd.DatetimeIndex(["2023-03-26 01:00", "2023-03-26 02:00", "2023-03-26 03:00"])
    with pytest.raises(DataError, match="do not exist"):
        Community.from_frames(*frames(bad), tz="Europe/Berlin")


def test_constructor_stays_strict():
    naive = pd.date_range("2023-06-05", periods=3, freq="1h")
    with pytest.raises(DataError, match=r"timezone-aware.*from_frames\(\.\.\., tz=ZONE\)"):
        Community(index=naive, participants=None, load=np.ones((3, 1)), generation=np.zeros((3, 1)))


def test_interval_end_labels_and_24h(tmp_path):
    text = ("timestamp;meter;kwh\n05.06.2023 23:30;A;1\n05.06.2023 24:00;A;2\n06.06.2023 00:30;A;3\n")
    md = read_meters(write(tmp_path, text), dayfirst=True, tz="Europe/Berlin", label="end")
    # the period ending 23:30 local (CEST) starts 23:00 local = 21:00 UTC
    assert md.load.index[0] == pd.Timestamp("2023-06-05 21:00", tz="UTC") and md.load["A"].tolist() == [1, 2, 3]
    assert md.report.label == "end" and "period ends" in md.report.actions[0]
    starts = read_meters(write(tmp_path, text), dayfirst=True, tz="Europe/Berlin")
    assert starts.load.index[1] == pd.Timestamp("2023-06-05 22:00", tz="UTC")  # 24:00 is next day's 00:00
