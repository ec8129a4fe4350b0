"""Scenarios with source = "csv": long/wide files, [time] tz/start/days/freq honoured, other keys rejected by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peergrid.core.errors import ConfigError, DataError
from peergrid.simulate.scenario import build, load_scenario, scenario_from_dict

TARIFF = '[tariff]\nretail = 0.3\nfeed_in = 0.1\ncurrency = "EUR"\n'


def long_file(tmp_path, days=2, tz="Europe/Berlin", name="meters.csv", start="2023-06-05"):
    """Naive Berlin-local 15-min Wh export of 3 meters, value = 100 Wh each step (meter C: 200)."""
    local = pd.date_range(start, periods=96 * days, freq="15min", tz=tz)
    stamps = np.repeat(local.strftime("%Y-%m-%d %H:%M"), 3)
    frame = pd.DataFrame({"timestamp": stamps, "meter": ["A", "B", "C"] * len(local),
                          "wh": [100, 100, 200] * len(local)})
    frame.to_csv(tmp_path / name, index=False)
    return tmp_path / name


def scenario(tmp_path, body, name="s.toml"):
    p = tmp_path / name
    p.write_text(body)
    return p


def community(path):
    return build(load_scenario(path), str(path))


CSV = '[community]\nsource = "csv"\nload = "meters.csv"\nunits = "Wh"\n'


def test_long_export_in_a_scenario_with_local_time(tmp_path):
    # issue 18 findings 1 and 2: a long export is read; Berlin data keep their zone at the Community level
    long_file(tmp_path)
    com = community(scenario(tmp_path, '[time]\ntz = "Europe/Berlin"\n' + CSV + TARIFF))
    assert com.tz == "Europe/Berlin" and com.summary()["tz"] == "Europe/Berlin"
    assert com.N == 3 and com.T == 192 and com.dt == 0.25
    assert com.index[0] == pd.Timestamp("2023-06-04 22:00", tz="UTC")
    assert com.local_index[0].hour == 0 and com.local_index[76].hour == 19  # 19:00 local is 19 h, not 17 h
    np.testing.assert_allclose(com.load.sum(axis=0), [19.2, 19.2, 38.4])  # 192 x 0.1 kWh


def test_tz_default_utc_for_csv(tmp_path):
    long_file(tmp_path, tz="UTC")
    com = community(scenario(tmp_path, CSV + TARIFF))
    assert com.tz == "UTC" and com.index[0] == pd.Timestamp("2023-06-05", tz="UTC")


def test_tz_honoured_for_synthetic_and_start_is_local():
    sc = scenario_from_dict({"time": {"tz": "Europe/Berlin", "start": "2022-08-01", "days": 1},
                             "community": {"source": "synthetic", "households": 3}})
    com = sc.build_community()
    assert com.tz == "Europe/Berlin" and com.index[0] == pd.Timestamp("2022-07-31 22:00", tz="UTC")


def test_bad_tz_is_rejected():
    with pytest.raises(ConfigError, match="unknown time zone 'Europe/Berlinn'"):
        scenario_from_dict({"time": {"tz": "Europe/Berlinn"}})


@pytest.mark.parametrize(
    "key", ["battery_share = 0.5", "seed = 3", "pv_kwp_range = [1.0, 2.0]", "battery_kwh_range = [1.0, 2.0]"]
)
def test_synthetic_only_keys_rejected_with_csv(tmp_path, key):
    # issue 18 finding 1: battery_share was silently ignored with csv data
    long_file(tmp_path)
    with pytest.raises(ConfigError, match=rf"{key.split()[0]} applies to source = 'synthetic' only.*participants"):
        community(scenario(tmp_path, CSV + key + "\n" + TARIFF))


def test_synthetic_only_keys_rejected_with_citylearn():
    with pytest.raises(ConfigError, match="battery_share applies to source = 'synthetic' only"):
        scenario_from_dict({"community": {"source": "citylearn", "battery_share": 0.5}})


def test_csv_only_keys_rejected_elsewhere():
    with pytest.raises(ConfigError, match="gaps applies to source = 'csv' only"):
        scenario_from_dict({"community": {"source": "synthetic", "households": 3, "gaps": "zero"}})


def test_time_start_and_days_select_a_window(tmp_path):
    # issue 18 finding 1: [time] start/days were silently ignored with csv data
    long_file(tmp_path, days=3)
    com = community(scenario(tmp_path, '[time]\ntz = "Europe/Berlin"\nstart = "2023-06-06"\ndays = 1\n' + CSV + TARIFF))
    assert com.T == 96 and com.local_index[0] == pd.Timestamp("2023-06-06", tz="Europe/Berlin")
    periods = community(scenario(tmp_path, '[time]\ntz = "Europe/Berlin"\nperiods = 10\n' + CSV + TARIFF))
    assert periods.T == 10


def test_days_are_local_calendar_days_across_dst(tmp_path):
    long_file(tmp_path, days=3, start="2023-10-28")
    com = community(scenario(tmp_path, '[time]\ntz = "Europe/Berlin"\nstart = "2023-10-29"\ndays = 1\n' + CSV + TARIFF))
    assert com.T == 100  # 25 hours on the day the clocks go back
    assert com.local_index[-1] == pd.Timestamp("2023-10-29 23:45", tz="Europe/Berlin")


@pytest.mark.parametrize(
    ("time", "needle"),
    [
        ('start = "2023-07-01"', r"start = '2023-07-01' is outside the data: the data cover 2023-06-05 00:00"),
        ('start = "2023-06-05 00:10"', "not on the data's"),
        ('start = "2023-06-06"\ndays = 3', "ends after the data"),
        ('freq = "20min"', "not a multiple of the data step"),
        ('freq = "1h"\ndays = 0.3', "not a whole number"),
    ],
)
def test_time_window_errors(tmp_path, time, needle):
    long_file(tmp_path)
    with pytest.raises(ConfigError, match=needle):
        community(scenario(tmp_path, f'[time]\ntz = "Europe/Berlin"\n{time}\n' + CSV + TARIFF))


def test_freq_resamples_conserving_energy(tmp_path):
    # issue 18 finding 1: [time] freq was silently ignored with csv data
    long_file(tmp_path)
    com = community(scenario(tmp_path, '[time]\ntz = "Europe/Berlin"\nfreq = "1h"\n' + CSV + TARIFF))
    assert com.T == 48 and com.dt == 1.0
    np.testing.assert_allclose(com.load[0], [0.4, 0.4, 0.8])
    np.testing.assert_allclose(com.load.sum(axis=0), [19.2, 19.2, 38.4])


def test_one_long_file_with_kind_and_participants(tmp_path):
    text = "timestamp,meter,direction,kwh\n" + "".join(
        f"2023-06-05 {h:02d}:00,{m},{d},{v}\n"
        for h in range(4) for m, d, v in (("A", "import", 1), ("B", "import", 0.5), ("B", "export", 2))
    )
    (tmp_path / "meters.csv").write_text(text)
    (tmp_path / "people.csv").write_text("id,pv_kwp,battery_kwh,battery_kw\nA,0,0,0\nB,4,10,5\n")
    body = '[community]\nsource = "csv"\nload = "meters.csv"\nparticipants = "people.csv"\n' + TARIFF
    com = community(scenario(tmp_path, body))
    assert list(com.ids) == ["A", "B"] and com.generation[:, 1].tolist() == [2.0] * 4
    assert com.participants.set_index("id").loc["B", "battery_kwh"] == 10.0
    off = community(scenario(tmp_path, body.replace('source = "csv"', 'source = "csv"\nbatteries = false'), "o.toml"))
    assert off.participants["battery_kwh"].sum() == 0
    with pytest.raises(ConfigError, match="already holds generation rows"):
        (tmp_path / "pv.csv").write_text(text)
        community(scenario(tmp_path, body.replace('participants', 'generation = "pv.csv"\nparticipants'), "g.toml"))


def test_participants_file_must_match_meters(tmp_path):
    long_file(tmp_path)
    (tmp_path / "p.csv").write_text("id,pv_kwp\nA,1\nB,0\nC,0\nZ,3\n")
    with pytest.raises(DataError, match=r"id\(s\) 'Z' have no meter data"):
        community(scenario(tmp_path, CSV + 'participants = "p.csv"\n' + TARIFF))


def test_separate_wide_generation_file_may_hold_prosumers_only(tmp_path):
    idx = pd.date_range("2023-06-05", periods=4, freq="1h")
    pd.DataFrame({"A": 1.0, "B": 0.5}, index=idx.rename("time")).to_csv(tmp_path / "load.csv")
    pd.DataFrame({"B": 2.0}, index=idx.rename("time")).to_csv(tmp_path / "pv.csv")
    body = '[community]\nsource = "csv"\nload = "load.csv"\ngeneration = "pv.csv"\n' + TARIFF
    com = community(scenario(tmp_path, body))
    assert com.generation.tolist() == [[0.0, 2.0]] * 4 and com.participants["role"].tolist() == ["consumer", "prosumer"]


def test_gap_policy_from_the_scenario(tmp_path):
    p = long_file(tmp_path)
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:10] + lines[11:]) + "\n")  # one row gone
    with pytest.raises(DataError, match="1 missing value"):
        community(scenario(tmp_path, CSV + TARIFF))
    com = community(scenario(tmp_path, CSV + 'gaps = "interpolate"\n' + TARIFF))
    np.testing.assert_allclose(com.load.sum(axis=0), [19.2, 19.2, 38.4])


def test_parquet_and_named_columns_from_the_scenario(tmp_path):
    local = pd.date_range("2023-06-05", periods=8, freq="1h")
    frame = pd.DataFrame({"Zeit": np.repeat(local, 2), "Zähler": ["A", "B"] * 8, "Wert": 0.5})
    frame.to_parquet(tmp_path / "m.parquet")
    body = ('[time]\ntz = "Europe/Berlin"\n[community]\nsource = "csv"\nload = "m.parquet"\nformat = "long"\n'
            'columns = { time = "Zeit", meter = "Zähler", value = "Wert" }\n' + TARIFF)
    com = community(scenario(tmp_path, body))
    assert com.T == 8 and list(com.ids) == ["A", "B"] and com.index[0] == pd.Timestamp("2023-06-04 22:00", tz="UTC")
    with pytest.raises(ConfigError, match="columns: unknown keys"):
        community(scenario(tmp_path, body.replace("time = ", "stamp = "), "bad.toml"))


def test_label_end_from_the_scenario(tmp_path):
    long_file(tmp_path)
    com = community(scenario(tmp_path, '[time]\ntz = "Europe/Berlin"\n' + CSV + 'label = "end"\n' + TARIFF))
    assert com.index[0] == pd.Timestamp("2023-06-04 21:45", tz="UTC")
    with pytest.raises(ConfigError, match="label applies to source = 'csv' only"):
        scenario_from_dict({"community": {"source": "synthetic", "households": 3, "label": "end"}})
