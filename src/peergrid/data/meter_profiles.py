"""Per-meter energy of simulated smart meters, built from the shipped CityLearn homes.

The meter simulator of the service (:func:`peergrid.service.mqtt.simulator.simulate_meters`,
``peergrid meters simulate``) asks :class:`MeterProfiles` for the energy of every meter in one
metering period at a time. The profiles are made with the building blocks of
:func:`~peergrid.data.synthetic.synthetic_community`: the measured homes of
:func:`~peergrid.data.citylearn.load_citylearn` (faulty PV dropped) gathered and scaled per
meter by a :class:`~peergrid.data.synthetic.ProfileSource` (column = base home, factor =
seeded scale), so there is one generator of synthetic members, not two.

Units: the profiles are kWh per data hour; :meth:`MeterProfiles.energy_wh` returns integer Wh
per metering period. Sign convention of docs/DESIGN.md: net = load − PV, import = max(net, 0),
export = max(−net, 0).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from peergrid.core.errors import ConfigError
from peergrid.data.synthetic import ProfileSource

__all__ = ["MeterProfiles"]

Wh = npt.NDArray[np.int64]


class MeterProfiles:
    """Realistic per-meter energy for any number of meters from the shipped CityLearn data.

    Meter ``i`` follows home ``i mod 17`` of the CityLearn 2022 data set (measured load
    and PV of 17 homes in Fontana, CA; :func:`peergrid.data.load_citylearn`), scaled by a
    seeded factor in [0.8, 1.2] for load and for PV so that meters differ. Faulty PV
    (:attr:`CityLearnData.faulty_pv`) is dropped. A time ``t`` maps onto the data hour
    with the same position in the year (the data are periodic), so PV shows at daytime.

    Parameters
    ----------
    n : int
        Number of meters.
    from_data : bool
        ``False`` uses a synthetic profile instead (a flat 0.5 kW load with seeded
        gamma noise and no PV), for tests that do not care about realism.
    seed : int
        Seed of the scaling factors and noise.

    Raises
    ------
    ConfigError
        If ``n < 1``.
    """

    def __init__(self, n: int, from_data: bool = True, seed: int = 0) -> None:
        if n < 1:
            raise ConfigError(f"meters must be ≥ 1, got {n}")
        self.n = n
        self.from_data = from_data
        self.rng = np.random.default_rng(seed)
        if from_data:
            from peergrid.data.citylearn import load_citylearn

            d = load_citylearn()
            pv = d.pv_per_kwp.to_numpy() * d.pv_kwp.to_numpy()[None, :]  # kWh/h of each home, (8760, 17)
            pv[:, [d.load.columns.get_loc(h) for h in d.faulty_pv]] = 0.0
            home = np.arange(n) % d.load.shape[1]
            # draw order (load factors, then PV factors) fixes the values for a seed
            self._load = ProfileSource(d.load.to_numpy(), home, self.rng.uniform(0.8, 1.2, n))  # kWh/h, (8760, n)
            self._pv = ProfileSource(pv, home, self.rng.uniform(0.8, 1.2, n))
            self._start = d.index[0].to_pydatetime()
            self._hours = len(d.index)

    def energy_wh(self, t: dt.datetime, period_s: float) -> tuple[Wh, Wh, Wh]:
        """``(import_wh, export_wh, pv_wh)`` integer arrays ``(n,)`` of the period starting at ``t``.

        Energy of a period = hourly energy (kWh/h) of the data hour of ``t`` × period length (h)
        × 1000 Wh/kWh; net = load − PV, import = max(net, 0), export = max(−net, 0) (DESIGN sign
        convention).

        Parameters
        ----------
        t : datetime
            Aware start of the period.
        period_s : float
            Length of the period, s.
        """
        hours = period_s / 3600.0
        if self.from_data:
            h = int((t - self._start).total_seconds() // 3600) % self._hours
            row = slice(h, h + 1)
            load = self._load.block(row)[0] * hours * 1000.0
            pv = self._pv.block(row)[0] * hours * 1000.0
        else:
            load = self.rng.gamma(4.0, 0.125, self.n) * hours * 1000.0
            pv = np.zeros(self.n)
        net = load - pv
        return (np.rint(np.maximum(net, 0)).astype(np.int64), np.rint(np.maximum(-net, 0)).astype(np.int64),
                np.rint(pv).astype(np.int64))
