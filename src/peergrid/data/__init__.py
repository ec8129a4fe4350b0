"""peergrid.data — shipped datasets, loaders, resampling and synthetic communities.

* :func:`load_citylearn` / :func:`citylearn_community`: one year of measured load and
  PV of 17 homes (CityLearn 2022 challenge, Fontana, California; MIT licence),
  shipped as ``citylearn_2022.parquet`` — works offline.
* :func:`synthetic_community`: communities of any size built from those homes;
  :class:`MeterProfiles`: per-meter energy of simulated smart meters from the same homes
  (the service's meter simulator).
* :func:`resample_energy` / :func:`resample_intensive`: exact step conversion.
* :func:`read_meters` / :func:`parse_meters`: users' own smart-meter exports (long or
  wide, CSV or Parquet) to kWh per step, with a :class:`MeterReport` (docs/data.md).
* :func:`tmy3_wind_speed` / :func:`read_wind_speed` / :func:`wind_generation`: wind speeds
  (pvlib's shipped TMY3 typical years, or a CSV file) turned into turbines' generation
  (:mod:`peergrid.data.wind`); :mod:`peergrid.data.carbon`: grid carbon intensity
  (:data:`~peergrid.data.carbon.DEFAULT_CARBON_INTENSITY`, CSV series).
"""

from peergrid.data.citylearn import (
    CityLearnData,
    citylearn_community,
    detect_faulty_pv,
    load_citylearn,
)
from peergrid.data.meter_profiles import MeterProfiles
from peergrid.data.meters import MeterData, MeterReport, parse_meters, read_meters
from peergrid.data.resample import resample_energy, resample_intensive
from peergrid.data.synthetic import daily_energy_stats, synthetic_community
from peergrid.data.wind import WindSpeed, read_wind_speed, tmy3_wind_speed, wind_generation

__all__ = [
    "CityLearnData",
    "MeterData",
    "MeterProfiles",
    "MeterReport",
    "WindSpeed",
    "citylearn_community",
    "daily_energy_stats",
    "detect_faulty_pv",
    "load_citylearn",
    "parse_meters",
    "read_meters",
    "read_wind_speed",
    "resample_energy",
    "resample_intensive",
    "synthetic_community",
    "tmy3_wind_speed",
    "wind_generation",
]
