"""Battery SOC dynamics (Tooki et al. eqs. 4–5) and step limits."""

import numpy as np
import pytest

from peergrid import ModelError
from peergrid.assets.battery import BatteryFleet, soc_update, step_limits


def test_soc_update_eqs_4_5():
    # eq. 4 from ESS^In = 2 kWh: charge 1 kWh from the bus at 90 % -> 2.9 kWh
    assert soc_update(np.array([2.0]), np.array([1.0]), np.array([0.0]), 0.9, 0.9)[0] == pytest.approx(2.9)
    # eq. 5: discharging 0.9 kWh to the bus at 90 % takes 1 kWh out of the store
    assert soc_update(np.array([2.9]), np.array([0.0]), np.array([0.9]), 0.9, 0.9)[0] == pytest.approx(1.9)


def test_step_limits():
    fleet = BatteryFleet(
        capacity=np.array([10.0, 10.0]),
        power=np.array([4.0, 1.0]),
        eff_charge=np.array([0.9, 1.0]),
        eff_discharge=np.array([0.8, 1.0]),
        soc_min=np.array([0.1, 0.0]),
        soc_max=np.array([0.9, 1.0]),
        soc_init=np.array([0.5, 0.5]),
    )
    ch, dis = step_limits(np.array([8.5, 5.0]), fleet, dt=0.5)
    # battery 0: room (9 - 8.5)/0.9 = 0.556 < 4 kW x 0.5 h; available (8.5 - 1) x 0.8 = 6 -> power-limited 2
    np.testing.assert_allclose(ch, [0.5 / 0.9, 0.5])
    np.testing.assert_allclose(dis, [2.0, 0.5])
    np.testing.assert_allclose(fleet.e_init, [5.0, 5.0])


def test_bad_battery_parameters():
    kw = dict(
        capacity=np.array([5.0]),
        power=np.array([2.0]),
        soc_min=np.array([0.1]),
        soc_max=np.array([0.9]),
        soc_init=np.array([0.5]),
    )
    with pytest.raises(ModelError, match="efficiencies"):
        BatteryFleet(eff_charge=np.array([1.2]), eff_discharge=np.array([0.9]), **kw)
    with pytest.raises(ModelError, match="capacity"):
        BatteryFleet(eff_charge=np.array([0.9]), eff_discharge=np.array([0.9]), **{**kw, "capacity": np.array([-1.0])})
