"""Wind generation: the Tooki et al. cubic turbine model and windpowerlib power curves.

Wind speeds are in m/s, heights in m, powers in kW. Per-participant results are
``(T, N)`` float64 arrays (time x participant).

References
----------
.. [1] Tooki, O. O. et al., "A decentralized peer-to-peer energy trading framework
   for transactive energy systems", eq. 3 (wind-energy constraint).
.. [2] Haas, S., Krien, U., Schachler, B., et al., "wind-python/windpowerlib: a
   library to model wind power plants", Zenodo, 2019; turbine library from the
   OpenEnergy Database (oedb), shipped with windpowerlib (MIT).
.. [3] Hau, E., "Wind Turbines", Springer, 2013 (logarithmic and Hellman profiles).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd

from peergrid.assets._common import as_param as _param
from peergrid.core.errors import DataError, ModelError

__all__ = [
    "list_turbines",
    "turbine_power_curve",
    "wind_power_cubic",
    "wind_power_turbine",
]

#: Default turbine for :func:`wind_power_turbine`: the smallest turbine with a power
#: curve in windpowerlib's bundled library (Enercon E-53, 800 kW, 53 m rotor).
DEFAULT_TURBINE = "E-53/800"


def _wind_speed(value: object, *, column: bool) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("wind_speed must be numeric") from None
    if v.ndim not in (1, 2):
        raise DataError(f"wind_speed must have shape (T,) or (T, N), got {v.shape}")
    if not np.all(np.isfinite(v)):
        t = int(np.argwhere(~np.isfinite(v))[0][0])
        raise DataError(f"wind_speed has NaN or infinite values (first at step {t})")
    if np.any(v < 0):
        raise DataError(f"wind_speed must be >= 0 m/s, got {v.min()}")
    if column and v.ndim == 1:
        v = v[:, None]
    return v


# ---- Tooki et al. eq. 3 ------------------------------------------------------------------
def wind_power_cubic(
    wind_speed: np.ndarray | pd.Series,
    rated_kw: float | np.ndarray,
    cut_in: float | np.ndarray = 3.0,
    rated_speed: float | np.ndarray = 12.0,
    cut_out: float | np.ndarray = 25.0,
) -> np.ndarray:
    r"""Wind turbine power from a cubic power curve (Tooki et al. eq. 3).

    .. math::

        C^{Wind}_{h,t} = \begin{cases}
            0 & v_t < v^{in}_h \text{ or } v_t > v^{out}_h \\
            \bar C^{Wind}_h \left(\frac{v_t - v^{in}_h}{v^{r}_h - v^{in}_h}\right)^3
              & v^{in}_h \le v_t \le v^{r}_h \\
            \bar C^{Wind}_h & v^{r}_h < v_t \le v^{out}_h
        \end{cases}

    Tooki et al. state the forecast wind speed in km/h; any unit works as long as
    ``wind_speed``, ``cut_in``, ``rated_speed`` and ``cut_out`` share it. The
    defaults are m/s values typical of small and medium turbines.

    Parameters
    ----------
    wind_speed : array-like, shape (T,), (T, 1) or (T, N)
        Wind speed at hub height :math:`v_t`, m/s (≥ 0).
    rated_kw : float or array-like, shape (N,)
        Rated power :math:`\bar C^{Wind}_h` per participant, kW (≥ 0).
    cut_in : float or array-like, shape (N,), default 3.0
        Cut-in speed :math:`v^{in}_h`, m/s (≥ 0).
    rated_speed : float or array-like, shape (N,), default 12.0
        Rated speed :math:`v^{r}_h`, m/s (> cut_in).
    cut_out : float or array-like, shape (N,), default 25.0
        Cut-out speed :math:`v^{out}_h`, m/s (> rated_speed).

    Returns
    -------
    numpy.ndarray, shape (T, N)
        Power, kW, in ``[0, rated_kw]``. Scalar parameters give N = 1.

    Raises
    ------
    ModelError
        If ``rated_kw < 0``, ``cut_in < 0`` or not ``cut_in < rated_speed < cut_out``.
    DataError
        If ``wind_speed`` has NaN/inf or negative values or does not broadcast.

    Examples
    --------
    >>> wind_power_cubic([3.0, 7.5, 12.0, 26.0], rated_kw=10.0)[:, 0]
    array([ 0.  ,  1.25, 10.  ,  0.  ])
    """
    rated = np.atleast_1d(_param(rated_kw, "rated_kw"))
    v_in = np.atleast_1d(_param(cut_in, "cut_in"))
    v_r = np.atleast_1d(_param(rated_speed, "rated_speed"))
    v_out = np.atleast_1d(_param(cut_out, "cut_out"))
    if np.any(rated < 0):
        raise ModelError(f"rated_kw must be >= 0 kW, got {rated[rated < 0][0]}")
    if np.any(v_in < 0):
        raise ModelError(f"cut_in must be >= 0 m/s, got {v_in[v_in < 0][0]}")
    try:
        v_in, v_r, v_out, rated = np.broadcast_arrays(v_in, v_r, v_out, rated)
    except ValueError:
        raise ModelError(
            "rated_kw, cut_in, rated_speed and cut_out must have the same length N (or be scalars)"
        ) from None
    if np.any(v_r <= v_in):
        k = int(np.argmax(v_r <= v_in))
        raise ModelError(f"rated_speed ({v_r[k]}) must be > cut_in ({v_in[k]})")
    if np.any(v_out <= v_r):
        k = int(np.argmax(v_out <= v_r))
        raise ModelError(f"cut_out ({v_out[k]}) must be > rated_speed ({v_r[k]})")
    v = _wind_speed(wind_speed, column=True)
    try:
        frac = np.clip((v - v_in) / (v_r - v_in), 0.0, 1.0)
    except ValueError:
        raise DataError(
            f"wind_speed shape {v.shape} does not broadcast against parameters of shape {rated.shape}"
        ) from None
    power = rated * frac**3
    power = np.where((v < v_in) | (v > v_out), 0.0, power)
    return np.ascontiguousarray(power, dtype=np.float64)


# ---- windpowerlib turbine library --------------------------------------------------------
def _oedb_path(filename: str) -> str:
    import windpowerlib

    return os.path.join(os.path.dirname(windpowerlib.__file__), "oedb", filename)


@functools.lru_cache(maxsize=1)
def _turbine_table() -> pd.DataFrame:
    table = pd.read_csv(_oedb_path("turbine_data.csv"))
    table = table[table["has_power_curve"].astype(str).str.lower() == "true"]
    return table.set_index("turbine_type")


@functools.lru_cache(maxsize=1)
def _power_curve_table() -> pd.DataFrame:
    return pd.read_csv(_oedb_path("power_curves.csv"), index_col=0)


def list_turbines() -> pd.DataFrame:
    """Wind turbines with a power curve in windpowerlib's bundled (offline) library.

    The library is the OpenEnergy Database (oedb) turbine library as shipped inside
    the windpowerlib package (``windpowerlib/oedb``); nothing is downloaded.

    Returns
    -------
    pandas.DataFrame
        One row per turbine, sorted by ``turbine_type``, with columns
        ``turbine_type``, ``manufacturer``, ``nominal_power_kw`` (kW),
        ``rotor_diameter_m`` (m) and ``hub_heights_m`` (str, the offered hub
        heights as listed, m).
    """
    table = _turbine_table()
    out = pd.DataFrame(
        {
            "turbine_type": table.index.astype(str),
            "manufacturer": table["manufacturer"].astype(str).to_numpy(),
            "nominal_power_kw": table["nominal_power"].to_numpy(dtype=np.float64) / 1000.0,
            "rotor_diameter_m": pd.to_numeric(table["rotor_diameter"], errors="coerce").to_numpy(),
            "hub_heights_m": table["hub_height"].fillna("").astype(str).to_numpy(),
        }
    )
    return out.sort_values("turbine_type").reset_index(drop=True)


def _default_hub_height(turbine_type: str) -> float | None:
    raw = _turbine_table().loc[turbine_type, "hub_height"]
    if not isinstance(raw, str):
        return None
    heights = []
    for part in raw.split(";"):
        part = part.strip().replace(",", ".")
        try:
            heights.append(float(part))
        except ValueError:
            continue
    heights = [h for h in heights if np.isfinite(h) and h > 0]
    return min(heights) if heights else None


def turbine_power_curve(turbine_type: str = DEFAULT_TURBINE) -> tuple[np.ndarray, np.ndarray]:
    """Power curve of a turbine from windpowerlib's bundled oedb library.

    Parameters
    ----------
    turbine_type : str, default "E-53/800"
        Turbine name as in :func:`list_turbines` (e.g. ``"E-126/4200"``).

    Returns
    -------
    wind_speeds : numpy.ndarray
        Wind speeds of the curve points, m/s (increasing).
    power_kw : numpy.ndarray
        Electrical power at those speeds, kW.

    Raises
    ------
    ModelError
        If ``turbine_type`` is not in the library.
    """
    curves = _power_curve_table()
    if turbine_type not in curves.index:
        close = [t for t in curves.index if turbine_type.split("/")[0].lower() in t.lower()][:5]
        hint = f" (similar: {close})" if close else " (see list_turbines())"
        raise ModelError(f"turbine_type {turbine_type!r} has no power curve in windpowerlib{hint}")
    row = curves.loc[turbine_type].dropna()
    speeds = np.asarray([float(c) for c in row.index], dtype=np.float64)
    power = row.to_numpy(dtype=np.float64) / 1000.0  # W -> kW
    order = np.argsort(speeds, kind="stable")
    return speeds[order], power[order]


def wind_power_turbine(
    wind_speed: np.ndarray | pd.Series,
    turbine_type: str = DEFAULT_TURBINE,
    *,
    hub_height: float | None = None,
    measurement_height: float = 10.0,
    roughness_length: float = 0.15,
    wind_profile: str = "logarithmic",
    hellman_exponent: float | None = None,
    rated_kw: float | np.ndarray | None = None,
) -> np.ndarray:
    r"""Turbine power from a measured wind speed with a windpowerlib power curve.

    The wind speed measured at ``measurement_height`` is extrapolated to the hub
    height with the logarithmic profile
    :math:`v_{hub} = v \ln(h_{hub}/z_0) / \ln(h/z_0)`
    (:func:`windpowerlib.wind_speed.logarithmic_profile`) or the Hellman power law
    :math:`v_{hub} = v (h_{hub}/h)^\alpha` (:func:`windpowerlib.wind_speed.hellman`,
    :math:`\alpha = 1/\ln(h_{hub}/z_0)` unless ``hellman_exponent`` is given), then
    mapped through the turbine's power curve (:func:`windpowerlib.power_output.power_curve`,
    linear interpolation, zero outside the curve). This is the data-driven
    counterpart of the cubic curve in Tooki et al. eq. 3.

    The power curve is read from windpowerlib's bundled oedb CSV files rather than
    through ``windpowerlib.WindTurbine``, whose loader uses pandas ``inplace``
    arguments deprecated in pandas 3.

    Parameters
    ----------
    wind_speed : array-like, shape (T,) or (T, N)
        Wind speed at ``measurement_height``, m/s (≥ 0).
    turbine_type : str, default "E-53/800"
        Turbine name as in :func:`list_turbines`, e.g. ``"E-126/4200"``.
    hub_height : float, optional
        Hub height, m. Defaults to the lowest hub height listed for the turbine.
    measurement_height : float, default 10.0
        Height of the wind speed measurement, m (> ``roughness_length``).
    roughness_length : float, default 0.15
        Surface roughness length :math:`z_0`, m (> 0; 0.15 ≈ farmland with hedges).
    wind_profile : {"logarithmic", "hellman"}, default "logarithmic"
        Hub-height extrapolation.
    hellman_exponent : float, optional
        Hellman exponent :math:`\alpha` (> 0), only for ``wind_profile="hellman"``.
    rated_kw : float or array-like, shape (N,), optional
        If given, the power curve is normalised by its maximum and scaled to each
        participant's rated power, kW (≥ 0), returning ``(T, N)``: a community's
        small turbines modelled with the shape of a real curve.

    Returns
    -------
    numpy.ndarray
        Electrical power, kW: shape of ``wind_speed`` if ``rated_kw`` is None (one
        turbine), else ``(T, N)``. Bounded by the curve's maximum or by ``rated_kw``.
        Note that several manufacturer curves in the library peak up to 2.5 % above
        the nameplate nominal power (e.g. E-53/800 reaches 810 kW).

    Raises
    ------
    ModelError
        If the turbine is unknown, a height or roughness is not positive,
        ``measurement_height <= roughness_length``, the profile name is unknown or
        ``rated_kw < 0``.
    DataError
        If ``wind_speed`` has NaN/inf or negative values.
    """
    from windpowerlib import power_output
    from windpowerlib import wind_speed as wpl_wind_speed

    speeds, curve_kw = turbine_power_curve(turbine_type)
    if hub_height is None:
        hub_height = _default_hub_height(turbine_type)
        if hub_height is None:
            raise ModelError(f"turbine_type {turbine_type!r} lists no hub height; pass hub_height= (m)")
    for name, val in (
        ("hub_height", hub_height),
        ("measurement_height", measurement_height),
        ("roughness_length", roughness_length),
    ):
        if not (np.isscalar(val) and np.isfinite(val) and val > 0):
            raise ModelError(f"{name} must be > 0 m, got {val!r}")
    if measurement_height <= roughness_length or hub_height <= roughness_length:
        raise ModelError(
            f"roughness_length ({roughness_length} m) must be below measurement_height "
            f"({measurement_height} m) and hub_height ({hub_height} m)"
        )
    v = _wind_speed(wind_speed, column=False)
    if wind_profile == "logarithmic":
        if hellman_exponent is not None:
            raise ModelError("hellman_exponent is only used with wind_profile='hellman'")
        v_hub = wpl_wind_speed.logarithmic_profile(
            v, measurement_height, hub_height, roughness_length, obstacle_height=0.0
        )
    elif wind_profile == "hellman":
        if hellman_exponent is not None and not (
            np.isscalar(hellman_exponent) and np.isfinite(hellman_exponent) and hellman_exponent > 0
        ):
            raise ModelError(f"hellman_exponent must be > 0, got {hellman_exponent!r}")
        v_hub = wpl_wind_speed.hellman(v, measurement_height, hub_height, roughness_length, hellman_exponent)
    else:
        raise ModelError(f"wind_profile must be 'logarithmic' or 'hellman', got {wind_profile!r}")
    power = np.asarray(power_output.power_curve(np.asarray(v_hub), speeds, curve_kw), dtype=np.float64)
    if rated_kw is None:
        return np.ascontiguousarray(power)
    rated = np.atleast_1d(_param(rated_kw, "rated_kw"))
    if np.any(rated < 0):
        raise ModelError(f"rated_kw must be >= 0 kW, got {rated[rated < 0][0]}")
    peak = float(curve_kw.max())
    if power.ndim == 1:
        power = power[:, None]
    try:
        scaled = power / peak * rated
    except ValueError:
        raise DataError(f"wind_speed shape {v.shape} does not broadcast against rated_kw {rated.shape}") from None
    return np.ascontiguousarray(np.minimum(scaled, rated), dtype=np.float64)
