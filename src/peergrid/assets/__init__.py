"""Physical asset models: PV, wind, EVs and household load (pure functions).

Every function takes and returns numpy arrays in kWh / kW / W/m² / m/s, shaped
``(T, N)`` (time x participant) for per-participant series, and raises
:class:`peergrid.ModelError` (bad parameters) or :class:`peergrid.DataError` (bad data).

Modules
-------
pv
    Tooki et al. eq. 2 PV bound, a pvlib PVWatts chain, TMY3 weather shipped in pvlib.
wind
    Tooki et al. eq. 3 cubic wind curve, windpowerlib power curves.
ev
    EV plug-in availability, energy requirements, uncontrolled charging.
load
    Annual scaling of load shapes, BDEW H25 household profile (demandlib).
"""

from peergrid.assets.ev import (
    ev_availability,
    ev_immediate_charging,
    ev_required_energy,
    synthetic_ev_fleet,
)
from peergrid.assets.load import bdew_household_profile, scale_to_annual
from peergrid.assets.pv import (
    annual_yield_kwh_per_kwp,
    pv_power_pvlib,
    pv_power_tooki,
    pvlib_tmy,
)
from peergrid.assets.wind import (
    list_turbines,
    turbine_power_curve,
    wind_power_cubic,
    wind_power_turbine,
)

__all__ = [
    "annual_yield_kwh_per_kwp",
    "bdew_household_profile",
    "ev_availability",
    "ev_immediate_charging",
    "ev_required_energy",
    "list_turbines",
    "pv_power_pvlib",
    "pv_power_tooki",
    "pvlib_tmy",
    "scale_to_annual",
    "synthetic_ev_fleet",
    "turbine_power_curve",
    "wind_power_cubic",
    "wind_power_turbine",
]
