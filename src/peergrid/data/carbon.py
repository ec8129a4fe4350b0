"""Carbon intensity of grid electricity (kgCO2/kWh) for communities.

Sources, in the order a scenario uses them (``[carbon] intensity``, docs/carbon.md):

* the **CityLearn 2022 data set's hourly series** (``"citylearn"``; ``carbon_intensity`` in
  :func:`peergrid.data.load_citylearn`, 0.07-0.28 kgCO2/kWh, mean 0.157) — the default of
  ``source = "citylearn"`` and ``"synthetic"`` (members built from those homes);
* a **flat factor** in kgCO2/kWh — the default of every other source is
  :data:`DEFAULT_CARBON_INTENSITY`;
* a **CSV file** of a time-varying series (a timestamp column and an intensity column, in
  kgCO2/kWh or gCO2/kWh); each step takes the value in force at its start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from peergrid.core.errors import ConfigError, DataError

__all__ = ["DEFAULT_CARBON_INTENSITY", "DEFAULT_CARBON_SOURCE", "carbon_series", "read_carbon_csv"]

#: Flat carbon intensity of sources without a series of their own, kgCO2/kWh: the world
#: average carbon intensity of electricity generation in 2023, 481 gCO2/kWh (Ember, Global
#: Electricity Review 2024). Set your grid's own factor with ``[carbon] intensity``.
DEFAULT_CARBON_INTENSITY = 0.481
#: Where :data:`DEFAULT_CARBON_INTENSITY` comes from.
DEFAULT_CARBON_SOURCE = "world average of electricity generation in 2023 (Ember, Global Electricity Review 2024)"


def read_carbon_csv(path: str | Path, *, column: str | None = None, unit: str = "kg/kWh", tz: str = "UTC") -> pd.Series:
    """Read a carbon-intensity series: a CSV with a timestamp column and an intensity column.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV; the first column holds ISO 8601 timestamps (naive ones are local time in ``tz``).
    column : str, optional
        Intensity column (default: the second column).
    unit : {"kg/kWh", "g/kWh"}
        Unit of the values (kgCO2/kWh or gCO2/kWh).
    tz : str
        Zone of naive timestamps.

    Returns
    -------
    pandas.Series
        kgCO2/kWh at UTC timestamps, sorted.
    """
    from peergrid.market.tariff import read_price_csv

    if unit not in ("kg/kWh", "g/kWh"):
        raise ConfigError(f"[carbon].unit must be 'kg/kWh' or 'g/kWh', got {unit!r}")
    try:
        s = read_price_csv(path, column=column, tz=tz)
    except (ConfigError, DataError) as exc:
        raise type(exc)(str(exc).replace("price file", "carbon-intensity file").replace("price", "intensity")) from None
    s = s * (1e-3 if unit == "g/kWh" else 1.0)
    if (s < 0).any():
        raise DataError(f"{path}: negative carbon intensity {float(s[s < 0].iloc[0])}")
    if s.index.has_duplicates:
        raise DataError(f"{path}: duplicate timestamp {s.index[s.index.duplicated()][0]}")
    return s.rename("carbon_intensity")


def carbon_series(series: pd.Series, index: pd.DatetimeIndex, what: str = "carbon intensity") -> np.ndarray:
    """The value of ``series`` in force at each step start of ``index`` (kgCO2/kWh, length T).

    Raises
    ------
    DataError
        The series does not cover the steps.
    """
    from peergrid.market.tariff import Rate

    return Rate.dynamic(series, source=what).values(index)
