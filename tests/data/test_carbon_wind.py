"""Wind turbines as generation (issue 17, item 5) and the [carbon] / [wind] scenario tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peergrid
from peergrid import ConfigError, DataError
from peergrid.data.carbon import DEFAULT_CARBON_INTENSITY
from peergrid.data.wind import read_wind_speed, tmy3_wind_speed, wind_generation, wind_per_kw
from peergrid.simulate.scenario import build, load_scenario, recorded_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]


def _speed_csv(tmp_path: Path, speeds: list[float], start: str = "2022-08-01T07:00:00Z") -> Path:
    idx = pd.date_range(start, periods=len(speeds), freq="1h")
    path = tmp_path / "wind.csv"
    pd.DataFrame({"time": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "wind_speed": speeds}).to_csv(path, index=False)
    return path


def test_cubic_power_curve_by_hand(tmp_path):
    # hub height = anemometer height: no profile; Tooki eq. 3 with v_in 3, v_r 12, v_out 25 m/s
    speeds = [2.0, 3.0, 7.5, 12.0, 20.0, 26.0]
    ws = read_wind_speed(_speed_csv(tmp_path, speeds), height=30.0)
    idx = pd.date_range("2022-08-01T07:00Z", periods=6, freq="1h")
    gen = wind_generation(idx, np.array([0.0, 4.0]), ws, hub_height=30.0)
    assert gen[:, 1].tolist() == pytest.approx([0.0, 0.0, 4.0 * 0.125, 4.0, 4.0, 0.0])
    assert gen[:, 0].tolist() == [0.0] * 6
    # 30-minute steps: each hour's energy split in two; 2-hour steps: summed
    half = wind_per_kw(pd.date_range("2022-08-01T07:00Z", periods=12, freq="30min"), ws, hub_height=30.0)
    assert half.tolist() == pytest.approx(np.repeat([0.0, 0.0, 0.125, 1.0, 1.0, 0.0], 2) / 2)
    two = wind_per_kw(pd.date_range("2022-08-01T07:00Z", periods=3, freq="2h"), ws, hub_height=30.0)
    assert two.tolist() == pytest.approx([0.0, 1.125, 1.0])


def test_logarithmic_profile_to_the_hub(tmp_path):
    ws = read_wind_speed(_speed_csv(tmp_path, [6.0]), height=10.0)
    idx = pd.date_range("2022-08-01T07:00Z", periods=1, freq="1h")
    v_hub = 6.0 * math.log(30 / 0.15) / math.log(10 / 0.15)
    expected = ((v_hub - 3.0) / 9.0) ** 3
    assert wind_per_kw(idx, ws, hub_height=30.0)[0] == pytest.approx(expected)


def test_turbine_curve_is_scaled_to_the_rated_power(tmp_path):
    from peergrid.assets.wind import turbine_power_curve

    speeds, kw = turbine_power_curve("E-53/800")
    ws = read_wind_speed(_speed_csv(tmp_path, [speeds[5], 30.0]), height=73.0)
    idx = pd.date_range("2022-08-01T07:00Z", periods=2, freq="1h")
    per_kw = wind_per_kw(idx, ws, model="turbine", turbine="E-53/800", hub_height=73.0)
    assert per_kw[0] == pytest.approx(kw[5] / kw.max())
    assert per_kw[1] == 0.0  # beyond the curve


def test_tmy3_typical_year_by_local_clock_hour():
    ws = tmy3_wind_speed()
    assert ws.speed.shape == (8760,) and ws.height == 10.0 and 2.5 < ws.speed.mean() < 3.5
    # 2024-03-01 00:00 local (leap year) is hour 59*24 of a typical year; 29 Feb repeats 28 Feb
    t = pd.DatetimeIndex(["2024-03-01 00:00", "2024-02-29 05:00", "2023-02-28 05:00"]).tz_localize("Etc/GMT+8")
    got = ws.at(t.tz_convert("UTC"), "Etc/GMT+8")
    assert got.tolist() == [ws.speed[59 * 24], ws.speed[58 * 24 + 5], ws.speed[58 * 24 + 5]]
    windy = tmy3_wind_speed("tmy3-sand-point")
    assert windy.speed.mean() > ws.speed.mean()
    with pytest.raises(ConfigError, match="unknown wind-speed source"):
        tmy3_wind_speed("nowhere")


def test_dated_series_must_cover_the_window(tmp_path):
    ws = read_wind_speed(_speed_csv(tmp_path, [5.0, 6.0]))
    with pytest.raises(DataError, match="cover"):
        wind_per_kw(pd.date_range("2022-08-01T07:00Z", periods=3, freq="1h"), ws)


def _citylearn(**tables) -> dict:
    return {"name": "t", "time": {"days": 2}, "community": {"source": "citylearn", "homes": ["home_01", "home_02"]},
            "simulation": {"markets": ["sdr"]}, **tables}  # fmt: skip


def test_scenario_wind_members_generate_and_others_do_not_change(tmp_path):
    plain = build(scenario_from_dict(_citylearn()))
    sc = scenario_from_dict(_citylearn(wind={"members": {"home_02": 5.0}, "speed": "tmy3-sand-point"}))
    com = build(sc)
    assert com.participants.set_index("id")["wind_kw"].to_dict() == {"home_01": 0.0, "home_02": 5.0}
    assert np.array_equal(com.generation[:, 0], plain.generation[:, 0])  # wind_kw = 0: unchanged
    extra = com.generation[:, 1] - plain.generation[:, 1]
    expected = 5.0 * wind_per_kw(com.index, tmy3_wind_speed("tmy3-sand-point"), tz=com.tz)
    assert extra == pytest.approx(expected) and extra.sum() > 0
    assert com.wind_generation[:, 1] == pytest.approx(extra) and not com.wind_generation[:, 0].any()
    from peergrid.economics.appraisal import pv_share

    share = pv_share(com)  # the economics split PV and wind exactly with the wind series
    assert share[1] == pytest.approx(plain.generation[:, 1].sum() / com.generation[:, 1].sum())
    assert "Wind" in com.source
    rec = recorded_scenario(sc, com)
    assert rec["wind"]["members"] == {"home_02": 5.0}
    again = scenario_from_dict(rec)  # the scenario as run validates and rebuilds the same community
    assert np.array_equal(build(again).generation, com.generation)


@pytest.mark.parametrize(
    "tables",
    [
        {"wind": {"share": 0.5, "model": "turbine", "turbine": "E-53/800"}},
        {"wind": {"share": 0.5, "cut_in": 2.5}},
        {"carbon": {"intensity": 0.2}},
        {"carbon": {"intensity": "citylearn"}},
        {"simulation": {"objective": "cost+co2", "co2_price": 0.2, "markets": ["sdr"]}},
    ],
)
def test_recorded_scenario_validates_again(tables):
    sc = scenario_from_dict(_citylearn(**tables))
    com = build(sc)
    rec = recorded_scenario(sc, com)
    again = scenario_from_dict(rec)
    assert again.wind == sc.wind and again.carbon == sc.carbon and again.simulation == sc.simulation


def test_scenario_wind_share_and_csv_participants(tmp_path):
    sc = scenario_from_dict(
        {"name": "w", "time": {"days": 1, "freq": "30min"},
         "community": {"source": "synthetic", "households": 40, "seed": 3},
         "wind": {"share": 0.1, "kw_range": [2.0, 4.0], "seed": 1}}
    )  # fmt: skip
    com = build(sc)
    kw = com.participants["wind_kw"].to_numpy()
    assert (kw > 0).sum() == 4 and kw[kw > 0].min() >= 2.0 and kw.max() <= 4.0
    assert (com.participants["role"][kw > 0] == "prosumer").all()
    # csv data: the participants file's wind_kw column
    load = tmp_path / "load.csv"
    idx = pd.date_range("2022-08-01 00:00", periods=24, freq="1h")
    pd.DataFrame({"time": idx.strftime("%Y-%m-%d %H:%M"), "a": 1.0, "b": 1.0}).to_csv(load, index=False)
    (tmp_path / "parts.csv").write_text("id,wind_kw\na,0\nb,3\n")
    (tmp_path / "s.toml").write_text(
        '[community]\nsource = "csv"\nload = "load.csv"\nparticipants = "parts.csv"\n'
        '[tariff]\ncurrency = "EUR"\nenergy = 0.3\nfeed_in = 0.05\n[wind]\nspeed = "tmy3-sand-point"\n'
    )
    com = build(load_scenario(tmp_path / "s.toml"), str(tmp_path / "s.toml"))
    assert com.generation[:, 0].sum() == 0.0 and com.generation[:, 1].sum() > 0
    assert com.carbon_intensity.tolist() == [DEFAULT_CARBON_INTENSITY] * 24  # csv: the documented default


def test_scenario_carbon_table(tmp_path):
    flat = build(scenario_from_dict(_citylearn(carbon={"intensity": 0.3})))
    assert flat.carbon_intensity.tolist() == [0.3] * 48
    default = build(scenario_from_dict(_citylearn()))
    assert np.array_equal(default.carbon_intensity, peergrid.data.citylearn_community(periods=48).carbon_intensity)
    path = tmp_path / "ci.csv"
    idx = pd.date_range("2022-08-01T07:00Z", periods=48, freq="1h")
    pd.DataFrame({"t": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "g": np.arange(48) * 10.0}).to_csv(path, index=False)
    sc = scenario_from_dict(_citylearn(carbon={"intensity": "ci.csv", "unit": "g/kWh"}))
    series = build(sc, str(tmp_path / "s.toml"))
    assert series.carbon_intensity == pytest.approx(np.arange(48) * 0.01)
    mh = build(scenario_from_dict({"community": {"source": "milford-haven"}, "time": {"days": 1, "freq": "30min"}}))
    assert mh.carbon_intensity.tolist() == [DEFAULT_CARBON_INTENSITY] * 48


@pytest.mark.parametrize(
    ("tables", "match"),
    [
        ({"carbon": {"intensity": -0.1}}, "intensity"),
        ({"carbon": {"intensity": 0.3, "unit": "g/kWh"}}, "intensity file only"),
        ({"simulation": {"objective": "cost+co2"}}, "co2_price > 0"),
        ({"simulation": {"objective": "co2", "co2_price": 0.1}}, "applies to"),
        ({"simulation": {"objective": "carbon"}}, "objective"),
        ({"wind": {"cut_in": 13.0}}, "cut_in < rated_speed"),
        ({"wind": {"members": {"a": 1.0}, "share": 0.1}}, "either members or share"),
        ({"wind": {"model": "turbine", "cut_in": 2.0}}, '"cubic" only'),
    ],
)
def test_bad_tables_are_config_errors(tables, match):
    with pytest.raises(ConfigError, match=match):
        scenario_from_dict(_citylearn(**tables))


def test_scenario_errors_at_build():
    with pytest.raises(ConfigError, match="unknown participant"):
        build(scenario_from_dict(_citylearn(wind={"members": {"home_09": 2.0}})))
    with pytest.raises(ConfigError, match="citylearn and synthetic only"):
        build(scenario_from_dict({"community": {"source": "milford-haven"}, "carbon": {"intensity": "citylearn"}}))
    with pytest.raises(ConfigError, match="not found"):
        build(scenario_from_dict(_citylearn(carbon={"intensity": "missing.csv"})))


def test_objective_reaches_the_cli(tmp_path):
    import json

    from typer.testing import CliRunner

    from peergrid.cli.main import app

    path = tmp_path / "s.toml"
    path.write_text(
        'name = "c"\n[time]\ndays = 1\n[community]\nsource = "citylearn"\nhomes = ["home_01", "home_02"]\n'
        '[simulation]\ncontrol = "lp"\nobjective = "co2"\nmarkets = ["sdr"]\n'
    )
    out = CliRunner().invoke(app, ["compare", str(path), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["objective"] == "co2" and data["markets"]["sdr"]["emissions_kg"] > 0
    assert data["community"]["carbon_intensity"] > 0


def test_shipped_wind_scenario_builds():
    sc = load_scenario(ROOT / "scenarios" / "tooki-wind.toml")
    com = build(sc, str(ROOT / "scenarios" / "tooki-wind.toml"))
    kw = com.participants["wind_kw"].to_numpy()
    assert (kw > 0).any() and com.carbon_intensity is not None


def test_seed_option_redraws_the_turbine_owners():
    from peergrid.cli._common import reseed

    sc = load_scenario(ROOT / "scenarios" / "tooki-wind.toml")
    assert reseed(sc, 7).wind.seed == 7 and sc.wind.seed == 2025
    fixed = scenario_from_dict(_citylearn(wind={"members": {"home_01": 2.0}}))
    assert reseed(fixed, 7).wind == fixed.wind  # explicit owners: nothing drawn
